"""Binary masks: the COCO RLE codec, crops placed in a full image, and the fuzzy overlap metrics."""
