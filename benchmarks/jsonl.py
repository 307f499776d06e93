"""One JSON object per line: how every benchmark prints its figures.

Its own module, importing nothing heavy, so the PyTorch peer prints what
the JAX benchmarks print without importing JAX.
"""

from __future__ import annotations

import json
from typing import Any


def emit(**fields: Any) -> None:
  """Prints one JSON line (floats rounded for readability) and flushes."""
  clean = {k: round(v, 6) if isinstance(v, float) else v for k, v in fields.items()}
  print(json.dumps(clean), flush=True)
