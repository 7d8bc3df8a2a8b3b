/*
 * vcf_stats.c - per-site statistics of an existing joint-called VCF/BCF
 * (`tessera stats --vcf`): the same stats.tsv columns as the cohort writer.
 *
 * Design. The file's header gives the contigs; each is cut into fixed
 * windows, so the plan depends only on the file and every rank builds the
 * same one. A window is read through the index; a record belongs to the
 * window that holds its POS (records that only overlap a window from the
 * left are skipped there), so every record is counted exactly once.
 * Populations come from a sample/population TSV; genotypes are read as
 * diploid (a haploid call is one called allele, as bcftools counts it).
 * Every site written is also added to the caller's cohort-wide accumulator
 * (cohort_reduce.c, with FORMAT DP when the header defines it); the
 * orchestration (kernels/pipeline/stats_run.c) keeps one per region and
 * merges them.
 *
 * Speed. GT and DP are read straight from the record's BCF-encoded FORMAT
 * bytes (tsr_vcf_gt_decode), one pass per record with no per-genotype
 * htslib call and no int32 copy of the whole matrix; only STR, FLT and FMT
 * are unpacked (INFO is never read).
 */
#include "kernels/stats/stats_internal.h"

#include <errno.h>
#include <htslib/hts.h>
#include <htslib/tbx.h>
#include <htslib/vcf.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct vcf_region {
    int rid;
    int64_t start, end; /* 0-based half-open */
} vcf_region_t;

struct tsr_vcf_stats {
    char *path;
    htsFile *fp;
    bcf_hdr_t *hdr;
    hts_idx_t *idx;
    tbx_t *tbx;
    bcf1_t *rec;
    int n_samples, n_pops;
    char **pops;
    int *sample_pop;
    int n_regions;
    vcf_region_t *regions;
    tsr_site_stats_t *st;
    int32_t *gt_dip, *dp;
    int *nz;     /* the record's samples whose call is not hom-ref (tsr_gt_list_not_homref) */
    int dp_cap, has_dp;
    int gt_id, dp_id; /* header ids of FORMAT GT and DP; -1 when not usable */
    tsr_str_t line;
};

void tsr_vcf_stats_close(tsr_vcf_stats_t **vsp)
{
    if (!vsp || !*vsp)
        return;
    tsr_vcf_stats_t *vs = *vsp;
    if (vs->rec)
        bcf_destroy(vs->rec);
    if (vs->idx)
        hts_idx_destroy(vs->idx);
    if (vs->tbx)
        tbx_destroy(vs->tbx);
    if (vs->hdr)
        bcf_hdr_destroy(vs->hdr);
    if (vs->fp)
        hts_close(vs->fp);
    for (int p = 0; vs->pops && p < vs->n_pops; p++)
        free(vs->pops[p]);
    free(vs->pops);
    free(vs->sample_pop);
    free(vs->regions);
    free(vs->gt_dip);
    free(vs->nz);
    free(vs->dp);
    tsr_site_stats_destroy(&vs->st);
    tsr_str_free(&vs->line);
    free(vs->path);
    free(vs);
    *vsp = NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Split a line on tabs in place; returns the number of fields (at most max). */
static int split_tabs(char *s, char **f, int max)
{
    int n = 0;
    while (n < max) {
        f[n++] = s;
        char *t = strchr(s, '\t');
        if (!t)
            break;
        *t = '\0';
        s = t + 1;
    }
    return n;
}

/* The sample -> population map of a TSV with `sample` and `population` columns. */
static tsr_status_t read_pops(tsr_vcf_stats_t *vs, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *buf = NULL, *fields[256];
    size_t cap = 0;
    ssize_t len;
    int col_s = -1, col_p = -1, line_no = 0, have_header = 0;
    tsr_status_t st = TSR_OK;
    char **names = NULL; /* per VCF sample: population name (borrowed copies) */
    if (!(names = calloc((size_t)vs->n_samples + 1, sizeof *names)))
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
    while (st == TSR_OK && (len = getline(&buf, &cap, f)) >= 0) {
        line_no++;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        if (len == 0 || (have_header && buf[0] == '#'))
            continue;
        int n = split_tabs(buf[0] == '#' ? buf + 1 : buf, fields, 256);
        if (!have_header) {
            for (int i = 0; i < n; i++) {
                if (!strcasecmp(fields[i], "sample"))
                    col_s = i;
                if (!strcasecmp(fields[i], "population"))
                    col_p = i;
            }
            if (col_s < 0 || col_p < 0)
                st = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: the header must name a 'sample' and a 'population' "
                                   "column", path, line_no);
            have_header = 1;
            continue;
        }
        if (n <= col_s || n <= col_p || !fields[col_p][0]) {
            st = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: no sample or population field", path, line_no);
            break;
        }
        int j = bcf_hdr_id2int(vs->hdr, BCF_DT_SAMPLE, fields[col_s]);
        if (j < 0)
            continue;
        if (names[j]) {
            st = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: sample '%s' is listed twice", path, line_no,
                               fields[col_s]);
            break;
        }
        if (!(names[j] = strdup(fields[col_p])))
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    if (st == TSR_OK && !have_header)
        st = tsr_error_set(TSR_ERR_FORMAT, "%s: no header line", path);
    free(buf);
    fclose(f);
    /* distinct population names, sorted */
    if (st == TSR_OK && !(vs->pops = calloc((size_t)vs->n_samples + 1, sizeof *vs->pops)))
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
    for (int j = 0; st == TSR_OK && j < vs->n_samples; j++) {
        if (!names[j])
            continue;
        int k = 0;
        while (k < vs->n_pops && strcmp(vs->pops[k], names[j]))
            k++;
        if (k == vs->n_pops && !(vs->pops[vs->n_pops++] = strdup(names[j])))
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    if (st == TSR_OK)
        qsort(vs->pops, (size_t)vs->n_pops, sizeof *vs->pops, cmp_str);
    for (int j = 0; st == TSR_OK && j < vs->n_samples; j++) {
        vs->sample_pop[j] = -1;
        for (int k = 0; names[j] && k < vs->n_pops; k++)
            if (!strcmp(vs->pops[k], names[j]))
                vs->sample_pop[j] = k;
    }
    for (int j = 0; names && j < vs->n_samples; j++)
        free(names[j]);
    free(names);
    return st;
}

static tsr_status_t build_regions(tsr_vcf_stats_t *vs, int64_t window)
{
    /* Only the contigs the index has records for, in header order. */
    int n_seq = 0, n_idx = 0;
    const char **seqs = bcf_hdr_seqnames(vs->hdr, &n_seq);
    const char **in_idx = vs->idx ? bcf_index_seqnames(vs->idx, vs->hdr, &n_idx) : tbx_seqnames(vs->tbx, &n_idx);
    if ((!seqs && n_seq > 0) || (!in_idx && n_idx > 0)) {
        free(seqs);
        free(in_idx);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading the header of '%s'", vs->path);
    }
    int kept = 0;
    for (int i = 0; i < n_seq; i++) {
        int found = 0;
        for (int k = 0; k < n_idx && !found; k++)
            found = !strcmp(seqs[i], in_idx[k]);
        if (found)
            seqs[kept++] = seqs[i];
    }
    for (int k = 0; k < n_idx; k++)
        if (bcf_hdr_name2id(vs->hdr, in_idx[k]) < 0) {
            tsr_status_t st = tsr_error_set(TSR_ERR_FORMAT, "'%s': contig '%s' is in the index but not in the "
                                            "header", vs->path, in_idx[k]);
            free(seqs);
            free(in_idx);
            return st;
        }
    free(in_idx);
    n_seq = kept;
    int64_t total = 0;
    for (int i = 0; i < n_seq; i++) {
        int rid = bcf_hdr_name2id(vs->hdr, seqs[i]);
        int64_t len = vs->hdr->id[BCF_DT_CTG][rid].val->info[0];
        total += len > 0 ? (len + window - 1) / window : 1;
    }
    vs->regions = calloc((size_t)total + 1, sizeof *vs->regions);
    if (!vs->regions) {
        free(seqs);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory planning regions of '%s'", vs->path);
    }
    for (int i = 0; i < n_seq; i++) {
        int rid = bcf_hdr_name2id(vs->hdr, seqs[i]);
        int64_t len = vs->hdr->id[BCF_DT_CTG][rid].val->info[0];
        if (len <= 0) { /* no length in the header: one region for the whole contig */
            vs->regions[vs->n_regions++] = (vcf_region_t){rid, 0, INT64_MAX / 2};
            continue;
        }
        for (int64_t s = 0; s < len; s += window)
            vs->regions[vs->n_regions++] = (vcf_region_t){rid, s, s + window < len ? s + window : len};
    }
    free(seqs);
    return TSR_OK;
}

tsr_status_t tsr_vcf_stats_open(const char *vcf, const char *pops, int64_t window, tsr_vcf_stats_t **out)
{
    *out = NULL;
    if (window <= 0)
        return tsr_error_set(TSR_ERR_USAGE, "the region window must be positive");
    tsr_vcf_stats_t *vs = calloc(1, sizeof *vs);
    if (!vs || !(vs->path = strdup(vcf))) {
        free(vs);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening '%s'", vcf);
    }
    tsr_status_t st = TSR_OK;
    if (!(vs->fp = hts_open(vcf, "r")))
        st = tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", vcf, strerror(errno));
    else if (!(vs->hdr = bcf_hdr_read(vs->fp)))
        st = tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a VCF/BCF file with a readable header", vcf);
    if (st == TSR_OK) {
        enum htsExactFormat fmt = hts_get_format(vs->fp)->format;
        if (fmt == bcf)
            vs->idx = bcf_index_load(vcf);
        else
            vs->tbx = tbx_index_load(vcf);
        if (!vs->idx && !vs->tbx)
            st = tsr_error_set(TSR_ERR_FORMAT, "'%s' has no index (or is not bgzipped); run 'bcftools index %s'",
                               vcf, vcf);
    }
    if (st == TSR_OK) {
        vs->n_samples = bcf_hdr_nsamples(vs->hdr);
        vs->sample_pop = calloc((size_t)vs->n_samples + 1, sizeof *vs->sample_pop);
        vs->rec = bcf_init();
        if (!vs->sample_pop || !vs->rec)
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory opening '%s'", vcf);
    }
    if (st == TSR_OK && pops)
        st = read_pops(vs, pops);
    else if (st == TSR_OK) {
        if (!(vs->pops = calloc(1, sizeof *vs->pops)) || !(vs->pops[0] = strdup("all")))
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory opening '%s'", vcf);
        else
            vs->n_pops = 1;
    }
    if (st == TSR_OK)
        st = tsr_site_stats_create(vs->n_samples, vs->sample_pop, vs->n_pops, &vs->st);
    if (st == TSR_OK) {
        int id = bcf_hdr_id2int(vs->hdr, BCF_DT_ID, "DP");
        vs->has_dp = id >= 0 && bcf_hdr_idinfo_exists(vs->hdr, BCF_HL_FMT, id) &&
                     bcf_hdr_id2type(vs->hdr, BCF_HL_FMT, id) == BCF_HT_INT;
        vs->dp_id = vs->has_dp ? id : -1;
        /* As bcf_get_genotypes: GT counts only when the header declares it a FORMAT String. */
        id = bcf_hdr_id2int(vs->hdr, BCF_DT_ID, "GT");
        vs->gt_id = id >= 0 && bcf_hdr_idinfo_exists(vs->hdr, BCF_HL_FMT, id) &&
                    bcf_hdr_id2type(vs->hdr, BCF_HL_FMT, id) == BCF_HT_STR ? id : -1;
    }
    if (st == TSR_OK)
        st = build_regions(vs, window);
    if (st != TSR_OK) {
        tsr_vcf_stats_close(&vs);
        return st;
    }
    *out = vs;
    return TSR_OK;
}

int tsr_vcf_stats_n_regions(const tsr_vcf_stats_t *vs) { return vs->n_regions; }
int tsr_vcf_stats_n_samples(const tsr_vcf_stats_t *vs) { return vs->n_samples; }
int tsr_vcf_stats_n_populations(const tsr_vcf_stats_t *vs) { return vs->n_pops; }

const char *tsr_vcf_stats_region(const tsr_vcf_stats_t *vs, int r, int64_t *start, int64_t *end)
{
    const vcf_region_t *reg = &vs->regions[r];
    *start = reg->start;
    *end = reg->end;
    return bcf_hdr_id2name(vs->hdr, reg->rid);
}

tsr_status_t tsr_vcf_stats_acc_create(const tsr_vcf_stats_t *vs, tsr_cohort_acc_t **acc)
{
    return tsr_cohort_acc_create(vs->n_samples, (const char *const *)vs->hdr->samples, vs->sample_pop, vs->n_pops,
                                 (const char *const *)vs->pops, acc);
}

/* The record's FORMAT field with header id `id`, or NULL. */
static const bcf_fmt_t *find_fmt(const bcf1_t *rec, int id)
{
    for (int i = 0; id >= 0 && i < (int)rec->n_fmt; i++)
        if (rec->d.fmt[i].id == id)
            return &rec->d.fmt[i];
    return NULL;
}

/*
 * One BCF integer type's GT: a value is (allele + 1) << 1 | phased, 0 or 1 a
 * missing allele; MISS (the type's missing) reads as a missing allele and END
 * (its vector end) as no allele, as bcf_get_genotypes gives them.
 */
#define GT_DECODE(T, MISS, END)                                                                                 \
    for (int j = 0; j < S; j++) {                                                                              \
        const uint8_t *q = fmt->p + (size_t)j * (size_t)fmt->size;                                             \
        T v[3] = {0, 0, 0};                                                                                    \
        memcpy(v, q, (size_t)(ploidy < 3 ? ploidy : 3) * sizeof(T));                                          \
        for (int h = 0; h < 2; h++) {                                                                          \
            int32_t x = h < ploidy ? v[h] : (END);                                                             \
            gt_dip[2 * j + h] = x == (END) ? -2 : x == (MISS) ? -1 : (x >> 1) - 1;                             \
        }                                                                                                      \
        if (ploidy > 2 && v[2] != (END))                                                                       \
            return -1 - j;                                                                                     \
    }

/* An int8 GT byte's allele index (as GT_DECODE maps it), for every byte value: one load per allele. */
#define GT8(x) ((x) == bcf_int8_vector_end ? -2 : (x) == bcf_int8_missing ? -1 : ((x) >> 1) - 1)
#define GT8U(u) GT8((u) < 128 ? (u) : (u) - 256)
#define GT8U4(u) GT8U(u), GT8U((u) + 1), GT8U((u) + 2), GT8U((u) + 3)
#define GT8U16(u) GT8U4(u), GT8U4((u) + 4), GT8U4((u) + 8), GT8U4((u) + 12)
#define GT8U64(u) GT8U16(u), GT8U16((u) + 16), GT8U16((u) + 32), GT8U16((u) + 48)
static const int32_t gt8_allele[256] = {GT8U64(0), GT8U64(64), GT8U64(128), GT8U64(192)};
#undef GT8U64
#undef GT8U16
#undef GT8U4
#undef GT8U
#undef GT8

int tsr_vcf_gt_decode(const bcf1_t *rec, int gt_id, int n_samples, int32_t *gt_dip)
{
    return tsr_vcf_gt_decode_listed(rec, gt_id, n_samples, gt_dip, NULL, NULL);
}

int tsr_vcf_gt_decode_listed(const bcf1_t *rec, int gt_id, int n_samples, int32_t *gt_dip, int *nz, int *n_nz)
{
    const bcf_fmt_t *fmt = find_fmt(rec, gt_id);
    const int S = n_samples;
    if (!fmt || !fmt->p || fmt->n <= 0) {
        for (int k = 0; k < 2 * S; k++)
            gt_dip[k] = -1;
        if (nz) /* every sample missing: none is hom-ref */
            for (int j = 0; j < S; j++)
                nz[j] = j;
        if (nz && n_nz)
            *n_nz = S;
        return 0;
    }
    const int ploidy = fmt->n;
    if (ploidy == 2 && fmt->type == BCF_BT_INT8) {
        /* Diploid int8, nearly every record of a cohort: a table load per allele, and the sample listed
           unless both bytes read allele 0 (2 or 3: unphased or phased), without a branch. */
        const uint8_t *restrict q = fmt->p;
        int32_t *restrict g = gt_dip;
        if (!nz) {
            for (int k = 0; k < 2 * S; k++)
                g[k] = gt8_allele[q[k]];
            return 0;
        }
        int *restrict z = nz, m = 0;
        for (int j = 0; j < S; j++) {
            const uint8_t x = q[2 * j], y = q[2 * j + 1];
            g[2 * j] = gt8_allele[x];
            g[2 * j + 1] = gt8_allele[y];
            z[m] = j;
            m += ((x | 1) != 3) | ((y | 1) != 3);
        }
        if (n_nz)
            *n_nz = m;
        return 0;
    }
    switch (fmt->type) {
    case BCF_BT_INT8:
        GT_DECODE(int8_t, bcf_int8_missing, bcf_int8_vector_end)
        break;
    case BCF_BT_INT16:
        GT_DECODE(int16_t, bcf_int16_missing, bcf_int16_vector_end)
        break;
    case BCF_BT_INT32:
        GT_DECODE(int32_t, bcf_int32_missing, bcf_int32_vector_end)
        break;
    default:
        return INT32_MIN;
    }
    if (nz) {
        int m = tsr_gt_list_not_homref(gt_dip, S, nz);
        if (n_nz)
            *n_nz = m;
    }
    return 0;
}
#undef GT_DECODE

/* FORMAT DP of the current record into vs->dp (-1 missing); NULL when the record has none. */
static const int32_t *read_depths(tsr_vcf_stats_t *vs)
{
    if (!vs->has_dp)
        return NULL;
    const bcf_fmt_t *fmt = find_fmt(vs->rec, vs->dp_id);
    if (!fmt || !fmt->p || fmt->n != 1)
        return NULL;
    if (fmt->type == BCF_BT_INT8 || fmt->type == BCF_BT_INT16 || fmt->type == BCF_BT_INT32) {
        const int S = vs->n_samples;
        if (vs->dp_cap < S) {
            int32_t *d = realloc(vs->dp, ((size_t)S + 1) * sizeof *d);
            if (!d)
                return NULL;
            vs->dp = d;
            vs->dp_cap = S;
        }
        const uint8_t *p = fmt->p;
        if (fmt->type == BCF_BT_INT8)
            for (int j = 0; j < S; j++) {
                int8_t v = (int8_t)p[j];
                vs->dp[j] = v == bcf_int8_missing || v == bcf_int8_vector_end ? -1 : v;
            }
        else if (fmt->type == BCF_BT_INT16)
            for (int j = 0; j < S; j++) {
                int16_t v;
                memcpy(&v, p + 2 * (size_t)j, 2);
                vs->dp[j] = v == bcf_int16_missing || v == bcf_int16_vector_end ? -1 : v;
            }
        else
            for (int j = 0; j < S; j++) {
                int32_t v;
                memcpy(&v, p + 4 * (size_t)j, 4);
                vs->dp[j] = v == bcf_int32_missing || v == bcf_int32_vector_end ? -1 : v;
            }
        return vs->dp;
    }
    int n = bcf_get_format_int32(vs->hdr, vs->rec, "DP", &vs->dp, &vs->dp_cap);
    if (n != vs->n_samples)
        return NULL;
    for (int j = 0; j < n; j++)
        if (vs->dp[j] == bcf_int32_missing || vs->dp[j] == bcf_int32_vector_end)
            vs->dp[j] = -1;
    return vs->dp;
}

tsr_status_t tsr_vcf_stats_write_header(tsr_vcf_stats_t *vs, FILE *fp)
{
    tsr_str_t *s = &vs->line;
    s->l = 0;
    const char *fixed = "CHROM\tPOS\tREF\tALT\tQUAL\tFILTER";
    if (tsr_str_putn(s, fixed, strlen(fixed)) != 0 || tsr_site_stats_tsv_header(s, vs->n_pops, vs->pops) != 0 ||
        tsr_str_putn(s, "\n", 1) != 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing the stats of '%s'", vs->path);
    if (fwrite(s->s, 1, s->l, fp) != s->l)
        return tsr_error_set(TSR_ERR_IO, "cannot write the stats of '%s': %s", vs->path, strerror(errno));
    return TSR_OK;
}

/*
 * Diploid allele indices of the current record into vs->gt_dip (-1 missing, -2 no second allele), and its
 * samples that are not hom-ref into vs->nz (*m of them).
 */
static tsr_status_t read_genotypes(tsr_vcf_stats_t *vs, int *m)
{
    int rc = tsr_vcf_gt_decode_listed(vs->rec, vs->gt_id, vs->n_samples, vs->gt_dip, vs->nz, m);
    if (rc == INT32_MIN)
        return tsr_error_set(TSR_ERR_FORMAT, "%s:%s:%" PRId64 ": FORMAT/GT is not stored as integers; check the "
                             "file with 'bcftools view'", vs->path, bcf_seqname(vs->hdr, vs->rec),
                             (int64_t)vs->rec->pos + 1);
    if (rc < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s:%s:%" PRId64 ": sample %s has ploidy above 2; tessera stats "
                             "handles haploid and diploid calls", vs->path, bcf_seqname(vs->hdr, vs->rec),
                             (int64_t)vs->rec->pos + 1, vs->hdr->samples[-1 - rc]);
    return TSR_OK;
}

static int put_str(tsr_str_t *s, const char *p) { return tsr_str_putn(s, p, strlen(p)); }

static tsr_status_t write_site(tsr_vcf_stats_t *vs, FILE *fp)
{
    bcf1_t *r = vs->rec;
    tsr_str_t *s = &vs->line;
    char b[TSR_NUM_FORMAT_MAX];
    s->l = 0;
    int e = put_str(s, bcf_seqname(vs->hdr, r)) | tsr_str_putn(s, "\t", 1);
    e |= tsr_str_putn(s, b, (size_t)tsr_num_format_int(b, (int64_t)r->pos + 1)) | tsr_str_putn(s, "\t", 1);
    e |= put_str(s, r->d.allele[0]) | tsr_str_putn(s, "\t", 1);
    for (int a = 1; a < r->n_allele; a++)
        e |= (a > 1 ? tsr_str_putn(s, ",", 1) : 0) | put_str(s, r->d.allele[a]);
    if (r->n_allele < 2)
        e |= tsr_str_putn(s, ".", 1);
    if (bcf_float_is_missing(r->qual))
        e |= tsr_str_putn(s, "\t.\t", 3);
    else
        e |= tsr_str_putn(s, "\t", 1) | tsr_str_putn(s, b, (size_t)tsr_num_format_g(b, (double)r->qual, 6)) |
             tsr_str_putn(s, "\t", 1);
    if (r->d.n_flt == 0)
        e |= tsr_str_putn(s, ".", 1);
    for (int f = 0; f < r->d.n_flt; f++)
        e |= (f ? tsr_str_putn(s, ";", 1) : 0) | put_str(s, bcf_hdr_int2id(vs->hdr, BCF_DT_ID, r->d.flt[f]));
    e |= tsr_site_stats_tsv_values(s, vs->st) | tsr_str_putn(s, "\n", 1);
    if (e)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing the stats of '%s'", vs->path);
    if (fwrite(s->s, 1, s->l, fp) != s->l)
        return tsr_error_set(TSR_ERR_IO, "cannot write the stats of '%s': %s", vs->path, strerror(errno));
    return TSR_OK;
}

tsr_status_t tsr_vcf_stats_write_region(tsr_vcf_stats_t *vs, int ri, FILE *fp, tsr_cohort_acc_t *acc,
                                        int64_t *n_sites)
{
    const vcf_region_t *reg = &vs->regions[ri];
    if (!vs->gt_dip && !(vs->gt_dip = malloc(((size_t)vs->n_samples * 2 + 1) * sizeof *vs->gt_dip)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", vs->path);
    if (!vs->nz && !(vs->nz = malloc(((size_t)vs->n_samples + 1) * sizeof *vs->nz)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", vs->path);
    hts_pos_t end = reg->end > INT32_MAX * (int64_t)64 ? HTS_POS_MAX : (hts_pos_t)reg->end;
    hts_itr_t *itr = vs->idx ? bcf_itr_queryi(vs->idx, reg->rid, reg->start, end)
                             : tbx_itr_queryi(vs->tbx, tbx_name2id(vs->tbx, bcf_hdr_id2name(vs->hdr, reg->rid)),
                                              reg->start, end);
    if (!itr) /* a contig without records in the index */
        return TSR_OK;
    tsr_status_t st = TSR_OK;
    kstring_t ks = {0, 0, NULL};
    int rc;
    for (;;) {
        if (vs->idx)
            rc = bcf_itr_next(vs->fp, itr, vs->rec);
        else {
            rc = tbx_itr_next(vs->fp, vs->tbx, itr, &ks);
            if (rc >= 0 && vcf_parse1(&ks, vs->hdr, vs->rec) < 0)
                rc = -2;
        }
        if (rc < 0)
            break;
        if (vs->rec->pos < reg->start || vs->rec->pos >= reg->end)
            continue;
        if (bcf_unpack(vs->rec, BCF_UN_STR | BCF_UN_FLT | BCF_UN_FMT) < 0) {
            rc = -2;
            break;
        }
        /* Hom-ref calls are counted from the group sizes: both passes below visit the listed samples. */
        int m = 0;
        st = read_genotypes(vs, &m);
        if (st != TSR_OK)
            break;
        int c = tsr_site_stats_compute_listed(vs->st, vs->gt_dip, vs->rec->n_allele, vs->nz, m);
        if (c == INT32_MIN) {
            st = TSR_ERR_NOMEM;
            break;
        }
        if (c < 0) {
            st = tsr_error_set(TSR_ERR_FORMAT, "%s:%s:%" PRId64 ": sample %s has an allele index beyond the "
                               "record's %d alleles", vs->path, bcf_seqname(vs->hdr, vs->rec),
                               (int64_t)vs->rec->pos + 1, vs->hdr->samples[-1 - c], vs->rec->n_allele);
            break;
        }
        st = write_site(vs, fp);
        if (st == TSR_OK && acc)
            st = tsr_cohort_acc_add_site_listed(acc, (const char *const *)vs->rec->d.allele, vs->rec->n_allele,
                                                vs->gt_dip, read_depths(vs), NULL, vs->nz, m);
        if (st != TSR_OK)
            break;
        (*n_sites)++;
    }
    if (st == TSR_OK && rc < -1)
        st = tsr_error_set(TSR_ERR_FORMAT, "cannot read '%s' in %s:%" PRId64 "-%" PRId64 " (htslib code %d); "
                           "check the file with 'bcftools view'", vs->path, bcf_hdr_id2name(vs->hdr, reg->rid),
                           reg->start + 1, reg->end, rc);
    free(ks.s);
    hts_itr_destroy(itr);
    return st;
}
