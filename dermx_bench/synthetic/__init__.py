"""Synthetic data and the demo: Darwin files, photographs, tiny trained models."""
