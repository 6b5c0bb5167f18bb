/* fuzz_onnx_read.c - libFuzzer target for the ONNX reader (and writer).
 *
 * Each input is loaded with pq_onnx_load_buffer. Nothing may crash, leak or read out of
 * bounds (AddressSanitizer), and a failure must come with a message naming the buffer.
 * When an input loads, the graph must validate, serialize, and load again to a graph that
 * serializes to the same bytes: a model the reader accepts is one the writer can reproduce.
 * Violations abort, so libFuzzer records the input as a crash.
 *
 * Build: see tests/fuzz/README.md (clang, -fsanitize=fuzzer,address). */
#include "pq_onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const pq_err *err)
{
    fprintf(stderr, "fuzz_onnx_read: %s: %s\n", what, err ? err->msg : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pq_log_set_level(PQ_LOG_ERROR); /* duplicate-name warnings are expected here */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pq_err err = {0};
    pq_graph *g = NULL, *g2 = NULL;
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    pq_status st = pq_onnx_load_buffer(data, size, "fuzz", NULL, &g, &err);
    if (st != PQ_OK) {
        if (g) fail("a failed load returned a graph", &err);
        if (strncmp(err.msg, "fuzz", 4) != 0) fail("error message does not name the input", &err);
        return 0;
    }
    if (pq_graph_validate(g, &err) != PQ_OK) fail("loaded graph does not validate", &err);
    if (pq_onnx_serialize(g, &b1, &l1, &err) != PQ_OK) fail("serialize", &err);
    if (pq_onnx_load_buffer(b1, l1, "fuzz-reload", NULL, &g2, &err) != PQ_OK)
        fail("the serialized graph does not load", &err);
    if (pq_onnx_serialize(g2, &b2, &l2, &err) != PQ_OK) fail("serialize again", &err);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0) fail("the round trip is not stable", NULL);
    pq_free(b1);
    pq_free(b2);
    pq_graph_destroy(&g);
    pq_graph_destroy(&g2);
    return 0;
}
