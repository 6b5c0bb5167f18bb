/* test_calib_ref.c - the minmax activation scales of the calibration pipeline against an
 * independent numpy computation over the same activations (tests/calib/minmax_reference.py,
 * run with /usr/bin/python3): min and max bitwise, scale bitwise, offset exactly.
 * The digits CNN, trt_int8 (symmetric) and ort_qdq_int8 (its activation policy), 128 training
 * samples in batches of 32. Exits 77 (skipped) when /usr/bin/python3 has no numpy. */
#include "pq_npy.h"
#include "test_calib_util.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define PY "/usr/bin/python3"

typedef struct obs_tqc {
    const pq_tqc *tqc;
    const char *var;
} obs_tqc;

/* Concatenates batches of one variable on axis 0. */
static pq_status concat(pq_tensor **parts, int64_t n, pq_tensor **out, pq_err *err)
{
    int64_t dims[PQ_MAX_RANK], rows = 0;
    for (int64_t i = 0; i < n; i++) rows += parts[i]->dims[0];
    memcpy(dims, parts[0]->dims, sizeof dims);
    dims[0] = rows;
    pq_status st = pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, parts[0]->rank, dims, out, err);
    if (st != PQ_OK) return st;
    size_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        memcpy((char *)(*out)->data + off, parts[i]->data, parts[i]->nbytes);
        off += parts[i]->nbytes;
    }
    return PQ_OK;
}

static void check_platform(const char *platform)
{
    pq_err err = {0};
    pq_graph *g = NULL;
    pq_executor *ex = NULL;
    pq_tensor **b = NULL;
    int64_t nb = 0;
    obs_tqc list[64];
    int n = 0;
    char dir[] = "/tmp/pq_calib_refXXXXXX", path[512], cmd[1024];
    pq_calib_options o;
    pq_calib_stats stats;
    pq_calib_memsource mem;
    pq_calib_source src;
    pq_calib_options_init(&o);
    o.platform = platform;
    o.activation_algo = "minmax";
    o.skip_alignment = 1; /* the observers' scales alone (trt_int8 aligns Concat inputs) */
    PQ_EXPECT(mkdtemp(dir) != NULL);
    PQ_EXPECT_OK(digits_graph(&g, &err), &err);
    PQ_EXPECT_OK(read_batches("/train/images", NULL, 32, 128, &b, &nb, &err), &err);
    if (!g || !b) goto done;
    PQ_EXPECT_OK(pq_calib_quantize_graph(g, &o, &err), &err);
    /* The TQCs the run will observe: INITIAL, on activations. */
    for (int64_t k = 0; k < g->ops.n; k++) {
        const pq_op *op = g->ops.items[k];
        if (!op->qconfig) continue;
        for (int i = 0; i < op->qconfig->n_inputs; i++)
            if (op->inputs[i] && !pq_var_is_parameter(op->inputs[i]) &&
                op->qconfig->inputs[i].state == PQ_TQC_STATE_INITIAL && n < 64)
                list[n++] = (obs_tqc){&op->qconfig->inputs[i], op->inputs[i]->name};
        for (int j = 0; j < op->qconfig->n_outputs; j++)
            if (op->outputs[j] && op->qconfig->outputs[j].state == PQ_TQC_STATE_INITIAL && n < 64)
                list[n++] = (obs_tqc){&op->qconfig->outputs[j], op->outputs[j]->name};
    }
    PQ_EXPECT(n >= 8);
    PQ_EXPECT_OK(pq_executor_create(g, NULL, &ex, &err), &err);
    if (!ex) goto done;
    pq_calib_memsource_init(&mem, b, NULL, nb, 1, &src);
    PQ_EXPECT_OK(pq_calib_run(g, ex, &o, &src, NULL, &stats, &err), &err);
    PQ_EXPECT_EQ(stats.observers, n);
    PQ_EXPECT_EQ(stats.aligned, 0);

    /* Dump what the observers saw: the float activations of every batch. */
    {
        const char *names[64];
        pq_tensor *parts[64][8];
        const char *in = "images";
        FILE *man;
        for (int i = 0; i < n; i++) names[i] = list[i].var;
        memset(parts, 0, sizeof parts);
        for (int64_t bi = 0; bi < nb && bi < 8; bi++) {
            pq_tensor *got[64];
            PQ_EXPECT_OK(pq_executor_run(ex, 1, &in, &b[bi], n, names, got, &err), &err);
            for (int i = 0; i < n; i++) parts[i][bi] = got[i];
        }
        snprintf(path, sizeof path, "%s/manifest.txt", dir);
        man = fopen(path, "w");
        PQ_EXPECT(man != NULL);
        for (int i = 0; i < n && man; i++) {
            pq_tensor *all = NULL;
            PQ_EXPECT_OK(concat(parts[i], nb, &all, &err), &err);
            snprintf(path, sizeof path, "%s/act_%d.npy", dir, i);
            if (all) PQ_EXPECT_OK(pq_npy_save(path, all, &err), &err);
            pq_tensor_destroy(&all);
            fprintf(man, "%d %lld %lld %d\n", i, (long long)list[i].tqc->quant_min,
                    (long long)list[i].tqc->quant_max,
                    (list[i].tqc->policy & PQ_QPOLICY_SYMMETRIC) ? 1 : 0);
        }
        if (man) fclose(man);
        for (int i = 0; i < n; i++)
            for (int64_t bi = 0; bi < nb && bi < 8; bi++) pq_tensor_destroy(&parts[i][bi]);
    }

    /* The reference. */
    snprintf(cmd, sizeof cmd, PY " %s/tests/calib/minmax_reference.py %s", PQ_SOURCE_DIR, dir);
    FILE *p = popen(cmd, "r");
    PQ_EXPECT(p != NULL);
    int rows = 0;
    char line[512];
    while (p && fgets(line, sizeof line, p)) {
        int i;
        double lo, hi, z;
        unsigned bits;
        if (sscanf(line, "%d %lf %lf %x %lf", &i, &lo, &hi, &bits, &z) != 5 || i < 0 || i >= n) {
            PQ_FAIL_AT("bad reference line: %s", line);
            continue;
        }
        rows++;
        const pq_tqc *q = list[i].tqc;
        uint32_t got_bits;
        memcpy(&got_bits, &q->scale[0], sizeof got_bits);
        PQ_EXPECT_EQ(q->state, PQ_TQC_STATE_ACTIVATED);
        PQ_EXPECT_EQ(q->n_channels, 1);
        if (got_bits != bits || q->offset[0] != (float)z)
            PQ_FAIL_AT("%s %s: scale %.9g (%08x) offset %g, numpy %08x offset %g (min %.9g max %.9g)",
                       platform, list[i].var, q->scale[0], got_bits, q->offset[0], bits, z, lo, hi);
        /* The scale is the range's: numpy's min/max give it back exactly. */
        float s, off;
        pq_obs_range_to_scale(lo, hi, q, 1, &s, &off);
        PQ_EXPECT(memcmp(&s, &q->scale[0], sizeof s) == 0);
    }
    int rc = p ? pclose(p) : -1;
    if (rc != -1 && WEXITSTATUS(rc) == 77) {
        fprintf(stderr, "skipped: %s has no numpy\n", PY);
        exit(77);
    }
    PQ_EXPECT_EQ(rc, 0);
    PQ_EXPECT_EQ(rows, n);
    fprintf(stderr, "%s: %d minmax activation scales equal numpy's bitwise\n", platform, rows);
done:
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    pq_executor_destroy(&ex);
    pq_graph_destroy(&g);
    free_batches(b, nb, 1);
}

PQ_TEST(minmax_scales_equal_numpy_trt_int8) { check_platform("trt_int8"); }
PQ_TEST(minmax_scales_equal_numpy_ort_qdq_int8) { check_platform("ort_qdq_int8"); }

PQ_TEST_MAIN()
