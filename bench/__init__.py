"""Benchmarks: each prints a table of rows/s, seconds and peak memory per stage."""
