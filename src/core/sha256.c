/* sha256.c - SHA-256 after FIPS 180-4 (sections 4.1.2, 4.2.2, 5.1.1, 5.3.3, 6.2). */
#include "pq_sha256.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define PQ_SHA_X86 1
#else
#define PQ_SHA_X86 0
#endif

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* FIPS 180-4 6.2.2: the compression of one 512-bit block. */
static void compress(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = ((uint32_t)p[4 * t] << 24) | ((uint32_t)p[4 * t + 1] << 16) |
               ((uint32_t)p[4 * t + 2] << 8) | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + K[t] + w[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

#if PQ_SHA_X86
/* The same compression with the x86 SHA extensions (SHA-NI), about ten times faster:
 * calibration hashes every batch it reads for the run's provenance. The state is kept as
 * the instructions want it, {A,B,E,F} and {C,D,G,H}; each step does four rounds on the
 * message words W[4i..4i+3], which from i = 4 on come from sha256msg1/msg2. */
__attribute__((target("sha,sse4.1,ssse3"))) static void compress_shani(uint32_t h[8],
                                                                      const uint8_t *p,
                                                                      size_t n_blocks)
{
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);
    __m128i abef = _mm_alignr_epi8(dcba, hgfe, 8);
    __m128i cdgh = _mm_blend_epi16(hgfe, dcba, 0xF0);
    for (; n_blocks > 0; n_blocks--, p += 64) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i w[4];
        for (int i = 0; i < 16; i++) {
            __m128i m;
            if (i < 4) {
                m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
            } else {
                m = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
                m = _mm_add_epi32(m, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
                m = _mm_sha256msg2_epu32(m, w[(i + 3) & 3]);
            }
            w[i & 3] = m;
            __m128i kw = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K[4 * i]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, kw);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(kw, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}

/* 1 when the CPU has SHA-NI, SSE4.1 and SSSE3 (PQ_NO_SHANI set: never, to test both). */
static int have_shani(void)
{
    static int cached = -1;
    if (cached < 0) {
        unsigned a = 0, b = 0, c = 0, d = 0, c1 = 0;
        int ok = __get_cpuid(1, &a, &b, &c1, &d) && (c1 & (1u << 19)) && (c1 & (1u << 9)) &&
                 __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        cached = ok && !getenv("PQ_NO_SHANI");
    }
    return cached;
}
#endif

/* n_blocks consecutive 64-byte blocks. */
static void compress_blocks(uint32_t h[8], const uint8_t *p, size_t n_blocks)
{
#if PQ_SHA_X86
    if (have_shani()) {
        compress_shani(h, p, n_blocks);
        return;
    }
#endif
    for (; n_blocks > 0; n_blocks--, p += 64) compress(h, p);
}

void pq_sha256_init(pq_sha256_ctx *c)
{
    static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(c->h, H0, sizeof H0);
    c->n_bytes = 0;
    c->n_block = 0;
}

void pq_sha256_update(pq_sha256_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->n_bytes += len;
    if (c->n_block) {
        size_t take = 64 - c->n_block < len ? 64 - c->n_block : len;
        memcpy(c->block + c->n_block, p, take);
        c->n_block += take;
        p += take;
        len -= take;
        if (c->n_block < 64) return;
        compress_blocks(c->h, c->block, 1);
        c->n_block = 0;
    }
    compress_blocks(c->h, p, len / 64);
    p += len / 64 * 64;
    len %= 64;
    if (len) {
        memcpy(c->block, p, len);
        c->n_block = len;
    }
}

void pq_sha256_final(pq_sha256_ctx *c, uint8_t out[PQ_SHA256_BYTES])
{
    /* FIPS 180-4 5.1.1: append bit 1, zeros to 448 mod 512 bits, then the 64-bit length. */
    uint64_t bits = c->n_bytes * 8u;
    c->block[c->n_block++] = 0x80;
    if (c->n_block > 56) {
        memset(c->block + c->n_block, 0, 64 - c->n_block);
        compress_blocks(c->h, c->block, 1);
        c->n_block = 0;
    }
    memset(c->block + c->n_block, 0, 56 - c->n_block);
    for (int i = 0; i < 8; i++) c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress_blocks(c->h, c->block, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
    memset(c->block, 0, sizeof c->block);
    c->n_block = 0;
}

void pq_sha256(const void *data, size_t len, uint8_t out[PQ_SHA256_BYTES])
{
    pq_sha256_ctx c;
    pq_sha256_init(&c);
    pq_sha256_update(&c, data, len);
    pq_sha256_final(&c, out);
}

pq_status pq_sha256_file(const char *path, uint8_t out[PQ_SHA256_BYTES], pq_err *err)
{
    enum { PIECE = 1 << 20 };
    pq_status st = PQ_OK;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    PQ_CHECK(f, PQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    buf = pq_malloc(PIECE);
    PQ_CHECK(buf, PQ_ERR_NOMEM, "%s: out of memory for the hash buffer", path);
    pq_sha256_ctx c;
    pq_sha256_init(&c);
    for (;;) {
        size_t n = fread(buf, 1, PIECE, f);
        pq_sha256_update(&c, buf, n);
        if (n < PIECE) {
            PQ_CHECK(!ferror(f), PQ_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    pq_sha256_final(&c, out);
fail:
    pq_free(buf);
    if (f) fclose(f);
    return st;
}

char *pq_sha256_hex(const uint8_t digest[PQ_SHA256_BYTES], char hex[PQ_SHA256_HEX_CHARS])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < PQ_SHA256_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
    return hex;
}
