/* mpi_source.c - this rank's share of the calibration batches (a pq_calib_source over an
 * HDF5 reader), the data digest, and the progress reporter. */
#include "mpi_internal.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ progress */

#define PROGRESS_TAG 17
#define PROGRESS_SEND_INTERVAL 0.25 /* seconds between reports of a non-root rank */

typedef struct progress_send {
    MPI_Request req;
    int64_t msg[2]; /* pass, samples done by the sender in that pass */
} progress_send;

struct pq_mpi_progress {
    pq_mpi *m;
    MPI_Comm comm;
    int64_t n_samples, batch_size, n_batches;
    int n_passes, pass, quiet, tty;
    FILE *to;
    double interval, t_start, last_print;
    /* rank 0 */
    int64_t *done;       /* [n_passes][size] samples done per rank and pass */
    int64_t *received;   /* [size] reports received */
    int *final_printed;  /* [n_passes] */
    /* other ranks */
    int64_t local_done;  /* samples of this pass done here */
    int64_t local_total; /* samples of this rank's batches */
    double last_send;
    progress_send *sends;
    int n_sends, cap_sends;
    int64_t n_sent;
};

static int64_t batch_rows(const pq_mpi_progress *p, int64_t b)
{
    int64_t lo = b * p->batch_size, hi = lo + p->batch_size;
    if (hi > p->n_samples) hi = p->n_samples;
    return hi > lo ? hi - lo : 0;
}

pq_status pq_mpi_progress_create(pq_mpi *m, int64_t n_samples, int64_t batch_size,
                                 int n_passes, int quiet, FILE *to, double interval,
                                 pq_mpi_progress **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_mpi_progress *p = NULL;
    *out = NULL;
    PQ_CHECK(n_samples >= 0 && batch_size >= 1 && n_passes >= 1, PQ_ERR_INVALID,
             "progress: %" PRId64 " samples, batch size %" PRId64 ", %d passes", n_samples,
             batch_size, n_passes);
    p = pq_calloc(1, sizeof *p);
    PQ_CHECK(p, PQ_ERR_NOMEM, "progress: out of memory");
    p->m = m;
    p->comm = MPI_COMM_NULL;
    p->n_samples = n_samples;
    p->batch_size = batch_size;
    p->n_batches = (n_samples + batch_size - 1) / batch_size;
    p->n_passes = n_passes;
    p->quiet = quiet;
    p->to = to ? to : stderr;
    p->tty = isatty(fileno(p->to));
    p->interval = interval > 0 ? interval : 5.0;
    p->t_start = p->last_print = pq_time_now();
    if (m->rank == 0) {
        p->done = pq_calloc((size_t)n_passes * (size_t)m->size, sizeof(int64_t));
        p->received = pq_calloc((size_t)m->size, sizeof(int64_t));
        p->final_printed = pq_calloc((size_t)n_passes, sizeof(int));
        PQ_CHECK(p->done && p->received && p->final_printed, PQ_ERR_NOMEM,
                 "progress: out of memory");
    }
    for (int64_t b = m->rank; b < p->n_batches; b += m->size) p->local_total += batch_rows(p, b);
    st = pq_mpi_agree(m, PQ_OK, err);
    if (st != PQ_OK) goto fail;
    PQ_MPI(MPI_Comm_dup, (m->comm, &p->comm));
    PQ_MPI(MPI_Comm_set_errhandler, (p->comm, MPI_ERRORS_RETURN));
    *out = p;
    return PQ_OK;
fail:
    if (p) {
        if (p->comm != MPI_COMM_NULL) MPI_Comm_free(&p->comm);
        pq_free(p->done);
        pq_free(p->received);
        pq_free(p->final_printed);
        pq_free(p);
    }
    return st;
}

static void fmt_time(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 359999) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static void progress_print(pq_mpi_progress *p, int force)
{
    if (p->quiet || p->m->rank != 0 || p->pass < 1 || p->pass > p->n_passes) return;
    int64_t total = 0;
    for (int r = 0; r < p->m->size; r++) total += p->done[(size_t)(p->pass - 1) * p->m->size + r];
    int complete = total >= p->n_samples;
    if (complete && p->final_printed[p->pass - 1]) return;
    double now = pq_time_now();
    double gap = p->tty ? 0.1 : p->interval;
    if (!force && !complete && now - p->last_print < gap) return;
    p->last_print = now;
    double el = now - p->t_start;
    double rate = el > 0 ? (double)total / el : 0;
    char eta[32];
    fmt_time(rate > 0 ? (double)(p->n_samples - total) / rate : -1, eta, sizeof eta);
    double pct = p->n_samples > 0 ? 100.0 * (double)total / (double)p->n_samples : 100.0;
    fprintf(p->to, "%spass %d/%d: %" PRId64 "/%" PRId64 " samples (%.1f%%), %.1f samples/s, ETA %s%s",
            p->tty ? "\r" : "", p->pass, p->n_passes, total, p->n_samples, pct, rate, eta,
            p->tty ? (complete ? "\n" : "") : "\n");
    fflush(p->to);
    if (complete) p->final_printed[p->pass - 1] = 1;
}

static void fold_report(pq_mpi_progress *p, int src, const int64_t msg[2])
{
    p->received[src]++;
    if (msg[0] < 1 || msg[0] > p->n_passes) return;
    int64_t *d = &p->done[(size_t)(msg[0] - 1) * p->m->size + src];
    if (msg[1] > *d) *d = msg[1];
}

void pq_mpi_progress_poll(pq_mpi_progress *p)
{
    if (!p) return;
    if (p->m->rank == 0) {
        for (;;) {
            int flag = 0;
            MPI_Status status;
            if (MPI_Iprobe(MPI_ANY_SOURCE, PROGRESS_TAG, p->comm, &flag, &status) != MPI_SUCCESS ||
                !flag)
                break;
            int64_t msg[2];
            if (MPI_Recv(msg, 2, MPI_INT64_T, status.MPI_SOURCE, PROGRESS_TAG, p->comm,
                         MPI_STATUS_IGNORE) != MPI_SUCCESS)
                break;
            fold_report(p, status.MPI_SOURCE, msg);
        }
        progress_print(p, 0);
        return;
    }
    /* Complete finished sends, keeping the array compact. */
    int w = 0;
    for (int i = 0; i < p->n_sends; i++) {
        int flag = 0;
        if (MPI_Test(&p->sends[i].req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) flag = 1;
        if (!flag) p->sends[w++] = p->sends[i];
    }
    p->n_sends = w;
}

void pq_mpi_progress_begin_pass(pq_mpi_progress *p, int pass)
{
    if (!p) return;
    p->pass = pass;
    p->local_done = 0;
    p->t_start = p->last_print = pq_time_now();
}

void pq_mpi_progress_batch_done(pq_mpi_progress *p, int64_t b)
{
    if (!p || p->pass < 1) return;
    int64_t rows = batch_rows(p, b);
    p->local_done += rows;
    if (p->m->rank == 0) {
        if (p->pass <= p->n_passes) p->done[(size_t)(p->pass - 1) * p->m->size] = p->local_done;
        pq_mpi_progress_poll(p);
        return;
    }
    pq_mpi_progress_poll(p);
    double now = pq_time_now();
    if (now - p->last_send < PROGRESS_SEND_INTERVAL && p->local_done < p->local_total) return;
    if (p->n_sends == p->cap_sends) {
        int cap = p->cap_sends ? 2 * p->cap_sends : 8;
        progress_send *ns = pq_realloc(p->sends, sizeof *ns * (size_t)cap);
        if (!ns) return; /* progress is best effort */
        p->sends = ns;
        p->cap_sends = cap;
    }
    progress_send *s = &p->sends[p->n_sends];
    s->msg[0] = p->pass;
    s->msg[1] = p->local_done;
    if (MPI_Isend(s->msg, 2, MPI_INT64_T, 0, PROGRESS_TAG, p->comm, &s->req) != MPI_SUCCESS) return;
    p->n_sends++;
    p->n_sent++;
    p->last_send = now;
}

void pq_mpi_progress_destroy(pq_mpi_progress **pp)
{
    if (!pp || !*pp) return;
    pq_mpi_progress *p = *pp;
    int ok = 1;
    for (int i = 0; i < p->n_sends; i++)
        if (MPI_Wait(&p->sends[i].req, MPI_STATUS_IGNORE) != MPI_SUCCESS) ok = 0;
    /* Each rank says how many reports it sent, so rank 0 receives exactly those (no
     * message is left unmatched, none is waited for that was never sent). */
    int64_t *sent = p->m->rank == 0 ? pq_calloc((size_t)p->m->size, sizeof(int64_t)) : NULL;
    int64_t mine = p->n_sent;
    if (p->m->rank == 0 && !sent) ok = 0;
    static int64_t dummy[1];
    if (MPI_Gather(&mine, 1, MPI_INT64_T, sent ? sent : dummy, 1, MPI_INT64_T, 0, p->comm) !=
        MPI_SUCCESS)
        ok = 0;
    if (p->m->rank == 0 && ok) {
        for (int r = 1; r < p->m->size; r++) {
            while (p->received[r] < sent[r]) {
                int64_t msg[2];
                if (MPI_Recv(msg, 2, MPI_INT64_T, r, PROGRESS_TAG, p->comm, MPI_STATUS_IGNORE) !=
                    MPI_SUCCESS)
                    break;
                fold_report(p, r, msg);
            }
        }
        progress_print(p, 1);
        if (p->tty && !p->quiet && p->pass >= 1 && p->pass <= p->n_passes &&
            !p->final_printed[p->pass - 1])
            fputc('\n', p->to);
    }
    pq_free(sent);
    if (p->comm != MPI_COMM_NULL) MPI_Comm_free(&p->comm);
    pq_free(p->sends);
    pq_free(p->done);
    pq_free(p->received);
    pq_free(p->final_printed);
    pq_free(p);
    *pp = NULL;
}

/* ------------------------------------------------------------------ source */

struct pq_mpi_source {
    pq_mpi *m;
    pq_h5_reader *reader;
    pq_mpi_progress *progress;
    int pass;              /* 1-based */
    int64_t n_batches;
    int64_t k;             /* this rank's next local batch */
    int64_t last_batch;    /* global index handed out and not yet reported done, or -1 */
    uint8_t *digests;      /* [shard count][32], pass 1 */
    int64_t n_digested;
};

pq_status pq_mpi_source_create(pq_mpi *m, pq_h5_reader *reader, pq_mpi_progress *progress,
                               pq_mpi_source **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_mpi_source *s = NULL;
    *out = NULL;
    s = pq_calloc(1, sizeof *s);
    PQ_CHECK(s, PQ_ERR_NOMEM, "mpi source: out of memory");
    s->m = m;
    s->reader = reader;
    s->progress = progress;
    s->pass = 1;
    s->n_batches = pq_h5_reader_n_batches(reader);
    s->last_batch = -1;
    int64_t mine = pq_mpi_shard_count(s->n_batches, m->rank, m->size);
    s->digests = pq_malloc((size_t)(mine > 0 ? mine : 1) * PQ_SHA256_BYTES);
    PQ_CHECK(s->digests, PQ_ERR_NOMEM, "mpi source: out of memory");
    pq_mpi_progress_begin_pass(progress, 1);
    *out = s;
    return PQ_OK;
fail:
    pq_mpi_source_destroy(&s);
    return st;
}

void pq_mpi_source_destroy(pq_mpi_source **s)
{
    if (!s || !*s) return;
    pq_free((*s)->digests);
    pq_free(*s);
    *s = NULL;
}

static void report_last(pq_mpi_source *s)
{
    if (s->last_batch >= 0) pq_mpi_progress_batch_done(s->progress, s->last_batch);
    s->last_batch = -1;
}

static pq_status source_next(void *ctx, int64_t *batch_index, int n_inputs, pq_tensor **inputs,
                             int *done, pq_err *err)
{
    pq_mpi_source *s = ctx;
    pq_status st = PQ_OK;
    report_last(s);
    *done = 0;
    int64_t b = s->m->rank + s->k * s->m->size;
    if (b >= s->n_batches) {
        *done = 1;
        return PQ_OK;
    }
    PQ_TRY(pq_mpi_test_fail(s->m, b, err));
    PQ_CHECK(n_inputs == pq_h5_reader_n_inputs(s->reader), PQ_ERR_INVALID,
             "mpi source: %d inputs asked, the data has %d", n_inputs,
             pq_h5_reader_n_inputs(s->reader));
    uint8_t *dg = s->pass == 1 ? s->digests + (size_t)s->k * PQ_SHA256_BYTES : NULL;
    PQ_TRY(pq_h5_reader_read(s->reader, b, inputs, dg, err));
    s->k++;
    if (s->pass == 1) s->n_digested = s->k;
    s->last_batch = b;
    *batch_index = b;
    return PQ_OK;
fail:
    pq_err_prefix(err, "rank %d: batch %" PRId64, s->m->rank, b);
    return st;
}

static pq_status source_rewind(void *ctx, pq_err *err)
{
    (void)err;
    pq_mpi_source *s = ctx;
    report_last(s);
    s->k = 0;
    s->pass++;
    pq_mpi_progress_begin_pass(s->progress, s->pass);
    return PQ_OK;
}

pq_calib_source pq_mpi_source_iface(pq_mpi_source *s)
{
    pq_calib_source src = {source_next, source_rewind, s};
    return src;
}

static pq_status digest_of(pq_mpi *m, int64_t n_batches, const uint8_t *local,
                           uint8_t digest[PQ_SHA256_BYTES], pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t *all = pq_malloc((size_t)(n_batches > 0 ? n_batches : 1) * PQ_SHA256_BYTES);
    pq_status local_st = all ? PQ_OK : pq_err_set(err, PQ_ERR_NOMEM, "data digest: out of memory");
    PQ_TRY(pq_mpi_agree(m, local_st, err));
    PQ_TRY(pq_mpi_gather_by_batch(m, n_batches, PQ_SHA256_BYTES, local, all, err));
    pq_sha256_ctx c;
    pq_sha256_init(&c);
    for (int64_t b = 0; b < n_batches; b++) pq_h5_digest_combine(&c, all + (size_t)b * PQ_SHA256_BYTES);
    pq_sha256_final(&c, digest);
fail:
    pq_free(all);
    return st;
}

pq_status pq_mpi_source_data_digest(pq_mpi_source *s, uint8_t digest[PQ_SHA256_BYTES],
                                    pq_err *err)
{
    pq_status st = PQ_OK;
    pq_status local = PQ_OK;
    if (s->n_digested != pq_mpi_shard_count(s->n_batches, s->m->rank, s->m->size))
        local = pq_err_set(err, PQ_ERR_INVALID,
                           "data digest: rank %d read %" PRId64 " of its batches in pass 1",
                           s->m->rank, s->n_digested);
    PQ_TRY(pq_mpi_agree(s->m, local, err));
    PQ_TRY(digest_of(s->m, s->n_batches, s->digests, digest, err));
fail:
    return st;
}

pq_status pq_mpi_data_digest(pq_mpi *m, pq_h5_reader *reader, uint8_t digest[PQ_SHA256_BYTES],
                             pq_err *err)
{
    pq_status st = PQ_OK, local = PQ_OK;
    int64_t n_batches = pq_h5_reader_n_batches(reader);
    int64_t mine = pq_mpi_shard_count(n_batches, m->rank, m->size);
    int n_in = pq_h5_reader_n_inputs(reader);
    uint8_t *dg = pq_malloc((size_t)(mine > 0 ? mine : 1) * PQ_SHA256_BYTES);
    pq_tensor *t[16] = {0};
    if (!dg) local = pq_err_set(err, PQ_ERR_NOMEM, "data digest: out of memory");
    else if (n_in > 16) local = pq_err_set(err, PQ_ERR_UNSUPPORTED, "data digest: %d inputs", n_in);
    for (int64_t j = 0; local == PQ_OK && j < mine; j++) {
        local = pq_h5_reader_read(reader, m->rank + j * m->size, t, dg + (size_t)j * PQ_SHA256_BYTES,
                                  err);
        for (int i = 0; i < n_in && i < 16; i++) pq_tensor_destroy(&t[i]);
    }
    if (local != PQ_OK) pq_err_prefix(err, "rank %d", m->rank);
    PQ_TRY(pq_mpi_agree(m, local, err));
    PQ_TRY(digest_of(m, n_batches, dg, digest, err));
fail:
    pq_free(dg);
    return st;
}
