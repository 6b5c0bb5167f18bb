#!/usr/bin/python3
"""Generates operator fixtures for the misc family that ONNX 1.12's backend test data lacks:
GridSample over every mode x padding x align_corners with out-of-range grid points (float32
and float64), DFT with dft_length padding/truncation, onesided, complex inverse and float64,
STFT on complex signals and two-sided output, Unique on int64 slices (unsorted) and strings,
TfIdfVectorizer on strings (IDF, TFIDF with weights, 3-grams with skips), the losses in
float64 with int32 targets, Det of larger/singular matrices, Shrink on integers, Compress and
ReverseSequence on strings/ints, window functions in other output dtypes, and a
case-insensitive StringNormalizer.

Each fixture is a directory in the ONNX backend-test layout (one graph, possibly several
nodes sharing inputs):
    tests/fixtures/ops/misc_<name>/model.onnx
    tests/fixtures/ops/misc_<name>/test_data_set_0/input_<i>.pb, output_<i>.pb

References: torch.nn.functional.grid_sample, numpy.fft, numpy.unique, numpy.linalg.det and
the reference formulas of the ONNX 1.12 backend test generators. TfIdfVectorizer has no
independent reference here (no onnxruntime): tfidf_ref below restates onnxruntime's
algorithm. Fixed seed; run with Debian's /usr/bin/python3:

    /usr/bin/python3 scripts/make_misc_fixtures.py [OUTDIR]
"""
import os
import shutil
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "ops")
RNG = np.random.default_rng(20240612)

NP_TO_ONNX = {
    np.dtype("float32"): TensorProto.FLOAT,
    np.dtype("float64"): TensorProto.DOUBLE,
    np.dtype("float16"): TensorProto.FLOAT16,
    np.dtype("int32"): TensorProto.INT32,
    np.dtype("int64"): TensorProto.INT64,
    np.dtype("uint8"): TensorProto.UINT8,
    np.dtype("int8"): TensorProto.INT8,
    np.dtype("bool"): TensorProto.BOOL,
    np.dtype("object"): TensorProto.STRING,
}


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def strings(lst, shape=None):
    a = np.array(lst, dtype=object)
    return a.reshape(shape) if shape is not None else a


def write(name, nodes, inputs, outputs, opset):
    """nodes: helper.make_node results; inputs/outputs: lists of (name, array)."""
    d = os.path.join(OUT, "misc_" + name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    g_in = [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype], a.shape) for n, a in inputs]
    g_out = [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype], a.shape) for n, a in outputs]
    graph = helper.make_graph(nodes, name, g_in, g_out)
    model = helper.make_model(graph, producer_name="make_misc_fixtures",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for kind, lst in (("input", inputs), ("output", outputs)):
        for i, (n, a) in enumerate(lst):
            t = numpy_helper.from_array(a, n)
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, i)), "wb") as f:
                f.write(t.SerializeToString())
    print("misc_" + name)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


# ---------------------------------------------------------------- GridSample

def make_gridsample():
    for dt, suffix in ((np.float32, "f32"), (np.float64, "f64")):
        x = rand(2, 3, 5, 4, dtype=dt)
        grid = RNG.uniform(-1.4, 1.4, size=(2, 4, 6, 2)).astype(dt)
        # exact corners, centre and the borders
        grid[0, 0, :5] = np.array([[-1, -1], [1, 1], [0, 0], [-1, 1], [1, -1]], dtype=dt)
        nodes, outs = [], []
        for mode in ("bilinear", "nearest", "bicubic"):
            for pad in ("zeros", "border", "reflection"):
                for ac in (0, 1):
                    y = F.grid_sample(torch.from_numpy(x), torch.from_numpy(grid), mode=mode,
                                      padding_mode=pad, align_corners=bool(ac)).numpy()
                    oname = "Y_%s_%s_%d" % (mode, pad, ac)
                    nodes.append(node("GridSample", ["X", "Grid"], [oname], mode=mode,
                                      padding_mode=pad, align_corners=ac))
                    outs.append((oname, y.astype(dt)))
        write("gridsample_all_" + suffix, nodes, [("X", x), ("Grid", grid)], outs, 16)


# ---------------------------------------------------------------- DFT / STFT

def c2ri(y):
    return np.stack((y.real, y.imag), axis=-1)


def make_dft():
    xr = rand(2, 8, 3, 1)
    xc = rand(2, 6, 5, 2)
    cplx = xc[..., 0] + 1j * xc[..., 1]
    n12, n5 = np.array(12, np.int64), np.array(5, np.int64)
    nodes = [
        node("DFT", ["XR"], ["onesided"], axis=1, onesided=1),
        node("DFT", ["XR", "N12"], ["padded"], axis=1),
        node("DFT", ["XR", "N5"], ["truncated"], axis=1),
        node("DFT", ["XC"], ["inverse_axis2"], axis=2, inverse=1),
        node("DFT", ["XC", "N12"], ["inverse_padded"], axis=1, inverse=1),
        node("DFT", ["XR"], ["last_axis"], axis=2),
    ]
    outs = [
        ("onesided", c2ri(np.fft.fft(xr[..., 0], axis=1)[:, :5]).astype(np.float32)),
        ("padded", c2ri(np.fft.fft(xr[..., 0], n=12, axis=1)).astype(np.float32)),
        ("truncated", c2ri(np.fft.fft(xr[..., 0], n=5, axis=1)).astype(np.float32)),
        ("inverse_axis2", c2ri(np.fft.ifft(cplx, axis=2)).astype(np.float32)),
        ("inverse_padded", c2ri(np.fft.ifft(cplx, n=12, axis=1)).astype(np.float32)),
        ("last_axis", c2ri(np.fft.fft(xr[..., 0], axis=2)).astype(np.float32)),
    ]
    write("dft_variants", nodes, [("XR", xr), ("XC", xc), ("N12", n12), ("N5", n5)], outs, 17)

    x = rand(3, 10, 1, dtype=np.float64)
    write("dft_float64", [node("DFT", ["X"], ["Y"], axis=1)], [("X", x)],
          [("Y", c2ri(np.fft.fft(x[..., 0], axis=1)))], 17)


def stft_ref(sig, step, win, flen, onesided):
    b, length = sig.shape
    frames = (length - flen) // step + 1
    bins = flen // 2 + 1 if onesided else flen
    out = np.zeros((b, frames, bins), dtype=np.complex128)
    w = np.ones(flen) if win is None else win
    for i in range(b):
        for f in range(frames):
            out[i, f] = np.fft.fft(sig[i, f * step:f * step + flen] * w)[:bins]
    return c2ri(out)


def make_stft():
    sc = rand(2, 40, 2)
    cplx = sc[..., 0] + 1j * sc[..., 1]
    sr = rand(2, 37, 1)
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(12) / 12)).astype(np.float32)
    step, flen = np.array(5, np.int64), np.array(12, np.int64)
    nodes = [
        node("STFT", ["SC", "STEP", "WIN", "FLEN"], ["complex_window"], onesided=0),
        node("STFT", ["SR", "STEP", "", "FLEN"], ["real_twosided"], onesided=0),
        node("STFT", ["SR", "STEP", "WIN"], ["real_onesided"]),
    ]
    outs = [
        ("complex_window", stft_ref(cplx, 5, win.astype(np.float64), 12, False).astype(np.float32)),
        ("real_twosided", stft_ref(sr[..., 0], 5, None, 12, False).astype(np.float32)),
        ("real_onesided", stft_ref(sr[..., 0], 5, win.astype(np.float64), 12, True).astype(np.float32)),
    ]
    write("stft_variants", nodes, [("SC", sc), ("SR", sr), ("STEP", step), ("WIN", win),
                                   ("FLEN", flen)], outs, 17)


def make_windows():
    size7, size1, size8 = np.array(7, np.int64), np.array(1, np.int32), np.array(8, np.int64)

    def win(a0, a1, a2, size, periodic):
        n = size if periodic else size - 1
        k = np.arange(size, dtype=np.float64)
        return a0 - a1 * np.cos(2 * np.pi * k / n) + a2 * np.cos(4 * np.pi * k / n)

    nodes = [
        node("HannWindow", ["S7"], ["hann_sym_f64"], periodic=0, output_datatype=11),
        node("BlackmanWindow", ["S1"], ["blackman_1"]),
        node("HammingWindow", ["S8"], ["hamming_f16"], output_datatype=10),
        node("BlackmanWindow", ["S8"], ["blackman_sym"], periodic=0),
    ]
    outs = [
        ("hann_sym_f64", win(0.5, 0.5, 0, 7, False)),
        ("blackman_1", win(0.42, 0.5, 0.08, 1, True).astype(np.float32)),
        ("hamming_f16", win(25 / 46, 21 / 46, 0, 8, True).astype(np.float16)),
        ("blackman_sym", win(0.42, 0.5, 0.08, 8, False).astype(np.float32)),
    ]
    write("windows", nodes, [("S7", size7), ("S1", size1), ("S8", size8)], outs, 17)


# ---------------------------------------------------------------- Unique

def unique_unsorted(x, axis):
    y, idx, inv, cnt = np.unique(x, True, True, True, axis=axis)
    order = np.argsort(idx)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return np.take(x, idx[order], axis=axis), idx[order], rank[inv.reshape(-1)], cnt[order]


def make_unique():
    base = RNG.integers(-3, 3, size=(2, 3, 3)).astype(np.int64)
    x = np.concatenate([base[:, [2]], base, base[:, [0]], base[:, [2]]], axis=1)  # [2, 6, 3]
    y, idx, inv, cnt = unique_unsorted(x, 1)
    write("unique_int64_axis1_unsorted",
          [node("Unique", ["X"], ["Y", "indices", "inverse_indices", "counts"], axis=1,
                sorted=0)],
          [("X", x)], [("Y", y), ("indices", idx.astype(np.int64)),
                       ("inverse_indices", inv.astype(np.int64)),
                       ("counts", cnt.astype(np.int64))], 11)

    s = strings(["pear", "apple", "fig", "apple", "Apple", "pear", "kiwi", "fig"], (2, 4))
    ys, idx, inv, cnt = np.unique(s.reshape(-1).astype(str), True, True, True)
    write("unique_string_sorted",
          [node("Unique", ["X"], ["Y", "indices", "inverse_indices", "counts"])],
          [("X", s)], [("Y", ys.astype(object)), ("indices", idx.astype(np.int64)),
                       ("inverse_indices", inv.astype(np.int64)),
                       ("counts", cnt.astype(np.int64))], 11)

    xf = np.array([[1.5, -2.0], [0.0, 1.5], [1.5, -2.0], [-0.0, 3.0]], dtype=np.float32)
    y, idx, inv, cnt = np.unique(xf, True, True, True, axis=0)
    write("unique_float_axis0_only_y",
          [node("Unique", ["X"], ["Y", "", "", "counts"], axis=0)],
          [("X", xf)], [("Y", y), ("counts", cnt.astype(np.int64))], 11)


# ---------------------------------------------------------------- TfIdfVectorizer

def tfidf_ref(rows, pool, counts, indexes, min_g, max_g, max_skip, mode, weights):
    """onnxruntime's counting: n-grams x[s], x[s+d], ..., d = skip + 1; 1-grams once."""
    grams = []
    for i, start in enumerate(counts):
        g = i + 1
        end = counts[i + 1] if i + 1 < len(counts) else len(pool)
        for off in range(start, end, g):
            grams.append(tuple(pool[off:off + g]))
    out = np.zeros((len(rows), max(indexes) + 1), dtype=np.float32)
    for r, row in enumerate(rows):
        cnt = [0] * len(grams)
        for skip in range(max_skip + 1):
            d = skip + 1
            for g in range(max(min_g, 2 if skip else 1), max_g + 1):
                for s in range(len(row)):
                    if s + (g - 1) * d >= len(row):
                        break
                    q = tuple(row[s + k * d] for k in range(g))
                    for k, gram in enumerate(grams):
                        if gram == q:
                            cnt[k] += 1
        for k in range(len(grams)):
            w = weights[k] if weights is not None else 1.0
            v = cnt[k] if mode == "TF" else (min(cnt[k], 1) * w if mode == "IDF" else cnt[k] * w)
            out[r, indexes[k]] = v
    return out


def make_tfidf():
    pool = ["a", "b", "c", "a", "b", "b", "c", "a", "b", "c"]
    counts = [0, 3, 7]                 # 1-grams a b c; 2-grams ab bc; 3-gram abc
    indexes = [5, 0, 1, 2, 3, 4]
    weights = [0.5, 2.0, 1.5, 0.25, 3.0, 4.0]
    rows = [["a", "b", "c", "x", "a", "b", "c", "b"], ["c", "b", "a", "a", "b", "z", "b", "c"]]
    x = strings(sum(rows, []), (2, 8))
    nodes, outs = [], []
    for mode, skip in (("TFIDF", 1), ("IDF", 2), ("TF", 0)):
        oname = "Y_%s" % mode
        nodes.append(node("TfIdfVectorizer", ["X"], [oname], mode=mode, min_gram_length=1,
                          max_gram_length=3, max_skip_count=skip, ngram_counts=counts,
                          ngram_indexes=indexes, pool_strings=pool, weights=weights))
        outs.append((oname, tfidf_ref(rows, pool, counts, indexes, 1, 3, skip, mode, weights)))
    write("tfidf_strings", nodes, [("X", x)], outs, 9)


# ---------------------------------------------------------------- losses

def make_losses():
    x = rand(3, 4, 5, dtype=np.float64)
    target = RNG.integers(0, 4, size=(3, 5)).astype(np.int32)
    target[1, 2] = -1
    w = RNG.uniform(0.5, 2.0, size=4)
    keep = target != -1
    tc = np.where(keep, target, 0)
    logp = torch.log_softmax(torch.from_numpy(x), dim=1).numpy()
    gather = np.take_along_axis(logp, tc[:, None, :].astype(np.int64), axis=1)[:, 0]
    gx = np.take_along_axis(x, tc[:, None, :].astype(np.int64), axis=1)[:, 0]
    wt = np.where(keep, w[tc], 0.0)
    nll_mean = -(gx * wt).sum() / wt.sum()
    sce_none = np.where(keep, -gather * w[tc], 0.0)
    write("losses_float64",
          [node("NegativeLogLikelihoodLoss", ["X", "T", "W"], ["nll"], ignore_index=-1),
           node("SoftmaxCrossEntropyLoss", ["X", "T", "W"], ["sce", "log_prob"], ignore_index=-1,
                reduction="none")],
          [("X", x), ("T", target), ("W", w)],
          [("nll", np.array(nll_mean)), ("sce", sce_none), ("log_prob", logp)], 13)


# ---------------------------------------------------------------- small tensor ops

def make_small():
    a = rand(3, 5, 5, dtype=np.float64)
    a[2, 4] = a[2, 1] * 2.0  # singular
    write("det_float64", [node("Det", ["X"], ["Y"])], [("X", a)],
          [("Y", np.linalg.det(a))], 11)

    xi = np.array([-5, -2, -1, 0, 1, 2, 3, 7], dtype=np.int32)
    yi = np.where(xi < -1.5, xi + 1, np.where(xi > 1.5, xi - 1, 0)).astype(np.int32)
    xd = rand(10, dtype=np.float64)
    yd = np.where(xd < -0.5, xd + 0.25, np.where(xd > 0.5, xd - 0.25, 0.0))
    write("shrink_int32_float64",
          [node("Shrink", ["XI"], ["YI"], lambd=1.5, bias=1.0),
           node("Shrink", ["XD"], ["YD"], lambd=0.5, bias=0.25)],
          [("XI", xi), ("XD", xd)], [("YI", yi), ("YD", yd)], 9)

    s = strings(["%c%d" % (c, i) for c in "abc" for i in range(4)], (3, 2, 2))
    cond = np.array([True, False, True, True, False, False, True], dtype=bool)
    cond1 = np.array([False, True], dtype=bool)
    write("compress_strings",
          [node("Compress", ["X", "C"], ["flat"]), node("Compress", ["X", "C1"], ["axis1"], axis=1)],
          [("X", s), ("C", cond), ("C1", cond1)],
          [("flat", np.compress(cond, s.reshape(-1))), ("axis1", np.compress(cond1, s, axis=1))],
          11)

    x = np.arange(5 * 3 * 2, dtype=np.int64).reshape(5, 3, 2)
    lens = np.array([5, 1, 3], dtype=np.int64)
    y = x.copy()
    for b, L in enumerate(lens):
        y[:L, b] = x[:L, b][::-1]
    write("reversesequence_int64_rank3",
          [node("ReverseSequence", ["X", "L"], ["Y"], time_axis=0, batch_axis=1)],
          [("X", x), ("L", lens)], [("Y", y)], 10)

    xs = strings(["Monday", "TUESDAY", "wednesday", "monday", "Sunday"], (1, 5))
    write("strnorm_lower_insensitive",
          [node("StringNormalizer", ["X"], ["Y"], case_change_action="LOWER",
                is_case_sensitive=0, stopwords=["MONDAY", "sunday"])],
          [("X", xs)], [("Y", strings(["tuesday", "wednesday"], (1, 2)))], 10)


def main():
    make_gridsample()
    make_dft()
    make_stft()
    make_windows()
    make_unique()
    make_tfidf()
    make_losses()
    make_small()


if __name__ == "__main__":
    main()
