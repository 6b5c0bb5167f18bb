/* resize_detect.c - detection operators of the resize family: RoiAlign, NonMaxSuppression.
 *
 * RoiAlign follows the Mask R-CNN / Caffe2 formulation that the ONNX test data comes from:
 * every output bin averages (or maxes) a sampling_ratio x sampling_ratio grid of bilinear
 * samples. NonMaxSuppression is the greedy per-(batch, class) algorithm; selected indices
 * come out ordered by batch, then class, then decreasing score (ties: lower box index first).
 */
#include "resize_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ RoiAlign */

typedef struct roialign_ctx {
    int mode_max;        /* "max" instead of "avg" */
    int64_t out_h, out_w;
    int64_t sampling_ratio;
    float spatial_scale;
    int half_pixel;      /* coordinate_transformation_mode "half_pixel" (shift by -0.5) */
} roialign_ctx;

static pq_status roialign_prepare(pq_exec_node *n, int opset16, pq_err *err)
{
    pq_status st = PQ_OK;
    const pq_op *op = n->op;
    const char *s = NULL;
    roialign_ctx *c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    PQ_TRY(pq_op_get_string(op, "mode", "avg", &s, err));
    if (!strcmp(s, "avg")) c->mode_max = 0;
    else if (!strcmp(s, "max")) c->mode_max = 1;
    else PQ_CHECK(0, PQ_ERR_UNSUPPORTED, "mode '%s' is not supported (avg, max)", s);
    PQ_TRY(pq_op_get_int(op, "output_height", 1, &c->out_h, err));
    PQ_TRY(pq_op_get_int(op, "output_width", 1, &c->out_w, err));
    PQ_TRY(pq_op_get_int(op, "sampling_ratio", 0, &c->sampling_ratio, err));
    PQ_TRY(pq_op_get_float(op, "spatial_scale", 1.0f, &c->spatial_scale, err));
    PQ_CHECK(c->out_h > 0 && c->out_w > 0, PQ_ERR_INVALID,
             "output_height and output_width must be positive (got %lld, %lld)",
             (long long)c->out_h, (long long)c->out_w);
    PQ_CHECK(c->sampling_ratio >= 0, PQ_ERR_INVALID, "sampling_ratio must be >= 0");
    if (opset16) {
        PQ_TRY(pq_op_get_string(op, "coordinate_transformation_mode", "half_pixel", &s, err));
        if (!strcmp(s, "half_pixel")) c->half_pixel = 1;
        else if (!strcmp(s, "output_half_pixel")) c->half_pixel = 0;
        else
            PQ_CHECK(0, PQ_ERR_UNSUPPORTED,
                     "coordinate_transformation_mode '%s' is not supported", s);
    }
    n->ctx = c;
    return PQ_OK;
fail:
    pq_free(c);
    return st;
}

pq_status pq__roialign_prepare10(pq_exec_node *n, pq_err *err)
{
    return roialign_prepare(n, 0, err);
}

pq_status pq__roialign_prepare16(pq_exec_node *n, pq_err *err)
{
    return roialign_prepare(n, 1, err);
}

void pq__roialign_release(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

/* One bilinear sample: four input positions and weights (all zero outside the map). */
typedef struct bl_sample {
    int64_t pos[4];
    float w[4];
} bl_sample;

static void bilinear_sample(float y, float x, int64_t height, int64_t width, bl_sample *s)
{
    if (y < -1.0f || y > (float)height || x < -1.0f || x > (float)width) {
        memset(s, 0, sizeof *s);
        return;
    }
    if (y <= 0.0f) y = 0.0f;
    if (x <= 0.0f) x = 0.0f;
    int64_t y_lo = (int64_t)y, x_lo = (int64_t)x, y_hi, x_hi;
    if (y_lo >= height - 1) {
        y_hi = y_lo = height - 1;
        y = (float)y_lo;
    } else {
        y_hi = y_lo + 1;
    }
    if (x_lo >= width - 1) {
        x_hi = x_lo = width - 1;
        x = (float)x_lo;
    } else {
        x_hi = x_lo + 1;
    }
    float ly = y - (float)y_lo, lx = x - (float)x_lo, hy = 1.0f - ly, hx = 1.0f - lx;
    s->pos[0] = y_lo * width + x_lo;
    s->pos[1] = y_lo * width + x_hi;
    s->pos[2] = y_hi * width + x_lo;
    s->pos[3] = y_hi * width + x_hi;
    s->w[0] = hy * hx;
    s->w[1] = hy * lx;
    s->w[2] = ly * hx;
    s->w[3] = ly * lx;
}

pq_status pq__roialign_run(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const roialign_ctx *c = n->ctx;
    const pq_tensor *x = n->inputs[0], *rois = n->inputs[1], *bidx = n->inputs[2];
    float *xf = NULL;
    bl_sample *samples = NULL;
    pq_tensor *y = NULL;

    PQ_CHECK(x && rois && bidx, PQ_ERR_INVALID, "inputs X, rois and batch_indices are required");
    PQ_CHECK(pq_dtype_is_float(x->dtype) && x->rank == 4, PQ_ERR_INVALID,
             "X must be a 4-D float tensor, got %s rank %d", pq_dtype_name(x->dtype), x->rank);
    PQ_CHECK(pq_dtype_is_float(rois->dtype) && rois->rank == 2 && rois->dims[1] == 4,
             PQ_ERR_INVALID, "rois must be a float tensor [num_rois, 4]");
    PQ_CHECK(pq_dtype_is_integer(bidx->dtype) && bidx->rank == 1 &&
                 bidx->dims[0] == rois->dims[0],
             PQ_ERR_INVALID, "batch_indices must be an integer tensor [num_rois]");
    const int64_t nb = x->dims[0], ch = x->dims[1], height = x->dims[2], width = x->dims[3];
    const int64_t n_rois = rois->dims[0], oh = c->out_h, ow = c->out_w;
    int64_t ydims[4] = {n_rois, ch, oh, ow};
    PQ_TRY(pq_node_output(n, 0, x->dtype, 4, ydims, 0, &y, err));
    if (y->numel == 0) return PQ_OK;
    PQ_CHECK(height > 0 && width > 0, PQ_ERR_INVALID, "X has an empty spatial size");

    const float *xd = x->data;
    if (x->dtype != PQ_DTYPE_FLOAT32) {
        xf = pq_malloc((size_t)x->numel * sizeof *xf);
        PQ_CHECK(xf, PQ_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < x->numel; i++) xf[i] = (float)pq_tensor_get_f64(x, i);
        xd = xf;
    }
    const float offset = c->half_pixel ? 0.5f : 0.0f;
    for (int64_t r = 0; r < n_rois; r++) {
        int64_t b = pq_tensor_get_i64(bidx, r);
        PQ_CHECK(b >= 0 && b < nb, PQ_ERR_INVALID, "batch_indices[%lld] = %lld is out of [0, %lld)",
                 (long long)r, (long long)b, (long long)nb);
        const float ss = c->spatial_scale;
        float x0 = (float)pq_tensor_get_f64(rois, r * 4 + 0) * ss - offset;
        float y0 = (float)pq_tensor_get_f64(rois, r * 4 + 1) * ss - offset;
        float x1 = (float)pq_tensor_get_f64(rois, r * 4 + 2) * ss - offset;
        float y1 = (float)pq_tensor_get_f64(rois, r * 4 + 3) * ss - offset;
        float roi_w = x1 - x0, roi_h = y1 - y0;
        if (!c->half_pixel) {
            /* Legacy behaviour: force malformed ROIs to be at least 1x1. */
            roi_w = roi_w > 1.0f ? roi_w : 1.0f;
            roi_h = roi_h > 1.0f ? roi_h : 1.0f;
        }
        const float bin_h = roi_h / (float)oh, bin_w = roi_w / (float)ow;
        const int64_t gh = c->sampling_ratio > 0 ? c->sampling_ratio
                                                 : (int64_t)ceilf(roi_h / (float)oh);
        const int64_t gw = c->sampling_ratio > 0 ? c->sampling_ratio
                                                 : (int64_t)ceilf(roi_w / (float)ow);
        const int64_t per_bin = gh * gw;
        const float count = per_bin > 0 ? (float)per_bin : 1.0f;
        const int64_t n_samp = oh * ow * per_bin;
        pq_free(samples);
        samples = pq_malloc((size_t)(n_samp > 0 ? n_samp : 1) * sizeof *samples);
        PQ_CHECK(samples, PQ_ERR_NOMEM, "out of memory");
        int64_t k = 0;
        for (int64_t ph = 0; ph < oh; ph++)
            for (int64_t pw = 0; pw < ow; pw++)
                for (int64_t iy = 0; iy < gh; iy++) {
                    float yy = y0 + (float)ph * bin_h +
                               ((float)iy + 0.5f) * bin_h / (float)gh;
                    for (int64_t ix = 0; ix < gw; ix++) {
                        float xx = x0 + (float)pw * bin_w +
                                   ((float)ix + 0.5f) * bin_w / (float)gw;
                        bilinear_sample(yy, xx, height, width, &samples[k++]);
                    }
                }
#pragma omp parallel for schedule(static) if (ch * n_samp > 65536)
        for (int64_t cc = 0; cc < ch; cc++) {
            const float *plane = xd + (b * ch + cc) * height * width;
            int64_t out_base = (r * ch + cc) * oh * ow;
            for (int64_t bin = 0; bin < oh * ow; bin++) {
                const bl_sample *sp = samples + bin * per_bin;
                double v;
                if (!c->mode_max) {
                    float acc = 0.0f;
                    for (int64_t q = 0; q < per_bin; q++)
                        acc += sp[q].w[0] * plane[sp[q].pos[0]] + sp[q].w[1] * plane[sp[q].pos[1]] +
                               sp[q].w[2] * plane[sp[q].pos[2]] + sp[q].w[3] * plane[sp[q].pos[3]];
                    v = acc / count;
                } else {
                    /* As onnxruntime (and the later ONNX reference): the max over samples of
                     * the largest weighted corner value. */
                    float best = 0.0f;
                    for (int64_t q = 0; q < per_bin; q++) {
                        float m = sp[q].w[0] * plane[sp[q].pos[0]];
                        for (int t = 1; t < 4; t++) {
                            float e = sp[q].w[t] * plane[sp[q].pos[t]];
                            m = e > m ? e : m;
                        }
                        best = (q == 0 || m > best) ? m : best;
                    }
                    v = best;
                }
                pq__resize_store(y->dtype, y->data, out_base + bin, v);
            }
        }
    }
fail:
    pq_free(samples);
    pq_free(xf);
    return st;
}

/* ------------------------------------------------------------------ NonMaxSuppression */

typedef struct nms_ctx {
    int center_point_box;
} nms_ctx;

pq_status pq__nms_prepare(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    int64_t cpb = 0;
    nms_ctx *c = NULL;
    PQ_TRY(pq_op_get_int(n->op, "center_point_box", 0, &cpb, err));
    PQ_CHECK(cpb == 0 || cpb == 1, PQ_ERR_INVALID, "center_point_box must be 0 or 1, got %lld",
             (long long)cpb);
    c = pq_calloc(1, sizeof *c);
    PQ_CHECK(c, PQ_ERR_NOMEM, "out of memory");
    c->center_point_box = (int)cpb;
    n->ctx = c;
fail:
    return st;
}

void pq__nms_release(pq_exec_node *n)
{
    pq_free(n->ctx);
    n->ctx = NULL;
}

typedef struct nms_cand {
    float score;
    int64_t index;
} nms_cand;

/* Decreasing score, then increasing box index (stable order for equal scores). */
static int cand_cmp(const void *pa, const void *pb)
{
    const nms_cand *a = pa, *b = pb;
    if (a->score > b->score) return -1;
    if (a->score < b->score) return 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Box as [y_min, x_min, y_max, x_max]. */
static void nms_box(const float *b, int center, float out[4])
{
    if (center) {
        float xc = b[0], yc = b[1], w = b[2], h = b[3];
        out[0] = yc - h / 2.0f;
        out[1] = xc - w / 2.0f;
        out[2] = yc + h / 2.0f;
        out[3] = xc + w / 2.0f;
    } else {
        out[0] = b[0] < b[2] ? b[0] : b[2];
        out[1] = b[1] < b[3] ? b[1] : b[3];
        out[2] = b[0] < b[2] ? b[2] : b[0];
        out[3] = b[1] < b[3] ? b[3] : b[1];
    }
}

/* Whether IoU(a, b) > threshold (boxes without area never suppress). */
static int nms_suppress(const float *a, const float *b, float threshold)
{
    float iy0 = a[0] > b[0] ? a[0] : b[0], ix0 = a[1] > b[1] ? a[1] : b[1];
    float iy1 = a[2] < b[2] ? a[2] : b[2], ix1 = a[3] < b[3] ? a[3] : b[3];
    if (iy1 <= iy0 || ix1 <= ix0) return 0;
    float inter = (iy1 - iy0) * (ix1 - ix0);
    float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    float uni = area_a + area_b - inter;
    if (area_a <= 0.0f || area_b <= 0.0f || uni <= 0.0f || inter <= 0.0f) return 0;
    return inter / uni > threshold;
}

pq_status pq__nms_run(pq_exec_node *n, pq_err *err)
{
    pq_status st = PQ_OK;
    const nms_ctx *c = n->ctx;
    const pq_tensor *boxes = n->inputs[0], *scores = n->inputs[1];
    const pq_tensor *t_max = pq_node_input(n, 2), *t_iou = pq_node_input(n, 3),
                    *t_score = pq_node_input(n, 4);
    float *bx = NULL, *sc = NULL;
    nms_cand *cand = NULL;
    int64_t *sel = NULL, *result = NULL, n_result = 0, cap_result = 0;
    pq_tensor *y = NULL;

    PQ_CHECK(boxes && scores, PQ_ERR_INVALID, "inputs boxes and scores are required");
    PQ_CHECK(boxes->rank == 3 && boxes->dims[2] == 4 && pq_dtype_is_float(boxes->dtype),
             PQ_ERR_INVALID, "boxes must be a float tensor [num_batches, spatial_dimension, 4]");
    PQ_CHECK(scores->rank == 3 && pq_dtype_is_float(scores->dtype) &&
                 scores->dims[0] == boxes->dims[0] && scores->dims[2] == boxes->dims[1],
             PQ_ERR_INVALID,
             "scores must be a float tensor [num_batches, num_classes, spatial_dimension]");
    const int64_t nbatch = boxes->dims[0], nbox = boxes->dims[1], ncls = scores->dims[1];
    int64_t max_out = 0;
    float iou_th = 0.0f, score_th = 0.0f;
    int use_score = 0;
    if (t_max && t_max->numel > 0) max_out = pq_tensor_get_i64(t_max, 0);
    if (t_iou && t_iou->numel > 0) iou_th = (float)pq_tensor_get_f64(t_iou, 0);
    if (t_score && t_score->numel > 0) {
        score_th = (float)pq_tensor_get_f64(t_score, 0);
        use_score = 1;
    }
    PQ_CHECK(iou_th >= 0.0f && iou_th <= 1.0f, PQ_ERR_INVALID,
             "iou_threshold must be in [0, 1], got %g", (double)iou_th);

    if (max_out > 0 && nbox > 0 && ncls > 0 && nbatch > 0) {
        bx = pq_malloc((size_t)boxes->numel * sizeof *bx);
        sc = pq_malloc((size_t)scores->numel * sizeof *sc);
        cand = pq_malloc((size_t)nbox * sizeof *cand);
        sel = pq_malloc((size_t)nbox * sizeof *sel);
        PQ_CHECK(bx && sc && cand && sel, PQ_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < nbatch * nbox; i++) {
            float raw[4];
            for (int q = 0; q < 4; q++) raw[q] = (float)pq_tensor_get_f64(boxes, i * 4 + q);
            nms_box(raw, c->center_point_box, bx + i * 4);
        }
        for (int64_t i = 0; i < scores->numel; i++) sc[i] = (float)pq_tensor_get_f64(scores, i);
        for (int64_t b = 0; b < nbatch; b++) {
            const float *bb = bx + b * nbox * 4;
            for (int64_t k = 0; k < ncls; k++) {
                const float *s = sc + (b * ncls + k) * nbox;
                int64_t nc = 0, ns = 0;
                for (int64_t i = 0; i < nbox; i++)
                    if (!use_score || s[i] > score_th) {
                        cand[nc].score = s[i];
                        cand[nc].index = i;
                        nc++;
                    }
                qsort(cand, (size_t)nc, sizeof *cand, cand_cmp);
                for (int64_t q = 0; q < nc && ns < max_out; q++) {
                    const float *cb = bb + cand[q].index * 4;
                    int keep = 1;
                    for (int64_t p = 0; p < ns && keep; p++)
                        if (nms_suppress(bb + sel[p] * 4, cb, iou_th)) keep = 0;
                    if (!keep) continue;
                    sel[ns++] = cand[q].index;
                    if (n_result == cap_result) {
                        int64_t nc2 = cap_result ? 2 * cap_result : 64;
                        int64_t *nr = pq_realloc(result, (size_t)nc2 * 3 * sizeof *nr);
                        PQ_CHECK(nr, PQ_ERR_NOMEM, "out of memory");
                        result = nr;
                        cap_result = nc2;
                    }
                    result[n_result * 3 + 0] = b;
                    result[n_result * 3 + 1] = k;
                    result[n_result * 3 + 2] = cand[q].index;
                    n_result++;
                }
            }
        }
    }
    int64_t ydims[2] = {n_result, 3};
    PQ_TRY(pq_node_output(n, 0, PQ_DTYPE_INT64, 2, ydims, 1, &y, err));
    if (n_result > 0) memcpy(y->data, result, (size_t)n_result * 3 * sizeof(int64_t));
fail:
    pq_free(bx);
    pq_free(sc);
    pq_free(cand);
    pq_free(sel);
    pq_free(result);
    return st;
}
