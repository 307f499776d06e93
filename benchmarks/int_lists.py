"""Flags that take comma-separated positive integers (batch sizes, image sizes).

A bad value is refused when the flags are parsed, with the flag named,
rather than as a bare `int()` ValueError from deep inside a benchmark after
minutes of setup. Imports nothing heavy: the PyTorch peer uses it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import flags


def _all_positive(values: Sequence[str]) -> bool:
  return all(value.strip().isdigit() and int(value) > 0 for value in values)


def positive(holder: flags.FlagHolder,
             flag_values: flags.FlagValues = flags.FLAGS) -> flags.FlagHolder:
  """`holder`, a list flag, now refused unless every item is a positive
  integer ('' for none). The benchmark defines the flag itself, so its
  `--help` still lists it."""
  flags.register_validator(holder.name, _all_positive,
                           message=f"--{holder.name} takes comma-separated positive integers",
                           flag_values=flag_values)
  return holder
