/*
 * io_internal.h - private to io/: the read-source back-end table and small
 * helpers shared by the io sources. Nothing outside io/ may include this header.
 */
#ifndef TSR_IO_INTERNAL_H
#define TSR_IO_INTERNAL_H

#include "io/io.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A read-source back end (htslib hFILE_backend spirit). The front end in
 * io/read_source.c owns a tsr_reader_t and calls through this table;
 * `state` is the back end's private handle.
 *   open:  open path1 (and path2 when paired, else NULL) into *state;
 *          returns a status with the message recorded by tsr_error_set().
 *   next:  tsr_reader_next() semantics: 1 record, 0 end, -2 error (message set).
 *   close: release *state (accepts NULL).
 */
typedef struct tsr_reader_backend {
    const char *name;
    tsr_status_t (*open)(const char *path1, const char *path2, void **state);
    int (*next)(void *state, tsr_read_t *r1, tsr_read_t *r2);
    void (*close)(void *state);
} tsr_reader_backend_t;

/* The FASTQ back end (plain, gzip, BGZF), defined in io/read_source.c. */
extern const tsr_reader_backend_t tsr_fastq_backend;

/* A growable byte string, kept NUL-terminated by tsr_str_putn(). */
typedef struct tsr_str {
    size_t l, m;
    char *s;
} tsr_str_t;

/* Make room for `n` more bytes plus a NUL; 0 on success, -1 on out of memory. */
static inline int tsr_str_reserve(tsr_str_t *s, size_t n)
{
    if (s->l + n + 1 <= s->m)
        return 0;
    size_t m = s->m ? s->m : 64;
    while (m < s->l + n + 1)
        m *= 2;
    char *p = realloc(s->s, m);
    if (!p)
        return -1;
    s->s = p;
    s->m = m;
    return 0;
}

/* Append `n` bytes and keep the string NUL-terminated; 0 or -1 (out of memory). */
static inline int tsr_str_putn(tsr_str_t *s, const char *p, size_t n)
{
    if (tsr_str_reserve(s, n) != 0)
        return -1;
    memcpy(s->s + s->l, p, n);
    s->l += n;
    s->s[s->l] = '\0';
    return 0;
}

static inline void tsr_str_free(tsr_str_t *s)
{
    free(s->s);
    s->s = NULL;
    s->l = s->m = 0;
}

/* malloc'ed "dir/name"; NULL on out of memory. */
static inline char *tsr_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (a > 0 && dir[a - 1] == '/')
        a--;
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* ------------------------------------------------ cohort.h5 (cohort_h5.c) */

/*
 * One joint-genotyped site as the cohort writer hands it to the cohort.h5
 * back end, with its statistics already computed. Pointers are borrowed for
 * the duration of the call.
 */
typedef struct tsr_cohort_site {
    int32_t contig;             /* index into the reference's contigs */
    int64_t pos;                /* 0-based */
    int n_alleles;              /* REF + ALTs */
    const char *const *alleles; /* n_alleles NUL-terminated strings */
    float qual;                 /* NaN = missing */
    uint8_t filter;             /* 0 = PASS, bit 0 = LowQual */
    const int8_t *gt;           /* n_samples*2, -1 missing */
    const int32_t *gq, *dp;     /* n_samples, -1 missing; NULL = all missing */
    const int32_t *ad;          /* n_samples*n_alleles, -1 missing; NULL = all missing */
    const int32_t *ac;          /* (1+n_populations)*(n_alleles-1): cohort, then per population */
    const int32_t *an;          /* 1+n_populations */
    const float *af;            /* like ac; NaN where AN = 0 */
    const tsr_site_stats_t *st; /* every per-site statistic of the site (ac, an, af are its arrays) */
} tsr_cohort_site_t;

typedef struct tsr_cohort_h5 tsr_cohort_h5_t;

/* Create the HDF5 file `path` (truncating) with the schema of io/cohort_schema.md. Close with tsr_cohort_h5_close(). */
tsr_status_t tsr_cohort_h5_open(const char *path, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                tsr_cohort_h5_t **h) TSR_RESULT_USED;
/* Append one site (buffered; written a chunk-row of variants at a time). */
tsr_status_t tsr_cohort_h5_add(tsr_cohort_h5_t *h, const tsr_cohort_site_t *site) TSR_RESULT_USED;
/* Write buffered sites when `flush` is 1, then close the file (the caller renames or removes it). */
tsr_status_t tsr_cohort_h5_close(tsr_cohort_h5_t **h, int flush) TSR_RESULT_USED;

/* ------------------------------------------- stats.tsv columns (site_stats.c) */

/*
 * The statistics columns of stats.tsv, shared by the cohort writer and
 * `tessera stats`: for the cohort and then each population (suffix
 * "_<pop>"), AC AN AF NS nhet nhomalt F_MISSING HWE ExcHet F (per-ALT columns
 * comma-separated, missing values "."). Append the header names (each
 * preceded by a tab) or one site's values; 0 or -1 on out of memory.
 */
int tsr_site_stats_tsv_header(tsr_str_t *s, int n_pops, char *const *pops);
int tsr_site_stats_tsv_values(tsr_str_t *s, const tsr_site_stats_t *st);

#endif /* TSR_IO_INTERNAL_H */
