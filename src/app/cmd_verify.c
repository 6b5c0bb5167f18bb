/* cmd_verify.c - `ppq-calib verify OUT.json [--quiet]`: are the inputs a calibration
 * recorded still the same? Reads the provenance of the JSON parameters that calibrate wrote
 * (config file path and SHA-256, model and data SHA-256, the effective config text) and
 * recomputes each digest: the config and model files byte for byte, the data over exactly
 * the batches calibration read (the effective config's data file, datasets, batch size and
 * sample limit, through the same mpi/ call calibrate uses). See app_verify.h for the exit
 * codes. */
#include "app.h"
#include "app_verify.h"
#include "pq_config.h"
#include "pq_core.h"
#include "pq_mpi.h"
#include "pq_sha256.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VERIFY_BAD_INPUT 2 /* usage, or the JSON cannot be used */

static void verify_usage(FILE *to)
{
    fprintf(to,
            "usage: ppq-calib verify OUT.json [--quiet]\n"
            "  checks that the config file, the model and the calibration data recorded in\n"
            "  the provenance of OUT.json (written by calibrate) are unchanged: one line per\n"
            "  input (match, CHANGED with both SHA-256 digests, missing)\n"
            "  --quiet   print nothing; the exit code tells\n"
            "exit codes: 0 all inputs match, 1 an input changed or is missing,\n"
            "            2 usage error or OUT.json unusable (not JSON, no provenance)\n");
}

/* What the provenance recorded. Strings borrow from the JSON document. */
typedef struct recorded {
    const char *version;
    long long world_size;
    const char *config_path;  /* NULL in files written before it was recorded */
    const char *config_text;
    const char *sha[3];       /* config, model, data; data may be NULL (not recorded) */
    const char *params;       /* calibrate --params FILE: parameters loaded, no data read */
} recorded;

static const char *const input_names[3] = {"config", "model", "data"};

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* Reads the provenance of the JSON file at path into *rec (borrowing from *doc, which the
 * caller json_decref's). PQ_ERR_FORMAT naming the file and the field. */
static pq_status read_provenance(const char *path, json_t **doc, recorded *rec, pq_err *err)
{
    json_error_t je;
    memset(rec, 0, sizeof *rec);
    *doc = json_load_file(path, 0, &je);
    if (!*doc) {
        struct stat sb;
        if (stat(path, &sb) != 0)
            return pq_err_set(err, PQ_ERR_IO, "%s: %s", path, strerror(errno));
        return pq_err_set(err, PQ_ERR_FORMAT, "%s:%d:%d: not valid JSON: %s", path, je.line,
                          je.column, je.text);
    }
    json_t *p = json_is_object(*doc) ? json_object_get(*doc, "provenance") : NULL;
    if (!json_is_object(p))
        return pq_err_set(err, PQ_ERR_FORMAT,
                          "%s: no \"provenance\" object (not JSON parameters written by "
                          "ppq-calib calibrate)", path);
    json_t *h = json_object_get(p, "sha256");
    if (!json_is_object(h))
        return pq_err_set(err, PQ_ERR_FORMAT, "%s: provenance.sha256: missing or not an object",
                          path);
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(h, input_names[i]);
        if (i == 2 && json_is_null(v)) continue;
        if (!is_hex64(json_string_value(v)))
            return pq_err_set(err, PQ_ERR_FORMAT,
                              "%s: provenance.sha256.%s: expected 64 lowercase hex digits", path,
                              input_names[i]);
        rec->sha[i] = json_string_value(v);
    }
    rec->config_text = json_string_value(json_object_get(p, "config"));
    if (!rec->config_text || !rec->config_text[0])
        return pq_err_set(err, PQ_ERR_FORMAT,
                          "%s: provenance.config: missing (the effective config text)", path);
    rec->config_path = json_string_value(json_object_get(p, "config_path"));
    rec->version = json_string_value(json_object_get(p, "version"));
    rec->world_size = json_integer_value(json_object_get(p, "world_size"));
    rec->params = json_string_value(json_object_get(json_object_get(p, "params"), "file"));
    return PQ_OK;
}

/* The outcome for one input. */
typedef enum {
    IN_MATCH,
    IN_NOT_USED, /* the data of a --params run: no data was read */
    IN_CHANGED,
    IN_MISSING,
    IN_UNREADABLE,
    IN_NOT_RECORDED
} in_state;

static const char *state_name(in_state s)
{
    switch (s) {
    case IN_MATCH: return "match";
    case IN_NOT_USED: return "not used";
    case IN_CHANGED: return "CHANGED";
    case IN_MISSING: return "missing";
    case IN_UNREADABLE: return "unreadable";
    default: return "not recorded";
    }
}

typedef struct outcome {
    in_state state;
    const char *path;
    char now[PQ_SHA256_HEX_CHARS]; /* the current digest (CHANGED) */
    char why[1024];                /* unreadable: the message */
} outcome;

static int file_missing(const char *path)
{
    struct stat sb;
    return stat(path, &sb) != 0 && errno == ENOENT;
}

/* The digest of a file compared with the recorded one. */
static void check_file(const char *path, const char *want, outcome *o)
{
    uint8_t d[PQ_SHA256_BYTES];
    pq_err e;
    pq_err_clear(&e);
    o->path = path;
    if (!path) {
        o->state = IN_NOT_RECORDED;
        return;
    }
    if (file_missing(path)) {
        o->state = IN_MISSING;
        return;
    }
    if (pq_sha256_file(path, d, &e) != PQ_OK) {
        o->state = IN_UNREADABLE;
        snprintf(o->why, sizeof o->why, "%s", e.msg);
        return;
    }
    pq_sha256_hex(d, o->now);
    o->state = strcmp(o->now, want) == 0 ? IN_MATCH : IN_CHANGED;
}

static void print_outcome(const char *what, const outcome *o, const char *want)
{
    printf("  %-7s %-10s %s\n", what, state_name(o->state), o->path ? o->path : "");
    if (o->state == IN_CHANGED) {
        printf("          recorded   sha256 %s\n", want);
        printf("          now        sha256 %s\n", o->now);
    } else if (o->state == IN_UNREADABLE) {
        printf("          %s\n", o->why);
    }
}

int pq_cmd_verify(int argc, char **argv)
{
    const char *json_path = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            verify_usage(stdout);
            return PQ_EXIT_OK;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (argv[i][0] != '-' && !json_path) {
            json_path = argv[i];
        } else {
            pq_app_error("verify: unexpected argument '%s'", argv[i]);
            verify_usage(stderr);
            return PQ_EXIT_USAGE;
        }
    }
    if (!json_path) {
        pq_app_error("verify: the JSON parameters file (OUT.json) is required");
        verify_usage(stderr);
        return PQ_EXIT_USAGE;
    }

    pq_err err;
    pq_err_clear(&err);
    json_t *doc = NULL;
    recorded rec;
    pq_config *cfg = NULL;
    pq_mpi *m = NULL;
    outcome out[3];
    int rc = VERIFY_BAD_INPUT, rank = 0;
    memset(out, 0, sizeof out);

    if (read_provenance(json_path, &doc, &rec, &err) != PQ_OK) {
        pq_app_error("verify: %s", err.msg);
        goto done;
    }
    /* The effective config names the model, the data file, datasets and limits. Files are
     * checked below, one by one, so a missing one is reported rather than fatal. */
    {
        char name[1100];
        snprintf(name, sizeof name, "%s: provenance.config", json_path);
        if (pq_config_load_text(rec.config_text, strlen(rec.config_text), name, "/",
                                PQ_CONFIG_NO_FILE_CHECK, &cfg, &err) != PQ_OK) {
            pq_app_error("verify: %s", err.msg);
            goto done;
        }
    }
    check_file(rec.config_path, rec.sha[0], &out[0]);
    check_file(cfg->model, rec.sha[1], &out[1]);

    /* The data digest: collective over the ranks (a plain run is a 1-rank singleton). */
    if (pq_mpi_init(&argc, &argv, &err) != PQ_OK || pq_mpi_create(NULL, &m, &err) != PQ_OK) {
        pq_app_error("verify: %s", err.msg);
        rc = PQ_EXIT_FAIL;
        goto done;
    }
    rank = pq_mpi_rank(m);
    pq_log_set_rank(pq_mpi_size(m) > 1 ? rank : -1);
    out[2].path = cfg->data.file;
    if (!rec.sha[2] && rec.params) {
        out[2].state = IN_NOT_USED;
    } else if (!rec.sha[2]) {
        out[2].state = IN_NOT_RECORDED;
    } else if (file_missing(cfg->data.file)) {
        out[2].state = IN_MISSING;
    } else {
        uint8_t d[PQ_SHA256_BYTES];
        pq_status st = pq_mpi_calib_data_digest(m, cfg, d, &err);
        if (st == PQ_ERR_MPI && pq_mpi_size(m) > 1) pq_mpi_abort(m, &err);
        if (st != PQ_OK) {
            /* A dataset gone from the file or fewer samples than recorded: the data the
             * run read cannot be read again, so it changed. */
            out[2].state = IN_UNREADABLE;
            snprintf(out[2].why, sizeof out[2].why, "%s", err.msg);
        } else {
            pq_sha256_hex(d, out[2].now);
            out[2].state = strcmp(out[2].now, rec.sha[2]) == 0 ? IN_MATCH : IN_CHANGED;
        }
    }

    int bad = 0;
    for (int i = 0; i < 3; i++) bad += out[i].state > IN_NOT_USED;
    rc = bad ? PQ_EXIT_FAIL : PQ_EXIT_OK;
    if (rank == 0 && !quiet) {
        printf("ppq-calib verify: %s (written by ppq-calib %s, world size %lld)\n", json_path,
               rec.version ? rec.version : "?", rec.world_size);
        if (rec.version && strcmp(rec.version, PQ_VERSION_STRING) != 0)
            printf("  note: this is ppq-calib %s\n", PQ_VERSION_STRING);
        for (int i = 0; i < 3; i++) print_outcome(input_names[i], &out[i], rec.sha[i]);
        if (rec.params)
            printf("  note: the parameters were loaded from %s (calibrate --params); verify "
                   "that file for the data it was calibrated on\n", rec.params);
        if (bad)
            printf("ppq-calib verify: %d of 3 inputs changed or missing\n", bad);
        else
            printf("ppq-calib verify: all inputs match\n");
        fflush(stdout);
    }
done:
    pq_mpi_destroy(&m);
    pq_mpi_finalize();
    pq_config_destroy(&cfg);
    if (doc) json_decref(doc);
    return rc;
}
