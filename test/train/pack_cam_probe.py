"""Probe for pack-and-cam.test.ts: reads a pack and prints, as one JSON line, the lesion boxes it
holds (model-input pixels) and the in-box share of the CAM softmax before and after a few Adam
steps on the CAM supervision loss alone (no augmentation, no dropout).

    python3 test/train/pack_cam_probe.py PACK.npz STEPS
"""
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts/train"))
import dataset as ds  # noqa: E402
import models  # noqa: E402
import train  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)
pack, steps = sys.argv[1], int(sys.argv[2])
source = ds.DataSource(pack)
samples = source.samples()
images, bits, boxes, _, lesions = source.load(samples)
abnormal = [i for i, s in enumerate(samples) if s.label != 0][:4]
data = ds.LetterboxedImages(images[abnormal], bits[abnormal], boxes[abnormal], [samples[i].label for i in abnormal], "cpu", lesions[abnormal])
x, y, _, les = data.batch(torch.arange(len(data)))
x, masks = ds.normalize(x), ds.lesion_masks(les)

model = models.build_model("alexnet_bn")
model.eval()  # batch norm and dropout fixed: only the loss's own effect is measured
optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)


def cam_loss() -> torch.Tensor:
    return train.forward_with_cam_loss(model, x, y, masks)[1]


with torch.no_grad():
    before = float(cam_loss())
for _ in range(steps):
    optimizer.zero_grad()
    cam_loss().backward()
    optimizer.step()
with torch.no_grad():
    after = float(cam_loss())
print(json.dumps({
    "lesions": {s.file: None if torch.isnan(torch.tensor(b)).any() else [round(float(v), 4) for v in b] for s, b in zip(samples, lesions)},
    "inBoxMass": {"before": float(torch.exp(torch.tensor(-before))), "after": float(torch.exp(torch.tensor(-after)))},
}))
