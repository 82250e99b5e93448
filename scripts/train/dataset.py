"""Data for training: discovery, group-wise splits, runtime-exact preprocessing, augmentation.

A data folder holds one sub-folder per class (``normal/``, ``fracture/``, ``dislocation/``) and,
optionally:

* ``labels.csv`` (written by ``cspine-edge synth``): ``file,label,group,...``; ``file`` is relative
  to the folder. When present it is the list of samples;
* ``groups.csv``: ``file,group``, mapping each image to a patient/study ID. It overrides the
  ``group`` column of labels.csv. Without either, every image is its own group.

Splits are by group (no group in two splits), stratified by class, deterministic by seed.

Preprocessing is the runtime's (``src/imaging/preprocess.ts``): gray at native depth, letterbox into
224×224 (fit inside keeping aspect, pad black, centred; Lanczos 3), samples ÷255 or ÷65535, then
``(x - mean) / std`` per channel with ImageNet mean/std, the gray plane repeated into 3 channels,
NCHW float32. By default the letterboxing is done by the runtime's own code
(``runtime_preprocess.mjs``, through Node), so training sees bit-for-bit what the service feeds the
model; ``--preprocess pil`` is a pure-Python fallback (same geometry, Pillow's Lanczos, which
differs from libvips' by about 0.5 gray levels of 255 on average).

Run it to see the splits and check the preprocessing against the runtime::

    /usr/bin/python3 scripts/train/dataset.py --data DIR [--seed 0] [--check 8]

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
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"}  # what the runtime decodes
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


def discover(data_dir: str | Path) -> List[Sample]:
    """The samples of a data folder: labels.csv if present, else the class sub-folders."""
    root = Path(data_dir)
    if not root.is_dir():
        raise SystemExit(f"data folder {root} does not exist")
    samples: List[Sample] = []
    labels_csv = root / "labels.csv"
    if labels_csv.is_file():
        with open(labels_csv, newline="") as handle:
            for row in csv.DictReader(handle):
                label = row["label"]
                if label not in LABELS:
                    raise SystemExit(f"{labels_csv}: unknown label {label!r} for {row['file']} (expected one of {LABELS})")
                group = row.get("group") or row["file"]
                samples.append(Sample(row["file"], LABELS.index(label), f"g:{group}", lesion=_lesion(row)))
        missing = [s.file for s in samples if not (root / s.file).is_file()]
        if missing:
            raise SystemExit(f"{labels_csv} names {len(missing)} missing files, e.g. {missing[:3]}")
    else:
        subdirs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        unknown = [d for d in subdirs if d not in LABELS]
        if unknown:
            print(f"warning: ignoring sub-folders that are not class names {LABELS}: {unknown}", file=sys.stderr)
        for label in LABELS:
            folder = root / label
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("."):
                    rel = path.relative_to(root).as_posix()
                    samples.append(Sample(rel, LABELS.index(label), f"f:{rel}"))
    if not samples:
        raise SystemExit(f"no images in {root}: expected {'/'.join(LABELS)} sub-folders (or labels.csv)")

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


def write_split_csv(samples: List[Sample], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "group", "split"])
        for s in samples:
            writer.writerow([s.file, LABELS[s.label], s.group.split(":", 1)[1], s.split])


def data_summary(data_dir: str | Path) -> dict:
    """What a data folder is, for provenance: synthetic run seeds (and their variation) from labels.csv, counts."""
    root = Path(data_dir)
    info: dict = {"path": str(root.resolve())}
    labels_csv = root / "labels.csv"
    if labels_csv.is_file():
        with open(labels_csv, newline="") as handle:
            rows = list(csv.DictReader(handle))
        seeds = sorted({r.get("seed", "") for r in rows if r.get("seed")}, key=lambda v: (len(v), v))
        sizes = set()
        info.update({"source": "labels.csv", "synthSeeds": [int(s) if s.isdigit() else s for s in seeds], "count": len(rows)})
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


def _letterbox_chunk(part: Sequence[str], size: int) -> Tuple[np.ndarray, List[int]]:
    with tempfile.TemporaryDirectory(prefix="cspine-pre-") as tmp:
        target = os.path.join(tmp, "gray.u16")
        done = subprocess.run(
            ["node", str(RUNTIME_SCRIPT), "gray", target, str(size), *part],
            cwd=REPO_ROOT, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"runtime preprocessing failed: {done.stderr.strip() or done.stdout.strip()}")
        bits = json.loads(done.stdout.strip().splitlines()[-1])["bits"]
        return np.fromfile(target, dtype="<u2").reshape(len(part), size, size), bits


def letterbox_runtime(paths: Sequence[Path], size: int = INPUT_SIZE, chunk: int = 256, workers: int = 1, progress=None) -> Tuple[np.ndarray, List[int]]:
    """Letterboxed gray samples by the runtime's own code (Node + sharp), [N,size,size] uint16.
    ``workers`` Node processes run side by side; ``progress(n)`` is called as chunks finish."""
    from concurrent.futures import ThreadPoolExecutor

    out = np.zeros((len(paths), size, size), np.uint16)
    bits: List[int] = [0] * len(paths)
    starts = list(range(0, len(paths), chunk))

    def run(start: int) -> int:
        part = [str(p) for p in paths[start : start + chunk]]
        out[start : start + len(part)], bits[start : start + len(part)] = _letterbox_chunk(part, size)
        return len(part)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for n in pool.map(run, starts):
            if progress is not None:
                progress(n)
    return out, bits


def load_images(root: Path, samples: Sequence[Sample], method: str = "auto", size: int = INPUT_SIZE, workers: int = 1, progress=None):
    """All samples letterboxed, in memory: (uint16 [N,size,size], bits [N], content boxes [N,4], method,
    lesions [N,4]). The content box (left, top, width, height) is the image inside the black
    letterbox padding; a lesion (x, y, width, height) is the labelled abnormal region moved into
    model-input pixels, NaN where a sample has none."""
    if method == "auto":
        method = "runtime" if runtime_available() else "pil"
    paths = [root / s.file for s in samples]
    if method == "runtime":
        if not runtime_available():
            raise SystemExit("--preprocess runtime needs node on PATH and dist/ (npm run build)")
        images, bits = letterbox_runtime(paths, size, workers=workers, progress=progress)
    elif method == "pil":
        images = np.zeros((len(paths), size, size), np.uint16)
        bits = []
        for i, path in enumerate(paths):
            images[i], b = letterbox_pil(path, size)
            bits.append(b)
            if progress is not None:
                progress(1)
    else:
        raise SystemExit(f"unknown preprocessing {method!r} (auto, runtime or pil)")
    boxes = np.zeros((len(paths), 4), np.int32)
    lesions = np.full((len(paths), 4), np.nan, np.float32)
    from PIL import Image

    for i, (path, sample) in enumerate(zip(paths, samples)):
        with Image.open(path) as im:
            w, h = im.size
            if (im.getexif() or {}).get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation swaps sides
                w, h = h, w
        boxes[i] = letterbox_geometry(w, h, size)
        if sample.lesion is not None:
            left, top, new_w, new_h = boxes[i]
            x, y, bw, bh = sample.lesion
            lesions[i] = (left + x * new_w / w, top + y * new_h / h, bw * new_w / w, bh * new_h / h)
    return images, np.array(bits, np.int32), boxes, method, lesions


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
# packs: a data folder letterboxed once, for training elsewhere (a GPU box without Node)

PACK_FORMAT = "cspine-letterboxed-pack/1"


def is_pack(path: str | Path) -> bool:
    return Path(path).suffix == ".npz" and Path(path).is_file()


def write_pack(data_dir: str | Path, out: str | Path, method: str = "auto", workers: int = 1, progress=None, compress: bool = True) -> dict:
    """Letterboxes every sample of a data folder (by the runtime's code unless ``method`` says
    otherwise) and stores them with labels, groups and provenance in one compressed .npz."""
    root = Path(data_dir)
    samples = discover(root)
    images, bits, boxes, used, lesions = load_images(root, samples, method, workers=workers, progress=progress)
    eight_bit = bool(np.all(bits == 8))
    summary = data_summary(root)
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
    """Where samples come from: a data folder (letterboxed on load) or a pack (already done)."""

    def __init__(self, path: str | Path, method: str = "auto", workers: int = 1):
        self.path, self.method, self.workers = Path(path), method, workers
        self.pack = None
        if is_pack(self.path):
            with np.load(self.path) as data:
                self.pack = {key: data[key] for key in data.files}
            summary = json.loads(str(self.pack["summary"]))
            if summary.get("pack") != PACK_FORMAT or summary.get("size") != INPUT_SIZE:
                raise SystemExit(f"{self.path} is not a {PACK_FORMAT} pack of {INPUT_SIZE}×{INPUT_SIZE} images")
            self.pack_summary = summary
            self.row = {file: i for i, file in enumerate(self.pack["files"].tolist())}

    def samples(self) -> List[Sample]:
        if self.pack is None:
            return discover(self.path)
        return [Sample(f, int(l), str(g)) for f, l, g in zip(self.pack["files"].tolist(), self.pack["labels"], self.pack["groups"].tolist())]

    def load(self, samples: Sequence[Sample]):
        """(uint16 images, bits, boxes, method, lesions) of the samples, as load_images returns them."""
        if self.pack is None:
            return load_images(self.path, samples, self.method, workers=self.workers)
        rows = np.array([self.row[s.file] for s in samples], np.int64)
        return (self.pack["images"][rows].astype(np.uint16), self.pack["bits"][rows], self.pack["boxes"][rows], self.pack_summary["letterbox"],
                self.pack["lesions"][rows])

    def summary(self) -> dict:
        return self.pack_summary if self.pack is not None else data_summary(self.path)


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
    picked = list(samples)[:: max(1, len(samples) // count)][:count]
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
    for method in ("runtime", "pil"):
        images, bits, boxes, _, _ = load_images(root, picked, method)
        data = LetterboxedImages(images, bits, boxes, [s.label for s in picked])
        ours = normalize(data.batch(torch.arange(len(data)))[0])
        diff = (ours - reference).abs()
        result[method] = {"maxAbsDiff": float(diff.max()), "meanAbsDiff": float(diff.mean())}
    return result


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Show a data folder's group split and check preprocessing against the runtime, or pack it.")
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="70,15,15")
    parser.add_argument("--check", type=int, default=8, metavar="N", help="images to compare with the runtime (0: skip)")
    parser.add_argument("--pack", metavar="FILE.npz", help="letterbox every image once and write them, with labels and groups, to FILE.npz "
                        "(train.py --data FILE.npz then needs neither the images nor Node)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Node processes letterboxing side by side (--pack)")
    parser.add_argument("--no-compress", action="store_true", help="write the pack uncompressed (faster, about twice the size)")
    args = parser.parse_args()
    root = Path(args.data)
    if args.pack:
        samples = discover(root)
        bar_state = {"done": 0, "start": time.time()}

        def progress(n: int) -> None:
            bar_state["done"] += n
            frac = bar_state["done"] / len(samples)
            sys.stderr.write(f"\rpack [{'#' * int(24 * frac):-<24}] {bar_state['done']}/{len(samples)} {time.time() - bar_state['start']:.0f} s")
            sys.stderr.flush()

        summary = write_pack(root, args.pack, workers=args.workers, progress=progress, compress=not args.no_compress)
        sys.stderr.write("\n")
        print(f"wrote {args.pack}: {summary.get('count', len(samples))} images letterboxed by {summary['letterbox']}, "
              f"{Path(args.pack).stat().st_size / 1e6:.1f} MB")
        return
    samples = split_by_group(discover(root), parse_split(args.split), args.seed)
    for split in SPLITS:
        part = [s for s in samples if s.split == split]
        counts = Counter(LABELS[s.label] for s in part)
        print(f"{split:5s} {len(part):6d} images {len({s.group for s in part}):6d} groups  " + "  ".join(f"{l} {counts[l]}" for l in LABELS))
    if args.check:
        print(json.dumps(check_against_runtime(root, samples, args.check), indent=2))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
