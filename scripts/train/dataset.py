"""Data for training: discovery, group-wise splits, runtime-exact preprocessing, augmentation.

A data folder holds one sub-folder per class (``normal/``, ``fracture/``, ``dislocation/``, or the
research dataset's ``c-spine_nor/``, ``c-spine_frac/``, ``c-spine_dis/``, read as aliases) of images:
PNG, JPEG, TIFF, WebP and DICOM (``.dcm``, ``.dicom``), and, optionally:

* ``labels.csv`` (written by ``cspine-edge synth``): ``file,label,group,...``; ``file`` is relative
  to the folder. When present it is the list of samples. ``--labels-csv FILE`` names one kept
  elsewhere (paths still relative to the data folder), for archives laid out any other way;
* ``groups.csv``: ``file,group``, mapping each image to a patient/study ID. It overrides the
  ``group`` column of labels.csv.

Splits are by group (no group in two splits), stratified by class, deterministic by seed.

Without given groups (no groups.csv, no group column) every image would be its own group, and
copies of one radiograph (the research dataset has many: re-saved, resized, cut, brightened)
would land on both sides of the split, so test accuracy measures memory. So the pixels decide:
each image's DCT pHash over its letterboxed content (255 bits, plus 95 % sub-crops so that cut
copies match) is compared with every other's, pairs within ``DEDUP_TOLERANCE`` bits (46) are
joined by union-find, as are DICOM files of one StudyInstanceUID or one PatientID (hashed by the
runtime script, never written; a placeholder ID, or one ID in over half the files, links nothing),
and each cluster becomes one group. On phantoms, every copy (JPEG, 0.7×/1.6×
resize, 5 % cut, brightness/contrast, all combined) came within 42 bits of its original and no
two of 300 distinct phantoms within 52 (docs/training.md, "Your own films"). ``--audit`` writes
the clusters, labelling conflicts (a cluster with two labels), class balance per split and the
cross-split pairs a per-image split would have had.

DICOM is read only by the runtime's decoder (the default, through Node), so training sees the
pixels the device sees; ``--preprocess pil`` cannot read it and says so. Files the runtime refuses
are all listed with its error codes, never skipped.

Preprocessing is the runtime's (``src/imaging/preprocess.ts``): gray at native depth, letterbox into
224×224 (fit inside keeping aspect, pad black, centred; Lanczos 3), samples ÷255 or ÷65535, then
``(x - mean) / std`` per channel with ImageNet mean/std, the gray plane repeated into 3 channels,
NCHW float32. By default the letterboxing is done by the runtime's own code
(``runtime_preprocess.mjs``, through Node), so training sees bit-for-bit what the service feeds the
model; ``--preprocess pil`` is a pure-Python fallback (same geometry, Pillow's Lanczos, which
differs from libvips' by about 0.5 gray levels of 255 on average).

Run it to see the splits and check the preprocessing against the runtime::

    /usr/bin/python3 scripts/train/dataset.py --data DIR [--seed 0] [--check 8] [--dedup-hamming 46] [--labels-csv FILE]

to audit a folder for duplicates and leakage (audit.json, audit.md, duplicates.png)::

    /usr/bin/python3 scripts/train/dataset.py --data DIR --audit OUT_DIR

and to letterbox a folder once into a pack that train.py reads on a machine without Node or the
images (a rented GPU box, say)::

    /usr/bin/python3 scripts/train/dataset.py --data DIR --pack DIR.npz [--workers N]
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

LABELS = ["normal", "fracture", "dislocation"]  # model output order (manifest "labels")
INPUT_SIZE = 224
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
RASTER_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"}
DICOM_EXTENSIONS = {".dcm", ".dicom"}
IMAGE_EXTENSIONS = RASTER_EXTENSIONS | DICOM_EXTENSIONS  # what the runtime decodes (it sniffs the bytes, not the name)
# The research dataset's class folders (c-spine_nor/, c-spine_frac/, c-spine_dis/), read as ours.
CLASS_ALIASES = {"c-spine_nor": "normal", "c-spine_frac": "fracture", "c-spine_dis": "dislocation"}
# Hamming distance (of 255 pHash bits) up to which two images count as copies of one radiograph;
# chosen by measurement on phantoms (docs/training.md, "Near-duplicates"): copies re-encoded,
# resized, cut by 5 % or brightened landed at <= 42, distinct phantoms of one class at >= 52.
DEDUP_TOLERANCE = 46
SPLITS = ("train", "val", "test")

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SCRIPT = Path(__file__).resolve().parent / "runtime_preprocess.mjs"


@dataclass
class Sample:
    file: str  # relative to the data folder, with "/"
    label: int
    group: str
    split: str = ""
    lesion: Optional[Tuple[float, float, float, float]] = None  # x, y, width, height in image pixels (labels.csv box_*)


def _lesion(row: dict) -> Optional[Tuple[float, float, float, float]]:
    cells = [row.get(k) or "" for k in ("box_x", "box_y", "box_w", "box_h")]
    return tuple(float(c) for c in cells) if all(cells) else None  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# discovery and splits


def is_dicom_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in DICOM_EXTENSIONS


def class_of_folder(name: str) -> Optional[str]:
    """Our label for a class folder name: ours as they are, the research dataset's by alias."""
    return name if name in LABELS else CLASS_ALIASES.get(name.lower())


def discover(data_dir: str | Path, labels_csv: str | Path | None = None) -> List[Sample]:
    """The samples of a data folder: a labels CSV if there is one (``labels_csv``, else the
    folder's own labels.csv), else the class sub-folders (ours or the research dataset's
    ``c-spine_*`` names). File paths in a labels CSV are relative to the data folder, so an
    archive laid out any other way can be described by a CSV kept elsewhere.

    A sample without a given group gets ``f:<file>`` (its own group); ``auto_group`` later
    replaces those by near-duplicate clusters, which it can only do once the pixels are loaded."""
    root = Path(data_dir)
    if not root.is_dir():
        raise SystemExit(f"data folder {root} does not exist")
    samples: List[Sample] = []
    labels_path = Path(labels_csv) if labels_csv is not None else root / "labels.csv"
    if labels_csv is not None and not labels_path.is_file():
        raise SystemExit(f"--labels-csv {labels_path} does not exist")
    if labels_path.is_file():
        with open(labels_path, newline="") as handle:
            for row in csv.DictReader(handle):
                label = class_of_folder(row["label"]) or row["label"]
                if label not in LABELS:
                    raise SystemExit(f"{labels_path}: unknown label {row['label']!r} for {row['file']} (expected one of {LABELS})")
                file = row["file"].replace("\\", "/")
                group = row.get("group") or ""
                samples.append(Sample(file, LABELS.index(label), f"g:{group}" if group else f"f:{file}", lesion=_lesion(row)))
        missing = [s.file for s in samples if not (root / s.file).is_file()]
        if missing:
            raise SystemExit(f"{labels_path} names {len(missing)} missing files, e.g. {missing[:3]}")
    else:
        subdirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        unknown = [d for d in subdirs if class_of_folder(d) is None]
        if unknown:
            print(f"warning: ignoring sub-folders that are not class names {LABELS} (or {sorted(CLASS_ALIASES)}): {unknown}", file=sys.stderr)
        for folder_name in subdirs:
            label = class_of_folder(folder_name)
            if label is None:
                continue
            for path in sorted((root / folder_name).rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("."):
                    rel = path.relative_to(root).as_posix()
                    samples.append(Sample(rel, LABELS.index(label), f"f:{rel}"))
    if not samples:
        raise SystemExit(f"no images in {root}: expected {'/'.join(LABELS)} (or {'/'.join(CLASS_ALIASES)}) sub-folders, or labels.csv")

    groups_csv = root / "groups.csv"
    if groups_csv.is_file():
        mapping: Dict[str, str] = {}
        with open(groups_csv, newline="") as handle:
            for row in csv.DictReader(handle):
                mapping[row["file"].replace("\\", "/")] = row["group"]
        unmapped = [s.file for s in samples if s.file not in mapping]
        if unmapped:
            raise SystemExit(
                f"{groups_csv} has no group for {len(unmapped)} of {len(samples)} images, e.g. {unmapped[:3]}; "
                "every image needs one (a missing group could put one patient in two splits)"
            )
        for s in samples:
            s.group = f"p:{mapping[s.file]}"
    return samples


def has_given_groups(samples: Sequence[Sample]) -> bool:
    """True when groups came from groups.csv or a labels.csv group column; then they are the
    truth (patients, studies) and near-duplicate grouping stays out of the way."""
    return any(not s.group.startswith("f:") for s in samples)


def parse_split(text: str) -> Tuple[float, float, float]:
    parts = [float(p) for p in text.replace("/", ",").split(",")]
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise SystemExit(f"--split wants three non-negative numbers train,val,test, e.g. 70,15,15 (got {text!r})")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)


def split_by_group(samples: List[Sample], fractions: Sequence[float] = (0.70, 0.15, 0.15), seed: int = 0) -> List[Sample]:
    """Sets ``sample.split``. Whole groups go to one split; groups are stratified by their
    majority class, shuffled with ``random.Random(seed)`` and cut by the fractions (by group
    count, rounded per class). The same samples, fractions and seed always give the same split."""
    by_group: Dict[str, List[Sample]] = defaultdict(list)
    for s in samples:
        by_group[s.group].append(s)
    by_class: Dict[int, List[str]] = defaultdict(list)
    for group in sorted(by_group):
        majority = Counter(s.label for s in by_group[group]).most_common()
        label = min(l for l, n in majority if n == majority[0][1])
        by_class[label].append(group)
    rng = random.Random(seed)
    for label in sorted(by_class):
        groups = by_class[label]
        rng.shuffle(groups)
        n = len(groups)
        n_train = round(n * fractions[0])
        n_val = round(n * fractions[1])
        if fractions[2] == 0:
            n_val = n - n_train
        n_val = min(n_val, n - n_train)
        for i, group in enumerate(groups):
            split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
            for s in by_group[group]:
                s.split = split
    return samples


def split_info(samples: Sequence[Sample], split: str) -> dict:
    """Images, groups and images per class in one split."""
    part = [s for s in samples if s.split == split]
    counts = Counter(LABELS[s.label] for s in part)
    return {"images": len(part), "groups": len({s.group for s in part}), "perClass": {l: counts[l] for l in LABELS}}


def write_split_csv(samples: List[Sample], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "group", "split"])
        for s in samples:
            writer.writerow([s.file, LABELS[s.label], s.group.split(":", 1)[1], s.split])


def data_summary(data_dir: str | Path, labels_path: str | Path | None = None) -> dict:
    """What a data folder is, for provenance: synthetic run seeds (and their variation) from labels.csv, counts."""
    root = Path(data_dir)
    info: dict = {"path": str(root.resolve())}
    labels_csv = Path(labels_path) if labels_path is not None else root / "labels.csv"
    if labels_csv.is_file():
        with open(labels_csv, newline="") as handle:
            rows = list(csv.DictReader(handle))
        seeds = sorted({r.get("seed", "") for r in rows if r.get("seed")}, key=lambda v: (len(v), v))
        sizes = set()
        info.update({"source": "labels.csv" if labels_path is None else str(Path(labels_path).resolve()), "synthSeeds": [int(s) if s.isdigit() else s for s in seeds], "count": len(rows)})
        # which synth population each seed came from (labels.csv has said so since `--variation`)
        variations = {r["seed"]: r["variation"] for r in rows if r.get("seed") and r.get("variation")}
        if variations:
            info["synthVariations"] = {s: variations[s] for s in seeds if s in variations}
        if rows:
            first = root / rows[0]["file"]
            try:
                from PIL import Image

                with Image.open(first) as im:
                    sizes.add(f"{im.width}x{im.height}")
                    info["imageMode"] = im.mode
            except Exception:  # provenance only
                pass
        if sizes:
            info["imageSize"] = sorted(sizes)[0]
    else:
        info["source"] = "class folders"
    info["groupsCsv"] = (root / "groups.csv").is_file()
    return info


# --------------------------------------------------------------------------------------------
# preprocessing


def letterbox_geometry(width: int, height: int, size: int = INPUT_SIZE) -> Tuple[int, int, int, int]:
    """(left, top, new_width, new_height) of the resized image inside the size×size canvas, as sharp's
    ``fit: 'contain', position: 'centre'`` places it (checked against the runtime on many sizes)."""
    scale = min(size / width, size / height)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    return (size - new_w) // 2, (size - new_h) // 2, new_w, new_h


def _read_gray(path: Path) -> Tuple[np.ndarray, int]:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.array(im).astype(np.float32)
            return arr, 16
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            background = Image.new("RGBA", im.size, (0, 0, 0, 255))
            im = Image.alpha_composite(background, im)
        return np.array(im.convert("L")).astype(np.float32), 8


def letterbox_pil(path: Path, size: int = INPUT_SIZE) -> Tuple[np.ndarray, int]:
    """Pure-Python approximation of the runtime's letterbox: same geometry and rounding to the
    source depth, Pillow's Lanczos instead of libvips'."""
    from PIL import Image

    arr, bits = _read_gray(path)
    height, width = arr.shape
    left, top, new_w, new_h = letterbox_geometry(width, height, size)
    resized = np.array(Image.fromarray(arr, mode="F").resize((new_w, new_h), Image.LANCZOS))
    full = 65535 if bits == 16 else 255
    out = np.zeros((size, size), np.uint16)
    out[top : top + new_h, left : left + new_w] = np.clip(np.round(resized), 0, full).astype(np.uint16)
    return out, bits


def runtime_available() -> bool:
    return shutil.which("node") is not None and (REPO_ROOT / "dist/imaging/preprocess.js").is_file()


def _letterbox_chunk(part: Sequence[str], size: int) -> Tuple[np.ndarray, dict]:
    with tempfile.TemporaryDirectory(prefix="cspine-pre-") as tmp:
        target = os.path.join(tmp, "gray.u16")
        done = subprocess.run(
            ["node", str(RUNTIME_SCRIPT), "gray", target, str(size), *part],
            cwd=REPO_ROOT, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"runtime preprocessing failed: {done.stderr.strip() or done.stdout.strip()}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        return np.fromfile(target, dtype="<u2").reshape(len(part), size, size), info


class UnreadableFiles(SystemExit):
    """Files the runtime (or Pillow) refuses, all of them at once with the runtime's error codes:
    a bad file is never silently skipped, and a list beats fixing them one run at a time."""

    def __init__(self, errors: Sequence[dict]):
        self.errors = list(errors)
        lines = [f"  {e['file']}: {e.get('code', 'E_UNKNOWN')}: {e.get('message', '')}" for e in self.errors[:50]]
        more = f"\n  ... and {len(self.errors) - 50} more" if len(self.errors) > 50 else ""
        super().__init__(f"{len(self.errors)} file(s) cannot be read (runtime error codes, docs/errors.md); "
                         "fix or remove them (or leave them out of labels.csv):\n" + "\n".join(lines) + more)


def letterbox_runtime(paths: Sequence[Path], size: int = INPUT_SIZE, chunk: int = 256, workers: int = 1, progress=None,
                      details: Optional[dict] = None) -> Tuple[np.ndarray, List[int]]:
    """Letterboxed gray samples by the runtime's own code (Node + sharp), [N,size,size] uint16.
    ``workers`` Node processes run side by side; ``progress(n)`` is called as chunks finish.
    ``details``, when given, receives the decoded sizes and hashed DICOM study UIDs and PatientIDs per path.
    Raises UnreadableFiles listing every file the runtime refuses."""
    from concurrent.futures import ThreadPoolExecutor

    out = np.zeros((len(paths), size, size), np.uint16)
    bits: List[int] = [0] * len(paths)
    sizes: List[Tuple[int, int]] = [(0, 0)] * len(paths)
    studies: List[Optional[str]] = [None] * len(paths)
    patients: List[Optional[str]] = [None] * len(paths)
    errors: List[dict] = []
    starts = list(range(0, len(paths), chunk))

    def run(start: int) -> int:
        part = [str(Path(p).absolute()) for p in paths[start : start + chunk]]  # Node runs in the repository root
        images, info = _letterbox_chunk(part, size)
        out[start : start + len(part)] = images
        bits[start : start + len(part)] = info["bits"]
        sizes[start : start + len(part)] = [tuple(v) for v in info.get("sizes", [(0, 0)] * len(part))]
        studies[start : start + len(part)] = info.get("studies", [None] * len(part))
        patients[start : start + len(part)] = info.get("patients", [None] * len(part))
        errors.extend(dict(e, index=start + e["index"]) for e in info.get("errors", []))
        return len(part)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for n in pool.map(run, starts):
            if progress is not None:
                progress(n)
    if errors:
        raise UnreadableFiles(sorted(errors, key=lambda e: e["index"]))
    if details is not None:
        details.update(sizes=sizes, studies=studies, patients=patients)
    return out, bits


def _require_raster(paths: Sequence[Path]) -> None:
    dicom = [p for p in paths if is_dicom_name(p)]
    if dicom:
        raise SystemExit(
            f"{dicom[0]}{f' (and {len(dicom) - 1} more DICOM files)' if len(dicom) > 1 else ''}: the pure-Python "
            "preprocessing (--preprocess pil) cannot read DICOM; use the runtime's preprocessing, which decodes it as the "
            "device does: node on PATH and dist/ built (npm run build), then --preprocess runtime (or auto)"
        )


@dataclass
class Loaded:
    """Every sample of a list letterboxed, with what the runtime said about each file."""
    images: np.ndarray  # uint16 [N,size,size]
    bits: np.ndarray  # int32 [N], 8 or 16
    boxes: np.ndarray  # int32 [N,4] content box (left, top, width, height)
    method: str
    lesions: np.ndarray  # float32 [N,4], NaN: none
    studies: List[Optional[str]]  # hashed DICOM StudyInstanceUID, None for rasters
    patients: List[Optional[str]]  # hashed DICOM PatientID, None for rasters and placeholder IDs

    def as_tuple(self):
        return self.images, self.bits, self.boxes, self.method, self.lesions


def load_all(root: Path, samples: Sequence[Sample], method: str = "auto", size: int = INPUT_SIZE, workers: int = 1, progress=None) -> Loaded:
    """All samples letterboxed, in memory (see load_images), plus the hashed DICOM study UIDs."""
    if method == "auto":
        method = "runtime" if runtime_available() else "pil"
    paths = [root / s.file for s in samples]
    sizes: List[Tuple[int, int]] = []
    studies: List[Optional[str]] = [None] * len(paths)
    patients: List[Optional[str]] = [None] * len(paths)
    if method == "runtime":
        if not runtime_available():
            raise SystemExit("--preprocess runtime needs node on PATH and dist/ (npm run build)")
        details: dict = {}
        images, bits = letterbox_runtime(paths, size, workers=workers, progress=progress, details=details)
        sizes, studies, patients = details["sizes"], details["studies"], details["patients"]
    elif method == "pil":
        _require_raster(paths)
        images = np.zeros((len(paths), size, size), np.uint16)
        bits = []
        errors = []
        for i, path in enumerate(paths):
            try:
                images[i], b = letterbox_pil(path, size)
            except Exception as error:  # Pillow's reasons vary; list them all, as the runtime path does
                errors.append({"index": i, "file": str(path), "code": "E_PIL", "message": f"{type(error).__name__}: {error}"})
                b = 8
            bits.append(b)
            if progress is not None:
                progress(1)
        if errors:
            raise UnreadableFiles(errors)
    else:
        raise SystemExit(f"unknown preprocessing {method!r} (auto, runtime or pil)")
    boxes = np.zeros((len(paths), 4), np.int32)
    lesions = np.full((len(paths), 4), np.nan, np.float32)
    from PIL import Image

    for i, (path, sample) in enumerate(zip(paths, samples)):
        if sizes:
            w, h = sizes[i]  # as the runtime decoded it: upright, DICOM included
        else:
            with Image.open(path) as im:
                w, h = im.size
                if (im.getexif() or {}).get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation swaps sides
                    w, h = h, w
        boxes[i] = letterbox_geometry(w, h, size)
        if sample.lesion is not None:
            left, top, new_w, new_h = boxes[i]
            x, y, bw, bh = sample.lesion
            lesions[i] = (left + x * new_w / w, top + y * new_h / h, bw * new_w / w, bh * new_h / h)
    return Loaded(images, np.array(bits, np.int32), boxes, method, lesions, list(studies), list(patients))


def load_images(root: Path, samples: Sequence[Sample], method: str = "auto", size: int = INPUT_SIZE, workers: int = 1, progress=None):
    """All samples letterboxed, in memory: (uint16 [N,size,size], bits [N], content boxes [N,4], method,
    lesions [N,4]). The content box (left, top, width, height) is the image inside the black
    letterbox padding; a lesion (x, y, width, height) is the labelled abnormal region moved into
    model-input pixels, NaN where a sample has none. DICOM files need the runtime's preprocessing."""
    return load_all(root, samples, method, size, workers, progress).as_tuple()


def normalize(gray01: torch.Tensor) -> torch.Tensor:
    """[B,1,H,W] samples in 0..1 → [B,3,H,W] model input (ImageNet mean/std per channel)."""
    mean = torch.tensor(MEAN, dtype=gray01.dtype, device=gray01.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=gray01.dtype, device=gray01.device).view(1, 3, 1, 1)
    return (gray01.expand(-1, 3, -1, -1) - mean) / std


class LetterboxedImages:
    """Preloaded letterboxed images as one tensor (8-bit data stays uint8), optionally on the GPU,
    so a batch is one indexing operation rather than a Python loop over files."""

    def __init__(self, images: np.ndarray, bits: np.ndarray, boxes: np.ndarray, labels: Sequence[int], device: torch.device | str = "cpu",
                 lesions: Optional[np.ndarray] = None):
        eight_bit = bool(np.all(bits == 8))
        stored = images.astype(np.uint8) if eight_bit else images.astype(np.int32)
        self.images = torch.from_numpy(stored).to(device)
        self.scale = torch.from_numpy(np.where(bits == 16, 1 / 65535, 1 / 255).astype(np.float32)).to(device)
        self.boxes = torch.as_tensor(boxes, dtype=torch.long).to(device)
        self.labels = torch.as_tensor(list(labels), dtype=torch.long).to(device)
        self.lesions = torch.from_numpy(np.full((len(self.labels), 4), np.nan, np.float32) if lesions is None else lesions.astype(np.float32)).to(device)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor):
        """(gray in 0..1 [B,1,H,W] float32, labels [B], content boxes [B,4], lesions [B,4]) of the given rows."""
        index = index.to(self.labels.device)
        x = self.images[index].float() * self.scale[index].view(-1, 1, 1)
        return x.unsqueeze(1), self.labels[index], self.boxes[index], self.lesions[index]

    def subset(self, count: int) -> "LetterboxedImages":
        part = LetterboxedImages.__new__(LetterboxedImages)
        part.images, part.scale, part.boxes, part.labels, part.lesions = (t[:count] for t in (self.images, self.scale, self.boxes, self.labels, self.lesions))
        return part

    def batches(self, size: int, order: Optional[torch.Tensor] = None):
        order = torch.arange(len(self)) if order is None else order
        for start in range(0, len(order), size):
            yield self.batch(order[start : start + size])


# --------------------------------------------------------------------------------------------
# near-duplicates: copies of one radiograph must not sit on both sides of a split

HASH_SAMPLE = 32  # side of the gray thumbnail the DCT runs on
HASH_BLOCK = 16  # low-frequency block kept: 16×16 minus DC = 255 bits (8×8 could not tell phantoms from cut copies)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n).reshape(-1, 1)
    i = np.arange(n).reshape(1, -1)
    c = np.sqrt(2 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    c[0] /= np.sqrt(2)
    return c.astype(np.float64)


CROP_KEEP = 0.95  # sub-crops hashed beside the whole: a copy cut by up to ~5 % matches one of them
CROP_GRID = 3  # offsets per axis: 0, half, all of the cut


def _phash(gray: np.ndarray, c: np.ndarray) -> np.ndarray:
    small = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(np.ascontiguousarray(gray))[None, None], HASH_SAMPLE)[0, 0].double().numpy()
    block = (c @ small @ c.T)[:HASH_BLOCK, :HASH_BLOCK].reshape(-1)[1:]
    return block > np.median(block)


def perceptual_hashes(images: np.ndarray, bits: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """DCT pHashes of each letterboxed image, [N, 1 + CROP_GRID², 255] bool: the whole content,
    then its CROP_KEEP sub-crops on a CROP_GRID × CROP_GRID grid of offsets.

    The hash is taken over the content box only (the image inside the black letterbox bars):
    the bars carry no information, and every image of one aspect ratio shares them, which would
    pull unrelated films of one size together. The content is scaled to 0..1, area-averaged to
    32×32, transformed by a 2-D DCT-II; the 16×16 lowest frequencies without DC are compared with
    their median (the classic pHash keeps 8×8, which on phantoms put distinct films as close as copies). Low frequencies survive re-encoding and resizing; a median threshold ignores a
    brightness scale and DC a brightness offset. A crop shifts and scales everything, which the
    whole-image hash does not survive (a 5 % cut moved phantoms by 10 bits on average, as far as
    some distinct phantoms are apart), hence the sub-crops: a cut copy matches the sub-crop of the
    original that it is (hamming_pairs takes the best match)."""
    c = _dct_matrix(HASH_SAMPLE)
    offsets = [k / (CROP_GRID - 1) for k in range(CROP_GRID)] if CROP_GRID > 1 else [0.5]
    out = np.zeros((len(images), 1 + len(offsets) ** 2, HASH_BLOCK * HASH_BLOCK - 1), bool)
    for i in range(len(images)):
        left, top, width, height = (int(v) for v in boxes[i])
        crop = images[i, top : top + height, left : left + width].astype(np.float32) / (65535.0 if bits[i] == 16 else 255.0)
        if crop.size == 0:
            continue
        out[i, 0] = _phash(crop, c)
        cw, ch = max(1, round(width * CROP_KEEP)), max(1, round(height * CROP_KEEP))
        for k, (fy, fx) in enumerate((fy, fx) for fy in offsets for fx in offsets):
            y, x = round((height - ch) * fy), round((width - cw) * fx)
            out[i, 1 + k] = _phash(crop[y : y + ch, x : x + cw], c)
    return out


def hamming_pairs(hashes: np.ndarray, tolerance: int, chunk: int = 1024) -> List[Tuple[int, int, int]]:
    """(i, j, distance) for every i < j within ``tolerance`` bits, the distance being the best of
    whole-vs-whole and each sub-crop of one vs the whole of the other (perceptual_hashes). All pairs
    are compared as matrix products in row chunks: 2 000 images (2 M pairs) take about a second."""
    h = torch.from_numpy(hashes.astype(np.float32))  # [N,K,bits]
    whole = h[:, 0]
    pairs: List[Tuple[int, int, int]] = []

    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ (1 - b).T + (1 - a) @ b.T  # bits set in one and not the other

    for start in range(0, len(h), chunk):
        rows = h[start : start + chunk]
        d = dist(rows[:, 0], whole)
        for k in range(1, h.shape[1]):
            d = torch.minimum(d, torch.minimum(dist(rows[:, k], whole), dist(rows[:, 0], h[:, k])))
        i, j = torch.nonzero(d <= tolerance, as_tuple=True)
        i = i + start
        keep = i < j
        for a, b in zip(i[keep].tolist(), j[keep].tolist()):
            pairs.append((a, b, int(d[a - start, b])))
    return pairs


def union_find(n: int, links: Sequence[Tuple[int, int]]) -> List[int]:
    """The root of each of n items once every link is joined (path halving, union by index)."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in links:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(a) for a in range(n)]


def auto_group(samples: Sequence[Sample], loaded: Loaded, tolerance: Optional[int] = DEDUP_TOLERANCE, regroup: bool = True) -> dict:
    """Groups samples that carry no given group (``f:``) by evidence in the files: near-duplicate
    pixels (pHash within ``tolerance`` bits; None: off) and a shared DICOM StudyInstanceUID or
    PatientID (hashed by the runtime script; neither is ever written). Samples linked together get
    the group ``d:<first file of the cluster>`` (only with ``regroup``; the audit looks without
    touching given groups). Returns what it found, for the log and the audit."""
    n = len(samples)
    hashes = perceptual_hashes(loaded.images, loaded.bits, loaded.boxes)
    pairs = hamming_pairs(hashes, tolerance) if tolerance is not None and tolerance >= 0 else []
    links: List[Tuple[int, int]] = [(a, b) for a, b, _ in pairs]
    study_links = _shared_key_links(loaded.studies)
    patient_links = _shared_key_links(loaded.patients, most=0.5)
    links += study_links + patient_links
    roots = union_find(n, links)
    members: Dict[int, List[int]] = defaultdict(list)
    for i, r in enumerate(roots):
        members[r].append(i)
    clusters = [sorted(rows, key=lambda r: samples[r].file) for rows in members.values() if len(rows) > 1]
    for rows in clusters:
        if regroup and all(samples[r].group.startswith("f:") for r in rows):
            name = f"d:{samples[rows[0]].file}"
            for r in rows:
                samples[r].group = name
    clusters.sort(key=lambda rows: (-len(rows), samples[rows[0]].file))
    return {"tolerance": tolerance, "hashes": hashes, "pairs": pairs, "studyLinks": len(study_links), "patientLinks": len(patient_links), "clusters": clusters}


def _shared_key_links(keys: Sequence[Optional[str]], most: float = 1.0) -> List[Tuple[int, int]]:
    """Links between samples with the same key. A key held by more than ``most`` of the keyed
    samples (with at least 4 of them) is ignored: an anonymiser that writes one PatientID into
    every file would otherwise make the whole archive one group."""
    by_key: Dict[str, List[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key:
            by_key[key].append(i)
    keyed = sum(len(rows) for rows in by_key.values())
    return [(rows[0], r) for rows in by_key.values() if keyed < 4 or len(rows) <= most * keyed for r in rows[1:]]


def grouping_line(info: dict, samples: Sequence[Sample]) -> str:
    clustered = sum(len(c) for c in info["clusters"])
    conflicts = sum(1 for c in info["clusters"] if len({samples[r].label for r in c}) > 1)
    return (f"near-duplicate grouping (pHash, Hamming <= {info['tolerance']}): {len(info['pairs'])} near-duplicate pairs, "
            f"{len(info['clusters'])} clusters holding {clustered} of {len(samples)} images"
            + (f", {info['studyLinks']} DICOM same-study links" if info["studyLinks"] else "")
            + (f", {info['patientLinks']} DICOM same-patient links" if info["patientLinks"] else "")
            + (f"; {conflicts} clusters with mixed labels (labelling conflicts: see --audit)" if conflicts else ""))


# --------------------------------------------------------------------------------------------
# audit: duplicate clusters, balance per split, and the leak a per-image split would have had


def _display8(image: np.ndarray, bits: int) -> np.ndarray:
    return (image >> 8).astype(np.uint8) if bits == 16 else image.astype(np.uint8)


def contact_sheet(loaded: Loaded, samples: Sequence[Sample], clusters: Sequence[Sequence[int]], path: Path,
                  max_clusters: int = 8, per_row: int = 8, thumb: int = 112) -> None:
    """One row per cluster (largest first), its letterboxed images as the model sees them, each
    captioned with its label, split and file name; a mixed-label row is marked CONFLICT."""
    from PIL import Image, ImageDraw

    rows = list(clusters)[:max_clusters]
    caption = 26
    width = per_row * (thumb + 6) + 6
    height = max(1, len(rows)) * (thumb + caption + 22) + 6
    sheet = Image.new("RGB", (width, height), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    if not rows:
        draw.text((8, 8), "no near-duplicate clusters", fill=(220, 220, 220))
    y = 6
    for n, members in enumerate(rows):
        labels = {samples[r].label for r in members}
        title = f"cluster {n + 1}: {len(members)} images" + ("  CONFLICT: mixed labels" if len(labels) > 1 else "")
        draw.text((6, y), title, fill=(255, 120, 120) if len(labels) > 1 else (230, 230, 230))
        y += 16
        for k, r in enumerate(members[:per_row]):
            x = 6 + k * (thumb + 6)
            im = Image.fromarray(_display8(loaded.images[r], int(loaded.bits[r]))).resize((thumb, thumb), Image.BILINEAR)
            sheet.paste(im.convert("RGB"), (x, y))
            s = samples[r]
            draw.text((x, y + thumb + 1), f"{LABELS[s.label]} {s.split}"[:18], fill=(200, 200, 120))
            draw.text((x, y + thumb + 13), Path(s.file).name[:18], fill=(180, 180, 180))
        y += thumb + caption + 6
    sheet.save(path)


def audit(root: Path, out_dir: Path, fractions: Sequence[float] = (0.70, 0.15, 0.15), seed: int = 0, tolerance: int = DEDUP_TOLERANCE,
          method: str = "auto", workers: int = 1, labels_csv: str | Path | None = None) -> dict:
    """Writes audit.json, audit.md and duplicates.png into ``out_dir`` and returns the audit.

    The duplicates are looked for whatever the groups are. With no given groups, the split
    audited is the one training makes (near-duplicates grouped); with given groups, that split,
    and any near-duplicate pair across it is listed (copies under two patient IDs). Beside it,
    the same data split per image (every image its own group, same seed and fractions): the
    near-duplicate pairs that split puts into two splits are the leak grouping prevents."""
    samples = discover(root, labels_csv)
    given = has_given_groups(samples)
    loaded = load_all(root, samples, method, workers=workers)
    info = auto_group(samples, loaded, tolerance, regroup=not given)
    split_by_group(samples, fractions, seed)
    per_image = [Sample(s.file, s.label, f"f:{s.file}") for s in samples]
    split_by_group(per_image, fractions, seed)

    def crossing(split_of: Sequence[str]) -> List[Tuple[int, int, int]]:
        return [(a, b, d) for a, b, d in info["pairs"] if split_of[a] != split_of[b]]

    cross_grouped = crossing([s.split for s in samples])
    cross_per_image = crossing([s.split for s in per_image])
    pair_distance = {(a, b): d for a, b, d in info["pairs"]}

    def balance(part: Sequence[Sample]) -> dict:
        return {split: split_info(part, split) for split in SPLITS}

    clusters = []
    for rows in info["clusters"]:
        labels = sorted({LABELS[samples[r].label] for r in rows})
        linked = [(min(a, b), max(a, b)) for i, a in enumerate(rows) for b in rows[i + 1 :]]
        distances = [pair_distance[k] for k in linked if k in pair_distance]
        clusters.append({
            "size": len(rows),
            "labels": labels,
            "labelConflict": len(labels) > 1,
            "splits": sorted({samples[r].split for r in rows}),
            "maxLinkDistance": max(distances) if distances else None,
            "files": [{"file": samples[r].file, "label": LABELS[samples[r].label], "split": samples[r].split} for r in rows],
        })
    out_dir.mkdir(parents=True, exist_ok=True)
    contact_sheet(loaded, samples, info["clusters"], out_dir / "duplicates.png")
    result = {
        "data": str(root.resolve()),
        "images": len(samples),
        "preprocessing": loaded.method,
        "hash": f"DCT pHash, {HASH_BLOCK}x{HASH_BLOCK} minus DC = {HASH_BLOCK * HASH_BLOCK - 1} bits, over the letterboxed content box",
        "tolerance": tolerance,
        "seed": seed,
        "fractions": [round(f, 4) for f in fractions],
        "groups": "given (groups.csv or labels.csv group column)" if given else "automatic (near-duplicates and DICOM studies)",
        "nearDuplicatePairs": len(info["pairs"]),
        "dicomStudyLinks": info["studyLinks"],
        "dicomPatientLinks": info["patientLinks"],
        "clusters": clusters,
        "labelConflicts": sum(c["labelConflict"] for c in clusters),
        "split": balance(samples),
        "crossSplitPairs": {
            "groupSplit": len(cross_grouped),
            "perImageSplit": len(cross_per_image),
        },
        "crossSplitPairsGroupSplit": [{"a": samples[a].file, "b": samples[b].file, "distance": d} for a, b, d in cross_grouped[:200]],
        "perImageSplitBalance": balance(per_image),
        "contactSheet": "duplicates.png",
    }
    with open(out_dir / "audit.json", "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    (out_dir / "audit.md").write_text(audit_markdown(result))
    return result


def audit_markdown(a: dict) -> str:
    lines = [
        f"# Data audit: {a['data']}",
        "",
        f"{a['images']} images, preprocessed by the {a['preprocessing']} code; groups: {a['groups']}.",
        f"Near-duplicates: {a['hash']}, Hamming distance <= {a['tolerance']}: "
        f"**{a['nearDuplicatePairs']} pairs** in **{len(a['clusters'])} clusters**"
        + (f", plus {a['dicomStudyLinks']} DICOM same-study links" if a["dicomStudyLinks"] else "")
        + (f", plus {a['dicomPatientLinks']} DICOM same-patient links" if a["dicomPatientLinks"] else "") + ".",
        "",
        "## Leakage",
        "",
        f"- Near-duplicate pairs split across train/val/test by **this split** (group-wise): **{a['crossSplitPairs']['groupSplit']}**",
        f"- ... by a **per-image split** of the same data (every image its own group, seed {a['seed']}): "
        f"**{a['crossSplitPairs']['perImageSplit']}**" + (" (the leak grouping prevents)" if a["crossSplitPairs"]["perImageSplit"] else ""),
        "",
        "## Class balance per split",
        "",
        "| split | images | groups | " + " | ".join(LABELS) + " |",
        "|---|---:|---:|" + "---:|" * len(LABELS),
    ]
    for split, row in a["split"].items():
        lines.append(f"| {split} | {row['images']} | {row['groups']} | " + " | ".join(str(row["perClass"][l]) for l in LABELS) + " |")
    conflicts = [c for c in a["clusters"] if c["labelConflict"]]
    lines += ["", f"## Labelling conflicts ({len(conflicts)})", ""]
    if not conflicts:
        lines.append("None: every cluster has one label.")
    for c in conflicts:
        lines.append(f"- {c['size']} images labelled {', '.join(c['labels'])}: " + ", ".join(f"`{f['file']}` ({f['label']})" for f in c["files"]))
    lines += ["", f"## Duplicate clusters ({len(a['clusters'])}, largest first; contact sheet: {a['contactSheet']})", ""]
    for n, c in enumerate(a["clusters"][:100]):
        lines.append(f"{n + 1}. {c['size']} images, {'/'.join(c['labels'])}, split {'/'.join(c['splits'])}, "
                     f"largest link distance {c['maxLinkDistance']}: " + ", ".join(f"`{f['file']}`" for f in c["files"]))
    if len(a["clusters"]) > 100:
        lines.append(f"... and {len(a['clusters']) - 100} more in audit.json")
    if a["crossSplitPairsGroupSplit"]:
        lines += ["", "## Near-duplicates across this split (given groups disagree with the pixels)", ""]
        lines += [f"- `{p['a']}` / `{p['b']}` (distance {p['distance']})" for p in a["crossSplitPairsGroupSplit"]]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# packs: a data folder letterboxed once, for training elsewhere (a GPU box without Node)

PACK_FORMAT = "cspine-letterboxed-pack/1"


def is_pack(path: str | Path) -> bool:
    return Path(path).suffix == ".npz" and Path(path).is_file()


def write_pack(data_dir: str | Path, out: str | Path, method: str = "auto", workers: int = 1, progress=None, compress: bool = True,
               dedup: Optional[int] = DEDUP_TOLERANCE, labels_csv: str | Path | None = None) -> dict:
    """Letterboxes every sample of a data folder (by the runtime's code unless ``method`` says
    otherwise) and stores them with labels, groups and provenance in one compressed .npz. Without
    given groups the stored groups are the near-duplicate clusters (``dedup``: tolerance, None: off),
    so a pack split on another machine is as leak-proof as the folder."""
    root = Path(data_dir)
    samples = discover(root, labels_csv)
    loaded = load_all(root, samples, method, workers=workers, progress=progress)
    images, bits, boxes, used, lesions = loaded.as_tuple()
    summary = data_summary(root, labels_csv)
    if dedup is not None and not has_given_groups(samples):
        info = auto_group(samples, loaded, dedup)
        summary["nearDuplicates"] = {"tolerance": dedup, "pairs": len(info["pairs"]), "clusters": len(info["clusters"])}
    eight_bit = bool(np.all(bits == 8))
    summary.update({"pack": PACK_FORMAT, "letterbox": used, "size": INPUT_SIZE})
    target = Path(out)
    tmp = target.with_name(target.name + ".tmp.npz")
    (np.savez_compressed if compress else np.savez)(
        tmp,
        images=images.astype(np.uint8) if eight_bit else images,
        bits=bits, boxes=boxes, lesions=lesions,
        files=np.array([s.file for s in samples]), labels=np.array([s.label for s in samples], np.int64),
        groups=np.array([s.group for s in samples]), summary=np.array(json.dumps(summary)),
    )
    os.replace(tmp, target)
    return summary


class DataSource:
    """Where samples come from: a data folder (letterboxed on load) or a pack (already done).

    For a folder without given groups, ``samples()`` letterboxes every image at once to group
    near-duplicates (``dedup``: Hamming tolerance, None: off) and keeps the pixels, so the
    ``load()`` calls that follow cost nothing more."""

    def __init__(self, path: str | Path, method: str = "auto", workers: int = 1, dedup: Optional[int] = DEDUP_TOLERANCE,
                 labels_csv: str | Path | None = None):
        self.path, self.method, self.workers, self.dedup, self.labels_csv = Path(path), method, workers, dedup, labels_csv
        self.pack = None
        self.loaded: Optional[Loaded] = None
        self.grouping: Optional[dict] = None
        if is_pack(self.path):
            with np.load(self.path) as data:
                self.pack = {key: data[key] for key in data.files}
            summary = json.loads(str(self.pack["summary"]))
            if summary.get("pack") != PACK_FORMAT or summary.get("size") != INPUT_SIZE:
                raise SystemExit(f"{self.path} is not a {PACK_FORMAT} pack of {INPUT_SIZE}×{INPUT_SIZE} images")
            self.pack_summary = summary
            self.row = {file: i for i, file in enumerate(self.pack["files"].tolist())}

    def samples(self) -> List[Sample]:
        if self.pack is not None:
            return [Sample(f, int(l), str(g)) for f, l, g in zip(self.pack["files"].tolist(), self.pack["labels"], self.pack["groups"].tolist())]
        samples = discover(self.path, self.labels_csv)
        if self.dedup is not None and not has_given_groups(samples):
            self.loaded = load_all(self.path, samples, self.method, workers=self.workers)
            self.row = {s.file: i for i, s in enumerate(samples)}
            self.grouping = auto_group(samples, self.loaded, self.dedup)
            print(grouping_line(self.grouping, samples), file=sys.stderr)
        return samples

    def load(self, samples: Sequence[Sample]):
        """(uint16 images, bits, boxes, method, lesions) of the samples, as load_images returns them."""
        if self.pack is not None:
            rows = np.array([self.row[s.file] for s in samples], np.int64)
            return (self.pack["images"][rows].astype(np.uint16), self.pack["bits"][rows], self.pack["boxes"][rows], self.pack_summary["letterbox"],
                    self.pack["lesions"][rows])
        if self.loaded is not None and all(s.file in self.row for s in samples):
            rows = np.array([self.row[s.file] for s in samples], np.int64)
            return self.loaded.images[rows], self.loaded.bits[rows], self.loaded.boxes[rows], self.loaded.method, self.loaded.lesions[rows]
        return load_images(self.path, samples, self.method, workers=self.workers)

    def summary(self) -> dict:
        if self.pack is not None:
            return self.pack_summary
        info = data_summary(self.path, self.labels_csv)
        if self.grouping is not None:
            info["nearDuplicates"] = {"tolerance": self.grouping["tolerance"], "pairs": len(self.grouping["pairs"]),
                                      "clusters": len(self.grouping["clusters"])}
        return info


# --------------------------------------------------------------------------------------------
# augmentation (training only), batched on [B,1,H,W] gray in 0..1


@dataclass
class AugmentConfig:
    rotate_deg: float = 7.0  # uniform ±
    translate: float = 0.05  # fraction of the side, uniform ±
    scale: float = 0.05  # zoom 1 ± this
    hflip: float = 0.5  # probability
    brightness: float = 0.06  # additive, uniform ±, content only
    contrast: float = 0.15  # multiplicative about the content mean, 1 ± this
    gamma: float = 0.2  # exponent in [1/(1+g), 1+g], log-uniform
    noise: float = 0.015  # Gaussian sigma, uniform in [0, this]


def lesion_masks(lesions: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """[B,4] lesion boxes in input pixels (NaN: none) → [B,1,size,size] masks, 1 inside the box."""
    dev = lesions.device
    centres = torch.arange(size, device=dev, dtype=torch.float32) + 0.5
    x, y, w, h = (lesions[:, i].view(-1, 1) for i in range(4))
    inside_x = (centres >= x) & (centres <= x + w)  # NaN compares false: no lesion, empty mask
    inside_y = (centres >= y) & (centres <= y + h)
    return (inside_y[:, :, None] & inside_x[:, None, :]).unsqueeze(1).float()


def augment_batch(x: torch.Tensor, boxes: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator, masks: Optional[torch.Tensor] = None):
    """Intensity jitter on the image content (the letterbox padding stays black, as the runtime
    makes it), then flip, rotation, translation and zoom with black fill. ``masks`` [B,k,H,W]
    (lesion masks) go through the same geometry, so they stay on the anatomy they mark.
    Returns the images, or (images, masks) when masks are given."""
    b, _, h, w = x.shape
    dev = x.device  # the generator must live on the same device

    def uniform(low: float, high: float, n: int = b) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=gen, device=dev)

    ys = torch.arange(h, device=dev).view(1, h, 1)
    xs = torch.arange(w, device=dev).view(1, 1, w)
    left, top, bw, bh = (boxes[:, i].view(b, 1, 1) for i in range(4))
    mask = ((xs >= left) & (xs < left + bw) & (ys >= top) & (ys < top + bh)).unsqueeze(1).to(x.dtype)

    gamma = torch.exp(uniform(-math.log1p(cfg.gamma), math.log1p(cfg.gamma))).view(b, 1, 1, 1)
    x = x.clamp(0, 1) ** gamma
    area = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    mean = (x * mask).sum(dim=(2, 3), keepdim=True) / area
    contrast = uniform(1 - cfg.contrast, 1 + cfg.contrast).view(b, 1, 1, 1)
    brightness = uniform(-cfg.brightness, cfg.brightness).view(b, 1, 1, 1)
    x = (x - mean) * contrast + mean + brightness
    sigma = uniform(0, cfg.noise).view(b, 1, 1, 1)
    x = x + sigma * torch.randn(x.shape, generator=gen, device=dev)
    x = (x * mask).clamp(0, 1)

    if masks is not None:
        x = torch.cat([x, masks], dim=1)
    flip = torch.rand(b, generator=gen, device=dev) < cfg.hflip
    if flip.any():
        x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)

    angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    zoom = uniform(1 - cfg.scale, 1 + cfg.scale)
    tx = uniform(-cfg.translate, cfg.translate) * 2  # affine_grid coordinates span 2
    ty = uniform(-cfg.translate, cfg.translate) * 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return x if masks is None else (x[:, :1], (x[:, 1:] > 0.5).float())


# --------------------------------------------------------------------------------------------
# check against the runtime


def check_against_runtime(root: Path, samples: Sequence[Sample], count: int = 8) -> dict:
    """Feeds `count` images through the runtime's preprocessImage (Node) and through this module
    (both methods) and returns the largest differences of the final float tensors."""
    if not runtime_available():
        raise SystemExit("the check needs node on PATH and dist/ (npm run build)")
    rasters = [s for s in samples if not is_dicom_name(s.file)]  # the pil method compared beside it cannot read DICOM
    pool = rasters or list(samples)
    picked = pool[:: max(1, len(pool) // count)][:count]
    paths = [root / s.file for s in picked]
    with tempfile.TemporaryDirectory(prefix="cspine-check-") as tmp:
        target = os.path.join(tmp, "t.f32")
        done = subprocess.run(
            ["node", str(RUNTIME_SCRIPT), "tensor", target, str(INPUT_SIZE), *map(str, paths)],
            cwd=REPO_ROOT, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        reference = torch.from_numpy(np.fromfile(target, dtype="<f4").reshape(len(paths), 3, INPUT_SIZE, INPUT_SIZE))
    result = {"images": len(paths)}
    for method in ("runtime", "pil") if rasters else ("runtime",):
        images, bits, boxes, _, _ = load_images(root, picked, method)
        data = LetterboxedImages(images, bits, boxes, [s.label for s in picked])
        ours = normalize(data.batch(torch.arange(len(data)))[0])
        diff = (ours - reference).abs()
        result[method] = {"maxAbsDiff": float(diff.max()), "meanAbsDiff": float(diff.mean())}
    return result


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Show a data folder's group split and check preprocessing against the runtime, pack it, or audit it.")
    parser.add_argument("--data", required=True)
    parser.add_argument("--labels-csv", metavar="FILE", help="file,label[,group] list of the samples (paths relative to --data), "
                        "for archives not laid out in class folders; default: DATA/labels.csv if present")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="70,15,15")
    parser.add_argument("--preprocess", default="auto", choices=["auto", "runtime", "pil"], help="letterboxing: the runtime's code (Node) or Pillow")
    parser.add_argument("--dedup-hamming", type=int, default=DEDUP_TOLERANCE, metavar="BITS",
                        help=f"without given groups, images whose pHashes differ in at most BITS of 255 are one group (default {DEDUP_TOLERANCE}; -1: off)")
    parser.add_argument("--check", type=int, default=8, metavar="N", help="images to compare with the runtime (0: skip)")
    parser.add_argument("--pack", metavar="FILE.npz", help="letterbox every image once and write them, with labels and groups, to FILE.npz "
                        "(train.py --data FILE.npz then needs neither the images nor Node)")
    parser.add_argument("--audit", metavar="OUT_DIR", help="write audit.json, audit.md and duplicates.png: near-duplicate clusters, labelling "
                        "conflicts, class balance per split, and the cross-split pairs a per-image split would have had")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Node processes letterboxing side by side (--pack)")
    parser.add_argument("--no-compress", action="store_true", help="write the pack uncompressed (faster, about twice the size)")
    args = parser.parse_args()
    root = Path(args.data)
    dedup = args.dedup_hamming if args.dedup_hamming >= 0 else None
    if args.audit:
        result = audit(root, Path(args.audit), parse_split(args.split), args.seed, args.dedup_hamming, args.preprocess, args.workers, args.labels_csv)
        cross = result["crossSplitPairs"]
        print(f"wrote {args.audit}/audit.json, audit.md, duplicates.png: {result['images']} images, {result['nearDuplicatePairs']} near-duplicate pairs "
              f"in {len(result['clusters'])} clusters, {result['labelConflicts']} labelling conflicts; cross-split near-duplicate pairs: "
              f"{cross['groupSplit']} in this split, {cross['perImageSplit']} in a per-image split")
        return
    if args.pack:
        samples = discover(root, args.labels_csv)
        bar_state = {"done": 0, "start": time.time()}

        def progress(n: int) -> None:
            bar_state["done"] += n
            frac = bar_state["done"] / len(samples)
            sys.stderr.write(f"\rpack [{'#' * int(24 * frac):-<24}] {bar_state['done']}/{len(samples)} {time.time() - bar_state['start']:.0f} s")
            sys.stderr.flush()

        summary = write_pack(root, args.pack, args.preprocess, workers=args.workers, progress=progress, compress=not args.no_compress,
                             dedup=dedup, labels_csv=args.labels_csv)
        sys.stderr.write("\n")
        print(f"wrote {args.pack}: {summary.get('count', len(samples))} images letterboxed by {summary['letterbox']}, "
              f"{Path(args.pack).stat().st_size / 1e6:.1f} MB")
        return
    source = DataSource(root, args.preprocess, args.workers, dedup, args.labels_csv)
    samples = split_by_group(source.samples(), parse_split(args.split), args.seed)
    for split in SPLITS:
        part = [s for s in samples if s.split == split]
        counts = Counter(LABELS[s.label] for s in part)
        print(f"{split:5s} {len(part):6d} images {len({s.group for s in part}):6d} groups  " + "  ".join(f"{l} {counts[l]}" for l in LABELS))
    if args.check:
        print(json.dumps(check_against_runtime(root, samples, args.check), indent=2))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
