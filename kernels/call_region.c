/*
 * call_region.c - the call kernel: per (region, sample batch), pileup of each
 * sample's alignments -> candidate SNV and indel sites, per-sample genotype
 * likelihoods and reference-confidence blocks (tsr_evidence_t), written as
 * one HDF5 evidence partition (the kernel object is in kernels/pipeline/call_kernel.c).
 * This file holds the options, the driver (tsr_call_region: the passes over
 * the samples, on the pool) and the output assembly (PL, AD, DP, strand
 * counts, reference-confidence blocks); the stages are
 *   call_pileup.c      read views, the walk over a sample's reads, pass 1
 *   call_candidates.c  SNV and indel candidate sites, indel haplotypes
 *   call_likelihood.c  pass 2: per-read likelihoods, pair-HMM realignment
 *   call_phase.c       read-backed phase
 * sharing their types through call_internal.h.
 *
 * Design. Each sample's BAM/CRAM (CRAM decoded against opts.ref_path) is
 * read twice over the region. Every read's indel events are first
 * left-aligned against the reference (an event moves one base left while
 * the shifted event is the same sequence, over aligned bases only), so an
 * indel in a homopolymer or a tandem repeat has one anchor however the
 * aligner placed it:
 *   pass 1 counts, per position, the bases of each A/C/G/T (base quality >=
 *     min_baseq) and the reads' indel events (from CIGAR I/D, anchored at the
 *     aligned base before the event). A position is an SNV candidate for a
 *     base when some sample has >= min_alt_reads and >= min_alt_frac of its
 *     depth for it, or the batch has >= min_pool_alt_reads of it in sum and
 *     min_pool_alt_frac of its summed depth (low-coverage stretches where no
 *     sample reaches two reads). An event is an indel candidate when some
 *     sample has >= min_indel_reads (and min_indel_frac of its depth) with
 *     it, or the batch has in sum (indel errors are rare enough that one read
 *     in each of two samples is worth genotyping at 4x); a batch-sum
 *     insertion of the same anchor and length as a sample-qualified one is
 *     taken for its sequencing errors and dropped.
 *   pass 2 scores every read against the candidate sites it covers and
 *     accumulates diploid genotype likelihoods over "REF,ALT...,<*>",
 *     log10 P(read | a/b) = log10(P(read | a)/2 + P(read | b)/2):
 *     SNV: P(base | allele) = 1-e if equal else e/3, with
 *       e = max(10^(-BQ/10), 10^(-MAPQ/10)) clamped to [1e-6, 0.75]; the
 *       symbolic <*> stands for any unlisted base. Every base of quality >=
 *       min_gl_baseq (3: Illumina's Q2 marks a base not to be trusted) adds
 *       to the likelihoods and DP; only those >= --min-baseq make candidates
 *       and count in AD. Dropping a low-quality base loses what it says;
 *       its quality already weighs it (at 4x this gave genotypes to samples
 *       whose only read there was such a base).
 *     indel: realignment. Each site has a window of the reference (the
 *       stretch its alleles can slide over plus TSR_CALL_FLANK bases each
 *       side) and one haplotype per allele (the window with the event
 *       applied). A read that covers the anchor and the whole ambiguous
 *       stretch is scored: its bases over the window (from its own query
 *       sequence, so whatever the aligner made of the indel: a gap, or
 *       mismatches near the read's end) against each haplotype with a
 *       banded pair-HMM (phmm_loglik: base-quality emissions, gap open
 *       `gop`, extension 0.1, free start and end on the haplotype). A read
 *       that ends inside a repeat fits every allele alike and adds nothing.
 *       gop is indel_error (Q35) outside repeats and loses 3 phred per extra
 *       repeat unit the events sit in (down to Q20), as slippage does. Q35
 *       was chosen on aligned reads (ART HiSeq X reads of real haplotypes
 *       through minimap2, 64 x 4x, made as tests/bench/accuracy makes its
 *       cohorts but aligned to the 1 Mb window only): the best indel F1 of
 *       Q45, Q40, Q35, Q30 and Q25 at 4x, the same at 30x (kernels/README.md
 *       has the figures): aligned reads carry indel errors and misplaced
 *       gaps near Q35, not at the Q45 of reads placed at their true positions.
 *       A read that only overlaps the window (it starts or ends inside it)
 *       is scored too, with its soft-clipped bases up to the window's edge:
 *       an aligner writes the bases after an indel near a read's end as
 *       mismatches or clips them. Such a read is genotype evidence where its
 *       best allele beats the next by TSR_CALL_AD_MIN_LOG10 (one that ends
 *       before the event fits every allele alike and adds nothing).
 *       <*> is one gap open better than the best listed allele for a read
 *       with an unlisted event in the stretch, one worse otherwise. Allele
 *       likelihoods are capped at the read's MAPQ below the best one.
 *     A read counts toward AD (and the strand totals) of its best allele
 *     when that beats the next by 0.5 log10 units; DP counts every scored
 *     read. Where a read's best haplotype is not the one its CIGAR shows,
 *     its bases over that window are not SNV evidence (the mismatches an
 *     unopened gap leaves must not become SNV calls); this holds for reads
 *     that only overlap the window too, so a read that ends one base after
 *     a true deletion, written with a mismatch there, makes no SNV.
 * Each observation also counts toward its allele's forward or reverse
 * strand total (the read's strand), for the joint kernel's StrandBias filter.
 * Read-backed phase (after pass 2, per sample; tsr_call_phase_apply): a
 * biallelic SNV's het likelihood is re-weighed by how well its reads' bases
 * follow the haplotypes of a confident het SNV of the same sample that the
 * same fragments cover (two matching errors on reads of both haplotypes
 * make no het).
 * An SNV and an indel at one position stay two records here; the joint
 * kernel merges them into one site.
 * Overlapping mates are counted once: when a read's mate starts inside it,
 * the read's end is remembered by name; the later mate does not count
 * positions (or indel anchors) before that end.
 * Reference-confidence blocks: per sample, runs of positions that are not a
 * candidate site of either kind and have depth >= 1, cut where the depth
 * changes band (1-2, 3-5, 6-10, 11-20, 21-50, 51+), with their minimum depth.
 */
#include "io/io.h"
#include "kernels/call_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tsr_call_opts_init(tsr_call_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->min_mapq = 20;
    o->min_baseq = 13;
    o->min_gl_baseq = 3;
    o->min_alt_reads = 2;
    o->min_alt_frac = 0.1;
    o->min_indel_reads = 2;
    o->min_indel_frac = 0.1;
    o->min_pool_alt_reads = 2;
    o->min_pool_alt_frac = 0.005;
    o->indel_error = 3.16e-4; /* Q35 */
    o->phase_weight = 0.9;
}

tsr_status_t tsr_call_opts_check(const tsr_call_opts_t *o)
{
    if (o->min_mapq < 0 || o->min_mapq > 255)
        return tsr_error_set(TSR_ERR_USAGE, "--min-mapq must be in [0, 255] (got %d)", o->min_mapq);
    if (o->min_baseq < 0 || o->min_baseq > 93)
        return tsr_error_set(TSR_ERR_USAGE, "--min-baseq must be in [0, 93] (got %d)", o->min_baseq);
    if (o->min_alt_reads < 1 || o->min_indel_reads < 1 || o->min_pool_alt_reads < 1)
        return tsr_error_set(TSR_ERR_USAGE, "candidate read thresholds must be >= 1");
    if (!(o->min_alt_frac >= 0 && o->min_alt_frac <= 1) || !(o->min_indel_frac >= 0 && o->min_indel_frac <= 1) ||
        !(o->min_pool_alt_frac >= 0 && o->min_pool_alt_frac <= 1))
        return tsr_error_set(TSR_ERR_USAGE, "candidate fractions must be in [0, 1]");
    if (!(o->indel_error > 0 && o->indel_error < 0.5))
        return tsr_error_set(TSR_ERR_USAGE, "indel error must be in (0, 0.5) (got %g)", o->indel_error);
    if (!(o->phase_weight >= 0 && o->phase_weight < 1))
        return tsr_error_set(TSR_ERR_USAGE, "phase weight must be in [0, 1) (got %g)", o->phase_weight);
    return TSR_OK;
}

/* --------------------------------------------------------------- driver */

typedef struct call_job {
    const char *ref_seq;
    int64_t ref_len;
    const char *contig;
    int64_t start, end;
    const char *const *paths;
    const tsr_call_opts_t *o;
    sample_scan_t *scan;
    const cand_set_t *cs;
    const int64_t *gl_off, *ad_off;
    sample_calls_t *calls;
    tsr_status_t *status;
    char (*msg)[512];
} call_job_t;

static void job_fail(call_job_t *j, int64_t i, tsr_status_t s)
{
    j->status[i] = s;
    snprintf(j->msg[i], sizeof j->msg[i], "%s", tsr_error_msg());
}

static tsr_status_t job_pass1(void *vctx, int64_t i, int thread)
{
    (void)thread;
    call_job_t *j = vctx;
    tsr_error_clear();
    tsr_status_t s = tsr_call_sample_scan_run(j->paths[i], j->contig, j->start, j->end, j->ref_len, j->ref_seq, j->o,
                                              &j->scan[i]);
    if (s != TSR_OK)
        job_fail(j, i, s);
    return s;
}

static tsr_status_t job_pass2(void *vctx, int64_t i, int thread)
{
    (void)thread;
    call_job_t *j = vctx;
    tsr_error_clear();
    pass2_ctx_t c;
    memset(&c, 0, sizeof c);
    c.o = j->o;
    c.cs = j->cs;
    c.gl_off = j->gl_off;
    c.ad_off = j->ad_off;
    c.out = &j->calls[i];
    read_view_t v;
    memset(&v, 0, sizeof v);
    tsr_status_t s = TSR_OK;
    ref_span_t rs = {j->ref_seq, j->start, j->ref_len};
    c.ll = malloc((size_t)(j->cs->max_alleles + 1) * sizeof *c.ll);
    if (!c.ll)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", j->paths[i]);
    if (s == TSR_OK && j->cs->n > 0)
        s = tsr_call_walk_sample(j->paths[i], j->contig, j->start, j->end, &rs, j->o, &v, tsr_call_pass2_read, &c);
    if (s == TSR_OK && tsr_call_phase_apply(&c) < 0)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory phasing the reads of %s", j->paths[i]);
    free(c.obs);
    tsr_call_read_view_free(&v);
    free(c.ll);
    free(c.hmm.row);
    free(c.skip);
    if (s != TSR_OK)
        job_fail(j, i, s);
    return s;
}

/* Run fn over the samples on the pool (or here), then re-raise the first failing sample's message. */
/*
 * A region this small (bases x samples) is walked on the calling thread: handing it to the pool (a wake-up
 * and a wait per pass) cost more than a decoy contig's walk, 3,000 of them packed in a reference's units.
 * The results do not depend on the thread that computes them.
 */
#define TSR_CALL_POOL_MIN_WORK 65536

static tsr_status_t run_samples(tsr_pool_t *pool, call_job_t *j, int n, tsr_pool_fn fn)
{
    tsr_status_t s = TSR_OK;
    if (pool && (j->end - j->start) * (int64_t)n >= TSR_CALL_POOL_MIN_WORK) {
        s = tsr_pool_for(pool, n, fn, j);
    } else {
        for (int i = 0; i < n && s == TSR_OK; i++)
            s = fn(j, i, 0);
    }
    if (s == TSR_OK)
        return TSR_OK;
    for (int i = 0; i < n; i++)
        if (j->status[i] != TSR_OK) {
            tsr_error_clear();
            return tsr_error_set(j->status[i], "%s", j->msg[i]);
        }
    return s;
}

static int depth_band(int d)
{
    return d <= 2 ? 0 : d <= 5 ? 1 : d <= 10 ? 2 : d <= 20 ? 3 : d <= 50 ? 4 : 5;
}

/* Append the allele strings of a site ("REF,ALT...,<*>") to the blob. */
static void site_alleles(const cand_set_t *cs, const cand_site_t *s, const char *ref, char *out, int64_t *len)
{
    int64_t n = 0;
    if (s->kind == TSR_SITE_SNV) {
        out[n++] = "ACGT"[s->ref_base];
        for (int k = 0; k < s->n_alt; k++) {
            out[n++] = ',';
            out[n++] = "ACGT"[s->alt_base[k]];
        }
    } else {
        memcpy(out + n, ref, (size_t)s->ref_span + 1);
        n += s->ref_span + 1;
        for (int k = 0; k < s->n_alt; k++) {
            const indel_ev_t *e = &cs->ev[s->ev_first + k];
            out[n++] = ',';
            out[n++] = ref[0];
            if (e->ins_len)
                memcpy(out + n, cs->ins + e->ins_off, (size_t)e->ins_len);
            n += e->ins_len;
            int64_t tail = s->ref_span - e->del; /* reference bases after the event */
            memcpy(out + n, ref + 1 + e->del, (size_t)tail);
            n += tail;
        }
    }
    memcpy(out + n, ",<*>", 4);
    *len = n + 4;
}

static int64_t site_allele_bytes(const cand_set_t *cs, const cand_site_t *s)
{
    if (s->kind == TSR_SITE_SNV)
        return 2 * s->n_alt + 1 + 4;
    int64_t n = s->ref_span + 1 + 4;
    for (int k = 0; k < s->n_alt; k++) {
        const indel_ev_t *e = &cs->ev[s->ev_first + k];
        n += 2 + e->ins_len + (s->ref_span - e->del);
    }
    return n;
}

static tsr_status_t evidence_fill(tsr_evidence_t *ev, const cand_set_t *cs, const sample_scan_t *scan,
                                  const sample_calls_t *calls, const int64_t *gl_off, const int64_t *ad_off,
                                  const char *ref_seq)
{
    int64_t n = cs->n, ns = ev->n_samples, L = ev->end - ev->start;
    int64_t blob = 0;
    for (int64_t i = 0; i < n; i++)
        blob += site_allele_bytes(cs, &cs->site[i]);
    ev->n_sites = n;
    TSR_ALLOC(ev->pos, n);
    TSR_ALLOC(ev->kind, n);
    TSR_ALLOC(ev->n_alleles, n);
    TSR_ALLOC(ev->allele_off, n + 1);
    TSR_ALLOC(ev->allele_blob, blob);
    TSR_ALLOC(ev->pl_off, n + 1);
    int64_t n_pl = gl_off[n] * ns, n_ad = ad_off[n] * ns, n_dp = n * ns;
    TSR_ALLOC(ev->pl, n_pl);
    TSR_ALLOC(ev->ad_off, n + 1);
    TSR_ALLOC(ev->ad, n_ad);
    TSR_ALLOC(ev->dp, n_dp);
    TSR_ALLOC(ev->strand, n_ad + n_ad);
    for (int64_t i = 0; i < n; i++) {
        const cand_site_t *s = &cs->site[i];
        int na = s->n_alt + 2, G = na * (na + 1) / 2;
        int64_t len = 0;
        ev->pos[i] = s->pos;
        ev->kind[i] = s->kind;
        ev->n_alleles[i] = na;
        site_alleles(cs, s, ref_seq + (s->pos - ev->start), ev->allele_blob + ev->allele_off[i], &len);
        ev->allele_off[i + 1] = ev->allele_off[i] + len;
        ev->pl_off[i + 1] = ev->pl_off[i] + (int64_t)G * ns;
        ev->ad_off[i + 1] = ev->ad_off[i] + (int64_t)na * ns;
        for (int64_t j = 0; j < ns; j++) {
            const double *gl = calls[j].gl + gl_off[i];
            double best = gl[0];
            for (int g = 1; g < G; g++)
                if (gl[g] > best)
                    best = gl[g];
            for (int g = 0; g < G; g++)
                ev->pl[ev->pl_off[i] + j * G + g] = (int32_t)lround(-10.0 * (gl[g] - best));
            memcpy(ev->ad + ev->ad_off[i] + j * na, calls[j].ad + ad_off[i], (size_t)na * sizeof(int32_t));
            memcpy(ev->strand + 2 * (ev->ad_off[i] + j * na), calls[j].sb + 2 * ad_off[i],
                   (size_t)na * 2 * sizeof(int32_t));
            ev->dp[i * ns + j] = calls[j].dp[i];
        }
    }
    /* reference-confidence blocks */
    uint8_t *at_site = calloc((size_t)(L ? L : 1), 1);
    if (!at_site)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building reference blocks");
    for (int64_t i = 0; i < n; i++)
        at_site[cs->site[i].pos - ev->start] = 1;
    int64_t nb = 0, mb = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            mb = nb;
            nb = 0;
            ev->block_sample = malloc((size_t)(mb ? mb : 1) * sizeof(int32_t));
            ev->block_start = malloc((size_t)(mb ? mb : 1) * sizeof(int64_t));
            ev->block_end = malloc((size_t)(mb ? mb : 1) * sizeof(int64_t));
            ev->block_min_dp = malloc((size_t)(mb ? mb : 1) * sizeof(int32_t));
            if (!ev->block_sample || !ev->block_start || !ev->block_end || !ev->block_min_dp) {
                free(at_site);
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory building reference blocks");
            }
        }
        for (int64_t j = 0; j < ns; j++) {
            const uint16_t *d = scan[j].depth;
            int64_t p = 0;
            while (p < L) {
                if (at_site[p] || d[p] == 0) {
                    p++;
                    continue;
                }
                int band = depth_band(d[p]), mn = d[p];
                int64_t q = p + 1;
                while (q < L && !at_site[q] && d[q] > 0 && depth_band(d[q]) == band) {
                    if (d[q] < mn)
                        mn = d[q];
                    q++;
                }
                if (pass == 1) {
                    ev->block_sample[nb] = (int32_t)j;
                    ev->block_start[nb] = ev->start + p;
                    ev->block_end[nb] = ev->start + q;
                    ev->block_min_dp[nb] = mn;
                }
                nb++;
                p = q;
            }
        }
    }
    ev->n_blocks = nb;
    free(at_site);
    return TSR_OK;
}

tsr_status_t tsr_call_region(const char *ref_seq, int64_t ref_len, const char *contig, int64_t start,
                             int64_t end, int n_samples, const char *const *sample_ids,
                             const char *const *aln_paths, const tsr_call_opts_t *o, tsr_pool_t *pool,
                             tsr_evidence_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_call_opts_check(o));
    if (end < start || ref_len < end - start || n_samples < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "call %s:%lld-%lld: bad region or reference length", contig,
                             (long long)start + 1, (long long)end);
    tsr_evidence_t *ev = NULL;
    TSR_CALL(tsr_evidence_create(&ev));
    call_job_t j;
    memset(&j, 0, sizeof j);
    cand_set_t cs;
    memset(&cs, 0, sizeof cs);
    int64_t *gl_off = NULL, *ad_off = NULL;
    tsr_status_t s = TSR_OK;
    ev->contig = strdup(contig);
    ev->start = start;
    ev->end = end;
    ev->sample_ids = calloc((size_t)(n_samples ? n_samples : 1), sizeof(char *));
    j.scan = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.scan);
    j.calls = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.calls);
    j.status = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.status);
    j.msg = calloc((size_t)(n_samples ? n_samples : 1), sizeof *j.msg);
    if (!ev->contig || !ev->sample_ids || !j.scan || !j.calls || !j.status || !j.msg)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
    if (s == TSR_OK) {
        ev->n_samples = n_samples;
        for (int i = 0; i < n_samples && s == TSR_OK; i++)
            if (!(ev->sample_ids[i] = strdup(sample_ids[i])))
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
    }
    j.ref_seq = ref_seq;
    j.ref_len = ref_len;
    j.contig = contig;
    j.start = start;
    j.end = end;
    j.paths = aln_paths;
    j.o = o;
    j.cs = &cs;
    /* the task's CPU by phase, logged at info (issue 17: per-sample CPU of the call stage across cohort sizes);
       the process's CPU, so a rank's dispatcher thread polling meanwhile is in it too */
    double t0 = tsr_now(), c[5] = {tsr_cpu_seconds(), 0, 0, 0, 0};
    if (s == TSR_OK)
        s = run_samples(pool, &j, n_samples, job_pass1);
    c[1] = tsr_cpu_seconds();
    {
        ref_span_t rs = {ref_seq, start, ref_len};
        if (s == TSR_OK)
            s = tsr_call_candidates_build(j.scan, n_samples, &rs, end, o, &cs);
    }
    c[2] = tsr_cpu_seconds();
    if (s == TSR_OK) {
        gl_off = calloc((size_t)cs.n + 1, sizeof *gl_off);
        ad_off = calloc((size_t)cs.n + 1, sizeof *ad_off);
        if (!gl_off || !ad_off)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
        for (int64_t i = 0; s == TSR_OK && i < cs.n; i++) {
            int na = cs.site[i].n_alt + 2;
            gl_off[i + 1] = gl_off[i] + na * (na + 1) / 2;
            ad_off[i + 1] = ad_off[i] + na;
        }
        for (int i = 0; s == TSR_OK && i < n_samples; i++) {
            j.calls[i].gl = calloc((size_t)gl_off[cs.n] + 1, sizeof(double));
            j.calls[i].ad = calloc((size_t)ad_off[cs.n] + 1, sizeof(int32_t));
            j.calls[i].sb = calloc(2 * (size_t)ad_off[cs.n] + 1, sizeof(int32_t));
            j.calls[i].dp = calloc((size_t)cs.n + 1, sizeof(int32_t));
            if (!j.calls[i].gl || !j.calls[i].ad || !j.calls[i].sb || !j.calls[i].dp)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory calling %s", contig);
        }
        j.gl_off = gl_off;
        j.ad_off = ad_off;
    }
    if (s == TSR_OK && cs.n > 0) /* pass 2 reads at candidate sites only: none, nothing to read */
        s = run_samples(pool, &j, n_samples, job_pass2);
    c[3] = tsr_cpu_seconds();
    if (s == TSR_OK)
        s = evidence_fill(ev, &cs, j.scan, j.calls, gl_off, ad_off, ref_seq);
    c[4] = tsr_cpu_seconds();
    /* at info for regions of a CPU second or more (not the hundreds of a packed decoy unit) */
    if (s == TSR_OK)
        tsr_log_write(c[4] - c[0] >= 1.0 ? TSR_LOG_INFO : TSR_LOG_DEBUG, __func__,
                "call %s:%lld-%lld: %d samples, %lld candidate sites in %.2f s wall, %.2f CPU s (pass 1 %.2f, "
                "candidates %.2f, pass 2 %.2f, evidence %.2f)", contig, (long long)start + 1, (long long)end,
                n_samples, (long long)cs.n, tsr_now() - t0, c[4] - c[0], c[1] - c[0], c[2] - c[1], c[3] - c[2],
                c[4] - c[3]);
    for (int i = 0; i < n_samples; i++) {
        if (j.scan)
            tsr_call_sample_scan_free(&j.scan[i]);
        if (j.calls) {
            free(j.calls[i].gl);
            free(j.calls[i].ad);
            free(j.calls[i].sb);
            free(j.calls[i].dp);
        }
    }
    free(j.scan);
    free(j.calls);
    free(j.status);
    free(j.msg);
    free(gl_off);
    free(ad_off);
    tsr_call_cand_set_free(&cs);
    if (s != TSR_OK) {
        tsr_evidence_destroy(&ev);
        return s;
    }
    *out = ev;
    return TSR_OK;
}
