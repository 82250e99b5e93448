#!/usr/bin/env bash
# The GoogLeNet INT8 package, rebuilt end to end (docs/googlenet.md). The .onnx and ood.bin files
# are not in git, so this script is how the package is made:
#   1. training (train.py --arch googlenet, the recipe's batch 64, lr 0.05), unless RUN names a
#      finished run folder (best.pt, metrics.json);
#   2. export: ONNX with logits + in-graph CAM, manifest, checks against PyTorch and the runtime;
#   3. INT8 quantization by the runtime's own quantizer, calibrated on CALIBRATE, and the fp32
#      rebuild of the int8 weights (`model dequantize`);
#   4. OOD statistics on OOD_DATA (`model ood-calibrate`);
#   5. held-out evaluation of int8 against the export, recorded in the manifest (`model evaluate
#      --compare export --record`);
#   6. self-test reference images (seed-19 phantoms 0–2, as the AlexNet package has), checked as
#      the service checks them at load, and `doctor`.
# A step whose output exists is skipped, so an interrupted run continues where it stopped.
#
#   RUN=data/recipe/googlenet-b64-lr0.05 OOD_DATA=data/recipe/train/s101,data/recipe/train/s102 \
#     bash scripts/train/googlenet-package.sh models/cspine-googlenet-demo
#   DATA=data/recipe/train.npz TEST_DATA="data/recipe/heldout-s2.npz data/recipe/heldout-s3.npz" \
#     OOD_DATA=data/recipe/train/s101,data/recipe/train/s102 \
#     bash scripts/train/googlenet-package.sh models/cspine-googlenet-demo      # trains first: a GPU
# CALIBRATE (default data/phantoms-s1) and HELDOUT (data/phantoms-s2) are the AlexNet package's
# sets: cspine-edge synth --out data/phantoms-s1 --count 3000 --seed 1 (and --seed 2).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -ne 1 ]]; then
  echo "usage: (RUN=RUN_DIR | DATA=DIR) [HELDOUT=DIR] [CALIBRATE=DIR] [OOD_DATA=DIR[,DIR...]] bash scripts/train/googlenet-package.sh OUT_DIR" >&2
  exit 2
fi
OUT="${1%/}"
source scripts/train/common.sh
ID="${ID:-$(basename "$OUT")}"
WORK="${WORK:-$OUT.work}"
RUN="${RUN:-}"
DATA="${DATA:-}"
# the AlexNet reference package's sets (scripts/quantize-reference.sh): synth --seed 1 / --seed 2
HELDOUT="${HELDOUT:-data/phantoms-s2}"
# training: the recipe's GoogLeNet configuration (recipe.sh CONFIGS googlenet:64:0.05:60)
EPOCHS="${EPOCHS:-60}"
BATCH="${BATCH:-64}"
LR="${LR:-0.05}"
SPLIT="${SPLIT:-80,10,10}"
PATIENCE="${PATIENCE:-12}"
BUDGET="${BUDGET:-0}"
THREADS="${THREADS:-2}"
EVAL_BATCH="${EVAL_BATCH:-32}"
TEST_DATA="${TEST_DATA:-}"
# quantization and OOD statistics read image folders (not packs); OOD_DATA may list several, comma-separated
CALIBRATE="${CALIBRATE:-data/phantoms-s1}"
CAL_COUNT="${CAL_COUNT:-300}"
MIN_AGREEMENT="${MIN_AGREEMENT:-0.99}"
OOD_DATA="${OOD_DATA:-$CALIBRATE}"
OOD_IMAGES="${OOD_IMAGES:-3000}"
COMPONENTS="${COMPONENTS:-128}"
REFERENCE_SEED="${REFERENCE_SEED:-19}"

[[ -f dist/cli.js ]] || { echo "dist/ missing: npm run build" >&2; exit 2; }
[[ -n "$RUN" || -n "$DATA" ]] || { echo "give RUN=DIR (a finished train.py run) or DATA=DIR (images to train on)" >&2; exit 2; }
[[ -d "$HELDOUT" ]] || { echo "no folder '$HELDOUT' (HELDOUT: labelled images no step trains or calibrates on, for the evaluation)" >&2; exit 2; }
for dir in "$CALIBRATE" ${OOD_DATA//,/ }; do
  [[ -d "$dir" ]] || { echo "no folder '$dir' (CALIBRATE and OOD_DATA must be image folders; OOD_DATA may list several, comma-separated)" >&2; exit 2; }
done
mkdir -p "$WORK"

if [[ -z "$RUN" ]]; then
  RUN="$WORK/run"
  if ! grep -qs '"finished": true' "$RUN/metrics.json"; then
    say "training GoogLeNet on $DATA: $EPOCHS epochs, batch $BATCH, lr $LR, $THREADS threads"
    extra=()
    [[ -f "$RUN/checkpoint.pt" ]] && extra+=(--resume)
    for test_data in $TEST_DATA; do extra+=(--test-data "$test_data"); done
    run "$PYTHON" scripts/train/train.py --data "$DATA" --arch googlenet --out "$RUN" --batch "$BATCH" --lr "$LR" \
      --epochs "$EPOCHS" --split "$SPLIT" --patience "$PATIENCE" --time-budget "$BUDGET" --threads "$THREADS" --workers "$THREADS" --eval-batch "$EVAL_BATCH" \
      "${extra[@]}" 2>&1 | grep --line-buffered -v ' \[[#-]*\] '
  fi
fi
grep -qs '"arch": "googlenet"' "$RUN/metrics.json" || { echo "$RUN/metrics.json is not a GoogLeNet run" >&2; exit 2; }

if [[ ! -f "$OUT/model.int8.onnx" ]]; then
  say "export: $OUT/model.onnx"
  check_image="${CHECK_IMAGE:-$(find "$HELDOUT" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.dcm' \) | sort | head -n 1)}"
  run "$PYTHON" scripts/train/export.py --run "$RUN" --out "$OUT" --id "$ID" --threads "$THREADS" --image "$check_image"
  say "quantize: calibration on $CALIBRATE ($CAL_COUNT images)"
  run $CLI model quantize "$OUT/model.onnx" --calibrate "$CALIBRATE" --count "$CAL_COUNT" --min-agreement "$MIN_AGREEMENT" --out "$OUT"
fi
if [[ ! -f "$OUT/model.fp32.onnx" ]]; then
  run $CLI model dequantize "$OUT"
fi
if ! grep -qs '"statsFile"' "$OUT/manifest.json"; then
  say "OOD statistics on $OOD_DATA"
  run $CLI model ood-calibrate "$OUT" --data "$OOD_DATA" --count "$OOD_IMAGES" --components "$COMPONENTS"
fi
if ! grep -qs '"heldOut"' "$OUT/manifest.json"; then
  say "evaluation on $HELDOUT: int8 against the export"
  run $CLI model evaluate "$OUT" --data "$HELDOUT" --compare export --record
fi
if ! grep -qs '"selfTest"' "$OUT/manifest.json"; then
  say "self-test references: seed-$REFERENCE_SEED phantoms 0 (normal), 1 (fracture), 2 (dislocation)"
  run $CLI synth --out "$WORK/references" --count 3 --seed "$REFERENCE_SEED" >/dev/null
  cp "$WORK/references/normal/phantom-000000.png" "$WORK/normal.png"
  cp "$WORK/references/fracture/phantom-000001.png" "$WORK/fracture.png"
  cp "$WORK/references/dislocation/phantom-000002.png" "$WORK/dislocation.png"
  run $CLI model references "$OUT" "$WORK/normal.png" "$WORK/fracture.png" "$WORK/dislocation.png"
fi
say "self-test: the references through the whole pipeline, as the service checks them when it loads the package"
# a module file, not node -e: the model's session thread would inherit --input-type and fail
cat >"$WORK/self-test.mjs" <<EOF
const root = '$PWD/dist/';
const { loadConfig } = await import(root + 'config/load.js');
const { openClassifier } = await import(root + 'pipeline/open-classifier.js');
const { checkReferences } = await import(root + 'jobs/self-test.js');
const classifier = await openClassifier(loadConfig(), process.argv[2]);
try {
  for (const r of await checkReferences(classifier)) console.log('pass', r.file, r.level, r.label, 'largest probability difference', r.maxDelta.toFixed(6));
} finally {
  await classifier.engine.close();
}
EOF
run node "$WORK/self-test.mjs" "$(realpath "$OUT")"
say "doctor: the package as the service loads it"
CSPINE_MODEL__DIR="$(dirname "$OUT")" CSPINE_MODEL__ID="$ID" run $CLI doctor || say "doctor reported problems above (the service's other checks may fail on a build machine; the model lines are what this script checks)"
say "done: $OUT; compare it with the shipped package on this board: $CLI model bench models/cspine-alexnet-demo $OUT --data $HELDOUT"
