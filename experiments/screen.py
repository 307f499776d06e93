"""Screens learning experiments side by side on an accelerator, no TensorFlow.

    python -m experiments.screen --exps=residual_tv_resize,cond_1280 --seeds=0,1 \\
        --out=/tmp/screen [--jobs=8] [--eval_every=100] [--ema=0.995] [--budget_s=380]
    python -m experiments.screen --table=experiments/screen/gpu2.jsonl,...  # LEARNING.md's table

Each (experiment, seed) trains `experiments.learning`'s config of that
experiment (the CPU demo's networks, batch and steps, with the experiment's
overrides) in a process of its own, so several compile at once on a
many-core host and share its accelerator. The faces come from
`array_pipeline` (drawn once into `--data`), the steps from
`steps`: nothing imports TensorFlow, which the lent GPU machine lacks. Every
`eval_every` steps a run scores the edit suite and appends a line to
`out/screen.jsonl`; at its end it adds its generator's parameters and final
suite figure to `out/<name>_seed<seed>.npz`, gathered into
`out/params_seed<seed>.npz` and `out/figures.npz` when every run is done.

A screen is for choosing which experiments a CPU run must confirm: its
batches differ from the tf.data stream's (`array_pipeline`) and its
convolutions are the accelerator's, so its numbers compare among themselves
and match the CPU log's in distribution, not digit for digit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import io
import json
import os
import subprocess
import sys
import time
from typing import Any

from absl import app
from absl import flags
import numpy as np

from experiments import learning

_RECORDS_FILE = "screen.jsonl"
SCREEN_TABLE_START = "<!-- screen table:start -->"
SCREEN_TABLE_END = "<!-- screen table:end -->"


def config_of(name: str, seed: int, num_steps: int | None = None) -> Any:
  """`learning.BASE_CONFIG` with experiment `name`'s overrides and `seed`
  (and `num_steps` training steps, for a smoke test: a critic head start is
  cut to half of them)."""
  from configs import synthetic  # pylint: disable=g-import-not-at-top
  config = synthetic.get_config()
  for field, value in learning.overrides(name).items():
    *parents, leaf = field.split(".")
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  config.seed = seed
  if num_steps:
    config.num_train_steps = num_steps
    # A head start longer than the shortened run would leave it nothing to train.
    config.critic_head_start = min(config.critic_head_start, num_steps // 2)
  return config


def load_faces(path: str, dataset: Any) -> Any:
  """The training split of the synthetic `dataset` (a `dataset_config`) as
  an `array_pipeline.Split`, drawn into `path` on first use; faces drawn for
  another config are refused, naming the file."""
  from dftnet_jax import array_pipeline  # pylint: disable=g-import-not-at-top
  from dftnet_jax import files  # pylint: disable=g-import-not-at-top
  if not os.path.exists(path):
    data = array_pipeline.draw_split("train", dataset.num_train, dataset.resolution,
                                     dataset.get("seed", 0))
    # Whole or not at all: an interrupted draw leaves no file to refuse later.
    buffer = io.BytesIO()
    np.savez(buffer, images=data.images, aus=data.aus, identities=data.identities)
    files.atomic_write(path, buffer.getvalue())
  with np.load(path) as f:
    data = array_pipeline.Split(f["images"], f["aus"], f["identities"])
  if data.images.shape[:2] != (dataset.num_train, dataset.resolution):
    raise ValueError(f"{path} holds {len(data.images)} faces of {data.images.shape[1]} px;"
                     f" the experiment trains on {dataset.num_train} of {dataset.resolution} px:"
                     f" delete the file to draw them again")
  return data


def append_record(path: str, record: Mapping[str, Any]) -> None:
  """Appends `record` to the JSON-lines file `path` (its folder made if
  missing): one line per evaluation, so a stopped run keeps its curve."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")


def _window_means(history: Sequence[Mapping[str, np.ndarray]]) -> dict[str, float]:
  names = history[0].keys()
  return {name: float(np.mean([m[name] for m in history])) for name in names}


def train_one(name: str, seed: int, out: str, data_path: str, eval_every: int,
              num_steps: int | None = None, ema_decay: float = 0.0) -> None:
  """Trains one (experiment, seed) and records its suite curve (module doc);
  with `ema_decay`, also the suite scores of an exponential moving average
  of the generator's weights (keys 'ema/...'), a screen of that idea before
  the training loop has it."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from dftnet_jax import array_pipeline  # pylint: disable=g-import-not-at-top
  from dftnet_jax import au_pretraining  # pylint: disable=g-import-not-at-top
  from dftnet_jax import edit_suite  # pylint: disable=g-import-not-at-top
  from dftnet_jax import reporting  # pylint: disable=g-import-not-at-top
  from dftnet_jax import states  # pylint: disable=g-import-not-at-top
  from dftnet_jax import steps  # pylint: disable=g-import-not-at-top

  started = time.perf_counter()
  os.makedirs(out, exist_ok=True)
  config = config_of(name, seed, num_steps)
  data = load_faces(data_path, config.dataset_config)
  init_key, key, _ = states.run_keys(config)
  state = states.create_train_states(config, init_key)
  p_cycle = steps.parallel_cycle(config)
  batches = array_pipeline.train_batches(
      data, batch_size=config.batch_size, num_devices=jax.local_device_count(), seed=seed,
      target_au_noise=config.target_au_noise, render_targets=bool(config.loss.paired_l1))
  # The critic's AU pretraining (if the config asks) reads a stream of its own.
  pretrain_batches = array_pipeline.train_batches(
      data, batch_size=config.batch_size, num_devices=jax.local_device_count(),
      seed=seed + 10_000, target_au_noise=0.0)
  state = state.replace(critic=au_pretraining.pretrain(state.critic, pretrain_batches,
                                                       config=config))
  suite = edit_suite.suite_faces(config.model.image_size, config.suite_faces)
  g_apply = state.generator.apply_fn
  generate = jax.jit(lambda p, x, t: g_apply({"params": p}, x, t).image)
  average = jax.jit(lambda ema, p: jax.tree.map(lambda e, x: ema_decay * e + (1 - ema_decay) * x,
                                                ema, p))
  # A copy: the cycle donates the state's buffers.
  ema = jax.tree.map(jnp.array, state.generator.params)
  history, first_step_s = [], None
  for step in range(config.num_train_steps):
    key, step_key = jax.random.split(key)
    state, metrics = steps.train_cycle(state, batches, step_key, p_cycle=p_cycle,
                                       n_critic=config.n_critic)
    done = step + 1
    if ema_decay:
      ema = average(ema, state.generator.params)
    if first_step_s is None:
      first_step_s = time.perf_counter() - started
    # The critic's metrics of the cycle's last update, with the generator's.
    history.append({**metrics[-2], **metrics[-1]})
    diverged = not np.isfinite(metrics[-1]["g_loss"])
    if reporting.is_due(done, eval_every, config.num_train_steps) or diverged:
      params = jax.device_get(state.generator.params)
      edit = edit_suite.generator_edit_fn(generate, params)
      scores = edit_suite.score_suite(edit, suite)
      if ema_decay:
        ema_scores = edit_suite.score_suite(
            edit_suite.generator_edit_fn(generate, jax.device_get(ema)), suite)
        scores.update({f"ema/{k}": v for k, v in ema_scores.items()})
      record = {"name": name, "seed": seed, "step": done,
                "planned_steps": config.num_train_steps, "diverged": diverged,
                "wall_s": time.perf_counter() - started, "first_step_s": first_step_s,
                "train": _window_means(history), **scores}
      history = []
      append_record(os.path.join(out, _RECORDS_FILE), record)
      print(f"{name} seed {seed} step {done}: gain {scores['gain_mean']:.3f}"
            f" min {scores['gain_min']:.3f} leak {scores['leak_mean']:.4f}"
            f" unasked {scores['gain_unasked_mean']:.3f}"
            + (f" ema {scores['ema/gain_mean']:.3f}" if ema_decay else "")
            + f" ({record['wall_s']:.0f} s)", flush=True)
      if diverged:
        break
  figure = edit_suite.suite_figure(edit, suite)
  np.savez(os.path.join(out, f"{name}_seed{seed}.npz"), figure=figure,
           **{f"params/{k}": v for k, v in flat_params(params).items()})


def flat_params(params: Any) -> dict[str, np.ndarray]:
  """Each parameter by its path ('encoder/Conv_0/kernel'), in the tree's
  flattening order: the names a screen saves a generator under and
  `experiments.edit_strength` reads it back by."""
  import jax  # pylint: disable=g-import-not-at-top
  return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}


def _gather(out: str, runs: Sequence[tuple[str, int]]) -> None:
  """Each run's npz into out/figures.npz and one out/params_seed<seed>.npz per
  seed (the device tool returns few files, of at most 16 MB each)."""
  figures, params = {}, {}
  for name, seed in runs:
    path = os.path.join(out, f"{name}_seed{seed}.npz")
    if not os.path.exists(path):
      continue
    with np.load(path) as f:
      figures[f"{name}_seed{seed}"] = f["figure"]
      params.setdefault(seed, {}).update({f"{name}/{k[len('params/'):]}": f[k]
                                          for k in f.files if k.startswith("params/")})
    os.remove(path)
  np.savez_compressed(os.path.join(out, "figures.npz"), **figures)
  for seed, arrays in params.items():
    np.savez(os.path.join(out, f"params_seed{seed}.npz"), **arrays)


def screen(names: Sequence[str], seeds: Sequence[int], out: str, data_path: str, jobs: int,
           eval_every: int, num_steps: int | None = None, budget_s: float = float("inf"),
           ema_decay: float = 0.0) -> None:
  """Draws the training faces once, then trains every (name, seed), `jobs`
  at a time, seeds in turn, names in the order given (most important first).
  After `budget_s` seconds the runs still going are stopped (their curves so
  far are recorded) and the rest are not started."""
  started = time.perf_counter()
  os.makedirs(out, exist_ok=True)
  dataset = config_of(names[0], 0).dataset_config
  for name in names:
    if config_of(name, 0).dataset_config != dataset:
      raise ValueError(f"experiment {name!r} trains on other faces than {names[0]!r}")
  # Drawn here once, not by every run at once.
  load_faces(data_path, dataset)
  runs = [(name, seed) for seed in seeds for name in names]
  pending, running = list(runs), []
  while pending or running:
    if time.perf_counter() - started > budget_s:
      print(f"budget of {budget_s:.0f} s spent: stopping {len(running)} run(s), skipping"
            f" {len(pending)}", flush=True)
      for process in running:
        process.terminate()
      for process in running:
        process.wait()
      break
    while pending and len(running) < jobs:
      name, seed = pending.pop(0)
      running.append(subprocess.Popen(
          [sys.executable, "-m", "experiments.screen", f"--one={name}", f"--seeds={seed}",
           f"--out={out}", f"--data={data_path}", f"--eval_every={eval_every}",
           f"--steps={num_steps or 0}", f"--ema={ema_decay}"],
          cwd=learning.REPO))
    time.sleep(1)
    for process in [p for p in running if p.poll() is not None]:
      running.remove(process)
      if process.returncode:
        print(f"a run failed: {process.args[3:5]} exit {process.returncode}", flush=True)
  _gather(out, runs)


Run = tuple[str, str, int]  # (screen: its records file's stem, experiment, seed)


def read_runs(paths: Sequence[str]) -> dict[Run, list[dict[str, Any]]]:
  """Each run's suite curve, from screen records (`screen.jsonl` files).

  Runs are keyed by their file's stem, so two files of one stem (or one
  file given twice) would merge their curves: refused.
  """
  runs: dict[Run, list[dict[str, Any]]] = {}
  stems: dict[str, str] = {}
  for path in paths:
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem in stems:
      raise ValueError(f"screen records {stems[stem]} and {path} share the name {stem!r},"
                       " which keys their runs: give each file once, under its own name")
    stems[stem] = path
    with open(path, encoding="utf-8") as f:
      for line in f:
        if line.strip():
          point = json.loads(line)
          runs.setdefault((stem, point["name"], point["seed"]), []).append(point)
  return {run: sorted(curve, key=lambda p: p["step"]) for run, curve in runs.items()}


def table(runs: Mapping[Run, Sequence[Mapping[str, Any]]]) -> str:
  """Markdown: one row per run at its last evaluation, screens in turn,
  experiments in `learning.EXPERIMENTS` order; a run the budget stopped
  says where."""
  order = list(learning.EXPERIMENTS)
  rows = ["| screen | experiment | seed | change | step | gain mean | EMA gain | gain min |"
          " leak | eyes closed | jaw drop | smile | gain at each eval |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for (stem, name, seed), curve in sorted(
      runs.items(), key=lambda r: (r[0][0], order.index(r[0][1]), r[0][2])):
    last = curve[-1]
    # Older records lack the run's planned length: their config's, then.
    planned = last.get("planned_steps", config_of(name, seed).num_train_steps)
    step = f"{last['step']}" + ("" if last["step"] == planned else f" of {planned}")
    experiment = learning.EXPERIMENTS[name]
    change = ", ".join(f"{k}={v}" for k, v in experiment.change.items()) \
        if experiment.parent else "(the demo recipe of the issue)"
    ema = f"{last['ema/gain_mean']:.3f}" if "ema/gain_mean" in last else "–"
    gains = " ".join(f"{p['gain_mean']:.2f}" for p in curve)
    rows.append(f"| {stem} | {name} | {seed} | {change} | {step} | {last['gain_mean']:.3f} |"
                f" {ema} | {last['gain_min']:.3f} | {last['leak_mean']:.4f} |"
                f" {last['eyes_closed/gain']:.2f} | {last['jaw_drop/gain']:.2f} |"
                f" {last['smile/gain']:.2f} | {gains} |")
  return "\n".join(rows) + "\n"


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _TABLE.value:
    learning.write_between_markers(learning.LOG, SCREEN_TABLE_START, SCREEN_TABLE_END,
                                   table(read_runs(_TABLE.value)))
    return
  seeds = [int(s) for s in _SEEDS.value]
  if _ONE.value:
    train_one(_ONE.value, seeds[0], _OUT.value, _DATA.value, _EVAL_EVERY.value, _STEPS.value,
              _EMA.value)
    return
  unknown = [name for name in _EXPS.value if name not in learning.EXPERIMENTS]
  if unknown:
    raise app.UsageError(f"unknown experiments {unknown}; known: {', '.join(learning.EXPERIMENTS)}")
  screen(_EXPS.value, seeds, _OUT.value, _DATA.value, _JOBS.value, _EVAL_EVERY.value,
         _STEPS.value, _BUDGET_S.value, _EMA.value)


if __name__ == "__main__":
  _EXPS = flags.DEFINE_list("exps", [], "Experiments (keys of learning.EXPERIMENTS), most"
                            " important first.")
  _SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds of each experiment.")
  _OUT = flags.DEFINE_string("out", "workdirs/screen", "Folder for the records.")
  _DATA = flags.DEFINE_string("data", "/tmp/dftnet_screen_faces.npz",
                              "The training faces, drawn here on first use.")
  _JOBS = flags.DEFINE_integer("jobs", 8, "Runs at a time.")
  _EVAL_EVERY = flags.DEFINE_integer("eval_every", 100, "Steps between suite scores.")
  _STEPS = flags.DEFINE_integer("steps", 0, "Training steps of every run; 0: the"
                                " experiment's own (fewer, for a smoke test).")
  _BUDGET_S = flags.DEFINE_float("budget_s", float("inf"), "Seconds after which the runs"
                                 " still going are stopped.")
  _EMA = flags.DEFINE_float("ema", 0.0, "Also score an EMA of the generator's weights with"
                            " this decay; 0: none.")
  _TABLE = flags.DEFINE_list("table", [], "Write the table of these screen records"
                             " (screen.jsonl files) into experiments/LEARNING.md instead of"
                             " training.")
  _ONE = flags.DEFINE_string("one", None, "Internal: train this one experiment (the first"
                             " seed) in this process.")
  app.run(main)
