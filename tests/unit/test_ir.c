/* test_ir.c - the graph IR editing API: every call, its effect on both edge sides, and
 * its refusals. */
#include "pq_ir.h"
#include "pq_test.h"

/* x -> A(Relu) -> a -> B(Add, a + w) -> b -> C(Relu) -> y ; w is a parameter. */
typedef struct chain {
    pq_graph *g;
    pq_op *A, *B, *C;
    pq_var *x, *a, *w, *b, *y;
} chain;

static void make_chain(chain *c)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    int64_t dims[1] = {4};
    PQ_EXPECT_OK(pq_graph_create("chain", &c->g, &err), &err);
    pq_graph *g = c->g;
    PQ_EXPECT_OK(pq_graph_set_opset(g, "", 13, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "x", &c->x, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "a", &c->a, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "b", &c->b, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_var(g, "y", &c->y, &err), &err);
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 1, dims, &t, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_parameter(g, "w", t, &c->w, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "Relu", "A", NULL, 0, &c->A, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "Add", "B", NULL, 0, &c->B, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_op(g, "Relu", "C", NULL, 0, &c->C, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, c->A, c->x, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, c->A, c->a, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, c->B, c->a, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, c->B, c->w, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, c->B, c->b, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(g, c->C, c->b, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_output(g, c->C, c->y, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_input(g, c->x, &err), &err);
    PQ_EXPECT_OK(pq_graph_mark_output(g, c->y, &err), &err);
    PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
}

PQ_TEST(create_and_find)
{
    chain c;
    make_chain(&c);
    PQ_EXPECT(pq_graph_find_op(c.g, "B") == c.B);
    PQ_EXPECT(pq_graph_find_var(c.g, "w") == c.w);
    PQ_EXPECT(pq_graph_find_var(c.g, "nope") == NULL);
    PQ_EXPECT_EQ(c.B->opset, 13);
    PQ_EXPECT(pq_var_is_parameter(c.w));
    PQ_EXPECT_EQ(c.w->rank, 1);
    PQ_EXPECT_EQ(c.w->dims[0], 4);
    PQ_EXPECT(c.a->source_op == c.A);
    PQ_EXPECT_EQ(c.a->dest_ops.n, 1);
    PQ_EXPECT(c.a->dest_ops.items[0] == c.B);
    pq_graph_destroy(&c.g);
    PQ_EXPECT(c.g == NULL);
}

PQ_TEST(refuses_duplicate_names)
{
    chain c;
    pq_err err = {0};
    pq_var *v = NULL;
    pq_op *op = NULL;
    make_chain(&c);
    PQ_EXPECT_EQ(pq_graph_create_var(c.g, "a", &v, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "'a' already exists");
    PQ_EXPECT(v == NULL);
    PQ_EXPECT_EQ(pq_graph_create_op(c.g, "Relu", "A", NULL, 0, &op, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "'A' already exists");
    /* Generated names never collide. */
    PQ_EXPECT_OK(pq_graph_create_op(c.g, "Relu", NULL, NULL, 0, &op, &err), &err);
    PQ_EXPECT(op && pq_graph_find_op(c.g, op->name) == op);
    pq_graph_destroy(&c.g);
}

PQ_TEST(refuses_foreign_and_double_producers)
{
    chain c, d;
    pq_err err = {0};
    make_chain(&c);
    make_chain(&d);
    /* Linking an op of another graph. */
    PQ_EXPECT_EQ(pq_graph_add_input(c.g, d.A, c.x, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "not in this graph");
    /* A variable of another graph. */
    PQ_EXPECT_EQ(pq_graph_add_input(c.g, c.A, d.x, &err), PQ_ERR_INVALID);
    /* A second producer for 'a'. */
    PQ_EXPECT_EQ(pq_graph_add_output(c.g, c.C, c.a, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "already produced by operation 'A'");
    /* A parameter as an output. */
    PQ_EXPECT_EQ(pq_graph_add_output(c.g, c.C, c.w, &err), PQ_ERR_INVALID);
    /* A produced variable as a graph input. */
    PQ_EXPECT_EQ(pq_graph_mark_input(c.g, c.a, &err), PQ_ERR_INVALID);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    pq_graph_destroy(&c.g);
    pq_graph_destroy(&d.g);
}

PQ_TEST(insert_op_before_and_after)
{
    chain c;
    pq_err err = {0};
    pq_op *q = NULL, *r = NULL;
    make_chain(&c);
    PQ_EXPECT_OK(pq_graph_create_op(c.g, "Identity", "Q", NULL, 0, &q, &err), &err);
    PQ_EXPECT_OK(pq_graph_insert_op_before(c.g, q, c.B, 0, &err), &err);
    /* a -> Q -> new -> B */
    PQ_EXPECT(q->inputs[0] == c.a);
    PQ_EXPECT(c.B->inputs[0] == q->outputs[0]);
    PQ_EXPECT(q->outputs[0]->source_op == q);
    PQ_EXPECT_EQ(c.a->dest_ops.n, 1);
    PQ_EXPECT(c.a->dest_ops.items[0] == q);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);

    /* Inserting an op that already has edges is refused. */
    PQ_EXPECT_EQ(pq_graph_insert_op_before(c.g, q, c.C, 0, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "already has inputs or outputs");
    PQ_EXPECT_EQ(pq_graph_insert_op_after(c.g, q, c.C, 0, &err), PQ_ERR_INVALID);
    /* A missing input index is refused. */
    PQ_EXPECT_OK(pq_graph_create_op(c.g, "Identity", "R", NULL, 0, &r, &err), &err);
    PQ_EXPECT_EQ(pq_graph_insert_op_before(c.g, r, c.B, 5, &err), PQ_ERR_INVALID);

    /* after C: C -> new -> R -> y (y keeps its name and graph-output status) */
    PQ_EXPECT_OK(pq_graph_insert_op_after(c.g, r, c.C, 0, &err), &err);
    PQ_EXPECT(r->outputs[0] == c.y);
    PQ_EXPECT(c.y->source_op == r);
    PQ_EXPECT(c.C->outputs[0] == r->inputs[0]);
    PQ_EXPECT(pq_graph_is_output(c.g, c.y));
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    PQ_EXPECT_OK(pq_graph_topological_sort(c.g, &err), &err);
    PQ_EXPECT_STR(((pq_op *)c.g->ops.items[0])->name, "A");
    PQ_EXPECT_STR(((pq_op *)c.g->ops.items[1])->name, "Q");
    PQ_EXPECT_STR(((pq_op *)c.g->ops.items[4])->name, "R");
    pq_graph_destroy(&c.g);
}

PQ_TEST(insert_op_on_var_moves_consumers)
{
    chain c;
    pq_err err = {0};
    pq_op *q = NULL;
    pq_var *nv = NULL;
    make_chain(&c);
    PQ_EXPECT_OK(pq_graph_create_op(c.g, "Identity", "Q", NULL, 0, &q, &err), &err);
    PQ_EXPECT_OK(pq_graph_insert_op_on_var(c.g, q, c.y, &nv, &err), &err);
    PQ_EXPECT(pq_graph_is_output(c.g, nv));
    PQ_EXPECT(!pq_graph_is_output(c.g, c.y));
    PQ_EXPECT(c.y->dest_ops.n == 1 && c.y->dest_ops.items[0] == q);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    pq_graph_destroy(&c.g);
}

PQ_TEST(remove_op_keep_coherence)
{
    chain c;
    pq_err err = {0};
    make_chain(&c);
    /* B has two inputs but only one activation: coherence keeps 'a' -> C. */
    PQ_EXPECT_OK(pq_graph_remove_op(c.g, c.B, 1, &err), &err);
    PQ_EXPECT(c.C->inputs[0] == c.a);
    PQ_EXPECT(pq_graph_find_var(c.g, "b") == NULL);
    PQ_EXPECT(pq_graph_find_var(c.g, "w") == NULL); /* unused parameter removed */
    PQ_EXPECT(pq_graph_find_op(c.g, "B") == NULL);
    PQ_EXPECT_EQ(c.g->ops.n, 2);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    /* Removing the last op keeping coherence: y's name survives on the graph output. */
    PQ_EXPECT_OK(pq_graph_remove_op(c.g, c.C, 1, &err), &err);
    PQ_EXPECT_EQ(c.g->outputs.n, 1);
    PQ_EXPECT_STR(((pq_var *)c.g->outputs.items[0])->name, "y");
    PQ_EXPECT(((pq_var *)c.g->outputs.items[0])->source_op == c.A);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    pq_graph_destroy(&c.g);
}

PQ_TEST(remove_op_refusals_and_plain_removal)
{
    chain c, d;
    pq_err err = {0};
    pq_op *two = NULL;
    pq_var *o2 = NULL;
    make_chain(&c);
    make_chain(&d);
    PQ_EXPECT_EQ(pq_graph_remove_op(c.g, d.A, 0, &err), PQ_ERR_INVALID);
    /* An op with two outputs cannot be removed keeping coherence. */
    PQ_EXPECT_OK(pq_graph_create_op(c.g, "Split", "S", NULL, 0, &two, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(c.g, two, c.x, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_link_with_op(c.g, two, NULL, NULL, NULL, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_link_with_op(c.g, two, NULL, NULL, &o2, &err), &err);
    PQ_EXPECT_EQ(pq_graph_remove_op(c.g, two, 1, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "one output");
    /* Plain removal: outputs lose their source, the op leaves x's consumers. */
    PQ_EXPECT_OK(pq_graph_remove_op(c.g, two, 0, &err), &err);
    PQ_EXPECT(o2->source_op == NULL);
    PQ_EXPECT_EQ(c.x->dest_ops.n, 1);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    pq_graph_destroy(&c.g);
    pq_graph_destroy(&d.g);
}

PQ_TEST(remove_var_clears_both_sides)
{
    chain c;
    pq_err err = {0};
    make_chain(&c);
    PQ_EXPECT_OK(pq_graph_remove_var(c.g, c.b, &err), &err);
    PQ_EXPECT(c.B->outputs[0] == NULL);
    PQ_EXPECT(c.C->inputs[0] == NULL);
    PQ_EXPECT_OK(pq_graph_remove_var(c.g, c.y, &err), &err);
    PQ_EXPECT_EQ(c.g->outputs.n, 0);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    pq_graph_destroy(&c.g);
}

PQ_TEST(link_with_op_and_var)
{
    chain c;
    pq_err err = {0};
    pq_op *d = NULL;
    pq_var *v = NULL, *z = NULL;
    make_chain(&c);
    PQ_EXPECT_OK(pq_graph_create_op(c.g, "Relu", "D", NULL, 0, &d, &err), &err);
    /* C -> y -> D: y already produced by C, so linking it from C again is fine. */
    PQ_EXPECT_OK(pq_graph_create_link_with_op(c.g, c.C, d, c.y, &v, &err), &err);
    PQ_EXPECT(v == c.y && d->inputs[0] == c.y && c.y->dest_ops.n == 1);
    /* ...but from another producer it is refused. */
    PQ_EXPECT_EQ(pq_graph_create_link_with_op(c.g, c.A, d, c.y, NULL, &err), PQ_ERR_INVALID);
    /* link_with_var: z (no source) feeds D's second input; merging z into a. */
    PQ_EXPECT_OK(pq_graph_create_var(c.g, "z", &z, &err), &err);
    PQ_EXPECT_OK(pq_graph_add_input(c.g, d, z, &err), &err);
    PQ_EXPECT_OK(pq_graph_create_link_with_var(c.g, c.a, z, &err), &err);
    PQ_EXPECT(d->inputs[1] == c.a);
    PQ_EXPECT(pq_graph_find_var(c.g, "z") == NULL);
    PQ_EXPECT_EQ(c.a->dest_ops.n, 2);
    /* A produced downstream variable cannot be merged away. */
    PQ_EXPECT_EQ(pq_graph_create_link_with_var(c.g, c.a, c.b, &err), PQ_ERR_INVALID);
    PQ_EXPECT_OK(pq_graph_validate(c.g, &err), &err);
    pq_graph_destroy(&c.g);
}

PQ_TEST(neighbours)
{
    chain c;
    pq_err err = {0};
    pq_ptrvec up = {0}, down = {0}, params = {0};
    make_chain(&c);
    PQ_EXPECT_OK(pq_graph_upstream_ops(c.B, &up, &err), &err);
    PQ_EXPECT(up.n == 1 && up.items[0] == c.A);
    PQ_EXPECT_OK(pq_graph_downstream_ops(c.B, &down, &err), &err);
    PQ_EXPECT(down.n == 1 && down.items[0] == c.C);
    PQ_EXPECT_OK(pq_op_parameters(c.B, &params, &err), &err);
    PQ_EXPECT(params.n == 1 && params.items[0] == c.w);
    pq_ptrvec_free(&up);
    pq_ptrvec_free(&down);
    pq_ptrvec_free(&params);
    pq_graph_destroy(&c.g);
}

PQ_TEST(topological_sort_orders_and_names_cycles)
{
    chain c;
    pq_err err = {0};
    make_chain(&c);
    /* Reverse the op list, then sort it back. */
    void *t = c.g->ops.items[0];
    c.g->ops.items[0] = c.g->ops.items[2];
    c.g->ops.items[2] = t;
    PQ_EXPECT_OK(pq_graph_topological_sort(c.g, &err), &err);
    PQ_EXPECT(c.g->ops.items[0] == c.A && c.g->ops.items[1] == c.B && c.g->ops.items[2] == c.C);
    /* Make a cycle: A reads y (produced by C). */
    PQ_EXPECT_OK(pq_graph_add_input(c.g, c.A, c.y, &err), &err);
    PQ_EXPECT_EQ(pq_graph_topological_sort(c.g, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "cycle");
    PQ_EXPECT_CONTAINS(err.msg, "'A' (Relu)");
    PQ_EXPECT_CONTAINS(err.msg, "'C' (Relu)");
    PQ_EXPECT(c.g->ops.items[0] == c.A); /* order left as it was */
    pq_graph_destroy(&c.g);
}

PQ_TEST(attributes_typed_access)
{
    chain c;
    pq_err err = {0};
    int64_t iv;
    float fv;
    const char *sv;
    const int64_t *ints;
    int64_t n;
    int64_t pads[4] = {1, 1, 2, 2};
    make_chain(&c);
    PQ_EXPECT_OK(pq_op_set_int(c.A, "axis", -1, &err), &err);
    PQ_EXPECT_OK(pq_op_set_float(c.A, "alpha", 0.25f, &err), &err);
    PQ_EXPECT_OK(pq_op_set_string(c.A, "mode", "constant", &err), &err);
    PQ_EXPECT_OK(pq_op_set_ints(c.A, "pads", pads, 4, &err), &err);
    PQ_EXPECT_OK(pq_op_get_int(c.A, "axis", 0, &iv, &err), &err);
    PQ_EXPECT_EQ(iv, -1);
    PQ_EXPECT_OK(pq_op_get_int(c.A, "missing", 7, &iv, &err), &err);
    PQ_EXPECT_EQ(iv, 7);
    PQ_EXPECT_OK(pq_op_get_float(c.A, "alpha", 0, &fv, &err), &err);
    PQ_EXPECT_NEAR(fv, 0.25, 0);
    PQ_EXPECT_OK(pq_op_get_string(c.A, "mode", NULL, &sv, &err), &err);
    PQ_EXPECT_STR(sv, "constant");
    PQ_EXPECT_OK(pq_op_get_ints(c.A, "pads", &ints, &n, &err), &err);
    PQ_EXPECT(n == 4 && ints[2] == 2);
    /* Wrong type is an error naming the attribute. */
    PQ_EXPECT_EQ(pq_op_get_int(c.A, "alpha", 0, &iv, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "'alpha' has type float, expected int");
    /* Replacing keeps one attribute of the name. */
    PQ_EXPECT_OK(pq_op_set_int(c.A, "axis", 3, &err), &err);
    PQ_EXPECT_EQ(c.A->n_attrs, 4);
    PQ_EXPECT(pq_op_remove_attr(c.A, "axis"));
    PQ_EXPECT_EQ(c.A->n_attrs, 3);
    /* Extension attributes. */
    PQ_EXPECT_OK(pq_op_set_ext_str(c.A, "fused_with", "B", &err), &err);
    PQ_EXPECT_OK(pq_op_set_ext_int(c.A, "group", 3, &err), &err);
    PQ_EXPECT_STR(pq_op_get_ext_str(c.A, "fused_with"), "B");
    PQ_EXPECT_EQ(pq_op_get_ext_int(c.A, "group", 0), 3);
    PQ_EXPECT_EQ(pq_op_get_ext_int(c.A, "absent", -5), -5);
    pq_graph_destroy(&c.g);
}

PQ_TEST(copy_deep_and_shallow_with_qconfig)
{
    chain c;
    pq_err err = {0};
    pq_graph *deep = NULL, *shallow = NULL;
    make_chain(&c);
    PQ_EXPECT_OK(pq_op_qconfig_create(c.B, &err), &err);
    PQ_EXPECT_OK(pq_op_qconfig_create(c.C, &err), &err);
    PQ_EXPECT_OK(pq_tqc_set_channels(&c.B->qconfig->outputs[0], 1, &err), &err);
    c.B->qconfig->outputs[0].scale[0] = 0.5f;
    c.B->qconfig->outputs[0].state = PQ_TQC_STATE_ACTIVATED;
    c.C->qconfig->inputs[0].state = PQ_TQC_STATE_OVERLAPPED;
    c.C->qconfig->inputs[0].dominator = &c.B->qconfig->outputs[0];
    c.B->platform = 3;
    PQ_EXPECT_NEAR(pq_tqc_resolve(&c.C->qconfig->inputs[0])->scale[0], 0.5, 0);

    PQ_EXPECT_OK(pq_graph_copy(c.g, 1, &deep, &err), &err);
    PQ_EXPECT_OK(pq_graph_copy(c.g, 0, &shallow, &err), &err);
    PQ_EXPECT_OK(pq_graph_validate(deep, &err), &err);
    pq_op *B2 = pq_graph_find_op(deep, "B"), *C2 = pq_graph_find_op(deep, "C");
    PQ_EXPECT(B2 && C2 && B2 != c.B);
    PQ_EXPECT_EQ(B2->platform, 3);
    PQ_EXPECT(C2->qconfig->inputs[0].dominator == &B2->qconfig->outputs[0]);
    PQ_EXPECT(pq_graph_find_var(deep, "w")->value != c.w->value);
    PQ_EXPECT(pq_graph_find_var(shallow, "w")->value == c.w->value);
    PQ_EXPECT_EQ(c.w->value->refcount, 2);
    PQ_EXPECT_EQ(deep->outputs.n, 1);
    pq_graph_destroy(&shallow);
    PQ_EXPECT_EQ(c.w->value->refcount, 1);
    pq_graph_destroy(&deep);
    pq_graph_destroy(&c.g);
}

PQ_TEST(allocation_failures_are_reported)
{
    /* Fail every allocation position of make-a-var-and-op in turn: each must fail cleanly. */
    for (int64_t k = 0; k < 40; k++) {
        pq_err err = {0};
        pq_graph *g = NULL;
        pq_var *v = NULL;
        pq_op *op = NULL;
        pq_alloc_fail_after(k);
        pq_status st = pq_graph_create("g", &g, &err);
        if (st == PQ_OK) st = pq_graph_create_var(g, "v", &v, &err);
        if (st == PQ_OK) st = pq_graph_create_op(g, "Relu", "r", NULL, 0, &op, &err);
        if (st == PQ_OK) st = pq_graph_add_input(g, op, v, &err);
        pq_alloc_fail_after(-1);
        PQ_EXPECT(st == PQ_OK || st == PQ_ERR_NOMEM);
        if (g) PQ_EXPECT_OK(pq_graph_validate(g, &err), &err);
        pq_graph_destroy(&g);
    }
}

/* pq_tqc_next walks the TQCs with a variable, op by op, inputs before outputs, skipping ops
 * without a qconfig; a walk over a graph without any ends at once. */
PQ_TEST(tqc_walk_visits_every_slot_once_in_order)
{
    chain c;
    pq_err err = {0};
    make_chain(&c);
    pq_tqc_iter it = {0};
    pq_tqc_slot s;
    PQ_EXPECT(!pq_tqc_next(c.g, &it, &s));
    PQ_EXPECT_OK(pq_op_qconfig_create(c.B, &err), &err);
    PQ_EXPECT_OK(pq_op_qconfig_create(c.C, &err), &err);
    static const struct { const char *op; int out, idx; const char *var; } want[] = {
        {"B", 0, 0, "a"}, {"B", 0, 1, "w"}, {"B", 1, 0, "b"}, {"C", 0, 0, "b"}, {"C", 1, 0, "y"}};
    it = (pq_tqc_iter){0};
    int n = 0;
    while (pq_tqc_next(c.g, &it, &s)) {
        if (n < 5) {
            PQ_EXPECT_STR(s.op->name, want[n].op);
            PQ_EXPECT_EQ(s.is_output, want[n].out);
            PQ_EXPECT_EQ(s.index, want[n].idx);
            PQ_EXPECT_STR(s.var->name, want[n].var);
            PQ_EXPECT(s.tqc == (s.is_output ? &s.op->qconfig->outputs[s.index]
                                            : &s.op->qconfig->inputs[s.index]));
        }
        n++;
    }
    PQ_EXPECT_EQ(n, 5);
    PQ_EXPECT(!pq_tqc_next(c.g, &it, &s)); /* stays at the end */
    pq_graph_destroy(&c.g);
}

PQ_TEST_MAIN()
