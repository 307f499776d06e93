"""Ours against the PyTorch peer, side by side, in one command.

    pip install -e ".[peer]"
    python -m benchmarks.compare_peer [--config default] [--variants dftnet]
        [--batch 16] [--cycles 3] [--inference_batches 1,32] [--pairs 2]

Runs the two implementations alternately, each in a fresh process (ours,
PyTorch, ours, PyTorch, …: `--pairs` turns each), so a host that slows down
part way slows both sides alike. Ours is `benchmarks.train_step` (the real
`steps.parallel_cycle`, `conv_impl=auto`) and `benchmarks.inference`; the
peer is `benchmarks.pytorch_peer` (eager, float32, the same networks and
cycle). Prints one JSON line per figure: each side's median over its turns
of the turn's median, its minimum over all timings, and the ratios
PyTorch / ours (above 1: ours is faster), then the machine's matmul probe
(`benchmarks.common.peak_gflops`) taken before the first turn, between the
pairs and after the last, so a slow or drifting host shows beside the
figures it affected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import json
import statistics
import subprocess
import sys
from typing import Any

from absl import app
from absl import flags

from benchmarks import int_lists

SIDES = ("ours", "pytorch")
# A figure's key in a side's JSON lines and the fields holding its times.
FIELDS = {"train_cycle": ("cycle_s_median", "cycle_s_min", "s"),
          "inference": ("ms_per_image_median", "ms_per_image_min", "ms_per_image")}


def commands(*, config: str, variants: Sequence[str], batch: int, cycles: int,
             inference_batches: Sequence[str], repeats: int) -> dict[str, list[list[str]]]:
  """The processes each side runs in one turn."""
  python = [sys.executable, "-m"]
  variants_arg, batches_arg = ",".join(variants), ",".join(inference_batches)
  ours, peer = [], [*python, "benchmarks.pytorch_peer", "--config", config,
                    "--variants", variants_arg, "--batch", str(batch),
                    "--cycles", str(cycles), "--inference_batches", batches_arg,
                    "--repeats", str(repeats)]
  if batch:
    ours.append([*python, "benchmarks.train_step", "--configs", config,
                 "--variants", variants_arg, "--conv_impls", "auto",
                 "--batch", str(batch), "--cycles", str(cycles)])
  if inference_batches:
    ours.append([*python, "benchmarks.inference", "--config", config,
                 "--variants", variants_arg, "--batches", batches_arg,
                 "--repeats", str(repeats)])
  return {"ours": ours, "pytorch": [peer]}


def run_json_lines(command: Sequence[str]) -> list[dict[str, Any]]:
  """The JSON lines a benchmark process prints; its stderr passes through."""
  done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
  if done.returncode:
    raise SystemExit(f"error: {' '.join(command)} exited with status {done.returncode}")
  return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def probe() -> float:
  """The matmul probe, in a process of its own (GFLOP/s)."""
  code = ("from benchmarks import common; import json;"
          " print(json.dumps(common.peak_gflops()))")
  return run_json_lines([sys.executable, "-c", code])[-1]["matmul_gflops"]


def figures(turns: Mapping[str, Sequence[Iterable[Mapping[str, Any]]]]
            ) -> list[dict[str, Any]]:
  """One record per figure from each side's turns (lists of JSON lines):
  the median of the turns' medians, the minimum, and PyTorch / ours."""
  timed: dict[tuple[str, str, int], dict[str, list[tuple[float, float]]]] = {}
  for side, side_turns in turns.items():
    for lines in side_turns:
      for line in lines:
        if line.get("benchmark") in FIELDS:
          median_field, min_field, _ = FIELDS[line["benchmark"]]
          key = (line["benchmark"], line["variant"], line["batch"])
          timed.setdefault(key, {s: [] for s in SIDES})[side].append(
              (line[median_field], line[min_field]))
  records = []
  for (benchmark, variant, batch), sides in timed.items():
    unit = FIELDS[benchmark][2]
    record = {"benchmark": "compare_peer", "figure": benchmark, "variant": variant,
              "batch": batch, "unit": unit}
    for side in SIDES:
      if not sides[side]:
        raise ValueError(f"{side} measured no {benchmark} of {variant} at batch {batch}")
      record[f"{side}_median"] = statistics.median(m for m, _ in sides[side])
      record[f"{side}_min"] = min(low for _, low in sides[side])
      record[f"{side}_turns"] = len(sides[side])
    record["pytorch_over_ours_median"] = record["pytorch_median"] / record["ours_median"]
    record["pytorch_over_ours_min"] = record["pytorch_min"] / record["ours_min"]
    records.append(record)
  return records


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _PAIRS.value < 2:
    raise app.UsageError("--pairs must be at least 2: one turn each tells nothing about the host")
  side_commands = commands(config=_CONFIG.value, variants=_VARIANTS.value,
                           batch=_BATCH.value, cycles=_CYCLES.value,
                           inference_batches=_INFERENCE_BATCHES.value, repeats=_REPEATS.value)
  probes = [probe()]
  turns: dict[str, list[list[dict[str, Any]]]] = {side: [] for side in SIDES}
  for _ in range(_PAIRS.value):
    for side in SIDES:
      lines = [line for command in side_commands[side] for line in run_json_lines(command)]
      turns[side].append(lines)
      setup = next(line for line in lines if line.get("benchmark") == "setup")
      print(json.dumps({**setup, "benchmark": "turn", "side": side}), flush=True)
    probes.append(probe())
  for record in figures(turns):
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                      for k, v in record.items()}), flush=True)
  print(json.dumps({"benchmark": "probe", "matmul_gflops": [round(p, 1) for p in probes],
                    "when": "before the first turn, then after each pair"}), flush=True)


if __name__ == "__main__":
  _CONFIG = flags.DEFINE_string("config", "default", "A module under configs/")
  _VARIANTS = flags.DEFINE_list("variants", ["dftnet"], "Generator variants.")
  _BATCH = flags.DEFINE_integer("batch", 16, "Training batch (0: no training)")
  _CYCLES = flags.DEFINE_integer("cycles", 3, "Timed training cycles a turn")
  _INFERENCE_BATCHES = int_lists.positive(
      flags.DEFINE_list("inference_batches", ["1", "32"], "'' for none"))
  _REPEATS = flags.DEFINE_integer("repeats", 5, "Timed inference calls a turn (more where"
                                  " needed to reach 64 images).")
  _PAIRS = flags.DEFINE_integer("pairs", 2, "Turns of each side (at least 2)")
  app.run(main)
