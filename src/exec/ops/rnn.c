/* rnn.c - operator family: LSTM GRU RNN.
 *
 * One driver for the three cells (ONNX RNN/GRU/LSTM-7 and -14, which adds `layout`).
 * Per direction, the input projection of every timestep is one cblas_sgemm
 * ([seq*batch, input] x W^T, biases folded in); each step then adds H_{t-1} R^T with one
 * cblas_sgemm over the batch and applies the cell's elementwise update. Batches whose
 * sequence_lens entry is shorter stop updating (their Y rows are zero, Y_h/Y_c keep the
 * last valid state); the reverse direction starts each batch at its own last valid step.
 * `clip` bounds every gate pre-activation (LSTM i, f, c, o; GRU z, r, h; RNN), not the
 * LSTM cell state passed to h. Computation is in float32; float16 and float64 tensors are
 * converted on the way in and out.
 */
#include "../exec_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ activations */

typedef enum act_kind {
    ACT_SIGMOID = 0,
    ACT_TANH,
    ACT_RELU,
    ACT_AFFINE,
    ACT_LEAKYRELU,
    ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH,
    ACT_HARDSIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS
} act_kind;

typedef struct rnn_act {
    act_kind kind;
    float alpha, beta;
} rnn_act;

/* Names ONNX allows in `activations`, how many of activation_alpha/activation_beta each
 * consumes, and the defaults used when those lists run out. */
static const struct {
    const char *name;
    act_kind kind;
    int n_alpha, n_beta;
    float alpha, beta;
} act_table[] = {
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0.0f, 0.0f},
    {"Tanh", ACT_TANH, 0, 0, 0.0f, 0.0f},
    {"Relu", ACT_RELU, 0, 0, 0.0f, 0.0f},
    {"Affine", ACT_AFFINE, 1, 1, 1.0f, 0.0f},
    {"LeakyRelu", ACT_LEAKYRELU, 1, 0, 0.01f, 0.0f},
    {"ThresholdedRelu", ACT_THRESHOLDEDRELU, 1, 0, 1.0f, 0.0f},
    {"ScaledTanh", ACT_SCALEDTANH, 1, 1, 1.0f, 1.0f},
    {"HardSigmoid", ACT_HARDSIGMOID, 1, 1, 0.2f, 0.5f},
    {"Elu", ACT_ELU, 1, 0, 1.0f, 0.0f},
    {"Softsign", ACT_SOFTSIGN, 0, 0, 0.0f, 0.0f},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0.0f, 0.0f},
};

/* x[i] = act(clip(x[i])) in place; clip <= 0 disables clipping. */
static void act_apply(const rnn_act *a, float *restrict x, int64_t n, float clip)
{
    if (clip > 0.0f)
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < -clip ? -clip : (x[i] > clip ? clip : x[i]);
    const float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
        break;
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case ACT_AFFINE:
        for (int64_t i = 0; i < n; i++) x[i] = al * x[i] + be;
        break;
    case ACT_LEAKYRELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0.0f ? x[i] : al * x[i];
        break;
    case ACT_THRESHOLDEDRELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > al ? x[i] : 0.0f;
        break;
    case ACT_SCALEDTANH:
        for (int64_t i = 0; i < n; i++) x[i] = al * tanhf(be * x[i]);
        break;
    case ACT_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = al * x[i] + be;
            x[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
        break;
    case ACT_ELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0.0f ? x[i] : al * (expf(x[i]) - 1.0f);
        break;
    case ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case ACT_SOFTPLUS:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
        break;
    }
}

/* ------------------------------------------------------------------ attributes */

typedef enum rnn_cell { CELL_RNN = 0, CELL_GRU, CELL_LSTM } rnn_cell;

static const char *const cell_names[] = {"RNN", "GRU", "LSTM"};
static const int cell_gates[] = {1, 3, 4};     /* gate blocks in W and R */
static const int cell_n_acts[] = {1, 2, 3};    /* activations per direction */

typedef struct rnn_ctx {
    rnn_cell cell;
    int64_t hidden;          /* hidden_size; 0 = take it from R */
    int n_dir;               /* 1 or 2 */
    int reverse;             /* direction "reverse" (n_dir 1) */
    rnn_act acts[2][3];      /* [direction][f, g, h] */
    float clip;              /* <= 0: no clipping */
    int layout;              /* 0: [seq, batch, ...]; 1: [batch, seq, ...] */
    int input_forget;        /* LSTM */
    int linear_before_reset; /* GRU */
} rnn_ctx;

static pq_status rnn_prepare(pq_exec_node *n, rnn_cell cell, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_op *op = n->op;
    rnn_ctx *c = pq_calloc(1, sizeof *c);
    const char *dir = NULL;
    const float *alphas = NULL, *betas = NULL;
    int64_t n_alpha = 0, n_beta = 0, v = 0;
    float clip = 0.0f;
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    c->cell = cell;
    PQ_TRY(pq_op_get_int(op, "hidden_size", 0, &c->hidden, err));
    PQ_CHECK(c->hidden >= 0, PQ_ERR_INVALID, "hidden_size must be positive");
    PQ_TRY(pq_op_get_string(op, "direction", "forward", &dir, err));
    if (!strcmp(dir, "forward")) c->n_dir = 1;
    else if (!strcmp(dir, "reverse")) c->n_dir = 1, c->reverse = 1;
    else if (!strcmp(dir, "bidirectional")) c->n_dir = 2;
    else PQ_CHECK(0, PQ_ERR_INVALID, "direction '%s' is not forward, reverse or bidirectional", dir);
    if (pq_op_find_attr(op, "clip")) {
        PQ_TRY(pq_op_get_float(op, "clip", 0.0f, &clip, err));
        PQ_CHECK(clip > 0.0f, PQ_ERR_INVALID, "clip must be positive, got %g", (double)clip);
        c->clip = clip;
    }
    PQ_TRY(pq_op_get_int(op, "layout", 0, &v, err));
    PQ_CHECK(v == 0 || v == 1, PQ_ERR_INVALID, "layout must be 0 or 1, got %lld", (long long)v);
    c->layout = (int)v;
    if (cell == CELL_LSTM) {
        PQ_TRY(pq_op_get_int(op, "input_forget", 0, &v, err));
        c->input_forget = v != 0;
    }
    if (cell == CELL_GRU) {
        PQ_TRY(pq_op_get_int(op, "linear_before_reset", 0, &v, err));
        c->linear_before_reset = v != 0;
    }

    /* Activations: defaults f = Sigmoid, g = Tanh, h = Tanh (RNN: f = Tanh). */
    const int na = cell_n_acts[cell];
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < 3; k++) c->acts[d][k].kind = ACT_TANH;
        if (cell != CELL_RNN) c->acts[d][0].kind = ACT_SIGMOID;
    }
    const pq_attr *aa = pq_op_find_attr(op, "activations");
    PQ_TRY(pq_op_get_floats(op, "activation_alpha", &alphas, &n_alpha, err));
    PQ_TRY(pq_op_get_floats(op, "activation_beta", &betas, &n_beta, err));
    if (aa) {
        PQ_CHECK(aa->type == PQ_ATTR_STRINGS, PQ_ERR_INVALID, "attribute 'activations' must be strings");
        PQ_CHECK(aa->n == na * c->n_dir || aa->n == na, PQ_ERR_INVALID,
                 "'activations' has %lld entries, %s with %d direction(s) takes %d",
                 (long long)aa->n, cell_names[cell], c->n_dir, na * c->n_dir);
        int64_t ia = 0, ib = 0;
        for (int64_t k = 0; k < aa->n; k++) {
            const char *name = aa->strings[k];
            size_t t = 0, nt = sizeof act_table / sizeof act_table[0];
            while (t < nt && strcasecmp(name, act_table[t].name) != 0) t++;
            PQ_CHECK(t < nt, PQ_ERR_UNSUPPORTED, "activation '%s' is not supported", name);
            rnn_act a = {act_table[t].kind, act_table[t].alpha, act_table[t].beta};
            if (act_table[t].n_alpha && ia < n_alpha) a.alpha = alphas[ia++];
            if (act_table[t].n_beta && ib < n_beta) a.beta = betas[ib++];
            c->acts[k / na][k % na] = a;
        }
        if (aa->n == na && c->n_dir == 2)
            for (int k = 0; k < na; k++) c->acts[1][k] = c->acts[0][k];
    }
    n->ctx = c;
    return PQ_OK;
fail:
    pq_free(c);
    return st;
}

static pq_status prepare_rnn(pq_exec_node *n, pq_err *err) { return rnn_prepare(n, CELL_RNN, err); }
static pq_status prepare_gru(pq_exec_node *n, pq_err *err) { return rnn_prepare(n, CELL_GRU, err); }
static pq_status prepare_lstm(pq_exec_node *n, pq_err *err) { return rnn_prepare(n, CELL_LSTM, err); }

static void release_rnn(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

/* ------------------------------------------------------------------ helpers */

/* A float32 view of t: its data, or a converted copy stored in *owned (caller frees). */
static pq_status as_f32(const pq_tensor *t, const char *what, const float **out, float **owned,
                        pq_err *err)
{
    *owned = NULL;
    *out = NULL;
    if (!t) return PQ_OK;
    if (t->dtype == PQ_DTYPE_FLOAT32) {
        *out = t->data;
        return PQ_OK;
    }
    if (!pq_dtype_is_float(t->dtype))
        return pq_err_set(err, PQ_ERR_INVALID, "input %s has dtype %s, expected a float type",
                          what, pq_dtype_name(t->dtype));
    float *f = pq_malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *f);
    if (!f) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory converting %s", what);
    for (int64_t i = 0; i < t->numel; i++) f[i] = (float)pq_tensor_get_f64(t, i);
    *owned = f;
    *out = f;
    return PQ_OK;
}

static pq_status check_shape(const pq_tensor *t, const char *what, int rank, const int64_t *dims,
                             pq_err *err)
{
    char want[96], got[96];
    int ok = t->rank == rank;
    for (int i = 0; ok && i < rank; i++) ok = t->dims[i] == dims[i];
    if (ok) return PQ_OK;
    return pq_err_set(err, PQ_ERR_INVALID, "input %s has shape %s, expected %s", what,
                      pq_shape_str(t->rank, t->dims, got, sizeof got),
                      pq_shape_str(rank, dims, want, sizeof want));
}

/* Copies a float32 result into output tensor t (any float dtype). */
static void store_f32(pq_tensor *t, const float *src)
{
    if (!t || (const void *)src == t->data) return;
    switch (t->dtype) {
    case PQ_DTYPE_FLOAT32: memcpy(t->data, src, (size_t)t->numel * sizeof(float)); break;
    case PQ_DTYPE_FLOAT64:
        for (int64_t i = 0; i < t->numel; i++) ((double *)t->data)[i] = src[i];
        break;
    case PQ_DTYPE_FLOAT16:
        for (int64_t i = 0; i < t->numel; i++) ((uint16_t *)t->data)[i] = pq_f32_to_f16(src[i]);
        break;
    case PQ_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < t->numel; i++) ((uint16_t *)t->data)[i] = pq_f32_to_bf16(src[i]);
        break;
    default: break;
    }
}

/* ------------------------------------------------------------------ run */

static pq_status run_rnn(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const rnn_ctx *c = n->ctx;
    const pq_tensor *tx = n->inputs[0], *tw = pq_node_input(n, 1), *tr = pq_node_input(n, 2);
    const pq_tensor *tb = pq_node_input(n, 3), *tlen = pq_node_input(n, 4),
                    *th0 = pq_node_input(n, 5);
    const pq_tensor *tc0 = c->cell == CELL_LSTM ? pq_node_input(n, 6) : NULL;
    const pq_tensor *tp = c->cell == CELL_LSTM ? pq_node_input(n, 7) : NULL;
    const float *x = NULL, *w = NULL, *r = NULL, *bias = NULL, *h0 = NULL, *c0 = NULL, *p = NULL;
    float *ox = NULL, *ow = NULL, *orr = NULL, *ob = NULL, *oh0 = NULL, *oc0 = NULL, *op = NULL;
    float *work = NULL, *xt = NULL;
    int64_t *lens = NULL;
    pq_tensor *ty = NULL, *tyh = NULL, *tyc = NULL;

    PQ_CHECK(tx && tw && tr, PQ_ERR_INVALID, "inputs X, W and R are required");
    PQ_CHECK(tx->rank == 3, PQ_ERR_INVALID, "X must have rank 3, got %d", tx->rank);
    PQ_CHECK(pq_dtype_is_float(tx->dtype), PQ_ERR_UNSUPPORTED, "dtype %s is not supported",
             pq_dtype_name(tx->dtype));
    const int D = c->n_dir, G = cell_gates[c->cell];
    const int64_t S = c->layout ? tx->dims[1] : tx->dims[0];
    const int64_t B = c->layout ? tx->dims[0] : tx->dims[1];
    const int64_t IN = tx->dims[2];
    PQ_CHECK(tr->rank == 3, PQ_ERR_INVALID, "R must have rank 3, got %d", tr->rank);
    const int64_t H = c->hidden > 0 ? c->hidden : tr->dims[2];
    const int64_t GH = G * H;
    {
        int64_t dw[3] = {D, GH, IN}, dr[3] = {D, GH, H}, db[2] = {D, 2 * GH};
        int64_t dh[3] = {c->layout ? B : D, c->layout ? D : B, H}, dp[2] = {D, 3 * H};
        PQ_TRY(check_shape(tw, "W", 3, dw, err));
        PQ_TRY(check_shape(tr, "R", 3, dr, err));
        if (tb) PQ_TRY(check_shape(tb, "B", 2, db, err));
        if (th0) PQ_TRY(check_shape(th0, "initial_h", 3, dh, err));
        if (tc0) PQ_TRY(check_shape(tc0, "initial_c", 3, dh, err));
        if (tp) PQ_TRY(check_shape(tp, "P", 2, dp, err));
    }
    PQ_TRY(as_f32(tx, "X", &x, &ox, err));
    PQ_TRY(as_f32(tw, "W", &w, &ow, err));
    PQ_TRY(as_f32(tr, "R", &r, &orr, err));
    PQ_TRY(as_f32(tb, "B", &bias, &ob, err));
    PQ_TRY(as_f32(th0, "initial_h", &h0, &oh0, err));
    PQ_TRY(as_f32(tc0, "initial_c", &c0, &oc0, err));
    PQ_TRY(as_f32(tp, "P", &p, &op, err));

    lens = pq_malloc((size_t)(B > 0 ? B : 1) * sizeof *lens);
    PQ_CHECK(lens, PQ_ERR_NOMEM, "out of memory");
    int all_full = 1;
    for (int64_t b = 0; b < B; b++) {
        lens[b] = S;
        if (tlen) {
            PQ_CHECK(pq_dtype_is_integer(tlen->dtype) && tlen->numel == B, PQ_ERR_INVALID,
                     "sequence_lens must be an integer tensor of %lld elements", (long long)B);
            lens[b] = pq_tensor_get_i64(tlen, b);
            PQ_CHECK(lens[b] >= 0 && lens[b] <= S, PQ_ERR_INVALID,
                     "sequence_lens[%lld] = %lld is out of [0, %lld]", (long long)b,
                     (long long)lens[b], (long long)S);
        }
        if (lens[b] != S) all_full = 0;
    }

    /* Outputs (created even when the graph omits them). */
    {
        int64_t dy[4], ds[3];
        if (c->layout) {
            dy[0] = B, dy[1] = S, dy[2] = D, dy[3] = H;
            ds[0] = B, ds[1] = D, ds[2] = H;
        } else {
            dy[0] = S, dy[1] = D, dy[2] = B, dy[3] = H;
            ds[0] = D, ds[1] = B, ds[2] = H;
        }
        if (n->n_outputs > 0) PQ_TRY(pq_node_output(n, 0, tx->dtype, 4, dy, 0, &ty, err));
        if (n->n_outputs > 1) PQ_TRY(pq_node_output(n, 1, tx->dtype, 3, ds, 0, &tyh, err));
        if (n->n_outputs > 2) PQ_TRY(pq_node_output(n, 2, tx->dtype, 3, ds, 0, &tyc, err));
    }

    /* Work memory: time-major X, projections, gate rows, states and float results. */
    const int native = tx->dtype == PQ_DTYPE_FLOAT32;
    const size_t n_xt = c->layout ? (size_t)(S * B * IN) : 0;
    const size_t n_xw = (size_t)(S * B * GH), n_g = (size_t)(B * GH), n_bh = (size_t)(B * H);
    const size_t n_y = (ty && !native) ? (size_t)ty->numel : 0;
    const size_t n_s = native ? 0 : (size_t)(D * B * H);
    const size_t total = n_xt + n_xw + n_g + 6 * n_bh + n_y + 2 * n_s + 16;
    work = pq_calloc(total, sizeof(float));
    PQ_CHECK(work, PQ_ERR_NOMEM, "out of memory (%zu floats of RNN work memory)", total);
    float *cur = work;
    if (c->layout) {
        /* [B, S, IN] -> [S, B, IN] */
        xt = cur;
        cur += n_xt;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < S; t++)
                memcpy(xt + (t * B + b) * IN, x + (b * S + t) * IN, (size_t)IN * sizeof(float));
    }
    const float *xs = c->layout ? xt : x;
    float *xw = cur; cur += n_xw;
    float *gates = cur; cur += n_g;
    float *hst = cur; cur += n_bh;   /* H_{t-1} */
    float *cst = cur; cur += n_bh;   /* C_{t-1} */
    float *hnew = cur; cur += n_bh;
    float *cnew = cur; cur += n_bh;
    float *tmp = cur; cur += n_bh;   /* GRU r (.) H; LSTM h(C) */
    float *tmp2 = cur; cur += n_bh;  /* GRU H R_h^T */
    float *yf = ty ? (native ? ty->data : cur) : NULL;
    cur += n_y;
    float *yhf = native ? (tyh ? tyh->data : NULL) : cur;
    cur += n_s;
    float *ycf = native ? (tyc ? tyc->data : NULL) : cur;
    cur += n_s;

    int M, N, K;
    PQ_TRY(pq_i64_to_int(S * B, &M, err));
    PQ_TRY(pq_i64_to_int(GH, &N, err));
    PQ_TRY(pq_i64_to_int(IN > 0 ? IN : 1, &K, err));
    int Bi, Hi;
    PQ_TRY(pq_i64_to_int(B, &Bi, err));
    PQ_TRY(pq_i64_to_int(H, &Hi, err));

    for (int d = 0; d < D; d++) {
        const int rev = D == 2 ? d == 1 : c->reverse;
        const float *wd = w + (size_t)d * GH * IN, *rd = r + (size_t)d * GH * H;
        const float *wb = bias ? bias + (size_t)d * 2 * GH : NULL;
        const float *rb = wb ? wb + GH : NULL;
        const float *pd = p ? p + (size_t)d * 3 * H : NULL;
        const rnn_act *af = &c->acts[d][0], *ag = &c->acts[d][1], *ah = &c->acts[d][2];
        const float clip = c->clip;

        /* Input projection for every timestep at once, biases folded in. */
        if (M > 0 && N > 0) {
            if (IN > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, xs, K, wd, K,
                            0.0f, xw, N);
            else
                memset(xw, 0, n_xw * sizeof(float));
        }
        if (wb) {
            for (int64_t row = 0; row < S * B; row++) {
                float *g = xw + row * GH;
                for (int64_t j = 0; j < GH; j++) {
                    /* GRU with linear_before_reset adds Rb_h inside the reset product. */
                    int skip_rb = c->cell == CELL_GRU && c->linear_before_reset && j >= 2 * H;
                    g[j] += wb[j] + (skip_rb ? 0.0f : rb[j]);
                }
            }
        }
        /* Initial state. */
        for (int64_t b = 0; b < B; b++) {
            float *hb = hst + b * H, *cb = cst + b * H;
            size_t off = c->layout ? (size_t)(b * D + d) * H : (size_t)(d * B + b) * H;
            if (h0) memcpy(hb, h0 + off, (size_t)H * sizeof(float));
            else memset(hb, 0, (size_t)H * sizeof(float));
            if (c0) memcpy(cb, c0 + off, (size_t)H * sizeof(float));
            else memset(cb, 0, (size_t)H * sizeof(float));
        }

        for (int64_t step = 0; step < S; step++) {
            const int64_t t = rev ? S - 1 - step : step;
            const float *xwt = xw + t * B * GH;
            memcpy(gates, xwt, n_g * sizeof(float));
            if (c->cell == CELL_GRU && !c->linear_before_reset) {
                /* z and r: + H R_zr^T; then h~ = g(xw_h + (r (.) H) R_h^T). */
                if (Bi > 0 && Hi > 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Bi, 2 * Hi, Hi, 1.0f,
                                hst, Hi, rd, Hi, 1.0f, gates, N);
                for (int64_t b = 0; b < B; b++) {
                    float *g = gates + b * GH;
                    act_apply(af, g, 2 * H, clip);
                    for (int64_t j = 0; j < H; j++) tmp[b * H + j] = g[H + j] * hst[b * H + j];
                }
                if (Bi > 0 && Hi > 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Bi, Hi, Hi, 1.0f, tmp,
                                Hi, rd + 2 * H * H, Hi, 1.0f, gates + 2 * H, N);
                for (int64_t b = 0; b < B; b++) {
                    float *g = gates + b * GH;
                    act_apply(ag, g + 2 * H, H, clip);
                    for (int64_t j = 0; j < H; j++)
                        hnew[b * H + j] = (1.0f - g[j]) * g[2 * H + j] + g[j] * hst[b * H + j];
                }
            } else if (c->cell == CELL_GRU) {
                /* linear_before_reset: h~ = g(xw_h + r (.) (H R_h^T + Rb_h)). */
                if (Bi > 0 && Hi > 0) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Bi, 2 * Hi, Hi, 1.0f,
                                hst, Hi, rd, Hi, 1.0f, gates, N);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Bi, Hi, Hi, 1.0f, hst,
                                Hi, rd + 2 * H * H, Hi, 0.0f, tmp2, Hi);
                }
                for (int64_t b = 0; b < B; b++) {
                    float *g = gates + b * GH;
                    float *hr = tmp2 + b * H;
                    act_apply(af, g, 2 * H, clip);
                    for (int64_t j = 0; j < H; j++)
                        g[2 * H + j] += g[H + j] * (hr[j] + (rb ? rb[2 * H + j] : 0.0f));
                    act_apply(ag, g + 2 * H, H, clip);
                    for (int64_t j = 0; j < H; j++)
                        hnew[b * H + j] = (1.0f - g[j]) * g[2 * H + j] + g[j] * hst[b * H + j];
                }
            } else {
                if (Bi > 0 && Hi > 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Bi, N, Hi, 1.0f, hst, Hi,
                                rd, Hi, 1.0f, gates, N);
                if (c->cell == CELL_RNN) {
                    act_apply(af, gates, (int64_t)n_g, clip);
                    memcpy(hnew, gates, n_bh * sizeof(float));
                } else {
                    /* LSTM, gate blocks i, o, f, c; peepholes P = [p_i, p_o, p_f]. */
                    for (int64_t b = 0; b < B; b++) {
                        float *g = gates + b * GH;
                        float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
                        const float *cp = cst + b * H;
                        float *cn = cnew + b * H, *hn = hnew + b * H, *hc = tmp + b * H;
                        if (pd)
                            for (int64_t j = 0; j < H; j++) {
                                gi[j] += pd[j] * cp[j];
                                gf[j] += pd[2 * H + j] * cp[j];
                            }
                        act_apply(af, gi, H, clip);
                        if (c->input_forget)
                            for (int64_t j = 0; j < H; j++) gf[j] = 1.0f - gi[j];
                        else
                            act_apply(af, gf, H, clip);
                        act_apply(ag, gc, H, clip);
                        for (int64_t j = 0; j < H; j++) cn[j] = gf[j] * cp[j] + gi[j] * gc[j];
                        if (pd)
                            for (int64_t j = 0; j < H; j++) go[j] += pd[H + j] * cn[j];
                        act_apply(af, go, H, clip);
                        /* clip bounds the gate pre-activations, not the cell state fed to
                         * h (as onnxruntime; C_t itself is never clipped). */
                        memcpy(hc, cn, (size_t)H * sizeof(float));
                        act_apply(ah, hc, H, 0.0f);
                        for (int64_t j = 0; j < H; j++) hn[j] = go[j] * hc[j];
                    }
                }
            }
            /* Commit the step for batches still inside their sequence. */
            for (int64_t b = 0; b < B; b++) {
                int active = all_full || t < lens[b];
                float *yrow = NULL;
                if (yf)
                    yrow = yf + (c->layout ? ((b * S + t) * D + d) * H : ((t * D + d) * B + b) * H);
                if (!active) {
                    if (yrow) memset(yrow, 0, (size_t)H * sizeof(float));
                    continue;
                }
                memcpy(hst + b * H, hnew + b * H, (size_t)H * sizeof(float));
                if (c->cell == CELL_LSTM)
                    memcpy(cst + b * H, cnew + b * H, (size_t)H * sizeof(float));
                if (yrow) memcpy(yrow, hnew + b * H, (size_t)H * sizeof(float));
            }
        }
        /* Final states. */
        for (int64_t b = 0; b < B; b++) {
            size_t off = c->layout ? (size_t)(b * D + d) * H : (size_t)(d * B + b) * H;
            if (yhf) memcpy(yhf + off, hst + b * H, (size_t)H * sizeof(float));
            if (ycf) memcpy(ycf + off, cst + b * H, (size_t)H * sizeof(float));
        }
    }
    if (!native) {
        store_f32(ty, yf);
        store_f32(tyh, yhf);
        store_f32(tyc, ycf);
    }

fail:
    pq_free(ox);
    pq_free(ow);
    pq_free(orr);
    pq_free(ob);
    pq_free(oh0);
    pq_free(oc0);
    pq_free(op);
    pq_free(work);
    pq_free(lens);
    return st;
}

/* ------------------------------------------------------------------ table */

const pq_op_def pq_ops_rnn[] = {
    {"", "RNN", 7, 3, 6, 0, 2, prepare_rnn, run_rnn, release_rnn},
    {"", "RNN", 14, 3, 6, 0, 2, prepare_rnn, run_rnn, release_rnn},
    {"", "GRU", 7, 3, 6, 0, 2, prepare_gru, run_rnn, release_rnn},
    {"", "GRU", 14, 3, 6, 0, 2, prepare_gru, run_rnn, release_rnn},
    {"", "LSTM", 7, 3, 8, 0, 3, prepare_lstm, run_rnn, release_rnn},
    {"", "LSTM", 14, 3, 8, 0, 3, prepare_lstm, run_rnn, release_rnn},
    PQ_OP_DEF_END,
};
