"""The command-line shell: the one place that talks to the user (and may import reports)."""
