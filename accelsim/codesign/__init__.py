"""The co-design loop: hardware-aware pruning search with simulated cost and measured accuracy."""
