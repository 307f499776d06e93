"""Every config builds; the paper's run keeps the paper's settings; the demo's
deviations from it are the ones its docstring lists."""

import importlib
import pathlib

import pytest

CONFIGS = sorted(p.stem for p in (pathlib.Path(__file__).parent.parent / "configs").glob("*.py")
                 if p.stem != "__init__")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_with_every_default_field(name):
  from configs import default  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"configs.{name}").get_config()
  reference = default.get_config()
  assert set(config.keys()) == set(reference.keys())
  assert set(config.model.keys()) == set(reference.model.keys())
  assert set(config.loss.keys()) == set(reference.loss.keys())


def test_the_paper_run_has_no_demo_deviation():
  from configs import emotionet  # pylint: disable=g-import-not-at-top
  config = emotionet.get_config()
  assert config.model.upsampling == "transpose" and config.model.d_kernel_init == "gan"
  assert not config.model.d_spectral_norm
  assert not config.model.texture_residual
  assert config.loss.texture_tv == 0.0 and config.loss.paired_l1 == 0.0
  assert config.d_learning_rate is None and config.learning_rate == 1e-4


def test_the_paper_run_states_every_loss_field_and_the_critic_update():
  """configs/emotionet.py gives each setting with its source: every loss
  field is assigned there, not inherited silently (a new field must be
  stated), at the paper's reading."""
  import pathlib  # pylint: disable=g-import-not-at-top
  from configs import emotionet  # pylint: disable=g-import-not-at-top
  text = (pathlib.Path(emotionet.__file__)).read_text(encoding="utf-8")
  config = emotionet.get_config()
  unstated = [name for name in config.loss if f"config.loss.{name} =" not in text]
  # GANimation's own mask weights apply to the ganimation variant only.
  assert set(unstated) <= {"ganimation_mask", "ganimation_mask_smooth"}, unstated
  assert "config.critic_update =" in text and config.critic_update == "combined"
  assert config.loss.regulariser_passes == "edit" and config.loss.tv_units == "pixels"
  assert config.model.au_conditioning == "input"
  assert config.loss.cycle_distance == "l1"
  assert "config.critic_head_start =" in text and config.critic_head_start == 0
  assert "config.critic_au_pretrain_steps =" in text and config.critic_au_pretrain_steps == 0
  assert "config.generator_warmup_steps =" in text and config.generator_warmup_steps == 0


def test_the_long_demo_is_the_demo_for_longer():
  from configs import synthetic, synthetic_long  # pylint: disable=g-import-not-at-top
  demo, long = synthetic.get_config(), synthetic_long.get_config()
  assert long.num_train_steps == 10 * demo.num_train_steps
  assert long.model.to_dict() == demo.model.to_dict()
  assert long.loss.to_dict() == demo.loss.to_dict()
  assert long.learning_rate == demo.learning_rate
