"""Reports on a release, for people outside the pipeline: the EU AI Act training-content summary,
Croissant JSON-LD and a datasheet. They read what the pipeline wrote (manifest + Parquet) and never
change a release."""
