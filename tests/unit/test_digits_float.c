/* test_digits_float.c - the bundled digits CNN through the ONNX reader and the executor:
 * logits of the first 8 test images against torch's (tests/fixtures/digits/reference.json,
 * written by scripts/make_digits_fixture.py), and the predicted labels. */
#include "pq_exec.h"
#include "pq_npy.h"
#include "pq_onnx.h"
#include "pq_test.h"

#include <jansson.h>

#define FIX PQ_SOURCE_DIR "/tests/fixtures/digits/"

PQ_TEST(digits_logits_match_torch)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_tensor *x = NULL, *y = NULL;
    json_error_t jerr;
    json_t *ref = json_load_file(FIX "reference.json", 0, &jerr);
    PQ_EXPECT(ref != NULL);
    PQ_EXPECT_OK(pq_onnx_load(FIX "digits_cnn.onnx", &g, &err), &err);
    PQ_EXPECT_OK(pq_npy_load(FIX "sample_images.npy", &x, &err), &err);
    if (!ref || !g || !x) goto done;
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;
    const char *in_name = "images", *out_name = "logits";
    PQ_EXPECT_OK(pq_executor_run(ex, 1, &in_name, &x, 1, &out_name, &y, &err), &err);
    if (!y) goto done;
    json_t *logits = json_object_get(ref, "first_test_logits");
    json_t *labels = json_object_get(ref, "first_test_labels");
    PQ_EXPECT_EQ(json_array_size(logits), 8);
    PQ_EXPECT_EQ(y->rank, 2);
    PQ_EXPECT_EQ(y->dims[0], 8);
    PQ_EXPECT_EQ(y->dims[1], 10);
    double max_err = 0;
    for (size_t r = 0; r < 8 && r < json_array_size(logits); r++) {
        json_t *row = json_array_get(logits, r);
        int64_t best = 0;
        for (size_t c = 0; c < 10; c++) {
            double v = PQ_DATA(y, float)[r * 10 + c];
            double want = json_number_value(json_array_get(row, c));
            if (fabs(v - want) > max_err) max_err = fabs(v - want);
            if (v > PQ_DATA(y, float)[r * 10 + (size_t)best]) best = (int64_t)c;
        }
        PQ_EXPECT_EQ(best, json_integer_value(json_array_get(labels, r)));
    }
    PQ_EXPECT_NEAR(max_err, 0.0, 1e-4);
done:
    json_decref(ref);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&y);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
}

PQ_TEST_MAIN()
