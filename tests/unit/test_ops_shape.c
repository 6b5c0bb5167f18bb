/* test_ops_shape.c - shape and gather families against naive references on shapes large
 * enough for the tiled-transpose and threaded paths of the strided copy, strings moved
 * through every data-movement op, Cast corner cases (wrap-around, truncation, numpy-style
 * strings), views for shape-only ops, and the errors users can trigger. */
#include "test_ops_reduce_graph.h"

#include <stdint.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ helpers */

static pq_tensor *iota_tensor(pq_dtype dt, int rank, const int64_t *dims)
{
    pq_tensor *x = t1_tensor(dt, rank, dims);
    pq_err err = {0};
    for (int64_t i = 0; i < x->numel; i++) {
        switch (dt) {
        case PQ_DTYPE_FLOAT32: PQ_DATA(x, float)[i] = (float)i; break;
        case PQ_DTYPE_FLOAT16: PQ_DATA(x, uint16_t)[i] = (uint16_t)i; break; /* bit patterns */
        case PQ_DTYPE_UINT8: PQ_DATA(x, uint8_t)[i] = (uint8_t)(i * 7); break;
        case PQ_DTYPE_INT64: PQ_DATA(x, int64_t)[i] = i * 1000003; break;
        case PQ_DTYPE_STRING: {
            char s[32];
            snprintf(s, sizeof s, "s%" PRId64, i);
            PQ_EXPECT_OK(pq_tensor_set_string(x, i, s, &err), &err);
            break;
        }
        default: break;
        }
    }
    return x;
}

static pq_tensor *ints_tensor(pq_dtype dt, int64_t n, const int64_t *v)
{
    pq_tensor *x = t1_tensor(dt, 1, &n);
    for (int64_t i = 0; i < n; i++) {
        if (dt == PQ_DTYPE_INT64)
            PQ_DATA(x, int64_t)[i] = v[i];
        else
            PQ_DATA(x, int32_t)[i] = (int32_t)v[i];
    }
    return x;
}

/* Element i of x equals element j of y (same dtype; strings by content). */
static int same_elem(const pq_tensor *x, int64_t i, const pq_tensor *y, int64_t j)
{
    if (x->dtype == PQ_DTYPE_STRING)
        return strcmp(PQ_DATA(x, char *)[i], PQ_DATA(y, char *)[j]) == 0;
    size_t esz = pq_dtype_size(x->dtype);
    return memcmp((const char *)x->data + i * esz, (const char *)y->data + j * esz, esz) == 0;
}

static int check_shape(const pq_tensor *t, int rank, const int64_t *dims)
{
    if (!t) {
        PQ_FAIL_AT("no output");
        return 0;
    }
    int ok = t->rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = t->dims[i] == dims[i];
    if (!ok) {
        char a[128], b[128];
        PQ_FAIL_AT("shape %s, expected %s", pq_tensor_describe(t, a, sizeof a),
                   pq_shape_str(rank, dims, b, sizeof b));
    }
    return ok;
}

/* Runs a one-output op and returns its output (NULL on failure, which is reported). */
static pq_tensor *run1(t1_graph *t, pq_tensor **ins)
{
    pq_err err = {0};
    pq_tensor *outs[T1_MAX_IO] = {0};
    PQ_EXPECT_OK(t1_run(t, ins, outs, &err), &err);
    for (int i = 1; i < t->n_out; i++) pq_tensor_destroy(&outs[i]);
    return outs[0];
}

/* Runs an op expected to fail and checks the message. */
static void expect_fail(t1_graph *t, pq_tensor **ins, const char *needle)
{
    pq_err err = {0};
    pq_tensor *outs[T1_MAX_IO] = {0};
    pq_status st = t1_run(t, ins, outs, &err);
    PQ_EXPECT(st != PQ_OK);
    PQ_EXPECT_CONTAINS(err.msg, needle);
    for (int i = 0; i < t->n_out; i++) pq_tensor_destroy(&outs[i]);
}

/* ------------------------------------------------------------------ Transpose */

static void transpose_case(pq_dtype dt, const int64_t *dims, const int64_t *perm)
{
    t1_graph t;
    pq_err err = {0};
    t1_make(&t, "Transpose", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "perm", perm, 4, &err), &err);
    pq_tensor *x = iota_tensor(dt, 4, dims), *ins[1] = {x};
    pq_tensor *y = run1(&t, ins);
    int64_t od[4], xs[4];
    for (int i = 0; i < 4; i++) od[i] = dims[perm[i]];
    xs[3] = 1;
    for (int i = 2; i >= 0; i--) xs[i] = xs[i + 1] * dims[i + 1];
    if (check_shape(y, 4, od)) {
        int bad = 0;
        int64_t k = 0;
        for (int64_t a = 0; a < od[0]; a++)
            for (int64_t b = 0; b < od[1]; b++)
                for (int64_t c = 0; c < od[2]; c++)
                    for (int64_t d = 0; d < od[3]; d++, k++) {
                        int64_t o[4] = {a, b, c, d}, src = 0;
                        for (int i = 0; i < 4; i++) src += o[i] * xs[perm[i]];
                        if (!same_elem(y, k, x, src) && bad++ < 3)
                            PQ_FAIL_AT("%s perm (%d %d %d %d): element %" PRId64 " wrong",
                                       pq_dtype_name(dt), (int)perm[0], (int)perm[1], (int)perm[2],
                                       (int)perm[3], k);
                    }
    }
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&y);
    t1_free(&t);
}

PQ_TEST(transpose_all_4d_permutations_large)
{
    /* 2*48*40*33 = 126720 elements: above the threading threshold, and the inner dims are
     * large enough for the tiled 2-D transpose. */
    const int64_t dims[4] = {2, 48, 40, 33};
    static const pq_dtype dts[] = {PQ_DTYPE_FLOAT32, PQ_DTYPE_UINT8, PQ_DTYPE_FLOAT16,
                                   PQ_DTYPE_INT64};
    int64_t p[4];
    for (p[0] = 0; p[0] < 4; p[0]++)
        for (p[1] = 0; p[1] < 4; p[1]++)
            for (p[2] = 0; p[2] < 4; p[2]++)
                for (p[3] = 0; p[3] < 4; p[3]++) {
                    if (p[0] == p[1] || p[0] == p[2] || p[0] == p[3] || p[1] == p[2] ||
                        p[1] == p[3] || p[2] == p[3])
                        continue;
                    transpose_case(PQ_DTYPE_FLOAT32, dims, p);
                }
    const int64_t nhwc[4] = {0, 2, 3, 1}, nchw[4] = {0, 3, 1, 2};
    for (size_t k = 0; k < sizeof dts / sizeof *dts; k++) {
        transpose_case(dts[k], dims, nhwc);
        transpose_case(dts[k], dims, nchw);
    }
}

PQ_TEST(transpose_strings)
{
    const int64_t dims[4] = {2, 3, 9, 10}, perm[4] = {3, 1, 0, 2};
    transpose_case(PQ_DTYPE_STRING, dims, perm);
}

/* ------------------------------------------------------------------ Slice */

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Naive Slice on a 2-D float tensor: numpy semantics. */
static void slice_case(const int64_t *dims, const int64_t *st, const int64_t *en, const int64_t *sp)
{
    t1_graph t;
    t1_make(&t, "Slice", 13, 5, 0x1f, 1, 1);
    int64_t axes[2] = {0, 1};
    pq_tensor *x = iota_tensor(PQ_DTYPE_FLOAT32, 2, dims);
    pq_tensor *ins[5] = {x, ints_tensor(PQ_DTYPE_INT64, 2, st), ints_tensor(PQ_DTYPE_INT64, 2, en),
                         ints_tensor(PQ_DTYPE_INT64, 2, axes), ints_tensor(PQ_DTYPE_INT64, 2, sp)};
    pq_tensor *y = run1(&t, ins);
    int64_t first[2], cnt[2];
    for (int a = 0; a < 2; a++) {
        int64_t d = dims[a], s = st[a] < 0 ? st[a] + d : st[a], e = en[a] < 0 ? en[a] + d : en[a];
        if (sp[a] > 0) {
            s = clamp64(s, 0, d);
            e = clamp64(e, 0, d);
            cnt[a] = e > s ? (e - s + sp[a] - 1) / sp[a] : 0;
        } else {
            s = clamp64(s, 0, d - 1);
            e = clamp64(e, -1, d - 1);
            cnt[a] = s > e ? (s - e - sp[a] - 1) / -sp[a] : 0;
        }
        first[a] = s;
    }
    if (check_shape(y, 2, cnt)) {
        int bad = 0;
        for (int64_t i = 0; i < cnt[0]; i++)
            for (int64_t j = 0; j < cnt[1]; j++) {
                float want = (float)((first[0] + i * sp[0]) * dims[1] + first[1] + j * sp[1]);
                if (PQ_DATA(y, float)[i * cnt[1] + j] != want && bad++ < 3)
                    PQ_FAIL_AT("slice [%" PRId64 ", %" PRId64 "] wrong", i, j);
            }
    }
    for (int i = 0; i < 5; i++) pq_tensor_destroy(&ins[i]);
    pq_tensor_destroy(&y);
    t1_free(&t);
}

PQ_TEST(slice_steps_and_clamping)
{
    const int64_t dims[2] = {300, 257};
    int64_t st1[2] = {0, 0}, en1[2] = {INT64_MAX, INT64_MAX}, sp1[2] = {1, 1};
    slice_case(dims, st1, en1, sp1);
    int64_t st2[2] = {-1, INT64_MAX}, en2[2] = {INT64_MIN, -300}, sp2[2] = {-1, -3};
    slice_case(dims, st2, en2, sp2);
    int64_t st3[2] = {5, -1000}, en3[2] = {290, 1000}, sp3[2] = {7, 2};
    slice_case(dims, st3, en3, sp3);
    int64_t st4[2] = {10, 3}, en4[2] = {5, 100}, sp4[2] = {1, 1}; /* empty */
    slice_case(dims, st4, en4, sp4);
    int64_t st5[2] = {299, 100}, en5[2] = {-301, 0}, sp5[2] = {-2, -5};
    slice_case(dims, st5, en5, sp5);
}

PQ_TEST(slice_errors)
{
    t1_graph t;
    const int64_t dims[2] = {4, 5}, s[1] = {0}, e[1] = {2}, z[1] = {0}, bad_axis[1] = {2};
    t1_make(&t, "Slice", 13, 5, 0x1f, 1, 1);
    pq_tensor *ins[5] = {iota_tensor(PQ_DTYPE_FLOAT32, 2, dims), ints_tensor(PQ_DTYPE_INT64, 1, s),
                         ints_tensor(PQ_DTYPE_INT64, 1, e), ints_tensor(PQ_DTYPE_INT64, 1, z),
                         ints_tensor(PQ_DTYPE_INT64, 1, z)};
    expect_fail(&t, ins, "step of axis 0 is 0");
    pq_tensor_destroy(&ins[3]);
    ins[3] = ints_tensor(PQ_DTYPE_INT64, 1, bad_axis);
    pq_tensor_destroy(&ins[4]);
    ins[4] = NULL;
    t1_free(&t);
    t1_make(&t, "Slice", 13, 4, 0xf, 1, 1);
    expect_fail(&t, ins, "axis 2 is outside [-2, 2)");
    for (int i = 0; i < 5; i++) pq_tensor_destroy(&ins[i]);
    t1_free(&t);
}

/* ------------------------------------------------------------------ Expand, Tile */

PQ_TEST(expand_and_tile_large)
{
    t1_graph t;
    const int64_t xd[3] = {3, 1, 70}, shape[4] = {2, 1, 500, 1}, reps[3] = {2, 300, 3};
    pq_tensor *x = iota_tensor(PQ_DTYPE_FLOAT32, 3, xd);
    t1_make(&t, "Expand", 13, 2, 3, 1, 1);
    pq_tensor *ins[2] = {x, ints_tensor(PQ_DTYPE_INT64, 4, shape)};
    pq_tensor *y = run1(&t, ins);
    const int64_t ed[4] = {2, 3, 500, 70};
    if (check_shape(y, 4, ed)) {
        int bad = 0;
        for (int64_t i = 0; i < y->numel; i++) {
            int64_t c = i % 70, a = (i / (70 * 500)) % 3;
            if (PQ_DATA(y, float)[i] != (float)(a * 70 + c) && bad++ < 3)
                PQ_FAIL_AT("expand element %" PRId64 " wrong", i);
        }
    }
    pq_tensor_destroy(&ins[1]);
    pq_tensor_destroy(&y);
    t1_free(&t);

    t1_make(&t, "Tile", 13, 2, 3, 1, 1);
    ins[1] = ints_tensor(PQ_DTYPE_INT64, 3, reps);
    y = run1(&t, ins);
    const int64_t td[3] = {6, 300, 210};
    if (check_shape(y, 3, td)) {
        int bad = 0;
        for (int64_t i = 0; i < y->numel; i++) {
            int64_t c = (i % 210) % 70, a = (i / (210 * 300)) % 3;
            if (PQ_DATA(y, float)[i] != (float)(a * 70 + c) && bad++ < 3)
                PQ_FAIL_AT("tile element %" PRId64 " wrong", i);
        }
    }
    pq_tensor_destroy(&ins[1]);
    pq_tensor_destroy(&y);
    t1_free(&t);

    /* Incompatible broadcast. */
    const int64_t badshape[3] = {4, 1, 70};
    t1_make(&t, "Expand", 13, 2, 3, 1, 1);
    ins[1] = ints_tensor(PQ_DTYPE_INT64, 3, badshape);
    expect_fail(&t, ins, "cannot broadcast");
    pq_tensor_destroy(&ins[1]);
    pq_tensor_destroy(&x);
    t1_free(&t);
}

/* ------------------------------------------------------------------ strings through movement */

PQ_TEST(strings_concat_split_gather)
{
    t1_graph t;
    pq_err err = {0};
    const int64_t d1[2] = {2, 3}, d2[2] = {2, 2};
    pq_tensor *a = iota_tensor(PQ_DTYPE_STRING, 2, d1), *b = iota_tensor(PQ_DTYPE_STRING, 2, d2);
    t1_make(&t, "Concat", 13, 2, 3, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", -1, &err), &err);
    pq_tensor *ins[3] = {a, b, NULL};
    pq_tensor *y = run1(&t, ins);
    const int64_t cd[2] = {2, 5};
    static const char *const want[] = {"s0", "s1", "s2", "s0", "s1", "s3", "s4", "s5", "s2", "s3"};
    if (check_shape(y, 2, cd))
        for (int i = 0; i < 10; i++) PQ_EXPECT_STR(PQ_DATA(y, char *)[i], want[i]);
    t1_free(&t);

    /* Split it back (Split-11: split attribute). */
    t1_make(&t, "Split", 11, 1, 1, 2, 3);
    const int64_t split[2] = {3, 2};
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 1, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "split", split, 2, &err), &err);
    pq_tensor *outs[2] = {0}, *sin[1] = {y};
    PQ_EXPECT_OK(t1_run(&t, sin, outs, &err), &err);
    if (outs[0] && outs[1]) {
        for (int i = 0; i < 6; i++) PQ_EXPECT(same_elem(outs[0], i, a, i));
        for (int i = 0; i < 4; i++) PQ_EXPECT(same_elem(outs[1], i, b, i));
    }
    pq_tensor_destroy(&outs[0]);
    pq_tensor_destroy(&outs[1]);
    t1_free(&t);

    /* Gather with negative indices, then the original tensors must be untouched. */
    t1_make(&t, "Gather", 13, 2, 3, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 1, &err), &err);
    const int64_t idx[3] = {-1, 0, 4};
    pq_tensor *gin[2] = {y, ints_tensor(PQ_DTYPE_INT32, 3, idx)};
    pq_tensor *g = run1(&t, gin);
    static const char *const gwant[] = {"s1", "s0", "s1", "s3", "s3", "s3"};
    const int64_t gd[2] = {2, 3};
    if (check_shape(g, 2, gd))
        for (int i = 0; i < 6; i++) PQ_EXPECT_STR(PQ_DATA(g, char *)[i], gwant[i]);
    pq_tensor_destroy(&g);
    const int64_t oob[1] = {5};
    pq_tensor_destroy(&gin[1]);
    gin[1] = ints_tensor(PQ_DTYPE_INT64, 1, oob);
    expect_fail(&t, gin, "index 5 is outside [-5, 5)");
    pq_tensor_destroy(&gin[1]);
    t1_free(&t);

    pq_tensor_destroy(&y);
    pq_tensor_destroy(&a);
    pq_tensor_destroy(&b);
}

/* ------------------------------------------------------------------ shape-only ops are views */

PQ_TEST(reshape_squeeze_identity_share_data)
{
    t1_graph t;
    const int64_t xd[3] = {2, 1, 6}, shape[3] = {0, -1, 3};
    pq_tensor *x = iota_tensor(PQ_DTYPE_FLOAT32, 3, xd);
    t1_make(&t, "Reshape", 14, 2, 3, 1, 1);
    pq_tensor *ins[2] = {x, ints_tensor(PQ_DTYPE_INT64, 3, shape)};
    pq_tensor *y = run1(&t, ins);
    const int64_t yd[3] = {2, 2, 3};
    if (check_shape(y, 3, yd)) PQ_EXPECT(y->data == x->data);
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&ins[1]);
    const int64_t bad[2] = {5, -1};
    ins[1] = ints_tensor(PQ_DTYPE_INT64, 2, bad);
    expect_fail(&t, ins, "cannot infer the -1");
    pq_tensor_destroy(&ins[1]);
    t1_free(&t);

    const int64_t axes[1] = {-2}, axes0[1] = {0};
    t1_make(&t, "Squeeze", 13, 2, 3, 1, 1);
    ins[1] = ints_tensor(PQ_DTYPE_INT64, 1, axes);
    y = run1(&t, ins);
    const int64_t sd[2] = {2, 6};
    if (check_shape(y, 2, sd)) PQ_EXPECT(y->data == x->data);
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&ins[1]);
    ins[1] = ints_tensor(PQ_DTYPE_INT64, 1, axes0);
    expect_fail(&t, ins, "cannot squeeze axis 0 of size 2");
    pq_tensor_destroy(&ins[1]);
    t1_free(&t);

    t1_make(&t, "Identity", 16, 1, 1, 1, 1);
    y = run1(&t, ins);
    if (check_shape(y, 3, xd)) PQ_EXPECT(y->data == x->data);
    pq_tensor_destroy(&y);
    t1_free(&t);
    pq_tensor_destroy(&x);
}

/* ------------------------------------------------------------------ Cast */

static pq_tensor *cast1(pq_tensor *x, pq_dtype to)
{
    t1_graph t;
    pq_err err = {0};
    t1_make(&t, "Cast", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "to", to, &err), &err);
    pq_tensor *ins[1] = {x};
    pq_tensor *y = run1(&t, ins);
    t1_free(&t);
    if (y && y->dtype != to) PQ_FAIL_AT("cast gave %s", pq_dtype_name(y->dtype));
    return y;
}

PQ_TEST(cast_numbers)
{
    int64_t n = 6;
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 1, &n);
    const float fv[6] = {-1.75f, 2.9f, 300.5f, -0.0f, 1e10f, -129.0f};
    memcpy(x->data, fv, sizeof fv);
    pq_tensor *y = cast1(x, PQ_DTYPE_INT32);
    if (y) {
        const int32_t want[6] = {-1, 2, 300, 0, 0, -129};
        for (int i = 0; i < 6; i++)
            if (i != 4) PQ_EXPECT_EQ(PQ_DATA(y, int32_t)[i], want[i]);
    }
    pq_tensor_destroy(&y);
    y = cast1(x, PQ_DTYPE_UINT8); /* truncate then wrap, like numpy on x86 */
    if (y) {
        PQ_EXPECT_EQ(PQ_DATA(y, uint8_t)[0], 255);
        PQ_EXPECT_EQ(PQ_DATA(y, uint8_t)[2], 44);
        PQ_EXPECT_EQ(PQ_DATA(y, uint8_t)[5], 127);
    }
    pq_tensor_destroy(&y);
    y = cast1(x, PQ_DTYPE_BOOL);
    if (y) {
        const uint8_t want[6] = {1, 1, 1, 0, 1, 1};
        for (int i = 0; i < 6; i++) PQ_EXPECT_EQ(PQ_DATA(y, uint8_t)[i], want[i]);
    }
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&x);

    /* int64 -> int8 wraps; int64 -> float64 exact below 2^53; large int64 stays exact. */
    const int64_t iv[3] = {300, -129, (int64_t)1 << 53};
    x = ints_tensor(PQ_DTYPE_INT64, 3, iv);
    y = cast1(x, PQ_DTYPE_INT8);
    if (y) {
        PQ_EXPECT_EQ(PQ_DATA(y, int8_t)[0], 44);
        PQ_EXPECT_EQ(PQ_DATA(y, int8_t)[1], 127);
    }
    pq_tensor_destroy(&y);
    y = cast1(x, PQ_DTYPE_FLOAT64);
    if (y) PQ_EXPECT(PQ_DATA(y, double)[2] == 9007199254740992.0);
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&x);
}

PQ_TEST(cast_strings)
{
    int64_t n = 9;
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 1, &n);
    const float fv[9] = {1e-5f, 100.0f, 1.5e20f, -0.0f, 0.0001f, 0.1f, 123456.78f, -2.5f, 1e16f};
    /* numpy decides positional vs scientific on the float32 value: 0.0001f < 1e-4. */
    static const char *const want[9] = {"1e-05", "100.0",     "1.5e+20", "-0.0", "1e-04",
                                        "0.1",   "123456.78", "-2.5",    "1e+16"};
    memcpy(x->data, fv, sizeof fv);
    pq_tensor *s = cast1(x, PQ_DTYPE_STRING);
    if (s)
        for (int i = 0; i < 9; i++) PQ_EXPECT_STR(PQ_DATA(s, char *)[i], want[i]);
    pq_tensor *back = s ? cast1(s, PQ_DTYPE_FLOAT32) : NULL;
    if (back)
        for (int i = 0; i < 9; i++) PQ_EXPECT(PQ_DATA(back, float)[i] == fv[i]);
    pq_tensor_destroy(&back);
    pq_tensor_destroy(&s);
    pq_tensor_destroy(&x);

    pq_err err = {0};
    n = 3;
    x = t1_tensor(PQ_DTYPE_STRING, 1, &n);
    PQ_EXPECT_OK(pq_tensor_set_string(x, 0, "9007199254740993", &err), &err);
    PQ_EXPECT_OK(pq_tensor_set_string(x, 1, "-7", &err), &err);
    PQ_EXPECT_OK(pq_tensor_set_string(x, 2, "1E3", &err), &err);
    pq_tensor *y = cast1(x, PQ_DTYPE_INT64);
    if (y) {
        PQ_EXPECT_EQ(PQ_DATA(y, int64_t)[0], 9007199254740993LL);
        PQ_EXPECT_EQ(PQ_DATA(y, int64_t)[1], -7);
        PQ_EXPECT_EQ(PQ_DATA(y, int64_t)[2], 1000);
    }
    pq_tensor_destroy(&y);
    PQ_EXPECT_OK(pq_tensor_set_string(x, 1, "abc", &err), &err);
    t1_graph t;
    t1_make(&t, "Cast", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "to", PQ_DTYPE_FLOAT32, &err), &err);
    pq_tensor *ins[1] = {x};
    expect_fail(&t, ins, "cannot cast string element 1 (\"abc\")");
    t1_free(&t);
    pq_tensor_destroy(&x);

    const int64_t bd[1] = {2};
    x = t1_tensor(PQ_DTYPE_BOOL, 1, bd);
    PQ_DATA(x, uint8_t)[0] = 1;
    s = cast1(x, PQ_DTYPE_STRING);
    if (s) {
        PQ_EXPECT_STR(PQ_DATA(s, char *)[0], "True");
        PQ_EXPECT_STR(PQ_DATA(s, char *)[1], "False");
    }
    pq_tensor_destroy(&s);
    pq_tensor_destroy(&x);
}

/* ------------------------------------------------------------------ Pad */

PQ_TEST(pad_modes_and_crop)
{
    t1_graph t;
    pq_err err = {0};
    const int64_t xd[2] = {2, 3};
    pq_tensor *x = iota_tensor(PQ_DTYPE_FLOAT32, 2, xd); /* [[0 1 2] [3 4 5]] */
    /* reflect with pads wider than dim - 1 follows numpy (period 2(d-1)). */
    const int64_t pads[4] = {0, 5, -1, 4};
    static const char *const modes[3] = {"reflect", "edge", "constant"};
    static const float want[3][12] = {
        {1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2},
        {0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2},
        {7, 7, 7, 7, 7, 0, 1, 2, 7, 7, 7, 7},
    };
    for (int m = 0; m < 3; m++) {
        t1_make(&t, "Pad", 13, 3, 7, 1, 1);
        PQ_EXPECT_OK(pq_op_set_string(t.op, "mode", modes[m], &err), &err);
        pq_tensor *cv = t1_tensor(PQ_DTYPE_FLOAT32, 0, NULL);
        PQ_DATA(cv, float)[0] = 7.0f;
        pq_tensor *ins[3] = {x, ints_tensor(PQ_DTYPE_INT64, 4, pads), cv};
        pq_tensor *y = run1(&t, ins);
        const int64_t yd[2] = {1, 12};
        if (check_shape(y, 2, yd))
            for (int i = 0; i < 12; i++)
                if (PQ_DATA(y, float)[i] != want[m][i])
                    PQ_FAIL_AT("%s: index %d got %g want %g", modes[m], i, PQ_DATA(y, float)[i],
                               want[m][i]);
        pq_tensor_destroy(&y);
        pq_tensor_destroy(&ins[1]);
        pq_tensor_destroy(&cv);
        t1_free(&t);
    }
    pq_tensor_destroy(&x);
}

/* ------------------------------------------------------------------ Scatter with reductions */

PQ_TEST(scatter_reductions)
{
    t1_graph t;
    pq_err err = {0};
    const int64_t xd[2] = {2, 3}, id[2] = {2, 1};
    pq_tensor *x = t1_tensor(PQ_DTYPE_INT64, 2, xd);
    for (int i = 0; i < 6; i++) PQ_DATA(x, int64_t)[i] = i + 1;
    /* ScatterND add with a duplicated index: both rows add up. */
    pq_tensor *ind = t1_tensor(PQ_DTYPE_INT64, 2, id);
    PQ_DATA(ind, int64_t)[0] = -1;
    PQ_DATA(ind, int64_t)[1] = 1;
    pq_tensor *upd = t1_tensor(PQ_DTYPE_INT64, 2, xd);
    for (int i = 0; i < 6; i++) PQ_DATA(upd, int64_t)[i] = 10 * (i + 1);
    t1_make(&t, "ScatterND", 16, 3, 7, 1, 1);
    PQ_EXPECT_OK(pq_op_set_string(t.op, "reduction", "add", &err), &err);
    pq_tensor *ins[3] = {x, ind, upd};
    pq_tensor *y = run1(&t, ins);
    const int64_t want[6] = {1, 2, 3, 4 + 10 + 40, 5 + 20 + 50, 6 + 30 + 60};
    if (check_shape(y, 2, xd))
        for (int i = 0; i < 6; i++) PQ_EXPECT_EQ(PQ_DATA(y, int64_t)[i], want[i]);
    PQ_EXPECT_EQ(PQ_DATA(x, int64_t)[3], 4); /* input untouched */
    pq_tensor_destroy(&y);
    t1_free(&t);

    /* ScatterElements mul along axis 1. */
    const int64_t ed[2] = {1, 2};
    pq_tensor *eind = t1_tensor(PQ_DTYPE_INT32, 2, ed), *eupd = t1_tensor(PQ_DTYPE_INT64, 2, ed);
    PQ_DATA(eind, int32_t)[0] = 2;
    PQ_DATA(eind, int32_t)[1] = 2;
    PQ_DATA(eupd, int64_t)[0] = 3;
    PQ_DATA(eupd, int64_t)[1] = 5;
    t1_make(&t, "ScatterElements", 16, 3, 7, 1, 1);
    PQ_EXPECT_OK(pq_op_set_string(t.op, "reduction", "mul", &err), &err);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "axis", 1, &err), &err);
    pq_tensor *ein[3] = {x, eind, eupd};
    y = run1(&t, ein);
    if (y) PQ_EXPECT_EQ(PQ_DATA(y, int64_t)[2], 3 * 3 * 5);
    pq_tensor_destroy(&y);
    PQ_DATA(eind, int32_t)[1] = 3;
    expect_fail(&t, ein, "index 3 is outside [-3, 3)");
    t1_free(&t);
    pq_tensor_destroy(&eind);
    pq_tensor_destroy(&eupd);
    pq_tensor_destroy(&ind);
    pq_tensor_destroy(&upd);
    pq_tensor_destroy(&x);
}

/* ------------------------------------------------------------------ Dropout, Constant */

PQ_TEST(dropout_training_is_reproducible)
{
    t1_graph t;
    pq_err err = {0};
    const int64_t xd[1] = {4096};
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, 1, xd);
    for (int i = 0; i < 4096; i++) PQ_DATA(x, float)[i] = 1.0f + (float)(i % 5);
    pq_tensor *ratio = t1_tensor(PQ_DTYPE_FLOAT32, 0, NULL);
    pq_tensor *tm = t1_tensor(PQ_DTYPE_BOOL, 0, NULL);
    PQ_DATA(ratio, float)[0] = 0.25f;
    PQ_DATA(tm, uint8_t)[0] = 1;
    t1_make(&t, "Dropout", 13, 3, 7, 2, 3);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "seed", 42, &err), &err);
    pq_tensor *ins[3] = {x, ratio, tm}, *o1[2] = {0}, *o2[2] = {0};
    PQ_EXPECT_OK(t1_run(&t, ins, o1, &err), &err);
    PQ_EXPECT_OK(t1_run(&t, ins, o2, &err), &err);
    if (o1[0] && o1[1] && o2[0]) {
        int64_t kept = 0;
        for (int i = 0; i < 4096; i++) {
            float v = PQ_DATA(o1[0], float)[i], in = PQ_DATA(x, float)[i];
            int k = PQ_DATA(o1[1], uint8_t)[i];
            kept += k;
            PQ_EXPECT(v == (k ? in / 0.75f : 0.0f));
            PQ_EXPECT(v == PQ_DATA(o2[0], float)[i]);
        }
        PQ_EXPECT(kept > 2900 && kept < 3250); /* about 3072 */
    }
    for (int i = 0; i < 2; i++) {
        pq_tensor_destroy(&o1[i]);
        pq_tensor_destroy(&o2[i]);
    }
    t1_free(&t);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&ratio);
    pq_tensor_destroy(&tm);
}

PQ_TEST(constant_attribute_kinds)
{
    t1_graph t;
    pq_err err = {0};
    const int64_t iv[3] = {4, -5, 6};
    t1_make(&t, "Constant", 13, 0, 0, 1, 1);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "value_ints", iv, 3, &err), &err);
    pq_tensor *y = run1(&t, NULL);
    const int64_t d[1] = {3};
    if (check_shape(y, 1, d) && y->dtype == PQ_DTYPE_INT64)
        for (int i = 0; i < 3; i++) PQ_EXPECT_EQ(PQ_DATA(y, int64_t)[i], iv[i]);
    pq_tensor_destroy(&y);
    /* Two value attributes are an error at executor creation. */
    PQ_EXPECT_OK(pq_op_set_float(t.op, "value_float", 1.5f, &err), &err);
    expect_fail(&t, NULL, "has both 'value_float' and 'value_ints'");
    t1_free(&t);
}

PQ_TEST_MAIN()
