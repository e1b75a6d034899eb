"""Test-wide settings: hypothesis draws the same examples on every run, so CI is reproducible.

Set HYPOTHESIS_PROFILE=explore to let it search fresh examples (and more of them) locally.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
