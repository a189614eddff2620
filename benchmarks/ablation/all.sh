#!/usr/bin/env bash
# Every run of the ablation table (benchmarks/ablation/README.md), one after another. Each line
# is resumable: a finished run is skipped, an interrupted one continues from its saved state.
# THREADS=1 lets two copies of this script share a 2-core machine (split the rows between them).
set -euo pipefail
cd "$(dirname "$0")"
t="trainer.num_threads=${THREADS:-2}"
old=(model.span_objective=sigmoid model.link_pairs=gold model.loss_reduction=mean
     model.d_ff=768 model.head_input_dropout=true)
for seed in 1 2 3; do ./run.sh new "$seed" "$t"; done
for seed in 1 2 3; do ./run.sh old "$seed" "${old[@]}" "$t"; done
./run.sh undo1-gold-links 1 model.link_pairs=gold "$t"
./run.sh undo2-mean 1 model.loss_reduction=mean "$t"
./run.sh undo3-sigmoid 1 model.span_objective=sigmoid "$t"
./run.sh undo4-d_ff768 1 model.d_ff=768 "$t"
./run.sh undo5-input-dropout 1 model.head_input_dropout=true "$t"
./run.sh opt-type-links 1 model.link_type_embedding=true "$t"
for seed in 1 2 3; do ./run.sh opt-link-context "$seed" model.link_context=max "$t"; done
python3 collect.py --outputs ../../outputs/ablation
