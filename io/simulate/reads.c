/*
 * reads.c - one sample's reads, from its own stream
 * (TSR_SIM_STREAM_SAMPLE + sample index), so samples are independent of
 * each other and of the thread that simulates them.
 *
 * Haplotypes: the sample's two haplotypes apply the ALT alleles of each
 * haplotype slot of its genotypes; a map from haplotype base to reference
 * base (or -1 for inserted bases) gives the true alignment.
 * Fragments: haplotype uniform, length ~ Normal(mean, sd) redrawn below the
 * read length, start uniform; read 1 is the fragment's 5' end on a random
 * strand and read 2 the reverse complement of the other end (FR pairs).
 * Number of pairs = round(coverage * length / (2 * read length)).
 * Errors (Illumina-like): the mean substitution rate at cycle c is
 * error_rate * 10^(c/(L-1)) / norm (a tenfold rise from the first to the last
 * cycle, norm making the mean over cycles error_rate). Each base draws a
 * quality Q in [2, 41] from a log-normal spread (sigma 0.6) of its error
 * probability around that cycle mean, quantised to phred; the base is then
 * substituted (uniformly to another base) with probability 10^(-Q/10), so
 * qualities are calibrated by construction. The per-cycle medians are tuned
 * so the expected 10^(-Q/10) equals the cycle's mean rate. Rarely a base is an
 * N with Q2 (5e-5 per base), an inserted random base (1e-5) or a skipped base
 * (1e-5). Haplotype Ns are read as N with Q2.
 * FASTQ names are `S0001:<fragment index>` (0-based), identical in both
 * files, without /1 /2. BAM records sit at the true positions (CIGAR from the
 * true alignment including variant indels and indel errors, MAPQ 60, proper
 * pair, mate fields, TLEN from the outer ends), sorted by (position, fragment,
 * read 1 first), with @RG ID and SM the sample id.
 */
#include "io/simulate/simulate_internal.h"

#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/sam.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_QMIN 2
#define SIM_QMAX 41
#define SIM_NQ (SIM_QMAX - SIM_QMIN + 1)
#define SIM_SIGMA 0.6
#define SIM_P_N 5e-5
#define SIM_P_INS 1e-5
#define SIM_P_DEL 1e-5

void tsr_sim_sample_id(int i, int n, char *buf, size_t len)
{
    int w = 4;
    for (int m = 10000; m <= n && w < 9; m *= 10)
        w++;
    snprintf(buf, len, "S%0*d", w, i + 1);
}


typedef struct sim_hap {
    char *seq;
    int32_t *to_ref; /* per haplotype base: reference position, -1 if inserted */
    int64_t len;
} sim_hap_t;

static tsr_status_t sim_hap_build(const tsr_sim_genome_t *g, const tsr_sim_varset_t *vs, int sample, int h,
                                  sim_hap_t *hp)
{
    int64_t extra = 0;
    for (int64_t k = 0; k < vs->n; k++)
        extra += (int64_t)strlen(vs->v[k].alt[0]) + (vs->v[k].n_alt > 1 ? 1 : 0);
    size_t cap = (size_t)(g->len + extra + 1);
    hp->seq = malloc(cap);
    hp->to_ref = malloc(cap * sizeof *hp->to_ref);
    if (!hp->seq || !hp->to_ref)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory for haplotypes");
    int64_t cur = 0, o = 0;
    for (int64_t k = 0; k < vs->n; k++) {
        const tsr_sim_variant_t *v = &vs->v[k];
        int a = v->gt[2 * sample + h];
        if (a == 0)
            continue;
        for (; cur < v->pos; cur++, o++) {
            hp->seq[o] = g->seq[cur];
            hp->to_ref[o] = (int32_t)cur;
        }
        const char *alt = v->alt[a - 1];
        hp->seq[o] = alt[0];
        hp->to_ref[o++] = (int32_t)v->pos;
        for (const char *p = alt + 1; *p; p++) {
            hp->seq[o] = *p;
            hp->to_ref[o++] = -1;
        }
        cur = v->pos + v->ref_len;
    }
    for (; cur < g->len; cur++, o++) {
        hp->seq[o] = g->seq[cur];
        hp->to_ref[o] = (int32_t)cur;
    }
    hp->seq[o] = '\0';
    hp->len = o;
    return TSR_OK;
}

/* Per-cycle quality distributions (cumulative) and the error probability of each Q. */
struct tsr_sim_errmodel {
    int rl;
    double *cdf;        /* rl * SIM_NQ */
    double perr[SIM_NQ];
};
typedef tsr_sim_errmodel_t sim_errmodel_t;

static double sim_norm_cdf(double z) { return 0.5 * erfc(-z / M_SQRT2); }

static void sim_errmodel_fill(sim_errmodel_t *m, int c, double med)
{
    /* P(Q <= q) = P(p >= lower edge of bin q) for a log-normal p with median `med`. */
    double *cdf = m->cdf + (size_t)c * SIM_NQ;
    for (int q = SIM_QMIN; q < SIM_QMAX; q++) {
        double edge = pow(10.0, -(q + 0.5) / 10.0);
        cdf[q - SIM_QMIN] = 1.0 - sim_norm_cdf((log(edge) - log(med)) / SIM_SIGMA);
    }
    cdf[SIM_NQ - 1] = 1.0;
}

static double sim_errmodel_mean(const sim_errmodel_t *m, int c)
{
    const double *cdf = m->cdf + (size_t)c * SIM_NQ;
    double mean = 0.0, prev = 0.0;
    for (int j = 0; j < SIM_NQ; j++) {
        mean += (cdf[j] - prev) * m->perr[j];
        prev = cdf[j];
    }
    return mean;
}

tsr_status_t tsr_sim_errmodel_create(int rl, double rate, tsr_sim_errmodel_t **out)
{
    *out = NULL;
    sim_errmodel_t *m = calloc(1, sizeof *m);
    if (!m)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory for the error model");
    m->rl = rl;
    m->cdf = malloc((size_t)rl * SIM_NQ * sizeof *m->cdf);
    if (!m->cdf) {
        free(m);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory for the error model");
    }
    *out = m;
    for (int j = 0; j < SIM_NQ; j++)
        m->perr[j] = pow(10.0, -(SIM_QMIN + j) / 10.0);
    double norm = 0.0;
    for (int c = 0; c < rl; c++)
        norm += pow(10.0, rl > 1 ? (double)c / (rl - 1) : 0.0);
    norm /= rl;
    for (int c = 0; c < rl; c++) {
        double target = rate * pow(10.0, rl > 1 ? (double)c / (rl - 1) : 0.0) / norm;
        double med = target;
        for (int it = 0; it < 30; it++) {
            sim_errmodel_fill(m, c, med);
            double got = sim_errmodel_mean(m, c);
            if (got <= 0.0 || fabs(got - target) < 1e-4 * target)
                break;
            med *= target / got;
        }
    }
    return TSR_OK;
}

void tsr_sim_errmodel_destroy(tsr_sim_errmodel_t **m)
{
    if (!m || !*m)
        return;
    free((*m)->cdf);
    free(*m);
    *m = NULL;
}

static int sim_errmodel_draw(const sim_errmodel_t *m, int c, double u)
{
    const double *cdf = m->cdf + (size_t)c * SIM_NQ;
    int lo = 0, hi = SIM_NQ - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (u < cdf[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* One read in sequencing order. */
typedef struct sim_read {
    char *seq;
    uint8_t *qual; /* phred, not +33 */
    int64_t *hpos; /* haplotype position of each base, -1 if not from the haplotype */
    int rev;       /* read runs against the haplotype */
} sim_read_t;

static void sim_read_make(tsr_sim_rng_t *r, const sim_errmodel_t *m, const sim_hap_t *hp, int64_t origin, int dir,
                          sim_read_t *rd, tsr_sim_sample_stats_t *st)
{
    static const char acgt[4] = {'A', 'C', 'G', 'T'};
    int64_t cur = origin;
    rd->rev = dir < 0;
    for (int c = 0; c < m->rl; c++) {
        double u = tsr_sim_rng_unif(r);
        if (u < SIM_P_DEL)
            cur += dir; /* a skipped haplotype base */
        int ins = u >= SIM_P_DEL && u < SIM_P_DEL + SIM_P_INS;
        int force_n = u >= SIM_P_DEL + SIM_P_INS && u < SIM_P_DEL + SIM_P_INS + SIM_P_N;
        int j = sim_errmodel_draw(m, c, tsr_sim_rng_unif(r));
        double ue = tsr_sim_rng_unif(r);
        char b;
        int64_t hpos = -1;
        if (ins) {
            b = acgt[tsr_sim_rng_below(r, 4)];
        } else {
            if (cur >= 0 && cur < hp->len) {
                b = dir > 0 ? hp->seq[cur] : tsr_base_complement(hp->seq[cur]);
                hpos = cur;
            } else {
                b = 'N';
            }
            cur += dir;
        }
        if (b == 'N' || force_n) {
            b = 'N';
            j = 0;
        } else if (ue < m->perr[j]) {
            int k = b == 'A' ? 0 : b == 'C' ? 1 : b == 'G' ? 2 : 3;
            b = acgt[(k + 1 + (int)tsr_sim_rng_below(r, 3)) % 4];
            st->n_sub_errors++;
        }
        rd->seq[c] = b;
        rd->qual[c] = (uint8_t)(SIM_QMIN + j);
        rd->hpos[c] = hpos;
    }
    st->n_bases += m->rl;
}

static tsr_status_t sim_fastq_put(BGZF *fp, const char *id, int64_t frag, const sim_read_t *rd, int rl, char *line)
{
    int n = snprintf(line, 64, "@%s:%lld\n", id, (long long)frag);
    memcpy(line + n, rd->seq, (size_t)rl);
    n += rl;
    memcpy(line + n, "\n+\n", 3);
    n += 3;
    for (int c = 0; c < rl; c++)
        line[n++] = (char)(rd->qual[c] + 33);
    line[n++] = '\n';
    if (bgzf_write(fp, line, (size_t)n) != n)
        return TSR_ERR_IO;
    return TSR_OK;
}

/* --------------------------------------------------------------- BAM */

typedef struct sim_aln {
    int64_t pos, end; /* reference span [pos, end), pos -1 when no base aligns */
    int n_cigar;
    uint32_t *cigar;
    char *seq;
    uint8_t *qual;
} sim_aln_t;

/* Put a read in reference orientation and derive its CIGAR from the true positions. */
static void sim_aln_make(const sim_hap_t *hp, const sim_read_t *rd, int rl, sim_aln_t *a)
{
    for (int c = 0; c < rl; c++) {
        int src = rd->rev ? rl - 1 - c : c;
        a->seq[c] = rd->rev ? tsr_base_complement(rd->seq[src]) : rd->seq[src];
        a->qual[c] = rd->qual[src];
    }
    a->n_cigar = 0;
    a->pos = -1;
    int64_t last = -1;
    int first_al = -1, last_al = -1;
    for (int c = 0; c < rl; c++) {
        int64_t h = rd->hpos[rd->rev ? rl - 1 - c : c];
        if (h >= 0 && hp->to_ref[h] >= 0) {
            if (first_al < 0)
                first_al = c;
            last_al = c;
        }
    }
    if (first_al < 0)
        return;
#define SIM_CIGAR_PUSH(op, len)                                                        \
    do {                                                                               \
        if (a->n_cigar > 0 && bam_cigar_op(a->cigar[a->n_cigar - 1]) == (op))          \
            a->cigar[a->n_cigar - 1] += (uint32_t)(len) << BAM_CIGAR_SHIFT;            \
        else                                                                           \
            a->cigar[a->n_cigar++] = bam_cigar_gen((len), (op));                       \
    } while (0)
    if (first_al > 0)
        SIM_CIGAR_PUSH(BAM_CSOFT_CLIP, first_al);
    for (int c = first_al; c <= last_al; c++) {
        int64_t h = rd->hpos[rd->rev ? rl - 1 - c : c];
        int64_t rp = h >= 0 ? hp->to_ref[h] : -1;
        if (rp < 0) {
            SIM_CIGAR_PUSH(BAM_CINS, 1);
            continue;
        }
        if (a->pos < 0)
            a->pos = rp;
        else if (rp > last + 1)
            SIM_CIGAR_PUSH(BAM_CDEL, rp - last - 1);
        SIM_CIGAR_PUSH(BAM_CMATCH, 1);
        last = rp;
    }
    if (last_al < rl - 1)
        SIM_CIGAR_PUSH(BAM_CSOFT_CLIP, rl - 1 - last_al);
#undef SIM_CIGAR_PUSH
    a->end = last + 1;
}

typedef struct sim_rec {
    int64_t pos, frag;
    int mate;
    bam1_t *b;
} sim_rec_t;

static int sim_rec_cmp(const void *x, const void *y)
{
    const sim_rec_t *a = x, *b = y;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    if (a->frag != b->frag)
        return a->frag < b->frag ? -1 : 1;
    return a->mate - b->mate;
}

static tsr_status_t sim_bam_pair(const char *id, int64_t frag, const sim_aln_t al[2], int rev[2], int rl,
                                 sim_rec_t *out)
{
    char qname[64];
    snprintf(qname, sizeof qname, "%s:%lld", id, (long long)frag);
    int mapped[2] = {al[0].pos >= 0, al[1].pos >= 0};
    int64_t left = -1, right = -1;
    if (mapped[0] && mapped[1]) {
        left = al[0].pos < al[1].pos ? al[0].pos : al[1].pos;
        right = al[0].end > al[1].end ? al[0].end : al[1].end;
    }
    for (int m = 0; m < 2; m++) {
        const sim_aln_t *a = &al[m], *o = &al[1 - m];
        uint16_t flag = BAM_FPAIRED | (m == 0 ? BAM_FREAD1 : BAM_FREAD2);
        int64_t pos = a->pos, mpos = o->pos, tlen = 0;
        if (!mapped[m]) {
            flag |= BAM_FUNMAP;
            pos = o->pos;
        } else if (rev[m]) {
            flag |= BAM_FREVERSE;
        }
        if (!mapped[1 - m]) {
            flag |= BAM_FMUNMAP;
            mpos = a->pos;
        } else if (rev[1 - m]) {
            flag |= BAM_FMREVERSE;
        }
        if (mapped[0] && mapped[1]) {
            flag |= BAM_FPROPER_PAIR;
            int leftmost = a->pos < o->pos || (a->pos == o->pos && m == 0);
            tlen = leftmost ? right - left : -(right - left);
        }
        bam1_t *b = bam_init1();
        if (!b)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory for BAM records");
        out[m].b = b;
        out[m].pos = pos;
        out[m].frag = frag;
        out[m].mate = m;
        if (bam_set1(b, strlen(qname), qname, flag, 0, pos, mapped[m] ? 60 : 0, mapped[m] ? (size_t)a->n_cigar : 0,
                     a->cigar, 0, mpos, tlen, (size_t)rl, a->seq, (const char *)a->qual, 0) < 0 ||
            bam_aux_append(b, "RG", 'Z', (int)strlen(id) + 1, (const uint8_t *)id) < 0)
            return tsr_error_set(TSR_ERR_NOMEM, "cannot build BAM record %s", qname);
    }
    return TSR_OK;
}

static tsr_status_t sim_bam_write(const char *path, const char *idx, const tsr_sim_genome_t *g, const char *id,
                                  sim_rec_t *recs, int64_t n)
{
    qsort(recs, (size_t)n, sizeof *recs, sim_rec_cmp);
    sam_hdr_t *h = sam_hdr_init();
    samFile *fp = NULL;
    tsr_status_t s = TSR_OK;
    if (!h || sam_hdr_add_line(h, "HD", "VN", "1.6", "SO", "coordinate", NULL) < 0) {
        s = tsr_error_set(TSR_ERR_NOMEM, "cannot build the BAM header for %s", path);
        goto out;
    }
    char lenbuf[32];
    snprintf(lenbuf, sizeof lenbuf, "%lld", (long long)g->len);
    if (sam_hdr_add_line(h, "SQ", "SN", g->name, "LN", lenbuf, NULL) < 0 ||
        sam_hdr_add_line(h, "RG", "ID", id, "SM", id, "PL", "ILLUMINA", NULL) < 0) {
        s = tsr_error_set(TSR_ERR_NOMEM, "cannot build the BAM header for %s", path);
        goto out;
    }
    fp = sam_open(path, "wb");
    if (!fp) {
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s'", path);
        goto out;
    }
    if (sam_hdr_write(fp, h) < 0) {
        s = tsr_error_set(TSR_ERR_IO, "cannot write the header of '%s'", path);
        goto out;
    }
    for (int64_t i = 0; i < n; i++)
        if (sam_write1(fp, h, recs[i].b) < 0) {
            s = tsr_error_set(TSR_ERR_IO, "cannot write a record to '%s'", path);
            goto out;
        }
    int rc = sam_close(fp);
    fp = NULL;
    if (rc < 0) {
        s = tsr_error_set(TSR_ERR_IO, "cannot finish '%s'", path);
        goto out;
    }
    if (sam_index_build2(path, idx, 0) < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot index '%s'", path);
out:
    if (fp && sam_close(fp) < 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot finish '%s'", path);
    sam_hdr_destroy(h);
    return s;
}

/* ----------------------------------------------------------- sample */

typedef struct sim_sample_ctx {
    sim_hap_t hap[2];
    sim_read_t rd[2];
    sim_aln_t al[2];
    char *line;
    BGZF *fq[2];
    sim_rec_t *recs;
    int64_t n_recs;
    char path[2][4096], tmp[2][4096], idx[2][4096];
} sim_sample_ctx_t;

static tsr_status_t sim_rename(const char *from, const char *to)
{
    if (rename(from, to) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s'", from, to);
    return TSR_OK;
}

static tsr_status_t sim_sample_run(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, const tsr_sim_varset_t *vs,
                                   const sim_errmodel_t *em, int i, tsr_sim_sample_stats_t *st, sim_sample_ctx_t *x)
{
    int rl = o->read_length;
    char id[32];
    tsr_sim_sample_id(i, o->n_samples, id, sizeof id);
    for (int h = 0; h < 2; h++)
        TSR_CALL(sim_hap_build(g, vs, i, h, &x->hap[h]));
    for (int m = 0; m < 2; m++) {
        x->rd[m].seq = malloc((size_t)rl);
        x->rd[m].qual = malloc((size_t)rl);
        x->rd[m].hpos = malloc((size_t)rl * sizeof(int64_t));
        x->al[m].seq = malloc((size_t)rl + 1);
        x->al[m].qual = malloc((size_t)rl);
        x->al[m].cigar = malloc((size_t)(2 * rl + 2) * sizeof(uint32_t));
        if (!x->rd[m].seq || !x->rd[m].qual || !x->rd[m].hpos || !x->al[m].seq || !x->al[m].qual || !x->al[m].cigar)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory for reads");
    }
    x->line = malloc((size_t)2 * rl + 128);
    if (!x->line)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory for reads");

    int64_t n_pairs = llround(o->coverage * (double)g->len / (2.0 * rl));
    if (o->bam) {
        snprintf(x->path[0], sizeof x->path[0], "%s/bam/%s.bam", o->outdir, id);
        snprintf(x->tmp[0], sizeof x->tmp[0], "%s/bam/%s.tmp.bam", o->outdir, id);
        snprintf(x->idx[0], sizeof x->idx[0], "%s/bam/%s.bam.bai", o->outdir, id);
        snprintf(x->idx[1], sizeof x->idx[1], "%s/bam/%s.tmp.bam.bai", o->outdir, id);
        x->recs = calloc((size_t)(2 * n_pairs + 2), sizeof *x->recs); /* +2: a pair being built */
        if (!x->recs)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory for %lld BAM records", (long long)(2 * n_pairs));
    } else {
        for (int m = 0; m < 2; m++) {
            snprintf(x->path[m], sizeof x->path[m], "%s/reads/%s_%d.fastq.gz", o->outdir, id, m + 1);
            snprintf(x->tmp[m], sizeof x->tmp[m], "%s/reads/%s_%d.fastq.gz.tmp", o->outdir, id, m + 1);
            x->fq[m] = bgzf_open(x->tmp[m], "w1"); /* fast level: the reads are scratch-sized, speed matters */
            if (!x->fq[m])
                return tsr_error_set(TSR_ERR_IO, "cannot write '%s'", x->tmp[m]);
        }
    }

    tsr_sim_rng_t rng;
    tsr_sim_rng_seed(&rng, o->seed, (uint64_t)TSR_SIM_STREAM_SAMPLE + (uint64_t)i);
    for (int64_t f = 0; f < n_pairs; f++) {
        const sim_hap_t *hp = &x->hap[tsr_sim_rng_below(&rng, 2)];
        int64_t flen = rl;
        for (int t = 0; t < 100; t++) {
            int64_t d = llround(o->fragment_mean + o->fragment_sd * tsr_sim_rng_normal(&rng));
            if (d >= rl) {
                flen = d;
                break;
            }
        }
        if (flen > hp->len)
            flen = hp->len;
        int64_t start = (int64_t)tsr_sim_rng_below(&rng, (uint64_t)(hp->len - flen + 1));
        int flip = tsr_sim_rng_unif(&rng) < 0.5;
        /* read 1 from the fragment's forward end, or from its reverse end when the fragment is flipped */
        sim_read_make(&rng, em, hp, flip ? start + flen - 1 : start, flip ? -1 : 1, &x->rd[0], st);
        sim_read_make(&rng, em, hp, flip ? start : start + flen - 1, flip ? 1 : -1, &x->rd[1], st);
        st->n_pairs++;
        if (o->bam) {
            int rev[2];
            for (int m = 0; m < 2; m++) {
                sim_aln_make(hp, &x->rd[m], rl, &x->al[m]);
                rev[m] = x->rd[m].rev;
            }
            TSR_CALL(sim_bam_pair(id, f, x->al, rev, rl, x->recs + x->n_recs));
            x->n_recs += 2;
        } else {
            for (int m = 0; m < 2; m++)
                if (sim_fastq_put(x->fq[m], id, f, &x->rd[m], rl, x->line) != TSR_OK)
                    return tsr_error_set(TSR_ERR_IO, "cannot write '%s'", x->tmp[m]);
        }
    }
    if (o->bam) {
        TSR_CALL(sim_bam_write(x->tmp[0], x->idx[1], g, id, x->recs, x->n_recs));
        TSR_CALL(sim_rename(x->idx[1], x->idx[0]));
        TSR_CALL(sim_rename(x->tmp[0], x->path[0]));
        return TSR_OK;
    }
    for (int m = 0; m < 2; m++) {
        int rc = bgzf_close(x->fq[m]);
        x->fq[m] = NULL;
        if (rc < 0)
            return tsr_error_set(TSR_ERR_IO, "cannot finish '%s'", x->tmp[m]);
    }
    for (int m = 0; m < 2; m++)
        TSR_CALL(sim_rename(x->tmp[m], x->path[m]));
    return TSR_OK;
}

tsr_status_t tsr_sim_sample_reads(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, const tsr_sim_varset_t *vs,
                                  const tsr_sim_errmodel_t *em, int i, tsr_sim_sample_stats_t *st)
{
    memset(st, 0, sizeof *st);
    sim_sample_ctx_t *x = calloc(1, sizeof *x);
    if (!x)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    tsr_status_t s = sim_sample_run(o, g, vs, em, i, st, x);
    for (int m = 0; m < 2; m++) {
        free(x->hap[m].seq);
        free(x->hap[m].to_ref);
        free(x->rd[m].seq);
        free(x->rd[m].qual);
        free(x->rd[m].hpos);
        free(x->al[m].seq);
        free(x->al[m].qual);
        free(x->al[m].cigar);
        if (x->fq[m]) {
            (void)bgzf_close(x->fq[m]);
            remove(x->tmp[m]);
        }
    }
    for (int64_t k = 0; k < x->n_recs + 2 && x->recs; k++)
        if (x->recs[k].b)
            bam_destroy1(x->recs[k].b);
    if (s != TSR_OK && o->bam) {
        remove(x->tmp[0]);
        remove(x->idx[1]);
    }
    free(x->recs);
    free(x->line);
    free(x);
    return s;
}
