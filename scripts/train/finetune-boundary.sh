#!/usr/bin/env bash
# Fine-tunes the shipped package at the clinical line and builds a candidate package beside it,
# never in its place (docs/training.md, "Fine-tuning at the clinical line"). Fits a CPU:
#   1. phantoms: clinical-variation training seeds plus standard ones replayed from the shipped
#      model's own training seeds (so that it keeps what it knew), one labels.csv over them; the
#      quantizer's calibration set; the held-out sets (a clinical and a standard seed that no
#      step here trains on or chooses with);
#   2. packs, letterboxed once by the runtime's code;
#   3. the shipped INT8 package rebuilt in float (`model dequantize`), which train.py --init reads
#      (plain AlexNet: the export folded its batch norm into the convolutions);
#   4. training at a low learning rate, CAM supervision kept, best epoch by validation loss;
#   5. export, INT8 quantization, the float rebuild, OOD statistics from the training images;
#   6. held-out evaluation (INT8 against the export, severity curves) and the OOD sets.
# A step whose output exists is skipped, so an interrupted run continues where it stopped.
#
#   bash scripts/train/finetune-boundary.sh
#   CLI="npx tsx src/cli.ts" THREADS=1 NICE=15 WORK=data/finetune bash scripts/train/finetune-boundary.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-/usr/bin/python3}"
CLI="${CLI:-node dist/cli.js}"
NICE="${NICE:-0}"
BASE="${BASE:-models/cspine-alexnet-demo}"
WORK="${WORK:-data/finetune}"
ID="${ID:-cspine-alexnet-boundary}"
OUT="${OUT:-$WORK/$ID}"
CLINICAL_SEEDS="${CLINICAL_SEEDS:-301 302}"
STANDARD_SEEDS="${STANDARD_SEEDS:-101}"
PER_SEED="${PER_SEED:-1500}"
CALIBRATION_SEED="${CALIBRATION_SEED:-303}"
HELDOUT_CLINICAL="${HELDOUT_CLINICAL:-201}"
HELDOUT_STANDARD="${HELDOUT_STANDARD:-2}"
HELDOUT_COUNT="${HELDOUT_COUNT:-900}"
OOD_SEED="${OOD_SEED:-12}"
OOD_COUNT="${OOD_COUNT:-20}"
EPOCHS="${EPOCHS:-3}"
LR="${LR:-0.002}"
BATCH="${BATCH:-32}"
CAM_WEIGHT="${CAM_WEIGHT:-0.2}"
THREADS="${THREADS:-2}"
started=$(date +%s)
say() { echo "[$(( $(date +%s) - started )) s] $*"; }
run() { nice -n "$NICE" "$@"; }
mkdir -p "$WORK"
case " $CLINICAL_SEEDS $STANDARD_SEEDS $CALIBRATION_SEED " in
  *" $HELDOUT_CLINICAL "* | *" $HELDOUT_STANDARD "*) echo "a held-out seed is also a training or calibration seed" >&2; exit 1 ;;
esac

# synth DIR COUNT SEED VARIATION
synth() { [[ -f "$1/labels.csv" ]] || run $CLI synth --out "$1" --count "$2" --seed "$3" --variation "$4" >/dev/null; }

say "phantoms"
parts=()
for seed in $CLINICAL_SEEDS; do synth "$WORK/train/clin-s$seed" "$PER_SEED" "$seed" clinical; parts+=("clin-s$seed"); done
for seed in $STANDARD_SEEDS; do synth "$WORK/train/std-s$seed" "$PER_SEED" "$seed" standard; parts+=("std-s$seed"); done
synth "$WORK/cal-s$CALIBRATION_SEED" 300 "$CALIBRATION_SEED" clinical
synth "$WORK/heldout-clinical-s$HELDOUT_CLINICAL" "$HELDOUT_COUNT" "$HELDOUT_CLINICAL" clinical
synth "$WORK/heldout-standard-s$HELDOUT_STANDARD" 600 "$HELDOUT_STANDARD" standard
# one labels.csv over the parts (groups are per phantom, so none spans two parts)
{
  head -n 1 "$WORK/train/${parts[0]}/labels.csv"
  for part in "${parts[@]}"; do tail -n +2 "$WORK/train/$part/labels.csv" | sed "s|^|$part/|"; done
} >"$WORK/train/labels.csv"

say "packs"
for set in train "heldout-clinical-s$HELDOUT_CLINICAL" "heldout-standard-s$HELDOUT_STANDARD"; do
  [[ -f "$WORK/$set.npz" ]] || run "$PYTHON" scripts/train/dataset.py --data "$WORK/$set" --pack "$WORK/$set.npz" --workers "$THREADS" 2>/dev/null
done

say "the shipped package in float: $BASE"
if [[ ! -f "$WORK/base/model.fp32.onnx" ]]; then
  mkdir -p "$WORK/base"
  cp "$BASE/manifest.json" "$BASE/model.int8.onnx" "$WORK/base/"
  [[ -f "$BASE/ood.bin" ]] && cp "$BASE/ood.bin" "$WORK/base/"
  run $CLI model dequantize "$WORK/base"
fi

say "fine-tuning: $EPOCHS epochs, lr $LR, batch $BATCH, $THREADS threads"
if ! grep -qs '"finished": true' "$WORK/run/metrics.json"; then
  resume=()
  [[ -f "$WORK/run/checkpoint.pt" ]] && resume=(--resume)
  run "$PYTHON" scripts/train/train.py --data "$WORK/train.npz" --arch alexnet --init "$WORK/base/model.fp32.onnx" --out "$WORK/run" \
    --batch "$BATCH" --lr "$LR" --epochs "$EPOCHS" --warmup-epochs 0.3 --split 90,10,0 --patience 3 --cam-weight "$CAM_WEIGHT" \
    --threads "$THREADS" --eval-batch 32 --test-data "$WORK/heldout-clinical-s$HELDOUT_CLINICAL.npz" \
    --test-data "$WORK/heldout-standard-s$HELDOUT_STANDARD.npz" "${resume[@]}"
fi

say "candidate package: $OUT"
if [[ ! -f "$OUT/model.int8.onnx" ]]; then
  run "$PYTHON" scripts/train/export.py --run "$WORK/run" --out "$OUT" --id "$ID" --threads "$THREADS" \
    --image "$WORK/heldout-clinical-s$HELDOUT_CLINICAL/dislocation/phantom-000002.png"
  run $CLI model quantize "$OUT/model.onnx" --calibrate "$WORK/cal-s$CALIBRATION_SEED" --count 300 --out "$OUT"
  run $CLI model dequantize "$OUT"
  run $CLI model ood-calibrate "$OUT" --data "$WORK/train" --count 3000
fi

say "held-out evaluation"
run $CLI model evaluate "$OUT" --data "$WORK/heldout-clinical-s$HELDOUT_CLINICAL" --compare export --record \
  --out "$OUT/evaluation/clinical-s$HELDOUT_CLINICAL"
run $CLI model evaluate "$OUT" --data "$WORK/heldout-standard-s$HELDOUT_STANDARD" --out "$OUT/evaluation/standard-s$HELDOUT_STANDARD"
[[ -f "$WORK/ood-s$OOD_SEED/ood.csv" ]] || run $CLI synth-ood --out "$WORK/ood-s$OOD_SEED" --seed "$OOD_SEED" --count "$OOD_COUNT" >/dev/null
run $CLI model evaluate "$OUT" --ood "$WORK/ood-s$OOD_SEED" --out "$OUT/evaluation/ood"
say "done: $OUT (not in models/: compare its evaluation with $BASE's before shipping it)"
