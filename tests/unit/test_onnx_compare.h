/* test_onnx_compare.h - deep comparison of two graphs for the io/onnx round-trip tests:
 * ops in order (name, type, domain, opset, inputs, outputs, attributes including
 * subgraphs), variables by name (value bytes, dtype, shape, symbolic dims, value info,
 * opaque types), graph inputs/outputs in order, and the model-level fields.
 * Header-only (static functions) so each test file is still one executable. */
#ifndef PQ_TEST_ONNX_COMPARE_H
#define PQ_TEST_ONNX_COMPARE_H

#include "pq_ir.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Writes the first difference into why (cap bytes); returns 0 when equal. */
static inline int cmp_fail(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int cmp_fail(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return 1;
}

static inline int cmp_str(const char *a, const char *b)
{
    if (!a) a = "";
    if (!b) b = "";
    return strcmp(a, b);
}

static inline int cmp_tensor(const pq_tensor *a, const pq_tensor *b, char *why, size_t cap)
{
    if (!a || !b) return (a || b) ? cmp_fail(why, cap, "tensor present on one side only") : 0;
    if (a->dtype != b->dtype) return cmp_fail(why, cap, "dtype %d vs %d", a->dtype, b->dtype);
    if (a->rank != b->rank) return cmp_fail(why, cap, "rank %d vs %d", a->rank, b->rank);
    for (int k = 0; k < a->rank; k++)
        if (a->dims[k] != b->dims[k]) return cmp_fail(why, cap, "dim %d differs", k);
    if (a->dtype == PQ_DTYPE_STRING) {
        for (int64_t i = 0; i < a->numel; i++)
            if (strcmp(((char **)a->data)[i], ((char **)b->data)[i]) != 0)
                return cmp_fail(why, cap, "string element %" PRId64 " differs", i);
        return 0;
    }
    if (a->nbytes != b->nbytes) return cmp_fail(why, cap, "byte sizes differ");
    if (a->nbytes && memcmp(a->data, b->data, a->nbytes) != 0)
        return cmp_fail(why, cap, "tensor bytes differ");
    return 0;
}

static inline int cmp_graph(const pq_graph *a, const pq_graph *b, char *why, size_t cap);

static inline int cmp_attr(const pq_attr *a, const pq_attr *b, char *why, size_t cap)
{
    if (cmp_str(a->name, b->name)) return cmp_fail(why, cap, "name '%s' vs '%s'", a->name, b->name);
    if (a->type != b->type) return cmp_fail(why, cap, "'%s': type %d vs %d", a->name, a->type, b->type);
    if (cmp_str(a->ref_attr_name, b->ref_attr_name) || cmp_str(a->doc_string, b->doc_string))
        return cmp_fail(why, cap, "'%s': ref_attr_name/doc_string differ", a->name);
    switch (a->type) {
    case PQ_ATTR_FLOAT:
        if (memcmp(&a->f, &b->f, sizeof a->f)) return cmp_fail(why, cap, "'%s': %g vs %g", a->name, a->f, b->f);
        return 0;
    case PQ_ATTR_INT:
        if (a->i != b->i) return cmp_fail(why, cap, "'%s': %" PRId64 " vs %" PRId64, a->name, a->i, b->i);
        return 0;
    case PQ_ATTR_STRING:
        if (a->s_len != b->s_len || memcmp(a->s, b->s, a->s_len))
            return cmp_fail(why, cap, "'%s': strings differ", a->name);
        return 0;
    case PQ_ATTR_TENSOR:
        if (cmp_tensor(a->t, b->t, why, cap)) return 1;
        return 0;
    case PQ_ATTR_GRAPH:
        if (!a->g || !b->g) return (a->g || b->g) ? cmp_fail(why, cap, "'%s': graph missing", a->name) : 0;
        return cmp_graph(a->g, b->g, why, cap);
    case PQ_ATTR_OPAQUE:
        if (a->opaque_len != b->opaque_len || memcmp(a->opaque, b->opaque, a->opaque_len))
            return cmp_fail(why, cap, "'%s': opaque bytes differ", a->name);
        return 0;
    default:
        break;
    }
    if (a->n != b->n) return cmp_fail(why, cap, "'%s': %" PRId64 " vs %" PRId64 " elements", a->name, a->n, b->n);
    for (int64_t k = 0; k < a->n; k++) {
        switch (a->type) {
        case PQ_ATTR_FLOATS:
            if (memcmp(&a->floats[k], &b->floats[k], sizeof(float)))
                return cmp_fail(why, cap, "'%s'[%" PRId64 "] differs", a->name, k);
            break;
        case PQ_ATTR_INTS:
            if (a->ints[k] != b->ints[k]) return cmp_fail(why, cap, "'%s'[%" PRId64 "] differs", a->name, k);
            break;
        case PQ_ATTR_STRINGS:
            if (a->string_lens[k] != b->string_lens[k] ||
                memcmp(a->strings[k], b->strings[k], a->string_lens[k]))
                return cmp_fail(why, cap, "'%s'[%" PRId64 "] differs", a->name, k);
            break;
        case PQ_ATTR_TENSORS:
            if (cmp_tensor(a->tensors[k], b->tensors[k], why, cap)) return 1;
            break;
        case PQ_ATTR_GRAPHS:
            if (cmp_graph(a->graphs[k], b->graphs[k], why, cap)) return 1;
            break;
        default:
            break;
        }
    }
    return 0;
}

static inline const char *vname(const pq_var *v) { return v ? v->name : ""; }

static inline int cmp_var(const pq_var *a, const pq_var *b, char *why, size_t cap)
{
    if (cmp_str(a->name, b->name)) return cmp_fail(why, cap, "var '%s' vs '%s'", a->name, b->name);
    if (cmp_tensor(a->value, b->value, why, cap)) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", why);
        return cmp_fail(why, cap, "var '%s' value: %s", a->name, inner);
    }
    if (a->dtype != b->dtype || a->rank != b->rank || a->kind != b->kind ||
        a->has_value_info != b->has_value_info)
        return cmp_fail(why, cap, "var '%s': type differs (dtype %d/%d rank %d/%d kind %d/%d "
                        "vi %d/%d)", a->name, a->dtype, b->dtype, a->rank, b->rank, a->kind,
                        b->kind, a->has_value_info, b->has_value_info);
    for (int k = 0; k < a->rank && k < PQ_MAX_RANK; k++)
        if (a->dims[k] != b->dims[k] || cmp_str(a->dim_params[k], b->dim_params[k]))
            return cmp_fail(why, cap, "var '%s': dim %d differs", a->name, k);
    if (a->type_opaque_len != b->type_opaque_len ||
        (a->type_opaque_len && memcmp(a->type_opaque, b->type_opaque, a->type_opaque_len)))
        return cmp_fail(why, cap, "var '%s': opaque type differs", a->name);
    if (cmp_str(a->doc_string, b->doc_string))
        return cmp_fail(why, cap, "var '%s': doc_string differs", a->name);
    return 0;
}

static inline int cmp_graph(const pq_graph *a, const pq_graph *b, char *why, size_t cap)
{
    if (cmp_str(a->name, b->name)) return cmp_fail(why, cap, "graph name '%s' vs '%s'", a->name, b->name);
    if (cmp_str(a->graph_doc_string, b->graph_doc_string))
        return cmp_fail(why, cap, "graph '%s': doc_string differs", a->name);
    if (a->ops.n != b->ops.n)
        return cmp_fail(why, cap, "graph '%s': %" PRId64 " vs %" PRId64 " ops", a->name, a->ops.n, b->ops.n);
    for (int64_t k = 0; k < a->ops.n; k++) {
        const pq_op *x = a->ops.items[k], *y = b->ops.items[k];
        if (cmp_str(x->name, y->name) || cmp_str(x->type, y->type) || cmp_str(x->domain, y->domain) ||
            x->opset != y->opset || cmp_str(x->doc_string, y->doc_string))
            return cmp_fail(why, cap, "op #%" PRId64 ": '%s' (%s) vs '%s' (%s)", k, x->name, x->type,
                            y->name, y->type);
        if (x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs || x->n_attrs != y->n_attrs)
            return cmp_fail(why, cap, "op '%s': input/output/attribute counts differ", x->name);
        for (int i = 0; i < x->n_inputs; i++)
            if (cmp_str(vname(x->inputs[i]), vname(y->inputs[i])) || !x->inputs[i] != !y->inputs[i])
                return cmp_fail(why, cap, "op '%s': input %d '%s' vs '%s'", x->name, i,
                                vname(x->inputs[i]), vname(y->inputs[i]));
        for (int i = 0; i < x->n_outputs; i++)
            if (cmp_str(vname(x->outputs[i]), vname(y->outputs[i])) || !x->outputs[i] != !y->outputs[i])
                return cmp_fail(why, cap, "op '%s': output %d differs", x->name, i);
        for (int i = 0; i < x->n_attrs; i++) {
            if (cmp_attr(&x->attrs[i], &y->attrs[i], why, cap)) {
                char inner[768];
                snprintf(inner, sizeof inner, "%s", why);
                return cmp_fail(why, cap, "op '%s' attribute: %s", x->name, inner);
            }
        }
    }
    if (a->vars.n != b->vars.n)
        return cmp_fail(why, cap, "graph '%s': %" PRId64 " vs %" PRId64 " vars", a->name, a->vars.n, b->vars.n);
    for (int64_t k = 0; k < a->vars.n; k++) {
        const pq_var *x = a->vars.items[k];
        const pq_var *y = pq_graph_find_var(b, x->name);
        if (!y) return cmp_fail(why, cap, "var '%s' missing", x->name);
        if (cmp_var(x, y, why, cap)) return 1;
    }
    if (a->inputs.n != b->inputs.n || a->outputs.n != b->outputs.n)
        return cmp_fail(why, cap, "graph '%s': input/output counts differ", a->name);
    for (int64_t k = 0; k < a->inputs.n; k++)
        if (cmp_str(vname(a->inputs.items[k]), vname(b->inputs.items[k])))
            return cmp_fail(why, cap, "graph input %" PRId64 " differs", k);
    for (int64_t k = 0; k < a->outputs.n; k++)
        if (cmp_str(vname(a->outputs.items[k]), vname(b->outputs.items[k])))
            return cmp_fail(why, cap, "graph output %" PRId64 " differs", k);
    return 0;
}

/* Graph comparison plus the model-level fields of a top-level graph. */
static inline int cmp_model(const pq_graph *a, const pq_graph *b, char *why, size_t cap)
{
    if (a->ir_version != b->ir_version || a->model_version != b->model_version)
        return cmp_fail(why, cap, "ir_version/model_version differ");
    if (cmp_str(a->producer_name, b->producer_name) || cmp_str(a->producer_version, b->producer_version) ||
        cmp_str(a->domain, b->domain) || cmp_str(a->doc_string, b->doc_string))
        return cmp_fail(why, cap, "producer/domain/doc_string differ");
    if (a->n_opsets != b->n_opsets) return cmp_fail(why, cap, "opset import counts differ");
    for (int k = 0; k < a->n_opsets; k++)
        if (cmp_str(a->opsets[k].domain, b->opsets[k].domain) || a->opsets[k].version != b->opsets[k].version)
            return cmp_fail(why, cap, "opset import %d differs", k);
    if (a->n_metadata != b->n_metadata) return cmp_fail(why, cap, "metadata counts differ");
    for (int k = 0; k < a->n_metadata; k++)
        if (cmp_str(a->metadata[k].key, b->metadata[k].key) || cmp_str(a->metadata[k].value, b->metadata[k].value))
            return cmp_fail(why, cap, "metadata %d differs", k);
    if (a->n_functions != b->n_functions) return cmp_fail(why, cap, "function counts differ");
    for (int k = 0; k < a->n_functions; k++)
        if (a->function_lens[k] != b->function_lens[k] ||
            memcmp(a->functions[k], b->functions[k], a->function_lens[k]))
            return cmp_fail(why, cap, "function %d differs", k);
    return cmp_graph(a, b, why, cap);
}

#endif /* PQ_TEST_ONNX_COMPARE_H */
