/* cmd_inspect.c - `ppq-calib inspect MODEL.onnx [--json]`: a summary of a model.
 *
 * Prints the graph inputs (those without an initializer) and outputs with dtypes and shapes
 * (symbolic dims by name, unknown dims as "?"), the opset imports, the histogram of
 * operator types of the main graph (count descending, then name; ops of a non-default
 * domain are "domain:Type"), and the parameters: initializer tensors, elements and bytes.
 * With --json the same goes to stdout as one JSON object (jansson). */
#include "app.h"
#include "pq_core.h"
#include "pq_ir.h"
#include "pq_onnx.h"
#include "pq_passes.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void inspect_usage(FILE *to)
{
    fprintf(to, "usage: ppq-calib inspect MODEL.onnx [--json] [--passes LIST] [--save OUT.onnx]\n"
                "                         [--input-shape NAME=D0,D1,...]...\n"
                "  prints inputs, outputs, opset imports, the operator histogram and the\n"
                "  parameter count of an ONNX model; --json prints it as JSON.\n"
                "  --passes runs graph passes first (e.g. format,fuse or fold_constants,fuse_bn)\n"
                "  and prints what each changed (to stderr with --json); --save writes the\n"
                "  transformed model; --input-shape fixes an input's shape (symbolic batch)\n"
                "  so that shape subgraphs fold.\n"
                "  passes:");
    for (const char *const *n = pq_passes_names(); n && *n; n++) fprintf(to, " %s", *n);
    fprintf(to, "\n");
}

#define MAX_SHAPES 16

/* Parses NAME=D0,D1,... into name (pointer into spec, NUL-terminated in place) and dims. */
static int parse_shape(char *spec, const char **name, int *rank, int64_t *dims)
{
    char *eq = strchr(spec, '=');
    if (!eq || eq == spec) return -1;
    *eq = '\0';
    *name = spec;
    *rank = 0;
    for (char *p = eq + 1; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || *rank == PQ_MAX_RANK) return -1;
        dims[(*rank)++] = v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return *rank > 0 ? 0 : -1;
}

/* Applies --input-shape and --passes to g; prints the pass report to `report_to`. */
static int transform(const char *path, pq_graph *g, int n_shapes, char **shapes,
                     const char *passes, FILE *report_to)
{
    pq_err err = {0};
    for (int k = 0; k < n_shapes; k++) {
        const char *name;
        int rank;
        int64_t dims[PQ_MAX_RANK];
        if (parse_shape(shapes[k], &name, &rank, dims) != 0) {
            pq_app_error("--input-shape expects NAME=D0,D1,... with dims >= 0");
            return PQ_EXIT_USAGE;
        }
        if (pq_passes_set_input_shape(g, name, rank, dims, &err) != PQ_OK) {
            pq_app_error("%s: %s", path, err.msg);
            return PQ_EXIT_FAIL;
        }
    }
    if (!passes) return PQ_EXIT_OK;
    pq_pass_report rep = {0};
    char *text = NULL;
    int rc = PQ_EXIT_OK;
    if (pq_passes_run(g, passes, &rep, &err) != PQ_OK ||
        pq_pass_report_format(&rep, &text, &err) != PQ_OK) {
        pq_app_error("%s: %s", path, err.msg);
        rc = PQ_EXIT_FAIL;
    } else {
        fputs(text, report_to);
    }
    pq_free(text);
    pq_pass_report_free(&rep);
    return rc;
}

/* ------------------------------------------------------------------ the summary */

typedef struct op_count {
    char *type; /* "Conv" or "domain:Type" (owned) */
    int64_t count;
} op_count;

typedef struct summary {
    op_count *hist;
    int64_t n_types, n_ops, n_subgraph_ops;
    int64_t n_param_tensors, n_param_elements, n_param_bytes;
    int64_t n_initializer_inputs;
} summary;

static int is_default_domain(const char *d)
{
    return !d || !d[0] || strcmp(d, "ai.onnx") == 0;
}

static int count_subgraph_ops(const pq_graph *g, int64_t *n)
{
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        for (int a = 0; a < op->n_attrs; a++) {
            const pq_attr *at = &op->attrs[a];
            if (at->type == PQ_ATTR_GRAPH && at->g) {
                *n += at->g->ops.n;
                count_subgraph_ops(at->g, n);
            } else if (at->type == PQ_ATTR_GRAPHS) {
                for (int64_t j = 0; j < at->n; j++) {
                    *n += at->graphs[j]->ops.n;
                    count_subgraph_ops(at->graphs[j], n);
                }
            }
        }
    }
    return 0;
}

static int cmp_count(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->type, y->type);
}

static void summary_free(summary *s)
{
    for (int64_t k = 0; k < s->n_types; k++) free(s->hist[k].type);
    free(s->hist);
}

/* Fills s from g; 0 on success, -1 when out of memory. */
static int summarize(const pq_graph *g, summary *s)
{
    memset(s, 0, sizeof *s);
    s->hist = calloc((size_t)g->ops.n + 1, sizeof *s->hist);
    if (!s->hist) return -1;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        size_t len = strlen(op->type) + (is_default_domain(op->domain) ? 0 : strlen(op->domain) + 1);
        char *key = malloc(len + 1);
        if (!key) return -1;
        if (is_default_domain(op->domain))
            snprintf(key, len + 1, "%s", op->type);
        else
            snprintf(key, len + 1, "%s:%s", op->domain, op->type);
        int64_t j = 0;
        while (j < s->n_types && strcmp(s->hist[j].type, key) != 0) j++;
        if (j == s->n_types) {
            s->hist[j].type = key;
            s->n_types++;
        } else {
            free(key);
        }
        s->hist[j].count++;
        s->n_ops++;
    }
    qsort(s->hist, (size_t)s->n_types, sizeof *s->hist, cmp_count);
    count_subgraph_ops(g, &s->n_subgraph_ops);
    for (int64_t k = 0; k < g->vars.n; k++) {
        const pq_var *v = g->vars.items[k];
        if (!v->value || v->source_op) continue;
        s->n_param_tensors++;
        s->n_param_elements += v->value->numel;
        if (v->value->dtype == PQ_DTYPE_STRING) {
            for (int64_t i = 0; i < v->value->numel; i++)
                s->n_param_bytes += (int64_t)strlen(PQ_DATA(v->value, char *)[i]);
        } else {
            s->n_param_bytes += (int64_t)v->value->nbytes;
        }
        if (pq_graph_is_input(g, v)) s->n_initializer_inputs++;
    }
    return 0;
}

/* "float32[N, 3, 224, 224]"; "float32[?]" for an unknown rank. */
static const char *describe_var(const pq_var *v, char *buf, size_t cap)
{
    size_t off = 0;
    if (v->kind == PQ_VALUE_OTHER) {
        snprintf(buf, cap, "non-tensor (sequence, map or optional)");
        return buf;
    }
    off += (size_t)snprintf(buf, cap, "%s[", v->dtype == PQ_DTYPE_UNDEFINED ? "?" : pq_dtype_name(v->dtype));
    if (v->rank < 0 && off < cap) off += (size_t)snprintf(buf + off, cap - off, "?");
    for (int k = 0; k < v->rank && off < cap; k++) {
        const char *sep = k ? ", " : "";
        if (v->dim_params[k])
            off += (size_t)snprintf(buf + off, cap - off, "%s%s", sep, v->dim_params[k]);
        else if (v->dims[k] >= 0)
            off += (size_t)snprintf(buf + off, cap - off, "%s%" PRId64, sep, v->dims[k]);
        else
            off += (size_t)snprintf(buf + off, cap - off, "%s?", sep);
    }
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}

static const char *domain_name(const char *d) { return is_default_domain(d) ? "ai.onnx" : d; }

/* ------------------------------------------------------------------ text output */

static void print_text(const char *path, const pq_graph *g, const summary *s)
{
    char buf[512];
    printf("model: %s\n", path);
    printf("  ir_version %" PRId64 ", producer %s %s\n", g->ir_version,
           g->producer_name && g->producer_name[0] ? g->producer_name : "(unknown)",
           g->producer_version ? g->producer_version : "");
    printf("opset imports:\n");
    for (int k = 0; k < g->n_opsets; k++)
        printf("  %-20s %" PRId64 "\n", domain_name(g->opsets[k].domain), g->opsets[k].version);
    printf("inputs:\n");
    for (int64_t k = 0; k < g->inputs.n; k++) {
        const pq_var *v = g->inputs.items[k];
        if (v->value) continue;
        printf("  %-20s %s\n", v->name, describe_var(v, buf, sizeof buf));
    }
    if (s->n_initializer_inputs)
        printf("  (and %" PRId64 " inputs that have an initializer)\n", s->n_initializer_inputs);
    printf("outputs:\n");
    for (int64_t k = 0; k < g->outputs.n; k++) {
        const pq_var *v = g->outputs.items[k];
        printf("  %-20s %s\n", v->name, describe_var(v, buf, sizeof buf));
    }
    printf("operators: %" PRId64 " ops of %" PRId64 " types", s->n_ops, s->n_types);
    if (s->n_subgraph_ops) printf(" (+%" PRId64 " in subgraphs)", s->n_subgraph_ops);
    printf("\n");
    for (int64_t k = 0; k < s->n_types; k++)
        printf("  %-28s %" PRId64 "\n", s->hist[k].type, s->hist[k].count);
    printf("parameters: %" PRId64 " elements in %" PRId64 " tensors, %" PRId64 " bytes (%.2f MiB)\n",
           s->n_param_elements, s->n_param_tensors, s->n_param_bytes,
           (double)s->n_param_bytes / (1024.0 * 1024.0));
}

/* ------------------------------------------------------------------ JSON output */

/* Adds to obj, stealing the reference; returns -1 if value is NULL or the add fails. */
static int jset(json_t *obj, const char *key, json_t *value)
{
    return value ? json_object_set_new(obj, key, value) : -1;
}

static int jpush(json_t *arr, json_t *value)
{
    return value ? json_array_append_new(arr, value) : -1;
}

static json_t *json_var(const pq_var *v)
{
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = jset(o, "name", json_string(v->name));
    if (v->kind == PQ_VALUE_OTHER) {
        bad |= jset(o, "dtype", json_null());
        bad |= jset(o, "shape", json_null());
        bad |= jset(o, "kind", json_string("non-tensor"));
    } else {
        bad |= jset(o, "dtype", v->dtype == PQ_DTYPE_UNDEFINED ? json_null()
                                                               : json_string(pq_dtype_name(v->dtype)));
        if (v->rank < 0) {
            bad |= jset(o, "shape", json_null());
        } else {
            json_t *shape = json_array();
            bad |= jset(o, "shape", shape);
            for (int k = 0; shape && k < v->rank; k++) {
                if (v->dim_params[k]) bad |= jpush(shape, json_string(v->dim_params[k]));
                else if (v->dims[k] >= 0) bad |= jpush(shape, json_integer(v->dims[k]));
                else bad |= jpush(shape, json_null());
            }
        }
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int print_json(const char *path, const pq_graph *g, const summary *s)
{
    json_t *root = json_object();
    if (!root) return -1;
    int bad = jset(root, "model", json_string(path));
    bad |= jset(root, "ir_version", json_integer(g->ir_version));
    json_t *prod = json_object();
    bad |= jset(root, "producer", prod);
    if (prod) {
        bad |= jset(prod, "name", json_string(g->producer_name ? g->producer_name : ""));
        bad |= jset(prod, "version", json_string(g->producer_version ? g->producer_version : ""));
    }
    json_t *opsets = json_array();
    bad |= jset(root, "opset_imports", opsets);
    for (int k = 0; opsets && k < g->n_opsets; k++) {
        json_t *o = json_object();
        bad |= jpush(opsets, o);
        if (!o) continue;
        bad |= jset(o, "domain", json_string(domain_name(g->opsets[k].domain)));
        bad |= jset(o, "version", json_integer(g->opsets[k].version));
    }
    json_t *ins = json_array(), *outs = json_array();
    bad |= jset(root, "inputs", ins);
    bad |= jset(root, "outputs", outs);
    for (int64_t k = 0; ins && k < g->inputs.n; k++) {
        const pq_var *v = g->inputs.items[k];
        if (!v->value) bad |= jpush(ins, json_var(v));
    }
    bad |= jset(root, "initializer_inputs", json_integer(s->n_initializer_inputs));
    for (int64_t k = 0; outs && k < g->outputs.n; k++) bad |= jpush(outs, json_var(g->outputs.items[k]));
    json_t *ops = json_object();
    bad |= jset(root, "operators", ops);
    if (ops) {
        bad |= jset(ops, "count", json_integer(s->n_ops));
        bad |= jset(ops, "types", json_integer(s->n_types));
        bad |= jset(ops, "in_subgraphs", json_integer(s->n_subgraph_ops));
        json_t *hist = json_array();
        bad |= jset(ops, "histogram", hist);
        for (int64_t k = 0; hist && k < s->n_types; k++) {
            json_t *h = json_object();
            bad |= jpush(hist, h);
            if (!h) continue;
            bad |= jset(h, "op_type", json_string(s->hist[k].type));
            bad |= jset(h, "count", json_integer(s->hist[k].count));
        }
    }
    json_t *params = json_object();
    bad |= jset(root, "parameters", params);
    if (params) {
        bad |= jset(params, "tensors", json_integer(s->n_param_tensors));
        bad |= jset(params, "elements", json_integer(s->n_param_elements));
        bad |= jset(params, "bytes", json_integer(s->n_param_bytes));
    }
    if (!bad) bad = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!bad) bad = fputc('\n', stdout) == EOF;
    json_decref(root);
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------------ entry point */

int pq_cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *passes = NULL, *save = NULL;
    char *shapes[MAX_SHAPES];
    int json = 0, n_shapes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc) {
            passes = argv[++i];
        } else if (strcmp(argv[i], "--save") == 0 && i + 1 < argc) {
            save = argv[++i];
        } else if (strcmp(argv[i], "--input-shape") == 0 && i + 1 < argc && n_shapes < MAX_SHAPES) {
            shapes[n_shapes++] = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            inspect_usage(stdout);
            return PQ_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            pq_app_error("unknown or incomplete option '%s'", argv[i]);
            inspect_usage(stderr);
            return PQ_EXIT_USAGE;
        } else if (path) {
            pq_app_error("one model expected, got '%s' and '%s'", path, argv[i]);
            inspect_usage(stderr);
            return PQ_EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        pq_app_error("no model given");
        inspect_usage(stderr);
        return PQ_EXIT_USAGE;
    }
    pq_err err = {0};
    pq_graph *g = NULL;
    if (pq_onnx_load(path, &g, &err) != PQ_OK) {
        pq_app_error("%s", err.msg);
        return PQ_EXIT_FAIL;
    }
    int rc = transform(path, g, n_shapes, shapes, passes, json ? stderr : stdout);
    if (rc == PQ_EXIT_OK && save && pq_onnx_save(g, save, &err) != PQ_OK) {
        pq_app_error("%s", err.msg);
        rc = PQ_EXIT_FAIL;
    }
    summary s = {0};
    if (rc != PQ_EXIT_OK) {
        /* nothing more to print */
    } else if (summarize(g, &s) != 0) {
        pq_app_error("%s: out of memory", path);
        rc = PQ_EXIT_FAIL;
    } else if (json ? print_json(path, g, &s) != 0 : (print_text(path, g, &s), fflush(stdout) != 0)) {
        pq_app_error("%s: cannot write the summary", path);
        rc = PQ_EXIT_FAIL;
    }
    summary_free(&s);
    pq_graph_destroy(&g);
    return rc;
}
