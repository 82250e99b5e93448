#!/usr/bin/env bash
# Fine-tunes the shipped package at the clinical line and builds a candidate package beside it,
# never in its place (docs/training.md, "Fine-tuning at the clinical line"). Fits a CPU:
#   1. phantoms: clinical-variation training seeds plus standard ones replayed from the shipped
#      model's own training seeds (so that it keeps what it knew), one labels.csv over them; the
#      quantizer's calibration set; the held-out sets (a clinical and a standard seed that no
#      step here trains on or chooses with);
#   2-5. scripts/train/finetune-site.sh on them: packs letterboxed by the runtime's code, the
#      shipped INT8 package rebuilt in float for train.py --init (plain AlexNet: the export folded
#      its batch norm into the convolutions), training at a low learning rate with CAM supervision,
#      best epoch by validation loss, export, INT8, the float rebuild, OOD statistics;
#   6. held-out evaluation (INT8 against the export, severity curves), then the OOD acceptance
#      (every synth-ood category; a failed must-hold check refuses the candidate: exit 3).
# A step whose output exists is skipped, so an interrupted run continues where it stopped.
#
#   bash scripts/train/finetune-boundary.sh
#   CLI="npx tsx src/cli.ts" THREADS=1 NICE=15 WORK=data/finetune bash scripts/train/finetune-boundary.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/train/common.sh
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
OOD_COUNT="${OOD_COUNT:-100}"
EPOCHS="${EPOCHS:-3}"
LR="${LR:-0.002}"
BATCH="${BATCH:-32}"
CAM_WEIGHT="${CAM_WEIGHT:-0.2}"
THREADS="${THREADS:-2}"
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

say "held-out packs"
for set in "heldout-clinical-s$HELDOUT_CLINICAL" "heldout-standard-s$HELDOUT_STANDARD"; do
  [[ -f "$WORK/$set.npz" ]] || run "$PYTHON" scripts/train/dataset.py --data "$WORK/$set" --pack "$WORK/$set.npz" --workers "$THREADS" 2>/dev/null
done

# Steps 2-5 are the site fine-tune's, on the phantoms: the train pack, the base in float,
# training (CAM supervision kept: phantoms have boxes), export, INT8, fp32 rebuild, OOD statistics.
WORK="$WORK" ID="$ID" BASE="$BASE" PYTHON="$PYTHON" CLI="$CLI" NICE="$NICE" AUDIT=0 ACCEPT=0 \
  EPOCHS="$EPOCHS" LR="$LR" BATCH="$BATCH" SPLIT=90,10,0 CAM_WEIGHT="$CAM_WEIGHT" THREADS="$THREADS" \
  CALIBRATE="$WORK/cal-s$CALIBRATION_SEED" OOD_DATA="$WORK/train" \
  TEST_DATA="$WORK/heldout-clinical-s$HELDOUT_CLINICAL.npz $WORK/heldout-standard-s$HELDOUT_STANDARD.npz" \
  CHECK_IMAGE="$WORK/heldout-clinical-s$HELDOUT_CLINICAL/dislocation/phantom-000002.png" \
  bash scripts/train/finetune-site.sh "$WORK/train" "$OUT"

say "held-out evaluation"
run $CLI model evaluate "$OUT" --data "$WORK/heldout-clinical-s$HELDOUT_CLINICAL" --compare export --record \
  --out "$OUT/evaluation/clinical-s$HELDOUT_CLINICAL"
run $CLI model evaluate "$OUT" --data "$WORK/heldout-standard-s$HELDOUT_STANDARD" --out "$OUT/evaluation/standard-s$HELDOUT_STANDARD"
# Every OOD category, the in-distribution ones included: phantoms are this model's world.
ood_acceptance "$OUT" "$WORK/ood-s$OOD_SEED" "$OOD_SEED" "$OOD_COUNT"
say "done: $OUT (not in models/: compare its evaluation with $BASE's before shipping it)"
