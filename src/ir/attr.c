/* attr.c - operation attributes, extension attributes and quantization configs. */
#include "pq_ir.h"

#include <string.h>

/* ------------------------------------------------------------------ attributes */

void pq_attr_clear(pq_attr *a)
{
    if (!a) return;
    pq_free(a->name);
    pq_free(a->s);
    pq_tensor_destroy(&a->t);
    pq_graph_destroy(&a->g);
    pq_free(a->floats);
    pq_free(a->ints);
    if (a->strings)
        for (int64_t k = 0; k < a->n; k++) pq_free(a->strings[k]);
    pq_free(a->strings);
    pq_free(a->string_lens);
    if (a->tensors)
        for (int64_t k = 0; k < a->n; k++) pq_tensor_destroy(&a->tensors[k]);
    pq_free(a->tensors);
    if (a->graphs)
        for (int64_t k = 0; k < a->n; k++) pq_graph_destroy(&a->graphs[k]);
    pq_free(a->graphs);
    pq_free(a->opaque);
    pq_free(a->ref_attr_name);
    pq_free(a->doc_string);
    memset(a, 0, sizeof *a);
}

static void *dup_bytes(const void *src, size_t n)
{
    void *d = pq_malloc(n ? n : 1);
    if (d && n) memcpy(d, src, n);
    return d;
}

static char *dup_sized_string(const char *s, size_t len)
{
    char *d = pq_malloc(len + 1);
    if (!d) return NULL;
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

pq_status pq_attr_copy(pq_attr *dst, const pq_attr *src, pq_err *err)
{
    pq_status st = PQ_OK;
    memset(dst, 0, sizeof *dst);
    dst->type = src->type;
    dst->f = src->f;
    dst->i = src->i;
    dst->n = src->n;
    dst->s_len = src->s_len;
    dst->opaque_len = src->opaque_len;
    int oom = 0;
    dst->name = pq_strdup(src->name);
    oom |= !dst->name;
    if (src->s) oom |= !(dst->s = dup_sized_string(src->s, src->s_len));
    if (src->ref_attr_name) oom |= !(dst->ref_attr_name = pq_strdup(src->ref_attr_name));
    if (src->doc_string) oom |= !(dst->doc_string = pq_strdup(src->doc_string));
    if (src->opaque) oom |= !(dst->opaque = dup_bytes(src->opaque, src->opaque_len));
    if (src->floats) oom |= !(dst->floats = dup_bytes(src->floats, (size_t)src->n * sizeof(float)));
    if (src->ints) oom |= !(dst->ints = dup_bytes(src->ints, (size_t)src->n * sizeof(int64_t)));
    PQ_CHECK(!oom, PQ_ERR_NOMEM, "out of memory copying attribute '%s'", src->name);
    if (src->t) PQ_TRY(pq_tensor_clone(src->t, &dst->t, err));
    if (src->g) PQ_TRY(pq_graph_copy(src->g, 1, &dst->g, err));
    if (src->strings) {
        dst->strings = pq_calloc((size_t)src->n + 1, sizeof(char *));
        dst->string_lens = pq_calloc((size_t)src->n + 1, sizeof(size_t));
        PQ_CHECK(dst->strings && dst->string_lens, PQ_ERR_NOMEM, "out of memory copying strings");
        for (int64_t k = 0; k < src->n; k++) {
            size_t len = src->string_lens ? src->string_lens[k] : strlen(src->strings[k]);
            dst->string_lens[k] = len;
            dst->strings[k] = dup_sized_string(src->strings[k], len);
            PQ_CHECK(dst->strings[k], PQ_ERR_NOMEM, "out of memory copying strings");
        }
    }
    if (src->tensors) {
        dst->tensors = pq_calloc((size_t)src->n + 1, sizeof(pq_tensor *));
        PQ_CHECK(dst->tensors, PQ_ERR_NOMEM, "out of memory copying tensors");
        for (int64_t k = 0; k < src->n; k++)
            PQ_TRY(pq_tensor_clone(src->tensors[k], &dst->tensors[k], err));
    }
    if (src->graphs) {
        dst->graphs = pq_calloc((size_t)src->n + 1, sizeof(pq_graph *));
        PQ_CHECK(dst->graphs, PQ_ERR_NOMEM, "out of memory copying graphs");
        for (int64_t k = 0; k < src->n; k++)
            PQ_TRY(pq_graph_copy(src->graphs[k], 1, &dst->graphs[k], err));
    }
    return PQ_OK;
fail:
    pq_attr_clear(dst);
    return st;
}

const pq_attr *pq_op_find_attr(const pq_op *op, const char *name)
{
    for (int k = 0; k < op->n_attrs; k++)
        if (strcmp(op->attrs[k].name, name) == 0) return &op->attrs[k];
    return NULL;
}

static const char *attr_type_name(pq_attr_type t)
{
    switch (t) {
    case PQ_ATTR_FLOAT: return "float";
    case PQ_ATTR_INT: return "int";
    case PQ_ATTR_STRING: return "string";
    case PQ_ATTR_TENSOR: return "tensor";
    case PQ_ATTR_GRAPH: return "graph";
    case PQ_ATTR_FLOATS: return "floats";
    case PQ_ATTR_INTS: return "ints";
    case PQ_ATTR_STRINGS: return "strings";
    case PQ_ATTR_TENSORS: return "tensors";
    case PQ_ATTR_GRAPHS: return "graphs";
    case PQ_ATTR_OPAQUE: return "opaque";
    default: return "undefined";
    }
}

static pq_status wrong_type(const pq_attr *a, const char *want, pq_err *err)
{
    return pq_err_set(err, PQ_ERR_INVALID, "attribute '%s' has type %s, expected %s", a->name,
                      attr_type_name(a->type), want);
}

pq_status pq_op_get_int(const pq_op *op, const char *name, int64_t dflt, int64_t *out,
                        pq_err *err)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    *out = dflt;
    if (!a) return PQ_OK;
    if (a->type != PQ_ATTR_INT) return wrong_type(a, "int", err);
    *out = a->i;
    return PQ_OK;
}

pq_status pq_op_get_float(const pq_op *op, const char *name, float dflt, float *out,
                          pq_err *err)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    *out = dflt;
    if (!a) return PQ_OK;
    if (a->type != PQ_ATTR_FLOAT) return wrong_type(a, "float", err);
    *out = a->f;
    return PQ_OK;
}

pq_status pq_op_get_string(const pq_op *op, const char *name, const char *dflt,
                           const char **out, pq_err *err)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    *out = dflt;
    if (!a) return PQ_OK;
    if (a->type != PQ_ATTR_STRING) return wrong_type(a, "string", err);
    *out = a->s ? a->s : "";
    return PQ_OK;
}

pq_status pq_op_get_ints(const pq_op *op, const char *name, const int64_t **out, int64_t *n,
                         pq_err *err)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    *out = NULL;
    *n = 0;
    if (!a) return PQ_OK;
    if (a->type != PQ_ATTR_INTS) return wrong_type(a, "ints", err);
    *out = a->ints;
    *n = a->n;
    return PQ_OK;
}

pq_status pq_op_get_floats(const pq_op *op, const char *name, const float **out, int64_t *n,
                           pq_err *err)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    *out = NULL;
    *n = 0;
    if (!a) return PQ_OK;
    if (a->type != PQ_ATTR_FLOATS) return wrong_type(a, "floats", err);
    *out = a->floats;
    *n = a->n;
    return PQ_OK;
}

pq_status pq_op_get_tensor(const pq_op *op, const char *name, const pq_tensor **out,
                           pq_err *err)
{
    const pq_attr *a = pq_op_find_attr(op, name);
    *out = NULL;
    if (!a) return PQ_OK;
    if (a->type != PQ_ATTR_TENSOR) return wrong_type(a, "tensor", err);
    *out = a->t;
    return PQ_OK;
}

int pq_op_remove_attr(pq_op *op, const char *name)
{
    for (int k = 0; k < op->n_attrs; k++) {
        if (strcmp(op->attrs[k].name, name) != 0) continue;
        pq_attr_clear(&op->attrs[k]);
        memmove(op->attrs + k, op->attrs + k + 1, (size_t)(op->n_attrs - k - 1) * sizeof *op->attrs);
        op->n_attrs--;
        return 1;
    }
    return 0;
}

pq_status pq_op_add_attr(pq_op *op, pq_attr *a, pq_err *err)
{
    if (!a->name) {
        pq_attr_clear(a);
        return pq_err_set(err, PQ_ERR_INVALID, "attribute without a name");
    }
    pq_op_remove_attr(op, a->name);
    pq_attr *attrs = pq_realloc(op->attrs, (size_t)(op->n_attrs + 1) * sizeof *attrs);
    if (!attrs) {
        pq_attr_clear(a);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory adding an attribute");
    }
    op->attrs = attrs;
    op->attrs[op->n_attrs++] = *a;
    memset(a, 0, sizeof *a);
    return PQ_OK;
}

/* Builds an attribute named `name` of type `type`; the caller fills the value. */
static pq_status attr_begin(pq_attr *a, const char *name, pq_attr_type type, pq_err *err)
{
    memset(a, 0, sizeof *a);
    a->name = pq_strdup(name);
    a->type = type;
    if (!a->name) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory naming an attribute");
    return PQ_OK;
}

pq_status pq_op_set_int(pq_op *op, const char *name, int64_t v, pq_err *err)
{
    pq_attr a;
    pq_status st = attr_begin(&a, name, PQ_ATTR_INT, err);
    if (st != PQ_OK) return st;
    a.i = v;
    return pq_op_add_attr(op, &a, err);
}

pq_status pq_op_set_float(pq_op *op, const char *name, float v, pq_err *err)
{
    pq_attr a;
    pq_status st = attr_begin(&a, name, PQ_ATTR_FLOAT, err);
    if (st != PQ_OK) return st;
    a.f = v;
    return pq_op_add_attr(op, &a, err);
}

pq_status pq_op_set_string(pq_op *op, const char *name, const char *v, pq_err *err)
{
    pq_attr a;
    pq_status st = attr_begin(&a, name, PQ_ATTR_STRING, err);
    if (st != PQ_OK) return st;
    a.s = pq_strdup(v);
    a.s_len = strlen(v);
    if (!a.s) {
        pq_attr_clear(&a);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory setting attribute '%s'", name);
    }
    return pq_op_add_attr(op, &a, err);
}

pq_status pq_op_set_ints(pq_op *op, const char *name, const int64_t *v, int64_t n, pq_err *err)
{
    pq_attr a;
    pq_status st = attr_begin(&a, name, PQ_ATTR_INTS, err);
    if (st != PQ_OK) return st;
    a.n = n;
    a.ints = dup_bytes(v, (size_t)n * sizeof *v);
    if (!a.ints) {
        pq_attr_clear(&a);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory setting attribute '%s'", name);
    }
    return pq_op_add_attr(op, &a, err);
}

pq_status pq_op_set_floats(pq_op *op, const char *name, const float *v, int64_t n, pq_err *err)
{
    pq_attr a;
    pq_status st = attr_begin(&a, name, PQ_ATTR_FLOATS, err);
    if (st != PQ_OK) return st;
    a.n = n;
    a.floats = dup_bytes(v, (size_t)n * sizeof *v);
    if (!a.floats) {
        pq_attr_clear(&a);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory setting attribute '%s'", name);
    }
    return pq_op_add_attr(op, &a, err);
}

pq_status pq_op_set_tensor(pq_op *op, const char *name, pq_tensor *t, pq_err *err)
{
    pq_attr a;
    pq_status st = attr_begin(&a, name, PQ_ATTR_TENSOR, err);
    if (st != PQ_OK) {
        pq_tensor_destroy(&t);
        return st;
    }
    a.t = t;
    return pq_op_add_attr(op, &a, err);
}

/* ------------------------------------------------------------------ extension attributes */

static pq_ext_attr *ext_slot(pq_op *op, const char *key, pq_err *err)
{
    for (int k = 0; k < op->n_ext; k++)
        if (strcmp(op->ext[k].key, key) == 0) return &op->ext[k];
    pq_ext_attr *ext = pq_realloc(op->ext, (size_t)(op->n_ext + 1) * sizeof *ext);
    if (!ext) {
        pq_err_set(err, PQ_ERR_NOMEM, "out of memory adding extension attribute '%s'", key);
        return NULL;
    }
    op->ext = ext;
    pq_ext_attr *e = &op->ext[op->n_ext];
    memset(e, 0, sizeof *e);
    e->key = pq_strdup(key);
    if (!e->key) {
        pq_err_set(err, PQ_ERR_NOMEM, "out of memory adding extension attribute '%s'", key);
        return NULL;
    }
    op->n_ext++;
    return e;
}

pq_status pq_op_set_ext_str(pq_op *op, const char *key, const char *v, pq_err *err)
{
    pq_ext_attr *e = ext_slot(op, key, err);
    if (!e) return PQ_ERR_NOMEM;
    char *s = pq_strdup(v);
    if (!s) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory setting '%s'", key);
    pq_free(e->s);
    e->s = s;
    return PQ_OK;
}

pq_status pq_op_set_ext_int(pq_op *op, const char *key, int64_t v, pq_err *err)
{
    pq_ext_attr *e = ext_slot(op, key, err);
    if (!e) return PQ_ERR_NOMEM;
    pq_free(e->s);
    e->s = NULL;
    e->i = v;
    return PQ_OK;
}

const char *pq_op_get_ext_str(const pq_op *op, const char *key)
{
    for (int k = 0; k < op->n_ext; k++)
        if (strcmp(op->ext[k].key, key) == 0) return op->ext[k].s;
    return NULL;
}

int64_t pq_op_get_ext_int(const pq_op *op, const char *key, int64_t dflt)
{
    for (int k = 0; k < op->n_ext; k++)
        if (strcmp(op->ext[k].key, key) == 0 && !op->ext[k].s) return op->ext[k].i;
    return dflt;
}

/* ------------------------------------------------------------------ op helpers */

pq_status pq_op_parameters(const pq_op *op, pq_ptrvec *out, pq_err *err)
{
    for (int k = 0; k < op->n_inputs; k++) {
        if (!op->inputs[k] || !op->inputs[k]->value) continue;
        pq_status st = pq_ptrvec_push(out, op->inputs[k], err);
        if (st != PQ_OK) return st;
    }
    return PQ_OK;
}

int pq_op_num_present_inputs(const pq_op *op)
{
    int n = 0;
    for (int k = 0; k < op->n_inputs; k++) n += op->inputs[k] != NULL;
    return n;
}

int pq_op_is(const pq_op *op, const char *type)
{
    return (op->domain[0] == '\0' || strcmp(op->domain, "ai.onnx") == 0) &&
           strcmp(op->type, type) == 0;
}

/* ------------------------------------------------------------------ quantization configs */

void pq_tqc_clear(pq_tqc *q)
{
    if (!q) return;
    pq_free(q->scale);
    pq_free(q->offset);
    memset(q, 0, sizeof *q);
}

pq_status pq_tqc_set_channels(pq_tqc *q, int64_t n_channels, pq_err *err)
{
    if (n_channels < 1)
        return pq_err_set(err, PQ_ERR_INVALID, "a TQC needs at least one channel, got %lld",
                          (long long)n_channels);
    float *scale = pq_calloc((size_t)n_channels, sizeof *scale);
    float *offset = pq_calloc((size_t)n_channels, sizeof *offset);
    if (!scale || !offset) {
        pq_free(scale);
        pq_free(offset);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory for %lld TQC channels",
                          (long long)n_channels);
    }
    pq_free(q->scale);
    pq_free(q->offset);
    q->scale = scale;
    q->offset = offset;
    q->n_channels = n_channels;
    return PQ_OK;
}

const pq_tqc *pq_tqc_resolve(const pq_tqc *q)
{
    /* Dominator chains are short; the bound guards against a cycle made by a bad pass. */
    for (int hops = 0; q && q->state == PQ_TQC_STATE_OVERLAPPED && q->dominator && hops < 64;
         hops++)
        q = q->dominator;
    return q;
}

int pq_tqc_next(const pq_graph *g, pq_tqc_iter *it, pq_tqc_slot *slot)
{
    for (; it->op < g->ops.n; it->op++, it->slot = 0) {
        const pq_op *op = g->ops.items[it->op];
        const pq_op_qconfig *qc = op->qconfig;
        if (!qc) continue;
        int n_in = qc->n_inputs < op->n_inputs ? qc->n_inputs : op->n_inputs;
        int n_out = qc->n_outputs < op->n_outputs ? qc->n_outputs : op->n_outputs;
        while (it->slot < n_in + n_out) {
            int s = it->slot++, out = s >= n_in, i = out ? s - n_in : s;
            const pq_var *v = out ? op->outputs[i] : op->inputs[i];
            if (!v) continue;
            *slot = (pq_tqc_slot){op, out, i, out ? &qc->outputs[i] : &qc->inputs[i], v};
            return 1;
        }
    }
    return 0;
}

void pq_op_qconfig_destroy(pq_op *op)
{
    pq_op_qconfig *c = op->qconfig;
    if (!c) return;
    for (int k = 0; k < c->n_inputs; k++) pq_tqc_clear(&c->inputs[k]);
    for (int k = 0; k < c->n_outputs; k++) pq_tqc_clear(&c->outputs[k]);
    pq_free(c->inputs);
    pq_free(c->outputs);
    pq_free(c);
    op->qconfig = NULL;
}

pq_status pq_op_qconfig_create(pq_op *op, pq_err *err)
{
    pq_op_qconfig *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a quantization config");
    c->n_inputs = op->n_inputs;
    c->n_outputs = op->n_outputs;
    c->inputs = pq_calloc((size_t)op->n_inputs + 1, sizeof *c->inputs);
    c->outputs = pq_calloc((size_t)op->n_outputs + 1, sizeof *c->outputs);
    if (!c->inputs || !c->outputs) {
        pq_free(c->inputs);
        pq_free(c->outputs);
        pq_free(c);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a quantization config");
    }
    for (int k = 0; k < c->n_inputs; k++) c->inputs[k].state = PQ_TQC_STATE_FP32;
    for (int k = 0; k < c->n_outputs; k++) c->outputs[k].state = PQ_TQC_STATE_FP32;
    pq_op_qconfig_destroy(op);
    op->qconfig = c;
    return PQ_OK;
}
