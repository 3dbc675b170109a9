"""The scoring harness: submissions, photographs, explainers, scoring and runs."""
