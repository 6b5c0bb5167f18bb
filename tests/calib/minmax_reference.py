#!/usr/bin/python3
"""minmax_reference.py DIR: independent numpy reference for the minmax activation scales of
the calibration pipeline (tests/unit/test_calib_ref.c).

DIR holds act_<i>.npy (every activation a calibrated TQC saw, all batches concatenated on
axis 0) and manifest.txt, one line per TQC: "<i> <quant_min> <quant_max> <symmetric 0/1>".
Prints one line per TQC: "<i> <min> <max> <scale as float32 hex bits> <offset>", where
min/max are numpy's over the float32 data (printed with repr, exact) and scale/offset follow
docs/calibration.md ("Scale"): the range widened to contain 0; symmetric
s = 2 max(-lo, hi) / (qmax - qmin), offset 0; asymmetric s = (hi - lo) / (qmax - qmin),
offset = clamp(rint(qmin - lo / s32), qmin, qmax) with the float32-stored scale s32;
s >= 1e-8; all in float64. Exit 77 when numpy is missing."""
import os
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("numpy missing: skipped", file=sys.stderr)
    sys.exit(77)


def main(d):
    with open(os.path.join(d, "manifest.txt")) as f:
        rows = [line.split() for line in f if line.strip()]
    for i, qmin, qmax, sym in rows:
        qmin, qmax, sym = int(qmin), int(qmax), int(sym)
        x = np.load(os.path.join(d, "act_%s.npy" % i))
        assert x.dtype == np.float32
        lo, hi = float(x.min()), float(x.max())
        lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
        if sym:
            s = 2.0 * max(-lo0, hi0) / (qmax - qmin)
        else:
            s = (hi0 - lo0) / (qmax - qmin)
        s = max(s, 1e-8)
        s32 = np.float32(s)
        if sym:
            z = 0.0
        else:
            z = float(np.clip(np.rint(qmin - lo0 / float(s32)), qmin, qmax))
        bits = struct.unpack("<I", struct.pack("<f", s32))[0]
        print("%s %r %r %08x %r" % (i, lo, hi, bits, z))


if __name__ == "__main__":
    main(sys.argv[1])
