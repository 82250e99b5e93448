#!/usr/bin/env bash
# Rebuilds the shipped INT8 reference package from the trained fp32 export, verifies it on the
# held-out phantoms, benchmarks it and checks the acceptance (docs/quantization.md):
#
#   bash scripts/quantize-reference.sh      # PKG, CALIBRATE, HELD_OUT override the defaults
#
# Needs PKG/model.onnx (the fp32 export, not in git) and the phantom sets (data/ is not in git:
# npx cspine-edge synth --out data/phantoms-s1 --count 3000 --seed 1, … --seed 2 for s2).
set -euo pipefail
cd "$(dirname "$0")/.."
PKG="${PKG:-models/cspine-alexnet-demo}"
CALIBRATE="${CALIBRATE:-data/phantoms-s1}"
HELD_OUT="${HELD_OUT:-data/phantoms-s2}"

npm run build --silent
node dist/cli.js model quantize "$PKG/model.onnx" --calibrate "$CALIBRATE" --count 300 --out "$PKG"
node dist/cli.js model dequantize "$PKG"
node dist/cli.js model evaluate "$PKG" --data "$HELD_OUT" --compare export --record
npm run bench:model --silent -- --model "$PKG"
npx tsx scripts/check-quantized.ts "$PKG"
