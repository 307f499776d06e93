"""Did an edit happen? Gain and leak inside the pixels an expression changes.

Whole-image L1 to the ground truth rewards doing nothing: an expression
changes a few percent of a face's pixels, so the unedited source scores
almost as well as a perfect edit (DESIGN §8). These metrics look where the
expression acts:

* the changed mask M: pixels whose RGB values, in [0, 1], differ between the
  ground truth and the source by more than `CHANGE_THRESHOLD` summed over the
  channels;
* gain = 1 − L1(edit, truth | M) / L1(source, truth | M): 0 for copying the
  source, 1 for a perfect edit, below 0 for an edit that moves away from the
  truth;
* leak = mean |edit − source| outside M: what the edit changed that the
  expression does not;
* the unasked gain: the gain, against each edit's truth, of the editor's
  answer when asked for no change (the neutral source's own AUs). An editor
  that ignores its targets and moves every face the same way scores the same
  gain asked or not; the demo's GANs did (LEARNING.md, session 25), so the
  gain an edit owes to its target is the difference.

Errors are pooled like `metrics.Errors`: a set of faces is scored as one
image, so a face whose expression changes few pixels weighs little.

`SUITE` is a fixed set of edits from neutral synthetic faces (`suite_faces`
draws them, with identities no dataset split uses), so a gain curve over a
run, or a table across runs, scores the same edits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import dataclasses

import numpy as np

from dftnet_jax import aus as aus_lib
from dftnet_jax import faces
from dftnet_jax import images as images_lib

# Summed |truth − source| over RGB in [0, 1] above which a pixel counts as
# changed by the expression (DESIGN §8).
CHANGE_THRESHOLD: float = 0.06

# The fixed edits from a neutral face: single actions first, then the six
# emotion prototypes of `aus.EMOTIONS` (whose "happy" is the full smile,
# AU6 0.8 + AU12 1.0; "smile" here is a milder one).
SUITE: dict[str, dict[str, float]] = {
    "eyes_closed": {"AU45": 1.0},
    "smile": {"AU6": 0.5, "AU12": 0.8},
    "jaw_drop": {"AU25": 1.0, "AU26": 1.0},
    "brows_up": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.8},
    "frown": {"AU4": 1.0, "AU7": 0.8},
    **aus_lib.EMOTIONS,
}

# The suite's identities: seeded streams of their own, disjoint from the
# synthetic datasets' (which seed with [seed, split 0 or 1, index]).
SUITE_SEED: int = 20_261_129


@dataclasses.dataclass(frozen=True)
class ChangeErrors:
  """Sums behind gain and leak, pooled over any number of images.

  Attributes:
    edit_in: Σ |edit − truth| over the changed pixels' channels.
    copy_in: Σ |source − truth| over the same values.
    leak_sum: Σ |edit − source| over the unchanged pixels' channels.
    leak_count: how many values `leak_sum` covers.
  """
  edit_in: float = 0.0
  copy_in: float = 0.0
  leak_sum: float = 0.0
  leak_count: float = 0.0

  def __add__(self, other: ChangeErrors) -> ChangeErrors:
    return ChangeErrors(*(a + b for a, b in zip(dataclasses.astuple(self),
                                                 dataclasses.astuple(other))))

  @property
  def gain(self) -> float:
    """1 − L1(edit, truth | M) / L1(source, truth | M); NaN if M is empty."""
    return 1.0 - self.edit_in / self.copy_in if self.copy_in else float("nan")

  @property
  def leak(self) -> float:
    """Mean |edit − source| outside M; NaN if every pixel changed."""
    return self.leak_sum / self.leak_count if self.leak_count else float("nan")


def changed_mask(source: np.ndarray, truth: np.ndarray,
                 threshold: float = CHANGE_THRESHOLD) -> np.ndarray:
  """bool [..., H, W]: where Σ_RGB |truth − source| > threshold (images in [0, 1])."""
  difference = np.abs(np.asarray(truth, np.float64) - np.asarray(source, np.float64))
  return np.sum(difference, axis=-1) > threshold


def change_errors(source: np.ndarray, edited: np.ndarray, truth: np.ndarray, *,
                  region: np.ndarray | None = None,
                  threshold: float = CHANGE_THRESHOLD) -> ChangeErrors:
  """The sums behind gain and leak of edits, images [..., H, W, 3] in [0, 1].

  Args:
    source: the unedited images.
    edited: the edits of `source`.
    truth: what the edits should be.
    region: bool [..., H, W] broadcastable to the images' pixels, or None:
      score only these pixels (e.g. the eyes), both inside and outside M.
    threshold: see `changed_mask`.
  """
  source, edited, truth = (np.asarray(x, np.float64) for x in (source, edited, truth))
  if not source.shape == edited.shape == truth.shape or source.shape[-1] != 3:
    raise ValueError(f"source, edited and truth must be images [..., H, W, 3] of one shape,"
                     f" got {source.shape}, {edited.shape}, {truth.shape}")
  changed = changed_mask(source, truth, threshold)
  unchanged = ~changed
  if region is not None:
    region = np.broadcast_to(np.asarray(region, bool), changed.shape)
    changed, unchanged = changed & region, unchanged & region
  inside = lambda x: float(np.sum(np.abs(x)[changed]))
  outside = np.abs(edited - source)[unchanged]
  return ChangeErrors(inside(edited - truth), inside(source - truth), float(np.sum(outside)),
                      float(outside.size))


def suite_targets() -> dict[str, np.ndarray]:
  """Edit name → its target AUs, float32 (17,)."""
  return {name: aus_lib.from_dict(values, name=f"suite edit {name!r}")
          for name, values in SUITE.items()}


@dataclasses.dataclass(frozen=True)
class SuiteFaces:
  """Neutral faces and each suite edit's ground truth, uint8.

  Attributes:
    identities: `faces` identity vectors [F, faces.IDENTITY_DIM].
    sources: the faces with every AU at 0, [F, H, W, 3].
    targets: edit name → target AUs (17,).
    truths: edit name → the faces drawn with its targets, [F, H, W, 3].
  """
  identities: np.ndarray
  sources: np.ndarray
  targets: dict[str, np.ndarray]
  truths: dict[str, np.ndarray]


def suite_faces(size: int, num_faces: int = 16) -> SuiteFaces:
  """The suite's faces at `size` pixels: the same identities at every size."""
  identities = np.stack([faces.sample_identity(np.random.default_rng([SUITE_SEED, i]))
                         for i in range(num_faces)])
  draw = lambda target: np.stack([faces.render(i, target, size) for i in identities])
  targets = suite_targets()
  return SuiteFaces(identities, draw(np.zeros(aus_lib.NUM_AUS, np.float32)), targets,
                    {name: draw(target) for name, target in targets.items()})


# Edits a batch of faces: (uint8 sources [N, H, W, 3], target AUs [N, 17]) →
# edited images [N, H, W, 3] in [0, 1].
EditFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Reads AUs: images [N, H, W, 3] in [0, 1] → [N, 17].
ReadFn = Callable[[np.ndarray], np.ndarray]


def score_suite(edit: EditFn, suite: SuiteFaces, *,
                regions: Mapping[str, np.ndarray] | None = None,
                read_aus: ReadFn | None = None) -> dict[str, float]:
  """Gain and leak of every suite edit, and their means over the suite.

  Args:
    edit: the editor (see `EditFn`).
    suite: `suite_faces(...)` at the editor's resolution.
    regions: name → bool [F, H, W] of the suite's faces (e.g.
      `faces.region_masks(suite.identities, size)`): the gain inside each
      region too, per edit where the region changes, and pooled over the
      suite's edits (their sums added before the ratio, so an edit that
      changes a region by a few pixels weighs by those pixels: the mean of
      per-edit ratios let a smile's few changed eye pixels, gain −2.6 in
      one run, outweigh the eyes-closed edit's whole lid).
    read_aus: an AU reader (`au_reader`): adds each edit's mean absolute AU
      error against its target, beside the reader's error on the ground
      truth (its floor) and on the unedited source (copying), and their
      means over the suite.

  Returns:
    `<edit>/gain`, `<edit>/leak`, `<edit>/gain_unasked` (the module doc;
    the suite's sources are neutral, so no change asked is every AU at 0)
    (and `<edit>/gain_<region>`, `<edit>/au_error`, `<edit>/au_error_truth`,
    `<edit>/au_error_copy`) per edit; `gain_mean`, `gain_min`, `leak_mean`,
    `gain_unasked_mean`, `gain_asked_mean` (`gain_mean` − `gain_unasked_mean`)
    (and `gain_<region>`, `au_error_mean`, `au_error_truth_mean`,
    `au_error_copy_mean`) over the edits.
  """
  sources = images_lib.uint8_to_unit(suite.sources)
  scores: dict[str, float] = {}
  region_errors = {name: ChangeErrors() for name in regions or {}}
  unasked = np.asarray(edit(suite.sources, np.zeros((len(sources), aus_lib.NUM_AUS),
                                                    np.float32)), np.float64)
  for name, target in suite.targets.items():
    targets = np.broadcast_to(target, (len(sources), aus_lib.NUM_AUS))
    edited = np.asarray(edit(suite.sources, np.array(targets)), np.float64)
    truth = images_lib.uint8_to_unit(suite.truths[name])
    errors = change_errors(sources, edited, truth)
    scores[f"{name}/gain"], scores[f"{name}/leak"] = errors.gain, errors.leak
    scores[f"{name}/gain_unasked"] = change_errors(sources, unasked, truth).gain
    for region, mask in (regions or {}).items():
      errors = change_errors(sources, edited, truth, region=mask)
      region_errors[region] += errors
      # An edit that changes nothing in a region has no gain there.
      if np.isfinite(errors.gain):
        scores[f"{name}/gain_{region}"] = errors.gain
    if read_aus is not None:
      # The reader's error on the truth is its floor; on the source, copying.
      for label, images in (("", edited), ("_truth", truth), ("_copy", sources)):
        scores[f"{name}/au_error{label}"] = float(np.mean(np.abs(read_aus(images) - targets)))
  per_edit = lambda metric: [scores[f"{name}/{metric}"] for name in suite.targets]
  scores["gain_mean"] = float(np.mean(per_edit("gain")))
  scores["gain_min"] = float(np.min(per_edit("gain")))
  scores["leak_mean"] = float(np.mean(per_edit("leak")))
  scores["gain_unasked_mean"] = float(np.mean(per_edit("gain_unasked")))
  scores["gain_asked_mean"] = scores["gain_mean"] - scores["gain_unasked_mean"]
  for region, errors in region_errors.items():
    scores[f"gain_{region}"] = errors.gain
  if read_aus is not None:
    for label in ("", "_truth", "_copy"):
      scores[f"au_error{label}_mean"] = float(np.mean(per_edit(f"au_error{label}")))
  return scores


def generator_edit_fn(generate: Callable, params) -> EditFn:
  """A generator as an `EditFn`.

  Args:
    generate: jitted (params, images [N, H, W, 3] in [-1, 1], AUs [N, 17]) →
      edited images in [-1, 1]; taking the parameters as an argument lets one
      compilation serve every checkpoint.
    params: the generator's parameters.
  """
  def edit(sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    edited = generate(params, images_lib.from_uint8(sources), np.asarray(targets, np.float32))
    return images_lib.to_unit(edited, np.float64)
  return edit


def target_blind_editor(suite: SuiteFaces) -> EditFn:
  """An editor that ignores its targets: each face becomes the pixel mean of
  its truths over the suite's edits.

  A reference for the gain, not a model: an edit moves a few percent of the
  pixels and the suite's edits share many of them (mouth, lids, brows), so
  a blur towards every expression at once is partly right about each. What
  it scores is what an editor can score without reading its targets.
  """
  blend = np.mean([images_lib.uint8_to_unit(truth) for truth in suite.truths.values()], axis=0)
  return lambda sources, targets: blend[:len(sources)]


# The edits a person checks first: the lids close, the smile forms, the
# mouth opens.
FIGURE_EDITS: tuple[str, ...] = ("eyes_closed", "smile", "jaw_drop", "surprised")


def suite_figure(edit: EditFn, suite: SuiteFaces, *, num_faces: int = 4,
                 edits: tuple[str, ...] = FIGURE_EDITS) -> np.ndarray:
  """One row per face: source, then edit | ground truth for each of `edits`.

  Returns:
    uint8 [num_faces·H, (1 + 2·len(edits))·W, 3].
  """
  sources = suite.sources[:num_faces]
  columns = [images_lib.uint8_to_unit(sources)]
  for name in edits:
    targets = np.broadcast_to(suite.targets[name], (len(sources), aus_lib.NUM_AUS))
    columns += [np.asarray(edit(sources, np.array(targets)), np.float64),
                images_lib.uint8_to_unit(suite.truths[name][:num_faces])]
  stacked = np.concatenate([np.concatenate(list(c), axis=0) for c in columns], axis=1)
  return images_lib.to_uint8(stacked, (0.0, 1.0))
