/*
 * federated_merge.c - `tessera merge`: exact cohort-wide statistics from
 * several institutions' federated exports (io/aggregate_export.c), which
 * carry per site and population the diploid genotype counts (INFO/GTC_<pop>)
 * and beside them a callable mask (io/callable_mask.c).
 *
 * Design. Genotype counts are sufficient statistics: every per-site
 * statistic tessera publishes (AC, AN, NS, nhet, nhomalt, HWE, ExcHet, F,
 * F_MISSING) depends on a population's genotypes only through their counts,
 * and the counts of the union of institutions are the sums of theirs. So a
 * merged site is rebuilt as pseudo-genotypes (the merged counts laid out in
 * slots, one per sample of the cohort, the rest missing) and handed to the
 * same functions `tessera stats` uses (tsr_site_stats_compute,
 * tsr_cohort_acc_add_site): the results are those of `tessera stats` on the
 * pooled genotypes by construction, not by a second implementation. The
 * slots are not samples; no per-sample value is written.
 *
 * Sites are keyed by (contig, POS, REF); ALT alleles are the union, in order
 * of first appearance over the inputs sorted by content hash. An input
 * without a record for a key contributes its callable samples at POS as
 * hom-ref (0/0) and the rest as missing. Inputs are sorted by (content
 * SHA-256, mask SHA-256) first, so any permutation of them gives the same
 * bytes. Every input's hashes are checked against its content before use.
 *
 * Parallel: the contigs are cut into windows of `window` bp; window r is
 * merged by rank r mod size into part files, which the first rank
 * concatenates in window order; the cohort accumulators are summed over
 * ranks (integers, so the result does not depend on the rank count).
 */
#include "kernels/stats/stats.h"
#include "kernels/stats/stats_internal.h"

#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/kstring.h>
#include <htslib/tbx.h>
#include <htslib/vcf.h>
#include <openssl/evp.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tsr_merge_opts_init(tsr_merge_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->min_ac = 1;
    o->window = 1000000;
    o->alpha = 0.05;
    o->min_site_qual = 30;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && !strcmp(s + n - m, suffix);
}

tsr_status_t tsr_merge_opts_check(const tsr_merge_opts_t *o)
{
    if (!o->out || !ends_with(o->out, ".vcf.gz"))
        return tsr_error_set(TSR_ERR_USAGE, "--out FILE.vcf.gz is required (the merged sites, bgzipped VCF)");
    if (o->n_inputs < 1)
        return tsr_error_set(TSR_ERR_USAGE, "give the federated exports to merge (tessera export --aggregate-only "
                                            "--in DIR of each institution's run)");
    if (o->min_ac < 0)
        return tsr_error_set(TSR_ERR_USAGE, "--min-ac must be >= 0");
    if (o->window < 1000)
        return tsr_error_set(TSR_ERR_USAGE, "--window must be at least 1000 bp");
    if (!(o->min_site_qual >= 0))
        return tsr_error_set(TSR_ERR_USAGE, "--min-site-qual must be >= 0");
    if (!(o->alpha > 0 && o->alpha < 1))
        return tsr_error_set(TSR_ERR_USAGE, "the membership test's false-positive rate must lie in (0, 1)");
    if (o->max_power && !(o->max_power > 0 && o->max_power <= 1))
        return tsr_error_set(TSR_ERR_USAGE, "--max-membership-power must lie in (0, 1]");
    return TSR_OK;
}

/* ------------------------------------------------------------ one input */

typedef struct fed_input {
    const char *path;
    const char *base;
    htsFile *fp;
    bcf_hdr_t *h;
    tbx_t *idx;
    char mode[32], version[64];
    char content[80], mask_sha[80], mask_file[4300];
    int lowpass;     /* a low-pass export: likelihood curves, and a depth mask (TSR_LP_DEPTH_BINS per population) */
    double ref_qual; /* low-pass: the mean reference base quality its depth mask's reads have */
    int n_pops;
    char **pops;
    int *pop_samples;
    /* the mask: n_mask intervals (contig index, [start, end)), counts n_pops each */
    int64_t n_mask;
    int *m_rid;
    int64_t *m_start, *m_end;
    int32_t *m_cnt;
} fed_input_t;

static void fed_input_free(fed_input_t *in)
{
    if (in->h)
        bcf_hdr_destroy(in->h);
    if (in->idx)
        tbx_destroy(in->idx);
    if (in->fp)
        hts_close(in->fp);
    for (int p = 0; p < in->n_pops; p++)
        free(in->pops[p]);
    free(in->pops);
    free(in->pop_samples);
    free(in->m_rid);
    free(in->m_start);
    free(in->m_end);
    free(in->m_cnt);
    memset(in, 0, sizeof *in);
}

static const char *hrec_val(const bcf_hrec_t *r, const char *key)
{
    int k = bcf_hrec_find_key((bcf_hrec_t *)r, key);
    return k < 0 ? NULL : r->vals[k];
}

/* The header of a federated export: mode, populations, hashes; TSR_ERR_FORMAT naming the file otherwise. */
static tsr_status_t fed_input_open(fed_input_t *in, const char *path)
{
    in->path = path;
    const char *b = strrchr(path, '/');
    in->base = b ? b + 1 : path;
    errno = 0;
    if (!(in->fp = hts_open(path, "r")))
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, errno ? strerror(errno) : "unknown error");
    if (hts_get_format(in->fp)->category != variant_data || !(in->h = bcf_hdr_read(in->fp)))
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a VCF file (a federated export is .vcf.gz)", path);
    if (bcf_hdr_nsamples(in->h) != 0)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' has sample columns: merge takes aggregate-only exports only", path);
    int nh = in->h->nhrec;
    const bcf_hrec_t *fed = NULL, *mask = NULL;
    for (int i = 0; i < nh; i++) {
        const bcf_hrec_t *r = in->h->hrec[i];
        if (!strcmp(r->key, "tessera_federation"))
            fed = r;
        else if (!strcmp(r->key, "tessera_callable_mask"))
            mask = r;
        else if (!strcmp(r->key, "tessera_content_sha256") && r->value)
            snprintf(in->content, sizeof in->content, "%.*s", (int)strcspn(r->value, " "), r->value);
        else if (!strcmp(r->key, "tessera_population")) {
            const char *id = hrec_val(r, "ID"), *n = hrec_val(r, "samples");
            char **t = realloc(in->pops, sizeof *t * (size_t)(in->n_pops + 1));
            int *u = t ? realloc(in->pop_samples, sizeof *u * (size_t)(in->n_pops + 1)) : NULL;
            if (t)
                in->pops = t;
            if (u)
                in->pop_samples = u;
            if (!t || !u || !id || !n || !(in->pops[in->n_pops] = strdup(id)))
                return tsr_error_set(TSR_ERR_FORMAT, "'%s': a ##tessera_population line is damaged", path);
            in->pop_samples[in->n_pops++] = atoi(n);
        }
    }
    const char *fmode = fed ? hrec_val(fed, "mode") : NULL;
    int lowpass = fmode && !strcmp(fmode, "lowpass");
    if (lowpass && fed) {
        const char *k = hrec_val(fed, "curve_points"), *w = mask ? hrec_val(mask, "window") : NULL,
                   *d = mask ? hrec_val(mask, "depth_bins") : NULL, *q = mask ? hrec_val(mask, "ref_qual") : NULL;
        if (!k || atoi(k) != TSR_LP_CURVE_K || !w || atoi(w) != TSR_LP_DEPTH_WINDOW || !d ||
            atoi(d) != TSR_LP_DEPTH_BINS || !q)
            return tsr_error_set(TSR_ERR_FORMAT, "'%s' is a low-pass export with another likelihood grid or depth "
                                 "mask layout (curve_points %s, window %s, depth bins %s) than this tessera's (%d, %d, "
                                 "%d): export again with this version", path, k ? k : "none", w ? w : "none",
                                 d ? d : "none", TSR_LP_CURVE_K, TSR_LP_DEPTH_WINDOW, TSR_LP_DEPTH_BINS);
        in->lowpass = 1;
        in->ref_qual = atof(q);
    }
    if (!fed || !mask || !in->content[0] || !in->n_pops)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a federated export (no ##tessera_federation, callable mask, "
                             "populations or content hash): export each run with tessera export --aggregate-only "
                             "--in DIR", path);
    const char *mode = hrec_val(fed, "mode"), *ver = hrec_val(fed, "tessera"), *mf = hrec_val(mask, "file"),
               *ms = hrec_val(mask, "sha256");
    if (!mode || !ver || !mf || !ms || strchr(mf, '/'))
        return tsr_error_set(TSR_ERR_FORMAT, "'%s': the ##tessera_federation or ##tessera_callable_mask line is "
                             "damaged", path);
    snprintf(in->mode, sizeof in->mode, "%s", mode);
    snprintf(in->version, sizeof in->version, "%s", ver);
    snprintf(in->mask_sha, sizeof in->mask_sha, "%s", ms);
    snprintf(in->mask_file, sizeof in->mask_file, "%.*s%s", (int)(in->base - path), path, mf);
    if (!(in->idx = tbx_index_load3(path, NULL, 0)))
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' has no index (.csi); export again or run bcftools index", path);
    return TSR_OK;
}

/* SHA-256 of `fp`'s data lines as VCF text, against the header's. Reads the file to its end. */
static tsr_status_t fed_input_verify(fed_input_t *in)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bcf1_t *rec = bcf_init();
    kstring_t line = KS_INITIALIZE;
    tsr_status_t s = TSR_OK;
    if (!md || !rec || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory hashing '%s'", in->path);
    int64_t n = 0;
    while (s == TSR_OK) {
        int r = bcf_read(in->fp, in->h, rec);
        if (r == -1)
            break;
        if (r < -1) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s: cannot read record %" PRId64 "; the file is damaged or truncated",
                              in->path, n + 1);
            break;
        }
        n++;
        line.l = 0;
        if (vcf_format(in->h, rec, &line) != 0 || EVP_DigestUpdate(md, line.s, line.l) != 1)
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot hash record %" PRId64 " of '%s'", n, in->path);
    }
    unsigned char d[32];
    unsigned int dl = 0;
    if (s == TSR_OK && (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 of '%s' failed", in->path);
    if (s == TSR_OK) {
        char got[80];
        int k = snprintf(got, sizeof got, "sha256:");
        for (int i = 0; i < 32; i++)
            k += snprintf(got + k, sizeof got - (size_t)k, "%02x", d[i]);
        if (strcmp(got, in->content))
            s = tsr_error_set(TSR_ERR_FORMAT, "'%s': its records do not match its ##tessera_content_sha256 (%s, "
                              "records %s): the file was changed after export; ask its institution for it again",
                              in->path, in->content, got);
    }
    ks_free(&line);
    if (rec)
        bcf_destroy(rec);
    EVP_MD_CTX_free(md);
    return s;
}

/* Read the callable mask (and check its SHA-256). Intervals must be sorted by the header's contig order. */
static tsr_status_t fed_input_mask(fed_input_t *in)
{
    BGZF *fp = bgzf_open(in->mask_file, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s', the callable mask of '%s': %s; it must lie beside the "
                             "export", in->mask_file, in->path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    kstring_t line = KS_INITIALIZE;
    tsr_status_t s = TSR_OK;
    int64_t cap = 0, ln = 0;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", in->mask_file);
    int np = in->n_pops * (in->lowpass ? TSR_LP_DEPTH_BINS : 1); /* count columns */
    while (s == TSR_OK) {
        int r = bgzf_getline(fp, '\n', &line);
        if (r == -1)
            break;
        if (r < -1) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s: cannot read line %" PRId64 "; the file is damaged", in->mask_file,
                              ln + 1);
            break;
        }
        ln++;
        if (EVP_DigestUpdate(md, line.s, line.l) != 1 || EVP_DigestUpdate(md, "\n", 1) != 1) {
            s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 of '%s' failed", in->mask_file);
            break;
        }
        if (ln == 1) {
            kstring_t want = KS_INITIALIZE;
            kputs("#CHROM\tSTART\tEND", &want);
            for (int p = 0; p < in->n_pops; p++)
                for (int k = 1; k <= (in->lowpass ? TSR_LP_DEPTH_BINS : 1); k++)
                    ksprintf(&want, in->lowpass ? "\t%s:%d" : "\t%s", in->pops[p], k);
            if (strcmp(want.s, line.s))
                s = tsr_error_set(TSR_ERR_FORMAT, "%s line 1: the header does not name the export's populations",
                                  in->mask_file);
            ks_free(&want);
            continue;
        }
        if (in->n_mask == cap) {
            cap = cap ? 2 * cap : 1024;
            int *a = realloc(in->m_rid, sizeof *a * (size_t)cap);
            if (a)
                in->m_rid = a;
            int64_t *b = realloc(in->m_start, sizeof *b * (size_t)cap);
            if (b)
                in->m_start = b;
            int64_t *c = realloc(in->m_end, sizeof *c * (size_t)cap);
            if (c)
                in->m_end = c;
            int32_t *d = realloc(in->m_cnt, sizeof *d * (size_t)cap * (size_t)(np + 1));
            if (d)
                in->m_cnt = d;
            if (!a || !b || !c || !d) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", in->mask_file);
                break;
            }
        }
        char *f = line.s, *tab = strchr(f, '\t');
        int64_t k = in->n_mask;
        int ok = tab != NULL;
        if (ok) {
            *tab = 0;
            in->m_rid[k] = bcf_hdr_name2id(in->h, f);
            char *e;
            in->m_start[k] = strtoll(tab + 1, &e, 10);
            ok = in->m_rid[k] >= 0 && *e == '\t';
            if (ok)
                in->m_end[k] = strtoll(e + 1, &e, 10);
            for (int p = 0; ok && p < np; p++) {
                ok = *e == '\t';
                long v = strtol(e + 1, &e, 10);
                int pop = in->lowpass ? p / TSR_LP_DEPTH_BINS : p;
                int64_t most = (int64_t)in->pop_samples[pop] * (in->lowpass ? in->m_end[k] - in->m_start[k] : 1);
                in->m_cnt[k * np + p] = (int32_t)v;
                ok = ok && v >= 0 && v <= most;
            }
            ok = ok && *e == 0 && in->m_end[k] > in->m_start[k] && in->m_start[k] >= 0;
            if (ok && k > 0)
                ok = in->m_rid[k] > in->m_rid[k - 1] ||
                     (in->m_rid[k] == in->m_rid[k - 1] && in->m_start[k] >= in->m_end[k - 1]);
        }
        if (!ok) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %" PRId64 ": not 'CONTIG START END' and %d counts within the "
                              "populations' sizes, in the export's contig order", in->mask_file, ln, np);
            break;
        }
        if (in->lowpass && in->m_end[k] - in->m_start[k] > TSR_LP_DEPTH_WINDOW) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %" PRId64 ": a window longer than %d bases", in->mask_file, ln,
                              TSR_LP_DEPTH_WINDOW);
            break;
        }
        in->n_mask++;
    }
    unsigned char d[32];
    unsigned int dl = 0;
    if (s == TSR_OK && (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 of '%s' failed", in->mask_file);
    if (s == TSR_OK) {
        char got[80];
        int k = snprintf(got, sizeof got, "sha256:");
        for (int i = 0; i < 32; i++)
            k += snprintf(got + k, sizeof got - (size_t)k, "%02x", d[i]);
        if (strcmp(got, in->mask_sha))
            s = tsr_error_set(TSR_ERR_FORMAT, "'%s' does not match the SHA-256 its export '%s' records (%s, file "
                              "%s): use the mask exported with it", in->mask_file, in->path, in->mask_sha, got);
    }
    ks_free(&line);
    EVP_MD_CTX_free(md);
    bgzf_close(fp);
    return s;
}

/* The mask interval of input `in` holding (rid, pos), or -1. */
static int64_t fed_mask_find(const fed_input_t *in, int rid, int64_t pos)
{
    int64_t lo = 0, hi = in->n_mask;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (in->m_rid[mid] < rid || (in->m_rid[mid] == rid && in->m_end[mid] <= pos))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < in->n_mask && in->m_rid[lo] == rid && in->m_start[lo] <= pos && pos < in->m_end[lo] ? lo : -1;
}

/* Callable samples per population of input `in` at (rid, pos) into c[n_pops]. */
static void fed_mask_at(const fed_input_t *in, int rid, int64_t pos, int32_t *c)
{
    int64_t k = fed_mask_find(in, rid, pos);
    for (int p = 0; p < in->n_pops; p++)
        c[p] = k >= 0 ? in->m_cnt[k * in->n_pops + p] : 0;
}

/* The same reference, mode and populations as `ref`; TSR_ERR_FORMAT naming `in` and what differs. */
static tsr_status_t fed_input_compare(const fed_input_t *ref, const fed_input_t *in)
{
    if (strcmp(ref->mode, in->mode))
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is a %s-mode export, '%s' a %s-mode one: merge exports of one "
                             "mode", in->path, in->mode, ref->path, ref->mode);
    int same = ref->n_pops == in->n_pops;
    for (int p = 0; same && p < in->n_pops; p++)
        same = !strcmp(ref->pops[p], in->pops[p]);
    if (!same) {
        kstring_t a = KS_INITIALIZE, b = KS_INITIALIZE;
        for (int p = 0; p < ref->n_pops; p++)
            ksprintf(&a, "%s%s", p ? "," : "", ref->pops[p]);
        for (int p = 0; p < in->n_pops; p++)
            ksprintf(&b, "%s%s", p ? "," : "", in->pops[p]);
        tsr_status_t s = tsr_error_set(TSR_ERR_FORMAT, "'%s' has populations %s, '%s' has %s: every institution "
                                       "must use the same population labels", in->path, b.s, ref->path, a.s);
        ks_free(&a);
        ks_free(&b);
        return s;
    }
    int na = ref->h->n[BCF_DT_CTG], nb = in->h->n[BCF_DT_CTG];
    for (int c = 0; c < na || c < nb; c++) {
        const char *x = c < na ? bcf_hdr_id2name(ref->h, c) : NULL, *y = c < nb ? bcf_hdr_id2name(in->h, c) : NULL;
        if (!x || !y || strcmp(x, y))
            return tsr_error_set(TSR_ERR_FORMAT, "'%s' was exported against another reference than '%s': contig %d is "
                                 "%s there, %s here", in->path, ref->path, c + 1, x ? x : "absent", y ? y : "absent");
        const bcf_hrec_t *ra = bcf_hdr_get_hrec(ref->h, BCF_HL_CTG, "ID", x, NULL),
                         *rb = bcf_hdr_get_hrec(in->h, BCF_HL_CTG, "ID", y, NULL);
        const char *la = ra ? hrec_val(ra, "length") : NULL, *lb = rb ? hrec_val(rb, "length") : NULL;
        const char *ma = ra ? hrec_val(ra, "md5") : NULL, *mb = rb ? hrec_val(rb, "md5") : NULL;
        if (!la || !lb || !ma || !mb || strcmp(la, lb) || strcmp(ma, mb))
            return tsr_error_set(TSR_ERR_FORMAT, "'%s' was exported against another reference than '%s': contig %s "
                                 "has length %s md5 %s there, length %s md5 %s here", in->path, ref->path, x,
                                 la ? la : "?", ma ? ma : "?", lb ? lb : "?", mb ? mb : "?");
    }
    return TSR_OK;
}

/* -------------------------------------------------------- merging sites */

typedef struct fed_rec {
    int input;
    int64_t pos;
    int n_alleles;
    char **alleles;
    int32_t *gtc; /* n_pops x G */
    float *llc;   /* low-pass: n_pops x (n_alleles - 1) x TSR_LP_CURVE_K */
} fed_rec_t;

typedef struct fed_merge {
    const tsr_merge_opts_t *o;
    int n_in;
    fed_input_t *in; /* sorted by hash */
    int n_pops;
    char **pops;
    int *pop_n, *pop_off, n_slots;
    int *slot_pop;
    tsr_site_stats_t *st;
    tsr_cohort_acc_t *acc;
    /* region scratch */
    fed_rec_t *recs;
    int64_t n_recs, cap_recs;
    int32_t *gtc, *gt, *mask;
    size_t gtc_cap;
    const char **al;
    int *map;
    int al_cap;
    bcf1_t *rec;
    int32_t *ibuf;
    int mibuf;
    int64_t n_sites, n_suppressed;
    int64_t n_below_qual; /* low-pass: below --min-site-qual */
    int lowpass;   /* the inputs are low-pass exports: likelihood curves, no genotype counts */
    int64_t keep;  /* --drop-to-power: the sites to keep (-1: all) */
    int64_t n_dropped;
    uint8_t *drop; /* per released site in output order: dropped */
    float *fbuf;
    int mfbuf;
    double *curve; /* (n_pops + 1) x TSR_LP_CURVE_K */
} fed_merge_t;

static void fed_recs_clear(fed_merge_t *m)
{
    for (int64_t i = 0; i < m->n_recs; i++) {
        for (int a = 0; a < m->recs[i].n_alleles; a++)
            free(m->recs[i].alleles[a]);
        free(m->recs[i].alleles);
        free(m->recs[i].gtc);
        free(m->recs[i].llc);
    }
    m->n_recs = 0;
}

static int fed_rec_cmp(const void *pa, const void *pb)
{
    const fed_rec_t *a = pa, *b = pb;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    int c = strcmp(a->alleles[0], b->alleles[0]);
    if (c)
        return c;
    return a->input - b->input; /* inputs are already in hash order */
}

/* Every record of input i whose POS lies in [start, end) of contig rid. */
static tsr_status_t fed_read_region(fed_merge_t *m, int i, int rid, int64_t start, int64_t end)
{
    fed_input_t *in = &m->in[i];
    int tid = tbx_name2id(in->idx, bcf_hdr_id2name(in->h, rid));
    hts_itr_t *itr = tid < 0 ? NULL : tbx_itr_queryi(in->idx, tid, start, end);
    if (!itr)
        return TSR_OK; /* no record on the contig */
    tsr_status_t s = TSR_OK;
    int r;
    kstring_t line = KS_INITIALIZE;
    while (s == TSR_OK && (r = tbx_itr_next(in->fp, in->idx, itr, &line)) >= 0) {
        if (vcf_parse(&line, in->h, m->rec) != 0) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s: cannot parse a record of %s:%" PRId64 "-%" PRId64, in->path,
                              bcf_hdr_id2name(in->h, rid), start + 1, end);
            break;
        }
        if (m->rec->pos < start || m->rec->pos >= end)
            continue;
        if (bcf_unpack(m->rec, BCF_UN_INFO) != 0) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s: cannot read record %s:%" PRId64, in->path,
                              bcf_seqname_safe(in->h, m->rec), (int64_t)m->rec->pos + 1);
            break;
        }
        if (m->n_recs == m->cap_recs) {
            int64_t cap = m->cap_recs ? 2 * m->cap_recs : 256;
            fed_rec_t *t = realloc(m->recs, sizeof *t * (size_t)cap);
            if (!t) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
                break;
            }
            m->recs = t;
            m->cap_recs = cap;
        }
        fed_rec_t *fr = &m->recs[m->n_recs];
        memset(fr, 0, sizeof *fr);
        fr->input = i;
        fr->pos = m->rec->pos;
        int na = m->rec->n_allele, G = na * (na + 1) / 2;
        fr->alleles = calloc((size_t)na, sizeof *fr->alleles);
        size_t nl = (size_t)(na > 1 ? na - 1 : 1) * TSR_LP_CURVE_K * (size_t)m->n_pops;
        if (m->lowpass)
            fr->llc = malloc(sizeof *fr->llc * nl);
        else
            fr->gtc = malloc(sizeof *fr->gtc * (size_t)G * (size_t)m->n_pops);
        if (!fr->alleles || !(m->lowpass ? (void *)fr->llc : (void *)fr->gtc)) {
            free(fr->llc);
            free(fr->alleles);
            free(fr->gtc);
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
            break;
        }
        m->n_recs++;
        fr->n_alleles = na;
        for (int a = 0; a < na && s == TSR_OK; a++)
            if (!(fr->alleles[a] = strdup(m->rec->d.allele[a])))
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
        for (int p = 0; p < m->n_pops && s == TSR_OK && m->lowpass; p++) {
            char key[1100];
            snprintf(key, sizeof key, "LLC_%s", m->pops[p]);
            int want = (na - 1) * TSR_LP_CURVE_K, n = bcf_get_info_float(in->h, m->rec, key, &m->fbuf, &m->mfbuf);
            if (na < 2 || n != want)
                s = tsr_error_set(TSR_ERR_FORMAT, "%s: record %s:%" PRId64 " has %s INFO/%s (%d ALTs need %d curve "
                                  "values): not a low-pass federated export, or damaged", in->path,
                                  bcf_seqname_safe(in->h, m->rec), (int64_t)m->rec->pos + 1, n < 0 ? "no" : "a wrong",
                                  key, na - 1, want);
            for (int k = 0; k < want && s == TSR_OK; k++)
                if (!isfinite(m->fbuf[k]) || m->fbuf[k] > 0)
                    s = tsr_error_set(TSR_ERR_FORMAT, "%s: record %s:%" PRId64 ": INFO/%s value %d is not a finite "
                                      "number <= 0: damaged", in->path, bcf_seqname_safe(in->h, m->rec),
                                      (int64_t)m->rec->pos + 1, key, k + 1);
            if (s == TSR_OK)
                memcpy(fr->llc + (size_t)p * (size_t)want, m->fbuf, sizeof *fr->llc * (size_t)want);
        }
        for (int p = 0; p < m->n_pops && s == TSR_OK && !m->lowpass; p++) {
            char key[1100];
            snprintf(key, sizeof key, "GTC_%s", m->pops[p]);
            int n = bcf_get_info_int32(in->h, m->rec, key, &m->ibuf, &m->mibuf);
            if (n != G)
                s = tsr_error_set(TSR_ERR_FORMAT, "%s: record %s:%" PRId64 " has %s INFO/%s (%d alleles need %d "
                                  "genotype counts): not a federated export, or damaged", in->path,
                                  bcf_seqname_safe(in->h, m->rec), (int64_t)m->rec->pos + 1, n < 0 ? "no" : "a wrong",
                                  key, na, G);
            else
                memcpy(fr->gtc + (size_t)p * (size_t)G, m->ibuf, sizeof *fr->gtc * (size_t)G);
        }
    }
    if (s == TSR_OK && r < -1)
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: cannot read the records of %s:%" PRId64 "-%" PRId64
                          "; the file is damaged", in->path, bcf_hdr_id2name(in->h, rid), start + 1, end);
    hts_itr_destroy(itr);
    ks_free(&line);
    return s;
}

static int put_info_ints(kstring_t *k, const char *key, const char *sfx, int n, const int32_t *v)
{
    int e = ksprintf(k, ";%s%s=", key, sfx) < 0;
    for (int a = 0; a < n; a++)
        e |= ksprintf(k, "%s%d", a ? "," : "", v[a]) < 0;
    return e;
}

static int put_info_reals(kstring_t *k, const char *key, const char *sfx, int n, const float *f, const double *d,
                          const char *fmt)
{
    int e = ksprintf(k, ";%s%s=", key, sfx) < 0;
    for (int a = 0; a < n; a++) {
        double x = f ? f[a] : d[a];
        if (a)
            e |= kputc(',', k) < 0;
        e |= (isnan(x) ? kputc('.', k) : ksprintf(k, fmt, x)) < 0;
    }
    return e;
}

/* One merged site's VCF line (INFO from st) into k. */
static int fed_vcf_line(const fed_merge_t *m, kstring_t *k, const char *contig, int64_t pos, int n, const char **al,
                        const int32_t *gtc)
{
    const tsr_site_stats_t *st = m->st;
    int na = n - 1, e = ksprintf(k, "%s\t%" PRId64 "\t.\t%s\t", contig, pos + 1, al[0]) < 0;
    for (int a = 1; a < n; a++)
        e |= ksprintf(k, "%s%s", a > 1 ? "," : "", al[a]) < 0;
    if (n == 1)
        e |= kputc('.', k) < 0;
    e |= kputs("\t.\t.\t", k) < 0;
    for (int g = 0; g < st->n_groups; g++) {
        char sfx[1100] = "";
        if (g)
            snprintf(sfx, sizeof sfx, "_%s", m->pops[g - 1]);
        size_t o = (size_t)g * (size_t)na;
        e |= ksprintf(k, "%sAN%s=%d", g ? ";" : "", sfx, st->an[g]) < 0;
        e |= put_info_ints(k, "AC", sfx, na, st->ac + o);
        e |= put_info_reals(k, "AF", sfx, na, st->af + o, NULL, "%g");
        e |= ksprintf(k, ";NS%s=%d;nhet%s=%d", sfx, st->ns[g], sfx, st->nhet[g]) < 0;
        e |= put_info_ints(k, "nhomalt", sfx, na, st->nhomalt + o);
        e |= put_info_reals(k, "F_MISSING", sfx, 1, st->f_missing + g, NULL, "%g");
        e |= put_info_reals(k, "HWE", sfx, na, NULL, st->hwe + o, "%.9g");
        e |= put_info_reals(k, "ExcHet", sfx, na, NULL, st->exchet + o, "%.9g");
        e |= put_info_reals(k, "InbreedingCoeff", sfx, 1, NULL, st->inbreeding + g, "%.6f");
    }
    int G = n * (n + 1) / 2;
    for (int p = 0; p < m->n_pops; p++)
        e |= put_info_ints(k, "GTC_", m->pops[p], G, gtc + (size_t)p * (size_t)G);
    e |= kputc('\n', k) < 0;
    return e;
}

static tsr_status_t fed_grow(fed_merge_t *m, int n)
{
    size_t G = (size_t)n * (size_t)(n + 1) / 2, need = G * (size_t)m->n_pops;
    if (need > m->gtc_cap) {
        int32_t *t = realloc(m->gtc, sizeof *t * need);
        if (!t)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
        m->gtc = t;
        m->gtc_cap = need;
    }
    if (n > m->al_cap) {
        const char **a = realloc(m->al, sizeof *a * (size_t)n);
        if (a)
            m->al = a;
        int *b = realloc(m->map, sizeof *b * (size_t)n);
        if (b)
            m->map = b;
        if (!a || !b)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
        m->al_cap = n;
    }
    return TSR_OK;
}

/*
 * Low-pass: the log-likelihood curve, on the TSR_LP_CURVE_K grid, of population p's samples of input `in`
 * at a position that input did not report (or reported without the ALT in question): from its depth mask,
 * the window's expected number of samples with k reads, k = 1 .. TSR_LP_DEPTH_BINS, each read taken as
 * REF with the input's mean reference base quality, the way the low-pass kernel scores reference
 * observations (tsr_lp_gl_add). Approximations: reads of such a sample that carried the ALT are counted
 * as REF (they were too few for the site to be reported), depth is averaged over the window, and depths
 * above TSR_LP_DEPTH_BINS count as TSR_LP_DEPTH_BINS. Adds the curve to `curve`.
 */
static void fed_depth_curve(const fed_merge_t *m, const fed_input_t *in, int rid, int64_t pos, int p, double *curve)
{
    const int D = TSR_LP_DEPTH_BINS;
    int64_t w = fed_mask_find(in, rid, pos);
    if (w < 0 || !m->o->loglik_weighted)
        return;
    double e = pow(10.0, -in->ref_qual / 10.0);
    e = e < 1e-5 ? 1e-5 : e > 0.75 ? 0.75 : e;
    double r1 = (0.5 * (1 - e) + 0.5 * e / 3.0) / (1 - e), r2 = (e / 3.0) / (1 - e);
    double rows[3 * TSR_LP_DEPTH_BINS], wt[TSR_LP_DEPTH_BINS], len = (double)(in->m_end[w] - in->m_start[w]);
    int any = 0;
    for (int d = 1; d <= D; d++) {
        rows[3 * (d - 1)] = 1;
        rows[3 * (d - 1) + 1] = pow(r1, d);
        rows[3 * (d - 1) + 2] = pow(r2, d);
        wt[d - 1] = in->m_cnt[(size_t)w * (size_t)in->n_pops * D + (size_t)p * D + (size_t)(d - 1)] / len;
        any |= wt[d - 1] > 0;
    }
    if (!any)
        return;
    for (int k = 0; k < TSR_LP_CURVE_K; k++) {
        double f[2] = {1 - tsr_lp_curve_freq(k), tsr_lp_curve_freq(k)};
        curve[k] += m->o->loglik_weighted(D, 2, rows, wt, f);
    }
}

/* Low-pass, a union of several ALTs: each ALT's own test, the low-pass discovery's defaults (its LowQual bar
 * max(--min-qual, 60) and min_alt_count). */
#define TSR_MERGE_LP_ALT_QUAL 60.0
#define TSR_MERGE_LP_ALT_COUNT 0.5
#define TSR_MERGE_LP_MAX_QUAL 9999.0 /* the low-pass discovery's QUAL cap */

/*
 * Low-pass: the maximum of a log-likelihood curve on the TSR_LP_CURVE_K grid, refined as
 * tsr_lp_curve_argmax refines its position (the parabola through the best grid point and its neighbours
 * in the arcsine scale, its vertex kept within one grid step), never below the best grid value.
 */
static double fed_curve_peak(const double *l)
{
    const int K = TSR_LP_CURVE_K;
    int b = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[b])
            b = k;
    int c = b == 0 ? 1 : b == K - 1 ? K - 2 : b;
    double den = l[c - 1] - 2 * l[c] + l[c + 1], best = l[b];
    if (den < 0) {
        double t = c + 0.5 * (l[c - 1] - l[c + 1]) / den;
        t = t < b - 1 ? b - 1 : t > b + 1 ? b + 1 : t;
        t = t < 0 ? 0 : t > K - 1 ? K - 1 : t;
        double d = t - c, y = l[c] + 0.5 * (l[c + 1] - l[c - 1]) * d + 0.5 * den * d * d;
        best = y > best ? y : best;
    }
    return best;
}

/* The alleles of recs[a .. b) (one position and REF) into m->al: REF, then each ALT once in order of first appearance. */
static tsr_status_t fed_union_alleles(fed_merge_t *m, int64_t a, int64_t b, int *n_alleles)
{
    int n = 1, bound = 1;
    for (int64_t i = a; i < b; i++)
        bound += m->recs[i].n_alleles - 1;
    TSR_CALL(fed_grow(m, bound));
    m->al[0] = m->recs[a].alleles[0];
    for (int64_t i = a; i < b; i++)
        for (int x = 1; x < m->recs[i].n_alleles; x++) {
            int k = 1;
            while (k < n && strcmp(m->al[k], m->recs[i].alleles[x]))
                k++;
            if (k == n)
                m->al[n++] = m->recs[i].alleles[x];
        }
    *n_alleles = n;
    return TSR_OK;
}

/*
 * Low-pass: records recs[a .. b) share (pos, REF). Per ALT of their union and population, the inputs'
 * curves of that ALT are summed, and an input without the site or without that ALT adds the curve of its
 * depth mask there (fed_depth_curve); AF_<pop> is the sum's argmax and AF the argmax of the sum over
 * populations. The merged QUAL is discovery by the pooled likelihood: the cohort curve's likelihood-ratio
 * statistic against p = 0, 2 (max_p l(p) - l(0)), summed over the ALTs (each ALT's curve treats the
 * other ALTs' carriers as not carrying it, so the sum approximates the joint test the low-pass discovery
 * runs; exact at biallelic sites up to PL rounding and the grid), turned into phred by the discovery's own
 * tsr_lp_qual. Where the union holds several ALTs, each must pass its own test as in the discovery: its
 * curve's QUAL >= TSR_MERGE_LP_ALT_QUAL and its expected count 2 N AF >= TSR_MERGE_LP_ALT_COUNT, else it
 * is left out (an ALT one institution saw in a single read, say). A site below min_site_qual, or left
 * without an ALT, is not a site, as a pooled run would not have reported it (counted apart from the
 * suppressed). A site is released when round(2 N AF) summed over ALTs (the
 * expected ALT count, N the cohort's samples) is >= min_ac.
 */
static tsr_status_t fed_merge_site_lowpass(fed_merge_t *m, int rid, int64_t a, int64_t b, kstring_t *vcf,
                                           tsr_str_t *tsv)
{
    const fed_rec_t *r0 = &m->recs[a];
    const char *contig = bcf_hdr_id2name(m->in[0].h, rid);
    const int K = TSR_LP_CURVE_K, P = m->n_pops;
    int n = 0;
    TSR_CALL(fed_union_alleles(m, a, b, &n));
    double *af = calloc((size_t)(n - 1) * (size_t)(P + 1), sizeof *af); /* [allele][cohort, pops] */
    if (!af)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
    double eac = 0, lrt = 0, *alt_lrt = malloc(sizeof *alt_lrt * (size_t)n);
    if (!alt_lrt) {
        free(af);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
    }
    for (int u = 1; u < n; u++) {
        memset(m->curve, 0, sizeof *m->curve * (size_t)(P + 1) * (size_t)K);
        for (int in = 0; in < m->n_in; in++) { /* inputs without the ALT here: their depth evidence */
            int has = 0;
            for (int64_t i = a; i < b && !has; i++)
                for (int x = 1; x < m->recs[i].n_alleles && !has; x++)
                    has = m->recs[i].input == in && !strcmp(m->recs[i].alleles[x], m->al[u]);
            for (int p = 0; p < P && !has; p++)
                fed_depth_curve(m, &m->in[in], rid, r0->pos, p, m->curve + (size_t)(p + 1) * K);
        }
        for (int p = 0; p < P; p++)
            for (int k = 0; k < K; k++)
                m->curve[k] += m->curve[(size_t)(p + 1) * K + k];
        for (int64_t i = a; i < b; i++) {
            const fed_rec_t *r = &m->recs[i];
            int x = 1;
            while (x < r->n_alleles && strcmp(r->alleles[x], m->al[u]))
                x++;
            if (x == r->n_alleles)
                continue;
            size_t per_pop = (size_t)(r->n_alleles - 1) * (size_t)K;
            for (int p = 0; p < P; p++) {
                const float *c = r->llc + (size_t)p * per_pop + (size_t)(x - 1) * (size_t)K;
                for (int k = 0; k < K; k++) {
                    m->curve[(size_t)(p + 1) * K + k] += c[k];
                    m->curve[k] += c[k];
                }
            }
        }
        for (int g = 0; g <= P; g++)
            af[(size_t)(u - 1) * (size_t)(P + 1) + (size_t)g] = tsr_lp_curve_argmax(m->curve + (size_t)g * K);
        double d = 2.0 * (fed_curve_peak(m->curve) - m->curve[0]);
        alt_lrt[u] = d > 0 ? d : 0;
    }
    /* a union of several ALTs keeps those that pass their own test, as the low-pass discovery does */
    int kept = 1;
    for (int u = 1; u < n; u++) {
        double f = af[(size_t)(u - 1) * (size_t)(P + 1)];
        if (n > 2 && m->o->qual && (m->o->qual(alt_lrt[u], TSR_MERGE_LP_MAX_QUAL) < TSR_MERGE_LP_ALT_QUAL ||
                                    2.0 * m->n_slots * f < TSR_MERGE_LP_ALT_COUNT))
            continue;
        m->al[kept] = m->al[u];
        memmove(af + (size_t)(kept - 1) * (size_t)(P + 1), af + (size_t)(u - 1) * (size_t)(P + 1),
                sizeof *af * (size_t)(P + 1));
        eac += f;
        lrt += alt_lrt[u];
        kept++;
    }
    n = kept;
    free(alt_lrt);
    /* without the kernel's qual (a caller that hands none in) no QUAL is written and none is applied */
    double qual = m->o->qual ? m->o->qual(lrt, TSR_MERGE_LP_MAX_QUAL) : NAN;
    if (n < 2 || qual < m->o->min_site_qual) {
        m->n_below_qual++;
        free(af);
        return TSR_OK;
    }
    eac = round(2.0 * m->n_slots * eac);
    if (eac < (double)m->o->min_ac) {
        m->n_suppressed++;
        free(af);
        return TSR_OK;
    }
    m->n_sites++;
    kstring_t tl = KS_INITIALIZE, *t = &tl;
    int ninst = 0;
    for (int64_t i = a; i < b; i++)
        ninst += i == a || m->recs[i].input != m->recs[i - 1].input;
    int e = ksprintf(vcf, "%s\t%" PRId64 "\t.\t%s\t", contig, r0->pos + 1, m->al[0]) < 0;
    e |= ksprintf(t, "%s\t%" PRId64 "\t%s\t", contig, r0->pos + 1, m->al[0]) < 0;
    for (int u = 1; u < n; u++) {
        e |= ksprintf(vcf, "%s%s", u > 1 ? "," : "", m->al[u]) < 0;
        e |= ksprintf(t, "%s%s", u > 1 ? "," : "", m->al[u]) < 0;
    }
    e |= (isnan(qual) ? kputs("\t.\t.\t", vcf) : ksprintf(vcf, "\t%.2f\t.\t", qual)) < 0;
    e |= (isnan(qual) ? kputs("\t.", t) : ksprintf(t, "\t%.2f", qual)) < 0;
    for (int g = 0; g <= P; g++) {
        e |= ksprintf(vcf, "%sAF%s%s=", g ? ";" : "", g ? "_" : "", g ? m->pops[g - 1] : "") < 0;
        e |= kputc('\t', t) < 0;
        for (int u = 1; u < n; u++) {
            double f = af[(size_t)(u - 1) * (size_t)(P + 1) + (size_t)g];
            e |= ksprintf(vcf, "%s%.6g", u > 1 ? "," : "", f) < 0;
            e |= ksprintf(t, "%s%.6g", u > 1 ? "," : "", f) < 0;
        }
    }
    e |= ksprintf(vcf, ";NINST=%d\n", ninst) < 0;
    e |= kputc('\n', t) < 0;
    e |= tsr_str_putn(tsv, tl.s, tl.l);
    ks_free(&tl);
    free(af);
    return e ? tsr_error_set(TSR_ERR_NOMEM, "out of memory merging") : TSR_OK;
}

/* Records recs[a .. b) share (pos, REF): merge them, fill absent inputs from their masks, write the site. */
static tsr_status_t fed_merge_site(fed_merge_t *m, int rid, int64_t a, int64_t b, kstring_t *vcf, tsr_str_t *tsv)
{
    const fed_rec_t *r0 = &m->recs[a];
    const char *contig = bcf_hdr_id2name(m->in[0].h, rid);
    int n = 0;
    TSR_CALL(fed_union_alleles(m, a, b, &n));
    int G = n * (n + 1) / 2, P = m->n_pops;
    memset(m->gtc, 0, sizeof *m->gtc * (size_t)G * (size_t)P);
    for (int in = 0; in < m->n_in; in++) {
        int had = 0;
        for (int64_t i = a; i < b; i++) {
            const fed_rec_t *r = &m->recs[i];
            if (r->input != in)
                continue;
            had = 1;
            for (int x = 0; x < r->n_alleles; x++) {
                int k = 0;
                while (k < n && strcmp(m->al[k], r->alleles[x]))
                    k++;
                m->map[x] = k;
            }
            int Gr = r->n_alleles * (r->n_alleles + 1) / 2;
            for (int y = 0; y < r->n_alleles; y++)
                for (int x = 0; x <= y; x++) {
                    int u = m->map[x], v = m->map[y];
                    if (u > v) {
                        int t = u;
                        u = v;
                        v = t;
                    }
                    for (int p = 0; p < P; p++)
                        m->gtc[(size_t)p * (size_t)G + (size_t)(v * (v + 1) / 2 + u)] +=
                            r->gtc[(size_t)p * (size_t)Gr + (size_t)(y * (y + 1) / 2 + x)];
                }
        }
        if (!had) { /* hom-ref for the callable samples of this institution */
            fed_mask_at(&m->in[in], rid, r0->pos, m->mask);
            for (int p = 0; p < P; p++)
                m->gtc[(size_t)p * (size_t)G] += m->mask[p];
        }
    }
    /* pseudo-genotypes: the counts laid out in the population's slots, the rest missing */
    for (int p = 0; p < P; p++) {
        int j = m->pop_off[p], end = j + m->pop_n[p];
        for (int y = 0; y < n; y++)
            for (int x = 0; x <= y; x++)
                for (int32_t c = m->gtc[(size_t)p * (size_t)G + (size_t)(y * (y + 1) / 2 + x)]; c > 0; c--) {
                    if (j == end || c < 0)
                        return tsr_error_set(TSR_ERR_FORMAT, "%s:%" PRId64 " %s: the inputs count more genotypes in "
                                             "population %s than its %d samples (a negative count, or an export "
                                             "altered)", contig, r0->pos + 1, r0->alleles[0], m->pops[p], m->pop_n[p]);
                    m->gt[2 * j] = x;
                    m->gt[2 * j + 1] = y;
                    j++;
                }
        for (; j < end; j++)
            m->gt[2 * j] = m->gt[2 * j + 1] = -1;
    }
    if (tsr_site_stats_compute(m->st, m->gt, n) != 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "%s:%" PRId64 ": site statistics failed", contig, r0->pos + 1);
    int64_t ac = 0;
    for (int x = 0; x < n - 1; x++)
        ac += m->st->ac[x];
    if (ac < m->o->min_ac) {
        m->n_suppressed++;
        return TSR_OK;
    }
    m->n_sites++;
    TSR_CALL(tsr_cohort_acc_add_site(m->acc, m->al, n, m->gt, NULL));
    if (fed_vcf_line(m, vcf, contig, r0->pos, n, m->al, m->gtc))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging");
    char pos[32];
    snprintf(pos, sizeof pos, "\t%" PRId64 "\t", r0->pos + 1);
    int e = tsr_str_putn(tsv, contig, strlen(contig)) | tsr_str_putn(tsv, pos, strlen(pos)) |
            tsr_str_putn(tsv, m->al[0], strlen(m->al[0])) | tsr_str_putn(tsv, "\t", 1);
    for (int x = 1; x < n; x++)
        e |= (x > 1 ? tsr_str_putn(tsv, ",", 1) : 0) | tsr_str_putn(tsv, m->al[x], strlen(m->al[x]));
    if (n == 1)
        e |= tsr_str_putn(tsv, ".", 1);
    e |= tsr_str_putn(tsv, "\t.\t.", 4) | tsr_site_stats_tsv_values(tsv, m->st) | tsr_str_putn(tsv, "\n", 1);
    return e ? tsr_error_set(TSR_ERR_NOMEM, "out of memory merging") : TSR_OK;
}

/* Window [start, end) of contig rid into the part files vcf_path, tsv_path. */
static tsr_status_t fed_merge_region(fed_merge_t *m, int rid, int64_t start, int64_t end, const char *vcf_path,
                                     const char *tsv_path)
{
    fed_recs_clear(m);
    for (int i = 0; i < m->n_in; i++)
        TSR_CALL(fed_read_region(m, i, rid, start, end));
    qsort(m->recs, (size_t)m->n_recs, sizeof *m->recs, fed_rec_cmp);
    kstring_t vcf = KS_INITIALIZE;
    tsr_str_t tsv = {0};
    tsr_status_t s = TSR_OK;
    for (int64_t a = 0, b; a < m->n_recs && s == TSR_OK; a = b) {
        for (b = a + 1; b < m->n_recs && m->recs[b].pos == m->recs[a].pos &&
                        !strcmp(m->recs[b].alleles[0], m->recs[a].alleles[0]); b++)
            ;
        s = m->lowpass ? fed_merge_site_lowpass(m, rid, a, b, &vcf, &tsv) : fed_merge_site(m, rid, a, b, &vcf, &tsv);
    }
    FILE *f1 = s == TSR_OK ? fopen(vcf_path, "wb") : NULL, *f2 = f1 ? fopen(tsv_path, "wb") : NULL;
    if (s == TSR_OK && (!f1 || !f2 || (vcf.l && fwrite(vcf.s, 1, vcf.l, f1) != vcf.l) ||
                        (tsv.l && fwrite(tsv.s, 1, tsv.l, f2) != tsv.l)))
        s = tsr_error_set(TSR_ERR_IO, "cannot write the part '%s': %s", vcf_path, strerror(errno));
    if (f1 && fclose(f1) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot write the part '%s': %s", vcf_path, strerror(errno));
    if (f2 && fclose(f2) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot write the part '%s': %s", tsv_path, strerror(errno));
    ks_free(&vcf);
    tsr_str_free(&tsv);
    return s;
}

/* ------------------------------------------------------------- outputs */

static int fed_input_cmp(const void *pa, const void *pb)
{
    const fed_input_t *a = pa, *b = pb;
    int c = strcmp(a->content, b->content);
    return c ? c : strcmp(a->mask_sha, b->mask_sha);
}

static void fed_header(const fed_merge_t *m, kstring_t *k, double power)
{
    const fed_input_t *in0 = &m->in[0];
    kputs("##fileformat=VCFv4.3\n##source=tessera merge\n", k);
    for (int c = 0; c < in0->h->n[BCF_DT_CTG]; c++) {
        const char *x = bcf_hdr_id2name(in0->h, c);
        const bcf_hrec_t *r = bcf_hdr_get_hrec(in0->h, BCF_HL_CTG, "ID", x, NULL);
        const char *len = r ? hrec_val(r, "length") : NULL, *md5 = r ? hrec_val(r, "md5") : NULL;
        ksprintf(k, "##contig=<ID=%s", x); /* a key the input's header lacks stays out, never "(null)" */
        if (len)
            ksprintf(k, ",length=%s", len);
        if (md5)
            ksprintf(k, ",md5=%s", md5);
        kputs(">\n", k);
    }
    ksprintf(k, "##tessera_federation=<ID=merge,format=1,mode=%s,tessera=%s,populations=%d,samples=%d,inputs=%d>\n",
             in0->mode, m->o->version ? m->o->version : "unknown", m->n_pops, m->n_slots, m->n_in);
    for (int p = 0; p < m->n_pops; p++)
        ksprintf(k, "##tessera_population=<ID=%s,samples=%d>\n", m->pops[p], m->pop_n[p]);
    for (int i = 0; i < m->n_in; i++) {
        const fed_input_t *in = &m->in[i];
        ksprintf(k, "##tessera_merge_input=<ID=%d,file=%s,content_sha256=%s,mask_sha256=%s,tessera=%s,samples=", i + 1,
                 in->base, in->content, in->mask_sha, in->version);
        for (int p = 0; p < in->n_pops; p++)
            ksprintf(k, "%s%s:%d", p ? "|" : "", in->pops[p], in->pop_samples[p]);
        kputs(">\n", k);
    }
    ksprintf(k, "##tessera_merge=<ID=merge,min_ac=%" PRId64 ",sites=%" PRId64 ",suppressed=%" PRId64
                ",dropped_to_power=%" PRId64 ",drop_rule=lowest_MAF_first"
                ",membership_power=%.6g,membership_alpha=%g,membership_test=\"Sankararaman et al. 2009 LR test, "
                "normal approximation Phi(sqrt(M/N) - z_(1-alpha)), M sites, N samples\">\n",
             m->o->min_ac, m->n_sites, m->n_suppressed, m->n_dropped, power, m->o->alpha);
    kputs("##FILTER=<ID=PASS,Description=\"All filters passed\">\n", k);
    if (m->lowpass) {
        ksprintf(k, "##tessera_merge_qual=<ID=QUAL,min_site_qual=%g,below_site_qual=%" PRId64 ",Description=\"QUAL: "
                    "the low-pass discovery's phred of the likelihood-ratio test of the institutions' summed "
                    "cohort curve at its maximum against frequency 0, summed over ALTs; sites below "
                    "min_site_qual are not sites\">\n", m->o->min_site_qual, m->n_below_qual);
        for (int g = 0; g <= m->n_pops; g++)
            ksprintf(k, "##INFO=<ID=AF%s%s,Number=A,Type=Float,Description=\"ALT allele frequency%s%s by maximum "
                        "likelihood from genotype likelihoods: argmax of the institutions' summed log-likelihood "
                        "curves%s (%d-point arcsine grid, parabolic refinement)\">\n",
                     g ? "_" : "", g ? m->pops[g - 1] : "", g ? " in population " : " in the cohort",
                     g ? m->pops[g - 1] : "", g ? "" : " summed over populations", TSR_LP_CURVE_K);
        kputs("##INFO=<ID=NINST,Number=1,Type=Integer,Description=\"Inputs that reported the site; the others' "
              "samples count through their depth masks (reads taken as REF)\">\n", k);
        kputs("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", k);
        return;
    }
    for (int g = 0; g <= m->n_pops; g++) {
        char sfx[1100] = "", in_pop[1200] = " (cohort)";
        if (g) {
            snprintf(sfx, sizeof sfx, "_%s", m->pops[g - 1]);
            snprintf(in_pop, sizeof in_pop, " in population %s", m->pops[g - 1]);
        }
        ksprintf(k, "##INFO=<ID=AN%s,Number=1,Type=Integer,Description=\"Called alleles%s\">\n", sfx, in_pop);
        ksprintf(k, "##INFO=<ID=AC%s,Number=A,Type=Integer,Description=\"ALT allele count%s\">\n", sfx, in_pop);
        ksprintf(k, "##INFO=<ID=AF%s,Number=A,Type=Float,Description=\"ALT allele frequency AC/AN%s\">\n", sfx, in_pop);
        ksprintf(k, "##INFO=<ID=NS%s,Number=1,Type=Integer,Description=\"Samples with a call%s\">\n", sfx, in_pop);
        ksprintf(k, "##INFO=<ID=nhet%s,Number=1,Type=Integer,Description=\"Heterozygous samples%s\">\n", sfx, in_pop);
        ksprintf(k, "##INFO=<ID=nhomalt%s,Number=A,Type=Integer,Description=\"Samples homozygous for the ALT%s\">\n",
                 sfx, in_pop);
        ksprintf(k, "##INFO=<ID=F_MISSING%s,Number=1,Type=Float,Description=\"Fraction of samples without a "
                    "call%s\">\n", sfx, in_pop);
        ksprintf(k, "##INFO=<ID=HWE%s,Number=A,Type=Float,Description=\"Hardy-Weinberg exact test p-value%s\">\n", sfx,
                 in_pop);
        ksprintf(k, "##INFO=<ID=ExcHet%s,Number=A,Type=Float,Description=\"Excess heterozygosity p-value%s\">\n", sfx,
                 in_pop);
        ksprintf(k, "##INFO=<ID=InbreedingCoeff%s,Number=1,Type=Float,Description=\"Inbreeding coefficient F%s\">\n",
                 sfx, in_pop);
    }
    for (int p = 0; p < m->n_pops; p++)
        ksprintf(k, "##INFO=<ID=GTC_%s,Number=.,Type=Integer,Description=\"Merged diploid genotype counts in "
                    "population %s, VCF genotype order\">\n", m->pops[p], m->pops[p]);
    kputs("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", k);
}

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(fp, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(fp, "\\u%04x", *s);
        else
            fputc(*s, fp);
    }
    fputc('"', fp);
}

static void json_i64s(FILE *fp, const int64_t *v, int n)
{
    fputc('[', fp);
    for (int i = 0; i < n; i++)
        fprintf(fp, "%s%" PRId64, i ? ", " : "", v[i]);
    fputc(']', fp);
}

static void json_real(FILE *fp, double x)
{
    if (isnan(x))
        fputs("null", fp);
    else
        fprintf(fp, "%.9g", x);
}

static tsr_status_t fed_write_json(const fed_merge_t *m, const tsr_cohort_result_t *r, double power,
                                   const char *path)
{
    char tmp[4300];
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    fprintf(fp, "{\n  \"merge\": {\"mode\": ");
    json_str(fp, m->in[0].mode);
    fprintf(fp, ", \"min_ac\": %" PRId64 ", \"sites\": %" PRId64 ", \"suppressed\": %" PRId64 ", \"dropped_to_power\": %"
                PRId64 ", \"samples\": %d,\n",
            m->o->min_ac, m->n_sites, m->n_suppressed, m->n_dropped, m->n_slots);
    if (m->lowpass) /* merged sites below the cohort QUAL threshold: not sites (fed_merge_site_lowpass) */
        fprintf(fp, "    \"min_site_qual\": %g, \"below_site_qual\": %" PRId64 ",\n", m->o->min_site_qual,
                m->n_below_qual);
    fprintf(fp, "    \"membership_power\": {\"power\": ");
    json_real(fp, power);
    fprintf(fp, ", \"alpha\": %g, \"sites\": %" PRId64 ", \"samples\": %d, \"formula\": \"Phi(sqrt(M/N) - "
                "z_(1-alpha)), Sankararaman et al. 2009\"},\n    \"inputs\": [",
            m->o->alpha, m->n_sites, m->n_slots);
    for (int i = 0; i < m->n_in; i++) {
        const fed_input_t *in = &m->in[i];
        fprintf(fp, "%s\n      {\"file\": ", i ? "," : "");
        json_str(fp, in->base);
        fprintf(fp, ", \"content_sha256\": \"%s\", \"mask_sha256\": \"%s\", \"tessera\": ", in->content, in->mask_sha);
        json_str(fp, in->version);
        fputs(", \"samples\": {", fp);
        for (int p = 0; p < in->n_pops; p++) {
            fprintf(fp, "%s", p ? ", " : "");
            json_str(fp, in->pops[p]);
            fprintf(fp, ": %d", in->pop_samples[p]);
        }
        fputs("}}", fp);
    }
    if (m->lowpass) {
        fprintf(fp, "\n    ]},\n  \"statistics\": null,\n  \"note\": \"low-pass merge: AF and AF_<pop> by maximum "
                    "likelihood in the VCF; SFS and F_ST are not merged from likelihood curves yet\"\n}\n");
        goto done;
    }
    fprintf(fp, "\n    ]},\n  \"statistics\": {\n    \"ancestral_allele\": \"REF\", \"sites\": %" PRId64
                ", \"snv_sites\": %" PRId64 ", \"indel_sites\": %" PRId64 ", \"multiallelic_sites\": %" PRId64
                ",\n    \"biallelic_snvs\": %" PRId64 ", \"transitions\": %" PRId64 ", \"transversions\": %" PRId64
                ", \"ti_tv\": ",
            r->sites, r->snv_sites, r->indel_sites, r->multiallelic_sites, r->biallelic_snvs, r->transitions,
            r->transversions);
    json_real(fp, r->ti_tv);
    fputs(",\n    \"sfs\": {", fp);
    for (int p = 0; p < r->n_pops; p++) {
        const tsr_cohort_sfs_t *s = &r->sfs[p];
        fprintf(fp, "%s\n      ", p ? "," : "");
        json_str(fp, r->pop_names[p]);
        fprintf(fp, ": {\"chromosomes\": %d, \"sites\": %" PRId64 ", \"sites_not_fully_called\": %" PRId64
                    ",\n        \"unfolded\": ", s->n_chrom, s->sites, s->skipped);
        json_i64s(fp, s->unfolded, s->n_chrom + 1);
        fputs(",\n        \"folded\": ", fp);
        json_i64s(fp, s->folded, s->n_chrom / 2 + 1);
        fputc('}', fp);
    }
    fputs("\n    },\n    \"fst_hudson\": {\"fixed_point_scale\": 4294967296, \"pairs\": [", fp);
    for (int k = 0; k < r->n_pairs; k++) {
        const tsr_cohort_fst_t *f = &r->fst[k];
        fprintf(fp, "%s\n      {\"pop1\": ", k ? "," : "");
        json_str(fp, r->pop_names[f->pop_a]);
        fputs(", \"pop2\": ", fp);
        json_str(fp, r->pop_names[f->pop_b]);
        fprintf(fp, ", \"sites\": %" PRId64 ", \"numerator_fixed\": %" PRId64 ", \"denominator_fixed\": %" PRId64
                    ", \"fst\": ", f->sites, f->num_fixed, f->den_fixed);
        json_real(fp, f->fst);
        fputc('}', fp);
    }
    fputs("\n    ]}\n  }\n}\n", fp);
done:
    if (ferror(fp) | (fclose(fp) != 0)) {
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    }
    return TSR_OK;
}

/* Append a part to the output, leaving out the lines of dropped sites (m->drop; *line counts the sites). */
static tsr_status_t fed_append_file(const fed_merge_t *m, const char *part, void *out, int bgzf, FILE *fp_plain,
                                    int64_t *line)
{
    FILE *f = fopen(part, "rb");
    if (!f)
        return tsr_error_set(TSR_ERR_IO, "cannot read the part '%s': %s", part, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    tsr_status_t s = TSR_OK;
    while (s == TSR_OK && (n = getline(&buf, &cap, f)) > 0) {
        if (m->drop && m->drop[(*line)++])
            continue;
        if (bgzf ? bgzf_write((BGZF *)out, buf, (size_t)n) != n : fwrite(buf, 1, (size_t)n, fp_plain) != (size_t)n)
            s = tsr_error_set(TSR_ERR_IO, "cannot write the merged output: %s", strerror(errno));
    }
    free(buf);
    fclose(f);
    return s;
}

/*
 * --drop-to-power: the released sites' cohort MAF (INFO/AF summed over ALTs, from the VCF parts in output
 * order), and which to drop to keep m->keep of them (tsr_membership_drop: lowest MAF first, ties the
 * later site first). Updates the site counts. The SFS and F_ST (accumulated while merging) stay those of
 * the sites before dropping.
 */
static tsr_status_t fed_drop_choose(fed_merge_t *m, const char *parts, int n_regions)
{
    double *maf = malloc(sizeof *maf * (size_t)(m->n_sites + 1));
    if (!maf)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory ranking the sites by MAF");
    int64_t k = 0;
    tsr_status_t s = TSR_OK;
    char part[4400], *buf = NULL;
    size_t cap = 0;
    for (int r = 0; r < n_regions && s == TSR_OK; r++) {
        snprintf(part, sizeof part, "%s/r%07d.vcf", parts, r);
        FILE *f = fopen(part, "rb");
        if (!f) {
            s = tsr_error_set(TSR_ERR_IO, "cannot read the part '%s': %s", part, strerror(errno));
            break;
        }
        while (getline(&buf, &cap, f) > 0 && k < m->n_sites) {
            char *info = buf;
            for (int t = 0; t < 7 && info; t++)
                info = strchr(info, '\t') ? strchr(info, '\t') + 1 : NULL;
            char *af = !info ? NULL : !strncmp(info, "AF=", 3) ? info + 3 : strstr(info, ";AF=");
            if (af && *af == ';')
                af += 4;
            double sum = 0;
            while (af && *af && *af != ';' && *af != '\n') {
                char *e;
                double v = strtod(af, &e);
                sum += e == af ? 0 : v;
                af = *e == ',' ? e + 1 : NULL;
            }
            maf[k++] = sum < 1 - sum ? sum : 1 - sum;
        }
        fclose(f);
    }
    free(buf);
    if (s == TSR_OK && k != m->n_sites)
        s = tsr_error_set(TSR_ERR_INTERNAL, "the merge's parts hold %" PRId64 " sites, not %" PRId64, k, m->n_sites);
    if (s == TSR_OK && (!(m->drop = malloc((size_t)k + 1)) || tsr_membership_drop(k, maf, m->keep, m->drop) != 0))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory choosing the sites to drop");
    if (s == TSR_OK) {
        m->n_dropped = k - m->keep;
        m->n_sites = m->keep;
    }
    free(maf);
    return s;
}

/*
 * MERGED.report.html: the report of tessera stats without its per-sample QC (the merge has no samples),
 * with a facts table of each institution's samples per population and hashes.
 */
static tsr_status_t fed_write_report(const fed_merge_t *m, const tsr_cohort_result_t *res, double power,
                                     const char *path)
{
    int n = 3 + m->n_in;
    char **key = calloc((size_t)n, sizeof *key), **val = calloc((size_t)n, sizeof *val);
    tsr_status_t s = key && val ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory writing the report");
    for (int i = 0; i < m->n_in && s == TSR_OK; i++) {
        const fed_input_t *in = &m->in[i];
        kstring_t k = KS_INITIALIZE, v = KS_INITIALIZE;
        ksprintf(&k, "institution %d: %s", i + 1, in->base);
        for (int p = 0; p < in->n_pops; p++)
            ksprintf(&v, "%s%s %d", p ? ", " : "samples: ", in->pops[p], in->pop_samples[p]);
        ksprintf(&v, "; content %s; mask %s; tessera %s", in->content, in->mask_sha, in->version);
        key[i] = ks_release(&k);
        val[i] = ks_release(&v);
        if (!key[i] || !val[i])
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing the report");
    }
    if (s == TSR_OK) {
        kstring_t v = KS_INITIALIZE;
        key[m->n_in] = strdup("cohort samples");
        for (int p = 0; p < m->n_pops; p++)
            ksprintf(&v, "%s%s %d", p ? ", " : "", m->pops[p], m->pop_n[p]);
        val[m->n_in] = ks_release(&v);
        key[m->n_in + 1] = strdup("released sites");
        v = (kstring_t)KS_INITIALIZE;
        ksprintf(&v, "%" PRId64 " (merged AC >= %" PRId64 "; %" PRId64 " suppressed)", m->n_sites, m->o->min_ac,
                 m->n_suppressed);
        val[m->n_in + 1] = ks_release(&v);
        key[m->n_in + 2] = strdup("membership-inference power");
        v = (kstring_t)KS_INITIALIZE;
        ksprintf(&v, "%.4f (Sankararaman et al. 2009, Phi(sqrt(M/N) - z_(1-alpha)), alpha %g)", power, m->o->alpha);
        val[m->n_in + 2] = ks_release(&v);
        for (int i = 0; i < n; i++)
            if (!key[i] || !val[i])
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing the report");
    }
    if (s == TSR_OK) {
        tsr_cohort_result_t r = *res;
        r.samples = NULL; /* no per-sample QC: the slots are not samples */
        tsr_report_facts_t f = {n, (const char *const *)key, (const char *const *)val};
        s = tsr_report_write(path, &r, "tessera merge: federated cohort statistics", &f);
    }
    for (int i = 0; key && val && i < n; i++) {
        free(key[i]);
        free(val[i]);
    }
    free(key);
    free(val);
    return s;
}

/* The first rank: header + parts -> out (+ .csi), stats.tsv, statistics.json, report.html; tmp + rename. */
static tsr_status_t fed_finish(fed_merge_t *m, const char *parts, int n_regions, const tsr_cohort_result_t *res,
                               double power, tsr_merge_summary_t *sum)
{
    const char *out = m->o->out;
    size_t stem = strlen(out) - strlen(".vcf.gz");
    char tsv[4300], json[4300], tmp[4300], tmp_csi[4400], csi[4300], tmp_tsv[4400], part[4400], html[4300];
    snprintf(tsv, sizeof tsv, "%.*s.stats.tsv", (int)stem, out);
    snprintf(html, sizeof html, "%.*s.report.html", (int)stem, out);
    snprintf(json, sizeof json, "%.*s.statistics.json", (int)stem, out);
    snprintf(csi, sizeof csi, "%s.csi", out);
    TSR_CALL(tsr_output_tmpname(out, tmp, sizeof tmp));
    TSR_CALL(tsr_output_tmpname(tsv, tmp_tsv, sizeof tmp_tsv));
    snprintf(tmp_csi, sizeof tmp_csi, "%s.csi", tmp);
    if (m->keep >= 0)
        TSR_CALL(fed_drop_choose(m, parts, n_regions));
    kstring_t h = KS_INITIALIZE;
    fed_header(m, &h, power);
    BGZF *bz = bgzf_open(tmp, "w");
    FILE *ft = bz ? fopen(tmp_tsv, "w") : NULL;
    tsr_status_t s = TSR_OK;
    if (!bz || !ft)
        s = tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", bz ? tmp_tsv : tmp, strerror(errno));
    if (s == TSR_OK && bgzf_write(bz, h.s, h.l) != (ssize_t)h.l)
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    tsr_str_t th = {0};
    if (s == TSR_OK) {
        const char *fixed = m->lowpass ? "CHROM\tPOS\tREF\tALT\tQUAL\tAF" : "CHROM\tPOS\tREF\tALT\tQUAL\tFILTER";
        int e = tsr_str_putn(&th, fixed, strlen(fixed));
        for (int p = 0; p < m->n_pops && m->lowpass; p++)
            e |= tsr_str_putn(&th, "\tAF_", 4) | tsr_str_putn(&th, m->pops[p], strlen(m->pops[p]));
        if (e || (!m->lowpass && tsr_site_stats_tsv_header(&th, m->n_pops, m->pops)) ||
            tsr_str_putn(&th, "\n", 1) || fwrite(th.s, 1, th.l, ft) != th.l)
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s'", tmp_tsv);
    }
    tsr_str_free(&th);
    int64_t n_line = 0; /* released sites before this part */
    for (int r = 0; r < n_regions && s == TSR_OK; r++) {
        snprintf(part, sizeof part, "%s/r%07d.vcf", parts, r);
        int64_t line0 = n_line;
        s = fed_append_file(m, part, bz, 1, NULL, &n_line);
        snprintf(part, sizeof part, "%s/r%07d.tsv", parts, r);
        if (s == TSR_OK)
            s = fed_append_file(m, part, NULL, 0, ft, &line0);
    }
    ks_free(&h);
    if (bz && bgzf_close(bz) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot finish '%s': %s", tmp, strerror(errno));
    if (ft && fclose(ft) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot finish '%s': %s", tmp_tsv, strerror(errno));
    if (s == TSR_OK && bcf_index_build3(tmp, tmp_csi, 14, 0) != 0)
        s = tsr_error_set(TSR_ERR_FORMAT, "cannot index '%s'", tmp);
    if (s == TSR_OK)
        s = fed_write_json(m, res, power, json);
    if (s == TSR_OK && !m->lowpass) /* low-pass: no SFS or F_ST to plot yet */
        s = fed_write_report(m, res, power, html);
    if (s == TSR_OK && (rename(tmp_tsv, tsv) != 0 || rename(tmp_csi, csi) != 0 || rename(tmp, out) != 0))
        s = tsr_error_set(TSR_ERR_IO, "cannot rename the merged outputs into place (%s): %s", out, strerror(errno));
    if (s != TSR_OK) {
        unlink(tmp);
        unlink(tmp_csi);
        unlink(tmp_tsv);
    }
    snprintf(sum->stats_tsv, sizeof sum->stats_tsv, "%s", tsv);
    snprintf(sum->statistics_json, sizeof sum->statistics_json, "%s", json);
    return s;
}

static void fed_merge_free(fed_merge_t *m)
{
    fed_recs_clear(m);
    free(m->recs);
    for (int i = 0; i < m->n_in; i++)
        fed_input_free(&m->in[i]);
    free(m->in);
    free(m->pop_n);
    free(m->pop_off);
    free(m->slot_pop);
    free(m->gtc);
    free(m->gt);
    free(m->mask);
    free(m->al);
    free(m->map);
    free(m->ibuf);
    free(m->fbuf);
    free(m->curve);
    free(m->drop);
    if (m->rec)
        bcf_destroy(m->rec);
    tsr_site_stats_destroy(&m->st);
    tsr_cohort_acc_destroy(&m->acc);
}

static tsr_status_t fed_setup(fed_merge_t *m, int verify)
{
    const tsr_merge_opts_t *o = m->o;
    m->n_in = o->n_inputs;
    if (!(m->in = calloc((size_t)m->n_in, sizeof *m->in)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_in; i++)
        TSR_CALL(fed_input_open(&m->in[i], o->inputs[i]));
    for (int i = 1; i < m->n_in; i++)
        TSR_CALL(fed_input_compare(&m->in[0], &m->in[i]));
    m->lowpass = !strcmp(m->in[0].mode, "lowpass");
    if (strcmp(m->in[0].mode, "deep") && !m->lowpass)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is a %s-mode export; merge handles deep-mode (genotype counts) and "
                             "low-pass (likelihood curves) exports", m->in[0].path, m->in[0].mode);
    for (int i = 0; i < m->n_in; i++) {
        if (verify)
            TSR_CALL(fed_input_verify(&m->in[i]));
        TSR_CALL(fed_input_mask(&m->in[i]));
    }
    if (m->lowpass && !(m->curve = malloc(sizeof *m->curve * (size_t)(m->in[0].n_pops + 1) * TSR_LP_CURVE_K)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    qsort(m->in, (size_t)m->n_in, sizeof *m->in, fed_input_cmp);
    for (int i = 1; i < m->n_in; i++)
        if (!fed_input_cmp(&m->in[i - 1], &m->in[i]))
            return tsr_error_set(TSR_ERR_USAGE, "'%s' and '%s' are the same export (equal content hashes): give each "
                                 "institution's export once", m->in[i - 1].path, m->in[i].path);
    m->n_pops = m->in[0].n_pops;
    m->pops = m->in[0].pops;
    m->pop_n = calloc((size_t)m->n_pops, sizeof *m->pop_n);
    m->pop_off = calloc((size_t)m->n_pops, sizeof *m->pop_off);
    m->mask = calloc((size_t)m->n_pops, sizeof *m->mask);
    if (!m->pop_n || !m->pop_off || !m->mask)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_in; i++)
        for (int p = 0; p < m->n_pops; p++)
            m->pop_n[p] += m->in[i].pop_samples[p];
    for (int p = 0; p < m->n_pops; p++) {
        m->pop_off[p] = m->n_slots;
        m->n_slots += m->pop_n[p];
    }
    m->slot_pop = malloc(sizeof *m->slot_pop * (size_t)(m->n_slots + 1));
    m->gt = malloc(sizeof *m->gt * (size_t)(2 * m->n_slots + 2));
    m->rec = bcf_init();
    if (!m->slot_pop || !m->gt || !m->rec)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int p = 0; p < m->n_pops; p++)
        for (int j = 0; j < m->pop_n[p]; j++)
            m->slot_pop[m->pop_off[p] + j] = p;
    TSR_CALL(tsr_site_stats_create(m->n_slots, m->slot_pop, m->n_pops, &m->st));
    /* the accumulator wants sample ids: the slots get placeholders, never written anywhere */
    char **ids = calloc((size_t)m->n_slots + 1, sizeof *ids);
    tsr_status_t s = ids ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int j = 0; j < m->n_slots && s == TSR_OK; j++)
        if (!(ids[j] = malloc(24)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        else
            snprintf(ids[j], 24, "slot%d", j + 1);
    if (s == TSR_OK)
        s = tsr_cohort_acc_create(m->n_slots, (const char *const *)ids, m->slot_pop, m->n_pops,
                                  (const char *const *)m->pops, &m->acc);
    for (int j = 0; ids && j < m->n_slots; j++)
        free(ids[j]);
    free(ids);
    return s;
}

tsr_status_t tsr_merge_run(MPI_Comm comm, const tsr_merge_opts_t *o, tsr_merge_summary_t *sum)
{
    memset(sum, 0, sizeof *sum);
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    tsr_status_t s = tsr_merge_opts_check(o);
    fed_merge_t m;
    memset(&m, 0, sizeof m);
    m.o = o;
    if (s == TSR_OK)
        s = fed_setup(&m, rank == 0); /* rank 0 checks the content hashes */
    s = tsr_comm_agree(comm, s);
    /* parts directory beside the output: one name every rank derives */
    char parts[4300], vp[4400], tp[4400];
    const char *slash = strrchr(o->out, '/');
    snprintf(parts, sizeof parts, "%.*s.tmp.%s.parts", slash ? (int)(slash - o->out + 1) : 0, o->out,
             slash ? slash + 1 : o->out);
    if (s == TSR_OK && rank == 0) {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "%s", parts);
        if (mkdir(cmd, 0777) != 0 && errno != EEXIST)
            s = tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", parts, strerror(errno));
    }
    s = tsr_comm_agree(comm, s);
    int n_regions = 0;
    if (s == TSR_OK) {
        const bcf_hdr_t *h = m.in[0].h;
        for (int c = 0; c < h->n[BCF_DT_CTG] && s == TSR_OK; c++) {
            const bcf_hrec_t *hr = bcf_hdr_get_hrec(h, BCF_HL_CTG, "ID", bcf_hdr_id2name(h, c), NULL);
            int64_t len = atoll(hrec_val(hr, "length"));
            for (int64_t a = 0; a < len && s == TSR_OK; a += o->window, n_regions++)
                if (n_regions % size == rank) {
                    snprintf(vp, sizeof vp, "%s/r%07d.vcf", parts, n_regions);
                    snprintf(tp, sizeof tp, "%s/r%07d.tsv", parts, n_regions);
                    s = fed_merge_region(&m, c, a, a + o->window < len ? a + o->window : len, vp, tp);
                }
        }
    }
    s = tsr_comm_agree(comm, s);
    /* sum the accumulators and counters over the ranks */
    if (s == TSR_OK) {
        int64_t cnt[3] = {m.n_sites, m.n_suppressed, m.n_below_qual};
        int64_t n = tsr_cohort_acc_n_counts(m.acc);
        int rc = MPI_Allreduce(MPI_IN_PLACE, tsr_cohort_acc_counts(m.acc), (int)n, MPI_INT64_T, MPI_SUM, comm);
        if (rc == MPI_SUCCESS)
            rc = MPI_Allreduce(MPI_IN_PLACE, cnt, 3, MPI_INT64_T, MPI_SUM, comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_set(TSR_ERR_MPI, "summing the merge's statistics over the ranks failed");
        m.n_sites = cnt[0];
        m.n_suppressed = cnt[1];
        m.n_below_qual = cnt[2];
    }
    double power = tsr_membership_power(m.n_sites, m.n_slots, o->alpha);
    m.keep = -1;
    if (s == TSR_OK && o->max_power > 0 && power > o->max_power && o->drop_to_power) {
        m.keep = tsr_membership_max_sites(m.n_sites, m.n_slots, o->alpha, o->max_power);
        if (m.keep < 0)
            s = tsr_error_set(TSR_ERR_STATE, "--max-membership-power %g is below the test's false-positive rate %g: "
                              "no release can reach it; nothing written", o->max_power, o->alpha);
        power = tsr_membership_power(m.keep, m.n_slots, o->alpha);
    }
    if (s == TSR_OK && o->max_power > 0 && power > o->max_power)
        s = tsr_error_set(TSR_ERR_STATE, "the release's membership-inference power is %.4f (%" PRId64 " sites, %d "
                          "samples, alpha %g), above --max-membership-power %g: nothing written; release fewer "
                          "sites (raise --min-ac) or merge more samples", power, m.n_sites, m.n_slots, o->alpha,
                          o->max_power);
    if (s == TSR_OK && rank == 0) {
        tsr_cohort_result_t *res = NULL;
        s = tsr_cohort_acc_result(m.acc, &res);
        if (s == TSR_OK)
            s = fed_finish(&m, parts, n_regions, res, power, sum);
        tsr_cohort_result_destroy(&res);
    }
    s = tsr_comm_agree(comm, s);
    if (rank == 0) { /* the parts go in every case */
        for (int r = 0; r < n_regions; r++) {
            snprintf(vp, sizeof vp, "%s/r%07d.vcf", parts, r);
            snprintf(tp, sizeof tp, "%s/r%07d.tsv", parts, r);
            unlink(vp);
            unlink(tp);
        }
        rmdir(parts);
    }
    sum->n_inputs = m.n_in;
    sum->n_sites = m.n_sites;
    sum->n_suppressed = m.n_suppressed;
    sum->n_below_qual = m.n_below_qual;
    sum->n_dropped = m.n_dropped;
    sum->n_samples = m.n_slots;
    sum->membership_power = power;
    sum->n_regions = n_regions;
    fed_merge_free(&m);
    return s;
}
