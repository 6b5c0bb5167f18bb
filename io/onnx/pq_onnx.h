/* pq_onnx.h - ONNX model and tensor files <-> graph IR, through protobuf-c.
 *
 * This is the only module that sees Onnx__* types: a model is converted to the IR and the
 * protobuf message freed at once.
 */
#ifndef PQ_ONNX_H
#define PQ_ONNX_H

#include "pq_core.h"
#include "pq_ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads an ONNX model file into a new graph. External data files are resolved against the
 * model's folder. Errors name the file and the place ("m.onnx: node 'c1' (Conv): ...").
 * Returns PQ_ERR_IO (unreadable), PQ_ERR_FORMAT (malformed), PQ_ERR_UNSUPPORTED,
 * PQ_ERR_NOMEM. *out is NULL on failure. */
pq_status pq_onnx_load(const char *path, pq_graph **out, pq_err *err);
/* Same from bytes in memory; `name` is used in messages, base_dir (may be NULL) for
 * external data. */
pq_status pq_onnx_load_buffer(const uint8_t *buf, size_t len, const char *name,
                              const char *base_dir, pq_graph **out, pq_err *err);

/* Serializes a graph to ONNX bytes (*buf from pq_malloc; caller frees with pq_free). */
pq_status pq_onnx_serialize(const pq_graph *g, uint8_t **buf, size_t *len, pq_err *err);
/* Writes the model atomically (temporary file, fsync, rename). */
pq_status pq_onnx_save(const pq_graph *g, const char *path, pq_err *err);

/* Reads a serialized onnx.TensorProto (.pb) file. *name (may be NULL) receives the
 * tensor's name (pq_malloc'd, may be NULL). Sequence/optional protos are PQ_ERR_UNSUPPORTED. */
pq_status pq_onnx_load_tensor(const char *path, pq_tensor **out, char **name, pq_err *err);
/* Writes a tensor as a serialized onnx.TensorProto (atomically). name may be NULL. */
pq_status pq_onnx_save_tensor(const char *path, const pq_tensor *t, const char *name,
                              pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_ONNX_H */
