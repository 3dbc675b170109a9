"""The bottom layer: typed errors, safe file writing, registries and numeric settings."""
