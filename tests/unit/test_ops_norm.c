/* test_ops_norm.c - BatchNormalization, InstanceNormalization, LayerNormalization, LRN and
 * MeanVarianceNormalization against naive double references on shapes that take the
 * threaded paths, and the errors users can trigger. */
#include "test_ops_reduce_graph.h"

#include <stdlib.h>

static pq_tensor *rnd(int rank, const int64_t *dims, pq_rng *r, double lo, double hi)
{
    pq_tensor *x = t1_tensor(PQ_DTYPE_FLOAT32, rank, dims);
    for (int64_t i = 0; i < x->numel; i++)
        PQ_DATA(x, float)[i] = (float)(lo + (hi - lo) * pq_rng_uniform(r));
    return x;
}

static void bn_case(int training)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 20 + (uint64_t)training);
    const int64_t xd[4] = {4, 16, 32, 32}, cd[1] = {16};
    pq_tensor *ins[5] = {rnd(4, xd, &r, -3, 5), rnd(1, cd, &r, 0.5, 2), rnd(1, cd, &r, -1, 1),
                         rnd(1, cd, &r, -1, 1), rnd(1, cd, &r, 0.5, 2)};
    pq_tensor *outs[3] = {0};
    t1_graph t;
    t1_make(&t, "BatchNormalization", 15, 5, 31, training ? 3 : 1, 7);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "training_mode", training, &err), &err);
    PQ_EXPECT_OK(pq_op_set_float(t.op, "momentum", 0.7f, &err), &err);
    PQ_EXPECT_OK(t1_run(&t, ins, outs, &err), &err);
    const float *x = ins[0]->data;
    const int64_t S = 32 * 32, C = 16, N = 4;
    double *ref = malloc((size_t)ins[0]->numel * sizeof *ref), rm[16], rv[16];
    for (int64_t c = 0; c < C; c++) {
        double m = PQ_DATA(ins[3], float)[c], v = PQ_DATA(ins[4], float)[c];
        if (training) {
            double s = 0, q = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < S; i++) s += x[(n * C + c) * S + i];
            m = s / (double)(N * S);
            for (int64_t n = 0; n < N; n++)
                for (int64_t i = 0; i < S; i++) {
                    double d = x[(n * C + c) * S + i] - m;
                    q += d * d;
                }
            v = q / (double)(N * S);
            rm[c] = PQ_DATA(ins[3], float)[c] * 0.7 + m * 0.3;
            rv[c] = PQ_DATA(ins[4], float)[c] * 0.7 + v * 0.3;
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t k = (n * C + c) * S + i;
                ref[k] = PQ_DATA(ins[1], float)[c] * (x[k] - m) / sqrt(v + 1e-5) +
                         PQ_DATA(ins[2], float)[c];
            }
    }
    t1_compare("BatchNormalization Y", outs[0], ref, ins[0]->numel, 1e-6, 1e-5);
    if (training) {
        t1_compare("running_mean", outs[1], rm, 16, 1e-6, 1e-6);
        t1_compare("running_var", outs[2], rv, 16, 1e-6, 1e-6);
    }
    free(ref);
    for (int i = 0; i < 5; i++) pq_tensor_destroy(&ins[i]);
    for (int i = 0; i < 3; i++) pq_tensor_destroy(&outs[i]);
    t1_free(&t);
}

PQ_TEST(batchnorm_inference_large) { bn_case(0); }
PQ_TEST(batchnorm_training_large) { bn_case(1); }

PQ_TEST(batchnorm_opset9_training_outputs_are_refused)
{
    pq_err err = {0};
    t1_graph t;
    pq_executor *ex = NULL;
    t1_make(&t, "BatchNormalization", 9, 5, 31, 3, 7);
    PQ_EXPECT_EQ(pq_executor_create(t.g, NULL, &ex, &err), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(err.msg, "training mode");
    t1_free(&t);
}

PQ_TEST(layernorm_large_rows)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 21);
    const int64_t xd[3] = {8, 64, 768}, wd[1] = {768};
    pq_tensor *ins[3] = {rnd(3, xd, &r, 2, 6), rnd(1, wd, &r, 0.5, 1.5), rnd(1, wd, &r, -1, 1)};
    pq_tensor *outs[3] = {0};
    t1_graph t;
    t1_make(&t, "LayerNormalization", 17, 3, 7, 3, 5); /* Mean omitted */
    PQ_EXPECT_OK(t1_run(&t, ins, outs, &err), &err);
    PQ_EXPECT(outs[1] == NULL);
    const float *x = ins[0]->data;
    double *ref = malloc((size_t)ins[0]->numel * sizeof *ref), inv[512];
    for (int64_t row = 0; row < 512; row++) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < 768; i++) s += x[row * 768 + i];
        double m = s / 768;
        for (int64_t i = 0; i < 768; i++) q += (x[row * 768 + i] - m) * (x[row * 768 + i] - m);
        inv[row] = 1 / sqrt(q / 768 + 1e-5);
        for (int64_t i = 0; i < 768; i++)
            ref[row * 768 + i] = (x[row * 768 + i] - m) * inv[row] * PQ_DATA(ins[1], float)[i] +
                                 PQ_DATA(ins[2], float)[i];
    }
    t1_compare("LayerNormalization Y", outs[0], ref, ins[0]->numel, 1e-5, 1e-4);
    t1_compare("LayerNormalization InvStdDev", outs[2], inv, 512, 1e-7, 1e-6);
    PQ_EXPECT(outs[2] && outs[2]->rank == 3 && outs[2]->dims[1] == 64 && outs[2]->dims[2] == 1);
    free(ref);
    for (int i = 0; i < 3; i++) {
        pq_tensor_destroy(&ins[i]);
        pq_tensor_destroy(&outs[i]);
    }
    t1_free(&t);
}

PQ_TEST(layernorm_bad_scale_shape)
{
    pq_err err = {0};
    const int64_t xd[2] = {3, 4}, wd[1] = {3};
    pq_tensor *ins[2] = {t1_tensor(PQ_DTYPE_FLOAT32, 2, xd), t1_tensor(PQ_DTYPE_FLOAT32, 1, wd)};
    pq_tensor *outs[1] = {0};
    t1_graph t;
    t1_make(&t, "LayerNormalization", 17, 2, 3, 1, 1);
    PQ_EXPECT_EQ(t1_run(&t, ins, outs, &err), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(err.msg, "does not broadcast");
    pq_tensor_destroy(&ins[0]);
    pq_tensor_destroy(&ins[1]);
    t1_free(&t);
}

PQ_TEST(instancenorm_large)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 22);
    const int64_t xd[4] = {2, 32, 40, 40}, cd[1] = {32};
    pq_tensor *ins[3] = {rnd(4, xd, &r, -2, 4), rnd(1, cd, &r, 0.5, 2), rnd(1, cd, &r, -1, 1)};
    pq_tensor *y = NULL;
    t1_graph t;
    t1_make(&t, "InstanceNormalization", 6, 3, 7, 1, 1);
    PQ_EXPECT_OK(pq_op_set_float(t.op, "epsilon", 1e-3f, &err), &err);
    PQ_EXPECT_OK(t1_run(&t, ins, &y, &err), &err);
    const float *x = ins[0]->data;
    const int64_t S = 1600;
    double *ref = malloc((size_t)ins[0]->numel * sizeof *ref);
    for (int64_t k = 0; k < 64; k++) {
        double s = 0, q = 0;
        for (int64_t i = 0; i < S; i++) s += x[k * S + i];
        double m = s / S;
        for (int64_t i = 0; i < S; i++) q += (x[k * S + i] - m) * (x[k * S + i] - m);
        double a = PQ_DATA(ins[1], float)[k % 32] / sqrt(q / S + (double)1e-3f);
        for (int64_t i = 0; i < S; i++)
            ref[k * S + i] = (x[k * S + i] - m) * a + PQ_DATA(ins[2], float)[k % 32];
    }
    t1_compare("InstanceNormalization", y, ref, ins[0]->numel, 1e-6, 1e-5);
    free(ref);
    for (int i = 0; i < 3; i++) pq_tensor_destroy(&ins[i]);
    pq_tensor_destroy(&y);
    t1_free(&t);
}

PQ_TEST(mvn_non_adjacent_axes)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 23);
    const int64_t xd[4] = {3, 4, 5, 6};
    const int64_t axes[2] = {0, 2};
    pq_tensor *x = rnd(4, xd, &r, -1, 3), *y = NULL;
    t1_graph t;
    t1_make(&t, "MeanVarianceNormalization", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_ints(t.op, "axes", axes, 2, &err), &err);
    PQ_EXPECT_OK(t1_run(&t, &x, &y, &err), &err);
    double ref[360];
    for (int64_t b = 0; b < 4; b++)
        for (int64_t d = 0; d < 6; d++) {
            double s = 0, q = 0;
            for (int64_t a = 0; a < 3; a++)
                for (int64_t c = 0; c < 5; c++) s += PQ_DATA(x, float)[((a * 4 + b) * 5 + c) * 6 + d];
            double m = s / 15;
            for (int64_t a = 0; a < 3; a++)
                for (int64_t c = 0; c < 5; c++) {
                    double v = PQ_DATA(x, float)[((a * 4 + b) * 5 + c) * 6 + d] - m;
                    q += v * v;
                }
            for (int64_t a = 0; a < 3; a++)
                for (int64_t c = 0; c < 5; c++) {
                    int64_t k = ((a * 4 + b) * 5 + c) * 6 + d;
                    ref[k] = (PQ_DATA(x, float)[k] - m) / (sqrt(q / 15) + 1e-9);
                }
        }
    t1_compare("MeanVarianceNormalization", y, ref, 360, 1e-6, 1e-5);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&y);
    t1_free(&t);
}

PQ_TEST(lrn_size_larger_than_channels)
{
    pq_err err = {0};
    pq_rng r;
    pq_rng_seed(&r, 24);
    const int64_t xd[3] = {2, 3, 7};
    pq_tensor *x = rnd(3, xd, &r, -2, 2), *y = NULL;
    t1_graph t;
    t1_make(&t, "LRN", 13, 1, 1, 1, 1);
    PQ_EXPECT_OK(pq_op_set_int(t.op, "size", 5, &err), &err);
    PQ_EXPECT_OK(t1_run(&t, &x, &y, &err), &err);
    double ref[42];
    for (int64_t n = 0; n < 2; n++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t i = 0; i < 7; i++) {
                double sq = 0;
                for (int64_t j = c - 2; j <= c + 2; j++)
                    if (j >= 0 && j < 3) {
                        double v = PQ_DATA(x, float)[(n * 3 + j) * 7 + i];
                        sq += v * v;
                    }
                int64_t k = (n * 3 + c) * 7 + i;
                ref[k] = PQ_DATA(x, float)[k] / pow(1.0 + (double)1e-4f / 5 * sq, 0.75);
            }
    t1_compare("LRN", y, ref, 42, 1e-6, 1e-5);
    pq_tensor_destroy(&x);
    pq_tensor_destroy(&y);
    t1_free(&t);
}

PQ_TEST_MAIN()
