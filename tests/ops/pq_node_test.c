/* pq_node_test.c - ONNX backend conformance runner.
 *
 *   pq_node_test [--root DIR] [--fixtures DIR] TEST...   run tests (node/test_abs, fixtures/x,
 *                                                        or a path); exit 1 unless all pass
 *   pq_node_test --survey [--root DIR]                   run every test under the data root and
 *                                                        print passed/failed/unsupported counts
 *   pq_node_test --coverage LISTDIR                      check the lists against the data and
 *                                                        the registered operators
 *
 * A test loads model.onnx through io/onnx (so the reader is tested too), runs every
 * test_data_set_* and compares every output_*.pb: dtype and shape exactly, integers, bools
 * and strings exactly, floats with ONNX's rule |y - ref| <= atol + rtol * |ref| (rtol 1e-3,
 * atol 1e-7: onnx/backend/test/loader), NaN positions equal.
 */
#include "pq_core.h"
#include "pq_exec.h"
#include "pq_ir.h"
#include "pq_onnx.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RTOL 1e-3
#define ATOL 1e-7
#define MAX_IO 64

typedef enum { RES_PASS, RES_FAIL, RES_UNSUPPORTED } result;

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir starting with prefix (NULL prefix: all but dot files). */
static int list_dir(const char *dir, const char *prefix, char ***out)
{
    DIR *d = opendir(dir);
    int n = 0, cap = 0;
    char **names = NULL;
    *out = NULL;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, (size_t)cap * sizeof *names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Compares one output; writes a failure description into msg. Returns 1 when equal. */
static int compare(const pq_tensor *y, const pq_tensor *ref, char *msg, size_t cap)
{
    char a[256], b[256];
    if (y->dtype != ref->dtype || y->rank != ref->rank ||
        memcmp(y->dims, ref->dims, (size_t)y->rank * sizeof *y->dims) != 0) {
        snprintf(msg, cap, "got %s, expected %s", pq_tensor_describe(y, a, sizeof a),
                 pq_tensor_describe(ref, b, sizeof b));
        return 0;
    }
    if (y->dtype == PQ_DTYPE_STRING) {
        for (int64_t i = 0; i < y->numel; i++) {
            const char *s = ((char *const *)y->data)[i], *r = ((char *const *)ref->data)[i];
            if (strcmp(s, r) != 0) {
                snprintf(msg, cap, "index %lld: got \"%s\", expected \"%s\"", (long long)i, s, r);
                return 0;
            }
        }
        return 1;
    }
    if (!pq_dtype_is_float(y->dtype)) {
        for (int64_t i = 0; i < y->numel; i++) {
            if (pq_tensor_get_i64(y, i) != pq_tensor_get_i64(ref, i)) {
                snprintf(msg, cap, "index %lld: got %lld, expected %lld", (long long)i,
                         (long long)pq_tensor_get_i64(y, i), (long long)pq_tensor_get_i64(ref, i));
                return 0;
            }
        }
        return 1;
    }
    int64_t bad = -1, n_bad = 0;
    double max_abs = 0, max_rel = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        double v = pq_tensor_get_f64(y, i), r = pq_tensor_get_f64(ref, i);
        if (isnan(v) || isnan(r)) {
            if (isnan(v) != isnan(r)) {
                if (bad < 0) bad = i;
                n_bad++;
            }
            continue;
        }
        if (isinf(v) || isinf(r)) {
            if (v != r) {
                if (bad < 0) bad = i;
                n_bad++;
            }
            continue;
        }
        double d = fabs(v - r);
        if (d > max_abs) max_abs = d;
        if (r != 0 && d / fabs(r) > max_rel) max_rel = d / fabs(r);
        if (d > ATOL + RTOL * fabs(r)) {
            if (bad < 0) bad = i;
            n_bad++;
        }
    }
    if (bad >= 0) {
        snprintf(msg, cap,
                 "%lld of %lld values differ; first at index %lld: got %.9g, expected %.9g "
                 "(max abs err %.3g, max rel err %.3g)",
                 (long long)n_bad, (long long)y->numel, (long long)bad,
                 pq_tensor_get_f64(y, bad), pq_tensor_get_f64(ref, bad), max_abs, max_rel);
        return 0;
    }
    return 1;
}

/* ONNX 1.12's test data stores bfloat16 tensors with data_type UINT16 (the bits are right,
 * the type tag is not: onnx/backend/test/case/node/cast.py writes them through a uint16
 * numpy array). Where the model declares bfloat16, read such a file as bfloat16. */
static void fix_bfloat16_tag(pq_tensor *t, const pq_var *declared)
{
    if (t && declared && t->dtype == PQ_DTYPE_UINT16 && declared->dtype == PQ_DTYPE_BFLOAT16)
        t->dtype = PQ_DTYPE_BFLOAT16;
}

/* Graph inputs that need a feed: not initializers. */
static int feedable_inputs(const pq_graph *g, const pq_var **out)
{
    int n = 0;
    for (int64_t k = 0; k < g->inputs.n && n < MAX_IO; k++) {
        const pq_var *v = g->inputs.items[k];
        if (!v->value) out[n++] = v;
    }
    return n;
}

static result run_one(const char *label, const char *dir, char *msg, size_t cap)
{
    char path[4096];
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    result res = RES_PASS;
    char **sets = NULL;
    int n_sets = 0;

    snprintf(path, sizeof path, "%s/model.onnx", dir);
    pq_status st = pq_onnx_load(path, &g, &err);
    if (st != PQ_OK) {
        snprintf(msg, cap, "load: %s", err.msg);
        return st == PQ_ERR_UNSUPPORTED ? RES_UNSUPPORTED : RES_FAIL;
    }
    st = pq_executor_create(g, NULL, &ex, &err);
    if (st != PQ_OK) {
        snprintf(msg, cap, "%s", err.msg);
        res = st == PQ_ERR_UNSUPPORTED ? RES_UNSUPPORTED : RES_FAIL;
        goto done;
    }
    n_sets = list_dir(dir, "test_data_set_", &sets);
    if (n_sets <= 0) {
        snprintf(msg, cap, "no test_data_set_* in %s", dir);
        res = RES_FAIL;
        goto done;
    }
    for (int s = 0; s < n_sets && res == RES_PASS; s++) {
        pq_tensor *in[MAX_IO] = {0}, *ref[MAX_IO] = {0}, *got[MAX_IO] = {0};
        const char *in_names[MAX_IO], *out_names[MAX_IO];
        const pq_var *feedable[MAX_IO];
        int n_in = 0, n_out = 0;
        int n_feedable = feedable_inputs(g, feedable);
        for (;; n_in++) {
            char *name = NULL;
            snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, sets[s], n_in);
            if (!is_file(path) || n_in == MAX_IO) break;
            st = pq_onnx_load_tensor(path, &in[n_in], &name, &err);
            if (st != PQ_OK) {
                pq_free(name);
                snprintf(msg, cap, "%s", err.msg);
                res = st == PQ_ERR_UNSUPPORTED ? RES_UNSUPPORTED : RES_FAIL;
                break;
            }
            /* Inputs map to the graph's non-initializer inputs in order; a name in the file
             * that matches a graph input wins. */
            in_names[n_in] = n_in < n_feedable ? feedable[n_in]->name : NULL;
            if (name && name[0]) {
                pq_var *v = pq_graph_find_var(g, name);
                if (v && pq_graph_is_input(g, v)) in_names[n_in] = v->name;
            }
            pq_free(name);
            if (in_names[n_in]) fix_bfloat16_tag(in[n_in], pq_graph_find_var(g, in_names[n_in]));
            if (!in_names[n_in]) {
                snprintf(msg, cap, "%s: more input files than graph inputs", sets[s]);
                res = RES_FAIL;
                n_in++;
                break;
            }
        }
        for (; res == RES_PASS; n_out++) {
            snprintf(path, sizeof path, "%s/%s/output_%d.pb", dir, sets[s], n_out);
            if (!is_file(path) || n_out == MAX_IO) break;
            st = pq_onnx_load_tensor(path, &ref[n_out], NULL, &err);
            if (st != PQ_OK) {
                snprintf(msg, cap, "%s", err.msg);
                res = st == PQ_ERR_UNSUPPORTED ? RES_UNSUPPORTED : RES_FAIL;
                break;
            }
            if (n_out >= g->outputs.n) {
                snprintf(msg, cap, "%s: more output files than graph outputs", sets[s]);
                res = RES_FAIL;
                n_out++;
                break;
            }
            out_names[n_out] = ((pq_var *)g->outputs.items[n_out])->name;
            fix_bfloat16_tag(ref[n_out], g->outputs.items[n_out]);
        }
        if (res == RES_PASS) {
            st = pq_executor_run(ex, n_in, in_names, in, n_out, out_names, got, &err);
            if (st != PQ_OK) {
                snprintf(msg, cap, "%s: %s", sets[s], err.msg);
                res = st == PQ_ERR_UNSUPPORTED ? RES_UNSUPPORTED : RES_FAIL;
            }
        }
        for (int o = 0; res == RES_PASS && o < n_out; o++) {
            char why[768];
            if (!compare(got[o], ref[o], why, sizeof why)) {
                snprintf(msg, cap, "%s: output %d '%s': %s", sets[s], o, out_names[o], why);
                res = RES_FAIL;
            }
        }
        for (int i = 0; i < MAX_IO; i++) {
            pq_tensor_destroy(&in[i]);
            pq_tensor_destroy(&ref[i]);
            pq_tensor_destroy(&got[i]);
        }
    }
done:
    (void)label;
    free_list(sets, n_sets);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    return res;
}

/* Resolves a list entry ("node/test_abs", "fixtures/x") or a path to a directory. */
static void resolve(const char *root, const char *fixtures, const char *name, char *out, size_t cap)
{
    if (is_dir(name))
        snprintf(out, cap, "%s", name);
    else if (strncmp(name, "fixtures/", 9) == 0)
        snprintf(out, cap, "%s/%s", fixtures, name + 9);
    else
        snprintf(out, cap, "%s/%s", root, name);
}

static const char *const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

static int survey(const char *root)
{
    int pass = 0, fail = 0, unsup = 0;
    for (size_t s = 0; s < sizeof suites / sizeof *suites; s++) {
        char dir[4096];
        char **names = NULL;
        snprintf(dir, sizeof dir, "%s/%s", root, suites[s]);
        int n = list_dir(dir, NULL, &names);
        int sp = 0, sf = 0, su = 0;
        for (int i = 0; i < n; i++) {
            char path[8192], msg[2048] = "";
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            result r = run_one(names[i], path, msg, sizeof msg);
            if (r == RES_PASS) sp++;
            if (r == RES_FAIL) {
                sf++;
                printf("FAIL %s/%s: %s\n", suites[s], names[i], msg);
            }
            if (r == RES_UNSUPPORTED) {
                su++;
                printf("UNSUPPORTED %s/%s: %s\n", suites[s], names[i], msg);
            }
        }
        printf("suite %s: %d passed, %d failed, %d unsupported\n", suites[s], sp, sf, su);
        pass += sp;
        fail += sf;
        unsup += su;
        free_list(names, n);
    }
    printf("%d passed, %d failed, %d unsupported\n", pass, fail, unsup);
    return 0;
}

/* ------------------------------------------------------------------ coverage */

typedef struct entry_set {
    char **items;
    int n, cap;
} entry_set;

static void set_add(entry_set *s, const char *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->items = realloc(s->items, (size_t)s->cap * sizeof *s->items);
    }
    s->items[s->n++] = strdup(v);
}

static void set_free(entry_set *s)
{
    for (int i = 0; i < s->n; i++) free(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}

static int set_has(const entry_set *s, const char *v)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->items[i], v) == 0) return 1;
    return 0;
}

/* Reads the first word of every non-empty, non-comment line of a list file. */
static int read_list(const char *path, entry_set *out, int need_reason, int *bad)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int lineno = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || !*p) continue;
        char word[512];
        int used = 0;
        if (sscanf(p, "%511s%n", word, &used) != 1) continue;
        const char *rest = p + used;
        while (*rest == ' ' || *rest == '\t') rest++;
        if (need_reason && (*rest == '\n' || !*rest)) {
            printf("%s:%d: '%s' has no reason\n", path, lineno, word);
            (*bad)++;
        }
        if (set_has(out, word)) {
            printf("%s:%d: '%s' is listed twice\n", path, lineno, word);
            (*bad)++;
        }
        set_add(out, word);
    }
    fclose(f);
    return 0;
}

static int coverage(const char *listdir, const char *root, const char *fixtures)
{
    entry_set pass = {0}, unsup = {0}, unit_ops = {0};
    int bad = 0;
    char **files = NULL;
    int nf = list_dir(listdir, NULL, &files);
    for (int i = 0; i < nf; i++) {
        char path[4096];
        size_t len = strlen(files[i]);
        if (len < 4 || strcmp(files[i] + len - 4, ".txt") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", listdir, files[i]);
        if (strcmp(files[i], "ops_covered_by_unit_tests.txt") == 0)
            read_list(path, &unit_ops, 1, &bad);
        else if (strstr(files[i], "_unsupported.txt"))
            read_list(path, &unsup, 1, &bad);
        else
            read_list(path, &pass, 0, &bad);
    }
    free_list(files, nf);
    for (int i = 0; i < pass.n; i++)
        if (set_has(&unsup, pass.items[i])) {
            printf("'%s' is listed as passing and as unsupported\n", pass.items[i]);
            bad++;
        }
    /* Every directory of every suite is in exactly one list. */
    for (size_t s = 0; s < sizeof suites / sizeof *suites; s++) {
        char dir[4096], entry[1024];
        char **names = NULL;
        snprintf(dir, sizeof dir, "%s/%s", root, suites[s]);
        int n = list_dir(dir, NULL, &names);
        for (int i = 0; i < n; i++) {
            snprintf(entry, sizeof entry, "%s/%s", suites[s], names[i]);
            if (!set_has(&pass, entry) && !set_has(&unsup, entry)) {
                printf("'%s' is in no list (add it to a family's list or its _unsupported list)\n",
                       entry);
                bad++;
            }
        }
        free_list(names, n);
    }
    /* Every registered operator type has a passing test (or a unit test that says so). */
    entry_set covered = {0};
    for (int i = 0; i < pass.n; i++) {
        char dir[4096], path[4200];
        pq_graph *g = NULL;
        pq_err err = {0};
        resolve(root, fixtures, pass.items[i], dir, sizeof dir);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        if (pq_onnx_load(path, &g, &err) != PQ_OK) {
            printf("'%s' is listed as passing but does not load: %s\n", pass.items[i], err.msg);
            bad++;
            continue;
        }
        for (int64_t k = 0; k < g->ops.n; k++) {
            const pq_op *op = g->ops.items[k];
            char key[256];
            snprintf(key, sizeof key, "%s%s%s", op->domain[0] ? op->domain : "",
                     op->domain[0] ? "." : "", op->type);
            if (!set_has(&covered, key)) set_add(&covered, key);
        }
        pq_graph_destroy(&g);
    }
    int64_t n_defs;
    const pq_op_def *const *defs = pq_registry_builtins(&n_defs);
    for (int64_t k = 0; k < n_defs; k++) {
        char key[256];
        const char *dom = defs[k]->domain ? defs[k]->domain : "";
        snprintf(key, sizeof key, "%s%s%s", dom, dom[0] ? "." : "", defs[k]->name);
        if (!set_has(&covered, key) && !set_has(&unit_ops, key)) {
            printf("registered operator %s has no passing conformance test\n", key);
            bad++;
            set_add(&covered, key);
        }
    }
    printf("coverage: %d passing tests, %d unsupported with reasons, %lld operator "
           "definitions, %d problems\n",
           pass.n, unsup.n, (long long)n_defs, bad);
    set_free(&pass);
    set_free(&unsup);
    set_free(&unit_ops);
    set_free(&covered);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *root = PQ_ONNX_TESTDATA, *fixtures = PQ_FIXTURES_DIR, *coverage_dir = NULL;
    int do_survey = 0, first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        if (strcmp(argv[first], "--root") == 0 && first + 1 < argc)
            root = argv[++first];
        else if (strcmp(argv[first], "--fixtures") == 0 && first + 1 < argc)
            fixtures = argv[++first];
        else if (strcmp(argv[first], "--survey") == 0)
            do_survey = 1;
        else if (strcmp(argv[first], "--coverage") == 0 && first + 1 < argc)
            coverage_dir = argv[++first];
        else {
            fprintf(stderr, "usage: pq_node_test [--root DIR] [--fixtures DIR] "
                            "(--survey | --coverage LISTDIR | TEST...)\n");
            return 2;
        }
    }
    if (do_survey) return survey(root);
    if (coverage_dir) return coverage(coverage_dir, root, fixtures);
    if (first >= argc) {
        fprintf(stderr, "pq_node_test: no test given\n");
        return 2;
    }
    int pass = 0, fail = 0, unsup = 0;
    for (int i = first; i < argc; i++) {
        char dir[4096], msg[2048] = "";
        resolve(root, fixtures, argv[i], dir, sizeof dir);
        result r = run_one(argv[i], dir, msg, sizeof msg);
        if (r == RES_PASS) {
            pass++;
            printf("PASS %s\n", argv[i]);
        } else {
            printf("%s %s: %s\n", r == RES_FAIL ? "FAIL" : "UNSUPPORTED", argv[i], msg);
            if (r == RES_FAIL) fail++;
            else unsup++;
        }
    }
    printf("%d passed, %d failed, %d unsupported\n", pass, fail, unsup);
    return (fail || unsup) ? 1 : 0;
}
