#!/usr/bin/python3
"""NumPy .npy files -> datasets of one HDF5 file.

Each argument is DATASET=FILE.npy (or just FILE.npy, stored as /<file stem>). Arrays keep
their dtype and shape (axis 0 = samples); --dtype converts floating arrays (float32 or
float16). Arrays are memory-mapped and copied in slices of --chunk samples. Datasets are
chunked by --chunk samples and gzip-compressed (--gzip 0 turns compression off).

  /usr/bin/python3 scripts/make_h5_from_npy.py calib.h5 /calib/images=images.npy \
      /calib/mask=mask.npy --chunk 32
"""
import argparse
import os
import sys

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("output")
    ap.add_argument("arrays", nargs="+", help="DATASET=FILE.npy or FILE.npy")
    ap.add_argument("--chunk", type=int, default=32, help="samples per chunk (default 32)")
    ap.add_argument("--gzip", type=int, default=4, help="gzip level, 0 = none (default 4)")
    ap.add_argument("--dtype", choices=("keep", "float32", "float16"), default="keep")
    a = ap.parse_args()
    items = []
    for arg in a.arrays:
        if "=" in arg:
            name, path = arg.split("=", 1)
        else:
            path = arg
            name = "/" + os.path.splitext(os.path.basename(arg))[0]
        if not name.startswith("/"):
            name = "/" + name
        items.append((name, path))
    counts = set()
    tmp = a.output + ".tmp"
    with h5py.File(tmp, "w") as f:
        for name, path in items:
            x = np.load(path, mmap_mode="r")
            if x.ndim == 0:
                sys.exit(f"{path}: a scalar, not an array of samples")
            dt = x.dtype
            if a.dtype != "keep" and np.issubdtype(dt, np.floating):
                dt = np.dtype(a.dtype)
            chunk = (max(1, min(a.chunk, x.shape[0])),) + x.shape[1:]
            opts = dict(compression="gzip", compression_opts=a.gzip) if a.gzip else {}
            ds = f.create_dataset(name, shape=x.shape, dtype=dt, chunks=chunk, **opts)
            for s in range(0, x.shape[0], chunk[0]):
                ds[s:s + chunk[0]] = np.asarray(x[s:s + chunk[0]], dtype=dt)
            counts.add(x.shape[0])
            print(f"{a.output}: {name} {dt}{list(x.shape)} from {path}")
    if len(counts) > 1:
        print(f"warning: datasets hold different sample counts {sorted(counts)}; inputs read "
              "together must agree", file=sys.stderr)
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
