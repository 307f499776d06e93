#!/usr/bin/env bash
# The paper-size learning runs for a lent GPU (issue 15), one device call:
#
#   device run, carry [".whl"], timeout 590 s:
#     bash experiments/gpu_paper_size.sh $OUT 400
#
# Two screens side by side on the one GPU (each run a process of its own):
#   $OUT/a: 64 px faces: `paper_widths` (the demo's recipe, the paper's
#           networks and batch) and `supervised_l2_paper_widths` (its ceiling);
#   $OUT/b: 128 px faces: `paper128` (the paper's size with the demo's recipe).
# Runs still going after BUDGET_S seconds are stopped with their curves so far
# (`screen.jsonl`). The generators' parameters (tens of MB) stay behind: the
# device tool returns files of at most 16 MB. Precision is JAX's default for
# float32 on the GPU (TF32 convolutions), for speed; the CPU runs are float32.
#
# CPU dry run (minutes): SMOKE_STEPS=2 bash experiments/gpu_paper_size.sh /tmp/out 600
set -u
OUT=${1:?usage: gpu_paper_size.sh OUT_DIR BUDGET_S}
BUDGET_S=${2:?usage: gpu_paper_size.sh OUT_DIR BUDGET_S}
STEPS=${SMOKE_STEPS:-0}
EVAL_EVERY=250
if [ "$STEPS" != 0 ]; then EVAL_EVERY=$STEPS; fi
# The GPU machine lacks ml_collections: install the carried wheel, if any.
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
# Three processes share the GPU: none may take most of its memory up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p "$OUT/a" "$OUT/b"
python3 -c 'import jax; print("devices:", jax.devices())'
python3 -m experiments.screen --exps=paper_widths,supervised_l2_paper_widths --seeds=0 \
  --jobs=2 --eval_every=$EVAL_EVERY --steps=$STEPS --budget_s="$BUDGET_S" \
  --data=/tmp/dftnet_faces64.npz --out="$OUT/a" >"$OUT/a/log.txt" 2>&1 &
python3 -m experiments.screen --exps=paper128 --seeds=0 \
  --jobs=1 --eval_every=$EVAL_EVERY --steps=$STEPS --budget_s="$BUDGET_S" \
  --data=/tmp/dftnet_faces128.npz --out="$OUT/b" >"$OUT/b/log.txt" 2>&1 &
wait
rm -f "$OUT"/a/params_seed*.npz "$OUT"/b/params_seed*.npz
tail -n 5 "$OUT"/a/log.txt "$OUT"/b/log.txt
