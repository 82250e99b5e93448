#!/usr/bin/env bash
# Smoke test of the training pipeline, under 2 minutes on 2 cores:
# synth 60 small phantoms → train AlexNet 1 epoch → export ONNX + manifest → load it in
# onnxruntime-node through the runtime's package loader and compare with PyTorch.
# Proves the plumbing, not the model (one epoch on 42 images learns nothing).
#
#   bash scripts/train/smoke.sh            # PYTHON=/usr/bin/python3 by default
#   KEEP=1 bash scripts/train/smoke.sh     # keep the temp folder
set -euo pipefail

cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-/usr/bin/python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/cspine-smoke.XXXXXX")"
if [[ "${KEEP:-0}" != 1 ]]; then trap 'rm -rf "$work"' EXIT; else echo "keeping $work"; fi
started=$(date +%s)

if [[ ! -f dist/cli.js || ! -f dist/imaging/preprocess.js ]]; then
  echo "== dist/ missing: npm run build"
  npm run build >/dev/null
fi

echo "== CAM maths: in-graph vs autograd Grad-CAM on initialised networks"
"$PYTHON" scripts/train/models.py

echo "== synth 60 phantoms (128x160, seed 3)"
node dist/cli.js synth --out "$work/data" --count 60 --seed 3 --size 128x160

echo "== group split and preprocessing vs the runtime"
"$PYTHON" scripts/train/dataset.py --data "$work/data" --seed 1 --check 4

echo "== train AlexNet (batch norm), 1 epoch"
"$PYTHON" scripts/train/train.py --data "$work/data" --arch alexnet_bn --out "$work/run" \
  --epochs 1 --batch 8 --seed 1 2>&1 | grep -v '^epoch .* \[' | grep -v '^best model: .* \['

echo "== export and check in onnxruntime-node"
"$PYTHON" scripts/train/export.py --run "$work/run" --out "$work/models/cspine-alexnet-smoke" \
  --image "$work/data/fracture/phantom-000001.png" --image "$work/data/dislocation/phantom-000002.png"

node -e "
const ort = require('onnxruntime-node');
ort.InferenceSession.create(process.argv[1]).then((s) => console.log('onnxruntime-node', ort.env.versions ? ort.env.versions.common : '', 'inputs', s.inputNames, 'outputs', s.outputNames));
" "$work/models/cspine-alexnet-smoke/model.onnx"

echo "== smoke test passed in $(( $(date +%s) - started )) s"
