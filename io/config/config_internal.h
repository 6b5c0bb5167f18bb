/* config_internal.h - helpers shared by the io/config sources (never included elsewhere). */
#ifndef PQ_CONFIG_INTERNAL_H
#define PQ_CONFIG_INTERNAL_H

#include "pq_config.h"

#include <yaml.h>

/* Parses YAML text into a document. PQ_ERR_CONFIG "name:line:col: YAML syntax error: ..."
 * on a syntax error; an empty text gives a document without a root node. */
pq_status pq__yaml_parse(const char *text, size_t len, const char *name, yaml_document_t *doc,
                         pq_err *err);

/* The node at a dotted path ("data.inputs.images.mean.1": mapping keys, sequence indexes)
 * or NULL; *key_node (may be NULL) receives the key node of the last mapping step. */
yaml_node_t *pq__yaml_lookup(yaml_document_t *doc, const char *path, yaml_node_t **key_node);

/* Applies one "a.b=value" override to doc (value parsed as YAML). PQ_ERR_CONFIG naming the
 * --set when malformed or when a path step is not a mapping. */
pq_status pq__yaml_apply_set(yaml_document_t *doc, const char *set, pq_err *err);

/* Emits doc as YAML text (new string, pq_free). The document is consumed (emptied). */
pq_status pq__yaml_emit(yaml_document_t *doc, char **out, pq_err *err);

/* Shortest "%.Ng" that reads back to exactly v. */
void pq__fmt_double(char *buf, size_t cap, double v);

#endif /* PQ_CONFIG_INTERNAL_H */
