/*
 * sample_sheet.c - the cohort's sample sheet (format in io/cohort_schema.md).
 *
 * The header is the first non-blank line (a leading '#' is allowed and
 * ignored); after it, blank lines and lines starting with '#' are skipped.
 * Columns are found by name, in any order; unknown columns are ignored so a
 * sheet may carry its own annotations. Every problem is reported as
 * "SHEET line N: what; what to do", the first one found in file order.
 *
 * Lanes: a sample with read input (fastq1 [fastq2]) may take several lines,
 * one per lane, in one part; the sample keeps the place of its first line.
 * Every line of a sample with several must name its read group (distinct
 * within the sample): a repeated id without one is refused, naming both
 * lines, since it is as likely two people pasted under one id. A single
 * lane's read group defaults to SAMPLE (SAMPLE.L<n> remains the default
 * only for sheets written back by tsr_sheet_write, which name every one).
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
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

KHASH_MAP_INIT_STR(tsr_sheet_ids, int64_t)

enum { COL_SAMPLE, COL_POPULATION, COL_FASTQ1, COL_FASTQ2, COL_BAM, COL_READ_GROUP, COL_LIBRARY, COL_SEX, N_COLS };
static const char *const col_names[N_COLS] = {"sample", "population", "fastq1",  "fastq2",
                                              "bam",    "read_group", "library", "sex"};

/* The sheet lines of one sample's lanes, for messages (the sample's part is sheet_parse_t.part). */
typedef struct lane_lines {
    int n;
    int *line;
} lane_lines_t;

typedef struct sheet_parse {
    const char *path;  /* as given, for messages */
    char *dir;         /* absolute directory of the sheet */
    int col[N_COLS];   /* field index of each known column, -1 if absent */
    int n_fields;      /* fields in the header */
    khash_t(tsr_sheet_ids) *ids; /* sample id -> index in the sheet */
    int cap;
    int *id_part;                /* per sample: the part of its lines */
    lane_lines_t *lines;         /* per sample: the line of each lane (of its first line when aligned) */
    int part;                    /* index of the sheet part being read (tsr_sheet_create_from_parts) */
    const char *const *parts;    /* every part's path, for messages */
    int check_files;             /* 0: resolve paths without opening the files (sealed parts) */
} sheet_parse_t;

int tsr_sex_parse(const char *t)
{
    static const char *const male[] = {"male", "m", "1"}, *const female[] = {"female", "f", "2"},
                             *const unknown[] = {"unknown", "u", "0", ""};
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(t, male[i]))
            return TSR_SEX_MALE;
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(t, female[i]))
            return TSR_SEX_FEMALE;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(t, unknown[i]))
            return TSR_SEX_UNKNOWN;
    return -1;
}

const char *tsr_sex_name(int sex)
{
    return sex == TSR_SEX_MALE ? "male" : sex == TSR_SEX_FEMALE ? "female" : "unknown";
}

void tsr_sheet_destroy(tsr_sheet_t **sheet)
{
    if (!sheet || !*sheet)
        return;
    tsr_sheet_t *s = *sheet;
    for (int i = 0; i < s->n_samples; i++) {
        tsr_sample_t *smp = &s->samples[i];
        free(smp->id);
        free(smp->population);
        if (smp->n_lanes == 0) { /* else fastq1/fastq2 are lane 0's */
            free(smp->fastq1);
            free(smp->fastq2);
        }
        for (int k = 0; k < smp->n_lanes; k++) {
            free(smp->lanes[k].fastq1);
            free(smp->lanes[k].fastq2);
            free(smp->lanes[k].read_group);
            free(smp->lanes[k].library);
        }
        free(smp->lanes);
        free(smp->bam);
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

/* Read group ids and library names go into SAM @RG lines: printable, no spaces. */
static int valid_tag_value(const char *s)
{
    for (; *s; s++)
        if (!isgraph((unsigned char)*s))
            return 0;
    return 1;
}

/* Room for one more sample in sh and in the per-sample arrays of ps. */
static tsr_status_t grow_samples(sheet_parse_t *ps, tsr_sheet_t *sh)
{
    if (sh->n_samples < ps->cap)
        return TSR_OK;
    int m = ps->cap ? ps->cap * 2 : 16;
    tsr_sample_t *p = realloc(sh->samples, (size_t)m * sizeof *p);
    if (p)
        sh->samples = p;
    int *part = realloc(ps->id_part, (size_t)m * sizeof *part);
    if (part)
        ps->id_part = part;
    lane_lines_t *ll = realloc(ps->lines, (size_t)m * sizeof *ll);
    if (ll)
        ps->lines = ll;
    if (!p || !part || !ll)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    ps->cap = m;
    return TSR_OK;
}

/* Append a lane (files resolved, read group and library as given or NULL) to sample `si`. */
static tsr_status_t add_lane(sheet_parse_t *ps, tsr_sheet_t *sh, int si, int lineno, const char *fq1,
                             const char *fq2, const char *rg, const char *lib)
{
    tsr_sample_t *s = &sh->samples[si];
    lane_lines_t *ll = &ps->lines[si];
    tsr_lane_t *lanes = realloc(s->lanes, (size_t)(s->n_lanes + 1) * sizeof *lanes);
    int *line = realloc(ll->line, (size_t)(ll->n + 1) * sizeof *line);
    if (lanes)
        s->lanes = lanes;
    if (line)
        ll->line = line;
    if (!lanes || !line)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    tsr_lane_t *l = &s->lanes[s->n_lanes];
    memset(l, 0, sizeof *l);
    s->n_lanes++; /* from here the destroy path frees whatever was set */
    ll->line[ll->n++] = lineno;
    if ((*rg && !(l->read_group = strdup(rg))) || (*lib && !(l->library = strdup(lib))))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    TSR_CALL(resolve_input(ps, lineno, fq1, &l->fastq1));
    if (*fq2)
        TSR_CALL(resolve_input(ps, lineno, fq2, &l->fastq2));
    for (int k = 0; k + 1 < s->n_lanes; k++) {
        const tsr_lane_t *o = &s->lanes[k];
        const char *mine[2] = {l->fastq1, l->fastq2}, *theirs[2] = {o->fastq1, o->fastq2};
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                if (mine[a] && theirs[b] && strcmp(mine[a], theirs[b]) == 0)
                    return tsr_error_set(TSR_ERR_FORMAT,
                                         "%s line %d: sample '%s' already reads '%s' on line %d; each lane of a "
                                         "sample names its own files (remove the repeated line)",
                                         ps->path, lineno, s->id, mine[a], ll->line[k]);
    }
    s->fastq1 = s->lanes[0].fastq1;
    s->fastq2 = s->lanes[0].fastq2;
    return TSR_OK;
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
    const char *rg = ps->col[COL_READ_GROUP] >= 0 ? trim(f[ps->col[COL_READ_GROUP]]) : "";
    const char *lib = ps->col[COL_LIBRARY] >= 0 ? trim(f[ps->col[COL_LIBRARY]]) : "";
    if (*bam && (*fq1 || *fq2))
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sample '%s' names both FASTQ and BAM/CRAM input; fill either "
                             "fastq1 [fastq2] or bam on each line",
                             ps->path, lineno, id);
    if (!*bam && !*fq1)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sample '%s' has no input file; fill fastq1 [fastq2] or bam",
                             ps->path, lineno, id);
    if (*bam && (*rg || *lib))
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sample '%s' has aligned input and a read_group or library; an aligned "
                             "BAM/CRAM keeps its own read groups, leave those fields empty",
                             ps->path, lineno, id);
    if (!valid_tag_value(rg) || !valid_tag_value(lib))
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: %s '%s' of sample '%s' has spaces or unprintable characters; it goes "
                             "into the SAM @RG header line, rename it",
                             ps->path, lineno, valid_tag_value(rg) ? "library" : "read group",
                             valid_tag_value(rg) ? lib : rg, id);

    const char *sex_text = ps->col[COL_SEX] >= 0 ? trim(f[ps->col[COL_SEX]]) : "";
    int sex = tsr_sex_parse(sex_text);
    if (sex < 0)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s line %d: sex '%s' of sample '%s' is not one of male/M/1, female/F/2, "
                             "unknown/0 or empty; fix the sex column",
                             ps->path, lineno, sex_text, id);

    khiter_t k = kh_get(tsr_sheet_ids, ps->ids, id);
    if (k != kh_end(ps->ids)) {
        int si = (int)kh_val(ps->ids, k);
        const tsr_sample_t *s = &sh->samples[si];
        int part = ps->id_part[si], line = ps->lines[si].line[0];
        if (part != ps->part)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s line %d: sample '%s' is already in the cohort (%s line %d); sample ids must be "
                                 "unique across the cohort, rename the new sample",
                                 ps->path, lineno, id, ps->parts[part], line);
        if (*bam || s->kind == TSR_INPUT_ALIGNED)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s line %d: sample '%s' already on line %d; sample ids must be unique (only a "
                                 "sample with FASTQ or unaligned BAM/CRAM input may take several lines, its lanes)",
                                 ps->path, lineno, id, line);
        if (strcmp(s->population, pop) != 0)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s line %d: sample '%s' already on line %d in population '%s'; sample ids must "
                                 "be unique, and the lines (lanes) of one sample name the same population",
                                 ps->path, lineno, id, line, s->population);
        if (s->sex != sex)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s line %d: sample '%s' is %s here but %s on line %d; the lines (lanes) of one "
                                 "sample name the same sex (or is this another person pasted under its id?)",
                                 ps->path, lineno, id, tsr_sex_name(sex), tsr_sex_name(s->sex), line);
        /*
         * A repeated id is a lane only when both lines say which read group
         * they are: a plain repeat is as likely a copy-paste error that
         * would merge two people's reads into one sample.
         */
        int bare = !*rg ? lineno : !s->lanes[0].read_group ? line : 0;
        if (bare)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s line %d: sample '%s' is also on line %d, and line %d names no read_group; "
                                 "lines of one sample are its lanes and each must name its own read group "
                                 "(read_group column), else fix the id of the sample that was pasted twice",
                                 ps->path, lineno, id, line, bare);
        return add_lane(ps, sh, si, lineno, fq1, fq2, rg, lib);
    }

    TSR_CALL(grow_samples(ps, sh));
    int si = sh->n_samples;
    tsr_sample_t *s = &sh->samples[si];
    memset(s, 0, sizeof *s);
    ps->id_part[si] = ps->part;
    ps->lines[si] = (lane_lines_t){0, NULL};
    sh->n_samples++; /* from here the destroy path frees whatever was set */
    s->id = strdup(id);
    s->population = strdup(pop);
    s->sex = sex;
    if (!s->id || !s->population)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    if (*bam) {
        s->kind = TSR_INPUT_ALIGNED;
        int *line = malloc(sizeof *line);
        if (!line)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
        ps->lines[si] = (lane_lines_t){1, line};
        line[0] = lineno;
        TSR_CALL(resolve_input(ps, lineno, bam, &s->bam));
    } else {
        s->kind = TSR_INPUT_FASTQ;
        TSR_CALL(add_lane(ps, sh, si, lineno, fq1, fq2, rg, lib));
    }
    int ret;
    k = kh_put(tsr_sheet_ids, ps->ids, s->id, &ret);
    if (ret < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
    kh_val(ps->ids, k) = si;
    return TSR_OK;
}

/* Default read groups and libraries of samples [from, n_samples) (one part), then check RG ids differ. */
static tsr_status_t finish_lanes(sheet_parse_t *ps, tsr_sheet_t *sh, int from)
{
    for (int i = from; i < sh->n_samples; i++) {
        tsr_sample_t *s = &sh->samples[i];
        for (int k = 0; k < s->n_lanes; k++) {
            tsr_lane_t *l = &s->lanes[k];
            if (!l->read_group) {
                size_t n = strlen(s->id) + 16;
                if ((l->read_group = malloc(n)))
                    snprintf(l->read_group, n, s->n_lanes == 1 ? "%s" : "%s.L%d", s->id, k + 1);
            }
            if (!l->library)
                l->library = strdup(s->id);
            if (!l->read_group || !l->library)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", ps->path);
        }
        for (int k = 1; k < s->n_lanes; k++)
            for (int j = 0; j < k; j++)
                if (strcmp(s->lanes[j].read_group, s->lanes[k].read_group) == 0)
                    return tsr_error_set(TSR_ERR_FORMAT,
                                         "%s line %d: read group '%s' of sample '%s' is also the read group of "
                                         "line %d; each lane of a sample needs its own read group (unset ones "
                                         "default to SAMPLE.L<lane>), rename one",
                                         ps->path, ps->lines[i].line[k], s->lanes[k].read_group, s->id,
                                         ps->lines[i].line[j]);
    }
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
        int before = sh->n_samples;
        st = parse_lines(ps, fp, sh);
        if (st == TSR_OK)
            st = finish_lanes(ps, sh, before);
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
    for (int i = 0; sh && i < sh->n_samples; i++)
        free(ps.lines[i].line);
    free(ps.lines);
    free(ps.id_part);
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

/* One sheet field: an empty string for NULL. */
static const char *field(const char *s)
{
    return s ? s : "";
}

tsr_status_t tsr_sheet_write(const tsr_sheet_t *sh, int from, int to, const char *path)
{
    char tmp[4400];
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    fprintf(fp, "sample\tpopulation\tfastq1\tfastq2\tbam\tread_group\tlibrary\tsex\n");
    for (int i = from; i < to; i++) {
        const tsr_sample_t *s = &sh->samples[i];
        const char *sex = s->sex ? tsr_sex_name(s->sex) : "";
        if (s->n_lanes == 0)
            fprintf(fp, "%s\t%s\t%s\t%s\t%s\t\t\t%s\n", s->id, s->population, field(s->fastq1), field(s->fastq2),
                    field(s->bam), sex);
        for (int k = 0; k < s->n_lanes; k++) {
            const tsr_lane_t *l = &s->lanes[k];
            fprintf(fp, "%s\t%s\t%s\t%s\t\t%s\t%s\t%s\n", s->id, s->population, l->fastq1, field(l->fastq2),
                    l->read_group, l->library, sex);
        }
    }
    return tsr_output_commit(fp, tmp, path);
}
