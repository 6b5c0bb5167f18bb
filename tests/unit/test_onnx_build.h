/* test_onnx_build.h - builds ONNX models in C with the protobuf-c API for the io/onnx
 * tests (valid ones to mutate into malformed ones). Messages use the system allocator and
 * are freed with tb_free(). Test code: allocation failure aborts. Header-only. */
#ifndef PQ_TEST_ONNX_BUILD_H
#define PQ_TEST_ONNX_BUILD_H

#include "onnx.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *tb_alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) abort();
    return p;
}

static inline char *tb_str(const char *s)
{
    char *d = tb_alloc(strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}

/* Appends item to a protobuf-c repeated field (arr, n). */
#define TB_PUSH(arr, n, item)                                                 \
    do {                                                                      \
        void *tb_p_ = realloc((arr), ((n) + 1) * sizeof *(arr));              \
        if (!tb_p_) abort();                                                  \
        (arr) = tb_p_;                                                        \
        (arr)[(n)++] = (item);                                                \
    } while (0)

static inline Onnx__ModelProto *tb_model(int64_t opset)
{
    Onnx__ModelProto *m = tb_alloc(sizeof *m);
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = 8;
    m->producer_name = tb_str("pq-test");
    Onnx__OperatorSetIdProto *o = tb_alloc(sizeof *o);
    onnx__operator_set_id_proto__init(o);
    o->domain = tb_str("");
    o->has_version = 1;
    o->version = opset;
    TB_PUSH(m->opset_import, m->n_opset_import, o);
    m->graph = tb_alloc(sizeof *m->graph);
    onnx__graph_proto__init(m->graph);
    m->graph->name = tb_str("g");
    return m;
}

static inline Onnx__GraphProto *tb_graph(const char *name)
{
    Onnx__GraphProto *g = tb_alloc(sizeof *g);
    onnx__graph_proto__init(g);
    g->name = tb_str(name);
    return g;
}

/* Splits "a,,b" into ["a", "", "b"] ("" gives no names). */
static inline void tb_names(const char *list, char ***arr, size_t *n)
{
    if (!list[0]) return;
    const char *p = list;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char *s = tb_alloc(l + 1);
        memcpy(s, p, l);
        TB_PUSH(*arr, *n, s);
        if (!c) break;
        p = c + 1;
    }
}

static inline Onnx__NodeProto *tb_node(Onnx__GraphProto *g, const char *type, const char *name,
                                const char *inputs, const char *outputs)
{
    Onnx__NodeProto *n = tb_alloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = tb_str(type);
    if (name) n->name = tb_str(name);
    tb_names(inputs, &n->input, &n->n_input);
    tb_names(outputs, &n->output, &n->n_output);
    TB_PUSH(g->node, g->n_node, n);
    return n;
}

static inline Onnx__AttributeProto *tb_attr(Onnx__NodeProto *n, const char *name,
                                     Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = tb_alloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = tb_str(name);
    a->has_type = 1;
    a->type = type;
    TB_PUSH(n->attribute, n->n_attribute, a);
    return a;
}

static inline void tb_attr_int(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static inline void tb_attr_float(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static inline void tb_attr_ints(Onnx__NodeProto *n, const char *name, size_t count, const int64_t *v)
{
    Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = tb_alloc(count * sizeof *a->ints);
    memcpy(a->ints, v, count * sizeof *v);
    a->n_ints = count;
}

static inline void tb_attr_graph(Onnx__NodeProto *n, const char *name, Onnx__GraphProto *g)
{
    Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    a->g = g;
}

/* A tensor with raw_data of nbytes bytes copied from data (data may be NULL: zeros). */
static inline Onnx__TensorProto *tb_tensor(const char *name, int dtype, size_t rank, const int64_t *dims,
                                    const void *data, size_t nbytes)
{
    Onnx__TensorProto *t = tb_alloc(sizeof *t);
    onnx__tensor_proto__init(t);
    if (name) t->name = tb_str(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = tb_alloc(rank * sizeof *t->dims);
    if (rank) memcpy(t->dims, dims, rank * sizeof *dims);
    t->n_dims = rank;
    t->has_raw_data = 1;
    t->raw_data.data = tb_alloc(nbytes);
    if (data && nbytes) memcpy(t->raw_data.data, data, nbytes);
    t->raw_data.len = nbytes;
    return t;
}

/* A tensor value info; dims < 0 become symbolic dims named by params[k] (may be NULL). */
static inline Onnx__ValueInfoProto *tb_vi(const char *name, int elem, int rank, const int64_t *dims,
                                   const char *const *params)
{
    Onnx__ValueInfoProto *v = tb_alloc(sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = tb_str(name);
    Onnx__TypeProto *tp = tb_alloc(sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = tb_alloc(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    if (rank >= 0) {
        Onnx__TensorShapeProto *sh = tb_alloc(sizeof *sh);
        onnx__tensor_shape_proto__init(sh);
        for (int k = 0; k < rank; k++) {
            Onnx__TensorShapeProto__Dimension *d = tb_alloc(sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[k] >= 0 || !params || !params[k]) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[k];
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = tb_str(params[k]);
            }
            TB_PUSH(sh->dim, sh->n_dim, d);
        }
        tt->shape = sh;
    }
    return v;
}

static inline uint8_t *tb_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = tb_alloc(*len);
    protobuf_c_message_pack(m, b);
    return b;
}

static inline void tb_free(void *msg)
{
    if (msg) protobuf_c_message_free_unpacked(msg, NULL);
}

/* The base model of the tests: x float[2, N] + w (initializer float[2, 3]) -> Add 'add' ->
 * y -> Relu 'relu' -> z (graph output). */
static inline Onnx__ModelProto *tb_base_model(void)
{
    Onnx__ModelProto *m = tb_model(13);
    Onnx__GraphProto *g = m->graph;
    static const int64_t d23[] = {2, 3}, d2n[] = {2, -1};
    static const char *const pn[] = {NULL, "N"};
    static const float w[6] = {1, -2, 3, -4, 5, -6};
    TB_PUSH(g->initializer, g->n_initializer, tb_tensor("w", 1, 2, d23, w, sizeof w));
    TB_PUSH(g->input, g->n_input, tb_vi("x", 1, 2, d2n, pn));
    TB_PUSH(g->output, g->n_output, tb_vi("z", 1, 2, d23, NULL));
    tb_node(g, "Add", "add", "x,w", "y");
    tb_node(g, "Relu", "relu", "y", "z");
    return m;
}

#endif /* PQ_TEST_ONNX_BUILD_H */
