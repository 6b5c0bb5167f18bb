/* platform_list.h - every platform, in id order: X(c_name). Each has a file
 * src/quant/platform/platform_<c_name>.c defining `const pq_platform pq__platform_<c_name>`.
 * Adding a platform is adding that file, one line here and one id in pq_quant.h. */
#define PQ__PLATFORMS(X) \
    X(fp32)              \
    X(trt_int8)          \
    X(ort_qdq_int8)      \
    X(ppl_cuda_int8)     \
    X(academic_int8)     \
    X(dsp_int8)          \
    X(nxp_int8)          \
    X(snpe_int8)         \
    X(ncnn_int8)         \
    X(openvino_int8)
