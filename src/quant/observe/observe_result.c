/* observe_result.c - an observer's computed result as plain numbers, so that processes can
 * split the scale computation and exchange results (pq_calib_run with a sharing reducer). */
#include "observe_internal.h"

#include <string.h>

int64_t pq_observer_result_len(const pq_observer *o)
{
    return 4 * o->G;
}

/* Validates, like pq_observer_compute, that tqc can take this observer's result. */
static pq_status check_tqc(const pq_observer *o, const pq_tqc *tqc, pq_err *err)
{
    if (!(tqc->quant_max - tqc->quant_min >= 2 && tqc->quant_min <= 0 && tqc->quant_max > 0 &&
          tqc->num_bits >= 2 && tqc->num_bits <= 16))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "tensor '%s': TQC quant range [%lld, %lld] / %d bits is invalid",
                          o->name, (long long)tqc->quant_min, (long long)tqc->quant_max,
                          tqc->num_bits);
    if (((tqc->policy & PQ_QPOLICY_PER_CHANNEL) != 0) != (o->per_channel != 0))
        return pq_err_set(err, PQ_ERR_INVALID,
                          "tensor '%s': TQC and observer disagree on per-channel", o->name);
    return PQ_OK;
}

pq_status pq_observer_compute_result(pq_observer *o, const pq_tqc *tqc, double *out,
                                     pq_err *err)
{
    if (o->pass != 0)
        return pq_err_set(err, PQ_ERR_INVALID, "tensor '%s': pass %d of %d has not ended",
                          o->name, o->pass, o->n_passes);
    if (o->count1 <= 0)
        return pq_err_set(err, PQ_ERR_INVALID, "tensor '%s': observer saw no data", o->name);
    pq_status st = check_tqc(o, tqc, err);
    for (int64_t g = 0; st == PQ_OK && g < o->G; g++) {
        float scale = 0, offset = 0;
        st = pq__compute_group(o, g, tqc, &scale, &offset, err);
        out[4 * g] = scale;
        out[4 * g + 1] = offset + 0.0f; /* -0 would not survive a sum with +0 */
        out[4 * g + 2] = o->clip_lo[g];
        out[4 * g + 3] = o->clip_hi[g];
    }
    return st;
}

pq_status pq_observer_apply_result(pq_observer *o, pq_tqc *tqc, const double *in, pq_err *err)
{
    pq_status st = check_tqc(o, tqc, err);
    if (st == PQ_OK) st = pq_tqc_set_channels(tqc, o->G, err);
    if (st != PQ_OK) return st;
    for (int64_t g = 0; g < o->G; g++) {
        tqc->scale[g] = (float)in[4 * g];
        tqc->offset[g] = (float)in[4 * g + 1];
        o->clip_lo[g] = in[4 * g + 2];
        o->clip_hi[g] = in[4 * g + 3];
    }
    o->computed = 1;
    return PQ_OK;
}
