/*
 * io/reference.h - the reference FASTA through htslib faidx (io/reference.c).
 * Part of io's public interface (io/io.h includes it).
 */
#ifndef TSR_IO_REFERENCE_H
#define TSR_IO_REFERENCE_H

#include "runtime/runtime.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- reference */

typedef struct tsr_ref tsr_ref_t;

/*
 * Open a FASTA reference through htslib's faidx (building REF.fai if it is
 * missing and the directory is writable). Not collective.
 * Close with tsr_ref_close().
 */
tsr_status_t tsr_ref_open(const char *path, tsr_ref_t **ref) TSR_RESULT_USED;
void tsr_ref_close(tsr_ref_t **ref);
int tsr_ref_n_contigs(const tsr_ref_t *ref);
const char *tsr_ref_contig_name(const tsr_ref_t *ref, int i);
int64_t tsr_ref_contig_length(const tsr_ref_t *ref, int i);
/* Index of a contig by name, -1 if absent. */
int tsr_ref_contig_index(const tsr_ref_t *ref, const char *name);
/*
 * Fetch [start, end) of a contig (0-based), upper-cased, into a new
 * NUL-terminated buffer the caller frees with free(). Thread-safe per handle
 * is NOT guaranteed: use one tsr_ref_t per thread.
 */
tsr_status_t tsr_ref_fetch(tsr_ref_t *ref, const char *contig, int64_t start, int64_t end,
                           char **seq, int64_t *len) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_REFERENCE_H */
