"""Editing with a trained tiny model: load_params, edit, photos, the CLI (editing, photo)."""

import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
from PIL import Image
import pytest

import dftnet_jax
from dftnet_jax import aus
from dftnet_jax import editing
from dftnet_jax import photo as photo_lib
from dftnet_jax import expressions
from dftnet_jax import faces
from dftnet_jax import models
from dftnet_jax.data_tools import face_crop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16  # configs/tiny.py


@pytest.fixture(scope="module")
def model(tiny_workdir):
  return dftnet_jax.load_params(tiny_workdir)


@pytest.fixture(scope="module")
def faces_uint8():
  """Three synthetic faces, uint8 [3, 16, 16, 3]."""
  rng = np.random.default_rng(1)
  return np.stack([faces.render(faces.sample_identity(rng), expressions.sample_aus(rng), SIZE)
                   for _ in range(3)])


def _saved_generator_params(workdir, step):
  """The generator's parameters as a plain Orbax restore reads them."""
  path = os.path.join(workdir, "checkpoints", str(step), "g_state")
  return ocp.StandardCheckpointer().restore(path)["params"]


def test_load_params_restores_the_latest_generator_onto_one_device(model, tiny_workdir):
  assert model.step == 4 and model.image_size == SIZE
  assert model.model_config.variant == "dftnet"
  saved = _saved_generator_params(tiny_workdir, 4)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(model.params), saved)
  assert {leaf.device for leaf in jax.tree.leaves(model.params)} == {jax.devices()[0]}


def test_load_params_accepts_the_checkpoint_directories_a_step_and_a_device(tiny_workdir):
  ckpts = os.path.join(tiny_workdir, "checkpoints")
  assert dftnet_jax.load_params(ckpts).step == 4
  older = dftnet_jax.load_params(os.path.join(ckpts, "2"), device=jax.devices()[1])
  assert older.step == 2
  assert {leaf.device for leaf in jax.tree.leaves(older.params)} == {jax.devices()[1]}
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(older.params),
               _saved_generator_params(tiny_workdir, 2))
  assert dftnet_jax.load_params(tiny_workdir, step=2).step == 2


def test_load_params_says_what_is_missing(tiny_workdir, tmp_path):
  with pytest.raises(FileNotFoundError, match="nowhere"):
    dftnet_jax.load_params(str(tmp_path / "nowhere"))
  with pytest.raises(FileNotFoundError, match="config.json"):
    dftnet_jax.load_params(str(tmp_path))
  shutil.copy(os.path.join(tiny_workdir, "config.json"), tmp_path)
  with pytest.raises(FileNotFoundError, match="no checkpoint in"):
    dftnet_jax.load_params(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="no checkpoint of step 3 .* steps \\[2, 4\\]"):
    dftnet_jax.load_params(tiny_workdir, step=3)
  with pytest.raises(ValueError, match="contradicts"):
    dftnet_jax.load_params(os.path.join(tiny_workdir, "checkpoints", "2"), step=4)


def _reference(model, images01, targets):
  """The generator applied directly, outside `edit`: results in [0, 1]."""
  out = models.create_generator(model.model_config).apply(
      {"params": jax.device_get(model.params)}, np.asarray(images01, np.float32) * 2 - 1,
      np.asarray(targets, np.float32))
  return (np.asarray(out.image) + 1) / 2


def test_edit_matches_the_generator_applied_directly(model, faces_uint8):
  targets = np.stack([aus.emotion("happy"), aus.emotion("sad"), np.zeros(17, np.float32)])
  result = dftnet_jax.edit(model, faces_uint8 / 255.0, targets)
  np.testing.assert_allclose(result, _reference(model, faces_uint8 / 255.0, targets), atol=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("batched", [False, True])
def test_edit_returns_the_callers_dtype_range_and_rank(model, faces_uint8, dtype, batched):
  images = faces_uint8 if dtype == np.uint8 else (faces_uint8 / 255.0).astype(dtype)
  img = images if batched else images[0]
  result = dftnet_jax.edit(model, img, "AU12=1")
  assert result.dtype == dtype and result.shape == img.shape
  assert isinstance(result, np.ndarray)
  if dtype != np.uint8:
    assert 0.0 <= result.min() and result.max() <= 1.0
  else:
    reference = _reference(model, faces_uint8 / 255.0, np.tile(aus.parse("AU12=1"), (3, 1)))
    expected = np.round(reference * 255) if batched else np.round(reference[0] * 255)
    assert np.abs(result.astype(int) - expected).max() <= 1


def test_every_spelling_of_the_aus_gives_the_same_edit(model, faces_uint8):
  happy = aus.emotion("happy")
  spellings = ["happy", aus.format_aus(happy), dict(aus.EMOTIONS["happy"]), happy,
               happy.tolist(), np.tile(happy, (3, 1))]
  results = [dftnet_jax.edit(model, faces_uint8, spelling) for spelling in spellings]
  for result in results[1:]:
    np.testing.assert_array_equal(result, results[0])


def test_batch_and_single_calls_agree(model, faces_uint8):
  targets = np.stack([aus.emotion(name) for name in ("angry", "surprised", "fearful")])
  batch = dftnet_jax.edit(model, faces_uint8 / 255.0, targets)
  for i in range(3):
    np.testing.assert_allclose(dftnet_jax.edit(model, faces_uint8[i] / 255.0, targets[i]),
                               batch[i], atol=1e-5)


def test_intermediates_recombine_to_the_result(model, faces_uint8):
  out = dftnet_jax.edit(model, faces_uint8[0] / 255.0, "surprised", intermediates=True)
  assert out.image.shape == out.aligned.shape == out.texture.shape == (SIZE, SIZE, 3)
  assert out.attention.shape == (SIZE, SIZE, 1) and out.flow.shape == (SIZE, SIZE, 2)
  np.testing.assert_allclose((1 - out.attention) * out.texture + out.attention * out.aligned,
                             out.image, atol=1e-6)
  np.testing.assert_array_equal(out.image, dftnet_jax.edit(model, faces_uint8[0] / 255.0,
                                                           "surprised"))


def test_edit_compiles_once_per_shape(model, faces_uint8, tiny_workdir):
  dftnet_jax.edit(model, faces_uint8[:2], "happy")
  compiled = editing._generate._cache_size()
  # Other dtypes, AUs, and a second restore of the same model: no compilation.
  dftnet_jax.edit(model, faces_uint8[:2] / 255.0, "sad")
  dftnet_jax.edit(dftnet_jax.load_params(tiny_workdir, step=2), faces_uint8[:2], np.zeros((2, 17)))
  assert editing._generate._cache_size() == compiled


_FACE = np.zeros((SIZE, SIZE, 3), np.uint8)


@pytest.mark.parametrize("img, targets, message", [
    (np.zeros((SIZE, SIZE), np.uint8), "happy", r"\(H, W, 3\).*shape \(16, 16\)"),
    (np.zeros((SIZE, SIZE, 4), np.uint8), "happy", "RGB"),
    (np.zeros((32, 32, 3), np.uint8), "happy", "32x32 but this model edits 16x16"),
    (np.zeros((0, SIZE, SIZE, 3), np.uint8), "happy", "empty batch"),
    (np.full((SIZE, SIZE, 3), np.nan), "happy", "NaN"),
    (np.full((SIZE, SIZE, 3), 1.5), "happy", r"\[0, 1\].*1\.5"),
    (np.full((SIZE, SIZE, 3), -0.1), "happy", r"\[0, 1\]"),
    (np.zeros((SIZE, SIZE, 3), np.int32), "happy", "dtype int32"),
    (_FACE, np.full(17, 1.2), r"\[0, 1\]"),
    (_FACE, np.full(17, np.nan), "NaN"),
    (_FACE, np.zeros(16), "17 AUs"),
    (_FACE, "AU99=1", "unknown AU name 'AU99'"),
    (_FACE, {"AU13": 0.5}, "unknown AU name 'AU13'"),
    (_FACE, "hapy", "unknown expression 'hapy'"),
    (_FACE, np.zeros((2, 17)), r"\(17,\) for one image"),
    (np.zeros((3, SIZE, SIZE, 3), np.uint8), np.zeros((2, 17)), r"\(3, 17\) for 3 images"),
])
def test_bad_inputs_raise_a_value_error_naming_the_problem(model, img, targets, message):
  with pytest.raises(ValueError, match=message):
    dftnet_jax.edit(model, img, targets)


def test_edit_wants_what_load_params_returns(model):
  with pytest.raises(TypeError, match="load_params"):
    dftnet_jax.edit(model.params, _FACE, "happy")


def test_edit_series_is_one_edit_per_row(model, faces_uint8):
  series = aus.sweep(aus.emotion("happy"), "AU45", (0.0, 1.0))
  out = editing.edit_series(model, faces_uint8[0], series, intermediates=True)
  assert out.image.shape == (2, SIZE, SIZE, 3) and out.attention.shape == (2, SIZE, SIZE, 1)
  np.testing.assert_array_equal(out.image[1], dftnet_jax.edit(model, faces_uint8[0], series[1]))
  batched = editing.edit_series(model, faces_uint8, aus.interpolate(np.zeros((3, 17)), "happy"))
  assert batched.shape == (3, 3, SIZE, SIZE, 3)


def test_feather_mask_by_hand():
  # Feather 2 px: distances to the edge 0.5, 1.5, 2.5, ... → 0.25, 0.75, 1 → smoothstep.
  ramp = np.array([0.15625, 0.84375, 1, 1, 1, 1, 0.84375, 0.15625])
  np.testing.assert_allclose(photo_lib.feather_mask(8, 0.25), np.minimum.outer(ramp, ramp))


def test_paste_changes_only_the_box():
  rng = np.random.default_rng(0)
  photo = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
  box = face_crop.Box(left=30, top=-6, size=24)  # reaches past the top and right edges
  crop = face_crop.crop_face(photo, box, 8)
  np.testing.assert_array_equal(photo_lib.paste(photo, box, crop, crop), photo)
  pasted = photo_lib.paste(photo, box, crop, np.full_like(crop, 255))
  outside = np.ones(photo.shape[:2], bool)
  outside[0:18, 30:50] = False
  np.testing.assert_array_equal(pasted[outside], photo[outside])
  centre = pasted[6, 42]  # the box's centre: fully pasted, the photo lightened
  assert (centre >= photo[6, 42]).all() and (pasted != photo).any()


def _photo_with_faces(several: bool) -> np.ndarray:
  """A flat photo with a synthetic face the Haar cascade finds (and, if
  `several`, a smaller second one)."""
  rng = np.random.default_rng(0)
  photo = np.full((480, 640, 3), 120, np.uint8)
  photo[100:356, 300:556] = faces.render(faces.sample_identity(rng),
                                         expressions.sample_aus(rng), 256)
  if several:
    photo[250:410, 40:200] = faces.render(faces.sample_identity(rng),
                                          np.zeros(17, np.float32), 160)
  return photo


def _run_cli(*args):
  return subprocess.run([sys.executable, "-m", "dftnet_jax.photo", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=300)


def test_the_cli_edits_the_largest_face_of_a_photo(tiny_workdir, tmp_path):
  photo = _photo_with_faces(several=True)
  boxes = face_crop.detect_faces(photo)
  assert len(boxes) == 2
  Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=95)
  photo = np.asarray(Image.open(tmp_path / "photo.jpg"))  # as the CLI reads it
  result = _run_cli(f"--workdir={tiny_workdir}", f"--image={tmp_path / 'photo.jpg'}",
                    "--expression=happy", f"--out={tmp_path / 'out.png'}",
                    f"--grid={tmp_path / 'grid.png'}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "2 faces" in result.stdout and "largest" in result.stdout
  out = np.asarray(Image.open(tmp_path / "out.png"))
  assert out.shape == photo.shape
  box = face_crop.detect_face(photo)
  inside = np.zeros(photo.shape[:2], bool)
  inside[box.top:box.top + box.size, box.left:box.left + box.size] = True
  np.testing.assert_array_equal(out[~inside], photo[~inside])
  assert (out[inside] != photo[inside]).any()
  # source | aligned | texture | attention | result, one row.
  assert np.asarray(Image.open(tmp_path / "grid.png")).shape == (SIZE, 5 * SIZE, 3)


def test_the_cli_interpolates_one_photo_per_level(tiny_workdir, tmp_path):
  Image.fromarray(_photo_with_faces(several=False)).save(tmp_path / "photo.png")
  result = _run_cli(f"--workdir={tiny_workdir}", f"--image={tmp_path / 'photo.png'}",
                    "--aus=AU12=1,AU25=0.5", "--interpolate=0.5,0.75,1",
                    f"--out={tmp_path / 'out.png'}")
  assert result.returncode == 0, result.stderr[-3000:]
  # Orbax's records of the restore stay behind --verbosity (`logs`).
  assert "checkpoint_manager.py" not in result.stderr, result.stderr[-3000:]
  written = sorted(name for name in os.listdir(tmp_path) if name.startswith("out_"))
  assert written == ["out_0.5.png", "out_0.75.png", "out_1.png"]


@pytest.mark.parametrize("photo, message", [
    ("blank.png", "no face found in"), ("notes.jpg", "cannot read"),
    ("missing.png", "cannot read")])
def test_the_cli_explains_photos_it_cannot_edit(tiny_workdir, tmp_path, photo, message):
  Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(tmp_path / "blank.png")
  (tmp_path / "notes.jpg").write_text("not an image")
  result = _run_cli(f"--workdir={tiny_workdir}", f"--image={tmp_path / photo}",
                    "--expression=sad", f"--out={tmp_path / 'out.png'}")
  assert result.returncode != 0
  assert message in result.stderr and photo in result.stderr
  assert not (tmp_path / "out.png").exists()


def test_the_editing_library_needs_no_data_tools_opencv_or_tensorflow():
  probe = ("import sys, dftnet_jax; dftnet_jax.edit; dftnet_jax.load_params;"
           " print(sorted(m for m in sys.modules if m.split('.')[0] in"
           " ('cv2', 'tensorflow', 'tensorflow_datasets') or m.startswith('dftnet_jax.data')))")
  result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == "[]"
