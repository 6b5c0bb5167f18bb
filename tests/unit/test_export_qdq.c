/* test_export_qdq.c - QDQ ONNX export of a hand-built Conv -> Relu -> {Conv, Conv} graph with
 * chosen TQCs: structure of the exported graph, the ONNX checker, and its outputs in our
 * executor and in ONNX Runtime against a fake-quantization reference computed here on the
 * float executor. Also the opset upgrade and the refusals. */
#include "test_export_util.h"

static int count_type(const pq_graph *g, const char *type)
{
    int n = 0;
    for (int64_t k = 0; k < g->ops.n; k++)
        if (pq_op_is(g->ops.items[k], type)) n++;
    return n;
}

/* The op reading input idx of `op` through a DequantizeLinear: returns that DQ op. */
static const pq_op *dq_of(const pq_graph *g, const char *op_name, int idx)
{
    const pq_op *op = pq_graph_find_op(g, op_name);
    if (!op || idx >= op->n_inputs || !op->inputs[idx]) return NULL;
    const pq_op *src = op->inputs[idx]->source_op;
    return src && pq_op_is(src, "DequantizeLinear") ? src : NULL;
}

PQ_TEST(qdq_structure)
{
    pq_err err = {0};
    pq_graph *g = hand_graph(13), *q = NULL;
    PQ_EXPECT(g && hand_quantize(g));
    if (!g) return;
    PQ_EXPECT_OK(pq_export_qdq_graph(g, NULL, &q, &err), &err);
    if (!q) goto done;
    PQ_EXPECT_OK(pq_graph_validate(q, &err), &err);
    /* Activation pairs: x (conv1 in), c1 (conv1 out), r (relu out), r again for conv3's own
     * TQC, y (conv2 out); y2 is FP32. Weights: 3 int8 DQ; biases: 3 int32 DQ. */
    PQ_EXPECT_EQ(count_type(q, "QuantizeLinear"), 5);
    PQ_EXPECT_EQ(count_type(q, "DequantizeLinear"), 5 + 3 + 3);
    /* Names of graph inputs and outputs kept. */
    PQ_EXPECT_EQ(q->inputs.n, 1);
    PQ_EXPECT_STR(((pq_var *)q->inputs.items[0])->name, "x");
    PQ_EXPECT_EQ(q->outputs.n, 2);
    PQ_EXPECT_STR(((pq_var *)q->outputs.items[0])->name, "y");
    PQ_EXPECT_STR(((pq_var *)q->outputs.items[1])->name, "y2");
    /* y is produced by a DequantizeLinear; y2 by conv3 directly. */
    const pq_var *y = pq_graph_find_var(q, "y"), *y2 = pq_graph_find_var(q, "y2");
    PQ_EXPECT(y && y->source_op && pq_op_is(y->source_op, "DequantizeLinear"));
    PQ_EXPECT(y2 && y2->source_op && strcmp(y2->source_op->name, "conv3") == 0);
    /* conv1's weight: int8 initializer, per-channel DQ with axis 0 and 4 scales. */
    const pq_op *dw = dq_of(q, "conv1", 1);
    PQ_EXPECT(dw != NULL);
    if (dw) {
        int64_t axis = -1;
        PQ_EXPECT_EQ(dw->inputs[0]->value ? dw->inputs[0]->value->dtype : 0, PQ_DTYPE_INT8);
        PQ_EXPECT_OK(pq_op_get_int(dw, "axis", -1, &axis, &err), &err);
        PQ_EXPECT_EQ(axis, 0);
        PQ_EXPECT_EQ(dw->inputs[1]->value->numel, 4);
        /* Values: round(w / s) within [-127, 127], and the max |q| of a channel is 127. */
        const pq_tensor *w = pq_graph_find_var(g, "conv1.weight")->value;
        const pq_tqc *t = &pq_graph_find_op(g, "conv1")->qconfig->inputs[1];
        int64_t bad = 0;
        for (int64_t i = 0; i < w->numel; i++) {
            int64_t c = i / 27;
            float want = nearbyintf(PQ_DATA(w, float)[i] / t->scale[c]);
            if ((float)PQ_DATA(dw->inputs[0]->value, int8_t)[i] != want) bad++;
        }
        PQ_EXPECT_EQ(bad, 0);
    }
    /* Biases: int32, zero point int32 0, scale s_in * s_w. */
    const pq_op *db = dq_of(q, "conv3", 2);
    PQ_EXPECT(db != NULL);
    if (db) {
        const pq_tqc *tw = &pq_graph_find_op(g, "conv3")->qconfig->inputs[1];
        PQ_EXPECT_EQ(db->inputs[0]->value->dtype, PQ_DTYPE_INT32);
        PQ_EXPECT_EQ(db->inputs[2]->value->dtype, PQ_DTYPE_INT32);
        PQ_EXPECT_EQ(PQ_DATA(db->inputs[2]->value, int32_t)[1], 0);
        PQ_EXPECT(PQ_DATA(db->inputs[1]->value, float)[1] == 0.015f * tw->scale[1]);
    }
    /* relu out is uint8 (quant_min 0): its zero point tensor is uint8 and a scalar. */
    const pq_op *dr = dq_of(q, "conv2", 0);
    PQ_EXPECT(dr != NULL);
    if (dr) {
        PQ_EXPECT_EQ(dr->inputs[2]->value->dtype, PQ_DTYPE_UINT8);
        PQ_EXPECT_EQ(dr->inputs[2]->value->rank, 0);
        PQ_EXPECT(PQ_DATA(dr->inputs[1]->value, float)[0] == 0.02f);
        PQ_EXPECT(pq_op_find_attr(dr, "axis") == NULL);
    }
    /* conv3 reads r through its own pair (int8, zero point -100), after relu's pair. */
    const pq_op *d3 = dq_of(q, "conv3", 0);
    PQ_EXPECT(d3 != NULL && d3 != dr);
    if (d3 && dr) {
        PQ_EXPECT_EQ(d3->inputs[2]->value->dtype, PQ_DTYPE_INT8);
        PQ_EXPECT_EQ(PQ_DATA(d3->inputs[2]->value, int8_t)[0], -100);
        const pq_op *q3 = d3->inputs[0]->source_op;
        PQ_EXPECT(q3 && q3->inputs[0] == dr->outputs[0]);
    }
    /* The float weights are gone; the original graph is untouched. */
    PQ_EXPECT(pq_graph_find_var(q, "conv1.weight") == NULL);
    PQ_EXPECT(pq_graph_find_var(g, "conv1.weight") != NULL);
    PQ_EXPECT_EQ(count_type(g, "QuantizeLinear"), 0);
done:
    pq_graph_destroy(&q);
    pq_graph_destroy(&g);
}

/* Exported model vs the fake-quantization reference: in our executor, then in ONNX Runtime
 * with graph optimisations off (the QDQ graph as written) and all on (fused QLinearConv). */
static void check_numbers(pq_qdq_weight_mode mode, const char *label)
{
    pq_err err = {0};
    pq_graph *g = hand_graph(13), *q = NULL;
    pq_tensor *x = NULL, *ref[2] = {NULL, NULL}, *ours[2] = {NULL, NULL};
    pq_tensor *ort[2] = {NULL, NULL}, *flt[2] = {NULL, NULL};
    const char *outs[2] = {"y", "y2"};
    char *dir = make_tmpdir(), path[512];
    pq_rng rng;
    pq_qdq_options o;
    pq_qdq_options_init(&o);
    o.weights = mode;
    pq_rng_seed(&rng, 7);
    int64_t xd[4] = {2, 3, 8, 8};
    x = rand_tensor(&rng, 4, xd, 1.0f);
    PQ_EXPECT(g && hand_quantize(g) && x && dir);
    if (!g || !x || !dir) goto done;
    PQ_EXPECT_OK(run_graph(g, 1, "x", x, 2, outs, ref, &err), &err);
    PQ_EXPECT_OK(run_graph(g, 0, "x", x, 2, outs, flt, &err), &err);
    PQ_EXPECT_OK(pq_export_qdq_graph(g, &o, &q, &err), &err);
    if (!q || !ref[0]) goto done;
    /* Quantization changes the result (the reference is not the float model). */
    double dq = max_abs_diff(ref[0], flt[0], NULL, 0);
    PQ_EXPECT(dq > 0.01);
    PQ_EXPECT_OK(run_graph(q, 0, "x", x, 2, outs, ours, &err), &err);
    for (int k = 0; k < 2 && ours[k]; k++) {
        double d = max_abs_diff(ours[k], ref[k], NULL, 0);
        printf("%s: our executor on the QDQ graph vs reference, %s: max |diff| %.3g\n", label,
               outs[k], d);
        PQ_EXPECT_NEAR(d, 0.0, 1e-6);
    }
    snprintf(path, sizeof path, "%s/hand_qdq.onnx", dir);
    PQ_EXPECT_OK(pq_export_qdq_onnx(g, &o, path, &err), &err);
    PQ_EXPECT(onnx_check(path) != 0);
    int avail = ort_available();
    PQ_EXPECT(avail >= 0);
    if (avail <= 0) goto done;
    const char *levels[2] = {"disabled", "all"};
    for (int l = 0; l < 2; l++) {
        if (!ort_run(path, dir, levels[l], "x", x, 2, outs, ort)) {
            PQ_FAIL_AT("ONNX Runtime run failed (%s)", levels[l]);
            break;
        }
        for (int k = 0; k < 2; k++) {
            int64_t over = 0;
            double d = max_abs_diff(ort[k], ref[k], &over, 1e-5);
            printf("%s: ONNX Runtime (optimisation %s) vs fake-quant reference, %s: max |diff| "
                   "%.3g, %lld of %lld elements over 1e-5\n",
                   label, levels[l], outs[k], d, (long long)over, (long long)ref[k]->numel);
            /* y is quantized with scale 0.05: a float-summation difference can at most move
             * a value across one rounding boundary. y2 is float. */
            if (l == 0 || k == 1) PQ_EXPECT_NEAR(d, 0.0, k == 0 ? 1e-6 : 1e-5);
            else PQ_EXPECT(d <= 0.05f * 1.001 && over * 100 <= ref[k]->numel);
            pq_tensor_destroy(&ort[k]);
        }
    }
done:
    for (int k = 0; k < 2; k++) {
        pq_tensor_destroy(&ref[k]);
        pq_tensor_destroy(&ours[k]);
        pq_tensor_destroy(&ort[k]);
        pq_tensor_destroy(&flt[k]);
    }
    pq_tensor_destroy(&x);
    pq_graph_destroy(&q);
    pq_graph_destroy(&g);
    rm_tree(dir);
}

PQ_TEST(qdq_numbers_int8_weights) { check_numbers(PQ_QDQ_WEIGHTS_INT8, "int8 weights"); }
PQ_TEST(qdq_numbers_float_weights) { check_numbers(PQ_QDQ_WEIGHTS_FLOAT, "float weights"); }

PQ_TEST(qdq_float_weights_structure)
{
    pq_err err = {0};
    pq_graph *g = hand_graph(13), *q = NULL;
    pq_qdq_options o;
    pq_qdq_options_init(&o);
    o.weights = PQ_QDQ_WEIGHTS_FLOAT;
    PQ_EXPECT(g && hand_quantize(g));
    if (!g) return;
    PQ_EXPECT_OK(pq_export_qdq_graph(g, &o, &q, &err), &err);
    if (q) {
        /* 5 activation pairs + 3 weight pairs; biases stay int32 + DQ. */
        PQ_EXPECT_EQ(count_type(q, "QuantizeLinear"), 8);
        PQ_EXPECT_EQ(count_type(q, "DequantizeLinear"), 11);
        const pq_var *w = pq_graph_find_var(q, "conv2.weight");
        PQ_EXPECT(w && w->value && w->value->dtype == PQ_DTYPE_FLOAT32);
    }
    pq_graph_destroy(&q);
    pq_graph_destroy(&g);
}

PQ_TEST(qdq_opset_upgrade)
{
    pq_err err = {0};
    pq_graph *g = hand_graph(11), *q = NULL;
    char *dir = make_tmpdir(), path[512];
    PQ_EXPECT(g && hand_quantize(g) && dir);
    if (!g || !dir) goto done;
    for (int64_t k = 0; k < g->ops.n; k++) ((pq_op *)g->ops.items[k])->opset = 11;
    /* Per-channel axis needs 13: raised. */
    PQ_EXPECT_OK(pq_export_qdq_graph(g, NULL, &q, &err), &err);
    PQ_EXPECT_EQ(q ? pq_graph_opset(q, "") : -1, 13);
    PQ_EXPECT_EQ(pq_graph_opset(g, ""), 11);
    snprintf(path, sizeof path, "%s/opset11.onnx", dir);
    PQ_EXPECT_OK(pq_export_qdq_onnx(g, NULL, path, &err), &err);
    PQ_EXPECT(onnx_check(path) != 0);
    pq_graph_destroy(&q);
    /* Not allowed by the options: refused. */
    pq_qdq_options o;
    pq_qdq_options_init(&o);
    o.allow_opset_upgrade = 0;
    PQ_EXPECT_EQ(pq_export_qdq_graph(g, &o, &q, &err), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(err.msg, "opset is 11");
    PQ_EXPECT_CONTAINS(err.msg, "per-channel");
    PQ_EXPECT(q == NULL);
    /* A Softmax-11 after y2 changes meaning at 13: refused, naming it; no file written. */
    pq_op *sm = NULL;
    pq_var *z = NULL;
    PQ_EXPECT_OK(pq_graph_create_op(g, "Softmax", "the_softmax", NULL, 11, &sm, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "z", &z, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, sm, pq_graph_find_var(g, "y2"), &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, sm, z, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, z, &err), &err);
    snprintf(path, sizeof path, "%s/blocked.onnx", dir);
    PQ_EXPECT_EQ(pq_export_qdq_onnx(g, NULL, path, &err), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(err.msg, "blocked.onnx");
    PQ_EXPECT_CONTAINS(err.msg, "op 'the_softmax' (Softmax, opset 11) blocks the upgrade");
    PQ_EXPECT(access(path, F_OK) != 0);
done:
    pq_graph_destroy(&q);
    pq_graph_destroy(&g);
    rm_tree(dir);
}

PQ_TEST(qdq_refusals)
{
    pq_err err = {0};
    pq_graph *g = hand_graph(13), *q = NULL;
    PQ_EXPECT(g && hand_quantize(g));
    if (!g) return;
    pq_op *c2 = pq_graph_find_op(g, "conv2");
    /* Uncalibrated output TQC. */
    c2->qconfig->outputs[0].state = PQ_TQC_STATE_INITIAL;
    PQ_EXPECT_EQ(pq_export_qdq_graph(g, NULL, &q, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "op 'conv2' (Conv) output 0: TQC is INITIAL");
    c2->qconfig->outputs[0].state = PQ_TQC_STATE_ACTIVATED;
    /* Bias scale that is not s_in * s_w. */
    c2->qconfig->inputs[2].scale[3] *= 1.01f;
    PQ_EXPECT_EQ(pq_export_qdq_graph(g, NULL, &q, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "op 'conv2' (Conv) input 2: bias scale[3]");
    c2->qconfig->inputs[2].scale[3] /= 1.01f;
    c2->qconfig->inputs[2].scale[3] = c2->qconfig->inputs[0].dominator->scale[0] *
                                      c2->qconfig->inputs[1].scale[3];
    /* 16-bit activation. */
    c2->qconfig->outputs[0].quant_min = -32768;
    c2->qconfig->outputs[0].quant_max = 32767;
    PQ_EXPECT_EQ(pq_export_qdq_graph(g, NULL, &q, &err), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(err.msg, "fits neither int8 nor uint8");
    c2->qconfig->outputs[0].quant_min = -128;
    c2->qconfig->outputs[0].quant_max = 127;
    /* Zero scale. */
    c2->qconfig->inputs[1].scale[0] = 0;
    PQ_EXPECT_EQ(pq_export_qdq_graph(g, NULL, &q, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "scale[0] = 0");
    PQ_EXPECT(q == NULL);
    pq_graph_destroy(&g);
}

PQ_TEST_MAIN()
