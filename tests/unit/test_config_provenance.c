/* test_config_provenance.c - SHA-256 against the FIPS 180-4 / NIST example vectors and
 * Python's hashlib, and the provenance record of the bundled example (config, model and
 * data digests as hashlib computes them, JSON fields). */
#include "pq_config.h"
#include "pq_h5.h"
#include "pq_sha256.h"
#include "pq_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXAMPLE PQ_SOURCE_DIR "/configs/example.yaml"

static const char *hex_of(const void *data, size_t len, char *hex)
{
    uint8_t d[PQ_SHA256_BYTES];
    pq_sha256(data, len, d);
    return pq_sha256_hex(d, hex);
}

PQ_TEST(test_sha256_nist_vectors)
{
    char hex[PQ_SHA256_HEX_CHARS];
    PQ_EXPECT_STR(hex_of("", 0, hex),
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    PQ_EXPECT_STR(hex_of("abc", 3, hex),
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    PQ_EXPECT_STR(hex_of(m448, strlen(m448), hex),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    PQ_EXPECT_STR(hex_of(m896, strlen(m896), hex),
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* one million 'a', fed in uneven pieces */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    pq_sha256_ctx c;
    pq_sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        pq_sha256_update(&c, a + off, n);
        off += n;
        step = step * 3 + 1;
        if (step > 70000) step = 7;
    }
    uint8_t d[PQ_SHA256_BYTES];
    pq_sha256_final(&c, d);
    PQ_EXPECT_STR(pq_sha256_hex(d, hex),
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* Every length 0..300 (all padding cases) against hashlib, one-shot and byte by byte. */
PQ_TEST(test_sha256_lengths_vs_hashlib)
{
    char tmp[] = "/tmp/pq_sha_XXXXXX";
    int fd = mkstemp(tmp);
    PQ_EXPECT(fd >= 0);
    if (fd < 0) return;
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import hashlib\nopen('%s','w').write('\\n'.join("
             "hashlib.sha256(bytes((i * 7 + 3) %% 256 for i in range(n))).hexdigest() "
             "for n in range(301)))\"",
             tmp);
    PQ_EXPECT_EQ(system(cmd), 0);
    FILE *f = fopen(tmp, "r");
    uint8_t buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (uint8_t)((i * 7 + 3) % 256);
    for (int n = 0; f && n <= 300; n++) {
        char want[80] = {0}, hex[PQ_SHA256_HEX_CHARS];
        if (fscanf(f, "%79s", want) != 1) break;
        PQ_EXPECT_STR(hex_of(buf, (size_t)n, hex), want);
        pq_sha256_ctx c;
        pq_sha256_init(&c);
        for (int i = 0; i < n; i++) pq_sha256_update(&c, buf + i, 1);
        uint8_t d[PQ_SHA256_BYTES];
        pq_sha256_final(&c, d);
        PQ_EXPECT_STR(pq_sha256_hex(d, hex), want);
    }
    if (f) fclose(f);
    /* the file helper on the same bytes */
    f = fopen(tmp, "wb");
    fwrite(buf, 1, 300, f);
    fclose(f);
    pq_err err = {0};
    uint8_t d1[PQ_SHA256_BYTES], d2[PQ_SHA256_BYTES];
    PQ_EXPECT_OK(pq_sha256_file(tmp, d1, &err), &err);
    pq_sha256(buf, 300, d2);
    PQ_EXPECT(memcmp(d1, d2, sizeof d1) == 0);
    unlink(tmp);
    PQ_EXPECT_EQ(pq_sha256_file("/nonexistent/x", d1, &err), PQ_ERR_IO);
    PQ_EXPECT_CONTAINS(err.msg, "/nonexistent/x: cannot open");
}

/* hashlib's digests for the example: config file, model file, and the data the example
 * reads (first 512 samples of /train/images in batches of 64, batch digests combined). */
PQ_TEST(test_provenance_of_the_example)
{
    char tmp[] = "/tmp/pq_prov_XXXXXX";
    int fd = mkstemp(tmp);
    PQ_EXPECT(fd >= 0);
    if (fd < 0) return;
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && /usr/bin/python3 -c \"import hashlib, h5py\n"
             "h = lambda b: hashlib.sha256(b)\n"
             "x = h5py.File('tests/fixtures/digits/digits.h5', 'r')['/train/images'][:512]\n"
             "d = b''.join(h(x[i:i + 64].tobytes()).digest() for i in range(0, 512, 64))\n"
             "open('%s', 'w').write(' '.join([h(open('configs/example.yaml', 'rb').read()).hexdigest(),"
             " h(open('tests/fixtures/digits/digits_cnn.onnx', 'rb').read()).hexdigest(),"
             " h(d).hexdigest()]))\"",
             PQ_SOURCE_DIR, tmp);
    PQ_EXPECT_EQ(system(cmd), 0);
    char want[3][80] = {{0}};
    FILE *f = fopen(tmp, "r");
    int got = f ? fscanf(f, "%79s %79s %79s", want[0], want[1], want[2]) : 0;
    if (f) fclose(f);
    unlink(tmp);
    PQ_EXPECT_EQ(got, 3);

    pq_err err = {0};
    pq_config *cfg = NULL;
    PQ_EXPECT_OK(pq_config_load(EXAMPLE, 0, NULL, &cfg, &err), &err);
    if (!cfg) return;
    pq_provenance p;
    PQ_EXPECT_OK(pq_provenance_init(&p, cfg, 3, &err), &err);
    PQ_EXPECT_STR(p.config_sha256, want[0]);
    PQ_EXPECT_STR(p.model_sha256, want[1]);
    PQ_EXPECT_STR(p.data_sha256, "");
    PQ_EXPECT_STR(p.version, PQ_VERSION_STRING);

    /* the data digest as the run computes it: batches read in a rank-like order (odd then
     * even), digests combined in batch order */
    pq_h5_input_spec spec;
    pq_config_input_specs(cfg, &spec);
    pq_h5_reader *r = NULL;
    PQ_EXPECT_OK(pq_h5_reader_open(cfg->data.file, 1, &spec, cfg->calibration.batch_size,
                                   cfg->calibration.samples, cfg->data.nan, NULL, &r, &err),
                 &err);
    uint8_t dig[8][PQ_SHA256_BYTES];
    PQ_EXPECT_EQ(r ? pq_h5_reader_n_batches(r) : 0, 8);
    for (int pass = 0; r && pass < 2; pass++)
        for (int64_t b = 1 - pass; b < 8; b += 2) {
            pq_tensor *t = NULL;
            PQ_EXPECT_OK(pq_h5_reader_read(r, b, &t, dig[b], &err), &err);
            pq_tensor_destroy(&t);
        }
    pq_h5_reader_close(&r);
    pq_sha256_ctx c;
    pq_sha256_init(&c);
    for (int b = 0; b < 8; b++) pq_h5_digest_combine(&c, dig[b]);
    uint8_t all[PQ_SHA256_BYTES];
    pq_sha256_final(&c, all);
    pq_provenance_set_data(&p, all);
    PQ_EXPECT_STR(p.data_sha256, want[2]);

    /* JSON form */
    char *text = NULL;
    PQ_EXPECT_OK(pq_provenance_json_text(&p, &text, &err), &err);
    json_error_t je;
    json_t *o = text ? json_loads(text, 0, &je) : NULL;
    PQ_EXPECT(o != NULL);
    if (o) {
        PQ_EXPECT_STR(json_string_value(json_object_get(o, "version")), PQ_VERSION_STRING);
        PQ_EXPECT_EQ(json_integer_value(json_object_get(o, "world_size")), 3);
        json_t *h = json_object_get(o, "sha256");
        PQ_EXPECT_STR(json_string_value(json_object_get(h, "config")), want[0]);
        PQ_EXPECT_STR(json_string_value(json_object_get(h, "model")), want[1]);
        PQ_EXPECT_STR(json_string_value(json_object_get(h, "data")), want[2]);
        PQ_EXPECT_STR(json_string_value(json_object_get(o, "config")), p.config_text);
        json_decref(o);
    }
    PQ_EXPECT_CONTAINS(p.config_text, "  samples: 512\n");
    pq_free(text);
    pq_provenance_clear(&p);
    PQ_EXPECT(p.config_text == NULL);
    pq_config_destroy(&cfg);
}

PQ_TEST_MAIN()
