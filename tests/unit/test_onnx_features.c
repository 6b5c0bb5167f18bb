/* test_onnx_features.c - what the ONNX reader maps to the IR, case by case, and that each
 * survives load -> save -> load: generated and deduplicated node names, omitted inputs,
 * opsets per domain, subgraphs reading enclosing values, Constant nodes, graph inputs with
 * initializers, every typed TensorProto field, opaque attributes, non-tensor value types,
 * symbolic dims, model metadata and functions, external data written back inline. */
#include "pq_onnx.h"
#include "pq_test.h"
#include "test_onnx_build.h"
#include "test_onnx_compare.h"

#include <unistd.h>

/* Loads bytes, round-trips through pq_onnx_serialize, checks the graphs are equal and
 * returns the first one (NULL on failure). */
static pq_graph *load_and_round_trip(const uint8_t *b, size_t len, const char *base_dir)
{
    pq_err err = {0};
    pq_graph *g = NULL, *g2 = NULL;
    uint8_t *s = NULL;
    size_t sl = 0;
    if (pq_onnx_load_buffer(b, len, "m.onnx", base_dir, &g, &err) != PQ_OK) {
        PQ_FAIL_AT("load: %s", err.msg);
        return NULL;
    }
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
    PQ_EXPECT_OK(pq_onnx_serialize(g, &s, &sl, &err), &err);
    PQ_EXPECT_OK(pq_onnx_load_buffer(s, sl, "again.onnx", NULL, &g2, &err), &err);
    char why[1024];
    if (g2 && cmp_model(g, g2, why, sizeof why)) PQ_FAIL_AT("round trip differs: %s", why);
    pq_graph_destroy(&g2);
    pq_free(s);
    return g;
}

static pq_graph *model_round_trip(Onnx__ModelProto *m)
{
    size_t len;
    uint8_t *b = tb_pack(&m->base, &len);
    tb_free(m);
    pq_graph *g = load_and_round_trip(b, len, NULL);
    free(b);
    return g;
}

PQ_TEST(node_names_inputs_and_opsets)
{
    Onnx__ModelProto *m = tb_base_model();
    Onnx__OperatorSetIdProto *o = tb_alloc(sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = tb_str("com.microsoft");
    o->has_version = 1;
    o->version = 1;
    TB_PUSH(m->opset_import, m->n_opset_import, o);
    Onnx__GraphProto *g = m->graph;
    tb_node(g, "Relu", NULL, "z", "a");        /* unnamed: Relu_2 */
    tb_node(g, "Relu", "Relu_3", "a", "b");    /* explicitly named like a generated name */
    tb_node(g, "Relu", NULL, "b", "c");        /* would be Relu_4 */
    tb_node(g, "Relu", "relu", "c", "d");      /* duplicate of node 1's name */
    Onnx__NodeProto *n = tb_node(g, "Clip", "clip", "d,,", "e"); /* omitted min and max */
    n = tb_node(g, "FusedGemm", "fg", "e", "f,");
    n->domain = tb_str("com.microsoft");
    pq_graph *ir = model_round_trip(m);
    if (!ir) return;
    const char *want[] = {"add", "relu", "Relu_2", "Relu_3", "Relu_4", "relu_1", "clip", "fg"};
    PQ_EXPECT_EQ(ir->ops.n, 8);
    for (int k = 0; k < 8 && k < ir->ops.n; k++)
        PQ_EXPECT_STR(((pq_op *)ir->ops.items[k])->name, want[k]);
    const pq_op *clip = pq_graph_find_op(ir, "clip");
    PQ_EXPECT(clip && clip->n_inputs == 3 && clip->inputs[1] == NULL && clip->inputs[2] == NULL);
    const pq_op *fg = pq_graph_find_op(ir, "fg");
    PQ_EXPECT(fg && fg->n_outputs == 2 && fg->outputs[1] == NULL && fg->opset == 1);
    PQ_EXPECT_STR(fg ? fg->domain : NULL, "com.microsoft");
    PQ_EXPECT_EQ(clip ? clip->opset : 0, 13);
    PQ_EXPECT_EQ(pq_graph_opset(ir, "com.microsoft"), 1);
    PQ_EXPECT_EQ(pq_graph_opset(ir, ""), 13);
    pq_graph_destroy(&ir);
}

PQ_TEST(subgraphs_read_enclosing_values)
{
    /* If(cond) then: Add(y, w) where y and w live in the main graph; else: outputs x of the
     * main graph directly. A Loop body nested in the then-branch reads x from two levels up. */
    Onnx__ModelProto *m = tb_base_model();
    Onnx__GraphProto *g = m->graph;
    static const int64_t one[] = {1};
    TB_PUSH(g->initializer, g->n_initializer, tb_tensor("cond", 9, 0, one, "\1", 1));
    Onnx__GraphProto *then_g = tb_graph("then");
    tb_node(then_g, "Add", "then_add", "y,w", "t");
    Onnx__GraphProto *loop_g = tb_graph("loop");
    TB_PUSH(loop_g->input, loop_g->n_input, tb_vi("i", 7, 0, NULL, NULL));
    TB_PUSH(loop_g->input, loop_g->n_input, tb_vi("c", 9, 0, NULL, NULL));
    tb_node(loop_g, "Identity", "inner", "x", "xo");
    tb_node(loop_g, "Identity", "cc", "c", "co");
    TB_PUSH(loop_g->output, loop_g->n_output, tb_vi("co", 9, 0, NULL, NULL));
    TB_PUSH(loop_g->output, loop_g->n_output, tb_vi("xo", 1, -1, NULL, NULL));
    Onnx__NodeProto *loop = tb_node(then_g, "Loop", "loop", ",cond", "scan_out");
    tb_attr_graph(loop, "body", loop_g);
    TB_PUSH(then_g->output, then_g->n_output, tb_vi("t", 1, -1, NULL, NULL));
    Onnx__GraphProto *else_g = tb_graph("else");
    TB_PUSH(else_g->output, else_g->n_output, tb_vi("x", 1, -1, NULL, NULL));
    Onnx__NodeProto *n = tb_node(g, "If", "if", "cond", "r");
    tb_attr_graph(n, "then_branch", then_g);
    tb_attr_graph(n, "else_branch", else_g);
    pq_graph *ir = model_round_trip(m);
    if (!ir) return;
    const pq_op *iff = pq_graph_find_op(ir, "if");
    const pq_attr *ta = iff ? pq_op_find_attr(iff, "then_branch") : NULL;
    const pq_attr *ea = iff ? pq_op_find_attr(iff, "else_branch") : NULL;
    PQ_EXPECT(ta && ta->type == PQ_ATTR_GRAPH && ta->g && ta->g->parent == ir);
    PQ_EXPECT(ea && ea->type == PQ_ATTR_GRAPH && ea->g && ea->g->parent == ir);
    if (!ta || !ta->g || !ea || !ea->g) goto done;
    /* The then-branch's Add reads the main graph's variables themselves. */
    const pq_op *add = pq_graph_find_op(ta->g, "then_add");
    PQ_EXPECT(add && add->inputs[0] == pq_graph_find_var(ir, "y") &&
              add->inputs[1] == pq_graph_find_var(ir, "w"));
    PQ_EXPECT(pq_graph_find_var(ta->g, "y") == NULL);
    /* Two levels down. */
    const pq_op *lp = pq_graph_find_op(ta->g, "loop");
    const pq_attr *ba = lp ? pq_op_find_attr(lp, "body") : NULL;
    PQ_EXPECT(ba && ba->g && ba->g->parent == ta->g);
    const pq_op *inner = ba && ba->g ? pq_graph_find_op(ba->g, "inner") : NULL;
    PQ_EXPECT(inner && inner->inputs[0] == pq_graph_find_var(ir, "x"));
    PQ_EXPECT(lp && lp->inputs[0] == NULL && lp->inputs[1] == pq_graph_find_var(ir, "cond"));
    /* The else-branch outputs an enclosing value: a variable of its own with that name. */
    PQ_EXPECT(ea->g->outputs.n == 1);
    if (ea->g->outputs.n == 1) {
        const pq_var *xo = ea->g->outputs.items[0];
        PQ_EXPECT(xo->graph == ea->g && strcmp(xo->name, "x") == 0);
    }
done:
    pq_graph_destroy(&ir);
}

PQ_TEST(constants_inputs_with_initializers_and_value_info)
{
    Onnx__ModelProto *m = tb_base_model();
    Onnx__GraphProto *g = m->graph;
    static const int64_t d23[] = {2, 3};
    TB_PUSH(g->input, g->n_input, tb_vi("w", 1, 2, d23, NULL)); /* input with initializer */
    Onnx__NodeProto *c = tb_node(g, "Constant", "k", "", "kv");
    Onnx__AttributeProto *a = tb_attr(c, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    static const int64_t v64[] = {7, -8};
    static const int64_t d2[] = {2};
    a->t = tb_tensor(NULL, 7, 1, d2, v64, sizeof v64);
    tb_node(g, "Reshape", "rs", "z,kv", "out2");
    static const int64_t dq[] = {-1, 4};
    static const char *const pq_[] = {"batch", NULL};
    TB_PUSH(g->value_info, g->n_value_info, tb_vi("y", 1, 2, dq, pq_));
    pq_graph *ir = model_round_trip(m);
    if (!ir) return;
    const pq_var *w = pq_graph_find_var(ir, "w");
    PQ_EXPECT(w && w->value && pq_graph_is_input(ir, w) && w->dtype == PQ_DTYPE_FLOAT32);
    const pq_op *k = pq_graph_find_op(ir, "k");
    const pq_tensor *kt = NULL;
    pq_err err = {0};
    PQ_EXPECT(k && strcmp(k->type, "Constant") == 0);
    if (k) PQ_EXPECT_OK(pq_op_get_tensor(k, "value", &kt, &err), &err);
    PQ_EXPECT(kt && kt->dtype == PQ_DTYPE_INT64 && PQ_DATA(kt, int64_t)[1] == -8);
    const pq_var *y = pq_graph_find_var(ir, "y");
    PQ_EXPECT(y && y->has_value_info && y->rank == 2 && y->dims[0] == -1 && y->dims[1] == 4);
    PQ_EXPECT_STR(y ? y->dim_params[0] : NULL, "batch");
    const pq_var *z = pq_graph_find_var(ir, "z");
    PQ_EXPECT(z && !z->has_value_info && pq_graph_is_output(ir, z));
    const pq_var *o2 = pq_graph_find_var(ir, "out2");
    PQ_EXPECT(o2 && o2->rank == -1 && o2->dtype == PQ_DTYPE_UNDEFINED);
    pq_graph_destroy(&ir);
}

/* A tensor with its data in the typed fields (no raw_data). */
static Onnx__TensorProto *typed(const char *name, int dtype, size_t n)
{
    Onnx__TensorProto *t = tb_tensor(name, dtype, 1, (int64_t[]){(int64_t)n}, NULL, 0);
    t->has_raw_data = 0;
    free(t->raw_data.data);
    t->raw_data.data = NULL;
    t->raw_data.len = 0;
    return t;
}

PQ_TEST(typed_tensor_fields)
{
    Onnx__ModelProto *m = tb_base_model();
    Onnx__GraphProto *g = m->graph;
    Onnx__TensorProto *t;
    t = typed("i8", 3, 3);
    t->int32_data = tb_alloc(3 * sizeof(int32_t));
    t->int32_data[0] = -128, t->int32_data[1] = 127, t->int32_data[2] = -1;
    t->n_int32_data = 3;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("f16", 10, 2);
    t->int32_data = tb_alloc(2 * sizeof(int32_t));
    t->int32_data[0] = 0x3c00, t->int32_data[1] = 0xc000; /* 1.0, -2.0 */
    t->n_int32_data = 2;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("b", 9, 2);
    t->int32_data = tb_alloc(2 * sizeof(int32_t));
    t->int32_data[0] = 1;
    t->n_int32_data = 2;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("u32", 12, 1);
    t->uint64_data = tb_alloc(sizeof(uint64_t));
    t->uint64_data[0] = 4000000000u;
    t->n_uint64_data = 1;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("u64", 13, 1);
    t->uint64_data = tb_alloc(sizeof(uint64_t));
    t->uint64_data[0] = UINT64_MAX;
    t->n_uint64_data = 1;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("f64", 11, 1);
    t->double_data = tb_alloc(sizeof(double));
    t->double_data[0] = -0.125;
    t->n_double_data = 1;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("i64", 7, 1);
    t->int64_data = tb_alloc(sizeof(int64_t));
    t->int64_data[0] = INT64_MIN;
    t->n_int64_data = 1;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("s", 8, 2);
    t->string_data = tb_alloc(2 * sizeof *t->string_data);
    t->string_data[0].data = (uint8_t *)tb_str("hello");
    t->string_data[0].len = 5;
    t->string_data[1].data = (uint8_t *)tb_str("");
    t->n_string_data = 2;
    TB_PUSH(g->initializer, g->n_initializer, t);
    t = typed("empty", 1, 0);
    TB_PUSH(g->initializer, g->n_initializer, t);
    pq_graph *ir = model_round_trip(m);
    if (!ir) return;
#define VAL(name) (pq_graph_find_var(ir, name) ? pq_graph_find_var(ir, name)->value : NULL)
    const pq_tensor *v;
    PQ_EXPECT((v = VAL("i8")) && v->dtype == PQ_DTYPE_INT8 && PQ_DATA(v, int8_t)[0] == -128 &&
              PQ_DATA(v, int8_t)[1] == 127 && PQ_DATA(v, int8_t)[2] == -1);
    PQ_EXPECT((v = VAL("f16")) && pq_f16_to_f32(PQ_DATA(v, uint16_t)[0]) == 1.0f &&
              pq_f16_to_f32(PQ_DATA(v, uint16_t)[1]) == -2.0f);
    PQ_EXPECT((v = VAL("b")) && PQ_DATA(v, uint8_t)[0] == 1 && PQ_DATA(v, uint8_t)[1] == 0);
    PQ_EXPECT((v = VAL("u32")) && PQ_DATA(v, uint32_t)[0] == 4000000000u);
    PQ_EXPECT((v = VAL("u64")) && PQ_DATA(v, uint64_t)[0] == UINT64_MAX);
    PQ_EXPECT((v = VAL("f64")) && PQ_DATA(v, double)[0] == -0.125);
    PQ_EXPECT((v = VAL("i64")) && PQ_DATA(v, int64_t)[0] == INT64_MIN);
    PQ_EXPECT((v = VAL("s")) && strcmp(PQ_DATA(v, char *)[0], "hello") == 0 &&
              PQ_DATA(v, char *)[1][0] == '\0');
    PQ_EXPECT((v = VAL("empty")) && v->numel == 0 && v->rank == 1);
#undef VAL
    pq_graph_destroy(&ir);
}

PQ_TEST(opaque_attributes_types_metadata_functions)
{
    Onnx__ModelProto *m = tb_base_model();
    Onnx__GraphProto *g = m->graph;
    /* A sparse-tensor attribute (kept serialized). */
    Onnx__NodeProto *n = tb_node(g, "Constant", "sp", "", "spv");
    Onnx__AttributeProto *a = tb_attr(n, "sparse_value",
                                      ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR);
    a->sparse_tensor = tb_alloc(sizeof *a->sparse_tensor);
    onnx__sparse_tensor_proto__init(a->sparse_tensor);
    a->sparse_tensor->dims = tb_alloc(sizeof(int64_t));
    a->sparse_tensor->dims[0] = 10;
    a->sparse_tensor->n_dims = 1;
    a->doc_string = tb_str("sparse!");
    /* A sequence-typed graph output. */
    Onnx__NodeProto *sc = tb_node(g, "SequenceConstruct", "seq", "z", "sq");
    (void)sc;
    Onnx__ValueInfoProto *vi = tb_vi("sq", 1, -1, NULL, NULL);
    Onnx__TypeProto *inner = vi->type;
    Onnx__TypeProto *outer = tb_alloc(sizeof *outer);
    onnx__type_proto__init(outer);
    outer->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    outer->sequence_type = tb_alloc(sizeof *outer->sequence_type);
    onnx__type_proto__sequence__init(outer->sequence_type);
    outer->sequence_type->elem_type = inner;
    vi->type = outer;
    vi->doc_string = tb_str("a sequence");
    TB_PUSH(g->output, g->n_output, vi);
    /* Model-level fields. */
    Onnx__StringStringEntryProto *e = tb_alloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = tb_str("author");
    e->value = tb_str("pq");
    TB_PUSH(m->metadata_props, m->n_metadata_props, e);
    m->doc_string = tb_str("model doc");
    m->producer_version = tb_str("1.2");
    m->domain = tb_str("org.test");
    m->has_model_version = 1;
    m->model_version = 42;
    g->doc_string = tb_str("graph doc");
    Onnx__FunctionProto *f = tb_alloc(sizeof *f);
    onnx__function_proto__init(f);
    f->name = tb_str("MyFn");
    f->domain = tb_str("org.test");
    TB_PUSH(f->input, f->n_input, tb_str("a"));
    TB_PUSH(f->output, f->n_output, tb_str("b"));
    Onnx__GraphProto tmp = ONNX__GRAPH_PROTO__INIT;
    tb_node(&tmp, "Relu", "fr", "a", "b");
    f->node = tmp.node;
    f->n_node = tmp.n_node;
    TB_PUSH(m->functions, m->n_functions, f);
    g->node[1]->doc_string = tb_str("the relu");
    pq_graph *ir = model_round_trip(m);
    if (!ir) return;
    const pq_op *sp = pq_graph_find_op(ir, "sp");
    const pq_attr *sa = sp ? pq_op_find_attr(sp, "sparse_value") : NULL;
    PQ_EXPECT(sa && sa->type == PQ_ATTR_OPAQUE && sa->opaque_len > 0);
    const pq_var *sq = pq_graph_find_var(ir, "sq");
    PQ_EXPECT(sq && sq->kind == PQ_VALUE_OTHER && sq->type_opaque_len > 0);
    PQ_EXPECT_STR(sq ? sq->doc_string : NULL, "a sequence");
    PQ_EXPECT(ir->n_metadata == 1 && strcmp(ir->metadata[0].value, "pq") == 0);
    PQ_EXPECT_STR(ir->doc_string, "model doc");
    PQ_EXPECT_STR(ir->graph_doc_string, "graph doc");
    PQ_EXPECT_STR(ir->producer_name, "pq-test");
    PQ_EXPECT_STR(ir->producer_version, "1.2");
    PQ_EXPECT_STR(ir->domain, "org.test");
    PQ_EXPECT_EQ(ir->model_version, 42);
    PQ_EXPECT_EQ(ir->ir_version, 8);
    PQ_EXPECT_EQ(ir->n_functions, 1);
    const pq_op *relu = pq_graph_find_op(ir, "relu");
    PQ_EXPECT_STR(relu ? relu->doc_string : NULL, "the relu");
    pq_graph_destroy(&ir);
}

PQ_TEST(external_data_is_saved_inline_with_the_same_bytes)
{
    char dir[] = "/tmp/pq_onnx_features_XXXXXX";
    if (!mkdtemp(dir)) abort();
    char bin[64], path[64], out[64];
    snprintf(bin, sizeof bin, "%s/w.bin", dir);
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    snprintf(out, sizeof out, "%s/inline.onnx", dir);
    static const float w[6] = {0.5f, -1.5f, 2, 3, 4, 5};
    FILE *f = fopen(bin, "wb");
    fwrite(w, 1, sizeof w, f);
    fclose(f);
    Onnx__ModelProto *m = tb_base_model();
    Onnx__TensorProto *t = m->graph->initializer[0];
    const char *kv[2][2] = {{"location", "w.bin"}, {"length", "24"}};
    for (int k = 0; k < 2; k++) {
        Onnx__StringStringEntryProto *e = tb_alloc(sizeof *e);
        onnx__string_string_entry_proto__init(e);
        e->key = tb_str(kv[k][0]);
        e->value = tb_str(kv[k][1]);
        TB_PUSH(t->external_data, t->n_external_data, e);
    }
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->has_raw_data = 0;
    size_t len;
    uint8_t *b = tb_pack(&m->base, &len);
    tb_free(m);
    f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
    free(b);
    pq_err err = {0};
    pq_graph *g = NULL, *g2 = NULL;
    PQ_EXPECT_OK(pq_onnx_load(path, &g, &err), &err);
    if (g) PQ_EXPECT_OK(pq_onnx_save(g, out, &err), &err);
    unlink(bin); /* the saved model must not need it */
    PQ_EXPECT_OK(pq_onnx_load(out, &g2, &err), &err);
    const pq_var *v = g2 ? pq_graph_find_var(g2, "w") : NULL;
    PQ_EXPECT(v && v->value && v->value->nbytes == sizeof w &&
              memcmp(v->value->data, w, sizeof w) == 0);
    pq_graph_destroy(&g);
    pq_graph_destroy(&g2);
    unlink(path);
    unlink(out);
    rmdir(dir);
}

PQ_TEST(tensor_files_round_trip)
{
    char dir[] = "/tmp/pq_onnx_tensor_XXXXXX";
    if (!mkdtemp(dir)) abort();
    char path[64];
    snprintf(path, sizeof path, "%s/x.pb", dir);
    pq_err err = {0};
    const pq_dtype dts[] = {PQ_DTYPE_FLOAT32, PQ_DTYPE_UINT8, PQ_DTYPE_INT8, PQ_DTYPE_UINT16,
                            PQ_DTYPE_INT16, PQ_DTYPE_INT32, PQ_DTYPE_INT64, PQ_DTYPE_STRING,
                            PQ_DTYPE_BOOL, PQ_DTYPE_FLOAT16, PQ_DTYPE_FLOAT64,
                            PQ_DTYPE_UINT32, PQ_DTYPE_UINT64, PQ_DTYPE_BFLOAT16};
    for (size_t k = 0; k < sizeof dts / sizeof *dts; k++) {
        const int64_t dims[3] = {2, 1, 3};
        pq_tensor *t = NULL, *t2 = NULL;
        char *name = NULL;
        PQ_EXPECT_OK(pq_tensor_create(dts[k], 3, dims, &t, &err), &err);
        if (!t) continue;
        if (dts[k] == PQ_DTYPE_STRING) {
            pq_tensor_set_string(t, 4, "four", &err);
        } else {
            for (size_t i = 0; i < t->nbytes; i++) ((uint8_t *)t->data)[i] = (uint8_t)(i * 37 + k);
            if (dts[k] == PQ_DTYPE_BOOL)
                for (size_t i = 0; i < t->nbytes; i++) ((uint8_t *)t->data)[i] &= 1;
        }
        PQ_EXPECT_OK(pq_onnx_save_tensor(path, t, k % 2 ? "named" : NULL, &err), &err);
        PQ_EXPECT_OK(pq_onnx_load_tensor(path, &t2, &name, &err), &err);
        char why[256];
        if (!t2 || cmp_tensor(t, t2, why, sizeof why))
            PQ_FAIL_AT("%s tensor does not round-trip: %s", pq_dtype_name(dts[k]), t2 ? why : err.msg);
        if (k % 2) PQ_EXPECT_STR(name, "named");
        else PQ_EXPECT(name == NULL);
        pq_free(name);
        pq_tensor_destroy(&t);
        pq_tensor_destroy(&t2);
    }
    /* A scalar, and the backend test data's own file. */
    pq_tensor *s = NULL, *s2 = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, &s, &err), &err);
    if (s) {
        PQ_DATA(s, float)[0] = 3.5f;
        PQ_EXPECT_OK(pq_onnx_save_tensor(path, s, NULL, &err), &err);
        PQ_EXPECT_OK(pq_onnx_load_tensor(path, &s2, NULL, &err), &err);
        PQ_EXPECT(s2 && s2->rank == 0 && s2->numel == 1 && PQ_DATA(s2, float)[0] == 3.5f);
    }
    pq_tensor_destroy(&s);
    pq_tensor_destroy(&s2);
    pq_tensor *r = NULL;
    char *name = NULL;
    PQ_EXPECT_OK(pq_onnx_load_tensor(PQ_ONNX_TESTDATA "/node/test_relu/test_data_set_0/input_0.pb",
                                     &r, &name, &err), &err);
    PQ_EXPECT(r && r->dtype == PQ_DTYPE_FLOAT32 && r->rank == 3 && r->dims[0] == 3 &&
              r->dims[1] == 4 && r->dims[2] == 5);
    PQ_EXPECT_STR(name, "x");
    pq_free(name);
    pq_tensor_destroy(&r);
    unlink(path);
    rmdir(dir);
}

PQ_TEST_MAIN()
