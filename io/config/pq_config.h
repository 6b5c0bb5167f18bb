/* pq_config.h - the YAML run configuration (libcyaml schema) and run provenance.
 *
 * A run file names the model, the target platform, dispatching, passes, calibration,
 * data, export and analysis settings; configs/reference.yaml documents every key. Loading
 * rejects unknown keys, wrong types and out-of-range values with "run.yaml:12:5:
 * calibration.bins: ..." (file, line:column, key path), fills defaults, resolves relative
 * paths against the config file's folder and checks that the model and data files exist.
 *
 * `--set a.b=value` overrides patch the YAML document before it is parsed: the value is
 * parsed as YAML (`--set passes=[fold,fuse]`, `--set data.inputs.images.mean=[0.5]`),
 * missing mappings are created, and errors in a set value name the --set instead of a line.
 * Relative paths given by --set also resolve against the config file's folder. */
#ifndef PQ_CONFIG_H
#define PQ_CONFIG_H

#include <stdio.h>

#include "pq_core.h"
#include "pq_h5.h"
#include "pq_sha256.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Calibration algorithms (PPQ's observer names). */
typedef enum pq_calib_algo {
    PQ_CALIB_MINMAX = 0,
    PQ_CALIB_PERCENTILE,
    PQ_CALIB_KL,
    PQ_CALIB_MSE,
    PQ_CALIB_ISOTONE,
    PQ_CALIB_KL_PPQ,
    PQ_CALIB_KL_TRT,
    PQ_CALIB_COUNT
} pq_calib_algo;

/* "minmax", "percentile", ... ; NULL for out-of-range values. */
const char *pq_calib_algo_name(pq_calib_algo a);

/* Export formats, a bit set. */
enum {
    PQ_EXPORT_QDQ_ONNX = 1 << 0,
    PQ_EXPORT_TRT_CACHE = 1 << 1,
    PQ_EXPORT_JSON = 1 << 2,
    PQ_EXPORT_REPORT = 1 << 3
};

/* Error-analysis metrics, a bit set. */
enum {
    PQ_METRIC_SNR = 1 << 0,    /* noise-to-signal power ratio per layer */
    PQ_METRIC_MSE = 1 << 1,    /* mean squared error per layer */
    PQ_METRIC_COSINE = 1 << 2  /* cosine similarity per layer */
};

/* name -> value pairs (dispatch overrides: op name -> "fp32" or a platform). */
typedef struct pq_config_pair {
    char *name;
    char *value;
} pq_config_pair;

/* Per-variable calibration override: variable name -> algorithm. */
typedef struct pq_config_var_override {
    char *name;
    pq_calib_algo algo;
} pq_config_var_override;

/* One graph input's data (data.inputs.<name>). */
typedef struct pq_config_input {
    char *name;           /* graph input name (the key) */
    char *dataset;        /* absolute dataset path in the HDF5 file */
    pq_h5_layout layout;  /* default NCHW */
    double scale;         /* default 1 */
    double *mean;         /* n_mean values (0 = none) */
    unsigned n_mean;
    double *std;          /* n_std values (0 = none), each > 0 */
    unsigned n_std;
    int bgr;              /* swap channel order RGB <-> BGR; default 0 */
} pq_config_input;

typedef struct pq_config {
    /* where it came from */
    char *path;        /* the config file as given */
    char *dir;         /* its folder, absolute */
    char *text;        /* the effective YAML text parsed (after --set patches) */

    char *model;       /* absolute path of the ONNX model (required) */
    char *platform;    /* target platform name; default "trt_int8" */

    struct {
        char *dispatcher;          /* default "conservative" */
        pq_config_pair *overrides; /* op name -> "fp32" or a platform name */
        unsigned n_overrides;
    } dispatch;

    char **passes;     /* pass names in order; none = the built-in default pipeline */
    unsigned n_passes;

    struct {
        pq_calib_algo activation;  /* default percentile */
        pq_calib_algo weight;      /* default minmax */
        pq_config_var_override *overrides;
        unsigned n_overrides;
        int64_t bins;              /* histogram bins, [16, 1048576]; default 2048 */
        double percentile;         /* fraction in (0, 1]; default 0.9999 */
        int64_t batch_size;        /* >= 1; default 32 */
        int64_t samples;           /* 0 = all */
        int64_t batches;           /* 0 = all; with samples, the smaller limit wins */
        uint64_t seed;             /* default 0 */
    } calibration;

    struct {
        char *file;                /* absolute path of the HDF5 file (required) */
        pq_config_input *inputs;   /* in file order (required, at least one) */
        unsigned n_inputs;
        pq_h5_nan_policy nan;      /* default error */
    } data;

    struct {
        unsigned formats;          /* PQ_EXPORT_* bits; default QDQ_ONNX | JSON */
        char *dir;                 /* absolute; default "<config dir>/out" */
        char *qdq_onnx;            /* absolute; default "<dir>/model.qdq.onnx" */
        char *trt_cache;           /* default "<dir>/calib.cache" */
        char *json;                /* default "<dir>/quant.json" */
        char *report;              /* default "<dir>/report.md" */
    } export_;

    struct {
        int enabled;               /* default 0; when 0 no evaluation runs */
        unsigned metrics;          /* PQ_METRIC_* bits; default SNR */
        int64_t eval_batches;      /* 0 = all; default 8 */
        pq_config_pair *eval_inputs; /* graph input -> dataset to evaluate on (default: the
                                        calibration dataset of data.inputs) */
        unsigned n_eval_inputs;
        char *labels;              /* dataset of class indices for top-1 accuracy; NULL none */
    } analysis;

    int64_t threads;               /* per rank; 0 = automatic (default) */
} pq_config;

/* Loads a run file. sets[0..n_sets) are "a.b=value" overrides applied before parsing.
 * On success *out is a new config (pq_config_destroy). Errors:
 *   PQ_ERR_IO      the config, the model or the data file cannot be read
 *                  ("run.yaml:2:8: model: /abs/m.onnx: file not found")
 *   PQ_ERR_CONFIG  YAML syntax, unknown keys, wrong types, out-of-range values, malformed
 *                  --set, each naming file:line:column (or the --set) and the key path
 *   PQ_ERR_NOMEM
 * *out is NULL on failure. */
pq_status pq_config_load(const char *path, int n_sets, const char *const *sets, pq_config **out,
                         pq_err *err);

/* Options of pq_config_load_text. */
#define PQ_CONFIG_NO_FILE_CHECK 1u /* do not require the model and data files to exist */

/* Loads a run file from text (len bytes; a NUL byte inside is an error). name is the file
 * name used in messages and as cfg->path; dir the folder relative paths resolve against
 * (NULL: the folder of name). Errors as pq_config_load. */
pq_status pq_config_load_text(const char *text, size_t len, const char *name, const char *dir,
                              unsigned flags, pq_config **out, pq_err *err);

/* Frees a config; accepts NULL; sets *cfg to NULL. */
void pq_config_destroy(pq_config **cfg);

/* Writes the effective config (every key, defaults filled, absolute paths) as YAML that
 * pq_config_load reads back to the same values. */
pq_status pq_config_print(const pq_config *cfg, FILE *to, pq_err *err);
/* The same into a new NUL-terminated string the caller frees with pq_free. */
pq_status pq_config_print_string(const pq_config *cfg, char **out, pq_err *err);

/* SHA-256 of the keys that can change a run's results: the effective config as printed,
 * without the export section (output paths and formats only decide where results go).
 * Checkpoints record it, so a run may resume into another output folder. PQ_ERR_NOMEM. */
pq_status pq_config_results_digest(const pq_config *cfg, uint8_t digest[PQ_SHA256_BYTES],
                                   pq_err *err);

/* A path normalised lexically (no file system access, the path need not exist): repeated
 * and trailing '/' and "." components dropped, "dir/.." pairs removed ("/.." is "/";
 * leading ".." of a relative path kept); "" gives ".". New string (pq_free); NULL when out
 * of memory. Symbolic links are not resolved, so "a/link/.." may name another file than
 * "a" on disk; config paths are taken to mean what they say. */
char *pq_config_normalize_path(const char *path);

/* Reader specs for cfg->data.inputs: fills specs[0..n_inputs) (which borrow strings and
 * arrays from cfg; valid while cfg lives). */
void pq_config_input_specs(const pq_config *cfg, pq_h5_input_spec *specs);

/* ------------------------------------------------------------------ provenance */

/* What a run's outputs record so that it can be reproduced and checked. */
typedef struct pq_provenance {
    char *config_text;                          /* effective config (pq_config_print) */
    char *config_path;                          /* the config file, absolute, normalised */
    char config_sha256[PQ_SHA256_HEX_CHARS];    /* of the config file's bytes */
    char model_sha256[PQ_SHA256_HEX_CHARS];     /* of the model file's bytes */
    char data_sha256[PQ_SHA256_HEX_CHARS];      /* of the data read ("" until set): SHA-256
                                                   over the batch digests in batch order,
                                                   see pq_h5_digest_combine */
    char version[32];                           /* ppq-calib version */
    int world_size;                             /* MPI ranks of the run */
} pq_provenance;

/* Fills p from cfg: effective config text, config file path, hashes of the config and
 * model files, version, world size. PQ_ERR_IO naming a file that cannot be read. p is cleared on failure. */
pq_status pq_provenance_init(pq_provenance *p, const pq_config *cfg, int world_size,
                             pq_err *err);
/* The same, with the model digest given (the SHA-256 of the model bytes the run loaded,
 * so the file is not read and hashed again; NULL: hash the file). */
pq_status pq_provenance_init_model(pq_provenance *p, const pq_config *cfg, int world_size,
                                   const uint8_t model_sha256[PQ_SHA256_BYTES], pq_err *err);
/* Records the combined data digest. */
void pq_provenance_set_data(pq_provenance *p, const uint8_t digest[PQ_SHA256_BYTES]);
/* Frees what p owns; p can be reused after pq_provenance_init. Accepts a zeroed p. */
void pq_provenance_clear(pq_provenance *p);
/* A new jansson object (json_t *, returned as void * to keep jansson.h out of this header)
 * {"version", "world_size", "sha256": {"config", "model", "data"}, "config": text,
 *  "config_path": path}. The
 * caller owns the reference (json_decref, or json_object_set_new into a parent). NULL on
 * allocation failure. */
void *pq_provenance_to_json(const pq_provenance *p);
/* The same object as compact JSON text; the caller frees *out with pq_free. */
pq_status pq_provenance_json_text(const pq_provenance *p, char **out, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_CONFIG_H */
