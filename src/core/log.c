/* log.c - leveled, rank-prefixed logging to stderr. */
#include "pq_core.h"

#include <stdio.h>

static pq_log_level cur_level = PQ_LOG_WARN;
static int cur_rank = -1;

void pq_log_set_level(pq_log_level level) { cur_level = level; }
pq_log_level pq_log_get_level(void) { return cur_level; }
void pq_log_set_rank(int rank) { cur_rank = rank; }

void pq_log(pq_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (level > cur_level) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (cur_rank >= 0)
        fprintf(stderr, "[ppq-calib r%d %s] %s\n", cur_rank, names[level], line);
    else
        fprintf(stderr, "[ppq-calib %s] %s\n", names[level], line);
}
