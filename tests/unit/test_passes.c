/* test_passes.c - each pass on small built graphs: the rewrite it makes (or refuses, with
 * the reason), and the executor's outputs before and after compared on random inputs
 * (max |after - before| / max |before|). Refusals: a BN whose input feeds a second consumer,
 * a MatMul with a 3-D input, a bias that is not constant, and the other conditions. Also
 * the pipeline (names, groups, errors, report), truncate, and allocation failures. */
#include "pq_exec.h"
#include "pq_passes.h"
#include "pq_test.h"

#include <float.h>
#include <stdarg.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ graph building */

static pq_rng rng;

static pq_graph *new_graph(int opset)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_graph_create("t", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", opset, &err), &err);
    pq_rng_seed(&rng, 7);
    return g;
}

static pq_var *var(pq_graph *g, const char *name)
{
    pq_err err = {0};
    pq_var *v = pq_graph_find_var(g, name);
    if (!v) PQ_EXPECT_OK(pq_graph_create_var(g, name, &v, &err), &err);
    return v;
}

/* A float32 graph input of the given shape. */
static pq_var *input(pq_graph *g, const char *name, int rank, ...)
{
    pq_err err = {0};
    int64_t dims[PQ_MAX_RANK];
    va_list ap;
    va_start(ap, rank);
    for (int d = 0; d < rank; d++) dims[d] = va_arg(ap, int);
    va_end(ap);
    pq_var *v = var(g, name);
    pq_var_set_shape(v, PQ_DTYPE_FLOAT32, rank, dims);
    PQ_EXPECT_OK(pq_graph_mark_input(g, v, &err), &err);
    return v;
}

static void output(pq_graph *g, const char *name)
{
    pq_err err = {0};
    PQ_EXPECT_OK(pq_graph_mark_output(g, var(g, name), &err), &err);
}

/* A float32 parameter with values lo + (hi - lo) * U(0, 1). */
static pq_var *param(pq_graph *g, const char *name, double lo, double hi, int rank, ...)
{
    pq_err err = {0};
    int64_t dims[PQ_MAX_RANK];
    va_list ap;
    va_start(ap, rank);
    for (int d = 0; d < rank; d++) dims[d] = va_arg(ap, int);
    va_end(ap);
    pq_tensor *t = NULL;
    pq_var *v = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, rank, dims, &t, &err), &err);
    for (int64_t i = 0; i < t->numel; i++)
        PQ_DATA(t, float)[i] = (float)(lo + (hi - lo) * pq_rng_uniform(&rng));
    PQ_EXPECT_OK(pq_graph_create_parameter(g, name, t, &v, &err), &err);
    return v;
}

static pq_var *scalar(pq_graph *g, const char *name, double value)
{
    return param(g, name, value, value, 0);
}

static pq_var *ints(pq_graph *g, const char *name, int n, ...)
{
    pq_err err = {0};
    int64_t nn = n;
    pq_tensor *t = NULL;
    pq_var *v = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_INT64, 1, &nn, &t, &err), &err);
    va_list ap;
    va_start(ap, n);
    for (int k = 0; k < n; k++) PQ_DATA(t, int64_t)[k] = va_arg(ap, int);
    va_end(ap);
    PQ_EXPECT_OK(pq_graph_create_parameter(g, name, t, &v, &err), &err);
    return v;
}

/* Adds op reading the comma-separated vars `ins` ("-" = omitted) and writing `outs`. */
static pq_op *op(pq_graph *g, const char *type, const char *name, const char *ins, const char *outs)
{
    pq_err err = {0};
    pq_op *o = NULL;
    PQ_EXPECT_OK(pq_graph_create_op(g, type, name, NULL, 0, &o, &err), &err);
    for (int side = 0; side < 2 && o; side++) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", side ? outs : ins);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            pq_var *v = strcmp(t, "-") == 0 ? NULL : var(g, t);
            if (side)
                PQ_EXPECT_OK(pq_graph_add_output(g, o, v, &err), &err);
            else
                PQ_EXPECT_OK(pq_graph_add_input(g, o, v, &err), &err);
        }
    }
    return o;
}

static int count(const pq_graph *g, const char *type)
{
    int n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) n += pq_op_is(g->ops.items[k], type);
    return n;
}

/* ------------------------------------------------------------------ running */

/* Runs g on seeded random inputs (shapes as declared); outputs into outs. */
static int run(const pq_graph *g, uint64_t seed, pq_tensor **outs)
{
    pq_err err = {0};
    pq_executor *ex = NULL;
    pq_rng r;
    const char *in_names[8], *req[8];
    pq_tensor *feeds[8] = {0};
    int n_in = 0, n_out = (int)g->outputs.n;
    pq_rng_seed(&r, seed);
    for (int64_t k = 0; k < g->inputs.n && n_in < 8; k++) {
        const pq_var *v = g->inputs.items[k];
        if (v->value) continue;
        PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, v->rank, v->dims, &feeds[n_in], &err), &err);
        for (int64_t i = 0; feeds[n_in] && i < feeds[n_in]->numel; i++)
            PQ_DATA(feeds[n_in], float)[i] = (float)pq_rng_normal(&r);
        in_names[n_in++] = v->name;
    }
    for (int k = 0; k < n_out; k++) req[k] = ((pq_var *)g->outputs.items[k])->name;
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    pq_status st = ex ? pq_executor_run(ex, n_in, in_names, feeds, n_out, req, outs, &err) : PQ_ERR_INTERNAL;
    PQ_EXPECT_OK(st, &err);
    pq_executor_destroy(&ex);
    for (int k = 0; k < n_in; k++) pq_tensor_destroy(&feeds[k]);
    return st == PQ_OK ? n_out : 0;
}

/* Runs `passes` on g (keeping a copy), then compares the outputs of the copy and of g on
 * the same inputs; returns the largest max|a - b| / max|b| (1e30 on failure). */
static double apply(pq_graph *g, const char *passes, pq_pass_report *rep)
{
    pq_err err = {0};
    pq_graph *before = NULL;
    pq_tensor *a[8] = {0}, *b[8] = {0};
    double worst = 1e30;
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    PQ_EXPECT_OK(pq_graph_copy(g, 1, &before, &err), &err);
    PQ_EXPECT_OK(pq_passes_run(g, passes, rep, &err), &err);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    int nb = run(before, 99, b), na = run(g, 99, a);
    if (na && na == nb) {
        worst = 0;
        for (int k = 0; k < na; k++) {
            double num = 0, den = 0;
            if (a[k]->numel != b[k]->numel || a[k]->dtype != b[k]->dtype) {
                worst = 1e30;
                continue;
            }
            if (a[k]->dtype != PQ_DTYPE_FLOAT32) { /* exact for the others */
                if (memcmp(a[k]->data, b[k]->data, a[k]->nbytes) != 0) worst = 1e30;
                continue;
            }
            for (int64_t i = 0; i < a[k]->numel && i < b[k]->numel; i++) {
                double d = fabs((double)PQ_DATA(a[k], float)[i] - PQ_DATA(b[k], float)[i]);
                if (!(d <= num)) num = d;
                if (fabs(PQ_DATA(b[k], float)[i]) > den) den = fabs(PQ_DATA(b[k], float)[i]);
            }
            double e = num / (den > 0 ? den : 1e-30);
            if (!(e <= worst)) worst = e;
        }
    }
    for (int k = 0; k < 8; k++) {
        pq_tensor_destroy(&a[k]);
        pq_tensor_destroy(&b[k]);
    }
    pq_graph_destroy(&before);
    return worst;
}

static const pq_pass_result *result(const pq_pass_report *rep, const char *pass)
{
    const pq_pass_result *r = pq_pass_report_find(rep, pass);
    PQ_EXPECT(r != NULL);
    static const pq_pass_result none = {0};
    return r ? r : &none;
}

#define EXPECT_CLOSE(e, tol)                                                    \
    do {                                                                        \
        double e_ = (e);                                                        \
        if (!(e_ <= (tol))) PQ_FAIL_AT("max relative error %.3g over %g", e_, (double)(tol)); \
    } while (0)

/* ------------------------------------------------------------------ BN folding */

/* x -> producer -> y -> BN -> z -> Relu -> out. */
static void add_bn(pq_graph *g, const char *in, int c)
{
    param(g, "bn_s", 0.5, 1.5, 1, c);
    param(g, "bn_b", -0.5, 0.5, 1, c);
    param(g, "bn_m", -0.3, 0.3, 1, c);
    param(g, "bn_v", 0.2, 2.0, 1, c);
    char ins[128];
    snprintf(ins, sizeof ins, "%s,bn_s,bn_b,bn_m,bn_v", in);
    op(g, "BatchNormalization", "bn", ins, "z");
    op(g, "Relu", "relu", "z", "out");
    output(g, "out");
}

PQ_TEST(fuse_bn_conv_grouped_with_and_without_bias)
{
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        pq_err err = {0};
        pq_graph *g = new_graph(13);
        pq_pass_report rep = {0};
        input(g, "x", 4, 2, 4, 6, 6);
        param(g, "w", -0.5, 0.5, 4, 6, 2, 3, 3);
        if (with_bias) param(g, "b", -0.2, 0.2, 1, 6);
        pq_op *c = op(g, "Conv", "conv", with_bias ? "x,w,b" : "x,w", "y");
        PQ_EXPECT_OK(pq_op_set_int(c, "group", 2, &err), &err);
        add_bn(g, "y", 6);
        EXPECT_CLOSE(apply(g, "fuse_bn", &rep), 1e-5);
        PQ_EXPECT_EQ(result(&rep, "fuse_bn")->changes, 1);
        PQ_EXPECT_EQ(count(g, "BatchNormalization"), 0);
        PQ_EXPECT_EQ(c->n_inputs, 3);
        /* The Relu now reads the Conv output; the graph output name is kept. */
        PQ_EXPECT(pq_graph_find_var(g, "out") != NULL);
        PQ_EXPECT(pq_graph_find_op(g, "relu")->inputs[0]->source_op == c);
        pq_pass_report_free(&rep);
        pq_graph_destroy(&g);
    }
}

PQ_TEST(fuse_bn_conv_transpose_grouped)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 4, 2, 4, 5, 5);
    param(g, "w", -0.5, 0.5, 4, 4, 3, 2, 2); /* [C_in, M/group, k, k], M = 6 */
    param(g, "b", -0.2, 0.2, 1, 6);
    pq_op *c = op(g, "ConvTranspose", "deconv", "x,w,b", "y");
    PQ_EXPECT_OK(pq_op_set_int(c, "group", 2, &err), &err);
    int64_t strides[2] = {2, 2};
    PQ_EXPECT_OK(pq_op_set_ints(c, "strides", strides, 2, &err), &err);
    add_bn(g, "y", 6);
    EXPECT_CLOSE(apply(g, "fuse_bn", &rep), 1e-5);
    PQ_EXPECT_EQ(count(g, "BatchNormalization"), 0);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(fuse_bn_gemm_every_bias_form)
{
    /* transB, alpha, beta, and C as absent, [N], [1, N], [M, N], scalar. */
    for (int form = 0; form < 5; form++)
        for (int tb = 0; tb < 2; tb++) {
            pq_err err = {0};
            pq_graph *g = new_graph(13);
            pq_pass_report rep = {0};
            input(g, "x", 2, 3, 5);
            if (tb)
                param(g, "w", -0.5, 0.5, 2, 4, 5);
            else
                param(g, "w", -0.5, 0.5, 2, 5, 4);
            const char *ins = "x,w,c";
            if (form == 0) ins = "x,w";
            if (form == 1) param(g, "c", -1, 1, 1, 4);
            if (form == 2) param(g, "c", -1, 1, 2, 1, 4);
            if (form == 3) param(g, "c", -1, 1, 2, 3, 4);
            if (form == 4) param(g, "c", -1, 1, 0);
            pq_op *gm = op(g, "Gemm", "gemm", ins, "y");
            PQ_EXPECT_OK(pq_op_set_int(gm, "transB", tb, &err), &err);
            PQ_EXPECT_OK(pq_op_set_float(gm, "alpha", 0.7f, &err), &err);
            PQ_EXPECT_OK(pq_op_set_float(gm, "beta", 1.3f, &err), &err);
            add_bn(g, "y", 4);
            EXPECT_CLOSE(apply(g, "fuse_bn", &rep), 1e-5);
            PQ_EXPECT_EQ(result(&rep, "fuse_bn")->changes, 1);
            PQ_EXPECT_EQ(count(g, "BatchNormalization"), 0);
            pq_pass_report_free(&rep);
            pq_graph_destroy(&g);
        }
}

PQ_TEST(fuse_bn_matmul_2d_becomes_matmul_add_then_gemm)
{
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 2, 3, 5);
    param(g, "w", -0.5, 0.5, 2, 5, 4);
    op(g, "MatMul", "mm", "x,w", "y");
    add_bn(g, "y", 4);
    EXPECT_CLOSE(apply(g, "fuse_bn,fuse_matmul_add", &rep), 1e-5);
    PQ_EXPECT_EQ(result(&rep, "fuse_bn")->changes, 1);
    PQ_EXPECT_EQ(result(&rep, "fuse_matmul_add")->changes, 1);
    PQ_EXPECT_EQ(count(g, "Gemm"), 1);
    PQ_EXPECT_EQ(count(g, "MatMul") + count(g, "Add") + count(g, "BatchNormalization"), 0);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(fuse_bn_refuses_an_input_with_a_second_consumer)
{
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 4, 1, 3, 5, 5);
    param(g, "w", -0.5, 0.5, 4, 4, 3, 3, 3);
    op(g, "Conv", "conv", "x,w", "y");
    add_bn(g, "y", 4);
    op(g, "Sigmoid", "side", "y", "s");
    output(g, "s");
    EXPECT_CLOSE(apply(g, "fuse_bn", &rep), 0);
    const pq_pass_result *r = result(&rep, "fuse_bn");
    PQ_EXPECT_EQ(r->changes, 0);
    PQ_EXPECT_EQ(r->refused, 1);
    PQ_EXPECT_CONTAINS(r->first_refusal, "node 'bn' (BatchNormalization)");
    PQ_EXPECT_CONTAINS(r->first_refusal, "feeds a second consumer");
    PQ_EXPECT_EQ(count(g, "BatchNormalization"), 1);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(fuse_bn_refuses_non_constant_statistics_training_mode_and_3d_matmul)
{
    pq_err err = {0};
    /* Variance fed at run time. */
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 4, 1, 3, 5, 5);
    input(g, "runtime_var", 1, 4);
    param(g, "w", -0.5, 0.5, 4, 4, 3, 3, 3);
    param(g, "s", 0.5, 1.5, 1, 4);
    param(g, "b", 0, 1, 1, 4);
    param(g, "m", 0, 1, 1, 4);
    op(g, "Conv", "conv", "x,w", "y");
    op(g, "BatchNormalization", "bn", "y,s,b,m,runtime_var", "out");
    output(g, "out");
    PQ_EXPECT_OK(pq_passes_run(g, "fuse_bn", &rep, &err), &err);
    PQ_EXPECT_CONTAINS(result(&rep, "fuse_bn")->first_refusal, "not a float32 parameter");
    PQ_EXPECT_EQ(count(g, "BatchNormalization"), 1);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    /* training_mode = 1 (opset 15). */
    g = new_graph(15);
    input(g, "x", 4, 1, 3, 5, 5);
    param(g, "w", -0.5, 0.5, 4, 4, 3, 3, 3);
    op(g, "Conv", "conv", "x,w", "y");
    add_bn(g, "y", 4);
    PQ_EXPECT_OK(pq_op_set_int(pq_graph_find_op(g, "bn"), "training_mode", 1, &err), &err);
    PQ_EXPECT_OK(pq_passes_run(g, "fuse_bn", &rep, &err), &err);
    PQ_EXPECT_CONTAINS(result(&rep, "fuse_bn")->first_refusal, "training_mode");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    /* MatMul on 3-D: the BN channel axis (1) is not the MatMul columns. */
    g = new_graph(13);
    input(g, "x", 3, 2, 4, 5);
    param(g, "w", -0.5, 0.5, 2, 5, 4);
    op(g, "MatMul", "mm", "x,w", "y");
    add_bn(g, "y", 4);
    EXPECT_CLOSE(apply(g, "fuse_bn", &rep), 0);
    PQ_EXPECT_CONTAINS(result(&rep, "fuse_bn")->first_refusal, "not 2-D");
    PQ_EXPECT_EQ(count(g, "BatchNormalization"), 1);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ bias, MatMul + Add */

PQ_TEST(fuse_conv_bias_folds_per_channel_constants)
{
    /* [1, C, 1, 1], [C, 1, 1], a scalar, and a Sub. */
    for (int form = 0; form < 4; form++) {
        pq_graph *g = new_graph(13);
        pq_pass_report rep = {0};
        input(g, "x", 4, 2, 3, 5, 5);
        param(g, "w", -0.5, 0.5, 4, 4, 3, 3, 3);
        if (form == 0) param(g, "c", -1, 1, 4, 1, 4, 1, 1);
        if (form == 1) param(g, "c", -1, 1, 3, 4, 1, 1);
        if (form >= 2) param(g, "c", -1, 1, 0);
        op(g, "Conv", "conv", form == 3 ? "x,w" : "x,w", "y");
        op(g, form == 3 ? "Sub" : "Add", "add", form == 1 ? "c,y" : "y,c", "out");
        output(g, "out");
        if (form == 1) { /* c + y: commutative Add */ }
        EXPECT_CLOSE(apply(g, "fuse_conv_bias", &rep), 1e-6);
        PQ_EXPECT_EQ(result(&rep, "fuse_conv_bias")->changes, 1);
        PQ_EXPECT_EQ(count(g, "Add") + count(g, "Sub"), 0);
        /* The output keeps its name and now comes from the Conv. */
        PQ_EXPECT(pq_graph_find_var(g, "out") && pq_graph_find_var(g, "out")->source_op == pq_graph_find_op(g, "conv"));
        pq_pass_report_free(&rep);
        pq_graph_destroy(&g);
    }
}

PQ_TEST(fuse_conv_bias_refusals)
{
    pq_err err = {0};
    /* A constant along the last axis ([W]) is not a per-channel bias; a graph input is not
     * constant; constant - conv negates. */
    for (int form = 0; form < 3; form++) {
        pq_graph *g = new_graph(13);
        pq_pass_report rep = {0};
        input(g, "x", 4, 2, 3, 5, 5);
        param(g, "w", -0.5, 0.5, 4, 4, 3, 3, 3);
        if (form == 0) param(g, "c", -1, 1, 1, 5);
        if (form == 1) input(g, "c", 4, 1, 4, 1, 1);
        if (form == 2) param(g, "c", -1, 1, 4, 1, 4, 1, 1);
        op(g, "Conv", "conv", "x,w", "y");
        op(g, form == 2 ? "Sub" : "Add", "add", form == 2 ? "c,y" : "y,c", "out");
        output(g, "out");
        PQ_EXPECT_OK(pq_passes_run(g, "fuse_conv_bias", &rep, &err), &err);
        const pq_pass_result *r = result(&rep, "fuse_conv_bias");
        PQ_EXPECT_EQ(r->changes, 0);
        PQ_EXPECT_EQ(r->refused, 1);
        PQ_EXPECT_CONTAINS(r->first_refusal, form == 0 ? "not one value per output channel"
                                             : form == 1 ? "not a constant"
                                                         : "negates");
        pq_pass_report_free(&rep);
        pq_graph_destroy(&g);
    }
}

PQ_TEST(fuse_matmul_add_exact_forms)
{
    /* Bias [N], [1, N], [M, N] (static M), scalar, and bias first. */
    for (int form = 0; form < 5; form++) {
        pq_graph *g = new_graph(13);
        pq_pass_report rep = {0};
        input(g, "x", 2, 3, 5);
        param(g, "w", -0.5, 0.5, 2, 5, 4);
        if (form == 0 || form == 4) param(g, "c", -1, 1, 1, 4);
        if (form == 1) param(g, "c", -1, 1, 2, 1, 4);
        if (form == 2) param(g, "c", -1, 1, 2, 3, 4);
        if (form == 3) param(g, "c", -1, 1, 0);
        op(g, "MatMul", "mm", "x,w", "y");
        op(g, "Add", "add", form == 4 ? "c,y" : "y,c", "out");
        output(g, "out");
        EXPECT_CLOSE(apply(g, "fuse_matmul_add", &rep), 1e-6);
        PQ_EXPECT_EQ(result(&rep, "fuse_matmul_add")->changes, 1);
        PQ_EXPECT_EQ(count(g, "Gemm"), 1);
        PQ_EXPECT_EQ(count(g, "MatMul") + count(g, "Add"), 0);
        pq_pass_report_free(&rep);
        pq_graph_destroy(&g);
    }
}

PQ_TEST(fuse_matmul_add_refuses_3d_input_non_constant_bias_and_rank_growing_bias)
{
    static const char *const want[] = {"not 2-D", "not a constant", "does not broadcast",
                                       "second consumer"};
    for (int form = 0; form < 4; form++) {
        pq_graph *g = new_graph(13);
        pq_pass_report rep = {0};
        if (form == 0)
            input(g, "x", 3, 2, 3, 5); /* a 3-D activation */
        else
            input(g, "x", 2, 3, 5);
        param(g, "w", -0.5, 0.5, 2, 5, 4);
        if (form == 1)
            input(g, "c", 1, 4); /* fed at run time */
        else if (form == 2)
            param(g, "c", -1, 1, 3, 1, 1, 4); /* [1, 1, N] makes the sum 3-D */
        else
            param(g, "c", -1, 1, 1, 4);
        op(g, "MatMul", "mm", "x,w", "y");
        op(g, "Add", "add", "y,c", "out");
        output(g, "out");
        if (form == 3) {
            op(g, "Relu", "side", "y", "s");
            output(g, "s");
        }
        EXPECT_CLOSE(apply(g, "fuse_matmul_add", &rep), 0);
        const pq_pass_result *r = result(&rep, "fuse_matmul_add");
        PQ_EXPECT_EQ(r->changes, 0);
        PQ_EXPECT_EQ(r->refused, 1);
        PQ_EXPECT_CONTAINS(r->first_refusal, want[form]);
        PQ_EXPECT_EQ(count(g, "MatMul"), 1);
        PQ_EXPECT_EQ(count(g, "Gemm"), 0);
        pq_pass_report_free(&rep);
        pq_graph_destroy(&g);
    }
}

/* ------------------------------------------------------------------ LayerNorm */

/* The decomposed LayerNorm over the last `k` axes of x [2, 3, 8]; affine: 0 none, 1 scale,
 * 2 scale and bias; square_mul: (x - m) * (x - m) instead of Pow. */
static pq_graph *layernorm_graph(int k, int affine, int square_mul, int extra_reader)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    input(g, "x", 3, 2, 3, 8);
    int64_t axes1[2] = {-1, 0}, axes2[2] = {-2, -1};
    pq_op *r1 = op(g, "ReduceMean", "rm1", "x", "m");
    PQ_EXPECT_OK(pq_op_set_ints(r1, "axes", k == 1 ? axes1 : axes2, k, &err), &err);
    op(g, "Sub", "sub", "x,m", "d");
    if (square_mul) {
        op(g, "Mul", "sq", "d,d", "p");
    } else {
        scalar(g, "two", 2.0);
        op(g, "Pow", "sq", "d,two", "p");
    }
    pq_op *r2 = op(g, "ReduceMean", "rm2", "p", "v");
    PQ_EXPECT_OK(pq_op_set_ints(r2, "axes", k == 1 ? axes1 : axes2, k, &err), &err);
    scalar(g, "eps", 1e-5);
    op(g, "Add", "addeps", "v,eps", "ve");
    op(g, "Sqrt", "sqrt", "ve", "sd");
    op(g, "Div", "div", "d,sd", affine ? "n" : "out");
    if (affine >= 1) {
        if (k == 1)
            param(g, "gamma", 0.5, 1.5, 1, 8);
        else
            param(g, "gamma", 0.5, 1.5, 2, 1, 8); /* broadcast along the second-last axis */
        op(g, "Mul", "mul", "gamma,n", affine == 2 ? "sn" : "out");
    }
    if (affine == 2) {
        param(g, "beta", -0.5, 0.5, 1, 8);
        op(g, "Add", "addb", "sn,beta", "out");
    }
    output(g, "out");
    if (extra_reader) {
        op(g, "Relu", "side", "d", "s");
        output(g, "s");
    }
    return g;
}

PQ_TEST(fuse_layernorm_variants)
{
    for (int k = 1; k <= 2; k++)
        for (int affine = 0; affine <= 2; affine++)
            for (int sqm = 0; sqm < 2; sqm++) {
                pq_pass_report rep = {0};
                pq_graph *g = layernorm_graph(k, affine, sqm, 0);
                EXPECT_CLOSE(apply(g, "fuse_layernorm", &rep), 1e-5);
                PQ_EXPECT_EQ(result(&rep, "fuse_layernorm")->changes, 1);
                PQ_EXPECT_EQ(g->ops.n, 1);
                pq_op *ln = g->ops.n ? g->ops.items[0] : NULL;
                PQ_EXPECT(ln && pq_op_is(ln, "LayerNormalization"));
                if (ln) {
                    int64_t axis = 0;
                    pq_err err = {0};
                    PQ_EXPECT_OK(pq_op_get_int(ln, "axis", 0, &axis, &err), &err);
                    PQ_EXPECT_EQ(axis, 3 - k); /* rank known: the positive axis */
                    PQ_EXPECT_EQ(ln->n_inputs, affine == 2 ? 3 : 2);
                    PQ_EXPECT_EQ(ln->opset, 13);
                    /* Scale materialised to the normalised shape. */
                    PQ_EXPECT_EQ(ln->inputs[1]->value->numel, k == 1 ? 8 : 24);
                }
                pq_pass_report_free(&rep);
                pq_graph_destroy(&g);
            }
}

PQ_TEST(fuse_layernorm_refusals)
{
    pq_err err = {0};
    pq_pass_report rep = {0};
    /* x - mean read outside the chain. */
    pq_graph *g = layernorm_graph(1, 2, 0, 1);
    EXPECT_CLOSE(apply(g, "fuse_layernorm", &rep), 0);
    PQ_EXPECT_EQ(result(&rep, "fuse_layernorm")->changes, 0);
    PQ_EXPECT_CONTAINS(result(&rep, "fuse_layernorm")->first_refusal, "readers outside the chain");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    /* Pow(d, 3) is not a variance. */
    g = layernorm_graph(1, 2, 0, 0);
    PQ_DATA(pq_graph_find_var(g, "two")->value, float)[0] = 3.0f;
    PQ_EXPECT_OK(pq_passes_run(g, "fuse_layernorm", &rep, &err), &err);
    PQ_EXPECT_CONTAINS(result(&rep, "fuse_layernorm")->first_refusal, "Pow is not");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    /* Reduction over a leading axis. */
    g = layernorm_graph(1, 2, 0, 0);
    int64_t ax[1] = {1};
    PQ_EXPECT_OK(pq_op_set_ints(pq_graph_find_op(g, "rm1"), "axes", ax, 1, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(pq_graph_find_op(g, "rm2"), "axes", ax, 1, &err), &err);
    PQ_EXPECT_OK(pq_passes_run(g, "fuse_layernorm", &rep, &err), &err);
    PQ_EXPECT_CONTAINS(result(&rep, "fuse_layernorm")->first_refusal, "trailing axes");
    PQ_EXPECT_EQ(count(g, "LayerNormalization"), 0);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(fuse_skip_layernorm_marks_residual_add)
{
    pq_pass_report rep = {0};
    pq_graph *g = layernorm_graph(1, 2, 0, 0);
    /* x = a + b (two activations) feeds the chain. */
    pq_var *x = pq_graph_find_var(g, "x");
    pq_graph_unmark_input(g, x);
    input(g, "a", 3, 2, 3, 8);
    input(g, "b", 3, 2, 3, 8);
    op(g, "Add", "skip", "a,b", "x");
    EXPECT_CLOSE(apply(g, "fuse_layernorm,fuse_skip_layernorm", &rep), 1e-5);
    PQ_EXPECT_EQ(result(&rep, "fuse_skip_layernorm")->changes, 1);
    pq_op *add = pq_graph_find_op(g, "skip");
    PQ_EXPECT_STR(pq_op_get_ext_str(add, PQ_EXT_FUSION), "skip_layernorm");
    PQ_EXPECT_EQ(pq_op_get_ext_int(add, PQ_EXT_FUSED_OUTPUT, 0), 1);
    pq_op *ln = x->dest_ops.n ? x->dest_ops.items[0] : NULL;
    PQ_EXPECT(ln && pq_op_is(ln, "LayerNormalization"));
    if (ln) PQ_EXPECT_STR(pq_op_get_ext_str(ln, PQ_EXT_FUSED_WITH), "skip");
    /* Marking again changes nothing. */
    pq_err err = {0};
    PQ_EXPECT_OK(pq_passes_run(g, "fuse_skip_layernorm", &rep, &err), &err);
    PQ_EXPECT_EQ(result(&rep, "fuse_skip_layernorm")->changes, 0);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(fuse_skip_layernorm_with_symbolic_batch)
{
    /* a [N, 3, 8] + Relu(b) [N, 3, 8] with N symbolic: the shape trace (on copies with N = 1
     * and N = 2) must find both sides [-1, 3, 8]. */
    pq_err err = {0};
    pq_pass_report rep = {0};
    pq_graph *g = layernorm_graph(1, 2, 0, 0);
    pq_var *x = pq_graph_find_var(g, "x");
    pq_graph_unmark_input(g, x);
    pq_var *a = input(g, "a", 3, 2, 3, 8), *b = input(g, "b", 3, 2, 3, 8);
    a->dims[0] = b->dims[0] = -1;
    op(g, "Relu", "rb", "b", "b2");
    op(g, "Add", "skip", "a,b2", "x");
    PQ_EXPECT_OK(pq_passes_run(g, "fuse_layernorm,fuse_skip_layernorm", &rep, &err), &err);
    PQ_EXPECT_EQ(result(&rep, "fuse_skip_layernorm")->changes, 1);
    pq_var *b2 = pq_graph_find_var(g, "b2");
    PQ_EXPECT_EQ(b2->rank, 3);
    PQ_EXPECT_EQ(b2->dims[0], -1);
    PQ_EXPECT_EQ(b2->dims[2], 8);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ GELU */

/* GELU of x [2, 16] in one of the forms. form 0..2: erf with the three associations of
 * the products; 3: erf with x * (1/sqrt 2); 4: tanh with Pow(x, 3); 5: tanh with
 * Mul(Mul(x, x), x); 6: a wrong constant (x / 1.5). */
static pq_graph *gelu_graph(int form)
{
    pq_graph *g = new_graph(13);
    input(g, "x", 2, 2, 16);
    scalar(g, "half", 0.5);
    scalar(g, "one", 1.0);
    if (form <= 3 || form == 6) {
        if (form == 3) {
            scalar(g, "isq2", 0.70710678118654752);
            op(g, "Mul", "div", "isq2,x", "d");
        } else {
            scalar(g, "sq2", form == 6 ? 1.5 : 1.4142135623730951);
            op(g, "Div", "div", "x,sq2", "d");
        }
        op(g, "Erf", "erf", "d", "e");
        op(g, "Add", "add1", "e,one", "a");
    } else {
        scalar(g, "kappa", 0.044715);
        scalar(g, "beta", 0.7978845608028654);
        if (form == 4) {
            scalar(g, "three", 3.0);
            op(g, "Pow", "cube", "x,three", "c");
        } else {
            op(g, "Mul", "sq", "x,x", "s2");
            op(g, "Mul", "cube", "s2,x", "c");
        }
        op(g, "Mul", "kc", "kappa,c", "kcv");
        op(g, "Add", "inner_add", "x,kcv", "s");
        op(g, "Mul", "inner", "s,beta", "in");
        op(g, "Tanh", "tanh", "in", "t");
        op(g, "Add", "add1", "one,t", "a");
    }
    int assoc = form <= 2 ? form : form % 3;
    if (assoc == 0) {
        op(g, "Mul", "m1", "x,a", "xa");
        op(g, "Mul", "m2", "xa,half", "out");
    } else if (assoc == 1) {
        op(g, "Mul", "m1", "half,x", "hx");
        op(g, "Mul", "m2", "hx,a", "out");
    } else {
        op(g, "Mul", "m1", "a,half", "ha");
        op(g, "Mul", "m2", "x,ha", "out");
    }
    output(g, "out");
    return g;
}

PQ_TEST(fuse_gelu_forms)
{
    pq_err err = {0};
    for (int form = 0; form <= 5; form++) {
        pq_pass_report rep = {0};
        pq_graph *g = gelu_graph(form);
        EXPECT_CLOSE(apply(g, "fuse_gelu", &rep), 1e-5);
        PQ_EXPECT_EQ(result(&rep, "fuse_gelu")->changes, 1);
        PQ_EXPECT_EQ(g->ops.n, 1);
        pq_op *ge = g->ops.n ? g->ops.items[0] : NULL;
        PQ_EXPECT(ge && pq_op_is(ge, "Gelu"));
        const char *approx = NULL;
        if (ge) PQ_EXPECT_OK(pq_op_get_string(ge, "approximate", "none", &approx, &err), &err);
        PQ_EXPECT_STR(approx, form >= 4 ? "tanh" : "none");
        /* The constants went with the chain. */
        PQ_EXPECT(pq_graph_find_var(g, "half") == NULL);
        pq_pass_report_free(&rep);
        pq_graph_destroy(&g);
    }
    pq_pass_report rep = {0};
    pq_graph *g = gelu_graph(6);
    EXPECT_CLOSE(apply(g, "fuse_gelu", &rep), 0);
    PQ_EXPECT_EQ(result(&rep, "fuse_gelu")->changes, 0);
    PQ_EXPECT_EQ(result(&rep, "fuse_gelu")->refused, 1);
    PQ_EXPECT_EQ(count(g, "Erf"), 1);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    /* An intermediate that is also a graph output stays. */
    g = gelu_graph(0);
    output(g, "a");
    EXPECT_CLOSE(apply(g, "fuse_gelu", &rep), 0);
    PQ_EXPECT_EQ(count(g, "Gelu"), 0);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ activation marks */

PQ_TEST(fuse_activation_marks_conv_relu_and_constant_clip)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 4, 1, 3, 5, 5);
    param(g, "w", -0.5, 0.5, 4, 4, 3, 3, 3);
    param(g, "w2", -0.5, 0.5, 4, 4, 4, 1, 1);
    param(g, "w3", -0.5, 0.5, 4, 4, 4, 1, 1);
    scalar(g, "lo", 0.0);
    scalar(g, "hi", 6.0);
    input(g, "rt_hi", 0);
    op(g, "Conv", "c1", "x,w", "y1");
    op(g, "Relu", "r1", "y1", "a1");
    op(g, "Conv", "c2", "a1,w2", "y2");
    op(g, "Clip", "clip", "y2,lo,hi", "a2");
    op(g, "Conv", "c3", "a2,w3", "y3");
    op(g, "Clip", "clip_rt", "y3,lo,rt_hi", "out"); /* bound fed at run time: refused */
    output(g, "out");
    PQ_EXPECT_OK(pq_passes_run(g, "fuse_activation", &rep, &err), &err);
    const pq_pass_result *r = result(&rep, "fuse_activation");
    PQ_EXPECT_EQ(r->changes, 2);
    PQ_EXPECT_EQ(r->refused, 1);
    PQ_EXPECT_CONTAINS(r->first_refusal, "not constants");
    PQ_EXPECT_STR(pq_op_get_ext_str(pq_graph_find_op(g, "c1"), PQ_EXT_FUSED_WITH), "r1");
    PQ_EXPECT_STR(pq_op_get_ext_str(pq_graph_find_op(g, "clip"), PQ_EXT_FUSED_WITH), "c2");
    PQ_EXPECT_EQ(pq_op_get_ext_int(pq_graph_find_op(g, "c2"), PQ_EXT_FUSED_OUTPUT, 0), 1);
    PQ_EXPECT(pq_op_get_ext_str(pq_graph_find_op(g, "c3"), PQ_EXT_FUSION) == NULL);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ formatting passes */

PQ_TEST(fold_constants_constant_nodes_and_static_shape_subgraph)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    /* y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) * Constant(2) */
    input(g, "x", 3, 2, 3, 4);
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, &t, &err), &err);
    PQ_DATA(t, float)[0] = 2.0f;
    pq_op *c = op(g, "Constant", "two", "", "two_out");
    PQ_EXPECT_OK(pq_op_set_tensor(c, "value", t, &err), &err);
    pq_op *c0 = op(g, "Constant", "zero", "", "zero_out");
    PQ_EXPECT_OK(pq_op_set_int(c0, "value_int", 0, &err), &err);
    op(g, "Shape", "shape", "x", "shp");
    op(g, "Gather", "gather", "shp,zero_out", "n");
    ints(g, "ax0", 1, 0);
    op(g, "Unsqueeze", "unsq", "n,ax0", "n1");
    ints(g, "minus1", 1, -1);
    pq_op *cat = op(g, "Concat", "cat", "n1,minus1", "newshape");
    PQ_EXPECT_OK(pq_op_set_int(cat, "axis", 0, &err), &err);
    op(g, "Reshape", "reshape", "x,newshape", "r");
    op(g, "Mul", "mul", "r,two_out", "out");
    output(g, "out");
    EXPECT_CLOSE(apply(g, "fold_constants", &rep), 0);
    const pq_pass_result *r = result(&rep, "fold_constants");
    PQ_EXPECT_EQ(r->changes, 6); /* 2 Constant, Shape, Gather, Unsqueeze, Concat */
    PQ_EXPECT_EQ(g->ops.n, 2);
    PQ_EXPECT_CONTAINS(r->detail, "2 Constant -> parameter, 3 operations evaluated, 1 Shape/Size");
    pq_var *ns = pq_graph_find_var(g, "newshape");
    PQ_EXPECT(ns && ns->value && ns->value->numel == 2);
    if (ns && ns->value) {
        PQ_EXPECT_EQ(PQ_DATA(ns->value, int64_t)[0], 2);
        PQ_EXPECT_EQ(PQ_DATA(ns->value, int64_t)[1], -1);
    }
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(fold_constants_keeps_dynamic_shapes_and_graph_outputs)
{
    pq_err err = {0};
    pq_pass_report rep = {0};
    /* Symbolic batch: Shape(x) stays. */
    pq_graph *g = new_graph(13);
    pq_var *x = input(g, "x", 2, 2, 3);
    x->dims[0] = -1;
    op(g, "Shape", "shape", "x", "out");
    output(g, "out");
    op(g, "Shape", "shape2", "x", "s2");
    op(g, "Relu", "relu", "x", "out2");
    output(g, "out2");
    PQ_EXPECT_OK(pq_passes_run(g, "fold_constants", &rep, &err), &err);
    PQ_EXPECT_EQ(count(g, "Shape"), 2);
    PQ_EXPECT_CONTAINS(result(&rep, "fold_constants")->detail, "inputs not static");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    /* Static, but the shape of a NonZero output depends on the data: kept; a foldable op
     * whose output is a graph output: kept (refused). */
    g = new_graph(13);
    input(g, "x", 1, 6);
    op(g, "NonZero", "nz", "x", "idx");
    op(g, "Shape", "shape", "idx", "sh");
    op(g, "Cast", "cast", "sh", "out");
    PQ_EXPECT_OK(pq_op_set_int(pq_graph_find_op(g, "cast"), "to", PQ_DTYPE_FLOAT32, &err), &err);
    output(g, "out");
    param(g, "p", 1, 2, 1, 3);
    op(g, "Neg", "neg", "p", "negp");
    output(g, "negp");
    PQ_EXPECT_OK(pq_passes_run(g, "fold_constants", &rep, &err), &err);
    PQ_EXPECT_EQ(count(g, "Shape"), 1);
    PQ_EXPECT_EQ(count(g, "Neg"), 1);
    PQ_EXPECT_EQ(result(&rep, "fold_constants")->refused, 1);
    PQ_EXPECT_CONTAINS(result(&rep, "fold_constants")->first_refusal, "graph output");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(remove_identity_and_dropout)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 2, 2, 4);
    param(g, "w", -1, 1, 2, 4, 4);
    op(g, "Identity", "wid", "w", "w_shared");   /* identity of a parameter */
    op(g, "Identity", "id1", "x", "x1");
    op(g, "MatMul", "mm", "x1,w_shared", "y");
    op(g, "Dropout", "drop", "y,-,-", "y2,-");
    op(g, "Identity", "id_out", "y2", "out");   /* renamable graph output */
    output(g, "out");
    op(g, "Dropout", "drop_mask", "x", "xd,mask"); /* mask used: kept */
    output(g, "mask");
    output(g, "xd");
    scalar(g, "ratio", 0.3);
    PQ_EXPECT_EQ(apply(g, "remove_identity", &rep), 0);
    const pq_pass_result *r = result(&rep, "remove_identity");
    PQ_EXPECT_EQ(r->changes, 4);
    PQ_EXPECT_EQ(r->refused, 1);
    PQ_EXPECT_CONTAINS(r->first_refusal, "mask");
    PQ_EXPECT_EQ(count(g, "Identity"), 0);
    PQ_EXPECT_EQ(count(g, "Dropout"), 1);
    pq_op *mm = pq_graph_find_op(g, "mm");
    PQ_EXPECT(mm->inputs[1] == pq_graph_find_var(g, "w"));
    PQ_EXPECT(mm->inputs[0] == pq_graph_find_var(g, "x"));
    PQ_EXPECT(pq_graph_find_var(g, "out") && pq_graph_find_var(g, "out")->source_op == mm);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    (void)err;
}

PQ_TEST(remove_identity_keeps_graph_output_names)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 1, 3);
    op(g, "Identity", "passthrough", "x", "out"); /* input -> output: renaming either breaks */
    output(g, "out");
    op(g, "Relu", "r", "x", "rx");
    op(g, "Identity", "id2", "rx", "out2");       /* rx has another reader */
    op(g, "Neg", "n", "rx", "out3");
    output(g, "out2");
    output(g, "out3");
    /* Dropout-12 in training mode. */
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_BOOL, 0, NULL, &t, &err), &err);
    PQ_DATA(t, uint8_t)[0] = 1;
    pq_var *tm = NULL;
    PQ_EXPECT_OK(pq_graph_create_parameter(g, "train", t, &tm, &err), &err);
    op(g, "Dropout", "drop", "rx,-,train", "out4");
    output(g, "out4");
    PQ_EXPECT_OK(pq_passes_run(g, "remove_identity", &rep, &err), &err);
    const pq_pass_result *r = result(&rep, "remove_identity");
    PQ_EXPECT_EQ(r->changes, 0);
    PQ_EXPECT_EQ(r->refused, 3);
    PQ_EXPECT_CONTAINS(r->first_refusal, "rename graph output 'out' to 'x'");
    PQ_EXPECT_EQ(g->ops.n, 5);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(split_shared_params_gives_each_slot_its_own)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 1, 4);
    param(g, "w", -1, 1, 1, 4);
    op(g, "Add", "a", "x,w", "y");
    op(g, "Mul", "m", "y,w", "z");
    op(g, "Mul", "sq", "w,w", "w2");
    op(g, "Add", "out_add", "z,w2", "out");
    output(g, "out");
    EXPECT_CLOSE(apply(g, "split_shared_params", &rep), 0);
    PQ_EXPECT_EQ(result(&rep, "split_shared_params")->changes, 3);
    for (int64_t k = 0; k < g->vars.n; k++) {
        pq_var *v = g->vars.items[k];
        if (v->value) PQ_EXPECT_EQ(v->dest_ops.n, 1);
    }
    /* Copies, not shared tensors. */
    pq_op *sq = pq_graph_find_op(g, "sq");
    PQ_EXPECT(sq->inputs[0]->value != sq->inputs[1]->value);
    PQ_EXPECT(sq->inputs[0]->value->data != sq->inputs[1]->value->data);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    (void)err;
}

PQ_TEST(remove_isolated_drops_what_reaches_no_output)
{
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 1, 4);
    input(g, "unused_input", 1, 4);
    param(g, "w", -1, 1, 1, 4);
    param(g, "orphan", -1, 1, 1, 4);
    op(g, "Add", "a", "x,w", "out");
    op(g, "Relu", "dead1", "x", "d1");
    op(g, "Neg", "dead2", "d1", "d2");
    var(g, "dangling");
    output(g, "out");
    EXPECT_CLOSE(apply(g, "remove_isolated", &rep), 0);
    const pq_pass_result *r = result(&rep, "remove_isolated");
    PQ_EXPECT_CONTAINS(r->detail, "2 operations and 4 variables removed");
    PQ_EXPECT_EQ(g->ops.n, 1);
    PQ_EXPECT(pq_graph_find_var(g, "unused_input") != NULL); /* the interface stays */
    PQ_EXPECT(pq_graph_find_var(g, "orphan") == NULL);
    PQ_EXPECT(pq_graph_find_var(g, "dangling") == NULL);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(truncate_cuts_after_a_variable)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 1, 4);
    op(g, "Relu", "r", "x", "a");
    op(g, "Neg", "n", "a", "b");
    op(g, "Sigmoid", "s", "b", "out");
    op(g, "Tanh", "t", "x", "out2");
    output(g, "out");
    output(g, "out2");
    PQ_EXPECT_EQ(pq_passes_run(g, "truncate=nope", &rep, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "no variable named 'nope'");
    PQ_EXPECT_OK(pq_passes_run(g, "truncate=a", &rep, &err), &err);
    PQ_EXPECT_EQ(g->ops.n, 2);
    PQ_EXPECT(pq_graph_is_output(g, pq_graph_find_var(g, "a")));
    PQ_EXPECT(pq_graph_find_var(g, "out") == NULL);
    PQ_EXPECT(pq_graph_is_output(g, pq_graph_find_var(g, "out2")));
    PQ_EXPECT_EQ(result(&rep, "truncate")->changes, 2);
    /* Without marking, cutting at x would leave nothing: refused, graph unchanged. */
    PQ_EXPECT_EQ(pq_pass_truncate(g, "x", 0, NULL, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "leaves no graph output");
    PQ_EXPECT_EQ(g->ops.n, 2);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ normalize */

PQ_TEST(normalize_relu6_and_relu_forms)
{
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 2, 2, 8);
    scalar(g, "zero", 0.0);
    scalar(g, "six", 6.0);
    scalar(g, "zero2", 0.0);
    scalar(g, "zero3", 0.0);
    op(g, "Max", "max", "x,zero", "mx");
    op(g, "Min", "min", "mx,six", "r6");           /* Relu6 -> Clip(0, 6) */
    op(g, "Max", "max2", "zero2,r6", "r");          /* Max(x, 0) -> Relu */
    op(g, "Clip", "clip0", "r,zero3,-", "out");     /* Clip(x, 0, none) -> Relu */
    output(g, "out");
    EXPECT_CLOSE(apply(g, "normalize", &rep), 0);
    PQ_EXPECT_EQ(count(g, "Clip"), 1);
    PQ_EXPECT_EQ(count(g, "Relu"), 2);
    PQ_EXPECT_EQ(count(g, "Max") + count(g, "Min"), 0);
    PQ_EXPECT_CONTAINS(result(&rep, "normalize")->detail, "2 Relu and 1 Clip");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(normalize_negative_axes)
{
    pq_err err = {0};
    pq_graph *g = new_graph(13);
    pq_pass_report rep = {0};
    input(g, "x", 3, 2, 1, 4);
    ints(g, "ax", 1, -2);
    ints(g, "ax2", 1, -1);
    op(g, "Squeeze", "sq", "x,ax", "s");           /* axis -2 of rank 3 -> 1 */
    op(g, "Unsqueeze", "unsq", "s,ax2", "u");      /* axis -1 of output rank 3 -> 2 */
    pq_op *rm = op(g, "ReduceMean", "rm", "u", "out");
    int64_t a[1] = {-3};
    PQ_EXPECT_OK(pq_op_set_ints(rm, "axes", a, 1, &err), &err);
    output(g, "out");
    EXPECT_CLOSE(apply(g, "normalize", &rep), 0);
    PQ_EXPECT_EQ(PQ_DATA(pq_graph_find_op(g, "sq")->inputs[1]->value, int64_t)[0], 1);
    PQ_EXPECT_EQ(PQ_DATA(pq_graph_find_op(g, "unsq")->inputs[1]->value, int64_t)[0], 2);
    PQ_EXPECT_EQ(pq_op_find_attr(rm, "axes")->ints[0], 0);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* An opset-9 graph with the attribute forms: Clip min/max, Squeeze/Unsqueeze axes,
 * ReduceSum axes, Split split, Softmax on the last axis. */
static pq_graph *opset9_graph(int softmax_axis, int with_upsample)
{
    pq_err err = {0};
    pq_graph *g = new_graph(9);
    input(g, "x", 3, 2, 1, 6);
    pq_op *c = op(g, "Clip", "clip", "x", "c");
    PQ_EXPECT_OK(pq_op_set_float(c, "min", -0.5f, &err), &err);
    PQ_EXPECT_OK(pq_op_set_float(c, "max", 0.7f, &err), &err);
    int64_t a1[1] = {1}, a2[1] = {0}, sp[2] = {2, 4};
    pq_op *s = op(g, "Squeeze", "sq", "c", "s");
    PQ_EXPECT_OK(pq_op_set_ints(s, "axes", a1, 1, &err), &err);
    pq_op *sm = op(g, "Softmax", "sm", "s", "p");
    PQ_EXPECT_OK(pq_op_set_int(sm, "axis", softmax_axis, &err), &err);
    pq_op *sp_op = op(g, "Split", "split", "p", "p1,p2");
    PQ_EXPECT_OK(pq_op_set_int(sp_op, "axis", 1, &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(sp_op, "split", sp, 2, &err), &err);
    pq_op *rs = op(g, "ReduceSum", "rs", "p2", "r");
    PQ_EXPECT_OK(pq_op_set_ints(rs, "axes", a1, 1, &err), &err);
    pq_op *u = op(g, "Unsqueeze", "unsq", "p1", "out1");
    PQ_EXPECT_OK(pq_op_set_ints(u, "axes", a2, 1, &err), &err);
    output(g, "out1");
    output(g, "r");
    if (with_upsample) {
        param(g, "scales", 1, 1, 1, 3);
        op(g, "Upsample", "up", "x,scales", "upo");
        output(g, "upo");
    }
    return g;
}

PQ_TEST(normalize_upgrades_attribute_forms_to_opset_13)
{
    pq_pass_report rep = {0};
    pq_graph *g = opset9_graph(-1, 0);
    EXPECT_CLOSE(apply(g, "normalize", &rep), 1e-7);
    PQ_EXPECT_EQ(pq_graph_opset(g, ""), 13);
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *o = g->ops.items[k];
        PQ_EXPECT_EQ(o->opset, 13);
        PQ_EXPECT(!pq_op_find_attr(o, "axes") && !pq_op_find_attr(o, "split") &&
                  !pq_op_find_attr(o, "min") && !pq_op_find_attr(o, "max"));
    }
    pq_op *c = pq_graph_find_op(g, "clip");
    PQ_EXPECT(c->n_inputs == 3 && c->inputs[1]->value && c->inputs[2]->value);
    if (c->n_inputs == 3) PQ_EXPECT_NEAR(PQ_DATA(c->inputs[2]->value, float)[0], 0.7f, 0);
    PQ_EXPECT_CONTAINS(result(&rep, "normalize")->detail, "opset 9 -> 13, 5 attribute forms");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(normalize_refuses_inexact_upgrades)
{
    pq_err err = {0};
    pq_pass_report rep = {0};
    /* Softmax-9 on axis 0 of a 2-D input coerces to [1, N]: opset-13 Softmax(axis 0)
     * differs. */
    pq_graph *g = opset9_graph(0, 0);
    EXPECT_CLOSE(apply(g, "normalize", &rep), 0);
    PQ_EXPECT_EQ(pq_graph_opset(g, ""), 9);
    PQ_EXPECT_CONTAINS(result(&rep, "normalize")->first_refusal, "axis is not the last one");
    PQ_EXPECT(pq_op_find_attr(pq_graph_find_op(g, "clip"), "min") != NULL);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    /* Upsample has no opset-13 form. */
    g = opset9_graph(-1, 1);
    PQ_EXPECT_OK(pq_passes_run(g, "normalize", &rep, &err), &err);
    PQ_EXPECT_EQ(pq_graph_opset(g, ""), 9);
    PQ_EXPECT_CONTAINS(result(&rep, "normalize")->first_refusal, "node 'up' (Upsample)");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* ------------------------------------------------------------------ pipeline */

PQ_TEST(pipeline_names_groups_errors_and_report)
{
    pq_err err = {0};
    pq_pass_report rep = {0};
    pq_graph *g = gelu_graph(0);
    int64_t n_ops = g->ops.n;
    PQ_EXPECT_EQ(pq_passes_run(g, "format, fuse_gelu,not_a_pass", &rep, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "unknown pass 'not_a_pass'");
    PQ_EXPECT_CONTAINS(err.msg, "fuse_layernorm");
    PQ_EXPECT_EQ(rep.n, 0);
    PQ_EXPECT_EQ(g->ops.n, n_ops); /* nothing ran */
    PQ_EXPECT_OK(pq_passes_run(g, " format , fuse ", &rep, &err), &err);
    int i = 0;
    for (const char *const *p = pq_passes_names(); *p; p++, i++) {
        PQ_EXPECT(i < rep.n);
        if (i < rep.n) PQ_EXPECT_STR(rep.items[i].name, *p);
    }
    PQ_EXPECT_EQ(rep.n, 12);
    PQ_EXPECT_EQ(result(&rep, "fuse_gelu")->changes, 1);
    char *text = NULL;
    PQ_EXPECT_OK(pq_pass_report_format(&rep, &text, &err), &err);
    PQ_EXPECT_CONTAINS(text, "fuse_gelu");
    PQ_EXPECT_CONTAINS(text, "1 GELU (erf) and 0 GELU (tanh) -> Gelu");
    pq_free(text);
    pq_pass_report_free(&rep);
    /* Input shapes: a fixed dim may not change. */
    int64_t d[2] = {3, 16};
    PQ_EXPECT_EQ(pq_passes_set_input_shape(g, "x", 2, d, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "declared [2, 16]");
    PQ_EXPECT_EQ(pq_passes_set_input_shape(g, "out", 2, d, &err), PQ_ERR_INVALID);
    pq_graph_destroy(&g);
}

/* Graphs for the allocation-failure loop. */
static pq_graph *oom_graph(int which)
{
    pq_err err = {0};
    if (which == 0) return layernorm_graph(1, 2, 0, 0);
    if (which == 1) return gelu_graph(4);
    if (which == 2) return opset9_graph(-1, 0);
    pq_graph *g = new_graph(13);
    input(g, "x", 4, 1, 3, 5, 5);
    param(g, "w", -0.5, 0.5, 4, 4, 3, 3, 3);
    param(g, "c", -1, 1, 4, 1, 4, 1, 1);
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, &t, &err), &err);
    pq_op *k = op(g, "Constant", "k", "", "kv");
    PQ_EXPECT_OK(pq_op_set_tensor(k, "value", t, &err), &err);
    op(g, "Identity", "id", "w", "w2");
    op(g, "Conv", "conv", "x,w2", "y");
    op(g, "Add", "bias", "y,c", "yb");
    add_bn(g, "yb", 4);
    op(g, "Add", "dead", "kv,kv", "unused");
    return g;
}

PQ_TEST(passes_survive_allocation_failures)
{
    /* Every allocation of a format,fuse run failed in turn: the run reports NOMEM and the
     * graph stays structurally valid; the run that succeeds gives the full result. */
    static const char *const final_type[] = {"LayerNormalization", "Gelu", "Clip", "Conv"};
    for (int which = 0; which < 4; which++) {
        int failures = 0, done = 0;
        for (int64_t n = 0; n < 200000 && !done; n += 1 + n / 16) {
            pq_err err = {0};
            pq_graph *g = oom_graph(which);
            pq_alloc_fail_after(n);
            pq_status st = pq_passes_run(g, "format,fuse", NULL, &err);
            pq_alloc_fail_after(-1);
            if (st == PQ_OK) {
                PQ_EXPECT_EQ(count(g, final_type[which]), 1);
                done = 1;
            } else {
                failures++;
                if (st != PQ_ERR_NOMEM) PQ_FAIL_AT("graph %d, allocation %lld: %s", which, (long long)n, err.msg);
                PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
            }
            pq_graph_destroy(&g);
        }
        PQ_EXPECT(done);
        PQ_EXPECT(failures > 10);
    }
}

PQ_TEST_MAIN()
