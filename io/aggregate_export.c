/*
 * aggregate_export.c - `tessera export --aggregate-only`: the shareable
 * summary of a cohort. Sites with their INFO (AC/AN/AF and the per-population
 * statistics), no per-sample data at all.
 *
 * Design. Privacy is enforced by construction, not by filtering late: the
 * input header is told to keep no samples (bcf_hdr_set_samples(h, NULL, 0)),
 * so htslib never even unpacks a genotype; each record is then stripped of
 * its (empty) FORMAT block with bcf_subset(.., 0, NULL); the output header is
 * a duplicate of the input's with every FORMAT line and every per-sample
 * metadata line (##SAMPLE, ##PEDIGREE) removed and no sample columns. A
 * `fields` list may narrow the INFO keys but can never name a FORMAT key:
 * asking for one is refused before anything is written. Sites whose summed
 * AC is below `min_ac` are suppressed; a site without AC cannot be judged
 * and stops the export (nothing is written under the final name).
 *
 * The output is written to a temporary name with its CSI index and both are
 * renamed when complete, so an existing file at `out` is either left whole
 * or replaced whole.
 *
 * Federated export (o->sheet set; `tessera merge` reads it). Genotypes are
 * unpacked, but only to be counted: per site and population the diploid
 * genotype counts in VCF genotype order (INFO/GTC_<pop>), from which every
 * per-site statistic (AC, AN, NS, nhet, nhomalt, HWE, ExcHet, F) follows
 * and which sum across institutions. Half-called and haploid genotypes are
 * refused (their counts would not be sufficient). The callable mask
 * (io/callable_mask.c) is written beside the output; the header adds the
 * contigs' MD5s (of the uppercase sequence, as samtools dict's M5), the
 * mode, tessera's version, the populations with their sample counts and
 * the mask's SHA-256. The records still leave with no FORMAT block.
 */
#include "io/io.h"

#include <htslib/hts.h>
#include <htslib/kstring.h>
#include <htslib/vcf.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tsr_export_opts_init(tsr_export_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->min_ac = 1;
    o->alpha = 0.05;
}

double tsr_membership_power(int64_t n_sites, int64_t n_samples, double alpha)
{
    if (n_sites <= 0 || n_samples <= 0)
        return alpha;
    /* z_{1-alpha} by bisection on the normal CDF (erfc), then Phi(sqrt(M/N) - z) */
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < 1 - alpha)
            lo = mid;
        else
            hi = mid;
    }
    double z = 0.5 * (lo + hi), x = sqrt((double)n_sites / (double)n_samples) - z;
    return 0.5 * erfc(-x / sqrt(2.0));
}

int64_t tsr_membership_max_sites(int64_t n_sites, int64_t n_samples, double alpha, double max_power)
{
    if (tsr_membership_power(n_sites, n_samples, alpha) <= max_power)
        return n_sites;
    if (!(alpha <= max_power))
        return -1;
    int64_t lo = 0, hi = n_sites; /* power(lo) <= P < power(hi): the power grows with the sites */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (tsr_membership_power(mid, n_samples, alpha) <= max_power)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

typedef struct maf_rank {
    double maf;
    int64_t i;
} maf_rank_t;

static int maf_rank_cmp(const void *pa, const void *pb)
{
    const maf_rank_t *a = pa, *b = pb;
    if (a->maf != b->maf)
        return a->maf < b->maf ? -1 : 1;
    return a->i < b->i ? 1 : a->i > b->i ? -1 : 0;
}

int tsr_membership_drop(int64_t n, const double *maf, int64_t keep, uint8_t *drop)
{
    maf_rank_t *r = malloc(sizeof *r * (size_t)(n + 1));
    if (!r)
        return -1;
    for (int64_t i = 0; i < n; i++)
        r[i] = (maf_rank_t){isnan(maf[i]) ? 0 : maf[i], i};
    qsort(r, (size_t)n, sizeof *r, maf_rank_cmp);
    memset(drop, 0, (size_t)n);
    for (int64_t k = 0; k < n - keep; k++)
        drop[r[k].i] = 1;
    free(r);
    return 0;
}

static int tsr_export_lowpass(const tsr_export_opts_t *o)
{
    return o->sheet && o->mode && !strcmp(o->mode, "lowpass");
}

double tsr_lp_curve_freq(int k)
{
    double s = sin(0.5 * M_PI * (double)k / (TSR_LP_CURVE_K - 1));
    return k <= 0 ? 0 : k >= TSR_LP_CURVE_K - 1 ? 1 : s * s;
}

double tsr_lp_curve_argmax(const double *l)
{
    const int K = TSR_LP_CURVE_K;
    int b = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[b])
            b = k;
    int c = b == 0 ? 1 : b == K - 1 ? K - 2 : b; /* the centre of the three points fitted */
    double den = l[c - 1] - 2 * l[c] + l[c + 1], t = b;
    if (den < 0) {
        t = c + 0.5 * (l[c - 1] - l[c + 1]) / den;
        t = t < b - 1 ? b - 1 : t > b + 1 ? b + 1 : t;
        t = t < 0 ? 0 : t > K - 1 ? K - 1 : t;
    }
    double s = sin(0.5 * M_PI * t / (K - 1));
    return s * s;
}

static int tsr_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && !strcmp(s + n - m, suffix);
}

tsr_status_t tsr_export_opts_check(const tsr_export_opts_t *o)
{
    if (!o->in)
        return tsr_error_set(TSR_ERR_USAGE, "an input is required (--in DIR or --vcf FILE)");
    if (!o->out)
        return tsr_error_set(TSR_ERR_USAGE, "--out FILE.vcf.gz|FILE.bcf is required");
    if (!tsr_ends_with(o->out, ".vcf.gz") && !tsr_ends_with(o->out, ".bcf"))
        return tsr_error_set(TSR_ERR_USAGE, "--out '%s' must end in .vcf.gz or .bcf (the output format)", o->out);
    if (o->min_ac < 0)
        return tsr_error_set(TSR_ERR_USAGE, "--min-ac must be >= 0 (got %lld)", (long long)o->min_ac);
    return TSR_OK;
}

/* Refuse to replace the input with its own summary (the rename would destroy the cohort). */
static tsr_status_t tsr_export_check_not_input(const tsr_export_opts_t *o)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(o->in, a) && realpath(o->out, b) && !strcmp(a, b))
        return tsr_error_set(TSR_ERR_USAGE, "--out '%s' is the input itself; choose another file name", o->out);
    return TSR_OK;
}

/*
 * Mark the INFO ids to keep in keep[] (indexed by header id). NULL fields keeps
 * every INFO key. A FORMAT key, named bare or as FORMAT/X or FMT/X, is refused.
 */
static tsr_status_t tsr_export_select(const bcf_hdr_t *h, const char *fields, uint8_t *keep)
{
    int n_id = h->n[BCF_DT_ID];
    for (int id = 0; id < n_id; id++)
        keep[id] = !fields && bcf_hdr_idinfo_exists(h, BCF_HL_INFO, id);
    if (!fields)
        return TSR_OK;
    char *list = strdup(fields);
    if (!list)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory parsing --fields");
    tsr_status_t s = TSR_OK;
    char *save = NULL;
    for (char *f = strtok_r(list, ",", &save); f && s == TSR_OK; f = strtok_r(NULL, ",", &save)) {
        const char *key = f;
        int want_format = 0;
        if (!strncmp(f, "FORMAT/", 7) || !strncmp(f, "FMT/", 4)) {
            want_format = 1;
            key = strchr(f, '/') + 1;
        } else if (!strncmp(f, "INFO/", 5)) {
            key = f + 5;
        }
        int id = bcf_hdr_id2int(h, BCF_DT_ID, key);
        int is_info = id >= 0 && bcf_hdr_idinfo_exists(h, BCF_HL_INFO, id);
        int is_format = id >= 0 && bcf_hdr_idinfo_exists(h, BCF_HL_FMT, id);
        if (want_format || (is_format && !is_info))
            s = tsr_error_set(TSR_ERR_USAGE,
                              "--fields names '%s', a per-sample FORMAT field; an aggregate-only export never "
                              "contains per-sample data: name INFO keys only",
                              f);
        else if (!is_info)
            s = tsr_error_set(TSR_ERR_USAGE, "--fields names '%s', which is not an INFO key of the input", f);
        else
            keep[id] = 1;
    }
    free(list);
    return s;
}

/*
 * The output header: the input's (already without samples) minus every FORMAT
 * line, every per-sample metadata line (##SAMPLE, ##PEDIGREE) and the INFO
 * keys not kept. Lines are dropped from the header text (with its IDX
 * numbering, so the records' INFO ids stay valid) and the text re-parsed.
 */
/* MD5 of a contig's uppercase sequence (samtools dict's M5) as 32 hex digits. */
static tsr_status_t tsr_export_contig_md5(tsr_ref_t *ref, const char *contig, char hex[33])
{
    int i = tsr_ref_contig_index(ref, contig);
    if (i < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "the input's contig '%s' is not in the run's reference; export with "
                             "the reference the run used", contig);
    char *seq = NULL;
    int64_t len = 0;
    TSR_CALL(tsr_ref_fetch(ref, contig, 0, tsr_ref_contig_length(ref, i), &seq, &len));
    for (int64_t k = 0; k < len; k++)
        seq[k] = (char)toupper((unsigned char)seq[k]);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    int ok = EVP_Digest(seq, (size_t)len, d, &dl, EVP_md5(), NULL) == 1 && dl == 16;
    free(seq);
    if (!ok)
        return tsr_error_set(TSR_ERR_INTERNAL, "MD5 (OpenSSL) of contig '%s' failed", contig);
    for (int k = 0; k < 16; k++)
        snprintf(hex + 2 * k, 3, "%02x", d[k]);
    return TSR_OK;
}

/* A ##contig line of the header text, with md5=<hex> added before its IDX (federated export). */
static tsr_status_t tsr_export_contig_line(tsr_ref_t *ref, const char *line, size_t n, kstring_t *kept)
{
    const char *id = strstr(line, "ID="), *idx = strstr(line, ",IDX=");
    if (!id || !idx || idx > line + n)
        return tsr_error_set(TSR_ERR_FORMAT, "cannot read the header line '%.*s'", (int)n - 1, line);
    id += 3;
    size_t il = strcspn(id, ",>");
    char name[1024], hex[33];
    snprintf(name, sizeof name, "%.*s", (int)il, id);
    TSR_CALL(tsr_export_contig_md5(ref, name, hex));
    if (kputsn(line, (size_t)(idx - line), kept) < 0 || ksprintf(kept, ",md5=%s", hex) < 0 ||
        kputsn(idx, n - (size_t)(idx - line), kept) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building the header");
    return TSR_OK;
}

static tsr_status_t tsr_export_header(const tsr_export_opts_t *o, const bcf_hdr_t *in, const uint8_t *keep,
                                      int64_t min_ac, bcf_hdr_t **out)
{
    *out = NULL;
    kstring_t txt = KS_INITIALIZE, kept = KS_INITIALIZE;
    bcf_hdr_t *h = NULL;
    tsr_ref_t *ref = NULL;
    if (o->sheet) {
        tsr_status_t s = tsr_ref_open(o->ref, &ref);
        if (s != TSR_OK)
            return s;
    }
    int bad = bcf_hdr_format(in, 1, &txt) != 0;
    for (char *line = txt.s, *next; !bad && line && *line; line = next) {
        next = strchr(line, '\n');
        size_t n = next ? (size_t)(++next - line) : strlen(line);
        if (ref && !strncmp(line, "##contig=", 9)) {
            tsr_status_t s = tsr_export_contig_line(ref, line, n, &kept);
            if (s != TSR_OK) {
                tsr_ref_close(&ref);
                ks_free(&txt);
                ks_free(&kept);
                return s;
            }
        } else if (!strncmp(line, "#CHROM", 6)) { /* no sample columns (a federated export reads them) */
            bad = kputs("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", &kept) < 0;
        } else if (strncmp(line, "##FORMAT=", 9) && strncmp(line, "##SAMPLE=", 9) &&
                   strncmp(line, "##PEDIGREE=", 11)) {
            bad = kputsn(line, n, &kept) < 0;
        }
    }
    tsr_ref_close(&ref);
    if (!bad)
        bad = !(h = bcf_hdr_init("r")) || bcf_hdr_parse(h, kept.s) != 0;
    ks_free(&txt);
    ks_free(&kept);
    if (bad) {
        if (h)
            bcf_hdr_destroy(h);
        return tsr_error_set(TSR_ERR_NOMEM, "cannot build the aggregate-only VCF header (out of memory?)");
    }
    for (int id = 0; id < in->n[BCF_DT_ID]; id++)
        if (!keep[id] && bcf_hdr_idinfo_exists(in, BCF_HL_INFO, id))
            bcf_hdr_remove(h, BCF_HL_INFO, bcf_hdr_int2id(in, BCF_DT_ID, id));
    char line[256];
    snprintf(line, sizeof line,
             "##tessera_export=aggregate-only: no per-sample data; sites with summed AC below %lld suppressed",
             (long long)min_ac);
    if (bcf_hdr_nsamples(h) != 0 || bcf_hdr_append(h, line) != 0 || bcf_hdr_sync(h) != 0) {
        bcf_hdr_destroy(h);
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot build the aggregate-only VCF header");
    }
    if (o->sheet) {
        const tsr_sheet_t *sh = o->sheet;
        kstring_t l = KS_INITIALIZE;
        ksprintf(&l, "##tessera_federation=<ID=export,format=1,mode=%s,tessera=%s,populations=%d,samples=%d", o->mode,
                 o->version, sh->n_populations, sh->n_samples);
        if (tsr_export_lowpass(o))
            ksprintf(&l, ",curve_points=%d", TSR_LP_CURVE_K);
        kputc('>', &l);
        int fail = bcf_hdr_append(h, l.s) != 0;
        for (int p = 0; p < sh->n_populations && !fail; p++) {
            int n = 0;
            for (int i = 0; i < sh->n_samples; i++)
                n += sh->sample_pop[i] == p;
            l.l = 0;
            ksprintf(&l, "##tessera_population=<ID=%s,samples=%d>", sh->populations[p], n);
            fail = bcf_hdr_append(h, l.s) != 0;
        }
        ks_free(&l);
        if (fail || bcf_hdr_sync(h) != 0) {
            bcf_hdr_destroy(h);
            return tsr_error_set(TSR_ERR_INTERNAL, "cannot build the federated export's header");
        }
    }
    *out = h;
    return TSR_OK;
}

/* Summed ALT count of a record into *total; TSR_ERR_FORMAT naming the record when AC is absent. */
static tsr_status_t tsr_export_total_ac(const char *in, const bcf_hdr_t *h, bcf1_t *rec, int32_t **buf, int *mbuf,
                                        int64_t *total)
{
    int n = bcf_get_info_int32(h, rec, "AC", buf, mbuf);
    if (n == -4)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading INFO/AC");
    if (n <= 0)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s: record %s:%lld has no INFO/AC, so its suppression cannot be decided; "
                             "fill it first (tessera stats, bcftools +fill-tags -t AC) or use --min-ac 0",
                             in, bcf_seqname_safe(h, rec), (long long)rec->pos + 1);
    *total = 0;
    for (int i = 0; i < n; i++)
        if ((*buf)[i] != bcf_int32_missing && (*buf)[i] != bcf_int32_vector_end)
            *total += (*buf)[i];
    return TSR_OK;
}

/* Drop the INFO keys not kept from a record (the header has lost them). */
static tsr_status_t tsr_export_trim_info(const bcf_hdr_t *h, bcf1_t *rec, const uint8_t *keep)
{
    if (bcf_unpack(rec, BCF_UN_INFO) != 0)
        return tsr_error_set(TSR_ERR_FORMAT, "cannot unpack the INFO of record %s:%lld", bcf_seqname_safe(h, rec),
                             (long long)rec->pos + 1);
    for (int i = 0; i < rec->n_info; i++) {
        bcf_info_t *inf = &rec->d.info[i];
        if (inf->vptr && !keep[inf->key]) {
            const char *key = bcf_hdr_int2id(h, BCF_DT_ID, inf->key);
            if (bcf_update_info(h, rec, key, NULL, 0, bcf_hdr_id2type(h, BCF_HL_INFO, inf->key)) < 0)
                return tsr_error_set(TSR_ERR_INTERNAL, "cannot drop INFO/%s", key);
        }
    }
    return TSR_OK;
}

typedef struct tsr_export_io {
    htsFile *in, *out;
    bcf_hdr_t *ih, *oh;
    bcf1_t *rec;
    uint8_t *keep;
    int32_t *ac;
    int mac;
    kstring_t line; /* a record as VCF text, for the content hash */
    /* federated export: each header sample's population, genotypes, the counts of one population */
    int n_samples; /* the input's, before they are dropped */
    int *sample_pop;
    int32_t *gt, *gtc;
    int mgt, mgtc;
    /* low-pass: PL, one population's likelihood rows, the curves */
    int32_t *pl;
    int mpl;
    double *rows;
    float *llc;
    size_t cap_rows, cap_llc;
    /* --drop-to-power: the kept records' MAFs (collect pass), then which of them to drop */
    int collect;
    int64_t kept_no, n_maf, cap_maf;
    double *maf;
    uint8_t *drop;
    float *af;
    int maf_n;
} tsr_export_io_t;

/*
 * Low-pass federated export: INFO/LLC_<pop> of the current record. For each ALT a and population, the
 * curve l(p) = sum_i ln sum_g P(g | p) L_i(g) at the grid's TSR_LP_CURVE_K frequencies p of a, where
 * L_i(g) = 10^(-PL/10) of sample i's genotype with g copies of a (with other ALTs present, the most likely
 * genotype with that many copies: exact at biallelic sites). Samples without PL (no reads) carry no
 * information and are left out. Stored minus the curve's maximum (a constant per institution does not
 * move the merged argmax) and rounded to 0.001, so the curves of institutions add.
 */
static tsr_status_t tsr_export_lp_curves(const tsr_export_opts_t *o, tsr_export_io_t *x, int64_t rec_no)
{
    const tsr_sheet_t *sh = o->sheet;
    bcf1_t *rec = x->rec;
    int ns = bcf_hdr_nsamples(x->ih), na = rec->n_allele, G = na * (na + 1) / 2, K = TSR_LP_CURVE_K;
    int n = bcf_get_format_int32(x->ih, rec, "PL", &x->pl, &x->mpl);
    if (n == -4)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading PL");
    if (ns > 0 && n != G * ns)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: record %s:%lld (number %lld) has %s; a low-pass federated export "
                             "needs the genotype likelihoods (FORMAT/PL) of the run's cohort.bcf", o->in,
                             bcf_seqname_safe(x->ih, rec), (long long)rec->pos + 1, (long long)rec_no,
                             n < 0 ? "no PL" : "PL of another length");
    size_t need_rows = (size_t)3 * (size_t)(ns + 1), need_llc = (size_t)(na > 1 ? na - 1 : 1) * (size_t)K;
    if (x->cap_rows < need_rows) {
        double *t = realloc(x->rows, need_rows * sizeof *t);
        if (!t)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory for the likelihood curves");
        x->rows = t;
        x->cap_rows = need_rows;
    }
    if (x->cap_llc < need_llc) {
        float *t = realloc(x->llc, need_llc * sizeof *t);
        if (!t)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory for the likelihood curves");
        x->llc = t;
        x->cap_llc = need_llc;
    }
    for (int p = 0; p < sh->n_populations; p++) {
        for (int a = 1; a < na; a++) {
            int m = 0;
            for (int j = 0; j < ns; j++) {
                const int32_t *v = x->pl + (size_t)j * (size_t)G;
                if (x->sample_pop[j] != p || v[0] == bcf_int32_missing || v[0] == bcf_int32_vector_end || v[0] < 0)
                    continue;
                double *row = x->rows + (size_t)3 * (size_t)m++;
                row[0] = row[1] = row[2] = 0;
                for (int hi = 0; hi < na; hi++)
                    for (int lo = 0; lo <= hi; lo++) {
                        int32_t q = v[hi * (hi + 1) / 2 + lo];
                        if (q == bcf_int32_missing || q == bcf_int32_vector_end)
                            continue;
                        double l = pow(10.0, -(q > 3000 ? 3000 : q < 0 ? 0 : q) / 10.0);
                        int c = (lo == a) + (hi == a);
                        row[c] = l > row[c] ? l : row[c];
                    }
                for (int c = 0; c < 3; c++)
                    row[c] = row[c] > 1e-300 ? row[c] : 1e-300;
            }
            float *curve = x->llc + (size_t)(a - 1) * (size_t)K;
            double l[TSR_LP_CURVE_K], best = -HUGE_VAL;
            for (int k = 0; k < K; k++) {
                double f[2] = {1 - tsr_lp_curve_freq(k), tsr_lp_curve_freq(k)};
                l[k] = m ? o->loglik(m, 2, x->rows, f) : 0;
                if (!isfinite(l[k]))
                    return tsr_error_set(TSR_ERR_INTERNAL, "%s: record %s:%lld: a likelihood curve is not finite",
                                         o->in, bcf_seqname_safe(x->ih, rec), (long long)rec->pos + 1);
                best = l[k] > best ? l[k] : best;
            }
            for (int k = 0; k < K; k++)
                curve[k] = (float)(round((l[k] - best) * 1000.0) / 1000.0);
        }
        char key[1100];
        snprintf(key, sizeof key, "LLC_%s", sh->populations[p]);
        if (na > 1 && bcf_update_info_float(x->ih, rec, key, x->llc, (na - 1) * K) != 0)
            return tsr_error_set(TSR_ERR_INTERNAL, "cannot set INFO/%s", key);
    }
    return TSR_OK;
}

/*
 * Federated export: INFO/GTC_<pop> of the current record from its genotypes
 * (diploid genotype counts in VCF order, index b (b + 1) / 2 + a for a <= b).
 */
static tsr_status_t tsr_export_genotype_counts(const tsr_export_opts_t *o, tsr_export_io_t *x, int64_t rec_no)
{
    const tsr_sheet_t *sh = o->sheet;
    bcf1_t *rec = x->rec;
    int ns = bcf_hdr_nsamples(x->ih), na = rec->n_allele, G = na * (na + 1) / 2;
    int n = bcf_get_genotypes(x->ih, rec, &x->gt, &x->mgt);
    if (n == -4)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading GT");
    if (n != 2 * ns && !(n == -3 && ns == 0))
        return tsr_error_set(TSR_ERR_FORMAT, "%s: record %s:%lld (number %lld) has %s; a federated export needs "
                             "diploid GT for every sample", o->in, bcf_seqname_safe(x->ih, rec),
                             (long long)rec->pos + 1, (long long)rec_no, n < 0 ? "no GT" : "non-diploid GT");
    size_t need = (size_t)G * (size_t)sh->n_populations;
    if ((size_t)x->mgtc < need) {
        int32_t *t = realloc(x->gtc, need * sizeof *t);
        if (!t)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory counting genotypes");
        x->gtc = t;
        x->mgtc = (int)need;
    }
    memset(x->gtc, 0, need * sizeof *x->gtc);
    for (int j = 0; j < ns; j++) {
        int32_t g0 = x->gt[2 * j], g1 = x->gt[2 * j + 1];
        int m0 = bcf_gt_is_missing(g0), m1 = g1 == bcf_int32_vector_end || bcf_gt_is_missing(g1);
        if (m0 && m1)
            continue;
        if (m0 || m1)
            return tsr_error_set(TSR_ERR_FORMAT, "%s: record %s:%lld (number %lld) has a half-called or haploid "
                                 "genotype; a federated export counts diploid genotypes only: set such calls "
                                 "missing (bcftools +setGT) and export again", o->in, bcf_seqname_safe(x->ih, rec),
                                 (long long)rec->pos + 1, (long long)rec_no);
        int a = bcf_gt_allele(g0), b = bcf_gt_allele(g1);
        if (a > b) {
            int t = a;
            a = b;
            b = t;
        }
        if (a < 0 || b >= na)
            return tsr_error_set(TSR_ERR_FORMAT, "%s: record %s:%lld has a genotype allele beyond its %d alleles",
                                 o->in, bcf_seqname_safe(x->ih, rec), (long long)rec->pos + 1, na);
        x->gtc[(size_t)x->sample_pop[j] * (size_t)G + (size_t)(b * (b + 1) / 2 + a)]++;
    }
    for (int p = 0; p < sh->n_populations; p++) {
        char key[1100];
        snprintf(key, sizeof key, "GTC_%s", sh->populations[p]);
        if (bcf_update_info_int32(x->ih, rec, key, x->gtc + (size_t)p * (size_t)G, G) != 0)
            return tsr_error_set(TSR_ERR_INTERNAL, "cannot set INFO/%s", key);
    }
    return TSR_OK;
}

/* One pass over the input: write the kept records, or (md != NULL) only hash their VCF text. */
static tsr_status_t tsr_export_records(const tsr_export_opts_t *o, tsr_export_io_t *x, const char *tmp,
                                       tsr_export_summary_t *sum, EVP_MD_CTX *md)
{
    int filtered = o->fields != NULL;
    for (;;) {
        int r = bcf_read(x->in, x->ih, x->rec);
        if (r == -1)
            return TSR_OK;
        if (r < -1)
            return tsr_error_set(TSR_ERR_FORMAT, "%s: cannot read record %lld (after %lld good ones); the file is "
                                 "damaged or truncated", o->in, (long long)sum->n_in + 1, (long long)sum->n_in);
        sum->n_in++;
        if (o->min_ac > 0) {
            int64_t total = 0;
            TSR_CALL(tsr_export_total_ac(o->in, x->ih, x->rec, &x->ac, &x->mac, &total));
            if (total < o->min_ac) {
                sum->n_suppressed++;
                continue;
            }
        }
        int64_t kept = x->kept_no++;
        if (x->collect) {
            if (tsr_array_grow((void **)&x->maf, &x->cap_maf, x->n_maf + 1, sizeof *x->maf) < 0)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory ranking the sites by MAF");
            int n = bcf_get_info_float(x->ih, x->rec, "AF", &x->af, &x->maf_n);
            double f = 0;
            for (int a = 0; a < n; a++)
                f += isnan(x->af[a]) || bcf_float_is_vector_end(x->af[a]) ? 0 : x->af[a];
            x->maf[x->n_maf++] = f < 1 - f ? f : 1 - f;
            continue;
        }
        if (x->drop && x->drop[kept]) {
            sum->n_dropped++;
            continue;
        }
        if (tsr_export_lowpass(o))
            TSR_CALL(tsr_export_lp_curves(o, x, sum->n_in));
        else if (o->sheet)
            TSR_CALL(tsr_export_genotype_counts(o, x, sum->n_in));
        if (bcf_subset(x->ih, x->rec, 0, NULL) != 0)
            return tsr_error_set(TSR_ERR_INTERNAL, "cannot strip the per-sample block of record %lld",
                                 (long long)sum->n_in);
        if (filtered)
            TSR_CALL(tsr_export_trim_info(x->ih, x->rec, x->keep));
        if (md) {
            x->line.l = 0;
            if (vcf_format(x->oh, x->rec, &x->line) != 0 || EVP_DigestUpdate(md, x->line.s, x->line.l) != 1)
                return tsr_error_set(TSR_ERR_INTERNAL, "cannot hash record %lld of '%s'", (long long)sum->n_in, o->in);
            continue;
        }
        if (bcf_write(x->out, x->oh, x->rec) != 0)
            return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, errno ? strerror(errno) : "write failed");
        sum->n_written++;
    }
}

/* (Re)open the input and its header, samples dropped. */
static tsr_status_t tsr_export_open_file(const tsr_export_opts_t *o, tsr_export_io_t *x)
{
    if (x->ih)
        bcf_hdr_destroy(x->ih);
    if (x->in)
        hts_close(x->in);
    x->ih = NULL;
    x->in = hts_open(o->in, "r");
    if (!x->in)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", o->in, errno ? strerror(errno) : "unknown error");
    if (hts_get_format(x->in)->category != variant_data)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a VCF or BCF file", o->in);
    x->ih = bcf_hdr_read(x->in);
    if (!x->ih)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s': cannot read the VCF/BCF header; the file is damaged", o->in);
    x->n_samples = bcf_hdr_nsamples(x->ih);
    if (!o->sheet) {
        if (bcf_hdr_set_samples(x->ih, NULL, 0) != 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory dropping the samples of '%s'", o->in);
        return TSR_OK;
    }
    /* federated: the genotypes are read to be counted per population, and GTC_<pop> defined */
    const tsr_sheet_t *sh = o->sheet;
    for (int p = 0; p < sh->n_populations; p++) {
        kstring_t l = KS_INITIALIZE;
        if (tsr_export_lowpass(o))
            ksprintf(&l, "##INFO=<ID=LLC_%s,Number=.,Type=Float,Description=\"Log-likelihood curve of each ALT's "
                     "frequency p in population %s, sum over its samples of ln sum_g P(g|p) L(g) from PL, at the %d "
                     "frequencies p_k = sin^2(pi/2 k/%d), minus its maximum, rounded to 0.001; %d values per ALT: "
                     "what tessera merge sums\">", sh->populations[p], sh->populations[p], TSR_LP_CURVE_K,
                     TSR_LP_CURVE_K - 1, TSR_LP_CURVE_K);
        else
            ksprintf(&l, "##INFO=<ID=GTC_%s,Number=.,Type=Integer,Description=\"Diploid genotype counts in population "
                 "%s, VCF genotype order (0/0,0/1,1/1,0/2,1/2,2/2,...): what tessera merge sums\">",
                 sh->populations[p], sh->populations[p]);
        int bad = bcf_hdr_append(x->ih, l.s) != 0;
        ks_free(&l);
        if (bad)
            return tsr_error_set(TSR_ERR_INTERNAL, "cannot define INFO/GTC_%s", sh->populations[p]);
    }
    if (bcf_hdr_sync(x->ih) != 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot define the genotype-count or likelihood-curve keys");
    int ns = bcf_hdr_nsamples(x->ih);
    free(x->sample_pop);
    if (!(x->sample_pop = malloc(sizeof *x->sample_pop * (size_t)(ns + 1))))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening '%s'", o->in);
    for (int j = 0; j < ns; j++) {
        const char *id = x->ih->samples[j];
        x->sample_pop[j] = -1;
        for (int i = 0; i < sh->n_samples && x->sample_pop[j] < 0; i++)
            if (!strcmp(sh->samples[i].id, id))
                x->sample_pop[j] = sh->sample_pop[i];
        if (x->sample_pop[j] < 0)
            return tsr_error_set(TSR_ERR_FORMAT, "'%s': sample %d of the file is not in the run's sample sheet; "
                                 "export the run's own cohort.bcf", o->in, j + 1);
    }
    return TSR_OK;
}

static tsr_status_t tsr_export_open_input(const tsr_export_opts_t *o, tsr_export_io_t *x)
{
    TSR_CALL(tsr_export_open_file(o, x));
    if (o->min_ac > 0) {
        int id = bcf_hdr_id2int(x->ih, BCF_DT_ID, "AC");
        if (id < 0 || !bcf_hdr_idinfo_exists(x->ih, BCF_HL_INFO, id))
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "'%s' has no INFO/AC in its header, so sites cannot be suppressed by --min-ac; "
                                 "fill it first (tessera stats, bcftools +fill-tags -t AC) or use --min-ac 0",
                                 o->in);
    }
    x->keep = calloc((size_t)x->ih->n[BCF_DT_ID] + 1, 1);
    x->rec = bcf_init();
    if (!x->keep || !x->rec)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening '%s'", o->in);
    return TSR_OK;
}

tsr_status_t tsr_export_mask_path(const char *out, char *buf, size_t len)
{
    if ((size_t)snprintf(buf, len, "%s.callable.bed.gz", out) >= len)
        return tsr_error_set(TSR_ERR_USAGE, "--out path too long: '%s'", out);
    return TSR_OK;
}

tsr_status_t tsr_export_aggregate_write(const tsr_export_opts_t *o, tsr_export_summary_t *sum)
{
    memset(sum, 0, sizeof *sum);
    TSR_CALL(tsr_export_opts_check(o));
    TSR_CALL(tsr_export_check_not_input(o));
    if (o->sheet && (!o->run_dir || !o->ref || !o->mode || !o->version))
        return tsr_error_set(TSR_ERR_USAGE, "a federated export needs the run directory, reference, mode and version");
    char tmp[4200], tmp_idx[4300], final_idx[4200], mask[4300], tmp_mask[4400];
    TSR_CALL(tsr_output_tmpname(o->out, tmp, sizeof tmp));
    if (o->sheet) {
        TSR_CALL(tsr_export_mask_path(o->out, mask, sizeof mask));
        TSR_CALL(tsr_output_tmpname(mask, tmp_mask, sizeof tmp_mask));
    }
    if ((size_t)snprintf(tmp_idx, sizeof tmp_idx, "%s.csi", tmp) >= sizeof tmp_idx ||
        (size_t)snprintf(final_idx, sizeof final_idx, "%s.csi", o->out) >= sizeof final_idx)
        return tsr_error_set(TSR_ERR_USAGE, "--out path too long: '%s'", o->out);

    tsr_export_io_t x;
    memset(&x, 0, sizeof x);
    int created = 0;
    tsr_status_t s = tsr_export_open_input(o, &x);
    if (s == TSR_OK)
        s = tsr_export_select(x.ih, o->fields, x.keep);
    for (int p = 0; s == TSR_OK && o->sheet && p < o->sheet->n_populations; p++) {
        char key[1100]; /* the merge needs the genotype counts whatever --fields keeps */
        snprintf(key, sizeof key, "%s_%s", tsr_export_lowpass(o) ? "LLC" : "GTC", o->sheet->populations[p]);
        x.keep[bcf_hdr_id2int(x.ih, BCF_DT_ID, key)] = 1;
    }
    if (s == TSR_OK)
        s = tsr_export_header(o, x.ih, x.keep, o->min_ac, &x.oh);
    int mask_created = 0;
    if (s == TSR_OK && tsr_export_lowpass(o) && !o->loglik)
        s = tsr_error_set(TSR_ERR_USAGE, "a low-pass federated export needs the likelihood function");
    if (s == TSR_OK && o->sheet) {
        mask_created = 1;
        double q = 0;
        if (tsr_export_lowpass(o))
            s = tsr_depth_mask_write(o->run_dir, o->sheet, tmp_mask, sum->mask_sha256, &sum->n_mask_intervals, &q);
        else
            s = tsr_callable_mask_write(o->run_dir, o->sheet, tmp_mask, sum->mask_sha256, &sum->n_mask_intervals);
        const char *base = strrchr(mask, '/');
        base = base ? base + 1 : mask;
        kstring_t l = KS_INITIALIZE;
        if (tsr_export_lowpass(o))
            ksprintf(&l, "##tessera_callable_mask=<ID=mask,file=%s,sha256=%s,intervals=%" PRId64 ",window=%d,"
                     "depth_bins=%d,ref_qual=%.3f,definition=\"per window and population, (sample, base) pairs "
                     "covered by k reference-matching reads, k = 1..%d (the last: or more); ref_qual: the samples' "
                     "mean reference base quality; its SHA-256 is of the uncompressed text\">", base,
                     sum->mask_sha256, sum->n_mask_intervals, TSR_LP_DEPTH_WINDOW, TSR_LP_DEPTH_BINS, q,
                     TSR_LP_DEPTH_BINS);
        else
            ksprintf(&l, "##tessera_callable_mask=<ID=mask,file=%s,sha256=%s,intervals=%" PRId64 ",definition=\"positions "
                 "where a sample has a gVCF record (a reference block or a candidate site with reads), counted per "
                 "population; its SHA-256 is of the uncompressed text\">", base, sum->mask_sha256,
                 sum->n_mask_intervals);
        if (s == TSR_OK && (bcf_hdr_append(x.oh, l.s) != 0 || bcf_hdr_sync(x.oh) != 0))
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot add the callable mask to the header");
        ks_free(&l);
    }
    /*
     * --drop-to-power: a pass ranking the kept sites by MAF; when the power of all of them is above the
     * limit, the lowest-MAF ones are marked dropped, and the passes below skip them
     */
    if (s == TSR_OK && o->drop_to_power && o->max_power > 0) {
        x.collect = 1;
        s = tsr_export_records(o, &x, tmp, sum, NULL);
        x.collect = 0;
        int64_t keep = tsr_membership_max_sites(x.n_maf, x.n_samples, o->alpha, o->max_power);
        if (s == TSR_OK && keep < 0)
            s = tsr_error_set(TSR_ERR_STATE, "--max-membership-power %g is below the test's false-positive rate "
                              "%g: no release can reach it; nothing written", o->max_power, o->alpha);
        if (s == TSR_OK && keep < x.n_maf &&
            (!(x.drop = malloc((size_t)x.n_maf + 1)) || tsr_membership_drop(x.n_maf, x.maf, keep, x.drop) != 0))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory choosing the sites to drop");
        sum->n_in = sum->n_suppressed = 0;
        if (s == TSR_OK)
            s = tsr_export_open_file(o, &x);
    }
    /* first pass: the content hash the header carries; then the input again from its start */
    x.kept_no = 0;
    EVP_MD_CTX *md = s == TSR_OK ? EVP_MD_CTX_new() : NULL;
    if (s == TSR_OK && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to start");
    if (s == TSR_OK)
        s = tsr_export_records(o, &x, tmp, sum, md);
    unsigned char sha[32];
    unsigned int shalen = 0;
    if (s == TSR_OK && (EVP_DigestFinal_ex(md, sha, &shalen) != 1 || shalen != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to finish");
    EVP_MD_CTX_free(md);
    if (s == TSR_OK) {
        char line[4300];
        int k = snprintf(sum->content_sha256, sizeof sum->content_sha256, "sha256:");
        for (int i = 0; i < 32; i++)
            k += snprintf(sum->content_sha256 + k, sizeof sum->content_sha256 - (size_t)k, "%02x", sha[i]);
        snprintf(line, sizeof line, "##tessera_content_sha256=%s (the data lines as VCF text: bcftools view -H FILE | sha256sum)",
                 sum->content_sha256);
        if (bcf_hdr_append(x.oh, line) != 0)
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot add the content hash to the header");
        sum->n_samples = x.n_samples;
        int64_t released = sum->n_in - sum->n_suppressed - sum->n_dropped;
        sum->membership_power = tsr_membership_power(released, x.n_samples, o->alpha);
        snprintf(line, sizeof line, "##tessera_membership=<ID=membership,power=%.6g,alpha=%g,sites=%lld,samples=%lld,"
                 "dropped_to_power=%lld,drop_rule=lowest_MAF_first,"
                 "test=\"Sankararaman et al. 2009 LR test, normal approximation Phi(sqrt(M/N) - z_(1-alpha))\">",
                 sum->membership_power, o->alpha, (long long)released, (long long)x.n_samples,
                 (long long)sum->n_dropped);
        if (s == TSR_OK && bcf_hdr_append(x.oh, line) != 0)
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot add the membership power to the header");
        if (s == TSR_OK && o->max_power > 0 && sum->membership_power > o->max_power)
            s = tsr_error_set(TSR_ERR_STATE, "the export's membership-inference power is %.4f (%lld sites, %lld "
                              "samples, alpha %g), above --max-membership-power %g: nothing written; export fewer "
                              "sites (raise --min-ac, or --drop-to-power)", sum->membership_power,
                              (long long)released, (long long)x.n_samples, o->alpha, o->max_power);
        if (s == TSR_OK && o->source_head && *o->source_head) {
            snprintf(line, sizeof line, "##tessera_source_audit=%s (the source run's head: tessera verify DIR --expect)",
                     o->source_head);
            if (bcf_hdr_append(x.oh, line) != 0)
                s = tsr_error_set(TSR_ERR_INTERNAL, "cannot add the source head to the header");
        }
        if (s == TSR_OK && bcf_hdr_sync(x.oh) != 0)
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot build the aggregate-only VCF header");
        sum->n_in = sum->n_suppressed = sum->n_dropped = 0;
        x.kept_no = 0;
    }
    if (s == TSR_OK)
        s = tsr_export_open_file(o, &x);
    if (s == TSR_OK) {
        errno = 0;
        x.out = hts_open(tmp, tsr_ends_with(o->out, ".bcf") ? "wb" : "wz");
        if (!x.out)
            s = tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, errno ? strerror(errno) : "unknown error");
        else
            created = 1;
    }
    if (s == TSR_OK && bcf_hdr_write(x.out, x.oh) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot write the header of '%s': %s", tmp, strerror(errno));
    if (s == TSR_OK && bcf_idx_init(x.out, x.oh, 14, tmp_idx) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot start the index '%s'", tmp_idx);
    if (s == TSR_OK)
        s = tsr_export_records(o, &x, tmp, sum, NULL);
    if (s == TSR_OK && bcf_idx_save(x.out) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot write the index '%s': %s", tmp_idx, strerror(errno));
    if (x.out && hts_close(x.out) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot finish '%s': %s", tmp, strerror(errno));
    /* the mask first: the VCF under its final name is the sign that the export is whole */
    if (s == TSR_OK && mask_created && rename(tmp_mask, mask) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tmp_mask, mask, strerror(errno));
    if (s == TSR_OK && rename(tmp, o->out) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, o->out, strerror(errno));
    if (s == TSR_OK && rename(tmp_idx, final_idx) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tmp_idx, final_idx, strerror(errno));
    if (s != TSR_OK && created) {
        unlink(tmp);
        unlink(tmp_idx);
    }
    if (s != TSR_OK && mask_created)
        unlink(tmp_mask);
    free(x.ac);
    free(x.keep);
    free(x.sample_pop);
    free(x.gt);
    free(x.gtc);
    free(x.pl);
    free(x.rows);
    free(x.llc);
    free(x.maf);
    free(x.drop);
    free(x.af);
    ks_free(&x.line);
    if (x.rec)
        bcf_destroy(x.rec);
    if (x.oh)
        bcf_hdr_destroy(x.oh);
    if (x.ih)
        bcf_hdr_destroy(x.ih);
    if (x.in)
        hts_close(x.in);
    return s;
}
