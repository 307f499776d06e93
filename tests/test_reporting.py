"""Tests for dftnet_jax.reporting's host-side helpers, against worked values."""

import numpy as np
import pytest

from dftnet_jax import reporting


def test_is_due_every_n_steps_and_after_the_last():
  due = [done for done in range(1, 11) if reporting.is_due(done, 4, 10)]
  assert due == [4, 8, 10]
  assert [d for d in range(1, 9) if reporting.is_due(d, 4, 8)] == [4, 8]


def test_mean_metrics_averages_each_name_over_the_updates_that_report_it():
  metrics = [{"d_loss": np.float32(1.0)}, {"d_loss": np.float32(3.0)},
             {"g_loss": np.float32(5.0), "d_loss": np.float32(5.0)}]
  assert reporting.mean_metrics(metrics) == {"d_loss": 3.0, "g_loss": 5.0}


def test_check_finite_names_the_metric_and_the_update():
  reporting.check_finite([{"d_loss": 1.0}, {"g_loss": 2.0}], step=3)
  with pytest.raises(FloatingPointError,
                     match=r"non-finite loss at step 7: g_cycle=nan \(generator step\)"):
    reporting.check_finite([{"d_loss": 1.0}, {"d_loss": 2.0}, {"g_cycle": np.nan}], step=7)
  with pytest.raises(FloatingPointError, match=r"d_gp=inf \(critic step 2 of 2\)"):
    reporting.check_finite([{"d_gp": 1.0}, {"d_gp": np.inf}, {"g_loss": 0.0}], step=1)


def test_log_line_shows_rates_only_when_timed():
  assert reporting.log_line(5, 10, {"g_loss": 1.23456, "mean_attention": 0.5}) == (
      "step 5/10: g_loss=1.235")
  timed = reporting.log_line(5, 10, {"steps_per_s": 2.0, "images_per_s": 80.0, "eta_s": 61.4,
                                     "d_loss": 2.0})
  assert timed == "step 5/10: 2 steps/s, 80 images/s, ETA 0:01:01; d_loss=2"
