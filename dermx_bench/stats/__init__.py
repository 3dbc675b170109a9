"""Statistics: the one bootstrap (image-level, cluster and paired) and aggregation of scores."""
