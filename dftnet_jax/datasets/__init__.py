"""TFDS builders; import a builder's module to register it with TFDS.

`synthetic_faces` makes procedural faces with known AUs (no download);
`contact_sheet` draws a grid of them for a person to look at.
"""
