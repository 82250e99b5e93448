"""The two architectures, from scratch or from a local ImageNet state_dict, and their
export wrappers that compute a Grad-CAM map inside the graph.

* AlexNet: ``torchvision.models.alexnet(num_classes=3)``, re-initialised (``--alexnet-init``):
  - ``torchvision`` (PyTorch's default, kaiming_uniform a=√5): the signal shrinks ~2.4× per layer,
    fresh logits are ~0.007 and the gradient norm ~0.2; from-scratch SGD sits at ln 3 for a long
    time (measured: 14 steps at lr 0.01, loss 1.10 throughout);
  - ``kaiming`` (He normal, ReLU gain): activations grow to RMS 5–7 in the classifier, the
    gradient norm is ~50 (almost all of it the last layer's) and SGD blows up even at lr 0.001
    (loss 10 by step 4) - without batch norm the stable step size shrinks with the square of the
    layers' input scale;
  - ``lecun`` (the default: normal with std 1/√fan_in, i.e. He without the ReLU gain, biases 0, last layer
    N(0, 0.001)): in between - gradient norm 2–6, loss moving at lr 0.01 (1.10 → 1.06 in 14 steps,
    one spike to 1.5), which is why the recipe pairs it with warm-up and clipping at 5.
* GoogLeNet: ``torchvision.models.googlenet(num_classes=3, aux_logits=False, init_weights=True)``.
  ``transform_input`` is off from scratch and on with ``--init`` (torchvision's ImageNet weights
  expect it; it only rescales the ImageNet-normalised input inside the graph).
"""
from __future__ import annotations

import sys
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

ARCHS = ("alexnet", "alexnet_bn", "googlenet")
ALEXNETS = ("alexnet", "alexnet_bn")
NUM_CLASSES = 3
# the final classifier layer: taken from an --init only when it has our three classes
FINAL_LAYER = {"alexnet": "classifier.6.", "alexnet_bn": "classifier.6.", "googlenet": "fc."}


DEFAULT_DROPOUT = {"alexnet": 0.5, "alexnet_bn": 0.5, "googlenet": 0.2}  # torchvision's


def with_batchnorm(features: nn.Sequential) -> nn.Sequential:
    """AlexNet's feature extractor with a BatchNorm2d after every convolution (before its ReLU).
    In eval mode each one is a per-channel affine map that the ONNX export folds into the
    convolution, so the exported graph has plain AlexNet's operators and shapes."""
    layers = []
    for layer in features:
        layers.append(layer)
        if isinstance(layer, nn.Conv2d):
            layers.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*layers)


def build_model(arch: str, num_classes: int = NUM_CLASSES, alexnet_init: str = "lecun", transform_input: bool = False, dropout: Optional[float] = None) -> nn.Module:
    if arch in DEFAULT_DROPOUT and dropout is None:
        dropout = DEFAULT_DROPOUT[arch]
    if arch in ALEXNETS:
        model = torchvision.models.alexnet(num_classes=num_classes, dropout=dropout)
        if arch == "alexnet_bn":
            model.features = with_batchnorm(model.features)
        if alexnet_init in ("kaiming", "lecun"):
            for module in model.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu" if alexnet_init == "kaiming" else "linear")
                    nn.init.zeros_(module.bias)
            nn.init.normal_(model.classifier[6].weight, 0.0, 0.001)
        elif alexnet_init != "torchvision":
            raise ValueError(f"unknown AlexNet init {alexnet_init!r}")
        return model
    if arch == "googlenet":
        return torchvision.models.googlenet(
            num_classes=num_classes, aux_logits=False, init_weights=True, transform_input=transform_input, dropout=dropout
        )
    raise ValueError(f"unknown arch {arch!r}; choose one of {ARCHS}")


def model_config(arch: str, args) -> dict:
    """What build_model needs to rebuild the same network (stored in checkpoints)."""
    return {
        "arch": arch,
        "num_classes": NUM_CLASSES,
        "alexnet_init": getattr(args, "alexnet_init", "lecun"),
        "transform_input": bool(arch == "googlenet" and getattr(args, "init", None)),
        "dropout": getattr(args, "dropout", None) if getattr(args, "dropout", None) is not None else DEFAULT_DROPOUT[arch],
    }


def build_from_config(config: dict) -> nn.Module:
    return build_model(config["arch"], config["num_classes"], config.get("alexnet_init", "lecun"), config.get("transform_input", False), config.get("dropout"))


# torchvision AlexNet's layers in graph order, as an export of ours has them (batch norm folded)
ALEXNET_CONVS = ("features.0", "features.3", "features.6", "features.8", "features.10")
ALEXNET_LINEARS = ("classifier.1", "classifier.4", "classifier.6")


def onnx_alexnet_state(path: str) -> Dict[str, torch.Tensor]:
    """The weights of an AlexNet ONNX model exported by export.py (or rebuilt in float by
    `cspine-edge model dequantize` from a shipped INT8 package) as torchvision AlexNet's
    state_dict. Batch norm was folded into the convolutions at export, so these are plain
    AlexNet's weights (--arch alexnet). The graph's Conv and Gemm nodes, in order, are the five
    convolutions and three linear layers; the CAM's MatMuls reuse the Gemm weights."""
    import onnx  # only needed for this kind of --init
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    # the exporter stores equal tensors once and names the copies through Identity nodes
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemms = [n for n in graph.node if n.op_type == "Gemm"]
    if len(convs) != len(ALEXNET_CONVS) or len(gemms) != len(ALEXNET_LINEARS):
        raise SystemExit(f"{path}: {len(convs)} Conv and {len(gemms)} Gemm nodes; an AlexNet export has 5 and 3 (an INT8 file? run `cspine-edge model dequantize` first)")

    def weight(node, index: int):
        if node.input[index] not in tensors:
            raise SystemExit(f"{path}: {node.name} input {node.input[index]} is not a stored tensor (an INT8 file? run `cspine-edge model dequantize` first)")
        return tensors[node.input[index]]

    state: Dict[str, torch.Tensor] = {}
    for name, node in zip(ALEXNET_CONVS, convs):
        state[f"{name}.weight"], state[f"{name}.bias"] = torch.from_numpy(weight(node, 1).copy()), torch.from_numpy(weight(node, 2).copy())
    for name, node in zip(ALEXNET_LINEARS, gemms):
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        w = weight(node, 1)
        state[f"{name}.weight"], state[f"{name}.bias"] = torch.from_numpy((w if trans_b else w.T).copy()), torch.from_numpy(weight(node, 2).copy())
    return state


def load_init(model: nn.Module, arch: str, path: str, log=print) -> Dict[str, object]:
    """Loads weights to start from into `model`: a local ImageNet state_dict (e.g. torchvision's
    alexnet-owt-7be5be79.pth or googlenet-1378be20.pth), a checkpoint of ours, or an AlexNet
    ONNX export of ours (`.onnx`, to fine-tune a shipped package; --arch alexnet). The final
    layer is kept when it has our classes and skipped otherwise (ImageNet's 1000), the
    auxiliary heads are skipped, as is any tensor whose shape differs; strict=False. Returns
    and logs what was loaded."""
    if path.endswith(".onnx"):
        if arch != "alexnet":
            raise SystemExit(f"--init {path}: an ONNX export has batch norm folded into its convolutions; use --arch alexnet, not {arch}")
        state = onnx_alexnet_state(path)
    else:
        state = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    state = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}
    own = model.state_dict()
    skipped_final = [k for k in state if k.startswith(FINAL_LAYER[arch]) and (k not in own or tuple(state[k].shape) != tuple(own[k].shape))]
    skipped_aux = [k for k in state if k.startswith(("aux1.", "aux2."))]
    skipped_shape = [k for k in state if k in own and k not in skipped_final and tuple(state[k].shape) != tuple(own[k].shape)]
    usable = {k: v for k, v in state.items() if k in own and k not in skipped_final and k not in skipped_shape}
    result = model.load_state_dict(usable, strict=False)
    loaded_params = sum(v.numel() for k, v in usable.items() if v.is_floating_point())
    total_params = sum(v.numel() for v in own.values() if v.is_floating_point())
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own and k not in skipped_aux]
    report = {
        "path": path,
        "loadedTensors": len(usable),
        "loadedParameters": loaded_params,
        "modelParameters": total_params,
        "skippedFinalLayer": skipped_final,
        "skippedAux": len(skipped_aux),
        "skippedShapeMismatch": skipped_shape,
        "notInModel": unexpected,
        "leftAtInit": missing,
    }
    log(
        f"--init {path}: loaded {len(usable)} tensors ({loaded_params / 1e6:.1f} M of {total_params / 1e6:.1f} M values); "
        f"skipped final layer {skipped_final}, {len(skipped_aux)} aux tensors, shape mismatches {skipped_shape}; "
        f"not in model {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}; left at init {missing}"
    )
    if not usable:
        log(f"warning: nothing in {path} matched the {arch} model's parameter names")
    return report


# --------------------------------------------------------------------------------------------
# export wrappers: forward(x) -> (logits [1,C], cam [1,h,w] in 0..1)


def _normalise_cam(cam: torch.Tensor) -> torch.Tensor:
    """[B,h,w] ≥ 0 → divided by its max; an all-zero map stays zero (no division by 0)."""
    peak = cam.flatten(1).max(dim=1).values.view(-1, 1, 1)
    return cam / torch.where(peak > 0, peak, torch.ones_like(peak))


def last_pool_index(model: nn.Module) -> int:
    """Index of AlexNet's final max-pool in `features` (12 in torchvision's AlexNet, 17 with
    batch norm); the layer before it is the last ReLU, whose output Grad-CAM uses."""
    index = len(model.features) - 1
    if not isinstance(model.features[index], nn.MaxPool2d):
        raise ValueError("unexpected AlexNet feature layout")
    return index


class AlexNetWithCam(nn.Module):
    """AlexNet plus Grad-CAM of the predicted class on the last conv block (the last ReLU in
    `features`, 13×13), as plain forward operations.

    With f = flatten(maxpool(A)) ∈ R^9216, z1 = W1 f + b1, h1 = relu(z1), z2 = W2 h1 + b2,
    h2 = relu(z2), logits = W3 h2 + b3 (dropout is the identity in eval):
        ∂logit_c/∂f = W1ᵀ (m1 ⊙ (W2ᵀ (m2 ⊙ W3[c]))),  m = [z > 0].
    Max-pooling routes each pooled gradient to one position of the 13×13 map, so the sum of the
    gradient over 13×13 equals its sum over 6×6, and α_k from the 6×6 gradient is the 13×13
    Grad-CAM weight times 169/36, the same for every channel; after max-normalisation the map is
    exactly Grad-CAM's. (AdaptiveAvgPool(6,6) of a 6×6 map is the identity.)
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        c = model.classifier
        if not (isinstance(c[1], nn.Linear) and isinstance(c[4], nn.Linear) and isinstance(c[6], nn.Linear)):
            raise ValueError("unexpected AlexNet classifier layout")

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        a = m.features[: last_pool_index(m)](x)  # [B,256,13,13], after the last ReLU
        logits, cam = alexnet_gradcam(m, a)
        return logits, _normalise_cam(F.relu(cam))


def alexnet_gradcam(m: nn.Module, a: torch.Tensor, target: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """From the last conv block's output ``a`` [B,256,13,13]: (eval-mode logits, Grad-CAM map before
    its ReLU [B,13,13]) for class ``target`` [B], or the argmax class when none is given. Written as
    forward operations (see AlexNetWithCam), so it exports to ONNX and, in training, is
    differentiable with respect to the weights (CAM supervision, train.py --cam-weight)."""
    pooled = m.avgpool(m.features[last_pool_index(m)](a))  # [B,256,6,6]
    f = torch.flatten(pooled, 1)
    fc1, fc2, fc3 = m.classifier[1], m.classifier[4], m.classifier[6]
    z1 = fc1(f)
    z2 = fc2(F.relu(z1))
    logits = fc3(F.relu(z2))
    c = torch.argmax(logits, dim=1) if target is None else target  # [B]
    g2 = (z2 > 0).to(a.dtype) * fc3.weight.index_select(0, c)  # [B,4096]
    g1 = (z1 > 0).to(a.dtype) * torch.matmul(g2, fc2.weight)  # [B,4096]
    grad = torch.matmul(g1, fc1.weight).view(-1, pooled.shape[1], pooled.shape[2] * pooled.shape[3])  # [B,256,36]
    alpha = grad.mean(dim=2)  # [B,256]
    return logits, (alpha[:, :, None, None] * a).sum(dim=1)


class GoogLeNetWithCam(nn.Module):
    """GoogLeNet plus the class-activation map of the predicted class on inception5b [1024,7,7]:
    the head is global average pooling and one linear layer, so ∂logit_c/∂A_k(i,j) = W[c,k]/49 at
    every position and Grad-CAM's α_k = W[c,k]/49 exactly (= classic CAM)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = m._transform_input(x)
        for name in ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
                     "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b"):
            x = getattr(m, name)(x)
        a = x  # [B,1024,7,7]
        logits = m.fc(m.dropout(torch.flatten(m.avgpool(a), 1)))
        c = torch.argmax(logits, dim=1)
        alpha = m.fc.weight.index_select(0, c) / (a.shape[2] * a.shape[3])  # [B,1024]
        cam = F.relu((alpha[:, :, None, None] * a).sum(dim=1))
        return logits, _normalise_cam(cam)


def arch_of(model: nn.Module) -> str:
    if isinstance(model, torchvision.models.GoogLeNet):
        return "googlenet"
    return "alexnet_bn" if any(isinstance(m, nn.BatchNorm2d) for m in model.features) else "alexnet"


def cam_wrapper(arch: str, model: nn.Module) -> nn.Module:
    return AlexNetWithCam(model) if arch in ALEXNETS else GoogLeNetWithCam(model)


def cam_layer(arch: str, model: nn.Module) -> nn.Module:
    """The layer whose output Grad-CAM uses (for the autograd reference)."""
    return model.features[last_pool_index(model) - 1] if arch in ALEXNETS else model.inception5b


def autograd_gradcam(arch: str, model: nn.Module, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Reference Grad-CAM by autograd: α_k = mean over the map of ∂logit_c/∂A_k, c = argmax,
    cam = relu(Σ α_k A_k) / max. Returns (logits, cam [B,h,w])."""
    store = {}

    def hook(_module, _inputs, output):
        output.retain_grad()
        store["a"] = output

    handle = cam_layer(arch, model).register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(x)
            c = logits.argmax(dim=1)
            logits.gather(1, c.view(-1, 1)).sum().backward()
    finally:
        handle.remove()
    a, grad = store["a"], store["a"].grad
    alpha = grad.mean(dim=(2, 3))
    cam = F.relu(torch.einsum("bk,bkhw->bhw", alpha, a))
    return logits.detach(), _normalise_cam(cam).detach()


def selftest(seed: int = 0, inputs: int = 4) -> dict:
    """In-graph CAM vs autograd Grad-CAM on freshly initialised networks and random inputs
    (batch-norm statistics first set from random batches, else GoogLeNet's eval-mode
    activations are ~1e-12 at init). Returns max |diff| per arch after max-normalisation."""
    results = {}
    for arch in ARCHS:
        torch.manual_seed(seed)
        model = build_model(arch)
        if arch in ("alexnet_bn", "googlenet"):
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.momentum = None  # cumulative average
            model.train()
            with torch.no_grad():
                for _ in range(2):
                    model(torch.randn(4, 3, 224, 224))
        model.eval()
        x = torch.randn(inputs, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 1))
        with torch.no_grad():
            logits, cam = cam_wrapper(arch, model)(x)
        ref_logits, ref_cam = autograd_gradcam(arch, model, x)
        results[arch] = {
            "camShape": list(cam.shape[1:]),
            "camMaxAbsDiff": float((cam - ref_cam).abs().max()),
            "logitsMaxAbsDiff": float((logits - ref_logits).abs().max()),
            "camNonzeroFraction": float((cam > 0).float().mean()),
        }
    return results


if __name__ == "__main__":
    import json

    torch.set_num_threads(2)
    print(json.dumps(selftest(), indent=2))
