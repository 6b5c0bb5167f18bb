/* pq_test_graph.h - build, run and free a graph of one operation in operator unit tests.
 *
 *   one_op s; one_begin(&s, "Resize", 13); one_input(&s, "X", x, 0); one_output(&s, "Y");
 *   pq_tensor *y; PQ_EXPECT_OK(one_run(&s, &y), &s.err); ... one_end(&s);
 */
#ifndef PQ_TEST_GRAPH_H
#define PQ_TEST_GRAPH_H

#include "pq_exec.h"
#include "pq_test.h"


typedef struct one_op {
    pq_graph *g;
    pq_op *op;
    int n_feeds, n_out;
    const char *feed_names[8];
    pq_tensor *feeds[8];
    const char *out_names[4];
    pq_err err;
} one_op;

static void one_begin(one_op *s, const char *type, int opset)
{
    memset(s, 0, sizeof *s);
    PQ_EXPECT_OK(pq_graph_create("t", &s->g, &s->err), &s->err);
    PQ_EXPECT_OK(pq_graph_set_opset(s->g, "", opset, &s->err), &s->err);
    PQ_EXPECT_OK(pq_graph_create_op(s->g, type, "node", NULL, 0, &s->op, &s->err), &s->err);
}

/* Adds an input: t NULL = omitted; constant = parameter; otherwise a fed graph input.
 * Takes ownership of t. */
static void one_input(one_op *s, const char *name, pq_tensor *t, int constant)
{
    pq_var *v = NULL;
    if (t && constant) {
        PQ_EXPECT_OK(pq_graph_create_parameter(s->g, name, t, &v, &s->err), &s->err);
    } else if (t) {
        PQ_EXPECT_OK(pq_graph_create_var(s->g, name, &v, &s->err), &s->err);
        PQ_EXPECT_OK(pq_graph_mark_input(s->g, v, &s->err), &s->err);
        s->feed_names[s->n_feeds] = name;
        s->feeds[s->n_feeds++] = t;
    }
    PQ_EXPECT_OK(pq_graph_add_input(s->g, s->op, v, &s->err), &s->err);
}

/* Adds an output (name NULL = omitted). */
static void one_output(one_op *s, const char *name)
{
    pq_var *v = NULL;
    if (name) {
        PQ_EXPECT_OK(pq_graph_create_var(s->g, name, &v, &s->err), &s->err);
        s->out_names[s->n_out++] = name;
    }
    PQ_EXPECT_OK(pq_graph_add_output(s->g, s->op, v, &s->err), &s->err);
    if (v) PQ_EXPECT_OK(pq_graph_mark_output(s->g, v, &s->err), &s->err);
}

/* Runs the graph; outs receives the named outputs (caller destroys). */
static pq_status one_run(one_op *s, pq_tensor **outs)
{
    pq_executor *ex = NULL;
    pq_status st = pq_executor_create(s->g, NULL, &ex, &s->err);
    if (st == PQ_OK)
        st = pq_executor_run(ex, s->n_feeds, s->feed_names, s->feeds, s->n_out, s->out_names,
                             outs, &s->err);
    pq_executor_destroy(&ex);
    return st;
}

static void one_end(one_op *s)
{
    for (int i = 0; i < s->n_feeds; i++) pq_tensor_destroy(&s->feeds[i]);
    pq_graph_destroy(&s->g);
}

#endif /* PQ_TEST_GRAPH_H */
