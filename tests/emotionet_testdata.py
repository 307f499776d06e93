"""Small EmotioNet folders for the tests: GANimation's layout and OpenFace's."""

from __future__ import annotations

import io
import pathlib
import pickle

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from dftnet_jax import aus
from dftnet_jax.datasets import emotionet
from dftnet_jax.datasets import layout

SIZE = 16


def jpeg_bytes(pixels: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, "JPEG", quality=95)
  return buf.getvalue()


def decode(path: pathlib.Path) -> np.ndarray:
  """The fixture's pixels, decoded by PIL independently of the builder."""
  with Image.open(path) as img:
    return np.asarray(img.convert("RGB"))


def random_examples(num: int, seed: int, size: int = SIZE
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """id -> (uint8 [size, size, 3] texture, float64 [17] raw AUs in [0, 5]).

  A bright left column makes every image differ from its mirror image.
  """
  rng = np.random.default_rng(seed)
  examples = {}
  for k in range(num):
    pixels = rng.integers(0, 200, (size, size, 3), dtype=np.uint8)
    pixels[:, 0] = 255
    raw = rng.uniform(0.0, aus.OPENFACE_MAX_INTENSITY, aus.NUM_AUS)
    examples[f"img{k:03d}"] = (pixels, raw)
  return examples


def write_ganimation(root: pathlib.Path, num_train: int = 24,
                     num_test: int = 8, seed: int = 0,
                     size: int = SIZE) -> dict[str, np.ndarray]:
  """Writes GANimation's layout; returns id -> raw AUs."""
  examples = random_examples(num_train + num_test, seed, size)
  (root / layout.IMAGES_DIR).mkdir(parents=True)
  for example_id, (pixels, _) in examples.items():
    (root / layout.IMAGES_DIR / f"{example_id}.jpg").write_bytes(
        jpeg_bytes(pixels))
  table = {example_id: raw for example_id, (_, raw) in examples.items()}
  with open(root / layout.AUS_FILE, "wb") as f:
    pickle.dump(table, f, protocol=pickle.HIGHEST_PROTOCOL)
  ids = sorted(examples)
  write_ids(root, "train", ids[:num_train])
  write_ids(root, "test", ids[num_train:])
  return table


def write_ids(root: pathlib.Path, split: str, ids: list[str]) -> None:
  (root / layout.ID_FILES[split]).write_text(
      "".join(f"{example_id}.jpg\n" for example_id in ids))


# OpenFace's own columns around the AUs, with its ", " separator; the AU
# intensity columns come reversed and after the occurrence columns, so only a
# lookup by name finds them.
_AU_R = [aus.openface_column(k) for k in range(aus.NUM_AUS)]
_HEADER = (["frame", "face_id", "timestamp", "confidence", "success",
            "gaze_0_x", "gaze_angle_y", "pose_Tx", "pose_Rz", "x_0", "y_0"]
           + [name.replace("_r", "_c") for name in _AU_R] + _AU_R[::-1])


def openface_row(raw: np.ndarray, success: int = 1, frame: int = 1) -> str:
  cells = [frame, 0, 0.0, 0.98, success, 0.1, -0.2, 12.5, 0.05, 40.2, 51.7]
  cells += [int(v > 1) for v in raw] + [f"{v:.17g}" for v in raw[::-1]]
  return ", ".join(str(c) for c in cells)


def openface_csv(rows: list[str], filenames: list[str] | None = None) -> str:
  header = _HEADER if filenames is None else ["filename"] + _HEADER
  if filenames is not None:
    rows = [f"{name}, {row}" for name, row in zip(filenames, rows)]
  return "\n".join([", ".join(header)] + rows) + "\n"


def write_openface(root: pathlib.Path, num: int = 20, seed: int = 1,
                   one_csv: bool = False) -> dict[str, np.ndarray]:
  """Face crops with OpenFace CSVs (one per image, or one for all).

  Each image also gets a failed detection (success 0) that must be ignored.
  Returns id -> raw AUs.
  """
  examples = random_examples(num, seed)
  (root / layout.IMAGES_DIR).mkdir(parents=True)
  rows, names = [], []
  for example_id, (pixels, raw) in examples.items():
    name = f"{example_id}.jpg"
    (root / layout.IMAGES_DIR / name).write_bytes(jpeg_bytes(pixels))
    failed = openface_row(np.full(aus.NUM_AUS, 9.0), success=0, frame=2)
    image_rows = [openface_row(raw), failed]
    if one_csv:
      rows += image_rows
      names += [name, name]
    else:
      (root / "openface").mkdir(exist_ok=True)
      (root / "openface" / f"{example_id}.csv").write_text(
          openface_csv(image_rows))
  if one_csv:
    (root / "openface.csv").write_text(openface_csv(rows, names))
  return {example_id: raw for example_id, (_, raw) in examples.items()}


def build(manual_dir: pathlib.Path, data_dir: pathlib.Path,
          source: str = "ganimation", **options) -> emotionet.Emotionet:
  builder = emotionet.Emotionet(
      config=emotionet.make_config(source, image_size=SIZE, **options),
      data_dir=str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(
          manual_dir=str(manual_dir)))
  return builder


def read_split(builder: emotionet.Emotionet, split: str
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """id -> (image, aus) as TFDS reads them back."""
  return {ex["id"].decode(): (ex["image"], ex["aus"])
          for ex in tfds.as_numpy(builder.as_dataset(split=split))}
