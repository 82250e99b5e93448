#!/bin/sh
# Installs, upgrades or removes cspine-edge from one offline bundle (npm run bundle; docs/install.md).
#
#   sudo sh install.sh cspine-edge-0.1.0-linux-arm64.tar.gz    # install, or upgrade in place
#   sudo sh install.sh --uninstall [--purge]                   # remove; --purge also settings and data
#
# Options: --no-start (install and enable, do not start), --root DIR (install into a mounted
# image's root file system: nothing is started, users are made there). Re-running with the same
# bundle changes nothing but restarts the service; an upgrade keeps /etc/cspine-edge and
# /var/lib/cspine-edge, switches /opt/cspine-edge/current to the new release in one rename and
# keeps the previous release next to it (roll back: sh install.sh OLD_BUNDLE).
# Nothing is downloaded: the bundle carries the runtime, its dependencies, the model and,
# when built with --node, Node.js; without it the system's node (>= 20, same ABI) is used.
set -eu

PREFIX=/opt/cspine-edge
ETC=/etc/cspine-edge
STATE=/var/lib/cspine-edge
UNIT=/etc/systemd/system/cspine-edge.service
UDEV_RULE=/etc/udev/rules.d/99-cspine-gpio.rules
SERVICE_USER=cspine

say() { printf '%s\n' "install.sh: $*" >&2; }
fail() { say "error: $*"; exit 1; }
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

mode=install bundle='' root='' start=1 purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) mode=uninstall ;;
    --purge) purge=1 ;;
    --no-start) start=0 ;;
    --root) [ $# -ge 2 ] || usage; root="${2%/}"; start=0; shift ;;
    -h|--help) usage ;;
    -*) say "unknown option $1"; usage ;;
    *) [ -z "$bundle" ] || usage; bundle="$1" ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || fail "run as root (sudo sh $0 ...)"
[ "$mode" = uninstall ] || [ -n "$bundle" ] || usage

# systemctl against the running manager, or against the image with --root
systemctl_() { if [ -n "$root" ]; then systemctl --root="$root" "$@"; else systemctl "$@"; fi; }
has_running_systemd() { [ -z "$root" ] && [ -d /run/systemd/system ]; }

lock="$root/run/cspine-edge-install.lock"
[ -d "$root/run" ] || lock="${TMPDIR:-/tmp}/cspine-edge-install.lock"
exec 9>"$lock"
command -v flock >/dev/null 2>&1 && { flock -n 9 || fail "another install.sh is running"; }

uninstall() {
  if has_running_systemd; then systemctl disable --now cspine-edge.service 2>/dev/null || true
  elif [ -f "$root$UNIT" ]; then systemctl_ disable cspine-edge.service 2>/dev/null || true; fi
  rm -f "$root$UNIT" "$root$UDEV_RULE"
  has_running_systemd && systemctl daemon-reload
  rm -rf "$root$PREFIX"
  if [ "$purge" = 1 ]; then
    rm -rf "$root$ETC" "$root$STATE"
    userdel ${root:+--root "$root"} "$SERVICE_USER" 2>/dev/null || true
    say "removed cspine-edge, its settings and its data"
  else
    say "removed cspine-edge; kept $ETC and $STATE (--purge removes them)"
  fi
}
[ "$mode" = uninstall ] && { uninstall; exit 0; }

[ -f "$bundle" ] || fail "$bundle: no such bundle"
for tool in tar sha256sum; do command -v "$tool" >/dev/null 2>&1 || fail "$tool is needed"; done
started=$(date +%s)

# 1. Unpack beside the releases (same file system, so the switch is a rename) and verify every file.
mkdir -p "$root$PREFIX/releases"
staging=$(mktemp -d "$root$PREFIX/releases/.incoming.XXXXXX")
trap 'rm -rf "$staging"' EXIT
tar -xzf "$bundle" -C "$staging" || fail "$bundle: not a readable .tar.gz (incomplete copy?)"
set -- "$staging"/*/
[ $# -eq 1 ] && [ -f "$1BUNDLE.json" ] && [ -f "$1SHA256SUMS" ] || fail "$bundle: not a cspine-edge bundle (no BUNDLE.json and SHA256SUMS in one top folder)"
unpacked="${1%/}"
release=$(basename "$unpacked")
( cd "$unpacked" && sha256sum --quiet --strict -c SHA256SUMS >&2 ) || fail "$bundle: files differ from its SHA256SUMS (damaged or altered); nothing was installed"
json_field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" "$unpacked/BUNDLE.json" | head -n 1; }
arch=$(json_field arch)
abi=$(json_field nodeAbi)
case "$(uname -m)" in aarch64|arm64) host=arm64 ;; x86_64|amd64) host=x64 ;; *) host=$(uname -m) ;; esac
[ -n "$root" ] || [ "$arch" = "$host" ] || fail "$bundle is built for $arch; this machine is $host"
# The native addons were compiled against a glibc and libstdc++ no newer than these (BUNDLE.json requires).
glibc_needed=$(json_field glibc)
glibc_here=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed 's/^glibc //')
if [ -z "$root" ] && [ -n "$glibc_needed" ] && [ -n "$glibc_here" ] && [ "$(printf '%s\n%s\n' "$glibc_needed" "$glibc_here" | sort -V | head -n 1)" != "$glibc_needed" ]; then
  fail "$bundle needs glibc $glibc_needed or newer; this system has $glibc_here (Debian 12, Raspberry Pi OS bookworm or Ubuntu 22.04 and later)"
fi

# 2. Node.js: the bundle's own, else the system's when its ABI matches the native addons.
if [ -x "$unpacked/node/bin/node" ]; then
  node_target="$PREFIX/current/node/bin/node"
else
  system_node=$(command -v node || true)
  [ -n "$system_node" ] || fail "$bundle carries no Node.js and none is installed: build the bundle with --node, or install Node.js 20"
  system_abi=$("$system_node" -p process.versions.modules)
  [ -z "$abi" ] || [ "$system_abi" = "$abi" ] || fail "$system_node has ABI $system_abi; the bundle's addons need $abi (Node.js $(json_field nodeVersion)); build the bundle with --node"
  node_target="$system_node"
fi

# 3. The release: the same bundle again is kept as it is; a rebuilt one of the same name replaces it.
target="$root$PREFIX/releases/$release"
if [ -d "$target" ] && cmp -s "$target/SHA256SUMS" "$unpacked/SHA256SUMS"; then
  say "$release is already unpacked and identical"
else
  if [ -d "$target" ]; then mv "$target" "$staging/replaced"; fi
  mv "$unpacked" "$target"
fi
previous=$(readlink "$root$PREFIX/current" 2>/dev/null || true)

# 4. User, groups and folders. Settings are root's, readable by the service; data is the service's.
# Names are looked up in the target's own files, which differ from this system's under --root.
account_id() { awk -F: -v name="$2" '$1 == name { print $3 }' "$root/etc/$1"; }
[ -n "$(account_id group gpio)" ] || groupadd ${root:+--root "$root"} --system gpio
[ -n "$(account_id passwd "$SERVICE_USER")" ] || useradd ${root:+--root "$root"} --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
for group in gpio video; do
  [ -z "$(account_id group "$group")" ] || usermod ${root:+--root "$root"} -a -G "$group" "$SERVICE_USER"
done
uid=$(account_id passwd "$SERVICE_USER")
gid=$(account_id group "$SERVICE_USER")
install -d -m 0750 -o 0 -g "$gid" "$root$ETC"
if [ -f "$root$ETC/cspine-edge.yaml" ]; then
  say "kept $ETC/cspine-edge.yaml"
else
  install -m 0640 -o 0 -g "$gid" "$target/deploy/cspine-edge.example.yaml" "$root$ETC/cspine-edge.yaml"
  say "wrote $ETC/cspine-edge.yaml from the example: set deviceId, the broker and the lamps' pins there"
fi
install -d -m 0750 -o "$uid" -g "$gid" "$root$STATE"

# 5. Switch: the node link and then current, each in one rename, so a power cut leaves one release or the other.
mkdir -p "$root$PREFIX/bin"
ln -sfn "$node_target" "$root$PREFIX/bin/.node.new" && mv -Tf "$root$PREFIX/bin/.node.new" "$root$PREFIX/bin/node"
ln -sfn "releases/$release" "$root$PREFIX/.current.new" && mv -Tf "$root$PREFIX/.current.new" "$root$PREFIX/current"
for old in "$root$PREFIX"/releases/*/; do
  name=$(basename "$old")
  [ "releases/$name" = "$(readlink "$root$PREFIX/current")" ] || [ "releases/$name" = "$previous" ] || rm -rf "$old"
done

# 6. udev rule for the GPIO group, the unit, and the service (re)started: Type=notify makes
# systemctl wait until every capability has started, or fail.
install -D -m 0644 "$target/deploy/99-cspine-gpio.rules" "$root$UDEV_RULE"
# The rule acts on "add" events, which have happened long before for the chips already there.
if [ -z "$root" ] && command -v udevadm >/dev/null 2>&1 && udevadm control --reload-rules 2>/dev/null; then
  udevadm trigger --action=add --subsystem-match=gpio && udevadm settle --timeout=30 || say "udev did not apply the GPIO rule; the lamps may be refused (docs/lamps.md#permissions)"
fi
install -D -m 0644 "$target/deploy/cspine-edge.service" "$root$UNIT"
if ! has_running_systemd; then
  systemctl_ enable cspine-edge.service >/dev/null 2>&1 || say "could not enable the unit (no systemctl?): enable it by hand"
  if [ -n "$root" ]; then why="--root $root"; else why="no running systemd"; fi
  say "installed $release in $root$PREFIX in $(( $(date +%s) - started )) s; not started ($why)"
  exit 0
fi
systemctl daemon-reload
systemctl enable cspine-edge.service >/dev/null 2>&1
if [ "$start" = 0 ]; then
  say "installed $release in $(( $(date +%s) - started )) s; enabled, not started (--no-start)"
  exit 0
fi
if ! systemctl restart cspine-edge.service; then
  journalctl -u cspine-edge.service -n 30 --no-pager >&2 || true
  fail "cspine-edge did not start (log above); the previous release is ${previous:-none}: sh $0 OLD_BUNDLE puts it back"
fi
say "installed $release in $(( $(date +%s) - started )) s; cspine-edge is running"
