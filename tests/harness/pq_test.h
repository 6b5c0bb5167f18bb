/* pq_test.h - a minimal test harness: PQ_TEST(name) defines a test, PQ_TEST_MAIN() runs them.
 * Failed expectations print the expression and both values; a test fails when any failed. */
#ifndef PQ_TEST_H
#define PQ_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*pq_test_fn)(void);
void pq_test_register(const char *name, pq_test_fn fn);
extern int pq_test_failures;

#define PQ_TEST(name)                                                         \
    static void name(void);                                                   \
    __attribute__((constructor)) static void name##_register(void)           \
    {                                                                         \
        pq_test_register(#name, name);                                        \
    }                                                                         \
    static void name(void)

#define PQ_FAIL_AT(...)                                                       \
    do {                                                                      \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                       \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        pq_test_failures++;                                                   \
    } while (0)

#define PQ_EXPECT(cond)                                                       \
    do {                                                                      \
        if (!(cond)) PQ_FAIL_AT("expected %s", #cond);                        \
    } while (0)

#define PQ_EXPECT_EQ(a, b)                                                    \
    do {                                                                      \
        long long pq_a_ = (long long)(a), pq_b_ = (long long)(b);             \
        if (pq_a_ != pq_b_)                                                   \
            PQ_FAIL_AT("expected %s == %s, got %lld and %lld", #a, #b, pq_a_, pq_b_); \
    } while (0)

#define PQ_EXPECT_NEAR(a, b, tol)                                             \
    do {                                                                      \
        double pq_a_ = (double)(a), pq_b_ = (double)(b);                      \
        if (!(fabs(pq_a_ - pq_b_) <= (tol)))                                  \
            PQ_FAIL_AT("expected %s ~= %s (tol %g), got %.9g and %.9g", #a, #b, \
                       (double)(tol), pq_a_, pq_b_);                          \
    } while (0)

#define PQ_EXPECT_STR(a, b)                                                   \
    do {                                                                      \
        const char *pq_a_ = (a), *pq_b_ = (b);                                \
        if (!pq_a_ || !pq_b_ || strcmp(pq_a_, pq_b_) != 0)                    \
            PQ_FAIL_AT("expected %s == %s, got \"%s\" and \"%s\"", #a, #b,    \
                       pq_a_ ? pq_a_ : "(null)", pq_b_ ? pq_b_ : "(null)");   \
    } while (0)

#define PQ_EXPECT_CONTAINS(hay, needle)                                       \
    do {                                                                      \
        const char *pq_h_ = (hay), *pq_n_ = (needle);                         \
        if (!pq_h_ || !strstr(pq_h_, pq_n_))                                  \
            PQ_FAIL_AT("expected %s to contain \"%s\", got \"%s\"", #hay, pq_n_, \
                       pq_h_ ? pq_h_ : "(null)");                             \
    } while (0)

/* Status check: prints the error message on mismatch. */
#define PQ_EXPECT_OK(expr, errp)                                              \
    do {                                                                      \
        int pq_st_ = (int)(expr);                                             \
        if (pq_st_ != 0) PQ_FAIL_AT("%s failed (%d): %s", #expr, pq_st_, (errp)->msg); \
    } while (0)

int pq_test_main(int argc, char **argv);
#define PQ_TEST_MAIN() \
    int main(int argc, char **argv) { return pq_test_main(argc, argv); }

#endif /* PQ_TEST_H */
