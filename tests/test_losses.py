"""Loss terms against closed forms, numpy loops and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftnet_jax import losses


def _rand(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradient_penalty_linear_critic_closed_form(reduction):
  """A linear critic has input gradient Σ_p w_p (sum) or its mean, everywhere.

  So the penalty is (‖g‖ − 1)² whatever the interpolates, and its gradient
  w.r.t. the weights is 2(‖g‖ − 1)·∂‖g‖/∂w, known in closed form.
  """
  shape, patches = (3, 4, 4, 2), 4  # batch 3, 2×2 critic map
  weights = _rand((patches, 4, 4, 2), 0) * 0.1
  real, fake = _rand(shape, 1), _rand(shape, 2)

  def critic_of(w):
    return lambda x: jnp.einsum("bhwc,phwc->bp", x, w).reshape(x.shape[0], 2, 2)

  keys = jax.random.split(jax.random.key(0), shape[0])
  penalty = lambda w: losses.gradient_penalty(critic_of(w), real, fake, keys,
                                              reduction=reduction, eps=0.0)
  scale = 1.0 if reduction == "sum" else 1.0 / patches
  g = scale * weights.astype(np.float64).sum(0)
  norm = np.sqrt((g ** 2).sum())
  np.testing.assert_allclose(penalty(weights), (norm - 1.0) ** 2, rtol=1e-5)
  expected_grad = np.broadcast_to(2 * (norm - 1.0) * g / norm * scale, weights.shape)
  np.testing.assert_allclose(jax.grad(penalty)(weights), expected_grad, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_quadratic_critic_matches_finite_differences():
  """D(x) = a/2·‖x‖²: ∇D = a·x̃. With real = fake the interpolate is x itself,
  so the penalty is mean_b (a‖x_b‖ − 1)²; its derivative in a (a double
  backward through the nested grad) is checked against central differences."""
  x = _rand((4, 3, 3, 2), 3) * 0.3
  norms = np.sqrt((x.astype(np.float64) ** 2).sum(axis=(1, 2, 3)))

  def penalty(a):
    critic = lambda img: (0.5 * a * jnp.sum(img ** 2, axis=(1, 2, 3)))[:, None, None]
    return losses.gradient_penalty(critic, x, x, jax.random.split(jax.random.key(1), 4),
                                   eps=0.0)

  a = 0.7
  np.testing.assert_allclose(penalty(a), np.mean((a * norms - 1) ** 2), rtol=1e-5)
  h = 1e-3
  fd = (np.mean(((a + h) * norms - 1) ** 2) - np.mean(((a - h) * norms - 1) ** 2)) / (2 * h)
  np.testing.assert_allclose(jax.grad(penalty)(a), fd, rtol=1e-4)


def test_gradient_penalty_interpolates_each_example_with_its_own_weight():
  """Real ≠ fake and a non-linear critic D(x) = a/2·‖x − c‖²: ∇D(x̃) = a(x̃ − c)
  at x̃ = α·real + (1 − α)·fake, α drawn from each example's key. The value
  by hand, and its derivatives in a and c by central differences; a
  dropped, shared or swapped interpolation weight fails both."""
  real, fake = _rand((3, 3, 3, 2), 5), _rand((3, 3, 3, 2), 6) * 2.0
  centre = _rand((3, 3, 2), 7) * 0.5
  keys = jax.random.split(jax.random.key(2), 3)
  alpha = np.array([float(jax.random.uniform(k, (1, 1, 1))[0, 0, 0]) for k in keys])
  assert np.ptp(alpha) > 0.1  # distinct weights, so a shared one would show
  interpolates = (alpha[:, None, None, None] * real.astype(np.float64)
                  + (1 - alpha[:, None, None, None]) * fake)

  def by_hand(a, c):
    norms = a * np.sqrt(((interpolates - c) ** 2).sum(axis=(1, 2, 3)))
    return np.mean((norms - 1.0) ** 2)

  def penalty(a, c):
    critic = lambda x: (0.5 * a * jnp.sum((x - c) ** 2, axis=(1, 2, 3)))[:, None, None]
    return losses.gradient_penalty(critic, real, fake, keys, eps=0.0)

  a = 0.4
  np.testing.assert_allclose(penalty(a, centre), by_hand(a, centre), rtol=1e-5)
  h = 1e-3
  np.testing.assert_allclose(jax.grad(penalty)(a, centre),
                             (by_hand(a + h, centre) - by_hand(a - h, centre)) / (2 * h),
                             rtol=1e-3)
  grad_c = np.asarray(jax.grad(penalty, argnums=1)(a, centre))
  for index in [(0, 0, 0), (1, 2, 1), (2, 1, 0)]:
    step = np.zeros_like(centre, np.float64)
    step[index] = h
    fd = (by_hand(a, centre + step) - by_hand(a, centre - step)) / (2 * h)
    np.testing.assert_allclose(grad_c[index], fd, rtol=1e-3, atol=1e-6)
  # The fakes are constants: no gradient flows back into the generator.
  fake_grad = jax.grad(lambda f: losses.gradient_penalty(
      lambda x: (0.5 * a * jnp.sum((x - centre) ** 2, axis=(1, 2, 3)))[:, None, None],
      real, f, keys))(fake)
  assert not np.any(fake_grad)


def test_gradient_penalty_is_differentiable_at_zero_gradient():
  """A constant critic has ∇D = 0: ε inside the square root keeps gradients finite."""
  critic = lambda x: jnp.zeros((x.shape[0], 1, 1)) * jnp.sum(x)
  x = _rand((2, 2, 2, 1), 4)
  value, grad = jax.value_and_grad(
      lambda s: losses.gradient_penalty(lambda y: critic(y * s), x, x,
                                        jax.random.split(jax.random.key(0), 2)))(1.0)
  assert np.isclose(value, 1.0, atol=1e-5)
  assert np.isfinite(grad)


def test_gradient_penalty_rejects_unknown_reduction():
  with pytest.raises(ValueError, match="reduction"):
    losses.gradient_penalty(lambda x: x[..., 0], np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)),
                            jax.random.split(jax.random.key(0), 1), reduction="max")


def test_au_jacobian_penalty_estimates_a_linear_heads_frobenius_norm():
  """A linear AU head x ↦ Wᵀx has Jacobian Wᵀ everywhere; averaged over many
  examples, the random projections' ‖W u‖² estimate ‖W‖²_F (E[uuᵀ] = I)."""
  num = 20_000
  weights = _rand((12, 17), 8)
  read = lambda x: x.reshape(x.shape[0], -1) @ weights
  real, fake = _rand((num, 2, 2, 3), 9), _rand((num, 2, 2, 3), 10)
  penalty = losses.au_jacobian_penalty(read, real, fake, jax.random.split(jax.random.key(2), num))
  np.testing.assert_allclose(penalty, np.sum(weights.astype(np.float64) ** 2), rtol=0.03)


def test_au_jacobian_penalty_is_taken_on_the_interpolates():
  """AUs (a/2·‖x − c‖², 0, …, 0): the gradient a(x̃ − c)·u₁ vanishes only at
  x̃ = c. With real = fake = c the penalty is 0. With real = c and fake =
  c + d the interpolate is c + (1 − α)d, so the penalty averages
  a²(1 − α)²‖d‖²u₁²: a²‖d‖²/3 over many examples; its derivative in a (a
  double backward) matches central differences."""
  num, centre = 4_000, _rand((1, 2, 2, 3), 11)
  shift = _rand((1, 2, 2, 3), 12) * 0.5
  keys = jax.random.split(jax.random.key(3), num)

  def penalty(a, real, fake):
    read = lambda x: jnp.pad((0.5 * a * jnp.sum((x - centre) ** 2, axis=(1, 2, 3)))[:, None],
                             ((0, 0), (0, 16)))
    return losses.au_jacobian_penalty(read, real, fake, keys)

  real = np.broadcast_to(centre, (num, 2, 2, 3))
  assert np.isclose(penalty(1.0, real, real), 0.0, atol=1e-10)
  fake = real + shift
  expected = float(np.sum(shift.astype(np.float64) ** 2)) / 3
  np.testing.assert_allclose(penalty(1.0, real, fake), expected, rtol=0.08)
  h, a = 1e-2, 0.7
  fd = (penalty(a + h, real, fake) - penalty(a - h, real, fake)) / (2 * h)
  np.testing.assert_allclose(jax.grad(penalty)(a, real, fake), fd, rtol=1e-3)


def test_wgan_terms():
  real, fake = _rand((3, 2, 2), 5), _rand((3, 2, 2), 6)
  np.testing.assert_allclose(losses.critic_wgan(real, fake), fake.mean() - real.mean(), rtol=1e-6)
  np.testing.assert_allclose(losses.generator_wgan(fake), -fake.mean(), rtol=1e-6)
  np.testing.assert_allclose(losses.critic_score(real), real.mean(axis=(1, 2)), rtol=1e-6)


def test_logistic_terms_match_their_closed_forms():
  """−log σ(real) − log(1 − σ(fake)) and −log σ(fake), per patch, averaged;
  the generator's gradient stays −σ(−D)/N ≈ −1/N where the critic rejects
  the fakes (non-saturating), where log(1 − σ(D)) would give ≈ 0."""
  real, fake = _rand((3, 2, 2), 7), _rand((3, 2, 2), 8)
  sigmoid = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))
  np.testing.assert_allclose(losses.critic_logistic(real, fake),
                             np.mean(-np.log(sigmoid(real))) + np.mean(-np.log(1 - sigmoid(fake))),
                             rtol=1e-5)
  np.testing.assert_allclose(losses.generator_logistic(fake), np.mean(-np.log(sigmoid(fake))),
                             rtol=1e-5)
  rejected = np.full((2, 2, 2), -12.0, np.float32)
  np.testing.assert_allclose(jax.grad(losses.generator_logistic)(rejected), -1 / 8, rtol=1e-4)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_r1_penalty_matches_a_closed_form_and_its_finite_differences(reduction):
  """A critic whose patch p scores Σ a·w_p·x²/2 has input gradient
  a·(Σ_p w_p)·x (sum) or its mean: R1 = mean_b ‖that‖², and its derivative
  in a (the nested gradient) matches central differences."""
  shape, patches = (3, 4, 4, 2), 4
  weights = _rand((patches, 4, 4, 2), 9) * 0.3
  real = _rand(shape, 10)

  def penalty(a):
    critic = lambda x: a * jnp.einsum("bhwc,phwc->bp", x ** 2 / 2, weights).reshape(-1, 2, 2)
    return losses.r1_penalty(critic, real, reduction=reduction)

  scale = 1.0 if reduction == "sum" else 1.0 / patches
  grads = 0.7 * scale * weights.astype(np.float64).sum(0) * real
  expected = np.mean(np.sum(grads ** 2, axis=(1, 2, 3)))
  np.testing.assert_allclose(penalty(0.7), expected, rtol=1e-5)
  h = 1e-2
  fd = (penalty(0.7 + h) - penalty(0.7 - h)) / (2 * h)
  np.testing.assert_allclose(jax.grad(penalty)(0.7), fd, rtol=1e-3)


def test_flow_tv_matches_loops():
  """Paper eq. 9: Σ_ij (Φ[i+1,j] − Φ[i,j])² + (Φ[i,j+1] − Φ[i,j])², batch mean."""
  flow = _rand((2, 4, 5, 2), 7)
  count_h = count_w = 0
  sum_h = sum_w = 0.0
  for b in range(2):
    for i in range(4):
      for j in range(5):
        for c in range(2):
          if i + 1 < 4:
            sum_h += (flow[b, i + 1, j, c] - flow[b, i, j, c]) ** 2
            count_h += 1
          if j + 1 < 5:
            sum_w += (flow[b, i, j + 1, c] - flow[b, i, j, c]) ** 2
            count_w += 1
  total = (sum_h + sum_w) / 2
  np.testing.assert_allclose(losses.flow_tv(flow), total, rtol=1e-5)
  np.testing.assert_allclose(losses.flow_tv(flow, reduction="mean"),
                             sum_h / count_h + sum_w / count_w, rtol=1e-5)
  with pytest.raises(ValueError, match="reduction"):
    losses.flow_tv(flow, reduction="median")


def test_flow_tv_in_pixels_scales_each_axis():
  """Pixel units: x offsets × W/2 and y offsets × H/2, so on a non-square
  flow each channel's squared differences scale by its own axis."""
  flow = _rand((2, 4, 6, 2), 8)
  x_only, y_only = flow * np.array([1, 0], np.float32), flow * np.array([0, 1], np.float32)
  np.testing.assert_allclose(losses.flow_tv(x_only, units="pixels"),
                             9 * losses.flow_tv(x_only), rtol=1e-5)
  np.testing.assert_allclose(losses.flow_tv(y_only, units="pixels"),
                             4 * losses.flow_tv(y_only), rtol=1e-5)
  with pytest.raises(ValueError, match="units"):
    losses.flow_tv(flow, units="inches")


def test_flow_l1_is_the_mean_pixel_length_and_prices_the_shift_tv_leaves_free():
  """A flow moving every pixel by (3, −2) px on a 6-wide, 4-high image is
  (3 / (6/2), −2 / (4/2)) in normalised units: its mean L1 length is 5 px,
  its TV 0."""
  shift = np.broadcast_to(np.array([1.0, -1.0], np.float32), (2, 4, 6, 2))
  np.testing.assert_allclose(losses.flow_l1(shift), 5.0, rtol=1e-6)
  np.testing.assert_allclose(losses.flow_tv(shift, units="pixels"), 0.0, atol=1e-6)
  flow = _rand((2, 4, 6, 2), 10)
  by_hand = np.mean(np.abs(flow[..., 0]) * 3 + np.abs(flow[..., 1]) * 2)
  np.testing.assert_allclose(losses.flow_l1(flow), by_hand, rtol=1e-5)


def test_au_cycle_and_attention_terms():
  pred, target = _rand((4, 17), 8), _rand((4, 17), 9)
  np.testing.assert_allclose(losses.au_regression(pred, target),
                             ((pred - target) ** 2).mean(), rtol=1e-6)
  np.testing.assert_allclose(losses.au_regression(pred, target, batch_divisor=4.0),
                             ((pred - target) ** 2).mean() / 4, rtol=1e-6)
  x, y = _rand((2, 3, 3, 3), 10), _rand((2, 3, 3, 3), 11)
  np.testing.assert_allclose(losses.cycle_loss(x, y), np.abs(x - y).mean(), rtol=1e-6)
  a = np.random.default_rng(12).uniform(size=(2, 3, 4, 1)).astype(np.float32)
  np.testing.assert_allclose(losses.attention_dftnet(a), -a.mean(), rtol=1e-6)
  tv = np.abs(np.diff(a, axis=1)).sum() + np.abs(np.diff(a, axis=2)).sum()
  np.testing.assert_allclose(
      losses.attention_ganimation(a, mean_weight=0.1, smooth_weight=1e-2),
      0.1 * a.mean() + 1e-2 * tv, rtol=1e-5)


def test_pixel_distances_by_hand_and_their_pull_near_the_copy():
  x, y = _rand((2, 5, 5, 3), 13), _rand((2, 5, 5, 3), 14)
  np.testing.assert_allclose(losses.pixel_distance(x, y, "l1"), np.abs(x - y).mean(), rtol=1e-6)
  np.testing.assert_allclose(losses.pixel_distance(x, y, "l2"), ((x - y) ** 2).mean(), rtol=1e-6)
  for loss in (losses.cycle_loss, losses.paired_loss):
    np.testing.assert_allclose(loss(x, y, "l2"), ((x - y) ** 2).mean(), rtol=1e-6)
  # Why 'l2' exists: a pixel 1e-3 off the copy pulls back with gradient
  # ±1/n under L1 and 2e-3/n under L2 (n the number of values).
  near = y + 1e-3
  n = y.size
  np.testing.assert_allclose(jax.grad(losses.pixel_distance)(near, y, "l1"), 1 / n, rtol=1e-5)
  np.testing.assert_allclose(jax.grad(losses.pixel_distance)(near, y, "l2"), 2e-3 / n,
                             rtol=1e-3)
  with pytest.raises(ValueError, match="pixel distance 'l3'"):
    losses.pixel_distance(x, y, "l3")


def test_the_huber_distance_is_squared_near_the_copy_and_l1_far_from_it():
  y = jnp.zeros((4,))
  x = jnp.array([0.05, -0.05, 0.5, -2.0])
  delta = 0.1
  # By hand: e²/(2δ) below δ, |e| − δ/2 above it.
  by_hand = np.mean([0.0025 / 0.2, 0.0025 / 0.2, 0.5 - 0.05, 2.0 - 0.05])
  np.testing.assert_allclose(losses.pixel_distance(x, y, "huber", huber_delta=delta), by_hand,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.cycle_loss(x, y, "huber", huber_delta=0.01),
                             np.mean(np.abs(x) - 0.005), rtol=1e-6)
  # Its pull: e/δ per value below δ (fading like L2's), ±1 above (L1's).
  grad = jax.grad(losses.pixel_distance)(x, y, "huber", huber_delta=delta)
  np.testing.assert_allclose(grad, np.array([0.5, -0.5, 1.0, -1.0]) / 4, rtol=1e-5)


def test_texture_change_tv_by_hand():
  source = jnp.zeros((1, 2, 3, 1))
  # Change [[0, 1, 0], [0, 0, 0]]: |dy| = 0, 1, 0 over 3; |dx| = 1, 1, 0, 0 over 4.
  texture = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 2, 3, 1) + source
  np.testing.assert_allclose(losses.texture_change_tv(texture, source), 1 / 3 + 2 / 4)
  # Only the change counts: the same change over another source costs the same.
  other = jnp.full((1, 2, 3, 1), 0.3)
  np.testing.assert_allclose(losses.texture_change_tv(texture + other, other), 1 / 3 + 2 / 4,
                             rtol=1e-6)
  # A stripe pattern costs more than a block of the same total change.
  rows = lambda row: jnp.tile(row, (2, 1)).reshape(1, 2, 8, 1)
  stripes = rows(jnp.tile(jnp.array([0.0, 1.0]), 4))
  block = rows(jnp.concatenate([jnp.zeros(4), jnp.ones(4)]))
  zeros = jnp.zeros((1, 2, 8, 1))
  assert losses.texture_change_tv(stripes, zeros) > 5 * losses.texture_change_tv(block, zeros)
