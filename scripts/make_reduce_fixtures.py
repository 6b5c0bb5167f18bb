#!/usr/bin/python3
"""Generates operator fixtures for the reduce, norm and quant families: the cases ONNX
1.12's backend test data lacks (reductions over several non-adjacent axes, integer, float16
and float64 data, empty sets, rank 0, large sums; ArgMax/TopK ties and NaN; CumSum on inner
axes; BatchNormalization opsets 7/9 and spatial=0; LayerNormalization with broadcast Scale
and no B; LRN with an even size; MeanVarianceNormalization over other axes; per-axis and
int8 QuantizeLinear with rounding ties and saturation; DequantizeLinear of int32 and int8;
DynamicQuantizeLinear of an all-zero tensor and of a large random one).

Each fixture is a directory in the ONNX backend-test layout:
    tests/fixtures/ops/<name>/model.onnx
    tests/fixtures/ops/<name>/test_data_set_0/input_<i>.pb, output_<i>.pb

References are numpy, written from the ONNX specification (float32 arithmetic where the
specification computes in float32; round half to even). Fixed seed; run with Debian's
/usr/bin/python3:

    /usr/bin/python3 scripts/make_reduce_fixtures.py [OUTDIR]
"""
import os
import shutil
import sys

import numpy as np
import onnx
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
    np.dtype("uint32"): TensorProto.UINT32,
    np.dtype("uint64"): TensorProto.UINT64,
}


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


FAMILY = "reduce"  # fixture names start with their family's name


def write(name, op_type, inputs, outputs, opset, check=True, **attrs):
    """inputs/outputs: lists of (name, array); None as array marks an omitted input."""
    if not name.startswith(FAMILY + "_"):
        name = FAMILY + "_" + name
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    in_names = [n if a is not None else "" for n, a in inputs]
    node = helper.make_node(op_type, in_names, [n for n, _ in outputs], **attrs)
    g_in = [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype], a.shape)
            for n, a in inputs if a is not None]
    g_out = [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype], a.shape) for n, a in outputs]
    graph = helper.make_graph([node], name, g_in, g_out)
    model = helper.make_model(graph, producer_name="make_reduce_fixtures",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, "model.onnx"))
    i = 0
    for n, a in inputs:
        if a is None:
            continue
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % i), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())
        i += 1
    for i, (n, a) in enumerate(outputs):
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % i), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a), n).SerializeToString())
    print(name)


# ------------------------------------------------------------------ reduce

def reductions():
    x = rand(3, 4, 5, 6)
    # Non-adjacent axes: two reduced groups separated by a kept axis (the walker's offset
    # table), axes given as an input (ReduceSum-13).
    write("reduce_sum_axes_0_2", "ReduceSum",
          [("data", x), ("axes", np.array([2, 0], np.int64))],
          [("reduced", x.astype(np.float64).sum(axis=(0, 2)).astype(np.float32))], 13,
          keepdims=0)
    write("reduce_sum_opset11_axes_1_3", "ReduceSum", [("data", x)],
          [("reduced", x.astype(np.float64).sum(axis=(1, 3), keepdims=True).astype(np.float32))],
          11, axes=[1, -1])
    write("reduce_mean_axes_0_3", "ReduceMean", [("data", x)],
          [("reduced", x.astype(np.float64).mean(axis=(0, 3), keepdims=True).astype(np.float32))],
          13, axes=[0, 3])
    write("reduce_max_axes_1_3_nokeep", "ReduceMax", [("data", x)],
          [("reduced", x.max(axis=(1, 3)))], 13, axes=[1, 3], keepdims=0)
    write("reduce_min_axes_0_1_3", "ReduceMin", [("data", x)],
          [("reduced", x.min(axis=(0, 1, 3), keepdims=True))], 13, axes=[0, 1, 3])
    # Extent-1 axes mixed in (dropped by the walker).
    x1 = rand(1, 4, 1, 5)
    write("reduce_l1_with_unit_axes", "ReduceL1", [("data", x1)],
          [("reduced", np.abs(x1).sum(axis=(0, 1), keepdims=True))], 13, axes=[0, 1])
    # Integer data.
    xi = RNG.integers(-50, 50, size=(4, 3, 5)).astype(np.int32)
    write("reduce_max_int32", "ReduceMax", [("data", xi)],
          [("reduced", xi.max(axis=1, keepdims=True))], 13, axes=[1])
    write("reduce_min_int8", "ReduceMin", [("data", xi.astype(np.int8))],
          [("reduced", xi.astype(np.int8).min(axis=(0, 2)))], 13, axes=[0, 2], keepdims=0)
    write("reduce_max_uint8", "ReduceMax", [("data", (xi + 60).astype(np.uint8))],
          [("reduced", (xi + 60).astype(np.uint8).max(axis=2, keepdims=True))], 12, axes=[2])
    xl = RNG.integers(-(1 << 40), 1 << 40, size=(3, 7)).astype(np.int64)
    write("reduce_sum_int64", "ReduceSum", [("data", xl), ("axes", np.array([1], np.int64))],
          [("reduced", xl.sum(axis=1, keepdims=True))], 13)
    xp = RNG.integers(-3, 4, size=(2, 3, 4)).astype(np.int32)
    write("reduce_prod_int32", "ReduceProd", [("data", xp)],
          [("reduced", np.prod(xp, axis=(0, 2)).astype(np.int32))], 13, axes=[0, 2], keepdims=0)
    write("reduce_sum_square_int64", "ReduceSumSquare", [("data", xp.astype(np.int64))],
          [("reduced", (xp.astype(np.int64) ** 2).sum(axis=1, keepdims=True))], 13, axes=[1])
    xu = RNG.integers(0, 1000, size=(5, 6)).astype(np.uint32)
    write("reduce_mean_uint32", "ReduceMean", [("data", xu)],
          [("reduced", (xu.astype(np.float64).mean(axis=0, keepdims=True)).astype(np.uint32))],
          13, axes=[0])
    # float64 and float16.
    xd = rand(3, 4, 5, dtype=np.float64)
    write("reduce_l2_double", "ReduceL2", [("data", xd)],
          [("reduced", np.sqrt((xd ** 2).sum(axis=(0, 2))))], 13, axes=[0, 2], keepdims=0)
    xh = rand(4, 6).astype(np.float16)
    write("reduce_sum_float16", "ReduceSum", [("data", xh), ("axes", np.array([1], np.int64))],
          [("reduced", xh.astype(np.float64).sum(axis=1, keepdims=True).astype(np.float16))], 13)
    write("reduce_log_sum_exp_large", "ReduceLogSumExp", [("data", (x * 100).astype(np.float32))],
          [("reduced", np.log(np.exp((x * 100).astype(np.float64) - 600).sum(axis=(1, 2)))
            .astype(np.float32) + 600)], 13, axes=[1, 2], keepdims=0)
    xpos = np.abs(rand(3, 4, 5)) + 0.1
    write("reduce_log_sum_axes_0_2", "ReduceLogSum", [("data", xpos)],
          [("reduced", np.log(xpos.astype(np.float64).sum(axis=(0, 2), keepdims=True))
            .astype(np.float32))], 13, axes=[0, 2])
    # A large float32 sum, exact in float64 (1e-3 relative accuracy needs a wide accumulator
    # when terms cancel).
    # Large terms that nearly cancel: a float32 running sum misses the result by far more.
    big = (rand(1 << 14) * 1000 + 0.05).astype(np.float32)
    write("reduce_sum_large", "ReduceSum", [("data", big), ("axes", np.array([0], np.int64))],
          [("reduced", np.array([big.astype(np.float64).sum()], np.float32))], 13)
    # Rank-0 input: no axes reduce "all" (nothing) into a scalar.
    s = np.array(3.5, np.float32)
    write("reduce_mean_scalar", "ReduceMean", [("data", s)], [("reduced", s)], 13)
    # noop_with_empty_axes with keepdims=0: still the identity.
    write("reduce_sum_noop_nokeep", "ReduceSum",
          [("data", x), ("axes", np.array([], np.int64))], [("reduced", x)], 13, keepdims=0,
          noop_with_empty_axes=1)
    # Omitted axes input: reduce everything.
    write("reduce_sum_no_axes_input", "ReduceSum", [("data", x)],
          [("reduced", x.astype(np.float64).sum(keepdims=True).astype(np.float32))], 13)
    # Empty sets (ONNX 1.13 semantics: the identity of the operation).
    e = np.zeros((2, 0, 4), np.float32)
    write("reduce_sum_empty_set", "ReduceSum", [("data", e), ("axes", np.array([1], np.int64))],
          [("reduced", np.zeros((2, 1, 4), np.float32))], 13)
    write("reduce_prod_empty_set", "ReduceProd", [("data", e)],
          [("reduced", np.ones((2, 1, 4), np.float32))], 13, axes=[1])
    write("reduce_max_empty_set", "ReduceMax", [("data", e)],
          [("reduced", np.full((2, 4), -np.inf, np.float32))], 13, axes=[1], keepdims=0)
    write("reduce_min_empty_set_int32", "ReduceMin", [("data", e.astype(np.int32))],
          [("reduced", np.full((2, 4), np.iinfo(np.int32).max, np.int32))], 13, axes=[1],
          keepdims=0)
    write("reduce_log_sum_exp_empty_set", "ReduceLogSumExp", [("data", e)],
          [("reduced", np.full((2, 1, 4), -np.inf, np.float32))], 13, axes=[1])
    write("reduce_l2_empty_set", "ReduceL2", [("data", e)],
          [("reduced", np.zeros((2, 1, 4), np.float32))], 13, axes=[1])
    # An empty kept axis: an empty output.
    write("reduce_mean_empty_output", "ReduceMean", [("data", np.zeros((0, 3), np.float32))],
          [("reduced", np.zeros((0, 1), np.float32))], 13, axes=[1])


def stable_order(v, largest, axis):
    """Indices sorting v along axis, ties by lower index first (ONNX TopK-11)."""
    v = np.moveaxis(v, axis, -1)
    idx = np.arange(v.shape[-1])
    out = np.empty(v.shape, np.int64)
    for pos in np.ndindex(v.shape[:-1]):
        row = v[pos].astype(np.float64)
        key = -row if largest else row
        # NaN sorts as the largest value.
        nan = np.isnan(row)
        key = np.where(nan, -np.inf if largest else np.inf, key)
        out[pos] = np.lexsort((idx, key))
    return np.moveaxis(out, -1, axis)


def arg_topk_cumsum():
    x = np.array([[1, 3, 3, 2], [5, 5, 5, 1], [0, -1, 0, -1]], np.float32)
    write("argmax_ties", "ArgMax", [("data", x)],
          [("result", np.array([[1], [0], [0]], np.int64))], 13, axis=1)
    write("argmax_ties_select_last", "ArgMax", [("data", x)],
          [("result", np.array([[2], [2], [2]], np.int64))], 13, axis=1, select_last_index=1)
    write("argmin_ties_axis0", "ArgMin", [("data", x)],
          [("result", np.argmin(x, axis=0).astype(np.int64))], 13, axis=0, keepdims=0)
    xn = np.array([[1, np.nan, 3, np.nan], [2, 1, 0, 1]], np.float32)
    write("argmax_nan", "ArgMax", [("data", xn)],
          [("result", np.array([[1], [0]], np.int64))], 13, axis=1)
    write("argmin_nan", "ArgMin", [("data", xn)],
          [("result", np.array([[1], [2]], np.int64))], 13, axis=1)
    xi = RNG.integers(-5, 5, size=(3, 4, 5)).astype(np.int32)
    write("argmin_int32_middle_axis", "ArgMin", [("data", xi)],
          [("result", np.argmin(xi, axis=1).astype(np.int64))], 13, axis=-2, keepdims=0)
    xh = rand(3, 4, 5).astype(np.float16)
    write("argmax_float16", "ArgMax", [("data", xh)],
          [("result", np.argmax(xh, axis=2)[:, :, None].astype(np.int64))], 13, axis=2)
    write("argmax_opset11", "ArgMax", [("data", xh.astype(np.float32))],
          [("result", np.argmax(xh.astype(np.float32), axis=0)[None].astype(np.int64))], 11)

    # TopK with ties and NaN.
    t = np.array([[3, 1, 3, 2, 3, 0], [np.nan, 5, 5, 1, np.nan, -1]], np.float32)
    for largest in (1, 0):
        order = stable_order(t, largest, 1)[:, :4]
        write("top_k_ties_%s" % ("largest" if largest else "smallest"), "TopK",
              [("x", t), ("k", np.array([4], np.int64))],
              [("values", np.take_along_axis(t, order, 1)), ("indices", order)], 11, axis=1,
              largest=largest)
    ti = RNG.integers(-3, 3, size=(4, 3, 2)).astype(np.int32)
    order = stable_order(ti, 1, 0)[:2]
    write("top_k_int32_axis0", "TopK", [("x", ti), ("k", np.array([2], np.int64))],
          [("values", np.take_along_axis(ti, order, 0)), ("indices", order)], 11, axis=0)
    td = rand(2, 7, dtype=np.float64)
    order = stable_order(td, 1, 1)[:, :3]
    write("top_k_opset1", "TopK", [("x", td)],
          [("values", np.take_along_axis(td, order, 1)), ("indices", order)], 1, k=3)
    write("top_k_opset10", "TopK", [("x", td), ("k", np.array([7], np.int64))],
          [("values", np.take_along_axis(td, stable_order(td, 1, 1), 1)),
           ("indices", stable_order(td, 1, 1))], 10)
    write("top_k_zero", "TopK", [("x", td), ("k", np.array([0], np.int64))],
          [("values", np.zeros((2, 0), np.float64)), ("indices", np.zeros((2, 0), np.int64))],
          11)

    c = RNG.integers(-9, 9, size=(2, 3, 4)).astype(np.int32)
    ex = np.cumsum(c[:, ::-1, :], axis=1)[:, ::-1, :] - c
    write("cumsum_3d_axis1_reverse_exclusive_int32", "CumSum",
          [("x", c), ("axis", np.array(1, np.int32))], [("y", ex.astype(np.int32))], 14,
          exclusive=1, reverse=1)
    cf = rand(2, 3, 4)
    write("cumsum_3d_axis2_float", "CumSum", [("x", cf), ("axis", np.array([-1], np.int64))],
          [("y", np.cumsum(cf.astype(np.float64), axis=2).astype(np.float32))], 11)
    ch = rand(5, 3).astype(np.float16)
    write("cumsum_float16", "CumSum", [("x", ch), ("axis", np.array(0, np.int64))],
          [("y", np.cumsum(ch.astype(np.float64), axis=0).astype(np.float16))], 14)
    cl = RNG.integers(0, 1 << 40, size=(6,)).astype(np.uint64)
    write("cumsum_uint64", "CumSum", [("x", cl), ("axis", np.array(0, np.int32))],
          [("y", np.cumsum(cl))], 14)


# ------------------------------------------------------------------ norm

def bn_ref(x, s, b, m, v, eps):
    shp = (1, -1) + (1,) * (x.ndim - 2)
    return (s.reshape(shp) * (x - m.reshape(shp)) / np.sqrt(v.reshape(shp) + eps)
            + b.reshape(shp))


def norms():
    global FAMILY
    FAMILY = "norm"
    x = rand(2, 3, 4, 5, dtype=np.float64)
    s, b, m = rand(3, dtype=np.float64), rand(3, dtype=np.float64), rand(3, dtype=np.float64)
    v = RNG.random(3) + 0.5
    write("batchnorm_opset9_double", "BatchNormalization",
          [("x", x), ("s", s), ("bias", b), ("mean", m), ("var", v)],
          [("y", bn_ref(x, s, b, m, v, 1e-5))], 9)
    x2 = rand(6, 3)
    s2, b2, m2 = rand(3), rand(3), rand(3)
    v2 = (RNG.random(3) + 0.5).astype(np.float32)
    write("batchnorm_2d_input_opset7", "BatchNormalization",
          [("x", x2), ("s", s2), ("bias", b2), ("mean", m2), ("var", v2)],
          [("y", bn_ref(x2, s2, b2, m2, v2, 1e-3).astype(np.float32))], 7, epsilon=1e-3)
    # spatial = 0: one statistic per (C, H, W) element.
    x3 = rand(2, 3, 2, 2)
    s3, b3, m3 = rand(3, 2, 2), rand(3, 2, 2), rand(3, 2, 2)
    v3 = (RNG.random((3, 2, 2)) + 0.5).astype(np.float32)
    write("batchnorm_opset7_spatial0", "BatchNormalization",
          [("x", x3), ("s", s3), ("bias", b3), ("mean", m3), ("var", v3)],
          [("y", (s3 * (x3 - m3) / np.sqrt(v3 + 1e-5) + b3).astype(np.float32))], 7, spatial=0)
    # Training mode with a 3-D input and float16 data (opset 15: T, T1, T2 may differ).
    x4 = rand(4, 2, 3)
    mean_b, var_b = x4.astype(np.float64).mean(axis=(0, 2)), x4.astype(np.float64).var(axis=(0, 2))
    s4, b4, m4 = rand(2), rand(2), rand(2)
    v4 = (RNG.random(2) + 0.5).astype(np.float32)
    mom = 0.8
    write("batchnorm_training_3d", "BatchNormalization",
          [("x", x4), ("s", s4), ("bias", b4), ("mean", m4), ("var", v4)],
          [("y", bn_ref(x4.astype(np.float64), s4, b4, mean_b, var_b, 1e-5).astype(np.float32)),
           ("running_mean", (m4 * mom + mean_b * (1 - mom)).astype(np.float32)),
           ("running_var", (v4 * mom + var_b * (1 - mom)).astype(np.float32))], 15,
          training_mode=1, momentum=mom)

    xi = rand(2, 3, 7, dtype=np.float64)
    si, bi = rand(3, dtype=np.float64), rand(3, dtype=np.float64)
    mu, var = xi.mean(axis=2, keepdims=True), xi.var(axis=2, keepdims=True)
    write("instancenorm_3d_double", "InstanceNormalization",
          [("x", xi), ("s", si), ("bias", bi)],
          [("y", si.reshape(1, 3, 1) * (xi - mu) / np.sqrt(var + 1e-5) + bi.reshape(1, 3, 1))], 6)

    # LayerNormalization with Scale broadcast along the normalised axes and no B.
    xl = rand(2, 3, 4, 5)
    w = rand(1, 5)
    xm = xl.astype(np.float64)
    mean = xm.mean(axis=(2, 3), keepdims=True)
    inv = 1 / np.sqrt(xm.var(axis=(2, 3), keepdims=True) + 1e-5)
    write("layer_normalization_broadcast_scale_no_bias", "LayerNormalization",
          [("X", xl), ("W", w)],
          [("Y", ((xm - mean) * inv * w).astype(np.float32)), ("Mean", mean.astype(np.float32)),
           ("InvStdDev", inv.astype(np.float32))], 17, axis=2)
    xh = rand(3, 8).astype(np.float16)
    wh, bh = rand(8).astype(np.float16), rand(8).astype(np.float16)
    xm = xh.astype(np.float64)
    mean = xm.mean(axis=1, keepdims=True)
    inv = 1 / np.sqrt(xm.var(axis=1, keepdims=True) + 1e-5)
    write("layer_normalization_float16_y_only", "LayerNormalization",
          [("X", xh), ("W", wh), ("B", bh)],
          [("Y", ((xm - mean) * inv * wh + bh).astype(np.float16))], 17)
    # LayerNormalization registered for older opsets (our fusion pass emits it); the ONNX
    # checker does not know it there.
    write("layer_normalization_opset13_extension", "LayerNormalization",
          [("X", xh.astype(np.float32)), ("W", wh.astype(np.float32))],
          [("Y", ((xm - mean) * inv * wh.astype(np.float64)).astype(np.float32))], 13,
          check=False)

    xr = rand(2, 6, 3, 3)
    for size in (4, 1):
        sq = np.zeros_like(xr, dtype=np.float64)
        lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
        for c in range(6):
            sq[:, c] = (xr[:, max(0, c - lo):min(6, c + hi + 1)].astype(np.float64) ** 2).sum(axis=1)
        write("lrn_size_%d" % size, "LRN", [("x", xr)],
              [("y", (xr / (1.5 + 0.001 / size * sq) ** 0.6).astype(np.float32))], 13,
              size=size, alpha=0.001, beta=0.6, bias=1.5)

    xv = rand(2, 3, 4, dtype=np.float64)
    mean = xv.mean(axis=(1,), keepdims=True)
    std = np.sqrt((xv ** 2).mean(axis=(1,), keepdims=True) - mean ** 2)
    write("mvn_axis1_double", "MeanVarianceNormalization", [("X", xv)],
          [("Y", (xv - mean) / (std + 1e-9))], 13, axes=[1])
    xv = rand(2, 3, 4, 5)
    xm = xv.astype(np.float64)
    mean = xm.mean(axis=(0, 2, 3), keepdims=True)
    std = np.sqrt((xm ** 2).mean(axis=(0, 2, 3), keepdims=True) - mean ** 2)
    write("mvn_opset9_default_axes", "MeanVarianceNormalization", [("X", xv)],
          [("Y", ((xm - mean) / (std + 1e-9)).astype(np.float32))], 9)


# ------------------------------------------------------------------ quant

def quantize(x, s, zp, lo, hi):
    q = np.rint(x.astype(np.float32) / s) + zp.astype(np.float32)  # rint: ties to even
    return np.clip(q, lo, hi)


def quants():
    global FAMILY
    FAMILY = "quant"
    # Exact ties at both parities, negative ties, saturation at both ends and +-inf.
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.0, 1e6, -1e6, np.inf, -np.inf, 253.5],
                 np.float32)
    s, zp = np.float32(1.0), np.uint8(3)
    write("quantizelinear_ties_saturate_uint8", "QuantizeLinear",
          [("x", x), ("y_scale", np.array(s)), ("y_zero_point", np.array(zp))],
          [("y", quantize(x, s, zp, 0, 255).astype(np.uint8))], 13)
    zp8 = np.int8(-1)
    write("quantizelinear_ties_saturate_int8", "QuantizeLinear",
          [("x", x), ("y_scale", np.array(s)), ("y_zero_point", np.array(zp8))],
          [("y", quantize(x, s, zp8, -128, 127).astype(np.int8))], 10)
    xr = (rand(64) * 10).astype(np.float32)
    write("quantizelinear_no_zero_point", "QuantizeLinear",
          [("x", xr), ("y_scale", np.array(np.float32(0.07)))],
          [("y", quantize(xr, np.float32(0.07), np.uint8(0), 0, 255).astype(np.uint8))], 13)
    xi = RNG.integers(-3000, 3000, size=(20,)).astype(np.int32)
    write("quantizelinear_int32_input", "QuantizeLinear",
          [("x", xi), ("y_scale", np.array(np.float32(16.0))),
           ("y_zero_point", np.array(np.int8(5)))],
          [("y", quantize(xi, np.float32(16.0), np.int8(5), -128, 127).astype(np.int8))], 10)
    # Per-axis int8 along axis 0 and axis -1.
    xa = (rand(4, 3, 5) * 4).astype(np.float32)
    sa = (RNG.random(4) * 0.1 + 0.01).astype(np.float32)
    za = RNG.integers(-10, 10, size=(4,)).astype(np.int8)
    write("quantizelinear_axis0_int8", "QuantizeLinear",
          [("x", xa), ("y_scale", sa), ("y_zero_point", za)],
          [("y", quantize(xa, sa.reshape(4, 1, 1), za.reshape(4, 1, 1), -128, 127)
            .astype(np.int8))], 13, axis=0)
    sb = (RNG.random(5) * 0.1 + 0.01).astype(np.float32)
    zb = RNG.integers(100, 150, size=(5,)).astype(np.uint8)
    write("quantizelinear_axis_neg1_uint8", "QuantizeLinear",
          [("x", xa), ("y_scale", sb), ("y_zero_point", zb)],
          [("y", quantize(xa, sb, zb, 0, 255).astype(np.uint8))], 13, axis=-1)

    qi = RNG.integers(-(1 << 20), 1 << 20, size=(3, 4)).astype(np.int32)
    write("dequantizelinear_int32", "DequantizeLinear",
          [("x", qi), ("x_scale", np.array(np.float32(0.001)))],
          [("y", (qi.astype(np.float32) * np.float32(0.001)).astype(np.float32))], 10)
    q8 = RNG.integers(-128, 128, size=(4, 3, 5)).astype(np.int8)
    write("dequantizelinear_axis0_int8", "DequantizeLinear",
          [("x", q8), ("x_scale", sa), ("x_zero_point", za)],
          [("y", ((q8.astype(np.float32) - za.reshape(4, 1, 1).astype(np.float32))
                  * sa.reshape(4, 1, 1)).astype(np.float32))], 13, axis=0)
    qu = RNG.integers(0, 256, size=(7,)).astype(np.uint8)
    write("dequantizelinear_no_zero_point", "DequantizeLinear",
          [("x", qu), ("x_scale", np.array(np.float32(0.5)))],
          [("y", qu.astype(np.float32) * np.float32(0.5))], 13)

    def dyn(x):
        mn, mx = np.float32(min(0, x.min())), np.float32(max(0, x.max()))
        scale = np.float32(1.0) if mx == mn else np.float32((mx - mn) / np.float32(255))
        zp = np.rint(np.clip(np.float32(0) - mn / scale, 0, 255)).astype(np.uint8)
        y = np.clip(np.rint(x / scale) + np.float32(zp), 0, 255).astype(np.uint8)
        return y, np.array(scale, np.float32), np.array(zp, np.uint8)

    for name, xd in (("dynamicquantizelinear_zeros", np.zeros((2, 3), np.float32)),
                     ("dynamicquantizelinear_large", (rand(64, 64) * 3 + 1).astype(np.float32))):
        y, sc, z = dyn(xd)
        write(name, "DynamicQuantizeLinear", [("x", xd)],
              [("y", y), ("y_scale", sc), ("y_zero_point", z)], 11)


if __name__ == "__main__":
    reductions()
    arg_topk_cumsum()
    norms()
    quants()
