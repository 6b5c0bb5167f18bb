/* pq_sha256.h - SHA-256 (FIPS 180-4) of byte streams and files, for run provenance.
 * Uses the x86 SHA extensions when the CPU has them (PQ_NO_SHANI=1 forces the portable code).
 *
 * Own implementation, no third-party code: streaming context (init, update any number of
 * times, final), one-shot helpers, and hex formatting. Not constant-time; not for secrets. */
#ifndef PQ_SHA256_H
#define PQ_SHA256_H

#include "pq_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PQ_SHA256_BYTES 32
#define PQ_SHA256_HEX_CHARS 65 /* 64 hex digits and a NUL */

/* Streaming state. Plain data: copy it to fork a hash. */
typedef struct pq_sha256_ctx {
    uint32_t h[8];       /* intermediate hash value H(i) */
    uint64_t n_bytes;    /* message length so far, bytes */
    uint8_t block[64];   /* pending partial block */
    size_t n_block;      /* bytes in block[0..n_block) */
} pq_sha256_ctx;

/* Starts a hash (FIPS 180-4 section 5.3.3 initial value). */
void pq_sha256_init(pq_sha256_ctx *c);
/* Appends len bytes (data may be NULL when len is 0). */
void pq_sha256_update(pq_sha256_ctx *c, const void *data, size_t len);
/* Pads, writes the 32-byte digest to out and leaves c unusable until the next init. */
void pq_sha256_final(pq_sha256_ctx *c, uint8_t out[PQ_SHA256_BYTES]);

/* One-shot digest of a buffer. */
void pq_sha256(const void *data, size_t len, uint8_t out[PQ_SHA256_BYTES]);
/* Digest of a file's bytes, read in 1 MiB pieces. PQ_ERR_IO naming the file when it cannot
 * be opened or read. */
pq_status pq_sha256_file(const char *path, uint8_t out[PQ_SHA256_BYTES], pq_err *err);
/* Lower-case hex of a digest into hex (65 bytes, NUL-terminated); returns hex. */
char *pq_sha256_hex(const uint8_t digest[PQ_SHA256_BYTES], char hex[PQ_SHA256_HEX_CHARS]);

#ifdef __cplusplus
}
#endif
#endif /* PQ_SHA256_H */
