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
