"""The dataset store (one SQLite file), ingesting Darwin exports into it, and its exports."""
