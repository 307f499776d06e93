"""The edit-strength probe reads a screen's parameters back and asks for
fractions of the suite's targets."""

import jax
import numpy as np
import pytest

from configs import tiny
from dftnet_jax import states
from experiments import edit_strength
from experiments import screen


def _generator_params(seed):
  config = tiny.get_config()
  return jax.device_get(states.create_train_states(config, jax.random.key(seed)).generator.params)


def _save_as_a_screen_does(path, name, params):
  """The keys `screen._gather` writes: <experiment>/<parameter path>."""
  flat = screen.flat_params(params)
  np.savez(path, **{f"{name}/{key}": value for key, value in flat.items()},
           **{f"other/{key}": np.zeros(1) for key in flat})


def test_a_screens_parameters_load_into_the_configs_structure(tmp_path):
  trained, template = _generator_params(1), _generator_params(2)
  path = str(tmp_path / "params_seed0.npz")
  _save_as_a_screen_does(path, "run", trained)
  loaded = edit_strength.load_generator_params(path, "run", template)
  assert jax.tree.structure(loaded) == jax.tree.structure(template)
  for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(trained)):
    np.testing.assert_array_equal(got, want)
  with pytest.raises(ValueError, match=r"params_seed0.npz holds no parameter absent/"):
    edit_strength.load_generator_params(path, "absent", template)
  with pytest.raises(ValueError, match=r"other/.* has shape \(1,\)"):
    edit_strength.load_generator_params(path, "other", template)


def test_a_strength_asks_for_that_fraction_of_the_target_within_the_range():
  asked = []
  edit = edit_strength.at_strength(lambda sources, targets: asked.append(targets) or sources,
                                   0.5)
  edit(np.zeros((2, 4, 4, 3), np.uint8), np.full((2, 17), 0.8, np.float32))
  np.testing.assert_allclose(asked[-1], 0.4)
  edit_strength.at_strength(lambda s, t: asked.append(t) or s, 2.0)(
      np.zeros((1, 4, 4, 3), np.uint8), np.array([[0.3, 0.8] + [0.0] * 15], np.float32))
  np.testing.assert_allclose(asked[-1][0, :3], [0.6, 1.0, 0.0])
