/* test_ops_reduce_graph.h - one-operator graphs for the reduce, norm and quant unit tests:
 * build an op whose inputs are all fed graph inputs, set attributes on it, run it through
 * the executor with the built-in operators, and compare tensors with naive references. */
#ifndef TEST_OPS_REDUCE_GRAPH_H
#define TEST_OPS_REDUCE_GRAPH_H

#include "pq_exec.h"
#include "pq_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define T1_MAX_IO 8

typedef struct t1_graph {
    pq_graph *g;
    pq_op *op;
    int n_in, n_out;
    char in_names[T1_MAX_IO][16], out_names[T1_MAX_IO][16];
} t1_graph;

/* An op of `type` at `opset` with n_in inputs (in_mask bit i clear: input i omitted) and
 * n_out outputs (out_mask bit i clear: output i omitted). */
static inline void t1_make(t1_graph *t, const char *type, int opset, int n_in, unsigned in_mask,
                           int n_out, unsigned out_mask)
{
    pq_err err = {0};
    memset(t, 0, sizeof *t);
    t->n_in = n_in;
    t->n_out = n_out;
    PQ_EXPECT_OK(pq_graph_create("t1", &t->g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(t->g, "", opset, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(t->g, type, "op", "", 0, &t->op, &err), &err);
    for (int i = 0; i < n_in; i++) {
        pq_var *v = NULL;
        snprintf(t->in_names[i], sizeof t->in_names[i], "in%d", i);
        if (in_mask & (1u << i)) {
            PQ_EXPECT_OK(pq_graph_create_var(t->g, t->in_names[i], &v, &err), &err);
            PQ_EXPECT_OK(pq_graph_mark_input(t->g, v, &err), &err);
        }
        PQ_EXPECT_OK(pq_graph_add_input(t->g, t->op, v, &err), &err);
    }
    for (int i = 0; i < n_out; i++) {
        pq_var *v = NULL;
        snprintf(t->out_names[i], sizeof t->out_names[i], "out%d", i);
        if (out_mask & (1u << i)) {
            PQ_EXPECT_OK(pq_graph_create_var(t->g, t->out_names[i], &v, &err), &err);
            PQ_EXPECT_OK(pq_graph_mark_output(t->g, v, &err), &err);
        }
        PQ_EXPECT_OK(pq_graph_add_output(t->g, t->op, v, &err), &err);
    }
}

/* Runs the graph on the given inputs (NULL for omitted ones) and returns the present
 * outputs in outs (caller destroys). Returns the status; err says why. */
static inline pq_status t1_run(t1_graph *t, pq_tensor **ins, pq_tensor **outs, pq_err *err)
{
    pq_executor *ex = NULL;
    const char *feed_names[T1_MAX_IO], *req[T1_MAX_IO];
    pq_tensor *feeds[T1_MAX_IO], *got[T1_MAX_IO] = {0};
    int nf = 0, nr = 0;
    for (int i = 0; i < t->n_in; i++)
        if (ins[i]) {
            feed_names[nf] = t->in_names[i];
            feeds[nf++] = ins[i];
        }
    for (int i = 0; i < t->n_out; i++)
        if (t->op->outputs[i]) req[nr++] = t->out_names[i];
    pq_status st = pq_executor_create(t->g, NULL, &ex, err);
    if (st == PQ_OK) st = pq_executor_run(ex, nf, feed_names, feeds, nr, req, got, err);
    pq_executor_destroy(&ex);
    for (int i = 0, k = 0; i < t->n_out; i++) {
        outs[i] = NULL;
        if (t->op->outputs[i]) outs[i] = st == PQ_OK ? got[k++] : NULL;
    }
    return st;
}

static inline void t1_free(t1_graph *t) { pq_graph_destroy(&t->g); }

static inline pq_tensor *t1_tensor(pq_dtype dt, int rank, const int64_t *dims)
{
    pq_err err = {0};
    pq_tensor *x = NULL;
    PQ_EXPECT_OK(pq_tensor_create(dt, rank, dims, &x, &err), &err);
    return x;
}

/* Counts elements of `got` (any float dtype) that differ from ref beyond atol + rtol|ref|
 * (NaN must meet NaN); prints the first few. */
static inline int t1_compare(const char *what, const pq_tensor *got, const double *ref,
                             int64_t n, double atol, double rtol)
{
    int bad = 0;
    if (!got || got->numel != n) {
        PQ_FAIL_AT("%s: got %" PRId64 " elements, expected %" PRId64, what,
                   got ? got->numel : (int64_t)-1, n);
        return 1;
    }
    for (int64_t i = 0; i < n; i++) {
        double g = pq_tensor_get_f64(got, i), r = ref[i];
        int ok = (r != r) ? (g != g) : (g == r || fabs(g - r) <= atol + rtol * fabs(r));
        if (!ok && bad++ < 5)
            PQ_FAIL_AT("%s: index %" PRId64 ": got %.9g, expected %.9g", what, i, g, r);
    }
    return bad;
}

#endif /* TEST_OPS_REDUCE_GRAPH_H */
