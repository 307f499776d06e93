"""Tests for dftnet_jax.aus: the AU list, parsing, validation and formatting."""

import math

import numpy as np
import pytest

from dftnet_jax import aus

# Written out by hand from GANimation / OpenFace 2 (DESIGN §1), not derived
# from the module under test.
GANIMATION_ORDER = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12",
                    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")
OPENFACE_COLUMNS = ("AU01_r", "AU02_r", "AU04_r", "AU05_r", "AU06_r", "AU07_r", "AU09_r",
                    "AU10_r", "AU12_r", "AU14_r", "AU15_r", "AU17_r", "AU20_r", "AU23_r",
                    "AU25_r", "AU26_r", "AU45_r")
AU12, AU25 = 8, 14  # Positions of AU12 and AU25 in GANIMATION_ORDER.


def _vector(**values):
  """A (17,) float32 vector with the named AUs set, built from the literal order."""
  vec = np.zeros(17, np.float32)
  for name, value in values.items():
    vec[GANIMATION_ORDER.index(name)] = value
  return vec


def test_names_and_order_are_ganimations():
  """The AU list is exactly GANimation's 17 intensity AUs, in its order."""
  assert aus.AU_NAMES == GANIMATION_ORDER
  assert aus.NUM_AUS == 17
  assert aus.AU_IDS == tuple(int(name[2:]) for name in GANIMATION_ORDER)


def test_openface_columns():
  """Position k maps to OpenFace 2's zero-padded intensity column."""
  assert tuple(aus.openface_column(k) for k in range(17)) == OPENFACE_COLUMNS


def test_parse_places_values_and_zeros_elsewhere():
  """The example from the docs lands at AU12 and AU25; every other AU is 0."""
  vec = aus.parse("AU12=0.8,AU25=0.4")
  expected = np.zeros(17, np.float32)
  expected[AU12], expected[AU25] = 0.8, 0.4
  assert vec.shape == (17,) and vec.dtype == np.float32
  np.testing.assert_array_equal(vec, expected)


@pytest.mark.parametrize("k", range(17))
def test_parse_every_name_at_its_position(k):
  """Each name and its OpenFace column spelling select position k alone."""
  for spelling in (GANIMATION_ORDER[k], OPENFACE_COLUMNS[k]):
    vec = aus.parse(f"{spelling}=0.25")
    np.testing.assert_array_equal(np.flatnonzero(vec), [k])
    assert vec[k] == np.float32(0.25)


@pytest.mark.parametrize("text", [
    "au12=0.8", "AU12_r=0.8", "au12_R=0.8", "AU012=0.8", " AU12 = 0.8 ",
    "\tAU12=0.8\n", "AU12=0.8,", ",AU12=0.8", "AU12=.8", "AU12=8e-1",
])
def test_parse_accepts_spellings(text):
  """Lower case, OpenFace columns, leading zeros, whitespace and stray commas."""
  np.testing.assert_array_equal(aus.parse(text), _vector(AU12=0.8))


def test_parse_empty_is_neutral():
  """No AUs named means the neutral (all-zero) vector."""
  np.testing.assert_array_equal(aus.parse(""), np.zeros(17, np.float32))


def test_parse_bounds_are_inclusive():
  """0 and 1 themselves are valid intensities."""
  np.testing.assert_array_equal(aus.parse("AU1=0,AU45=1"), _vector(AU1=0.0, AU45=1.0))


@pytest.mark.parametrize("text, fragments", [
    ("AU3=0.5", ["unknown AU", "AU3"]),
    ("AU12=0.5,AU99=0.1", ["unknown AU", "AU99"]),
    ("smile=0.5", ["unknown AU", "smile"]),
    ("AU 12=0.5", ["unknown AU"]),
    ("AU12=0.1,au12=0.2", ["AU12", "twice"]),
    ("AU12=0.1,AU12_r=0.2", ["AU12", "twice"]),
    ("AU12", ["NAME=VALUE", "AU12"]),
    ("AU12=0.8,AU25", ["NAME=VALUE", "AU25"]),
    ("AU12:0.8", ["NAME=VALUE"]),
    ("AU12=abc", ["abc", "not a number"]),
    ("AU12=", ["not a number"]),
    ("AU12=0.8.1", ["0.8.1", "not a number"]),
    ("AU12=1.5", ["[0, 1]", "1.5"]),
    ("AU12=-0.1", ["[0, 1]", "-0.1"]),
    ("AU12=5", ["[0, 1]", "divide"]),
    ("AU12=nan", ["NaN"]),
    ("AU12=inf", ["infinite"]),
])
def test_parse_errors_name_the_problem(text, fragments):
  """Bad input raises ValueError whose message says what is wrong."""
  with pytest.raises(ValueError) as info:
    aus.parse(text)
  for fragment in fragments:
    assert fragment in str(info.value), (fragment, str(info.value))


def test_parse_error_uses_given_name():
  """The `name` argument (e.g. a CLI flag) appears in the message."""
  with pytest.raises(ValueError, match="--target_aus"):
    aus.parse("AU12", name="--target_aus")


def test_from_dict():
  """A dict gives the same vector as the string form; missing AUs are 0."""
  vec = aus.from_dict({"AU12": 0.8, "au25": 0.4, "AU01_r": 1.0})
  assert vec.shape == (17,) and vec.dtype == np.float32
  np.testing.assert_array_equal(vec, _vector(AU12=0.8, AU25=0.4, AU1=1.0))
  np.testing.assert_array_equal(aus.from_dict({}), np.zeros(17, np.float32))


@pytest.mark.parametrize("values, fragment", [
    ({"AU3": 0.5}, "unknown AU"),
    ({"AU12": 1.5}, "[0, 1]"),
    ({"AU12": -1.0}, "[0, 1]"),
    ({"AU12": math.nan}, "NaN"),
])
def test_from_dict_errors(values, fragment):
  """Unknown names and bad values in a dict raise ValueError."""
  with pytest.raises(ValueError) as info:
    aus.from_dict(values)
  assert fragment in str(info.value)


def test_from_dict_rejects_duplicate_spellings():
  """{'AU12': .., 'au12': ..} names one AU twice, as parse() refuses too."""
  with pytest.raises(ValueError, match="twice"):
    aus.from_dict({"AU12": 0.8, "au12": 0.1})


@pytest.mark.parametrize("spec", [
    "AU12=0.8,AU25=0.4",
    {"AU12": 0.8, "AU25": 0.4},
    list(_vector(AU12=0.8, AU25=0.4)),
    tuple(_vector(AU12=0.8, AU25=0.4)),
    _vector(AU12=0.8, AU25=0.4).astype(np.float64),
])
def test_as_array_accepts_every_form(spec):
  """String, dict, list, tuple and array all give the same float32 vector."""
  vec = aus.as_array(spec)
  assert vec.dtype == np.float32
  np.testing.assert_array_equal(vec, _vector(AU12=0.8, AU25=0.4))


def test_as_array_takes_expression_names():
  np.testing.assert_array_equal(aus.as_array(" happy "), _vector(AU6=0.8, AU12=1.0))
  with pytest.raises(ValueError, match="unknown expression 'hapy'.*happy, sad"):
    aus.as_array("hapy")


@pytest.mark.parametrize("length", [0, 1, 16, 18, 34])
def test_wrong_length_is_rejected(length):
  """Anything but 17 AUs on the last axis raises, and the message says 17."""
  with pytest.raises(ValueError, match="17"):
    aus.as_array(np.zeros(length))
  with pytest.raises(ValueError, match="17"):
    aus.validate(np.zeros((3, length)))


def test_validate_scalar_is_rejected():
  """A 0-d value is not an AU vector."""
  with pytest.raises(ValueError, match="17"):
    aus.validate(np.float32(0.5))


def test_validate_batched():
  """[N, 17] batches pass unchanged (as float32)."""
  batch = np.random.default_rng(0).uniform(0.0, 1.0, (5, 17))
  out = aus.validate(batch)
  assert out.shape == (5, 17) and out.dtype == np.float32
  np.testing.assert_array_equal(out, batch.astype(np.float32))
  np.testing.assert_array_equal(aus.as_array(batch), batch.astype(np.float32))
  assert aus.validate(np.zeros((2, 3, 17))).shape == (2, 3, 17)


@pytest.mark.parametrize("bad, fragment", [
    (2.0, "[0, 1]"), (-0.5, "[0, 1]"), (np.nan, "NaN"), (np.inf, "infinite"),
])
def test_validate_batched_finds_one_bad_entry(bad, fragment):
  """A single bad value anywhere in a batch is caught; `name` is in the message."""
  batch = np.full((4, 17), 0.5)
  batch[2, 11] = bad
  with pytest.raises(ValueError) as info:
    aus.validate(batch, name="train AUs")
  assert fragment in str(info.value) and "train AUs" in str(info.value)


@pytest.mark.parametrize("vec", [
    _vector(AU12=0.8, AU25=0.4),
    _vector(AU1=1.0, AU45=0.05, AU9=0.125),
    np.zeros(17, np.float32),
    np.ones(17, np.float32),
])
def test_format_round_trips_short_decimals(vec):
  """parse(format_aus(v)) == v exactly for the short decimals people write."""
  text = aus.format_aus(vec)
  np.testing.assert_array_equal(aus.parse(text), vec)


def test_format_text():
  """The text lists the non-zero AUs in order as NAME=VALUE."""
  assert aus.format_aus(_vector(AU25=0.4, AU12=0.8)) == "AU12=0.8,AU25=0.4"
  assert aus.format_aus(np.zeros(17)) == ""


def test_format_threshold_drops_small_values():
  """AUs at or below the threshold are left out (so parse makes them 0)."""
  vec = _vector(AU1=0.05, AU12=0.8, AU45=0.1)
  np.testing.assert_array_equal(aus.parse(aus.format_aus(vec, threshold=0.1)),
                                _vector(AU12=0.8))


def test_format_round_trips_random_vectors_closely():
  """Arbitrary float32 intensities survive the round trip to float32 precision."""
  vec = np.random.default_rng(1).uniform(0.0, 1.0, 17).astype(np.float32)
  np.testing.assert_allclose(aus.parse(aus.format_aus(vec)), vec, rtol=0, atol=1e-6)


def test_format_round_trips_random_vectors_exactly():
  """format_aus claims to be parse's inverse: that should hold bit for bit."""
  vec = np.random.default_rng(1).uniform(0.0, 1.0, 17).astype(np.float32)
  np.testing.assert_array_equal(aus.parse(aus.format_aus(vec)), vec)


def test_format_rejects_batches_and_bad_values():
  """format_aus takes one valid vector."""
  with pytest.raises(ValueError):
    aus.format_aus(np.zeros((2, 17)))
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    aus.format_aus(np.full(17, 3.0))


def test_interpolate_from_source_to_target_by_hand():
  source, target = _vector(AU12=0.2, AU25=0.4), _vector(AU12=1.0)
  series = aus.interpolate(source, target, (0.0, 0.5, 1.0))
  np.testing.assert_allclose(series, [source, _vector(AU12=0.6, AU25=0.2), target], atol=1e-7)
  # The paper's §3.4: the target scaled by 0.5, 0.75, 1 (a neutral source).
  np.testing.assert_allclose(aus.interpolate(np.zeros(17), "AU12=0.8"),
                             [_vector(AU12=0.4), _vector(AU12=0.6), _vector(AU12=0.8)])
  assert aus.interpolate(np.zeros((3, 17)), target).shape == (3, 3, 17)


def test_sweep_sets_one_au_over_the_base():
  base = _vector(AU12=0.5, AU45=0.9)
  series = aus.sweep(base, "AU45", (0.0, 1.0))
  np.testing.assert_array_equal(series, [_vector(AU12=0.5), _vector(AU12=0.5, AU45=1.0)])
  assert aus.sweep(np.zeros((4, 17)), "AU45").shape == (len(aus.EYELID_LEVELS), 4, 17)


@pytest.mark.parametrize("levels", [(), (0.5, 1.5), (-0.1,), (float("nan"),)])
def test_levels_outside_0_1_are_refused(levels):
  with pytest.raises(ValueError, match="levels"):
    aus.interpolate(np.zeros(17), np.ones(17), levels)
  with pytest.raises(ValueError, match="AU45 levels"):
    aus.sweep(np.zeros(17), "AU45", levels)
