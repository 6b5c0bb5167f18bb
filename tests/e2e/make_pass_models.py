#!/usr/bin/python3
"""Exports the small extra models the pass tests need (not committed; generated on use).

    /usr/bin/python3 tests/e2e/make_pass_models.py OUTDIR

Writes, for NAME in extras_cnn and extras_opset10, OUTDIR/NAME.onnx (dynamic batch,
TrainingMode.PRESERVE on an eval-mode model, do_constant_folding=False so BatchNormalization
and the decomposed forms stay), OUTDIR/NAME_input.npy (a seeded input) and
OUTDIR/NAME_output.npy (torch's output).

  extras_cnn      opset 13: Conv without bias + a separate per-channel bias Add + BN + ReLU6,
                  grouped ConvTranspose + BN + ReLU, Linear + BatchNorm1d (Gemm + BN),
                  GELU tanh approximation, x @ W + b on 2-D (MatMul + Add), x @ W +
                  BatchNorm1d (MatMul + BN).  Input [N, 3, 16, 16], output [N, 10].
  extras_opset10  opset 10: Conv + Hardtanh (Clip with min/max attributes), Squeeze and
                  Unsqueeze with axes attributes, ReduceSum with axes, Split with split,
                  Softmax on the last axis.  Input [N, 4, 8, 8], outputs [N, 6] and [N, 2].

Needs Debian's python3 (torch 1.13, onnx 1.12). Files are written to a temporary name and
renamed.
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn


class ExtrasCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bias1 = nn.Parameter(torch.randn(1, 8, 1, 1) * 0.1)
        self.bn1 = nn.BatchNorm2d(8)
        self.deconv = nn.ConvTranspose2d(8, 8, 2, stride=2, groups=2)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc1 = nn.Linear(8, 16)
        self.bn3 = nn.BatchNorm1d(16)
        self.gelu = nn.GELU(approximate="tanh")
        self.w2 = nn.Parameter(torch.randn(16, 12) * 0.3)
        self.b2 = nn.Parameter(torch.randn(12) * 0.1)
        self.w3 = nn.Parameter(torch.randn(12, 10) * 0.3)
        self.bn4 = nn.BatchNorm1d(10)

    def forward(self, x):
        y = torch.clamp(self.bn1(self.conv1(x) + self.bias1), 0.0, 6.0)
        y = torch.relu(self.bn2(self.deconv(y)))
        y = torch.flatten(torch.mean(y, dim=(2, 3), keepdim=True), 1)
        y = self.gelu(self.bn3(self.fc1(y)))
        y = y @ self.w2 + self.b2
        return self.bn4(y @ self.w3)


class Opset10(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        y = torch.nn.functional.hardtanh(self.conv(x), -0.5, 0.8)
        y = torch.sum(y, dim=3, keepdim=True)              # ReduceSum axes=[3]
        y = y.squeeze(3)                                    # Squeeze axes=[3]
        y = torch.mean(y, dim=2).unsqueeze(1)              # ReduceMean, Unsqueeze axes=[1]
        y = torch.softmax(self.fc(y.squeeze(1)), dim=-1)   # Softmax on the last axis
        a, b = torch.split(y, [4, 2], dim=1)                # Split split=[4, 2]
        return torch.cat([b, a], dim=1), b * 2.0


def calibrate_bn(model, shape, gen):
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(shape, generator=gen))
    model.eval()


def save_npy(path, arr):
    tmp = path + ".tmp.npy"
    np.save(tmp, np.ascontiguousarray(arr, dtype=np.float32))
    os.replace(tmp, path)


def export(name, model, shape, opset, outdir, n_out):
    gen = torch.Generator().manual_seed(1)
    calibrate_bn(model, shape, gen)
    x = torch.randn(shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    if not isinstance(y, tuple):
        y = (y,)
    path = os.path.join(outdir, name + ".onnx")
    tmp = path + ".tmp"
    outs = ["output"] if n_out == 1 else [f"output{i}" for i in range(n_out)]
    axes = {"input": {0: "batch"}}
    for o in outs:
        axes[o] = {0: "batch"}
    torch.onnx.export(model, x, tmp, input_names=["input"], output_names=outs,
                      dynamic_axes=axes, opset_version=opset,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    os.replace(tmp, path)
    save_npy(os.path.join(outdir, name + "_input.npy"), x.numpy())
    save_npy(os.path.join(outdir, name + "_output.npy"), y[0].numpy())
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"{name}: opset {opset}, ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    export("extras_cnn", ExtrasCNN(), (8, 3, 16, 16), 13, outdir, 1)
    torch.manual_seed(0)
    export("extras_opset10", Opset10(), (8, 4, 8, 8), 10, outdir, 2)


if __name__ == "__main__":
    main()
