/*
 * io/ploidy.h - the ploidy map: how many alleles a sample of a given sex
 * carries at a contig position (io/ploidy.c). Part of io's public interface
 * (io/io.h includes it).
 *
 * Rules are (contig, [beg, end) 0-based, sex or all, ploidy 0..2); the last
 * rule that covers a position and the sex wins, and a position no rule covers
 * is diploid. Built in, chosen by the reference's contig names and the X
 * length (bcftools call --ploidy GRCh37 / GRCh38):
 *   GRCh37 (X, Y, MT): males haploid on X outside PAR1 X:60001-2699520 and
 *     PAR2 X:154931044-155260560 and on all of Y; females 0 on Y; MT haploid for everyone.
 *   GRCh38 (chrX, chrY, chrM): the same with PAR1 chrX:10001-2781479 and PAR2
 *     chrX:155701383-156030895.
 * A BED (--ploidy-bed) replaces the built-in rules: columns contig, start,
 * end (BED: 0-based, end exclusive), sex (M/male/1, F/female/2, U/unknown/0,
 * or * for every sex) and ploidy (0, 1 or 2); `#`, `track` and `browser`
 * lines and blank lines are skipped.
 */
#ifndef TSR_IO_PLOIDY_H
#define TSR_IO_PLOIDY_H

#include "runtime/runtime.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_ploidy tsr_ploidy_t;

/*
 * The map for a reference of n contigs (names, lengths): the rules of `bed`
 * when it is not NULL, else the built-in rules of the build the contigs
 * name (none: every position diploid). Errors (TSR_ERR_IO, TSR_ERR_FORMAT)
 * name the file and line. Not collective. Destroy with tsr_ploidy_destroy().
 */
tsr_status_t tsr_ploidy_create(const char *bed, int n, const char *const *names, const int64_t *lengths,
                               tsr_ploidy_t **out) TSR_RESULT_USED;
void tsr_ploidy_destroy(tsr_ploidy_t **p);
/* Ploidy (0, 1 or 2) of a sample of `sex` (tsr_sex_t) at 0-based pos of contig. p may be NULL (diploid). */
int tsr_ploidy_at(const tsr_ploidy_t *p, const char *contig, int64_t pos, int sex);
/* What the rules came from: "GRCh37 built-in", "GRCh38 built-in", "none (diploid)" or the BED's path. */
const char *tsr_ploidy_source(const tsr_ploidy_t *p);

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_PLOIDY_H */
