#!/usr/bin/env bash
# One ablation run: benchmarks/ablation/run.sh ROW SEED [Hydra overrides...]
# The README's default command (CoNLL04, MiniLM, train on train, select on dev) with the row's
# overrides; runs go to outputs/ablation/ROW/, /usr/bin/time's report beside them.
set -euo pipefail
cd "$(dirname "$0")/../.."
row=$1 seed=$2
shift 2
mkdir -p "outputs/ablation/$row"
export WANDB_MODE=${WANDB_MODE:-offline} TOKENIZERS_PARALLELISM=false
/usr/bin/time -v -o "outputs/ablation/$row/time-seed$seed.txt" \
  .venv/bin/python train.py --dataset conll04 --seed "$seed" \
  "paths.output_dir=outputs/ablation/$row" "$@"
