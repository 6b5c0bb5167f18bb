/* test_export_trt.c - TensorRT calibration cache: built from the hand graph's TQCs, written,
 * parsed back (hex <-> float exact, names exist as activations of the model), exact bits of
 * known values, and parser refusals. */
#include "test_export_util.h"

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

PQ_TEST(trt_cache_from_graph)
{
    pq_err err = {0};
    pq_graph *g = hand_graph(13);
    pq_trt_cache *c = NULL, *back = NULL;
    char *dir = make_tmpdir(), path[512];
    PQ_EXPECT(g && hand_quantize(g) && dir);
    if (!g || !dir) goto done;
    PQ_EXPECT_OK(pq_trt_cache_build(g, 0, NULL, &c, &err), &err);
    if (!c) goto done;
    PQ_EXPECT_STR(c->header, "TRT-8601-EntropyCalibration2");
    /* x (conv1's input TQC), c1, r, y; y2 is FP32; no weights or biases. */
    PQ_EXPECT_EQ(c->n, 4);
    const char *want_names[4] = {"x", "c1", "r", "y"};
    /* x: int8 asymmetric s 0.025 z -3: range max(|-125 * s|, |130 * s|) = 3.25 -> /127.
     * c1, y: symmetric int8 zero point 0: the same grid, scale itself. r: uint8 s 0.02:
     * range 255 * 0.02. */
    float want_scale[4] = {(float)(130.0 * 0.025f / 127.0), 0.03f, (float)(255.0 * 0.02f / 127.0),
                           0.05f};
    for (int64_t k = 0; k < c->n && k < 4; k++) {
        PQ_EXPECT_STR(c->entries[k].name, want_names[k]);
        PQ_EXPECT_EQ(bits_of(c->entries[k].scale), bits_of(want_scale[k]));
    }
    snprintf(path, sizeof path, "%s/calib.cache", dir);
    PQ_EXPECT_OK(pq_trt_cache_save(c, path, &err), &err);
    PQ_EXPECT_OK(pq_trt_cache_load(path, &back, &err), &err);
    if (!back) goto done;
    PQ_EXPECT_STR(back->header, c->header);
    PQ_EXPECT_EQ(back->n, c->n);
    for (int64_t k = 0; k < back->n && k < c->n; k++) {
        PQ_EXPECT_STR(back->entries[k].name, c->entries[k].name);
        PQ_EXPECT_EQ(bits_of(back->entries[k].scale), bits_of(c->entries[k].scale));
        const pq_var *v = pq_graph_find_var(g, back->entries[k].name);
        PQ_EXPECT(v != NULL && !pq_var_is_parameter(v));
    }
    /* The text: the 0.05 line is the big-endian bits of 0.05f = 0x3d4ccccd. */
    FILE *f = fopen(path, "r");
    char text[4096] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f) fclose(f);
    PQ_EXPECT(strncmp(text, "TRT-8601-EntropyCalibration2\n", 29) == 0);
    PQ_EXPECT_CONTAINS(text, "\ny: 3d4ccccd\n");
    PQ_EXPECT_CONTAINS(text, "\nc1: 3cf5c28f\n");
    /* Version and calibrator are parameters. */
    pq_trt_cache_destroy(&c);
    PQ_EXPECT_OK(pq_trt_cache_build(g, 8500, "MinMaxCalibration", &c, &err), &err);
    PQ_EXPECT_STR(c ? c->header : NULL, "TRT-8500-MinMaxCalibration");
done:
    pq_trt_cache_destroy(&c);
    pq_trt_cache_destroy(&back);
    pq_graph_destroy(&g);
    rm_tree(dir);
}

PQ_TEST(trt_cache_hex_round_trip)
{
    pq_err err = {0};
    pq_trt_cache c = {0}, *back = NULL;
    char *dir = make_tmpdir(), path[512], names[1000][16];
    pq_trt_cache_entry e[1000];
    pq_rng r;
    pq_rng_seed(&r, 3);
    PQ_EXPECT(dir != NULL);
    if (!dir) return;
    /* Random positive float32 over a wide exponent range, plus the extremes. */
    for (int k = 0; k < 1000; k++) {
        uint32_t b;
        do b = (uint32_t)(pq_rng_next(&r) >> 33) & 0x7fffffffu;
        while (b == 0 || b >= 0x7f800000u);
        if (k == 0) b = 1;           /* smallest denormal */
        if (k == 1) b = 0x7f7fffffu; /* FLT_MAX */
        memcpy(&e[k].scale, &b, sizeof b);
        snprintf(names[k], sizeof names[k], "t%d", k);
        e[k].name = names[k];
    }
    c.header = "TRT-8601-EntropyCalibration2";
    c.n = 1000;
    c.entries = e;
    snprintf(path, sizeof path, "%s/rt.cache", dir);
    PQ_EXPECT_OK(pq_trt_cache_save(&c, path, &err), &err);
    PQ_EXPECT_OK(pq_trt_cache_load(path, &back, &err), &err);
    int64_t bad = 0;
    for (int64_t k = 0; back && k < back->n; k++)
        if (bits_of(back->entries[k].scale) != bits_of(e[k].scale) ||
            strcmp(back->entries[k].name, e[k].name) != 0)
            bad++;
    PQ_EXPECT_EQ(back ? back->n : -1, 1000);
    PQ_EXPECT_EQ(bad, 0);
    pq_trt_cache_destroy(&back);
    rm_tree(dir);
}

PQ_TEST(trt_cache_parse_refusals)
{
    pq_err err = {0};
    pq_trt_cache *c = NULL;
    const char *ok = "TRT-8601-EntropyCalibration2\na:b: 3f800000\r\n";
    PQ_EXPECT_OK(pq_trt_cache_parse(ok, strlen(ok), "ok.cache", &c, &err), &err);
    PQ_EXPECT_EQ(c ? c->n : -1, 1);
    if (c) {
        PQ_EXPECT_STR(c->entries[0].name, "a:b");
        PQ_EXPECT(c->entries[0].scale == 1.0f);
    }
    pq_trt_cache_destroy(&c);
    struct {
        const char *text, *msg;
    } bad[] = {
        {"", "empty file"},
        {"TRT8601-X\n", "bad.cache:1: header must start with 'TRT-'"},
        {"TRT-x-Entropy\n", "bad.cache:1: header must be TRT-<version>-<calibrator>"},
        {"TRT-8601-E\nx 3f800000\n", "bad.cache:2: expected 'name: <8 hex digits>'"},
        {"TRT-8601-E\nx: 3f80000g\n", "bad.cache:2: 'g' is not a hex digit"},
        {"TRT-8601-E\nx: 3f8000\n", "bad.cache:2: expected"},
        {"TRT-8601-E\nx: 3f800000\nx: 3f800000\n", "bad.cache:3: tensor 'x' listed twice"},
        {"TRT-8601-E\n\nx: 3f800000\n", "bad.cache:2: empty line"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        PQ_EXPECT_EQ(pq_trt_cache_parse(bad[k].text, strlen(bad[k].text), "bad.cache", &c, &err),
                     PQ_ERR_FORMAT);
        PQ_EXPECT_CONTAINS(err.msg, bad[k].msg);
        PQ_EXPECT(c == NULL);
    }
    PQ_EXPECT_EQ(pq_trt_cache_load("/nonexistent/x.cache", &c, &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "/nonexistent/x.cache");
}

PQ_TEST_MAIN()
