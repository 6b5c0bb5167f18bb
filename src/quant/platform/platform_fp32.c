/* platform_fp32.c - fp32: nothing is quantized. */
#include "../quant_internal.h"

const pq_platform pq__platform_fp32 = {
    .name = "fp32",
    .id = PQ_PLATFORM_FP32,
    .flags = 0,
    .quant_types = NULL,
};
