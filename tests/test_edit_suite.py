"""Gain and leak against hand-computed values and rendered faces; the suite."""

import numpy as np
import pytest

from dftnet_jax import aus
from dftnet_jax import edit_suite
from dftnet_jax import faces


def _face_pair(size: int = 64, edit: str = "smile"):
  """A neutral face and the same face with a suite edit, in [0, 1]."""
  identity = faces.sample_identity(np.random.default_rng(3))
  source = faces.render(identity, np.zeros(aus.NUM_AUS, np.float32), size) / 255.0
  target = edit_suite.suite_targets()[edit]
  return source, faces.render(identity, target, size) / 255.0


def test_changed_mask_sums_the_channels_before_the_threshold():
  source = np.zeros((1, 3, 3))
  truth = np.array([[[0.03, 0.03, 0.0], [0.02, 0.02, 0.02], [0.0, 0.0, 0.07]]])
  # Sums 0.06 (not above), 0.06, 0.07: only the last pixel changed.
  np.testing.assert_array_equal(edit_suite.changed_mask(source, truth), [[False, False, True]])
  np.testing.assert_array_equal(edit_suite.changed_mask(source, truth, threshold=0.05),
                                [[True, True, True]])


def test_gain_and_leak_by_hand():
  source = np.zeros((1, 2, 2, 3))
  truth = source.copy()
  truth[0, 0, 0] = 0.5   # the one changed pixel
  edited = source.copy()
  edited[0, 0, 0] = 0.4  # 0.1 off the truth per channel: gain 1 − 0.3/1.5
  edited[0, 1, 1] = 0.2  # a leak of 0.6 over 3 unchanged pixels · 3 channels
  errors = edit_suite.change_errors(source, edited, truth)
  assert errors.gain == pytest.approx(1 - 0.3 / 1.5)
  assert errors.leak == pytest.approx(0.6 / 9)
  # Pooled: a second image that copies its source adds to the sums.
  pooled = errors + edit_suite.change_errors(source, source, truth)
  assert pooled.gain == pytest.approx(1 - (0.3 + 1.5) / 3.0)
  assert pooled.leak == pytest.approx(0.6 / 18)


def test_perfect_edit_gains_1_copy_0_shifted_face_below_0():
  source, truth = _face_pair()
  assert edit_suite.change_errors(source, truth, truth).gain == pytest.approx(1.0)
  # Changes under the threshold are leak even for the truth: a small floor.
  assert 0.0 < edit_suite.change_errors(source, truth, truth).leak < 1e-3
  assert edit_suite.change_errors(source, source, truth).gain == pytest.approx(0.0)
  # The right face misplaced by two pixels: worse than not editing.
  shifted = np.roll(truth, 2, axis=1)
  assert edit_suite.change_errors(source, shifted, truth).gain < 0.0
  assert edit_suite.change_errors(source, shifted, truth).leak > 0.01


def test_a_region_scores_only_its_pixels():
  source, truth = _face_pair()
  edited = np.where(np.arange(64)[:, None, None] < 32, truth, source)  # top half edited
  top = np.zeros((64, 64), bool)
  top[:32] = True
  assert edit_suite.change_errors(source, edited, truth, region=top).gain == pytest.approx(1.0)
  assert edit_suite.change_errors(source, edited, truth, region=~top).gain == pytest.approx(0.0)


def test_mismatched_shapes_are_named():
  with pytest.raises(ValueError, match="one shape"):
    edit_suite.change_errors(np.zeros((2, 2, 3)), np.zeros((2, 3, 3)), np.zeros((2, 2, 3)))


def test_every_suite_edit_changes_pixels_of_every_face():
  suite = edit_suite.suite_faces(32, num_faces=3)
  assert suite.sources.shape == (3, 32, 32, 3)
  assert not np.any(suite.targets["eyes_closed"][:-1])  # AU45 alone
  for name, truth in suite.truths.items():
    changed = edit_suite.changed_mask(suite.sources / 255.0, truth / 255.0)
    assert np.all(changed.sum(axis=(1, 2)) > 0), name


def test_suite_identities_are_none_of_the_datasets():
  from dftnet_jax.datasets import synthetic_faces  # pylint: disable=g-import-not-at-top
  suite = edit_suite.suite_faces(16, num_faces=4)
  config = synthetic_faces.make_config(16, num_train=50, num_test=50)
  for split in ("train", "test"):
    for index in range(50):
      identity = synthetic_faces.make_example(config, split, index)["identity"]
      assert not np.any(np.all(np.isclose(suite.identities, identity), axis=1))


def _lookup_editor(suite):
  """An editor that returns the suite's truth for the targets it is given,
  and the neutral source when asked for every AU at 0."""
  by_target = {tuple(t): suite.truths[name] for name, t in suite.targets.items()}
  by_target[(0.0,) * aus.NUM_AUS] = suite.sources
  return lambda sources, targets: by_target[tuple(targets[0])][:len(sources)] / 255.0


def test_score_suite_of_an_oracle_and_of_copying():
  suite = edit_suite.suite_faces(32, num_faces=2)
  regions = faces.region_masks(suite.identities, 32)
  oracle = edit_suite.score_suite(_lookup_editor(suite), suite, regions=regions,
                                  read_aus=lambda images: np.zeros((len(images), aus.NUM_AUS)))
  copy = edit_suite.score_suite(lambda sources, targets: sources / 255.0, suite)
  for name in edit_suite.SUITE:
    assert oracle[f"{name}/gain"] == pytest.approx(1.0)
    assert oracle[f"{name}/leak"] < 2e-3
    assert copy[f"{name}/gain"] == pytest.approx(0.0)
    expected_au_error = np.mean(suite.targets[name])  # the reader answers 0
    for label in ("", "_truth", "_copy"):
      assert oracle[f"{name}/au_error{label}"] == pytest.approx(expected_au_error)
  assert oracle["gain_mean"] == pytest.approx(1.0) and oracle["gain_min"] == pytest.approx(1.0)
  # Asked for no change, both copy: every gain is the target's.
  for scores in (oracle, copy):
    assert all(scores[f"{name}/gain_unasked"] == pytest.approx(0.0) for name in edit_suite.SUITE)
  assert oracle["gain_asked_mean"] == pytest.approx(1.0)
  assert copy["gain_mean"] == pytest.approx(0.0) and copy["leak_mean"] == 0.0
  assert oracle["gain_eyes"] == pytest.approx(1.0)
  assert oracle["gain_mouth"] == pytest.approx(1.0)
  # Eyes closed changes nothing in the mouth: no mouth gain for it.
  assert "eyes_closed/gain_mouth" not in oracle
  assert oracle["au_error_mean"] == pytest.approx(
      np.mean([np.mean(t) for t in suite.targets.values()]))


def test_an_editor_that_ignores_its_targets_gains_as_much_unasked():
  """Every face turned into its eyes-closed truth whatever the targets: the
  eyes-closed gain is 1 asked or not, and no gain is owed to a target."""
  suite = edit_suite.suite_faces(32, num_faces=2)
  scores = edit_suite.score_suite(
      lambda sources, targets: suite.truths["eyes_closed"][:len(sources)] / 255.0, suite)
  assert scores["eyes_closed/gain"] == pytest.approx(1.0)
  assert scores["eyes_closed/gain_unasked"] == pytest.approx(1.0)
  for name in edit_suite.SUITE:
    assert scores[f"{name}/gain_unasked"] == pytest.approx(scores[f"{name}/gain"])
  assert scores["gain_asked_mean"] == pytest.approx(0.0, abs=1e-12)
  assert scores["gain_unasked_mean"] == pytest.approx(scores["gain_mean"])


def test_the_target_blind_editor_gains_as_much_unasked_and_is_the_truths_mean():
  suite = edit_suite.suite_faces(64, num_faces=2)
  blind = edit_suite.target_blind_editor(suite)
  by_hand = sum(suite.truths[name].astype(np.float64) for name in edit_suite.SUITE)
  np.testing.assert_allclose(blind(suite.sources, None), by_hand / 255.0 / len(edit_suite.SUITE))
  scores = edit_suite.score_suite(blind, suite)
  assert scores["gain_unasked_mean"] == pytest.approx(scores["gain_mean"])
  # Partly right about every edit at the suite's size: each gains something
  # without reading it (at 32 px the frown's few pixels do not).
  assert all(scores[f"{name}/gain"] > 0 for name in edit_suite.SUITE)


def test_region_gains_pool_the_edits_sums():
  """Over the suite, a region's gain is 1 − Σ L1(edit) / Σ L1(copy) over
  the edits' changed pixels there, not the mean of the per-edit ratios."""
  suite = edit_suite.suite_faces(32, num_faces=2)
  regions = faces.region_masks(suite.identities, 32)
  oracle = _lookup_editor(suite)
  # Half-way to the truth for eyes closed, the source for everything else.
  edit = lambda sources, targets: (
      (sources / 255.0 + oracle(sources, targets)) / 2
      if np.array_equal(targets[0], suite.targets["eyes_closed"]) else sources / 255.0)
  scores = edit_suite.score_suite(edit, suite, regions=regions)
  sources = suite.sources / 255.0
  edit_sum = copy_sum = 0.0
  for name in edit_suite.SUITE:
    truth = suite.truths[name] / 255.0
    inside = edit_suite.changed_mask(sources, truth) & regions["eyes"]
    copy = np.sum(np.abs(sources - truth)[inside])
    copy_sum += copy
    edit_sum += copy / 2 if name == "eyes_closed" else copy
  assert scores["gain_eyes"] == pytest.approx(1 - edit_sum / copy_sum)
  assert scores["eyes_closed/gain_eyes"] == pytest.approx(0.5)
  per_edit = [v for k, v in scores.items() if k.endswith("/gain_eyes")]
  assert scores["gain_eyes"] != pytest.approx(np.mean(per_edit))


def test_generator_edit_fn_converts_ranges():
  calls = []

  def generate(params, images, targets):
    calls.append((params, images.min(), images.max(), targets.dtype))
    return -images  # in [-1, 1]: the negative image

  edit = edit_suite.generator_edit_fn(generate, "params")
  sources = np.array([[[[0, 255, 51]]]], np.uint8)
  np.testing.assert_allclose(edit(sources, np.zeros((1, aus.NUM_AUS))),
                             [[[[1.0, 0.0, 0.8]]]])
  assert calls == [("params", -1.0, 1.0, np.float32)]


def test_suite_figure_rows_are_source_then_edit_and_truth():
  suite = edit_suite.suite_faces(16, num_faces=3)
  figure = edit_suite.suite_figure(_lookup_editor(suite), suite, num_faces=2,
                                   edits=("smile", "jaw_drop"))
  assert figure.shape == (32, 5 * 16, 3) and figure.dtype == np.uint8
  np.testing.assert_array_equal(figure[16:32, :16], suite.sources[1])
  # The oracle's edit equals the truth beside it.
  np.testing.assert_array_equal(figure[:16, 48:64], suite.truths["jaw_drop"][0])
  np.testing.assert_array_equal(figure[:16, 64:80], suite.truths["jaw_drop"][0])


def test_au_error_reads_the_edit_the_truth_and_the_source():
  suite = edit_suite.suite_faces(16, num_faces=2)
  brightness = lambda images: np.repeat(images.mean(axis=(1, 2, 3))[:, None], aus.NUM_AUS, 1)
  copy = edit_suite.score_suite(lambda sources, targets: sources / 255.0, suite,
                                read_aus=brightness)
  oracle = edit_suite.score_suite(_lookup_editor(suite), suite, read_aus=brightness)
  target = suite.targets["jaw_drop"]
  expected_copy = np.mean([np.mean(np.abs(s.mean() / 255.0 - target)) for s in suite.sources])
  assert copy["jaw_drop/au_error"] == pytest.approx(expected_copy)
  assert copy["jaw_drop/au_error_copy"] == pytest.approx(expected_copy)
  assert oracle["jaw_drop/au_error"] == pytest.approx(oracle["jaw_drop/au_error_truth"])
  assert oracle["jaw_drop/au_error"] != pytest.approx(expected_copy)


def test_suite_edits_are_distinct():
  targets = [tuple(t) for t in edit_suite.suite_targets().values()]
  assert len(set(targets)) == len(targets) == 11
