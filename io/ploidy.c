/*
 * ploidy.c - the ploidy map (io/ploidy.h): built-in GRCh37/GRCh38 rules for
 * the sex chromosomes and the mitochondrion, or a BED of rules.
 *
 * Design. A handful of rules, scanned last to first: a call site asks once per
 * site and sex, so a list is all it takes. The built-in set follows bcftools'
 * `call --ploidy GRCh37|GRCh38`: the whole of Y is haploid for males (the
 * Y PARs are masked in the usual analysis sets, so PAR reads map to X, where
 * males are diploid) and carries nothing for females; MT is haploid for every
 * sex. A sample of unknown sex gets the default, diploid, except on MT.
 * The build is chosen by the X contig's length where it is GRCh37's or
 * GRCh38's (so hg19's `chrX` gets GRCh37's PARs), else by the naming
 * (`chrX` GRCh38, `X` GRCh37).
 */
#include "io/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEX_ANY 3 /* a rule for every sex */

typedef struct ploidy_rule {
    char *contig;
    int64_t beg, end; /* 0-based, end exclusive */
    int sex;          /* tsr_sex_t or SEX_ANY */
    int ploidy;
} ploidy_rule_t;

struct tsr_ploidy {
    int n, cap;
    ploidy_rule_t *rule;
    char *source;
};

void tsr_ploidy_destroy(tsr_ploidy_t **pp)
{
    if (!pp || !*pp)
        return;
    for (int i = 0; i < (*pp)->n; i++)
        free((*pp)->rule[i].contig);
    free((*pp)->rule);
    free((*pp)->source);
    free(*pp);
    *pp = NULL;
}

static tsr_status_t rule_add(tsr_ploidy_t *p, const char *contig, int64_t beg, int64_t end, int sex, int ploidy)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        ploidy_rule_t *r = realloc(p->rule, (size_t)cap * sizeof *r);
        if (!r)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading ploidy rules");
        p->rule = r;
        p->cap = cap;
    }
    char *c = strdup(contig);
    if (!c)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading ploidy rules");
    p->rule[p->n++] = (ploidy_rule_t){c, beg, end, sex, ploidy};
    return TSR_OK;
}

int tsr_ploidy_at(const tsr_ploidy_t *p, const char *contig, int64_t pos, int sex)
{
    for (int i = p ? p->n - 1 : -1; i >= 0; i--) {
        const ploidy_rule_t *r = &p->rule[i];
        if (pos >= r->beg && pos < r->end && (r->sex == SEX_ANY || r->sex == sex) && !strcmp(r->contig, contig))
            return r->ploidy;
    }
    return 2;
}

const char *tsr_ploidy_source(const tsr_ploidy_t *p)
{
    return p && p->source ? p->source : "none (diploid)";
}

/* Index of the first of `names` among the reference's contigs, -1 if none. */
static int find_contig(int n, const char *const *names, const char *const *want, int n_want)
{
    for (int w = 0; w < n_want; w++)
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], want[w]))
                return i;
    return -1;
}

static tsr_status_t builtin(tsr_ploidy_t *p, int n, const char *const *names, const int64_t *lengths)
{
    static const char *const xs[] = {"chrX", "X"}, *const ys[] = {"chrY", "Y"}, *const ms[] = {"chrM", "MT", "chrMT", "M"};
    int x = find_contig(n, names, xs, 2), y = find_contig(n, names, ys, 2), m = find_contig(n, names, ms, 4);
    if (x < 0 && y < 0 && m < 0)
        return TSR_OK;
    /* PAR1 and PAR2 on X, 0-based half-open: GRCh37 X:60001-2699520, 154931044-155260560; GRCh38 chrX:10001-2781479, 155701383-156030895 */
    static const int64_t par37[4] = {60000, 2699520, 154931043, 155260560}, par38[4] = {10000, 2781479, 155701382, 156030895};
    const char *xname = x >= 0 ? names[x] : NULL;
    int g38 = x >= 0 && lengths[x] == 156040895   ? 1
              : x >= 0 && lengths[x] == 155270560 ? 0
              : (xname ? !strncmp(xname, "chr", 3) : (y >= 0 ? !strncmp(names[y], "chr", 3) : !strcmp(names[m], "chrM")));
    const int64_t *par = g38 ? par38 : par37;
    if (!(p->source = strdup(g38 ? "GRCh38 built-in" : "GRCh37 built-in")))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    if (x >= 0) {
        TSR_CALL(rule_add(p, xname, 0, par[0], TSR_SEX_MALE, 1));
        TSR_CALL(rule_add(p, xname, par[1], par[2], TSR_SEX_MALE, 1));
        TSR_CALL(rule_add(p, xname, par[3], INT64_MAX, TSR_SEX_MALE, 1));
    }
    if (y >= 0) {
        TSR_CALL(rule_add(p, names[y], 0, INT64_MAX, TSR_SEX_MALE, 1));
        TSR_CALL(rule_add(p, names[y], 0, INT64_MAX, TSR_SEX_FEMALE, 0));
    }
    if (m >= 0)
        TSR_CALL(rule_add(p, names[m], 0, INT64_MAX, SEX_ANY, 1));
    return TSR_OK;
}

static tsr_status_t read_bed(tsr_ploidy_t *p, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot open ploidy BED '%s': %s", path, strerror(errno));
    char line[4096];
    tsr_status_t s = TSR_OK;
    for (int lineno = 1; s == TSR_OK && fgets(line, sizeof line, fp); lineno++) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[strspn(line, " \t")] || line[0] == '#' || !strncmp(line, "track", 5) || !strncmp(line, "browser", 7))
            continue;
        char contig[1024], sex_text[64], extra[8];
        long long beg, end;
        int ploidy, sex = 0;
        int k = sscanf(line, "%1023s %lld %lld %63s %d %7s", contig, &beg, &end, sex_text, &ploidy, extra);
        if (k == 5)
            sex = !strcmp(sex_text, "*") ? SEX_ANY : tsr_sex_parse(sex_text);
        if (k != 5 || beg < 0 || end <= beg || sex < 0 || !*sex_text || ploidy < 0 || ploidy > 2)
            s = tsr_error_set(TSR_ERR_FORMAT,
                              "%s line %d: expected 5 columns: contig, start, end (0-based, end > start), sex "
                              "(M, F, U or *) and ploidy (0, 1 or 2); fix the line",
                              path, lineno);
        else
            s = rule_add(p, contig, beg, end, sex, ploidy);
    }
    if (s == TSR_OK && ferror(fp))
        s = tsr_error_set(TSR_ERR_IO, "cannot read ploidy BED '%s': %s", path, strerror(errno));
    fclose(fp);
    if (s == TSR_OK && !(p->source = strdup(path)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    return s;
}

tsr_status_t tsr_ploidy_create(const char *bed, int n, const char *const *names, const int64_t *lengths,
                               tsr_ploidy_t **out)
{
    *out = NULL;
    tsr_ploidy_t *p = calloc(1, sizeof *p);
    if (!p)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    tsr_status_t s = bed ? read_bed(p, bed) : builtin(p, n, names, lengths);
    if (s != TSR_OK) {
        tsr_ploidy_destroy(&p);
        return s;
    }
    *out = p;
    return TSR_OK;
}
