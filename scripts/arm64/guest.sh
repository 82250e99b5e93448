#!/bin/sh
# Runs inside the emulated arm64 Debian at boot (cspine-proof.service, scripts/arm64/image.sh), as
# root, with the host's payload read-only at /mnt/payload and results written to /mnt/results:
#   1. installs the bundle with deploy/install.sh, which starts the service under systemd;
#   2. drops the reference images into the capture folder and waits for every result in the history;
#   3. classifies them again with the CLI, int8 and fp32;
#   4. with GREEN lit, stops the service with SIGSTOP and waits for systemd's watchdog to restart it;
#   5. with RED lit, stops it and reads the lamps' GPIO lines (the virt board's PL061) back from the hardware;
#   6. installs the same bundle again (an upgrade keeps settings and data), scores the sandbox with
#      systemd-analyze security, uninstalls, and powers off (the unit's ExecStopPost).
# The host (scripts/arm64/proof.ts) compares the results with its own x86 run.
set -u
P=/mnt/payload
R=/mnt/results
STATE=/var/lib/cspine-edge
CLI="/opt/cspine-edge/bin/node /opt/cspine-edge/current/dist/cli.js"
export CSPINE_CONFIG=/etc/cspine-edge/cspine-edge.yaml
t0=$(date +%s)
log() { echo "[guest +$(( $(date +%s) - t0 )) s] $*" | tee -a "$R/guest.log" >/dev/console; }
fact() { printf '%s=%s\n' "$1" "$2" >>"$R/facts.env"; }
: >"$R/facts.env"
elapsed_since() { echo $(( $(date +%s) - $1 )); }
main_pid() { systemctl show -p MainPID --value cspine-edge.service; }
lamp_base() {
  for chip in /sys/class/gpio/gpiochip*; do
    [ "$(cat "$chip/label")" = 9030000.pl061 ] && { cat "$chip/base"; return; }
  done
}
# The level each lamp line drives, read from the PL061 (exported again by hand when the service let go of it).
lamps() {
  base=$(lamp_base) out=''
  for lamp in green:0 amber:1 red:2; do
    n=$((base + ${lamp#*:}))
    [ -e "/sys/class/gpio/gpio$n" ] || echo "$n" >/sys/class/gpio/export 2>/dev/null
    out="$out ${lamp%%:*}=$(cat "/sys/class/gpio/gpio$n/value" 2>/dev/null || echo '?')"
    [ "$1" = keep ] || echo "$n" >/sys/class/gpio/unexport 2>/dev/null
  done
  echo "${out# }"
}

fact cpu "$(sed -n 's/.*cspine.cpu=\([^ ]*\).*/\1/p' /proc/cmdline)"
fact features "$(sed -n 's/^Features[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
fact kernel "$(uname -r)"
fact memory_kb "$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo)"
log "booted in $(cut -d' ' -f1 /proc/uptime) s: $(uname -m), $(grep -c ^processor /proc/cpuinfo) CPUs"

# 1. install: the settings are provisioned first (install.sh keeps them), as a site would.
install -d -m 0750 /etc/cspine-edge
cp "$P/cspine-edge.yaml" /etc/cspine-edge/cspine-edge.yaml
started=$(date +%s)
if sh "$P/install.sh" "$P/bundle.tar.gz" >"$R/install.txt" 2>&1; then
  fact install_s "$(elapsed_since "$started")"
  log "installed and started in $(elapsed_since "$started") s"
else
  fact install_s failed
  log "install failed: $(tail -n 5 "$R/install.txt")"
  journalctl -b --no-pager >"$R/journal.txt" 2>&1
  exit 1
fi
fact rss_after_start_kb "$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(main_pid)/status")"

# 2. the reference images through the capture folder, as the X-ray console would drop them
count=$(ls "$P/images" | wc -l)
started=$(date +%s)
for image in "$P"/images/*; do
  cp "$image" "$STATE/capture/.$(basename "$image").part"
  mv "$STATE/capture/.$(basename "$image").part" "$STATE/capture/$(basename "$image")"
done
while [ "$($CLI history --json --limit 1000 2>/dev/null | wc -l)" -lt "$count" ]; do
  [ "$(elapsed_since "$started")" -lt 1800 ] || { log "timed out waiting for $count results"; break; }
  sleep 5
done
$CLI history --json --limit 1000 >"$R/service-int8.jsonl" 2>>"$R/guest.log"
fact service_s "$(elapsed_since "$started")"
fact lamps_after_results "$(lamps keep)"
fact rss_after_results_kb "$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(main_pid)/status")"
log "service recorded $(wc -l <"$R/service-int8.jsonl") of $count results in $(elapsed_since "$started") s"

# 3. the CLI, int8 and the fp32 variant rebuilt from the int8 file on the device
$CLI classify --json "$P/images" >"$R/classify-int8.jsonl" 2>>"$R/guest.log"
mkdir -p /root/fp32 && cp -r /opt/cspine-edge/current/models/cspine-alexnet-demo /root/fp32/
$CLI model dequantize /root/fp32/cspine-alexnet-demo >>"$R/guest.log" 2>&1
CSPINE_MODEL__VARIANT=fp32 $CLI classify --json --model /root/fp32/cspine-alexnet-demo "$P/images" >"$R/classify-fp32.jsonl" 2>>"$R/guest.log"
log "classified with the CLI: int8 $(wc -l <"$R/classify-int8.jsonl"), fp32 $(wc -l <"$R/classify-fp32.jsonl")"

# drop FILE and wait until the service has recorded N results
drop_and_wait() {
  cp "$1" "$STATE/capture/.$(basename "$1").part"
  mv "$STATE/capture/.$(basename "$1").part" "$STATE/capture/$(basename "$1")"
  waited=0
  while [ "$($CLI history --json --limit 1000 2>/dev/null | wc -l)" -lt "$2" ] && [ $waited -lt 600 ]; do sleep 3; waited=$((waited + 3)); done
}

# 4. a hung service with GREEN lit: SIGSTOP, so nothing of ours runs; only systemd's watchdog can act
drop_and_wait "$P/extra/normal.png" $((count + 1))
fact lamps_before_hang "$(lamps keep)"
restarts_before=$(systemctl show -p NRestarts --value cspine-edge.service)
stopped_pid=$(main_pid)
kill -STOP "$stopped_pid"
started=$(date +%s)
while [ "$(main_pid)" = "$stopped_pid" ] || [ "$(systemctl is-active cspine-edge.service)" != active ]; do
  [ "$(elapsed_since "$started")" -lt 300 ] || break
  sleep 2
done
fact watchdog_restart_s "$(elapsed_since "$started")"
fact watchdog_restarts "$restarts_before->$(systemctl show -p NRestarts --value cspine-edge.service)"
fact watchdog_pids "$stopped_pid->$(main_pid)"
sleep 3  # past the lamp test at start
fact lamps_after_restart "$(lamps keep)"
journalctl -u cspine-edge.service --no-pager -o short-monotonic | grep -E 'Watchdog timeout|Killing process|Main process exited|Scheduled restart|Started|lamps' >"$R/watchdog.txt" 2>&1
log "watchdog: pid $stopped_pid -> $(main_pid) after $(elapsed_since "$started") s"

# 5. stopped with RED lit: every lamp off, read from the GPIO controller itself
drop_and_wait "$P/extra/fracture.png" $((count + 2))
fact lamps_before_stop "$(lamps keep)"
systemctl stop cspine-edge.service
after_stop=$(lamps release)
fact lamps_after_stop "$after_stop"
log "lamps after stop: $after_stop"
fact history_before_reinstall "$($CLI history --json --limit 1000 | wc -l)"

# 6. the same bundle again, as an upgrade would: settings and history stay
systemctl start cspine-edge.service
sh "$P/install.sh" "$P/bundle.tar.gz" >"$R/reinstall.txt" 2>&1 && fact reinstall ok || fact reinstall failed
fact history_after_reinstall "$($CLI history --json --limit 1000 | wc -l)"
fact config_kept "$(cmp -s "$P/cspine-edge.yaml" /etc/cspine-edge/cspine-edge.yaml && echo yes || echo no)"
systemd-analyze security cspine-edge.service --no-pager >"$R/security.txt" 2>&1
fact security "$(sed -n 's/.*Overall exposure level for cspine-edge.service: //p' "$R/security.txt")"
sh "$P/install.sh" --uninstall >"$R/uninstall.txt" 2>&1 && fact uninstall ok || fact uninstall failed
fact after_uninstall "$( [ -e /opt/cspine-edge ] && echo opt-left || echo opt-gone ), $( [ -f /etc/cspine-edge/cspine-edge.yaml ] && echo config-kept || echo config-gone ), $( [ -f $STATE/cspine.db ] && echo data-kept || echo data-gone )"
journalctl -b --no-pager >"$R/journal.txt" 2>&1
fact total_s "$(elapsed_since "$t0")"
log "done"
