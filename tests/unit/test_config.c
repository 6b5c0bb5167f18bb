/* test_config.c - run-file loading: the broken configs of tests/fixtures/config (status and
 * message with line:column and key path each), defaults, relative paths, --set overrides,
 * and the printed effective config loading back to the same config. */
#include "pq_config.h"
#include "pq_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX PQ_SOURCE_DIR "/tests/fixtures/config/"
#define EXAMPLE PQ_SOURCE_DIR "/configs/example.yaml"
#define REFERENCE PQ_SOURCE_DIR "/configs/reference.yaml"

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\t')) *--e = 0;
    return s;
}

PQ_TEST(test_broken_configs)
{
    FILE *f = fopen(FIX "expected.txt", "r");
    PQ_EXPECT(f != NULL);
    if (!f) return;
    char line[2048];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char *a = strtok(line, "|"), *b = strtok(NULL, "|"), *c = strtok(NULL, "\n");
        if (!a || !b || !c) {
            PQ_FAIL_AT("malformed line in expected.txt");
            continue;
        }
        char path[1024];
        snprintf(path, sizeof path, FIX "%s", trim(a));
        pq_err err = {0};
        pq_config *cfg = NULL;
        pq_status st = pq_config_load(path, 0, NULL, &cfg, &err);
        if (strcmp(pq_status_name(st), trim(b)) != 0)
            PQ_FAIL_AT("%s: status %s, expected %s (%s)", path, pq_status_name(st), trim(b), err.msg);
        PQ_EXPECT(cfg == NULL);
        /* substrings separated by && */
        char *want = trim(c);
        for (char *p = want; p;) {
            char *sep = strstr(p, "&&");
            if (sep) *sep = 0;
            char *w = trim(p);
            if (!strstr(err.msg, w)) PQ_FAIL_AT("%s: message \"%s\" lacks \"%s\"", trim(a), err.msg, w);
            p = sep ? sep + 2 : NULL;
        }
        pq_config_destroy(&cfg);
        cases++;
    }
    fclose(f);
    PQ_EXPECT(cases >= 12);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

PQ_TEST(test_example_values_and_defaults)
{
    pq_err err = {0};
    pq_config *c = NULL;
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 0, NULL, &c, &err), &err);
    if (!c) return;
    PQ_EXPECT_STR(c->model, PQ_SOURCE_DIR "/tests/fixtures/digits/digits_cnn.onnx");
    PQ_EXPECT_STR(c->data.file, PQ_SOURCE_DIR "/tests/fixtures/digits/digits.h5");
    PQ_EXPECT(access(c->model, R_OK) == 0 && access(c->data.file, R_OK) == 0);
    PQ_EXPECT_STR(c->platform, "trt_int8");
    PQ_EXPECT_STR(c->dispatch.dispatcher, "conservative");
    PQ_EXPECT_EQ(c->dispatch.n_overrides, 0);
    PQ_EXPECT_EQ(c->n_passes, 0);
    PQ_EXPECT_EQ(c->calibration.activation, PQ_CALIB_PERCENTILE);
    PQ_EXPECT_EQ(c->calibration.weight, PQ_CALIB_MINMAX);
    PQ_EXPECT_EQ(c->calibration.bins, 2048);
    PQ_EXPECT_NEAR(c->calibration.percentile, 0.9999, 0);
    PQ_EXPECT_EQ(c->calibration.batch_size, 64);
    PQ_EXPECT_EQ(c->calibration.samples, 512);
    PQ_EXPECT_EQ(c->calibration.batches, 0);
    PQ_EXPECT_EQ(c->data.nan, PQ_H5_NAN_ERROR);
    PQ_EXPECT_EQ(c->data.n_inputs, 1);
    if (c->data.n_inputs == 1) {
        PQ_EXPECT_STR(c->data.inputs[0].name, "images");
        PQ_EXPECT_STR(c->data.inputs[0].dataset, "/train/images");
        PQ_EXPECT_EQ(c->data.inputs[0].layout, PQ_H5_LAYOUT_NCHW);
        PQ_EXPECT_NEAR(c->data.inputs[0].scale, 1.0, 0);
        PQ_EXPECT_EQ(c->data.inputs[0].n_mean + c->data.inputs[0].n_std, 0);
    }
    PQ_EXPECT_EQ(c->export_.formats, PQ_EXPORT_QDQ_ONNX | PQ_EXPORT_JSON | PQ_EXPORT_REPORT);
    PQ_EXPECT_STR(c->export_.dir, PQ_SOURCE_DIR "/out/digits");
    PQ_EXPECT(ends_with(c->export_.json, "/out/digits/quant.json"));
    PQ_EXPECT_EQ(c->analysis.enabled, 1);
    PQ_EXPECT_EQ(c->analysis.metrics, PQ_METRIC_SNR | PQ_METRIC_COSINE);
    PQ_EXPECT_EQ(c->analysis.eval_batches, 4);
    PQ_EXPECT_EQ(c->threads, 0);
    /* reader specs from the config */
    pq_h5_input_spec s;
    pq_config_input_specs(c, &s);
    PQ_EXPECT_STR(s.dataset, "/train/images");
    PQ_EXPECT_EQ(s.dtype, PQ_DTYPE_FLOAT32);
    pq_config_destroy(&c);
    PQ_EXPECT(c == NULL);
}

PQ_TEST(test_reference_documents_every_key)
{
    pq_err err = {0};
    pq_config *c = NULL;
    PQ_EXPECT_OK(pq_config_load(REFERENCE, 0, NULL, &c, &err), &err);
    if (!c) return;
    PQ_EXPECT_EQ(c->dispatch.n_overrides, 1);
    if (c->dispatch.n_overrides == 1) {
        PQ_EXPECT_STR(c->dispatch.overrides[0].name, "conv1");
        PQ_EXPECT_STR(c->dispatch.overrides[0].value, "fp32");
    }
    PQ_EXPECT_EQ(c->calibration.n_overrides, 1);
    if (c->calibration.n_overrides == 1) {
        PQ_EXPECT_STR(c->calibration.overrides[0].name, "logits");
        PQ_EXPECT_EQ(c->calibration.overrides[0].algo, PQ_CALIB_MINMAX);
    }
    PQ_EXPECT_EQ(c->data.inputs[0].n_mean, 1);
    PQ_EXPECT_EQ(c->data.inputs[0].n_std, 1);
    PQ_EXPECT_STR(c->export_.dir, PQ_SOURCE_DIR "/configs/out");
    PQ_EXPECT_STR(c->export_.qdq_onnx, PQ_SOURCE_DIR "/configs/out/model.qdq.onnx");
    /* every key the printer writes appears in the reference (so it documents them all) */
    char *printed = NULL;
    PQ_EXPECT_OK(pq_config_print_string(c, &printed, &err), &err);
    FILE *f = fopen(REFERENCE, "r");
    char ref[16384] = {0};
    size_t n = f ? fread(ref, 1, sizeof ref - 1, f) : 0;
    ref[n] = 0;
    if (f) fclose(f);
    for (char *line = printed ? strtok(printed, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *p = line;
        while (*p == ' ') p++;
        char *colon = strchr(p, ':');
        if (*p == '#' || *p == '"' || !colon) continue;
        char key[64];
        snprintf(key, sizeof key, "%.*s:", (int)(colon - p), p);
        if (!strstr(ref, key)) PQ_FAIL_AT("reference.yaml does not document '%s'", key);
    }
    pq_free(printed);
    pq_config_destroy(&c);
}

PQ_TEST(test_set_overrides)
{
    pq_err err = {0};
    pq_config *c = NULL;
    const char *sets[] = {"calibration.bins=4096",
                          "passes=[fold_constants, fuse_conv_bn]",
                          "data.inputs.images.mean=[0.5]",
                          "data.inputs.images.std=0.25",
                          "data.inputs.images.layout=nchw",
                          "dispatch.overrides.fc=fp32",
                          "calibration.activation=kl_trt",
                          "export.dir=results",
                          "threads=3",
                          "calibration.bins=8192"};
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 10, sets, &c, &err), &err);
    if (!c) return;
    PQ_EXPECT_EQ(c->calibration.bins, 8192); /* the later --set wins */
    PQ_EXPECT_EQ(c->n_passes, 2);
    if (c->n_passes == 2) {
        PQ_EXPECT_STR(c->passes[0], "fold_constants");
        PQ_EXPECT_STR(c->passes[1], "fuse_conv_bn");
    }
    PQ_EXPECT_STR(c->data.inputs[0].dataset, "/train/images"); /* the shorthand became a map */
    PQ_EXPECT_EQ(c->data.inputs[0].n_mean, 1);
    PQ_EXPECT_NEAR(c->data.inputs[0].mean[0], 0.5, 0);
    PQ_EXPECT_EQ(c->data.inputs[0].n_std, 1);
    PQ_EXPECT_NEAR(c->data.inputs[0].std[0], 0.25, 0);
    PQ_EXPECT_EQ(c->dispatch.n_overrides, 1);
    PQ_EXPECT_EQ(c->calibration.activation, PQ_CALIB_KL_TRT);
    PQ_EXPECT_STR(c->export_.dir, PQ_SOURCE_DIR "/configs/results");
    PQ_EXPECT_EQ(c->threads, 3);
    PQ_EXPECT_EQ(c->calibration.samples, 512); /* untouched keys keep the file's values */
    pq_config_destroy(&c);
}

PQ_TEST(test_set_errors_name_the_set)
{
    struct {
        const char *set;
        const char *want;
    } cases[] = {
        {"calibration.bins=3", "--set calibration.bins=3: calibration.bins: 3 is out of range"},
        {"calibration.foo=1", "--set calibration.foo=1: calibration.foo: unknown key"},
        {"threads=[1]", "--set threads=[1]: threads: wrong type or value"},
        {"data.inputs.images.std=[1, -2]", "data.inputs.images.std.1: must be positive, got -2"},
        {"nokey", "--set nokey: expected KEY=VALUE"},
        {"a..b=1", "malformed key"},
        {"model.x=1", "--set model.x=1: 'model' is not a mapping"},
        {"passes=[a, b", "--set passes=[a, b: the value is not valid YAML"},
        {"model=elsewhere.onnx", "--set model=elsewhere.onnx: model: " PQ_SOURCE_DIR
                                 "/configs/elsewhere.onnx: file not found"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pq_err err = {0};
        pq_config *c = NULL;
        const char *sets[] = {cases[i].set};
        pq_status st = pq_config_load(EXAMPLE, 1, sets, &c, &err);
        PQ_EXPECT(st == PQ_ERR_CONFIG || st == PQ_ERR_IO);
        PQ_EXPECT(c == NULL);
        PQ_EXPECT_CONTAINS(err.msg, cases[i].want);
    }
    /* an error elsewhere in the file keeps its file position when sets are given */
    pq_err err = {0};
    pq_config *c = NULL;
    const char *sets[] = {"threads=2", "passes=[x]"};
    PQ_EXPECT_EQ(pq_config_load(FIX "out_of_range.yaml", 2, sets, &c, &err), PQ_ERR_CONFIG);
    PQ_EXPECT_CONTAINS(err.msg, "out_of_range.yaml:6:9: calibration.bins: 3 is out of range");
    const char *fix[] = {"calibration.bins=16"};
    PQ_EXPECT_OK(pq_config_load(FIX "out_of_range.yaml", 1, fix, &c, &err), &err);
    if (c) PQ_EXPECT_EQ(c->calibration.bins, 16);
    pq_config_destroy(&c);
}

static char *print_of(pq_config *c)
{
    pq_err err = {0};
    char *s = NULL;
    if (pq_config_print_string(c, &s, &err) != PQ_OK) PQ_FAIL_AT("print: %s", err.msg);
    return s;
}

/* The printed config is a run file that loads back to the same printed config. */
static void roundtrip(const char *path, int n_sets, const char *const *sets)
{
    pq_err err = {0};
    pq_config *a = NULL, *b = NULL;
    PQ_EXPECT_OK(pq_config_load(path, n_sets, sets, &a, &err), &err);
    if (!a) return;
    char *pa = print_of(a);
    char tmp[] = "/tmp/pq_cfg_rt_XXXXXX";
    int fd = mkstemp(tmp);
    PQ_EXPECT(fd >= 0);
    if (fd >= 0 && pa) {
        FILE *f = fdopen(fd, "w");
        fputs(pa, f);
        fclose(f);
        PQ_EXPECT_OK(pq_config_load(tmp, 0, NULL, &b, &err), &err);
        char *pb = b ? print_of(b) : NULL;
        PQ_EXPECT_STR(pb, pa);
        pq_free(pb);
        unlink(tmp);
    }
    pq_free(pa);
    pq_config_destroy(&a);
    pq_config_destroy(&b);
}

PQ_TEST(test_print_roundtrip)
{
    roundtrip(EXAMPLE, 0, NULL);
    roundtrip(REFERENCE, 0, NULL);
    const char *sets[] = {"data.inputs.images.mean=[0.1, 0.2]", "data.inputs.images.bgr=true",
                          "data.inputs.\"we\\\"ird\"=/x", "calibration.percentile=0.3",
                          "calibration.seed=18446744073709551615", "data.nan=ignore",
                          "export.formats=[]"};
    roundtrip(EXAMPLE, 7, sets);
    /* values of the printed text */
    pq_err err = {0};
    pq_config *c = NULL;
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 7, sets, &c, &err), &err);
    if (!c) return;
    char *p = print_of(c);
    PQ_EXPECT_CONTAINS(p, "  percentile: 0.3\n");
    PQ_EXPECT_CONTAINS(p, "  seed: 18446744073709551615\n");
    PQ_EXPECT_CONTAINS(p, "      mean: [0.1, 0.2]\n");
    PQ_EXPECT_CONTAINS(p, "      bgr: true\n");
    PQ_EXPECT_CONTAINS(p, "  nan: ignore\n");
    PQ_EXPECT_CONTAINS(p, "  formats: []\n");
    PQ_EXPECT_CONTAINS(p, "  bins: 2048\n");
    PQ_EXPECT_EQ(c->export_.formats, 0);
    PQ_EXPECT_EQ(c->data.n_inputs, 2);
    pq_free(p);
    pq_config_destroy(&c);
}

/* Lexical path normalisation (no file system access). */
PQ_TEST(test_normalize_path)
{
    static const char *const cases[][2] = {
        {"/a/b/../c", "/a/c"},          {"/work/configs/../tests/x.onnx", "/work/tests/x.onnx"},
        {"/a/./b//c/", "/a/b/c"},       {"/..", "/"},
        {"/../a", "/a"},                {"/", "/"},
        {"a/b/../../..", ".."},         {"../../a/../b", "../../b"},
        {"./x", "x"},                   {"", "."},
        {".", "."},                     {"a/..", "."},
        {"a//b///c", "a/b/c"},          {"/a/b/c/../../..", "/"},
        {"../a/./../..", "../.."},      {"a/../../b", "../b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *n = pq_config_normalize_path(cases[i][0]);
        PQ_EXPECT_STR(n, cases[i][1]);
        pq_free(n);
    }
    PQ_EXPECT(pq_config_normalize_path(NULL) == NULL);
}

/* analysis.eval_inputs and analysis.labels: values, print round trip, errors naming the key. */
PQ_TEST(test_analysis_eval_keys)
{
    pq_err err = {0};
    pq_config *c = NULL;
    const char *sets[] = {"analysis.eval_inputs={images: /test/images}",
                          "analysis.labels=/test/labels"};
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 2, sets, &c, &err), &err);
    if (c) {
        PQ_EXPECT_EQ(c->analysis.n_eval_inputs, 1);
        if (c->analysis.n_eval_inputs == 1) {
            PQ_EXPECT_STR(c->analysis.eval_inputs[0].name, "images");
            PQ_EXPECT_STR(c->analysis.eval_inputs[0].value, "/test/images");
        }
        PQ_EXPECT_STR(c->analysis.labels, "/test/labels");
        char *p = print_of(c);
        PQ_EXPECT_CONTAINS(p, "  eval_inputs:\n    \"images\": \"/test/images\"\n");
        PQ_EXPECT_CONTAINS(p, "  labels: \"/test/labels\"\n");
        pq_free(p);
    }
    pq_config_destroy(&c);
    roundtrip(EXAMPLE, 2, sets);
    /* defaults */
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 0, NULL, &c, &err), &err);
    if (c) {
        PQ_EXPECT_EQ(c->analysis.n_eval_inputs, 0);
        PQ_EXPECT(c->analysis.labels == NULL);
        char *p = print_of(c);
        PQ_EXPECT_CONTAINS(p, "  eval_inputs: {}\n  labels: null\n");
        pq_free(p);
    }
    pq_config_destroy(&c);
    const char *bad1[] = {"analysis.labels=test/labels"};
    PQ_EXPECT_EQ(pq_config_load(EXAMPLE, 1, bad1, &c, &err), PQ_ERR_CONFIG);
    PQ_EXPECT_CONTAINS(err.msg, "--set analysis.labels=test/labels: analysis.labels: dataset "
                                "path 'test/labels' must be absolute");
    const char *bad2[] = {"analysis.eval_inputs.images=[1, 2]"};
    PQ_EXPECT_EQ(pq_config_load(EXAMPLE, 1, bad2, &c, &err), PQ_ERR_CONFIG);
    PQ_EXPECT_CONTAINS(err.msg, "analysis.eval_inputs.images: expected the dataset path");
    const char *bad3[] = {"analysis.eval_inputs=[a]"};
    PQ_EXPECT_EQ(pq_config_load(EXAMPLE, 1, bad3, &c, &err), PQ_ERR_CONFIG);
    PQ_EXPECT_CONTAINS(err.msg, "analysis.eval_inputs: expected a mapping");
}

/* Loading from text: the printed config loads back without its file; file checks can be
 * skipped; the results digest ignores export.* but not the keys that change results. */
PQ_TEST(test_load_text_and_results_digest)
{
    pq_err err = {0};
    pq_config *a = NULL, *b = NULL, *d = NULL, *e = NULL;
    const char *out2[] = {"export.dir=/tmp/elsewhere", "export.formats=[json]"};
    const char *bins[] = {"calibration.bins=4096"};
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 0, NULL, &a, &err), &err);
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 2, out2, &d, &err), &err);
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 1, bins, &e, &err), &err);
    if (!a || !d || !e) goto done;
    char *pa = NULL;
    PQ_EXPECT_OK(pq_config_print_string(a, &pa, &err), &err);
    if (!pa) goto done;
    PQ_EXPECT_OK(pq_config_load_text(pa, strlen(pa), "OUT.json", "/", 0, &b, &err), &err);
    char *pb = b ? print_of(b) : NULL;
    PQ_EXPECT_STR(pb, pa);
    PQ_EXPECT_STR(b ? b->path : NULL, "OUT.json");
    pq_free(pb);
    pq_config_destroy(&b);
    /* a missing model is an error unless the check is off */
    const char *model = "model: \"/nonexistent/m.onnx\"\n";
    size_t n = strlen(pa) + 64;
    char *t = pq_malloc(n);
    const char *rest = strstr(pa, "\nplatform:"); /* after the comment and model lines */
    snprintf(t, n, "%s%s", model, rest ? rest + 1 : "");
    PQ_EXPECT_EQ(pq_config_load_text(t, strlen(t), "OUT.json", "/", 0, &b, &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "OUT.json:1:8: model: /nonexistent/m.onnx: file not found");
    PQ_EXPECT_OK(pq_config_load_text(t, strlen(t), "OUT.json", "/", PQ_CONFIG_NO_FILE_CHECK, &b,
                                     &err),
                 &err);
    PQ_EXPECT_STR(b ? b->model : NULL, "/nonexistent/m.onnx");
    pq_config_destroy(&b);
    PQ_EXPECT_EQ(pq_config_load_text("model: x\0", 9, "OUT.json", "/", 0, &b, &err),
                 PQ_ERR_CONFIG);
    pq_free(t);
    pq_free(pa);
    uint8_t da[PQ_SHA256_BYTES], dd[PQ_SHA256_BYTES], de[PQ_SHA256_BYTES];
    PQ_EXPECT_OK(pq_config_results_digest(a, da, &err), &err);
    PQ_EXPECT_OK(pq_config_results_digest(d, dd, &err), &err);
    PQ_EXPECT_OK(pq_config_results_digest(e, de, &err), &err);
    PQ_EXPECT(memcmp(da, dd, sizeof da) == 0);
    PQ_EXPECT(memcmp(da, de, sizeof da) != 0);
done:
    pq_config_destroy(&a);
    pq_config_destroy(&d);
    pq_config_destroy(&e);
}

PQ_TEST(test_io_errors)
{
    pq_err err = {0};
    pq_config *c = NULL;
    PQ_EXPECT_EQ(pq_config_load(FIX "does_not_exist.yaml", 0, NULL, &c, &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "does_not_exist.yaml: cannot open");
    char tmp[] = "/tmp/pq_cfg_empty_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) close(fd);
    PQ_EXPECT_EQ(pq_config_load(tmp, 0, NULL, &c, &err), PQ_ERR_CONFIG);
    PQ_EXPECT_CONTAINS(err.msg, "the config is empty");
    unlink(tmp);
}

PQ_TEST_MAIN()
