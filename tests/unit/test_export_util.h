/* test_export_util.h - helpers of the exporter tests: a hand-built quantized graph
 * (Conv -> Relu -> {Conv, Conv}) whose TQCs the test chooses, a fake-quantization reference
 * run on the float executor, ONNX Runtime through tests/export/ort_run.js, and the ONNX
 * checker through /usr/bin/python3. */
#ifndef TEST_EXPORT_UTIL_H
#define TEST_EXPORT_UTIL_H

#include "pq_exec.h"
#include "pq_export.h"
#include "pq_npy.h"
#include "pq_onnx.h"
#include "pq_test.h"
#include "pq_test_tensor.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT_DIR PQ_SOURCE_DIR "/tests/export"

/* ------------------------------------------------------------------ exported models */

/* The folder of the models scripts/make_models.py exports for the exporter tests:
 * $PQ_EXPORT_MODELS_DIR, default ./export_models (the test's working directory). */
static char export_models[256];

/* 1: export_models/<name>.onnx exists (exported now if needed, which needs /usr/bin/python3
 * with the modules `imports`, e.g. "torch, onnx"); 0: the export failed. Exits 77 (skip)
 * when the modules are missing. */
static inline int ensure_export_model(const char *name, const char *imports)
{
    const char *env = getenv("PQ_EXPORT_MODELS_DIR");
    char path[1024], cmd[2048];
    struct stat sb;
    snprintf(export_models, sizeof export_models, "%s", env && env[0] ? env : "export_models");
    snprintf(path, sizeof path, "%s/%s.onnx", export_models, name);
    if (stat(path, &sb) == 0) return 1;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import %s' >/dev/null 2>&1", imports);
    if (access("/usr/bin/python3", X_OK) != 0 || system(cmd) != 0) {
        printf("SKIP: /usr/bin/python3 with %s not found: cannot export %s\n", imports, name);
        fflush(stdout);
        exit(77);
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/make_models.py '%s' %s >&2",
             PQ_SOURCE_DIR, export_models, name);
    fprintf(stderr, "exporting %s: %s\n", name, cmd);
    return system(cmd) == 0 && stat(path, &sb) == 0;
}

/* Seeded standard-normal values of the given shape (the distribution make_models.py
 * calibrated its BatchNorm statistics on). */
static inline pq_tensor *normal_tensor(int rank, const int64_t *dims, uint64_t seed)
{
    pq_err err = {0};
    pq_rng rng;
    pq_tensor *t = NULL;
    if (pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, rank, dims, &t, &err) != PQ_OK) return NULL;
    pq_rng_seed(&rng, seed);
    for (int64_t i = 0; i < t->numel; i++) PQ_DATA(t, float)[i] = (float)pq_rng_normal(&rng);
    return t;
}

/* ------------------------------------------------------------------ TQC helpers */

static inline void tq_set(pq_tqc *t, pq_tqc_state state, unsigned policy, int bits, int64_t qmin,
                   int64_t qmax, int axis, int64_t n, const float *scale, const float *offset)
{
    pq_err err = {0};
    pq_tqc_clear(t);
    t->state = state;
    t->policy = policy;
    t->num_bits = bits;
    t->quant_min = qmin;
    t->quant_max = qmax;
    t->channel_axis = axis;
    t->rounding = PQ_ROUND_HALF_EVEN;
    snprintf(t->observer, sizeof t->observer, "minmax");
    if (n > 0 && pq_tqc_set_channels(t, n, &err) == PQ_OK)
        for (int64_t c = 0; c < n; c++) {
            t->scale[c] = scale[c];
            t->offset[c] = offset ? offset[c] : 0.0f;
        }
}

/* Activation, per tensor: uint8 when qmin >= 0. */
static inline void tq_act(pq_tqc *t, float scale, float zp, int64_t qmin, int64_t qmax)
{
    unsigned sym = zp == 0.0f ? PQ_QPOLICY_SYMMETRIC : PQ_QPOLICY_ASYMMETRIC;
    tq_set(t, PQ_TQC_STATE_ACTIVATED, PQ_QPOLICY_PER_TENSOR | sym | PQ_QPOLICY_LINEAR, 8, qmin,
           qmax, 0, 1, &scale, &zp);
}

/* Weight, per output channel (axis), symmetric int8 [-127, 127], scale max|w|/127. */
static inline void tq_weight(pq_tqc *t, const pq_tensor *w, int axis)
{
    int64_t n = w->dims[axis], inner = 1;
    for (int k = axis + 1; k < w->rank; k++) inner *= w->dims[k];
    float s[4096];
    for (int64_t c = 0; c < n; c++) s[c] = 0;
    for (int64_t i = 0; i < w->numel; i++) {
        int64_t c = (i / inner) % n;
        float a = fabsf(PQ_DATA(w, float)[i]);
        if (a > s[c]) s[c] = a;
    }
    for (int64_t c = 0; c < n; c++) s[c] = s[c] > 0 ? s[c] / 127.0f : 1.0f;
    tq_set(t, PQ_TQC_STATE_ACTIVATED,
           PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR, 8, -127, 127, axis,
           n, s, NULL);
}

/* Bias: PASSIVE int32, scale s_in * s_w per channel. */
static inline void tq_bias(pq_tqc *t, const pq_tqc *in, const pq_tqc *w)
{
    const pq_tqc *ri = pq_tqc_resolve(in);
    float s[4096];
    for (int64_t c = 0; c < w->n_channels; c++) s[c] = ri->scale[0] * w->scale[c];
    tq_set(t, PQ_TQC_STATE_PASSIVE,
           PQ_QPOLICY_PER_CHANNEL | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR, 32, INT32_MIN,
           INT32_MAX, 0, w->n_channels, s, NULL);
}

static inline void tq_overlap(pq_tqc *t, pq_tqc *dominator)
{
    pq_tqc_clear(t);
    *t = *dominator;
    t->scale = NULL;
    t->offset = NULL;
    t->n_channels = 0;
    t->state = PQ_TQC_STATE_OVERLAPPED;
    t->dominator = dominator;
}

/* ------------------------------------------------------------------ the hand-built graph */

static inline pq_tensor *rand_tensor(pq_rng *r, int rank, const int64_t *dims, float sd)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    if (pq_tensor_create(PQ_DTYPE_FLOAT32, rank, dims, &t, &err) != PQ_OK) return NULL;
    for (int64_t i = 0; i < t->numel; i++) PQ_DATA(t, float)[i] = (float)pq_rng_normal(r) * sd;
    return t;
}

static inline pq_status add_conv(pq_graph *g, pq_rng *r, const char *name, pq_var *x, int64_t cout,
                          int64_t cin, int64_t k, int pad, const char *out, pq_var **y,
                          pq_err *err)
{
    pq_status st = PQ_OK;
    pq_op *op = NULL;
    pq_var *w = NULL, *b = NULL;
    char nm[128];
    int64_t wd[4] = {cout, cin, k, k}, pads[4] = {pad, pad, pad, pad};
    snprintf(nm, sizeof nm, "%s.weight", name);
    PQ_TRY(pq_graph_create_parameter(g, nm, rand_tensor(r, 4, wd, 0.3f), &w, err));
    snprintf(nm, sizeof nm, "%s.bias", name);
    PQ_TRY(pq_graph_create_parameter(g, nm, rand_tensor(r, 1, &cout, 0.5f), &b, err));
    PQ_TRY(pq_graph_create_op(g, "Conv", name, NULL, 0, &op, err));
    PQ_TRY(pq_op_set_ints(op, "pads", pads, 4, err));
    PQ_TRY(pq_graph_add_input(g, op, x, err));
    PQ_TRY(pq_graph_add_input(g, op, w, err));
    PQ_TRY(pq_graph_add_input(g, op, b, err));
    PQ_TRY(pq_graph_create_var(g, out, y, err));
    PQ_TRY(pq_graph_add_output(g, op, *y, err));
fail:
    return st;
}

/* x[2,3,8,8] -> conv1 (3x3 pad 1) -> c1 -> relu -> r -> conv2 (3x3) -> y[2,5,6,6]
 *                                                  r -> conv3 (1x1) -> y2[2,3,8,8] */
static inline pq_graph *hand_graph(int opset)
{
    pq_err err = {0};
    pq_status st = PQ_OK;
    pq_graph *g = NULL;
    pq_var *x = NULL, *c1 = NULL, *rv = NULL, *y = NULL, *y2 = NULL;
    pq_op *relu = NULL;
    pq_rng rng;
    pq_rng_seed(&rng, 42);
    PQ_TRY(pq_graph_create("hand", &g, &err));
    g->ir_version = 7;
    PQ_TRY(pq_graph_set_opset(g, "", opset, &err));
    PQ_TRY(pq_graph_create_var(g, "x", &x, &err));
    int64_t xd[4] = {2, 3, 8, 8}, yd[4] = {2, 5, 6, 6}, y2d[4] = {2, 3, 8, 8};
    pq_var_set_shape(x, PQ_DTYPE_FLOAT32, 4, xd);
    PQ_TRY(pq_graph_mark_input(g, x, &err));
    PQ_TRY(add_conv(g, &rng, "conv1", x, 4, 3, 3, 1, "c1", &c1, &err));
    PQ_TRY(pq_graph_create_op(g, "Relu", "relu", NULL, 0, &relu, &err));
    PQ_TRY(pq_graph_add_input(g, relu, c1, &err));
    PQ_TRY(pq_graph_create_var(g, "r", &rv, &err));
    PQ_TRY(pq_graph_add_output(g, relu, rv, &err));
    PQ_TRY(add_conv(g, &rng, "conv2", rv, 5, 4, 3, 0, "y", &y, &err));
    PQ_TRY(add_conv(g, &rng, "conv3", rv, 3, 4, 1, 0, "y2", &y2, &err));
    pq_var_set_shape(y, PQ_DTYPE_FLOAT32, 4, yd);
    pq_var_set_shape(y2, PQ_DTYPE_FLOAT32, 4, y2d);
    PQ_TRY(pq_graph_mark_output(g, y, &err));
    PQ_TRY(pq_graph_mark_output(g, y2, &err));
    return g;
fail:
    fprintf(stderr, "hand_graph: %s\n", err.msg);
    pq_graph_destroy(&g);
    return NULL;
}

/* The TQCs of the hand graph: x int8 asymmetric; weights per-channel; biases PASSIVE;
 * conv1 out int8; relu in overlapped with conv1 out; relu out uint8; conv2 in overlapped
 * with relu out; conv3 in its own int8 asymmetric TQC on the same variable (a second Q/DQ
 * pair); conv2 out int8; conv3 out FP32. */
static inline int hand_quantize(pq_graph *g)
{
    pq_err err = {0};
    const char *names[] = {"conv1", "relu", "conv2", "conv3"};
    pq_op *op[4];
    for (int k = 0; k < 4; k++) {
        op[k] = pq_graph_find_op(g, names[k]);
        if (!op[k] || pq_op_qconfig_create(op[k], &err) != PQ_OK) return 0;
    }
    pq_op_qconfig *c1 = op[0]->qconfig, *rl = op[1]->qconfig, *c2 = op[2]->qconfig,
                  *c3 = op[3]->qconfig;
    tq_act(&c1->inputs[0], 0.025f, -3.0f, -128, 127);
    tq_weight(&c1->inputs[1], op[0]->inputs[1]->value, 0);
    tq_bias(&c1->inputs[2], &c1->inputs[0], &c1->inputs[1]);
    tq_act(&c1->outputs[0], 0.03f, 0.0f, -128, 127);
    tq_overlap(&rl->inputs[0], &c1->outputs[0]);
    tq_act(&rl->outputs[0], 0.02f, 0.0f, 0, 255);
    tq_overlap(&c2->inputs[0], &rl->outputs[0]);
    tq_weight(&c2->inputs[1], op[2]->inputs[1]->value, 0);
    tq_bias(&c2->inputs[2], &c2->inputs[0], &c2->inputs[1]);
    tq_act(&c2->outputs[0], 0.05f, 0.0f, -128, 127);
    tq_act(&c3->inputs[0], 0.015f, -100.0f, -128, 127);
    tq_weight(&c3->inputs[1], op[3]->inputs[1]->value, 0);
    tq_bias(&c3->inputs[2], &c3->inputs[0], &c3->inputs[1]);
    return 1;
}

/* ------------------------------------------------------------------ fake quantization */

/* The TQC applied in simulation (the exporter's rule, written again here). */
static inline const pq_tqc *sim_tqc(const pq_tqc *t)
{
    if (t->visibility == PQ_TQC_INTERNAL) return NULL;
    switch (t->state) {
    case PQ_TQC_STATE_ACTIVATED: case PQ_TQC_STATE_BAKED: case PQ_TQC_STATE_PASSIVE:
    case PQ_TQC_STATE_PASSIVE_BAKED: case PQ_TQC_STATE_OVERLAPPED: return pq_tqc_resolve(t);
    default: return NULL;
    }
}

/* In place: x = (clamp(round_half_even(x / s) + z, qmin, qmax) - z) * s per channel. */
static inline void fake_quant(pq_tensor *t, const pq_tqc *q)
{
    int64_t inner = 1, n = q->n_channels;
    int axis = q->channel_axis < 0 ? q->channel_axis + t->rank : q->channel_axis;
    if (n > 1)
        for (int k = axis + 1; k < t->rank; k++) inner *= t->dims[k];
    float *x = PQ_DATA(t, float);
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t c = n > 1 ? (i / inner) % n : 0;
        float s = q->scale[c], z = q->offset[c];
        double v = nearbyint((double)(x[i] / s)) + (double)z;
        if (v < (double)q->quant_min) v = (double)q->quant_min;
        if (v > (double)q->quant_max) v = (double)q->quant_max;
        x[i] = (float)(int64_t)(v - (double)z) * s;
    }
}

static inline pq_status sim_before(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                            pq_tensor **outputs, void *user, pq_err *err)
{
    (void)n_outputs;
    (void)outputs;
    (void)user;
    if (!op->qconfig) return PQ_OK;
    for (int i = 0; i < n_inputs && i < op->qconfig->n_inputs; i++) {
        const pq_tqc *q = sim_tqc(&op->qconfig->inputs[i]);
        pq_tensor *c = NULL;
        if (!q || !inputs[i]) continue;
        pq_status st = pq_tensor_clone(inputs[i], &c, err);
        if (st != PQ_OK) return st;
        fake_quant(c, q);
        inputs[i] = c;
    }
    return PQ_OK;
}

static inline pq_status sim_after(const pq_op *op, int n_inputs, pq_tensor **inputs, int n_outputs,
                           pq_tensor **outputs, void *user, pq_err *err)
{
    (void)n_inputs;
    (void)inputs;
    (void)user;
    (void)err;
    if (!op->qconfig) return PQ_OK;
    for (int j = 0; j < n_outputs && j < op->qconfig->n_outputs; j++) {
        const pq_tqc *q = sim_tqc(&op->qconfig->outputs[j]);
        if (q && outputs[j]) fake_quant(outputs[j], q);
    }
    return PQ_OK;
}

/* Runs g with one feed; simulate: fake quantization hooks. */
static inline pq_status run_graph(const pq_graph *g, int simulate, const char *in_name,
                                  pq_tensor *x,
                           int n_out, const char *const *out_names, pq_tensor **outs,
                           pq_err *err)
{
    pq_executor *ex = NULL;
    pq_status st = pq_executor_create(g, NULL, &ex, err);
    if (st != PQ_OK) return st;
    if (simulate) pq_executor_set_hooks(ex, sim_before, sim_after, NULL);
    st = pq_executor_run(ex, 1, &in_name, &x, n_out, out_names, outs, err);
    pq_executor_destroy(&ex);
    return st;
}

static inline double max_abs_diff(const pq_tensor *a, const pq_tensor *b, int64_t *n_over,
                                  double tol)
{
    double m = 0;
    if (n_over) *n_over = 0;
    if (!a || !b || a->numel != b->numel) return INFINITY;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = fabs((double)PQ_DATA(a, float)[i] - (double)PQ_DATA(b, float)[i]);
        if (!(d <= m)) m = d;
        if (n_over && d > tol) (*n_over)++;
    }
    return m;
}

/* ------------------------------------------------------------------ external tools */

/* A fresh temporary folder (caller removes with rm_tree). */
static inline char *make_tmpdir(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "/tmp/pq_export_XXXXXX");
    return mkdtemp(buf);
}

static inline void rm_tree(const char *dir)
{
    char cmd[512];
    if (!dir || strncmp(dir, "/tmp/pq_export_", 15) != 0) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static inline int have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* 1: ONNX Runtime runs; 0: node/npm absent (skip, message printed); -1: broken. Installs
 * onnxruntime-node into tests/export/node_modules when node and npm exist but it is absent. */
static inline int ort_available(void)
{
    static int cached = -2;
    if (cached != -2) return cached;
    if (!have_tool("node") || !have_tool("npm")) {
        printf("SKIP: node/npm not found: ONNX Runtime checks skipped\n");
        return cached = 0;
    }
    if (access(EXPORT_DIR "/node_modules/onnxruntime-node/package.json", R_OK) != 0) {
        const char *cmd = "cd '" EXPORT_DIR "' && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install "
                          "--no-audit --no-fund onnxruntime-node@1.20.1 >&2";
        printf("installing onnxruntime-node: %s\n", cmd);
        if (system(cmd) != 0) {
            fprintf(stderr, "npm install of onnxruntime-node@1.20.1 failed\n");
            return cached = -1;
        }
    }
    return cached = 1;
}

/* Runs model in ONNX Runtime: one input, n outputs written to dir/ort_<i>.npy and loaded. */
static inline int ort_run(const char *model, const char *dir, const char *opt, const char *in_name,
                   const pq_tensor *x, int n_out, const char *const *out_names, pq_tensor **outs)
{
    pq_err err = {0};
    char cmd[4096], xp[512], op[512];
    snprintf(xp, sizeof xp, "%s/ort_in.npy", dir);
    if (pq_npy_save(xp, x, &err) != PQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    int n = snprintf(cmd, sizeof cmd, "node '%s/ort_run.js' '%s' --opt %s --in '%s=%s'",
                     EXPORT_DIR, model, opt, in_name, xp);
    for (int k = 0; k < n_out; k++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --out '%s=%s/ort_out%d.npy'",
                      out_names[k], dir, k);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        return 0;
    }
    for (int k = 0; k < n_out; k++) {
        snprintf(op, sizeof op, "%s/ort_out%d.npy", dir, k);
        if (pq_npy_load(op, &outs[k], &err) != PQ_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 0;
        }
    }
    return 1;
}

/* onnx.checker.check_model(full_check) with Debian's python3-onnx: 1 ok, 0 failed, -1 no tool. */
static inline int onnx_check(const char *model)
{
    char cmd[1024];
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0) {
        printf("SKIP: /usr/bin/python3 with onnx not found: ONNX checker skipped\n");
        return -1;
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx,sys; m=onnx.load(sys.argv[1]); "
             "onnx.checker.check_model(m, full_check=True)\" '%s'",
             model);
    return system(cmd) == 0;
}

#endif /* TEST_EXPORT_UTIL_H */
