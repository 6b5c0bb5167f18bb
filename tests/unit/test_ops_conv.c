/* test_ops_conv.c - Conv against a naive float64 reference at 1, 2 and 3 threads (the GEMM
 * path splits images into column tiles that start mid-row, and threads share the work), and
 * the conv/gemm/pool fixtures of tests/fixtures/ops run multi-threaded. */
#include "pq_core.h"
#include "pq_exec.h"
#include "pq_ir.h"
#include "pq_onnx.h"
#include "pq_test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct conv_case {
    const char *name;
    pq_dtype dtype;
    int r;                       /* spatial rank */
    int64_t N, C, M, group;
    int64_t in[3], k[3], s[3], d[3], pads[6];
    int bias;
} conv_case;

static pq_tensor *random_tensor(pq_dtype dt, int rank, const int64_t *dims, pq_rng *rng)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(dt, rank, dims, &t, &err), &err);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = pq_rng_uniform(rng) * 2.0 - 1.0;
        if (dt == PQ_DTYPE_FLOAT32) PQ_DATA(t, float)[i] = (float)v;
        else PQ_DATA(t, double)[i] = v;
    }
    return t;
}

/* Naive convolution in double: y[n][m][o...] = b[m] + sum over c in the group and taps.
 * Missing spatial axes (r < 3) are unit axes, so one 3-D index formula serves all ranks. */
static double *conv_reference(const conv_case *c, const pq_tensor *x, const pq_tensor *w,
                              const pq_tensor *b, int64_t *out, int64_t *numel)
{
    int64_t P_out = 1, K = 1;
    for (int i = 0; i < 3; i++) {
        int64_t in = i < c->r ? c->in[i] : 1, k = i < c->r ? c->k[i] : 1;
        int64_t s = i < c->r ? c->s[i] : 1, d = i < c->r ? c->d[i] : 1;
        int64_t pb = i < c->r ? c->pads[i] : 0, pe = i < c->r ? c->pads[c->r + i] : 0;
        out[i] = (in + pb + pe - ((k - 1) * d + 1)) / s + 1;
        P_out *= out[i];
        K *= k;
    }
    *numel = c->N * c->M * P_out;
    double *y = pq_calloc((size_t)*numel, sizeof *y);
    int64_t Cg = c->C / c->group, Mg = c->M / c->group;
    int64_t in0 = c->r > 0 ? c->in[0] : 1, in1 = c->r > 1 ? c->in[1] : 1;
    int64_t in2 = c->r > 2 ? c->in[2] : 1;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t o0 = 0; o0 < out[0]; o0++)
                for (int64_t o1 = 0; o1 < out[1]; o1++)
                    for (int64_t o2 = 0; o2 < out[2]; o2++) {
                        double acc = b ? pq_tensor_get_f64(b, m) : 0.0;
                        int64_t gr = m / Mg;
                        for (int64_t cc = 0; cc < Cg; cc++)
                            for (int64_t kidx = 0; kidx < K; kidx++) {
                                int64_t kk[3] = {0, 0, 0}, rem = kidx;
                                for (int i = c->r - 1; i >= 0; i--) {
                                    kk[i] = rem % c->k[i];
                                    rem /= c->k[i];
                                }
                                int64_t o[3] = {o0, o1, o2}, ii[3] = {0, 0, 0};
                                int ok = 1;
                                for (int i = 0; i < c->r; i++) {
                                    ii[i] = o[i] * c->s[i] - c->pads[i] + kk[i] * c->d[i];
                                    if (ii[i] < 0 || ii[i] >= c->in[i]) ok = 0;
                                }
                                if (!ok) continue;
                                int64_t xi = ((n * c->C + gr * Cg + cc) * in0 + ii[0]) * in1;
                                xi = (xi + ii[1]) * in2 + ii[2];
                                acc += pq_tensor_get_f64(x, xi) *
                                       pq_tensor_get_f64(w, (m * Cg + cc) * K + kidx);
                            }
                        y[((n * c->M + m) * out[0] + o0) * out[1] * out[2] + o1 * out[2] + o2] = acc;
                    }
    return y;
}

/* Runs the Conv of case c on x, w and b (NULL: no bias) at `threads` threads; the output
 * (caller destroys) or NULL after a recorded failure. */
static pq_tensor *run_conv(const conv_case *c, pq_tensor *x, pq_tensor *w, pq_tensor *b,
                           int threads)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_op *op = NULL;
    pq_executor *ex = NULL;
    pq_tensor *y = NULL;
    PQ_EXPECT_OK(pq_graph_create(c->name, &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 13, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "Conv", "conv", "", 0, &op, &err), &err);
    const char *names[3] = {"X", "W", "B"};
    for (int i = 0; i < 2 + c->bias; i++) {
        pq_var *v = NULL;
        PQ_EXPECT_OK(pq_graph_create_var(g, names[i], &v, &err), &err);
        PQ_EXPECT_OK(pq_graph_mark_input(g, v, &err), &err);
        PQ_EXPECT_OK(pq_graph_add_input(g, op, v, &err), &err);
    }
    pq_var *yv = NULL;
    PQ_EXPECT_OK(pq_graph_create_var(g, "Y", &yv, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, yv, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, op, yv, &err), &err);
    PQ_EXPECT_OK(pq_op_set_int(op, "group", c->group, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(op, "strides", c->s, c->r, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(op, "dilations", c->d, c->r, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(op, "pads", c->pads, 2 * c->r, &err), &err);
    pq_exec_options opts = {0};
    opts.threads = threads;
    opts.micro_batch = -1; /* the whole batch in one call (batch invariance is tested here) */
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    pq_tensor *feeds[3] = {x, w, b};
    const char *req = "Y";
    if (ex) PQ_EXPECT_OK(pq_executor_run(ex, 2 + c->bias, names, feeds, 1, &req, &y, &err), &err);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    return y;
}

static void case_tensors(const conv_case *c, pq_tensor **x, pq_tensor **w, pq_tensor **b)
{
    pq_rng rng;
    pq_rng_seed(&rng, 42);
    int64_t xd[5] = {c->N, c->C}, wd[5] = {c->M, c->C / c->group};
    for (int i = 0; i < c->r; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
    }
    *x = random_tensor(c->dtype, c->r + 2, xd, &rng);
    *w = random_tensor(c->dtype, c->r + 2, wd, &rng);
    *b = c->bias ? random_tensor(c->dtype, 1, &c->M, &rng) : NULL;
}

static void run_case(const conv_case *c, int threads)
{
    pq_tensor *x = NULL, *w = NULL, *b = NULL, *y = NULL;
    double *ref = NULL;
    case_tensors(c, &x, &w, &b);
    y = run_conv(c, x, w, b, threads);
    int64_t out[3], numel = 0;
    ref = conv_reference(c, x, w, b, out, &numel);
    if (y) {
        PQ_EXPECT_EQ(y->numel, numel);
        PQ_EXPECT_EQ(y->dtype, c->dtype);
        int bad = 0;
        double tol = c->dtype == PQ_DTYPE_FLOAT32 ? 1e-4 : 1e-10;
        for (int64_t i = 0; i < numel && i < y->numel && bad < 5; i++) {
            double v = pq_tensor_get_f64(y, i);
            if (!(fabs(v - ref[i]) <= tol * (1.0 + fabs(ref[i])))) {
                PQ_FAIL_AT("%s threads=%d: y[%lld] = %.9g, reference %.9g", c->name, threads,
                           (long long)i, v, ref[i]);
                bad++;
            }
        }
    }
    pq_free(ref);
    pq_tensor_destroy(&y);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&w);
    pq_tensor_destroy(&b);
}

static const conv_case cases[] = {
    /* 64 channels x 3x3: tiles of ~455 columns start mid-row of a 23-wide image. */
    {"conv2d_tiles", PQ_DTYPE_FLOAT32, 2, 2, 64, 8, 1, {20, 23}, {3, 3}, {1, 1}, {1, 1},
     {1, 1, 1, 1}, 1},
    {"conv2d_stride_dilation_asym", PQ_DTYPE_FLOAT32, 2, 3, 5, 7, 1, {17, 14}, {3, 2}, {2, 3},
     {2, 1}, {2, 0, 1, 3}, 1},
    {"conv2d_group", PQ_DTYPE_FLOAT32, 2, 2, 8, 12, 4, {9, 11}, {3, 3}, {1, 2}, {1, 1},
     {1, 1, 1, 1}, 0},
    {"conv2d_depthwise", PQ_DTYPE_FLOAT32, 2, 2, 6, 6, 6, {13, 12}, {3, 3}, {2, 1}, {1, 2},
     {1, 2, 1, 0}, 1},
    /* depthwise 3x3 (AVX-512 planes where the CPU has them): 7-wide rows, three column
     * blocks with a partial one, stride 2 with odd and even widths, end-only and 2-wide pads */
    {"conv2d_dw3x3_s1_narrow", PQ_DTYPE_FLOAT32, 2, 2, 5, 5, 5, {7, 7}, {3, 3}, {1, 1},
     {1, 1}, {1, 1, 1, 1}, 1},
    {"conv2d_dw3x3_s1_wide", PQ_DTYPE_FLOAT32, 2, 2, 3, 3, 3, {9, 37}, {3, 3}, {1, 1},
     {1, 1}, {1, 1, 1, 1}, 1},
    {"conv2d_dw3x3_s1_pads", PQ_DTYPE_FLOAT32, 2, 1, 4, 4, 4, {6, 20}, {3, 3}, {1, 1},
     {1, 1}, {2, 0, 0, 2}, 0},
    {"conv2d_dw3x3_s2", PQ_DTYPE_FLOAT32, 2, 2, 4, 4, 4, {15, 35}, {3, 3}, {2, 2}, {1, 1},
     {1, 1, 1, 1}, 1},
    {"conv2d_dw3x3_s2_end_pads", PQ_DTYPE_FLOAT32, 2, 1, 3, 3, 3, {14, 34}, {3, 3}, {2, 2},
     {1, 1}, {0, 0, 1, 1}, 0},
    {"conv2d_pointwise", PQ_DTYPE_FLOAT32, 2, 3, 32, 16, 1, {15, 17}, {1, 1}, {1, 1}, {1, 1},
     {0, 0, 0, 0}, 1},
    {"conv2d_pointwise_group", PQ_DTYPE_FLOAT32, 2, 1, 32, 16, 2, {9, 40}, {1, 1}, {1, 1},
     {1, 1}, {0, 0, 0, 0}, 1},
    {"conv1d_long", PQ_DTYPE_FLOAT32, 1, 2, 16, 8, 1, {300}, {5}, {1}, {2}, {3, 1}, 1},
    {"conv3d", PQ_DTYPE_FLOAT32, 3, 1, 3, 4, 1, {6, 7, 5}, {3, 2, 3}, {1, 2, 1}, {1, 1, 2},
     {1, 0, 2, 1, 1, 0}, 1},
    /* dense 3x3 stride 1: Winograd F(2x2, 3x3), odd sizes, tiles across images and chunks */
    {"conv2d_winograd", PQ_DTYPE_FLOAT32, 2, 3, 24, 20, 1, {13, 10}, {3, 3}, {1, 1}, {1, 1},
     {1, 1, 1, 1}, 1},
    {"conv2d_winograd_asym_nobias", PQ_DTYPE_FLOAT32, 2, 2, 16, 9, 1, {8, 15}, {3, 3},
     {1, 1}, {1, 1}, {0, 2, 1, 0}, 0},
    {"conv2d_winograd_many_tiles", PQ_DTYPE_FLOAT32, 2, 5, 8, 8, 1, {31, 29}, {3, 3},
     {1, 1}, {1, 1}, {1, 1, 1, 1}, 1},
    {"conv2d_f64", PQ_DTYPE_FLOAT64, 2, 2, 16, 5, 1, {12, 13}, {3, 3}, {1, 1}, {1, 1},
     {1, 1, 1, 1}, 1},
};

PQ_TEST(conv_matches_reference_at_1_2_3_threads)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int t = 1; t <= 3; t++) run_case(&cases[i], t);
}

/* Every sample's output is the same bits whether it runs alone or in a batch (calibration
 * depends on it: batches of any size must give the same statistics), on every path. */
PQ_TEST(conv_output_does_not_depend_on_batch_size)
{
    static const char *names[] = {"conv2d_winograd", "conv2d_winograd_many_tiles",
                                  "conv2d_tiles", "conv2d_depthwise", "conv2d_pointwise",
                                  "conv2d_group", "conv2d_dw3x3_s1_wide", "conv2d_dw3x3_s2"};
    for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
        const conv_case *c = NULL;
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
            if (!strcmp(cases[i].name, names[n])) c = &cases[i];
        PQ_EXPECT(c != NULL);
        if (!c) continue;
        pq_tensor *x = NULL, *w = NULL, *b = NULL, *y = NULL;
        case_tensors(c, &x, &w, &b);
        y = run_conv(c, x, w, b, 1);
        int64_t per_x = x->numel / c->N, per_y = y ? y->numel / c->N : 0;
        for (int64_t s = 0; y && s < c->N; s++) {
            pq_err err = {0};
            pq_tensor *xs = NULL, *ys = NULL;
            int64_t dims[PQ_MAX_RANK];
            memcpy(dims, x->dims, sizeof dims);
            dims[0] = 1;
            PQ_EXPECT_OK(pq_tensor_create(x->dtype, x->rank, dims, &xs, &err), &err);
            if (!xs) continue;
            memcpy(PQ_DATA(xs, float), PQ_DATA(x, float) + s * per_x, (size_t)per_x * sizeof(float));
            ys = run_conv(c, xs, w, b, 1);
            if (ys && memcmp(PQ_DATA(ys, float), PQ_DATA(y, float) + s * per_y,
                             (size_t)per_y * sizeof(float)) != 0)
                PQ_FAIL_AT("%s: sample %lld alone differs from the batch of %lld", c->name,
                           (long long)s, (long long)c->N);
            pq_tensor_destroy(&xs);
            pq_tensor_destroy(&ys);
        }
        pq_tensor_destroy(&x);
        pq_tensor_destroy(&w);
        pq_tensor_destroy(&b);
        pq_tensor_destroy(&y);
    }
}

/* Runs a two-input op on x and w at `threads` threads; returns the status and leaves the
 * message in err; the output in *out when out is not NULL (caller destroys). */
static pq_status run_pair_t(const char *type, pq_tensor *x, pq_tensor *w, int64_t group,
                            int threads, pq_tensor **out, pq_err *err)
{
    pq_graph *g = NULL;
    pq_op *op = NULL;
    pq_executor *ex = NULL;
    pq_tensor *y = NULL;
    pq_err e2 = {0};
    const char *names[2] = {"X", "W"}, *req = "Y";
    PQ_EXPECT_OK(pq_graph_create("pair", &g, &e2), &e2);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 13, &e2), &e2);
    PQ_EXPECT_OK(pq_graph_create_op(g, type, "op", "", 0, &op, &e2), &e2);
    for (int i = 0; i < 2; i++) {
        pq_var *v = NULL;
        PQ_EXPECT_OK(pq_graph_create_var(g, names[i], &v, &e2), &e2);
        PQ_EXPECT_OK(pq_graph_mark_input(g, v, &e2), &e2);
        PQ_EXPECT_OK(pq_graph_add_input(g, op, v, &e2), &e2);
    }
    pq_var *yv = NULL;
    PQ_EXPECT_OK(pq_graph_create_var(g, "Y", &yv, &e2), &e2);
    PQ_EXPECT_OK(pq_graph_mark_output(g, yv, &e2), &e2);
    PQ_EXPECT_OK(pq_graph_add_output(g, op, yv, &e2), &e2);
    if (group) PQ_EXPECT_OK(pq_op_set_int(op, "group", group, &e2), &e2);
    pq_tensor *feeds[2] = {x, w};
    pq_exec_options opts = {0};
    opts.threads = threads;
    pq_status st = pq_executor_create(g, &opts, &ex, err);
    if (st == PQ_OK) st = pq_executor_run(ex, 2, names, feeds, 1, &req, &y, err);
    if (out) *out = y;
    else pq_tensor_destroy(&y);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    return st;
}

static pq_status run_pair(const char *type, pq_tensor *x, pq_tensor *w, int64_t group,
                          pq_err *err)
{
    return run_pair_t(type, x, w, group, 1, NULL, err);
}

/* MatMul large enough that the GEMM is split over threads (by columns when wide, by rows
 * when tall), and batched both ways, against a naive reference. */
PQ_TEST(matmul_split_over_threads_matches_reference)
{
    static const int64_t shapes[][6] = {
        /* rank-3 A [b, m, k] x B [bb, k, n] (bb = 1: B broadcast, A folds into one GEMM) */
        {1, 37, 300, 1, 300, 410}, /* wide: columns split */
        {1, 420, 90, 1, 90, 33},   /* tall: rows split */
        {6, 40, 64, 6, 64, 50},    /* many small batches: batches over threads */
        {2, 150, 100, 2, 100, 120}, /* two large batches, each split */
        {5, 30, 70, 1, 70, 20},    /* B broadcast: folded */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int64_t *s = shapes[i];
        int64_t ad[3] = {s[0], s[1], s[2]}, bd[3] = {s[3], s[4], s[5]};
        pq_rng rng;
        pq_rng_seed(&rng, 11 + i);
        pq_tensor *a = random_tensor(PQ_DTYPE_FLOAT32, 3, ad, &rng);
        pq_tensor *b = random_tensor(PQ_DTYPE_FLOAT32, 3, bd, &rng);
        for (int t = 1; t <= 3; t++) {
            pq_err err = {0};
            pq_tensor *y = NULL;
            PQ_EXPECT_OK(run_pair_t("MatMul", a, b, 0, t, &y, &err), &err);
            if (!y) continue;
            PQ_EXPECT_EQ(y->numel, s[0] * s[1] * s[5]);
            int bad = 0;
            for (int64_t bi = 0; bi < s[0] && !bad; bi++)
                for (int64_t m = 0; m < s[1] && !bad; m++)
                    for (int64_t n = 0; n < s[5] && !bad; n++) {
                        double ref = 0;
                        int64_t bb = s[3] == 1 ? 0 : bi;
                        for (int64_t k = 0; k < s[2]; k++)
                            ref += (double)PQ_DATA(a, float)[(bi * s[1] + m) * s[2] + k] *
                                   PQ_DATA(b, float)[(bb * s[4] + k) * s[5] + n];
                        double v = PQ_DATA(y, float)[(bi * s[1] + m) * s[5] + n];
                        if (!(fabs(v - ref) <= 1e-4 * (1.0 + fabs(ref)))) {
                            PQ_FAIL_AT("shape %zu threads %d: y[%lld,%lld,%lld] = %.9g, "
                                       "reference %.9g", i, t, (long long)bi, (long long)m,
                                       (long long)n, v, ref);
                            bad = 1;
                        }
                    }
            pq_tensor_destroy(&y);
        }
        pq_tensor_destroy(&a);
        pq_tensor_destroy(&b);
    }
}

PQ_TEST(bad_shapes_are_refused_with_a_message)
{
    pq_err err = {0};
    pq_rng rng;
    pq_rng_seed(&rng, 7);
    int64_t xd[4] = {1, 3, 5, 5}, wd[4] = {4, 2, 3, 3}, w1[3] = {4, 3, 3};
    pq_tensor *x = random_tensor(PQ_DTYPE_FLOAT32, 4, xd, &rng);
    pq_tensor *w = random_tensor(PQ_DTYPE_FLOAT32, 4, wd, &rng);
    pq_tensor *wr = random_tensor(PQ_DTYPE_FLOAT32, 3, w1, &rng);
    PQ_EXPECT_EQ(run_pair("Conv", x, w, 0, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "does not fit");
    PQ_EXPECT_EQ(run_pair("Conv", x, w, 2, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "not divisible by group");
    PQ_EXPECT_EQ(run_pair("Conv", x, wr, 0, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "rank");
    PQ_EXPECT_EQ(run_pair("MatMul", x, w, 0, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "do not multiply");
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&w);
    pq_tensor_destroy(&wr);
}

/* Runs one fixture directory with `threads` threads; compares like pq_node_test. */
static void run_fixture(const char *dir, int threads)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    char path[1024];
    pq_tensor *ins[8] = {0}, *outs[8] = {0}, *refs[8] = {0};
    const char *in_names[8], *out_names[8];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    if (!g) return;
    int n_in = (int)g->inputs.n, n_out = (int)g->outputs.n;
    for (int i = 0; i < n_in && i < 8; i++) {
        in_names[i] = ((pq_var *)g->inputs.items[i])->name;
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, i);
        PQ_EXPECT_OK(pq_onnx_load_tensor(path, &ins[i], NULL, &err), &err);
    }
    for (int i = 0; i < n_out && i < 8; i++) {
        out_names[i] = ((pq_var *)g->outputs.items[i])->name;
        snprintf(path, sizeof path, "%s/test_data_set_0/output_%d.pb", dir, i);
        PQ_EXPECT_OK(pq_onnx_load_tensor(path, &refs[i], NULL, &err), &err);
    }
    pq_exec_options opts = {0};
    opts.threads = threads;
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    if (ex) PQ_EXPECT_OK(pq_executor_run(ex, n_in, in_names, ins, n_out, out_names, outs, &err),
                         &err);
    for (int i = 0; i < n_out; i++) {
        if (!outs[i] || !refs[i]) continue;
        PQ_EXPECT_EQ(outs[i]->dtype, refs[i]->dtype);
        PQ_EXPECT_EQ(outs[i]->numel, refs[i]->numel);
        if (outs[i]->numel != refs[i]->numel) continue;
        for (int64_t k = 0; k < refs[i]->numel; k++) {
            double v = pq_tensor_get_f64(outs[i], k), r = pq_tensor_get_f64(refs[i], k);
            if (!(fabs(v - r) <= 1e-7 + 1e-3 * fabs(r))) {
                PQ_FAIL_AT("%s threads=%d output %d[%lld]: %.9g, reference %.9g", dir, threads,
                           i, (long long)k, v, r);
                break;
            }
        }
    }
    for (int i = 0; i < 8; i++) {
        pq_tensor_destroy(&ins[i]);
        pq_tensor_destroy(&outs[i]);
        pq_tensor_destroy(&refs[i]);
    }
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
}

PQ_TEST(fixtures_pass_multithreaded)
{
    const char *root = PQ_SOURCE_DIR "/tests/fixtures/ops";
    const char *prefixes[] = {"conv", "einsum", "matmul", "gemm", "maxpool", "averagepool",
                              "lppool", "globallppool"};
    DIR *d = opendir(root);
    PQ_EXPECT(d != NULL);
    if (!d) return;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        int mine = 0;
        for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++)
            if (!strncmp(e->d_name, prefixes[p], strlen(prefixes[p]))) mine = 1;
        if (!mine) continue;
        char dir[768];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        run_fixture(dir, 3);
        n++;
    }
    closedir(d);
    PQ_EXPECT(n >= 40);
}

PQ_TEST_MAIN()
