"""Tests of the face renderer, the AU sampler and the emotion presets."""

import numpy as np
import pytest

from dftnet_jax import aus
from dftnet_jax import expressions
from dftnet_jax import faces

SIZE = 64
NEUTRAL = np.zeros(aus.NUM_AUS, np.float32)


def _identities(n, seed=0):
  return [faces.sample_identity(np.random.default_rng([seed, i])) for i in range(n)]


def _single(name, value=1.0):
  return aus.from_dict({name: value})


def _mask(boxes, shape):
  mask = np.zeros(shape, bool)
  for y0, y1, x0, x1 in boxes:
    mask[y0:y1, x0:x1] = True
  return mask


def test_render_is_deterministic():
  first = faces.render(faces.sample_identity(np.random.default_rng(3)),
                       aus.emotion("surprised"), SIZE)
  again = faces.render(faces.sample_identity(np.random.default_rng(3)),
                       aus.emotion("surprised"), SIZE)
  assert first.dtype == np.uint8 and first.shape == (SIZE, SIZE, 3)
  assert first.tobytes() == again.tobytes()


@pytest.mark.parametrize("size", [32, 128])
def test_render_shape(size):
  img = faces.render(_identities(1)[0], NEUTRAL, size)
  assert img.shape == (size, size, 3) and img.dtype == np.uint8


def test_identities_differ_and_stay_in_range():
  ids = np.stack(_identities(50))
  assert ids.shape == (50, faces.IDENTITY_DIM) and ids.dtype == np.float32
  assert np.all(ids.std(0) > 0)
  for name, value in faces.unpack(ids[0]).items():
    assert np.all(np.isfinite(value)), name
  colours = [faces.unpack(i)[k] for i in ids for k in ("skin", "iris", "hair", "lips")]
  assert np.all((np.array(colours) >= 0) & (np.array(colours) <= 1))


def test_replace_and_unpack_round_trip():
  ident = faces.replace(_identities(1)[0], iris=(0.0, 0.2, 1.0), eye_size=0.1)
  fields = faces.unpack(ident)
  np.testing.assert_allclose(fields["iris"], [0.0, 0.2, 1.0])
  assert fields["eye_size"] == pytest.approx(0.1)
  assert set(fields) == set(faces.IDENTITY_FIELDS)
  with pytest.raises(ValueError, match="eye_colour"):
    faces.replace(ident, eye_colour=(0, 0, 1))


@pytest.mark.parametrize("bad_identity, bad_aus", [
    (np.zeros(3), NEUTRAL),
    (None, np.zeros(16)),
    (None, np.full(17, 1.5)),
    (None, np.zeros((2, 17))),
])
def test_render_rejects_bad_inputs(bad_identity, bad_aus):
  identity = _identities(1)[0] if bad_identity is None else bad_identity
  with pytest.raises(ValueError):
    faces.render(identity, bad_aus, SIZE)


def test_au_regions_cover_every_au():
  assert set(faces.AU_REGIONS) == set(aus.AU_NAMES)
  names = set(faces.regions(_identities(1)[0], SIZE))
  assert {r for rs in faces.AU_REGIONS.values() for r in rs} <= names


def test_regions_are_ordered_boxes_inside_the_image():
  boxes = faces.regions(_identities(1)[0], SIZE)
  for name, (y0, y1, x0, x1) in boxes.items():
    assert 0 <= y0 < y1 <= SIZE and 0 <= x0 < x1 <= SIZE, name
  # 'left_eye' is on the image's left; brows above eyes above the mouth.
  assert boxes["left_eye"][3] <= boxes["right_eye"][3]
  assert boxes["left_eye"][2] < boxes["right_eye"][2]
  assert boxes["brows"][0] < boxes["left_eye"][0] < boxes["nose"][1]
  assert boxes["nose"][1] <= boxes["mouth"][1]


@pytest.mark.parametrize("name", aus.AU_NAMES)
def test_each_au_changes_only_its_regions(name):
  for ident in _identities(4, seed=1):
    neutral = faces.render(ident, NEUTRAL, SIZE)
    changed = np.any(faces.render(ident, _single(name), SIZE) != neutral, axis=-1)
    boxes = faces.regions(ident, SIZE)
    allowed = _mask([boxes[r] for r in faces.AU_REGIONS[name]], changed.shape)
    assert changed.any(), f"{name} changes nothing"
    assert not np.any(changed & ~allowed), (
        f"{name} changes {np.sum(changed & ~allowed)} pixels outside"
        f" {faces.AU_REGIONS[name]}")


def test_mixed_aus_stay_inside_the_regions_of_the_active_aus():
  rng = np.random.default_rng(5)
  for ident in _identities(6, seed=2):
    target = expressions.sample_aus(rng)
    neutral = faces.render(ident, NEUTRAL, SIZE)
    changed = np.any(faces.render(ident, target, SIZE) != neutral, axis=-1)
    boxes = faces.regions(ident, SIZE)
    active = [r for name, v in zip(aus.AU_NAMES, target) if v > 0
              for r in faces.AU_REGIONS[name]]
    assert not np.any(changed & ~_mask([boxes[r] for r in active], changed.shape))


@pytest.mark.parametrize("name", aus.AU_NAMES)
def test_tiny_intensity_leaves_almost_no_trace(name):
  # No mark switches on at a threshold: an AU at 1e-4 moves no pixel by more
  # than the rounding of one level.
  ident = _identities(1, seed=3)[0]
  tiny = faces.render(ident, _single(name, 1e-4), SIZE).astype(int)
  assert np.abs(tiny - faces.render(ident, NEUTRAL, SIZE)).max() <= 1


@pytest.mark.parametrize("name", aus.AU_NAMES)
def test_effect_grows_with_intensity(name):
  for ident in _identities(2, seed=4):
    neutral = faces.render(ident, NEUTRAL, SIZE).astype(np.float32)
    change = [np.abs(faces.render(ident, _single(name, v), SIZE) - neutral).mean()
              for v in (0.25, 0.5, 0.75, 1.0)]
    assert np.all(np.diff(change) > 0), (name, change)


def _blue(img):
  """Pixels whose blue clearly dominates: the test irises, nothing else."""
  img = img.astype(np.int32)
  return img[..., 2] - np.maximum(img[..., 0], img[..., 1]) > 60


def test_closed_lids_hide_the_iris():
  for ident in _identities(4, seed=6):
    ident = faces.replace(ident, iris=(0.05, 0.25, 1.0), background=(0.5, 0.5, 0.5))
    boxes = faces.regions(ident, 128)
    eyes = _mask([boxes["left_eye"], boxes["right_eye"]], (128, 128))
    assert _blue(faces.render(ident, NEUTRAL, 128))[eyes].sum() > 20
    assert _blue(faces.render(ident, _single("AU45", 0.6), 128))[eyes].any()
    assert not _blue(faces.render(ident, _single("AU45"), 128))[eyes].any()


def _new_colours(img, reference, box, distance=40.0):
  """Pixels in `box` whose colour lies far from every colour of `reference` there."""
  y0, y1, x0, x1 = box
  new = img[y0:y1, x0:x1].reshape(-1, 1, 3).astype(np.float32)
  old = np.unique(reference[y0:y1, x0:x1].reshape(-1, 3), axis=0).astype(np.float32)
  return int(np.sum(np.sqrt(((new - old[None]) ** 2).sum(-1)).min(1) > distance))


@pytest.mark.parametrize("name, least", [("AU25", 20), ("AU26", 60)])
def test_open_mouth_shows_teeth_and_mouth_interior(name, least):
  for ident in _identities(4, seed=7):
    # A mid skin tone: the lightest skins come close to the teeth's colour.
    ident = faces.replace(ident, skin=(0.76, 0.55, 0.42))
    neutral = faces.render(ident, NEUTRAL, 128)
    box = faces.regions(ident, 128)["mouth"]
    assert _new_colours(faces.render(ident, _single(name), 128), neutral, box) >= least


def test_emotion_presets():
  assert set(aus.EMOTIONS) == {
      "happy", "sad", "surprised", "fearful", "angry", "disgusted"}
  for name, table in aus.EMOTIONS.items():
    vec = aus.emotion(name)
    assert vec.dtype == np.float32 and vec.shape == (aus.NUM_AUS,)
    assert {aus.AU_NAMES[k] for k in np.flatnonzero(vec)} == set(table)
  with pytest.raises(ValueError, match="happy, sad, surprised"):
    aus.emotion("joy")


def test_sampler_mixture():
  rng = np.random.default_rng(0)
  samples = np.stack([expressions.sample_aus(rng) for _ in range(2000)])
  assert samples.dtype == np.float32 and samples.shape == (2000, aus.NUM_AUS)
  assert samples.min() >= 0.0 and samples.max() <= 1.0
  assert np.mean(np.all(samples == 0, axis=1)) > 0.1
  assert np.mean(samples[:, aus.index("AU45")] >= 0.5) > 0.1
  active = [frozenset(np.flatnonzero(s)) for s in samples]
  for name, table in aus.EMOTIONS.items():
    wanted = frozenset(aus.index(au) for au in table)
    assert wanted in active, f"no pure {name} face"
  again = np.stack([expressions.sample_aus(np.random.default_rng(0)) for _ in range(1)])
  np.testing.assert_array_equal(again[0], samples[0])


def test_box_mask_by_hand():
  expected = np.array([[0, 0, 0, 0],
                       [1, 1, 0, 0],
                       [1, 1, 0, 1],
                       [0, 0, 0, 0]], bool)
  np.testing.assert_array_equal(faces.geometry.box_mask([(1, 3, 0, 2), (2, 3, 3, 9)], 4), expected)


@pytest.mark.parametrize("region, au", [("eyes", "AU45"), ("mouth", "AU25")])
def test_region_masks_hold_what_their_aus_change(region, au):
  identity = faces.sample_identity(np.random.default_rng(3))
  neutral = faces.render(identity, np.zeros(aus.NUM_AUS, np.float32), 64)
  moved = faces.render(identity, aus.from_dict({au: 1.0}), 64)
  changed = np.any(neutral != moved, axis=-1)
  mask = faces.region_masks(identity[None], 64)[region][0]
  assert changed.any() and not (changed & ~mask).any()
  assert mask.mean() < 0.2  # a region, not the whole face
