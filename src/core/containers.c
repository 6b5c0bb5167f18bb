/* containers.c - pointer vector, string map, PRNG, timer, checked narrowing. */
#include "pq_core.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

pq_status pq_ptrvec_push(pq_ptrvec *v, void *p, pq_err *err)
{
    if (v->n == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 4;
        void **items = pq_realloc(v->items, (size_t)cap * sizeof *items);
        if (!items) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory growing a list");
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = p;
    return PQ_OK;
}

int64_t pq_ptrvec_find(const pq_ptrvec *v, const void *p)
{
    for (int64_t i = 0; i < v->n; i++)
        if (v->items[i] == p) return i;
    return -1;
}

void pq_ptrvec_remove_at(pq_ptrvec *v, int64_t i)
{
    PQ_ASSERT(i >= 0 && i < v->n);
    memmove(v->items + i, v->items + i + 1, (size_t)(v->n - i - 1) * sizeof *v->items);
    v->n--;
}

void pq_ptrvec_free(pq_ptrvec *v)
{
    pq_free(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Open addressing with linear probing; deleted slots hold a tombstone key. */
static char tombstone;

static int64_t slot_of(const pq_strmap *m, const char *key)
{
    if (!m->cap) return -1;
    uint64_t mask = (uint64_t)m->cap - 1;
    for (uint64_t i = hash_str(key) & mask, k = 0; k < (uint64_t)m->cap; i = (i + 1) & mask, k++) {
        if (!m->keys[i]) return -1;
        if (m->keys[i] != &tombstone && strcmp(m->keys[i], key) == 0) return (int64_t)i;
    }
    return -1;
}

static pq_status grow(pq_strmap *m, pq_err *err)
{
    int64_t cap = m->cap ? m->cap * 2 : 16;
    char **keys = pq_calloc((size_t)cap, sizeof *keys);
    void **vals = pq_calloc((size_t)cap, sizeof *vals);
    if (!keys || !vals) {
        pq_free(keys);
        pq_free(vals);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory growing a name table");
    }
    uint64_t mask = (uint64_t)cap - 1;
    int64_t n = 0;
    for (int64_t i = 0; i < m->cap; i++) {
        char *k = m->keys[i];
        if (!k || k == &tombstone) continue;
        uint64_t j = hash_str(k) & mask;
        while (keys[j]) j = (j + 1) & mask;
        keys[j] = k;
        vals[j] = m->vals[i];
        n++;
    }
    pq_free(m->keys);
    pq_free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->n = n;
    return PQ_OK;
}

/* m->n counts live keys plus tombstones so the table never fills up. */
pq_status pq_strmap_put(pq_strmap *m, const char *key, void *val, pq_err *err)
{
    int64_t s = slot_of(m, key);
    if (s >= 0) {
        m->vals[s] = val;
        return PQ_OK;
    }
    if ((m->n + 1) * 4 > m->cap * 3) {
        pq_status st = grow(m, err);
        if (st != PQ_OK) return st;
    }
    char *k = pq_strdup(key);
    if (!k) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory copying a name");
    uint64_t mask = (uint64_t)m->cap - 1;
    uint64_t j = hash_str(key) & mask;
    while (m->keys[j] && m->keys[j] != &tombstone) j = (j + 1) & mask;
    if (!m->keys[j]) m->n++;
    m->keys[j] = k;
    m->vals[j] = val;
    return PQ_OK;
}

void *pq_strmap_get(const pq_strmap *m, const char *key)
{
    int64_t s = slot_of(m, key);
    return s >= 0 ? m->vals[s] : NULL;
}

void pq_strmap_del(pq_strmap *m, const char *key)
{
    int64_t s = slot_of(m, key);
    if (s < 0) return;
    pq_free(m->keys[s]);
    m->keys[s] = &tombstone;
    m->vals[s] = NULL;
}

void pq_strmap_free(pq_strmap *m)
{
    for (int64_t i = 0; i < m->cap; i++)
        if (m->keys[i] && m->keys[i] != &tombstone) pq_free(m->keys[i]);
    pq_free(m->keys);
    pq_free(m->vals);
    memset(m, 0, sizeof *m);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void pq_rng_seed(pq_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pq_rng_next(pq_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pq_rng_uniform(pq_rng *r) { return (double)(pq_rng_next(r) >> 11) * 0x1.0p-53; }

double pq_rng_normal(pq_rng *r)
{
    double u1 = pq_rng_uniform(r), u2 = pq_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double pq_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

pq_status pq_i64_to_int(int64_t v, int *out, pq_err *err)
{
    if (v < INT32_MIN || v > INT32_MAX)
        return pq_err_set(err, PQ_ERR_INVALID, "value %" PRId64 " does not fit in an int", v);
    *out = (int)v;
    return PQ_OK;
}
