/* registry.c - operator lookup: built-in family tables plus per-platform overrides. */
#include "exec_internal.h"

#include <string.h>

static const pq_op_def *const family_tables[] = {
#define PQ_FAMILY_ENTRY(fam) pq_ops_##fam,
    PQ_OP_FAMILIES(PQ_FAMILY_ENTRY)
#undef PQ_FAMILY_ENTRY
};

/* The flattened list of built-in definitions, built once. Definitions are immutable, so
 * racing first calls would build identical lists; the executor is created on one thread. */
static const pq_op_def **builtins;
static int64_t n_builtins = -1;

const pq_op_def *const *pq_registry_builtins(int64_t *count)
{
    if (n_builtins < 0) {
        int64_t n = 0;
        for (size_t f = 0; f < sizeof family_tables / sizeof *family_tables; f++)
            for (const pq_op_def *d = family_tables[f]; d->name; d++) n++;
        const pq_op_def **list = pq_calloc((size_t)(n ? n : 1), sizeof *list);
        if (!list) {
            *count = 0;
            return NULL;
        }
        n = 0;
        for (size_t f = 0; f < sizeof family_tables / sizeof *family_tables; f++)
            for (const pq_op_def *d = family_tables[f]; d->name; d++) list[n++] = d;
        builtins = list;
        n_builtins = n;
    }
    *count = n_builtins;
    return builtins;
}

typedef struct override_entry {
    int platform;
    const pq_op_def *def;
} override_entry;

struct pq_registry {
    override_entry *entries;
    int64_t n, cap;
};

pq_status pq_registry_create(pq_registry **out, pq_err *err)
{
    *out = pq_calloc(1, sizeof **out);
    if (!*out) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory creating a registry");
    return PQ_OK;
}

void pq_registry_destroy(pq_registry **r)
{
    if (!r || !*r) return;
    pq_free((*r)->entries);
    pq_free(*r);
    *r = NULL;
}

pq_status pq_registry_register(pq_registry *r, int platform, const pq_op_def *def, pq_err *err)
{
    if (!def || !def->name || !def->run)
        return pq_err_set(err, PQ_ERR_INVALID, "operator definition without a name or run");
    if (r->n == r->cap) {
        int64_t cap = r->cap ? r->cap * 2 : 8;
        override_entry *e = pq_realloc(r->entries, (size_t)cap * sizeof *e);
        if (!e) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory registering an operator");
        r->entries = e;
        r->cap = cap;
    }
    /* Later registrations win over earlier ones with the same key: put them first. */
    memmove(r->entries + 1, r->entries, (size_t)r->n * sizeof *r->entries);
    r->entries[0].platform = platform;
    r->entries[0].def = def;
    r->n++;
    return PQ_OK;
}

static const char *norm_domain(const char *d)
{
    if (!d || strcmp(d, "ai.onnx") == 0) return "";
    return d;
}

static int matches(const pq_op_def *d, const char *domain, const char *type, int opset)
{
    return strcmp(d->name, type) == 0 && strcmp(norm_domain(d->domain), domain) == 0 &&
           d->since_version <= opset;
}

/* Best (highest since_version <= opset) among a list; the first wins ties. */
const pq_op_def *pq_registry_lookup(const pq_registry *r, int platform, const char *domain,
                                    const char *type, int opset)
{
    domain = norm_domain(domain);
    const int platforms[2] = {platform, 0};
    for (int p = 0; r && p < (platform ? 2 : 1); p++) {
        const pq_op_def *best = NULL;
        for (int64_t i = 0; i < r->n; i++) {
            const pq_op_def *d = r->entries[i].def;
            if (r->entries[i].platform != platforms[p] || !matches(d, domain, type, opset))
                continue;
            if (!best || d->since_version > best->since_version) best = d;
        }
        if (best) return best;
    }
    int64_t n;
    const pq_op_def *const *list = pq_registry_builtins(&n);
    const pq_op_def *best = NULL;
    for (int64_t i = 0; i < n; i++) {
        if (!matches(list[i], domain, type, opset)) continue;
        if (!best || list[i]->since_version > best->since_version) best = list[i];
    }
    return best;
}
