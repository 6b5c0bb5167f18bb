/* test_calib_util.h - shared helpers of the calibration tests: the digits fixture through
 * the passes, its HDF5 splits as in-memory batches, one calibration run. */
#ifndef TEST_CALIB_UTIL_H
#define TEST_CALIB_UTIL_H

#include "calib/pq_calib.h"
#include "pq_h5.h"
#include "pq_onnx.h"
#include "pq_passes.h"
#include "pq_test.h"

#include <stdlib.h>

#define DIGITS PQ_SOURCE_DIR "/tests/fixtures/digits/"

/* The digits CNN after "format,fuse". */
static inline pq_status digits_graph(pq_graph **g, pq_err *err)
{
    pq_status st = pq_onnx_load(DIGITS "digits_cnn.onnx", g, err);
    if (st == PQ_OK) st = pq_passes_run(*g, "format,fuse", NULL, err);
    if (st != PQ_OK) pq_graph_destroy(g);
    return st;
}

/* Batches of `bs` samples of the first `max` (0 = all) samples of a split: n_per tensors per
 * batch (images, and labels as int64 when labels is not NULL). Caller frees with
 * free_batches. */
static inline pq_status read_batches(const char *images, const char *labels, int64_t bs, int64_t max,
                              pq_tensor ***out, int64_t *n_batches, pq_err *err)
{
    pq_h5_input_spec s[2];
    pq_h5_reader *r = NULL;
    int n = labels ? 2 : 1;
    pq_h5_input_spec_init(&s[0], "images", images);
    pq_h5_input_spec_init(&s[1], "labels", labels);
    s[1].dtype = PQ_DTYPE_INT64;
    *out = NULL;
    *n_batches = 0;
    pq_status st = pq_h5_reader_open(DIGITS "digits.h5", n, s, bs, max, PQ_H5_NAN_ERROR, NULL,
                                     &r, err);
    if (st != PQ_OK) return st;
    int64_t nb = pq_h5_reader_n_batches(r);
    pq_tensor **b = calloc((size_t)(nb * n), sizeof *b);
    if (!b) st = pq_err_set(err, PQ_ERR_NOMEM, "test: out of memory");
    for (int64_t i = 0; i < nb && st == PQ_OK; i++) st = pq_h5_reader_read(r, i, b + i * n, NULL, err);
    pq_h5_reader_close(&r);
    *out = b;
    *n_batches = nb;
    return st;
}

static inline void free_batches(pq_tensor **b, int64_t n_batches, int n_per)
{
    if (!b) return;
    for (int64_t i = 0; i < n_batches * n_per; i++) pq_tensor_destroy(&b[i]);
    free(b);
}

/* quantize_graph + run over in-memory batches (one tensor per batch) in this process, with
 * executor options eo (NULL: defaults); *trunk_ops (when not NULL) gets the executor's
 * per-sample trunk size after the run. */
static inline pq_status calibrate_mem_opts(pq_graph *g, const pq_calib_options *o,
                                           const pq_exec_options *eo, pq_tensor **batches,
                                           int64_t n_batches, pq_calib_stats *stats,
                                           int64_t *trunk_ops, pq_err *err)
{
    pq_executor *ex = NULL;
    pq_calib_memsource mem;
    pq_calib_source src;
    pq_status st = pq_calib_quantize_graph(g, o, err);
    if (st == PQ_OK) st = pq_executor_create(g, eo, &ex, err);
    pq_calib_memsource_init(&mem, batches, NULL, n_batches, 1, &src);
    if (st == PQ_OK) st = pq_calib_run(g, ex, o, &src, NULL, stats, err);
    if (ex && trunk_ops) *trunk_ops = pq_executor_trunk_ops(ex);
    pq_executor_destroy(&ex);
    return st;
}

static inline pq_status calibrate_mem(pq_graph *g, const pq_calib_options *o, pq_tensor **batches,
                                      int64_t n_batches, pq_calib_stats *stats, pq_err *err)
{
    return calibrate_mem_opts(g, o, NULL, batches, n_batches, stats, NULL, err);
}

/* No TQC left INITIAL or PASSIVE_INIT after a run. */
static inline int64_t count_uncalibrated(const pq_graph *g)
{
    int64_t n = 0;
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->qconfig->n_inputs; i++)
            if (op->inputs[i] && (op->qconfig->inputs[i].state == PQ_TQC_STATE_INITIAL ||
                                  op->qconfig->inputs[i].state == PQ_TQC_STATE_PASSIVE_INIT))
                n++;
        for (int j = 0; j < op->qconfig->n_outputs; j++)
            if (op->outputs[j] && op->qconfig->outputs[j].state == PQ_TQC_STATE_INITIAL) n++;
    }
    return n;
}

#endif /* TEST_CALIB_UTIL_H */
