/* blas_select.c - which OpenBLAS kernels this process should run. */
#include "pq_exec.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS core names whose kernels already use AVX-512. */
static int core_has_avx512(const char *core)
{
    static const char *const names[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (core && strcmp(core, names[i]) == 0) return 1;
    return 0;
}

const char *pq_exec_blas_better_core(void)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("PQ_NO_REEXEC")) return NULL;
    if (core_has_avx512(openblas_get_corename())) return NULL;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq"))
        return NULL;
    return "SkylakeX";
}
