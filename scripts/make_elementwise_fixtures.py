#!/usr/bin/python3
"""Generates operator fixtures for the binary, unary and activation families: the cases ONNX
1.12's backend test data lacks (Gelu in both forms and domains, Mish; Softmax/LogSoftmax/
Hardmax at opset 11 with the 2-D coercion; Clip-6 attributes and unsigned/float16 Clip;
variadic Sum/Mean/Max/Min with three broadcast inputs; Where on strings; integer Div and
Mod corners; BitShift by the full width; float16/float64/integer data of unary ops and
activations).

Each fixture is a directory in the ONNX backend-test layout:
    tests/fixtures/ops/<family>_<name>/model.onnx
    tests/fixtures/ops/<family>_<name>/test_data_set_0/input_<i>.pb, output_<i>.pb

References: PyTorch (Gelu, Mish) and numpy written from the ONNX specification (its
reference semantics: np.maximum/np.minimum propagate NaN, integer Div truncates toward zero,
Mod fmod=0 follows Python's sign of the divisor). Fixed seed; run with Debian's
/usr/bin/python3:

    /usr/bin/python3 scripts/make_elementwise_fixtures.py [OUTDIR]
"""
import os
import shutil
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "ops")
RNG = np.random.default_rng(20240613)

NP_TO_ONNX = {
    np.dtype("float32"): TensorProto.FLOAT,
    np.dtype("float64"): TensorProto.DOUBLE,
    np.dtype("float16"): TensorProto.FLOAT16,
    np.dtype("int8"): TensorProto.INT8,
    np.dtype("int16"): TensorProto.INT16,
    np.dtype("int32"): TensorProto.INT32,
    np.dtype("int64"): TensorProto.INT64,
    np.dtype("uint8"): TensorProto.UINT8,
    np.dtype("uint16"): TensorProto.UINT16,
    np.dtype("uint32"): TensorProto.UINT32,
    np.dtype("uint64"): TensorProto.UINT64,
    np.dtype("bool"): TensorProto.BOOL,
    np.dtype("object"): TensorProto.STRING,
}


def rand(*shape, dtype=np.float32, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def write(name, op_type, inputs, outputs, opset=17, domain="", domain_opset=1, **attrs):
    """inputs/outputs: lists of (name, array); None as array marks an omitted input."""
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    in_names = [n if a is not None else "" for n, a in inputs]
    node = helper.make_node(op_type, in_names, [n for n, _ in outputs], domain=domain, **attrs)

    def vi(n, a):
        return helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype], list(a.shape))

    graph = helper.make_graph(
        [node], name, [vi(n, a) for n, a in inputs if a is not None],
        [vi(n, a) for n, a in outputs])
    imports = [helper.make_opsetid("", opset)]
    if domain:
        imports.append(helper.make_opsetid(domain, domain_opset))
    model = helper.make_model(graph, opset_imports=imports, producer_name="ppq-calib-fixtures")
    model.ir_version = 8
    onnx.save(model, os.path.join(d, "model.onnx"))
    k = 0
    for n, a in inputs:
        if a is None:
            continue
        t = numpy_helper.from_array(a, n)
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % k), "wb") as f:
            f.write(t.SerializeToString())
        k += 1
    for i, (n, a) in enumerate(outputs):
        t = numpy_helper.from_array(a, n)
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % i), "wb") as f:
            f.write(t.SerializeToString())


def torch_ref(fn, x):
    return fn(torch.from_numpy(x.astype(np.float64))).numpy().astype(x.dtype)


# ---------------------------------------------------------------- activations
def activations():
    x = rand(3, 4, 5, scale=3.0)
    gelu = torch.nn.functional.gelu
    write("activation_gelu_erf", "Gelu", [("x", x)], [("y", torch_ref(gelu, x))])
    write("activation_gelu_none", "Gelu", [("x", x)], [("y", torch_ref(gelu, x))],
          approximate="none")
    write("activation_gelu_tanh", "Gelu", [("x", x)],
          [("y", torch_ref(lambda t: gelu(t, approximate="tanh"), x))], approximate="tanh")
    write("activation_gelu_com_microsoft", "Gelu", [("x", x)], [("y", torch_ref(gelu, x))],
          domain="com.microsoft")
    xd = rand(2, 7, dtype=np.float64, scale=3.0)
    write("activation_gelu_tanh_float64", "Gelu", [("x", xd)],
          [("y", torch_ref(lambda t: gelu(t, approximate="tanh"), xd))], approximate="tanh")
    write("activation_mish", "Mish", [("x", x)],
          [("y", torch_ref(torch.nn.functional.mish, x))])

    # Softmax family at opset 11: the input is coerced to 2-D at `axis`.
    x3 = rand(2, 3, 4, scale=2.0)
    for axis in (0, 1, 2):
        flat = x3.reshape(int(np.prod(x3.shape[:axis])), -1).astype(np.float64)
        m = flat.max(axis=1, keepdims=True)
        e = np.exp(flat - m)
        sm = (e / e.sum(axis=1, keepdims=True)).reshape(x3.shape).astype(np.float32)
        lsm = (flat - m - np.log(e.sum(axis=1, keepdims=True))).reshape(x3.shape)
        hm = np.zeros_like(flat)
        hm[np.arange(flat.shape[0]), flat.argmax(axis=1)] = 1
        write("activation_softmax_opset11_axis%d" % axis, "Softmax", [("x", x3)],
              [("y", sm)], opset=11, axis=axis)
        write("activation_logsoftmax_opset11_axis%d" % axis, "LogSoftmax", [("x", x3)],
              [("y", lsm.astype(np.float32))], opset=11, axis=axis)
        write("activation_hardmax_opset11_axis%d" % axis, "Hardmax", [("x", x3)],
              [("y", hm.reshape(x3.shape).astype(np.float32))], opset=11, axis=axis)
    # Softmax-13 along a middle axis in float64 and float16.
    x4 = rand(2, 5, 3, dtype=np.float64)
    e = np.exp(x4 - x4.max(axis=1, keepdims=True))
    write("activation_softmax_axis1_float64", "Softmax", [("x", x4)],
          [("y", e / e.sum(axis=1, keepdims=True))], opset=13, axis=1)
    xh = rand(3, 6, dtype=np.float16)
    xf = xh.astype(np.float32)
    e = np.exp(xf - xf.max(axis=-1, keepdims=True))
    write("activation_softmax_float16", "Softmax", [("x", xh)],
          [("y", (e / e.sum(axis=-1, keepdims=True)).astype(np.float16))], opset=13)

    # Clip-6 attributes, and Clip-13 on uint8 and float16 with one bound.
    xc = rand(3, 5, scale=2.0)
    write("activation_clip_opset6_attrs", "Clip", [("x", xc)],
          [("y", np.clip(xc, -0.5, 0.7))], opset=6, min=-0.5, max=0.7)
    write("activation_clip_opset6_max_only", "Clip", [("x", xc)],
          [("y", np.minimum(xc, 0.3))], opset=6, max=0.3)
    xu = RNG.integers(0, 256, (4, 6)).astype(np.uint8)
    lo, hi = np.array(40, np.uint8), np.array(200, np.uint8)
    write("activation_clip_uint8", "Clip", [("x", xu), ("min", lo), ("max", hi)],
          [("y", np.clip(xu, lo, hi))], opset=13)
    xh = rand(4, 5, dtype=np.float16, scale=2.0)
    write("activation_clip_float16_min_only", "Clip",
          [("x", xh), ("min", np.array(-0.25, np.float16)), ("max", None)],
          [("y", np.maximum(xh, np.float16(-0.25)))], opset=13)
    xi = RNG.integers(-1000, 1000, (3, 4)).astype(np.int64)
    write("activation_clip_int64", "Clip",
          [("x", xi), ("min", np.array(-300, np.int64)), ("max", np.array(250, np.int64))],
          [("y", np.clip(xi, -300, 250))], opset=13)

    # Relu-14 on integers, other activations on float16/float64.
    xr = RNG.integers(-128, 128, (4, 5)).astype(np.int8)
    write("activation_relu_int8", "Relu", [("x", xr)], [("y", np.maximum(xr, 0))], opset=14)
    xh = rand(3, 4, dtype=np.float16, scale=2.0)
    xf = xh.astype(np.float32)
    write("activation_leakyrelu_float16", "LeakyRelu", [("x", xh)],
          [("y", np.where(xf < 0, 0.1 * xf, xf).astype(np.float16))], opset=16, alpha=0.1)
    write("activation_hardswish_float16", "HardSwish", [("x", xh)],
          [("y", (xf * np.clip(xf / 6 + 0.5, 0, 1)).astype(np.float16))], opset=14)
    xd = rand(3, 4, dtype=np.float64, scale=4.0)
    write("activation_sigmoid_float64", "Sigmoid", [("x", xd)], [("y", 1 / (1 + np.exp(-xd)))],
          opset=13)
    xs = np.array([-100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0], np.float32)
    write("activation_sigmoid_saturation", "Sigmoid", [("x", xs)],
          [("y", (1 / (1 + np.exp(-xs.astype(np.float64)))).astype(np.float32))], opset=13)
    write("activation_softplus_large", "Softplus", [("x", xs)],
          [("y", np.logaddexp(0, xs.astype(np.float64)).astype(np.float32))], opset=1)
    write("activation_tanh_float64", "Tanh", [("x", xd)], [("y", np.tanh(xd))], opset=13)
    xp = rand(2, 3, 4, 5, dtype=np.float16)
    slope = rand(3, 1, 1, dtype=np.float16)
    xpf, sf = xp.astype(np.float32), slope.astype(np.float32)
    write("activation_prelu_float16_channel", "PRelu", [("x", xp), ("slope", slope)],
          [("y", np.where(xpf < 0, xpf * sf, xpf).astype(np.float16))], opset=16)
    xpi = RNG.integers(-50, 50, (3, 4)).astype(np.int32)
    si = RNG.integers(-3, 4, (4,)).astype(np.int32)
    write("activation_prelu_int32", "PRelu", [("x", xpi), ("slope", si)],
          [("y", np.where(xpi < 0, xpi * si, xpi).astype(np.int32))], opset=16)


# ---------------------------------------------------------------- binary
def binary():
    a, b, c = rand(2, 3, 4), rand(3, 1), rand(4)
    write("binary_sum_three_bcast", "Sum", [("a", a), ("b", b), ("c", c)],
          [("y", a + b + c)], opset=13)
    write("binary_mean_three_bcast", "Mean", [("a", a), ("b", b), ("c", c)],
          [("y", ((a + b + c) / np.float32(3)).astype(np.float32))], opset=13)
    ai = RNG.integers(-100, 100, (2, 1, 4)).astype(np.int32)
    bi = RNG.integers(-100, 100, (3, 1)).astype(np.int32)
    ci = RNG.integers(-100, 100, (1, 4)).astype(np.int32)
    di = RNG.integers(-100, 100, (2, 3, 4)).astype(np.int32)
    write("binary_max_four_bcast_int32", "Max", [("a", ai), ("b", bi), ("c", ci), ("d", di)],
          [("y", np.maximum(np.maximum(np.maximum(ai, bi), ci), di))], opset=13)
    ah, bh, ch = rand(3, 4, dtype=np.float16), rand(4, dtype=np.float16), rand(3, 1, dtype=np.float16)
    write("binary_min_three_float16", "Min", [("a", ah), ("b", bh), ("c", ch)],
          [("y", np.minimum(np.minimum(ah, bh), ch))], opset=13)
    an = np.array([1.0, np.nan, 3.0, -1.0], np.float32)
    bn = np.array([np.nan, 2.0, 1.0, -2.0], np.float32)
    write("binary_max_nan", "Max", [("a", an), ("b", bn)], [("y", np.maximum(an, bn))], opset=13)
    write("binary_min_nan", "Min", [("a", an), ("b", bn)], [("y", np.minimum(an, bn))], opset=13)

    cond = RNG.integers(0, 2, (2, 3)).astype(bool)
    xs = np.array([["a", "bb", "ccc"]], dtype=object)
    ys = np.array([["x"], ["yy"]], dtype=object)
    write("binary_where_string_bcast", "Where", [("c", cond), ("x", xs), ("y", ys)],
          [("z", np.where(cond, xs, ys))], opset=16)
    xw, yw = rand(3, 1, 4, dtype=np.float64), rand(5, 1, dtype=np.float64)
    cw = RNG.integers(0, 2, (1, 5, 4)).astype(bool)
    write("binary_where_float64_bcast", "Where", [("c", cw), ("x", xw), ("y", yw)],
          [("z", np.where(cw, xw, yw))], opset=16)

    # Integer Div truncates toward zero (C); Mod fmod=0 takes the divisor's sign.
    ad = np.array([7, -7, 7, -7, 0, 100, -100, 5], np.int32)
    bd = np.array([2, 2, -2, -2, 3, 7, 7, -5], np.int32)
    write("binary_div_int32_trunc", "Div", [("a", ad), ("b", bd)],
          [("y", np.trunc(ad / bd).astype(np.int32))], opset=14)
    write("binary_div_int64_bcast_scalar", "Div", [("a", ad.astype(np.int64)),
          ("b", np.array(-3, np.int64))], [("y", np.trunc(ad / -3.0).astype(np.int64))],
          opset=14)
    write("binary_mod_int64_python_bcast", "Mod", [("a", ad.astype(np.int64).reshape(2, 4)),
          ("b", np.array([3, -3, 4, -4], np.int64))],
          [("y", np.mod(ad.astype(np.int64).reshape(2, 4), np.array([3, -3, 4, -4])))], opset=13)
    af = rand(2, 5, scale=5.0)
    bf = rand(5, scale=2.0)
    write("binary_mod_float32_fmod_bcast", "Mod", [("a", af), ("b", bf)],
          [("y", np.fmod(af, bf))], opset=13, fmod=1)

    au = np.array([1, 2, 255, 128, 7], np.uint8)
    bu = np.array([0, 7, 8, 9, 1], np.uint8)
    shl = np.array([int(x) << int(s) if s < 8 else 0 for x, s in zip(au, bu)]) & 0xFF
    shr = np.array([int(x) >> int(s) if s < 8 else 0 for x, s in zip(au, bu)])
    write("binary_bitshift_left_width_uint8", "BitShift", [("a", au), ("b", bu)],
          [("y", shl.astype(np.uint8))], opset=11, direction="LEFT")
    write("binary_bitshift_right_width_uint8", "BitShift", [("a", au), ("b", bu)],
          [("y", shr.astype(np.uint8))], opset=11, direction="RIGHT")

    # Arithmetic that wraps (numpy's integer semantics), and float16 / float64 inputs.
    aw = np.array([120, -120, 100, -128], np.int8)
    bw = np.array([10, -10, 100, -1], np.int8)
    with np.errstate(over="ignore"):
        write("binary_add_int8_wrap", "Add", [("a", aw), ("b", bw)], [("y", aw + bw)], opset=14)
        write("binary_mul_int8_wrap", "Mul", [("a", aw), ("b", bw)], [("y", aw * bw)], opset=14)
    a16, b16 = rand(2, 3, 4, dtype=np.float16), rand(3, 1, dtype=np.float16)
    write("binary_sub_float16_bcast", "Sub", [("a", a16), ("b", b16)],
          [("y", (a16.astype(np.float32) - b16.astype(np.float32)).astype(np.float16))], opset=14)
    a64, b64 = rand(4, 1, dtype=np.float64), rand(1, 5, dtype=np.float64)
    write("binary_div_float64_outer", "Div", [("a", a64), ("b", b64)], [("y", a64 / b64)],
          opset=14)
    write("binary_greater_float64_bcast", "Greater", [("a", a64), ("b", b64)],
          [("y", a64 > b64)], opset=13)
    ae = RNG.integers(0, 3, (3, 4)).astype(np.int64)
    be = RNG.integers(0, 3, (4,)).astype(np.int64)
    write("binary_equal_int64_bcast", "Equal", [("a", ae), ("b", be)], [("y", ae == be)],
          opset=13)
    write("binary_less_equal_int64_bcast", "LessOrEqual", [("a", ae), ("b", be)],
          [("y", ae <= be)], opset=16)
    bb1 = RNG.integers(0, 2, (3, 4)).astype(bool)
    bb2 = RNG.integers(0, 2, (4,)).astype(bool)
    write("binary_equal_bool", "Equal", [("a", bb1), ("b", bb2)], [("y", bb1 == bb2)], opset=13)

    # Opset < 7: legacy broadcast=1 with axis (B's dims line up with A's from axis on).
    la, lb = rand(2, 3, 4), rand(3)
    write("binary_greater_opset6_legacy_axis", "Greater", [("a", la), ("b", lb)],
          [("y", la > lb[None, :, None])], opset=6, broadcast=1, axis=1)
    lc = rand(2, 3)
    write("binary_sub_opset6_legacy_axis0", "Sub", [("a", la), ("b", lc)],
          [("y", la - lc[:, :, None])], opset=6, broadcast=1, axis=0)
    lt = rand(4)
    write("binary_mul_opset6_legacy_suffix", "Mul", [("a", la), ("b", lt)], [("y", la * lt)],
          opset=6, broadcast=1)

    # Pow: float base with float16 exponent, and float64 base with int32 exponent.
    pb = np.abs(rand(3, 4)) + 0.5
    pe = rand(4, dtype=np.float16)
    write("binary_pow_float32_float16", "Pow", [("a", pb), ("b", pe)],
          [("y", np.power(pb.astype(np.float64), pe.astype(np.float64)).astype(np.float32))],
          opset=15)
    px = rand(3, 5)
    write("binary_pow_square_scalar", "Pow", [("a", px), ("b", np.array(2.0, np.float32))],
          [("y", px * px)], opset=15)
    pd = rand(2, 3, dtype=np.float64)
    pi = np.array([0, 1, 2, 3, -1, -2], np.int32).reshape(2, 3)
    write("binary_pow_float64_int32", "Pow", [("a", pd), ("b", pi)],
          [("y", np.power(pd, pi.astype(np.float64)))], opset=15)


# ---------------------------------------------------------------- unary
def unary():
    ab = np.array([-128, -5, 0, 7, 127], np.int8)
    with np.errstate(over="ignore"):
        write("unary_abs_int8_min", "Abs", [("x", ab)], [("y", np.abs(ab))], opset=13)
        write("unary_neg_int32", "Neg", [("x", ab.astype(np.int32))],
              [("y", -ab.astype(np.int32))], opset=13)
    xs = RNG.integers(-5, 6, (3, 4)).astype(np.int64)
    write("unary_sign_int64", "Sign", [("x", xs)], [("y", np.sign(xs))], opset=13)
    xu = np.array([0, 3, 200], np.uint8)
    write("unary_sign_uint8", "Sign", [("x", xu)], [("y", np.sign(xu))], opset=13)
    xr = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -3.7, 4.2], np.float64)
    write("unary_round_float64_half_even", "Round", [("x", xr)], [("y", np.round(xr))],
          opset=11)
    xh = np.array([-2.5, -0.5, 0.5, 1.5, 2.5, 1000.5], np.float16)
    write("unary_round_float16", "Round", [("x", xh)], [("y", np.round(xh))], opset=11)
    xn = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0], np.float16)
    write("unary_isnan_float16", "IsNaN", [("x", xn)], [("y", np.isnan(xn))], opset=13)
    write("unary_isinf_float64", "IsInf", [("x", xn.astype(np.float64))],
          [("y", np.isinf(xn.astype(np.float64)))], opset=10)
    xe = rand(3, 4, dtype=np.float16)
    write("unary_exp_float16", "Exp", [("x", xe)],
          [("y", np.exp(xe.astype(np.float32)).astype(np.float16))], opset=13)
    xd = rand(3, 4, dtype=np.float64)
    import math
    write("unary_erf_float64", "Erf", [("x", xd)],
          [("y", np.vectorize(math.erf)(xd))], opset=13)
    write("unary_sqrt_float64", "Sqrt", [("x", np.abs(xd))], [("y", np.sqrt(np.abs(xd)))],
          opset=13)
    write("unary_floor_ceil_float16", "Floor", [("x", xe * 4)], [("y", np.floor(xe * 4))],
          opset=13)
    bo = RNG.integers(0, 2, (5,)).astype(bool)
    write("unary_not_1d", "Not", [("x", bo)], [("y", np.logical_not(bo))], opset=1)


if __name__ == "__main__":
    activations()
    binary()
    unary()
