/* test_ops_rnn.c - LSTM, GRU and RNN beyond the ONNX backend test data: bidirectional runs
 * with sequence_lens and initial states, layout 1, linear_before_reset, the reverse
 * direction, clip, input_forget, peepholes, activations with alpha/beta, omitted outputs,
 * float64, and input errors.
 *
 * The ref_* arrays come from a NumPy version of the ONNX equations (cross-checked against
 * torch.nn.LSTM / torch.nn.GRU with packed sequences for the first two cases), run on inputs
 * made by pat() below: sin(a i + b) * s as float32.
 */
#include "pq_exec.h"
#include "pq_test.h"
#include "pq_test_graph.h"

static const double ref_lstm_bidi_y[72] = {
    0.105402127, 0.120549462, 0.144410746, 0.13357988, 0.268488623, 0.0329106543,
    -0.0916142013, -0.103157812, -0.0354261119, 0.0588646377, 0.0986124719, 0.059373876,
    -0.200333704, -0.214662904, -0.130188267, -0.067323556, -0.023571682, -0.0260608166,
    -0.0590072788, -0.0748067631, -0.00853460623, 0.00414302643, -0.0212106007,
    -0.00785159046, 0.0570788226, 0.258677637, 0.278316119, 0.242922088, 0, 0, 0, 0,
    0.116859514, 0.0179298112, -0.0396744511, -0.0696685225, -0.212946896, -0.236172197,
    -0.0165220504, 0.152865926, 0, 0, 0, 0, 0.217932179, 0.123932378, -0.0489200486,
    -0.0771997551, 0.0958409537, 0.1735674, 0.172550163, 0.126311872, 0, 0, 0, 0, 0, 0, 0,
    0, -0.15698396, -0.209298273, -0.214729364, -0.162575117, 0, 0, 0, 0, 0, 0, 0, 0};
static const double ref_lstm_bidi_yh[24] = {
    0.0958409537, 0.1735674, 0.172550163, 0.126311872, 0.268488623, 0.0329106543,
    -0.0916142013, -0.103157812, 0.116859514, 0.0179298112, -0.0396744511, -0.0696685225,
    -0.200333704, -0.214662904, -0.130188267, -0.067323556, -0.023571682, -0.0260608166,
    -0.0590072788, -0.0748067631, -0.00853460623, 0.00414302643, -0.0212106007,
    -0.00785159046};
static const double ref_lstm_bidi_yc[24] = {
    0.243067314, 0.542006969, 0.494582651, 0.296805346, 0.488521902, 0.0833323631,
    -0.398751154, -0.547679791, 0.266953894, 0.0624146374, -0.169140143, -0.248765761,
    -0.337144599, -0.443738235, -0.308230637, -0.160133225, -0.038745053, -0.0518149371,
    -0.137118106, -0.178783401, -0.0161961705, 0.00661264652, -0.0315783698, -0.0121346926};
static const double ref_gru_lbr_y[48] = {
    0.330601312, 0.507287857, 0.223143917, -0.559354762, -0.390398429, 0.180707659,
    0.0293831169, 0.300886935, 0.171404707, 0.00527561689, -0.244785551, -0.254370128, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.156609505, 0.136847835, 0.334374863, -0.131275676,
    -0.120982286, -0.0713282637, -0.404974076, -0.519184634, -0.0368998283, -0.157606383,
    -0.0430156547, -0.082321993, 0.203704503, -0.0453765296, -0.127913916, -0.517071836,
    -0.383990087, 0.168759407, 0.0725852088, 0.00364788829, -0.0656708357, 0.172659085,
    -0.118091772, -0.23027386};
static const double ref_gru_lbr_yh[12] = {
    0.0293831169, 0.300886935, 0.171404707, -0.559354762, -0.390398429, 0.180707659,
    0.0725852088, 0.00364788829, -0.0656708357, -0.131275676, -0.120982286, -0.0713282637};
static const double ref_gru_rev_y[18] = {
    0.0284237162, 0.0178984313, -0.106881444, -0.007947, -0.007947, -0.0863925646,
    0.320558131, 0.302411088, -0.120567745, 0.25785, 0.25785, 0.058575681, 0.166376264,
    0.139128427, 0.0515011458, -0.1575, -0.1575, -0.0968227202};
static const double ref_gru_rev_yh[6] = {
    0.0284237162, 0.0178984313, -0.106881444, -0.007947, -0.007947, -0.0863925646};
static const double ref_rnn_y[18] = {
    0.737785827, 1.32782979, 0, 0, -0.14568008, -0.21946247, 0.833611865, 0.342484954, 0, 0,
    0.210554886, 0.96758865, 0, 0, 0, 0, 0.529316034, 0.12623252};
static const double ref_rnn_yh[6] = {
    0.833611865, 0.342484954, 0.404248208, 0.0207903311, 0.529316034, 0.12623252};
static const double ref_lstm_if_y[8] = {
    0.514344511, 0.282278253, -0.0198652698, 0.319593454, 0.0182526129, 0.0498115245,
    0.503945527, 0.344428934};
static const double ref_lstm_if_yh[4] = {
    0.0182526129, 0.0498115245, 0.503945527, 0.344428934};
static const double ref_lstm_if_yc[4] = {
    0.0515110422, 0.0771486688, 0.780516697, 0.97201937};


/* Sets a STRINGS attribute. */
static void set_strings(one_op *s, const char *name, int n, const char *const *v)
{
    pq_attr a;
    memset(&a, 0, sizeof a);
    a.name = pq_strdup(name);
    a.type = PQ_ATTR_STRINGS;
    a.n = n;
    a.strings = pq_calloc((size_t)n, sizeof *a.strings);
    a.string_lens = pq_calloc((size_t)n, sizeof *a.string_lens);
    for (int i = 0; a.strings && a.string_lens && i < n; i++) {
        a.strings[i] = pq_strdup(v[i]);
        a.string_lens[i] = strlen(v[i]);
    }
    PQ_EXPECT_OK(pq_op_add_attr(s->op, &a, &s->err), &s->err);
}

/* ------------------------------------------------------------------ tensors */

/* sin(a i + b) * s as float32 (stored as dt). */
static pq_tensor *pat(pq_dtype dt, int rank, const int64_t *dims, double a, double b, double sc)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(dt, rank, dims, &t, &err), &err);
    for (int64_t i = 0; t && i < t->numel; i++) {
        float v = (float)(sin(a * (double)i + b) * sc);
        if (dt == PQ_DTYPE_FLOAT64) PQ_DATA(t, double)[i] = v;
        else PQ_DATA(t, float)[i] = v;
    }
    return t;
}

static pq_tensor *lens_i32(int64_t n, const int32_t *v)
{
    pq_err err = {0};
    pq_tensor *t = NULL;
    PQ_EXPECT_OK(pq_tensor_create(PQ_DTYPE_INT32, 1, &n, &t, &err), &err);
    if (t) memcpy(t->data, v, (size_t)n * sizeof *v);
    return t;
}

static void expect_tensor(const pq_tensor *t, pq_dtype dt, int rank, const int64_t *dims,
                          const double *ref, double tol)
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
        double y = pq_tensor_get_f64(t, i);
        if (!(fabs(y - ref[i]) <= tol + 1e-4 * fabs(ref[i]))) {
            PQ_FAIL_AT("element %lld: got %.9g, expected %.9g", (long long)i, y, ref[i]);
            bad++;
        }
    }
}

/* ------------------------------------------------------------------ tests */

static const char *const sig_tanh_tanh2[6] = {"Sigmoid", "Tanh", "Tanh",
                                              "Sigmoid", "Tanh", "Tanh"};

PQ_TEST(lstm_bidirectional_sequence_lens_f32_f64)
{
    static const int64_t dx[3] = {3, 3, 2}, dw[3] = {2, 16, 2}, dr[3] = {2, 16, 4},
                         db[2] = {2, 32}, dh[3] = {2, 3, 4}, dy[4] = {3, 2, 3, 4};
    static const int32_t lens[3] = {3, 1, 2};
    for (int f64 = 0; f64 < 2; f64++) {
        pq_dtype dt = f64 ? PQ_DTYPE_FLOAT64 : PQ_DTYPE_FLOAT32;
        one_op s;
        pq_tensor *out[3] = {NULL, NULL, NULL};
        one_begin(&s, "LSTM", 14);
        one_input(&s, "X", pat(dt, 3, dx, 0.7, 0.3, 1.0), 0);
        one_input(&s, "W", pat(dt, 3, dw, 0.37, 0.1, 0.5), 1);
        one_input(&s, "R", pat(dt, 3, dr, 0.23, 0.7, 0.5), 1);
        one_input(&s, "B", pat(dt, 2, db, 0.51, 0.2, 0.3), 1);
        one_input(&s, "sequence_lens", lens_i32(3, lens), 0);
        one_input(&s, "initial_h", pat(dt, 3, dh, 0.9, 0.4, 0.5), 0);
        one_input(&s, "initial_c", pat(dt, 3, dh, 0.3, 1.1, 0.5), 0);
        one_output(&s, "Y");
        one_output(&s, "Y_h");
        one_output(&s, "Y_c");
        PQ_EXPECT_OK(pq_op_set_int(s.op, "hidden_size", 4, &s.err), &s.err);
        PQ_EXPECT_OK(pq_op_set_string(s.op, "direction", "bidirectional", &s.err), &s.err);
        if (f64) set_strings(&s, "activations", 6, sig_tanh_tanh2);
        PQ_EXPECT_OK(one_run(&s, out), &s.err);
        expect_tensor(out[0], dt, 4, dy, ref_lstm_bidi_y, 1e-5);
        expect_tensor(out[1], dt, 3, dh, ref_lstm_bidi_yh, 1e-5);
        expect_tensor(out[2], dt, 3, dh, ref_lstm_bidi_yc, 1e-5);
        for (int i = 0; i < 3; i++) pq_tensor_destroy(&out[i]);
        one_end(&s);
    }
}

PQ_TEST(gru_linear_before_reset_layout1_bidirectional)
{
    static const int64_t dx[3] = {2, 4, 3}, dw[3] = {2, 9, 3}, dr[3] = {2, 9, 3},
                         db[2] = {2, 18}, dh[3] = {2, 2, 3}, dy[4] = {2, 4, 2, 3};
    static const int32_t lens[2] = {2, 4};
    one_op s;
    pq_tensor *out[2] = {NULL, NULL};
    one_begin(&s, "GRU", 14);
    one_input(&s, "X", pat(PQ_DTYPE_FLOAT32, 3, dx, 0.7, 0.3, 1.0), 0);
    one_input(&s, "W", pat(PQ_DTYPE_FLOAT32, 3, dw, 0.37, 0.1, 0.5), 1);
    one_input(&s, "R", pat(PQ_DTYPE_FLOAT32, 3, dr, 0.23, 0.7, 0.5), 1);
    one_input(&s, "B", pat(PQ_DTYPE_FLOAT32, 2, db, 0.51, 0.2, 0.3), 1);
    one_input(&s, "sequence_lens", lens_i32(2, lens), 0);
    one_input(&s, "initial_h", pat(PQ_DTYPE_FLOAT32, 3, dh, 0.9, 0.4, 0.5), 0);
    one_output(&s, "Y");
    one_output(&s, "Y_h");
    PQ_EXPECT_OK(pq_op_set_int(s.op, "hidden_size", 3, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_int(s.op, "layout", 1, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_int(s.op, "linear_before_reset", 1, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_string(s.op, "direction", "bidirectional", &s.err), &s.err);
    PQ_EXPECT_OK(one_run(&s, out), &s.err);
    expect_tensor(out[0], PQ_DTYPE_FLOAT32, 4, dy, ref_gru_lbr_y, 1e-5);
    expect_tensor(out[1], PQ_DTYPE_FLOAT32, 3, dh, ref_gru_lbr_yh, 1e-5);
    for (int i = 0; i < 2; i++) pq_tensor_destroy(&out[i]);
    one_end(&s);
}

PQ_TEST(gru_reverse_clip_activations)
{
    static const int64_t dx[3] = {3, 2, 2}, dw[3] = {1, 9, 2}, dr[3] = {1, 9, 3},
                         db[2] = {1, 18}, dh[3] = {1, 2, 3}, dy[4] = {3, 1, 2, 3};
    static const char *const acts[2] = {"HardSigmoid", "softsign"};
    static const float alpha[1] = {0.3f}, beta[1] = {0.4f};
    one_op s;
    pq_tensor *out[2] = {NULL, NULL};
    one_begin(&s, "GRU", 7);
    one_input(&s, "X", pat(PQ_DTYPE_FLOAT32, 3, dx, 0.7, 0.3, 2.0), 0);
    one_input(&s, "W", pat(PQ_DTYPE_FLOAT32, 3, dw, 0.37, 0.1, 0.8), 1);
    one_input(&s, "R", pat(PQ_DTYPE_FLOAT32, 3, dr, 0.23, 0.7, 0.8), 1);
    one_input(&s, "B", pat(PQ_DTYPE_FLOAT32, 2, db, 0.51, 0.2, 0.3), 1);
    one_output(&s, "Y");
    one_output(&s, "Y_h");
    PQ_EXPECT_OK(pq_op_set_int(s.op, "hidden_size", 3, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_string(s.op, "direction", "reverse", &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_float(s.op, "clip", 0.6f, &s.err), &s.err);
    set_strings(&s, "activations", 2, acts);
    PQ_EXPECT_OK(pq_op_set_floats(s.op, "activation_alpha", alpha, 1, &s.err), &s.err);
    PQ_EXPECT_OK(pq_op_set_floats(s.op, "activation_beta", beta, 1, &s.err), &s.err);
    PQ_EXPECT_OK(one_run(&s, out), &s.err);
    expect_tensor(out[0], PQ_DTYPE_FLOAT32, 4, dy, ref_gru_rev_y, 1e-5);
    expect_tensor(out[1], PQ_DTYPE_FLOAT32, 3, dh, ref_gru_rev_yh, 1e-5);
    for (int i = 0; i < 2; i++) pq_tensor_destroy(&out[i]);
    one_end(&s);
}

PQ_TEST(rnn_leakyrelu_zero_length_sequence)
{
    static const int64_t dx[3] = {3, 3, 2}, dw[3] = {1, 2, 2}, dr[3] = {1, 2, 2},
                         dh[3] = {1, 3, 2}, dy[4] = {3, 1, 3, 2};
    static const int32_t lens[3] = {2, 0, 3};
    static const char *const acts[1] = {"LeakyRelu"};
    static const float alpha[1] = {0.2f};
    one_op s;
    pq_tensor *out[2] = {NULL, NULL};
    one_begin(&s, "RNN", 14);
    one_input(&s, "X", pat(PQ_DTYPE_FLOAT32, 3, dx, 0.7, 0.3, 1.0), 0);
    one_input(&s, "W", pat(PQ_DTYPE_FLOAT32, 3, dw, 0.37, 0.1, 0.8), 1);
    one_input(&s, "R", pat(PQ_DTYPE_FLOAT32, 3, dr, 0.23, 0.7, 0.8), 1);
    one_input(&s, NULL, NULL, 0);
    one_input(&s, "sequence_lens", lens_i32(3, lens), 0);
    one_input(&s, "initial_h", pat(PQ_DTYPE_FLOAT32, 3, dh, 0.9, 0.4, 0.5), 0);
    one_output(&s, "Y");
    one_output(&s, "Y_h");
    set_strings(&s, "activations", 1, acts);
    PQ_EXPECT_OK(pq_op_set_floats(s.op, "activation_alpha", alpha, 1, &s.err), &s.err);
    PQ_EXPECT_OK(one_run(&s, out), &s.err); /* hidden_size taken from R */
    expect_tensor(out[0], PQ_DTYPE_FLOAT32, 4, dy, ref_rnn_y, 1e-5);
    expect_tensor(out[1], PQ_DTYPE_FLOAT32, 3, dh, ref_rnn_yh, 1e-5);
    for (int i = 0; i < 2; i++) pq_tensor_destroy(&out[i]);
    one_end(&s);
}

/* input_forget, peepholes, clip (bounding the gates but not the input of h: C_t exceeds
 * it here), three custom activations; only Y_c is requested. */
PQ_TEST(lstm_input_forget_peepholes_only_yc)
{
    static const int64_t dx[3] = {2, 2, 3}, dw[3] = {1, 8, 3}, dr[3] = {1, 8, 2},
                         db[2] = {1, 16}, dp[2] = {1, 6}, dh[3] = {1, 2, 2},
                         dy[4] = {2, 1, 2, 2};
    static const char *const acts[3] = {"Sigmoid", "ScaledTanh", "Elu"};
    static const float alpha[2] = {2.0f, 0.7f}, beta[1] = {1.2f};
    for (int all = 0; all < 2; all++) {
        one_op s;
        pq_tensor *out[3] = {NULL, NULL, NULL};
        one_begin(&s, "LSTM", 7);
        one_input(&s, "X", pat(PQ_DTYPE_FLOAT32, 3, dx, 0.7, 0.3, 1.5), 0);
        one_input(&s, "W", pat(PQ_DTYPE_FLOAT32, 3, dw, 0.37, 0.1, 0.8), 1);
        one_input(&s, "R", pat(PQ_DTYPE_FLOAT32, 3, dr, 0.23, 0.7, 0.8), 1);
        one_input(&s, "B", pat(PQ_DTYPE_FLOAT32, 2, db, 0.51, 0.2, 0.3), 1);
        one_input(&s, NULL, NULL, 0);
        one_input(&s, NULL, NULL, 0);
        one_input(&s, NULL, NULL, 0);
        one_input(&s, "P", pat(PQ_DTYPE_FLOAT32, 2, dp, 0.61, 0.5, 0.4), 1);
        one_output(&s, all ? "Y" : NULL);
        one_output(&s, all ? "Y_h" : NULL);
        one_output(&s, "Y_c");
        PQ_EXPECT_OK(pq_op_set_int(s.op, "hidden_size", 2, &s.err), &s.err);
        PQ_EXPECT_OK(pq_op_set_int(s.op, "input_forget", 1, &s.err), &s.err);
        PQ_EXPECT_OK(pq_op_set_float(s.op, "clip", 0.6f, &s.err), &s.err);
        set_strings(&s, "activations", 3, acts);
        PQ_EXPECT_OK(pq_op_set_floats(s.op, "activation_alpha", alpha, 2, &s.err), &s.err);
        PQ_EXPECT_OK(pq_op_set_floats(s.op, "activation_beta", beta, 1, &s.err), &s.err);
        PQ_EXPECT_OK(one_run(&s, out), &s.err);
        if (all) {
            expect_tensor(out[0], PQ_DTYPE_FLOAT32, 4, dy, ref_lstm_if_y, 1e-5);
            expect_tensor(out[1], PQ_DTYPE_FLOAT32, 3, dh, ref_lstm_if_yh, 1e-5);
        }
        expect_tensor(out[all ? 2 : 0], PQ_DTYPE_FLOAT32, 3, dh, ref_lstm_if_yc, 1e-5);
        for (int i = 0; i < 3; i++) pq_tensor_destroy(&out[i]);
        one_end(&s);
    }
}

PQ_TEST(rnn_input_errors)
{
    static const int64_t dx[3] = {2, 1, 3}, dw[3] = {1, 4, 3}, dwbad[3] = {1, 4, 2},
                         dr[3] = {1, 4, 4};
    static const int32_t lens[1] = {5};
    static const char *const bad_act[1] = {"Swish"};
    one_op s;
    pq_tensor *y = NULL;

    one_begin(&s, "RNN", 14); /* W with the wrong input size */
    one_input(&s, "X", pat(PQ_DTYPE_FLOAT32, 3, dx, 0.7, 0.3, 1.0), 0);
    one_input(&s, "W", pat(PQ_DTYPE_FLOAT32, 3, dwbad, 0.37, 0.1, 0.8), 1);
    one_input(&s, "R", pat(PQ_DTYPE_FLOAT32, 3, dr, 0.23, 0.7, 0.8), 1);
    one_output(&s, "Y");
    PQ_EXPECT_EQ(one_run(&s, &y), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(s.err.msg, "input W has shape [1, 4, 2], expected [1, 4, 3]");
    one_end(&s);

    one_begin(&s, "RNN", 14); /* sequence_lens beyond seq_length */
    one_input(&s, "X", pat(PQ_DTYPE_FLOAT32, 3, dx, 0.7, 0.3, 1.0), 0);
    one_input(&s, "W", pat(PQ_DTYPE_FLOAT32, 3, dw, 0.37, 0.1, 0.8), 1);
    one_input(&s, "R", pat(PQ_DTYPE_FLOAT32, 3, dr, 0.23, 0.7, 0.8), 1);
    one_input(&s, NULL, NULL, 0);
    one_input(&s, "sequence_lens", lens_i32(1, lens), 0);
    one_output(&s, "Y");
    PQ_EXPECT_EQ(one_run(&s, &y), PQ_ERR_INVALID);
    PQ_EXPECT_CONTAINS(s.err.msg, "sequence_lens[0] = 5");
    one_end(&s);

    one_begin(&s, "RNN", 14); /* unknown activation, refused when preparing */
    one_input(&s, "X", pat(PQ_DTYPE_FLOAT32, 3, dx, 0.7, 0.3, 1.0), 0);
    one_input(&s, "W", pat(PQ_DTYPE_FLOAT32, 3, dw, 0.37, 0.1, 0.8), 1);
    one_input(&s, "R", pat(PQ_DTYPE_FLOAT32, 3, dr, 0.23, 0.7, 0.8), 1);
    one_output(&s, "Y");
    set_strings(&s, "activations", 1, bad_act);
    PQ_EXPECT_EQ(one_run(&s, &y), PQ_ERR_UNSUPPORTED);
    PQ_EXPECT_CONTAINS(s.err.msg, "Swish");
    one_end(&s);
    pq_tensor_destroy(&y);
}

PQ_TEST_MAIN()
