"""Train AlexNet or GoogLeNet on a folder of class sub-folders (see docs/training.md).

    /usr/bin/python3 scripts/train/train.py --data DIR --out runs/alexnet \
        [--arch alexnet_bn --epochs 9 --batch 16 --lr 0.006 --seed 1] [--test-data DIR ...] [--init PATH] [--resume]

Writes to --out: checkpoint.pt (the last finished epoch: model, optimizer, scheduler, RNG states;
--resume continues from it), best.pt (the best epoch's weights), split.csv (which file went
where) and metrics.json (per-epoch curves, best epoch, temperature, evaluation, provenance).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset as ds  # noqa: E402
import models  # noqa: E402

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
METRICS = "metrics.json"
# options that may differ from the saved ones when resuming (the rest must match)
RESUMABLE_OVERRIDES = ("epochs", "patience", "threads", "test_data", "eval_batch", "device", "workers", "time_budget")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of class sub-folders (+ labels.csv / groups.csv), or a pack made by dataset.py --pack")
    p.add_argument("--arch", choices=models.ARCHS, default="alexnet_bn", help="alexnet_bn (from scratch), alexnet (torchvision's, for --init with ImageNet weights), googlenet")
    p.add_argument("--out", required=True, help="run folder (created)")
    p.add_argument("--epochs", type=int, default=9)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.006, help="peak learning rate (after warm-up)")
    p.add_argument("--seed", type=int, default=1, help="training seed (init, data order, augmentation, dropout)")
    p.add_argument("--split-seed", type=int, default=None, help="seed of the group split (default: --seed)")
    p.add_argument("--split", default="70,15,15", help="train,val,test shares by group (default 70,15,15)")
    p.add_argument("--test-data", action="append", default=[], metavar="DIR", help="extra held-out folder(s) or pack(s), evaluated with the best model; repeatable")
    p.add_argument("--init", default=None, metavar="PATH", help="local ImageNet state_dict to start from (final layer skipped)")
    p.add_argument("--resume", action="store_true", help=f"continue from OUT/{CHECKPOINT}")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4, help="on weights, not on biases or batch-norm")
    p.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up from lr/10, then cosine to lr/100")
    p.add_argument("--clip", type=float, default=5.0, help="gradient-norm clip (0: off)")
    p.add_argument("--patience", type=int, default=3, help="epochs without a better validation score before stopping")
    p.add_argument("--monitor", choices=("loss", "acc"), default="loss", help="validation score for best checkpoint and early stopping")
    p.add_argument("--dropout", type=float, default=None, help="classifier dropout (default torchvision's: 0.5 AlexNet, 0.2 GoogLeNet)")
    p.add_argument("--alexnet-init", choices=("lecun", "kaiming", "torchvision"), default="lecun", help="AlexNet initialisation (see models.py)")
    p.add_argument("--cam-weight", type=float, default=0.0,
                   help="AlexNet: weight of the CAM supervision loss, which pulls the Grad-CAM of the true class into the labelled lesion box "
                        "(labels.csv box_*; images without a box add nothing). 0: off (docs/training.md)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--hflip", type=float, default=0.5, help="horizontal-flip probability in augmentation")
    p.add_argument("--preprocess", choices=("auto", "runtime", "pil"), default="auto", help="letterbox by the runtime's code (Node) or Pillow")
    p.add_argument("--labels-csv", metavar="FILE", default=None, help="file,label[,group] list of the samples kept outside --data (paths relative to it)")
    p.add_argument("--dedup-hamming", type=int, default=ds.DEDUP_TOLERANCE, metavar="BITS",
                   help=f"near-duplicates within BITS of 255 share a group when none is given (default {ds.DEDUP_TOLERANCE}; -1: off; docs/training.md)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--workers", type=int, default=2, help="Node processes letterboxing a data folder side by side")
    p.add_argument("--time-budget", type=float, default=0, metavar="MINUTES",
                   help="fit the run into this many minutes: after epochs 1 and 2, set --epochs to what fits, at most the number asked for, "
                        "and re-shape the lr schedule (0: off)")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA when PyTorch sees a GPU, else CPU), cpu, cuda, cuda:1 ...")
    p.add_argument("--eval-batch", type=int, default=32)
    p.add_argument("--benchmark", type=int, default=0, metavar="STEPS", help="time STEPS training steps and a validation pass, print the run's expected duration, exit")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------
# small utilities


class Progress:
    """A one-line progress bar on stderr (tqdm is not installed with Debian's PyTorch)."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.n = total, desc, 0
        self.start = self.last = time.time()
        self.tty = sys.stderr.isatty()
        self.next_mark = 0.25
        self.postfix = ""

    def update(self, n: int = 1, **postfix) -> None:
        self.n += n
        if postfix:
            self.postfix = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in postfix.items())
        now = time.time()
        if self.tty and (now - self.last > 0.5 or self.n == self.total):
            self.last = now
            sys.stderr.write("\r" + self.line(now) + "\033[K")
            sys.stderr.flush()
        elif not self.tty and self.n >= self.next_mark * self.total:
            self.next_mark += 0.25
            sys.stderr.write(self.line(now) + "\n")
            sys.stderr.flush()

    def line(self, now: float) -> str:
        elapsed = now - self.start
        frac = self.n / max(1, self.total)
        eta = elapsed / frac - elapsed if frac > 0 else 0
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        return f"{self.desc} [{bar}] {self.n}/{self.total} {fmt_s(elapsed)}<{fmt_s(eta)} {self.postfix}"

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def git_commit() -> Optional[str]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ds.REPO_ROOT, capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() or None if commit.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class LrSchedule:
    """Multiplier of the peak lr at optimizer step s: linear 0.1 → 1 over the warm-up, then cosine 1 → 0.01.
    An object, not a closure, so that LambdaLR saves it in checkpoints and --time-budget can shorten it."""

    def __init__(self, total_steps: int, warmup_steps: int):
        self.total_steps, self.warmup_steps = total_steps, warmup_steps

    def __call__(self, step: int) -> float:
        if self.warmup_steps > 0 and step < self.warmup_steps:
            return 0.1 + 0.9 * step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))


def param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (decay if param.ndim > 1 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------------------------
# evaluation


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


CAM_SOFTMAX_SCALE = 10.0  # the max-normalised map ×10 before the softmax over cells: peaked, not one-hot


def forward_with_cam_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, masks: torch.Tensor):
    """Training logits (dropout on) and the CAM supervision loss: −log of the softmax mass that the
    true class's Grad-CAM (the exported map, before its ReLU, scaled by its largest magnitude) puts
    on the cells whose centres lie in the lesion mask (the cell that the mask covers most when no
    centre does). Only abnormal images whose mask survived augmentation count."""
    pool = models.last_pool_index(model)
    a = model.features[:pool](x)
    logits = model.classifier(torch.flatten(model.avgpool(model.features[pool](a)), 1))
    size = a.shape[-1]
    coverage = F.adaptive_avg_pool2d(masks, size).flatten(1)  # [B,cells], the runtime's stretch of the map over the input
    centres = ((torch.arange(size, device=x.device) + 0.5) * (x.shape[-1] / size)).long()
    target = masks[:, 0][:, centres][:, :, centres].flatten(1) > 0.5
    fallback = (coverage == coverage.max(dim=1, keepdim=True).values) & (coverage > 0)
    target = torch.where(target.any(dim=1, keepdim=True), target, fallback)
    used = target.any(dim=1) & (y != 0)
    if not used.any():
        return logits, logits.sum() * 0.0
    _, raw = models.alexnet_gradcam(model, a[used], y[used])
    raw = raw.flatten(1)
    scaled = CAM_SOFTMAX_SCALE * raw / (raw.abs().max(dim=1, keepdim=True).values + 1e-6)
    log_p = F.log_softmax(scaled, dim=1)
    inside = torch.logsumexp(log_p.masked_fill(~target[used], float("-inf")), dim=1)
    return logits, -inside.mean()


def cam_peak_inside(cam: torch.Tensor, lesions: torch.Tensor) -> torch.Tensor:
    """Whether each CAM's peak lies in its lesion box (input pixels): 1/0, NaN without a box. The
    peak cell maps to input pixels as the runtime maps it (src/imaging/heatmap.ts): the map
    stretched over the whole input, the cell's centre."""
    b, h, w = cam.shape
    best = cam.flatten(1).argmax(dim=1)
    px = ((best % w).float() + 0.5) * (ds.INPUT_SIZE / w)
    py = ((best // w).float() + 0.5) * (ds.INPUT_SIZE / h)
    x, y, bw, bh = lesions.unbind(1)
    inside = ((px >= x) & (px <= x + bw) & (py >= y) & (py <= y + bh)).float()
    return torch.where(torch.isnan(x), torch.full_like(inside, float("nan")), inside)


@torch.no_grad()
def predict(model: torch.nn.Module, data: ds.LetterboxedImages, batch: int, desc: str):
    """(logits, labels, CAM peak in the lesion box: 1/0/NaN) through the export's CAM wrapper."""
    model.eval()
    wrapper = models.cam_wrapper(models.arch_of(model), model)
    bar = Progress(math.ceil(len(data) / batch), desc)
    logits, labels, inside = [], [], []
    for x, y, _, lesions in data.batches(batch):
        out, cam = wrapper(ds.normalize(x).to(model_device(model)))
        logits.append(out.float().cpu())
        labels.append(y.cpu())
        inside.append(cam_peak_inside(cam, lesions.to(cam.device)).cpu())
        bar.update()
    bar.close()
    return torch.cat(logits), torch.cat(labels), torch.cat(inside)


def localisation(labels: torch.Tensor, inside: torch.Tensor) -> Optional[dict]:
    """CAM localisation as the evaluation command defines it: abnormal images with a box."""
    counted = (labels != 0) & ~torch.isnan(inside)
    n = int(counted.sum())
    if n == 0:
        return None
    k = int(inside[counted].sum())
    return {"evaluated": n, "inside": k, "share": round(k / n, 5)}


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    total = 0.0
    edges = torch.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.float().mean().item() * abs(conf[inside].mean().item() - correct[inside].mean().item())
    return total


def summarise(logits: torch.Tensor, labels: torch.Tensor, inside: Optional[torch.Tensor] = None, temperature: float = 1.0) -> dict:
    n = len(labels)
    if n == 0:
        return {"n": 0}
    pred = logits.argmax(dim=1)
    confusion = torch.zeros(len(ds.LABELS), len(ds.LABELS), dtype=torch.long)
    for t, p in zip(labels.tolist(), pred.tolist()):
        confusion[t, p] += 1
    recall = {ds.LABELS[i]: (confusion[i, i].item() / confusion[i].sum().item()) if confusion[i].sum() > 0 else None for i in range(len(ds.LABELS))}
    abnormal_true, abnormal_pred = labels != 0, pred != 0
    sens = (abnormal_true & abnormal_pred).sum().item() / max(1, abnormal_true.sum().item())
    spec = (~abnormal_true & ~abnormal_pred).sum().item() / max(1, (~abnormal_true).sum().item())
    out = {
        "n": n,
        "accuracy": round((pred == labels).float().mean().item(), 5),
        "recall": {k: None if v is None else round(v, 5) for k, v in recall.items()},
        "abnormalSensitivity": round(sens, 5),
        "normalSpecificity": round(spec, 5),
        "nll": round(F.cross_entropy(logits, labels).item(), 5),
        "ece": round(ece(F.softmax(logits, 1), labels), 5),
        "confusion": {"rows": "true", "cols": "predicted", "labels": ds.LABELS, "matrix": confusion.tolist()},
        "camLocalisation": None if inside is None else localisation(labels, inside),
    }
    if temperature != 1.0:
        out["nllCalibrated"] = round(F.cross_entropy(logits / temperature, labels).item(), 5)
        out["eceCalibrated"] = round(ece(F.softmax(logits / temperature, 1), labels), 5)
    return out


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature scaling (Guo et al. 2017): T minimising the NLL of softmax(logits / T) on the
    validation set, by LBFGS on log T; clamped to [0.05, 20]."""
    if len(labels) == 0:
        return 1.0
    if bool((logits.argmax(dim=1) == labels).all()):
        # No validation errors: the NLL falls without bound as T → 0, so a fitted T < 1 would be
        # sharpening learnt from zero mistakes, which makes doubtful inputs look certain.
        return 1.0
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    t = float(log_t.exp().item())
    if not math.isfinite(t):
        return 1.0
    return min(20.0, max(0.05, t))


# --------------------------------------------------------------------------------------------
# the run


def make_dataset(source: ds.DataSource, samples: List[ds.Sample], what: str, device: torch.device):
    started = time.time()
    images, bits, boxes, used, lesions = source.load(samples)
    print(f"{what}: {len(samples)} images letterboxed by {used} in {time.time() - started:.1f} s", file=sys.stderr)
    return ds.LetterboxedImages(images, bits, boxes, [s.label for s in samples], device, lesions), used


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)

    checkpoint = None
    if args.resume:
        path = out / CHECKPOINT
        if not path.is_file():
            raise SystemExit(f"--resume: no {path}")
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # our own file, with RNG states
        saved = argparse.Namespace(**checkpoint["args"])
        given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
        for key, value in vars(args).items():
            flag = "--" + key.replace("_", "-")
            if key in RESUMABLE_OVERRIDES and flag in given:
                setattr(saved, key, value)
            elif flag in given and key not in ("resume", "out") and getattr(saved, key, None) != value:
                print(f"warning: --resume keeps the saved {flag} {getattr(saved, key, None)!r}, not {value!r}", file=sys.stderr)
        saved.resume, saved.out, saved.benchmark = True, args.out, 0
        args = saved
        torch.set_num_threads(args.threads)
    split_seed = args.seed if args.split_seed is None else args.split_seed

    # ---- data
    # getattr: a run resumed from a checkpoint made before these options has none saved
    tolerance = getattr(args, "dedup_hamming", ds.DEDUP_TOLERANCE)
    source = ds.DataSource(args.data, args.preprocess, getattr(args, "workers", 2), tolerance if tolerance >= 0 else None, getattr(args, "labels_csv", None))
    samples = ds.split_by_group(source.samples(), ds.parse_split(args.split), split_seed)
    ds.write_split_csv(samples, out / "split.csv")
    by_split = {name: [s for s in samples if s.split == name] for name in ds.SPLITS}
    for name in ds.SPLITS:
        info = ds.split_info(samples, name)
        print(f"{name:5s} {info['images']:6d} images {info['groups']:6d} groups  {info['perClass']}", file=sys.stderr)
    if not by_split["train"] or not by_split["val"]:
        raise SystemExit("need images in both the train and the val split (more data, or another --split)")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if getattr(args, "device", "auto") == "auto" else args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    train_data, method = make_dataset(source, by_split["train"], "train", device)
    val_data, _ = make_dataset(source, by_split["val"], "val", device)
    # opened once: a pack is read whole, and metrics.json is rewritten every epoch
    test_sources = [ds.DataSource(d, method, getattr(args, "workers", 2)) for d in args.test_data]
    test_summaries = [t.summary() for t in test_sources]

    # ---- model, optimiser, schedule
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    config = models.model_config(args.arch, args)
    model = models.build_from_config(config)
    init_report = None
    if args.init and checkpoint is None:
        init_report = models.load_init(model, args.arch, args.init, log=lambda m: print(m, file=sys.stderr))
    steps_per_epoch = math.ceil(len(train_data) / args.batch)
    warmup_steps = int(round(args.warmup_epochs * steps_per_epoch))
    schedule = LrSchedule(steps_per_epoch * args.epochs, warmup_steps)
    run_started = time.time()
    model.to(device)
    print(f"training on {device}", file=sys.stderr)
    optimizer = torch.optim.SGD(param_groups(model, args.weight_decay), lr=args.lr, momentum=args.momentum)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    augment = None if args.no_augment else ds.AugmentConfig(hflip=args.hflip)
    cam_weight = getattr(args, "cam_weight", 0.0)
    if cam_weight > 0 and args.arch not in models.ALEXNETS:
        raise SystemExit(f"--cam-weight is for AlexNet; {args.arch}'s map comes from its classifier weights alone")

    history: List[dict] = []
    best = {"epoch": 0, "valLoss": float("inf"), "valAcc": -1.0}
    bad_epochs, start_epoch, stopped_early, train_seconds = 0, 1, False, 0.0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        schedule.total_steps = steps_per_epoch * args.epochs  # --epochs may be given anew when resuming
        history, best, bad_epochs = checkpoint["history"], checkpoint["best"], checkpoint["bad_epochs"]
        start_epoch, stopped_early = checkpoint["epoch"] + 1, checkpoint.get("stopped_early", False)
        train_seconds = checkpoint.get("train_seconds", 0.0)
        init_report = checkpoint.get("init_report")
        set_rng_state(checkpoint["rng"])
        print(f"resumed from {out / CHECKPOINT} after epoch {checkpoint['epoch']} (best epoch {best['epoch']})", file=sys.stderr)

    def train_epoch(epoch: int, max_steps: Optional[int] = None) -> dict:
        model.train()
        order_gen = torch.Generator().manual_seed(args.seed * 100003 + epoch)
        aug_gen = torch.Generator(device=device).manual_seed(args.seed * 100019 + epoch)
        order = torch.randperm(len(train_data), generator=order_gen)
        bar = Progress(min(steps_per_epoch, max_steps or steps_per_epoch), f"epoch {epoch}/{args.epochs} train")
        loss_sum, correct, seen = 0.0, 0, 0
        for step, (x, y, boxes, lesions) in enumerate(train_data.batches(args.batch, order)):
            if max_steps is not None and step >= max_steps:
                break
            masks = ds.lesion_masks(lesions) if cam_weight > 0 else None
            if augment is not None:
                x = ds.augment_batch(x, boxes, augment, aug_gen, masks)
                if masks is not None:
                    x, masks = x
            x = ds.normalize(x)
            if masks is None:
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            else:
                logits, cam_loss = forward_with_cam_loss(model, x, y, masks)
                loss = F.cross_entropy(logits, y) + cam_weight * cam_loss
            if not torch.isfinite(loss):
                raise SystemExit(f"training diverged (loss {loss.item()}) at epoch {epoch} step {step}: lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(y)  # .item() syncs with the GPU once a step, which costs little at these sizes
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.update(loss=loss_sum / seen, acc=correct / seen, lr=optimizer.param_groups[0]["lr"])
        bar.close()
        return {"trainLoss": loss_sum / max(1, seen), "trainAcc": correct / max(1, seen), "images": seen}

    # ---- benchmark: time a few steps, extrapolate
    if args.benchmark:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        train_epoch(1, max_steps=1)  # warm-up step, not timed
        started = time.time()
        done = train_epoch(1, max_steps=args.benchmark)
        per_image = (time.time() - started) / done["images"]
        val_count = min(len(val_data), 2 * args.eval_batch)
        started = time.time()
        predict(model, val_data.subset(val_count), args.eval_batch, "val")
        per_val_image = (time.time() - started) / val_count
        model.load_state_dict(state)
        epoch_s = per_image * len(train_data) + per_val_image * len(val_data)
        report = {
            "trainSecondsPerImage": round(per_image, 4),
            "evalSecondsPerImage": round(per_val_image, 4),
            "trainImages": len(train_data),
            "valImages": len(val_data),
            "epochSeconds": round(epoch_s),
            "epochs": args.epochs,
            "runSeconds": round(epoch_s * args.epochs),
            "threads": args.threads,
            "batch": args.batch,
        }
        print(json.dumps(report), flush=True)
        print(f"about {fmt_s(epoch_s)} per epoch, {fmt_s(epoch_s * args.epochs)} for {args.epochs} epochs "
              f"(+ test evaluation and temperature fit, ~{fmt_s(per_val_image * (len(by_split['test']) + len(val_data)))})", file=sys.stderr)
        return 0

    # ---- epochs
    requested_epochs = args.epochs

    def fit_epochs_to_budget(epoch: int, epoch_seconds: float) -> None:
        """Sets args.epochs to what the time budget still holds (10% kept for the final
        evaluation), at most the requested number, and re-shapes the cosine schedule over them.
        Called after the first two epochs: the first one pays for warm-up (cuDNN autotuning)."""
        left = args.time_budget * 60 * 0.9 - (time.time() - run_started)
        at_least = epoch + 1 if epoch == start_epoch else epoch  # the second epoch measures again
        fits = min(requested_epochs, max(at_least, epoch + int(left // epoch_seconds)))
        if fits != args.epochs:
            print(f"--time-budget {args.time_budget:g} min: {fmt_s(epoch_seconds)} an epoch, so {fits} epochs (asked for {requested_epochs})", file=sys.stderr)
            args.epochs = fits
            schedule.total_steps = steps_per_epoch * fits

    def metrics_doc(extra: Optional[dict] = None) -> dict:
        doc = {
            "arch": args.arch,
            "modelConfig": config,
            "labels": ds.LABELS,
            "args": {k: v for k, v in vars(args).items()},
            "seeds": {"train": args.seed, "split": split_seed},
            "data": source.summary(),
            "testData": test_summaries,
            "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
            "preprocess": {"letterbox": method, "resize": "letterbox", "size": ds.INPUT_SIZE, "mean": ds.MEAN, "std": ds.STD},
            "splits": {name: ds.split_info(samples, name) for name in ds.SPLITS},
            "stepsPerEpoch": steps_per_epoch,
            "epochs": history,
            "bestEpoch": best["epoch"],
            "best": best,
            "stoppedEarly": stopped_early,
            "trainingSeconds": round(train_seconds, 1),
            "init": init_report,
            "torch": torch.__version__,
            "torchvision": __import__("torchvision").__version__,
            "python": platform.python_version(),
            "threads": args.threads,
            "commit": git_commit(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        doc.update(extra or {})
        return doc

    for epoch in range(start_epoch, args.epochs + 1):
        if stopped_early or epoch > args.epochs:  # --time-budget may have lowered args.epochs
            break
        started = time.time()
        train = train_epoch(epoch)
        val_logits, val_labels, val_inside = predict(model, val_data, args.eval_batch, f"epoch {epoch}/{args.epochs} val")
        val_loss = F.cross_entropy(val_logits, val_labels).item()
        val_cam = localisation(val_labels, val_inside)
        val_acc = (val_logits.argmax(1) == val_labels).float().mean().item()
        seconds = time.time() - started
        train_seconds += seconds
        if epoch - start_epoch < 2 and getattr(args, "time_budget", 0) > 0:
            fit_epochs_to_budget(epoch, seconds)
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "trainLoss": round(train["trainLoss"], 5), "trainAcc": round(train["trainAcc"], 5),
               "valLoss": round(val_loss, 5), "valAcc": round(val_acc, 5),
               "valCam": val_cam["share"] if val_cam else None, "seconds": round(seconds, 1)}
        history.append(row)
        if args.monitor == "loss":
            improved = val_loss < best["valLoss"] - 1e-4
        else:
            improved = val_acc > best["valAcc"] or (val_acc == best["valAcc"] and val_loss < best["valLoss"])
        if improved:
            best = {"epoch": epoch, "valLoss": round(val_loss, 5), "valAcc": round(val_acc, 5)}
            bad_epochs = 0
            atomic_save({"model": model.state_dict(), "config": config, "epoch": epoch, "args": vars(args)}, out / BEST)
        else:
            bad_epochs += 1
        stopped_early = bad_epochs >= args.patience and epoch < args.epochs
        cam_text = f" cam {val_cam['share']:.3f}" if val_cam else ""
        print(f"epoch {epoch:3d}/{args.epochs}  train loss {train['trainLoss']:.4f} acc {train['trainAcc']:.3f} | "
              f"val loss {val_loss:.4f} acc {val_acc:.3f}{cam_text} | lr {row['lr']:.2e} | {fmt_s(seconds)}"
              f"{' | best' if improved else f' | no better for {bad_epochs}'}{' | stopping early' if stopped_early else ''}", flush=True)
        atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
                     "rng": rng_state(), "history": history, "best": best, "bad_epochs": bad_epochs, "stopped_early": stopped_early,
                     "args": vars(args), "config": config, "train_seconds": train_seconds, "init_report": init_report}, out / CHECKPOINT)
        write_json(metrics_doc({"finished": False}), out / METRICS)

    # ---- best model: temperature on val, evaluation
    if not (out / BEST).is_file():
        raise SystemExit("no epoch finished; nothing to evaluate")
    model.load_state_dict(torch.load(out / BEST, map_location="cpu", weights_only=False)["model"])
    val_logits, val_labels, val_inside = predict(model, val_data, args.eval_batch, "best model: val")
    temperature = fit_temperature(val_logits, val_labels)
    evaluation: Dict[str, dict] = {"val": summarise(val_logits, val_labels, val_inside, temperature)}
    if by_split["test"]:
        test_data, _ = make_dataset(source, by_split["test"], "test", device)
        evaluation["test"] = summarise(*predict(model, test_data, args.eval_batch, "best model: test"), temperature)
    for extra, extra_source in zip(args.test_data, test_sources):
        extra_samples = extra_source.samples()
        name = Path(extra).stem if ds.is_pack(extra) else Path(extra).name
        if f"external:{name}" in evaluation:  # a pack and its folder share a name: keep both reports
            name = extra
        extra_data, _ = make_dataset(extra_source, extra_samples, f"test data {extra}", device)
        evaluation[f"external:{name}"] = summarise(*predict(model, extra_data, args.eval_batch, f"best model: {name}"), temperature)
    write_json(metrics_doc({"finished": True, "temperature": round(temperature, 5), "evaluation": evaluation}), out / METRICS)
    print(f"best epoch {best['epoch']} (val loss {best['valLoss']:.4f}, acc {best['valAcc']:.3f}); temperature {temperature:.3f}", flush=True)
    for name, summary in evaluation.items():
        if summary.get("n"):
            print(f"  {name:>12s}: n {summary['n']:5d}  accuracy {summary['accuracy']:.4f}  abnormal sensitivity {summary['abnormalSensitivity']:.4f}  "
                  f"normal specificity {summary['normalSpecificity']:.4f}  NLL {summary['nll']:.4f}"
                  + (f" → {summary['nllCalibrated']:.4f} calibrated" if "nllCalibrated" in summary else "")
                  + (f"  CAM localisation {summary['camLocalisation']['share']:.4f}" if summary.get("camLocalisation") else ""), flush=True)
    print(f"wrote {out / BEST}, {out / METRICS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
