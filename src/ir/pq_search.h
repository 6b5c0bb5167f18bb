/* pq_search.h - pattern search over the graph IR (PPQ's SearchableGraph).
 *
 * Three searches, all read-only on the graph:
 *   - path matching: every path start -> relay* -> end, walking down (to consumers) or up
 *     (to producers), as a list of operations;
 *   - opset matching: the same rule, but only the set of operations lying on such paths
 *     (no path enumeration, linear in the graph);
 *   - pattern matching: a small tree or DAG of predicates matched onto connected operations,
 *     optionally "exclusive" (PPQ): nothing enters the match except at its root and nothing
 *     leaves it except at its leaves.
 *
 * Predicates are callbacks with a user pointer; PQ_PRED_TYPES("Conv", "Gemm") builds the
 * common "op type is one of" predicate. Searches that could explode (paths through wide
 * graphs, patterns with many symmetric candidates) stop at a bound and fail cleanly with
 * PQ_ERR_INVALID and a message instead of running away.
 *
 * Results borrow operation pointers from the graph: valid until an operation is removed.
 * A pass that edits the graph while walking a result list must skip matches that contain
 * an operation it removed.
 */
#ifndef PQ_SEARCH_H
#define PQ_SEARCH_H

#include "pq_core.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A predicate on one operation: non-zero when it matches. fn NULL matches every op. */
typedef int (*pq_op_pred_fn)(const pq_op *op, void *user);
typedef struct pq_op_pred {
    pq_op_pred_fn fn;
    void *user;
} pq_op_pred;

/* A relay condition on one step of a path: `op` is reached from `prev` (op consumes an
 * output of prev when walking down, produces an input of prev when walking up). fn NULL
 * accepts every step (PPQ's default). */
typedef int (*pq_op_relay_fn)(const pq_op *prev, const pq_op *op, void *user);
typedef struct pq_op_relay {
    pq_op_relay_fn fn;
    void *user;
} pq_op_relay;

/* The "op type is one of" predicate. user is a NULL-terminated array of type names
 * (const char *const[]); "Conv" matches ai.onnx Conv, "com.microsoft:Gelu" names a domain. */
int pq_pred_type_in(const pq_op *op, void *user);
/* PQ_PRED_TYPES("Relu", "Clip"): a pq_op_pred using pq_pred_type_in on a compound literal
 * (valid in the enclosing block). */
#define PQ_PRED_TYPES(...) \
    ((pq_op_pred){pq_pred_type_in, (void *)(const char *const[]){__VA_ARGS__, NULL}})
/* Matches every operation. */
#define PQ_PRED_ANY ((pq_op_pred){NULL, NULL})

/* Whether p accepts op (NULL fn: yes). */
static inline int pq_pred_eval(pq_op_pred p, const pq_op *op)
{
    return !p.fn || p.fn(op, p.user);
}

typedef enum pq_search_dir {
    PQ_SEARCH_DOWN = 0, /* from producers to consumers */
    PQ_SEARCH_UP = 1    /* from consumers to producers */
} pq_search_dir;

/* One match: n operations (a path in walking order, or one op per pattern node). */
typedef struct pq_match {
    pq_op **ops; /* owned array of borrowed op pointers */
    int n;
} pq_match;

/* A list of matches. Zero-initialise before use; free with pq_matches_free. */
typedef struct pq_matches {
    pq_match *items;
    int64_t n, cap;
} pq_matches;

/* Frees the lists (not the operations) and zeroes m. Accepts NULL. */
void pq_matches_free(pq_matches *m);

/* The bound used when a search is given limit <= 0. */
#define PQ_SEARCH_DEFAULT_LIMIT 1000000

/* PPQ path_matching. For every op matching `start` (in graph order), walks in `dir`: a
 * neighbour matching `end` closes a path [start, relays..., end] (the walk does not continue
 * through it); otherwise a neighbour accepted by relay(prev, op) extends the path. Appends
 * every such path to out (walking order: out->items[k].ops[0] is the start op).
 * `limit` bounds the operations visited plus the paths found (<= 0: the default); reaching
 * it returns PQ_ERR_INVALID ("path search stopped after N steps") with out emptied.
 * Returns PQ_ERR_NOMEM on allocation failure (out emptied). */
pq_status pq_graph_path_matching(const pq_graph *g, pq_op_pred start, pq_op_relay relay,
                                 pq_op_pred end, pq_search_dir dir, int64_t limit,
                                 pq_matches *out, pq_err *err);

/* PPQ opset_matching: the operations lying on at least one path that path_matching would
 * return (starts, relays and ends), each once, in graph order, appended to out (borrowed
 * pointers). Never enumerates paths: one forward and (on a topologically sorted graph) one
 * backward sweep. Returns PQ_ERR_NOMEM (out left as it was). */
pq_status pq_graph_opset_matching(const pq_graph *g, pq_op_pred start, pq_op_relay relay,
                                  pq_op_pred end, pq_search_dir dir, pq_ptrvec *out,
                                  pq_err *err);

/* PPQ pattern_matching. patterns[0..n) are the pattern nodes; edges[k] = {i, j} says an
 * output of node i's op is an input of node j's op. Node 0 is the root: the only node
 * without an incoming edge, and every node must be reachable from it (a tree or a DAG
 * with one source); the pattern may not have cycles. Every assignment of distinct graph
 * ops to the nodes that satisfies the predicates and the edges is appended to out,
 * out->items[k].ops[i] being the op of node i.
 *
 * exclusive (PPQ): additionally, no op of the match other than the root's reads a
 * non-parameter variable produced outside the match (graph inputs count as outside), and
 * no op other than a leaf's (a node without outgoing edges) has an output that is a graph
 * output or is read by an op outside the match.
 *
 * `limit` bounds the candidate assignments tried (<= 0: the default); reaching it returns
 * PQ_ERR_INVALID with a message naming the bound, out emptied. A malformed pattern (node
 * index out of range, self edge, cycle, several roots, unreachable node, n < 1) is
 * PQ_ERR_INVALID. Returns PQ_ERR_NOMEM on allocation failure (out emptied). */
pq_status pq_graph_pattern_matching(const pq_graph *g, const pq_op_pred *patterns, int n,
                                    const int (*edges)[2], int n_edges, int exclusive,
                                    int64_t limit, pq_matches *out, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_SEARCH_H */
