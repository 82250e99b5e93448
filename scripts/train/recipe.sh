#!/usr/bin/env bash
# The demo model's recipe at scale, for a machine with a GPU (or many cores and hours):
#   1. synthesize training phantoms, one Node process per seed (TRAIN_SEEDS × PER_SEED), and the
#      held-out sets (HELDOUT_SEEDS × HELDOUT_COUNT) from seeds that training never sees;
#   2. letterbox each set once into a pack (dataset.py --pack), by the runtime's own code;
#   3. train every configuration in CONFIGS side by side (arch:batch:lr:epochs[:cam-weight]), each
#      fitted into BUDGET minutes, evaluated on the held-out packs;
#   4. print a table and choose an AlexNet on the *validation* split alone (held-out sets are
#      reported, never used to choose): among the runs within 0.5 points of the best validation
#      accuracy, the one with the best validation CAM localisation.
# Needs Node with dist/ built and sharp installed (nothing else of node_modules), and PyTorch.
#
#   bash scripts/train/recipe.sh                       # defaults below
#   WORK=data/recipe BUDGET=120 CONFIGS="alexnet_bn:64:0.02:60" bash scripts/train/recipe.sh
#
# Then export the chosen run: python3 scripts/train/export.py --run WORK/RUN --out models/NAME
set -euo pipefail
cd "$(dirname "$0")/../.."

source scripts/train/common.sh
WORK="${WORK:-data/recipe}"
TRAIN_SEEDS="${TRAIN_SEEDS:-$(seq -s ' ' 101 114)}"
PER_SEED="${PER_SEED:-1500}"
HELDOUT_SEEDS="${HELDOUT_SEEDS:-2 3}"
HELDOUT_COUNT="${HELDOUT_COUNT:-600}"
BUDGET="${BUDGET:-60}"
CONFIGS="${CONFIGS:-alexnet_bn:64:0.03:100:0.5 googlenet:64:0.05:60}"
SPLIT="${SPLIT:-80,10,10}"
PATIENCE="${PATIENCE:-12}"
WORKERS="${WORKERS:-$(nproc)}"

if [[ ! -f dist/commands/synth.js ]]; then echo "dist/ missing: npm run build" >&2; exit 1; fi
mkdir -p "$WORK/logs"

# synth DIR COUNT SEED — the synth command alone, so that only sharp need be installed
synth() {
  node --input-type=module -e "
    const { synthCommand } = await import(process.cwd() + '/dist/commands/synth.js');
    process.exitCode = await synthCommand({ out: process.argv[1], count: Number(process.argv[2]), seed: Number(process.argv[3]), size: '256x320', bits: 8 });
  " "$1" "$2" "$3" >"$WORK/logs/synth-$3.log" 2>&1
}

say "phantoms: training seeds $TRAIN_SEEDS × $PER_SEED, held-out seeds $HELDOUT_SEEDS × $HELDOUT_COUNT"
pids=()
for seed in $TRAIN_SEEDS; do synth "$WORK/train/s$seed" "$PER_SEED" "$seed" & pids+=($!); done
for seed in $HELDOUT_SEEDS; do synth "$WORK/heldout-s$seed" "$HELDOUT_COUNT" "$seed" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid" || { echo "synth failed: see $WORK/logs/synth-*.log" >&2; exit 1; }; done

# one labels.csv over the per-seed folders (groups are per phantom, so no group spans two seeds)
first=1
for seed in $TRAIN_SEEDS; do
  if [[ $first == 1 ]]; then head -n 1 "$WORK/train/s$seed/labels.csv"; first=0; fi
  tail -n +2 "$WORK/train/s$seed/labels.csv" | sed "s|^|s$seed/|"
done >"$WORK/train/labels.csv"

say "packs"
"$PYTHON" scripts/train/dataset.py --data "$WORK/train" --pack "$WORK/train.npz" --workers "$WORKERS" --no-compress 2>/dev/null
heldout=()
for seed in $HELDOUT_SEEDS; do
  "$PYTHON" scripts/train/dataset.py --data "$WORK/heldout-s$seed" --pack "$WORK/heldout-s$seed.npz" --workers "$WORKERS" 2>/dev/null
  heldout+=(--test-data "$WORK/heldout-s$seed.npz")
done

say "training: $CONFIGS (budget $BUDGET min each, side by side)"
pids=(); runs=()
for config in $CONFIGS; do
  IFS=: read -r arch batch lr epochs cam <<<"$config"
  run="$arch-b$batch-lr$lr${cam:+-cam$cam}"
  runs+=("$run")
  "$PYTHON" scripts/train/train.py --data "$WORK/train.npz" --arch "$arch" --out "$WORK/$run" --batch "$batch" --lr "$lr" \
    --epochs "$epochs" --split "$SPLIT" --patience "$PATIENCE" --time-budget "$BUDGET" --eval-batch 256 --cam-weight "${cam:-0}" "${heldout[@]}" \
    >"$WORK/logs/$run.log" 2>"$WORK/logs/$run.err" &
  pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || echo "run ${runs[$i]} failed: see $WORK/logs/${runs[$i]}.err" >&2; done

say "results"
"$PYTHON" - "$WORK" "${runs[@]}" <<'EOF'
import json, sys
from pathlib import Path
work, runs = Path(sys.argv[1]), sys.argv[2:]
best, rows, candidates, names = None, [], [], None
for run in runs:
    path = work / run / "metrics.json"
    if not path.is_file():
        print(f"{run}: no metrics (failed)")
        continue
    m = json.loads(path.read_text())
    ev = m.get("evaluation", {})
    names = names or ["val", "test"] + sorted(k for k in ev if k.startswith("external:"))
    cells = [run, str(m.get("bestEpoch")), f"{len(m.get('epochs', []))}", f"{m.get('trainingSeconds', 0):.0f}"]
    for name in names:
        e = ev.get(name, {})
        r = e.get("recall", {})
        cam = (e.get("camLocalisation") or {}).get("share")
        cells.append(f"{e.get('accuracy', float('nan')):.4f} (F {r.get('fracture') or 0:.3f} D {r.get('dislocation') or 0:.3f}"
                     + (f" CAM {cam:.3f})" if cam is not None else ")") if e else "-")
    rows.append(cells)
    if m.get("arch", "").startswith("alexnet") and ev.get("val"):
        candidates.append((run, ev["val"]["accuracy"], (ev["val"].get("camLocalisation") or {}).get("share") or 0.0))
if candidates:
    top = max(acc for _, acc, _ in candidates)
    best = max((c for c in candidates if c[1] >= top - 0.005), key=lambda c: (c[2], c[1]))
names = names or []
print("| run | best epoch | epochs | seconds | " + " | ".join(names) + " |")
print("|" + " --- |" * (4 + len(names)))
for cells in rows:
    print("| " + " | ".join(cells) + " |")
(work / "chosen.txt").write_text((best[0] if best else "") + "\n")
print(f"chosen AlexNet (validation accuracy, then validation CAM localisation): {best[0] if best else 'none'}")
EOF
say "done"
