/* test_export_resnet.c - ResNet-18 (torchvision, random seeded weights, exported by
 * scripts/make_models.py into $PQ_EXPORT_MODELS_DIR, default ./export_models under the
 * test's working directory, on first use; never committed) through "format,fuse", the
 * calibration pipeline for ort_qdq_int8 (weights int8 per channel, activations uint8 from
 * min/max over 8 seeded synthetic images), exported as QDQ ONNX and run in ONNX Runtime on
 * 4 other synthetic images. ONNX Runtime's output must agree with ppq-calib's own quantized
 * simulation (pq_qsim): cosine >= 0.999 with graph optimisations disabled (Q/DQ executed
 * as written) and with all of them (QLinearConv and friends, integer arithmetic).
 *
 * Exits 77 (skip) when /usr/bin/python3 lacks torch/torchvision/onnx; the ONNX Runtime part
 * is skipped when node/npm are missing. */
#include "calib/pq_calib.h"
#include "pq_passes.h"
#include "test_export_util.h"

#define BATCH 4

/* BATCH seeded standard-normal images. */
static pq_tensor *synthetic(uint64_t seed)
{
    static const int64_t dims[4] = {BATCH, 3, 224, 224};
    return normal_tensor(4, dims, seed);
}

static double max_abs(const pq_tensor *a)
{
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) m = fmax(m, fabs((double)PQ_DATA(a, float)[i]));
    return m;
}

static int64_t top1_agree(const pq_tensor *a, const pq_tensor *b)
{
    int64_t n = a->dims[0], c = a->dims[1], same = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t ia = 0, ib = 0;
        for (int64_t j = 1; j < c; j++) {
            if (PQ_DATA(a, float)[r * c + j] > PQ_DATA(a, float)[r * c + ia]) ia = j;
            if (PQ_DATA(b, float)[r * c + j] > PQ_DATA(b, float)[r * c + ib]) ib = j;
        }
        same += ia == ib;
    }
    return same;
}

PQ_TEST(resnet18_qdq_ort_vs_simulation)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_qsim *sim = NULL;
    pq_tensor *cal[2] = {NULL, NULL}, *x = NULL, *flt = NULL, *ref = NULL, *ort = NULL;
    char *dir = make_tmpdir(), path[512];
    const char *in_name = "input", *out_name = "output";
    PQ_EXPECT(dir != NULL);
    PQ_EXPECT(ensure_export_model("resnet18", "torch, torchvision, onnx"));
    snprintf(path, sizeof path, "%s/resnet18.onnx", export_models);
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    if (!g || !dir) goto done;
    int64_t dims[4] = {BATCH, 3, 224, 224};
    PQ_EXPECT_OK(pq_passes_set_input_shape(g, in_name, 4, dims, &err), &err);
    PQ_EXPECT_OK(pq_passes_run(g, "format,fuse", NULL, &err), &err);

    /* Calibration: the pipeline, min/max, on 8 images in two batches. */
    pq_calib_options o;
    pq_calib_options_init(&o);
    o.platform = "ort_qdq_int8";
    o.activation_algo = "minmax";
    pq_calib_stats stats;
    memset(&stats, 0, sizeof stats);
    cal[0] = synthetic(101);
    cal[1] = synthetic(102);
    x = synthetic(201);
    PQ_EXPECT(cal[0] && cal[1] && x);
    if (!cal[0] || !cal[1] || !x) goto done;
    double t0 = pq_time_now();
    PQ_EXPECT_OK(pq_calib_quantize_graph(g, &o, &err), &err);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;
    pq_calib_memsource mem;
    pq_calib_source src;
    pq_calib_memsource_init(&mem, cal, NULL, 2, 1, &src);
    PQ_EXPECT_OK(pq_calib_run(g, ex, &o, &src, NULL, &stats, &err), &err);
    double t_cal = pq_time_now() - t0;

    /* Weights are per channel int8 [-127, 127]; count quantized ops. */
    int64_t n_conv = 0, n_per_channel = 0, n_quant_ops = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        n_quant_ops++;
        if (!pq_op_is(op, "Conv") && !pq_op_is(op, "Gemm")) continue;
        n_conv++;
        const pq_tqc *w = &op->qconfig->inputs[1];
        n_per_channel += (w->policy & PQ_QPOLICY_PER_CHANNEL) && w->n_channels > 1 &&
                         w->state == PQ_TQC_STATE_ACTIVATED && w->quant_min == -127 &&
                         w->quant_max == 127;
    }
    PQ_EXPECT_EQ(n_conv, 21);
    PQ_EXPECT_EQ(n_per_channel, 21);
    printf("resnet18: %lld quantized ops, %lld activation observers, calibration on %lld "
           "images in %.2f s\n", (long long)n_quant_ops, (long long)stats.observers,
           (long long)stats.samples[0], t_cal);
    PQ_EXPECT_EQ(stats.samples[0], 2 * BATCH);

    /* ppq-calib's simulation and float on 4 other images. */
    PQ_EXPECT_OK(pq_qsim_create(ex, &sim, &err), &err);
    if (!sim) goto done;
    pq_qsim_enable(sim, 0);
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &in_name, &x, 1, &out_name, &flt, &err), &err);
    pq_qsim_enable(sim, 1);
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &in_name, &x, 1, &out_name, &ref, &err), &err);
    if (!flt || !ref) goto done;
    double cos_sim = cosine(flt, ref);
    printf("resnet18: simulation vs float: cosine %.6f, max |diff| %.4g, top-1 agree %lld/%d\n",
           cos_sim, max_abs_diff(flt, ref, NULL, 0), (long long)top1_agree(flt, ref), BATCH);
    PQ_EXPECT(cos_sim > 0.98);

    snprintf(path, sizeof path, "%s/resnet18_qdq.onnx", dir);
    PQ_EXPECT_OK(pq_export_qdq_onnx(g, NULL, path, &err), &err);
    PQ_EXPECT(onnx_check(path) != 0);
    int avail = ort_available();
    PQ_EXPECT(avail >= 0);
    if (avail <= 0) goto done;
    /* The output's quantization step, to read differences in steps. */
    float step = 0;
    const pq_var *ov = pq_graph_find_var(g, out_name);
    if (ov && ov->source_op && ov->source_op->qconfig)
        step = pq_tqc_resolve(&ov->source_op->qconfig->outputs[0])->scale[0];
    const char *levels[2] = {"disabled", "all"};
    for (int l = 0; l < 2; l++) {
        int64_t over = 0;
        if (!ort_run(path, dir, levels[l], in_name, x, 1, &out_name, &ort)) {
            PQ_FAIL_AT("ONNX Runtime run failed (%s)", levels[l]);
            break;
        }
        double c = cosine(ort, ref), d = max_abs_diff(ort, ref, &over, 1e-3);
        printf("resnet18: ONNX Runtime (optimisation %s) vs ppq-calib simulation: cosine "
               "%.6f, max |diff| %.4g (%.2f output steps of %.4g; max |ref| %.4g), %lld of "
               "%lld over 1e-3, top-1 agree %lld/%d; vs float: cosine %.6f\n",
               levels[l], c, d, step > 0 ? d / step : 0.0, (double)step, max_abs(ref),
               (long long)over, (long long)ref->numel, (long long)top1_agree(ort, ref), BATCH,
               cosine(ort, flt));
        PQ_EXPECT(c >= 0.999);
        pq_tensor_destroy(&ort);
    }
done:
    pq_qsim_destroy(&sim);
    pq_executor_destroy(&ex);
    pq_tensor_destroy(&cal[0]);
    pq_tensor_destroy(&cal[1]);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&flt);
    pq_tensor_destroy(&ref);
    pq_tensor_destroy(&ort);
    pq_graph_destroy(&g);
    rm_tree(dir);
}

PQ_TEST_MAIN()
