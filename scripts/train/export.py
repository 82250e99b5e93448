"""Export a trained model to an ONNX model package the runtime loads (docs/model-package.md).

    /usr/bin/python3 scripts/train/export.py --run runs/alexnet --out models/cspine-alexnet-demo \
        [--id cspine-alexnet-demo] [--file model.onnx] [--opset 17] [--image some.png]

Reads RUN/best.pt (or --checkpoint) and RUN/metrics.json, and writes OUT/FILE and
OUT/manifest.json. The graph has input `input` [1,3,224,224] and two outputs: `logits` [1,3] and
`cam` [1,h,w], the Grad-CAM map of the predicted class, computed in the graph (models.py).

Checks, all printed: the in-graph CAM against autograd Grad-CAM in PyTorch; onnx.checker; the
package loaded by the runtime's own loader (manifest schema + SHA-256) and run in
onnxruntime-node, its logits and CAM against PyTorch's for the same input (random, plus --image
preprocessed by the runtime's code).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset as ds  # noqa: E402
import models  # noqa: E402

ARCH_NAMES = {"alexnet": "AlexNet", "alexnet_bn": "AlexNet with batch norm", "googlenet": "GoogLeNet"}

ORT_CHECK = r"""
const path = require('node:path');
const fs = require('node:fs');
const { pathToFileURL } = require('node:url');
const ort = require('onnxruntime-node');
(async () => {
  const [pkgDir, inputPath, outPath] = process.argv.slice(1);
  const root = process.cwd();
  const { loadModelPackage } = await import(pathToFileURL(path.join(root, 'dist/model/model-package.js')).href);
  const pkg = await loadModelPackage(pkgDir);               // schema + SHA-256, as the service does
  const session = await ort.InferenceSession.create(pkg.onnxPath, { graphOptimizationLevel: 'all' });
  const m = pkg.manifest;
  const raw = fs.readFileSync(inputPath);
  const per = m.input.shape.reduce((a, b) => a * b, 1);
  const inputs = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const results = [];
  for (let i = 0; i < inputs.length / per; i++) {
    const tensor = new ort.Tensor('float32', inputs.slice(i * per, (i + 1) * per), m.input.shape);
    const out = await session.run({ [m.input.name]: tensor });
    results.push({ logits: Array.from(out[m.outputs.logits].data), cam: Array.from(out[m.outputs.cam].data), camDims: out[m.outputs.cam].dims });
  }
  fs.writeFileSync(outPath, JSON.stringify({ inputNames: session.inputNames, outputNames: session.outputNames, id: m.id, labels: m.labels, results }));
})().catch((e) => { console.error(e.message); process.exit(1); });
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_cam(arch: str, model: torch.nn.Module, wrapper: torch.nn.Module, inputs: torch.Tensor) -> dict:
    """In-graph CAM vs autograd Grad-CAM (both max-normalised) and wrapper logits vs model logits."""
    with torch.no_grad():
        logits, cam = wrapper(inputs)
    ref_logits, ref_cam = models.autograd_gradcam(arch, model, inputs)
    return {
        "inputs": len(inputs),
        "camShape": list(cam.shape[1:]),
        "camMaxAbsDiff": float((cam - ref_cam).abs().max()),
        "logitsMaxAbsDiff": float((logits - ref_logits).abs().max()),
        "camNonzeroFraction": float((cam > 0).float().mean()),
    }


def summary_for_manifest(metrics: dict) -> dict:
    keep = ("n", "accuracy", "recall", "abnormalSensitivity", "normalSpecificity", "nll", "nllCalibrated", "ece", "eceCalibrated", "confusion", "camLocalisation")
    evaluation = {name: {k: v[k] for k in keep if k in v} for name, v in (metrics.get("evaluation") or {}).items()}
    if metrics.get("bestEpoch"):
        evaluation["bestEpoch"] = metrics["bestEpoch"]
    return evaluation


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="training output folder (best.pt, metrics.json)")
    p.add_argument("--checkpoint", help="a best.pt / checkpoint.pt (default RUN/best.pt)")
    p.add_argument("--metrics", help="metrics.json (default RUN/metrics.json, if present)")
    p.add_argument("--out", required=True, help="package folder to write (models/<id>)")
    p.add_argument("--id", default=None, help="package id (default: the --out folder's name)")
    p.add_argument("--file", default="model.onnx", help="ONNX file name inside the package")
    p.add_argument("--description", default=None)
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (torch 1.13 exports 7-17)")
    p.add_argument("--image", action="append", default=[], help="image(s) to compare ORT and PyTorch on, preprocessed by the runtime's code")
    p.add_argument("--temperature", type=float, default=None, help="override the calibration temperature")
    p.add_argument("--skip-ort", action="store_true", help="skip the onnxruntime-node check")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    run = Path(args.run) if args.run else None
    ckpt_path = Path(args.checkpoint) if args.checkpoint else (run / "best.pt" if run else None)
    if ckpt_path is None or not ckpt_path.is_file():
        raise SystemExit(f"no checkpoint: give --run (with best.pt) or --checkpoint ({ckpt_path})")
    metrics_path = Path(args.metrics) if args.metrics else (run / "metrics.json" if run else ckpt_path.parent / "metrics.json")
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}

    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # our own run folder
    config = checkpoint["config"]
    arch = config["arch"]
    model = models.build_from_config(config)
    model.load_state_dict(checkpoint["model"])
    model.eval()
    wrapper = models.cam_wrapper(arch, model).eval()

    # ---- inputs for the checks: random, plus --image files preprocessed by the runtime's code
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(1, 3, ds.INPUT_SIZE, ds.INPUT_SIZE, generator=gen) for _ in range(3)]
    names = [f"random{i}" for i in range(len(inputs))]
    if args.image:
        if not ds.runtime_available():
            raise SystemExit("--image needs node and dist/ (npm run build)")
        with tempfile.TemporaryDirectory(prefix="cspine-export-") as tmp:
            target = os.path.join(tmp, "images.f32")
            done = subprocess.run(["node", str(ds.RUNTIME_SCRIPT), "tensor", target, str(ds.INPUT_SIZE), *args.image],
                                  cwd=ds.REPO_ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            tensors = torch.from_numpy(np.fromfile(target, dtype="<f4").reshape(-1, 3, ds.INPUT_SIZE, ds.INPUT_SIZE).copy())
        inputs += [t.unsqueeze(0) for t in tensors]
        names += [Path(i).name for i in args.image]
    batch = torch.cat(inputs)

    # ---- CAM in the graph == autograd Grad-CAM
    cam_check = verify_cam(arch, model, wrapper, batch)
    print(f"CAM check ({arch}, {len(batch)} inputs: {', '.join(names)}): in-graph vs autograd Grad-CAM max |diff| {cam_check['camMaxAbsDiff']:.3g} "
          f"(after max-normalisation), logits max |diff| {cam_check['logitsMaxAbsDiff']:.3g}, cam {cam_check['camShape']}, "
          f"non-zero cells {cam_check['camNonzeroFraction']:.2f}")
    if cam_check["camMaxAbsDiff"] > 1e-4:
        raise SystemExit("in-graph CAM does not match autograd Grad-CAM (tolerance 1e-4)")
    if cam_check["camNonzeroFraction"] == 0:
        print("warning: every CAM is all zero on these inputs (an untrained network?), so the check above proves little; "
              "`python3 scripts/train/models.py` checks the CAM maths on initialised networks", file=sys.stderr)

    # ---- ONNX
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    package_id = args.id or out.resolve().name
    onnx_path = out / args.file
    dummy = torch.zeros(1, 3, ds.INPUT_SIZE, ds.INPUT_SIZE)
    tmp_path = onnx_path.with_name(onnx_path.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(wrapper, dummy, str(tmp_path), input_names=["input"], output_names=["logits", "cam"],
                          opset_version=args.opset, do_constant_folding=True, export_params=True)
    os.replace(tmp_path, onnx_path)
    import onnx

    graph = onnx.load(str(onnx_path))
    onnx.checker.check_model(graph)
    dims = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in list(graph.graph.input) + list(graph.graph.output)}
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB, opset {args.opset}): {dims}")

    # ---- manifest
    temperature = args.temperature if args.temperature is not None else float(metrics.get("temperature", 1.0))
    margs = metrics.get("args") or checkpoint.get("args") or {}
    data = metrics.get("data") or {"path": margs.get("data")}
    description = args.description or (
        f"{ARCH_NAMES[arch]}, 3 classes, trained "
        + ("on synthetic phantoms; not for clinical use" if data.get("source") == "labels.csv" else f"on {data.get('path')}")
    )
    manifest = {
        "schemaVersion": 1,
        "id": package_id,
        "description": description,
        "file": onnx_path.name,
        "sha256": sha256(onnx_path),
        "labels": ds.LABELS,
        "input": {"name": "input", "layout": "NCHW", "shape": [1, 3, ds.INPUT_SIZE, ds.INPUT_SIZE]},
        "preprocess": {"resize": "letterbox", "mean": ds.MEAN, "std": ds.STD},
        "outputs": {"logits": "logits", "cam": "cam"},
        "calibration": {"temperature": round(temperature, 5)},
        "provenance": {
            "arch": arch,
            "modelConfig": config,
            "data": data,
            "testData": metrics.get("testData", []),
            "splits": metrics.get("splits"),
            "seeds": metrics.get("seeds", {"train": margs.get("seed")}),
            "recipe": margs,
            "commit": metrics.get("commit"),
            "trainedAt": metrics.get("date"),
            "exportedAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "torch": metrics.get("torch", torch.__version__),
            "torchvision": metrics.get("torchvision"),
            "opset": args.opset,
            "trainedOn": metrics.get("device"),
            "trainingSeconds": metrics.get("trainingSeconds"),
            # a checkpoint moved between machines may carry its weights as float16 (half the bytes)
            "checkpoint": {"file": ckpt_path.name, "epoch": checkpoint.get("epoch"), "weightsStoredAs": checkpoint.get("weightsStoredAs", "float32")},
            "cam": {"layer": f"features[{models.last_pool_index(model) - 1}] (13x13)" if arch in models.ALEXNETS else "inception5b (7x7)",
                    "method": "Grad-CAM of the argmax class, in the graph, max-normalised to 0..1",
                    "check": cam_check},
        },
        "evaluation": summary_for_manifest(metrics),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out / 'manifest.json'} (id {package_id}, temperature {temperature:.4f}, sha256 {manifest['sha256'][:16]}…)")

    # ---- onnxruntime-node: the runtime's loader, then logits/CAM vs PyTorch
    if args.skip_ort:
        return 0
    if shutil.which("node") is None or not (ds.REPO_ROOT / "dist/model/model-package.js").is_file():
        raise SystemExit("the ORT check needs node and dist/ (npm run build); --skip-ort to skip it")
    with tempfile.TemporaryDirectory(prefix="cspine-export-") as tmp:
        input_file = os.path.join(tmp, "input.f32")
        batch.numpy().astype("<f4").tofile(input_file)
        result_file = os.path.join(tmp, "result.json")
        done = subprocess.run(["node", "-e", ORT_CHECK, str(out.resolve()), input_file, result_file], cwd=ds.REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"onnxruntime-node could not load or run the package: {done.stderr.strip()}")
        result = json.loads(Path(result_file).read_text())
    print(f"onnxruntime-node: loaded {result['id']} through the runtime's loader (schema + SHA-256 ok); inputs {result['inputNames']}, outputs {result['outputNames']}")
    worst = 0.0
    for name, x, r in zip(names, inputs, result["results"]):
        with torch.no_grad():
            logits, cam = wrapper(x)
        ort_logits = torch.tensor(r["logits"]).view_as(logits)
        ort_cam = torch.tensor(r["cam"]).view(r["camDims"])
        d_logits = float((ort_logits - logits).abs().max())
        d_cam = float((ort_cam - cam).abs().max())
        worst = max(worst, d_logits)
        probs = torch.softmax(logits / temperature, 1)[0]
        print(f"  {name}: logits PyTorch {[round(v, 4) for v in logits[0].tolist()]} ORT {[round(v, 4) for v in r['logits']]} "
              f"max |diff| {d_logits:.3g}; cam {r['camDims']} max |diff| {d_cam:.3g}; "
              f"p(T={temperature:.3g}) {dict(zip(ds.LABELS, [round(v, 3) for v in probs.tolist()]))}")
    if worst > 1e-3 * max(1.0, max(abs(v) for r in result["results"] for v in r["logits"])):
        raise SystemExit(f"ORT logits differ from PyTorch by {worst}")
    print(f"ORT vs PyTorch: logits max |diff| {worst:.3g} over {len(names)} inputs; package {out} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
