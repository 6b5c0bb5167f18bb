/* test_quant_models.c - platforms, dispatch, simplify and weights-only simulation on
 * ResNet-18 (torchvision, exported by scripts/make_models.py into $PQ_QUANT_MODELS_DIR,
 * default ./quant_models under the test's working directory, on first use; not committed).
 *
 * The graph is taken after the "format,fuse" passes (Identity removed, BatchNormalization
 * folded into the Conv weights and biases, Conv+Relu marked as fused pairs): 20 Conv,
 * 17 Relu, 8 Add, MaxPool, GlobalAveragePool, Flatten, Gemm = 49 operations.
 *
 * Weights-only quantization (parameter TQCs activated, activations left INITIAL): the
 * simulated output of 4 images is compared with the float output by cosine similarity. */
#include "pq_exec.h"
#include "pq_npy.h"
#include "pq_onnx.h"
#include "pq_passes.h"
#include "pq_quant.h"
#include "pq_test.h"
#include "pq_test_tensor.h"

#include <stdlib.h>
#include <sys/stat.h>

#define PY "/usr/bin/python3"

static char dir[512];

static int ensure_model(void)
{
    const char *env = getenv("PQ_QUANT_MODELS_DIR");
    snprintf(dir, sizeof dir, "%s", env && env[0] ? env : "quant_models");
    char path[1024], cmd[2048];
    struct stat sb;
    snprintf(path, sizeof path, "%s/resnet18.onnx", dir);
    if (stat(path, &sb) == 0) return 1;
    snprintf(cmd, sizeof cmd, "%s %s/scripts/make_models.py %s resnet18 >&2", PY, PQ_SOURCE_DIR,
             dir);
    fprintf(stderr, "exporting ResNet-18: %s\n", cmd);
    return system(cmd) == 0 && stat(path, &sb) == 0;
}

static pq_tensor *load_input(int64_t batch)
{
    pq_err err = {0};
    char path[1024];
    pq_tensor *all = NULL, *x = NULL;
    snprintf(path, sizeof path, "%s/resnet18_input.npy", dir);
    PQ_EXPECT_OK(pq_npy_load(path, &all, &err), &err);
    if (!all) return NULL;
    int64_t dims[4] = {batch, all->dims[1], all->dims[2], all->dims[3]};
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 4, dims, &x, &err), &err);
    if (x) memcpy(x->data, all->data, x->nbytes);
    pq_tensor_destroy(&all);
    return x;
}

/* ResNet-18 after format,fuse with the batch fixed. */
static pq_graph *load_fused(int64_t batch)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/resnet18.onnx", dir);
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    if (!g) return NULL;
    int64_t dims[4] = {batch, 3, 224, 224};
    PQ_EXPECT_OK(pq_passes_set_input_shape(g, ((pq_var *)g->inputs.items[0])->name, 4, dims, &err),
                 &err);
    PQ_EXPECT_OK(pq_passes_run(g, "format,fuse", NULL, &err), &err);
    return g;
}

static pq_op *nth_op(const pq_graph *g, const char *type, int n)
{
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (pq_op_is(op, type) && n-- == 0) return op;
    }
    return NULL;
}

static int count_type(const pq_graph *g, const char *type)
{
    int n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) n += pq_op_is(g->ops.items[k], type);
    return n;
}

#define SYM (PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR)
#define ASYM (PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR)

static void expect_tqc(const char *plat, const char *what, const pq_tqc *q, pq_tqc_state state,
                       unsigned policy, int64_t qmin, int64_t qmax, int axis)
{
    char a[128], b[128];
    if (q->state != state)
        PQ_FAIL_AT("%s %s: state %s, want %s", plat, what, pq_tqc_state_name(q->state),
                   pq_tqc_state_name(state));
    if (state == PQ_TQC_STATE_FP32) return;
    if (q->policy != policy)
        PQ_FAIL_AT("%s %s: policy %s, want %s", plat, what, pq_qpolicy_str(q->policy, a, sizeof a),
                   pq_qpolicy_str(policy, b, sizeof b));
    if (q->quant_min != qmin || q->quant_max != qmax)
        PQ_FAIL_AT("%s %s: range [%lld, %lld], want [%lld, %lld]", plat, what,
                   (long long)q->quant_min, (long long)q->quant_max, (long long)qmin,
                   (long long)qmax);
    if ((policy & PQ_QPOLICY_PER_CHANNEL) && q->channel_axis != axis)
        PQ_FAIL_AT("%s %s: axis %d, want %d", plat, what, q->channel_axis, axis);
}

PQ_TEST(resnet18_platforms)
{
    if (!ensure_model()) {
        PQ_FAIL_AT("could not export ResNet-18 into %s", dir);
        return;
    }
    pq_err err = {0};
    pq_graph *g0 = load_fused(1);
    if (!g0) return;
    PQ_EXPECT_EQ(g0->ops.n, 49);
    PQ_EXPECT_EQ(count_type(g0, "BatchNormalization"), 0);
    static const struct {
        const char *name;
        int64_t n_quant;
    } want[] = {{"fp32", 0},          {"trt_int8", 49},  {"ort_qdq_int8", 49},
                {"ppl_cuda_int8", 49}, {"academic_int8", 48}, {"dsp_int8", 48},
                {"nxp_int8", 48},     {"snpe_int8", 49}, {"ncnn_int8", 29},
                {"openvino_int8", 49}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const pq_platform *p = pq_platform_find(want[k].name);
        PQ_EXPECT(p != NULL);
        if (!p) continue;
        pq_graph *g = NULL;
        PQ_EXPECT_OK(pq_graph_copy(g0, 0, &g, &err), &err);
        if (!g) continue;
        int64_t nq = -1;
        PQ_EXPECT_OK(pq_dispatch(g, "pursus", p, NULL, 0, &err), &err);
        PQ_EXPECT_OK(pq_platform_quantize(p, g, &nq, &err), &err);
        if (nq != want[k].n_quant)
            PQ_FAIL_AT("%s: %lld quantized operations, want %lld", want[k].name, (long long)nq,
                       (long long)want[k].n_quant);
        pq_qpass_stats ps = {0};
        PQ_EXPECT_OK(pq_quant_simplify(g, NULL, &err), &err);
        PQ_EXPECT_OK(pq_quant_parameters(g, &ps, &err), &err);
        pq_op *conv0 = nth_op(g, "Conv", 0), *conv1 = nth_op(g, "Conv", 1);
        pq_op *gemm = nth_op(g, "Gemm", 0);
        const char *pn = want[k].name;
        if (strcmp(pn, "fp32") == 0) {
            PQ_EXPECT(conv0->qconfig == NULL);
            PQ_EXPECT_EQ(conv0->platform, PQ_PLATFORM_FP32);
        } else if (strcmp(pn, "trt_int8") == 0) {
            expect_tqc(pn, "conv0.W", &conv0->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -127, 127, 0);
            PQ_EXPECT_EQ(conv0->qconfig->inputs[1].n_channels, 64);
            expect_tqc(pn, "conv0.X", &conv0->qconfig->inputs[0], PQ_TQC_STATE_INITIAL,
                       SYM | PQ_QPOLICY_PER_TENSOR, -127, 127, 0);
            expect_tqc(pn, "conv0.B", &conv0->qconfig->inputs[2], PQ_TQC_STATE_FP32, 0, 0, 0, 0);
            expect_tqc(pn, "gemm.W", &gemm->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -127, 127, 0);
            PQ_EXPECT_EQ(gemm->qconfig->inputs[1].n_channels, 1000);
            /* Conv + Relu fused: the Conv output reads the Relu output's TQC */
            PQ_EXPECT_EQ(conv0->qconfig->outputs[0].state, PQ_TQC_STATE_OVERLAPPED);
            pq_op *relu = conv0->outputs[0]->dest_ops.items[0];
            PQ_EXPECT(pq_tqc_resolve(&conv0->qconfig->outputs[0]) == &relu->qconfig->outputs[0]);
            /* weights: 20 Conv + 1 Gemm activated by parameter quantization */
            PQ_EXPECT_EQ(ps.changed, 21);
            /* scale of output channel 0: max |W[0]| / 127 */
            const pq_tensor *w = conv0->inputs[1]->value;
            float amax = 0;
            for (int64_t i = 0; i < w->numel / 64; i++) {
                float v = fabsf(PQ_DATA(w, float)[i]);
                amax = v > amax ? v : amax;
            }
            PQ_EXPECT_NEAR(conv0->qconfig->inputs[1].scale[0], (float)((double)amax / 127.0), 0);
        } else if (strcmp(pn, "ort_qdq_int8") == 0) {
            expect_tqc(pn, "conv0.X", &conv0->qconfig->inputs[0], PQ_TQC_STATE_INITIAL,
                       ASYM | PQ_QPOLICY_PER_TENSOR, 0, 255, 0);
            expect_tqc(pn, "conv0.W", &conv0->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -127, 127, 0);
            expect_tqc(pn, "conv0.B", &conv0->qconfig->inputs[2], PQ_TQC_STATE_PASSIVE_INIT,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -2147483647LL - 1, 2147483647LL, 0);
            PQ_EXPECT_EQ(conv0->qconfig->inputs[2].num_bits, 32);
            PQ_EXPECT_EQ(ps.changed, 21);
        } else if (strcmp(pn, "academic_int8") == 0) {
            expect_tqc(pn, "conv0.W", &conv0->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       ASYM | PQ_QPOLICY_PER_TENSOR, 0, 255, 0);
            expect_tqc(pn, "conv0.B", &conv0->qconfig->inputs[2], PQ_TQC_STATE_FP32, 0, 0, 0, 0);
            /* no fusion: the Conv output keeps its own TQC */
            PQ_EXPECT_EQ(conv0->qconfig->outputs[0].state, PQ_TQC_STATE_INITIAL);
        } else if (strcmp(pn, "dsp_int8") == 0) {
            expect_tqc(pn, "conv0.W", &conv0->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       ASYM | PQ_QPOLICY_PER_TENSOR, 0, 255, 0);
            expect_tqc(pn, "conv0.B", &conv0->qconfig->inputs[2], PQ_TQC_STATE_PASSIVE_INIT,
                       SYM | PQ_QPOLICY_PER_TENSOR, -(1LL << 29), (1LL << 29) - 1, 0);
        } else if (strcmp(pn, "nxp_int8") == 0 || strcmp(pn, "snpe_int8") == 0) {
            int nxp = pn[0] == 'n';
            expect_tqc(pn, "conv0.X", &conv0->qconfig->inputs[0], PQ_TQC_STATE_INITIAL,
                       SYM | PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_POWER_OF_2, -128, 127, 0);
            expect_tqc(pn, "conv0.W", &conv0->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       SYM | PQ_QPOLICY_POWER_OF_2 |
                           (nxp ? PQ_QPOLICY_PER_CHANNEL : PQ_QPOLICY_PER_TENSOR),
                       -128, 127, 0);
            PQ_EXPECT_EQ(conv0->qconfig->inputs[1].rounding,
                         nxp ? PQ_ROUND_HALF_FAR_FROM_ZERO : PQ_ROUND_HALF_EVEN);
            if (nxp) PQ_EXPECT_EQ(conv0->qconfig->inputs[0].rounding, PQ_ROUND_HALF_UP);
            /* scales are powers of two */
            int e;
            PQ_EXPECT_NEAR(frexpf(conv0->qconfig->inputs[1].scale[0], &e), 0.5, 0);
        } else if (strcmp(pn, "ncnn_int8") == 0) {
            /* conv0 is 7x7 stride 2: 8-bit weights; conv1 (layer1.0.conv1) 3x3 stride 1: 6 bits */
            expect_tqc(pn, "conv0.W", &conv0->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -127, 127, 0);
            expect_tqc(pn, "conv1.W", &conv1->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -31, 31, 0);
            PQ_EXPECT_EQ(conv0->qconfig->inputs[0].rounding, PQ_ROUND_HALF_FAR_FROM_ZERO);
            expect_tqc(pn, "conv0.Y", &conv0->qconfig->outputs[0], PQ_TQC_STATE_FP32, 0, 0, 0, 0);
            PQ_EXPECT(nth_op(g, "Relu", 0)->qconfig == NULL);
        } else if (strcmp(pn, "ppl_cuda_int8") == 0 || strcmp(pn, "openvino_int8") == 0) {
            expect_tqc(pn, "conv0.X", &conv0->qconfig->inputs[0], PQ_TQC_STATE_INITIAL,
                       SYM | PQ_QPOLICY_PER_TENSOR, -128, 127, 0);
            expect_tqc(pn, "conv0.W", &conv0->qconfig->inputs[1], PQ_TQC_STATE_ACTIVATED,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -128, 127, 0);
            expect_tqc(pn, "conv0.B", &conv0->qconfig->inputs[2], PQ_TQC_STATE_PASSIVE_INIT,
                       SYM | PQ_QPOLICY_PER_CHANNEL, -2147483647LL, 2147483647LL, 0);
            /* [-128, 127]: PPQ's scale amax / 127.5 */
            const pq_tensor *w = conv0->inputs[1]->value;
            float amax = 0;
            for (int64_t i = 0; i < w->numel / 64; i++) {
                float v = fabsf(PQ_DATA(w, float)[i]);
                amax = v > amax ? v : amax;
            }
            PQ_EXPECT_NEAR(conv0->qconfig->inputs[1].scale[0], (float)((double)amax / 127.5), 0);
        }
        pq_graph_destroy(&g);
    }
    pq_graph_destroy(&g0);
}

/* Weights-only simulation on `platform`; returns the cosine similarity with float. */
static double weights_only(const char *platform, int64_t batch)
{
    pq_err err = {0};
    pq_graph *g = load_fused(batch);
    pq_tensor *x = load_input(batch), *yf = NULL, *yq = NULL;
    pq_executor *ex = NULL;
    pq_qsim *sim = NULL;
    double cs = -2;
    if (!g || !x) goto done;
    const pq_platform *p = pq_platform_find(platform);
    PQ_EXPECT_OK(pq_dispatch(g, "pursus", p, NULL, 0, &err), &err);
    PQ_EXPECT_OK(pq_platform_quantize(p, g, NULL, &err), &err);
    PQ_EXPECT_OK(pq_quant_simplify(g, NULL, &err), &err);
    PQ_EXPECT_OK(pq_quant_parameters(g, NULL, &err), &err);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;
    const char *in = ((pq_var *)g->inputs.items[0])->name;
    const char *out = ((pq_var *)g->outputs.items[0])->name;
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &in, &x, 1, &out, &yf, &err), &err);
    PQ_EXPECT_OK(pq_qsim_create(ex, &sim, &err), &err);
    double t0 = pq_time_now();
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &in, &x, 1, &out, &yq, &err), &err);
    double t1 = pq_time_now();
    if (!yf || !yq) goto done;
    pq_qsim_stats st = pq_qsim_get_stats(sim);
    cs = cosine(yq, yf);
    fprintf(stderr,
            "%s weights-only, ResNet-18 batch %lld: cosine %.6f vs float (%lld tensors, "
            "%lld elements fake-quantized, run %.3f s)\n",
            platform, (long long)batch, cs, (long long)st.tensors, (long long)st.elements,
            t1 - t0);
    /* weights only: 20 Conv + 1 Gemm weights, nothing else */
    PQ_EXPECT_EQ(st.tensors, 21);
    /* and the quantized output does differ from float */
    PQ_EXPECT(cs < 1.0);
    /* baking gives the same output without fake-quantizing anything at run time */
    {
        pq_qstore *store = NULL;
        pq_tensor *yb = NULL;
        PQ_EXPECT_OK(pq_qstore_create(&store, &err), &err);
        PQ_EXPECT_OK(pq_quant_bake(g, store, NULL, &err), &err);
        PQ_EXPECT_OK(pq_executor_run(ex, 1, &in, &x, 1, &out, &yb, &err), &err);
        PQ_EXPECT_EQ(pq_qsim_get_stats(sim).tensors, 21);
        int64_t diff = 0;
        for (int64_t i = 0; yb && i < yb->numel; i++)
            diff += PQ_DATA(yb, float)[i] != PQ_DATA(yq, float)[i];
        PQ_EXPECT_EQ(diff, 0);
        pq_tensor_destroy(&yb);
        /* dequantized: the float output again */
        PQ_EXPECT_OK(pq_quant_dequantize(g, store, &err), &err);
        PQ_EXPECT_OK(pq_executor_run(ex, 1, &in, &x, 1, &out, &yb, &err), &err);
        diff = 0;
        for (int64_t i = 0; yb && i < yb->numel; i++)
            diff += PQ_DATA(yb, float)[i] != PQ_DATA(yf, float)[i];
        PQ_EXPECT_EQ(diff, 0);
        pq_tensor_destroy(&yb);
        PQ_EXPECT_OK(pq_quant_restore(g, store, &err), &err);
        pq_qstore_destroy(&store);
    }
done:
    pq_qsim_destroy(&sim);
    pq_executor_destroy(&ex);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&yf);
    pq_tensor_destroy(&yq);
    pq_graph_destroy(&g);
    return cs;
}

PQ_TEST(resnet18_weights_only_simulation)
{
    if (!ensure_model()) {
        PQ_FAIL_AT("could not export ResNet-18 into %s", dir);
        return;
    }
    double trt = weights_only("trt_int8", 4);
    PQ_EXPECT(trt > 0.99);
    double ort = weights_only("ort_qdq_int8", 4);
    PQ_EXPECT(ort > 0.99);
    /* per-tensor asymmetric weights after BN folding: worse, still a usable network */
    double acad = weights_only("academic_int8", 4);
    PQ_EXPECT(acad > 0.9);
    PQ_EXPECT(acad < trt);
}

PQ_TEST(fusion_extension_keys_agree)
{
    /* qpasses.c repeats the fusion passes' extension keys; they must agree. */
    PQ_EXPECT_STR(PQ_EXT_FUSION, "fusion");
    PQ_EXPECT_STR(PQ_EXT_FUSED_WITH, "fused_with");
    PQ_EXPECT_STR(PQ_EXT_FUSED_OUTPUT, "fused_output");
}

PQ_TEST_MAIN()
