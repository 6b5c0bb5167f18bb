#!/usr/bin/python3
"""Folder of images -> one HDF5 calibration dataset.

Each image is converted to RGB, resized so that its shorter side is --resize pixels
(bilinear), center-cropped to --size x --size, and stored in file order (sorted names)
as NCHW or NHWC, uint8 (0..255, the default) or float32 (0..1, pixel/255). The dataset is
chunked by --chunk samples and gzip-compressed; images are written one chunk at a time, so
memory stays small whatever the folder size. Preprocessing (mean/std, BGR) belongs in the
run config, not here.

  /usr/bin/python3 scripts/make_h5_from_images.py IMAGES/ calib.h5 \
      --dataset /calib/images --size 224 --resize 256 --layout nchw --dtype uint8

Then in run.yaml:  data: {file: calib.h5, inputs: {images: {dataset: /calib/images,
  scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}}
"""
import argparse
import os
import sys

import h5py
import numpy as np
from PIL import Image

EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def load(path, resize, size):
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = resize / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        return np.asarray(im, dtype=np.uint8)  # HWC


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("output")
    ap.add_argument("--dataset", default="/calib/images")
    ap.add_argument("--size", type=int, default=224, help="crop size (default 224)")
    ap.add_argument("--resize", type=int, default=None,
                    help="shorter side before the crop (default size*256/224)")
    ap.add_argument("--layout", choices=("nchw", "nhwc"), default="nchw")
    ap.add_argument("--dtype", choices=("uint8", "float32"), default="uint8")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    ap.add_argument("--chunk", type=int, default=16, help="samples per chunk (default 16)")
    ap.add_argument("--gzip", type=int, default=4, help="gzip level, 0 = none (default 4)")
    a = ap.parse_args()
    resize = a.resize or round(a.size * 256 / 224)
    if resize < a.size:
        sys.exit(f"--resize {resize} is smaller than --size {a.size}")
    names = sorted(n for n in os.listdir(a.folder) if n.lower().endswith(EXTS))
    if a.limit:
        names = names[: a.limit]
    if not names:
        sys.exit(f"{a.folder}: no images ({', '.join(EXTS)})")
    n = len(names)
    shape = (n, 3, a.size, a.size) if a.layout == "nchw" else (n, a.size, a.size, 3)
    chunk = (min(a.chunk, n),) + shape[1:]
    tmp = a.output + ".tmp"
    with h5py.File(tmp, "w") as f:
        opts = dict(compression="gzip", compression_opts=a.gzip) if a.gzip else {}
        ds = f.create_dataset(a.dataset, shape=shape, dtype=a.dtype, chunks=chunk, **opts)
        ds.attrs["layout"] = a.layout
        ds.attrs["source"] = os.path.abspath(a.folder)
        ds.attrs["preprocess"] = f"RGB, shorter side {resize}, center crop {a.size}" + (
            ", /255" if a.dtype == "float32" else "")
        f.create_dataset(a.dataset + "_names", data=np.array(names, dtype=h5py.string_dtype()))
        for start in range(0, n, chunk[0]):
            batch = np.stack([load(os.path.join(a.folder, nm), resize, a.size)
                              for nm in names[start:start + chunk[0]]])
            if a.layout == "nchw":
                batch = batch.transpose(0, 3, 1, 2)
            if a.dtype == "float32":
                batch = batch.astype(np.float32) / 255.0
            ds[start:start + len(batch)] = batch
    os.replace(tmp, a.output)
    print(f"{a.output}: {a.dataset} {a.dtype}{list(shape)} from {n} images")


if __name__ == "__main__":
    main()
