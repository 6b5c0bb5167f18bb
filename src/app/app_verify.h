/* app_verify.h - `ppq-calib verify`. */
#ifndef PQ_APP_VERIFY_H
#define PQ_APP_VERIFY_H

/* verify OUT.json [--quiet]: checks that the inputs a calibration recorded in its JSON
 * parameters (provenance: config file, model file, calibration data) are unchanged, by
 * recomputing their SHA-256 digests (the data digest over exactly the batches calibration
 * read, mpi/ pq_mpi_calib_data_digest). Prints one line per input: match, CHANGED (with the
 * recorded and the current digest) or missing. Exit codes: 0 every input matches, 1 an
 * input changed or is missing, 2 usage error or the JSON cannot be used (not JSON, no
 * provenance, bad effective config), naming the file. Works as a 1-rank singleton or under
 * mpirun (rank 0 prints); the digest does not depend on the number of ranks. */
int pq_cmd_verify(int argc, char **argv);

#endif /* PQ_APP_VERIFY_H */
