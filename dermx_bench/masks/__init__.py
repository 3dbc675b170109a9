"""Binary masks: the COCO RLE codec, crops placed in a full image, the fuzzy overlap metrics, and the field's saliency metrics (``saliency``)."""
