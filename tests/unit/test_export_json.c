/* test_export_json.c - JSON parameters: contents, float exactness, JSON -> apply -> JSON
 * byte-identical, and refusal of graphs that do not match. */
#include "test_export_util.h"

#include <jansson.h>

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static json_t *provenance(void)
{
    return json_pack("{s:s, s:i, s:f, s:[s,s]}", "tool", "ppq-calib", "seed", 1234, "lr",
                     0.1, "passes", "fuse_bn", "minmax");
}

/* The hand graph with awkward scales: random float32 bit patterns (full mantissas) on the
 * weights, so that printing must keep 9 significant digits. */
static pq_graph *graph_with_random_scales(void)
{
    pq_graph *g = hand_graph(13);
    if (!g || !hand_quantize(g)) {
        pq_graph_destroy(&g);
        return NULL;
    }
    pq_rng r;
    pq_rng_seed(&r, 11);
    pq_tqc *w = &pq_graph_find_op(g, "conv2")->qconfig->inputs[1];
    for (int64_t c = 0; c < w->n_channels; c++) {
        uint32_t b = 0x3a000000u | (uint32_t)(pq_rng_next(&r) >> 41);
        memcpy(&w->scale[c], &b, sizeof b);
    }
    pq_graph_find_op(g, "conv3")->qconfig->outputs[0].visibility = PQ_TQC_INTERNAL;
    pq_graph_find_op(g, "conv3")->qconfig->outputs[0].rounding = PQ_ROUND_HALF_UP;
    return g;
}

PQ_TEST(json_contents)
{
    pq_err err = {0};
    pq_graph *g = graph_with_random_scales();
    json_t *p = provenance(), *root = NULL;
    char *text = NULL;
    json_error_t je;
    PQ_EXPECT(g && p);
    if (!g) goto done;
    PQ_EXPECT_OK(pq_params_dump(g, p, &text, &err), &err);
    if (!text) goto done;
    root = json_loads(text, 0, &je);
    PQ_EXPECT(root != NULL);
    if (!root) goto done;
    PQ_EXPECT_STR(json_string_value(json_object_get(root, "format")), "ppq-calib-params");
    PQ_EXPECT(json_equal(json_object_get(root, "provenance"), p));
    json_t *ops = json_object_get(root, "operations");
    PQ_EXPECT_EQ(json_array_size(ops), 4);
    /* relu input 0: overlapped with conv1 output 0. */
    json_t *relu = json_array_get(ops, 1);
    PQ_EXPECT_STR(json_string_value(json_object_get(relu, "name")), "relu");
    json_t *rin = json_array_get(json_object_get(relu, "inputs"), 0);
    PQ_EXPECT_STR(json_string_value(json_object_get(rin, "variable")), "c1");
    PQ_EXPECT_STR(json_string_value(json_object_get(rin, "state")), "OVERLAPPED");
    json_t *dom = json_object_get(rin, "dominator");
    PQ_EXPECT_STR(json_string_value(json_object_get(dom, "op")), "conv1");
    PQ_EXPECT_STR(json_string_value(json_object_get(dom, "kind")), "output");
    PQ_EXPECT_EQ(json_integer_value(json_object_get(dom, "index")), 0);
    /* conv1 input 0: policy strings, range, scale and offset. */
    json_t *c1in = json_array_get(json_object_get(json_array_get(ops, 0), "inputs"), 0);
    json_t *pol = json_object_get(c1in, "policy");
    PQ_EXPECT_EQ(json_array_size(pol), 3);
    PQ_EXPECT_STR(json_string_value(json_array_get(pol, 0)), "PER_TENSOR");
    PQ_EXPECT_STR(json_string_value(json_array_get(pol, 1)), "ASYMMETRIC");
    PQ_EXPECT_STR(json_string_value(json_array_get(pol, 2)), "LINEAR");
    PQ_EXPECT_EQ(json_integer_value(json_object_get(c1in, "quant_min")), -128);
    PQ_EXPECT(json_real_value(json_array_get(json_object_get(c1in, "offset"), 0)) == -3.0);
    PQ_EXPECT((float)json_real_value(json_array_get(json_object_get(c1in, "scale"), 0)) ==
              0.025f);
    PQ_EXPECT_STR(json_string_value(json_object_get(c1in, "observer")), "minmax");
    PQ_EXPECT_STR(json_string_value(json_object_get(c1in, "rounding")), "ROUND_HALF_EVEN");
    /* Bias: PASSIVE, 32 bits, 4 scales. */
    json_t *b1 = json_array_get(json_object_get(json_array_get(ops, 0), "inputs"), 2);
    PQ_EXPECT_STR(json_string_value(json_object_get(b1, "state")), "PASSIVE");
    PQ_EXPECT_EQ(json_integer_value(json_object_get(b1, "num_bits")), 32);
    PQ_EXPECT_EQ(json_array_size(json_object_get(b1, "scale")), 4);
    /* Every float32 in the text reads back exactly. */
    const pq_tqc *w = &pq_graph_find_op(g, "conv2")->qconfig->inputs[1];
    json_t *w2 = json_array_get(json_object_get(json_array_get(ops, 2), "inputs"), 1);
    int64_t bad = 0;
    for (int64_t c = 0; c < w->n_channels; c++) {
        json_t *sc = json_array_get(json_object_get(w2, "scale"), (size_t)c);
        float back = (float)json_real_value(sc);
        if (bits_of(back) != bits_of(w->scale[c])) bad++;
    }
    PQ_EXPECT_EQ(bad, 0);
    json_t *c3out = json_array_get(json_object_get(json_array_get(ops, 3), "outputs"), 0);
    PQ_EXPECT_STR(json_string_value(json_object_get(c3out, "state")), "FP32");
    PQ_EXPECT_STR(json_string_value(json_object_get(c3out, "visibility")), "INTERNAL");
    PQ_EXPECT_STR(json_string_value(json_object_get(c3out, "rounding")), "ROUND_HALF_UP");
done:
    json_decref(root);
    json_decref(p);
    pq_free(text);
    pq_graph_destroy(&g);
}

/* Float32 -> text -> float32 exact over many bit patterns (9 significant digits). */
PQ_TEST(json_float_text_exact)
{
    pq_rng r;
    pq_rng_seed(&r, 5);
    int64_t bad = 0;
    for (int k = 0; k < 200000; k++) {
        uint32_t b = (uint32_t)(pq_rng_next(&r) >> 32);
        float f;
        memcpy(&f, &b, sizeof f);
        if (!isfinite(f)) continue;
        json_t *v = json_real((double)f);
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
        json_t *back = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
        float g = back ? (float)json_number_value(back) : NAN;
        if (bits_of(g) != bits_of(f) && !(f == 0 && g == 0)) bad++;
        json_decref(v);
        json_decref(back);
        free(s);
    }
    PQ_EXPECT_EQ(bad, 0);
}

PQ_TEST(json_round_trip_byte_identical)
{
    pq_err err = {0};
    pq_graph *g = graph_with_random_scales(), *fresh = hand_graph(13);
    json_t *p = provenance(), *p2 = NULL;
    char *t1 = NULL, *t2 = NULL, *dir = make_tmpdir(), path[512];
    PQ_EXPECT(g && fresh && dir);
    if (!g || !fresh || !dir) goto done;
    snprintf(path, sizeof path, "%s/params.json", dir);
    PQ_EXPECT_OK(pq_params_save(g, p, path, &err), &err);
    PQ_EXPECT_OK(pq_params_dump(g, p, &t1, &err), &err);
    /* A graph without any quantization config gets the file's. */
    PQ_EXPECT_OK(pq_params_load(fresh, path, &p2, &err), &err);
    PQ_EXPECT(p2 && json_equal(p2, p));
    PQ_EXPECT_OK(pq_params_dump(fresh, p2, &t2, &err), &err);
    PQ_EXPECT(t1 && t2 && strcmp(t1, t2) == 0);
    /* The re-applied graph exports the same QDQ model numbers: compare scales bit for bit. */
    const pq_tqc *a = &pq_graph_find_op(g, "conv2")->qconfig->inputs[1];
    const pq_tqc *b = &pq_graph_find_op(fresh, "conv2")->qconfig->inputs[1];
    PQ_EXPECT_EQ(a->n_channels, b->n_channels);
    PQ_EXPECT(memcmp(a->scale, b->scale, sizeof(float) * (size_t)a->n_channels) == 0);
    const pq_tqc *rin = &pq_graph_find_op(fresh, "relu")->qconfig->inputs[0];
    PQ_EXPECT(rin->dominator == &pq_graph_find_op(fresh, "conv1")->qconfig->outputs[0]);
    /* Applying onto the already configured graph (policies set) is accepted too, and
     * dumping it again gives the same bytes. */
    pq_free(t2);
    t2 = NULL;
    PQ_EXPECT_OK(pq_params_apply_text(fresh, t1, strlen(t1), "t1", NULL, &err), &err);
    PQ_EXPECT_OK(pq_params_dump(fresh, p, &t2, &err), &err);
    PQ_EXPECT(t1 && t2 && strcmp(t1, t2) == 0);
    /* String provenance. */
    pq_free(t2);
    t2 = NULL;
    char *ps = json_dumps(p, JSON_REAL_PRECISION(9));
    PQ_EXPECT_OK(pq_params_dump_str(g, ps, &t2, &err), &err);
    PQ_EXPECT(t1 && t2 && strcmp(t1, t2) == 0);
    free(ps);
    pq_free(t2);
    t2 = NULL;
    PQ_EXPECT_EQ(pq_params_dump_str(g, "[1, 2]", &t2, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "provenance is not a JSON object");
done:
    json_decref(p);
    json_decref(p2);
    pq_free(t1);
    pq_free(t2);
    pq_graph_destroy(&g);
    pq_graph_destroy(&fresh);
    rm_tree(dir);
}

/* Applies text edited by `edit` to a fresh hand graph; expects status and message; the graph
 * must stay unchanged (no qconfig created). */
static void expect_refused(const char *t1, void (*edit)(json_t *root), pq_graph *target,
                           pq_status want, const char *msg)
{
    pq_err err = {0};
    json_t *root = json_loads(t1, 0, NULL);
    if (edit && root) edit(root);
    char *s = root ? json_dumps(root, JSON_REAL_PRECISION(9)) : NULL;
    PQ_EXPECT(s != NULL);
    if (s) {
        PQ_EXPECT_EQ(pq_params_apply_text(target, s, strlen(s), "edited.json", NULL, &err), want);
        PQ_EXPECT_CONTAINS(err.msg, msg);
    }
    free(s);
    json_decref(root);
}

static json_t *op_at(json_t *root, size_t k)
{
    return json_array_get(json_object_get(root, "operations"), k);
}
static void rename_op(json_t *root)
{
    json_object_set_new(op_at(root, 2), "name", json_string("nope"));
}
static void drop_input(json_t *root)
{
    json_array_remove(json_object_get(op_at(root, 0), "inputs"), 2);
}
static void drop_op(json_t *root) { json_array_remove(json_object_get(root, "operations"), 3); }
static void bad_var(json_t *root)
{
    json_t *t = json_array_get(json_object_get(op_at(root, 2), "inputs"), 1);
    json_object_set_new(t, "variable", json_string("other.weight"));
}
/* A per-channel weight with one scale too few (another model's shape). */
static void short_channels(json_t *root)
{
    json_t *t = json_array_get(json_object_get(op_at(root, 2), "inputs"), 1);
    json_array_remove(json_object_get(t, "scale"), 0);
    json_array_remove(json_object_get(t, "offset"), 0);
}
/* A per-tensor activation with two scales. */
static void two_scales(json_t *root)
{
    json_t *t = json_array_get(json_object_get(op_at(root, 0), "inputs"), 0);
    json_array_append_new(json_object_get(t, "scale"), json_real(0.5));
    json_array_append_new(json_object_get(t, "offset"), json_real(0.0));
}
static void bad_dom(json_t *root)
{
    json_t *t = json_array_get(json_object_get(op_at(root, 1), "inputs"), 0);
    json_object_set_new(json_object_get(t, "dominator"), "index", json_integer(5));
}
static void bad_state(json_t *root)
{
    json_t *t = json_array_get(json_object_get(op_at(root, 1), "inputs"), 0);
    json_object_set_new(t, "state", json_string("HALF_BAKED"));
}

PQ_TEST(json_refuses_mismatching_graph)
{
    pq_err err = {0};
    pq_graph *g = graph_with_random_scales(), *target = hand_graph(13);
    char *t1 = NULL;
    PQ_EXPECT(g && target);
    if (!g || !target) goto done;
    PQ_EXPECT_OK(pq_params_dump(g, NULL, &t1, &err), &err);
    if (!t1) goto done;
    expect_refused(t1, rename_op, target, PQ_ERR_INVALID,
                   "edited.json: op 'nope' (Conv) is not in the graph");
    expect_refused(t1, drop_input, target, PQ_ERR_INVALID,
                   "edited.json: op 'conv1' (Conv): the file has 2 input TQCs, the graph 3");
    expect_refused(t1, bad_var, target, PQ_ERR_INVALID,
                   "op 'conv2' (Conv) input 1 (variable 'conv2.weight'): variable mismatch: the "
                   "file has 'other.weight', the graph 'conv2.weight'");
    expect_refused(t1, short_channels, target, PQ_ERR_INVALID,
                   "edited.json: op 'conv2' (Conv) input 1 (variable 'conv2.weight'): channel "
                   "count mismatch: the file has 4 scales, the variable has 5 channels on axis 0");
    expect_refused(t1, two_scales, target, PQ_ERR_INVALID,
                   "op 'conv1' (Conv) input 0 (variable 'x'): per-tensor TQC with 2 scales");
    expect_refused(t1, bad_dom, target, PQ_ERR_INVALID, "dominator output 5 of op 'conv1'");
    expect_refused(t1, bad_state, target, PQ_ERR_FORMAT, "'state': unknown value 'HALF_BAKED'");
    /* Nothing was applied by the refused attempts. */
    for (int64_t k = 0; k < target->ops.n; k++)
        PQ_EXPECT(((pq_op *)target->ops.items[k])->qconfig == NULL);
    /* The graph quantizes an op the file lacks. */
    PQ_EXPECT(hand_quantize(target));
    expect_refused(t1, drop_op, target, PQ_ERR_INVALID,
                   "op 'conv3' (Conv) is quantized in the graph but missing from the file");
    /* Policy mismatch against a configured graph: conv1 input 0 made symmetric. */
    pq_tqc *x = &pq_graph_find_op(target, "conv1")->qconfig->inputs[0];
    x->policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR;
    float before = x->scale[0];
    expect_refused(t1, NULL, target, PQ_ERR_INVALID,
                   "op 'conv1' (Conv) input 0 (variable 'x'): policy mismatch: the file has "
                   "PER_TENSOR|ASYMMETRIC|LINEAR, the graph PER_TENSOR|SYMMETRIC|LINEAR");
    PQ_EXPECT(x->scale[0] == before);
    /* Malformed JSON: line and column. */
    PQ_EXPECT_EQ(pq_params_apply_text(target, "{\n  \"format\": ", 13, "broken.json", NULL, &err),
                 PQ_ERR_FORMAT);
    PQ_EXPECT_CONTAINS(err.msg, "broken.json:2:");
done:
    pq_free(t1);
    pq_graph_destroy(&g);
    pq_graph_destroy(&target);
}

PQ_TEST_MAIN()
