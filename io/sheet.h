/*
 * io/sheet.h - the sample sheet: samples, populations, lanes, sheet parts
 * (io/sample_sheet.c). Part of io's public interface (io/io.h includes it).
 */
#ifndef TSR_IO_SHEET_H
#define TSR_IO_SHEET_H

#include "runtime/runtime.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------- sample sheet */

/*
 * TSR_INPUT_FASTQ: reads to align (FASTQ, or unaligned BAM/CRAM in the
 * fastq1 column), one or more lanes. TSR_INPUT_ALIGNED: an aligned BAM/CRAM.
 */
typedef enum { TSR_INPUT_FASTQ = 1, TSR_INPUT_ALIGNED = 2 } tsr_input_kind_t;

/*
 * One lane of a sample: one sheet line's read files and its read group.
 * fastq1 is FASTQ (plain, gzip, BGZF) or an unaligned BAM/CRAM holding both
 * reads of each pair (then fastq2 is NULL); fastq2 is NULL for single-end.
 */
typedef struct tsr_lane {
    char *fastq1, *fastq2; /* absolute or sheet-relative resolved paths */
    char *read_group;      /* RG ID: the `read_group` column, else SAMPLE (one lane) or SAMPLE.L<n> (1-based) */
    char *library;         /* RG LB: the `library` column, else the sample id */
} tsr_lane_t;

/*
 * A sample's sex (the sheet's optional `sex` column), for ploidy (io/ploidy.h):
 * unknown is called like a female (diploid on X; what bcftools does without sex
 * information).
 */
typedef enum { TSR_SEX_UNKNOWN = 0, TSR_SEX_MALE = 1, TSR_SEX_FEMALE = 2 } tsr_sex_t;

/* `male`/`M`/`1`, `female`/`F`/`2`, `unknown`/`U`/`0`/empty (any case) -> tsr_sex_t; -1 for anything else. */
int tsr_sex_parse(const char *text);
/* "male", "female" or "unknown". */
const char *tsr_sex_name(int sex);

typedef struct tsr_sample {
    char *id;
    char *population;
    int sex;               /* tsr_sex_t (TSR_SEX_UNKNOWN without a `sex` column) */
    char *fastq1, *fastq2; /* lane 0's files (the same strings as lanes[0]; NULL for aligned input) */
    char *bam;             /* aligned BAM/CRAM input (resolved path) */
    tsr_input_kind_t kind;
    int n_lanes;           /* TSR_INPUT_FASTQ: >= 1, in sheet order; TSR_INPUT_ALIGNED: 0 */
    tsr_lane_t *lanes;
} tsr_sample_t;

typedef struct tsr_sheet {
    int n_samples;
    tsr_sample_t *samples; /* in order of first appearance: that order is the cohort's sample order */
    int n_populations;
    char **populations;    /* distinct population names, sorted */
    int *sample_pop;       /* per sample: index into populations */
} tsr_sheet_t;

/*
 * Parse a TSV sample sheet with a header naming columns `sample`,
 * `population` and either `fastq1` [`fastq2`] or `bam` (any order; `#`
 * comments and blank lines skipped), and optionally `read_group`,
 * `library` and `sex` (tsr_sex_parse; a sample's lines must agree on it). Paths are resolved relative to the sheet's directory. A sample
 * with read input may take several lines (its lanes, read in sheet order);
 * they must name the same population and each its own read group (a
 * repeated id without read_group is refused as a likely copy-paste error). Errors name the file and line: a repeated id with aligned input or
 * another population, missing columns, unreadable input files. Not
 * collective. Destroy with tsr_sheet_destroy().
 */
tsr_status_t tsr_sheet_create_from_file(const char *path, tsr_sheet_t **sheet) TSR_RESULT_USED;
void tsr_sheet_destroy(tsr_sheet_t **sheet);
/*
 * One cohort from several sheets read in order (`tessera add`: the run's
 * sheet, then each added sheet): the samples are their concatenation, ids
 * are unique across all parts (a repeated id names both places; a sample's
 * lanes all sit in one part), and the populations are indexed over the
 * union exactly as for one sheet holding every line. Parts before
 * `check_from` are sealed: their paths are resolved but the files are not
 * opened (they may have moved away). Not collective. Destroy with
 * tsr_sheet_destroy().
 */
tsr_status_t tsr_sheet_create_from_parts(int n_parts, const char *const *paths, int check_from,
                                         tsr_sheet_t **sheet) TSR_RESULT_USED;
/*
 * Write samples [from, to) of `sh` as a sheet that tsr_sheet_create_from_file()
 * reads back to the same samples: columns sample, population, fastq1, fastq2,
 * bam, read_group, library, sex; one line per lane, resolved paths. Written to a
 * temporary name and renamed when complete. Not collective.
 */
tsr_status_t tsr_sheet_write(const tsr_sheet_t *sh, int from, int to, const char *path) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_SHEET_H */
