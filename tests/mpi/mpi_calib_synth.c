/* mpi_calib_synth.c - world-size invariance of distributed calibration on a seeded
 * synthetic stream (no model): observers (minmax, percentile, kl, mse; per tensor and per
 * channel; symmetric and asymmetric) fed batch by batch by the sharding rule, reduced with
 * the MPI reducer, scales written as hex. CTest runs it at 1-4 ranks and compares the files
 * byte for byte (run_mpi_test.cmake).
 *
 * usage: mpi_calib_synth --out FILE [--max-message BYTES] [--checkpoint FILE]
 *                        [--stop-after-pass P] [--digits FILE.h5] [--quiet]
 * Exit: 0 ok, 1 failure (every rank prints "rank R: error: <agreed message>"), 3 stopped
 * after pass P (the checkpoint is written). Env: PQ_TEST_FAIL_RANK / PQ_TEST_FAIL_BATCH
 * (agreed failure), PQ_TEST_ABORT_RANK (that rank calls pq_mpi_abort at its first batch). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq_mpi.h"

#define N_SAMPLES 157
#define BATCH 8
#define N_TENSORS 6
#define C 4

static int64_t n_batches(void) { return (N_SAMPLES + BATCH - 1) / BATCH; }

/* Tensor t of global batch b: [rows, C, 5, 6], a distribution per t, channel-dependent scale;
 * a function of (t, b) only. */
static pq_status make_tensor(int t, int64_t b, pq_tensor **out, pq_err *err)
{
    int64_t rows = N_SAMPLES - b * BATCH < BATCH ? N_SAMPLES - b * BATCH : BATCH;
    int64_t dims[4] = {rows, C, 5, 6};
    pq_status st = pq_tensor_create_uninit(PQ_DTYPE_FLOAT32, 4, dims, out, err);
    if (st != PQ_OK) return st;
    pq_rng r;
    pq_rng_seed(&r, 0x5eed0000ull + (uint64_t)t * 100003ull + (uint64_t)b);
    float *x = (*out)->data;
    for (int64_t i = 0; i < (*out)->numel; i++) {
        int64_t c = (i / 30) % C;
        double g = pq_rng_normal(&r), u = pq_rng_uniform(&r), v;
        switch (t) {
        case 0: v = g; break;                                  /* gaussian */
        case 1: v = g > 0 ? g : 0; break;                      /* relu */
        case 2: v = -log(1 - u) * 0.7 - 0.2; break;            /* skewed */
        case 3: v = 6 * u - 2; break;                          /* uniform */
        case 4: v = g / (0.05 + pq_rng_uniform(&r)); break;    /* heavy tail */
        default: v = g * (1 + c) + 0.3 * c; break;             /* per channel */
        }
        x[i] = (float)v;
    }
    return PQ_OK;
}

typedef struct obs_case {
    int tensor;
    const char *algo;
    unsigned policy;
    int bits_unsigned;
} obs_case;

#define SYM (PQ_QPOLICY_SYMMETRIC | PQ_QPOLICY_LINEAR)
#define ASYM (PQ_QPOLICY_ASYMMETRIC | PQ_QPOLICY_LINEAR)

static const char *algos[4] = {"minmax", "percentile", "kl", "mse"};

typedef struct run {
    pq_mpi *m;
    int n_obs;
    pq_observer *obs[64];
    pq_tqc tqc[64];
    char name[64][48];
} run;

static void fail_exit(pq_mpi *m, const pq_err *err)
{
    fprintf(stderr, "mpi_calib_synth rank %d: error: %s\n", pq_mpi_rank(m), err->msg);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL, *ckpt_path = NULL, *digits = NULL;
    long long max_msg = 0;
    int stop_after = 0, quiet = 0, rc = 1;
    pq_err err = {0};
    pq_status st = PQ_OK;
    run R;
    memset(&R, 0, sizeof R);
    pq_mpi_progress *prog = NULL;
    pq_mpi_ckpt *ck = NULL;
    double *slots = NULL, *partials = NULL, *gathered = NULL;
    uint8_t *dg = NULL, *dg_all = NULL;
    pq_h5_reader *reader = NULL;
    pq_mpi_source *src = NULL;
    FILE *out = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--max-message") && i + 1 < argc) max_msg = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--checkpoint") && i + 1 < argc) ckpt_path = argv[++i];
        else if (!strcmp(argv[i], "--stop-after-pass") && i + 1 < argc) stop_after = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--digits") && i + 1 < argc) digits = argv[++i];
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else {
            fprintf(stderr, "mpi_calib_synth: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (pq_mpi_init(&argc, &argv, &err) != PQ_OK || pq_mpi_create(NULL, &R.m, &err) != PQ_OK) {
        fprintf(stderr, "mpi_calib_synth: %s\n", err.msg);
        return 1;
    }
    pq_mpi *m = R.m;
    int rank = pq_mpi_rank(m), size = pq_mpi_size(m);
    pq_log_set_rank(rank);
    if (max_msg > 0) pq_mpi_set_max_message(m, (size_t)max_msg);
    int64_t nb = n_batches();
    int64_t mine = pq_mpi_shard_count(nb, rank, size);

    /* ---- observers (local failures are agreed before any data moves) */
    pq_status local = PQ_OK;
    for (int t = 0; t < N_TENSORS && local == PQ_OK; t++) {
        for (int a = 0; a < 4 && local == PQ_OK; a++) {
            for (int v = 0; v < 3 && local == PQ_OK; v++) {
                /* v: 0 symmetric int8 per tensor, 1 asymmetric uint8 per tensor, 2 per channel */
                if (v == 1 && t != 1 && t != 2) continue;
                if (v == 2 && t != 5) continue;
                int k = R.n_obs++;
                pq_tqc *q = &R.tqc[k];
                q->policy = (v == 1 ? ASYM : SYM) |
                            (v == 2 ? PQ_QPOLICY_PER_CHANNEL : PQ_QPOLICY_PER_TENSOR);
                q->num_bits = 8;
                q->quant_min = v == 1 ? 0 : -128;
                q->quant_max = v == 1 ? 255 : 127;
                q->channel_axis = 1;
                snprintf(R.name[k], sizeof R.name[k], "t%d.%s.%s", t, algos[a],
                         v == 0 ? "sym" : v == 1 ? "asym" : "perchannel");
                pq_observer_opts o = {.threads = 1};
                local = pq_observer_create(algos[a], q, R.name[k], C, &o, &R.obs[k], &err);
            }
        }
    }
    if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;

    /* ---- a chunked broadcast of a buffer larger than the message bound */
    {
        size_t blen = 100003;
        uint8_t *b = NULL;
        uint8_t want[PQ_SHA256_BYTES], got[PQ_SHA256_BYTES];
        pq_rng r;
        pq_rng_seed(&r, 7);
        uint8_t *ref = malloc(blen);
        for (size_t i = 0; ref && i < blen; i++) ref[i] = (uint8_t)pq_rng_next(&r);
        pq_sha256(ref, blen, want);
        if (rank == 0) b = ref;
        local = ref ? PQ_OK : pq_err_set(&err, PQ_ERR_NOMEM, "out of memory");
        if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
        size_t n = rank == 0 ? blen : 0;
        if ((st = pq_mpi_bcast_bytes(m, 0, (void **)&b, &n, &err)) != PQ_OK) goto done;
        pq_sha256(b, n, got);
        local = n == blen && memcmp(want, got, sizeof got) == 0
                    ? PQ_OK
                    : pq_err_set(&err, PQ_ERR_INTERNAL, "rank %d: broadcast bytes differ", rank);
        if (rank != 0) pq_free(b);
        free(ref);
        if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
    }

    /* ---- data digest: per-batch digests gathered in batch order */
    uint8_t data_digest[PQ_SHA256_BYTES], model_digest[PQ_SHA256_BYTES], cfg_digest[PQ_SHA256_BYTES];
    dg = pq_malloc((size_t)(mine + 1) * PQ_SHA256_BYTES);
    local = dg ? PQ_OK : pq_err_set(&err, PQ_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; local == PQ_OK && j < mine; j++) {
        pq_sha256_ctx c;
        pq_sha256_init(&c);
        for (int t = 0; t < N_TENSORS && local == PQ_OK; t++) {
            pq_tensor *x = NULL;
            local = make_tensor(t, rank + j * size, &x, &err);
            if (x) pq_sha256_update(&c, x->data, x->nbytes);
            pq_tensor_destroy(&x);
        }
        pq_sha256_final(&c, dg + (size_t)j * PQ_SHA256_BYTES);
    }
    if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
    dg_all = pq_malloc((size_t)nb * PQ_SHA256_BYTES);
    if (!dg_all) {
        st = pq_err_set(&err, PQ_ERR_NOMEM, "out of memory");
        goto done; /* every rank allocates the same size; a failure here is not agreed */
    }
    if ((st = pq_mpi_gather_by_batch(m, nb, PQ_SHA256_BYTES, dg, dg_all, &err)) != PQ_OK) goto done;
    {
        pq_sha256_ctx c;
        pq_sha256_init(&c);
        for (int64_t b = 0; b < nb; b++) pq_h5_digest_combine(&c, dg_all + (size_t)b * PQ_SHA256_BYTES);
        pq_sha256_final(&c, data_digest);
        const char *model_id = "synthetic stream, no model";
        pq_sha256(model_id, strlen(model_id), model_digest);
        char cfg[128];
        snprintf(cfg, sizeof cfg, "samples=%d batch=%d tensors=%d observers=%d", N_SAMPLES, BATCH,
                 N_TENSORS, R.n_obs);
        pq_sha256(cfg, strlen(cfg), cfg_digest);
    }

    /* ---- checkpoint */
    int n_done = 0;
    if (ckpt_path &&
        (st = pq_mpi_ckpt_load(m, ckpt_path, model_digest, cfg_digest, data_digest, &ck, &n_done,
                               &err)) != PQ_OK)
        goto done;

    if ((st = pq_mpi_progress_create(m, N_SAMPLES, BATCH, 2, quiet, NULL, 1.0, &prog, &err)) != PQ_OK)
        goto done;

    /* ---- passes */
    for (int pass = 1; pass <= 2; pass++) {
        pq_obs_segment segs[64 * PQ_OBS_MAX_SEGMENTS];
        int n_segs = 0;
        pq_mpi_progress_begin_pass(prog, pass);
        local = PQ_OK;
        if (pass > n_done) {
            for (int64_t b = rank; b < nb && local == PQ_OK; b += size) {
                const char *ab = getenv("PQ_TEST_ABORT_RANK");
                if (ab && atoi(ab) == rank) {
                    pq_err_set(&err, PQ_ERR_INTERNAL, "rank %d: injected abort at batch %" PRId64,
                               rank, b);
                    pq_mpi_abort(m, &err);
                }
                local = pq_mpi_test_fail(m, b, &err);
                for (int t = 0; t < N_TENSORS && local == PQ_OK; t++) {
                    pq_tensor *x = NULL;
                    local = make_tensor(t, b, &x, &err);
                    for (int k = 0; k < R.n_obs && local == PQ_OK; k++)
                        if (pq_observer_pass(R.obs[k]) == pass && strncmp(R.name[k], "t", 1) == 0 &&
                            R.name[k][1] - '0' == t)
                            local = pq_observer_observe(R.obs[k], x, &err);
                    pq_tensor_destroy(&x);
                }
                if (local == PQ_OK) pq_mpi_progress_batch_done(prog, b);
            }
        }
        for (int k = 0; k < R.n_obs; k++)
            if (pq_observer_pass(R.obs[k]) == pass) n_segs += pq_observer_state(R.obs[k], segs + n_segs);
        /* Failure rule: reduce anyway, then agree. */
        if (pass > n_done) {
            pq_status rs = pq_mpi_allreduce_segments(m, segs, n_segs, &err);
            if (local == PQ_OK) local = rs;
        } else {
            local = pq_mpi_ckpt_restore(m, ck, pass, segs, n_segs, &err);
        }
        if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
        if (ckpt_path && pass > n_done &&
            (st = pq_mpi_ckpt_save(m, ck, pass, segs, n_segs, &err)) != PQ_OK)
            goto done;
        local = PQ_OK;
        for (int k = 0; k < R.n_obs && local == PQ_OK; k++)
            if (pq_observer_pass(R.obs[k]) == pass) local = pq_observer_end_pass(R.obs[k], &err);
        if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
        if (stop_after == pass) {
            rc = 3;
            goto done;
        }
    }

    /* ---- float sums two exact ways: per-batch slots reduced by F64 SUM (one non-zero per
     * element), and partials gathered by batch; both added in batch order */
    slots = pq_calloc((size_t)nb, sizeof(double));
    partials = pq_calloc((size_t)(mine + 1), sizeof(double));
    gathered = pq_calloc((size_t)nb, sizeof(double));
    local = slots && partials && gathered ? PQ_OK : pq_err_set(&err, PQ_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; local == PQ_OK && j < mine; j++) {
        pq_tensor *x = NULL;
        local = make_tensor(4, rank + j * size, &x, &err);
        double s = 0;
        for (int64_t i = 0; x && i < x->numel; i++) s += PQ_DATA(x, float)[i];
        pq_tensor_destroy(&x);
        partials[j] = s;
        slots[rank + j * size] = s;
    }
    if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
    {
        pq_obs_segment seg = {slots, nb, PQ_OBS_F64, PQ_OBS_RULE_SUM};
        if ((st = pq_mpi_allreduce_segments(m, &seg, 1, &err)) != PQ_OK) goto done;
        if ((st = pq_mpi_gather_f64_by_batch(m, nb, 1, partials, gathered, &err)) != PQ_OK) goto done;
    }

    /* ---- optional: the HDF5 source over the digits data */
    double digits_sum = 0;
    uint8_t digits_digest[PQ_SHA256_BYTES] = {0};
    if (digits) {
        pq_h5_input_spec spec;
        pq_h5_input_spec_init(&spec, "images", "/train/images");
        MPI_Comm comm = pq_mpi_comm(m);
        if ((st = pq_h5_reader_open(digits, 1, &spec, 50, 0, PQ_H5_NAN_ERROR, &comm, &reader,
                                    &err)) != PQ_OK)
            goto done;
        int64_t dnb = pq_h5_reader_n_batches(reader);
        int64_t dmine = pq_mpi_shard_count(dnb, rank, size);
        double *dp = pq_calloc((size_t)(dmine + 1), sizeof(double));
        double *da = pq_calloc((size_t)dnb, sizeof(double));
        local = dp && da ? PQ_OK : pq_err_set(&err, PQ_ERR_NOMEM, "out of memory");
        if (local == PQ_OK) local = pq_mpi_source_create(m, reader, NULL, &src, &err);
        pq_calib_source cs = {0};
        if (local == PQ_OK) cs = pq_mpi_source_iface(src);
        for (int64_t j = 0; local == PQ_OK;) {
            int64_t b = -1;
            int fin = 0;
            pq_tensor *x = NULL;
            local = cs.next(cs.ctx, &b, 1, &x, &fin, &err);
            if (local != PQ_OK || fin) break;
            if (b != rank + j * size)
                local = pq_err_set(&err, PQ_ERR_INTERNAL, "rank %d: got batch %" PRId64, rank, b);
            double s = 0;
            for (int64_t i = 0; i < x->numel; i++) s += PQ_DATA(x, float)[i];
            dp[j++] = s;
            pq_tensor_destroy(&x);
        }
        st = pq_mpi_agree(m, local, &err);
        if (st == PQ_OK) st = pq_mpi_gather_f64_by_batch(m, dnb, 1, dp, da, &err);
        if (st == PQ_OK) st = pq_mpi_source_data_digest(src, digits_digest, &err);
        for (int64_t b = 0; st == PQ_OK && b < dnb; b++) digits_sum += da[b];
        pq_free(dp);
        pq_free(da);
        if (st != PQ_OK) goto done;
    }

    /* ---- scales, on every rank; rank 0 writes them */
    local = PQ_OK;
    for (int k = 0; k < R.n_obs && local == PQ_OK; k++)
        local = pq_observer_compute(R.obs[k], &R.tqc[k], &err);
    if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
    local = PQ_OK;
    if (rank == 0 && out_path) {
        out = fopen(out_path, "w");
        if (!out) {
            local = pq_err_set(&err, PQ_ERR_IO, "%s: cannot create", out_path);
        } else {
            for (int k = 0; k < R.n_obs; k++) {
                fprintf(out, "%s", R.name[k]);
                for (int64_t c = 0; c < R.tqc[k].n_channels; c++) {
                    uint32_t s, o;
                    memcpy(&s, &R.tqc[k].scale[c], 4);
                    memcpy(&o, &R.tqc[k].offset[c], 4);
                    double lo = 0, hi = 0;
                    pq_observer_clip_range(R.obs[k], c, &lo, &hi, &err);
                    uint64_t l, h;
                    memcpy(&l, &lo, 8);
                    memcpy(&h, &hi, 8);
                    fprintf(out, " %08" PRIx32 ":%08" PRIx32 ":%016" PRIx64 ":%016" PRIx64, s, o, l, h);
                }
                fputc('\n', out);
            }
            double s1 = 0, s2 = 0;
            for (int64_t b = 0; b < nb; b++) {
                s1 += slots[b];
                s2 += gathered[b];
            }
            uint64_t h1, h2, h3;
            memcpy(&h1, &s1, 8);
            memcpy(&h2, &s2, 8);
            memcpy(&h3, &digits_sum, 8);
            char hex[PQ_SHA256_HEX_CHARS];
            fprintf(out, "sum.slots %016" PRIx64 "\nsum.gathered %016" PRIx64 "\n", h1, h2);
            fprintf(out, "data.sha256 %s\n", pq_sha256_hex(data_digest, hex));
            if (digits)
                fprintf(out, "digits.sum %016" PRIx64 "\ndigits.sha256 %s\n", h3,
                        pq_sha256_hex(digits_digest, hex));
            if (fclose(out) != 0) local = pq_err_set(&err, PQ_ERR_IO, "%s: write failed", out_path);
            out = NULL;
        }
    }
    if ((st = pq_mpi_agree(m, local, &err)) != PQ_OK) goto done;
    rc = 0;
done:
    if (st != PQ_OK) {
        fail_exit(m, &err);
        rc = 1;
    }
    pq_mpi_progress_destroy(&prog);
    pq_mpi_source_destroy(&src);
    pq_h5_reader_close(&reader);
    pq_mpi_ckpt_destroy(&ck);
    for (int k = 0; k < R.n_obs; k++) {
        pq_observer_destroy(&R.obs[k]);
        pq_tqc_clear(&R.tqc[k]);
    }
    pq_free(slots);
    pq_free(partials);
    pq_free(gathered);
    pq_free(dg);
    pq_free(dg_all);
    pq_mpi_destroy(&R.m);
    pq_mpi_finalize();
    return rc;
}
