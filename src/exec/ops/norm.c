/* norm.c - operator family: BatchNormalization InstanceNormalization LayerNormalization LRN
 * MeanVarianceNormalization.
 *
 * Statistics (means, variances) are accumulated in double with two passes (mean, then the
 * mean of squared deviations), whatever the element type; float16/bfloat16 data are staged
 * through float32. Kernels exist for float and double elements.
 */
#include "reduce_walk.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

typedef struct norm_ctx {
    float epsilon;
    float momentum;          /* BatchNormalization */
    int training;            /* BatchNormalization-14+: training_mode */
    int spatial;             /* BatchNormalization-6/7 */
    int64_t axis;            /* LayerNormalization */
    int64_t stash_type;      /* LayerNormalization: dtype of Mean/InvStdDev */
    float alpha, beta, bias; /* LRN */
    int64_t size;            /* LRN */
    int64_t n_axes;          /* MeanVarianceNormalization */
    int64_t axes[PQ_MAX_RANK];
} norm_ctx;

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

static pq_status new_ctx(pq_exec_node *n, norm_ctx **out, pq_err *err)
{
    *out = pq_calloc(1, sizeof **out);
    if (!*out) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->def->name);
    n->ctx = *out;
    return PQ_OK;
}

static int is_float_dtype(pq_dtype dt)
{
    return dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT64 || dt == PQ_DTYPE_FLOAT16 ||
           dt == PQ_DTYPE_BFLOAT16;
}

/* Element access for float and double kernels; half types are staged as float: `xd`/`yd`
 * point at float or double arrays, `dbl` says which. */
typedef struct staged {
    const void *xd;
    void *yd;
    int dbl;
    float *xs, *ys; /* owned staging buffers (half types) */
} staged;

/* Prepares x for a kernel and creates output 0 with x's dtype and shape. */
static pq_status stage(pq_exec_node *n, const pq_tensor *x, pq_tensor **y, staged *s, pq_err *err)
{
    pq_status st = PQ_OK;
    memset(s, 0, sizeof *s);
    PQ_CHECK(is_float_dtype(x->dtype), PQ_ERR_UNSUPPORTED, "%s of %s data is not supported",
             n->def->name, pq_dtype_name(x->dtype));
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, x->dims, 1, y, err));
    if (x->dtype == PQ_DTYPE_FLOAT32 || x->dtype == PQ_DTYPE_FLOAT64) {
        s->xd = x->data;
        s->yd = (*y)->data;
        s->dbl = x->dtype == PQ_DTYPE_FLOAT64;
        return PQ_OK;
    }
    s->xs = pq_malloc((size_t)(x->numel ? x->numel : 1) * sizeof(float));
    s->ys = pq_malloc((size_t)(x->numel ? x->numel : 1) * sizeof(float));
    PQ_CHECK(s->xs && s->ys, PQ_ERR_NOMEM, "out of memory staging %s data",
             pq_dtype_name(x->dtype));
    pq__half_to_f32(x, s->xs);
    s->xd = s->xs;
    s->yd = s->ys;
    return PQ_OK;
fail:
    pq_free(s->xs);
    pq_free(s->ys);
    s->xs = s->ys = NULL;
    return st;
}

/* Writes staged half results into y and frees the staging buffers. */
static void unstage(staged *s, pq_tensor *y)
{
    if (s->ys && y) pq__f32_to_half(s->ys, y);
    pq_free(s->xs);
    pq_free(s->ys);
    s->xs = s->ys = NULL;
}

/* A small parameter tensor (per channel) read into doubles. */
static pq_status load_param(const pq_tensor *t, const char *what, int64_t expect, double **out,
                            pq_err *err)
{
    *out = NULL;
    if (!t) return pq_err_set(err, PQ_ERR_INVALID, "input %s is missing", what);
    if (!is_float_dtype(t->dtype))
        return pq_err_set(err, PQ_ERR_INVALID, "input %s has dtype %s, expected a float type",
                          what, pq_dtype_name(t->dtype));
    if (t->numel != expect)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "input %s has %" PRId64 " elements, expected %" PRId64, what,
                          t->numel, expect);
    double *d = pq_malloc((size_t)(expect ? expect : 1) * sizeof *d);
    if (!d) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory reading %s", what);
    for (int64_t i = 0; i < expect; i++) d[i] = pq_tensor_get_f64(t, i);
    *out = d;
    return PQ_OK;
}

/* Writes doubles into a new output of the given dtype (a float type). */
static pq_status store_param(pq_exec_node *n, int idx, pq_dtype dt, int rank,
                             const int64_t *dims, const double *v, pq_err *err)
{
    pq_tensor *t = NULL;
    pq_status st = pq_node_output(n, idx, dt, rank, dims, 1, &t, err);
    if (st != PQ_OK) return st;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (dt) {
        case PQ_DTYPE_FLOAT32: PQ_DATA(t, float)[i] = (float)v[i]; break;
        case PQ_DTYPE_FLOAT64: PQ_DATA(t, double)[i] = v[i]; break;
        case PQ_DTYPE_FLOAT16: PQ_DATA(t, uint16_t)[i] = pq_f32_to_f16((float)v[i]); break;
        default: PQ_DATA(t, uint16_t)[i] = pq_f32_to_bf16((float)v[i]); break;
        }
    }
    return PQ_OK;
}

/* Mean and population variance of `cnt` blocks of `len` elements each (stride `step`
 * between blocks), two passes in double. */
#define DEF_MOMENTS(SUF, T)                                                                 \
    static void moments_##SUF(const T *x, int64_t cnt, int64_t len, int64_t step,           \
                              double *mean, double *var)                                    \
    {                                                                                       \
        double s = 0.0, q = 0.0;                                                            \
        for (int64_t b = 0; b < cnt; b++) {                                                 \
            const T *restrict r = x + b * step;                                             \
            double sb = 0.0;                                                                \
            PQ__SIMD_SUM(sb)                                                                \
            for (int64_t i = 0; i < len; i++) sb += (double)r[i];                           \
            s += sb;                                                                        \
        }                                                                                   \
        int64_t tot = cnt * len;                                                            \
        double m = tot ? s / (double)tot : 0.0;                                             \
        for (int64_t b = 0; b < cnt; b++) {                                                 \
            const T *restrict r = x + b * step;                                             \
            double qb = 0.0;                                                                \
            PQ__SIMD_SUM(qb)                                                                \
            for (int64_t i = 0; i < len; i++) {                                             \
                double d = (double)r[i] - m;                                                \
                qb += d * d;                                                                \
            }                                                                               \
            q += qb;                                                                        \
        }                                                                                   \
        *mean = m;                                                                          \
        *var = tot ? q / (double)tot : 0.0;                                                 \
    }

DEF_MOMENTS(f32, float)
DEF_MOMENTS(f64, double)

static void moments(const staged *s, int64_t off, int64_t cnt, int64_t len, int64_t step,
                    double *mean, double *var)
{
    if (s->dbl)
        moments_f64((const double *)s->xd + off, cnt, len, step, mean, var);
    else
        moments_f32((const float *)s->xd + off, cnt, len, step, mean, var);
}

/* y = (x - m) * a + b over one contiguous block (subtracting first keeps values close to
 * the mean exact). */
static void affine(const staged *s, int64_t off, int64_t len, double m, double a, double b)
{
    if (s->dbl) {
        const double *restrict x = (const double *)s->xd + off;
        double *restrict y = (double *)s->yd + off;
        PQ__SIMD
        for (int64_t i = 0; i < len; i++) y[i] = (x[i] - m) * a + b;
    } else {
        const float *restrict x = (const float *)s->xd + off;
        float *restrict y = (float *)s->yd + off;
        float mf = (float)m, af = (float)a, bf = (float)b;
        PQ__SIMD
        for (int64_t i = 0; i < len; i++) y[i] = (x[i] - mf) * af + bf;
    }
}

/* ================================================================== BatchNormalization */

static pq_status prepare_bn(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    norm_ctx *c = NULL;
    int64_t v = 0;
    int ver = n->def->since_version;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_float(n->op, "epsilon", 1e-5f, &c->epsilon, err));
    PQ_TRY(pq_op_get_float(n->op, "momentum", 0.9f, &c->momentum, err));
    c->spatial = 1;
    if (ver < 9) {
        PQ_TRY(pq_op_get_int(n->op, "spatial", 1, &v, err));
        c->spatial = v != 0;
    }
    if (ver >= 14) {
        PQ_TRY(pq_op_get_int(n->op, "training_mode", 0, &v, err));
        c->training = v != 0;
    } else {
        /* Before opset 14, training is signalled by the optional outputs (mean, var,
         * saved_mean, saved_var), whose contents the specification leaves undefined for
         * saved_*; inference models never have them. */
        for (int i = 1; i < n->op->n_outputs; i++)
            PQ_CHECK(!n->op->outputs[i], PQ_ERR_UNSUPPORTED,
                     "BatchNormalization-%d in training mode (optional output %d) is not "
                     "supported; export the model for inference", ver, i);
    }
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

static pq_status run_bn(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const norm_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    staged s = {0};
    double *scale = NULL, *bias = NULL, *mean = NULL, *var = NULL, *a = NULL, *bm = NULL;

    PQ_CHECK(x->rank >= 2, PQ_ERR_INVALID, "input X has rank %d, expected (N, C, ...)",
             x->rank);
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int d = 2; d < x->rank; d++) S *= x->dims[d];
    if (!c->spatial) {
        /* BatchNormalization-6/7 spatial = 0: statistics per (C, D1, ..., Dn) element. */
        C *= S;
        S = 1;
    }
    PQ_TRY(load_param(n->inputs[1], "scale", C, &scale, err));
    PQ_TRY(load_param(n->inputs[2], "B", C, &bias, err));
    PQ_TRY(load_param(n->inputs[3], "input_mean", C, &mean, err));
    PQ_TRY(load_param(n->inputs[4], "input_var", C, &var, err));
    a = pq_malloc((size_t)(C ? C : 1) * sizeof *a);
    bm = pq_malloc((size_t)(C ? C : 1) * sizeof *bm);
    PQ_CHECK(a && bm, PQ_ERR_NOMEM, "out of memory in BatchNormalization");
    PQ_TRY(stage(n, x, &y, &s, err));

    if (c->training) {
        /* ONNX BatchNormalization-15, training_mode = 1: Y is normalised with the batch
         * statistics (mean and population variance over all axes but 1); the running
         * statistics are input * momentum + current * (1 - momentum). */
        double mom = c->momentum;
        PQ__PARALLEL_FOR(N * C * S >= PQ__PARALLEL_MIN_WORK)
        for (int64_t ch = 0; ch < C; ch++) {
            double m, v;
            moments(&s, ch * S, N, S, C * S, &m, &v);
            a[ch] = scale[ch] / sqrt(v + c->epsilon);
            bm[ch] = m;
            mean[ch] = mean[ch] * mom + m * (1.0 - mom);
            var[ch] = var[ch] * mom + v * (1.0 - mom);
        }
        const pq_tensor *im = n->inputs[3], *iv = n->inputs[4];
        if (n->n_outputs > 1 && n->op->outputs[1])
            PQ_TRY(store_param(n, 1, im->dtype, im->rank, im->dims, mean, err));
        if (n->n_outputs > 2 && n->op->outputs[2])
            PQ_TRY(store_param(n, 2, iv->dtype, iv->rank, iv->dims, var, err));
    } else {
        /* y = scale * (x - mean) / sqrt(var + epsilon) + B = (x - mean) * a + B. */
        for (int64_t ch = 0; ch < C; ch++) {
            a[ch] = scale[ch] / sqrt(var[ch] + c->epsilon);
            bm[ch] = mean[ch];
        }
    }
    PQ__PARALLEL_FOR(N * C * S >= PQ__PARALLEL_MIN_WORK)
    for (int64_t k = 0; k < N * C; k++) {
        int64_t ch = k % C;
        affine(&s, k * S, S, bm[ch], a[ch], bias[ch]);
    }
fail:
    unstage(&s, st == PQ_OK ? y : NULL);
    pq_free(scale);
    pq_free(bias);
    pq_free(mean);
    pq_free(var);
    pq_free(a);
    pq_free(bm);
    return st;
}

/* ================================================================== InstanceNormalization */

static pq_status prepare_eps(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    norm_ctx *c = NULL;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_float(n->op, "epsilon", 1e-5f, &c->epsilon, err));
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

static pq_status run_instnorm(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const norm_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    staged s = {0};
    double *scale = NULL, *bias = NULL;

    PQ_CHECK(x->rank >= 3, PQ_ERR_INVALID, "input has rank %d, expected (N, C, D1, ...)",
             x->rank);
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int d = 2; d < x->rank; d++) S *= x->dims[d];
    PQ_TRY(load_param(n->inputs[1], "scale", C, &scale, err));
    PQ_TRY(load_param(n->inputs[2], "B", C, &bias, err));
    PQ_TRY(stage(n, x, &y, &s, err));
    /* ONNX InstanceNormalization-6: y = scale * (x - mean) / sqrt(var + epsilon) + B with
     * mean and (population) variance over the spatial axes of each (n, c). */
    PQ__PARALLEL_FOR(N * C * S >= PQ__PARALLEL_MIN_WORK)
    for (int64_t k = 0; k < N * C; k++) {
        int64_t ch = k % C;
        double m, v;
        moments(&s, k * S, 1, S, S, &m, &v);
        double a = scale[ch] / sqrt(v + c->epsilon);
        affine(&s, k * S, S, m, a, bias[ch]);
    }
fail:
    unstage(&s, st == PQ_OK ? y : NULL);
    pq_free(scale);
    pq_free(bias);
    return st;
}

/* ================================================================== LayerNormalization */

static pq_status prepare_layernorm(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    norm_ctx *c = NULL;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_int(n->op, "axis", -1, &c->axis, err));
    PQ_TRY(pq_op_get_float(n->op, "epsilon", 1e-5f, &c->epsilon, err));
    PQ_TRY(pq_op_get_int(n->op, "stash_type", 1, &c->stash_type, err));
    PQ_CHECK(c->stash_type == PQ_DTYPE_FLOAT32 || c->stash_type == PQ_DTYPE_BFLOAT16 ||
                 c->stash_type == PQ_DTYPE_FLOAT64 || c->stash_type == PQ_DTYPE_FLOAT16,
             PQ_ERR_INVALID, "stash_type %" PRId64 " is not a float type", c->stash_type);
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

/* Expands Scale or B (broadcastable to the normalised shape dims[0..r), right-aligned) into
 * `cols` floats. */
static pq_status expand_affine(const pq_tensor *t, const char *what, int r, const int64_t *dims,
                               int64_t cols, float **out, pq_err *err)
{
    *out = NULL;
    if (!is_float_dtype(t->dtype))
        return pq_err_set(err, PQ_ERR_INVALID, "input %s has dtype %s, expected a float type",
                          what, pq_dtype_name(t->dtype));
    /* Leading extent-1 axes beyond the normalised rank are ignored. */
    int tr = t->rank;
    const int64_t *td = t->dims;
    while (tr > r && td[0] == 1) {
        td++;
        tr--;
    }
    int ok = tr <= r;
    for (int d = 0; ok && d < tr; d++)
        if (td[d] != 1 && td[d] != dims[r - tr + d]) ok = 0;
    if (!ok) {
        char a[256], b[256];
        return pq_err_set(err, PQ_ERR_INVALID, "input %s of shape %s does not broadcast to %s",
                          what, pq_shape_str(t->rank, t->dims, a, sizeof a),
                          pq_shape_str(r, dims, b, sizeof b));
    }
    int64_t tstride[PQ_MAX_RANK];
    float *v = pq_malloc((size_t)(cols ? cols : 1) * sizeof *v);
    if (!v) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory expanding %s", what);
    int64_t s = 1;
    for (int d = tr - 1; d >= 0; d--) {
        tstride[d] = td[d] == 1 ? 0 : s;
        s *= td[d];
    }
    for (int64_t i = 0; i < cols; i++) {
        int64_t rem = i, off = 0;
        for (int d = r - 1; d >= 0; d--) {
            int64_t q = rem / dims[d], j = rem - q * dims[d];
            rem = q;
            int e = d - (r - tr);
            if (e >= 0) off += j * tstride[e];
        }
        v[i] = (float)pq_tensor_get_f64(t, off);
    }
    *out = v;
    return PQ_OK;
}

#define DEF_LAYERNORM_ROW(SUF, T)                                                          \
    static void layernorm_row_##SUF(const T *restrict x, T *restrict y, int64_t cols,      \
                                    const float *restrict w, const float *restrict b,      \
                                    double eps, double *mean_out, double *inv_out)          \
    {                                                                                      \
        double m, v;                                                                       \
        moments_##SUF(x, 1, cols, cols, &m, &v);                                           \
        double inv = 1.0 / sqrt(v + eps);                                                  \
        T mt = (T)m, it = (T)inv;                                                          \
        if (b) {                                                                           \
            PQ__SIMD                                                                       \
            for (int64_t i = 0; i < cols; i++) y[i] = (x[i] - mt) * it * w[i] + b[i];      \
        } else {                                                                           \
            PQ__SIMD                                                                       \
            for (int64_t i = 0; i < cols; i++) y[i] = (x[i] - mt) * it * w[i];             \
        }                                                                                  \
        *mean_out = m;                                                                     \
        *inv_out = inv;                                                                    \
    }

DEF_LAYERNORM_ROW(f32, float)
DEF_LAYERNORM_ROW(f64, double)

static pq_status run_layernorm(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const norm_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    const pq_tensor *bt = pq_node_input(n, 2);
    pq_tensor *y = NULL;
    staged s = {0};
    float *w = NULL, *b = NULL;
    double *mean = NULL, *inv = NULL;

    int64_t axis = c->axis;
    PQ_CHECK(axis >= -x->rank && axis < x->rank, PQ_ERR_INVALID,
             "axis %" PRId64 " is out of range for rank %d", axis, x->rank);
    if (axis < 0) axis += x->rank;
    int64_t rows = 1, cols = 1;
    for (int d = 0; d < axis; d++) rows *= x->dims[d];
    for (int d = (int)axis; d < x->rank; d++) cols *= x->dims[d];
    int r = x->rank - (int)axis;
    PQ_TRY(expand_affine(n->inputs[1], "Scale", r, x->dims + axis, cols, &w, err));
    if (bt) PQ_TRY(expand_affine(bt, "B", r, x->dims + axis, cols, &b, err));
    mean = pq_malloc((size_t)(rows ? rows : 1) * sizeof *mean);
    inv = pq_malloc((size_t)(rows ? rows : 1) * sizeof *inv);
    PQ_CHECK(mean && inv, PQ_ERR_NOMEM, "out of memory in LayerNormalization");
    PQ_TRY(stage(n, x, &y, &s, err));

    /* ONNX LayerNormalization-17: per row of the (rows, cols) view, Mean = mean(x),
     * InvStdDev = 1 / sqrt(var(x) + epsilon), Y = (x - Mean) * InvStdDev * Scale + B. */
    PQ__PARALLEL_FOR(rows * cols >= PQ__PARALLEL_MIN_WORK)
    for (int64_t i = 0; i < rows; i++) {
        if (s.dbl)
            layernorm_row_f64((const double *)s.xd + i * cols, (double *)s.yd + i * cols, cols,
                              w, b, c->epsilon, &mean[i], &inv[i]);
        else
            layernorm_row_f32((const float *)s.xd + i * cols, (float *)s.yd + i * cols, cols, w,
                              b, c->epsilon, &mean[i], &inv[i]);
    }
    /* Mean and InvStdDev: X's shape with the normalised axes set to 1, dtype stash_type. */
    int64_t sdims[PQ_MAX_RANK];
    for (int d = 0; d < x->rank; d++) sdims[d] = d < axis ? x->dims[d] : 1;
    if (n->n_outputs > 1 && n->op->outputs[1])
        PQ_TRY(store_param(n, 1, (pq_dtype)c->stash_type, x->rank, sdims, mean, err));
    if (n->n_outputs > 2 && n->op->outputs[2])
        PQ_TRY(store_param(n, 2, (pq_dtype)c->stash_type, x->rank, sdims, inv, err));
fail:
    unstage(&s, st == PQ_OK ? y : NULL);
    pq_free(w);
    pq_free(b);
    pq_free(mean);
    pq_free(inv);
    return st;
}

/* ================================================================== LRN */

static pq_status prepare_lrn(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    norm_ctx *c = NULL;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_float(n->op, "alpha", 1e-4f, &c->alpha, err));
    PQ_TRY(pq_op_get_float(n->op, "beta", 0.75f, &c->beta, err));
    PQ_TRY(pq_op_get_float(n->op, "bias", 1.0f, &c->bias, err));
    PQ_CHECK(pq_op_find_attr(n->op, "size"), PQ_ERR_INVALID, "LRN needs attribute size");
    PQ_TRY(pq_op_get_int(n->op, "size", 0, &c->size, err));
    PQ_CHECK(c->size >= 1, PQ_ERR_INVALID, "size %" PRId64 " must be >= 1", c->size);
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

static pq_status run_lrn(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const norm_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    staged s = {0};

    PQ_CHECK(x->rank >= 2, PQ_ERR_INVALID, "input has rank %d, expected (N, C, ...)",
             x->rank);
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int d = 2; d < x->rank; d++) S *= x->dims[d];
    PQ_TRY(stage(n, x, &y, &s, err));
    /* ONNX LRN: square_sum[n, c, ...] = sum of x[n, i, ...]^2 for i in
     * [max(0, c - floor((size - 1) / 2)), min(C - 1, c + ceil((size - 1) / 2))];
     * y = x / (bias + alpha / size * square_sum) ^ beta. */
    int64_t lo = (c->size - 1) / 2, hi = c->size - 1 - lo;
    double k = (double)c->alpha / (double)c->size;
    PQ__PARALLEL_FOR(N * C * S * c->size >= PQ__PARALLEL_MIN_WORK)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t b = nc / C, ch = nc - b * C;
        int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi > C - 1 ? C - 1 : ch + hi;
        for (int64_t i = 0; i < S; i++) {
            double sq = 0.0;
            for (int64_t j = c0; j <= c1; j++) {
                int64_t off = (b * C + j) * S + i;
                double v = s.dbl ? ((const double *)s.xd)[off] : ((const float *)s.xd)[off];
                sq += v * v;
            }
            int64_t off = nc * S + i;
            double v = s.dbl ? ((const double *)s.xd)[off] : ((const float *)s.xd)[off];
            double r = v / pow(c->bias + k * sq, c->beta);
            if (s.dbl)
                ((double *)s.yd)[off] = r;
            else
                ((float *)s.yd)[off] = (float)r;
        }
    }
fail:
    unstage(&s, st == PQ_OK ? y : NULL);
    return st;
}

/* ================================================================== MeanVarianceNormalization */

static pq_status prepare_mvn(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    norm_ctx *c = NULL;
    const int64_t *axes = NULL;
    PQ_TRY(new_ctx(n, &c, err));
    PQ_TRY(pq_op_get_ints(n->op, "axes", &axes, &c->n_axes, err));
    if (!axes) {
        static const int64_t dflt[] = {0, 2, 3};
        axes = dflt;
        c->n_axes = 3;
    }
    PQ_CHECK(c->n_axes <= PQ_MAX_RANK, PQ_ERR_INVALID, "%" PRId64 " axes", c->n_axes);
    for (int64_t i = 0; i < c->n_axes; i++) c->axes[i] = axes[i];
    return PQ_OK;
fail:
    release_ctx(n);
    return st;
}

/* The MVN passes over one plan: pass 0 sums x, pass 1 sums (x - mean)^2, pass 2 writes
 * y = (x - mean) / (std + 1e-9). */
#define DEF_MVN_PASS(SUF, T)                                                                 \
    static void mvn_pass_##SUF(const pq__reduce_plan *p, int pass, const T *x, T *y,        \
                               double *acc, const double *mean, const double *den)           \
    {                                                                                        \
        for (int64_t o = 0; o < p->n_outer; o++) {                                           \
            int64_t base = pq__reduce_outer_offset(p, o), ob = o * p->inner;                 \
            for (int64_t t = 0; t < p->n_rtab; t++)                                          \
                for (int64_t l = 0; l < p->red_len; l++) {                                   \
                    int64_t off = base + p->rtab[t] + l * p->inner;                          \
                    const T *restrict xr = x + off;                                          \
                    if (pass == 0) {                                                         \
                        double *restrict a = acc + ob;                                       \
                        PQ__SIMD                                                             \
                        for (int64_t i = 0; i < p->inner; i++) a[i] += (double)xr[i];        \
                    } else if (pass == 1) {                                                  \
                        double *restrict a = acc + ob;                                       \
                        const double *restrict m = mean + ob;                                \
                        PQ__SIMD                                                             \
                        for (int64_t i = 0; i < p->inner; i++) {                             \
                            double d = (double)xr[i] - m[i];                                 \
                            a[i] += d * d;                                                   \
                        }                                                                    \
                    } else {                                                                 \
                        T *restrict yr = y + off;                                            \
                        const double *restrict m = mean + ob, *restrict dn = den + ob;       \
                        PQ__SIMD                                                             \
                        for (int64_t i = 0; i < p->inner; i++)                               \
                            yr[i] = (T)(((double)xr[i] - m[i]) / dn[i]);                     \
                    }                                                                        \
                }                                                                            \
        }                                                                                    \
    }

DEF_MVN_PASS(f32, float)
DEF_MVN_PASS(f64, double)

static pq_status run_mvn(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const norm_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    staged s = {0};
    pq__reduce_plan p = {0};
    uint8_t mask[PQ_MAX_RANK];
    double *sum = NULL, *mean = NULL;

    PQ_TRY(pq__reduce_axes_mask(x->rank, c->axes, c->n_axes, mask, err));
    PQ_TRY(pq__reduce_plan_init(&p, x->rank, x->dims, mask, 1, err));
    sum = pq_calloc((size_t)(p.out_numel ? p.out_numel : 1), sizeof *sum);
    mean = pq_calloc((size_t)(p.out_numel ? p.out_numel : 1), sizeof *mean);
    PQ_CHECK(sum && mean, PQ_ERR_NOMEM, "out of memory in MeanVarianceNormalization");
    PQ_TRY(stage(n, x, &y, &s, err));
    /* ONNX MeanVarianceNormalization-13: (X - E[X]) / (sqrt(E[(X - E[X])^2]) + 1e-9), the
     * expectations over `axes` (the function body computes the variance as
     * E[X^2] - E[X]^2, the same quantity). */
    double cnt = (double)p.n_red;
    for (int pass = 0; pass < 3; pass++) {
        if (s.dbl)
            mvn_pass_f64(&p, pass, s.xd, s.yd, sum, mean, sum);
        else
            mvn_pass_f32(&p, pass, s.xd, s.yd, sum, mean, sum);
        if (pass == 0) {
            for (int64_t i = 0; i < p.out_numel; i++) {
                mean[i] = cnt > 0 ? sum[i] / cnt : 0.0;
                sum[i] = 0.0;
            }
        } else if (pass == 1) {
            for (int64_t i = 0; i < p.out_numel; i++)
                sum[i] = sqrt(cnt > 0 ? sum[i] / cnt : 0.0) + 1e-9;
        }
    }
fail:
    unstage(&s, st == PQ_OK ? y : NULL);
    pq__reduce_plan_free(&p);
    pq_free(sum);
    pq_free(mean);
    return st;
}

/* ================================================================== table */

#define BN_DEF(ver, maxo) {"", "BatchNormalization", ver, 5, 5, 1, maxo, prepare_bn, run_bn, release_ctx}

const pq_op_def pq_ops_norm[] = {
    /* 6/7: spatial attribute (6 also is_test, ignored: inference); 9: no spatial;
     * 14: training_mode with outputs running_mean/running_var; 15: separate dtypes for
     * scale/B and mean/var. */
    BN_DEF(6, 5),
    BN_DEF(7, 5),
    BN_DEF(9, 5),
    BN_DEF(14, 3),
    BN_DEF(15, 3),
    {"", "InstanceNormalization", 1, 3, 3, 1, 1, prepare_eps, run_instnorm, release_ctx},
    {"", "InstanceNormalization", 6, 3, 3, 1, 1, prepare_eps, run_instnorm, release_ctx},
    /* LayerNormalization is an ONNX operator from opset 17; the opset-1 entry lets the
     * fusion pass emit it into models of older opsets (same semantics). */
    {"", "LayerNormalization", 1, 2, 3, 1, 3, prepare_layernorm, run_layernorm, release_ctx},
    {"", "LayerNormalization", 17, 2, 3, 1, 3, prepare_layernorm, run_layernorm, release_ctx},
    {"", "LRN", 1, 1, 1, 1, 1, prepare_lrn, run_lrn, release_ctx},
    {"", "LRN", 13, 1, 1, 1, 1, prepare_lrn, run_lrn, release_ctx},
    {"", "MeanVarianceNormalization", 9, 1, 1, 1, 1, prepare_mvn, run_mvn, release_ctx},
    {"", "MeanVarianceNormalization", 13, 1, 1, 1, 1, prepare_mvn, run_mvn, release_ctx},
    PQ_OP_DEF_END,
};
