"""The EmotioNet builder: both layouts read back exactly; bad data is named."""

from __future__ import annotations

import logging
import os
import pathlib
import pickle

import emotionet_testdata as td
from etils import epath
import numpy as np
from PIL import Image
import pytest

from dftnet_jax import aus
from dftnet_jax.datasets import emotionet
from dftnet_jax.datasets import layout
from dftnet_jax.datasets import safe_pickle


def assert_read_back(builder, manual_dir: pathlib.Path,
                     raw: dict[str, np.ndarray], split: str,
                     ids: list[str]) -> None:
  """Records equal the fixture: ids, PIL-decoded pixels and raw AUs / 5."""
  records = td.read_split(builder, split)
  assert sorted(records) == sorted(ids)
  for example_id, (image, au) in records.items():
    [path] = (manual_dir / layout.IMAGES_DIR).glob(f"{example_id}.*")
    np.testing.assert_array_equal(image, td.decode(path))
    assert au.dtype == np.float32
    np.testing.assert_array_equal(
        au, (raw[example_id] / aus.OPENFACE_MAX_INTENSITY).astype(np.float32))


def test_ganimation_layout_reads_back(tmp_path):
  raw = td.write_ganimation(tmp_path / "manual")
  builder = td.build(tmp_path / "manual", tmp_path / "data")
  ids = sorted(raw)
  assert_read_back(builder, tmp_path / "manual", raw, "train", ids[:24])
  assert_read_back(builder, tmp_path / "manual", raw, "test", ids[24:])


@pytest.mark.parametrize("one_csv", [False, True])
def test_openface_layout_reads_back(tmp_path, one_csv):
  raw = td.write_openface(tmp_path / "manual", one_csv=one_csv)
  builder = td.build(tmp_path / "manual", tmp_path / "data", "openface",
                     test_fraction=0.25, split_seed=3)
  splits = layout.split_ids(raw, 0.25, 3)
  assert len(splits["test"]) == 5
  for split, ids in splits.items():
    assert_read_back(builder, tmp_path / "manual", raw, split, ids)


def test_an_empty_split_is_left_out(tmp_path):
  td.write_openface(tmp_path / "manual", num=4)
  builder = td.build(tmp_path / "manual", tmp_path / "data", "openface",
                     test_fraction=0.0)
  assert list(builder.info.splits) == ["train"]


def test_config_names_follow_options():
  assert emotionet.make_config() is emotionet.Emotionet.BUILDER_CONFIGS[0]
  assert emotionet.make_config().name == "ganimation"
  assert (emotionet.make_config("openface", image_size=64, skip_bad=True,
                                test_fraction=0.2, split_seed=1).name
          == "openface_res64_skip_bad_test0p2_seed1")
  with pytest.raises(ValueError, match="source"):
    emotionet.make_config("celeba")


class _RunsCode:
  """Unpickling this would create `marker`."""

  def __init__(self, marker: pathlib.Path):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


class _Unlisted:
  pass


@pytest.mark.parametrize("make_payload", [
    lambda marker: {"img000": _RunsCode(marker)},
    lambda marker: {"img000": np.array([_RunsCode(marker)], dtype=object)},
    lambda marker: _RunsCode(marker),
    lambda marker: {"img000": _Unlisted()},
    lambda marker: {"img000": np.arange(17)},  # ints, not floats
    lambda marker: {"img000": (1.0, 2.0)},
], ids=["os.system", "object array", "top level", "class", "int array",
        "tuple"])
def test_pickle_loader_refuses_anything_but_plain_data(tmp_path,
                                                       make_payload):
  marker = tmp_path / "marker"
  path = tmp_path / "evil.pkl"
  path.write_bytes(pickle.dumps(make_payload(marker)))
  with pytest.raises(pickle.UnpicklingError, match="evil.pkl"):
    safe_pickle.load(path)
  assert not marker.exists()


def test_builder_refuses_malicious_pickle(tmp_path):
  td.write_ganimation(tmp_path / "manual", num_train=2, num_test=1)
  marker = tmp_path / "marker"
  (tmp_path / "manual" / layout.AUS_FILE).write_bytes(
      pickle.dumps({"img000": _RunsCode(marker)}))
  with pytest.raises(pickle.UnpicklingError, match=layout.AUS_FILE):
    td.build(tmp_path / "manual", tmp_path / "data")
  assert not marker.exists()


@pytest.mark.parametrize("protocol,numpy1_names", [
    (0, False), (2, False), (4, False), (5, False), (0, True), (2, True)])
def test_pickle_loader_reads_numpy_pickles(tmp_path, protocol, numpy1_names):
  table = {"a": np.linspace(0.0, 5.0, 17), "b": np.float64(2.5), "c": [1, 2.0]}
  data = pickle.dumps(table, protocol=protocol)
  if numpy1_names:
    # numpy 1 wrote `numpy.core` where numpy 2 writes `numpy._core`; protocols
    # 0 and 2 spell names as text lines, so they can be rewritten in place.
    data = data.replace(b"numpy._core", b"numpy.core")
  path = tmp_path / "aus.pkl"
  path.write_bytes(data)
  loaded = safe_pickle.load(path)
  np.testing.assert_array_equal(loaded["a"], table["a"])
  assert loaded["b"] == 2.5 and loaded["c"] == [1, 2.0]


def _write_jpeg(path: pathlib.Path, pixels: np.ndarray) -> None:
  path.write_bytes(td.jpeg_bytes(pixels))


def _mutate_table(root: pathlib.Path, change) -> None:
  table = safe_pickle.load(root / layout.AUS_FILE)
  change(table)
  (root / layout.AUS_FILE).write_bytes(pickle.dumps(table))


# Each case spoils example img001 (a train example) and names the file the
# error must mention and the reason the skip count must show.
BAD_CASES = {
    "missing image": (
        lambda root: (root / "imgs/img001.jpg").unlink(), "img001.jpg"),
    "missing AUs": (
        lambda root: _mutate_table(root, lambda t: t.pop("img001")),
        layout.AUS_FILE),
    "unreadable image": (
        lambda root: (root / "imgs/img001.jpg").write_bytes(
            (root / "imgs/img001.jpg").read_bytes()[:200]), "img001.jpg"),
    "not RGB": (
        lambda root: _write_jpeg(root / "imgs/img001.jpg",
                                 np.zeros((td.SIZE, td.SIZE), np.uint8)),
        "img001.jpg"),
    "wrong image size": (
        lambda root: _write_jpeg(root / "imgs/img001.jpg",
                                 np.zeros((td.SIZE, td.SIZE + 1, 3), np.uint8)),
        "img001.jpg"),
    "wrong AU count": (
        lambda root: _mutate_table(
            root, lambda t: t.update(img001=np.zeros(16))), layout.AUS_FILE),
    "non-finite AUs": (
        lambda root: _mutate_table(
            root, lambda t: t["img001"].__setitem__(3, np.nan)),
        layout.AUS_FILE),
    "AUs out of range": (
        lambda root: _mutate_table(
            root, lambda t: t["img001"].__setitem__(0, 5.5)),
        layout.AUS_FILE),
}


@pytest.mark.parametrize("reason", list(BAD_CASES))
def test_bad_example_is_an_error_naming_file_and_id(tmp_path, reason):
  spoil, file_name = BAD_CASES[reason]
  td.write_ganimation(tmp_path / "manual", num_train=6, num_test=2)
  spoil(tmp_path / "manual")
  with pytest.raises(layout.DataError) as error:
    td.build(tmp_path / "manual", tmp_path / "data")
  assert file_name in str(error.value) and "'img001'" in str(error.value)
  assert error.value.reason == reason


@pytest.mark.parametrize("reason", list(BAD_CASES))
def test_skip_bad_skips_and_counts(tmp_path, caplog, reason):
  spoil, _ = BAD_CASES[reason]
  raw = td.write_ganimation(tmp_path / "manual", num_train=6, num_test=2)
  spoil(tmp_path / "manual")
  with caplog.at_level(logging.WARNING):
    builder = td.build(tmp_path / "manual", tmp_path / "data", skip_bad=True)
  assert sorted(td.read_split(builder, "train")) == [
      i for i in sorted(raw)[:6] if i != "img001"]
  # One line: the test split has nothing to skip.
  [line] = [r.getMessage() for r in caplog.records
            if ": skipped " in r.getMessage()]
  assert "train: skipped 1 of 6 examples" in line and f"{reason}: 1" in line


@pytest.mark.parametrize("bad_id", [
    "../x.jpg", "/etc/passwd.jpg", "sub/img000.jpg", "sub\\img000.jpg", "..",
])
def test_ids_that_escape_the_folder_are_refused(tmp_path, bad_id):
  td.write_ganimation(tmp_path / "manual", num_train=2, num_test=1)
  td.write_ids(tmp_path / "manual", "train", ["img000", bad_id])
  with pytest.raises(ValueError, match="refusing id"):
    td.build(tmp_path / "manual", tmp_path / "data", skip_bad=True)


def test_id_listed_twice_is_refused(tmp_path):
  (tmp_path / "ids.csv").write_text("a.jpg\nb.jpg\na.jpg\n")
  with pytest.raises(ValueError, match=r"ids.csv:3: id 'a' is listed twice"):
    layout.read_ids(tmp_path / "ids.csv")


def test_missing_layout_files_point_to_the_instructions(tmp_path):
  (tmp_path / "manual").mkdir()
  (tmp_path / "manual" / "notes.txt").write_text("")
  with pytest.raises(FileNotFoundError,
                     match="(?s)aus_openface.pkl.*EmotioNet is licensed"):
    td.build(tmp_path / "manual", tmp_path / "data")


def _openface_case(root: pathlib.Path, rows: list[str]) -> None:
  td.write_openface(root, num=4)
  (root / "openface" / "img001.csv").write_text(td.openface_csv(rows))


@pytest.mark.parametrize("rows,reason", [
    ([td.openface_row(np.ones(17)), td.openface_row(np.ones(17), frame=2)],
     "several faces"),
    ([td.openface_row(np.ones(17), success=0)], "no face"),
    ([td.openface_row(np.ones(17)).rsplit(", ", 1)[0] + ", n/a"],
     "unreadable OpenFace row"),
])
def test_openface_ambiguous_rows_are_bad_data(tmp_path, rows, reason):
  _openface_case(tmp_path / "manual", rows)
  with pytest.raises(layout.DataError, match="img001") as error:
    td.build(tmp_path / "manual", tmp_path / "data", "openface")
  assert error.value.reason == reason


def test_openface_csv_without_au_columns_is_bad_data(tmp_path):
  td.write_openface(tmp_path / "manual", num=4)
  (tmp_path / "manual" / "openface" / "img002.csv").write_text(
      "face, confidence, AU01_c\n0, 0.9, 1\n")
  with pytest.raises(layout.DataError, match="img002.csv.*AU01_r"):
    td.build(tmp_path / "manual", tmp_path / "data", "openface")


def test_one_csv_for_all_needs_a_filename_column(tmp_path):
  td.write_openface(tmp_path / "manual", num=4, one_csv=True)
  (tmp_path / "manual" / "openface.csv").write_text(
      td.openface_csv([td.openface_row(np.ones(17))]))
  with pytest.raises(ValueError, match="'filename' column"):
    td.build(tmp_path / "manual", tmp_path / "data", "openface")


def test_images_are_checked_for_channels_with_pil(tmp_path):
  """An RGBA PNG is not silently converted: it is bad data."""
  path = tmp_path / "x.png"
  Image.new("RGBA", (td.SIZE, td.SIZE)).save(path)
  with pytest.raises(layout.DataError, match="mode RGBA"):
    layout.read_image(epath.Path(path), "x", td.SIZE)
