# Sourced by the training scripts (from the repository root): the tools they run, overridable
# from the environment, and the two helpers every step uses.
PYTHON="${PYTHON:-/usr/bin/python3}"
CLI="${CLI:-node dist/cli.js}"
NICE="${NICE:-0}"
started=$(date +%s)
# A line with the seconds since the script started.
say() { echo "[$(( $(date +%s) - started )) s] $*"; }
# A step at the script's niceness (NICE=15 keeps a shared machine usable).
run() { nice -n "$NICE" "$@"; }
# The package's OOD acceptance: ood_acceptance PACKAGE SET_DIR SEED COUNT [CATEGORIES]. A synth-ood
# set (made once) goes through the package's whole pipeline; a failed must-hold check (an unfamiliar
# image GREEN, docs/safety.md) refuses the package: exit 3, the report in PACKAGE/evaluation/ood/.
ood_acceptance() {
  local package="$1" set="$2" seed="$3" count="$4" categories="${5:-}"
  [[ -f "$set/ood.csv" ]] || run $CLI synth-ood --out "$set" --seed "$seed" --count "$count" ${categories:+--categories "$categories"} >/dev/null
  say "OOD acceptance: $set"
  if ! run $CLI model evaluate "$package" --ood "$set" --out "$package/evaluation/ood" --require-pass; then
    echo "REFUSED: $package failed its OOD acceptance ($package/evaluation/ood/ood.md): do not ship it" >&2
    exit 3
  fi
}
