#!/usr/bin/env bash
# A site's own labelled films → a package fine-tuned from the shipped one (docs/own-data.md,
# "Fine-tuning on your films"). Every step is the project's own tool:
#   1. the audit (dataset.py --audit): near-duplicate clusters, labelling conflicts, and the leak a
#      per-image split would have had; near-duplicates are grouped before every split below;
#   2. a pack, letterboxed once by the runtime's code (DICOM included);
#   3. the base package rebuilt in float (`model dequantize`), which train.py --init reads;
#   4. fine-tuning at a low learning rate, best epoch by validation loss; CAM supervision only
#      when labels.csv has lesion boxes (real films usually have none);
#   5. export, INT8 quantization calibrated on the site's films, the float rebuild, and the OOD
#      statistics recomputed on the films it was trained on;
#   6. with HELDOUT=DIR (films no step here trains on or chooses with): `model validate`, the
#      report and a recommended greenMinNormal. Not written into the package: accepting it is the
#      operator's call (`model validate … --write --key`);
#   7. the OOD acceptance: images far from a c-spine film (blank, noise, photos, drawings,
#      documents, other anatomy) and spines turned or inverted go through the new package; one
#      GREEN (or a far one under 95% AMBER) refuses it: exit 3. Not the in-distribution
#      categories: they are phantoms, which a site's detector may rightly call unfamiliar.
# A step whose output exists is skipped, so an interrupted run continues where it stopped.
#
#   bash scripts/train/finetune-site.sh SITE_DIR OUT_DIR
#   HELDOUT=site-heldout EPOCHS=5 THREADS=4 bash scripts/train/finetune-site.sh site-films models/site-alexnet
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -ne 2 ]]; then
  echo "usage: [HELDOUT=DIR] [BASE=models/cspine-alexnet-demo] bash scripts/train/finetune-site.sh SITE_DIR OUT_DIR" >&2
  exit 2
fi
SITE="${1%/}"
OUT="${2%/}"
source scripts/train/common.sh
BASE="${BASE:-models/cspine-alexnet-demo}"
WORK="${WORK:-$OUT.work}"
ID="${ID:-$(basename "$OUT")}"
HELDOUT="${HELDOUT:-}"
EPOCHS="${EPOCHS:-3}"
LR="${LR:-0.002}"
BATCH="${BATCH:-32}"
SPLIT="${SPLIT:-85,15,0}"
THREADS="${THREADS:-2}"
# Where the quantizer calibrates and the OOD statistics come from: the site's films unless told.
CALIBRATE="${CALIBRATE:-$SITE}"
OOD_DATA="${OOD_DATA:-$SITE}"
CAL_COUNT="${CAL_COUNT:-300}"
MIN_AGREEMENT="${MIN_AGREEMENT:-0.99}"
OOD_IMAGES="${OOD_IMAGES:-3000}"
COMPONENTS="${COMPONENTS:-128}"
# Extra held-out folders or packs train.py evaluates its best epoch on (space-separated).
TEST_DATA="${TEST_DATA:-}"
AUDIT="${AUDIT:-1}"
# The OOD acceptance's set: synth-ood images per category, and which categories (ACCEPT=0: none).
ACCEPT="${ACCEPT:-1}"
OOD_SEED="${OOD_SEED:-12}"
OOD_COUNT="${OOD_COUNT:-50}"
OOD_CATEGORIES="${OOD_CATEGORIES:-blank,saturated,noise,photos,drawings,documents,anatomy,inverted,rotated90,rotated180,rotated270}"

[[ -d "$SITE" ]] || { echo "no folder $SITE" >&2; exit 2; }
[[ -f "$BASE/manifest.json" ]] || { echo "no model package at $BASE (BASE=…)" >&2; exit 2; }
if [[ -n "$HELDOUT" && "$(realpath "$HELDOUT")" == "$(realpath "$SITE")" ]]; then
  echo "HELDOUT is the training folder: a validation on the films it was trained on proves nothing" >&2
  exit 2
fi
[[ -f dist/cli.js ]] || { echo "dist/ missing: npm run build" >&2; exit 2; }
mkdir -p "$WORK"

# CAM supervision needs lesion boxes (labels.csv box_x…): off without them.
if [[ -z "${CAM_WEIGHT:-}" ]]; then
  CAM_WEIGHT=0
  if [[ -f "$SITE/labels.csv" ]] && awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "box_x") c = i; next } c && $c != "" { found = 1; exit } END { exit !found }' "$SITE/labels.csv"; then
    CAM_WEIGHT=0.2
  fi
fi

if [[ "$AUDIT" == 1 && ! -f "$WORK/audit/audit.json" ]]; then
  say "audit: $WORK/audit"
  run "$PYTHON" scripts/train/dataset.py --data "$SITE" --audit "$WORK/audit" --split "$SPLIT"
fi

pack="$WORK/$(basename "$SITE").npz"
if [[ ! -f "$pack" ]]; then
  say "pack: $pack"
  run "$PYTHON" scripts/train/dataset.py --data "$SITE" --pack "$pack" --workers "$THREADS"
fi

if [[ ! -f "$WORK/base/model.fp32.onnx" ]]; then
  say "the base package in float: $BASE"
  mkdir -p "$WORK/base"
  cp "$BASE/manifest.json" "$BASE/$(node -p "require(require('path').resolve(process.argv[1])).file" "$BASE/manifest.json")" "$WORK/base/"
  [[ -f "$BASE/ood.bin" ]] && cp "$BASE/ood.bin" "$WORK/base/"
  run $CLI model dequantize "$WORK/base"
fi

if ! grep -qs '"finished": true' "$WORK/run/metrics.json"; then
  say "fine-tuning: $EPOCHS epochs, lr $LR, batch $BATCH, cam weight $CAM_WEIGHT, $THREADS threads"
  extra=()
  [[ -f "$WORK/run/checkpoint.pt" ]] && extra+=(--resume)
  for test_data in $TEST_DATA; do extra+=(--test-data "$test_data"); done
  run "$PYTHON" scripts/train/train.py --data "$pack" --arch alexnet --init "$WORK/base/model.fp32.onnx" --out "$WORK/run" \
    --batch "$BATCH" --lr "$LR" --epochs "$EPOCHS" --warmup-epochs 0.3 --split "$SPLIT" --patience 3 --cam-weight "$CAM_WEIGHT" \
    --threads "$THREADS" --eval-batch 32 "${extra[@]}"
fi

if [[ ! -f "$OUT/model.int8.onnx" ]]; then
  say "package: $OUT"
  # One of the site's own films, to compare ONNX Runtime with PyTorch on.
  check_image="${CHECK_IMAGE:-$(find "$SITE" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.tif' -o -iname '*.dcm' \) | sort | head -n 1)}"
  run "$PYTHON" scripts/train/export.py --run "$WORK/run" --out "$OUT" --id "$ID" --threads "$THREADS" --image "$check_image"
  run $CLI model quantize "$OUT/model.onnx" --calibrate "$CALIBRATE" --count "$CAL_COUNT" --min-agreement "$MIN_AGREEMENT" --out "$OUT"
  run $CLI model dequantize "$OUT"
  run $CLI model ood-calibrate "$OUT" --data "$OOD_DATA" --count "$OOD_IMAGES" --components "$COMPONENTS"
fi

if [[ -n "$HELDOUT" ]]; then
  say "validation on $HELDOUT"
  run $CLI model validate "$OUT" --data "$HELDOUT"
fi
[[ "$ACCEPT" == 1 ]] && ood_acceptance "$OUT" "$WORK/ood-s$OOD_SEED" "$OOD_SEED" "$OOD_COUNT" "$OOD_CATEGORIES"
say "done: $OUT (in its own folder: compare its validation with $BASE's before it replaces anything)"
