"""Per-image references, fusion rules, inter-rater agreement and the saved human baseline."""
