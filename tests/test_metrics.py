"""Metrics against hand-computed values; the evaluation's scoring of a batch."""

import math

import numpy as np
import pytest

from dftnet_jax import aus
from dftnet_jax import evaluation
from dftnet_jax import faces
from dftnet_jax import figures
from dftnet_jax import metrics


def test_errors_by_hand():
  # |d| = 1, 0, 2, 0 and d² = 1, 0, 4, 0 over 4 values.
  errors = metrics.Errors.of(np.array([[0.0, 1.0], [2.0, 3.0]]),
                             np.array([[1.0, 1.0], [0.0, 3.0]]))
  assert errors == metrics.Errors(abs_sum=3.0, sq_sum=5.0, count=4.0)
  assert errors.l1 == 0.75
  assert errors.mse == 1.25
  assert errors.psnr() == pytest.approx(10 * math.log10(1 / 1.25))
  assert errors.psnr(peak=4.0) == pytest.approx(10 * math.log10(16 / 1.25))


def test_a_mask_counts_each_pixel_for_all_its_channels():
  prediction = np.zeros((1, 2, 2, 3))
  target = np.arange(12.0).reshape(1, 2, 2, 3) / 10  # pixel (0, 1) holds 0.3, 0.4, 0.5
  mask = np.array([[[0.0, 1.0], [0.0, 0.0]]])
  errors = metrics.Errors.of(prediction, target, mask)
  assert errors.count == 3
  assert errors.l1 == pytest.approx(0.4)
  assert errors.mse == pytest.approx((0.09 + 0.16 + 0.25) / 3)
  # A mask of the pixel axes alone applies to every image of the batch.
  both = metrics.Errors.of(np.zeros((2, 2, 2, 3)), np.concatenate([target, target]), mask[0])
  assert both.count == 6 and both.l1 == pytest.approx(0.4)


def test_errors_pool_over_batches():
  rng = np.random.default_rng(0)
  a, b = rng.uniform(size=(2, 5, 4, 4, 3))
  whole = metrics.Errors.of(a, b)
  pooled = metrics.Errors.of(a[:2], b[:2]) + metrics.Errors.of(a[2:], b[2:])
  assert pooled.l1 == pytest.approx(whole.l1) and pooled.mse == pytest.approx(whole.mse)
  assert pooled.l1 == pytest.approx(np.mean(np.abs(a - b)))


def test_psnr_of_a_perfect_match_and_of_nothing():
  assert metrics.Errors.of(np.ones(4), np.ones(4)).psnr() == math.inf
  assert math.isnan(metrics.Errors().l1) and math.isnan(metrics.Errors().mse)


def _batch(size=16, n=2):
  rng = np.random.default_rng(0)
  identities = np.stack([faces.sample_identity(rng) for _ in range(n)])
  source_aus = np.zeros((n, aus.NUM_AUS), np.float32)
  target_aus = np.stack([aus.emotion("happy"), aus.emotion("surprised")])[:n]
  sources = evaluation.ground_truth(identities, source_aus, size)
  return {"image": sources / 127.5 - 1.0, "aus": source_aus, "target_aus": target_aus,
          "identity": identities}


def _outputs(batch, edited):
  return {"edited": edited, "cycled": batch["image"], "edit_aus": batch["target_aus"] + 0.1,
          "real_aus": batch["aus"]}


def test_the_copy_baseline_scores_the_source_against_the_ground_truth():
  batch = _batch()
  truth = evaluation.ground_truth(batch["identity"], batch["target_aus"], 16) / 255.0
  source = (batch["image"] + 1.0) / 2.0
  errors = evaluation.batch_errors(batch, _outputs(batch, batch["image"]), paired=True)
  # (Sources pass through float32 on the way.)
  assert errors["copy"].l1 == pytest.approx(np.mean(np.abs(source - truth)), rel=1e-5)
  eyes = faces.region_masks(batch["identity"], 16)["eyes"]
  eye_diffs = np.abs(source - truth)[eyes]
  assert errors["copy_eyes"].l1 == pytest.approx(eye_diffs.mean(), rel=1e-5)
  assert errors["copy_eyes"].psnr() == pytest.approx(-10 * np.log10(np.mean(eye_diffs ** 2)),
                                                     rel=1e-5)
  # Editing nothing is the baseline; the unpaired scores are by hand.
  for name in ("", "_eyes", "_mouth"):
    assert errors[f"edit{name}"] == errors[f"copy{name}"]
  assert errors["cycle"].l1 == 0.0
  assert errors["edit_au"].mse == pytest.approx(0.01)
  assert errors["real_au"].mse == 0.0


def test_an_edit_that_is_the_ground_truth_scores_perfectly():
  batch = _batch()
  truth = evaluation.ground_truth(batch["identity"], batch["target_aus"], 16) / 127.5 - 1.0
  summary = evaluation.summarise(evaluation.batch_errors(batch, _outputs(batch, truth),
                                                         paired=True))
  assert summary["edit_l1"] == pytest.approx(0.0, abs=1e-7)
  assert summary["edit_mouth_psnr"] > 100
  assert summary["copy_l1"] > 0.0
  assert {"cycle_l1", "cycle_psnr", "edit_au_mse", "real_au_mse", "copy_eyes_psnr"} <= set(summary)


def test_unpaired_data_gets_the_unpaired_metrics_only():
  batch = _batch()
  del batch["identity"]
  errors = evaluation.batch_errors(batch, _outputs(batch, batch["image"]), paired=False)
  assert set(errors) == {"cycle", "edit_au", "real_au"}


def test_grid_by_hand():
  a, b = np.full((2, 3, 4, 3), -1.0), np.full((2, 3, 4, 3), 1.0)
  grid = figures.grid([a, b])
  assert grid.shape == (6, 8, 3)
  assert (grid[:, :4] == 0).all() and (grid[:, 4:] == 255).all()
