/* pq_test_tensor.h - comparisons of float32 tensors shared by the model tests. */
#ifndef PQ_TEST_TENSOR_H
#define PQ_TEST_TENSOR_H

#include "pq_core.h"

#include <math.h>

/* Cosine similarity of two float32 tensors of the same size (in double). */
static inline double cosine(const pq_tensor *a, const pq_tensor *b)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = PQ_DATA(a, float)[i], y = PQ_DATA(b, float)[i];
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    return ab / sqrt(aa * bb);
}

#endif /* PQ_TEST_TENSOR_H */
