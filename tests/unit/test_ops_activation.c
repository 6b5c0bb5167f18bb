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

PQ_TEST_MAIN()
