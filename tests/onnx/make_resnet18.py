#!/usr/bin/python3
"""Exports torchvision's ResNet-18 (random weights) to ONNX for the io/onnx checks.

usage: /usr/bin/python3 tests/onnx/make_resnet18.py OUT.onnx

Opset 13, eval mode with TrainingMode.PRESERVE and no constant folding so that the
BatchNormalization nodes stay in the graph (see docs in /work/shared/design.md), and a
symbolic batch dimension ("batch") on the input and the output. The seed is fixed so that
the file is the same on every run.
"""
import sys

import torch
import torchvision


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(
        model,
        x,
        sys.argv[1],
        opset_version=13,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
