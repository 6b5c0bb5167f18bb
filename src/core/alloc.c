/* alloc.c - aligned allocation with a failure hook for out-of-memory tests. */
#include "pq_core.h"

#include <stdlib.h>
#include <string.h>

/* Allocation failure injection is process-global test state; calibration runs one
 * executor per process, so no locking is needed for it. */
static int64_t fail_after = -1;
static int64_t n_allocs;

void pq_alloc_fail_after(int64_t n) { fail_after = n; }
int64_t pq_alloc_count(void) { return n_allocs; }

static int should_fail(void)
{
    n_allocs++;
    if (fail_after < 0) return 0;
    if (fail_after == 0) return 1;
    fail_after--;
    return 0;
}

void *pq_malloc(size_t bytes)
{
    if (should_fail()) return NULL;
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0) return NULL;
    return p;
}

void *pq_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    void *p = pq_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *pq_realloc(void *p, size_t bytes)
{
    if (should_fail()) return NULL;
    return realloc(p, bytes ? bytes : 1);
}

void pq_free(void *p) { free(p); }

char *pq_strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = pq_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
