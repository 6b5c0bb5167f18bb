/* pq_core.h - status and errors, dtypes, tensors, allocation, logging, small containers.
 *
 * The lowest layer of ppq-calib: depends on libc only. Every other module includes it.
 */
#ifndef PQ_CORE_H
#define PQ_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PQ_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ status and errors */

/* One table gives the enum, the names and the default texts. */
#define PQ_STATUS_MAP(X)                                                      \
    X(PQ_OK, "ok")                                                            \
    X(PQ_ERR_NOMEM, "out of memory")                                          \
    X(PQ_ERR_IO, "input/output error")                                        \
    X(PQ_ERR_FORMAT, "malformed file")                                        \
    X(PQ_ERR_UNSUPPORTED, "unsupported operator, dtype or opset")             \
    X(PQ_ERR_INVALID, "invalid argument or shape")                            \
    X(PQ_ERR_NUMERIC, "non-finite value")                                     \
    X(PQ_ERR_CONFIG, "invalid configuration")                                 \
    X(PQ_ERR_MPI, "MPI error")                                                \
    X(PQ_ERR_INTERNAL, "internal error")

typedef enum pq_status {
#define PQ_STATUS_ENUM(name, text) name,
    PQ_STATUS_MAP(PQ_STATUS_ENUM)
#undef PQ_STATUS_ENUM
    PQ_STATUS_COUNT
} pq_status;

/* Name of a status ("PQ_ERR_FORMAT") and its default text ("malformed file"). */
const char *pq_status_name(pq_status st);
const char *pq_status_text(pq_status st);

/* An error: a status and a message. The innermost failure says what went wrong, each
 * boundary on the way out prepends where ("model.onnx: node 'conv1' (Conv): ..."). */
typedef struct pq_err {
    pq_status code;
    char msg[1024];
} pq_err;

/* Sets err (if not NULL) to code and a printf-formatted message; returns code. */
pq_status pq_err_set(pq_err *err, pq_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends a printf-formatted context and ": " to err->msg (no-op when err is NULL). */
void pq_err_prefix(pq_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Resets err to PQ_OK with an empty message. */
void pq_err_clear(pq_err *err);

/* Run a fallible call; on failure jump to the function's `fail` label. Expects a local
 * `pq_status st` and a `pq_err *err` in scope. */
#define PQ_TRY(expr)                   \
    do {                               \
        st = (expr);                   \
        if (st != PQ_OK) goto fail;    \
    } while (0)

/* Check a condition on user-reachable data; on failure set err and jump to `fail`. */
#define PQ_CHECK(cond, code, ...)                              \
    do {                                                       \
        if (!(cond)) {                                         \
            st = pq_err_set(err, (code), __VA_ARGS__);         \
            goto fail;                                         \
        }                                                      \
    } while (0)

/* Internal invariant that no input can break: abort with file:line when it does. */
#define PQ_ASSERT(cond)                                                      \
    do {                                                                     \
        if (!(cond)) pq__assert_fail(#cond, __FILE__, __LINE__);             \
    } while (0)
void pq__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* ------------------------------------------------------------------ allocation */

/* All library allocations go through these so tests can fail the Nth one. Memory from
 * pq_malloc/pq_calloc is 64-byte aligned (SIMD loads, cache lines). pq_free accepts NULL. */
void *pq_malloc(size_t bytes);
void *pq_calloc(size_t count, size_t size);
void *pq_realloc(void *p, size_t bytes); /* not aligned beyond malloc's guarantee */
void pq_free(void *p);
char *pq_strdup(const char *s);
/* Test hook: the allocation after `n` more succeed fails (n < 0 disables). */
void pq_alloc_fail_after(int64_t n);
/* Number of allocations made so far (for the OOM test loop). */
int64_t pq_alloc_count(void);

/* ------------------------------------------------------------------ logging */

typedef enum pq_log_level {
    PQ_LOG_ERROR = 0,
    PQ_LOG_WARN = 1,
    PQ_LOG_INFO = 2,
    PQ_LOG_DEBUG = 3
} pq_log_level;

void pq_log_set_level(pq_log_level level);
pq_log_level pq_log_get_level(void);
/* Rank shown in the prefix of each line ("[ppq-calib r3 WARN] ..."); -1 hides it. */
void pq_log_set_rank(int rank);
/* Writes one line to stderr when level <= the current level. Never writes to stdout. */
void pq_log(pq_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ dtypes */

/* Values are those of onnx.TensorProto.DataType, so conversion is a cast. */
typedef enum pq_dtype {
    PQ_DTYPE_UNDEFINED = 0,
    PQ_DTYPE_FLOAT32 = 1,
    PQ_DTYPE_UINT8 = 2,
    PQ_DTYPE_INT8 = 3,
    PQ_DTYPE_UINT16 = 4,
    PQ_DTYPE_INT16 = 5,
    PQ_DTYPE_INT32 = 6,
    PQ_DTYPE_INT64 = 7,
    PQ_DTYPE_STRING = 8,
    PQ_DTYPE_BOOL = 9,
    PQ_DTYPE_FLOAT16 = 10,
    PQ_DTYPE_FLOAT64 = 11,
    PQ_DTYPE_UINT32 = 12,
    PQ_DTYPE_UINT64 = 13,
    PQ_DTYPE_COMPLEX64 = 14,
    PQ_DTYPE_COMPLEX128 = 15,
    PQ_DTYPE_BFLOAT16 = 16,
    PQ_DTYPE_COUNT
} pq_dtype;

/* Bytes per element (string: sizeof(char *)); 0 for UNDEFINED or unknown values. */
size_t pq_dtype_size(pq_dtype dt);
/* "float32", "int64", ... ; "undefined" for unknown values. */
const char *pq_dtype_name(pq_dtype dt);
/* Whether dt is a valid dtype that tensors can hold (complex types are not). */
int pq_dtype_is_supported(pq_dtype dt);
int pq_dtype_is_float(pq_dtype dt);   /* float16, bfloat16, float32, float64 */
int pq_dtype_is_integer(pq_dtype dt); /* signed or unsigned integers, not bool */

/* IEEE half and bfloat16 conversions; float -> half/bf16 round to nearest even. */
float pq_f16_to_f32(uint16_t h);
uint16_t pq_f32_to_f16(float f);
float pq_bf16_to_f32(uint16_t b);
uint16_t pq_f32_to_bf16(float f);

/* ------------------------------------------------------------------ tensors */

#define PQ_MAX_RANK 8

/* A dense, row-major tensor. `data` holds numel elements of dtype (for STRING, numel
 * `char *`, each NUL-terminated and owned by the tensor). Tensors are reference counted
 * so that a shallow graph copy can share parameter values; pq_tensor_destroy drops one
 * reference. */
typedef struct pq_tensor {
    pq_dtype dtype;
    int rank;                     /* 0 for a scalar */
    int64_t dims[PQ_MAX_RANK];    /* dims[0..rank) */
    int64_t numel;                /* product of dims (1 for a scalar) */
    size_t nbytes;                /* numel * pq_dtype_size(dtype) */
    void *data;                   /* 64-byte aligned, owned unless is_view */
    int is_view;                  /* data borrowed from `parent` */
    struct pq_tensor *parent;     /* holds a reference while this view lives */
    int refcount;
} pq_tensor;

/* Creates a zero-filled tensor (strings: empty strings). dims may be NULL when rank is 0.
 * Returns PQ_ERR_INVALID for a negative dim, a rank over PQ_MAX_RANK or an unsupported
 * dtype, PQ_ERR_NOMEM on allocation failure. *out is NULL on failure. */
pq_status pq_tensor_create(pq_dtype dtype, int rank, const int64_t *dims, pq_tensor **out,
                           pq_err *err);
/* Creates a tensor of the given shape without zeroing the data (not for strings). */
pq_status pq_tensor_create_uninit(pq_dtype dtype, int rank, const int64_t *dims,
                                  pq_tensor **out, pq_err *err);
/* Creates a tensor viewing `parent`'s data with another shape of the same numel; holds a
 * reference to parent. */
pq_status pq_tensor_view(pq_tensor *parent, int rank, const int64_t *dims, pq_tensor **out,
                         pq_err *err);
/* Deep copy (data, strings). */
pq_status pq_tensor_clone(const pq_tensor *src, pq_tensor **out, pq_err *err);
/* Adds a reference; returns t. */
pq_tensor *pq_tensor_retain(pq_tensor *t);
/* Drops a reference and frees at zero; accepts NULL; sets *t to NULL. */
void pq_tensor_destroy(pq_tensor **t);
/* Changes the shape in place; numel must stay the same. */
pq_status pq_tensor_reshape(pq_tensor *t, int rank, const int64_t *dims, pq_err *err);
/* Sets string element i (copies s). */
pq_status pq_tensor_set_string(pq_tensor *t, int64_t i, const char *s, pq_err *err);
/* Element i read as double (any numeric dtype or bool). */
double pq_tensor_get_f64(const pq_tensor *t, int64_t i);
/* Element i read as int64 (integers and bool exactly; floats truncated). */
int64_t pq_tensor_get_i64(const pq_tensor *t, int64_t i);
/* Writes "float32[1, 3, 224, 224]" into buf. */
const char *pq_tensor_describe(const pq_tensor *t, char *buf, size_t cap);
/* Product of dims[0..rank), 1 for rank 0; -1 on overflow or negative dim. */
int64_t pq_shape_numel(int rank, const int64_t *dims);
/* "[1, 3, 224, 224]" into buf. */
const char *pq_shape_str(int rank, const int64_t *dims, char *buf, size_t cap);

#define PQ_DATA(t, type) ((type *)(t)->data)

/* ------------------------------------------------------------------ containers */

/* A growable array of pointers (does not own what it points to). */
typedef struct pq_ptrvec {
    void **items;
    int64_t n, cap;
} pq_ptrvec;

pq_status pq_ptrvec_push(pq_ptrvec *v, void *p, pq_err *err);
/* Index of p or -1. */
int64_t pq_ptrvec_find(const pq_ptrvec *v, const void *p);
/* Removes item i keeping the order. */
void pq_ptrvec_remove_at(pq_ptrvec *v, int64_t i);
void pq_ptrvec_free(pq_ptrvec *v);

/* A string -> pointer hash map; keys are copied, values are borrowed. */
typedef struct pq_strmap {
    char **keys;
    void **vals;
    int64_t cap, n;
} pq_strmap;

pq_status pq_strmap_put(pq_strmap *m, const char *key, void *val, pq_err *err);
void *pq_strmap_get(const pq_strmap *m, const char *key);
void pq_strmap_del(pq_strmap *m, const char *key);
void pq_strmap_free(pq_strmap *m);

/* ------------------------------------------------------------------ misc */

/* Deterministic PRNG (splitmix64 seeding a xoshiro256**): same seed, same stream. */
typedef struct pq_rng {
    uint64_t s[4];
} pq_rng;
void pq_rng_seed(pq_rng *r, uint64_t seed);
uint64_t pq_rng_next(pq_rng *r);
double pq_rng_uniform(pq_rng *r); /* [0, 1) */
double pq_rng_normal(pq_rng *r);  /* standard normal (Box-Muller) */

/* Monotonic wall time in seconds. */
double pq_time_now(void);

/* Checked narrowing for APIs that take int (MPI counts, BLAS dims). */
pq_status pq_i64_to_int(int64_t v, int *out, pq_err *err);

#ifdef __cplusplus
}
#endif
#endif /* PQ_CORE_H */
