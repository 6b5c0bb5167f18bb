/* mpi_core.c - the MPI context, error agreement, the segment all-reduce, gathers by batch,
 * byte broadcast and the test failure hook. */
#include "mpi_internal.h"

#include <time.h>

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int g_started_mpi = 0;

pq_status pq__mpi_error(pq_err *err, const char *call, int rc)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return pq_err_set(err, PQ_ERR_MPI, "%s: %s", call, text);
}

pq_status pq_mpi_init(int *argc, char ***argv, pq_err *err)
{
    int inited = 0, provided = 0;
    pq_status st = PQ_OK;
    PQ_MPI(MPI_Initialized, (&inited));
    if (inited) return PQ_OK;
    PQ_MPI(MPI_Init_thread, (argc, argv, MPI_THREAD_MULTIPLE, &provided));
    g_started_mpi = 1;
    return PQ_OK;
fail:
    return st;
}

void pq_mpi_finalize(void)
{
    int finalized = 1;
    if (!g_started_mpi) return;
    if (MPI_Finalized(&finalized) == MPI_SUCCESS && !finalized) MPI_Finalize();
    g_started_mpi = 0;
}

static int env_int(const char *name, int64_t *out)
{
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0') return 0;
    *out = v;
    return 1;
}

/* CPU time (user + system) of this process so far, all threads, seconds. */
static double process_cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pq_mpi_phase_mark(pq_mpi *m, const char *phase)
{
    if (!m || !m->phase_times) return;
    double wall = pq_time_now(), cpu = process_cpu_seconds();
    if (m->rank == 0)
        fprintf(stderr, "ppq-calib: phase %-14s %8.3f s wall %8.3f s cpu (rank 0 of %d)\n", phase,
                wall - m->phase_wall, cpu - m->phase_cpu, m->size);
    m->phase_wall = wall;
    m->phase_cpu = cpu;
}

pq_status pq_mpi_create(const MPI_Comm *comm, pq_mpi **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_mpi *m = NULL;
    *out = NULL;
    m = pq_calloc(1, sizeof *m);
    PQ_CHECK(m, PQ_ERR_NOMEM, "mpi: out of memory");
    m->comm = MPI_COMM_NULL;
    PQ_MPI(MPI_Comm_dup, (comm ? *comm : MPI_COMM_WORLD, &m->comm));
    PQ_MPI(MPI_Comm_set_errhandler, (m->comm, MPI_ERRORS_RETURN));
    PQ_MPI(MPI_Comm_rank, (m->comm, &m->rank));
    PQ_MPI(MPI_Comm_size, (m->comm, &m->size));
    m->max_message = PQ_MPI_DEFAULT_MAX_MESSAGE;
    int64_t v = -1;
    m->fail_rank = env_int("PQ_TEST_FAIL_RANK", &v) ? (int)v : -1;
    v = 0;
    m->fail_batch = env_int("PQ_TEST_FAIL_BATCH", &v) ? v : 0;
    v = 0;
    m->phase_times = env_int("PQ_PHASE_TIMES", &v) && v > 0;
    m->phase_wall = pq_time_now();
    m->phase_cpu = process_cpu_seconds();
    *out = m;
    return PQ_OK;
fail:
    pq_mpi_destroy(&m);
    return st;
}

void pq_mpi_destroy(pq_mpi **m)
{
    if (!m || !*m) return;
    if ((*m)->comm != MPI_COMM_NULL) MPI_Comm_free(&(*m)->comm);
    pq_free(*m);
    *m = NULL;
}

int pq_mpi_rank(const pq_mpi *m) { return m->rank; }
int pq_mpi_size(const pq_mpi *m) { return m->size; }
MPI_Comm pq_mpi_comm(const pq_mpi *m) { return m->comm; }

void pq_mpi_set_max_message(pq_mpi *m, size_t bytes)
{
    m->max_message = bytes < 64 ? 64 : bytes;
}

size_t pq_mpi_max_message(const pq_mpi *m) { return m->max_message; }

/* Elements of 8 bytes per message: the bound, at least 8, at most INT_MAX. */
static int64_t chunk_elems(const pq_mpi *m)
{
    size_t e = m->max_message / 8;
    if (e < 8) e = 8;
    if (e > (size_t)INT_MAX) e = (size_t)INT_MAX;
    return (int64_t)e;
}

/* ------------------------------------------------------------------ agreement */

typedef struct agree_msg {
    int code;
    char msg[sizeof(((pq_err *)0)->msg)];
} agree_msg;

pq_status pq_mpi_agree(pq_mpi *m, pq_status local, pq_err *err)
{
    pq_err scratch = {0};
    if (!err) err = &scratch;
    int v[2] = {(int)local, local != PQ_OK ? m->size - m->rank : 0};
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT, MPI_MAX, m->comm);
    if (rc != MPI_SUCCESS) {
        pq__mpi_error(err, "MPI_Allreduce", rc);
        pq_err_prefix(err, "rank %d: error agreement", m->rank);
        return PQ_ERR_MPI;
    }
    if (v[1] == 0) return PQ_OK;
    int root = m->size - v[1];
    agree_msg am;
    memset(&am, 0, sizeof am);
    if (m->rank == root) {
        am.code = (int)local;
        snprintf(am.msg, sizeof am.msg, "%s", err->msg[0] ? err->msg : pq_status_text(local));
    }
    rc = MPI_Bcast(&am, (int)sizeof am, MPI_BYTE, root, m->comm);
    if (rc != MPI_SUCCESS) {
        pq__mpi_error(err, "MPI_Bcast", rc);
        pq_err_prefix(err, "rank %d: error agreement", m->rank);
        return PQ_ERR_MPI;
    }
    am.msg[sizeof am.msg - 1] = '\0';
    if (am.code <= PQ_OK || am.code >= PQ_STATUS_COUNT) am.code = PQ_ERR_INTERNAL;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "rank %d: ", root);
    if (strncmp(am.msg, prefix, strlen(prefix)) == 0)
        return pq_err_set(err, (pq_status)am.code, "%s", am.msg);
    return pq_err_set(err, (pq_status)am.code, "rank %d: %s", root, am.msg);
}

void pq_mpi_abort(pq_mpi *m, const pq_err *err)
{
    fprintf(stderr, "ppq-calib: rank %d: %s (aborting the job)\n", m ? m->rank : -1,
            err && err->msg[0] ? err->msg : "fatal error");
    fflush(stderr);
    MPI_Abort(m ? m->comm : MPI_COMM_WORLD, 1);
    abort();
}

/* ------------------------------------------------------------------ segment all-reduce */

#define N_GROUPS 6 /* type (F64, I64) x rule (MIN, MAX, SUM) */

static uint64_t fnv1a(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xffu;
        h *= 1099511628211ull;
    }
    return h;
}

static MPI_Op group_op(int g)
{
    int rule = g % 3;
    return rule == PQ_OBS_RULE_MIN ? MPI_MIN : rule == PQ_OBS_RULE_MAX ? MPI_MAX : MPI_SUM;
}

static MPI_Datatype group_type(int g) { return g / 3 == PQ_OBS_F64 ? MPI_DOUBLE : MPI_INT64_T; }

/* Copies up to `cap` elements of group g starting at (*seg, *off) between the segments and
 * buf (to_buf: pack, else unpack), advancing the cursor; returns the elements moved. */
static int64_t walk_group(pq_obs_segment *segs, int n, int g, int *seg, int64_t *off,
                          uint8_t *buf, int64_t cap, int to_buf)
{
    int64_t moved = 0;
    while (*seg < n && moved < cap) {
        pq_obs_segment *s = &segs[*seg];
        if ((int)s->type * 3 + (int)s->rule != g || *off >= s->count) {
            (*seg)++;
            *off = 0;
            continue;
        }
        int64_t take = s->count - *off;
        if (take > cap - moved) take = cap - moved;
        uint8_t *p = (uint8_t *)s->data + (size_t)*off * 8;
        if (to_buf)
            memcpy(buf + (size_t)moved * 8, p, (size_t)take * 8);
        else
            memcpy(p, buf + (size_t)moved * 8, (size_t)take * 8);
        moved += take;
        *off += take;
    }
    return moved;
}

pq_status pq_mpi_allreduce_segments(pq_mpi *m, pq_obs_segment *segs, int n, pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t *buf = NULL;
    int64_t totals[N_GROUPS] = {0};
    uint64_t h = 14695981039346656037ull;
    PQ_CHECK(n >= 0 && (n == 0 || segs), PQ_ERR_INVALID, "allreduce: %d segments", n);
    h = fnv1a(h, (uint64_t)n);
    h = fnv1a(h, (uint64_t)m->max_message);
    for (int i = 0; i < n; i++) {
        const pq_obs_segment *s = &segs[i];
        PQ_CHECK(s->count >= 0 && (s->count == 0 || s->data), PQ_ERR_INVALID,
                 "allreduce: segment %d: count %" PRId64, i, s->count);
        PQ_CHECK((s->type == PQ_OBS_F64 || s->type == PQ_OBS_I64) &&
                     (s->rule == PQ_OBS_RULE_MIN || s->rule == PQ_OBS_RULE_MAX ||
                      s->rule == PQ_OBS_RULE_SUM),
                 PQ_ERR_INVALID, "allreduce: segment %d: unknown type %d or rule %d", i,
                 (int)s->type, (int)s->rule);
        totals[(int)s->type * 3 + (int)s->rule] += s->count;
        h = fnv1a(h, (uint64_t)s->count);
        h = fnv1a(h, (uint64_t)s->type * 16u + (uint64_t)s->rule);
    }
    int64_t cap = chunk_elems(m), need = 0;
    for (int g = 0; g < N_GROUPS; g++)
        if (totals[g] > need) need = totals[g];
    if (need > cap) need = cap;
    int alloc_failed = 0;
    if (need > 0) {
        buf = pq_malloc((size_t)need * 8);
        alloc_failed = buf == NULL;
    }
    /* One small reduction checks the layout and the allocation on every rank, so either
     * all ranks make the same data calls or none does. */
    uint64_t chk[3] = {h, ~h, (uint64_t)alloc_failed};
    PQ_MPI(MPI_Allreduce, (MPI_IN_PLACE, chk, 3, MPI_UINT64_T, MPI_MAX, m->comm));
    PQ_CHECK(chk[2] == 0, PQ_ERR_NOMEM,
             "allreduce: a rank could not allocate its %" PRId64 "-byte packing buffer",
             need * 8);
    PQ_CHECK(chk[0] == h && chk[1] == ~h, PQ_ERR_INVALID,
             "allreduce: segment layout differs between ranks (%d segments here)", n);
    for (int g = 0; g < N_GROUPS; g++) {
        int pseg = 0, useg = 0;
        int64_t poff = 0, uoff = 0;
        for (int64_t done = 0; done < totals[g];) {
            int64_t k = walk_group(segs, n, g, &pseg, &poff, buf, cap, 1);
            PQ_ASSERT(k > 0);
            PQ_MPI(MPI_Allreduce, (MPI_IN_PLACE, buf, (int)k, group_type(g), group_op(g), m->comm));
            int64_t k2 = walk_group(segs, n, g, &useg, &uoff, buf, k, 0);
            PQ_ASSERT(k2 == k);
            done += k;
        }
    }
    pq_free(buf);
    return PQ_OK;
fail:
    pq_free(buf);
    return st;
}

static pq_status reducer_allreduce(void *ctx, pq_obs_segment *segs, int n_segs, pq_err *err)
{
    return pq_mpi_allreduce_segments(ctx, segs, n_segs, err);
}

static pq_status reducer_agree(void *ctx, pq_status local, pq_err *err)
{
    return pq_mpi_agree(ctx, local, err);
}

/* A sum of doubles over all ranks, through the bounded segment all-reduce. */
static pq_status reducer_share(void *ctx, double *buf, int64_t n, pq_err *err)
{
    pq_obs_segment seg = {buf, n, PQ_OBS_F64, PQ_OBS_RULE_SUM};
    return pq_mpi_allreduce_segments(ctx, &seg, 1, err);
}

pq_calib_reducer pq_mpi_reducer(pq_mpi *m)
{
    pq_calib_reducer r = {reducer_allreduce, reducer_agree, m, reducer_share,
                          pq_mpi_rank(m), pq_mpi_size(m)};
    return r;
}

/* ------------------------------------------------------------------ sharding, gathers */

int64_t pq_mpi_shard_count(int64_t n_batches, int rank, int size)
{
    if (n_batches <= rank) return 0;
    return (n_batches - rank + size - 1) / size;
}

pq_status pq_mpi_gather_by_batch(pq_mpi *m, int64_t n_batches, size_t rec_bytes,
                                 const void *local, void *out, pq_err *err)
{
    pq_status st = PQ_OK;
    int *counts = NULL, *displs = NULL;
    uint8_t *tmp = NULL;
    PQ_CHECK(n_batches >= 0 && rec_bytes > 0, PQ_ERR_INVALID,
             "gather by batch: %" PRId64 " batches of %zu bytes", n_batches, rec_bytes);
    PQ_CHECK((uint64_t)n_batches * rec_bytes <= (uint64_t)INT_MAX, PQ_ERR_INVALID,
             "gather by batch: %" PRId64 " x %zu bytes exceeds one MPI message", n_batches,
             rec_bytes);
    counts = pq_malloc(sizeof(int) * (size_t)m->size);
    displs = pq_malloc(sizeof(int) * (size_t)m->size);
    tmp = pq_malloc((size_t)n_batches * rec_bytes + 1);
    PQ_CHECK(counts && displs && tmp, PQ_ERR_NOMEM, "gather by batch: out of memory");
    int pos = 0;
    for (int r = 0; r < m->size; r++) {
        counts[r] = (int)(pq_mpi_shard_count(n_batches, r, m->size) * (int64_t)rec_bytes);
        displs[r] = pos;
        pos += counts[r];
    }
    static const uint8_t dummy[1] = {0};
    PQ_MPI(MPI_Allgatherv, (counts[m->rank] ? local : dummy, counts[m->rank], MPI_BYTE, tmp,
                            counts, displs, MPI_BYTE, m->comm));
    for (int r = 0; r < m->size; r++) {
        int64_t nr = pq_mpi_shard_count(n_batches, r, m->size);
        for (int64_t j = 0; j < nr; j++) {
            int64_t b = r + j * m->size;
            memcpy((uint8_t *)out + (size_t)b * rec_bytes,
                   tmp + (size_t)displs[r] + (size_t)j * rec_bytes, rec_bytes);
        }
    }
fail:
    pq_free(counts);
    pq_free(displs);
    pq_free(tmp);
    return st;
}

pq_status pq_mpi_gather_f64_by_batch(pq_mpi *m, int64_t n_batches, int64_t n_per_batch,
                                     const double *local, double *out, pq_err *err)
{
    if (n_per_batch <= 0 || n_per_batch > INT_MAX / 8)
        return pq_err_set(err, PQ_ERR_INVALID, "gather by batch: %" PRId64 " values per batch",
                          n_per_batch);
    return pq_mpi_gather_by_batch(m, n_batches, (size_t)n_per_batch * sizeof(double), local, out,
                                  err);
}

pq_status pq_mpi_test_fail(pq_mpi *m, int64_t batch, pq_err *err)
{
    if (m->fail_rank != m->rank || batch < m->fail_batch) return PQ_OK;
    return pq_err_set(err, PQ_ERR_INTERNAL,
                      "rank %d: injected failure at batch %" PRId64 " (PQ_TEST_FAIL_RANK=%d)",
                      m->rank, batch, m->fail_rank);
}

/* ------------------------------------------------------------------ broadcast */

pq_status pq_mpi_bcast_bytes(pq_mpi *m, int root, void **buf, size_t *len, pq_err *err)
{
    pq_status st = PQ_OK;
    uint64_t n = m->rank == root ? (uint64_t)*len : 0;
    uint8_t *p = NULL;
    PQ_MPI(MPI_Bcast, (&n, 1, MPI_UINT64_T, root, m->comm));
    pq_status local = PQ_OK;
    if (m->rank != root) {
        p = pq_malloc((size_t)n + 1);
        if (!p) local = pq_err_set(err, PQ_ERR_NOMEM, "broadcast: cannot allocate %" PRIu64 " bytes", n);
        else p[n] = 0;
    } else {
        p = *buf;
    }
    st = pq_mpi_agree(m, local, err);
    if (st != PQ_OK) goto fail;
    size_t chunk = m->max_message > (size_t)INT_MAX ? (size_t)INT_MAX : m->max_message;
    for (uint64_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? (size_t)(n - off) : chunk;
        PQ_MPI(MPI_Bcast, (p + off, (int)k, MPI_BYTE, root, m->comm));
    }
    if (m->rank != root) {
        *buf = p;
        *len = (size_t)n;
    }
    return PQ_OK;
fail:
    if (m->rank != root) pq_free(p);
    return st;
}

void pq_mpi_set_threads(int64_t threads)
{
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, threads > 0 ? threads : (int64_t)1);
    setenv("OPENBLAS_NUM_THREADS", v, 0);
    setenv("OMP_NUM_THREADS", v, 0);
}
