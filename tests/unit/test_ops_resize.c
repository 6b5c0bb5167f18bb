/* test_ops_resize.c - Resize, Upsample, RoiAlign and NonMaxSuppression beyond the ONNX
 * backend test data: N-linear over 3 axes, cubic with exclude_outside, tf_crop_and_resize
 * with nearest/cubic extrapolation, integer dtypes, float64/float16, Resize-10 and
 * Upsample-7/9 semantics, the large float32 2-D fast paths (against a naive reference),
 * RoiAlign max mode and adaptive sampling, NonMaxSuppression defaults, and input errors.
 *
 * The ref_* arrays come from the ONNX 1.12 reference (onnx.backend.test.case.node.resize.
 * interpolate_nd) and, for RoiAlign, an independent NumPy version of the Mask R-CNN
 * algorithm, run on the inputs made by inp() below (sin(0.7 i + 0.3) * 10 as float32).
 */
#include "pq_exec.h"
#include "pq_test.h"
#include "pq_test_graph.h"

#include <stdlib.h>

static const double ref_linear_sizes[30] = {
    4.77503808, 9.91664791, 2.52874841, -0.0699716568, 2.41617031, 1.8495238, -7.33748627,
    -8.83454609, 0.830686887, 2.44546833, 0.443996811, -2.11845706, 8.96743806, 6.62969208,
    -4.08455303, -9.45774873, -3.5822928, 6.81932712, -2.17620691, -2.11752294, 0.616614135,
    8.74610583, 0.0796318352, -8.68745534, -0.655327638, 2.09174234, 2.19593271,
    -6.92294995, 3.43314934, 9.45152473};
static const double ref_cubic_excl[18] = {
    6.42737365, 9.42803552, -4.26995108, -2.45738195, 4.99784156, 3.60104086, -8.88197625,
    -2.0422344, 8.41465079, 2.09433344, -8.61795851, -4.06638538, 5.70742312, 0.106442929,
    -5.68306554, 5.81312274, 9.79602288, -3.57149334};
static const double ref_trilinear_ac[54] = {
    2.9552021, 5.68495607, 8.41471004, 5.16622727, 2.7421269, 0.318026543, -9.77530098,
    -9.30492353, -8.83454609, 0.277614594, 3.28630304, 6.29499149, 6.12654796, 4.1728156,
    2.21908325, -8.36546326, -8.79496794, -9.22447262, -2.39997292, 0.887650013, 4.17527294,
    7.08686865, 5.6035043, 4.12013995, -6.95562553, -8.28501234, -9.61439915, -4.74191761,
    -1.48302262, 1.77587237, 7.36786959, 6.46692695, 5.56598431, -4.98463897, -7.05417113,
    -9.12370329, -6.74821949, -3.82571485, -0.903210211, 6.96955078, 6.76308356, 6.55661634,
    -2.45250357, -5.10244431, -7.75238504, -8.75452137, -6.16840708, -3.5822928, 6.57123196,
    7.05924016, 7.54724836, 0.0796318352, -3.15071748, -6.3810668};
static const int64_t ref_nearest_u8[24] = {
    0, 37, 111, 148, 185, 3, 148, 185, 3, 40, 77, 151, 188, 225, 43, 80, 117, 191, 80, 117,
    191, 228, 9, 83};
static const int64_t ref_nearest_i64[15] = {
    0, 0, 0, 0, 1000000007, 0, 0, 0, 0, 1000000007, 2000000014, 2000000014, 2000000014,
    2000000014, 3000000021};
static const double ref_crop_nearest[16] = {
    -1, -1, -1, -1, -6.11857891, -8.83454609, 3.11541367, -1, 8.50436592, 6.62969208,
    -6.25070667, -1, -9.80936241, -3.5822928, 8.59161854, -1};
static const double ref_crop_cubic[18] = {
    -1, -1, -1, -1, -1, -1, -5.38316915, -8.25435396, -6.89390358, -2.31590927, -1, -1,
    -7.09775539, -4.88561442, -0.294988307, 4.42241538, -1, -1};
static const double ref_roi_max[36] = {
    4.81643436, 3.08563793, 4.07544514, 4.17275116, 2.70963901, 6.95458748, 2.5613643,
    6.01861138, 0.649166575, 5.09267202, 0.768090639, 0.10102917, 2.64179426, 4.70273651,
    6.23619211, 2.07598086, 6.15853898, 5.97652602, 5.78102013, 1.91116672, 5.07059241,
    5.31267489, -0, 8.41955154, 8.44818209, 6.70028234, 8.01494187, 6.35667804, 7.58170166,
    6.01307373, 0.479497859, 1.43849358, 0.454908219, 1.36472466, 0.430318579, 1.29095574};
static const double ref_roi_avg10[36] = {
    5.40026084, 5.5169663, -0.506381429, -6.78036349, -0.684555392, 6.26569985, -5.60439884,
    0.519330312, 6.1576913, 0.64895502, -6.07509956, -6.13786244, 2.19460678, -0.555955482,
    -1.5566489, 0, 0, 0, -1.24390238, 1.99252133, 0.253296501, 0, 0, 0, 6.76948995,
    7.39584161, 8.02219328, 1.69687787, 3.41213231, 5.12738674, -6.86222649, -5.50750448,
    -4.15278247, -7.84167279, -7.83078258, -7.81989236};


/* ------------------------------------------------------------------ tensors */

static void put(pq_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case PQ_DTYPE_FLOAT32: PQ_DATA(t, float)[i] = (float)v; break;
    case PQ_DTYPE_FLOAT64: PQ_DATA(t, double)[i] = v; break;
    case PQ_DTYPE_FLOAT16: PQ_DATA(t, uint16_t)[i] = pq_f32_to_f16((float)v); break;
    case PQ_DTYPE_UINT8: PQ_DATA(t, uint8_t)[i] = (uint8_t)v; break;
    case PQ_DTYPE_INT32: PQ_DATA(t, int32_t)[i] = (int32_t)v; break;
    case PQ_DTYPE_INT64: PQ_DATA(t, int64_t)[i] = (int64_t)v; break;
    default: PQ_FAIL_AT("put: dtype %d", (int)t->dtype); break;
    }
}

/* A tensor from values (vals NULL: inp() pattern). */
static pq_tensor *mk(pq_dtype dt, int rank, const int64_t *dims, const double *vals)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(dt, rank, dims, &t, &err), &err);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++)
        put(t, i, vals ? vals[i] : (double)(float)(sin(0.7 * (double)i + 0.3) * 10.0));
    return t;
}

static pq_tensor *mk_i64(int64_t n, const int64_t *v)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_INT64, 1, &n, &t, &err), &err);
    if (t) memcpy(t->data, v, (size_t)n * sizeof *v);
    return t;
}

static pq_tensor *mk_f32v(int64_t n, const float *v)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_FLOAT32, 1, &n, &t, &err), &err);
    if (t) memcpy(t->data, v, (size_t)n * sizeof *v);
    return t;
}

/* Checks dtype, shape and values (ONNX rule |y - ref| <= atol + rtol |ref|). */
static void expect_tensor(const pq_tensor *t, pq_dtype dt, int rank, const int64_t *dims,
                          const double *ref, double rtol, double atol)
{
    if (!t) {
        PQ_FAIL_AT("no output tensor");
        return;
    }
    PQ_EXPECT_EQ(t->dtype, dt);
    PQ_EXPECT_EQ(t->rank, rank);
    if (t->rank != rank || t->dtype != dt) return;
    for (int i = 0; i < rank; i++) PQ_EXPECT_EQ(t->dims[i], dims[i]);
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != dims[i]) return;
    int bad = 0;
    for (int64_t i = 0; i < t->numel && bad < 5; i++) {
        double y = pq_dtype_is_integer(dt) ? (double)pq_tensor_get_i64(t, i)
                                           : pq_tensor_get_f64(t, i);
        if (!(fabs(y - ref[i]) <= atol + rtol * fabs(ref[i]))) {
            PQ_FAIL_AT("element %lld: got %.9g, expected %.9g", (long long)i, y, ref[i]);
            bad++;
        }
    }
}

static void expect_tensor_i64(const pq_tensor *t, int rank, const int64_t *dims,
                              const int64_t *ref)
{
    if (!t) {
        PQ_FAIL_AT("no output tensor");
        return;
    }
    PQ_EXPECT_EQ(t->rank, rank);
    if (t->rank != rank) return;
    for (int i = 0; i < rank; i++) PQ_EXPECT_EQ(t->dims[i], dims[i]);
    for (int64_t i = 0; i < t->numel && i < pq_shape_numel(rank, dims); i++)
        PQ_EXPECT_EQ(pq_tensor_get_i64(t, i), ref[i]);
}

/* Runs one Resize-13 node with X and (scales | sizes | roi) and checks against ref. */
typedef struct rs_case {
    pq_dtype dt;
    int rank;
    int64_t xdims[5];
    const double *xvals;          /* NULL: inp() */
    const float *roi;             /* NULL: omitted */
    const float *scales;          /* NULL: omitted */
    const int64_t *sizes;         /* NULL: omitted */
    const char *mode, *ctm, *nearest_mode;
    float cubic_a, extrapolation;
    int exclude_outside;
    int64_t ydims[5];
} rs_case;

static pq_tensor *run_resize_case(const rs_case *c, int constant_params)
{
    one_op s;
    pq_tensor *y = NULL;
    one_begin(&s, "Resize", 13);
    one_input(&s, "X", mk(c->dt, c->rank, c->xdims, c->xvals), 0);
    one_input(&s, "roi", c->roi ? mk_f32v(2 * c->rank, c->roi) : NULL, constant_params);
    one_input(&s, "scales", c->scales ? mk_f32v(c->rank, c->scales) : NULL, constant_params);
    if (c->sizes) one_input(&s, "sizes", mk_i64(c->rank, c->sizes), constant_params);
    one_output(&s, "Y");
    if (c->mode) PQ_EXPECT_OK(pq_op_set_string(s.op, "mode", c->mode, &s.err), &s.err);
    if (c->ctm)
        PQ_EXPECT_OK(pq_op_set_string(s.op, "coordinate_transformation_mode", c->ctm, &s.err),
                     &s.err);
    if (c->nearest_mode)
        PQ_EXPECT_OK(pq_op_set_string(s.op, "nearest_mode", c->nearest_mode, &s.err), &s.err);
    if (c->cubic_a != 0.0f)
        PQ_EXPECT_OK(pq_op_set_float(s.op, "cubic_coeff_a", c->cubic_a, &s.err), &s.err);
    if (c->extrapolation != 0.0f)
        PQ_EXPECT_OK(pq_op_set_float(s.op, "extrapolation_value", c->extrapolation, &s.err),
                     &s.err);
    if (c->exclude_outside)
        PQ_EXPECT_OK(pq_op_set_int(s.op, "exclude_outside", 1, &s.err), &s.err);
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    one_end(&s);
    return y;
}

/* ------------------------------------------------------------------ Resize */

PQ_TEST(resize_linear_sizes_f32_f64_f16)
{
    static const int64_t sizes[4] = {1, 2, 5, 3};
    rs_case c = {PQ_DTYPE_FLOAT32, 4, {1, 2, 3, 5}, NULL, NULL, NULL, sizes, "linear", NULL,
                 NULL, 0.0f, 0.0f, 0, {1, 2, 5, 3}};
    for (int constant = 0; constant < 2; constant++) {
        pq_tensor *y = run_resize_case(&c, constant);
        expect_tensor(y, PQ_DTYPE_FLOAT32, 4, c.ydims, ref_linear_sizes, 1e-5, 1e-6);
        pq_tensor_destroy(&y);
    }
    c.dt = PQ_DTYPE_FLOAT64;
    pq_tensor *y = run_resize_case(&c, 1);
    expect_tensor(y, PQ_DTYPE_FLOAT64, 4, c.ydims, ref_linear_sizes, 1e-6, 1e-6);
    pq_tensor_destroy(&y);
    c.dt = PQ_DTYPE_FLOAT16;
    y = run_resize_case(&c, 1);
    expect_tensor(y, PQ_DTYPE_FLOAT16, 4, c.ydims, ref_linear_sizes, 2e-3, 1e-2);
    pq_tensor_destroy(&y);
}

PQ_TEST(resize_cubic_exclude_outside)
{
    static const float scales[4] = {1.0f, 1.0f, 1.5f, 0.5f};
    rs_case c = {PQ_DTYPE_FLOAT32, 4, {1, 1, 4, 6}, NULL, NULL, scales, NULL, "cubic", NULL,
                 NULL, -0.5f, 0.0f, 1, {1, 1, 6, 3}};
    pq_tensor *y = run_resize_case(&c, 0);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, c.ydims, ref_cubic_excl, 1e-5, 1e-5);
    pq_tensor_destroy(&y);
}

PQ_TEST(resize_trilinear_align_corners)
{
    static const float scales[5] = {1.0f, 1.0f, 2.0f, 0.75f, 1.5f};
    rs_case c = {PQ_DTYPE_FLOAT32, 5, {1, 1, 3, 4, 2}, NULL, NULL, scales, NULL, "linear",
                 "align_corners", NULL, 0.0f, 0.0f, 0, {1, 1, 6, 3, 3}};
    pq_tensor *y = run_resize_case(&c, 1);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 5, c.ydims, ref_trilinear_ac, 1e-5, 1e-5);
    pq_tensor_destroy(&y);
}

PQ_TEST(resize_nearest_integer_dtypes)
{
    static const float scales[3] = {1.0f, 1.5f, 0.75f};
    double xu[24];
    for (int i = 0; i < 24; i++) xu[i] = (double)(i * 37 % 256);
    rs_case c = {PQ_DTYPE_UINT8, 3, {2, 3, 4}, xu, NULL, scales, NULL, "nearest", "asymmetric",
                 "round_prefer_ceil", 0.0f, 0.0f, 0, {2, 4, 3}};
    pq_tensor *y = run_resize_case(&c, 0);
    expect_tensor_i64(y, 3, c.ydims, ref_nearest_u8);
    PQ_EXPECT(y && y->dtype == PQ_DTYPE_UINT8);
    pq_tensor_destroy(&y);

    static const int64_t sizes[4] = {1, 1, 3, 5};
    double xi[4];
    for (int i = 0; i < 4; i++) xi[i] = (double)(i * 1000000007LL);
    rs_case c2 = {PQ_DTYPE_INT64, 4, {1, 1, 2, 2}, xi, NULL, NULL, sizes, "nearest",
                  "pytorch_half_pixel", "floor", 0.0f, 0.0f, 0, {1, 1, 3, 5}};
    y = run_resize_case(&c2, 0);
    expect_tensor_i64(y, 4, c2.ydims, ref_nearest_i64);
    PQ_EXPECT(y && y->dtype == PQ_DTYPE_INT64);
    pq_tensor_destroy(&y);
}

PQ_TEST(resize_tf_crop_and_resize_extrapolation)
{
    static const float roi[8] = {0.0f, 0.0f, -0.15f, 0.1f, 1.0f, 1.0f, 0.95f, 1.3f};
    static const int64_t sizes_n[4] = {1, 1, 4, 4}, sizes_c[4] = {1, 1, 3, 6};
    rs_case c = {PQ_DTYPE_FLOAT32, 4, {1, 1, 4, 5}, NULL, roi, NULL, sizes_n, "nearest",
                 "tf_crop_and_resize", NULL, 0.0f, -1.0f, 0, {1, 1, 4, 4}};
    pq_tensor *y = run_resize_case(&c, 0);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, c.ydims, ref_crop_nearest, 1e-5, 1e-5);
    pq_tensor_destroy(&y);
    c.sizes = sizes_c;
    c.mode = "cubic";
    c.ydims[2] = 3;
    c.ydims[3] = 6;
    y = run_resize_case(&c, 1);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, c.ydims, ref_crop_cubic, 1e-5, 1e-5);
    pq_tensor_destroy(&y);
}

/* Resize-10 and Upsample: asymmetric coordinates; nearest floors when upsampling and takes
 * the ceiling when downsampling (the behaviour of the ONNX 1.5 Resize-10 tests). */
PQ_TEST(resize10_and_upsample)
{
    static const double x8[8] = {1, 2, 3, 4, 5, 6, 7, 8}, x4[4] = {1, 2, 3, 4};
    static const float down[4] = {1.0f, 1.0f, 0.6f, 0.6f}, up[4] = {1.0f, 1.0f, 2.0f, 2.0f};
    static const double ref_down[2] = {1, 3};
    static const double ref_up_linear[16] = {1, 1.5, 2, 2, 2, 2.5, 3, 3, 3, 3.5, 4, 4, 3, 3.5, 4, 4};
    static const double ref_up_nearest[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    static const int64_t d24[4] = {1, 1, 2, 4}, d22[4] = {1, 1, 2, 2}, d12[4] = {1, 1, 1, 2},
                         d44[4] = {1, 1, 4, 4};
    one_op s;
    pq_tensor *y = NULL;

    one_begin(&s, "Resize", 10);
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, d24, x8), 0);
    one_input(&s, "scales", mk_f32v(4, down), 1);
    one_output(&s, "Y");
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, d12, ref_down, 0, 0);
    pq_tensor_destroy(&y);
    one_end(&s);

    one_begin(&s, "Resize", 10);
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, d22, x4), 0);
    one_input(&s, "scales", mk_f32v(4, up), 0);
    one_output(&s, "Y");
    PQ_EXPECT_OK(pq_op_set_string(s.op, "mode", "linear", &s.err), &s.err);
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, d44, ref_up_linear, 1e-6, 1e-6);
    pq_tensor_destroy(&y);
    one_end(&s);

    one_begin(&s, "Upsample", 7);
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, d22, x4), 0);
    one_output(&s, "Y");
    PQ_EXPECT_OK(pq_op_set_string(s.op, "mode", "linear", &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_floats(s.op, "scales", up, 4, &s.err), &s.err);
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, d44, ref_up_linear, 1e-6, 1e-6);
    pq_tensor_destroy(&y);
    one_end(&s);

    one_begin(&s, "Upsample", 9);
    one_input(&s, "X", mk(PQ_DTYPE_INT32, 4, d22, x4), 0);
    one_input(&s, "scales", mk_f32v(4, up), 1);
    one_output(&s, "Y");
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    expect_tensor(y, PQ_DTYPE_INT32, 4, d44, ref_up_nearest, 0, 0);
    pq_tensor_destroy(&y);
    one_end(&s);
}

/* Output sizes are floor(dim * scale) with float32 arithmetic (as onnxruntime): 0.7f on 10
 * gives 7 although 0.7f is slightly below 0.7. */
PQ_TEST(resize_output_size_rounding)
{
    static const float scales[4] = {1.0f, 1.0f, 1.0f, 0.7f};
    rs_case c = {PQ_DTYPE_FLOAT32, 4, {1, 1, 1, 10}, NULL, NULL, scales, NULL, "nearest", NULL,
                 NULL, 0.0f, 0.0f, 0, {1, 1, 1, 7}};
    pq_tensor *y = run_resize_case(&c, 1);
    PQ_EXPECT(y && y->rank == 4 && y->dims[3] == 7);
    pq_tensor_destroy(&y);
}

/* Naive half_pixel bilinear / round_prefer_floor nearest on [N, C, H, W]. */
static double ref_bilinear(const float *x, int64_t h, int64_t w, int64_t oh, int64_t ow,
                           int64_t plane, int64_t oy, int64_t ox, int nearest)
{
    double sy = ((double)oy + 0.5) * (double)h / (double)oh - 0.5;
    double sx = ((double)ox + 0.5) * (double)w / (double)ow - 0.5;
    const float *p = x + plane * h * w;
    if (nearest) {
        int64_t iy = (int64_t)ceil(sy - 0.5), ix = (int64_t)ceil(sx - 0.5);
        iy = iy < 0 ? 0 : (iy >= h ? h - 1 : iy);
        ix = ix < 0 ? 0 : (ix >= w ? w - 1 : ix);
        return p[iy * w + ix];
    }
    double fy = floor(sy), fx = floor(sx), ly = sy - fy, lx = sx - fx;
    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
    int64_t y0c = y0 < 0 ? 0 : (y0 >= h ? h - 1 : y0), y1c = y0 + 1 >= h ? h - 1 : (y0 + 1 < 0 ? 0 : y0 + 1);
    int64_t x0c = x0 < 0 ? 0 : (x0 >= w ? w - 1 : x0), x1c = x0 + 1 >= w ? w - 1 : (x0 + 1 < 0 ? 0 : x0 + 1);
    return (1 - ly) * ((1 - lx) * p[y0c * w + x0c] + lx * p[y0c * w + x1c]) +
           ly * ((1 - lx) * p[y1c * w + x0c] + lx * p[y1c * w + x1c]);
}

/* The float32 2-D paths at a size where they run multi-threaded. */
PQ_TEST(resize_large_2d_fast_paths)
{
    static const int64_t sizes[4] = {2, 3, 150, 202};
    const int64_t xd[4] = {2, 3, 77, 101};
    for (int nearest = 0; nearest < 2; nearest++) {
        rs_case c = {PQ_DTYPE_FLOAT32, 4, {2, 3, 77, 101}, NULL, NULL, NULL, sizes,
                     nearest ? "nearest" : "linear", NULL, NULL, 0.0f, 0.0f, 0,
                     {2, 3, 150, 202}};
        pq_tensor *x = mk(PQ_DTYPE_FLOAT32, 4, xd, NULL);
        pq_tensor *y = run_resize_case(&c, 1);
        double *ref = malloc((size_t)(6 * 150 * 202) * sizeof *ref);
        PQ_EXPECT(ref && x);
        if (ref && x) {
            for (int64_t pl = 0; pl < 6; pl++)
                for (int64_t oy = 0; oy < 150; oy++)
                    for (int64_t ox = 0; ox < 202; ox++)
                        ref[(pl * 150 + oy) * 202 + ox] =
                            ref_bilinear(x->data, 77, 101, 150, 202, pl, oy, ox, nearest);
            expect_tensor(y, PQ_DTYPE_FLOAT32, 4, c.ydims, ref, 1e-5, 1e-5);
        }
        free(ref);
        pq_tensor_destroy(&x);
        pq_tensor_destroy(&y);
    }
}

PQ_TEST(resize_input_errors)
{
    static const float scales[4] = {1.0f, 1.0f, 2.0f, 2.0f}, bad[3] = {1.0f, 2.0f, 2.0f};
    static const int64_t sizes[4] = {1, 1, 4, 4}, d22[4] = {1, 1, 2, 2};
    one_op s;
    pq_tensor *y = NULL;

    one_begin(&s, "Resize", 13); /* both scales and sizes */
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, d22, NULL), 0);
    one_input(&s, NULL, NULL, 0);
    one_input(&s, "scales", mk_f32v(4, scales), 0);
    one_input(&s, "sizes", mk_i64(4, sizes), 0);
    one_output(&s, "Y");
    PQ_EXPECT_EQ(one_run(&s, &y), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(s.err.msg, "only one of");
    one_end(&s);

    one_begin(&s, "Resize", 13); /* neither */
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, d22, NULL), 0);
    one_output(&s, "Y");
    PQ_EXPECT_EQ(one_run(&s, &y), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(s.err.msg, "required");
    one_end(&s);

    one_begin(&s, "Resize", 13); /* wrong length */
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, d22, NULL), 0);
    one_input(&s, NULL, NULL, 0);
    one_input(&s, "scales", mk_f32v(3, bad), 0);
    one_output(&s, "Y");
    PQ_EXPECT_EQ(one_run(&s, &y), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(s.err.msg, "rank 4");
    one_end(&s);

    one_begin(&s, "Resize", 13); /* unknown mode, caught when the executor prepares */
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, d22, NULL), 0);
    one_input(&s, NULL, NULL, 0);
    one_input(&s, "scales", mk_f32v(4, scales), 1);
    one_output(&s, "Y");
    PQ_EXPECT_OK(pq_op_set_string(s.op, "mode", "bicubic", &s.err), &s.err);
    PQ_EXPECT_EQ(one_run(&s, &y), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(s.err.msg, "bicubic");
    one_end(&s);
    pq_tensor_destroy(&y);
}

/* ------------------------------------------------------------------ RoiAlign */

static const float roi_boxes[12] = {0.5f, 1.0f, 5.3f, 4.2f,  -1.0f, 2.0f,
                                    8.0f, 9.5f, 2.0f, 2.0f, 2.5f,  2.2f};
static const int64_t roi_batch[3] = {1, 0, 1};

static pq_tensor *run_roialign(int opset, const char *mode, int64_t oh, int64_t ow,
                               float scale, const char *ctm)
{
    static const int64_t xd[4] = {2, 2, 6, 7}, rd[2] = {3, 4};
    one_op s;
    pq_tensor *y = NULL, *rois = mk(PQ_DTYPE_FLOAT32, 2, rd, NULL);
    if (rois) memcpy(rois->data, roi_boxes, sizeof roi_boxes);
    one_begin(&s, "RoiAlign", opset);
    one_input(&s, "X", mk(PQ_DTYPE_FLOAT32, 4, xd, NULL), 0);
    one_input(&s, "rois", rois, 0);
    one_input(&s, "batch_indices", mk_i64(3, roi_batch), 0);
    one_output(&s, "Y");
    PQ_EXPECT_OK(pq_op_set_string(s.op, "mode", mode, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_int(s.op, "output_height", oh, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_int(s.op, "output_width", ow, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_float(s.op, "spatial_scale", scale, &s.err), &s.err);
    if (ctm)
        PQ_EXPECT_OK(pq_op_set_string(s.op, "coordinate_transformation_mode", ctm, &s.err),
                     &s.err);
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    one_end(&s);
    return y;
}

PQ_TEST(roialign_max_adaptive_and_opset10)
{
    static const int64_t d_max[4] = {3, 2, 3, 2}, d_avg[4] = {3, 2, 2, 3};
    pq_tensor *y = run_roialign(16, "max", 3, 2, 0.75f, NULL);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, d_max, ref_roi_max, 1e-4, 1e-5);
    pq_tensor_destroy(&y);
    y = run_roialign(10, "avg", 2, 3, 1.0f, NULL);
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, d_avg, ref_roi_avg10, 1e-4, 1e-5);
    pq_tensor_destroy(&y);
    /* Opset 16 with output_half_pixel is the opset-10 behaviour. */
    y = run_roialign(16, "avg", 2, 3, 1.0f, "output_half_pixel");
    expect_tensor(y, PQ_DTYPE_FLOAT32, 4, d_avg, ref_roi_avg10, 1e-4, 1e-5);
    pq_tensor_destroy(&y);
}

/* ------------------------------------------------------------------ NonMaxSuppression */

PQ_TEST(nms_defaults_and_threshold)
{
    static const float boxes[16] = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 2, 1, 3, 0, 0.5f, 1, 1.5f};
    static const float scores[8] = {0.9f, 0.75f, 0.6f, 0.95f, 0.1f, 0.2f, 0.3f, 0.05f};
    static const int64_t bd[3] = {1, 4, 4}, sd[3] = {1, 2, 4}, d03[2] = {0, 3};
    one_op s;
    pq_tensor *y = NULL, *b, *sc;

    /* max_output_boxes_per_class omitted: nothing is selected. */
    one_begin(&s, "NonMaxSuppression", 11);
    b = mk(PQ_DTYPE_FLOAT32, 3, bd, NULL);
    sc = mk(PQ_DTYPE_FLOAT32, 3, sd, NULL);
    if (b) memcpy(b->data, boxes, sizeof boxes);
    if (sc) memcpy(sc->data, scores, sizeof scores);
    one_input(&s, "boxes", b, 0);
    one_input(&s, "scores", sc, 0);
    one_output(&s, "selected");
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    expect_tensor_i64(y, 2, d03, NULL);
    PQ_EXPECT(y && y->dtype == PQ_DTYPE_INT64);
    pq_tensor_destroy(&y);
    one_end(&s);

    /* Two classes, IoU 0.4, score threshold 0.15 (class 1 keeps boxes 2 then 1). */
    static const int64_t max_out[1] = {3};
    static const float iou[1] = {0.4f}, sth[1] = {0.15f};
    static const int64_t want[15] = {0, 0, 3, 0, 0, 0, 0, 0, 2, 0, 1, 2, 0, 1, 1};
    static const int64_t d53[2] = {5, 3};
    one_begin(&s, "NonMaxSuppression", 11);
    b = mk(PQ_DTYPE_FLOAT32, 3, bd, NULL);
    sc = mk(PQ_DTYPE_FLOAT32, 3, sd, NULL);
    if (b) memcpy(b->data, boxes, sizeof boxes);
    if (sc) memcpy(sc->data, scores, sizeof scores);
    one_input(&s, "boxes", b, 0);
    one_input(&s, "scores", sc, 0);
    one_input(&s, "max_output_boxes_per_class", mk_i64(1, max_out), 1);
    one_input(&s, "iou_threshold", mk_f32v(1, iou), 1);
    one_input(&s, "score_threshold", mk_f32v(1, sth), 1);
    one_output(&s, "selected");
    PQ_EXPECT_OK(one_run(&s, &y), &s.err);
    expect_tensor_i64(y, 2, d53, want);
    pq_tensor_destroy(&y);
    one_end(&s);
}

PQ_TEST_MAIN()
