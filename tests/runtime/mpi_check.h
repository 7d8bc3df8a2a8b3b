/*
 * mpi_check.h - the CHECK macro of the runtime's MPI test programs: print
 * "FAIL file:line: condition: message" and count the failure in the
 * caller's `failures` (an int in scope), so a rank reports every check that
 * failed before the program agrees on the outcome.
 */
#ifndef TSR_TESTS_MPI_CHECK_H
#define TSR_TESTS_MPI_CHECK_H

#include <stdio.h>

#define CHECK(cond, ...)                                                                                          \
    do {                                                                                                          \
        if (!(cond)) {                                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                                                         \
            fputc('\n', stderr);                                                                                  \
            failures++;                                                                                           \
        }                                                                                                         \
    } while (0)

#endif /* TSR_TESTS_MPI_CHECK_H */
