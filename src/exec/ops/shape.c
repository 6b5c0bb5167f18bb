/* shape.c - operator family: Shape Size Reshape Flatten Squeeze Unsqueeze Transpose Expand Tile
 * Concat Split Slice Identity Dropout Constant ConstantOfShape Range Cast CastLike.
 *
 * Shape-only operators (Reshape, Flatten, Squeeze, Unsqueeze, Identity, inference Dropout,
 * Cast to the same type) hand on a view or a retained reference of their input instead of
 * copying. Data movement (Transpose, Slice, Expand, Tile, Split) is one strided copy
 * (shape_common.c). Cast and CastLike live in shape_cast.c.
 */
#include "shape_common.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* Parsed integer-list attribute kept in a node context (axes, perm, starts, ...). */
typedef struct int_list {
    int present;
    int64_t n;
    int64_t v[PQ_MAX_RANK];
} int_list;

static pq_status get_list(const pq_op *op, const char *name, int_list *out, pq_err *err)
{
    const int64_t *v = NULL;
    int64_t n = 0;
    memset(out, 0, sizeof *out);
    pq_status st = pq_op_get_ints(op, name, &v, &n, err);
    if (st != PQ_OK) return st;
    if (!pq_op_find_attr(op, name)) return PQ_OK;
    if (n > PQ_MAX_RANK)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "attribute '%s' has %" PRId64 " values, at most %d are supported", name,
                          n, PQ_MAX_RANK);
    out->present = 1;
    out->n = n;
    if (n) memcpy(out->v, v, (size_t)n * sizeof *v);
    return PQ_OK;
}

static void release_ctx(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

/* Allocates a zeroed context of `size` bytes into n->ctx. */
static pq_status alloc_ctx(pq_exec_node *n, size_t size, pq_err *err)
{
    n->ctx = pq_calloc(1, size);
    if (!n->ctx) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory preparing %s", n->op->type);
    return PQ_OK;
}

/* Reads an optional integer-list input (axes, steps, ...) into out; absent -> !present. */
static pq_status input_list(const pq_exec_node *n, int idx, const char *what, int_list *out,
                            pq_err *err)
{
    const pq_tensor *t = pq_node_input(n, idx);
    memset(out, 0, sizeof *out);
    if (!t) return PQ_OK;
    out->present = 1;
    return pq__shape_read_ints(t, what, out->v, PQ_MAX_RANK, &out->n, err);
}

/* ------------------------------------------------------------------ Shape, Size */

typedef struct shape_ctx {
    int64_t start, end;
    int has_end;
} shape_ctx;

/* Shape-15 adds start/end; earlier versions have neither attribute, so one parser serves. */
static pq_status prepare_shape(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(shape_ctx), err));
    shape_ctx *c = n->ctx;
    PQ_TRY(pq_op_get_int(n->op, "start", 0, &c->start, err));
    c->has_end = pq_op_find_attr(n->op, "end") != NULL;
    PQ_TRY(pq_op_get_int(n->op, "end", 0, &c->end, err));
fail:
    return st;
}

static pq_status run_shape(pq_exec_node *n, pq_err *err)
{
    const shape_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    int64_t r = x->rank;
    /* ONNX Shape-15: negative start/end add rank, then both clamp to [0, rank]. */
    int64_t s = c->start < 0 ? c->start + r : c->start;
    int64_t e = c->has_end ? (c->end < 0 ? c->end + r : c->end) : r;
    s = s < 0 ? 0 : s > r ? r : s;
    e = e < 0 ? 0 : e > r ? r : e;
    int64_t len = e > s ? e - s : 0;
    pq_status st = pq_node_output(n, 0, PQ_DTYPE_INT64, 1, &len, 1, &y, err);
    if (st != PQ_OK) return st;
    for (int64_t i = 0; i < len; i++) PQ_DATA(y, int64_t)[i] = x->dims[s + i];
    return PQ_OK;
}

static pq_status run_size(pq_exec_node *n, pq_err *err)
{
    pq_tensor *y = NULL;
    pq_status st = pq_node_output(n, 0, PQ_DTYPE_INT64, 0, NULL, 1, &y, err);
    if (st != PQ_OK) return st;
    PQ_DATA(y, int64_t)[0] = n->inputs[0]->numel;
    return PQ_OK;
}

/* ------------------------------------------------------------------ Reshape, Flatten */

static pq_status prepare_allowzero(pq_exec_node *n, pq_err *err)
{
    int64_t az = 0;
    pq_status st = pq_op_get_int(n->op, "allowzero", 0, &az, err);
    if (st != PQ_OK) return st;
    n->ctx = (void *)(intptr_t)(az != 0);
    return PQ_OK;
}

static pq_status run_reshape(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    int allowzero = (int)(intptr_t)n->ctx;
    int64_t dims[PQ_MAX_RANK], nd = 0, known = 1;
    int infer = -1;
    char a[128], b[128];
    PQ_TRY(pq__shape_read_ints(n->inputs[1], "shape", dims, PQ_MAX_RANK, &nd, err));
    for (int64_t i = 0; i < nd; i++) {
        if (dims[i] == 0 && !allowzero) {
            /* ONNX Reshape: 0 copies the input dimension at the same index. */
            PQ_CHECK(i < x->rank, PQ_ERR_INVALID,
                     "shape[%" PRId64 "] is 0 but the input %s has no dimension %" PRId64, i,
                     pq_tensor_describe(x, a, sizeof a), i);
            dims[i] = x->dims[i];
        } else if (dims[i] == -1) {
            PQ_CHECK(infer < 0, PQ_ERR_INVALID, "shape %s has more than one -1",
                     pq_shape_str((int)nd, dims, b, sizeof b));
            infer = (int)i;
            continue;
        }
        PQ_CHECK(dims[i] >= 0, PQ_ERR_INVALID, "shape[%" PRId64 "] = %" PRId64 " is invalid", i,
                 dims[i]);
        known *= dims[i];
    }
    if (infer >= 0) {
        PQ_CHECK(known > 0 && x->numel % known == 0, PQ_ERR_INVALID,
                 "cannot infer the -1 in shape %s for input %s",
                 pq_shape_str((int)nd, dims, b, sizeof b), pq_tensor_describe(x, a, sizeof a));
        dims[infer] = x->numel / known;
        known *= dims[infer];
    }
    PQ_CHECK(known == x->numel, PQ_ERR_INVALID, "cannot reshape %s to %s",
             pq_tensor_describe(x, a, sizeof a), pq_shape_str((int)nd, dims, b, sizeof b));
    PQ_TRY(pq__shape_alias_output(n, 0, 0, (int)nd, dims, err));
fail:
    return st;
}

static pq_status prepare_axis(pq_exec_node *n, int64_t dflt, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(int64_t), err));
    PQ_TRY(pq_op_get_int(n->op, "axis", dflt, n->ctx, err));
fail:
    return st;
}

static pq_status prepare_axis1(pq_exec_node *n, pq_err *err)
{
    return prepare_axis(n, 1, err);
}

static pq_status prepare_axis_required(pq_exec_node *n, pq_err *err)
{
    if (!pq_op_find_attr(n->op, "axis"))
        return pq_err_set(err, PQ_ERR_INVALID, "attribute 'axis' is missing");
    return prepare_axis(n, 0, err);
}

static pq_status run_flatten(pq_exec_node *n, pq_err *err)
{
    const pq_tensor *x = n->inputs[0];
    int64_t axis = *(const int64_t *)n->ctx, r = x->rank;
    if (axis < -r || axis > r)
        return pq_err_set(err, PQ_ERR_INVALID,
                          "axis %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", axis, -r, r);
    if (axis < 0) axis += r;
    int64_t dims[2] = {1, 1};
    for (int64_t i = 0; i < r; i++) dims[i < axis ? 0 : 1] *= x->dims[i];
    return pq__shape_alias_output(n, 0, 0, 2, dims, err);
}

/* ------------------------------------------------------------------ Squeeze, Unsqueeze */

static pq_status prepare_axes_attr(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(int_list), err));
    PQ_TRY(get_list(n->op, "axes", n->ctx, err));
fail:
    return st;
}

/* Squeeze-1/11 take axes as an attribute, Squeeze-13 as an optional input. */
static pq_status squeeze(pq_exec_node *n, const int_list *axes, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    int drop[PQ_MAX_RANK] = {0};
    int64_t dims[PQ_MAX_RANK];
    int r = 0;
    if (!axes->present || axes->n == 0) {
        for (int i = 0; i < x->rank; i++) drop[i] = x->dims[i] == 1;
    } else {
        for (int64_t k = 0; k < axes->n; k++) {
            int ax;
            PQ_TRY(pq__shape_norm_axis(axes->v[k], x->rank, "axis", &ax, err));
            PQ_CHECK(x->dims[ax] == 1, PQ_ERR_INVALID, "cannot squeeze axis %d of size %" PRId64,
                     ax, x->dims[ax]);
            drop[ax] = 1;
        }
    }
    for (int i = 0; i < x->rank; i++)
        if (!drop[i]) dims[r++] = x->dims[i];
    PQ_TRY(pq__shape_alias_output(n, 0, 0, r, dims, err));
fail:
    return st;
}

static pq_status run_squeeze_attr(pq_exec_node *n, pq_err *err)
{
    return squeeze(n, n->ctx, err);
}

static pq_status run_squeeze_input(pq_exec_node *n, pq_err *err)
{
    int_list axes;
    pq_status st = input_list(n, 1, "axes", &axes, err);
    return st != PQ_OK ? st : squeeze(n, &axes, err);
}

static pq_status unsqueeze(pq_exec_node *n, const int_list *axes, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    int64_t r = x->rank + axes->n;
    int ins[PQ_MAX_RANK] = {0};
    int64_t dims[PQ_MAX_RANK];
    PQ_CHECK(axes->present && axes->n > 0, PQ_ERR_INVALID, "axes are missing");
    PQ_CHECK(r <= PQ_MAX_RANK, PQ_ERR_UNSUPPORTED, "output rank %" PRId64 " exceeds %d", r,
             PQ_MAX_RANK);
    /* ONNX Unsqueeze: axes index the output, negative ones count from its end. */
    for (int64_t k = 0; k < axes->n; k++) {
        int ax;
        PQ_TRY(pq__shape_norm_axis(axes->v[k], (int)r, "axis", &ax, err));
        PQ_CHECK(!ins[ax], PQ_ERR_INVALID, "axis %" PRId64 " is repeated", axes->v[k]);
        ins[ax] = 1;
    }
    for (int64_t i = 0, j = 0; i < r; i++) dims[i] = ins[i] ? 1 : x->dims[j++];
    PQ_TRY(pq__shape_alias_output(n, 0, 0, (int)r, dims, err));
fail:
    return st;
}

static pq_status run_unsqueeze_attr(pq_exec_node *n, pq_err *err)
{
    return unsqueeze(n, n->ctx, err);
}

static pq_status run_unsqueeze_input(pq_exec_node *n, pq_err *err)
{
    int_list axes;
    pq_status st = input_list(n, 1, "axes", &axes, err);
    return st != PQ_OK ? st : unsqueeze(n, &axes, err);
}

/* ------------------------------------------------------------------ Identity, Dropout */

static pq_status run_identity(pq_exec_node *n, pq_err *err)
{
    return pq_node_set_output(n, 0, pq_tensor_retain(n->inputs[0]), err);
}

typedef struct dropout_ctx {
    float ratio; /* Dropout-7/10 attribute */
    int64_t seed;
    int has_seed;
} dropout_ctx;

static pq_status prepare_dropout(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(dropout_ctx), err));
    dropout_ctx *c = n->ctx;
    PQ_TRY(pq_op_get_float(n->op, "ratio", 0.5f, &c->ratio, err));
    c->has_seed = pq_op_find_attr(n->op, "seed") != NULL;
    PQ_TRY(pq_op_get_int(n->op, "seed", 0, &c->seed, err));
fail:
    return st;
}

/* Fills the optional mask output with ones (inference: nothing is dropped). Dropout-7's
 * mask has the input's type, Dropout-10+ a bool one. */
static pq_status dropout_mask_ones(pq_exec_node *n, pq_dtype dt, pq_err *err)
{
    pq_tensor *m = NULL;
    const pq_tensor *x = n->inputs[0];
    if (n->n_outputs < 2 || !n->op->outputs[1]) return PQ_OK;
    pq_status st = pq_node_output(n, 1, dt, x->rank, x->dims, 1, &m, err);
    if (st != PQ_OK) return st;
    switch (dt) {
    case PQ_DTYPE_BOOL: memset(m->data, 1, m->nbytes); break;
    case PQ_DTYPE_FLOAT32:
        for (int64_t i = 0; i < m->numel; i++) PQ_DATA(m, float)[i] = 1.0f;
        break;
    case PQ_DTYPE_FLOAT64:
        for (int64_t i = 0; i < m->numel; i++) PQ_DATA(m, double)[i] = 1.0;
        break;
    case PQ_DTYPE_FLOAT16:
        for (int64_t i = 0; i < m->numel; i++) PQ_DATA(m, uint16_t)[i] = 0x3c00;
        break;
    default:
        return pq_err_set(err, PQ_ERR_UNSUPPORTED, "dtype %s is not supported", pq_dtype_name(dt));
    }
    return PQ_OK;
}

static pq_status run_dropout7(pq_exec_node *n, pq_err *err)
{
    pq_status st = pq_node_set_output(n, 0, pq_tensor_retain(n->inputs[0]), err);
    return st != PQ_OK ? st : dropout_mask_ones(n, n->inputs[0]->dtype, err);
}

static pq_status run_dropout10(pq_exec_node *n, pq_err *err)
{
    pq_status st = pq_node_set_output(n, 0, pq_tensor_retain(n->inputs[0]), err);
    return st != PQ_OK ? st : dropout_mask_ones(n, PQ_DTYPE_BOOL, err);
}

/* Dropout-12/13: ratio and training_mode are inputs. Without training_mode (or false) this
 * is inference; in training mode with ratio > 0 elements are dropped with the project PRNG
 * seeded by the `seed` attribute (0 when absent, so runs reproduce) and the kept ones scaled
 * by 1 / (1 - ratio). */
static pq_status run_dropout12(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const dropout_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *rt = pq_node_input(n, 1), *tm = pq_node_input(n, 2);
    double ratio = 0.5;
    int training = 0;
    pq_tensor *y = NULL, *m = NULL;
    if (tm) {
        PQ_CHECK(tm->numel == 1 && tm->dtype == PQ_DTYPE_BOOL, PQ_ERR_INVALID,
                 "training_mode must be a bool scalar");
        training = PQ_DATA(tm, uint8_t)[0] != 0;
    }
    if (rt) {
        PQ_CHECK(rt->numel == 1 && pq_dtype_is_float(rt->dtype), PQ_ERR_INVALID,
                 "ratio must be a float scalar");
        ratio = pq_tensor_get_f64(rt, 0);
    }
    if (!training || ratio == 0.0) return run_dropout10(n, err);
    PQ_CHECK(ratio > 0.0 && ratio < 1.0, PQ_ERR_INVALID, "ratio %g is outside [0, 1)", ratio);
    PQ_CHECK(x->dtype == PQ_DTYPE_FLOAT32 || x->dtype == PQ_DTYPE_FLOAT64 ||
                 x->dtype == PQ_DTYPE_FLOAT16,
             PQ_ERR_UNSUPPORTED, "training-mode dropout of %s is not supported",
             pq_dtype_name(x->dtype));
    PQ_TRY(pq_node_output(n, 0, x->dtype, x->rank, x->dims, 1, &y, err));
    if (n->n_outputs > 1 && n->op->outputs[1])
        PQ_TRY(pq_node_output(n, 1, PQ_DTYPE_BOOL, x->rank, x->dims, 1, &m, err));
    pq_rng rng;
    pq_rng_seed(&rng, (uint64_t)c->seed);
    double scale = 1.0 / (1.0 - ratio);
    for (int64_t i = 0; i < x->numel; i++) {
        int keep = pq_rng_uniform(&rng) >= ratio;
        if (m) PQ_DATA(m, uint8_t)[i] = (uint8_t)keep;
        double v = keep ? pq_tensor_get_f64(x, i) * scale : 0.0;
        if (x->dtype == PQ_DTYPE_FLOAT32)
            PQ_DATA(y, float)[i] = (float)v;
        else if (x->dtype == PQ_DTYPE_FLOAT64)
            PQ_DATA(y, double)[i] = v;
        else
            PQ_DATA(y, uint16_t)[i] = pq_f32_to_f16((float)v);
    }
fail:
    return st;
}

/* ------------------------------------------------------------------ Constant */

/* The constant is built once in prepare; each run hands out a copy so that a hook that
 * rewrites outputs in place cannot change the node's attribute. */
static pq_status prepare_constant(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_op *op = n->op;
    pq_tensor *t = NULL;
    const pq_attr *a = NULL;
    static const char *const names[] = {"value",         "value_float", "value_floats",
                                        "value_int",     "value_ints",  "value_string",
                                        "value_strings", "sparse_value"};
    int which = -1;
    for (int k = 0; k < (int)(sizeof names / sizeof *names); k++) {
        const pq_attr *f = pq_op_find_attr(op, names[k]);
        if (!f) continue;
        PQ_CHECK(!a, PQ_ERR_INVALID, "has both '%s' and '%s'", a ? a->name : "", names[k]);
        a = f;
        which = k;
    }
    PQ_CHECK(a, PQ_ERR_INVALID, "has none of the value attributes");
    int64_t len = a->n;
    switch (which) {
    case 0: {
        const pq_tensor *v = NULL;
        PQ_TRY(pq_op_get_tensor(op, "value", &v, err));
        PQ_CHECK(v, PQ_ERR_INVALID, "attribute 'value' is not a tensor");
        PQ_TRY(pq_tensor_clone(v, &t, err));
        break;
    }
    case 1:
        PQ_CHECK(a->type == PQ_ATTR_FLOAT, PQ_ERR_INVALID, "value_float is not a float");
        PQ_TRY(pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, 0, NULL, &t, err));
        PQ_DATA(t, float)[0] = a->f;
        break;
    case 2:
        PQ_CHECK(a->type == PQ_ATTR_FLOATS, PQ_ERR_INVALID, "value_floats is not a float list");
        PQ_TRY(pq_tensor_create(PQ_DTYPE_FLOAT32, 1, &len, &t, err));
        if (len) memcpy(t->data, a->floats, (size_t)len * sizeof(float));
        break;
    case 3:
        PQ_CHECK(a->type == PQ_ATTR_INT, PQ_ERR_INVALID, "value_int is not an int");
        PQ_TRY(pq_tensor_create_uninit(PQ_DTYPE_INT64, 0, NULL, &t, err));
        PQ_DATA(t, int64_t)[0] = a->i;
        break;
    case 4:
        PQ_CHECK(a->type == PQ_ATTR_INTS, PQ_ERR_INVALID, "value_ints is not an int list");
        PQ_TRY(pq_tensor_create(PQ_DTYPE_INT64, 1, &len, &t, err));
        if (len) memcpy(t->data, a->ints, (size_t)len * sizeof(int64_t));
        break;
    case 5:
        PQ_CHECK(a->type == PQ_ATTR_STRING, PQ_ERR_INVALID, "value_string is not a string");
        PQ_TRY(pq_tensor_create(PQ_DTYPE_STRING, 0, NULL, &t, err));
        PQ_TRY(pq_tensor_set_string(t, 0, a->s ? a->s : "", err));
        break;
    case 6:
        PQ_CHECK(a->type == PQ_ATTR_STRINGS, PQ_ERR_INVALID, "value_strings is not a string list");
        PQ_TRY(pq_tensor_create(PQ_DTYPE_STRING, 1, &len, &t, err));
        for (int64_t i = 0; i < len; i++) PQ_TRY(pq_tensor_set_string(t, i, a->strings[i], err));
        break;
    default:
        PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "sparse_value (a sparse tensor constant) is not supported");
    }
    n->ctx = t;
    return PQ_OK;
fail:
    pq_tensor_destroy(&t);
    return st;
}

static void release_constant(pq_exec_node *n)
{
    pq_tensor *t = n->ctx;
    pq_tensor_destroy(&t);
    n->ctx = NULL;
}

static pq_status run_constant(pq_exec_node *n, pq_err *err)
{
    pq_tensor *t = NULL;
    pq_status st = pq_tensor_clone(n->ctx, &t, err);
    return st != PQ_OK ? st : pq_node_set_output(n, 0, t, err);
}

/* ------------------------------------------------------------------ ConstantOfShape */

static pq_status prepare_constant_of_shape(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *v = NULL;
    pq_tensor *t = NULL;
    PQ_TRY(pq_op_get_tensor(n->op, "value", &v, err));
    if (v) {
        PQ_CHECK(v->numel == 1, PQ_ERR_INVALID, "value must hold one element, not %" PRId64,
                 v->numel);
        PQ_CHECK(v->dtype != PQ_DTYPE_STRING, PQ_ERR_UNSUPPORTED,
                 "string values are not supported");
        PQ_TRY(pq_tensor_clone(v, &t, err));
    } else {
        /* ONNX ConstantOfShape-9: float32 zero when value is absent. */
        PQ_TRY(pq_tensor_create(PQ_DTYPE_FLOAT32, 0, NULL, &t, err));
    }
    n->ctx = t;
    return PQ_OK;
fail:
    pq_tensor_destroy(&t);
    return st;
}

/* Fills numel elements of size esz at dst with the element at val. */
static void fill_elements(void *dst, const void *val, size_t esz, int64_t numel)
{
    switch (esz) {
    case 1: memset(dst, *(const uint8_t *)val, (size_t)numel); break;
    case 2: {
        uint16_t v, *restrict d = dst;
        memcpy(&v, val, 2);
        for (int64_t i = 0; i < numel; i++) d[i] = v;
        break;
    }
    case 4: {
        uint32_t v, *restrict d = dst;
        memcpy(&v, val, 4);
        for (int64_t i = 0; i < numel; i++) d[i] = v;
        break;
    }
    case 8: {
        uint64_t v, *restrict d = dst;
        memcpy(&v, val, 8);
        for (int64_t i = 0; i < numel; i++) d[i] = v;
        break;
    }
    default:
        for (int64_t i = 0; i < numel; i++) memcpy((char *)dst + (size_t)i * esz, val, esz);
    }
}

static pq_status run_constant_of_shape(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *v = n->ctx;
    int64_t dims[PQ_MAX_RANK], nd = 0;
    pq_tensor *y = NULL;
    PQ_TRY(pq__shape_read_ints(n->inputs[0], "shape", dims, PQ_MAX_RANK, &nd, err));
    PQ_TRY(pq_node_output(n, 0, v->dtype, (int)nd, dims, 1, &y, err));
    fill_elements(y->data, v->data, pq_dtype_size(v->dtype), y->numel);
fail:
    return st;
}

/* ------------------------------------------------------------------ Range */

static pq_status run_range(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *ts = n->inputs[0], *tl = n->inputs[1], *td = n->inputs[2];
    pq_tensor *y = NULL;
    pq_dtype dt = ts->dtype;
    PQ_CHECK(ts->numel == 1 && tl->numel == 1 && td->numel == 1, PQ_ERR_INVALID,
             "start, limit and delta must be scalars");
    PQ_CHECK(tl->dtype == dt && td->dtype == dt, PQ_ERR_INVALID,
             "start, limit and delta have different dtypes");
    int64_t count = 0;
    if (dt == PQ_DTYPE_FLOAT32 || dt == PQ_DTYPE_FLOAT64) {
        double s = pq_tensor_get_f64(ts, 0), l = pq_tensor_get_f64(tl, 0),
               d = pq_tensor_get_f64(td, 0);
        PQ_CHECK(d != 0.0 && isfinite(s) && isfinite(l) && isfinite(d), PQ_ERR_INVALID,
                 "range (%g, %g, %g) is invalid", s, l, d);
        /* ONNX Range: number_of_elements = max(ceil((limit - start) / delta), 0), computed
         * in the input type. */
        double q =
            dt == PQ_DTYPE_FLOAT32 ? (double)(((float)l - (float)s) / (float)d) : (l - s) / d;
        q = ceil(q);
        count = q > 0 ? (int64_t)q : 0;
        PQ_TRY(pq_node_output(n, 0, dt, 1, &count, 1, &y, err));
        if (dt == PQ_DTYPE_FLOAT32)
            for (int64_t i = 0; i < count; i++)
                PQ_DATA(y, float)[i] = (float)s + (float)i * (float)d;
        else
            for (int64_t i = 0; i < count; i++) PQ_DATA(y, double)[i] = s + (double)i * d;
    } else {
        PQ_CHECK(dt == PQ_DTYPE_INT16 || dt == PQ_DTYPE_INT32 || dt == PQ_DTYPE_INT64,
                 PQ_ERR_UNSUPPORTED, "dtype %s is not supported", pq_dtype_name(dt));
        int64_t s = pq_tensor_get_i64(ts, 0), l = pq_tensor_get_i64(tl, 0),
                d = pq_tensor_get_i64(td, 0);
        PQ_CHECK(d != 0, PQ_ERR_INVALID, "delta is 0");
        if (d > 0 && l > s) count = (l - s + d - 1) / d;
        if (d < 0 && l < s) count = (s - l - d - 1) / -d;
        PQ_TRY(pq_node_output(n, 0, dt, 1, &count, 1, &y, err));
        for (int64_t i = 0; i < count; i++) {
            int64_t v = s + i * d;
            if (dt == PQ_DTYPE_INT64)
                PQ_DATA(y, int64_t)[i] = v;
            else if (dt == PQ_DTYPE_INT32)
                PQ_DATA(y, int32_t)[i] = (int32_t)v;
            else
                PQ_DATA(y, int16_t)[i] = (int16_t)v;
        }
    }
fail:
    return st;
}

/* ------------------------------------------------------------------ Transpose */

static pq_status run_transpose(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const int_list *perm = n->ctx;
    const pq_tensor *x = n->inputs[0];
    int64_t p[PQ_MAX_RANK], dims[PQ_MAX_RANK], istr[PQ_MAX_RANK], sstr[PQ_MAX_RANK];
    int seen[PQ_MAX_RANK] = {0};
    int r = x->rank;
    if (perm->present) {
        PQ_CHECK(perm->n == r, PQ_ERR_INVALID, "perm has %" PRId64 " entries for rank %d", perm->n,
                 r);
        for (int i = 0; i < r; i++) {
            int ax;
            PQ_TRY(pq__shape_norm_axis(perm->v[i], r, "perm entry", &ax, err));
            PQ_CHECK(!seen[ax], PQ_ERR_INVALID, "perm repeats axis %d", ax);
            seen[ax] = 1;
            p[i] = ax;
        }
    } else {
        for (int i = 0; i < r; i++) p[i] = r - 1 - i; /* default: reverse the dimensions */
    }
    pq__shape_strides(r, x->dims, istr);
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[p[i]];
        sstr[i] = istr[p[i]];
    }
    PQ_TRY(pq__shape_move_output(n, 0, x, 0, sstr, r, dims, err));
fail:
    return st;
}

static pq_status prepare_perm(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(int_list), err));
    PQ_TRY(get_list(n->op, "perm", n->ctx, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ Expand, Tile */

static pq_status run_expand(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    int64_t shp[PQ_MAX_RANK], ns = 0, dims[PQ_MAX_RANK], istr[PQ_MAX_RANK], sstr[PQ_MAX_RANK];
    char a[128], b[128];
    PQ_TRY(pq__shape_read_ints(n->inputs[1], "shape", shp, PQ_MAX_RANK, &ns, err));
    int r = (int)(ns > x->rank ? ns : x->rank);
    pq__shape_strides(x->rank, x->dims, istr);
    /* ONNX Expand: numpy-style bidirectional broadcast of the input shape and `shape`. */
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->rank), si = i - (r - (int)ns);
        int64_t xd = xi >= 0 ? x->dims[xi] : 1, sd = si >= 0 ? shp[si] : 1;
        PQ_CHECK(xd == sd || xd == 1 || sd == 1, PQ_ERR_INVALID, "cannot broadcast %s to shape %s",
                 pq_tensor_describe(x, a, sizeof a), pq_shape_str((int)ns, shp, b, sizeof b));
        dims[i] = xd == 1 ? sd : xd;
        sstr[i] = (xi >= 0 && xd != 1) ? istr[xi] : 0;
    }
    PQ_TRY(pq__shape_move_output(n, 0, x, 0, sstr, r, dims, err));
fail:
    return st;
}

static pq_status run_tile(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    pq_tensor *y = NULL;
    int64_t rep[PQ_MAX_RANK], nr = 0, dims[PQ_MAX_RANK], istr[PQ_MAX_RANK], ostr[PQ_MAX_RANK];
    int64_t bd[PQ_MOVE_MAX_RANK], bs[PQ_MOVE_MAX_RANK], bo[PQ_MOVE_MAX_RANK];
    int r = x->rank;
    PQ_TRY(pq__shape_read_ints(n->inputs[1], "repeats", rep, PQ_MAX_RANK, &nr, err));
    PQ_CHECK(nr == r, PQ_ERR_INVALID, "repeats has %" PRId64 " values for rank %d", nr, r);
    for (int i = 0; i < r; i++) {
        PQ_CHECK(rep[i] >= 0, PQ_ERR_INVALID, "repeats[%d] = %" PRId64 " is negative", i, rep[i]);
        dims[i] = x->dims[i] * rep[i];
    }
    PQ_TRY(pq_node_output(n, 0, x->dtype, r, dims, 1, &y, err));
    if (y->numel == 0) goto fail;
    pq__shape_strides(r, x->dims, istr);
    pq__shape_strides(r, dims, ostr);
    /* Output index i * d + j along each axis: a (repeat, dim) pair of loops where the
     * repeat reads stride 0 and writes stride d * out_stride. */
    for (int i = 0; i < r; i++) {
        bd[2 * i] = rep[i];
        bs[2 * i] = 0;
        bo[2 * i] = x->dims[i] * ostr[i];
        bd[2 * i + 1] = x->dims[i];
        bs[2 * i + 1] = istr[i];
        bo[2 * i + 1] = ostr[i];
    }
    pq__shape_strings_clear(y);
    pq__shape_strided_copy(y->data, bo, x->data, bs, 2 * r, bd, pq_dtype_size(x->dtype));
    PQ_TRY(pq__shape_strings_own(y, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ Concat, Split */

static pq_status run_concat(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x0 = NULL;
    pq_tensor *y = NULL;
    int64_t dims[PQ_MAX_RANK];
    int ax = 0;
    char a[128], b[128];
    for (int i = 0; i < n->n_inputs && !x0; i++) x0 = n->inputs[i];
    PQ_CHECK(x0, PQ_ERR_INVALID, "has no inputs");
    PQ_CHECK(x0->rank > 0, PQ_ERR_INVALID, "cannot concatenate scalars");
    PQ_TRY(pq__shape_norm_axis(*(const int64_t *)n->ctx, x0->rank, "axis", &ax, err));
    memcpy(dims, x0->dims, sizeof dims);
    dims[ax] = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const pq_tensor *x = n->inputs[k];
        if (!x) continue;
        int ok = x->dtype == x0->dtype && x->rank == x0->rank;
        for (int i = 0; ok && i < x->rank; i++) ok = i == ax || x->dims[i] == x0->dims[i];
        PQ_CHECK(ok, PQ_ERR_INVALID,
                 "input %d %s does not match input 0 %s along axes other "
                 "than %d",
                 k, pq_tensor_describe(x, a, sizeof a), pq_tensor_describe(x0, b, sizeof b), ax);
        dims[ax] += x->dims[ax];
    }
    PQ_TRY(pq_node_output(n, 0, x0->dtype, x0->rank, dims, 1, &y, err));
    if (y->numel == 0) goto fail;
    size_t esz = pq_dtype_size(x0->dtype);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= dims[i];
    for (int i = ax + 1; i < x0->rank; i++) inner *= dims[i];
    pq__shape_strings_clear(y);
    char *dst = y->data;
    size_t row = (size_t)(dims[ax] * inner) * esz, off = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const pq_tensor *x = n->inputs[k];
        if (!x || x->numel == 0) continue;
        size_t chunk = (size_t)(x->dims[ax] * inner) * esz;
        const char *src = x->data;
#pragma omp parallel for schedule(static) if (outer > 64 && x->nbytes > (1 << 20))
        for (int64_t o = 0; o < outer; o++)
            memcpy(dst + (size_t)o * row + off, src + (size_t)o * chunk, chunk);
        off += chunk;
    }
    PQ_TRY(pq__shape_strings_own(y, err));
fail:
    return st;
}

typedef struct split_ctx {
    int64_t axis;
    int_list split; /* attribute (Split-2/11); the input replaces it from Split-13 */
    int64_t n_split;
    int64_t *split_v; /* split attribute values (any count) */
} split_ctx;

static void release_split(pq_exec_node *n)
{
    split_ctx *c = n->ctx;
    if (c) pq_free(c->split_v);
    release_ctx(n);
}

static pq_status prepare_split(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const int64_t *v = NULL;
    PQ_TRY(alloc_ctx(n, sizeof(split_ctx), err));
    split_ctx *c = n->ctx;
    PQ_TRY(pq_op_get_int(n->op, "axis", 0, &c->axis, err));
    PQ_TRY(pq_op_get_ints(n->op, "split", &v, &c->n_split, err));
    if (c->n_split) {
        c->split_v = pq_malloc((size_t)c->n_split * sizeof *v);
        PQ_CHECK(c->split_v, PQ_ERR_NOMEM, "out of memory preparing Split");
        memcpy(c->split_v, v, (size_t)c->n_split * sizeof *v);
    }
fail:
    return st;
}

static pq_status run_split(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const split_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *ts = pq_node_input(n, 1);
    const int64_t *split = c->split_v;
    int64_t n_split = c->n_split;
    int64_t *buf = NULL;
    int64_t istr[PQ_MAX_RANK], dims[PQ_MAX_RANK];
    int ax = 0;
    PQ_TRY(pq__shape_norm_axis(c->axis, x->rank, "axis", &ax, err));
    if (ts) {
        buf = pq_malloc((size_t)(ts->numel + 1) * sizeof *buf);
        PQ_CHECK(buf, PQ_ERR_NOMEM, "out of memory reading split");
        PQ_TRY(pq__shape_read_ints(ts, "split", buf, ts->numel, &n_split, err));
        split = buf;
    }
    int64_t dim = x->dims[ax], no = n->n_outputs;
    if (n_split) {
        PQ_CHECK(n_split == no, PQ_ERR_INVALID,
                 "split has %" PRId64 " values for %" PRId64 " outputs", n_split, no);
        int64_t sum = 0;
        for (int64_t k = 0; k < n_split; k++) {
            PQ_CHECK(split[k] >= 0, PQ_ERR_INVALID, "split[%" PRId64 "] is negative", k);
            sum += split[k];
        }
        PQ_CHECK(sum == dim, PQ_ERR_INVALID, "split sums to %" PRId64 ", axis %d has %" PRId64, sum,
                 ax, dim);
    } else {
        PQ_CHECK(dim % no == 0, PQ_ERR_INVALID,
                 "axis %d of size %" PRId64 " does not split "
                 "into %" PRId64 " equal parts",
                 ax, dim, no);
    }
    pq__shape_strides(x->rank, x->dims, istr);
    memcpy(dims, x->dims, sizeof dims);
    int64_t start = 0;
    for (int64_t k = 0; k < no; k++) {
        int64_t len = n_split ? split[k] : dim / no;
        dims[ax] = len;
        if (n->op->outputs[k])
            PQ_TRY(pq__shape_move_output(n, (int)k, x, start * istr[ax], istr, x->rank, dims, err));
        start += len;
    }
fail:
    pq_free(buf);
    return st;
}

/* ------------------------------------------------------------------ Slice */

/* Computes the output shape, source offset and source strides of a slice (ONNX Slice-10:
 * negative starts/ends add the dim; with step > 0 both clamp to [0, dim], with step < 0
 * start clamps to [0, dim-1] and end to [-1, dim-1]). */
static pq_status slice(pq_exec_node *n, const int_list *starts, const int_list *ends,
                       const int_list *axes, const int_list *steps, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_tensor *x = n->inputs[0];
    int r = x->rank, used[PQ_MAX_RANK] = {0};
    int64_t dims[PQ_MAX_RANK], istr[PQ_MAX_RANK], sstr[PQ_MAX_RANK], offset = 0;
    PQ_CHECK(starts->n == ends->n, PQ_ERR_INVALID, "starts has %" PRId64 " values, ends %" PRId64,
             starts->n, ends->n);
    PQ_CHECK(!axes->present || axes->n == starts->n, PQ_ERR_INVALID,
             "axes has %" PRId64 " values, starts %" PRId64, axes->n, starts->n);
    PQ_CHECK(!steps->present || steps->n == starts->n, PQ_ERR_INVALID,
             "steps has %" PRId64 " values, starts %" PRId64, steps->n, starts->n);
    pq__shape_strides(r, x->dims, istr);
    memcpy(dims, x->dims, sizeof dims);
    memcpy(sstr, istr, sizeof sstr);
    for (int64_t k = 0; k < starts->n; k++) {
        int ax;
        if (axes->present)
            PQ_TRY(pq__shape_norm_axis(axes->v[k], r, "axis", &ax, err));
        else
            PQ_CHECK(k < r, PQ_ERR_INVALID, "%" PRId64 " starts for rank %d", starts->n, r);
        if (!axes->present) ax = (int)k;
        PQ_CHECK(!used[ax], PQ_ERR_INVALID, "axis %d is repeated", ax);
        used[ax] = 1;
        int64_t d = x->dims[ax], step = steps->present ? steps->v[k] : 1;
        int64_t s = starts->v[k], e = ends->v[k], cnt = 0;
        PQ_CHECK(step != 0, PQ_ERR_INVALID, "step of axis %d is 0", ax);
        if (s < 0) s += d;
        if (e < 0) e += d;
        if (step > 0) {
            s = s < 0 ? 0 : s > d ? d : s;
            e = e < 0 ? 0 : e > d ? d : e;
            if (e > s) cnt = (e - s + step - 1) / step;
        } else {
            s = s < 0 ? 0 : s > d - 1 ? d - 1 : s;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            if (s > e) cnt = (s - e + (-step) - 1) / (-step);
        }
        dims[ax] = cnt;
        if (cnt > 0) offset += s * istr[ax];
        sstr[ax] = istr[ax] * step;
    }
    PQ_TRY(pq__shape_move_output(n, 0, x, offset, sstr, r, dims, err));
fail:
    return st;
}

typedef struct slice1_ctx {
    int_list starts, ends, axes;
} slice1_ctx;

static pq_status prepare_slice1(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    PQ_TRY(alloc_ctx(n, sizeof(slice1_ctx), err));
    slice1_ctx *c = n->ctx;
    PQ_TRY(get_list(n->op, "starts", &c->starts, err));
    PQ_TRY(get_list(n->op, "ends", &c->ends, err));
    PQ_TRY(get_list(n->op, "axes", &c->axes, err));
    PQ_CHECK(c->starts.present && c->ends.present, PQ_ERR_INVALID,
             "attributes 'starts' and 'ends' are required");
fail:
    return st;
}

static pq_status run_slice1(pq_exec_node *n, pq_err *err)
{
    const slice1_ctx *c = n->ctx;
    int_list steps = {0};
    return slice(n, &c->starts, &c->ends, &c->axes, &steps, err);
}

static pq_status run_slice10(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    int_list starts, ends, axes, steps;
    PQ_TRY(input_list(n, 1, "starts", &starts, err));
    PQ_TRY(input_list(n, 2, "ends", &ends, err));
    PQ_TRY(input_list(n, 3, "axes", &axes, err));
    PQ_TRY(input_list(n, 4, "steps", &steps, err));
    PQ_TRY(slice(n, &starts, &ends, &axes, &steps, err));
fail:
    return st;
}

/* ------------------------------------------------------------------ table */

const pq_op_def pq_ops_shape[] = {
    {"", "Shape", 1, 1, 1, 1, 1, prepare_shape, run_shape, release_ctx},
    {"", "Shape", 15, 1, 1, 1, 1, prepare_shape, run_shape, release_ctx},
    {"", "Size", 1, 1, 1, 1, 1, NULL, run_size, NULL},
    {"", "Reshape", 5, 2, 2, 1, 1, prepare_allowzero, run_reshape, NULL},
    {"", "Reshape", 14, 2, 2, 1, 1, prepare_allowzero, run_reshape, NULL},
    {"", "Flatten", 1, 1, 1, 1, 1, prepare_axis1, run_flatten, release_ctx},
    {"", "Flatten", 11, 1, 1, 1, 1, prepare_axis1, run_flatten, release_ctx},
    {"", "Squeeze", 1, 1, 1, 1, 1, prepare_axes_attr, run_squeeze_attr, release_ctx},
    {"", "Squeeze", 13, 1, 2, 1, 1, NULL, run_squeeze_input, NULL},
    {"", "Unsqueeze", 1, 1, 1, 1, 1, prepare_axes_attr, run_unsqueeze_attr, release_ctx},
    {"", "Unsqueeze", 13, 2, 2, 1, 1, NULL, run_unsqueeze_input, NULL},
    {"", "Transpose", 1, 1, 1, 1, 1, prepare_perm, run_transpose, release_ctx},
    {"", "Expand", 8, 2, 2, 1, 1, NULL, run_expand, NULL},
    {"", "Tile", 6, 2, 2, 1, 1, NULL, run_tile, NULL},
    {"", "Concat", 4, 1, -1, 1, 1, prepare_axis_required, run_concat, release_ctx},
    {"", "Split", 2, 1, 1, 1, -1, prepare_split, run_split, release_split},
    {"", "Split", 13, 1, 2, 1, -1, prepare_split, run_split, release_split},
    {"", "Slice", 1, 1, 1, 1, 1, prepare_slice1, run_slice1, release_ctx},
    {"", "Slice", 10, 3, 5, 1, 1, NULL, run_slice10, NULL},
    {"", "Identity", 1, 1, 1, 1, 1, NULL, run_identity, NULL},
    {"", "Dropout", 7, 1, 1, 1, 2, prepare_dropout, run_dropout7, release_ctx},
    {"", "Dropout", 10, 1, 1, 1, 2, prepare_dropout, run_dropout10, release_ctx},
    {"", "Dropout", 12, 1, 3, 1, 2, prepare_dropout, run_dropout12, release_ctx},
    {"", "Constant", 1, 0, 0, 1, 1, prepare_constant, run_constant, release_constant},
    {"", "ConstantOfShape", 9, 1, 1, 1, 1, prepare_constant_of_shape, run_constant_of_shape,
     release_constant},
    {"", "Range", 11, 3, 3, 1, 1, NULL, run_range, NULL},
    {"", "Cast", 6, 1, 1, 1, 1, pq__shape_cast_prepare, pq__shape_run_cast, NULL},
    {"", "CastLike", 15, 2, 2, 1, 1, NULL, pq__shape_run_castlike, NULL},
    PQ_OP_DEF_END,
};
