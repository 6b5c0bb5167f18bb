/* test_calib.c - the calibration pipeline on the digits CNN (tests/fixtures/digits):
 *  - accuracy: calibrated on the training split, quantized-simulation accuracy on the 360
 *    test images within 1 point of float for trt_int8 and ort_qdq_int8 with each algorithm
 *    (the table is printed);
 *  - evaluation: identical sums for any batch order and split, SNR/cosine of a graph that
 *    is not quantized are exact (0 and 1);
 *  - errors: NaN in an activation, a source that fails, an unknown algorithm. */
#include "test_calib_util.h"

#include <string.h>

static const char *const ALGOS[] = {"minmax", "percentile", "kl", "mse"};

/* Calibrates on the whole training split and evaluates on the test split. */
static void accuracy_row(const char *platform, const char *algo, pq_tensor **train, int64_t n_train,
                         pq_tensor **test, int64_t n_test, double *acc_float, double *acc_quant,
                         double *snr, double *cosine)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_calib_options o;
    pq_calib_eval ev;
    pq_calib_eval_options eo = {n_test, 1, 1};
    pq_calib_memsource mem;
    pq_calib_source src;
    memset(&ev, 0, sizeof ev);
    *acc_float = *acc_quant = -1;
    pq_calib_options_init(&o);
    o.platform = platform;
    o.activation_algo = algo;
    PQ_EXPECT_OK(digits_graph(&g, &err), &err);
    if (!g) return;
    PQ_EXPECT_OK(calibrate_mem(g, &o, train, n_train, NULL, &err), &err);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    pq_calib_memsource_init(&mem, test, NULL, n_test, 2, &src);
    if (ex) PQ_EXPECT_OK(pq_calib_evaluate(g, ex, &eo, &src, NULL, &ev, &err), &err);
    if (ev.n_vars > 0) {
        *acc_float = ev.acc_float;
        *acc_quant = ev.acc_quant;
        *snr = ev.vars[0].snr;
        *cosine = ev.vars[0].cosine;
        PQ_EXPECT_EQ(ev.samples, 360);
        PQ_EXPECT(ev.vars[0].is_output);
        PQ_EXPECT(ev.n_vars > 3); /* logits + quantized intermediates */
        PQ_EXPECT_EQ(ev.vars[0].numel, 3600);
    }
    pq_calib_eval_clear(&ev);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
}

PQ_TEST(digits_accuracy_per_platform_and_algorithm)
{
    pq_err err = {0};
    pq_tensor **train = NULL, **test = NULL;
    int64_t n_train = 0, n_test = 0;
    static const char *const platforms[] = {"trt_int8", "ort_qdq_int8"};
    PQ_EXPECT_OK(read_batches("/train/images", NULL, 64, 0, &train, &n_train, &err), &err);
    PQ_EXPECT_OK(read_batches("/test/images", "/test/labels", 60, 0, &test, &n_test, &err), &err);
    if (train && test) {
        fprintf(stderr, "digits test accuracy (360 images), calibrated on 1437 training images\n");
        fprintf(stderr, "%-14s %-8s %-10s %-10s %-8s %-10s %-10s\n", "platform", "float", "minmax",
                "percentile", "kl", "mse", "");
        for (int p = 0; p < 2; p++) {
            double af = 0, aq[4] = {0}, snr[4] = {0}, cs[4] = {0};
            for (int a = 0; a < 4; a++) {
                accuracy_row(platforms[p], ALGOS[a], train, n_train, test, n_test, &af, &aq[a],
                             &snr[a], &cs[a]);
                PQ_EXPECT_NEAR(af, 0.99722222, 1e-6);
                if (!(aq[a] >= af - 0.01))
                    PQ_FAIL_AT("%s %s: quantized accuracy %.4f more than 1 point under float %.4f",
                               platforms[p], ALGOS[a], aq[a], af);
                PQ_EXPECT(cs[a] > 0.99);
            }
            fprintf(stderr, "%-14s %.4f   %.4f     %.4f     %.4f   %.4f\n", platforms[p], af,
                    aq[0], aq[1], aq[2], aq[3]);
            fprintf(stderr, "%-14s logits SNR %.2e %.2e %.2e %.2e  cosine %.5f %.5f %.5f %.5f\n",
                    "", snr[0], snr[1], snr[2], snr[3], cs[0], cs[1], cs[2], cs[3]);
        }
    }
    free_batches(train, n_train, 1);
    free_batches(test, n_test, 2);
}

/* Evaluation sums are per batch and added in batch order: the same result for batches given
 * in reverse order; and a graph with no active TQC gives SNR 0 and cosine 1 exactly. */
PQ_TEST(evaluation_order_invariance_and_identity)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_tensor **b = NULL, **rev = NULL;
    int64_t nb = 0, *idx = NULL;
    pq_calib_options o;
    pq_calib_eval e1, e2, e0;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    memset(&e0, 0, sizeof e0);
    pq_calib_options_init(&o);
    o.activation_algo = "minmax";
    PQ_EXPECT_OK(read_batches("/test/images", "/test/labels", 45, 0, &b, &nb, &err), &err);
    PQ_EXPECT_OK(digits_graph(&g, &err), &err);
    if (!b || !g) goto done;
    /* Float graph first (nothing quantized): exact. */
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    {
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_eval_options eo = {nb, 0, 1};
        pq_calib_memsource_init(&mem, b, NULL, nb, 2, &src);
        PQ_EXPECT_OK(pq_calib_evaluate(g, ex, &eo, &src, NULL, &e0, &err), &err);
        if (e0.n_vars == 1) {
            PQ_EXPECT_EQ(e0.vars[0].noise, 0);
            PQ_EXPECT_EQ(e0.vars[0].snr, 0);
            PQ_EXPECT(e0.vars[0].cosine == e0.vars[0].xy / e0.vars[0].xx);
            PQ_EXPECT_NEAR(e0.vars[0].cosine, 1.0, 1e-15);
            PQ_EXPECT_EQ(e0.correct_float, 359);
            PQ_EXPECT_EQ(e0.correct_quant, 359);
        } else {
            PQ_FAIL_AT("expected one compared variable, got %d", e0.n_vars);
        }
    }
    pq_executor_destroy(&ex);
    /* Quantized, batches in file order and reversed. */
    {
        pq_tensor *imgs[2] = {b[0], b[2]}; /* the images of the first two batches */
        PQ_EXPECT_OK(calibrate_mem(g, &o, imgs, 2, NULL, &err), &err);
    }
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    rev = calloc((size_t)(2 * nb), sizeof *rev);
    idx = calloc((size_t)nb, sizeof *idx);
    if (!ex || !rev || !idx) goto done;
    for (int64_t i = 0; i < nb; i++) {
        rev[2 * i] = b[2 * (nb - 1 - i)];
        rev[2 * i + 1] = b[2 * (nb - 1 - i) + 1];
        idx[i] = nb - 1 - i;
    }
    {
        pq_calib_memsource m1, m2;
        pq_calib_source s1, s2;
        pq_calib_eval_options eo = {nb, 1, 1};
        pq_calib_memsource_init(&m1, b, NULL, nb, 2, &s1);
        pq_calib_memsource_init(&m2, rev, idx, nb, 2, &s2);
        PQ_EXPECT_OK(pq_calib_evaluate(g, ex, &eo, &s1, NULL, &e1, &err), &err);
        PQ_EXPECT_OK(pq_calib_evaluate(g, ex, &eo, &s2, NULL, &e2, &err), &err);
        PQ_EXPECT_EQ(e1.n_vars, e2.n_vars);
        PQ_EXPECT(e1.n_vars > 1);
        for (int v = 0; v < e1.n_vars && v < e2.n_vars; v++) {
            PQ_EXPECT_STR(e1.vars[v].name, e2.vars[v].name);
            PQ_EXPECT(memcmp(&e1.vars[v].noise, &e2.vars[v].noise, 5 * sizeof(double)) == 0);
            PQ_EXPECT(e1.vars[v].snr > 0 && e1.vars[v].snr < 0.05);
        }
        PQ_EXPECT_EQ(e1.correct_quant, e2.correct_quant);
    }
done:
    free(rev);
    free(idx);
    pq_calib_eval_clear(&e0);
    pq_calib_eval_clear(&e1);
    pq_calib_eval_clear(&e2);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    free_batches(b, nb, 2);
}

/* A source that fails at once. */
static pq_status failing_next(void *ctx, int64_t *bi, int n, pq_tensor **in, int *done, pq_err *err)
{
    (void)n;
    (void)in;
    (void)done;
    (void)bi;
    ++*(int *)ctx;
    return pq_err_set(err, PQ_ERR_IO, "data.h5: /train/images: read failed");
}

PQ_TEST(errors_name_the_place_and_leave_tqcs_initial)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_tensor **b = NULL;
    int64_t nb = 0;
    pq_calib_options o;
    pq_calib_options_init(&o);
    o.activation_algo = "percentile";
    PQ_EXPECT_OK(digits_graph(&g, &err), &err);
    PQ_EXPECT_OK(read_batches("/train/images", NULL, 16, 32, &b, &nb, &err), &err);
    if (!g || !b) goto done;
    PQ_EXPECT_OK(pq_calib_quantize_graph(g, &o, &err), &err);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;
    int64_t before = count_uncalibrated(g);
    PQ_EXPECT(before > 0);
    /* NaN in batch 1. */
    {
        pq_tensor *bad = NULL;
        PQ_EXPECT_OK(pq_tensor_clone(b[1], &bad, &err), &err);
        PQ_DATA(bad, float)[70] = NAN;
        pq_tensor *list[2] = {b[0], bad};
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_memsource_init(&mem, list, NULL, 2, 1, &src);
        PQ_EXPECT_EQ(pq_calib_run(g, ex, &o, &src, NULL, NULL, &err), PQ_ERR_NUMERIC);
        PQ_EXPECT_CONTAINS(err.msg, "pass 1: batch 1");
        PQ_EXPECT_EQ(count_uncalibrated(g), before);
        pq_tensor_destroy(&bad);
    }
    /* A source error. */
    {
        int calls = 0;
        pq_calib_source src = {failing_next, NULL, &calls};
        PQ_EXPECT_EQ(pq_calib_run(g, ex, &o, &src, NULL, NULL, &err), PQ_ERR_IO);
        PQ_EXPECT_CONTAINS(err.msg, "pass 1: reading a batch: data.h5: /train/images: read failed");
        PQ_EXPECT_EQ(calls, 1);
    }
    /* No data at all. */
    {
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_memsource_init(&mem, b, NULL, 0, 1, &src);
        PQ_EXPECT_EQ(pq_calib_run(g, ex, &o, &src, NULL, NULL, &err), PQ_ERR_INVALID);
        PQ_EXPECT_CONTAINS(err.msg, "saw no data");
    }
    /* Unknown algorithm. */
    {
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_options bad = o;
        pq_calib_var_algo va = {"images", "entropy"};
        bad.var_algos = &va;
        bad.n_var_algos = 1;
        pq_calib_memsource_init(&mem, b, NULL, nb, 1, &src);
        PQ_EXPECT_EQ(pq_calib_run(g, ex, &bad, &src, NULL, NULL, &err), PQ_ERR_CONFIG);
        PQ_EXPECT_CONTAINS(err.msg, "entropy");
    }
    PQ_EXPECT_EQ(count_uncalibrated(g), before);
    /* And then a good run still works on the same graph and executor. */
    {
        pq_calib_memsource mem;
        pq_calib_source src;
        pq_calib_memsource_init(&mem, b, NULL, nb, 1, &src);
        PQ_EXPECT_OK(pq_calib_run(g, ex, &o, &src, NULL, NULL, &err), &err);
        PQ_EXPECT_EQ(count_uncalibrated(g), 0);
    }
done:
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    free_batches(b, nb, 1);
}

PQ_TEST_MAIN()
