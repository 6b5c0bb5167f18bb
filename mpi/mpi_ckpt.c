/* mpi_ckpt.c - calibration checkpoints: the reduced observer segments of each completed
 * pass and the digests of model, config and data, in an HDF5 file written atomically.
 *
 * File layout (all datasets one-dimensional, each with one trailing pad element so that no
 * dataset is empty):
 *   /format                 uint8[]  "ppq-calib checkpoint 1"
 *   /sha256_model, /sha256_config, /sha256_data   uint8[33]
 *   /pass<P>/layout         int64[3*n+1]  count, type, rule of each segment
 *   /pass<P>/f64            float64[..+1] the F64 segments, concatenated in order
 *   /pass<P>/i64            int64[..+1]   the I64 segments, concatenated in order */
#include "mpi_internal.h"

#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* io/hdf5 serialises every HDF5 call with one lock (the Debian parallel HDF5 is not
 * thread-safe and the reader's read-ahead thread may be running); a checkpoint written
 * while a reader is open must take the same lock. Defined in io/hdf5/h5_common.c. */
void pq__h5_lock(void);
void pq__h5_unlock(void);

#define CKPT_FORMAT "ppq-calib checkpoint 1"

typedef struct ckpt_pass {
    int n_segs;
    int64_t *layout; /* [3 * n_segs + 1] */
    double *f64;
    int64_t n_f64;
    int64_t *i64;
    int64_t n_i64;
} ckpt_pass;

struct pq_mpi_ckpt {
    char *path;
    uint8_t digest[3][PQ_SHA256_BYTES]; /* model, config, data */
    ckpt_pass *passes;
    int n_passes;
};

static const char *digest_names[3] = {"model", "config", "data"};

pq_status pq_mpi_ckpt_create(const char *path, const uint8_t model[PQ_SHA256_BYTES],
                             const uint8_t config[PQ_SHA256_BYTES],
                             const uint8_t data[PQ_SHA256_BYTES], pq_mpi_ckpt **out,
                             pq_err *err)
{
    pq_mpi_ckpt *ck = pq_calloc(1, sizeof *ck);
    *out = NULL;
    if (!ck || !(ck->path = pq_strdup(path))) {
        pq_free(ck);
        return pq_err_set(err, PQ_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(ck->digest[0], model, PQ_SHA256_BYTES);
    memcpy(ck->digest[1], config, PQ_SHA256_BYTES);
    memcpy(ck->digest[2], data, PQ_SHA256_BYTES);
    *out = ck;
    return PQ_OK;
}

void pq_mpi_ckpt_destroy(pq_mpi_ckpt **ck)
{
    if (!ck || !*ck) return;
    for (int p = 0; p < (*ck)->n_passes; p++) {
        pq_free((*ck)->passes[p].layout);
        pq_free((*ck)->passes[p].f64);
        pq_free((*ck)->passes[p].i64);
    }
    pq_free((*ck)->passes);
    pq_free((*ck)->path);
    pq_free(*ck);
    *ck = NULL;
}

int pq_mpi_ckpt_n_passes(const pq_mpi_ckpt *ck) { return ck ? ck->n_passes : 0; }

/* Appends a copy of segs as the next pass. */
static pq_status ckpt_add(pq_mpi_ckpt *ck, const pq_obs_segment *segs, int n, pq_err *err)
{
    pq_status st = PQ_OK;
    ckpt_pass cp = {0};
    ckpt_pass *np = pq_realloc(ck->passes, sizeof *np * (size_t)(ck->n_passes + 1));
    PQ_CHECK(np, PQ_ERR_NOMEM, "%s: out of memory", ck->path);
    ck->passes = np;
    cp.n_segs = n;
    for (int i = 0; i < n; i++) {
        if (segs[i].type == PQ_OBS_F64) cp.n_f64 += segs[i].count;
        else cp.n_i64 += segs[i].count;
    }
    cp.layout = pq_calloc((size_t)(3 * n + 1), sizeof(int64_t));
    cp.f64 = pq_calloc((size_t)(cp.n_f64 + 1), sizeof(double));
    cp.i64 = pq_calloc((size_t)(cp.n_i64 + 1), sizeof(int64_t));
    PQ_CHECK(cp.layout && cp.f64 && cp.i64, PQ_ERR_NOMEM, "%s: out of memory", ck->path);
    int64_t of = 0, oi = 0;
    for (int i = 0; i < n; i++) {
        cp.layout[3 * i] = segs[i].count;
        cp.layout[3 * i + 1] = segs[i].type;
        cp.layout[3 * i + 2] = segs[i].rule;
        size_t bytes = (size_t)segs[i].count * 8;
        if (segs[i].type == PQ_OBS_F64) {
            if (bytes) memcpy(cp.f64 + of, segs[i].data, bytes);
            of += segs[i].count;
        } else {
            if (bytes) memcpy(cp.i64 + oi, segs[i].data, bytes);
            oi += segs[i].count;
        }
    }
    ck->passes[ck->n_passes++] = cp;
    return PQ_OK;
fail:
    pq_free(cp.layout);
    pq_free(cp.f64);
    pq_free(cp.i64);
    return st;
}

/* ------------------------------------------------------------------ HDF5 */

static int write_ds(hid_t loc, const char *name, hid_t type, int64_t n, const void *data)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    if (sp < 0) return -1;
    hid_t ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = ds < 0 ? -1 : (H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 ? -1 : 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return rc;
}

/* Reads a 1-D dataset of `type` into a new buffer of *n elements. */
static int read_ds(hid_t loc, const char *name, hid_t type, size_t esize, void **out, int64_t *n)
{
    *out = NULL;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[1] = {0};
    int rc = -1;
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, dims, NULL) == 1) {
        void *buf = pq_malloc((size_t)dims[0] * esize + 1);
        if (buf && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
            *out = buf;
            *n = (int64_t)dims[0];
            rc = 0;
        } else {
            pq_free(buf);
        }
    }
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return rc;
}

static pq_status ckpt_write(const pq_mpi_ckpt *ck, pq_err *err)
{
    pq_status st = PQ_OK;
    size_t plen = strlen(ck->path);
    char *tmp = pq_malloc(plen + 8);
    hid_t f = -1;
    if (!tmp) return pq_err_set(err, PQ_ERR_NOMEM, "%s: out of memory", ck->path);
    snprintf(tmp, plen + 8, "%s.tmp", ck->path);
    pq__h5_lock();
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    PQ_CHECK(f >= 0, PQ_ERR_IO, "%s: cannot create the checkpoint", tmp);
    PQ_CHECK(write_ds(f, "format", H5T_NATIVE_UINT8, (int64_t)sizeof CKPT_FORMAT, CKPT_FORMAT) == 0,
             PQ_ERR_IO, "%s: cannot write /format", tmp);
    for (int d = 0; d < 3; d++) {
        char name[32];
        uint8_t buf[PQ_SHA256_BYTES + 1] = {0};
        memcpy(buf, ck->digest[d], PQ_SHA256_BYTES);
        snprintf(name, sizeof name, "sha256_%s", digest_names[d]);
        PQ_CHECK(write_ds(f, name, H5T_NATIVE_UINT8, PQ_SHA256_BYTES + 1, buf) == 0, PQ_ERR_IO,
                 "%s: cannot write /%s", tmp, name);
    }
    for (int p = 0; p < ck->n_passes; p++) {
        const ckpt_pass *cp = &ck->passes[p];
        char name[32];
        snprintf(name, sizeof name, "pass%d", p + 1);
        hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        PQ_CHECK(g >= 0, PQ_ERR_IO, "%s: cannot create /%s", tmp, name);
        int bad = write_ds(g, "layout", H5T_NATIVE_INT64, 3 * (int64_t)cp->n_segs + 1, cp->layout) ||
                  write_ds(g, "f64", H5T_NATIVE_DOUBLE, cp->n_f64 + 1, cp->f64) ||
                  write_ds(g, "i64", H5T_NATIVE_INT64, cp->n_i64 + 1, cp->i64);
        H5Gclose(g);
        PQ_CHECK(!bad, PQ_ERR_IO, "%s: cannot write /%s", tmp, name);
    }
    herr_t rc = H5Fclose(f);
    f = -1;
    PQ_CHECK(rc >= 0, PQ_ERR_IO, "%s: cannot close the checkpoint", tmp);
    PQ_CHECK(rename(tmp, ck->path) == 0, PQ_ERR_IO, "%s: cannot rename to %s: %s", tmp, ck->path,
             strerror(errno));
    pq__h5_unlock();
    pq_free(tmp);
    return PQ_OK;
fail:
    if (f >= 0) H5Fclose(f);
    remove(tmp);
    pq__h5_unlock();
    pq_free(tmp);
    return st;
}

/* Reads path into a new checkpoint (called with the lock held by the caller). */
static pq_status ckpt_read(const char *path, pq_mpi_ckpt **out, pq_err *err)
{
    pq_status st = PQ_OK;
    pq_mpi_ckpt *ck = NULL;
    hid_t f = -1;
    void *buf = NULL;
    int64_t n = 0;
    static const uint8_t zero[PQ_SHA256_BYTES];
    *out = NULL;
    PQ_TRY(pq_mpi_ckpt_create(path, zero, zero, zero, &ck, err));
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    PQ_CHECK(f >= 0, PQ_ERR_IO, "%s: cannot open the checkpoint", path);
    PQ_CHECK(read_ds(f, "format", H5T_NATIVE_UINT8, 1, &buf, &n) == 0 &&
                 n == (int64_t)sizeof CKPT_FORMAT && memcmp(buf, CKPT_FORMAT, (size_t)n) == 0,
             PQ_ERR_FORMAT, "%s: not a ppq-calib checkpoint (no /format \"%s\")", path, CKPT_FORMAT);
    pq_free(buf);
    buf = NULL;
    for (int d = 0; d < 3; d++) {
        char name[32];
        snprintf(name, sizeof name, "sha256_%s", digest_names[d]);
        PQ_CHECK(read_ds(f, name, H5T_NATIVE_UINT8, 1, &buf, &n) == 0 && n == PQ_SHA256_BYTES + 1,
                 PQ_ERR_FORMAT, "%s: /%s missing or malformed", path, name);
        memcpy(ck->digest[d], buf, PQ_SHA256_BYTES);
        pq_free(buf);
        buf = NULL;
    }
    for (int p = 1;; p++) {
        char name[32];
        snprintf(name, sizeof name, "pass%d", p);
        if (H5Lexists(f, name, H5P_DEFAULT) <= 0) break;
        hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
        PQ_CHECK(g >= 0, PQ_ERR_FORMAT, "%s: cannot open /%s", path, name);
        ckpt_pass cp = {0};
        int64_t nl = 0, nf = 0, ni = 0;
        int bad = read_ds(g, "layout", H5T_NATIVE_INT64, 8, (void **)&cp.layout, &nl) ||
                  read_ds(g, "f64", H5T_NATIVE_DOUBLE, 8, (void **)&cp.f64, &nf) ||
                  read_ds(g, "i64", H5T_NATIVE_INT64, 8, (void **)&cp.i64, &ni);
        H5Gclose(g);
        int64_t sf = 0, si = 0;
        if (!bad && nl % 3 == 1 && nl < INT32_MAX) {
            cp.n_segs = (int)(nl / 3);
            for (int i = 0; i < cp.n_segs && !bad; i++) {
                int64_t c = cp.layout[3 * i], t = cp.layout[3 * i + 1], r = cp.layout[3 * i + 2];
                if (c < 0 || (t != PQ_OBS_F64 && t != PQ_OBS_I64) || r < 0 || r > PQ_OBS_RULE_SUM)
                    bad = 1;
                else if (t == PQ_OBS_F64) sf += c;
                else si += c;
            }
        } else {
            bad = 1;
        }
        cp.n_f64 = nf - 1;
        cp.n_i64 = ni - 1;
        if (bad || sf != cp.n_f64 || si != cp.n_i64) {
            pq_free(cp.layout);
            pq_free(cp.f64);
            pq_free(cp.i64);
            PQ_CHECK(0, PQ_ERR_FORMAT, "%s: /%s: malformed segments", path, name);
        }
        ckpt_pass *np = pq_realloc(ck->passes, sizeof *np * (size_t)(ck->n_passes + 1));
        if (!np) {
            pq_free(cp.layout);
            pq_free(cp.f64);
            pq_free(cp.i64);
            PQ_CHECK(0, PQ_ERR_NOMEM, "%s: out of memory", path);
        }
        ck->passes = np;
        ck->passes[ck->n_passes++] = cp;
    }
    H5Fclose(f);
    *out = ck;
    return PQ_OK;
fail:
    pq_free(buf);
    if (f >= 0) H5Fclose(f);
    pq_mpi_ckpt_destroy(&ck);
    return st;
}

/* ------------------------------------------------------------------ collective API */

pq_status pq_mpi_ckpt_save(pq_mpi *m, pq_mpi_ckpt *ck, int pass, const pq_obs_segment *segs,
                           int n, pq_err *err)
{
    pq_status local = PQ_OK;
    if (m->rank == 0) {
        if (!ck)
            local = pq_err_set(err, PQ_ERR_INVALID, "checkpoint: rank 0 has none");
        else if (pass != ck->n_passes + 1)
            local = pq_err_set(err, PQ_ERR_INVALID, "%s: saving pass %d after %d passes",
                               ck->path, pass, ck->n_passes);
        else if ((local = ckpt_add(ck, segs, n, err)) == PQ_OK &&
                 (local = ckpt_write(ck, err)) != PQ_OK) {
            /* keep memory and file consistent: drop the pass that was not written */
            ckpt_pass *cp = &ck->passes[--ck->n_passes];
            pq_free(cp->layout);
            pq_free(cp->f64);
            pq_free(cp->i64);
        }
    }
    return pq_mpi_agree(m, local, err);
}

pq_status pq_mpi_ckpt_load(pq_mpi *m, const char *path, const uint8_t model[PQ_SHA256_BYTES],
                           const uint8_t config[PQ_SHA256_BYTES],
                           const uint8_t data[PQ_SHA256_BYTES], pq_mpi_ckpt **out,
                           int *n_done, pq_err *err)
{
    pq_status st = PQ_OK, local = PQ_OK;
    pq_mpi_ckpt *ck = NULL;
    int nd = 0;
    *out = NULL;
    *n_done = 0;
    if (m->rank == 0) {
        struct stat sb;
        if (stat(path, &sb) == 0) {
            pq__h5_lock();
            local = ckpt_read(path, &ck, err);
            pq__h5_unlock();
            const uint8_t *want[3] = {model, config, data};
            for (int d = 0; local == PQ_OK && d < 3; d++) {
                if (memcmp(ck->digest[d], want[d], PQ_SHA256_BYTES) != 0) {
                    char a[PQ_SHA256_HEX_CHARS], b[PQ_SHA256_HEX_CHARS];
                    local = pq_err_set(err, PQ_ERR_INVALID,
                                       "%s: %s digest differs: checkpoint %s, this run %s "
                                       "(remove the checkpoint to start over)",
                                       path, digest_names[d], pq_sha256_hex(ck->digest[d], a),
                                       pq_sha256_hex(want[d], b));
                }
            }
            if (local == PQ_OK) {
                nd = ck->n_passes;
            } else {
                pq_mpi_ckpt_destroy(&ck);
            }
        } else if (errno != ENOENT) {
            local = pq_err_set(err, PQ_ERR_IO, "%s: %s", path, strerror(errno));
        } else {
            local = pq_mpi_ckpt_create(path, model, config, data, &ck, err);
        }
    }
    PQ_TRY(pq_mpi_agree(m, local, err));
    PQ_MPI(MPI_Bcast, (&nd, 1, MPI_INT, 0, m->comm));
    *out = ck;
    *n_done = nd;
    return PQ_OK;
fail:
    pq_mpi_ckpt_destroy(&ck);
    return st;
}

pq_status pq_mpi_ckpt_restore(pq_mpi *m, const pq_mpi_ckpt *ck, int pass, pq_obs_segment *segs,
                              int n, pq_err *err)
{
    pq_status st = PQ_OK, local = PQ_OK;
    if (m->rank == 0) {
        if (!ck || pass < 1 || pass > ck->n_passes) {
            local = pq_err_set(err, PQ_ERR_INVALID, "checkpoint: no pass %d to restore", pass);
        } else {
            const ckpt_pass *cp = &ck->passes[pass - 1];
            if (cp->n_segs != n)
                local = pq_err_set(err, PQ_ERR_INVALID,
                                   "%s: pass %d holds %d segments, this run has %d", ck->path, pass,
                                   cp->n_segs, n);
            for (int i = 0; local == PQ_OK && i < n; i++)
                if (cp->layout[3 * i] != segs[i].count || cp->layout[3 * i + 1] != segs[i].type ||
                    cp->layout[3 * i + 2] != segs[i].rule)
                    local = pq_err_set(err, PQ_ERR_INVALID,
                                       "%s: pass %d: segment %d differs from this run's", ck->path,
                                       pass, i);
            int64_t of = 0, oi = 0;
            for (int i = 0; local == PQ_OK && i < n; i++) {
                size_t bytes = (size_t)segs[i].count * 8;
                if (segs[i].type == PQ_OBS_F64) {
                    if (bytes) memcpy(segs[i].data, cp->f64 + of, bytes);
                    of += segs[i].count;
                } else {
                    if (bytes) memcpy(segs[i].data, cp->i64 + oi, bytes);
                    oi += segs[i].count;
                }
            }
        }
    }
    PQ_TRY(pq_mpi_agree(m, local, err));
    /* The other ranks hold the identity of each rule, so this spreads rank 0's state
     * unchanged: min(x, +inf) = x, max(x, -inf) = x, x + 0 = x. */
    PQ_TRY(pq_mpi_allreduce_segments(m, segs, n, err));
fail:
    return st;
}
