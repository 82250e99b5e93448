"""Probe for onnx-init.test.ts: exports a randomly initialised AlexNet with batch norm (non-trivial
running statistics) through the export's CAM wrapper, as export.py does, loads the ONNX file
into plain AlexNet with models.load_init, and prints, as one JSON line, what was loaded and how
far the two networks' logits and CAM maps differ on random inputs.

    python3 test/train/onnx_init_probe.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts/train"))
import models  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)
source = models.build_model("alexnet_bn")
for module in source.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
        module.running_mean.uniform_(-0.2, 0.2)
        module.running_var.uniform_(0.5, 2.0)
        module.weight.data.uniform_(0.5, 1.5)
        module.bias.data.uniform_(-0.1, 0.1)
path = Path(sys.argv[1]) / "model.onnx"
# eval on the wrapper: the exporter restores the wrapper's mode, and with it its children's
wrapper = models.cam_wrapper("alexnet_bn", source).eval()
with torch.no_grad():
    torch.onnx.export(wrapper, torch.zeros(1, 3, 224, 224), str(path), input_names=["input"],
                      output_names=["logits", "cam"], opset_version=17, do_constant_folding=True, export_params=True)

target = models.build_model("alexnet")
report = models.load_init(target, "alexnet", str(path), log=lambda _: None)
target.eval()
x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    logits, cam = wrapper(x)
    loaded_logits, loaded_cam = models.cam_wrapper("alexnet", target)(x)
try:
    models.load_init(models.build_model("alexnet_bn"), "alexnet_bn", str(path), log=lambda _: None)
    refuses_batch_norm = False
except SystemExit:
    refuses_batch_norm = True
print(json.dumps({
    "loadedTensors": report["loadedTensors"],
    "skippedFinalLayer": report["skippedFinalLayer"],
    "leftAtInit": report["leftAtInit"],
    "logitsScale": float(logits.abs().max()),
    "logitsMaxAbsDiff": float((logits - loaded_logits).abs().max()),
    "camMaxAbsDiff": float((cam - loaded_cam).abs().max()),
    "refusesBatchNorm": refuses_batch_norm,
}))
