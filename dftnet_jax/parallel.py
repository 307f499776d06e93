"""Data parallelism: one per-device step body under pmap or jit(shard_map).

A step body is written once for one device: it sees that device's share of
the batch, reduces with `lax.pmean(…, 'batch')` and numbers its examples with
`lax.axis_index('batch')`. `parallelize` ships it under `jax.pmap` or under
`jax.jit(jax.shard_map(…))` (`config.parallelism`) with one calling
convention: arguments mapped over devices arrive as [D, …] (this process's
devices; numpy is fine), the others unstacked; unstacked results come back as
one copy replicated over every device of every process, mapped ones as
[D, …] arrays of this process's devices, the slices its arguments fed
(`gather` brings every process's to the host).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import ml_collections
import numpy as np

AXIS = "batch"
PARALLELISMS: tuple[str, ...] = ("pmap", "shard_map")
# Per argument (or result): 0 maps it over devices on its leading axis, None
# gives every device the same, unstacked value (as in `jax.pmap`).
Axes = Any


def mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named 'batch' over `devices` (default: all, every process)."""
  return Mesh(np.array(devices or jax.devices()), (AXIS,))


def replicated(devices: Sequence[jax.Device] | None = None) -> NamedSharding:
  """The layout of the state: one copy on each of `devices` (default: all)."""
  return NamedSharding(mesh(devices), PartitionSpec())


def _spec(axis: int | None) -> PartitionSpec:
  if axis not in (0, None):
    raise ValueError(f"only axis 0 or None can be mapped over devices, got {axis!r}")
  return PartitionSpec() if axis is None else PartitionSpec(AXIS)


def _global(tree: Any, device_mesh: Mesh, axis: int | None) -> Any:
  """`tree` as global arrays over `device_mesh`; leaves already laid out so
  are passed through (no copy: donated state stays donated)."""
  sharding = NamedSharding(device_mesh, _spec(axis))

  def convert(x: Any) -> Any:
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
      return x
    return multihost_utils.host_local_array_to_global_array(x, device_mesh, sharding.spec)

  return jax.tree.map(convert, tree)


def _map_axes(fn: Callable[[Any, int | None], Any], axes: Axes, tree: Any) -> Any:
  """fn(subtree, axis) for each leaf of the axes prefix `axes` of `tree`."""
  return jax.tree.map(lambda axis, sub: fn(sub, axis), axes, tree,
                      is_leaf=lambda x: x is None)


def parallelize(body: Callable, config: ml_collections.ConfigDict, *,
                in_axes: tuple[int | None, ...], out_axes: Axes,
                donate_argnums: tuple[int, ...] = (),
                devices: Sequence[jax.Device] | None = None) -> Callable:
  """Runs the per-device `body` on every device, as `config.parallelism` says.

  Args:
    body: a per-device function of positional arguments; collectives over
      the axis 'batch'.
    config: the training config (`parallelism`: 'pmap' or 'shard_map').
    in_axes: per positional argument, 0 (split over devices on the leading
      axis) or None (the same unstacked value on every device).
    out_axes: the same for the results, a prefix of their tree.
    donate_argnums: arguments whose buffers the step may reuse (the state).
    devices: the devices to run on; default: all of them, every process.

  Returns:
    The parallel function. Unstacked results are global arrays replicated
    over all devices, so every process holds the same state and Orbax
    writes it collectively; in multi-process runs each process passes and
    gets its own devices' slices of the mapped arguments and results.

  Raises:
    ValueError: an unknown `config.parallelism` or an axis other than 0/None.
  """
  # Configs saved before the field existed ran under pmap.
  parallelism = config.get("parallelism", "pmap")
  if parallelism not in PARALLELISMS:
    raise ValueError(f"config.parallelism must be one of {PARALLELISMS}, got {parallelism!r}")
  device_mesh = mesh(devices)
  out_specs = _map_axes(lambda _, axis: _spec(axis), out_axes, out_axes)
  if parallelism == "pmap":
    mapped = jax.pmap(body, axis_name=AXIS, in_axes=in_axes, out_axes=out_axes,
                      donate_argnums=donate_argnums, devices=devices)

    def run_pmap(*args: Any) -> Any:
      out = mapped(*args)
      if jax.process_count() == 1:
        return out
      # pmap hands each process a copy of its own; make the replicated
      # results one global array again, as single-process runs get them.
      return _map_axes(lambda sub, axis: sub if axis is not None
                       else _global(sub, device_mesh, None), out_axes, out)

    return run_pmap

  def per_device(*args: Any) -> Any:
    # Each device's block of a mapped argument is [1, ...]; the body wants [...].
    args = [a if axis is None else jax.tree.map(lambda x: x[0], a)
            for a, axis in zip(args, in_axes)]
    return _map_axes(lambda sub, axis: sub if axis is None
                     else jax.tree.map(lambda x: x[None], sub), out_axes, body(*args))

  # check_vma=False keeps pmap's semantics: gradients w.r.t. replicated
  # parameters stay per device until the body's own pmean (with the check,
  # autodiff would sum them over devices first).
  mapped = jax.jit(jax.shard_map(per_device, mesh=device_mesh,
                                 in_specs=tuple(_spec(axis) for axis in in_axes),
                                 out_specs=out_specs, check_vma=False),
                   donate_argnums=donate_argnums)

  def run_shard_map(*args: Any) -> Any:
    out = mapped(*(_global(a, device_mesh, axis) for a, axis in zip(args, in_axes)))
    if jax.process_count() == 1:
      return out
    # Mapped results as pmap gives them: this process's devices' slices (a
    # global array spanning processes cannot be read on one host).
    return _map_axes(lambda sub, axis: sub if axis is None
                     else multihost_utils.global_array_to_host_local_array(
                         sub, device_mesh, _spec(axis)), out_axes, out)

  return run_shard_map


def gather(tree: Any) -> Any:
  """Results mapped over devices, [D, …] from every process, on the host."""
  return multihost_utils.process_allgather(tree, tiled=True)
