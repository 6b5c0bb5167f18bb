/* test_export_transformer.c - the transformer encoder of scripts/make_models.py (2 layers,
 * d_model 128, GELU; exported at opset 13 into $PQ_EXPORT_MODELS_DIR, default
 * ./export_models, on first use; never committed) through the passes, the calibration
 * pipeline for ort_qdq_int8 (min/max over 8 seeded synthetic sequences) and the QDQ export,
 * run in ONNX Runtime 1.20 on 4 other sequences:
 *   - "format,fuse": LayerNormalization (ai.onnx from opset 17) and Gelu (from opset 20)
 *     after fusion; nothing else blocks, so the export raises the model's opset to 20;
 *   - the same without fuse_layernorm: the decomposed LayerNorm keeps ReduceMean with an
 *     `axes` attribute (an input from opset 18), so the opset cannot be raised and Gelu is
 *     exported as ONNX Runtime's com.microsoft Gelu at opset 13.
 * Each time ONNX Runtime's output must agree with ppq-calib's own quantized simulation
 * (pq_qsim): cosine >= 0.999 with graph optimisations disabled and with all of them.
 * (Debian's onnx 1.12 knows opsets up to 17, so the ONNX checker is not run here.)
 *
 * Exits 77 (skip) when /usr/bin/python3 lacks torch/onnx; the ONNX Runtime part is skipped
 * when node/npm are missing. */
#include "calib/pq_calib.h"
#include "pq_passes.h"
#include "test_export_util.h"

#define BATCH 4
#define SEQ 32
#define DMODEL 128

static pq_tensor *synthetic(uint64_t seed)
{
    static const int64_t dims[3] = {BATCH, SEQ, DMODEL};
    return normal_tensor(3, dims, seed);
}

static int64_t count_ops(const pq_graph *g, const char *domain, const char *type)
{
    int64_t n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        n += strcmp(op->domain ? op->domain : "", domain) == 0 && strcmp(op->type, type) == 0;
    }
    return n;
}

/* Calibrates the model after `passes`, exports it, checks the exported graph's opset and
 * operator forms, and compares ONNX Runtime with the simulation. */
static void run_case(const char *passes, int64_t want_opset, int64_t want_contrib_gelu)
{
    pq_err err = {0};
    pq_graph *g = NULL, *q = NULL;
    pq_executor *ex = NULL;
    pq_qsim *sim = NULL;
    pq_tensor *cal[2] = {NULL, NULL}, *x = NULL, *flt = NULL, *ref = NULL, *ort = NULL;
    char *dir = make_tmpdir(), path[512];
    const char *in_name = "input", *out_name = "output";
    PQ_EXPECT(dir != NULL);
    PQ_EXPECT(ensure_export_model("transformer", "torch, onnx"));
    snprintf(path, sizeof path, "%s/transformer.onnx", export_models);
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    if (!g || !dir) goto done;
    int64_t dims[3] = {BATCH, SEQ, DMODEL};
    PQ_EXPECT_OK(pq_passes_set_input_shape(g, in_name, 3, dims, &err), &err);
    PQ_EXPECT_OK(pq_passes_run(g, passes, NULL, &err), &err);
    PQ_EXPECT_EQ(count_ops(g, "", "Gelu"), 2);

    pq_calib_options o;
    pq_calib_options_init(&o);
    o.platform = "ort_qdq_int8";
    o.activation_algo = "minmax";
    cal[0] = synthetic(301);
    cal[1] = synthetic(302);
    x = synthetic(401);
    PQ_EXPECT(cal[0] && cal[1] && x);
    if (!cal[0] || !cal[1] || !x) goto done;
    PQ_EXPECT_OK(pq_calib_quantize_graph(g, &o, &err), &err);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;
    pq_calib_memsource mem;
    pq_calib_source src;
    pq_calib_memsource_init(&mem, cal, NULL, 2, 1, &src);
    PQ_EXPECT_OK(pq_calib_run(g, ex, &o, &src, NULL, NULL, &err), &err);

    PQ_EXPECT_OK(pq_qsim_create(ex, &sim, &err), &err);
    if (!sim) goto done;
    pq_qsim_enable(sim, 0);
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &in_name, &x, 1, &out_name, &flt, &err), &err);
    pq_qsim_enable(sim, 1);
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &in_name, &x, 1, &out_name, &ref, &err), &err);
    if (!flt || !ref) goto done;
    printf("transformer (%s): simulation vs float: cosine %.6f\n", passes, cosine(flt, ref));

    /* The exported graph: opset and operator forms. */
    PQ_EXPECT_OK(pq_export_qdq_graph(g, NULL, &q, &err), &err);
    if (!q) goto done;
    PQ_EXPECT_EQ(pq_graph_opset(q, ""), want_opset);
    PQ_EXPECT_EQ(count_ops(q, "com.microsoft", "Gelu"), want_contrib_gelu);
    PQ_EXPECT_EQ(count_ops(q, "", "Gelu"), 2 - want_contrib_gelu);
    if (want_contrib_gelu) PQ_EXPECT_EQ(pq_graph_opset(q, "com.microsoft"), 1);
    PQ_EXPECT(count_ops(q, "", "QuantizeLinear") > 20);
    printf("transformer (%s): exported at ai.onnx opset %lld, IR %lld, %lld com.microsoft "
           "Gelu, %lld LayerNormalization\n", passes, (long long)pq_graph_opset(q, ""),
           (long long)q->ir_version, (long long)want_contrib_gelu,
           (long long)count_ops(q, "", "LayerNormalization"));

    snprintf(path, sizeof path, "%s/transformer_qdq.onnx", dir);
    PQ_EXPECT_OK(pq_export_qdq_onnx(g, NULL, path, &err), &err);
    int avail = ort_available();
    PQ_EXPECT(avail >= 0);
    if (avail <= 0) goto done;
    const char *levels[2] = {"disabled", "all"};
    for (int l = 0; l < 2; l++) {
        if (!ort_run(path, dir, levels[l], in_name, x, 1, &out_name, &ort)) {
            PQ_FAIL_AT("ONNX Runtime run failed (%s)", levels[l]);
            break;
        }
        double c = cosine(ort, ref), d = max_abs_diff(ort, ref, NULL, 0);
        printf("transformer (%s): ONNX Runtime (optimisation %s) vs ppq-calib simulation: "
               "cosine %.6f, max |diff| %.4g; vs float: cosine %.6f\n",
               passes, levels[l], c, d, cosine(ort, flt));
        PQ_EXPECT(c >= 0.999);
        pq_tensor_destroy(&ort);
    }
done:
    pq_graph_destroy(&q);
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

PQ_TEST(transformer_qdq_opset20_ort_vs_simulation) { run_case("format,fuse", 20, 0); }

PQ_TEST(transformer_qdq_contrib_gelu_ort_vs_simulation)
{
    run_case("format,fuse_matmul_add,fuse_gelu,fuse_activation", 13, 2);
}

PQ_TEST_MAIN()
