"""Sparse execution: storage formats, Numba kernels, functional execution, channel compaction."""
