/*
 * sample_sheet.c - the cohort's sample sheet (format in io/cohort_schema.md).
 *
 * The header is the first non-blank line (a leading '#' is allowed and
 * ignored); after it, blank lines and lines starting with '#' are skipped.
 * Columns are found by name, in any order; unknown columns are ignored so a
 * sheet may carry its own annotations. Every problem is reported as
 * "SHEET line N: what; what to do", the first one found in file order.
 */
#include "io/io_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <htslib/khash.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

KHASH_MAP_INIT_STR(tsr_sheet_ids, int64_t)

enum { COL_SAMPLE, COL_POPULATION, COL_FASTQ1, COL_FASTQ2, COL_BAM, N_COLS };
static const char *const col_names[N_COLS] = {"sample", "population", "fastq1", "fastq2", "bam"};

typedef struct sheet_parse {
    const char *path;  /* as given, for messages */
    char *dir;         /* absolute directory of the sheet */
    int col[N_COLS];   /* field index of each known column, -1 if absent */
    int n_fields;      /* fields in the header */
    khash_t(tsr_sheet_ids) *ids; /* sample id -> part << 32 | line of first use */
    int cap;
    int part;                    /* index of the sheet part being read (tsr_sheet_create_from_parts) */
    const char *const *parts;    /* every part's path, for messages */
    int check_files;             /* 0: resolve paths without opening the files (sealed parts) */
} sheet_parse_t;

void tsr_sheet_destroy(tsr_sheet_t **sheet)
{
    if (!sheet || !*sheet)
        return;
    tsr_sheet_t *s = *sheet;
    for (int i = 0; i < s->n_samples; i++) {
        free(s->samples[i].id);
        free(s->samples[i].population);
        free(s->samples[i].fastq1);
        free(s->samples[i].fastq2);
        free(s->samples[i].bam);
    }
    free(s->samples);
    for (int i = 0; i < s->n_populations; i++)
        free(s->populations[i]);
    free(s->populations);
    free(s->sample_pop);
    free(s);
    *sheet = NULL;
}

/* Split `line` in place on tabs; returns the field count, or -1 on out of memory. */
static int split_tabs(char *line, char ***fields, int *cap)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == *cap) {
            int m = *cap ? *cap * 2 : 8;
            char **f = realloc(*fields, (size_t)m * sizeof *f);
            if (!f)
                return -1;
            *fields = f;
            *cap = m;
        }
        (*fields)[n++] = p;
        char *t = strchr(p, '\t');
        if (!t)
            break;
        *t = '\0';
        p = t + 1;
    }
    return n;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

static tsr_status_t parse_header(sheet_parse_t *ps, int lineno, char **f, int n)
{
    for (int c = 0; c < N_COLS; c++)
        ps->col[c] = -1;
    for (int i = 0; i < n; i++) {
        char *name = trim(f[i]);
        if (i == 0 && name[0] == '#')
            name = trim(name + 1);
        for (int c = 0; c < N_COLS; c++) {
            if (strcasecmp(name, col_names[c]) != 0)
                continue;
            if (ps->col[c] >= 0)
                return tsr_error_set(TSR_ERR_FORMAT, "%s line %d: column '%s' appears twice in the header",
                                     ps->path, lineno, col_names[c]);
            ps->col[c] = i;
        }
    }
    ps->n_fields = n;
    if (ps->col[COL_SAMPLE] < 0)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: the header has no 'sample' column; the first line must name the "
                             "tab-separated columns sample, population, fastq1 [fastq2] or bam",
                             ps->path, lineno);
    if (ps->col[COL_FASTQ1] < 0 && ps->col[COL_BAM] < 0)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: the header has neither a 'fastq1' nor a 'bam' column; name the "
                             "input files in one of them",
                             ps->path, lineno);
    if (ps->col[COL_FASTQ2] >= 0 && ps->col[COL_FASTQ1] < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s line %d: the header has 'fastq2' but no 'fastq1' column",
                             ps->path, lineno);
    return TSR_OK;
}

/* Resolve `p` against the sheet directory and check it can be read. */
static tsr_status_t resolve_input(sheet_parse_t *ps, int lineno, const char *p, char **out)
{
    char *r = p[0] == '/' ? strdup(p) : tsr_path_join(ps->dir, p);
    if (!r)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    if (!ps->check_files) {
        *out = r;
        return TSR_OK;
    }
    /* O_NONBLOCK: a FIFO must not hang the run at planning time. */
    int fd = open(r, O_RDONLY | O_NONBLOCK);
    struct stat st;
    const char *why = NULL;
    if (fd < 0)
        why = strerror(errno);
    else if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        why = "is a directory";
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file (a FIFO or device cannot be read more than once)";
    if (fd >= 0)
        close(fd);
    if (why) {
        tsr_status_t s = tsr_error_set(TSR_ERR_IO,
                                       "%s line %d: cannot read '%s'%s%s%s: %s; fix the path (relative paths "
                                       "are relative to the sheet's directory)",
                                       ps->path, lineno, p, p[0] == '/' ? "" : " (resolved to '",
                                       p[0] == '/' ? "" : r, p[0] == '/' ? "" : "')", why);
        free(r);
        return s;
    }
    *out = r;
    return TSR_OK;
}

static int valid_id(const char *s)
{
    if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

/* Population names become VCF INFO keys (AC_<pop>) and HDF5 dataset names. */
static int valid_population(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_')
            return 0;
    return 1;
}

static tsr_status_t parse_sample(sheet_parse_t *ps, tsr_sheet_t *sh, int lineno, char **f, int n)
{
    if (n != ps->n_fields)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: %d tab-separated fields but the header has %d; separate columns "
                             "with single tabs and leave no field out",
                             ps->path, lineno, n, ps->n_fields);
    const char *id = trim(f[ps->col[COL_SAMPLE]]);
    if (!*id)
        return tsr_error_set(TSR_ERR_FORMAT, "%s line %d: empty sample id", ps->path, lineno);
    if (!valid_id(id))
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sample id '%s' has characters outside [A-Za-z0-9._-]; sample ids "
                             "become file names, rename the sample",
                             ps->path, lineno, id);
    khiter_t k = kh_get(tsr_sheet_ids, ps->ids, id);
    if (k != kh_end(ps->ids)) {
        int part = (int)(kh_val(ps->ids, k) >> 32), line = (int)(kh_val(ps->ids, k) & 0xffffffff);
        if (part != ps->part)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s line %d: sample '%s' is already in the cohort (%s line %d); sample ids must be "
                                 "unique across the cohort, rename the new sample",
                                 ps->path, lineno, id, ps->parts[part], line);
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sample '%s' already on line %d; sample ids must be unique",
                             ps->path, lineno, id, line);
    }

    const char *pop = ps->col[COL_POPULATION] >= 0 ? trim(f[ps->col[COL_POPULATION]]) : "all";
    if (!*pop)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: empty population for sample '%s'; name one (or drop the column to "
                             "put every sample in population 'all')",
                             ps->path, lineno, id);
    if (!valid_population(pop))
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: population '%s' has characters outside [A-Za-z0-9._]; population "
                             "names become VCF INFO keys (AC_<population>), rename it",
                             ps->path, lineno, pop);
    const char *fq1 = ps->col[COL_FASTQ1] >= 0 ? trim(f[ps->col[COL_FASTQ1]]) : "";
    const char *fq2 = ps->col[COL_FASTQ2] >= 0 ? trim(f[ps->col[COL_FASTQ2]]) : "";
    const char *bam = ps->col[COL_BAM] >= 0 ? trim(f[ps->col[COL_BAM]]) : "";
    if (*bam && (*fq1 || *fq2))
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sample '%s' names both FASTQ and BAM/CRAM input; fill either "
                             "fastq1 [fastq2] or bam on each line",
                             ps->path, lineno, id);
    if (!*bam && !*fq1)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sample '%s' has no input file; fill fastq1 [fastq2] or bam",
                             ps->path, lineno, id);

    if (sh->n_samples == ps->cap) {
        int m = ps->cap ? ps->cap * 2 : 16;
        tsr_sample_t *p = realloc(sh->samples, (size_t)m * sizeof *p);
        if (!p)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
        sh->samples = p;
        ps->cap = m;
    }
    tsr_sample_t *s = &sh->samples[sh->n_samples];
    memset(s, 0, sizeof *s);
    sh->n_samples++; /* from here the destroy path frees whatever was set */
    s->id = strdup(id);
    s->population = strdup(pop);
    if (!s->id || !s->population)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    if (*bam) {
        s->kind = TSR_INPUT_ALIGNED;
        TSR_CALL(resolve_input(ps, lineno, bam, &s->bam));
    } else {
        s->kind = TSR_INPUT_FASTQ;
        TSR_CALL(resolve_input(ps, lineno, fq1, &s->fastq1));
        if (*fq2)
            TSR_CALL(resolve_input(ps, lineno, fq2, &s->fastq2));
    }
    int ret;
    k = kh_put(tsr_sheet_ids, ps->ids, s->id, &ret);
    if (ret < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    kh_val(ps->ids, k) = (int64_t)ps->part << 32 | (int64_t)lineno;
    return TSR_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static tsr_status_t index_populations(const char *path, tsr_sheet_t *sh)
{
    TSR_ALLOC(sh->sample_pop, sh->n_samples);
    char **all;
    TSR_ALLOC(all, sh->n_samples);
    for (int i = 0; i < sh->n_samples; i++)
        all[i] = sh->samples[i].population;
    qsort(all, (size_t)sh->n_samples, sizeof *all, cmp_str);
    int n = 0;
    for (int i = 0; i < sh->n_samples; i++)
        if (n == 0 || strcmp(all[n - 1], all[i]) != 0)
            all[n++] = all[i];
    sh->populations = calloc((size_t)n, sizeof *sh->populations);
    if (!sh->populations) {
        free(all);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
    }
    for (int i = 0; i < n; i++) {
        sh->populations[i] = strdup(all[i]);
        if (!sh->populations[i]) {
            sh->n_populations = i;
            free(all);
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
        }
    }
    sh->n_populations = n;
    free(all);
    for (int i = 0; i < sh->n_samples; i++) {
        char *key = sh->samples[i].population;
        char **hit = bsearch(&key, sh->populations, (size_t)n, sizeof *sh->populations, cmp_str);
        sh->sample_pop[i] = (int)(hit - sh->populations);
    }
    return TSR_OK;
}

static tsr_status_t parse_lines(sheet_parse_t *ps, FILE *fp, tsr_sheet_t *sh)
{
    char *line = NULL, **fields = NULL;
    size_t lcap = 0;
    int fcap = 0, lineno = 0, have_header = 0, before = sh->n_samples;
    ssize_t len;
    tsr_status_t st = TSR_OK;
    errno = 0;
    while ((len = getline(&line, &lcap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (is_blank(line) || (have_header && line[0] == '#'))
            continue;
        int n = split_tabs(line, &fields, &fcap);
        if (n < 0) {
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
            break;
        }
        if (!have_header) {
            have_header = 1;
            if ((st = parse_header(ps, lineno, fields, n)) != TSR_OK)
                break;
        } else if ((st = parse_sample(ps, sh, lineno, fields, n)) != TSR_OK) {
            break;
        }
        errno = 0;
    }
    if (st == TSR_OK && ferror(fp))
        st = tsr_error_set(TSR_ERR_IO, "cannot read sample sheet '%s': %s", ps->path, strerror(errno));
    if (st == TSR_OK && !have_header)
        st = tsr_error_set(TSR_ERR_FORMAT, "%s: empty sample sheet; the first line must be a header naming "
                           "the columns sample, population, fastq1 [fastq2] or bam", ps->path);
    if (st == TSR_OK && sh->n_samples == before)
        st = tsr_error_set(TSR_ERR_FORMAT, "%s: no samples after the header (line %d); add one line per sample",
                           ps->path, lineno);
    free(line);
    free(fields);
    return st;
}

/* Parse one part into sh (samples appended); ps->ids, ps->cap and ps->part carry over between parts. */
static tsr_status_t parse_part(sheet_parse_t *ps, const char *path, tsr_sheet_t *sh)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot open sample sheet '%s': %s", path, strerror(errno));
    ps->path = path;
    char *copy = strdup(path);
    tsr_status_t st = TSR_OK;
    if (!copy) {
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
    } else {
        char *slash = strrchr(copy, '/');
        const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
        ps->dir = realpath(dir, NULL);
        if (!ps->dir)
            st = tsr_error_set(TSR_ERR_IO, "cannot resolve the directory of sample sheet '%s': %s", path,
                               strerror(errno));
    }
    if (st == TSR_OK) {
        for (int c = 0; c < N_COLS; c++)
            ps->col[c] = -1;
        ps->n_fields = 0;
        st = parse_lines(ps, fp, sh);
    }
    fclose(fp);
    free(copy);
    free(ps->dir);
    ps->dir = NULL;
    return st;
}

tsr_status_t tsr_sheet_create_from_parts(int n_parts, const char *const *paths, int check_from,
                                         tsr_sheet_t **sheet)
{
    *sheet = NULL;
    if (n_parts < 1)
        return tsr_error_set(TSR_ERR_USAGE, "no sample sheet given");
    sheet_parse_t ps = {.parts = paths};
    tsr_sheet_t *sh = calloc(1, sizeof *sh);
    ps.ids = kh_init(tsr_sheet_ids);
    tsr_status_t st = TSR_OK;
    if (!sh || !ps.ids)
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", paths[0]);
    for (int p = 0; st == TSR_OK && p < n_parts; p++) {
        ps.part = p;
        ps.check_files = p >= check_from;
        st = parse_part(&ps, paths[p], sh);
    }
    if (st == TSR_OK)
        st = index_populations(paths[n_parts - 1], sh);
    if (ps.ids)
        kh_destroy(tsr_sheet_ids, ps.ids);
    if (st != TSR_OK)
        tsr_sheet_destroy(&sh);
    *sheet = sh;
    return st;
}

tsr_status_t tsr_sheet_create_from_file(const char *path, tsr_sheet_t **sheet)
{
    const char *paths[1] = {path};
    return tsr_sheet_create_from_parts(1, paths, 0, sheet);
}
