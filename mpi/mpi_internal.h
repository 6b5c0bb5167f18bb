/* mpi_internal.h - helpers shared by the mpi/ sources (never included from elsewhere). */
#ifndef PQ_MPI_INTERNAL_H
#define PQ_MPI_INTERNAL_H

#include "pq_mpi.h"

struct pq_mpi {
    MPI_Comm comm;          /* duplicate of the user's communicator, MPI_ERRORS_RETURN */
    int rank, size;
    size_t max_message;     /* bytes per reduction/broadcast message */
    int fail_rank;          /* PQ_TEST_FAIL_RANK, -1 when unset */
    int64_t fail_batch;     /* PQ_TEST_FAIL_BATCH, 0 when unset */
    int phase_times;        /* PQ_PHASE_TIMES set: rank 0 prints phase times */
    double phase_wall, phase_cpu; /* at the last mark (or creation) */
};

/* Sets err to PQ_ERR_MPI naming the call and MPI's error string; returns PQ_ERR_MPI. */
pq_status pq__mpi_error(pq_err *err, const char *call, int rc);

/* Run an MPI call; on failure set err naming the call and jump to `fail`. Expects `st`. */
#define PQ_MPI(call, args)                                         \
    do {                                                           \
        int pq_rc_ = call args;                                    \
        if (pq_rc_ != MPI_SUCCESS) {                               \
            st = pq__mpi_error(err, #call, pq_rc_);                \
            goto fail;                                             \
        }                                                          \
    } while (0)

#endif /* PQ_MPI_INTERNAL_H */
