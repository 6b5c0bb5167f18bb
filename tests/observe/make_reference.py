#!/usr/bin/python3
"""Reference values for the observer tests (tests/unit/test_observe.c).

Writes tests/observe/data/*.npy (seeded float32 data sets) and tests/observe/reference.json:
for each case the scale/offset (float32 values, exactly representable in the JSON doubles)
and the clip range every algorithm must produce. Each algorithm is implemented here
independently and straightforwardly in numpy from its description (docs/calibration.md):
TensorRT's entropy method as NVIDIA's pytorch-quantization writes it (digitize + per-level
averages), PPQ's KL as PPQ writes it, MSE by quantizing every bin center of every
candidate grid directly (the C code uses prefix sums), percentile from cumulative counts
(checked against np.quantile of the raw data), isotone from per-row sorts.

Run: /usr/bin/python3 tests/observe/make_reference.py   (about 20 s)
"""
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

# ----------------------------------------------------------------------------- data


def make_data():
    rng = np.random.default_rng(20240611)
    g = rng.standard_normal((8, 16, 8, 8)).astype(np.float32)
    g *= (1.0 + np.arange(16, dtype=np.float32) / 8.0).reshape(1, 16, 1, 1)
    out = rng.random(g.shape) < 0.001
    g[out] *= 8.0
    relu = np.maximum(rng.normal(0.3, 1.0, 8192), 0.0).astype(np.float32) * np.float32(3.0)
    skew = (rng.lognormal(0.0, 0.7, 8192) - 1.5).astype(np.float32)
    logits = (rng.standard_normal((256, 10)) * 3.0).astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    soft = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return {"gauss": g, "relu": relu, "skew": skew, "softmax": soft}


# ----------------------------------------------------------------------------- helpers


def range_to_scale(lo, hi, c, round_up):
    lo = min(lo, 0.0)
    hi = max(hi, 0.0)
    qr = float(c["qmax"] - c["qmin"])
    asym = c["policy"] == "asym"
    s = (hi - lo) / qr if asym else 2.0 * max(-lo, hi) / qr
    s = max(s, 1e-8)
    if c.get("pow2"):
        s = 2.0 ** math.ceil(math.log2(s)) if round_up else 2.0 ** math.floor(math.log2(s) + 0.5)
    sf = np.float32(s)
    off = 0.0
    if asym:
        off = float(np.rint(c["qmin"] - lo / float(sf)))
        off = min(max(off, c["qmin"]), c["qmax"])
    return float(sf), off + 0.0


def hist_range(x, kind):
    mn, mx = float(x.min()), float(x.max())
    a = max(abs(mn), abs(mx))
    if kind == "abs":
        return 0.0, a
    if kind == "signed":
        return -a, a
    return min(mn, 0.0), max(mx, 0.0)


def histogram(x, kind, nb):
    """float32 binning exactly as the C observer: t = (v - lo) * inv in float32."""
    lo, hi = hist_range(x, kind)
    v = np.abs(x) if kind == "abs" else x
    lof = np.float32(lo)
    inv = np.float32(nb / (hi - lo)) if hi > lo else np.float32(0)
    t = (v.astype(np.float32) - lof) * inv
    assert t.dtype == np.float32
    idx = np.minimum(np.floor(np.maximum(t, np.float32(0))), nb - 1).astype(np.int64)
    return np.bincount(idx.ravel(), minlength=nb), lo, hi


def edge(lo, hi, nb, k):
    return lo + (hi - lo) * (k / nb)


# ----------------------------------------------------------------------------- algorithms


def percentile_range(x, c):
    kind = "abs" if c["policy"] == "sym" else "range"
    nb = c["n_bins"]
    h, lo, hi = histogram(x, kind, nb)
    n = int(h.sum())
    allowed = int(math.floor((1.0 - c["percentile"]) * n))
    above = np.concatenate([np.cumsum(h[::-1])[::-1], [0]])  # above[k] = sum h[k:]
    k = int(np.nonzero(above[1:] <= allowed)[0][0])          # smallest k: sum h[k+1:] <= allowed
    up = edge(lo, hi, nb, k + 1)
    # sanity: the clip is within one bin above the exact order statistic
    w = (hi - lo) / nb
    v = np.sort((np.abs(x) if kind == "abs" else x).ravel().astype(np.float64))
    exact_hi = v[n - allowed - 1]
    assert exact_hi <= up + 1e-12 and up - exact_hi <= w * 1.0001, (exact_hi, up, w)
    if kind == "abs":
        return -up, up
    below = np.concatenate([[0], np.cumsum(h)])             # below[k] = sum h[:k]
    j = int(np.nonzero(below[1:] > allowed)[0][0])
    dn = edge(lo, hi, nb, j)
    exact_lo = v[allowed]
    assert dn <= exact_lo + 1e-12 and exact_lo - dn <= w * 1.0001, (exact_lo, dn, w)
    return dn, up


def kl_trt_bins(hist, levels, start=128):
    """pytorch-quantization calib/histogram.py _compute_amax_entropy (stride 1)."""
    bins = hist.astype(np.float64).copy()
    bins[0] = bins[1]
    divs = []
    for i in range(start, len(bins) + 1):
        space = np.linspace(0, i, num=levels + 1)
        dig = np.digitize(np.arange(i), space) - 1
        dig[bins[:i] == 0] = -1
        keep = dig >= 0
        sums = np.zeros(levels)
        np.add.at(sums, dig[keep], bins[:i][keep])
        cnt = np.bincount(dig[keep], minlength=levels)
        avg = np.where(cnt > 0, sums / np.maximum(cnt, 1), 0.0)
        new_density = np.where(keep, avg[np.maximum(dig, 0)], 0.0)
        ref = bins[:i].copy()
        ref[-1] += bins[i:].sum()
        p = ref / ref.sum()
        q = new_density / new_density.sum()
        m = p > 0
        if np.any(q[m] == 0):
            divs.append(np.inf)
        else:
            divs.append(float(np.sum(p[m] * np.log(p[m] / q[m]))))
    divs = np.array(divs)
    last_argmin = len(divs) - 1 - int(np.argmin(divs[::-1]))
    return last_argmin + start, divs


def kl_ppq_bins(hist, levels):
    """PPQ TorchHistObserver.hist_to_scale_offset, in float64."""
    h = hist.astype(np.float64).copy()
    nb = len(h)
    z = int(nb * .002)
    h[:z] = 0
    h[z] = 1
    total = h.sum()
    losses = []
    for r in range(levels, nb + levels - 1, levels):
        p = h[:r].copy()
        p[r - 1] += h[r:].sum()
        p = p / total
        q = h[:r].copy().reshape(levels, r // levels)
        pos = q > 0
        cnt = pos.sum(axis=1, keepdims=True)
        cnt[cnt == 0] = 1
        q = np.repeat(q.sum(axis=1, keepdims=True) / cnt, r // levels, axis=1) * pos
        q = (q / q.sum()).ravel()
        kl = float(np.dot(p, np.log10(p + 1e-30) - np.log10(q + 1e-30)))
        losses.append((kl, r))
    return sorted(losses, key=lambda t: t[0])[0][1]


def mse_range(x, c):
    nb = c["n_bins"]
    qmin, qmax = c["qmin"], c["qmax"]
    qr = float(qmax - qmin)
    kind = "signed" if c["policy"] == "sym" else "range"
    h, lo, hi = histogram(x, kind, nb)
    w = (hi - lo) / nb
    m = lo + (np.arange(nb) + 0.5) * w
    n = h.astype(np.float64)
    if kind == "signed":
        best, bk = np.inf, None
        K = math.ceil((nb // 2) * qr / (2.0 * qmax))
        for k in range(1, K + 1):
            T = 2.0 * hi * (k / nb)
            s = 2.0 * T / qr
            u = np.clip(np.floor(m / s + 0.5), qmin, qmax)
            e = float(np.sum(n * (m - u * s) ** 2))
            if e < best * (1 - 1e-12):
                best, bk = e, k
        T = 2.0 * hi * (bk / nb)
        return -T, T
    span = hi - lo
    zs = np.arange(qmin, qmax + 1, dtype=np.float64).reshape(-1, 1)
    best, bd, bz = np.inf, None, None
    for d in range(1, nb + 1):
        s = span * (d / nb) / qr
        u = np.clip(np.floor(m / s + 0.5).reshape(1, -1), qmin - zs, qmax - zs)
        e = np.sum(n * (m - u * s) ** 2, axis=1)
        i = int(np.argmin(e))
        if e[i] < best * (1 - 1e-12):
            best, bd, bz = float(e[i]), d, qmin + i
    s = span * (bd / nb) / qr
    return (qmin - bz) * s, (qmax - bz) * s


def iso_bin(v):
    v = np.asarray(v, dtype=np.float64)
    bits = v.view(np.uint64) >> np.uint64(45)
    e0 = (1023 - 40) << 7
    b = bits.astype(np.int64) - e0 + 1
    nbins = 80 * 128 + 2
    b = np.where(v >= 2.0 ** -40, b, 0)
    return np.where(v >= 2.0 ** 40, nbins - 1, b)


def iso_edge(b):
    e0 = (1023 - 40) << 7
    return float(np.array([(b - 1 + e0) << 45], dtype=np.uint64).view(np.float64)[0])


def isotone_scale(x, c):
    rows = x.reshape(x.shape[0], -1).astype(np.float64)
    srt = np.sort(rows, axis=1)
    l1, l2 = srt[:, -1], srt[:, -2]
    levels = c["qmax"] if c["policy"] == "sym" else c["qmax"] - c["qmin"]
    smax = 2.0 * (l1 - l2)
    smin = np.abs(l2) / (levels - 1)
    nbins = 80 * 128 + 2
    hmax = np.bincount(iso_bin(smax), minlength=nbins)
    hmin = np.bincount(iso_bin(smin), minlength=nbins)
    counts = np.array([hmax[b:].sum() + hmin[:b].sum() for b in range(1, nbins)])
    best = counts.max()
    a = int(np.argmax(counts == best))
    e = a
    while e + 1 < len(counts) and counts[e + 1] == best:
        e += 1
    s = iso_edge(a + 1) if e == len(counts) - 1 else 0.5 * (iso_edge(a + 1) + iso_edge(e + 1))
    s = max(s, 1e-8)
    if c.get("pow2"):
        s = 2.0 ** math.floor(math.log2(s) + 0.5)
    sf = float(np.float32(s))
    z = 0.0 if c["policy"] == "sym" else float(c["qmin"])
    return sf, z, (c["qmin"] - z) * sf, (c["qmax"] - z) * sf


# ----------------------------------------------------------------------------- cases


def groups(x, c):
    if not c.get("per_channel"):
        return [x.ravel()]
    ax = c["axis"]
    y = np.moveaxis(x, ax, 0)
    return [y[i].ravel() for i in range(y.shape[0])]


def run_case(data, c):
    x = data[c["data"]]
    scales, offsets, los, his = [], [], [], []
    algo = c["algo"]
    if algo == "isotone":
        s, z, lo, hi = isotone_scale(x, c)
        return {"scale": [s], "offset": [z], "clip_lo": [lo], "clip_hi": [hi]}
    for xg in groups(x, c):
        mn, mx = float(xg.min()), float(xg.max())
        round_up = False
        if algo == "minmax":
            lo, hi = mn, mx
            round_up = True
        elif algo == "percentile":
            lo, hi = percentile_range(xg, c)
        elif algo in ("kl_trt", "kl_ppq"):
            h, hlo, hhi = histogram(xg, "abs", c["n_bins"])
            levels = 1 << (c["bits"] - 1)
            kb = kl_trt_bins(h, levels)[0] if algo == "kl_trt" else kl_ppq_bins(h, levels)
            T = edge(hlo, hhi, c["n_bins"], kb)
            if c["policy"] == "sym":
                lo, hi = -T, T
            else:
                lo, hi = max(mn, -T), min(mx, T)
        elif algo == "mse":
            lo, hi = mse_range(xg, c)
        else:
            raise ValueError(algo)
        s, z = range_to_scale(lo, hi, c, round_up)
        scales.append(s)
        offsets.append(z)
        los.append(lo)
        his.append(hi)
    return {"scale": scales, "offset": offsets, "clip_lo": los, "clip_hi": his}


S8 = dict(bits=8, qmin=-128, qmax=127, policy="sym")
T8 = dict(bits=8, qmin=-127, qmax=127, policy="sym")
U8 = dict(bits=8, qmin=0, qmax=255, policy="asym")
A8 = dict(bits=8, qmin=-128, qmax=127, policy="asym")

CASES = [
    dict(name="minmax_gauss_s8", algo="minmax", data="gauss", **S8),
    dict(name="minmax_gauss_t8", algo="minmax", data="gauss", **T8),
    dict(name="minmax_relu_u8", algo="minmax", data="relu", **U8),
    dict(name="minmax_skew_a8", algo="minmax", data="skew", **A8),
    dict(name="minmax_skew_s8_pow2", algo="minmax", data="skew", pow2=True, **S8),
    dict(name="minmax_gauss_pc_t8", algo="minmax", data="gauss", per_channel=True, axis=1, **T8),
    dict(name="minmax_gauss_pc_u8", algo="minmax", data="gauss", per_channel=True, axis=1, **U8),
    dict(name="percentile_gauss_s8", algo="percentile", data="gauss", n_bins=4096,
         percentile=0.999, **S8),
    dict(name="percentile_skew_u8", algo="percentile", data="skew", n_bins=4096,
         percentile=0.99, **U8),
    dict(name="percentile_relu_a8", algo="percentile", data="relu", n_bins=4096,
         percentile=0.9999, **A8),
    dict(name="percentile_gauss_pc_t8", algo="percentile", data="gauss", n_bins=4096,
         percentile=0.99, per_channel=True, axis=1, **T8),
    dict(name="kl_trt_gauss_t8", algo="kl_trt", data="gauss", n_bins=2048, **T8),
    dict(name="kl_trt_relu_s8", algo="kl_trt", data="relu", n_bins=2048, **S8),
    dict(name="kl_trt_skew_u8", algo="kl_trt", data="skew", n_bins=2048, **U8),
    dict(name="kl_ppq_gauss_s8", algo="kl_ppq", data="gauss", n_bins=4096, **S8),
    dict(name="kl_ppq_relu_s8_pow2", algo="kl_ppq", data="relu", n_bins=4096, pow2=True, **S8),
    dict(name="mse_gauss_s8", algo="mse", data="gauss", n_bins=2048, **S8),
    dict(name="mse_skew_t8", algo="mse", data="skew", n_bins=2048, **T8),
    dict(name="mse_relu_u8", algo="mse", data="relu", n_bins=256, **U8),
    dict(name="mse_skew_a8", algo="mse", data="skew", n_bins=256, **A8),
    dict(name="isotone_softmax_u8", algo="isotone", data="softmax", **U8),
    dict(name="isotone_softmax_s8", algo="isotone", data="softmax", **S8),
]


def main():
    os.makedirs(DATA, exist_ok=True)
    data = make_data()
    for k, v in data.items():
        np.save(os.path.join(DATA, k + ".npy"), v)
    out = []
    for c in CASES:
        r = run_case(data, c)
        e = dict(c)
        e.update(r)
        out.append(e)
        print(c["name"], r["scale"][:2], r["offset"][:2])
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump({"generator": "tests/observe/make_reference.py", "cases": out}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
