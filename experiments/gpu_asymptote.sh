#!/usr/bin/env bash
# How far do the generators get, given many steps? One call of a lent GPU
# (issue 15, session 13):
#
#   device run, carry [".whl"], timeout 560 s:
#     bash experiments/gpu_asymptote.sh $OUT 470
#
# Three processes share the one GPU, on the same 4,000 training faces at 64 px:
#   $OUT/probe_demo.jsonl:  the demo's generator on the paired L2 alone
#                           (`ceiling_probe`, supervised_fast_l2), 20,000 steps
#                           with the config's decay: 13× the demo's 1,500;
#   $OUT/probe_paper.jsonl: the paper's generator and batch, the same probe
#                           (supervised_l2_paper_widths), 6,000 steps;
#   $OUT/gan/screen.jsonl:  the GAN with the paper's networks and batch
#                           (`paper_widths`), 6,000 steps: the same length as
#                           its ceiling above, 1.5× session 11's runs.
# Runs still going after BUDGET_S seconds are stopped with their curves so far.
# Precision is JAX's default for float32 on the GPU (TF32 convolutions).
#
# CPU dry run (a minute): SMOKE_STEPS=2 bash experiments/gpu_asymptote.sh /tmp/out 300
set -u
OUT=${1:?usage: gpu_asymptote.sh OUT_DIR BUDGET_S}
BUDGET_S=${2:?usage: gpu_asymptote.sh OUT_DIR BUDGET_S}
SMOKE=${SMOKE_STEPS:-0}
# A length or an evaluation interval: $1, or SMOKE_STEPS in a dry run.
steps() { if [ "$SMOKE" != 0 ]; then echo "$SMOKE"; else echo "$1"; fi; }
# The GPU machine lacks ml_collections: install the carried wheel, if any.
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
DATA=/tmp/dftnet_asymptote_faces64.npz
mkdir -p "$OUT/gan"
python3 -c 'import jax; print("devices:", jax.devices())'
# Draw the faces once, before three processes would race to draw them.
python3 -c "
from experiments import screen
screen.load_faces('$DATA', screen.config_of('paper_widths', 0).dataset_config)" || exit 1
timeout "$BUDGET_S" python3 -m experiments.ceiling_probe --exp=supervised_fast_l2 \
  --steps="$(steps 20000)" --eval_every="$(steps 2000)" --decay --data=$DATA \
  --out="$OUT/probe_demo.jsonl" >"$OUT/probe_demo_log.txt" 2>&1 &
timeout "$BUDGET_S" python3 -m experiments.ceiling_probe --exp=supervised_l2_paper_widths \
  --steps="$(steps 6000)" --eval_every="$(steps 500)" --decay --data=$DATA \
  --out="$OUT/probe_paper.jsonl" >"$OUT/probe_paper_log.txt" 2>&1 &
python3 -m experiments.screen --exps=paper_widths --seeds=0 --jobs=1 \
  --steps="$(steps 6000)" --eval_every="$(steps 500)" --budget_s="$BUDGET_S" --data=$DATA \
  --out="$OUT/gan" >"$OUT/gan_log.txt" 2>&1 &
wait
rm -f "$OUT"/gan/params_seed*.npz
tail -n 4 "$OUT"/*_log.txt
