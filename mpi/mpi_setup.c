/* mpi_setup.c - rank 0 reads the config and the model; every rank gets the same bytes and
 * checks their digests. */
#include "mpi_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pq_mpi_run_inputs_clear(pq_mpi_run_inputs *in)
{
    if (!in) return;
    pq_config_destroy(&in->config);
    pq_free(in->model);
    memset(in, 0, sizeof *in);
}

/* Reads a whole file into a new buffer. */
static pq_status read_file(const char *path, uint8_t **out, size_t *len, pq_err *err)
{
    pq_status st = PQ_OK;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    PQ_CHECK(f, PQ_ERR_IO, "%s: %s", path, strerror(errno));
    PQ_CHECK(fseeko(f, 0, SEEK_END) == 0, PQ_ERR_IO, "%s: cannot seek", path);
    off_t n = ftello(f);
    PQ_CHECK(n >= 0 && fseeko(f, 0, SEEK_SET) == 0, PQ_ERR_IO, "%s: cannot seek", path);
    buf = pq_malloc((size_t)n + 1);
    PQ_CHECK(buf, PQ_ERR_NOMEM, "%s: cannot allocate %lld bytes", path, (long long)n);
    PQ_CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n, PQ_ERR_IO, "%s: short read", path);
    fclose(f);
    *out = buf;
    *len = (size_t)n;
    return PQ_OK;
fail:
    if (f) fclose(f);
    pq_free(buf);
    return st;
}

pq_status pq_mpi_load_run_inputs(pq_mpi *m, const char *config_path, int n_sets,
                                 const char *const *sets, pq_mpi_run_inputs *out, pq_err *err)
{
    pq_status st = PQ_OK, local = PQ_OK;
    char *text = NULL, *mytext = NULL;
    size_t text_len = 0;
    uint8_t digests[2 * PQ_SHA256_BYTES] = {0}; /* rank 0's: model, config */
    memset(out, 0, sizeof *out);

    if (m->rank == 0) {
        local = pq_config_load(config_path, n_sets, sets, &out->config, err);
        if (local == PQ_OK) local = pq_config_print_string(out->config, &text, err);
        if (local == PQ_OK) {
            text_len = strlen(text);
            local = read_file(out->config->model, &out->model, &out->model_len, err);
        }
        if (local == PQ_OK) {
            pq_sha256(out->model, out->model_len, digests);
            pq_sha256(text, text_len, digests + PQ_SHA256_BYTES);
        }
    }
    PQ_TRY(pq_mpi_agree(m, local, err));

    /* The config text, the model bytes and rank 0's digests. */
    PQ_TRY(pq_mpi_bcast_bytes(m, 0, (void **)&text, &text_len, err));
    PQ_TRY(pq_mpi_bcast_bytes(m, 0, (void **)&out->model, &out->model_len, err));
    PQ_MPI(MPI_Bcast, (digests, (int)sizeof digests, MPI_BYTE, 0, m->comm));

    local = PQ_OK;
    if (m->rank != 0) {
        /* The text has absolute paths: the name and folder only appear in messages. */
        local = pq_config_load_text(text, text_len, "broadcast config", "/", 0, &out->config, err);
    }
    if (local == PQ_OK) local = pq_config_print_string(out->config, &mytext, err);
    if (local == PQ_OK) {
        /* Rank 0 hashed these bytes before sending them (a model hash costs ~0.3 s per
         * 50 MB, on the critical path of every rank); the others check what arrived. */
        if (m->rank == 0)
            memcpy(out->model_sha256, digests, PQ_SHA256_BYTES);
        else
            pq_sha256(out->model, out->model_len, out->model_sha256);
        pq_sha256(mytext, strlen(mytext), out->config_sha256);
        local = pq_config_results_digest(out->config, out->results_sha256, err);
    }
    if (local == PQ_OK) {
        if (memcmp(out->model_sha256, digests, PQ_SHA256_BYTES) != 0)
            local = pq_err_set(err, PQ_ERR_INTERNAL,
                               "rank %d: the model bytes received differ from rank 0's (SHA-256)",
                               m->rank);
        else if (memcmp(out->config_sha256, digests + PQ_SHA256_BYTES, PQ_SHA256_BYTES) != 0)
            local = pq_err_set(err, PQ_ERR_INTERNAL,
                               "rank %d: the config loaded differs from rank 0's (SHA-256 of the "
                               "effective config)", m->rank);
    } else {
        pq_err_prefix(err, "rank %d", m->rank);
    }
    PQ_TRY(pq_mpi_agree(m, local, err));
    pq_free(text);
    pq_free(mytext);
    return PQ_OK;
fail:
    pq_free(text);
    pq_free(mytext);
    pq_mpi_run_inputs_clear(out);
    return st;
}
