/* test_onnx_malformed.c - malformed ONNX models and tensor files: each case is generated
 * here (protobuf-c API or byte mutation of a valid model), written to a file, loaded, and
 * the status, the message text and the file name in the message are asserted. Also: random
 * and truncated bytes never crash, allocation failures at every point of loading and saving
 * return PQ_ERR_NOMEM, and a failed save leaves no file behind. */
#include "pq_onnx.h"
#include "pq_test.h"
#include "test_onnx_build.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void setup(void)
{
    if (tmpdir[0]) return;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pq_onnx_malformed_XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
    pq_log_set_level(PQ_LOG_ERROR);
}

static void write_bytes(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(b, 1, n, f) != n) abort();
    fclose(f);
}

/* Writes bytes to <tmpdir>/<file> and loads it as a model; path receives the file name. */
static pq_status load_bytes(const char *file, const uint8_t *b, size_t n, char *path,
                            size_t cap, pq_err *err)
{
    setup();
    snprintf(path, cap, "%s/%s", tmpdir, file);
    write_bytes(path, b, n);
    pq_graph *g = NULL;
    pq_status st = pq_onnx_load(path, &g, err);
    if (st != PQ_OK && g) PQ_FAIL_AT("a failed load returned a graph");
    pq_graph_destroy(&g);
    unlink(path);
    return st;
}

/* Packs m (and frees it), loads it from a file, and checks the status and that the message
 * names the file and contains `needle`. */
#define EXPECT_MODEL_FAILS(m, code, needle)                                              \
    do {                                                                                 \
        size_t len_;                                                                     \
        uint8_t *b_ = tb_pack(&(m)->base, &len_);                                        \
        tb_free(m);                                                                      \
        pq_err e_ = {0};                                                                 \
        char p_[512];                                                                    \
        pq_status s_ = load_bytes("case.onnx", b_, len_, p_, sizeof p_, &e_);            \
        free(b_);                                                                        \
        PQ_EXPECT_STR(pq_status_name(s_), pq_status_name(code));                         \
        PQ_EXPECT_CONTAINS(e_.msg, needle);                                              \
        PQ_EXPECT(strncmp(e_.msg, p_, strlen(p_)) == 0);                                 \
    } while (0)

PQ_TEST(base_model_loads)
{
    Onnx__ModelProto *m = tb_base_model();
    size_t len;
    uint8_t *b = tb_pack(&m->base, &len);
    tb_free(m);
    pq_err err = {0};
    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_onnx_load_buffer(b, len, "base", NULL, &g, &err), &err);
    free(b);
    if (!g) return;
    PQ_EXPECT_EQ(g->ops.n, 2);
    const pq_var *x = pq_graph_find_var(g, "x");
    PQ_EXPECT(x && x->rank == 2 && x->dims[1] == -1 && x->dim_params[1] &&
              strcmp(x->dim_params[1], "N") == 0);
    pq_graph_destroy(&g);
}

PQ_TEST(truncated_file)
{
    Onnx__ModelProto *m = tb_base_model();
    size_t len;
    uint8_t *b = tb_pack(&m->base, &len);
    tb_free(m);
    pq_err err = {0};
    char path[512];
    /* Cut inside the graph: the length prefix of the graph field claims more than remains. */
    PQ_EXPECT_EQ(load_bytes("truncated.onnx", b, len * 2 / 3, path, sizeof path, &err),
                 PQ_ERR_FORMAT);
    PQ_EXPECT_CONTAINS(err.msg, "truncated.onnx: not a valid ONNX model");
    PQ_EXPECT_CONTAINS(err.msg, "onnx.ModelProto.graph at byte");
    PQ_EXPECT_CONTAINS(err.msg, "(truncated file?)");
    /* Every prefix: no crash; a prefix is either a complete shorter model (cut between
     * top-level fields) or a FORMAT error naming the buffer. */
    int format = 0;
    for (size_t cut = 0; cut < len; cut++) {
        pq_graph *g = NULL;
        pq_status st = pq_onnx_load_buffer(b, cut, "cut", NULL, &g, &err);
        if (st == PQ_ERR_FORMAT) {
            format++;
            PQ_EXPECT(strncmp(err.msg, "cut: ", 5) == 0);
        } else if (st != PQ_OK) {
            PQ_FAIL_AT("cut at %zu: unexpected %s: %s", cut, pq_status_name(st), err.msg);
        }
        pq_graph_destroy(&g);
    }
    PQ_EXPECT(format >= (int)len - 8);
    free(b);
}

PQ_TEST(random_bytes_and_empty_file)
{
    pq_rng rng;
    pq_rng_seed(&rng, 20240601);
    uint8_t buf[600];
    for (int it = 0; it < 3000; it++) {
        size_t n = 1 + (size_t)(pq_rng_next(&rng) % sizeof buf);
        for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)pq_rng_next(&rng);
        pq_err err = {0};
        pq_graph *g = NULL;
        pq_status st = pq_onnx_load_buffer(buf, n, "random.onnx", NULL, &g, &err);
        if (st == PQ_OK) PQ_FAIL_AT("random buffer %d loaded", it);
        PQ_EXPECT(strncmp(err.msg, "random.onnx: ", 13) == 0);
        pq_graph_destroy(&g);
    }
    pq_err err = {0};
    char path[512];
    for (size_t k = 0; k < 64; k++) buf[k] = (uint8_t)pq_rng_next(&rng);
    PQ_EXPECT_EQ(load_bytes("noise.onnx", buf, 64, path, sizeof path, &err), PQ_ERR_FORMAT);
    PQ_EXPECT_CONTAINS(err.msg, "noise.onnx: ");
    PQ_EXPECT_EQ(load_bytes("empty.onnx", buf, 0, path, sizeof path, &err), PQ_ERR_FORMAT);
    PQ_EXPECT_CONTAINS(err.msg, "empty.onnx: empty file");
    /* A field with the wrong wire type (graph as a varint) passes the framing check and is
     * refused by protobuf-c. */
    static const uint8_t wrong_wire[] = {0x08, 0x08, 0x38, 0x01};
    PQ_EXPECT_EQ(load_bytes("wire.onnx", wrong_wire, sizeof wrong_wire, path, sizeof path, &err),
                 PQ_ERR_FORMAT);
    PQ_EXPECT_CONTAINS(err.msg, "wire.onnx: not a valid ONNX model");
    pq_graph *g = NULL;
    PQ_EXPECT_EQ(pq_onnx_load("/nonexistent/m.onnx", &g, &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "/nonexistent/m.onnx: cannot open");
}

PQ_TEST(model_without_graph)
{
    Onnx__ModelProto *m = tb_base_model();
    tb_free(m->graph);
    m->graph = NULL;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "the model has no graph");
}

PQ_TEST(undefined_node_input)
{
    Onnx__ModelProto *m = tb_base_model();
    tb_node(m->graph, "Relu", "r2", "nope", "q");
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT,
                       "node 'r2' (Relu): input 'nope' is not produced by any node, "
                       "initializer or graph input");
    /* Inside a subgraph the enclosing scopes are searched too, and the path is named. */
    m = tb_base_model();
    Onnx__GraphProto *body = tb_graph("then");
    tb_node(body, "Identity", "id", "missing", "t");
    TB_PUSH(body->output, body->n_output, tb_vi("t", 1, -1, NULL, NULL));
    Onnx__NodeProto *n = tb_node(m->graph, "If", "if", "z", "o");
    tb_attr_graph(n, "then_branch", body);
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT,
                       "node 'if' (If): attribute 'then_branch': node 'id' (Identity): input "
                       "'missing' is not produced by any node, initializer or graph input (here "
                       "or in an enclosing graph)");
    m = tb_base_model();
    TB_PUSH(m->graph->output, m->graph->n_output, tb_vi("q", 1, -1, NULL, NULL));
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "graph output 'q' is not produced by any node");
    m = tb_base_model();
    free(m->graph->node[1]->op_type);
    m->graph->node[1]->op_type = NULL;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "graph 'g': node #1 ('relu') has no op_type");
}

PQ_TEST(wrong_attribute_types)
{
    Onnx__ModelProto *m = tb_base_model();
    Onnx__AttributeProto *a = tb_attr(m->graph->node[1], "alpha",
                                      ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->has_f = 1;
    a->f = 0.5f;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT,
                       "node 'relu' (Relu): attribute 'alpha' is declared INTS but holds a FLOAT "
                       "value");
    m = tb_base_model();
    a = tb_attr(m->graph->node[1], "alpha", (Onnx__AttributeProto__AttributeType)42);
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "node 'relu' (Relu): attribute 'alpha' has unknown type 42");
    m = tb_base_model();
    tb_attr(m->graph->node[1], "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "attribute 'value' is declared TENSOR but has no tensor");
    m = tb_base_model();
    tb_attr(m->graph->node[1], "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "attribute 'body' is declared GRAPH but has no graph");
    m = tb_base_model();
    tb_attr_int(m->graph->node[1], "axis", 1);
    tb_attr_int(m->graph->node[1], "axis", 2);
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "node 'relu' (Relu): attribute 'axis' appears twice");
    m = tb_base_model();
    a = tb_attr(m->graph->node[1], "", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "node 'relu' (Relu): attribute #0 has no name");
}

PQ_TEST(negative_dimensions)
{
    Onnx__ModelProto *m = tb_base_model();
    m->graph->initializer[0]->dims[1] = -3;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "initializer 'w': negative dimension -3 at axis 1");
    m = tb_base_model();
    m->graph->input[0]->type->tensor_type->shape->dim[0]->dim_value = -5;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "graph input 'x': 'x' has negative dimension -5 at axis 0");
    m = tb_base_model();
    static const int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    TB_PUSH(m->graph->value_info, m->graph->n_value_info, tb_vi("y", 1, 9, d9, NULL));
    EXPECT_MODEL_FAILS(m, PQ_ERR_UNSUPPORTED, "value_info 'y': 'y' has rank 9, more than the maximum 8");
}

PQ_TEST(initializer_size_mismatch)
{
    Onnx__ModelProto *m = tb_base_model();
    m->graph->initializer[0]->raw_data.len = 20;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "initializer 'w': float32[2, 3] needs 24 bytes, raw_data has 20");
    /* Typed field with the wrong count. */
    m = tb_base_model();
    Onnx__TensorProto *t = m->graph->initializer[0];
    t->has_raw_data = 0;
    free(t->raw_data.data);
    t->raw_data.data = NULL;
    t->raw_data.len = 0;
    t->float_data = tb_alloc(5 * sizeof(float));
    t->n_float_data = 5;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "initializer 'w': float32[2, 3] needs 6 values, float_data has 5");
    /* Data in the field of another type. */
    m = tb_base_model();
    t = m->graph->initializer[0];
    t->has_raw_data = 0;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->int32_data = tb_alloc(6 * sizeof(int32_t));
    t->n_int32_data = 6;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "initializer 'w': int64[2, 3] needs 6 values, int64_data has 0");
    m = tb_base_model();
    m->graph->initializer[0]->has_data_type = 0;
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "initializer 'w': tensor has no data type");
}

PQ_TEST(duplicate_names)
{
    Onnx__ModelProto *m = tb_base_model();
    tb_node(m->graph, "Relu", "again", "x", "y");
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT,
                       "node 'again' (Relu): output 'y' is already produced by node 'add' (Add)");
    m = tb_base_model();
    tb_node(m->graph, "Relu", "r", "x", "w");
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "node 'r' (Relu): output 'w' is already an initializer");
    m = tb_base_model();
    tb_node(m->graph, "Relu", "r", "y", "x");
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "node 'r' (Relu): output 'x' is already a graph input");
    m = tb_base_model();
    tb_node(m->graph, "Split", "s", "x", "p,p");
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "node 's' (Split): output 'p' is already produced by node 's' (Split)");
    m = tb_base_model();
    TB_PUSH(m->graph->initializer, m->graph->n_initializer,
            tb_tensor("w", 1, 0, NULL, "\0\0\0\0", 4));
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "initializer 'w' appears twice");
    m = tb_base_model();
    TB_PUSH(m->graph->input, m->graph->n_input, tb_vi("x", 1, -1, NULL, NULL));
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "graph input 'x' appears twice");
    m = tb_base_model();
    TB_PUSH(m->graph->output, m->graph->n_output, tb_vi("z", 1, -1, NULL, NULL));
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "graph output 'z' appears twice");
    m = tb_base_model();
    TB_PUSH(m->graph->input, m->graph->n_input, tb_vi("w", 7, -1, NULL, NULL));
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "graph input 'w': 'w' is declared int64 but its initializer is float32");
    m = tb_base_model();
    m->opset_import[0]->domain[0] = '\0';
    {
        Onnx__OperatorSetIdProto *o = tb_alloc(sizeof *o);
        onnx__operator_set_id_proto__init(o);
        o->domain = tb_str("ai.onnx");
        o->has_version = 1;
        o->version = 11;
        TB_PUSH(m->opset_import, m->n_opset_import, o);
    }
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "opset_import lists domain 'ai.onnx' twice");
}

PQ_TEST(unsupported_dtypes)
{
    Onnx__ModelProto *m = tb_base_model();
    m->graph->initializer[0]->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64;
    EXPECT_MODEL_FAILS(m, PQ_ERR_UNSUPPORTED, "initializer 'w': data type complex64 is not supported");
    m = tb_base_model();
    m->graph->initializer[0]->data_type = 99;
    EXPECT_MODEL_FAILS(m, PQ_ERR_UNSUPPORTED, "initializer 'w': data type 99 is not a known ONNX tensor type");
    m = tb_base_model();
    m->graph->output[0]->type->tensor_type->elem_type = 77;
    EXPECT_MODEL_FAILS(m, PQ_ERR_UNSUPPORTED, "graph output 'z': 'z' has element type 77");
    m = tb_base_model();
    Onnx__SparseTensorProto *sp = tb_alloc(sizeof *sp);
    onnx__sparse_tensor_proto__init(sp);
    TB_PUSH(m->graph->sparse_initializer, m->graph->n_sparse_initializer, sp);
    EXPECT_MODEL_FAILS(m, PQ_ERR_UNSUPPORTED, "graph 'g': sparse initializers are not supported");
    m = tb_base_model();
    Onnx__TensorProto *t = m->graph->initializer[0];
    t->segment = tb_alloc(sizeof *t->segment);
    onnx__tensor_proto__segment__init(t->segment);
    EXPECT_MODEL_FAILS(m, PQ_ERR_UNSUPPORTED, "initializer 'w': segmented tensors are not supported");
}

PQ_TEST(nesting_too_deep)
{
    /* 40 nested If bodies: 3 message levels each, beyond the 100-level limit. */
    Onnx__ModelProto *m = tb_base_model();
    Onnx__GraphProto *g = m->graph;
    for (int k = 0; k < 40; k++) {
        Onnx__GraphProto *body = tb_graph("b");
        Onnx__NodeProto *n = tb_node(g, "If", NULL, "z", "");
        tb_attr_graph(n, "then_branch", body);
        g = body;
    }
    EXPECT_MODEL_FAILS(m, PQ_ERR_FORMAT, "messages nest more than 100 deep");
}

static void add_external(Onnx__TensorProto *t, const char *location, const char *offset,
                         const char *length)
{
    const char *kv[3][2] = {{"location", location}, {"offset", offset}, {"length", length}};
    for (int k = 0; k < 3; k++) {
        if (!kv[k][1]) continue;
        Onnx__StringStringEntryProto *e = tb_alloc(sizeof *e);
        onnx__string_string_entry_proto__init(e);
        e->key = tb_str(kv[k][0]);
        e->value = tb_str(kv[k][1]);
        TB_PUSH(t->external_data, t->n_external_data, e);
    }
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->has_raw_data = 0;
}

PQ_TEST(external_data_paths)
{
    setup();
    char sub[400], bin[480], outside[480];
    snprintf(sub, sizeof sub, "%s/ext", tmpdir);
    mkdir(sub, 0755);
    snprintf(bin, sizeof bin, "%s/w.bin", sub);
    snprintf(outside, sizeof outside, "%s/outside.bin", tmpdir);
    static const float w[8] = {0, 0, 1, -2, 3, -4, 5, -6};
    write_bytes(bin, (const uint8_t *)w, sizeof w);
    write_bytes(outside, (const uint8_t *)w, sizeof w);
    const struct {
        const char *loc, *off, *len;
        pq_status code;
        const char *needle;
    } cases[] = {
        {"w.bin", "8", "24", PQ_OK, NULL},
        {"w.bin", "8", NULL, PQ_OK, NULL},
        {"../outside.bin", "8", "24", PQ_ERR_FORMAT, "initializer 'w': external data path '../outside.bin' escapes the model folder"},
        {"/etc/passwd", NULL, NULL, PQ_ERR_FORMAT, "external data path '/etc/passwd' must be relative to the model folder"},
        {"nothere.bin", NULL, NULL, PQ_ERR_IO, "external data file"},
        {"w.bin", NULL, NULL, PQ_ERR_FORMAT, "external data 'w.bin' has 32 bytes, the shape needs 24"},
        {"w.bin", "40", NULL, PQ_ERR_FORMAT, "external data offset 40 is past the end of 'w.bin'"},
        {"w.bin", "16", "24", PQ_ERR_FORMAT, "external data 'w.bin' has 16 bytes after offset 16, length says 24"},
        {"w.bin", "-1", NULL, PQ_ERR_FORMAT, "external data offset '-1' is not a non-negative integer"},
        {NULL, NULL, NULL, PQ_ERR_FORMAT, "external data has no location"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        Onnx__ModelProto *m = tb_base_model();
        add_external(m->graph->initializer[0], cases[k].loc, cases[k].off, cases[k].len);
        size_t len;
        uint8_t *b = tb_pack(&m->base, &len);
        tb_free(m);
        char path[600];
        snprintf(path, sizeof path, "%s/m.onnx", sub);
        write_bytes(path, b, len);
        pq_err err = {0};
        pq_graph *g = NULL;
        pq_status st = pq_onnx_load(path, &g, &err);
        if (st != cases[k].code)
            PQ_FAIL_AT("case %zu: got %s (%s)", k, pq_status_name(st), err.msg);
        if (cases[k].needle) {
            PQ_EXPECT_CONTAINS(err.msg, cases[k].needle);
            PQ_EXPECT(strncmp(err.msg, path, strlen(path)) == 0);
        } else if (g) {
            const pq_var *v = pq_graph_find_var(g, "w");
            PQ_EXPECT(v && v->value && v->value->nbytes == 24 &&
                      memcmp(v->value->data, w + 2, 24) == 0);
        }
        /* From memory without a folder, external data cannot be resolved. */
        if (k == 0) {
            pq_graph *g2 = NULL;
            PQ_EXPECT_EQ(pq_onnx_load_buffer(b, len, "mem", NULL, &g2, &err), PQ_ERR_INVALID);
            PQ_EXPECT_CONTAINS(err.msg, "needs the model's folder");
        }
        pq_graph_destroy(&g);
        free(b);
        unlink(path);
    }
    unlink(bin);
    unlink(outside);
    rmdir(sub);
}

/* ------------------------------------------------------------------ tensor files */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* A SequenceProto / OptionalProto: name (1), elem_type (2), one tensor value (3). */
static size_t make_seq(uint8_t *out, const char *name, int elem_type, const uint8_t *tensor,
                       size_t tlen)
{
    size_t n = 0;
    out[n++] = 0x0a;
    n += put_varint(out + n, strlen(name));
    memcpy(out + n, name, strlen(name));
    n += strlen(name);
    out[n++] = 0x10;
    out[n++] = (uint8_t)elem_type;
    if (tensor) {
        out[n++] = 0x1a;
        n += put_varint(out + n, tlen);
        memcpy(out + n, tensor, tlen);
        n += tlen;
    }
    return n;
}

PQ_TEST(tensor_files)
{
    setup();
    static const int64_t d23[] = {2, 3};
    static const float v[6] = {1, 2, 3, 4, 5, 6};
    Onnx__TensorProto *t = tb_tensor("x", 1, 2, d23, v, sizeof v);
    size_t tlen;
    uint8_t *tb = tb_pack(&t->base, &tlen);
    tb_free(t);
    char path[512];
    snprintf(path, sizeof path, "%s/t.pb", tmpdir);
    pq_err err = {0};
    pq_tensor *out = NULL;
    char *name = NULL;

    write_bytes(path, tb, tlen);
    PQ_EXPECT_OK(pq_onnx_load_tensor(path, &out, &name, &err), &err);
    PQ_EXPECT(out && out->rank == 2 && memcmp(out->data, v, sizeof v) == 0);
    PQ_EXPECT_STR(name, "x");
    pq_tensor_destroy(&out);
    pq_free(name);

    uint8_t seq[256];
    size_t sl = make_seq(seq, "seq_in", 1, tb, tlen);
    write_bytes(path, seq, sl);
    PQ_EXPECT_EQ(pq_onnx_load_tensor(path, &out, NULL, &err), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(err.msg, "t.pb: sequence/optional values are not supported");
    sl = make_seq(seq, "optional_input", 0, NULL, 0); /* an empty optional */
    write_bytes(path, seq, sl);
    PQ_EXPECT_EQ(pq_onnx_load_tensor(path, &out, NULL, &err), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(err.msg, "sequence/optional values are not supported");

    write_bytes(path, tb, tlen - 5);
    PQ_EXPECT_EQ(pq_onnx_load_tensor(path, &out, NULL, &err), PQ_ERR_FORMAT);
    PQ_EXPECT_CONTAINS(err.msg, "t.pb: ");
    PQ_EXPECT_CONTAINS(err.msg, "onnx.TensorProto.raw_data at byte");
    PQ_EXPECT(out == NULL);

    t = tb_tensor("x", 1, 2, d23, v, sizeof v);
    t->raw_data.len = 8;
    free(tb);
    tb = tb_pack(&t->base, &tlen);
    tb_free(t);
    write_bytes(path, tb, tlen);
    PQ_EXPECT_EQ(pq_onnx_load_tensor(path, &out, NULL, &err), PQ_ERR_FORMAT);
    PQ_EXPECT_CONTAINS(err.msg, "t.pb: float32[2, 3] needs 24 bytes, raw_data has 8");
    free(tb);

    pq_rng rng;
    pq_rng_seed(&rng, 7);
    for (int it = 0; it < 500; it++) {
        uint8_t r[300];
        size_t n = (size_t)(pq_rng_next(&rng) % sizeof r);
        for (size_t k = 0; k < n; k++) r[k] = (uint8_t)pq_rng_next(&rng);
        write_bytes(path, r, n);
        pq_status st = pq_onnx_load_tensor(path, &out, NULL, &err);
        if (st == PQ_OK) pq_tensor_destroy(&out);
        else PQ_EXPECT(strncmp(err.msg, path, strlen(path)) == 0);
    }
    unlink(path);
}

/* ------------------------------------------------------------------ OOM and atomic saves */

/* A model exercising most allocation paths: initializers, symbolic dims, attributes of
 * several kinds, a subgraph reading an outer value, value_info, metadata. */
static uint8_t *rich_model(size_t *len)
{
    Onnx__ModelProto *m = tb_base_model();
    Onnx__GraphProto *body = tb_graph("then");
    tb_node(body, "Identity", "id", "y", "t");
    TB_PUSH(body->output, body->n_output, tb_vi("t", 1, -1, NULL, NULL));
    Onnx__NodeProto *n = tb_node(m->graph, "If", "if", "z", "o");
    tb_attr_graph(n, "then_branch", body);
    static const int64_t ks[] = {3, 3};
    tb_attr_ints(n, "kernel_shape", 2, ks);
    tb_attr_float(n, "alpha", 0.25f);
    TB_PUSH(m->graph->value_info, m->graph->n_value_info, tb_vi("y", 1, 2, ks, NULL));
    Onnx__StringStringEntryProto *e = tb_alloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = tb_str("k");
    e->value = tb_str("v");
    TB_PUSH(m->metadata_props, m->n_metadata_props, e);
    uint8_t *b = tb_pack(&m->base, len);
    tb_free(m);
    return b;
}

PQ_TEST(allocation_failures_at_every_point)
{
    size_t len;
    uint8_t *b = rich_model(&len);
    pq_err err = {0};
    int64_t n;
    pq_status st = PQ_ERR_NOMEM;
    for (n = 0; n < 100000 && st != PQ_OK; n++) {
        pq_graph *g = NULL;
        pq_alloc_fail_after(n);
        st = pq_onnx_load_buffer(b, len, "rich", NULL, &g, &err);
        pq_alloc_fail_after(-1);
        if (st != PQ_OK && st != PQ_ERR_NOMEM)
            PQ_FAIL_AT("failing allocation %" PRId64 ": %s: %s", n, pq_status_name(st), err.msg);
        if (st != PQ_OK && g) PQ_FAIL_AT("graph returned on failure");
        pq_graph_destroy(&g);
    }
    PQ_EXPECT(st == PQ_OK && n > 20);

    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_onnx_load_buffer(b, len, "rich", NULL, &g, &err), &err);
    st = PQ_ERR_NOMEM;
    for (n = 0; n < 100000 && st != PQ_OK; n++) {
        uint8_t *out = NULL;
        size_t ol = 0;
        pq_alloc_fail_after(n);
        st = pq_onnx_serialize(g, &out, &ol, &err);
        pq_alloc_fail_after(-1);
        if (st != PQ_OK && st != PQ_ERR_NOMEM)
            PQ_FAIL_AT("failing allocation %" PRId64 ": %s: %s", n, pq_status_name(st), err.msg);
        if (st != PQ_OK && out) PQ_FAIL_AT("buffer returned on failure");
        pq_free(out);
    }
    PQ_EXPECT(st == PQ_OK && n > 20);
    pq_graph_destroy(&g);
    free(b);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

PQ_TEST(failed_save_leaves_no_file)
{
    setup();
    size_t len;
    uint8_t *b = rich_model(&len);
    pq_err err = {0};
    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_onnx_load_buffer(b, len, "rich", NULL, &g, &err), &err);
    free(b);
    char dir[400], path[480];
    snprintf(dir, sizeof dir, "%s/save", tmpdir);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/out.onnx", dir);
    /* Out of memory while serializing: nothing is written. */
    pq_alloc_fail_after(3);
    PQ_EXPECT_EQ(pq_onnx_save(g, path, &err), PQ_ERR_NOMEM);
    pq_alloc_fail_after(-1);
    PQ_EXPECT_CONTAINS(err.msg, "out.onnx: ");
    PQ_EXPECT_EQ(count_entries(dir), 0);
    /* A folder that does not exist: IO error naming the file. */
    PQ_EXPECT_EQ(pq_onnx_save(g, "/nonexistent-dir/out.onnx", &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "/nonexistent-dir/out.onnx: cannot create a temporary file");
    /* The target is a folder: the rename fails and the temporary file is removed. */
    char as_dir[520];
    snprintf(as_dir, sizeof as_dir, "%s/taken", dir);
    mkdir(as_dir, 0755);
    PQ_EXPECT_EQ(pq_onnx_save(g, as_dir, &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "cannot rename the temporary file into place");
    PQ_EXPECT_EQ(count_entries(dir), 1);
    rmdir(as_dir);
    /* Success: exactly the file, which loads back. */
    PQ_EXPECT_OK(pq_onnx_save(g, path, &err), &err);
    PQ_EXPECT_EQ(count_entries(dir), 1);
    pq_graph *g2 = NULL;
    PQ_EXPECT_OK(pq_onnx_load(path, &g2, &err), &err);
    PQ_EXPECT(g2 && g2->ops.n == 3);
    pq_graph_destroy(&g2);
    pq_graph_destroy(&g);
    unlink(path);
    rmdir(dir);
}

PQ_TEST(cleanup)
{
    setup();
    rmdir(tmpdir);
}

PQ_TEST_MAIN()
