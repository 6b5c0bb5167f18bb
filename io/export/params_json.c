/* params_json.c - every TQC of a graph as JSON (jansson), and the reader that re-applies a
 * saved file to a graph. Reals are printed with 9 significant digits, enough for any float32
 * to read back exactly (IEEE-754 binary32 needs at most 9). See docs/export.md. */
#include "export_internal.h"

#include <jansson.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define PARAMS_FORMAT "ppq-calib-params"
#define PARAMS_VERSION 1
#define PARAMS_DUMP_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(9) | JSON_PRESERVE_ORDER)

static const struct {
    unsigned bit;
    const char *name;
} policy_names[] = {
    {PQ_QPOLICY_PER_TENSOR, "PER_TENSOR"}, {PQ_QPOLICY_PER_CHANNEL, "PER_CHANNEL"},
    {PQ_QPOLICY_SYMMETRIC, "SYMMETRIC"},   {PQ_QPOLICY_ASYMMETRIC, "ASYMMETRIC"},
    {PQ_QPOLICY_LINEAR, "LINEAR"},         {PQ_QPOLICY_POWER_OF_2, "POWER_OF_2"},
    {PQ_QPOLICY_DYNAMIC, "DYNAMIC"},
};
#define N_POLICY ((int)(sizeof policy_names / sizeof *policy_names))

static const char *kind_name(int is_input) { return is_input ? "input" : "output"; }

/* Where a TQC of g lives: op, side and index; 0 when it is not one of g's. */
static int locate_tqc(const pq_graph *g, const pq_tqc *t, const pq_op **op, int *is_input,
                      int *idx)
{
    uintptr_t p = (uintptr_t)t;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *o = g->ops.items[k];
        const pq_op_qconfig *qc = o->qconfig;
        if (!qc) continue;
        for (int side = 0; side < 2; side++) {
            const pq_tqc *base = side ? qc->outputs : qc->inputs;
            int n = side ? qc->n_outputs : qc->n_inputs;
            if (n && p >= (uintptr_t)base && p < (uintptr_t)(base + n)) {
                *op = o;
                *is_input = !side;
                *idx = (int)((p - (uintptr_t)base) / sizeof *base);
                return 1;
            }
        }
    }
    return 0;
}

/* json_*_set_new that fails on NULL values. */
static pq_status put(json_t *obj, const char *key, json_t *v, pq_err *err)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory building JSON ('%s')", key);
    return PQ_OK;
}

static pq_status append(json_t *arr, json_t *v, pq_err *err)
{
    if (!v || json_array_append_new(arr, v) != 0)
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory building JSON");
    return PQ_OK;
}

static pq_status tqc_json(const pq_graph *g, const pq_op *op, int is_input, int idx,
                          json_t **out, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tqc *q = is_input ? &op->qconfig->inputs[idx] : &op->qconfig->outputs[idx];
    const pq_var *v = NULL;
    json_t *o = json_object(), *pol = NULL, *sc = NULL, *of = NULL, *dom = NULL;
    if (is_input ? idx < op->n_inputs : idx < op->n_outputs)
        v = is_input ? op->inputs[idx] : op->outputs[idx];
    PQ_CHECK(o, PQ_ERR_NOMEM, "out of memory building JSON");
    PQ_TRY(put(o, "index", json_integer(idx), err));
    PQ_TRY(put(o, "variable", v ? json_string(v->name) : json_null(), err));
    PQ_TRY(put(o, "state", json_string(pq_tqc_state_name(q->state)), err));
    pol = json_array();
    PQ_CHECK(pol, PQ_ERR_NOMEM, "out of memory building JSON");
    unsigned rest = q->policy;
    for (int k = 0; k < N_POLICY; k++)
        if (q->policy & policy_names[k].bit) {
            rest &= ~policy_names[k].bit;
            PQ_TRY(append(pol, json_string(policy_names[k].name), err));
        }
    PQ_CHECK(rest == 0, PQ_ERR_INVALID, "unknown policy bits 0x%x", rest);
    PQ_TRY(put(o, "policy", pol, err));
    pol = NULL;
    PQ_TRY(put(o, "num_bits", json_integer(q->num_bits), err));
    PQ_TRY(put(o, "quant_min", json_integer((json_int_t)q->quant_min), err));
    PQ_TRY(put(o, "quant_max", json_integer((json_int_t)q->quant_max), err));
    PQ_TRY(put(o, "rounding", json_string(pq__export_rounding_name(q->rounding)), err));
    PQ_TRY(put(o, "channel_axis", json_integer(q->channel_axis), err));
    sc = json_array();
    of = json_array();
    PQ_CHECK(sc && of, PQ_ERR_NOMEM, "out of memory building JSON");
    for (int64_t c = 0; c < q->n_channels; c++) {
        PQ_CHECK(isfinite(q->scale[c]) && isfinite(q->offset[c]), PQ_ERR_NUMERIC,
                 "scale or offset %" PRId64 " is not finite", c);
        PQ_TRY(append(sc, json_real((double)q->scale[c]), err));
        PQ_TRY(append(of, json_real((double)q->offset[c]), err));
    }
    PQ_TRY(put(o, "scale", sc, err));
    sc = NULL;
    PQ_TRY(put(o, "offset", of, err));
    of = NULL;
    if (q->dominator) {
        const pq_op *dop = NULL;
        int din = 0, didx = 0;
        PQ_CHECK(locate_tqc(g, q->dominator, &dop, &din, &didx), PQ_ERR_INVALID,
                 "dominator is not a TQC of this graph");
        dom = json_object();
        PQ_CHECK(dom, PQ_ERR_NOMEM, "out of memory building JSON");
        PQ_TRY(put(dom, "op", json_string(dop->name), err));
        PQ_TRY(put(dom, "kind", json_string(kind_name(din)), err));
        PQ_TRY(put(dom, "index", json_integer(didx), err));
        PQ_TRY(put(o, "dominator", dom, err));
        dom = NULL;
    } else {
        PQ_TRY(put(o, "dominator", json_null(), err));
    }
    char obs[sizeof q->observer + 1];
    memcpy(obs, q->observer, sizeof q->observer);
    obs[sizeof q->observer] = '\0';
    PQ_TRY(put(o, "observer", json_string(obs), err));
    PQ_TRY(put(o, "visibility", json_string(pq__export_visibility_name(q->visibility)), err));
    *out = o;
    return PQ_OK;
fail:
    pq_err_prefix(err, "op '%s' %s %d", op->name, kind_name(is_input), idx);
    json_decref(o);
    json_decref(pol);
    json_decref(sc);
    json_decref(of);
    json_decref(dom);
    return st;
}

pq_status pq_params_dump(const pq_graph *g, const struct json_t *provenance, char **text,
                         pq_err *err)
{
    pq_status st = PQ_OK;
    json_t *root = json_object(), *ops = json_array(), *o = NULL, *arr = NULL, *t = NULL;
    char *s = NULL;
    *text = NULL;
    PQ_CHECK(root && ops, PQ_ERR_NOMEM, "out of memory building JSON");
    PQ_CHECK(!provenance || json_is_object(provenance), PQ_ERR_INVALID,
             "provenance must be a JSON object");
    PQ_TRY(put(root, "format", json_string(PARAMS_FORMAT), err));
    PQ_TRY(put(root, "version", json_integer(PARAMS_VERSION), err));
    PQ_TRY(put(root, "graph", json_string(g->name ? g->name : ""), err));
    PQ_TRY(put(root, "provenance",
               provenance ? json_deep_copy(provenance) : json_null(), err));
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        o = json_object();
        PQ_CHECK(o, PQ_ERR_NOMEM, "out of memory building JSON");
        PQ_TRY(put(o, "name", json_string(op->name), err));
        PQ_TRY(put(o, "type", json_string(op->type), err));
        for (int side = 0; side < 2; side++) {
            int n = side ? op->qconfig->n_outputs : op->qconfig->n_inputs;
            arr = json_array();
            PQ_CHECK(arr, PQ_ERR_NOMEM, "out of memory building JSON");
            for (int i = 0; i < n; i++) {
                PQ_TRY(tqc_json(g, op, !side, i, &t, err));
                st = append(arr, t, err);
                t = NULL;
                PQ_TRY(st);
            }
            PQ_TRY(put(o, side ? "outputs" : "inputs", arr, err));
            arr = NULL;
        }
        PQ_TRY(append(ops, o, err));
        o = NULL;
    }
    PQ_TRY(put(root, "operations", ops, err));
    ops = NULL;
    s = json_dumps(root, PARAMS_DUMP_FLAGS);
    PQ_CHECK(s, PQ_ERR_NOMEM, "out of memory writing JSON");
    size_t n = strlen(s);
    *text = pq_malloc(n + 2);
    PQ_CHECK(*text, PQ_ERR_NOMEM, "out of memory");
    memcpy(*text, s, n);
    (*text)[n] = '\n';
    (*text)[n + 1] = '\0';
fail:
    if (st != PQ_OK) pq_err_prefix(err, "JSON parameters");
    free(s);
    json_decref(root);
    json_decref(ops);
    json_decref(o);
    json_decref(arr);
    return st;
}

pq_status pq_params_dump_str(const pq_graph *g, const char *provenance_json, char **text,
                             pq_err *err)
{
    json_error_t je;
    json_t *p = NULL;
    *text = NULL;
    if (provenance_json) {
        p = json_loads(provenance_json, 0, &je);
        if (!p || !json_is_object(p)) {
            json_decref(p);
            return pq_err_set(err, PQ_ERR_INVALID,
                              "JSON parameters: provenance is not a JSON object (%s)",
                              p ? "another JSON type" : je.text);
        }
    }
    pq_status st = pq_params_dump(g, p, text, err);
    json_decref(p);
    return st;
}

pq_status pq_params_save(const pq_graph *g, const struct json_t *provenance, const char *path,
                         pq_err *err)
{
    char *s = NULL;
    pq_status st = pq_params_dump(g, provenance, &s, err);
    if (st == PQ_OK) st = pq__export_write_atomic(path, s, strlen(s), err);
    else pq_err_prefix(err, "%s", path);
    pq_free(s);
    return st;
}

/* ------------------------------------------------------------------ reader */

typedef struct staged {
    pq_op *op;
    int is_input, idx;
    pq_tqc val;             /* owns scale/offset until committed */
    pq_op *dom_op;          /* dominator location, NULL when none */
    int dom_is_input, dom_idx;
} staged;

static int name_index(const char *s, const char *(*fn)(int), int n)
{
    for (int k = 0; k < n; k++)
        if (strcmp(fn(k), s) == 0) return k;
    return -1;
}
static const char *state_fn(int k) { return pq_tqc_state_name((pq_tqc_state)k); }
static const char *round_fn(int k) { return pq__export_rounding_name((pq_rounding)k); }
static const char *vis_fn(int k) { return pq__export_visibility_name((pq_tqc_visibility)k); }

static const char *policy_str(unsigned p, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < N_POLICY; k++)
        if (p & policy_names[k].bit)
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "|" : "",
                                  policy_names[k].name);
    if (!n) snprintf(buf, cap, "none");
    return buf;
}

/* Field getters: PQ_ERR_FORMAT naming the key when absent or of another type. */
static pq_status get_str(json_t *o, const char *key, const char **out, pq_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return pq_err_set(err, PQ_ERR_FORMAT, "'%s' missing or not a string", key);
    *out = json_string_value(v);
    return PQ_OK;
}

static pq_status get_int(json_t *o, const char *key, int64_t *out, pq_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return pq_err_set(err, PQ_ERR_FORMAT, "'%s' missing or not an integer", key);
    *out = (int64_t)json_integer_value(v);
    return PQ_OK;
}

static pq_status get_enum(json_t *o, const char *key, const char *(*fn)(int), int n, int *out,
                          pq_err *err)
{
    const char *s = NULL;
    pq_status st = get_str(o, key, &s, err);
    if (st != PQ_OK) return st;
    *out = name_index(s, fn, n);
    if (*out < 0) return pq_err_set(err, PQ_ERR_FORMAT, "'%s': unknown value '%s'", key, s);
    return PQ_OK;
}

/* Parses one TQC object into s->val and checks it against the graph's slot. */
static pq_status stage_tqc(pq_graph *g, json_t *jt, staged *s, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_op *op = s->op;
    int64_t i64 = 0, qmin = 0, qmax = 0, bits = 0, axis = 0;
    int e = 0;
    const char *vname = NULL;
    char b1[128], b2[128];
    PQ_CHECK(json_is_object(jt), PQ_ERR_FORMAT, "not an object");
    PQ_TRY(get_int(jt, "index", &i64, err));
    PQ_CHECK(i64 == s->idx, PQ_ERR_FORMAT, "index %" PRId64 " at position %d", i64, s->idx);
    /* The variable must be the same. */
    json_t *jv = json_object_get(jt, "variable");
    const pq_var *v = s->is_input ? (s->idx < op->n_inputs ? op->inputs[s->idx] : NULL)
                                  : (s->idx < op->n_outputs ? op->outputs[s->idx] : NULL);
    if (json_is_string(jv)) vname = json_string_value(jv);
    else PQ_CHECK(json_is_null(jv), PQ_ERR_FORMAT, "'variable' must be a string or null");
    PQ_CHECK((!vname && !v) || (vname && v && strcmp(vname, v->name) == 0), PQ_ERR_INVALID,
             "variable mismatch: the file has '%s', the graph '%s'", vname ? vname : "(none)",
             v ? v->name : "(none)");
    /* Policy. */
    json_t *jp = json_object_get(jt, "policy");
    unsigned policy = 0;
    PQ_CHECK(json_is_array(jp), PQ_ERR_FORMAT, "'policy' missing or not an array");
    for (size_t k = 0; k < json_array_size(jp); k++) {
        const char *ps = json_string_value(json_array_get(jp, k));
        int found = 0;
        for (int b = 0; ps && b < N_POLICY; b++)
            if (strcmp(ps, policy_names[b].name) == 0) {
                policy |= policy_names[b].bit;
                found = 1;
            }
        PQ_CHECK(found, PQ_ERR_FORMAT, "'policy': unknown entry '%s'",
                 ps ? ps : "(not a string)");
    }
    PQ_TRY(get_int(jt, "num_bits", &bits, err));
    PQ_TRY(get_int(jt, "quant_min", &qmin, err));
    PQ_TRY(get_int(jt, "quant_max", &qmax, err));
    PQ_TRY(get_int(jt, "channel_axis", &axis, err));
    PQ_CHECK(bits >= 0 && bits <= 64 && axis >= INT32_MIN && axis <= INT32_MAX, PQ_ERR_FORMAT,
             "num_bits or channel_axis out of range");
    const pq_tqc *cur = NULL;
    if (op->qconfig)
        cur = s->is_input ? &op->qconfig->inputs[s->idx] : &op->qconfig->outputs[s->idx];
    if (cur && cur->policy) {
        PQ_CHECK(cur->policy == policy, PQ_ERR_INVALID,
                 "policy mismatch: the file has %s, the graph %s",
                 policy_str(policy, b1, sizeof b1), policy_str(cur->policy, b2, sizeof b2));
        PQ_CHECK(cur->num_bits == bits && cur->quant_min == qmin && cur->quant_max == qmax,
                 PQ_ERR_INVALID,
                 "mismatch: the file has %" PRId64 " bits [%" PRId64 ", %" PRId64
                 "], the graph %d bits [%" PRId64 ", %" PRId64 "]",
                 bits, qmin, qmax, cur->num_bits, cur->quant_min, cur->quant_max);
    }
    pq_tqc *t = &s->val;
    t->policy = policy;
    t->num_bits = (int)bits;
    t->quant_min = qmin;
    t->quant_max = qmax;
    t->channel_axis = (int)axis;
    PQ_TRY(get_enum(jt, "rounding", round_fn, PQ_ROUND_DOWN + 1, &e, err));
    t->rounding = (pq_rounding)e;
    PQ_TRY(get_enum(jt, "state", state_fn, PQ_TQC_STATE_FP32 + 1, &e, err));
    t->state = (pq_tqc_state)e;
    PQ_TRY(get_enum(jt, "visibility", vis_fn, PQ_TQC_INTERNAL + 1, &e, err));
    t->visibility = (pq_tqc_visibility)e;
    const char *obs = NULL;
    PQ_TRY(get_str(jt, "observer", &obs, err));
    PQ_CHECK(strlen(obs) < sizeof t->observer, PQ_ERR_FORMAT, "'observer' longer than %zu",
             sizeof t->observer - 1);
    snprintf(t->observer, sizeof t->observer, "%s", obs);
    json_t *js = json_object_get(jt, "scale"), *jo = json_object_get(jt, "offset");
    PQ_CHECK(json_is_array(js) && json_is_array(jo) && json_array_size(js) == json_array_size(jo),
             PQ_ERR_FORMAT, "'scale' and 'offset' must be arrays of the same length");
    size_t n = json_array_size(js);
    if (n) PQ_TRY(pq_tqc_set_channels(t, (int64_t)n, err));
    for (size_t k = 0; k < n; k++) {
        json_t *a = json_array_get(js, k), *b = json_array_get(jo, k);
        PQ_CHECK(json_is_number(a) && json_is_number(b), PQ_ERR_FORMAT,
                 "scale/offset %zu is not a number", k);
        t->scale[k] = (float)json_number_value(a);
        t->offset[k] = (float)json_number_value(b);
        PQ_CHECK(isfinite(t->scale[k]) && isfinite(t->offset[k]), PQ_ERR_FORMAT,
                 "scale/offset %zu does not fit a float32", k);
    }
    /* The parameter count must fit the variable: one per tensor, dims[channel_axis] per
     * channel (when the shape is known), so a file of another model's shapes is refused. */
    PQ_CHECK(!(policy & PQ_QPOLICY_PER_TENSOR) || n <= 1, PQ_ERR_INVALID,
             "per-tensor TQC with %zu scales", n);
    if ((policy & PQ_QPOLICY_PER_CHANNEL) && n > 0 && v && v->rank >= 0) {
        PQ_CHECK(axis >= -v->rank && axis < v->rank, PQ_ERR_INVALID,
                 "channel_axis %" PRId64 " outside the variable's rank %d", axis, v->rank);
        int64_t c = v->dims[axis < 0 ? axis + v->rank : axis];
        PQ_CHECK(c < 0 || (int64_t)n == c, PQ_ERR_INVALID,
                 "channel count mismatch: the file has %zu scales, the variable has %" PRId64
                 " channels on axis %" PRId64,
                 n, c, axis);
    }
    json_t *jd = json_object_get(jt, "dominator");
    if (jd && !json_is_null(jd)) {
        const char *dop = NULL, *dkind = NULL;
        int64_t didx = 0;
        PQ_CHECK(json_is_object(jd), PQ_ERR_FORMAT, "'dominator' must be an object or null");
        PQ_TRY(get_str(jd, "op", &dop, err));
        PQ_TRY(get_str(jd, "kind", &dkind, err));
        PQ_TRY(get_int(jd, "index", &didx, err));
        s->dom_op = pq_graph_find_op(g, dop);
        PQ_CHECK(s->dom_op, PQ_ERR_INVALID, "dominator op '%s' not found in the graph", dop);
        PQ_CHECK(strcmp(dkind, "input") == 0 || strcmp(dkind, "output") == 0, PQ_ERR_FORMAT,
                 "dominator kind '%s' (input or output)", dkind);
        s->dom_is_input = dkind[0] == 'i';
        int cnt = s->dom_is_input ? s->dom_op->n_inputs : s->dom_op->n_outputs;
        PQ_CHECK(didx >= 0 && didx < cnt, PQ_ERR_INVALID,
                 "dominator %s %" PRId64 " of op '%s' does not exist", dkind, didx, dop);
        s->dom_idx = (int)didx;
    }
fail:
    return st;
}

pq_status pq_params_apply_text(pq_graph *g, const char *text, size_t len, const char *name,
                               struct json_t **provenance, pq_err *err)
{
    pq_status st = PQ_OK;
    json_error_t je;
    json_t *root = NULL;
    staged *sg = NULL;
    int64_t n_sg = 0, cap_sg = 0;
    pq_strmap in_file = {0};
    const char *fmt = NULL;
    int64_t ver = 0;
    if (provenance) *provenance = NULL;
    root = json_loadb(text, len, 0, &je);
    PQ_CHECK(root, PQ_ERR_FORMAT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    PQ_CHECK(json_is_object(root), PQ_ERR_FORMAT, "%s: not a JSON object", name);
    st = get_str(root, "format", &fmt, err);
    if (st == PQ_OK) st = get_int(root, "version", &ver, err);
    if (st != PQ_OK) {
        pq_err_prefix(err, "%s", name);
        goto fail;
    }
    PQ_CHECK(strcmp(fmt, PARAMS_FORMAT) == 0 && ver == PARAMS_VERSION, PQ_ERR_FORMAT,
             "%s: format '%s' version %" PRId64 ", expected '%s' version %d", name, fmt, ver,
             PARAMS_FORMAT, PARAMS_VERSION);
    json_t *ops = json_object_get(root, "operations");
    PQ_CHECK(json_is_array(ops), PQ_ERR_FORMAT, "%s: 'operations' missing or not an array",
             name);
    /* Check everything, staging the new TQCs. */
    for (size_t k = 0; k < json_array_size(ops); k++) {
        json_t *jo = json_array_get(ops, k);
        const char *oname = NULL, *otype = NULL;
        PQ_CHECK(json_is_object(jo), PQ_ERR_FORMAT, "%s: operations[%zu] is not an object", name,
                 k);
        st = get_str(jo, "name", &oname, err);
        if (st == PQ_OK) st = get_str(jo, "type", &otype, err);
        if (st != PQ_OK) {
            pq_err_prefix(err, "%s: operations[%zu]", name, k);
            goto fail;
        }
        pq_op *op = pq_graph_find_op(g, oname);
        PQ_CHECK(op, PQ_ERR_INVALID, "%s: op '%s' (%s) is not in the graph", name, oname, otype);
        PQ_CHECK(strcmp(op->type, otype) == 0, PQ_ERR_INVALID,
                 "%s: op '%s' is %s in the file but %s in the graph", name, oname, otype,
                 op->type);
        PQ_CHECK(!pq_strmap_get(&in_file, oname), PQ_ERR_FORMAT, "%s: op '%s' listed twice",
                 name, oname);
        PQ_TRY(pq_strmap_put(&in_file, oname, op, err));
        for (int side = 0; side < 2; side++) {
            const char *key = side ? "outputs" : "inputs";
            json_t *arr = json_object_get(jo, key);
            int have = op->qconfig ? (side ? op->qconfig->n_outputs : op->qconfig->n_inputs)
                                   : (side ? op->n_outputs : op->n_inputs);
            PQ_CHECK(json_is_array(arr), PQ_ERR_FORMAT, "%s: op '%s': '%s' missing", name, oname,
                     key);
            PQ_CHECK(json_array_size(arr) == (size_t)have, PQ_ERR_INVALID,
                     "%s: op '%s' (%s): the file has %zu %s TQCs, the graph %d", name, oname,
                     otype, json_array_size(arr), side ? "output" : "input", have);
            for (int i = 0; i < have; i++) {
                if (n_sg == cap_sg) {
                    int64_t nc = cap_sg ? cap_sg * 2 : 64;
                    staged *ns = pq_realloc(sg, (size_t)nc * sizeof *ns);
                    PQ_CHECK(ns, PQ_ERR_NOMEM, "out of memory");
                    sg = ns;
                    cap_sg = nc;
                }
                staged *s = &sg[n_sg++];
                memset(s, 0, sizeof *s);
                s->op = op;
                s->is_input = !side;
                s->idx = i;
                st = stage_tqc(g, json_array_get(arr, (size_t)i), s, err);
                if (st != PQ_OK) {
                    const pq_var *sv = side ? (i < op->n_outputs ? op->outputs[i] : NULL)
                                            : (i < op->n_inputs ? op->inputs[i] : NULL);
                    pq_err_prefix(err, "%s: op '%s' (%s) %s %d (variable '%s')", name, oname,
                                  otype, kind_name(!side), i, sv ? sv->name : "(none)");
                    goto fail;
                }
            }
        }
    }
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        PQ_CHECK(!op->qconfig || pq_strmap_get(&in_file, op->name), PQ_ERR_INVALID,
                 "%s: op '%s' (%s) is quantized in the graph but missing from the file", name,
                 op->name, op->type);
    }
    for (int64_t k = 0; k < n_sg; k++)
        if (sg[k].dom_op)
            PQ_CHECK(pq_strmap_get(&in_file, sg[k].dom_op->name), PQ_ERR_INVALID,
                     "%s: op '%s' %s %d: dominator op '%s' has no TQCs in the file", name,
                     sg[k].op->name, kind_name(sg[k].is_input), sg[k].idx, sg[k].dom_op->name);
    if (provenance) {
        json_t *p = json_object_get(root, "provenance");
        *provenance = p ? json_incref(p) : NULL;
    }
    /* Commit. */
    for (int64_t k = 0; k < n_sg; k++)
        if (!sg[k].op->qconfig) PQ_TRY(pq_op_qconfig_create(sg[k].op, err));
    for (int64_t k = 0; k < n_sg; k++) {
        staged *s = &sg[k];
        pq_tqc *t = s->is_input ? &s->op->qconfig->inputs[s->idx]
                                : &s->op->qconfig->outputs[s->idx];
        pq_tqc_clear(t);
        *t = s->val;
        memset(&s->val, 0, sizeof s->val);
    }
    for (int64_t k = 0; k < n_sg; k++) {
        staged *s = &sg[k];
        if (!s->dom_op) continue;
        pq_tqc *t = s->is_input ? &s->op->qconfig->inputs[s->idx]
                                : &s->op->qconfig->outputs[s->idx];
        t->dominator = s->dom_is_input ? &s->dom_op->qconfig->inputs[s->dom_idx]
                                       : &s->dom_op->qconfig->outputs[s->dom_idx];
    }
fail:
    if (st != PQ_OK && provenance && *provenance) {
        json_decref(*provenance);
        *provenance = NULL;
    }
    for (int64_t k = 0; k < n_sg; k++) pq_tqc_clear(&sg[k].val);
    pq_free(sg);
    pq_strmap_free(&in_file);
    json_decref(root);
    return st;
}

pq_status pq_params_load(pq_graph *g, const char *path, struct json_t **provenance, pq_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    if (provenance) *provenance = NULL;
    pq_status st = pq__export_read_file(path, &buf, &len, err);
    if (st == PQ_OK) st = pq_params_apply_text(g, buf, len, path, provenance, err);
    pq_free(buf);
    return st;
}
