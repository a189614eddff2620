#!/usr/bin/env bash
# One ablation run: benchmarks/ablation/run.sh ROW SEED [Hydra overrides...]
# The README's default command (CoNLL04, MiniLM, train on train, select on dev) with the row's
# overrides; runs go to outputs/ablation/ROW/, /usr/bin/time's report beside them. Run it
# again after an interruption: it skips a finished run and resumes an interrupted one.
set -euo pipefail
cd "$(dirname "$0")/../.."
row=$1 seed=$2
shift 2
mkdir -p "outputs/ablation/$row"
# A finished run is skipped; an interrupted one (a session ended) continues from its state.
# The newest folder of this seed that holds a run (a finished one, or an interrupted one's
# state); a folder with neither is not a run to continue.
existing=""
for folder in "outputs/ablation/$row/runs/conll04/minilm/seed$seed-"*; do
  if [ -f "$folder/metrics.json" ] || [ -f "$folder/training_state.pt" ]; then
    existing=$folder
  fi
done
if [ -n "$existing" ]; then
  if grep -q '"scores"' "$existing/metrics.json" 2>/dev/null; then
    echo "finished already: $existing"
    exit 0
  fi
  if [ -f "$existing/training_state.pt" ]; then
    set -- "$@" "resume=$existing"
  fi
fi
export WANDB_MODE=${WANDB_MODE:-offline} TOKENIZERS_PARALLELISM=false
# ~model_dataset: every row starts from the settings the table was measured on (the authors'
# 100 epochs, no signature constraint) and names its departures, whatever `make train`'s
# defaults for MiniLM on CoNLL04 (configs/model_dataset/minilm_conll04.yaml) become.
/usr/bin/time -v -a -o "outputs/ablation/$row/time-seed$seed.txt" \
  .venv/bin/python train.py --dataset conll04 --seed "$seed" '~model_dataset' \
  "paths.output_dir=outputs/ablation/$row" "$@"
