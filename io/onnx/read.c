/* read.c - ONNX ModelProto -> graph IR.
 *
 * The file is checked at the wire level first (bounded nesting, complete fields, byte
 * offsets in messages), unpacked with protobuf-c, converted, and the message freed: no
 * Onnx__ type outlives pq_onnx_load_buffer.
 *
 * Names: every node, initializer and graph input/output is resolved by name. A node input
 * may name a value of an enclosing graph (If/Loop/Scan bodies); the op then reads the
 * enclosing graph's variable directly, as the IR allows. Node names that are empty get
 * "<op_type>_<index>"; duplicate names get a "_<k>" suffix (with a warning).
 */
#include "onnx_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct rd_ctx {
    const Onnx__ModelProto *model;
    const char *base_dir; /* for external data; may be NULL */
    int depth;            /* subgraph nesting */
} rd_ctx;

static const char *attr_type_name(int t)
{
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED: return "UNDEFINED";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "FLOAT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "INT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return "SPARSE_TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return "TYPE_PROTO";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "INTS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return "GRAPHS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return "SPARSE_TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return "TYPE_PROTOS";
    default: return NULL;
    }
}

static int64_t model_opset(const Onnx__ModelProto *m, const char *domain)
{
    const char *d = (!domain || strcmp(domain, "ai.onnx") == 0) ? "" : domain;
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const char *od = m->opset_import[k]->domain;
        if (!od || strcmp(od, "ai.onnx") == 0) od = "";
        if (strcmp(od, d) == 0) return m->opset_import[k]->version;
    }
    return -1;
}

/* Whether two opset domains differ ("" and "ai.onnx" are the same). */
static int model_opset_domain_differs(const char *a, const char *b)
{
    if (!a || strcmp(a, "ai.onnx") == 0) a = "";
    if (!b || strcmp(b, "ai.onnx") == 0) b = "";
    return strcmp(a, b) != 0;
}

static pq_status dup_str(const char *s, char **out, pq_err *err)
{
    pq_free(*out);
    *out = NULL;
    if (!s) return PQ_OK;
    *out = pq_strdup(s);
    return *out ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
}

/* Packs any message into a new pq_malloc'd buffer. */
static pq_status pack_message(const ProtobufCMessage *m, uint8_t **out, size_t *len,
                              pq_err *err)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = pq_malloc(n ? n : 1);
    if (!b) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory serializing %zu bytes", n);
    if (protobuf_c_message_pack(m, b) != n) {
        pq_free(b);
        return pq_err_set(err, PQ_ERR_INTERNAL, "protobuf-c packed a different size");
    }
    *out = b;
    *len = n;
    return PQ_OK;
}

/* ------------------------------------------------------------------ value info */

/* Applies a ValueInfoProto's type (and doc string) to var. `what` names it in messages. */
static pq_status apply_value_info(pq_var *var, const Onnx__ValueInfoProto *vi, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(dup_str(vi->doc_string, &var->doc_string, err));
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) return PQ_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        /* sequence, map, optional, sparse tensor: kept serialized for the writer. */
        PQ_CHECK(!var->value, PQ_ERR_FORMAT, "'%s' has an initializer but a non-tensor type",
                 var->name);
        pq_free(var->type_opaque);
        var->type_opaque = NULL;
        PQ_TRY(pack_message(&tp->base, &var->type_opaque, &var->type_opaque_len, err));
        var->kind = PQ_VALUE_OTHER;
        var->dtype = PQ_DTYPE_UNDEFINED;
        var->rank = -1;
        return PQ_OK;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    pq_dtype dt = PQ_DTYPE_UNDEFINED;
    if (tt->has_elem_type) {
        PQ_CHECK(tt->elem_type >= 0 && tt->elem_type < PQ_DTYPE_COUNT, PQ_ERR_UNSUPPORTED,
                 "'%s' has element type %d, which is not a known ONNX tensor type", var->name,
                 (int)tt->elem_type);
        dt = (pq_dtype)tt->elem_type;
    }
    int rank = -1;
    int64_t dims[PQ_MAX_RANK];
    const char *params[PQ_MAX_RANK] = {0};
    if (tt->shape) {
        PQ_CHECK(tt->shape->n_dim <= PQ_MAX_RANK, PQ_ERR_UNSUPPORTED,
                 "'%s' has rank %zu, more than the maximum %d", var->name, tt->shape->n_dim,
                 PQ_MAX_RANK);
        rank = (int)tt->shape->n_dim;
        for (int k = 0; k < rank; k++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
            dims[k] = -1;
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                PQ_CHECK(d->dim_value >= 0, PQ_ERR_FORMAT,
                         "'%s' has negative dimension %" PRId64 " at axis %d", var->name,
                         d->dim_value, k);
                dims[k] = d->dim_value;
            } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
                params[k] = d->dim_param;
            }
        }
    }
    if (var->value) {
        /* A graph input with an initializer: the declared type must agree with the value. */
        PQ_CHECK(dt == PQ_DTYPE_UNDEFINED || dt == var->value->dtype, PQ_ERR_FORMAT,
                 "'%s' is declared %s but its initializer is %s", var->name, pq_dtype_name(dt),
                 pq_dtype_name(var->value->dtype));
        if (dt == PQ_DTYPE_UNDEFINED) dt = var->value->dtype;
    }
    var->kind = PQ_VALUE_TENSOR;
    var->dtype = dt;
    var->rank = rank;
    for (int k = 0; k < PQ_MAX_RANK; k++) {
        pq_free(var->dim_params[k]);
        var->dim_params[k] = NULL;
        var->dims[k] = k < rank ? dims[k] : 0;
        if (k < rank && params[k]) {
            var->dim_params[k] = pq_strdup(params[k]);
            PQ_CHECK(var->dim_params[k], PQ_ERR_NOMEM, "out of memory");
        }
    }
    return PQ_OK;
fail:
    return st;
}

/* ------------------------------------------------------------------ attributes */

static pq_status read_graph(rd_ctx *c, Onnx__GraphProto *gp, pq_graph *parent,
                            pq_graph **out, pq_err *err);

/* The attribute type a pre-IR-v2 AttributeProto (no `type` field) implies. */
static int infer_attr_type(const Onnx__AttributeProto *ap)
{
    if (ap->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (ap->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (ap->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (ap->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (ap->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (ap->sparse_tensor) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR;
    if (ap->tp) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO;
    if (ap->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (ap->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (ap->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (ap->n_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
    if (ap->n_graphs) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    if (ap->n_sparse_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS;
    if (ap->n_type_protos) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

/* The value kind (other than `declared`) that ap holds, or NULL when it holds none. */
static const char *conflicting_value(const Onnx__AttributeProto *ap, int declared)
{
#define PQ_HOLDS(cond, T)                                                        \
    if ((cond) && declared != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__##T) return #T;
    PQ_HOLDS(ap->has_f, FLOAT)
    PQ_HOLDS(ap->has_i, INT)
    PQ_HOLDS(ap->has_s, STRING)
    PQ_HOLDS(ap->t, TENSOR)
    PQ_HOLDS(ap->g, GRAPH)
    PQ_HOLDS(ap->sparse_tensor, SPARSE_TENSOR)
    PQ_HOLDS(ap->tp, TYPE_PROTO)
    PQ_HOLDS(ap->n_floats, FLOATS)
    PQ_HOLDS(ap->n_ints, INTS)
    PQ_HOLDS(ap->n_strings, STRINGS)
    PQ_HOLDS(ap->n_tensors, TENSORS)
    PQ_HOLDS(ap->n_graphs, GRAPHS)
    PQ_HOLDS(ap->n_sparse_tensors, SPARSE_TENSORS)
    PQ_HOLDS(ap->n_type_protos, TYPE_PROTOS)
#undef PQ_HOLDS
    return NULL;
}

/* Converts one attribute into *a (zeroed first); on failure *a is cleared. `g` is the
 * graph of the op (parent of any subgraph). Messages start with "attribute 'name'". */
static pq_status read_attr(rd_ctx *c, pq_graph *g, const Onnx__AttributeProto *ap, int index,
                           pq_attr *a, pq_err *err)
{
    pq_status st = PQ_OK;
    memset(a, 0, sizeof *a);
    const char *an = ap->name ? ap->name : "";
    PQ_CHECK(an[0], PQ_ERR_FORMAT, "attribute #%d has no name", index);
    int type = ap->has_type ? (int)ap->type : infer_attr_type(ap);
    PQ_CHECK(attr_type_name(type), PQ_ERR_FORMAT, "attribute '%s' has unknown type %d", an,
             type);
    const char *other = conflicting_value(ap, type);
    PQ_CHECK(!other, PQ_ERR_FORMAT, "attribute '%s' is declared %s but holds a %s value", an,
             attr_type_name(type), other);
    a->name = pq_strdup(an);
    PQ_CHECK(a->name, PQ_ERR_NOMEM, "out of memory");
    PQ_TRY(dup_str(ap->ref_attr_name, &a->ref_attr_name, err));
    PQ_TRY(dup_str(ap->doc_string, &a->doc_string, err));
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED:
        a->type = PQ_ATTR_UNDEFINED;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        a->type = PQ_ATTR_FLOAT;
        a->f = ap->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        a->type = PQ_ATTR_INT;
        a->i = ap->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = PQ_ATTR_STRING;
        a->s = pq__onnx_strndup(ap->s.data, ap->s.len);
        PQ_CHECK(a->s, PQ_ERR_NOMEM, "out of memory");
        a->s_len = ap->s.len;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        a->type = PQ_ATTR_TENSOR;
        PQ_CHECK(ap->t || ap->ref_attr_name, PQ_ERR_FORMAT,
                 "attribute '%s' is declared TENSOR but has no tensor", an);
        if (ap->t) {
            st = pq__onnx_tensor_from_proto(ap->t, c->base_dir, &a->t, err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "attribute '%s'", an);
                goto fail;
            }
        }
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
        a->type = PQ_ATTR_GRAPH;
        PQ_CHECK(ap->g || ap->ref_attr_name, PQ_ERR_FORMAT,
                 "attribute '%s' is declared GRAPH but has no graph", an);
        if (ap->g) {
            st = read_graph(c, ap->g, g, &a->g, err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "attribute '%s'", an);
                goto fail;
            }
        }
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = PQ_ATTR_FLOATS;
        a->n = (int64_t)ap->n_floats;
        a->floats = pq_malloc(ap->n_floats ? ap->n_floats * sizeof(float) : 1);
        PQ_CHECK(a->floats, PQ_ERR_NOMEM, "out of memory");
        if (ap->n_floats) memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = PQ_ATTR_INTS;
        a->n = (int64_t)ap->n_ints;
        a->ints = pq_malloc(ap->n_ints ? ap->n_ints * sizeof(int64_t) : 1);
        PQ_CHECK(a->ints, PQ_ERR_NOMEM, "out of memory");
        if (ap->n_ints) memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        a->type = PQ_ATTR_STRINGS;
        a->strings = pq_calloc(ap->n_strings ? ap->n_strings : 1, sizeof *a->strings);
        a->string_lens = pq_calloc(ap->n_strings ? ap->n_strings : 1, sizeof *a->string_lens);
        PQ_CHECK(a->strings && a->string_lens, PQ_ERR_NOMEM, "out of memory");
        a->n = (int64_t)ap->n_strings;
        for (size_t k = 0; k < ap->n_strings; k++) {
            a->strings[k] = pq__onnx_strndup(ap->strings[k].data, ap->strings[k].len);
            PQ_CHECK(a->strings[k], PQ_ERR_NOMEM, "out of memory");
            a->string_lens[k] = ap->strings[k].len;
        }
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
        a->type = PQ_ATTR_TENSORS;
        a->tensors = pq_calloc(ap->n_tensors ? ap->n_tensors : 1, sizeof *a->tensors);
        PQ_CHECK(a->tensors, PQ_ERR_NOMEM, "out of memory");
        a->n = (int64_t)ap->n_tensors;
        for (size_t k = 0; k < ap->n_tensors; k++) {
            st = pq__onnx_tensor_from_proto(ap->tensors[k], c->base_dir, &a->tensors[k], err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "attribute '%s' tensor #%zu", an, k);
                goto fail;
            }
        }
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        a->type = PQ_ATTR_GRAPHS;
        a->graphs = pq_calloc(ap->n_graphs ? ap->n_graphs : 1, sizeof *a->graphs);
        PQ_CHECK(a->graphs, PQ_ERR_NOMEM, "out of memory");
        a->n = (int64_t)ap->n_graphs;
        for (size_t k = 0; k < ap->n_graphs; k++) {
            st = read_graph(c, ap->graphs[k], g, &a->graphs[k], err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "attribute '%s' graph #%zu", an, k);
                goto fail;
            }
        }
        break;
    default:
        /* SPARSE_TENSOR(S), TYPE_PROTO(S): not interpreted, kept serialized. */
        a->type = PQ_ATTR_OPAQUE;
        PQ_TRY(pack_message(&ap->base, &a->opaque, &a->opaque_len, err));
        break;
    }
    return PQ_OK;
fail:
    pq_attr_clear(a);
    return st;
}

/* ------------------------------------------------------------------ graphs */

/* The variable `name` as seen from g: g's own, or an enclosing graph's. */
static pq_var *resolve(pq_graph *g, const char *name)
{
    for (pq_graph *s = g; s; s = s->parent) {
        pq_var *v = pq_graph_find_var(s, name);
        if (v) return v;
    }
    return NULL;
}

/* Picks the op name for node `index`: its own when free, else a generated unique one.
 * `claimed` holds every non-empty node name of the graph. */
static pq_status node_name(pq_graph *g, const pq_strmap *claimed, const Onnx__NodeProto *np,
                           size_t index, char **out, pq_err *err)
{
    const char *given = np->name && np->name[0] ? np->name : NULL;
    *out = NULL;
    if (given && !pq_graph_find_op(g, given)) {
        *out = pq_strdup(given);
        return *out ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    }
    char base[160];
    if (given)
        snprintf(base, sizeof base, "%s", given);
    else
        snprintf(base, sizeof base, "%s_%zu", np->op_type, index);
    size_t cap = strlen(base) + 32;
    char *name = pq_malloc(cap);
    if (!name) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    snprintf(name, cap, "%s", base);
    /* A generated name must not take a name that a later node carries. */
    for (int64_t k = 1; given || pq_graph_find_op(g, name) || pq_strmap_get(claimed, name); k++) {
        snprintf(name, cap, "%s_%" PRId64, base, k);
        if (!pq_graph_find_op(g, name) && !pq_strmap_get(claimed, name)) break;
    }
    if (given)
        pq_log(PQ_LOG_WARN, "node name '%s' is used twice; renamed the second to '%s'", given,
               name);
    *out = name;
    return PQ_OK;
}

static pq_status read_graph(rd_ctx *c, Onnx__GraphProto *gp, pq_graph *parent,
                            pq_graph **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_graph *g = NULL;
    pq_strmap claimed = {0};
    char *opname = NULL;
    *out = NULL;
    PQ_CHECK(c->depth < PQ_ONNX_MAX_DEPTH, PQ_ERR_FORMAT, "subgraphs nest too deep");
    c->depth++;
    PQ_TRY(pq_graph_create(gp->name, &g, err));
    g->parent = parent;
    PQ_TRY(dup_str(gp->doc_string, &g->graph_doc_string, err));
    PQ_CHECK(gp->n_sparse_initializer == 0, PQ_ERR_UNSUPPORTED,
             "graph '%s': sparse initializers are not supported", g->name);
    if (gp->n_quantization_annotation)
        pq_log(PQ_LOG_WARN, "graph '%s': %zu quantization annotations are ignored", g->name,
               gp->n_quantization_annotation);

    /* Initializers. */
    for (size_t k = 0; k < gp->n_initializer; k++) {
        Onnx__TensorProto *tp = gp->initializer[k];
        const char *name = tp->name ? tp->name : "";
        pq_tensor *t = NULL;
        pq_var *v = NULL;
        PQ_CHECK(name[0], PQ_ERR_FORMAT, "initializer #%zu has no name", k);
        PQ_CHECK(!pq_graph_find_var(g, name), PQ_ERR_FORMAT,
                 "initializer '%s' appears twice", name);
        st = pq__onnx_tensor_from_proto(tp, c->base_dir, &t, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "initializer '%s'", name);
            goto fail;
        }
        PQ_TRY(pq_graph_create_parameter(g, name, t, &v, err));
        /* The message is ours: drop the copied bytes now, so that a large model is not held
         * twice while it is converted. */
        if (tp->has_raw_data) {
            pq_free(tp->raw_data.data);
            tp->raw_data.data = NULL;
            tp->raw_data.len = 0;
        }
    }

    /* Graph inputs (possibly also initializers). */
    for (size_t k = 0; k < gp->n_input; k++) {
        const Onnx__ValueInfoProto *vi = gp->input[k];
        const char *name = vi->name ? vi->name : "";
        PQ_CHECK(name[0], PQ_ERR_FORMAT, "graph input #%zu has no name", k);
        pq_var *v = pq_graph_find_var(g, name);
        PQ_CHECK(!v || !pq_graph_is_input(g, v), PQ_ERR_FORMAT,
                 "graph input '%s' appears twice", name);
        if (!v) PQ_TRY(pq_graph_create_var(g, name, &v, err));
        st = apply_value_info(v, vi, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "graph input '%s'", name);
            goto fail;
        }
        PQ_TRY(pq_graph_mark_input(g, v, err));
    }

    /* Pass 1: every node becomes an op with its outputs, so that names are known before any
     * input (or a subgraph reading this scope) is resolved. */
    for (size_t k = 0; k < gp->n_node; k++) {
        const char *nn = gp->node[k]->name;
        if (nn && nn[0] && !pq_strmap_get(&claimed, nn))
            PQ_TRY(pq_strmap_put(&claimed, nn, (void *)gp->node[k], err));
    }
    for (size_t k = 0; k < gp->n_node; k++) {
        const Onnx__NodeProto *np = gp->node[k];
        PQ_CHECK(np->op_type && np->op_type[0], PQ_ERR_FORMAT,
                 "graph '%s': node #%zu ('%s') has no op_type", g->name, k,
                 np->name ? np->name : "");
        PQ_TRY(node_name(g, &claimed, np, k, &opname, err));
        int64_t ov = model_opset(c->model, np->domain);
        pq_op *op = NULL;
        PQ_TRY(pq_graph_create_op(g, np->op_type, opname, np->domain,
                                  ov > 0 && ov <= INT32_MAX ? (int)ov : 0, &op, err));
        pq_free(opname);
        opname = NULL;
        PQ_TRY(dup_str(np->doc_string, &op->doc_string, err));
        for (size_t o = 0; o < np->n_output; o++) {
            const char *name = np->output[o];
            pq_var *v = NULL;
            if (name && name[0]) {
                v = pq_graph_find_var(g, name);
                if (v) {
                    if (v->source_op)
                        PQ_CHECK(0, PQ_ERR_FORMAT,
                                 "node '%s' (%s): output '%s' is already produced by node "
                                 "'%s' (%s)", op->name, op->type, name, v->source_op->name,
                                 v->source_op->type);
                    PQ_CHECK(0, PQ_ERR_FORMAT, "node '%s' (%s): output '%s' is already %s",
                             op->name, op->type, name,
                             v->value ? "an initializer" : "a graph input");
                }
                PQ_TRY(pq_graph_create_var(g, name, &v, err));
            }
            PQ_TRY(pq_graph_add_output(g, op, v, err));
        }
    }

    /* Pass 2: inputs and attributes (subgraphs see every name of this graph). */
    for (size_t k = 0; k < gp->n_node; k++) {
        const Onnx__NodeProto *np = gp->node[k];
        pq_op *op = g->ops.items[k];
        for (size_t i = 0; i < np->n_input; i++) {
            const char *name = np->input[i];
            pq_var *v = NULL;
            if (name && name[0]) {
                v = resolve(g, name);
                PQ_CHECK(v, PQ_ERR_FORMAT,
                         "node '%s' (%s): input '%s' is not produced by any node, initializer "
                         "or graph input%s", op->name, op->type, name,
                         parent ? " (here or in an enclosing graph)" : "");
            }
            PQ_TRY(pq_graph_add_input(g, op, v, err));
        }
        for (size_t a = 0; a < np->n_attribute; a++) {
            const char *an = np->attribute[a]->name;
            for (size_t b = 0; an && b < a; b++) {
                const char *bn = np->attribute[b]->name;
                PQ_CHECK(!bn || strcmp(an, bn) != 0, PQ_ERR_FORMAT,
                         "node '%s' (%s): attribute '%s' appears twice", op->name, op->type, an);
            }
            pq_attr at;
            st = read_attr(c, g, np->attribute[a], (int)a, &at, err);
            if (st == PQ_OK) st = pq_op_add_attr(op, &at, err);
            if (st != PQ_OK) {
                pq_err_prefix(err, "node '%s' (%s)", op->name, op->type);
                goto fail;
            }
        }
    }

    /* Graph outputs. A subgraph may output a value of an enclosing graph: it gets a
     * variable of the same name here (graph outputs must belong to their graph). */
    for (size_t k = 0; k < gp->n_output; k++) {
        const Onnx__ValueInfoProto *vi = gp->output[k];
        const char *name = vi->name ? vi->name : "";
        PQ_CHECK(name[0], PQ_ERR_FORMAT, "graph output #%zu has no name", k);
        pq_var *v = pq_graph_find_var(g, name);
        if (!v) {
            PQ_CHECK(parent && resolve(parent, name), PQ_ERR_FORMAT,
                     "graph output '%s' is not produced by any node, initializer or graph "
                     "input", name);
            PQ_TRY(pq_graph_create_var(g, name, &v, err));
        }
        PQ_CHECK(!pq_graph_is_output(g, v), PQ_ERR_FORMAT, "graph output '%s' appears twice",
                 name);
        st = apply_value_info(v, vi, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "graph output '%s'", name);
            goto fail;
        }
        PQ_TRY(pq_graph_mark_output(g, v, err));
    }

    /* value_info: intermediate types and shapes. An entry naming nothing of this graph is
     * kept on a variable of its own so that it round-trips. */
    for (size_t k = 0; k < gp->n_value_info; k++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[k];
        const char *name = vi->name ? vi->name : "";
        PQ_CHECK(name[0], PQ_ERR_FORMAT, "value_info #%zu has no name", k);
        pq_var *v = pq_graph_find_var(g, name);
        if (!v) PQ_TRY(pq_graph_create_var(g, name, &v, err));
        st = apply_value_info(v, vi, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "value_info '%s'", name);
            goto fail;
        }
        v->has_value_info = 1;
    }
    pq_strmap_free(&claimed);
    c->depth--;
    *out = g;
    return PQ_OK;
fail:
    c->depth--;
    pq_free(opname);
    pq_strmap_free(&claimed);
    pq_graph_destroy(&g);
    return st;
}

/* ------------------------------------------------------------------ models */

static pq_status read_model(Onnx__ModelProto *m, const char *base_dir, pq_graph **out,
                            pq_err *err)
{
    pq_status st = PQ_OK;
    pq_graph *g = NULL;
    rd_ctx c = {m, base_dir, 0};
    *out = NULL;
    PQ_CHECK(m->graph, PQ_ERR_FORMAT, "the model has no graph");
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[k];
        const char *d = o->domain ? o->domain : "";
        for (size_t j = 0; j < k; j++) {
            const char *dj = m->opset_import[j]->domain;
            PQ_CHECK(model_opset_domain_differs(d, dj), PQ_ERR_FORMAT,
                     "opset_import lists domain '%s' twice", d);
        }
        PQ_CHECK(o->version >= 0, PQ_ERR_FORMAT, "opset_import of domain '%s' has version %"
                 PRId64, d, o->version);
    }
    if (m->n_training_info)
        pq_log(PQ_LOG_WARN, "the model's %zu training_info entries are ignored",
               m->n_training_info);
    PQ_TRY(read_graph(&c, m->graph, NULL, &g, err));
    g->ir_version = m->has_ir_version ? m->ir_version : 0;
    for (size_t k = 0; k < m->n_opset_import; k++)
        PQ_TRY(pq_graph_set_opset(g, m->opset_import[k]->domain, m->opset_import[k]->version,
                                  err));
    PQ_TRY(dup_str(m->producer_name, &g->producer_name, err));
    PQ_TRY(dup_str(m->producer_version, &g->producer_version, err));
    PQ_TRY(dup_str(m->domain, &g->domain, err));
    PQ_TRY(dup_str(m->doc_string, &g->doc_string, err));
    g->model_version = m->has_model_version ? m->model_version : 0;
    for (size_t k = 0; k < m->n_metadata_props; k++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[k];
        PQ_TRY(pq_graph_set_metadata(g, e->key ? e->key : "", e->value ? e->value : "", err));
    }
    if (m->n_functions) {
        g->functions = pq_calloc(m->n_functions, sizeof *g->functions);
        g->function_lens = pq_calloc(m->n_functions, sizeof *g->function_lens);
        PQ_CHECK(g->functions && g->function_lens, PQ_ERR_NOMEM, "out of memory");
        for (size_t k = 0; k < m->n_functions; k++) {
            PQ_TRY(pack_message(&m->functions[k]->base, &g->functions[k], &g->function_lens[k],
                                err));
            g->n_functions = (int)k + 1;
        }
    }
    *out = g;
    return PQ_OK;
fail:
    pq_graph_destroy(&g);
    return st;
}

/* Loads a model from buf; `owned` (may be NULL) is buf itself when the caller gives it up:
 * it is freed as soon as protobuf-c has copied what it needs, before the conversion. */
static pq_status load_model(const uint8_t *buf, size_t len, uint8_t *owned, const char *name,
                            const char *base_dir, pq_graph **out, pq_err *err)
{
    pq_status st = PQ_OK;
    Onnx__ModelProto *m = NULL;
    *out = NULL;
    PQ_CHECK(buf || len == 0, PQ_ERR_INVALID, "%s: no data", name);
    PQ_CHECK(len > 0, PQ_ERR_FORMAT, "%s: empty file", name);
    st = pq__onnx_check_wire(&onnx__model_proto__descriptor, buf, len, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "%s: not a valid ONNX model", name);
        goto fail;
    }
    pq__onnx_alloc_failed_reset();
    m = onnx__model_proto__unpack(&pq__onnx_allocator, len, buf);
    pq_free(owned);
    owned = NULL;
    PQ_CHECK(m || !pq__onnx_alloc_failed(), PQ_ERR_NOMEM, "%s: out of memory parsing %zu bytes",
             name, len);
    PQ_CHECK(m, PQ_ERR_FORMAT, "%s: not a valid ONNX model (protobuf-c cannot parse it as "
             "onnx.ModelProto)", name);
    st = read_model(m, base_dir, out, err);
    if (st != PQ_OK) pq_err_prefix(err, "%s", name);
fail:
    pq_free(owned);
    if (m) protobuf_c_message_free_unpacked(&m->base, &pq__onnx_allocator);
    return st;
}

pq_status pq_onnx_load_buffer(const uint8_t *buf, size_t len, const char *name,
                              const char *base_dir, pq_graph **out, pq_err *err)
{
    return load_model(buf, len, NULL, name ? name : "<buffer>", base_dir, out, err);
}

pq_status pq_onnx_load(const char *path, pq_graph **out, pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    char *dir = NULL;
    *out = NULL;
    const char *slash = strrchr(path, '/');
    dir = slash ? pq__onnx_strndup(path, slash == path ? 1 : (size_t)(slash - path))
                : pq_strdup(".");
    PQ_CHECK(dir, PQ_ERR_NOMEM, "%s: out of memory", path);
    PQ_TRY(pq__onnx_read_file(path, &buf, &len, err));
    st = load_model(buf, len, buf, path, dir, out, err); /* frees buf */
fail:
    pq_free(dir);
    return st;
}
