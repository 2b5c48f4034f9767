"""Tests of the simulated registries."""
