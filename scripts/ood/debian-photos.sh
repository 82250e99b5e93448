#!/usr/bin/env bash
# Real photographs for the OOD sets, without the internet: the sample images that Debian
# ships in python3-skimage (astronaut, camera, coffee, chelsea, rocket, moon, horse, text,
# page, brick, grass, gravel, hubble_deep_field, motorcycle_left/right, ...), fetched from
# the configured apt mirror, plus ImageMagick's built-in images when `convert` is on PATH.
#
#   scripts/ood/debian-photos.sh OUT_DIR
#
# Writes OUT_DIR/photos-real/*.png|jpg and OUT_DIR/imagemagick/*.png and appends one row
# per image to OUT_DIR/ood.csv (created with the header if missing; rows from an earlier
# run of this script are replaced). Group far-ood, no label. These files are third-party
# images under their own licences (see skimage/data/README.txt in the package): keep
# OUT_DIR out of git (data/ is ignored) and never commit them.
set -euo pipefail

if [[ $# -ne 1 || "$1" == -* ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 64
fi
out=$1
header='file,category,group,label,source'
mkdir -p "$out/photos-real"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# apt-get download needs no root, but an empty or stale package list makes it fail;
# then refresh the list once (that needs root) and try again.
if ! (cd "$work" && apt-get download python3-skimage >/dev/null 2>&1); then
  echo "apt-get download failed; running apt-get update -qq and retrying" >&2
  apt-get update -qq
  (cd "$work" && apt-get download python3-skimage >/dev/null)
fi
deb=$(ls "$work"/python3-skimage_*.deb)
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -x "$deb" "$work/x"
data=$(find "$work/x" -type d -path '*/skimage/data' | head -n 1)
if [[ -z "$data" ]]; then
  echo "no skimage/data folder in $deb" >&2
  exit 1
fi

# PNG width and height from the IHDR chunk (bytes 16–23, big-endian).
png_side() {
  local b
  read -r -a b < <(od -An -tu1 -j16 -N8 "$1")
  local w=$(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]))
  local h=$(((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]))
  echo $((w < h ? w : h))
}

rows=()
for file in "$data"/*.png "$data"/*.jpg "$data"/*.jpeg; do
  [[ -f "$file" ]] || continue
  name=$(basename "$file")
  # truncated.jpg is cut short on purpose (a decoder test), not a photograph.
  [[ "$name" == truncated.jpg ]] && continue
  # Test fixtures of a few pixels (block, palette_*, foo3x5x4indexed, checker_bilevel) are no photographs either.
  if [[ "$name" == *.png && $(png_side "$file") -lt 32 ]]; then continue; fi
  cp "$file" "$out/photos-real/$name"
  rows+=("photos-real/$name,photos-real,far-ood,,python3-skimage $version skimage/data/$name")
done
echo "photos-real: ${#rows[@]} images from python3-skimage $version" >&2

if command -v convert >/dev/null 2>&1; then
  mkdir -p "$out/imagemagick"
  im=$(convert -version | head -n 1 | awk '{print $3}')
  count=0
  for builtin in rose wizard logo granite netscape; do
    if convert "$builtin:" "$out/imagemagick/$builtin.png" 2>/dev/null; then
      rows+=("imagemagick/$builtin.png,imagemagick,far-ood,,imagemagick $im $builtin:")
      count=$((count + 1))
    fi
  done
  echo "imagemagick: $count built-in images (ImageMagick $im)" >&2
else
  echo "imagemagick: convert not on PATH, skipped" >&2
fi

# Append to ood.csv through a temporary file and a rename, dropping this script's rows
# from an earlier run so that running it twice does not list images twice.
csv="$out/ood.csv"
tmp="$csv.partial"
if [[ -f "$csv" ]]; then
  awk -F, 'NR == 1 || ($2 != "photos-real" && $2 != "imagemagick")' "$csv" >"$tmp"
else
  echo "$header" >"$tmp"
fi
printf '%s\n' "${rows[@]}" >>"$tmp"
mv "$tmp" "$csv"
echo "wrote ${#rows[@]} rows to $csv" >&2
