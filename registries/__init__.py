"""registries package."""
