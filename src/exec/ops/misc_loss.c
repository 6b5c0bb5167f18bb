/* misc_loss.c - NegativeLogLikelihoodLoss-12/13 and SoftmaxCrossEntropyLoss-12/13.
 *
 * Both view the input as [N, C, D] (D = d1 * ... * dk, 1 when k = 0) and the target as
 * [N, D]. ONNX NegativeLogLikelihoodLoss-13:
 *   loss[n, d] = -input[n, c, d] * weight[c], c = target[n, d] (weight 1 when omitted),
 *   loss[n, d] = 0 (and its weight 0) when c == ignore_index;
 *   reduction "none" returns loss with the target's shape, "sum" its sum, "mean" the sum
 *   divided by the sum of the applied weights (the count of samples that are not ignored
 *   when no weight is given), as the specification and its reference implementation do.
 * A target outside [0, C) that is not ignore_index is an error.
 * SoftmaxCrossEntropyLoss-13 computes log_prob = LogSoftmax(scores) over axis 1 (x - max -
 * log(sum(exp(x - max)))), optionally returned as the second output, then the loss above
 * on log_prob. Arithmetic is in double; outputs take the input dtype (float16, bfloat16,
 * float32, float64).
 */
#include "misc_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

typedef struct loss_ctx {
    int reduction;      /* 0 none, 1 sum, 2 mean */
    int has_ignore;
    int64_t ignore_index;
} loss_ctx;

pq_status pq__misc_loss_prepare(pq_exec_node *n, pq_err *err)
{
    loss_ctx *c = pq_calloc(1, sizeof *c);
    if (!c) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->def->name);
    n->ctx = c;
    const char *red = NULL;
    pq_status st = pq_op_get_string(n->op, "reduction", "mean", &red, err);
    if (st == PQ_OK) {
        if (strcmp(red, "none") == 0)
            c->reduction = 0;
        else if (strcmp(red, "sum") == 0)
            c->reduction = 1;
        else if (strcmp(red, "mean") == 0)
            c->reduction = 2;
        else
            st = pq_err_set(err, PQ_ERR_INVALID,
                            "reduction '%s' is not one of none, sum, mean", red);
    }
    c->has_ignore = pq_op_find_attr(n->op, "ignore_index") != NULL;
    if (st == PQ_OK) st = pq_op_get_int(n->op, "ignore_index", 0, &c->ignore_index, err);
    if (st != PQ_OK) pq__misc_release_ctx(n);
    return st;
}

/* Shapes: x [N, C, d...], target [N, d...], weight [C] or NULL. */
static pq_status check_shapes(const pq_tensor *x, const pq_tensor *target, const pq_tensor *w,
                              int64_t *N, int64_t *C, int64_t *D, pq_err *err)
{
    if (!pq__misc_is_float(x->dtype))
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "input has dtype %s, expected a float type",
                          pq_dtype_name(x->dtype));
    if (x->rank < 2)
        return pq_err_set(err, PQ_ERR_INVALID, "input has rank %d, expected [N, C, d1, ...]",
                          x->rank);
    if (target->dtype != PQ_DTYPE_INT64 && target->dtype != PQ_DTYPE_INT32)
        return pq_err_set(err, PQ_ERR_INVALID, "target has dtype %s, expected int32 or int64",
                          pq_dtype_name(target->dtype));
    int ok = target->rank == x->rank - 1 && target->dims[0] == x->dims[0];
    for (int d = 2; ok && d < x->rank; d++) ok = target->dims[d - 1] == x->dims[d];
    if (!ok) {
        char a[128], b[128];
        return pq_err_set(err, PQ_ERR_INVALID, "target shape %s does not match input shape %s",
                          pq_shape_str(target->rank, target->dims, a, sizeof a),
                          pq_shape_str(x->rank, x->dims, b, sizeof b));
    }
    if (w && (w->dtype != x->dtype || w->rank != 1 || w->dims[0] != x->dims[1]))
        return pq_err_set(err, PQ_ERR_INVALID, "weight must be a 1-D %s tensor of %" PRId64
                          " elements", pq_dtype_name(x->dtype), x->dims[1]);
    *N = x->dims[0];
    *C = x->dims[1];
    *D = 1;
    for (int d = 2; d < x->rank; d++) *D *= x->dims[d];
    return PQ_OK;
}

/* The loss over lp ([N, C, D] log-probabilities in double) written to output 0. */
static pq_status nll_core(pq_exec_node *n, const double *lp, const pq_tensor *x,
                          const pq_tensor *target, const pq_tensor *w, int64_t N, int64_t C,
                          int64_t D, pq_err *err)
{
    const loss_ctx *c = n->ctx;
    pq_tensor *y = NULL;
    pq_status st = PQ_OK;
    if (c->reduction == 0)
        st = pq_node_output(n, 0, x->dtype, target->rank, target->dims, 1, &y, err);
    else
        st = pq_node_output(n, 0, x->dtype, 0, NULL, 1, &y, err);
    if (st != PQ_OK) return st;
    double sum = 0.0, wsum = 0.0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t d = 0; d < D; d++) {
            const int64_t k = i * D + d;
            const int64_t cls = pq_tensor_get_i64(target, k);
            double l = 0.0, wt = 0.0;
            if (!(c->has_ignore && cls == c->ignore_index)) {
                if (cls < 0 || cls >= C)
                    return pq_err_set(err, PQ_ERR_INVALID,
                                      "target[%" PRId64 "] = %" PRId64
                                      " is outside [0, %" PRId64 ") and not ignore_index",
                                      k, cls, C);
                wt = w ? pq_tensor_get_f64(w, cls) : 1.0;
                l = -lp[(i * C + cls) * D + d] * wt;
            }
            if (c->reduction == 0) pq__misc_store_f64(y, k, l);
            sum += l;
            wsum += wt;
        }
    if (c->reduction == 1) pq__misc_store_f64(y, 0, sum);
    if (c->reduction == 2) pq__misc_store_f64(y, 0, sum / wsum);
    return PQ_OK;
}

pq_status pq__misc_run_nllloss(pq_exec_node *n, pq_err *err)
{
    const pq_tensor *x = n->inputs[0], *target = n->inputs[1], *w = pq_node_input(n, 2);
    double *lp = NULL;
    int64_t N, C, D;
    pq_status st = check_shapes(x, target, w, &N, &C, &D, err);
    if (st != PQ_OK) return st;
    lp = pq__misc_to_f64(x);
    if (!lp) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory converting the input");
    st = nll_core(n, lp, x, target, w, N, C, D, err);
    pq_free(lp);
    return st;
}

pq_status pq__misc_run_sce(pq_exec_node *n, pq_err *err)
{
    const pq_tensor *x = n->inputs[0], *target = n->inputs[1], *w = pq_node_input(n, 2);
    double *lp = NULL, *mx = NULL, *se = NULL;
    pq_tensor *lpo = NULL;
    int64_t N, C, D;
    pq_status st = PQ_OK;
    PQ_TRY(check_shapes(x, target, w, &N, &C, &D, err));
    lp = pq__misc_to_f64(x);
    mx = pq_malloc((size_t)(D > 0 ? D : 1) * sizeof *mx);
    se = pq_malloc((size_t)(D > 0 ? D : 1) * sizeof *se);
    PQ_CHECK(lp && mx && se, PQ_ERR_NOMEM, "out of memory converting the input");
    /* log_softmax over C for every (n, d): d is the contiguous inner index. */
    for (int64_t i = 0; i < N; i++) {
        double *restrict b = lp + i * C * D;
        for (int64_t d = 0; d < D; d++) {
            mx[d] = -INFINITY;
            se[d] = 0.0;
        }
        for (int64_t k = 0; k < C; k++)
            for (int64_t d = 0; d < D; d++) mx[d] = b[k * D + d] > mx[d] ? b[k * D + d] : mx[d];
        for (int64_t k = 0; k < C; k++)
            for (int64_t d = 0; d < D; d++) se[d] += exp(b[k * D + d] - mx[d]);
        for (int64_t d = 0; d < D; d++) se[d] = mx[d] + log(se[d]);
        for (int64_t k = 0; k < C; k++)
            for (int64_t d = 0; d < D; d++) b[k * D + d] -= se[d];
    }
    if (n->n_outputs > 1 && n->op->outputs[1]) {
        PQ_TRY(pq_node_output(n, 1, x->dtype, x->rank, x->dims, 1, &lpo, err));
        if (x->dtype == PQ_DTYPE_FLOAT32) {
            float *restrict o = lpo->data;
            for (int64_t i = 0; i < x->numel; i++) o[i] = (float)lp[i];
        } else {
            for (int64_t i = 0; i < x->numel; i++) pq__misc_store_f64(lpo, i, lp[i]);
        }
    }
    PQ_TRY(nll_core(n, lp, x, target, w, N, C, D, err));
fail:
    pq_free(lp);
    pq_free(mx);
    pq_free(se);
    return st;
}
