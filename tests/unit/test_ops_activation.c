/* test_ops_activation.c - Gelu (ai.onnx with approximate = "none" | "tanh", com.microsoft)
 * and Mish, which ONNX 1.12's backend test data does not cover: one-node graphs run through
 * the executor and compared with values computed independently by PyTorch.
 *
 * Reference values were produced with PyTorch 1.13 (Debian's python3-torch) in float64:
 *
 *     x = torch.tensor([-6.0, -3.5, -2.0, -1.25, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 1.7, 2.5,
 *                       4.0, 8.0], dtype=torch.float64)
 *     torch.nn.functional.gelu(x)                      # GELU_ERF below
 *     torch.nn.functional.gelu(x, approximate='tanh')  # GELU_TANH
 *     torch.nn.functional.mish(x)                      # MISH
 */
#include "pq_exec.h"
#include "pq_test.h"

#include <math.h>

#define N_X 14
static const double X[N_X] = {-6.0, -3.5, -2.0, -1.25, -0.5, -0.1, 0.0,
                              0.1,  0.5,  1.0,  1.7,   2.5,  4.0, 8.0};
static const double GELU_ERF[N_X] = {
    -5.919525869479969e-09, -0.0008142017766243903, -0.04550026389635842,
    -0.13206221708356905,   -0.15426876936299344,   -0.0460172162722971,
    0.0,                    0.053982783727702904,   0.34573123063700656,
    0.841344746068543,      1.6242387133104768,     2.4844758366855597,
    3.9998733150326675,     7.999999999999995};
static const double GELU_TANH[N_X] = {
    -8.43964897967453e-11, -0.0006161976553737403, -0.04540230591222494,
    -0.13228579703028537,  -0.15428599017485606,   -0.04601724895456484,
    0.0,                   0.053982751045435165,   0.34571400982514394,
    0.8411919906082768,    1.624105895551156,      2.484915733910001,
    3.9999297540518075,    8.0};
static const double MISH[N_X] = {
    -0.014854080479424991, -0.10409575448637122, -0.2525014826957089,
    -0.3084139611415277,   -0.22074377465173,    -0.05678857521284474,
    0.0,                   0.06317941749148973,  0.3752452113048951,
    0.8650983882673103,    1.6207680739755408,   2.471392304557881,
    3.9974128069762385,    7.999998200644843};

/* A graph x -> op -> y with x of shape [2, 7]; approximate (Gelu) set when not NULL. */
static pq_graph *one_op_graph(const char *type, const char *domain, int opset,
                              const char *approximate)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_var *x, *y;
    pq_op *op;
    PQ_EXPECT_OK(pq_graph_create("t", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 17, &err), &err);
    if (domain[0]) PQ_EXPECT_OK(pq_graph_set_opset(g, domain, opset, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "x", &x, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "y", &y, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, type, "op", domain, opset, &op, &err), &err);
    if (approximate) PQ_EXPECT_OK(pq_op_set_string(op, "approximate", approximate, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, op, x, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, op, y, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_input(g, x, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, y, &err), &err);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    return g;
}

/* Runs the graph on X in dtype dt; returns y (caller destroys) or NULL. */
static pq_tensor *run_graph(pq_graph *g, pq_dtype dt)
{
    pq_err err = {0};
    pq_executor *ex = NULL;
    pq_tensor *x = NULL, *y = NULL;
    const int64_t dims[2] = {2, 7};
    PQ_EXPECT_OK(pq_tensor_create(dt, 2, dims, &x, &err), &err);
    for (int i = 0; x && i < N_X; i++) {
        if (dt == PQ_DTYPE_FLOAT64)
            PQ_DATA(x, double)[i] = X[i];
        else if (dt == PQ_DTYPE_FLOAT16)
            PQ_DATA(x, uint16_t)[i] = pq_f32_to_f16((float)X[i]);
        else
            PQ_DATA(x, float)[i] = (float)X[i];
    }
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (ex && x) {
        const char *feed_names[1] = {"x"};
        const char *req[1] = {"y"};
        pq_tensor *feeds[1] = {x};
        PQ_EXPECT_OK(pq_executor_run(ex, 1, feed_names, feeds, 1, req, &y, &err), &err);
    }
    pq_executor_destroy(&ex);
    pq_tensor_destroy(&x);
    if (y) {
        PQ_EXPECT_EQ(y->dtype, dt);
        PQ_EXPECT_EQ(y->rank, 2);
        PQ_EXPECT_EQ(y->numel, N_X);
    }
    return y;
}

/* Every element of y within atol + rtol * |ref| of ref. */
static void expect_close(const pq_tensor *y, const double *ref, double atol, double rtol)
{
    if (!y) {
        PQ_FAIL_AT("no output");
        return;
    }
    for (int i = 0; i < N_X; i++) {
        double v = pq_tensor_get_f64(y, i);
        if (!(fabs(v - ref[i]) <= atol + rtol * fabs(ref[i])))
            PQ_FAIL_AT("x = %g: got %.17g, expected %.17g (|err| %.3g)", X[i], v, ref[i],
                       fabs(v - ref[i]));
    }
}

/* Runs (type, domain, opset, approximate) in float32, float64 and float16 against ref. */
static void check_op(const char *type, const char *domain, int opset, const char *approximate,
                     const double *ref)
{
    pq_graph *g = one_op_graph(type, domain, opset, approximate);
    pq_tensor *y = run_graph(g, PQ_DTYPE_FLOAT32);
    expect_close(y, ref, 1e-7, 1e-5); /* float32 rounding of the formula */
    pq_tensor_destroy(&y);
    y = run_graph(g, PQ_DTYPE_FLOAT64);
    expect_close(y, ref, 1e-14, 1e-12); /* the same formula in double */
    pq_tensor_destroy(&y);
    y = run_graph(g, PQ_DTYPE_FLOAT16);
    expect_close(y, ref, 1e-3, 2e-3); /* inputs and outputs rounded to half */
    pq_tensor_destroy(&y);
    pq_graph_destroy(&g);
}

PQ_TEST(gelu_default_is_erf_form)
{
    check_op("Gelu", "", 0, NULL, GELU_ERF);
}

PQ_TEST(gelu_approximate_none)
{
    check_op("Gelu", "", 0, "none", GELU_ERF);
}

PQ_TEST(gelu_approximate_tanh)
{
    check_op("Gelu", "", 0, "tanh", GELU_TANH);
}

PQ_TEST(gelu_com_microsoft_is_erf_form)
{
    check_op("Gelu", "com.microsoft", 1, NULL, GELU_ERF);
}

PQ_TEST(mish)
{
    check_op("Mish", "", 0, NULL, MISH);
}

PQ_TEST(gelu_rejects_unknown_approximation)
{
    pq_err err = {0};
    pq_executor *ex = NULL;
    pq_graph *g = one_op_graph("Gelu", "", 0, "fast");
    PQ_EXPECT_EQ(pq_executor_create(g, NULL, &ex, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "approximate");
    PQ_EXPECT_CONTAINS(err.msg, "fast");
    PQ_EXPECT(ex == NULL);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ large tensors */

/* Runs op `type` (opset 17) on inputs ins[0..n_in): ins[0] is fed, the others become
 * parameters (cloned). int_attr (when not NULL) is set to int_val. Uses 2 threads so that the
 * parallel paths run. Returns y or NULL. */
static pq_tensor *run_op(const char *type, int n_in, pq_tensor *const *ins, const char *int_attr,
                         int64_t int_val)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_var *v, *y;
    pq_op *op;
    pq_tensor *out = NULL;
    PQ_EXPECT_OK(pq_graph_create("t", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 17, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, type, "op", "", 0, &op, &err), &err);
    if (int_attr) PQ_EXPECT_OK(pq_op_set_int(op, int_attr, int_val, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "x", &v, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, op, v, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_input(g, v, &err), &err);
    for (int k = 1; k < n_in; k++) {
        pq_tensor *c = NULL;
        char name[16];
        snprintf(name, sizeof name, "p%d", k);
        PQ_EXPECT_OK(pq_tensor_clone(ins[k], &c, &err), &err);
        PQ_EXPECT_OK(pq_graph_create_parameter(g, name, c, &v, &err), &err);
        PQ_EXPECT_OK(pq_graph_add_input(g, op, v, &err), &err);
    }
    PQ_EXPECT_OK(pq_graph_create_var(g, "y", &y, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, op, y, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, y, &err), &err);
    pq_exec_options opts = {.threads = 2};
    PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
    if (ex) {
        const char *feed_names[1] = {"x"}, *req[1] = {"y"};
        PQ_EXPECT_OK(pq_executor_run(ex, 1, feed_names, ins, 1, req, &out, &err), &err);
    }
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    return out;
}

static pq_tensor *new_f32(int rank, const int64_t *dims)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, rank, dims, &t, &err), &err);
    return t;
}

/* Number of elements of y further than atol + rtol * |ref(x)| from ref (first few printed). */
static int64_t count_bad(const pq_tensor *x, const pq_tensor *y, double (*ref)(double),
                         double atol, double rtol)
{
    int64_t bad = 0;
    if (!y || y->numel != x->numel) return -1;
    for (int64_t i = 0; i < x->numel; i++) {
        double xv = PQ_DATA(x, float)[i], r = ref(xv), v = PQ_DATA(y, float)[i];
        if (!(fabs(v - r) <= atol + rtol * fabs(r))) {
            if (bad < 5) fprintf(stderr, "  x = %.9g: got %.9g, expected %.9g\n", xv, v, r);
            bad++;
        }
    }
    return bad;
}

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_tanh(double x) { return tanh(x); }
/* 0.5 x (1 + tanh u) written as x / (1 + e^(-2u)), which does not cancel for negative x. */
static double ref_gelu_tanh(double x)
{
    return x / (1.0 + exp(-2.0 * 0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
/* 0.5 x erfc(-x / sqrt 2), which does not cancel for negative x. */
static double ref_gelu_erf(double x) { return 0.5 * x * erfc(-x * 0.70710678118654752440); }
static double ref_relu(double x) { return x < 0 ? 0 : x; }
/* HardSwish-14 defines x * max(0, min(1, alpha * x + beta)) with float alpha = 1/6, beta =
 * 0.5: the inner value is rounded to float32 as the operator (and ONNX's reference) does,
 * which near x = -3 is far from the real-number value in relative terms. */
static double ref_hardswish(double x)
{
    float v = (float)x * (1.0f / 6.0f) + 0.5f;
    return x * fmin(fmax(v, 0), 1);
}

/* The vectorised float32 Sigmoid/Tanh/Erf/Gelu kernels (own expf, two loops per 512-block,
 * AVX clones, split over threads) stay within a few float32 ulps over a wide range. */
PQ_TEST(vectorised_exp_kernels_are_accurate_on_large_inputs)
{
    const int64_t n = 400003; /* odd: blocks and thread splits end mid-vector */
    pq_tensor *x = new_f32(1, &n);
    for (int64_t i = 0; x && i < n; i++) {
        double t = (double)i / (double)(n - 1);
        /* Dense near 0 (where tanh switches to its polynomial), sparse out to +-120. */
        PQ_DATA(x, float)[i] = (float)(t < 0.5 ? (t - 0.25) * 8.0 : (t - 0.75) * 480.0);
    }
    PQ_DATA(x, float)[0] = 1e-30f;
    PQ_DATA(x, float)[1] = -0.625f;
    PQ_DATA(x, float)[2] = 0.625f;
    struct {
        const char *type;
        double (*ref)(double);
        double atol, rtol;
    } cases[] = {{"Sigmoid", ref_sigmoid, 1e-37, 5e-7},
                 {"Tanh", ref_tanh, 1e-37, 5e-7},
                 {"Relu", ref_relu, 0, 0},
                 {"HardSwish", ref_hardswish, 1e-37, 3e-7},
                 {"Erf", erf, 1e-37, 5e-7}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        pq_tensor *y = run_op(cases[c].type, 1, &x, NULL, 0);
        int64_t bad = count_bad(x, y, cases[c].ref, cases[c].atol, cases[c].rtol);
        if (bad) PQ_FAIL_AT("%s: %lld elements off", cases[c].type, (long long)bad);
        pq_tensor_destroy(&y);
    }
    /* atol: the exp argument is clamped, so the far negative tail gives ~-5e-37, not 0.
     * rtol: the exp argument (up to ~88 in magnitude) is itself rounded to float32, and exp
     * turns its absolute error (|arg| * 6e-8) into a relative one: inherent to float32
     * arithmetic. Gelu's erf form goes through the same expf (erfc = t exp(-z^2 + P(t))). */
    static const struct {
        const char *approx;
        double (*ref)(double);
    } gelus[] = {{"tanh", ref_gelu_tanh}, {"none", ref_gelu_erf}};
    for (size_t c = 0; c < sizeof gelus / sizeof *gelus; c++) {
        pq_graph *g = one_op_graph("Gelu", "", 0, gelus[c].approx);
        pq_executor *ex = NULL;
        pq_err err = {0};
        pq_tensor *y = NULL;
        pq_exec_options opts = {.threads = 2};
        PQ_EXPECT_OK(pq_executor_create(g, &opts, &ex, &err), &err);
        if (ex) {
            const char *feed_names[1] = {"x"}, *req[1] = {"y"};
            PQ_EXPECT_OK(pq_executor_run(ex, 1, feed_names, &x, 1, req, &y, &err), &err);
        }
        int64_t bad = count_bad(x, y, gelus[c].ref, 1e-35, 1.5e-5);
        if (bad) PQ_FAIL_AT("Gelu(%s): %lld elements off", gelus[c].approx, (long long)bad);
        pq_tensor_destroy(&y);
        pq_executor_destroy(&ex);
        pq_graph_destroy(&g);
    }
    pq_tensor_destroy(&x);
}

/* Add over large tensors with every kind of broadcast (rows split over threads, one long
 * run split into chunks, scalar and suffix operands, both operands broadcast) equals the
 * naive numpy-rule loop exactly. */
PQ_TEST(large_add_broadcasts_match_naive_loop)
{
    const int64_t full[4] = {4, 64, 33, 35};
    struct {
        int ra, rb;
        int64_t da[4], db[4];
    } cases[] = {
        {4, 4, {4, 64, 33, 35}, {4, 64, 33, 35}}, /* same shape: one run */
        {4, 3, {4, 64, 33, 35}, {64, 1, 1}},      /* per-channel bias */
        {4, 1, {4, 64, 33, 35}, {35}},            /* suffix */
        {4, 0, {4, 64, 33, 35}, {0}},             /* scalar */
        {4, 4, {1, 64, 1, 35}, {4, 1, 33, 1}},    /* both broadcast */
        {2, 4, {33, 1}, {4, 64, 1, 35}},          /* A smaller than B */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        pq_tensor *a = new_f32(cases[c].ra, cases[c].da), *b = new_f32(cases[c].rb, cases[c].db);
        if (!a || !b) break;
        for (int64_t i = 0; i < a->numel; i++) PQ_DATA(a, float)[i] = (float)(i % 1013) * 0.25f;
        for (int64_t i = 0; i < b->numel; i++) PQ_DATA(b, float)[i] = (float)(i % 997) * -0.5f;
        pq_tensor *ins[2] = {a, b};
        pq_tensor *y = run_op("Add", 2, ins, NULL, 0);
        int64_t bad = 0;
        if (!y || y->rank != 4 || y->numel != 4 * 64 * 33 * 35) {
            PQ_FAIL_AT("case %zu: wrong output", c);
        } else {
            int64_t idx = 0;
            for (int64_t i0 = 0; i0 < full[0]; i0++)
                for (int64_t i1 = 0; i1 < full[1]; i1++)
                    for (int64_t i2 = 0; i2 < full[2]; i2++)
                        for (int64_t i3 = 0; i3 < full[3]; i3++, idx++) {
                            const int64_t ii[4] = {i0, i1, i2, i3};
                            int64_t oa = 0, ob = 0;
                            for (int d = 0; d < 4; d++) {
                                int da = d - (4 - a->rank), db = d - (4 - b->rank);
                                if (da >= 0) oa = oa * a->dims[da] + (a->dims[da] == 1 ? 0 : ii[d]);
                                if (db >= 0) ob = ob * b->dims[db] + (b->dims[db] == 1 ? 0 : ii[d]);
                            }
                            float r = PQ_DATA(a, float)[oa] + PQ_DATA(b, float)[ob];
                            if (PQ_DATA(y, float)[idx] != r) bad++;
                        }
        }
        if (bad) PQ_FAIL_AT("case %zu: %lld elements differ", c, (long long)bad);
        pq_tensor_destroy(&y);
        pq_tensor_destroy(&a);
        pq_tensor_destroy(&b);
    }
}

/* Softmax-13 over large tensors along the last axis (rows) and a middle axis (strided
 * columns), against double-precision sums. */
PQ_TEST(large_softmax_matches_double_reference)
{
    const int64_t dims[3] = {6, 700, 40};
    pq_tensor *x = new_f32(3, dims);
    for (int64_t i = 0; x && i < x->numel; i++)
        PQ_DATA(x, float)[i] = (float)((i * 7919) % 2000) * 0.01f - 10.0f;
    for (int axis = 1; x && axis <= 2; axis++) {
        pq_tensor *y = run_op("Softmax", 1, &x, "axis", axis);
        if (!y) continue;
        const int64_t len = dims[axis], inner = axis == 2 ? 1 : dims[2];
        const int64_t outer = x->numel / (len * inner);
        int64_t bad = 0;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < inner; j++) {
                const float *xr = PQ_DATA(x, float) + o * len * inner + j;
                const float *yr = PQ_DATA(y, float) + o * len * inner + j;
                double mx = -INFINITY, sum = 0;
                for (int64_t k = 0; k < len; k++) mx = fmax(mx, xr[k * inner]);
                for (int64_t k = 0; k < len; k++) sum += exp(xr[k * inner] - mx);
                for (int64_t k = 0; k < len; k++) {
                    double r = exp(xr[k * inner] - mx) / sum;
                    if (!(fabs(yr[k * inner] - r) <= 1e-12 + 1e-5 * r)) bad++;
                }
            }
        if (bad) PQ_FAIL_AT("Softmax axis %d: %lld elements off", axis, (long long)bad);
        pq_tensor_destroy(&y);
    }
    pq_tensor_destroy(&x);
}

PQ_TEST_MAIN()
