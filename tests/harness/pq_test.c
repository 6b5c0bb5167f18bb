/* pq_test.c - runs the registered tests; argv[1], when given, selects tests by substring. */
#include "pq_test.h"

#include <stdlib.h>

#define PQ_MAX_TESTS 512

static const char *names[PQ_MAX_TESTS];
static pq_test_fn fns[PQ_MAX_TESTS];
static int n_tests;
int pq_test_failures;

void pq_test_register(const char *name, pq_test_fn fn)
{
    if (n_tests == PQ_MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    names[n_tests] = name;
    fns[n_tests++] = fn;
}

int pq_test_main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (argc > 1 && !strstr(names[i], argv[1])) continue;
        int before = pq_test_failures;
        fns[i]();
        if (pq_test_failures == before) {
            passed++;
            printf("ok   %s\n", names[i]);
        } else {
            failed++;
            printf("FAIL %s\n", names[i]);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
