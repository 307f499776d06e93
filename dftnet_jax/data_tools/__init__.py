"""Command-line tools that prepare face datasets (see data/README.md)."""
