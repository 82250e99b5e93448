#!/usr/bin/env bash
# A Debian 12 arm64 system to boot under qemu-system-aarch64 (scripts/arm64/proof.ts, docs/arm64.md):
# debootstrap's minimal system with systemd, udev and Debian's arm64 kernel, and one unit that runs
# /mnt/payload/guest.sh at boot from a 9p share. Writes WORK/base.img (raw ext4), WORK/vmlinuz and
# WORK/initrd.img; a second run reuses them. Needs root, debootstrap, qemu-user-static with binfmt
# (debootstrap runs the arm64 maintainer scripts through it) and Debian's mirror.
#
#   sudo bash scripts/arm64/image.sh data/arm64
set -euo pipefail
WORK="${1:?usage: image.sh WORK_DIR}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$WORK/rootfs"
started=$(date +%s)
say() { echo "[image $(( $(date +%s) - started )) s] $*" >&2; }

if [[ -f "$WORK/base.img" && -f "$WORK/vmlinuz" && -f "$WORK/initrd.img" ]]; then
  say "reusing $WORK/base.img"
  exit 0
fi
[[ $(id -u) == 0 ]] || { echo "image.sh: needs root (debootstrap, device nodes)" >&2; exit 1; }
for tool in debootstrap mkfs.ext4; do command -v "$tool" >/dev/null || { echo "image.sh: $tool missing (apt-get install debootstrap e2fsprogs)" >&2; exit 1; }; done

# arm64 programs run through qemu-user during debootstrap's second stage.
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
  [[ -e /proc/sys/fs/binfmt_misc/register ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || { echo "image.sh: no binfmt for arm64 (apt-get install qemu-user-static binfmt-support)" >&2; exit 1; }
fi

mkdir -p "$WORK"
if [[ ! -f "$ROOTFS/.debootstrap-done" ]]; then
  rm -rf "$ROOTFS"
  say "debootstrap bookworm arm64 from $MIRROR (10-25 min: the maintainer scripts and the initramfs run emulated)"
  debootstrap --arch=arm64 --variant=minbase \
    --include=systemd,systemd-sysv,udev,dbus,linux-image-arm64,kmod,procps,iproute2,e2fsprogs \
    bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  touch "$ROOTFS/.debootstrap-done"
fi

say "configuring the guest"
echo cspine-arm64 >"$ROOTFS/etc/hostname"
cat >"$ROOTFS/etc/fstab" <<'EOF'
/dev/vda  /             ext4  defaults,noatime                 0 1
payload   /mnt/payload  9p    trans=virtio,version=9p2000.L,ro 0 0
results   /mnt/results  9p    trans=virtio,version=9p2000.L,rw 0 0
EOF
mkdir -p "$ROOTFS/mnt/payload" "$ROOTFS/mnt/results"
printf '9p\n9pnet_virtio\n' >"$ROOTFS/etc/modules-load.d/9p.conf"
cat >"$ROOTFS/etc/systemd/system/cspine-proof.service" <<'EOF'
[Unit]
Description=cspine-edge arm64 proof (scripts/arm64/guest.sh from the host)
Requires=mnt-payload.mount mnt-results.mount
After=mnt-payload.mount mnt-results.mount multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh /mnt/payload/guest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
ExecStopPost=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/cspine-proof.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/cspine-proof.service"
# Nothing else competing for the emulated CPU.
for timer in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do ln -sf /dev/null "$ROOTFS/etc/systemd/system/$timer"; done
chroot "$ROOTFS" passwd -d root >/dev/null

cp "$(ls "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -n 1)" "$WORK/vmlinuz"
cp "$(ls "$ROOTFS"/boot/initrd.img-* | sort -V | tail -n 1)" "$WORK/initrd.img"
say "ext4 image"
rm -f "$WORK/base.img.tmp"
mkfs.ext4 -q -L root -d "$ROOTFS" "$WORK/base.img.tmp" 4G
mv "$WORK/base.img.tmp" "$WORK/base.img"
say "done: $WORK/base.img ($(du -h --apparent-size "$WORK/base.img" | cut -f1) sparse, $(du -h "$WORK/base.img" | cut -f1) used)"
