"""TFDS builders; import a builder's module to register it with TFDS.

`synthetic_faces` makes procedural faces with known AUs (no download);
`emotionet` reads EmotioNet from a prepared folder (GANimation's layout or
OpenFace CSVs); `contact_sheet` draws a grid of synthetic faces for a person
to look at.
"""
