#!/usr/bin/python3
"""Generates operator fixtures that ONNX 1.12's backend test data lacks, for the conv, gemm
and pool families: grouped, depthwise and dilated Conv, strided+dilated Conv with asymmetric
pads, grouped/dilated ConvTranspose, LpPool and GlobalLpPool (no 1.12 test at all), MaxPool
column-major indices, ceil-mode pooling corners, Einsum float32 equations that take the
transpose+GEMM route, and MatMul/Gemm broadcasting corners.

Each fixture is a directory in the ONNX backend-test layout:
    tests/fixtures/ops/<name>/model.onnx
    tests/fixtures/ops/<name>/test_data_set_0/input_<i>.pb, output_<i>.pb

References: torch.nn.functional (conv1d/2d/3d, conv_transpose1d/2d, max_pool2d, avg_pool2d)
or numpy where torch has no equivalent. Fixed seed; run with Debian's /usr/bin/python3:

    /usr/bin/python3 scripts/make_conv_fixtures.py [OUTDIR]
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
RNG = np.random.default_rng(20240611)

NP_TO_ONNX = {
    np.dtype("float32"): TensorProto.FLOAT,
    np.dtype("float64"): TensorProto.DOUBLE,
    np.dtype("int32"): TensorProto.INT32,
    np.dtype("int64"): TensorProto.INT64,
    np.dtype("uint8"): TensorProto.UINT8,
    np.dtype("int8"): TensorProto.INT8,
    np.dtype("float16"): TensorProto.FLOAT16,
}


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def write(name, op_type, inputs, outputs, opset, **attrs):
    """inputs/outputs: lists of (name, array); None as array marks an omitted input."""
    in_names = [n if a is not None else "" for n, a in inputs]
    node = helper.make_node(op_type, in_names, [n for n, _ in outputs], **attrs)
    write_graph(name, [node], inputs, outputs, opset)


def write_graph(name, nodes, inputs, outputs, opset, initializers=()):
    """A fixture of several nodes: inputs/outputs as for write(); initializers are
    (name, array) pairs stored in the model, not fed."""
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    g_in = [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype], a.shape)
            for n, a in inputs if a is not None]
    g_out = [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype], a.shape) for n, a in outputs]
    graph = helper.make_graph(nodes, name, g_in, g_out,
                              initializer=[numpy_helper.from_array(a, n) for n, a in initializers])
    model = helper.make_model(graph, producer_name="make_conv_fixtures",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, "model.onnx"))
    i = 0
    for n, a in inputs:
        if a is None:
            continue
        t = numpy_helper.from_array(a, n)
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % i), "wb") as f:
            f.write(t.SerializeToString())
        i += 1
    for i, (n, a) in enumerate(outputs):
        t = numpy_helper.from_array(a, n)
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % i), "wb") as f:
            f.write(t.SerializeToString())
    print(name)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------- Conv

def conv_ref(x, w, b, strides, dilations, pads, group):
    """pads in ONNX order [x1_begin, x2_begin, ..., x1_end, ...]."""
    r = x.ndim - 2
    tp = []
    for i in reversed(range(r)):          # F.pad wants last axis first: (begin, end)
        tp += [pads[i], pads[r + i]]
    xt = F.pad(t(x), tp)
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[r]
    y = fn(xt, t(w), None if b is None else t(b), stride=strides, dilation=dilations,
           groups=group)
    return y.numpy()


def conv_case(name, xs, ws, group=1, strides=None, dilations=None, pads=None, bias=True,
              auto_pad=None, opset=11):
    r = len(xs) - 2
    x = rand(*xs)
    w = rand(*ws)
    b = rand(ws[0]) if bias else None
    s = strides or [1] * r
    dl = dilations or [1] * r
    p = pads or [0] * (2 * r)
    attrs = dict(group=group, kernel_shape=list(ws[2:]))
    if strides:
        attrs["strides"] = strides
    if dilations:
        attrs["dilations"] = dilations
    if auto_pad:
        # SAME_*: out = ceil(in / s), total = (out - 1) * s + ek - in
        attrs["auto_pad"] = auto_pad
        p = [0] * (2 * r)
        for i in range(r):
            n_in, ek = xs[2 + i], (ws[2 + i] - 1) * dl[i] + 1
            out = -(-n_in // s[i])
            total = max(0, (out - 1) * s[i] + ek - n_in)
            lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            p[i], p[r + i] = lo, total - lo
    elif pads:
        attrs["pads"] = pads
    y = conv_ref(x, w, b, s, dl, p, group)
    ins = [("X", x), ("W", w)] + ([("B", b)] if bias else [])
    write(name, "Conv", ins, [("Y", y)], opset, **attrs)


def make_conv():
    conv_case("conv2d_group", [2, 4, 6, 5], [6, 2, 3, 3], group=2, pads=[1, 1, 1, 1])
    conv_case("conv2d_group_nobias_stride", [1, 6, 7, 7], [9, 2, 3, 2], group=3,
              strides=[2, 1], pads=[0, 1, 1, 0], bias=False)
    conv_case("conv2d_depthwise", [2, 3, 7, 6], [3, 1, 3, 3], group=3, strides=[2, 2],
              pads=[1, 1, 1, 1])
    conv_case("conv2d_depthwise_dilated_asym", [1, 4, 9, 8], [4, 1, 3, 3], group=4,
              dilations=[2, 2], pads=[2, 1, 0, 3], bias=False)
    conv_case("conv2d_depthwise_stride_dilation", [1, 3, 11, 10], [3, 1, 3, 2], group=3,
              strides=[2, 3], dilations=[2, 3], pads=[1, 2, 2, 1])
    conv_case("conv2d_depthwise_multiplier", [1, 2, 6, 6], [4, 1, 3, 3], group=2,
              pads=[1, 1, 1, 1])
    conv_case("conv1d_dilated", [2, 2, 12], [3, 2, 3], dilations=[2], pads=[2, 2])
    conv_case("conv1d_group_stride_dilation", [1, 4, 15], [4, 2, 3], group=2, strides=[2],
              dilations=[3], pads=[1, 2])
    conv_case("conv2d_dilated", [1, 2, 9, 10], [3, 2, 3, 3], dilations=[2, 3],
              pads=[2, 3, 2, 3])
    conv_case("conv2d_strides_dilations_asym_pads", [2, 3, 10, 9], [4, 3, 3, 3],
              strides=[2, 3], dilations=[2, 1], pads=[1, 0, 2, 2])
    conv_case("conv2d_same_lower_stride", [1, 2, 7, 8], [3, 2, 4, 3], strides=[2, 3],
              auto_pad="SAME_LOWER")
    conv_case("conv2d_same_upper_dilated", [1, 2, 7, 6], [2, 2, 3, 3], dilations=[2, 2],
              auto_pad="SAME_UPPER")
    conv_case("conv2d_pointwise_group", [2, 4, 5, 3], [6, 2, 1, 1], group=2)
    conv_case("conv2d_pointwise_stride", [1, 3, 6, 5], [4, 3, 1, 1], strides=[2, 2])
    conv_case("conv3d_group_dilated", [1, 4, 5, 6, 5], [4, 2, 2, 3, 2], group=2,
              dilations=[2, 1, 2], pads=[1, 0, 1, 0, 1, 1])
    conv_case("conv2d_opset1_group", [1, 4, 5, 5], [4, 2, 3, 3], group=2, pads=[1, 1, 1, 1],
              opset=7)



# ---------------------------------------------------------------- ConvTranspose

def convt_ref(x, w, b, strides, dilations, pads, out_pad, group):
    r = x.ndim - 2
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[r]
    full = fn(t(x), t(w), None, stride=strides, dilation=dilations, groups=group).numpy()
    # output_padding: extra positions at the end that no input reaches.
    widths = [(0, 0), (0, 0)] + [(0, out_pad[i]) for i in range(r)]
    full = np.pad(full, widths)
    sl = [slice(None), slice(None)]
    for i in range(r):
        sl.append(slice(pads[i], full.shape[2 + i] - pads[r + i]))
    y = full[tuple(sl)]
    if b is not None:
        y = y + b.reshape([1, -1] + [1] * r)
    return np.ascontiguousarray(y.astype(np.float32))


def convt_case(name, xs, ws, group=1, strides=None, dilations=None, pads=None,
               out_pad=None, bias=True, opset=11):
    r = len(xs) - 2
    x = rand(*xs)
    w = rand(*ws)
    b = rand(ws[1] * group) if bias else None
    s = strides or [1] * r
    dl = dilations or [1] * r
    p = pads or [0] * (2 * r)
    op = out_pad or [0] * r
    attrs = dict(group=group)
    if strides:
        attrs["strides"] = strides
    if dilations:
        attrs["dilations"] = dilations
    if pads:
        attrs["pads"] = pads
    if out_pad:
        attrs["output_padding"] = out_pad
    y = convt_ref(x, w, b, s, dl, p, op, group)
    ins = [("X", x), ("W", w)] + ([("B", b)] if bias else [])
    write(name, "ConvTranspose", ins, [("Y", y)], opset, **attrs)


def make_convtranspose():
    convt_case("convtranspose2d_group_dilated", [2, 4, 3, 4], [4, 3, 3, 2], group=2,
               strides=[2, 2], dilations=[2, 1], pads=[1, 0, 0, 1], out_pad=[1, 1])
    convt_case("convtranspose2d_depthwise", [1, 3, 4, 4], [3, 1, 3, 3], group=3,
               strides=[2, 2], pads=[1, 1, 1, 1], bias=False)
    convt_case("convtranspose1d_group_dilated", [1, 4, 5], [4, 2, 3], group=2, strides=[3],
               dilations=[2], pads=[1, 2], out_pad=[2])
    convt_case("convtranspose2d_pointwise", [2, 3, 4, 3], [3, 5, 1, 1])


# ---------------------------------------------------------------- pooling

def windows(n_in, k, s, d, pb, pe, ceil_mode):
    ek = (k - 1) * d + 1
    span = n_in + pb + pe - ek
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n_in + pb:
        out -= 1
    return out


def lppool_ref(x, k, s, pads, p):
    """numpy LpPool: (sum over the window of |x|^p)^(1/p), padding contributes 0."""
    r = x.ndim - 2
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] +
                [(pads[i], pads[r + i]) for i in range(r)])
    outs = [windows(x.shape[2 + i], k[i], s[i], 1, pads[i], pads[r + i], False)
            for i in range(r)]
    y = np.zeros(x.shape[:2] + tuple(outs))
    for idx in np.ndindex(*outs):
        sl = tuple(slice(idx[i] * s[i], idx[i] * s[i] + k[i]) for i in range(r))
        win = xp[(slice(None), slice(None)) + sl]
        y[(slice(None), slice(None)) + idx] = np.power(
            np.power(np.abs(win), p).sum(axis=tuple(range(2, 2 + r))), 1.0 / p)
    return y.astype(np.float32)


def make_pool():
    x = rand(1, 2, 6, 7)
    write("lppool_2d_p2", "LpPool", [("X", x)],
          [("Y", lppool_ref(x, [3, 2], [1, 1], [0, 0, 0, 0], 2))], 11, kernel_shape=[3, 2])
    x = rand(2, 3, 7, 6)
    write("lppool_2d_p3_strides_pads", "LpPool", [("X", x)],
          [("Y", lppool_ref(x, [3, 3], [2, 2], [1, 0, 1, 1], 3))], 11, kernel_shape=[3, 3],
          strides=[2, 2], pads=[1, 0, 1, 1], p=3)
    x = rand(1, 2, 9)
    write("lppool_1d_p1", "LpPool", [("X", x)],
          [("Y", lppool_ref(x, [4], [2], [0, 0], 1))], 11, kernel_shape=[4], strides=[2], p=1)
    x = rand(2, 3, 4, 5)
    y = np.sqrt(np.square(x.astype(np.float64)).sum(axis=(2, 3), keepdims=True))
    write("globallppool_p2", "GlobalLpPool", [("X", x)], [("Y", y.astype(np.float32))], 11)
    y = np.power(np.power(np.abs(x.astype(np.float64)), 3).sum(axis=(2, 3), keepdims=True),
                 1 / 3)
    write("globallppool_p3", "GlobalLpPool", [("X", x)], [("Y", y.astype(np.float32))], 11,
          p=3)

    # MaxPool with indices in column-major storage order (storage_order = 1).
    x = rand(2, 2, 5, 6)
    yt, it = F.max_pool2d(t(x), kernel_size=(3, 2), stride=(2, 2), padding=(1, 1),
                          return_indices=True)
    h, w = x.shape[2], x.shape[3]
    row = it.numpy().astype(np.int64)             # per plane, h * W + w
    hh, ww = row // w, row % w
    plane = (np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[0], x.shape[1], 1, 1) *
             (h * w))
    write("maxpool_2d_indices_storage_order1", "MaxPool", [("X", x)],
          [("Y", yt.numpy()), ("Indices", plane + ww * h + hh)], 12, kernel_shape=[3, 2],
          strides=[2, 2], pads=[1, 1, 1, 1], storage_order=1)
    write("maxpool_2d_indices_dilated", "MaxPool", [("X", x)],
          [("Y", F.max_pool2d(t(x), (2, 2), (1, 2), 0, (2, 2)).numpy()),
           ("Indices", plane + F.max_pool2d(t(x), (2, 2), (1, 2), 0, (2, 2),
                                             return_indices=True)[1].numpy())],
          12, kernel_shape=[2, 2], strides=[1, 2], dilations=[2, 2])

    # Ceil mode where the last window would start in the end padding (dropped, like torch).
    x = rand(1, 2, 6, 6)
    write("maxpool_2d_ceil_pads", "MaxPool", [("X", x)],
          [("Y", F.max_pool2d(t(x), 3, 2, 1, ceil_mode=True).numpy())], 12,
          kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    write("averagepool_2d_ceil_count_include_pad", "AveragePool", [("X", x)],
          [("Y", F.avg_pool2d(t(x), 3, 2, 1, ceil_mode=True, count_include_pad=True).numpy())],
          11, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
          count_include_pad=1)
    write("averagepool_2d_ceil_exclude_pad", "AveragePool", [("X", x)],
          [("Y", F.avg_pool2d(t(x), 3, 2, 1, ceil_mode=True, count_include_pad=False).numpy())],
          11, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    xi = RNG.integers(-128, 127, size=(1, 2, 5, 5)).astype(np.int8)
    yi = F.max_pool2d(t(xi.astype(np.float32)), 2, 1).numpy().astype(np.int8)
    write("maxpool_2d_int8", "MaxPool", [("X", xi)], [("Y", yi)], 12, kernel_shape=[2, 2])


# ---------------------------------------------------------------- Einsum, MatMul, Gemm

def make_gemm():
    cases = [
        ("einsum_f32_batch_matmul", "bij,bjk->bik", [(3, 2, 4), (3, 4, 5)]),
        ("einsum_f32_transposed_b", "ij,kj->ik", [(3, 4), (5, 4)]),
        ("einsum_f32_attention", "bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
        ("einsum_f32_permuted_out", "bij,bjk->kbi", [(2, 3, 4), (2, 4, 5)]),
        ("einsum_f32_implicit", "ij,jk", [(3, 4), (4, 2)]),
        ("einsum_f32_outer", "i,j->ij", [(3,), (4,)]),
        ("einsum_f32_ellipsis_broadcast", "...ij,...jk->...ik", [(2, 1, 3, 4), (3, 4, 2)]),
        ("einsum_f32_three_operands", "ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
        ("einsum_f32_trace_sum", "ii->", [(4, 4)]),
        ("einsum_f32_single_sum", "ij,jk->i", [(3, 4), (4, 5)]),
    ]
    for name, eq, shapes in cases:
        ins = [rand(*s) for s in shapes]
        y = np.einsum(eq, *[a.astype(np.float64) for a in ins]).astype(np.float32)
        write(name, "Einsum", [("x%d" % i, a) for i, a in enumerate(ins)],
              [("y", np.asarray(y, dtype=np.float32))], 12, equation=eq)

    a, b = rand(2, 1, 3, 4), rand(5, 4, 2)
    write("matmul_broadcast_batch", "MatMul", [("A", a), ("B", b)], [("Y", a @ b)], 13)
    a, b = rand(4), rand(2, 4, 3)
    write("matmul_1d_lhs", "MatMul", [("A", a), ("B", b)], [("Y", np.matmul(a, b))], 13)
    a, b = rand(2, 3, 4), rand(4)
    write("matmul_1d_rhs", "MatMul", [("A", a), ("B", b)], [("Y", np.matmul(a, b))], 13)
    a, b = rand(4), rand(4)
    write("matmul_1d_1d", "MatMul", [("A", a), ("B", b)],
          [("Y", np.asarray(np.matmul(a, b), dtype=np.float32))], 13)
    ai = RNG.integers(-50, 50, size=(2, 3, 4)).astype(np.int32)
    bi = RNG.integers(-50, 50, size=(4, 2)).astype(np.int32)
    write("matmul_int32", "MatMul", [("A", ai), ("B", bi)], [("Y", ai @ bi)], 13)
    ai = RNG.integers(-50, 50, size=(3, 4)).astype(np.int64)
    bi = RNG.integers(-50, 50, size=(2, 4, 2)).astype(np.int64)
    write("matmul_int64_broadcast", "MatMul", [("A", ai), ("B", bi)], [("Y", ai @ bi)], 13)
    a64, b64 = rand(2, 3, 4, dtype=np.float64), rand(2, 4, 5, dtype=np.float64)
    write("matmul_float64", "MatMul", [("A", a64), ("B", b64)], [("Y", a64 @ b64)], 13)

    a, b, c = rand(4, 3), rand(5, 4), rand(3, 1)
    y = (0.5 * a.T.astype(np.float64) @ b.T + 2.0 * c).astype(np.float32)
    write("gemm_trans_both_column_bias", "Gemm", [("A", a), ("B", b), ("C", c)], [("Y", y)],
          13, transA=1, transB=1, alpha=0.5, beta=2.0)
    a, b = rand(3, 4), rand(4, 2)
    write("gemm_opset11_no_c", "Gemm", [("A", a), ("B", b)], [("Y", a @ b)], 11)
    a, b, c = rand(3, 4, dtype=np.float64), rand(4, 2, dtype=np.float64), rand(2, dtype=np.float64)
    write("gemm_float64_row_bias", "Gemm", [("A", a), ("B", b), ("C", c)], [("Y", a @ b + c)], 9)


def make_half():
    # float16: the reference is the float32 convolution of the same (exactly widened) values,
    # rounded to float16 once.
    x = rand(1, 4, 6, 5).astype(np.float16)
    w = rand(6, 2, 3, 3).astype(np.float16)
    b = rand(6).astype(np.float16)
    y = conv_ref(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), [1, 1],
                 [1, 1], [1, 1, 1, 1], 2).astype(np.float16)
    write("conv2d_float16_group", "Conv", [("X", x), ("W", w), ("B", b)], [("Y", y)], 13,
          group=2, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = rand(1, 3, 4, 4).astype(np.float16)
    w = rand(3, 2, 3, 3).astype(np.float16)
    y = convt_ref(x.astype(np.float32), w.astype(np.float32), None, [2, 2], [1, 1],
                  [1, 1, 1, 1], [1, 1], 1).astype(np.float16)
    write("convtranspose2d_float16", "ConvTranspose", [("X", x), ("W", w)], [("Y", y)], 13,
          strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])


def make_conv_fast_paths():
    # The executor's float32 fast paths: stride-1 depthwise on padded planes, Winograd
    # F(2x2, 3x3) for dense 3x3 stride-1 convolutions (odd and even output sizes, several
    # images, asymmetric and no padding), and a Relu/Clip fused into the convolution
    # (executor epilogue), also when the pre-activation tensor is itself an output.
    conv_case("conv2d_depthwise_s1_bias", [2, 5, 9, 7], [5, 1, 3, 3], group=5,
              pads=[1, 1, 1, 1])
    conv_case("conv2d_depthwise_5x5_s1", [1, 3, 8, 11], [3, 1, 5, 5], group=3,
              pads=[2, 2, 2, 2])
    conv_case("conv2d_3x3_s1_odd", [3, 5, 9, 7], [6, 5, 3, 3], pads=[1, 1, 1, 1])
    conv_case("conv2d_3x3_s1_valid", [2, 4, 8, 8], [3, 4, 3, 3], bias=False)
    conv_case("conv2d_3x3_s1_asym", [1, 3, 6, 9], [4, 3, 3, 3], pads=[1, 0, 0, 2])
    conv_case("conv2d_3x3_s1_wide", [2, 20, 10, 13], [24, 20, 3, 3], pads=[1, 1, 1, 1])
    conv_case("conv2d_3x3_s1_7x7", [5, 16, 7, 7], [8, 16, 3, 3], pads=[1, 1, 1, 1])
    for name, act, dw in (("conv2d_relu_fused", "Relu", False),
                          ("conv2d_depthwise_clip6_fused", "Clip", True),
                          ("conv2d_3x3_clip_fused", "Clip", False)):
        c = 6 if dw else 4
        x, w, b = rand(2, c, 9, 8), rand(6 if not dw else c, 1 if dw else c, 3, 3), rand(6 if not dw else c)
        pre = conv_ref(x, w, b, [1, 1], [1, 1], [1, 1, 1, 1], c if dw else 1)
        conv = helper.make_node("Conv", ["X", "W", "B"], ["T"], kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1], group=c if dw else 1)
        if act == "Relu":
            node, inits, y = helper.make_node("Relu", ["T"], ["Y"]), [], np.maximum(pre, 0)
        else:
            lo, hi = (np.float32(0), np.float32(6)) if dw else (np.float32(-0.5), np.float32(1.0))
            node = helper.make_node("Clip", ["T", "lo", "hi"], ["Y"])
            inits, y = [("lo", np.array(lo)), ("hi", np.array(hi))], np.clip(pre, lo, hi)
        write_graph(name, [conv, node], [("X", x), ("W", w), ("B", b)], [("Y", y)], 13, inits)
    x, w, b = rand(1, 3, 6, 5), rand(4, 3, 3, 3), rand(4)
    pre = conv_ref(x, w, b, [1, 1], [1, 1], [1, 1, 1, 1], 1)
    write_graph("conv2d_relu_both_outputs",
                [helper.make_node("Conv", ["X", "W", "B"], ["T"], kernel_shape=[3, 3],
                                  pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["T"], ["Y"])],
                [("X", x), ("W", w), ("B", b)], [("T", pre), ("Y", np.maximum(pre, 0))], 13)


def make_conv_pointwise_fast():
    # The AVX-512 pointwise kernel: output channels in blocks of 12, 4 and 1 (17 = 12 + 4 + 1),
    # columns in blocks of 32 with a partial last one (9 x 13 = 117), a fused Clip, and a
    # bias-free Relu case with every block partial.
    x, w, b = rand(3, 20, 9, 13), rand(17, 20, 1, 1), rand(17)
    pre = conv_ref(x, w, b, [1, 1], [1, 1], [0, 0, 0, 0], 1)
    lo, hi = np.float32(0), np.float32(0.5)
    write_graph("conv2d_pointwise_clip_fused",
                [helper.make_node("Conv", ["X", "W", "B"], ["T"], kernel_shape=[1, 1]),
                 helper.make_node("Clip", ["T", "lo", "hi"], ["Y"])],
                [("X", x), ("W", w), ("B", b)], [("Y", np.clip(pre, lo, hi))], 13,
                [("lo", np.array(lo)), ("hi", np.array(hi))])
    x, w = rand(2, 7, 5, 7), rand(5, 7, 1, 1)
    pre = conv_ref(x, w, None, [1, 1], [1, 1], [0, 0, 0, 0], 1)
    write_graph("conv2d_pointwise_relu_nobias",
                [helper.make_node("Conv", ["X", "W"], ["T"], kernel_shape=[1, 1]),
                 helper.make_node("Relu", ["T"], ["Y"])],
                [("X", x), ("W", w)], [("Y", np.maximum(pre, 0))], 13)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_conv()
    make_convtranspose()
    make_pool()
    make_gemm()
    make_half()  # earlier fixtures keep their random streams: add new ones after
    make_conv_fast_paths()
    make_conv_pointwise_fast()
