"""Reading V7 Darwin exports: the reader, exact rasterisation, the ontology and image metadata."""
