#!/usr/bin/python3
"""Exports the benchmark models and their float references (not committed: they are large).

    /usr/bin/python3 scripts/make_models.py OUTDIR [NAME...]

NAME is any of resnet18, mobilenet_v2, transformer (default: all). For each it writes
  OUTDIR/<name>.onnx         opset 13, TrainingMode.PRESERVE on an eval-mode model,
                             do_constant_folding=False (BatchNormalization kept), dynamic batch
  OUTDIR/<name>_input.npy    a seeded random input (float32)
  OUTDIR/<name>_output.npy   torch's output for that input (float32)

  resnet18, mobilenet_v2  torchvision, weights=None after torch.manual_seed(0);
                          input "input" [16,3,224,224], output "output" [16,1000]
  transformer             torch.nn.TransformerEncoder: 2 layers, d_model 128, 4 heads, ffn 256,
                          GELU, batch_first; input "input" [4,32,128], output "output"
                          [4,32,128]. At opset 13 LayerNorm and GELU export as their primitive
                          ops (ReduceMean/Sub/Pow/Sqrt/Div..., Erf/Mul/Add).

Randomly initialised BatchNorm layers have running mean 0 and variance 1, so activations of
a random ResNet grow layer by layer; the models are given calibrated BatchNorm statistics
(a few forward passes in training mode on random data, momentum None = cumulative average)
so that the activations and outputs stay in a realistic range. Files are written to a
temporary name and renamed. Needs Debian's python3 (torch 1.13, torchvision 0.14, onnx 1.12).
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision

MODELS = ("resnet18", "mobilenet_v2", "transformer")


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=256,
                                           dropout=0.1, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)

    def forward(self, x):
        return self.encoder(x)


def calibrate_bn(model, shape, gen, steps=4):
    """Replaces the BatchNorm running statistics (mean 0, var 1 at init) with statistics of
    random inputs so that deep random networks do not blow up."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration passes
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(shape, generator=gen))
    model.eval()


def build(name):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    if name == "resnet18":
        model = torchvision.models.resnet18(weights=None)
        shape = (16, 3, 224, 224)
    elif name == "mobilenet_v2":
        model = torchvision.models.mobilenet_v2(weights=None)
        shape = (16, 3, 224, 224)
    elif name == "transformer":
        model = Encoder()
        shape = (4, 32, 128)
    else:
        raise SystemExit(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    calibrate_bn(model, shape, gen)
    model.eval()
    x = torch.randn(shape, generator=gen)
    return model, x


def save_npy(path, arr):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(arr, dtype=np.float32))
    os.replace(tmp, path)


def export(name, outdir):
    model, x = build(name)
    with torch.no_grad():
        y = model(x)
    onnx_path = os.path.join(outdir, name + ".onnx")
    tmp = onnx_path + ".tmp"
    torch.onnx.export(model, x, tmp, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                      opset_version=13, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    os.replace(tmp, onnx_path)
    save_npy(os.path.join(outdir, name + "_input.npy"), x.numpy())
    save_npy(os.path.join(outdir, name + "_output.npy"), y.numpy())
    n_params = sum(int(np.prod(t.dims)) for t in m.graph.initializer)
    print(f"{name}: {os.path.getsize(onnx_path)} bytes, {n_params} parameters, "
          f"input {list(x.shape)}, output {list(y.shape)} (|y| max {y.abs().max():.4g})")
    print("  ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit(f"unknown model '{n}' (known: {', '.join(MODELS)})")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for n in names:
        export(n, outdir)


if __name__ == "__main__":
    main()
