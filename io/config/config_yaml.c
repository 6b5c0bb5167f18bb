/* config_yaml.c - libyaml document helpers for the config loader: parsing with positions,
 * path lookups (for line:column in messages), --set patches and emitting. */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pq_status pq__yaml_parse(const char *text, size_t len, const char *name, yaml_document_t *doc,
                         pq_err *err)
{
    yaml_parser_t p;
    memset(doc, 0, sizeof *doc);
    if (!yaml_parser_initialize(&p)) return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    pq_status st = PQ_OK;
    if (!yaml_parser_load(&p, doc)) {
        st = pq_err_set(err, PQ_ERR_CONFIG, "%s:%zu:%zu: YAML syntax error: %s%s%s", name,
                        p.problem_mark.line + 1, p.problem_mark.column + 1,
                        p.problem ? p.problem : "unknown", p.context ? " " : "",
                        p.context ? p.context : "");
        memset(doc, 0, sizeof *doc);
    }
    yaml_parser_delete(&p);
    return st;
}

static int is_index(const char *s, size_t n, long *out)
{
    if (n == 0 || n > 9) return 0;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

yaml_node_t *pq__yaml_lookup(yaml_document_t *doc, const char *path, yaml_node_t **key_node)
{
    yaml_node_t *node = yaml_document_get_root_node(doc);
    if (key_node) *key_node = NULL;
    const char *s = path;
    while (node && *s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        yaml_node_t *next = NULL;
        if (node->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
                 pr < node->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = yaml_document_get_node(doc, pr->key);
                if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == n &&
                    memcmp(k->data.scalar.value, s, n) == 0) {
                    next = yaml_document_get_node(doc, pr->value);
                    if (key_node) *key_node = k;
                }
            }
        } else if (node->type == YAML_SEQUENCE_NODE) {
            long idx;
            long count = (long)(node->data.sequence.items.top - node->data.sequence.items.start);
            if (is_index(s, n, &idx) && idx < count) {
                next = yaml_document_get_node(doc, node->data.sequence.items.start[idx]);
                if (key_node) *key_node = next;
            }
        }
        node = next;
        s = dot ? dot + 1 : s + n;
    }
    return node;
}

/* Copies node `id` of src (and its children) into dst; returns the new id or 0. */
static int copy_node(yaml_document_t *dst, yaml_document_t *src, int id)
{
    yaml_node_t *n = yaml_document_get_node(src, id);
    if (!n) return 0;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return yaml_document_add_scalar(dst, NULL, n->data.scalar.value,
                                        (int)n->data.scalar.length, n->data.scalar.style);
    case YAML_SEQUENCE_NODE: {
        int seq = yaml_document_add_sequence(dst, NULL, YAML_FLOW_SEQUENCE_STYLE);
        if (!seq) return 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            int c = copy_node(dst, src, *it);
            if (!c || !yaml_document_append_sequence_item(dst, seq, c)) return 0;
        }
        return seq;
    }
    case YAML_MAPPING_NODE: {
        int map = yaml_document_add_mapping(dst, NULL, YAML_BLOCK_MAPPING_STYLE);
        if (!map) return 0;
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
            int k = copy_node(dst, src, pr->key), v = copy_node(dst, src, pr->value);
            if (!k || !v || !yaml_document_append_mapping_pair(dst, map, k, v)) return 0;
        }
        return map;
    }
    default: return 0;
    }
}

static int is_null_scalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

pq_status pq__yaml_apply_set(yaml_document_t *doc, const char *set, pq_err *err)
{
    pq_status st = PQ_OK;
    yaml_document_t vdoc;
    memset(&vdoc, 0, sizeof vdoc);
    const char *eq = strchr(set, '=');
    PQ_CHECK(eq && eq > set, PQ_ERR_CONFIG, "--set %s: expected KEY=VALUE (a.b.c=value)", set);
    size_t klen = (size_t)(eq - set);
    int empty_step = set[0] == '.' || set[klen - 1] == '.';
    for (size_t i = 0; i + 1 < klen; i++)
        if (set[i] == '.' && set[i + 1] == '.') empty_step = 1;
    PQ_CHECK(!empty_step,
             PQ_ERR_CONFIG, "--set %s: malformed key '%.*s'", set, (int)klen, set);
    const char *val = eq + 1;
    {
        pq_err verr = {0};
        if (pq__yaml_parse(val, strlen(val), "value", &vdoc, &verr) != PQ_OK) {
            st = pq_err_set(err, PQ_ERR_CONFIG, "--set %s: the value is not valid YAML (%s)", set,
                            verr.msg);
            goto fail;
        }
    }
    int vroot;
    if (yaml_document_get_root_node(&vdoc))
        vroot = copy_node(doc, &vdoc, 1);
    else
        vroot = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)"", 0,
                                         YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    PQ_CHECK(vroot, PQ_ERR_NOMEM, "--set %s: out of memory", set);

    yaml_node_t *root = yaml_document_get_root_node(doc);
    int cur;
    if (!root) {
        cur = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
        PQ_CHECK(cur == 1, PQ_ERR_NOMEM, "--set %s: out of memory", set);
    } else {
        cur = 1;
        PQ_CHECK(root->type == YAML_MAPPING_NODE, PQ_ERR_CONFIG,
                 "--set %s: the config's top level is not a mapping", set);
    }
    const char *s = set;
    while (s < eq) {
        const char *dot = memchr(s, '.', (size_t)(eq - s));
        size_t n = dot ? (size_t)(dot - s) : (size_t)(eq - s);
        int last = dot == NULL;
        yaml_node_t *map = yaml_document_get_node(doc, cur);
        yaml_node_pair_t *found = NULL;
        for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *k = yaml_document_get_node(doc, pr->key);
            if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == n &&
                memcmp(k->data.scalar.value, s, n) == 0)
                found = pr;
        }
        if (last) {
            if (found) {
                found->value = vroot;
            } else {
                int k = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)s, (int)n,
                                                 YAML_PLAIN_SCALAR_STYLE);
                PQ_CHECK(k && yaml_document_append_mapping_pair(doc, cur, k, vroot),
                         PQ_ERR_NOMEM, "--set %s: out of memory", set);
            }
            break;
        }
        yaml_node_t *child = found ? yaml_document_get_node(doc, found->value) : NULL;
        if (child && child->type == YAML_MAPPING_NODE) {
            cur = found->value;
        } else if (child && child->type == YAML_SCALAR_NODE && !is_null_scalar(child) &&
                   strncmp(set, "data.inputs.", 12) == 0 && s == set + 12) {
            /* The input shorthand `name: /dataset` becomes {dataset: /dataset} so that
             * --set data.inputs.name.mean=... can add to it. */
            int m = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
            int k = m ? yaml_document_add_scalar(doc, NULL, (yaml_char_t *)"dataset", 7,
                                                 YAML_PLAIN_SCALAR_STYLE)
                      : 0;
            PQ_CHECK(k && yaml_document_append_mapping_pair(doc, m, k, found->value),
                     PQ_ERR_NOMEM, "--set %s: out of memory", set);
            found->value = m;
            cur = m;
        } else {
            PQ_CHECK(!child || is_null_scalar(child), PQ_ERR_CONFIG,
                     "--set %s: '%.*s' is not a mapping", set, (int)(s + n - set), set);
            int m = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
            PQ_CHECK(m, PQ_ERR_NOMEM, "--set %s: out of memory", set);
            if (found) {
                found->value = m;
            } else {
                int k = yaml_document_add_scalar(doc, NULL, (yaml_char_t *)s, (int)n,
                                                 YAML_PLAIN_SCALAR_STYLE);
                PQ_CHECK(k && yaml_document_append_mapping_pair(doc, cur, k, m), PQ_ERR_NOMEM,
                         "--set %s: out of memory", set);
            }
            cur = m;
        }
        s = dot + 1;
    }
fail:
    yaml_document_delete(&vdoc);
    return st;
}

typedef struct out_buf {
    char *data;
    size_t len, cap;
    int failed;
} out_buf;

static int write_cb(void *ctx, unsigned char *buffer, size_t size)
{
    out_buf *b = ctx;
    if (b->len + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + size + 1) cap *= 2;
        char *d = pq_realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, buffer, size);
    b->len += size;
    b->data[b->len] = '\0';
    return 1;
}

pq_status pq__yaml_emit(yaml_document_t *doc, char **out, pq_err *err)
{
    yaml_emitter_t em;
    out_buf b = {NULL, 0, 0, 0};
    *out = NULL;
    if (!yaml_emitter_initialize(&em)) {
        yaml_document_delete(doc);
        return pq_err_set(err, PQ_ERR_NOMEM, "out of memory");
    }
    yaml_emitter_set_output(&em, write_cb, &b);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_unicode(&em, 1);
    int ok = 0;
    if (!yaml_emitter_open(&em)) {
        yaml_document_delete(doc);
    } else {
        /* yaml_emitter_dump frees the document's nodes whether or not it succeeds. */
        ok = yaml_emitter_dump(&em, doc) && yaml_emitter_close(&em);
        memset(doc, 0, sizeof *doc);
    }
    yaml_emitter_delete(&em);
    if (!ok || b.failed || !b.data) {
        pq_free(b.data);
        return pq_err_set(err, PQ_ERR_CONFIG, "cannot emit the patched config");
    }
    *out = b.data;
    return PQ_OK;
}

void pq__fmt_double(char *buf, size_t cap, double v)
{
    if (!buf || cap == 0) return; /* also tells GCC's -Wformat-truncation buf is not NULL */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* keep it a float in YAML's eyes: 1 -> 1.0 */
    if (!strpbrk(buf, ".eEnN") && strlen(buf) + 3 < cap) strcat(buf, ".0");
}
