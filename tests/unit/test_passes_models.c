/* test_passes_models.c - every pass of "format,fuse" applied one after the other to real
 * exported models (ResNet-18, MobileNetV2, a 2-layer transformer encoder, and the extra
 * models of tests/e2e/make_pass_models.py); after each pass the executor runs the graph
 * and every graph output is compared with the output before that pass, and the end result
 * with the original graph.
 *
 * Error metric: max_i |y_i - ref_i| / max_i |ref_i| per output (the largest error relative
 * to the output's range). Bound: 1e-5 per pass, 1e-4 for fuse_bn (weights rounded to float
 * after scaling by gamma / sqrt(var + eps), twenty layers deep) and for the whole pipeline.
 *
 * The models are large and not committed: they are exported on first use by
 * scripts/make_models.py and tests/e2e/make_pass_models.py with /usr/bin/python3 into
 * $PQ_PASS_MODELS_DIR (default: ./pass_models under the test's working directory, i.e.
 * the build tree) and reused by later runs. */
#include "pq_exec.h"
#include "pq_npy.h"
#include "pq_onnx.h"
#include "pq_passes.h"
#include "pq_test.h"

#include <stdlib.h>
#include <sys/stat.h>

#define PY "/usr/bin/python3"

static char dir[512];

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Exports the models once. Returns 0 when they are not there afterwards. */
static int ensure_models(void)
{
    const char *env = getenv("PQ_PASS_MODELS_DIR");
    snprintf(dir, sizeof dir, "%s", env && env[0] ? env : "pass_models");
    static const char *const files[] = {"resnet18.onnx", "mobilenet_v2.onnx", "transformer.onnx",
                                        "extras_cnn.onnx", "extras_opset10.onnx"};
    char path[1024], cmd[2048];
    int missing_main = 0, missing_extra = 0;
    for (int k = 0; k < 5; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        if (!exists(path)) *(k < 3 ? &missing_main : &missing_extra) = 1;
    }
    if (missing_main) {
        snprintf(cmd, sizeof cmd, "%s %s/scripts/make_models.py %s >&2", PY, PQ_SOURCE_DIR, dir);
        fprintf(stderr, "exporting models: %s\n", cmd);
        if (system(cmd) != 0) return 0;
    }
    if (missing_extra) {
        snprintf(cmd, sizeof cmd, "%s %s/tests/e2e/make_pass_models.py %s >&2", PY, PQ_SOURCE_DIR,
                 dir);
        fprintf(stderr, "exporting models: %s\n", cmd);
        if (system(cmd) != 0) return 0;
    }
    return 1;
}

/* The first `batch` samples of <name>_input.npy. */
static pq_tensor *load_input(const char *name, int64_t batch)
{
    pq_err err = {0};
    char path[1024];
    pq_tensor *all = NULL, *x = NULL;
    snprintf(path, sizeof path, "%s/%s_input.npy", dir, name);
    PQ_EXPECT_OK(pq_npy_load(path, &all, &err), &err);
    if (!all) return NULL;
    int64_t dims[PQ_MAX_RANK];
    for (int d = 0; d < all->rank; d++) dims[d] = all->dims[d];
    if (batch > dims[0]) batch = dims[0];
    dims[0] = batch;
    PQ_EXPECT_OK(pq_tensor_create(all->dtype, all->rank, dims, &x, &err), &err);
    if (x) memcpy(x->data, all->data, x->nbytes);
    pq_tensor_destroy(&all);
    return x;
}

/* Runs g on x `runs` times with executor options opts (NULL: defaults); returns every graph
 * output of the last run (caller destroys) in outs[0..n) and, when trunk_ops is not NULL,
 * the executor's trunk size after it. */
static int run_graph_opts(const pq_graph *g, pq_tensor *x, const pq_exec_options *opts,
                          int runs, pq_tensor **outs, int64_t *trunk_ops)
{
    pq_err err = {0};
    pq_executor *ex = NULL;
    const char *req[16];
    int n = (int)g->outputs.n;
    const char *in_name = ((pq_var *)g->inputs.items[0])->name;
    for (int k = 0; k < n && k < 16; k++) req[k] = ((pq_var *)g->outputs.items[k])->name;
    PQ_EXPECT_OK(pq_executor_create(g, opts, &ex, &err), &err);
    if (!ex) return 0;
    pq_status st = PQ_OK;
    for (int r = 0; r < runs && st == PQ_OK; r++) {
        if (r > 0)
            for (int k = 0; k < n && k < 16; k++) pq_tensor_destroy(&outs[k]);
        st = pq_executor_run(ex, 1, &in_name, &x, n, req, outs, &err);
        PQ_EXPECT_OK(st, &err);
    }
    if (trunk_ops) *trunk_ops = pq_executor_trunk_ops(ex);
    pq_executor_destroy(&ex);
    return st == PQ_OK ? n : 0;
}

/* Runs g on x once with the default options. */
static int run_graph(const pq_graph *g, pq_tensor *x, pq_tensor **outs)
{
    return run_graph_opts(g, x, NULL, 1, outs, NULL);
}

/* max |a - b| / max |b|. */
static double rel_err(const pq_tensor *a, const pq_tensor *b)
{
    if (!a || !b || a->numel != b->numel || a->dtype != PQ_DTYPE_FLOAT32 || b->dtype != PQ_DTYPE_FLOAT32)
        return 1e30;
    double num = 0, den = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = fabs((double)PQ_DATA(a, float)[i] - PQ_DATA(b, float)[i]);
        double r = fabs((double)PQ_DATA(b, float)[i]);
        if (!(d <= num)) num = d; /* NaN propagates */
        if (r > den) den = r;
    }
    return num / (den > 0 ? den : 1e-30);
}

static int count_ops(const pq_graph *g, const char *type)
{
    int n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) n += pq_op_is(g->ops.items[k], type);
    return n;
}

static int count_ext(const pq_graph *g, const char *value)
{
    int n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const char *s = pq_op_get_ext_str(g->ops.items[k], PQ_EXT_FUSION);
        n += s && strcmp(s, value) == 0;
    }
    return n;
}

/* Loads `name`, fixes its batch, then applies every pass of format,fuse one by one with a
 * numerical check after each. Returns the processed graph (caller destroys) and the report. */
static pq_graph *run_checked(const char *name, int64_t batch, pq_pass_report *rep)
{
    pq_err err = {0};
    char path[1024];
    pq_graph *g = NULL;
    pq_tensor *x = load_input(name, batch), *ref[16] = {0}, *prev[16] = {0}, *cur[16] = {0};
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    if (!g || !x) goto done;
    PQ_EXPECT_OK(pq_passes_set_input_shape(g, ((pq_var *)g->inputs.items[0])->name, x->rank,
                                           x->dims, &err),
                 &err);
    int n = run_graph(g, x, ref);
    PQ_EXPECT(n > 0);
    if (!n) goto done;
    /* The float reference from torch, for the record (the executor's own accuracy). */
    snprintf(path, sizeof path, "%s/%s_output.npy", dir, name);
    pq_tensor *torch_out = NULL;
    if (pq_npy_load(path, &torch_out, &err) == PQ_OK && n == 1) {
        double num = 0, den = 0;
        for (int64_t i = 0; i < ref[0]->numel && i < torch_out->numel; i++) {
            double d = fabs((double)PQ_DATA(ref[0], float)[i] - PQ_DATA(torch_out, float)[i]);
            if (d > num) num = d;
            if (fabs(PQ_DATA(torch_out, float)[i]) > den) den = fabs(PQ_DATA(torch_out, float)[i]);
        }
        fprintf(stderr, "%-14s executor vs torch: %.3g\n", name, num / den);
    }
    pq_tensor_destroy(&torch_out);
    for (int k = 0; k < n; k++) prev[k] = pq_tensor_retain(ref[k]);
    for (const char *const *p = pq_passes_names(); *p; p++) {
        int before = rep->n;
        PQ_EXPECT_OK(pq_passes_run(g, *p, rep, &err), &err);
        if (rep->n == before) break;
        const pq_pass_result *r = &rep->items[rep->n - 1];
        int m = run_graph(g, x, cur);
        PQ_EXPECT_EQ(m, n);
        double worst = 0;
        for (int k = 0; k < m; k++) {
            double e = rel_err(cur[k], prev[k]);
            if (e > worst) worst = e;
            pq_tensor_destroy(&prev[k]);
            prev[k] = cur[k];
            cur[k] = NULL;
        }
        double tol = strcmp(*p, "fuse_bn") == 0 ? 1e-4 : 1e-5;
        fprintf(stderr, "%-14s %-20s %4lld changed %3lld refused  ops %4lld -> %4lld  max rel err %.3g\n",
                name, *p, (long long)r->changes, (long long)r->refused, (long long)r->ops_before,
                (long long)r->ops_after, worst);
        if (!(worst <= tol))
            PQ_FAIL_AT("%s: pass %s: max relative error %.3g over %g", name, *p, worst, tol);
    }
    double total = 0;
    for (int k = 0; k < n; k++) {
        double e = rel_err(prev[k], ref[k]);
        if (e > total) total = e;
    }
    fprintf(stderr, "%-14s format,fuse total max rel err %.3g\n", name, total);
    if (!(total <= 1e-4)) PQ_FAIL_AT("%s: pipeline error %.3g over 1e-4", name, total);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
done:
    for (int k = 0; k < 16; k++) {
        pq_tensor_destroy(&ref[k]);
        pq_tensor_destroy(&prev[k]);
        pq_tensor_destroy(&cur[k]);
    }
    pq_tensor_destroy(&x);
    return g;
}

/* The processed graph saved to ONNX bytes and loaded again runs to the same numbers. */
static void check_round_trip(const char *name, const pq_graph *g, int64_t batch)
{
    pq_err err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    pq_graph *back = NULL;
    pq_tensor *x = load_input(name, batch), *a[16] = {0}, *b[16] = {0};
    PQ_EXPECT_OK(pq_onnx_serialize(g, &buf, &len, &err), &err);
    if (buf) PQ_EXPECT_OK(pq_onnx_load_buffer(buf, len, name, NULL, &back, &err), &err);
    if (back && x) {
        int n = run_graph(g, x, a), m = run_graph(back, x, b);
        PQ_EXPECT_EQ(n, m);
        for (int k = 0; k < n && k < m; k++) PQ_EXPECT(rel_err(a[k], b[k]) == 0);
    }
    for (int k = 0; k < 16; k++) {
        pq_tensor_destroy(&a[k]);
        pq_tensor_destroy(&b[k]);
    }
    pq_tensor_destroy(&x);
    pq_free(buf);
    pq_graph_destroy(&back);
}

/* truncate at the output of the n-th op of `type`: the cut graph's output equals that
 * intermediate of the full graph. */
static void check_truncate(const char *name, const char *type, int nth, int64_t batch)
{
    pq_err err = {0};
    char path[1024];
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_tensor *x = load_input(name, batch), *full = NULL, *cut = NULL;
    pq_pass_report rep = {0};
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    if (!g || !x) goto done;
    PQ_EXPECT_OK(pq_graph_topological_sort(g, &err), &err);
    const char *var = NULL;
    for (int64_t k = 0, seen = 0; k < g->ops.n && !var; k++) {
        const pq_op *op = g->ops.items[k];
        if (pq_op_is(op, type) && ++seen == nth) var = op->outputs[0]->name;
    }
    PQ_EXPECT(var != NULL);
    if (!var) goto done;
    char var_name[512];
    snprintf(var_name, sizeof var_name, "%s", var);
    const char *in_name = ((pq_var *)g->inputs.items[0])->name, *req = var_name;
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (ex) PQ_EXPECT_OK(pq_executor_run(ex, 1, &in_name, &x, 1, &req, &full, &err), &err);
    pq_executor_destroy(&ex);
    int64_t before = g->ops.n;
    char spec[600];
    snprintf(spec, sizeof spec, "truncate=%s", var_name);
    PQ_EXPECT_OK(pq_passes_run(g, spec, &rep, &err), &err);
    PQ_EXPECT_EQ(g->outputs.n, 1);
    PQ_EXPECT(g->ops.n < before);
    if (run_graph(g, x, &cut) == 1) PQ_EXPECT(rel_err(cut, full) == 0);
    fprintf(stderr, "%-14s truncate at '%s': ops %lld -> %lld, output identical\n", name, var_name,
            (long long)before, (long long)g->ops.n);
done:
    pq_tensor_destroy(&full);
    pq_tensor_destroy(&cut);
    pq_tensor_destroy(&x);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

static int changes(const pq_pass_report *rep, const char *pass)
{
    const pq_pass_result *r = pq_pass_report_find(rep, pass);
    return r ? (int)r->changes : -1;
}

PQ_TEST(resnet18_format_fuse)
{
    pq_pass_report rep = {0};
    if (!ensure_models()) {
        PQ_FAIL_AT("models could not be exported into %s", dir);
        return;
    }
    pq_graph *g = run_checked("resnet18", 2, &rep);
    if (!g) return;
    PQ_EXPECT_EQ(count_ops(g, "BatchNormalization"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Identity"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Conv"), 20);
    PQ_EXPECT_EQ(changes(&rep, "fuse_bn"), 20);
    /* Stem conv + conv1 of each of the 8 basic blocks feed a Relu directly; the other 8
     * Relus follow the residual Add. */
    PQ_EXPECT_EQ(changes(&rep, "fuse_activation"), 9);
    PQ_EXPECT_EQ(count_ext(g, "conv_activation"), 18);
    check_round_trip("resnet18", g, 2);
    check_truncate("resnet18", "Add", 4, 2);
    char *text = NULL;
    pq_err err = {0};
    PQ_EXPECT_OK(pq_pass_report_format(&rep, &text, &err), &err);
    fprintf(stderr, "%s", text ? text : "");
    pq_free(text);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(mobilenet_v2_format_fuse)
{
    pq_pass_report rep = {0};
    if (!ensure_models()) {
        PQ_FAIL_AT("models could not be exported into %s", dir);
        return;
    }
    pq_graph *g = run_checked("mobilenet_v2", 2, &rep);
    if (!g) return;
    PQ_EXPECT_EQ(count_ops(g, "BatchNormalization"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Constant"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Identity"), 0);
    PQ_EXPECT_EQ(changes(&rep, "fuse_bn"), 52);
    /* Every ReLU6 (Clip 0..6) follows a Conv+BN. */
    PQ_EXPECT_EQ(count_ops(g, "Clip"), 35);
    PQ_EXPECT_EQ(changes(&rep, "fuse_activation"), 35);
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(transformer_format_fuse)
{
    pq_pass_report rep = {0};
    if (!ensure_models()) {
        PQ_FAIL_AT("models could not be exported into %s", dir);
        return;
    }
    pq_graph *g = run_checked("transformer", 4, &rep);
    if (!g) return;
    /* Static input: the shape subgraphs of multi-head attention fold away. */
    PQ_EXPECT_EQ(count_ops(g, "Shape"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Gather"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Constant"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Concat"), 0);
    /* 2 layers x (norm1, norm2); 2 layers x 1 GELU. */
    PQ_EXPECT_EQ(changes(&rep, "fuse_layernorm"), 4);
    PQ_EXPECT_EQ(count_ops(g, "LayerNormalization"), 4);
    PQ_EXPECT_EQ(count_ops(g, "ReduceMean"), 0);
    PQ_EXPECT_EQ(count_ops(g, "Sqrt"), 0);
    PQ_EXPECT_EQ(changes(&rep, "fuse_gelu"), 2);
    PQ_EXPECT_EQ(count_ops(g, "Gelu"), 2);
    PQ_EXPECT_EQ(count_ops(g, "Erf"), 0);
    /* Post-norm layers: every LayerNormalization reads a residual Add. */
    PQ_EXPECT_EQ(changes(&rep, "fuse_skip_layernorm"), 4);
    check_round_trip("transformer", g, 4);
    check_truncate("transformer", "Softmax", 2, 4);
    /* The linear layers act on 3-D activations: MatMul + Add stays (refused, not 2-D). */
    const pq_pass_result *mm = pq_pass_report_find(&rep, "fuse_matmul_add");
    PQ_EXPECT(mm && mm->changes == 0 && mm->refused == 6);
    if (mm) PQ_EXPECT_CONTAINS(mm->first_refusal, "not 2-D");
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

PQ_TEST(extra_models_format_fuse)
{
    pq_pass_report rep = {0};
    if (!ensure_models()) {
        PQ_FAIL_AT("models could not be exported into %s", dir);
        return;
    }
    pq_graph *g = run_checked("extras_cnn", 3, &rep);
    if (g) {
        /* Conv+BN, ConvTranspose+BN, Gemm+BN (Linear + BatchNorm1d), 2-D MatMul + BN. */
        PQ_EXPECT_EQ(count_ops(g, "BatchNormalization"), 0);
        PQ_EXPECT_EQ(changes(&rep, "fuse_bn"), 4);
        PQ_EXPECT_EQ(changes(&rep, "fuse_conv_bias"), 1);
        /* x @ W + b on 2-D, and the MatMul+BN's bias Add. */
        PQ_EXPECT_EQ(changes(&rep, "fuse_matmul_add"), 2);
        PQ_EXPECT_EQ(count_ops(g, "MatMul"), 0);
        PQ_EXPECT_EQ(changes(&rep, "fuse_gelu"), 1); /* tanh form */
        PQ_EXPECT_EQ(count_ops(g, "Tanh"), 0);
    }
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
    g = run_checked("extras_opset10", 3, &rep);
    if (g) {
        PQ_EXPECT_EQ(pq_graph_opset(g, ""), 13);
        const pq_pass_result *r = pq_pass_report_find(&rep, "normalize");
        PQ_EXPECT(r && r->changes >= 3);
        for (int64_t k = 0; k < g->ops.n; k++) {
            const pq_op *op = g->ops.items[k];
            PQ_EXPECT(!pq_op_find_attr(op, "axes") || !(pq_op_is(op, "Squeeze") || pq_op_is(op, "Unsqueeze")));
            PQ_EXPECT(!pq_op_find_attr(op, "min") || !pq_op_is(op, "Clip"));
        }
    }
    pq_pass_report_free(&rep);
    pq_graph_destroy(&g);
}

/* A batch of 5 run through the per-sample trunk 1, 2 or 3 samples at a time (uneven last
 * micro-batches), at 1 and 2 threads, gives the whole-batch outputs bit for bit; the CNNs
 * have a trunk, before and after format,fuse. */
static void check_micro_batches(const char *name, int expect_trunk)
{
    pq_err err = {0};
    char path[1024];
    pq_graph *g = NULL;
    pq_tensor *x = load_input(name, 5);
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    for (int fused = 0; g && x && fused < 2; fused++) {
        if (fused) PQ_EXPECT_OK(pq_passes_run(g, "format,fuse", NULL, &err), &err);
        pq_tensor *whole[16] = {0};
        int64_t ops = 0;
        pq_exec_options whole_batch = {.threads = 1, .micro_batch = -1};
        int n = run_graph_opts(g, x, &whole_batch, 1, whole, &ops);
        PQ_EXPECT(n > 0);
        static const int runs[3][2] = {{1, 1}, {2, 2}, {2, 3}}; /* threads, micro-batch */
        for (int r = 0; r < 3 && n > 0; r++) {
            const int threads = runs[r][0], micro = runs[r][1];
            pq_exec_options opts = {.threads = threads, .micro_batch = micro};
            pq_tensor *got[16] = {0};
            /* the first run records the sizes that settle the trunk, the second splits */
            int m = run_graph_opts(g, x, &opts, 2, got, &ops);
            PQ_EXPECT_EQ(m, n);
            if (expect_trunk && ops == 0)
                PQ_FAIL_AT("%s%s: no per-sample trunk", name, fused ? " (fused)" : "");
            for (int k = 0; k < n && k < m; k++)
                if (!got[k] || got[k]->nbytes != whole[k]->nbytes ||
                    memcmp(got[k]->data, whole[k]->data, whole[k]->nbytes) != 0)
                    PQ_FAIL_AT("%s%s: output %d at %d thread(s), micro-batch %d differs from "
                               "the whole batch", name, fused ? " (fused)" : "", k, threads,
                               micro);
            for (int k = 0; k < 16; k++) pq_tensor_destroy(&got[k]);
        }
        fprintf(stderr, "%-14s%s trunk of %lld ops: micro-batches 1-3 identical to the whole "
                "batch\n", name, fused ? " fused" : "      ", (long long)ops);
        for (int k = 0; k < 16; k++) pq_tensor_destroy(&whole[k]);
    }
    pq_tensor_destroy(&x);
    pq_graph_destroy(&g);
}

PQ_TEST(micro_batches_match_the_whole_batch)
{
    if (!ensure_models()) {
        PQ_FAIL_AT("models could not be exported into %s", dir);
        return;
    }
    check_micro_batches("resnet18", 1);
    check_micro_batches("mobilenet_v2", 1);
    check_micro_batches("extras_cnn", 1);
    check_micro_batches("extras_opset10", 1);
    check_micro_batches("transformer", 0);
}

PQ_TEST_MAIN()
