/* pq_export.h - exporters of a quantized graph: QDQ ONNX (ONNX Runtime's QDQ format, also
 * TensorRT's explicit-quantization input), the TensorRT calibration cache, and the JSON
 * parameter file (with a reader that re-applies it to a graph).
 *
 * Every exporter reads the quantization state from the IR only: op->qconfig, one TQC per
 * input and output (see pq_ir.h). None of them changes the graph it is given; files are
 * written atomically (temporary name in the same folder, fsync, rename), so a failed export
 * leaves no partial file. See docs/export.md for the formats.
 *
 * Which TQCs are exported (the same rule for all three formats):
 *   - visibility INTERNAL: never;
 *   - ACTIVATED, BAKED, PASSIVE, PASSIVE_BAKED: yes;
 *   - OVERLAPPED: yes, with the resolved (dominator's) scale and offset;
 *   - FP32: no, unless visibility is FORCE_EXPORT and it has scales;
 *   - INITIAL, PASSIVE_INIT (not calibrated): PQ_ERR_INVALID naming the op and slot.
 * The JSON file is the exception: it lists every TQC whatever its state.
 */
#ifndef PQ_EXPORT_H
#define PQ_EXPORT_H

#include "pq_core.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson's type; this header does not include jansson.h */

/* ------------------------------------------------------------------ QDQ ONNX */

typedef enum pq_qdq_weight_mode {
    PQ_QDQ_WEIGHTS_INT8 = 0,   /* stored quantized (int8/uint8) + DequantizeLinear only */
    PQ_QDQ_WEIGHTS_FLOAT = 1   /* kept float with a QuantizeLinear/DequantizeLinear pair */
} pq_qdq_weight_mode;

typedef struct pq_qdq_options {
    pq_qdq_weight_mode weights;
    /* Raise an ai.onnx opset below 13 to 13 when needed (per-channel axis, or Q/DQ at all
     * below 10) and every op keeps its meaning; 0 refuses instead. */
    int allow_opset_upgrade;
} pq_qdq_options;

/* Defaults: weights int8, opset upgrade allowed. */
void pq_qdq_options_init(pq_qdq_options *o);

/* Builds the QDQ graph: a deep copy of g in which every exported TQC becomes
 *   activation  x -> QuantizeLinear -> DequantizeLinear -> readers (uint8 when quant_min >= 0,
 *               int8 otherwise; per-tensor scale and zero point are scalar initializers),
 *               one pair per distinct (variable, resolved parameters); an op's output TQC
 *               applies to all readers, an input TQC only to that input;
 *   weight      int8/uint8 initializer + DequantizeLinear (or float + Q/DQ), per-channel with
 *               `axis`;
 *   bias        (PASSIVE TQC) int32 initializer + DequantizeLinear, scale s_in * s_w per
 *               channel, zero point 0.
 * Graph inputs and outputs keep their names. opts NULL means the defaults. *out is a new
 * graph the caller destroys (NULL on failure). Errors: PQ_ERR_INVALID (uncalibrated TQC,
 * scale <= 0 or non-finite, per-channel count that does not match the tensor),
 * PQ_ERR_UNSUPPORTED (more than 8 bits on an activation or weight, opset upgrade blocked:
 * the message names the op), PQ_ERR_NOMEM. */
pq_status pq_export_qdq_graph(const pq_graph *g, const pq_qdq_options *opts, pq_graph **out,
                              pq_err *err);
/* pq_export_qdq_graph, then pq_onnx_save (atomic). Messages start with the path. */
pq_status pq_export_qdq_onnx(const pq_graph *g, const pq_qdq_options *opts, const char *path,
                             pq_err *err);

/* ------------------------------------------------------------------ TensorRT cache */

typedef struct pq_trt_cache_entry {
    char *name;     /* tensor (variable) name */
    float scale;    /* dynamic range / 127 */
} pq_trt_cache_entry;

typedef struct pq_trt_cache {
    char *header;   /* "TRT-8601-EntropyCalibration2" */
    int64_t n;
    pq_trt_cache_entry *entries;
} pq_trt_cache;

/* Builds the calibration cache of g's activations (graph inputs and op outputs, never
 * parameters), in graph order. A variable's TQC is its producer's output TQC when exported,
 * else its first exported reader's input TQC. scale = dynamic range / 127 where, for a TQC
 * with zero point 0 and range [-128 or -127, 127], the range is 127 * scale (the same grid);
 * otherwise the range is the largest magnitude the TQC represents, max(|(qmin - z) s|,
 * |(qmax - z) s|) over channels. trt_version 0 means 8601; calibrator NULL means
 * "EntropyCalibration2". *out is new (destroy with pq_trt_cache_destroy). */
pq_status pq_trt_cache_build(const pq_graph *g, int trt_version, const char *calibrator,
                             pq_trt_cache **out, pq_err *err);
/* Writes a cache atomically: the header line, then "name: hhhhhhhh" per entry, the hex being
 * the big-endian IEEE-754 bits of the float32 scale. */
pq_status pq_trt_cache_save(const pq_trt_cache *c, const char *path, pq_err *err);
/* pq_trt_cache_build + pq_trt_cache_save. */
pq_status pq_export_trt_cache(const pq_graph *g, int trt_version, const char *calibrator,
                              const char *path, pq_err *err);
/* Parses a cache file. PQ_ERR_IO (unreadable), PQ_ERR_FORMAT naming the file and line
 * (bad header, missing ": ", hex not 8 digits, duplicate name). */
pq_status pq_trt_cache_load(const char *path, pq_trt_cache **out, pq_err *err);
/* Same from text in memory (`name` is used in messages). */
pq_status pq_trt_cache_parse(const char *text, size_t len, const char *name, pq_trt_cache **out,
                             pq_err *err);
void pq_trt_cache_destroy(pq_trt_cache **c);

/* ------------------------------------------------------------------ JSON parameters */

/* Serialises every TQC of g (ops in graph order; inputs, then outputs) plus `provenance`
 * (any JSON object, borrowed; NULL writes null) as JSON text. Reals are printed with 9
 * significant digits: every float32 scale and offset reads back exactly (provenance reals
 * too are printed that way). *text is pq_malloc'd (caller pq_frees). PQ_ERR_NUMERIC for a
 * non-finite scale or offset. */
pq_status pq_params_dump(const pq_graph *g, const struct json_t *provenance, char **text,
                         pq_err *err);
/* Same with the provenance given as JSON text (NULL = null); it must parse to an object. */
pq_status pq_params_dump_str(const pq_graph *g, const char *provenance_json, char **text,
                             pq_err *err);
/* pq_params_dump written to path atomically. */
pq_status pq_params_save(const pq_graph *g, const struct json_t *provenance, const char *path,
                         pq_err *err);

/* Re-applies saved parameters to g, matching ops by name and TQCs by input/output index.
 * All or nothing: everything is checked before anything changes. Refused (PQ_ERR_INVALID,
 * message naming the first mismatch): an op of the file missing from g or of another type,
 * an op g quantizes that the file lacks, an input/output count that differs, a variable name
 * that differs, a policy / num_bits / quant range that differs from a TQC g already
 * configured (policy != 0), a dominator that names no TQC. An op without qconfig gets one.
 * provenance (may be NULL) receives a new reference to the file's provenance (caller
 * json_decref's it). PQ_ERR_FORMAT for malformed JSON (line and column). */
pq_status pq_params_apply_text(pq_graph *g, const char *text, size_t len, const char *name,
                               struct json_t **provenance, pq_err *err);
pq_status pq_params_load(pq_graph *g, const char *path, struct json_t **provenance,
                         pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_EXPORT_H */
