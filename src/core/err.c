/* err.c - status names and contextual error messages. */
#include "pq_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
#define PQ_STATUS_NAME(name, text) #name,
    PQ_STATUS_MAP(PQ_STATUS_NAME)
#undef PQ_STATUS_NAME
};

static const char *const status_texts[] = {
#define PQ_STATUS_TEXT(name, text) text,
    PQ_STATUS_MAP(PQ_STATUS_TEXT)
#undef PQ_STATUS_TEXT
};

const char *pq_status_name(pq_status st)
{
    if ((int)st < 0 || st >= PQ_STATUS_COUNT) return "PQ_ERR_UNKNOWN";
    return status_names[st];
}

const char *pq_status_text(pq_status st)
{
    if ((int)st < 0 || st >= PQ_STATUS_COUNT) return "unknown status";
    return status_texts[st];
}

pq_status pq_err_set(pq_err *err, pq_status code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void pq_err_prefix(pq_err *err, const char *fmt, ...)
{
    if (!err) return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the old message right to make room for "prefix: ", truncating its tail. */
    size_t cap = sizeof err->msg, plen = strlen(prefix), olen = strlen(err->msg);
    if (plen + 2 >= cap) plen = cap - 3;
    size_t keep = olen;
    if (plen + 2 + keep >= cap) keep = cap - 1 - plen - 2;
    memmove(err->msg + plen + 2, err->msg, keep);
    err->msg[plen + 2 + keep] = '\0';
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
}

void pq_err_clear(pq_err *err)
{
    if (!err) return;
    err->code = PQ_OK;
    err->msg[0] = '\0';
}

void pq__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "ppq-calib: internal error: assertion '%s' failed at %s:%d\n", expr, file,
            line);
    abort();
}
