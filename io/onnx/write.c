/* write.c - graph IR -> ONNX ModelProto bytes and files.
 *
 * The message tree is built with pq__onnx_allocator so one protobuf_c_message_free_unpacked
 * call frees it. Every child message is attached to its parent before it is filled, so the
 * tree is consistent at every failure point and only the top level frees. Parameter data
 * is borrowed (not copied) into raw_data and unhooked before the free.
 */
#include "onnx_internal.h"

#include <string.h>

typedef struct wr_ctx {
    pq__onnx_borrows b;
} wr_ctx;

#define WR_NOMEM(what) pq_err_set(err, PQ_ERR_NOMEM, "out of memory writing %s", (what))

static pq_status wr_str(const char *s, char **out, pq_err *err)
{
    *out = NULL;
    if (!s) return PQ_OK;
    *out = pq_strdup(s);
    return *out ? PQ_OK : WR_NOMEM("a string");
}

/* A new, initialised message of the given type (allocated with pq__onnx_allocator). */
#define WR_NEW(ptr, init)                                               \
    do {                                                                \
        (ptr) = pq_malloc(sizeof *(ptr));                               \
        PQ_CHECK((ptr), PQ_ERR_NOMEM, "out of memory building a message"); \
        init(ptr);                                                      \
    } while (0)

/* A zeroed array of n elements for field `arr` (count field stays 0 until filled). */
#define WR_ARRAY(arr, n)                                                \
    do {                                                                \
        (arr) = pq_calloc((n) ? (size_t)(n) : 1, sizeof *(arr));        \
        PQ_CHECK((arr), PQ_ERR_NOMEM, "out of memory building a message"); \
    } while (0)

/* ------------------------------------------------------------------ value info */

static pq_status write_value_info(const pq_var *v, Onnx__ValueInfoProto *vi, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(wr_str(v->name, &vi->name, err));
    PQ_TRY(wr_str(v->doc_string, &vi->doc_string, err));
    if (v->kind == PQ_VALUE_OTHER) {
        PQ_CHECK(v->type_opaque, PQ_ERR_INTERNAL, "'%s' has a non-tensor type but no stored "
                 "TypeProto", v->name);
        pq__onnx_alloc_failed_reset();
        vi->type = onnx__type_proto__unpack(&pq__onnx_allocator, v->type_opaque_len,
                                            v->type_opaque);
        PQ_CHECK(vi->type || !pq__onnx_alloc_failed(), PQ_ERR_NOMEM, "out of memory");
        PQ_CHECK(vi->type, PQ_ERR_INTERNAL, "the stored type of '%s' does not parse", v->name);
        return PQ_OK;
    }
    if (v->dtype == PQ_DTYPE_UNDEFINED && v->rank < 0) return PQ_OK;
    Onnx__TypeProto *tp;
    Onnx__TypeProto__Tensor *tt;
    WR_NEW(tp, onnx__type_proto__init);
    vi->type = tp;
    WR_NEW(tt, onnx__type_proto__tensor__init);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    if (v->dtype != PQ_DTYPE_UNDEFINED) {
        tt->has_elem_type = 1;
        tt->elem_type = (int32_t)v->dtype;
    }
    if (v->rank >= 0) {
        Onnx__TensorShapeProto *sh;
        WR_NEW(sh, onnx__tensor_shape_proto__init);
        tt->shape = sh;
        WR_ARRAY(sh->dim, v->rank);
        for (int k = 0; k < v->rank && k < PQ_MAX_RANK; k++) {
            Onnx__TensorShapeProto__Dimension *d;
            WR_NEW(d, onnx__tensor_shape_proto__dimension__init);
            sh->dim[k] = d;
            sh->n_dim = (size_t)k + 1;
            if (v->dim_params[k]) {
                PQ_TRY(wr_str(v->dim_params[k], &d->dim_param, err));
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            } else if (v->dims[k] >= 0) {
                d->dim_value = v->dims[k];
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            }
        }
    }
    return PQ_OK;
fail:
    return st;
}

/* ------------------------------------------------------------------ attributes and nodes */

static pq_status write_graph(wr_ctx *c, const pq_graph *g, Onnx__GraphProto *gp, pq_err *err);

static pq_status write_bytes(const char *s, size_t len, ProtobufCBinaryData *out, pq_err *err)
{
    out->data = (uint8_t *)pq__onnx_strndup(s ? s : "", s ? len : 0);
    if (!out->data) return WR_NOMEM("bytes");
    out->len = s ? len : 0;
    return PQ_OK;
}

/* Fills *slot with a new AttributeProto (attached before it is filled). */
static pq_status write_attr(wr_ctx *c, const pq_attr *a, Onnx__AttributeProto **slot,
                            pq_err *err)
{
    pq_status st = PQ_OK;
    Onnx__AttributeProto *ap;
    if (a->type == PQ_ATTR_OPAQUE) {
        pq__onnx_alloc_failed_reset();
        ap = onnx__attribute_proto__unpack(&pq__onnx_allocator, a->opaque_len, a->opaque);
        PQ_CHECK(ap || !pq__onnx_alloc_failed(), PQ_ERR_NOMEM, "out of memory");
        PQ_CHECK(ap, PQ_ERR_INTERNAL, "attribute '%s': the stored AttributeProto does not "
                 "parse", a->name);
        *slot = ap;
        pq_free(ap->name);
        return wr_str(a->name, &ap->name, err);
    }
    WR_NEW(ap, onnx__attribute_proto__init);
    *slot = ap;
    PQ_TRY(wr_str(a->name, &ap->name, err));
    PQ_TRY(wr_str(a->ref_attr_name, &ap->ref_attr_name, err));
    PQ_TRY(wr_str(a->doc_string, &ap->doc_string, err));
    if (a->type != PQ_ATTR_UNDEFINED) {
        ap->has_type = 1;
        ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    }
    size_t n = a->n > 0 ? (size_t)a->n : 0;
    switch (a->type) {
    case PQ_ATTR_UNDEFINED:
    case PQ_ATTR_OPAQUE:
        break;
    case PQ_ATTR_FLOAT:
        ap->has_f = 1;
        ap->f = a->f;
        break;
    case PQ_ATTR_INT:
        ap->has_i = 1;
        ap->i = a->i;
        break;
    case PQ_ATTR_STRING:
        ap->has_s = 1;
        PQ_TRY(write_bytes(a->s, a->s ? (a->s_len ? a->s_len : strlen(a->s)) : 0, &ap->s, err));
        break;
    case PQ_ATTR_TENSOR:
        if (a->t) {
            st = pq__onnx_tensor_to_proto(a->t, NULL, &c->b, &ap->t, err);
            if (st != PQ_OK) goto fail;
        }
        break;
    case PQ_ATTR_GRAPH:
        if (a->g) {
            Onnx__GraphProto *gp;
            WR_NEW(gp, onnx__graph_proto__init);
            ap->g = gp;
            PQ_TRY(write_graph(c, a->g, gp, err));
        }
        break;
    case PQ_ATTR_FLOATS:
        WR_ARRAY(ap->floats, n);
        if (n) memcpy(ap->floats, a->floats, n * sizeof *ap->floats);
        ap->n_floats = n;
        break;
    case PQ_ATTR_INTS:
        WR_ARRAY(ap->ints, n);
        if (n) memcpy(ap->ints, a->ints, n * sizeof *ap->ints);
        ap->n_ints = n;
        break;
    case PQ_ATTR_STRINGS:
        WR_ARRAY(ap->strings, n);
        for (size_t k = 0; k < n; k++) {
            const char *s = a->strings[k];
            size_t l = a->string_lens ? a->string_lens[k] : (s ? strlen(s) : 0);
            PQ_TRY(write_bytes(s, l, &ap->strings[k], err));
            ap->n_strings = k + 1;
        }
        break;
    case PQ_ATTR_TENSORS:
        WR_ARRAY(ap->tensors, n);
        for (size_t k = 0; k < n; k++) {
            PQ_TRY(pq__onnx_tensor_to_proto(a->tensors[k], NULL, &c->b, &ap->tensors[k], err));
            ap->n_tensors = k + 1;
        }
        break;
    case PQ_ATTR_GRAPHS:
        WR_ARRAY(ap->graphs, n);
        for (size_t k = 0; k < n; k++) {
            Onnx__GraphProto *gp;
            WR_NEW(gp, onnx__graph_proto__init);
            ap->graphs[k] = gp;
            ap->n_graphs = k + 1;
            PQ_TRY(write_graph(c, a->graphs[k], gp, err));
        }
        break;
    default:
        PQ_CHECK(0, PQ_ERR_INVALID, "attribute '%s' has unknown type %d", a->name, (int)a->type);
    }
    return PQ_OK;
fail:
    pq_err_prefix(err, "attribute '%s'", a->name ? a->name : "");
    return st;
}

static pq_status write_node(wr_ctx *c, const pq_op *op, Onnx__NodeProto *np, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(wr_str(op->name, &np->name, err));
    PQ_TRY(wr_str(op->type, &np->op_type, err));
    if (op->domain && op->domain[0]) PQ_TRY(wr_str(op->domain, &np->domain, err));
    PQ_TRY(wr_str(op->doc_string, &np->doc_string, err));
    WR_ARRAY(np->input, op->n_inputs);
    for (int i = 0; i < op->n_inputs; i++) {
        PQ_TRY(wr_str(op->inputs[i] ? op->inputs[i]->name : "", &np->input[i], err));
        np->n_input = (size_t)i + 1;
    }
    WR_ARRAY(np->output, op->n_outputs);
    for (int i = 0; i < op->n_outputs; i++) {
        PQ_TRY(wr_str(op->outputs[i] ? op->outputs[i]->name : "", &np->output[i], err));
        np->n_output = (size_t)i + 1;
    }
    WR_ARRAY(np->attribute, op->n_attrs);
    for (int k = 0; k < op->n_attrs; k++) {
        np->n_attribute = (size_t)k;
        st = write_attr(c, &op->attrs[k], &np->attribute[k], err);
        if (np->attribute[k]) np->n_attribute = (size_t)k + 1;
        if (st != PQ_OK) goto fail;
    }
    return PQ_OK;
fail:
    pq_err_prefix(err, "node '%s' (%s)", op->name, op->type);
    return st;
}

/* ------------------------------------------------------------------ graphs and models */

static pq_status write_value_infos(const pq_ptrvec *vars, int only_flagged,
                                   Onnx__ValueInfoProto ***arr, size_t *n_arr, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t n = 0;
    for (int64_t k = 0; k < vars->n; k++)
        if (!only_flagged || ((const pq_var *)vars->items[k])->has_value_info) n++;
    WR_ARRAY(*arr, n);
    for (int64_t k = 0; k < vars->n; k++) {
        const pq_var *v = vars->items[k];
        if (only_flagged && !v->has_value_info) continue;
        Onnx__ValueInfoProto *vi;
        WR_NEW(vi, onnx__value_info_proto__init);
        (*arr)[(*n_arr)++] = vi;
        PQ_TRY(write_value_info(v, vi, err));
    }
    return PQ_OK;
fail:
    return st;
}

static pq_status write_graph(wr_ctx *c, const pq_graph *g, Onnx__GraphProto *gp, pq_err *err)
{
    pq_status st = PQ_OK;
    if (g->name && g->name[0]) PQ_TRY(wr_str(g->name, &gp->name, err));
    PQ_TRY(wr_str(g->graph_doc_string, &gp->doc_string, err));

    WR_ARRAY(gp->node, g->ops.n);
    for (int64_t k = 0; k < g->ops.n; k++) {
        Onnx__NodeProto *np;
        WR_NEW(np, onnx__node_proto__init);
        gp->node[gp->n_node++] = np;
        PQ_TRY(write_node(c, g->ops.items[k], np, err));
    }

    /* Parameters that no op produces are initializers, in variable order. */
    int64_t n_init = 0;
    for (int64_t k = 0; k < g->vars.n; k++) {
        const pq_var *v = g->vars.items[k];
        if (v->value && !v->source_op) n_init++;
    }
    WR_ARRAY(gp->initializer, n_init);
    for (int64_t k = 0; k < g->vars.n; k++) {
        const pq_var *v = g->vars.items[k];
        if (!v->value || v->source_op) continue;
        st = pq__onnx_tensor_to_proto(v->value, v->name, &c->b,
                                      &gp->initializer[gp->n_initializer], err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "initializer '%s'", v->name);
            goto fail;
        }
        gp->n_initializer++;
    }
    PQ_TRY(write_value_infos(&g->inputs, 0, &gp->input, &gp->n_input, err));
    PQ_TRY(write_value_infos(&g->outputs, 0, &gp->output, &gp->n_output, err));
    PQ_TRY(write_value_infos(&g->vars, 1, &gp->value_info, &gp->n_value_info, err));
    return PQ_OK;
fail:
    if (g->parent) pq_err_prefix(err, "subgraph '%s'", g->name ? g->name : "");
    return st;
}

static pq_status write_model(wr_ctx *c, const pq_graph *g, Onnx__ModelProto *m, pq_err *err)
{
    pq_status st = PQ_OK;
    if (g->ir_version > 0) {
        m->has_ir_version = 1;
        m->ir_version = g->ir_version;
    }
    WR_ARRAY(m->opset_import, g->n_opsets);
    for (int k = 0; k < g->n_opsets; k++) {
        Onnx__OperatorSetIdProto *o;
        WR_NEW(o, onnx__operator_set_id_proto__init);
        m->opset_import[m->n_opset_import++] = o;
        PQ_TRY(wr_str(g->opsets[k].domain ? g->opsets[k].domain : "", &o->domain, err));
        o->has_version = 1;
        o->version = g->opsets[k].version;
    }
    PQ_TRY(wr_str(g->producer_name, &m->producer_name, err));
    PQ_TRY(wr_str(g->producer_version, &m->producer_version, err));
    PQ_TRY(wr_str(g->domain, &m->domain, err));
    PQ_TRY(wr_str(g->doc_string, &m->doc_string, err));
    if (g->model_version) {
        m->has_model_version = 1;
        m->model_version = g->model_version;
    }
    WR_ARRAY(m->metadata_props, g->n_metadata);
    for (int k = 0; k < g->n_metadata; k++) {
        Onnx__StringStringEntryProto *e;
        WR_NEW(e, onnx__string_string_entry_proto__init);
        m->metadata_props[m->n_metadata_props++] = e;
        PQ_TRY(wr_str(g->metadata[k].key, &e->key, err));
        PQ_TRY(wr_str(g->metadata[k].value, &e->value, err));
    }
    WR_ARRAY(m->functions, g->n_functions);
    for (int k = 0; k < g->n_functions; k++) {
        pq__onnx_alloc_failed_reset();
        Onnx__FunctionProto *f = onnx__function_proto__unpack(&pq__onnx_allocator,
                                                             g->function_lens[k],
                                                             g->functions[k]);
        PQ_CHECK(f || !pq__onnx_alloc_failed(), PQ_ERR_NOMEM, "out of memory");
        PQ_CHECK(f, PQ_ERR_INTERNAL, "stored model-local function #%d does not parse", k);
        m->functions[m->n_functions++] = f;
    }
    Onnx__GraphProto *gp;
    WR_NEW(gp, onnx__graph_proto__init);
    m->graph = gp;
    PQ_TRY(write_graph(c, g, gp, err));
    return PQ_OK;
fail:
    return st;
}

pq_status pq_onnx_serialize(const pq_graph *g, uint8_t **buf, size_t *len, pq_err *err)
{
    pq_status st = PQ_OK;
    wr_ctx c = {{{0}}};
    Onnx__ModelProto *m = NULL;
    uint8_t *out = NULL;
    *buf = NULL;
    *len = 0;
    WR_NEW(m, onnx__model_proto__init);
    PQ_TRY(write_model(&c, g, m, err));
    size_t n = onnx__model_proto__get_packed_size(m);
    out = pq_malloc(n ? n : 1);
    PQ_CHECK(out, PQ_ERR_NOMEM, "out of memory serializing a model of %zu bytes", n);
    PQ_CHECK(onnx__model_proto__pack(m, out) == n, PQ_ERR_INTERNAL,
             "protobuf-c packed a different size than it measured");
    *buf = out;
    *len = n;
    out = NULL;
fail:
    pq__onnx_free_built(m ? &m->base : NULL, &c.b);
    pq_free(out);
    return st;
}

pq_status pq_onnx_save(const pq_graph *g, const char *path, pq_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    pq_status st = pq_onnx_serialize(g, &buf, &len, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "%s", path);
        return st;
    }
    st = pq__onnx_write_file_atomic(path, buf, len, err);
    pq_free(buf);
    return st;
}
