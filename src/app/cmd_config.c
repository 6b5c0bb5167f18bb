/* cmd_config.c - `ppq-calib config --print --config RUN.yaml [--set KEY=VALUE]...
 * [--provenance]`: validates a run file and prints the effective config, or the provenance
 * record (with the SHA-256 of the data the run would read, in batch order). */
#include "app.h"
#include "pq_config.h"
#include "pq_core.h"
#include "pq_h5.h"
#include "pq_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void config_usage(FILE *to)
{
    fprintf(to,
            "usage: ppq-calib config --print --config RUN.yaml [--set KEY=VALUE]...\n"
            "       ppq-calib config --provenance --config RUN.yaml [--set KEY=VALUE]...\n"
            "  --print       the effective config as YAML (defaults filled, paths absolute)\n"
            "  --provenance  JSON: version, SHA-256 of config, model and calibration data\n"
            "  --set a.b=v   override a key (the value is YAML: 0.5, [1, 2], name)\n");
}

/* Streams the calibration data as a 1-rank run would and combines the batch digests. */
static pq_status data_digest(const pq_config *cfg, uint8_t out[PQ_SHA256_BYTES], pq_err *err)
{
    pq_status st = PQ_OK;
    pq_h5_input_spec *specs = NULL;
    pq_tensor **t = NULL;
    pq_h5_reader *r = NULL;
    const int n = (int)cfg->data.n_inputs;
    specs = pq_calloc((size_t)n, sizeof *specs);
    t = pq_calloc((size_t)n, sizeof *t);
    PQ_CHECK(specs && t, PQ_ERR_NOMEM, "out of memory");
    pq_config_input_specs(cfg, specs);
    PQ_TRY(pq_h5_reader_open(cfg->data.file, n, specs, cfg->calibration.batch_size,
                             pq_mpi_calib_sample_limit(cfg),
                             cfg->data.nan, NULL, &r, err));
    pq_sha256_ctx c;
    pq_sha256_init(&c);
    for (int64_t b = 0; b < pq_h5_reader_n_batches(r); b++) {
        uint8_t d[PQ_SHA256_BYTES];
        PQ_TRY(pq_h5_reader_read(r, b, t, d, err));
        for (int i = 0; i < n; i++) pq_tensor_destroy(&t[i]);
        pq_h5_digest_combine(&c, d);
    }
    pq_sha256_final(&c, out);
fail:
    pq_h5_reader_close(&r);
    pq_free(specs);
    pq_free(t);
    return st;
}

int pq_cmd_config(int argc, char **argv)
{
    const char *path = NULL;
    int print = 0, provenance = 0, n_sets = 0;
    const char **sets = calloc((size_t)argc, sizeof *sets);
    if (!sets) {
        pq_app_error("out of memory");
        return PQ_EXIT_FAIL;
    }
    int rc = PQ_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage(stdout);
            goto done;
        } else if (strcmp(argv[i], "--print") == 0) {
            print = 1;
        } else if (strcmp(argv[i], "--provenance") == 0) {
            provenance = 1;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            sets[n_sets++] = argv[++i];
        } else if (strncmp(argv[i], "--set=", 6) == 0) {
            sets[n_sets++] = argv[i] + 6;
        } else {
            pq_app_error("config: unexpected argument '%s'", argv[i]);
            config_usage(stderr);
            rc = PQ_EXIT_USAGE;
            goto done;
        }
    }
    if (!path || (!print && !provenance)) {
        config_usage(stderr);
        rc = PQ_EXIT_USAGE;
        goto done;
    }
    pq_err err = {0};
    pq_config *cfg = NULL;
    if (pq_config_load(path, n_sets, sets, &cfg, &err) != PQ_OK) {
        pq_app_error("%s", err.msg);
        rc = PQ_EXIT_FAIL;
        goto done;
    }
    if (print && pq_config_print(cfg, stdout, &err) != PQ_OK) {
        pq_app_error("%s", err.msg);
        rc = PQ_EXIT_FAIL;
    }
    if (provenance && rc == PQ_EXIT_OK) {
        pq_provenance p;
        uint8_t d[PQ_SHA256_BYTES];
        char *json = NULL;
        if (pq_provenance_init(&p, cfg, 1, &err) != PQ_OK || data_digest(cfg, d, &err) != PQ_OK) {
            pq_app_error("%s", err.msg);
            rc = PQ_EXIT_FAIL;
        } else {
            pq_provenance_set_data(&p, d);
            if (pq_provenance_json_text(&p, &json, &err) != PQ_OK) {
                pq_app_error("%s", err.msg);
                rc = PQ_EXIT_FAIL;
            } else {
                printf("%s\n", json);
            }
        }
        pq_free(json);
        pq_provenance_clear(&p);
    }
    pq_config_destroy(&cfg);
done:
    free(sets);
    return rc;
}
