/* test_report_obs.c - what the calibration report reads from the observers and the report
 * calls the command uses to place it:
 *   - pq_observer_histogram: a symmetric percentile observer on values at known bin centres
 *     of |x| (the histogram range is [0, max |x|]) gives exactly the counts binned here
 *     independently; minmax has no histogram; a channel past the last is refused;
 *     pq_observer_n_channels;
 *   - pq_report_set_row_hist / pq_report_add_info / pq_report_set_hist_caption: copies,
 *     the row kept on a refused call, and the writers showing the note, the |x| range and
 *     the summary lines. */
#include "observe/pq_observe.h"
#include "pq_report.h"
#include "pq_test.h"

#include <math.h>
#include <string.h>

#define NB 16

static void sym_tqc(pq_tqc *q)
{
    memset(q, 0, sizeof *q);
    q->policy = PQ_QPOLICY_PER_TENSOR | PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR;
    q->num_bits = 8;
    q->quant_min = -128;
    q->quant_max = 127;
}

/* Runs both passes of an observer over t and computes. */
static pq_status observe_all(pq_observer *o, const pq_tensor *t, pq_tqc *q, pq_err *err)
{
    pq_status st = PQ_OK;
    while (pq_observer_pass(o) != 0) {
        if ((st = pq_observer_observe(o, t, err)) != PQ_OK) return st;
        if ((st = pq_observer_end_pass(o, err)) != PQ_OK) return st;
    }
    return pq_observer_compute(o, q, err);
}

PQ_TEST(observer_histogram_counts)
{
    pq_err err = {0};
    pq_tqc q;
    pq_observer *o = NULL, *mm = NULL;
    pq_tensor *t = NULL;
    /* |x| max is 8: bins of width 0.5 over [0, 8]. Value k sits in the centre of bin
     * want_bin[k]; signs alternate (the bins count |x|); 8 itself falls in the last bin. */
    int64_t dims[1] = {3 * NB + 1};
    int64_t want[NB] = {0};
    sym_tqc(&q);
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 1, dims, &t, &err), &err);
    if (!t) goto done;
    for (int64_t k = 0; k < 3 * NB; k++) {
        int64_t bin = (k * 7) % NB; /* every bin, some several times */
        float v = (float)((double)bin * 0.5 + 0.25);
        PQ_DATA(t, float)[k] = (k % 2) ? -v : v;
        want[bin]++;
    }
    PQ_DATA(t, float)[3 * NB] = -8.0f;
    want[NB - 1]++;
    pq_observer_opts oo = {NB, 0.99, 0, 1};
    PQ_EXPECT_OK(pq_observer_create("percentile", &q, "t", 1, &oo, &o, &err), &err);
    if (!o) goto done;
    int64_t nb = -1;
    const int64_t *counts = NULL;
    double lo = -1, hi = -1;
    int absv = -1;
    /* Before pass 2 ends: none yet. */
    PQ_EXPECT_OK(pq_observer_histogram(o, 0, &nb, &counts, &lo, &hi, &absv, &err), &err);
    PQ_EXPECT_EQ(nb, 0);
    PQ_EXPECT_OK(observe_all(o, t, &q, &err), &err);
    PQ_EXPECT_OK(pq_observer_histogram(o, 0, &nb, &counts, &lo, &hi, &absv, &err), &err);
    PQ_EXPECT_EQ(nb, NB);
    PQ_EXPECT_EQ(absv, 1);
    PQ_EXPECT(lo == 0.0 && hi == 8.0);
    for (int b = 0; counts && b < NB; b++) PQ_EXPECT_EQ(counts[b], want[b]);
    PQ_EXPECT_EQ(pq_observer_n_channels(o), 1);
    PQ_EXPECT_EQ(pq_observer_histogram(o, 1, &nb, &counts, &lo, &hi, &absv, &err),
                 PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "tensor 't': no channel 1");
    /* The clip range is within the data range and symmetric. */
    double clo = 0, chi = 0;
    PQ_EXPECT_OK(pq_observer_clip_range(o, 0, &clo, &chi, &err), &err);
    PQ_EXPECT(chi > 0 && chi <= 8.0 && clo == -chi);
    /* minmax keeps no histogram. */
    PQ_EXPECT_OK(pq_observer_create("minmax", &q, "t", 1, NULL, &mm, &err), &err);
    if (!mm) goto done;
    PQ_EXPECT_OK(observe_all(mm, t, &q, &err), &err);
    PQ_EXPECT_OK(pq_observer_histogram(mm, 0, &nb, &counts, &lo, &hi, &absv, &err), &err);
    PQ_EXPECT(nb == 0 && counts == NULL);
done:
    pq_observer_destroy(&o);
    pq_observer_destroy(&mm);
    pq_tensor_destroy(&t);
    pq_tqc_clear(&q);
}

PQ_TEST(report_row_hist_and_info)
{
    pq_err err = {0};
    pq_report r;
    char *md = NULL, *html = NULL;
    int64_t counts[4] = {1, 2, 3, 4};
    pq_report_init(&r);
    pq_report_row row;
    memset(&row, 0, sizeof row);
    row.variable = "a";
    row.op_name = "op_a";
    row.op_type = "Relu";
    row.quantized = 1;
    row.graph_snr = 0.5;
    row.graph_cosine = 0.9;
    row.layer_snr = row.layer_cosine = NAN;
    PQ_EXPECT_OK(pq_report_add_row(&r, &row, &err), &err);
    row.variable = "b";
    row.graph_snr = 0.25;
    PQ_EXPECT_OK(pq_report_add_row(&r, &row, &err), &err);
    pq_report_hist h = {4, counts, 0.0, 2.0, 1, 1, -1.5, 1.5};
    PQ_EXPECT_OK(pq_report_set_row_hist(&r, 0, &h, NULL, &err), &err);
    counts[0] = 99; /* copied, not borrowed */
    PQ_EXPECT_EQ(r.rows[0].hist.counts[0], 1);
    PQ_EXPECT_OK(pq_report_set_row_hist(&r, 1, NULL, "minmax observer: no histogram", &err),
                 &err);
    /* Refused: bad index, and a histogram without counts (row 0 unchanged). */
    PQ_EXPECT_EQ(pq_report_set_row_hist(&r, 2, &h, NULL, &err), PQ_ERR_INVALID);
    pq_report_hist bad = {4, NULL, 0.0, 2.0, 0, 0, 0, 0};
    PQ_EXPECT_EQ(pq_report_set_row_hist(&r, 0, &bad, "x", &err), PQ_ERR_INVALID);
    PQ_EXPECT(r.rows[0].hist.n_bins == 4 && r.rows[0].hist_note == NULL);
    PQ_EXPECT_EQ(pq_report_add_info(&r, NULL, "v", &err), PQ_ERR_INVALID);
    PQ_EXPECT_OK(pq_report_add_info(&r, "top-1 accuracy", "float 0.99 <quantized> 0.98", &err),
                 &err);
    PQ_EXPECT_OK(pq_report_set_hist_caption(&r, "observer histograms & clip", &err), &err);
    PQ_EXPECT_OK(pq_report_markdown(&r, &md, &err), &err);
    PQ_EXPECT_OK(pq_report_html(&r, &html, &err), &err);
    if (md && html) {
        PQ_EXPECT_CONTAINS(md, "| top-1 accuracy | float 0.99 &lt;quantized&gt; 0.98 |");
        PQ_EXPECT_CONTAINS(md, "| |x| in [0, 2] | [-1.5, 1.5] |");
        PQ_EXPECT_CONTAINS(md, "- 2. b: minmax observer: no histogram");
        PQ_EXPECT_CONTAINS(html, "<th>top-1 accuracy</th><td>float 0.99 &lt;quantized&gt; 0.98");
        PQ_EXPECT_CONTAINS(html, "observer histograms &amp; clip");
        PQ_EXPECT_CONTAINS(html, ">minmax observer: no histogram</text>");
        PQ_EXPECT_CONTAINS(html, "4 bins of |x|, log(1 + count)");
    }
    pq_free(md);
    pq_free(html);
    pq_report_clear(&r);
}

PQ_TEST_MAIN()
