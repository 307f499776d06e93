"""benchmarks/compare_peer.py: alternating turns, one line per figure."""

import json
import subprocess
import sys

import pytest

from benchmarks import compare_peer


def _line(benchmark, side_median, side_min, batch=1):
  fields = compare_peer.FIELDS[benchmark]
  return {"benchmark": benchmark, "variant": "dftnet", "batch": batch,
          fields[0]: side_median, fields[1]: side_min}


def test_figures_take_the_median_of_turns_the_minimum_and_the_ratio():
  turns = {"ours": [[_line("train_cycle", 10.0, 9.0), {"benchmark": "peak"}],
                    [_line("train_cycle", 14.0, 12.0)], [_line("train_cycle", 11.0, 10.0)]],
           "pytorch": [[_line("train_cycle", 30.0, 20.0)], [_line("train_cycle", 22.0, 21.0)],
                       [_line("train_cycle", 33.0, 30.0)]]}
  (record,) = compare_peer.figures(turns)
  assert (record["ours_median"], record["ours_min"]) == (11.0, 9.0)
  assert (record["pytorch_median"], record["pytorch_min"]) == (30.0, 20.0)
  assert record["pytorch_over_ours_median"] == pytest.approx(30 / 11)
  assert record["pytorch_over_ours_min"] == pytest.approx(20 / 9)
  assert record["ours_turns"] == record["pytorch_turns"] == 3


def test_a_figure_one_side_did_not_measure_is_an_error():
  turns = {"ours": [[_line("inference", 1.0, 1.0, batch=32)]], "pytorch": [[]]}
  with pytest.raises(ValueError, match="pytorch measured no inference of dftnet at batch 32"):
    compare_peer.figures(turns)


def test_one_pair_is_refused():
  done = subprocess.run([sys.executable, "-m", "benchmarks.compare_peer", "--pairs", "1"],
                        capture_output=True, text=True, check=False)
  assert done.returncode == 1 and "--pairs must be at least 2" in done.stderr


def test_side_by_side_on_the_tiny_config():
  """Inference only (the training turns compile for half a minute each;
  both sides' training cycles are tested on their own)."""
  done = subprocess.run(
      [sys.executable, "-m", "benchmarks.compare_peer", "--config", "tiny", "--batch", "0",
       "--inference_batches", "1", "--repeats", "1"],
      capture_output=True, text=True, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  lines = [json.loads(line) for line in done.stdout.splitlines()]
  assert [line["side"] for line in lines if line["benchmark"] == "turn"] == ["ours", "pytorch"] * 2
  (figure,) = [line for line in lines if line["benchmark"] == "compare_peer"]
  assert (figure["figure"], figure["batch"], figure["ours_turns"], figure["pytorch_turns"]) == (
      "inference", 1, 2, 2)
  assert figure["pytorch_over_ours_median"] == pytest.approx(
      figure["pytorch_median"] / figure["ours_median"], rel=1e-3)
  (probe,) = [line for line in lines if line["benchmark"] == "probe"]
  assert len(probe["matmul_gflops"]) == 3 and min(probe["matmul_gflops"]) > 0
