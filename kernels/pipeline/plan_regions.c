/*
 * plan_regions.c - the plan's regions: --regions (contigs, chr:beg-end
 * intervals, or a BED file; the whole reference when absent) merged, then
 * cut into fixed shards on a global grid (multiples of --shard-size from each
 * contig's start), so a region's bounds never depend on the layout; then
 * packed into work units (tsr_unit_t): consecutive regions in genome order
 * while their bases total at most --shard-size, so a reference of thousands
 * of small contigs (GRCh38's decoys, alts, HLA) costs tasks and files by
 * bases, not by contigs. Region and unit names are NNNNNNNN_contig_start1
 * (8+ digits) so names sort in genome order past 99,999.
 */
#include "kernels/pipeline/pipeline.h"
#include "kernels/pipeline/plan_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One requested interval before sharding. */
typedef struct tsr_interval {
    int contig;
    int64_t start, end;
} tsr_interval_t;

typedef struct tsr_ivec {
    tsr_interval_t *v;
    int n, cap;
} tsr_ivec_t;

static tsr_status_t tsr_ivec_push(tsr_ivec_t *iv, int contig, int64_t start, int64_t end)
{
    if (iv->n == iv->cap) {
        int cap = iv->cap ? iv->cap * 2 : 16;
        tsr_interval_t *v = realloc(iv->v, (size_t)cap * sizeof *v);
        if (!v)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory planning regions");
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = (tsr_interval_t){contig, start, end};
    return TSR_OK;
}

/* "chr", "chr:beg-end" or "chr:beg" (1-based, inclusive) */
static tsr_status_t tsr_parse_region(const tsr_ref_t *ref, const char *spec, const char *where, tsr_ivec_t *iv)
{
    char name[1024];
    snprintf(name, sizeof name, "%s", spec);
    int c = tsr_ref_contig_index(ref, name);
    if (c >= 0)
        return tsr_ivec_push(iv, c, 0, tsr_ref_contig_length(ref, c));
    char *colon = strrchr(name, ':');
    if (!colon)
        return tsr_error_set(TSR_ERR_USAGE, "%s: contig '%s' is not in the reference; check --regions", where, spec);
    *colon = '\0';
    c = tsr_ref_contig_index(ref, name);
    if (c < 0)
        return tsr_error_set(TSR_ERR_USAGE, "%s: contig '%s' is not in the reference; check --regions", where, name);
    char digits[256];
    size_t k = 0;
    for (const char *p = colon + 1; *p && k + 1 < sizeof digits; p++)
        if (*p != ',')
            digits[k++] = *p;
    digits[k] = '\0';
    char *e1 = NULL, *e2 = NULL;
    long long beg = strtoll(digits, &e1, 10), end = tsr_ref_contig_length(ref, c);
    if (e1 == digits || beg < 1)
        return tsr_error_set(TSR_ERR_USAGE, "%s: cannot read region '%s' (use chr, chr:beg-end, or a BED file)", where, spec);
    if (*e1 == '-') {
        end = strtoll(e1 + 1, &e2, 10);
        if (e2 == e1 + 1 || *e2)
            return tsr_error_set(TSR_ERR_USAGE, "%s: cannot read region '%s' (use chr:beg-end)", where, spec);
    } else if (*e1) {
        return tsr_error_set(TSR_ERR_USAGE, "%s: cannot read region '%s' (use chr:beg-end)", where, spec);
    }
    if (end > tsr_ref_contig_length(ref, c))
        end = tsr_ref_contig_length(ref, c);
    if (end < beg)
        return tsr_error_set(TSR_ERR_USAGE, "%s: region '%s' is empty", where, spec);
    return tsr_ivec_push(iv, c, beg - 1, end);
}

static tsr_status_t tsr_parse_bed(const tsr_ref_t *ref, const char *path, tsr_ivec_t *iv)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot read BED file '%s': %s", path, strerror(errno));
    char line[4096];
    int lineno = 0;
    tsr_status_t s = TSR_OK;
    while (s == TSR_OK && fgets(line, sizeof line, fp)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || !strncmp(line, "track", 5) || !strncmp(line, "browser", 7))
            continue;
        char chrom[1024];
        long long beg, end;
        if (sscanf(line, "%1023s %lld %lld", chrom, &beg, &end) != 3 || beg < 0 || end <= beg) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: expected 'chrom<TAB>start<TAB>end' with start < end", path, lineno);
            break;
        }
        int c = tsr_ref_contig_index(ref, chrom);
        if (c < 0) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: contig '%s' is not in the reference", path, lineno, chrom);
            break;
        }
        if (end > tsr_ref_contig_length(ref, c))
            end = tsr_ref_contig_length(ref, c);
        s = tsr_ivec_push(iv, c, beg, end);
    }
    fclose(fp);
    return s;
}

static int tsr_interval_cmp(const void *a, const void *b)
{
    const tsr_interval_t *x = a, *y = b;
    if (x->contig != y->contig)
        return x->contig - y->contig;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/*
 * Positions the outputs can hold (issue 18): BCF and VCF positions are 32-bit (cohort.bcf cannot name a
 * base past 2^31 - 1), and a BAM header holds contig lengths up to 2^31 - 1, so FASTQ samples aligned into
 * aln/G/S.bam (--aln-format bam) are refused on a longer contig (a contig past the 2^29 bases a .bai bins
 * is indexed with CSI instead: io/hts_index.h); CRAM is not refused.
 * One line naming the contig, its length and what to do.
 */
static tsr_status_t tsr_plan_position_limits(const tsr_plan_t *plan, const tsr_ref_t *ref, const tsr_ivec_t *iv)
{
    const int64_t bcf_max = INT32_MAX, bam_max = INT32_MAX;
    for (int i = 0; i < iv->n; i++)
        if (iv->v[i].end > bcf_max)
            return tsr_error_set(TSR_ERR_USAGE, "contig '%s' is %lld bp and --regions reaches base %lld: BCF/VCF "
                                 "positions are 32-bit (at most %lld); restrict --regions to the first %lld bases",
                                 tsr_ref_contig_name(ref, iv->v[i].contig),
                                 (long long)tsr_ref_contig_length(ref, iv->v[i].contig), (long long)iv->v[i].end,
                                 (long long)bcf_max, (long long)bcf_max);
    int fastq = 0;
    for (int i = 0; plan->sheet && i < plan->sheet->n_samples; i++)
        fastq |= plan->sheet->samples[i].kind == TSR_INPUT_FASTQ;
    const char *fmt = plan->opts.aln_format ? plan->opts.aln_format : TSR_ALN_FORMAT_DEFAULT;
    for (int c = 0; fastq && !strcmp(fmt, "bam") && c < tsr_ref_n_contigs(ref); c++)
        if (tsr_ref_contig_length(ref, c) > bam_max)
            return tsr_error_set(TSR_ERR_USAGE, "contig '%s' is %lld bp, longer than a BAM header can hold "
                                 "(%lld); use --aln-format cram", tsr_ref_contig_name(ref, c),
                                 (long long)tsr_ref_contig_length(ref, c), (long long)bam_max);
    return TSR_OK;
}

/* Sort `iv` and merge its overlapping (or touching) intervals, in place. */
static void tsr_ivec_merge(tsr_ivec_t *iv)
{
    qsort(iv->v, (size_t)iv->n, sizeof *iv->v, tsr_interval_cmp);
    int m = 0;
    for (int i = 0; i < iv->n; i++) {
        if (m > 0 && iv->v[m - 1].contig == iv->v[i].contig && iv->v[i].start <= iv->v[m - 1].end) {
            if (iv->v[i].end > iv->v[m - 1].end)
                iv->v[m - 1].end = iv->v[i].end;
        } else {
            iv->v[m++] = iv->v[i];
        }
    }
    iv->n = m;
}

/*
 * --targets BED: keep only the parts of `iv` (the --regions intervals) inside
 * a target. Both sides are sorted and merged, then intersected in one sweep.
 */
static tsr_status_t tsr_plan_targets(const tsr_ref_t *ref, const char *path, tsr_ivec_t *iv)
{
    tsr_ivec_t tv = {0}, out = {0};
    tsr_status_t s = tsr_parse_bed(ref, path, &tv);
    if (s == TSR_OK && tv.n == 0)
        s = tsr_error_set(TSR_ERR_USAGE, "--targets %s lists no interval; give a BED of the capture targets", path);
    if (s == TSR_OK) {
        tsr_ivec_merge(iv);
        tsr_ivec_merge(&tv);
        for (int i = 0, j = 0; i < iv->n && j < tv.n && s == TSR_OK;) {
            const tsr_interval_t *a = &iv->v[i], *b = &tv.v[j];
            if (a->contig != b->contig) {
                if (a->contig < b->contig)
                    i++;
                else
                    j++;
                continue;
            }
            int64_t lo = a->start > b->start ? a->start : b->start, hi = a->end < b->end ? a->end : b->end;
            if (hi > lo)
                s = tsr_ivec_push(&out, a->contig, lo, hi);
            if (a->end < b->end)
                i++;
            else
                j++;
        }
    }
    if (s == TSR_OK && out.n == 0)
        s = tsr_error_set(TSR_ERR_USAGE, "--targets %s: no target overlaps the regions to call (--regions); check "
                          "that the BED's contig names are the reference's", path);
    free(tv.v);
    if (s != TSR_OK) {
        free(out.v);
        return s;
    }
    free(iv->v);
    *iv = out;
    return TSR_OK;
}

tsr_status_t tsr_plan_regions(tsr_plan_t *plan, const tsr_ref_t *ref)
{
    tsr_ivec_t iv = {0};
    tsr_status_t s = TSR_OK;
    const char *spec = plan->opts.regions;
    struct stat st;
    if (!spec) {
        for (int c = 0; c < tsr_ref_n_contigs(ref) && s == TSR_OK; c++)
            s = tsr_ivec_push(&iv, c, 0, tsr_ref_contig_length(ref, c));
    } else if (stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
        s = tsr_parse_bed(ref, spec, &iv);
    } else {
        char *copy = strdup(spec);
        if (!copy)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        for (char *save = NULL, *tok = copy ? strtok_r(copy, " ", &save) : NULL; tok && s == TSR_OK;
             tok = strtok_r(NULL, " ", &save))
            s = tsr_parse_region(ref, tok, "--regions", &iv);
        free(copy);
    }
    if (s == TSR_OK && iv.n == 0)
        s = tsr_error_set(TSR_ERR_USAGE, "--regions selects nothing");
    if (s == TSR_OK && plan->opts.targets)
        s = tsr_plan_targets(ref, plan->opts.targets, &iv);
    if (s != TSR_OK) {
        free(iv.v);
        return s;
    }
    if (s == TSR_OK)
        s = tsr_plan_position_limits(plan, ref, &iv);
    if (s != TSR_OK) {
        free(iv.v);
        return s;
    }
    qsort(iv.v, (size_t)iv.n, sizeof *iv.v, tsr_interval_cmp);
    /* Merge overlaps, then cut on the global shard grid. */
    int m = 0;
    for (int i = 0; i < iv.n; i++) {
        if (m > 0 && iv.v[m - 1].contig == iv.v[i].contig && iv.v[i].start <= iv.v[m - 1].end) {
            if (iv.v[i].end > iv.v[m - 1].end)
                iv.v[m - 1].end = iv.v[i].end;
        } else {
            iv.v[m++] = iv.v[i];
        }
    }
    int64_t w = plan->opts.shard_size, n = 0;
    for (int i = 0; i < m; i++)
        n += (iv.v[i].end - 1) / w - iv.v[i].start / w + 1;
    plan->regions = calloc((size_t)n, sizeof *plan->regions);
    if (!plan->regions) {
        free(iv.v);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory planning %lld regions", (long long)n);
    }
    for (int i = 0; i < m; i++) {
        for (int64_t b = iv.v[i].start / w; b * w < iv.v[i].end; b++) {
            tsr_region_t *r = &plan->regions[plan->n_regions];
            r->contig = iv.v[i].contig;
            r->start = b * w > iv.v[i].start ? b * w : iv.v[i].start;
            r->end = (b + 1) * w < iv.v[i].end ? (b + 1) * w : iv.v[i].end;
            char safe[32];
            const char *cn = tsr_ref_contig_name(ref, r->contig);
            size_t k = 0;
            for (; cn[k] && k + 1 < sizeof safe; k++)
                safe[k] = (isalnum((unsigned char)cn[k]) || cn[k] == '.' || cn[k] == '-') ? cn[k] : '_';
            safe[k] = '\0';
            snprintf(r->name, sizeof r->name, "%08d_%s_%lld", plan->n_regions, safe, (long long)r->start + 1);
            plan->n_regions++;
        }
    }
    free(iv.v);
    return tsr_plan_units(plan);
}

tsr_status_t tsr_plan_units(tsr_plan_t *plan)
{
    free(plan->units);
    plan->n_units = 0;
    plan->units = calloc((size_t)plan->n_regions + 1, sizeof *plan->units);
    if (!plan->units)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory planning %d work units", plan->n_regions);
    const int64_t w = plan->opts.shard_size;
    for (int r = 0; r < plan->n_regions;) {
        tsr_unit_t *u = &plan->units[plan->n_units];
        int64_t bases = plan->regions[r].end - plan->regions[r].start;
        u->first = r;
        u->n = 1;
        while (r + u->n < plan->n_regions && u->n < TSR_UNIT_MAX_REGIONS) {
            const tsr_region_t *next = &plan->regions[r + u->n];
            if (bases + (next->end - next->start) > w)
                break;
            bases += next->end - next->start;
            u->n++;
        }
        /* the first region's name after its 8-digit index: "RRRRRRRR_contig_start1" */
        const char *label = strchr(plan->regions[r].name, '_');
        snprintf(u->name, sizeof u->name, "%08d%s", plan->n_units, label ? label : "");
        r += u->n;
        plan->n_units++;
    }
    return TSR_OK;
}
