"""Timing: mapping layers onto the array, analytical and SimPy event models, reports, simulate()."""
