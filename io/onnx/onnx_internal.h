/* onnx_internal.h - helpers shared by the io/onnx source files. Never included from outside
 * io/onnx: it is the only place that names Onnx__* types besides those files. */
#ifndef PQ_ONNX_INTERNAL_H
#define PQ_ONNX_INTERNAL_H

#include "onnx.pb-c.h"
#include "pq_onnx.h"

/* protobuf-c allocator routing every allocation through pq_malloc/pq_free, so that
 * messages unpacked or built here obey the allocation-failure test hook and can be freed
 * with protobuf_c_message_free_unpacked(msg, &pq__onnx_allocator). */
extern ProtobufCAllocator pq__onnx_allocator;
/* Allocation-failure flag of pq__onnx_allocator (per thread): reset it before an unpack;
 * when the unpack returns NULL and the flag is set, the cause was memory, not the input. */
void pq__onnx_alloc_failed_reset(void);
int pq__onnx_alloc_failed(void);

/* Deepest message nesting accepted in a file (ModelProto = 1; each subgraph level adds 3:
 * Graph > Node > Attribute). Bounds the recursion of protobuf-c and of the converters. */
#define PQ_ONNX_MAX_DEPTH 100

/* Checks that buf is well-formed protobuf wire data for message type `d`: every tag,
 * length and varint is complete, no group wire types, submessages nest at most
 * PQ_ONNX_MAX_DEPTH deep. On failure returns PQ_ERR_FORMAT with the byte offset and the
 * field ("truncated length-delimited field onnx.GraphProto.node at byte 1234"). */
pq_status pq__onnx_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                              size_t len, pq_err *err);

/* Whether buf looks like a serialized onnx.SequenceProto or onnx.OptionalProto (the
 * ONNX test-data formats for non-tensor values): only fields 1 (name, bytes), 2
 * (elem_type, varint 0..5) and 3..7 (length-delimited, each a well-formed message). */
int pq__onnx_is_sequence_or_optional(const uint8_t *buf, size_t len);

/* Reads a whole file into a pq_malloc'd buffer. PQ_ERR_IO naming the path on failure. */
pq_status pq__onnx_read_file(const char *path, uint8_t **buf, size_t *len, pq_err *err);
/* Writes buf to path atomically: a temporary file in the same folder, fsync, rename.
 * No file is left behind on failure. */
pq_status pq__onnx_write_file_atomic(const char *path, const uint8_t *buf, size_t len,
                                     pq_err *err);

/* TensorProto -> tensor. Typed fields and raw_data (little-endian) are both accepted;
 * external data is read relative to base_dir (NULL: external data is an error) and may
 * not leave it. Errors say what is wrong without naming the tensor (the caller prefixes
 * "initializer 'w'"): PQ_ERR_FORMAT (no data type, negative dim, data size not matching
 * the shape, bad external data), PQ_ERR_UNSUPPORTED (dtype, rank, segments), PQ_ERR_IO,
 * PQ_ERR_NOMEM. *out is NULL on failure. */
pq_status pq__onnx_tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir,
                                     pq_tensor **out, pq_err *err);

/* Pointers into tensors that a message being built borrows instead of copying (raw_data
 * of large parameters). pq__onnx_free_built() clears them before freeing the message. */
typedef struct pq__onnx_borrows {
    pq_ptrvec fields; /* ProtobufCBinaryData * */
} pq__onnx_borrows;

/* tensor -> a new TensorProto (*out, allocated with pq__onnx_allocator): dims, data_type,
 * name (may be NULL), data as raw_data (borrowed from t on little-endian hosts, recorded in
 * b) or string_data. */
pq_status pq__onnx_tensor_to_proto(const pq_tensor *t, const char *name, pq__onnx_borrows *b,
                                   Onnx__TensorProto **out, pq_err *err);
/* Clears the borrowed fields recorded in b, frees the message (may be NULL) and b's list. */
void pq__onnx_free_built(ProtobufCMessage *msg, pq__onnx_borrows *b);

/* Copies len bytes into a new NUL-terminated pq_malloc'd string (NULL on OOM). */
char *pq__onnx_strndup(const void *s, size_t len);

#endif /* PQ_ONNX_INTERNAL_H */
