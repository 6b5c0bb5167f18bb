/* test_export_digits.c - the committed digits CNN (tests/fixtures/digits): BatchNormalization
 * folded, every activation quantized with min/max scales from 128 training images computed
 * with the executor, weights per-channel int8, biases int32; exported as QDQ ONNX and run in
 * ONNX Runtime on the 360 test images against the fake-quantization reference; accuracies
 * of float, reference and ONNX Runtime reported. */
#include "pq_h5.h"
#include "pq_passes.h"
#include "test_export_util.h"

#define FIX PQ_SOURCE_DIR "/tests/fixtures/digits/"

static pq_status read_split(const char *images, const char *labels, int64_t n, pq_tensor **x,
                            pq_tensor **y, pq_err *err)
{
    pq_h5_input_spec s[2];
    pq_h5_reader *r = NULL;
    pq_tensor *out[2] = {NULL, NULL};
    pq_h5_input_spec_init(&s[0], "images", images);
    pq_h5_input_spec_init(&s[1], "labels", labels);
    s[1].dtype = PQ_DTYPE_INT64;
    pq_status st = pq_h5_reader_open(FIX "digits.h5", labels ? 2 : 1, s, n, n, PQ_H5_NAN_ERROR,
                                     NULL, &r, err);
    if (st == PQ_OK) st = pq_h5_reader_read(r, 0, out, NULL, err);
    pq_h5_reader_close(&r);
    *x = out[0];
    if (y) *y = out[1];
    else pq_tensor_destroy(&out[1]);
    return st;
}

/* Activation TQC from a range: uint8 [0, 255] zero point 0 when min >= 0, else int8
 * asymmetric [-128, 127]. */
static void tq_from_range(pq_tqc *t, float lo, float hi)
{
    if (lo >= 0) {
        tq_act(t, hi > 0 ? hi / 255.0f : 1.0f, 0.0f, 0, 255);
        return;
    }
    if (hi < 0) hi = 0;
    float s = (hi - lo) / 255.0f, z = nearbyintf(-128.0f - lo / s);
    if (z < -128) z = -128;
    if (z > 127) z = 127;
    tq_act(t, s, z, -128, 127);
}

/* TQCs on every op: outputs from the calibration ranges, activation inputs overlapped with
 * their producer's output (graph inputs from their own range), Conv/Gemm weights per output
 * channel, biases PASSIVE. */
static int quantize_digits(pq_graph *g, const pq_tensor *calib)
{
    pq_err err = {0};
    int ok = 0;
    int64_t n = 0;
    const char **names = NULL;
    pq_tensor **acts = NULL;
    for (int64_t k = 0; k < g->ops.n; k++) n += ((pq_op *)g->ops.items[k])->n_outputs;
    names = calloc((size_t)n + 1, sizeof *names);
    acts = calloc((size_t)n + 1, sizeof *acts);
    if (!names || !acts) goto done;
    n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        for (int j = 0; j < op->n_outputs; j++) names[n++] = op->outputs[j]->name;
    }
    names[n] = "images";
    if (run_graph(g, 0, "images", (pq_tensor *)calib, (int)n + 1, names, acts, &err) != PQ_OK) {
        fprintf(stderr, "calibration run: %s\n", err.msg);
        goto done;
    }
    /* Outputs. */
    int64_t a = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        if (pq_op_qconfig_create(op, &err) != PQ_OK) goto done;
        for (int j = 0; j < op->n_outputs; j++, a++) {
            const pq_tensor *t = acts[a];
            float lo = INFINITY, hi = -INFINITY;
            for (int64_t i = 0; i < t->numel; i++) {
                lo = fminf(lo, PQ_DATA(t, float)[i]);
                hi = fmaxf(hi, PQ_DATA(t, float)[i]);
            }
            tq_from_range(&op->qconfig->outputs[j], lo, hi);
        }
    }
    /* Inputs. */
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        int conv = pq_op_is(op, "Conv"), gemm = pq_op_is(op, "Gemm");
        for (int i = 0; i < op->n_inputs; i++) {
            pq_var *v = op->inputs[i];
            pq_tqc *t = &op->qconfig->inputs[i];
            if (!v) continue;
            if (pq_var_is_parameter(v)) {
                int64_t trans_b = 0;
                if (gemm) pq_op_get_int(op, "transB", 0, &trans_b, &err);
                if ((conv || gemm) && i == 1) tq_weight(t, v->value, gemm && !trans_b ? 1 : 0);
                else if ((conv || gemm) && i == 2) tq_bias(t, &op->qconfig->inputs[0],
                                                           &op->qconfig->inputs[1]);
                continue;
            }
            if (v->source_op) {
                const pq_op *p = v->source_op;
                for (int j = 0; j < p->n_outputs; j++)
                    if (p->outputs[j] == v) tq_overlap(t, &p->qconfig->outputs[j]);
            } else {
                const pq_tensor *x = acts[n];
                float lo = INFINITY, hi = -INFINITY;
                for (int64_t e = 0; e < x->numel; e++) {
                    lo = fminf(lo, PQ_DATA(x, float)[e]);
                    hi = fmaxf(hi, PQ_DATA(x, float)[e]);
                }
                tq_from_range(t, lo, hi);
            }
        }
    }
    ok = 1;
done:
    for (int64_t k = 0; acts && k <= n; k++) pq_tensor_destroy(&acts[k]);
    free(acts);
    free(names);
    return ok;
}

static int64_t argmax_row(const pq_tensor *t, int64_t r)
{
    int64_t c = t->dims[1], best = 0;
    for (int64_t j = 1; j < c; j++)
        if (PQ_DATA(t, float)[r * c + j] > PQ_DATA(t, float)[r * c + best]) best = j;
    return best;
}

static double accuracy(const pq_tensor *logits, const pq_tensor *labels)
{
    int64_t n = logits->dims[0], hit = 0;
    for (int64_t r = 0; r < n; r++) hit += argmax_row(logits, r) == PQ_DATA(labels, int64_t)[r];
    return (double)hit / (double)n;
}

static int64_t label_agreement(const pq_tensor *a, const pq_tensor *b)
{
    int64_t same = 0;
    for (int64_t r = 0; r < a->dims[0]; r++) same += argmax_row(a, r) == argmax_row(b, r);
    return same;
}

PQ_TEST(digits_qdq_in_onnx_runtime)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_tensor *calib = NULL, *x = NULL, *labels = NULL, *flt = NULL, *ref = NULL, *ort = NULL;
    pq_trt_cache *cache = NULL;
    const char *out = "logits";
    char *dir = make_tmpdir(), path[512];
    PQ_EXPECT(dir != NULL);
    PQ_EXPECT_OK(pq_onnx_load(FIX "digits_cnn.onnx", &g, &err), &err);
    if (!g || !dir) goto done;
    PQ_EXPECT_OK(pq_pass_fuse_bn(g, NULL, &err), &err);
    PQ_EXPECT_OK(pq_graph_topological_sort(g, &err), &err);
    int n_bn = 0;
    for (int64_t k = 0; k < g->ops.n; k++)
        n_bn += pq_op_is(g->ops.items[k], "BatchNormalization");
    PQ_EXPECT_EQ(n_bn, 0);
    PQ_EXPECT_OK(read_split("/train/images", NULL, 128, &calib, NULL, &err), &err);
    PQ_EXPECT_OK(read_split("/test/images", "/test/labels", 360, &x, &labels, &err), &err);
    if (!calib || !x || !labels) goto done;
    PQ_EXPECT(quantize_digits(g, calib));
    PQ_EXPECT_OK(run_graph(g, 0, "images", x, 1, &out, &flt, &err), &err);
    PQ_EXPECT_OK(run_graph(g, 1, "images", x, 1, &out, &ref, &err), &err);
    if (!flt || !ref) goto done;
    double acc_f = accuracy(flt, labels), acc_r = accuracy(ref, labels);
    printf("digits: float accuracy %.4f, fake-quant reference accuracy %.4f (360 test images)\n",
           acc_f, acc_r);
    PQ_EXPECT_NEAR(acc_f, 359.0 / 360.0, 1e-9);
    PQ_EXPECT(acc_r >= acc_f - 0.02);
    snprintf(path, sizeof path, "%s/digits_qdq.onnx", dir);
    PQ_EXPECT_OK(pq_export_qdq_onnx(g, NULL, path, &err), &err);
    PQ_EXPECT(onnx_check(path) != 0);
    /* The TensorRT cache of the same graph names activations of the float model only. */
    PQ_EXPECT_OK(pq_trt_cache_build(g, 0, NULL, &cache, &err), &err);
    for (int64_t k = 0; cache && k < cache->n; k++) {
        const pq_var *v = pq_graph_find_var(g, cache->entries[k].name);
        PQ_EXPECT(v && !pq_var_is_parameter(v));
    }
    printf("digits: TensorRT cache with %lld tensors\n", cache ? (long long)cache->n : -1LL);
    int avail = ort_available();
    PQ_EXPECT(avail >= 0);
    if (avail <= 0) goto done;
    const char *levels[2] = {"disabled", "all"};
    for (int l = 0; l < 2; l++) {
        int64_t over = 0;
        if (!ort_run(path, dir, levels[l], "images", x, 1, &out, &ort)) {
            PQ_FAIL_AT("ONNX Runtime run failed (%s)", levels[l]);
            break;
        }
        double d = max_abs_diff(ort, ref, &over, 1e-5);
        int64_t agree = label_agreement(ort, ref);
        printf("digits: ONNX Runtime (optimisation %s): accuracy %.4f; vs fake-quant reference: "
               "max |diff| %.3g, %lld of %lld logits over 1e-5, %lld of 360 labels agree\n",
               levels[l], accuracy(ort, labels), d, (long long)over, (long long)ref->numel,
               (long long)agree);
        /* Unfused, ONNX Runtime computes what the reference computes, up to float summation
         * order inside Conv/Gemm, which can move a value across a rounding boundary. */
        if (l == 0) PQ_EXPECT(over * 100 <= ref->numel);
        PQ_EXPECT(agree >= 356);
        PQ_EXPECT(accuracy(ort, labels) >= acc_f - 0.02);
        pq_tensor_destroy(&ort);
    }
done:
    pq_trt_cache_destroy(&cache);
    pq_tensor_destroy(&calib);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&labels);
    pq_tensor_destroy(&flt);
    pq_tensor_destroy(&ref);
    pq_tensor_destroy(&ort);
    pq_graph_destroy(&g);
    rm_tree(dir);
}

PQ_TEST_MAIN()
