/* test_search.c - path, op-set and pattern matching (pq_search.h): exact result lists on
 * small graphs, the exclusive rule on both sides (edges entering a non-root node, edges
 * leaving a non-leaf node), DAG patterns, malformed patterns and the candidate bounds. */
#include "pq_search.h"
#include "pq_test.h"


/* Adds op `name` of `type` reading the comma-separated `ins` and writing `outs`; variables
 * are created on first use; names starting with "w" are parameters (one float). */
static pq_op *add_op(pq_graph *g, const char *type, const char *name, const char *ins,
                     const char *outs)
{
    pq_err err = {0};
    pq_op *op = NULL;
    PQ_EXPECT_OK(pq_graph_create_op(g, type, name, NULL, 13, &op, &err), &err);
    for (int side = 0; side < 2 && op; side++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", side ? outs : ins);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            pq_var *v = pq_graph_find_var(g, t);
            if (!v) {
                if (t[0] == 'w') {
                    pq_tensor *w = NULL;
                    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, &w, &err), &err);
                    PQ_EXPECT_OK(pq_graph_create_parameter(g, t, w, &v, &err), &err);
                } else {
                    PQ_EXPECT_OK(pq_graph_create_var(g, t, &v, &err), &err);
                }
            }
            if (side)
                PQ_EXPECT_OK(pq_graph_add_output(g, op, v, &err), &err);
            else
                PQ_EXPECT_OK(pq_graph_add_input(g, op, v, &err), &err);
        }
    }
    return op;
}

static pq_graph *new_graph(void)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    PQ_EXPECT_OK(pq_graph_create("t", &g, &err), &err);
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 13, &err), &err);
    return g;
}

/* "a>b>c" names of a match joined with '>'. */
static const char *names(const pq_match *m, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->n && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? ">" : "", m->ops[i]->name);
    return buf;
}

/* Whether some match of ms prints as `want`. */
static int has_match(const pq_matches *ms, const char *want)
{
    char buf[256];
    for (int64_t k = 0; k < ms->n; k++)
        if (strcmp(names(&ms->items[k], buf, sizeof buf), want) == 0) return 1;
    return 0;
}

/*   x -> c1(Conv) -> r1(Relu) -> bn(BatchNormalization) -> a1(Add) <- c2(Conv) <- x
 *                          \-> p1(MaxPool) -> a2(Add) <- r1 */
static pq_graph *branchy(void)
{
    pq_graph *g = new_graph();
    add_op(g, "Conv", "c1", "x,w1", "y1");
    add_op(g, "Relu", "r1", "y1", "y2");
    add_op(g, "BatchNormalization", "bn", "y2,ws,wb,wm,wv", "y3");
    add_op(g, "Conv", "c2", "x,w2", "y4");
    add_op(g, "Add", "a1", "y3,y4", "y5");
    add_op(g, "MaxPool", "p1", "y2", "y6");
    add_op(g, "Add", "a2", "y6,y2", "y7");
    return g;
}

PQ_TEST(type_predicate_matches_types_and_domains)
{
    pq_graph *g = new_graph();
    pq_op *a = add_op(g, "Gelu", "ms_gelu", "x", "y"), *b = add_op(g, "Gelu", "onnx_gelu", "y", "z");
    pq_op *c = add_op(g, "Relu", "relu", "z", "q");
    pq_free(a->domain);
    a->domain = pq_strdup("com.microsoft");
    pq_op_pred onnx = PQ_PRED_TYPES("Gelu", "Relu");
    pq_op_pred ms = PQ_PRED_TYPES("com.microsoft:Gelu");
    PQ_EXPECT(!pq_pred_eval(onnx, a));
    PQ_EXPECT(pq_pred_eval(onnx, b));
    PQ_EXPECT(pq_pred_eval(onnx, c));
    PQ_EXPECT(pq_pred_eval(ms, a));
    PQ_EXPECT(!pq_pred_eval(ms, b));
    PQ_EXPECT(pq_pred_eval(PQ_PRED_ANY, c));
    pq_graph_destroy(&g);
}

PQ_TEST(path_matching_down_lists_every_path)
{
    pq_err err = {0};
    pq_graph *g = branchy();
    pq_matches ms = {0};
    /* From a Conv through Relu/BN/MaxPool to an Add. */
    pq_op_relay relay = {NULL, NULL};
    PQ_EXPECT_OK(pq_graph_path_matching(g, PQ_PRED_TYPES("Conv"), relay, PQ_PRED_TYPES("Add"),
                                        PQ_SEARCH_DOWN, 0, &ms, &err),
                 &err);
    /* c1: via r1 -> bn -> a1, r1 -> p1 -> a2, r1 -> a2 directly; c2 -> a1. */
    PQ_EXPECT_EQ(ms.n, 4);
    PQ_EXPECT(has_match(&ms, "c1>r1>bn>a1"));
    PQ_EXPECT(has_match(&ms, "c1>r1>p1>a2"));
    PQ_EXPECT(has_match(&ms, "c1>r1>a2"));
    PQ_EXPECT(has_match(&ms, "c2>a1"));
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

static int relay_no_pool(const pq_op *prev, const pq_op *op, void *user)
{
    (void)prev;
    (void)user;
    return strcmp(op->type, "MaxPool") != 0;
}

PQ_TEST(path_matching_relay_condition_and_direction_up)
{
    pq_err err = {0};
    pq_graph *g = branchy();
    pq_matches ms = {0};
    pq_op_relay relay = {relay_no_pool, NULL};
    PQ_EXPECT_OK(pq_graph_path_matching(g, PQ_PRED_TYPES("Conv"), relay, PQ_PRED_TYPES("Add"),
                                        PQ_SEARCH_DOWN, 0, &ms, &err),
                 &err);
    PQ_EXPECT_EQ(ms.n, 3);
    PQ_EXPECT(!has_match(&ms, "c1>r1>p1>a2"));
    pq_matches_free(&ms);
    /* Upwards from each Add to a Conv: paths are listed from the start (the Add). */
    PQ_EXPECT_OK(pq_graph_path_matching(g, PQ_PRED_TYPES("Add"), (pq_op_relay){NULL, NULL},
                                        PQ_PRED_TYPES("Conv"), PQ_SEARCH_UP, 0, &ms, &err),
                 &err);
    PQ_EXPECT_EQ(ms.n, 4);
    PQ_EXPECT(has_match(&ms, "a1>bn>r1>c1"));
    PQ_EXPECT(has_match(&ms, "a1>c2"));
    PQ_EXPECT(has_match(&ms, "a2>p1>r1>c1"));
    PQ_EXPECT(has_match(&ms, "a2>r1>c1"));
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(path_matching_stops_at_the_first_end)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    add_op(g, "Conv", "c", "x,w", "a");
    add_op(g, "Relu", "r1", "a", "b");
    add_op(g, "Relu", "r2", "b", "c2");
    pq_matches ms = {0};
    PQ_EXPECT_OK(pq_graph_path_matching(g, PQ_PRED_TYPES("Conv"), (pq_op_relay){NULL, NULL},
                                        PQ_PRED_TYPES("Relu"), PQ_SEARCH_DOWN, 0, &ms, &err),
                 &err);
    PQ_EXPECT_EQ(ms.n, 1);
    PQ_EXPECT(has_match(&ms, "c>r1"));
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(opset_matching_is_the_union_of_the_paths)
{
    pq_err err = {0};
    pq_graph *g = branchy();
    /* A dead end: r1 -> s1(Sigmoid) leads to no Add. */
    add_op(g, "Sigmoid", "s1", "y2", "y8");
    pq_ptrvec set = {0};
    pq_matches ms = {0};
    pq_op_relay relay = {relay_no_pool, NULL};
    PQ_EXPECT_OK(pq_graph_opset_matching(g, PQ_PRED_TYPES("Conv"), relay, PQ_PRED_TYPES("Add"),
                                         PQ_SEARCH_DOWN, &set, &err),
                 &err);
    PQ_EXPECT_OK(pq_graph_path_matching(g, PQ_PRED_TYPES("Conv"), relay, PQ_PRED_TYPES("Add"),
                                        PQ_SEARCH_DOWN, 0, &ms, &err),
                 &err);
    /* Same ops as the union of the paths: c1 r1 bn c2 a1 a2 (not p1: relay refuses it; not
     * s1: no Add after it). */
    int in_paths = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        pq_op *op = g->ops.items[k];
        int on_path = 0;
        for (int64_t m = 0; m < ms.n; m++)
            for (int i = 0; i < ms.items[m].n; i++)
                if (ms.items[m].ops[i] == op) on_path = 1;
        in_paths += on_path;
        if (on_path != (pq_ptrvec_find(&set, op) >= 0))
            PQ_FAIL_AT("op %s: on a path %d, in the set %d", op->name, on_path,
                       pq_ptrvec_find(&set, op) >= 0);
    }
    PQ_EXPECT_EQ(set.n, 6);
    PQ_EXPECT_EQ(in_paths, 6);
    /* In graph order. */
    for (int64_t k = 1; k < set.n; k++)
        PQ_EXPECT(pq_ptrvec_find(&g->ops, set.items[k - 1]) < pq_ptrvec_find(&g->ops, set.items[k]));
    pq_ptrvec_free(&set);
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(path_matching_bound_fails_cleanly)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    /* A ladder of 16 diamonds: 2^16 paths from the first op to the last. */
    char prev[32] = "x", name[32], o1[32], o2[32], ins[80], out[32];
    add_op(g, "Conv", "start", "x,w", "s0");
    snprintf(prev, sizeof prev, "s0");
    for (int k = 0; k < 16; k++) {
        snprintf(o1, sizeof o1, "l%d", k);
        snprintf(o2, sizeof o2, "r%d", k);
        snprintf(name, sizeof name, "L%d", k);
        add_op(g, "Relu", name, prev, o1);
        snprintf(name, sizeof name, "R%d", k);
        add_op(g, "Relu", name, prev, o2);
        snprintf(name, sizeof name, "J%d", k);
        snprintf(ins, sizeof ins, "%s,%s", o1, o2);
        snprintf(out, sizeof out, "j%d", k);
        add_op(g, k == 15 ? "Softmax" : "Add", name, ins, out);
        snprintf(prev, sizeof prev, "%s", out);
    }
    pq_matches ms = {0};
    PQ_EXPECT_EQ(pq_graph_path_matching(g, PQ_PRED_TYPES("Conv"), (pq_op_relay){NULL, NULL},
                                        PQ_PRED_TYPES("Softmax"), PQ_SEARCH_DOWN, 10000, &ms,
                                        &err),
                 PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "path search stopped after 10000 steps");
    PQ_EXPECT_EQ(ms.n, 0);
    /* The same graph with the default bound finds all 65536 paths. */
    PQ_EXPECT_OK(pq_graph_path_matching(g, PQ_PRED_TYPES("Conv"), (pq_op_relay){NULL, NULL},
                                        PQ_PRED_TYPES("Softmax"), PQ_SEARCH_DOWN, 0, &ms, &err),
                 &err);
    PQ_EXPECT_EQ(ms.n, 65536);
    pq_matches_free(&ms);
    /* The op-set version does not enumerate: every op is on some path. */
    pq_ptrvec set = {0};
    PQ_EXPECT_OK(pq_graph_opset_matching(g, PQ_PRED_TYPES("Conv"), (pq_op_relay){NULL, NULL},
                                         PQ_PRED_TYPES("Softmax"), PQ_SEARCH_DOWN, &set, &err),
                 &err);
    PQ_EXPECT_EQ(set.n, g->ops.n);
    pq_ptrvec_free(&set);
    pq_graph_destroy(&g);
}

/* x -> c(Conv) -> b(BN) -> r(Relu) -> y */
static pq_graph *conv_bn_relu(void)
{
    pq_graph *g = new_graph();
    add_op(g, "Conv", "c", "x,w", "t1");
    add_op(g, "BatchNormalization", "b", "t1,ws,wb,wm,wv", "t2");
    add_op(g, "Relu", "r", "t2", "y");
    return g;
}

static const int chain3[][2] = {{0, 1}, {1, 2}};

PQ_TEST(pattern_matching_chain)
{
    pq_err err = {0};
    pq_graph *g = conv_bn_relu();
    pq_op_pred pat[3] = {PQ_PRED_TYPES("Conv"), PQ_PRED_TYPES("BatchNormalization"),
                         PQ_PRED_TYPES("Relu", "Clip")};
    pq_matches ms = {0};
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 3, chain3, 2, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 1);
    PQ_EXPECT(has_match(&ms, "c>b>r"));
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(pattern_matching_exclusive_rejects_edges_leaving_a_non_leaf)
{
    pq_err err = {0};
    pq_graph *g = conv_bn_relu();
    pq_op_pred pat[3] = {PQ_PRED_TYPES("Conv"), PQ_PRED_TYPES("BatchNormalization"),
                         PQ_PRED_TYPES("Relu")};
    pq_matches ms = {0};
    /* The BN output also feeds an op outside the match: not exclusive. */
    add_op(g, "Sigmoid", "side", "t2", "s");
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 3, chain3, 2, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 0);
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 3, chain3, 2, 0, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 1);
    pq_matches_free(&ms);
    /* Edges leaving the leaf are fine: the Relu output has two readers. */
    pq_graph_destroy(&g);
    g = conv_bn_relu();
    add_op(g, "Sigmoid", "after1", "y", "s1");
    add_op(g, "Tanh", "after2", "y", "s2");
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 3, chain3, 2, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 1);
    pq_matches_free(&ms);
    /* A graph output in the middle of the match is an edge leaving it too. */
    PQ_EXPECT_OK(pq_graph_mark_output(g, pq_graph_find_var(g, "t1"), &err), &err);
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 3, chain3, 2, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 0);
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(pattern_matching_exclusive_rejects_edges_entering_a_non_root)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    /* c(Conv) -> a(Add) <- other(Relu); pattern Conv -> Add. */
    add_op(g, "Conv", "c", "x,w", "t1");
    add_op(g, "Relu", "other", "x", "t2");
    add_op(g, "Add", "a", "t1,t2", "y");
    pq_op_pred pat[2] = {PQ_PRED_TYPES("Conv"), PQ_PRED_TYPES("Add")};
    static const int e[][2] = {{0, 1}};
    pq_matches ms = {0};
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 2, e, 1, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 0);
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 2, e, 1, 0, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 1);
    pq_matches_free(&ms);
    /* A parameter input of a non-root node is not an edge: Conv -> Add(t1, w_bias). */
    pq_graph_destroy(&g);
    g = new_graph();
    add_op(g, "Conv", "c", "x,w", "t1");
    add_op(g, "Add", "a", "t1,wbias", "y");
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 2, e, 1, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 1);
    pq_matches_free(&ms);
    /* A graph input read by a non-root node is an edge from outside. */
    pq_graph_destroy(&g);
    g = new_graph();
    add_op(g, "Conv", "c", "x,w", "t1");
    add_op(g, "Add", "a", "t1,x2", "y");
    PQ_EXPECT_OK(pq_graph_mark_input(g, pq_graph_find_var(g, "x2"), &err), &err);
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 2, e, 1, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 0);
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(pattern_matching_dag_checks_every_edge)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    /* Diamond: s(Split-like Relu) -> p(Sigmoid), q(Tanh) -> m(Mul). A second Mul reads p
     * and an unrelated Tanh: it must not match (edge q -> m missing). */
    add_op(g, "Relu", "s", "x", "t");
    add_op(g, "Sigmoid", "p", "t", "tp");
    add_op(g, "Tanh", "q", "t", "tq");
    add_op(g, "Mul", "m", "tp,tq", "y");
    add_op(g, "Tanh", "q2", "x", "tq2");
    add_op(g, "Mul", "m2", "tp,tq2", "y2");
    pq_op_pred pat[4] = {PQ_PRED_TYPES("Relu"), PQ_PRED_TYPES("Sigmoid"), PQ_PRED_TYPES("Tanh"),
                         PQ_PRED_TYPES("Mul")};
    static const int e[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
    pq_matches ms = {0};
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 4, e, 4, 0, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 1);
    PQ_EXPECT(has_match(&ms, "s>p>q>m"));
    pq_matches_free(&ms);
    /* Exclusive: p's output also goes to m2 (outside): rejected. */
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 4, e, 4, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 0);
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(pattern_matching_symmetric_nodes_give_every_assignment)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    add_op(g, "Relu", "r", "x", "t");
    add_op(g, "Sigmoid", "a", "t", "ya");
    add_op(g, "Sigmoid", "b", "t", "yb");
    pq_op_pred pat[3] = {PQ_PRED_TYPES("Relu"), PQ_PRED_TYPES("Sigmoid"), PQ_PRED_TYPES("Sigmoid")};
    static const int e[][2] = {{0, 1}, {0, 2}};
    pq_matches ms = {0};
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 3, e, 2, 1, 0, &ms, &err), &err);
    /* Two distinct ops per match, both orders. */
    PQ_EXPECT_EQ(ms.n, 2);
    PQ_EXPECT(has_match(&ms, "r>a>b"));
    PQ_EXPECT(has_match(&ms, "r>b>a"));
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(pattern_matching_candidate_bound_fails_cleanly)
{
    pq_err err = {0};
    pq_graph *g = new_graph();
    /* One Relu feeding 60 Sigmoids; a root with three Sigmoid children has 60*59*58
     * assignments. */
    add_op(g, "Relu", "r", "x", "t");
    for (int k = 0; k < 60; k++) {
        char name[16], out[16];
        snprintf(name, sizeof name, "s%d", k);
        snprintf(out, sizeof out, "o%d", k);
        add_op(g, "Sigmoid", name, "t", out);
    }
    pq_op_pred pat[4] = {PQ_PRED_TYPES("Relu"), PQ_PRED_TYPES("Sigmoid"), PQ_PRED_TYPES("Sigmoid"),
                         PQ_PRED_TYPES("Sigmoid")};
    static const int e[][2] = {{0, 1}, {0, 2}, {0, 3}};
    pq_matches ms = {0};
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 4, e, 3, 0, 5000, &ms, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "pattern search stopped after 5000 candidates");
    PQ_EXPECT_EQ(ms.n, 0);
    PQ_EXPECT(ms.items == NULL || ms.n == 0);
    /* Under the default bound it completes with the exact count. */
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 4, e, 3, 0, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 60 * 59 * 58);
    pq_matches_free(&ms);
    /* Results already in `out` survive a failed search. */
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 2, e, 1, 0, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 60);
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 4, e, 3, 0, 100, &ms, &err), PQ_ERR_INVALID);
    PQ_EXPECT_EQ(ms.n, 60);
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(pattern_matching_refuses_malformed_patterns)
{
    pq_err err = {0};
    pq_graph *g = conv_bn_relu();
    pq_op_pred pat[3] = {PQ_PRED_ANY, PQ_PRED_ANY, PQ_PRED_ANY};
    pq_matches ms = {0};
    static const int out_of_range[][2] = {{0, 3}};
    static const int self[][2] = {{0, 1}, {1, 1}};
    static const int two_roots[][2] = {{0, 2}, {1, 2}};
    static const int cycle[][2] = {{0, 1}, {1, 2}, {2, 1}};
    static const int into_root[][2] = {{0, 1}, {1, 2}, {2, 0}};
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 3, out_of_range, 1, 0, 0, &ms, &err),
                 PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "outside 0..2");
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 2, self, 2, 0, 0, &ms, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "to itself");
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 3, two_roots, 2, 0, 0, &ms, &err),
                 PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "node 1 has no incoming edge");
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 3, cycle, 3, 0, 0, &ms, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "cycle");
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 3, into_root, 3, 0, 0, &ms, &err),
                 PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "root");
    PQ_EXPECT_EQ(pq_graph_pattern_matching(g, pat, 0, NULL, 0, 0, 0, &ms, &err), PQ_ERR_INVALID);
    PQ_EXPECT_EQ(ms.n, 0);
    /* A single node pattern: every op matching it. */
    PQ_EXPECT_OK(pq_graph_pattern_matching(g, pat, 1, NULL, 0, 1, 0, &ms, &err), &err);
    PQ_EXPECT_EQ(ms.n, 3);
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST(search_results_survive_allocation_failure)
{
    pq_err err = {0};
    pq_graph *g = branchy();
    pq_op_pred pat[3] = {PQ_PRED_TYPES("Conv"), PQ_PRED_TYPES("Relu"), PQ_PRED_ANY};
    pq_matches ms = {0};
    int failed = 0;
    for (int64_t n = 0; n < 200; n++) {
        pq_alloc_fail_after(n);
        pq_status st = pq_graph_pattern_matching(g, pat, 3, chain3, 2, 0, 0, &ms, &err);
        pq_alloc_fail_after(-1);
        if (st == PQ_OK) break;
        PQ_EXPECT_EQ(st, PQ_ERR_NOMEM);
        PQ_EXPECT_EQ(ms.n, 0);
        failed++;
    }
    PQ_EXPECT(failed > 0);
    PQ_EXPECT_EQ(ms.n, 3); /* c1>r1>bn, c1>r1>p1, c1>r1>a2 */
    pq_matches_free(&ms);
    pq_graph_destroy(&g);
}

PQ_TEST_MAIN()
