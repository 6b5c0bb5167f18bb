#!/usr/bin/python3
"""Makes the committed digits fixture: a small trained CNN and its dataset.

    /usr/bin/python3 scripts/make_digits_fixture.py [OUTDIR]   (default tests/fixtures/digits)

Writes
  digits_cnn.onnx  a CNN trained on sklearn's 8x8 digits (Conv+BatchNormalization+Relu
                   blocks, a residual Add, a Concat of two branches, MaxPool,
                   GlobalAveragePool, Flatten, Gemm); opset 13, input "images" [N,1,8,8]
                   with a dynamic batch axis, output "logits" [N,10]
  digits.h5        /train/images float32 [N,1,8,8] in [0,1], /train/labels int64,
                   /test/images, /test/labels (chunks of 64 samples, gzip)
  reference.json   float test accuracy, float logits of the first 8 test images, and how
                   the files were made

Everything is deterministic: fixed seeds, one thread, deterministic algorithms, a fixed
split (sklearn train_test_split, test_size=0.2, random_state=0, stratified). Running the
script twice gives the same weights and data (the ONNX bytes may differ only if the torch
version differs, which reference.json records).

Needs Debian's python3 (torch 1.13, onnx 1.12, h5py, sklearn): run it with /usr/bin/python3.
"""
import json
import os
import sys

import h5py
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
EPOCHS = 40
BATCH = 64
LR = 3e-3
WEIGHT_DECAY = 1e-4
N_REF_LOGITS = 8


class ConvBNRelu(nn.Sequential):
    def __init__(self, cin, cout, k, relu=True):
        layers = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class DigitsCNN(nn.Module):
    """[N,1,8,8] -> [N,10]. About 18k parameters."""

    def __init__(self):
        super().__init__()
        self.stem = ConvBNRelu(1, 16, 3)
        # residual block: relu(x + bn(conv(relu(bn(conv(x))))))
        self.res1 = ConvBNRelu(16, 16, 3)
        self.res2 = ConvBNRelu(16, 16, 3, relu=False)
        # two branches concatenated on channels
        self.branch_a = ConvBNRelu(16, 16, 1)
        self.branch_b = ConvBNRelu(16, 16, 3)
        self.pool = nn.MaxPool2d(2)
        self.head = ConvBNRelu(32, 32, 3)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(x + self.res2(self.res1(x)))
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        x = self.pool(x)
        x = self.head(x)
        x = self.gap(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def load_split():
    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=0.2, random_state=0,
                                              stratify=labels)
    return (np.ascontiguousarray(x_tr), np.ascontiguousarray(y_tr),
            np.ascontiguousarray(x_te), np.ascontiguousarray(y_te))


def train(model, x_tr, y_tr):
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    n = xt.shape[0]
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            if idx.numel() < 2:  # BatchNorm needs more than one sample
                continue
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        sched.step()
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: train loss {total / n:.4f}")


def h5_write(path, splits):
    """Writes the splits reproducibly: no object timestamps, the earliest file format, so
    the same data gives the same bytes."""
    tmp = path + ".tmp"
    with h5py.File(tmp, "w", libver="earliest") as f:
        f.attrs["description"] = ("sklearn load_digits, pixels/16 in [0,1], NCHW float32; "
                                  "split train_test_split(test_size=0.2, random_state=0, "
                                  "stratify=labels)")
        for name, (x, y) in splits.items():
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            g = h5py.Group(h5py.h5g.create(f.id, name.encode(), gcpl=gcpl))
            g.create_dataset("images", data=x, chunks=(64,) + x.shape[1:], compression="gzip",
                             compression_opts=9, track_times=False)
            g.create_dataset("labels", data=y, chunks=(64,), compression="gzip",
                             compression_opts=9, track_times=False)
    os.replace(tmp, path)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "digits")
    os.makedirs(outdir, exist_ok=True)

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    x_tr, y_tr, x_te, y_te = load_split()
    model = DigitsCNN()
    train(model, x_tr, y_tr)
    model.eval()

    with torch.no_grad():
        logits = model(torch.from_numpy(x_te)).numpy()
    acc = float((logits.argmax(1) == y_te).mean())
    print(f"float test accuracy: {acc:.4f} ({int((logits.argmax(1) == y_te).sum())}/{len(y_te)})")
    if acc <= 0.95:
        sys.exit(f"test accuracy {acc:.4f} is not above 0.95")

    onnx_path = os.path.join(outdir, "digits_cnn.onnx")
    # PRESERVE on an eval-mode model exports eval semantics but skips the peephole pass that
    # folds BatchNormalization into Conv, so the fixture exercises Conv+BN fusion.
    torch.onnx.export(model, torch.from_numpy(x_te[:1]), onnx_path + ".tmp",
                      input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "N"}, "logits": {0: "N"}},
                      opset_version=13, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    m = onnx.load(onnx_path + ".tmp")
    onnx.checker.check_model(m, full_check=True)
    op_types = sorted({n.op_type for n in m.graph.node})
    for need in ("Conv", "BatchNormalization", "Relu", "Add", "Concat", "MaxPool",
                 "GlobalAveragePool", "Flatten", "Gemm"):
        if need not in op_types:
            sys.exit(f"exported model has no {need} node (has {op_types})")
    os.replace(onnx_path + ".tmp", onnx_path)

    h5_write(os.path.join(outdir, "digits.h5"), {"train": (x_tr, y_tr), "test": (x_te, y_te)})

    ref = {
        "model": "digits_cnn.onnx",
        "data": "digits.h5",
        "input": {"name": "images", "shape": ["N", 1, 8, 8], "dtype": "float32",
                  "range": [0.0, 1.0]},
        "output": {"name": "logits", "shape": ["N", 10]},
        "n_train": int(len(y_tr)),
        "n_test": int(len(y_te)),
        "float_test_accuracy": acc,
        "float_test_correct": int((logits.argmax(1) == y_te).sum()),
        "first_test_labels": y_te[:N_REF_LOGITS].tolist(),
        "first_test_logits": [[float(v) for v in row] for row in logits[:N_REF_LOGITS]],
        "operators": op_types,
        "made_by": {
            "script": "scripts/make_digits_fixture.py",
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "dataset": "sklearn.datasets.load_digits, pixels / 16",
            "split": "train_test_split(test_size=0.2, random_state=0, stratify=labels)",
            "training": f"Adam lr={LR} weight_decay={WEIGHT_DECAY}, cosine schedule, "
                        f"{EPOCHS} epochs, batch {BATCH}, seed {SEED}, 1 thread, "
                        "deterministic algorithms",
            "export": "torch.onnx.export opset 13, TrainingMode.PRESERVE on an eval model, "
                      "do_constant_folding=False, dynamic batch axis",
        },
    }
    ref_path = os.path.join(outdir, "reference.json")
    with open(ref_path + ".tmp", "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    os.replace(ref_path + ".tmp", ref_path)
    for name in ("digits_cnn.onnx", "digits.h5", "reference.json"):
        print(f"{name}: {os.path.getsize(os.path.join(outdir, name))} bytes")


if __name__ == "__main__":
    main()
