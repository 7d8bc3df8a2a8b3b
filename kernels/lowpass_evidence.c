/*
 * lowpass_evidence.c - low-pass evidence of one (region, batch): one pass
 * over each sample's alignments records every non-reference observation
 * (SNV base or indel event, with its quality) and the depth of
 * reference-matching bases as runs; the batch's observations are then grouped
 * into sites (position, kind) with their alleles. Each sample's file is open
 * only while it is read.
 */
#include "io/io.h"
#include "kernels/lowpass_internal.h"
#include "kernels/region_reads_internal.h"

#include <htslib/sam.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


void tsr_lp_opts_init(tsr_lp_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->min_mapq = 20;
    o->min_baseq = 13;
    o->indel_qual = 30;
    o->max_ref_qual = 40;
    o->min_alt_obs = 2;
    o->min_alt_count = 0.5;
    o->max_iter = 100;
    o->tol = 1e-7;
    o->min_site_qual = 10;
    o->min_qual = 30;
    o->max_qual = 9999;
    o->pretest = 1;
}

/* One non-reference observation. */
typedef struct lp_obs {
    int64_t pos;
    int32_t sample;
    uint8_t kind, qual, base; /* base: 0..3 for SNVs */
    int32_t del, ins_len;
    int64_t ins_off;          /* into the sample's (later the batch's) insertion pool */
} lp_obs_t;

typedef struct lp_sample {
    lp_obs_t *obs;
    int64_t n_obs, m_obs;
    char *ins;
    int64_t n_ins, m_ins;
    int64_t n_runs;
    int64_t *run_start, *run_end;
    int32_t *run_depth;
    double qsum;
    int64_t qn;
} lp_sample_t;

static int lp_push_obs(lp_sample_t *sm, const lp_obs_t *o, const char *ins)
{
    if (sm->n_obs == sm->m_obs) {
        int64_t m = sm->m_obs ? 2 * sm->m_obs : 256;
        lp_obs_t *v = realloc(sm->obs, (size_t)m * sizeof *v);
        if (!v)
            return -1;
        sm->obs = v;
        sm->m_obs = m;
    }
    lp_obs_t *d = &sm->obs[sm->n_obs++];
    *d = *o;
    if (o->ins_len > 0) {
        if (sm->n_ins + o->ins_len > sm->m_ins) {
            int64_t m = (sm->n_ins + o->ins_len) * 2 + 64;
            char *p = realloc(sm->ins, (size_t)m);
            if (!p)
                return -1;
            sm->ins = p;
            sm->m_ins = m;
        }
        d->ins_off = sm->n_ins;
        memcpy(sm->ins + sm->n_ins, ins, (size_t)o->ins_len);
        sm->n_ins += o->ins_len;
    }
    return 0;
}

typedef struct lp_job {
    const char *ref_seq;
    int64_t ref_len;
    const char *contig;
    int64_t start, end;
    const char *const *paths;
    const tsr_lp_opts_t *o;
    lp_sample_t *smp;
    tsr_status_t *status;
    char (*msg)[512];
} lp_job_t;

/*
 * Left-align an indel at `anchor` (a deletion of `del` bases, or the
 * insertion `ins` of ins_len bases, rotated in place) within a repeat: the
 * anchor moves left while the event one base earlier is the same sequence,
 * never before `floor` (the read's start or the end of its previous event)
 * nor past the reference the task has (ref_before bases before start), as
 * the deep caller does, so both modes and every shard layout anchor it alike.
 */
static int64_t lp_left_align(const lp_job_t *j, int64_t anchor, int del, char *ins, int ins_len, int64_t floor)
{
    const char *rs = j->ref_seq;
    for (;;) {
        int64_t p = anchor;
        if (p - 1 < floor || p - j->start < 1 - j->o->ref_before || p - j->start >= j->ref_len)
            break;
        char a = rs[p - j->start];
        if (del > 0) {
            if (p + del - j->start >= j->ref_len || rs[p + del - j->start] != a)
                break;
        } else {
            if (ins[ins_len - 1] != a)
                break;
            memmove(ins + 1, ins, (size_t)ins_len - 1);
            ins[0] = a;
        }
        anchor = p - 1;
    }
    return anchor;
}

/* Walk one read's CIGAR: reference bases to the depth array, the rest to observations. */
static int lp_read(lp_job_t *j, lp_sample_t *sm, int sample, const bam1_t *b, int64_t skip_before, int32_t *diff)
{
    const uint32_t *cig = bam_get_cigar(b);
    const uint8_t *seq = bam_get_seq(b), *qual = bam_get_qual(b);
    int64_t r = b->core.pos, lo = j->start > skip_before ? j->start : skip_before;
    int64_t floor = b->core.pos; /* an indel left-aligns no further than the read's start or its previous event */
    int qi = 0, last_aligned = 0, mapq = b->core.qual;
    for (uint32_t k = 0; k < b->core.n_cigar; k++) {
        int op = bam_cigar_op(cig[k]), len = (int)bam_cigar_oplen(cig[k]);
        switch (op) {
        case BAM_CMATCH:
        case BAM_CEQUAL:
        case BAM_CDIFF:
            for (int i = 0; i < len; i++) {
                int64_t p = r + i;
                if (p < lo || p >= j->end)
                    continue;
                int q = qual[qi + i], c = seq_nt16_int[bam_seqi(seq, qi + i)];
                char rb = j->ref_seq[p - j->start];
                if (q < j->o->min_baseq || c > 3 || rb == 'N')
                    continue;
                if ("ACGT"[c] == rb) {
                    diff[p - j->start]++;
                    diff[p - j->start + 1]--;
                    sm->qsum += q;
                    sm->qn++;
                } else {
                    lp_obs_t ob = {p, sample, TSR_SITE_SNV, (uint8_t)(q < mapq ? q : mapq), (uint8_t)c, 0, 0, 0};
                    if (lp_push_obs(sm, &ob, NULL) < 0)
                        return -1;
                }
            }
            r += len;
            qi += len;
            last_aligned = 1;
            break;
        case BAM_CINS:
        case BAM_CDEL: {
            int64_t anchor = r - 1;
            char ins[256];
            int del = op == BAM_CDEL ? len : 0, ins_len = op == BAM_CINS ? len : 0;
            if (last_aligned && (size_t)ins_len <= sizeof ins && anchor + del + 1 < j->ref_len + j->start) {
                for (int i = 0; i < ins_len; i++)
                    ins[i] = seq_nt16_str[bam_seqi(seq, qi + i)];
                anchor = lp_left_align(j, anchor, del, ins, ins_len, floor);
            }
            if (last_aligned && anchor >= lo && anchor < j->end && anchor + del + 1 < j->ref_len + j->start &&
                (size_t)ins_len <= sizeof ins && j->ref_seq[anchor - j->start] != 'N') {
                int iq = j->o->indel_qual < mapq ? j->o->indel_qual : mapq;
                lp_obs_t ob = {anchor, sample, TSR_SITE_INDEL, (uint8_t)iq, 0, del, ins_len, 0};
                if (lp_push_obs(sm, &ob, ins) < 0)
                    return -1;
            }
            floor = anchor + del + 1;
            if (op == BAM_CINS)
                qi += len;
            else
                r += len;
            last_aligned = 0;
            break;
        }
        case BAM_CREF_SKIP:
            r += len;
            last_aligned = 0;
            break;
        case BAM_CSOFT_CLIP:
            qi += len;
            break;
        default:
            break;
        }
    }
    return 0;
}

static tsr_status_t lp_sample_walk(lp_job_t *j, int i, int32_t *diff)
{
    const char *path = j->paths[i];
    lp_sample_t *sm = &j->smp[i];
    tsr_region_reads_t *rr = NULL;
    TSR_CALL(tsr_region_reads_open(path, j->o->ref_path, j->contig, j->start, j->end, j->o->min_mapq,
                                    j->o->readers, &rr));
    tsr_status_t s = TSR_OK;
    bam1_t *b = NULL;
    int64_t skip_before = INT64_MIN;
    int r;
    while ((r = tsr_region_reads_next(rr, &b, &skip_before)) > 0)
        if (lp_read(j, sm, i, b, skip_before, diff) < 0) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
            break;
        }
    if (s == TSR_OK && r < 0)
        s = tsr_region_reads_status(rr);
    tsr_region_reads_close(&rr);
    return s;
}

/* Depth differences -> runs of constant depth > 0. */
static tsr_status_t lp_sample_runs(lp_job_t *j, lp_sample_t *sm, const int32_t *diff)
{
    int64_t len = j->end - j->start, n = 0, cap = 0;
    int32_t d = 0;
    for (int64_t p = 0; p < len; p++) {
        int32_t nd = d + diff[p];
        if (nd != d && nd > 0) {
            if (n == cap) {
                int64_t c = cap ? cap * 2 : 64;
                int64_t *a = realloc(sm->run_start, (size_t)c * sizeof *a);
                if (a)
                    sm->run_start = a;
                int64_t *e = a ? realloc(sm->run_end, (size_t)c * sizeof *e) : NULL;
                if (e)
                    sm->run_end = e;
                int32_t *dd = e ? realloc(sm->run_depth, (size_t)c * sizeof *dd) : NULL;
                if (!dd)
                    return tsr_error_set(TSR_ERR_NOMEM, "out of memory building coverage runs");
                sm->run_depth = dd;
                cap = c;
            }
            if (n > 0 && sm->run_end[n - 1] == INT64_MAX)
                sm->run_end[n - 1] = j->start + p;
            sm->run_start[n] = j->start + p;
            sm->run_end[n] = INT64_MAX;
            sm->run_depth[n++] = nd;
        } else if (nd != d && n > 0 && sm->run_end[n - 1] == INT64_MAX) {
            sm->run_end[n - 1] = j->start + p;
        }
        d = nd;
    }
    if (n > 0 && sm->run_end[n - 1] == INT64_MAX)
        sm->run_end[n - 1] = j->end;
    sm->n_runs = n;
    return TSR_OK;
}

static tsr_status_t lp_sample_fn(void *ctx, int64_t i, int thread)
{
    (void)thread;
    lp_job_t *j = ctx;
    int64_t len = j->end - j->start;
    int32_t *diff = calloc((size_t)len + 1, sizeof *diff);
    tsr_status_t s = diff ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory for %lld bp of depth",
                                                   (long long)len);
    if (s == TSR_OK)
        s = lp_sample_walk(j, (int)i, diff);
    if (s == TSR_OK)
        s = lp_sample_runs(j, &j->smp[i], diff);
    free(diff);
    j->status[i] = s;
    if (s != TSR_OK)
        snprintf(j->msg[i], sizeof j->msg[i], "%s", tsr_error_msg());
    return TSR_OK;
}

/* Allele order within a site; insertions compare their bases in their samples' pools. */
static int lp_key_cmp(const lp_sample_t *smp, const lp_obs_t *a, const lp_obs_t *b)
{
    if (a->kind == TSR_SITE_SNV)
        return (int)a->base - (int)b->base;
    if (a->del != b->del)
        return a->del < b->del ? -1 : 1;
    if (a->ins_len != b->ins_len)
        return a->ins_len < b->ins_len ? -1 : 1;
    if (a->ins_len == 0) /* a deletion: no inserted bases, and the pools may be empty (NULL) */
        return 0;
    return memcmp(smp[a->sample].ins + a->ins_off, smp[b->sample].ins + b->ins_off,
                  (size_t)a->ins_len);
}

static int lp_obs_cmp(const void *x, const void *y, void *smp)
{
    const lp_obs_t *a = x, *b = y;
    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    if (a->kind != b->kind)
        return (int)a->kind - (int)b->kind;
    if (a->sample != b->sample)
        return a->sample < b->sample ? -1 : 1;
    int c = lp_key_cmp(smp, a, b);
    return c ? c : (int)a->qual - (int)b->qual;
}

typedef struct lp_buf {
    char *s;
    int64_t n, m;
} lp_buf_t;

static int lp_buf_put(lp_buf_t *b, const char *s, int64_t n)
{
    if (b->n + n > b->m) {
        int64_t m = (b->n + n) * 2 + 256;
        char *p = realloc(b->s, (size_t)m);
        if (!p)
            return -1;
        b->s = p;
        b->m = m;
    }
    memcpy(b->s + b->n, s, (size_t)n);
    b->n += n;
    return 0;
}

/* Group the sorted observations [a, b) of one (pos, kind) into a site of ev (site arrays pre-sized). */
static int lp_make_site(const lp_job_t *j, const lp_obs_t *obs, int64_t a, int64_t b, tsr_lp_evidence_t *ev,
                        lp_buf_t *alle, int64_t *n_obs_out)
{
    /* distinct allele keys, in key order */
    const lp_obs_t *keys[255];
    int nk = 0;
    int32_t maxdel = 0;
    for (int64_t k = a; k < b; k++) {
        int found = 0;
        for (int t = 0; t < nk && !found; t++)
            found = lp_key_cmp(j->smp, keys[t], &obs[k]) == 0;
        if (!found && nk < 254) {
            int at = nk;
            while (at > 0 && lp_key_cmp(j->smp, keys[at - 1], &obs[k]) > 0) {
                keys[at] = keys[at - 1];
                at--;
            }
            keys[at] = &obs[k];
            nk++;
        }
        if (obs[k].del > maxdel)
            maxdel = obs[k].del;
    }
    int64_t p = obs[a].pos, i = ev->n_sites, off = p - j->start;
    const char *ref = j->ref_seq + off;
    if (lp_buf_put(alle, ref, 1 + maxdel) < 0)
        return -1;
    for (int t = 0; t < nk; t++) {
        const lp_obs_t *o = keys[t];
        if (lp_buf_put(alle, ",", 1) < 0)
            return -1;
        if (o->kind == TSR_SITE_SNV) {
            if (lp_buf_put(alle, &"ACGT"[o->base], 1) < 0)
                return -1;
            continue;
        }
        if (lp_buf_put(alle, ref, 1) < 0 ||
            (o->ins_len && lp_buf_put(alle, j->smp[o->sample].ins + o->ins_off, o->ins_len) < 0) ||
            lp_buf_put(alle, ref + 1 + o->del, maxdel - o->del) < 0)
            return -1;
    }
    ev->pos[i] = p;
    ev->kind[i] = obs[a].kind;
    ev->n_alleles[i] = 1 + nk;
    ev->allele_off[i + 1] = alle->n;
    int64_t n = *n_obs_out;
    for (int64_t k = a; k < b; k++) {
        int t = 0;
        while (t < nk && lp_key_cmp(j->smp, keys[t], &obs[k]) != 0)
            t++;
        if (t == nk)
            continue;
        ev->obs_sample[n] = obs[k].sample;
        ev->obs_allele[n] = (uint8_t)(t + 1);
        ev->obs_qual[n] = obs[k].qual;
        n++;
    }
    ev->obs_off[i + 1] = n;
    *n_obs_out = n;
    ev->n_sites++;
    return 0;
}

static tsr_status_t lp_build(lp_job_t *j, int n, const char *const *ids, tsr_lp_evidence_t *ev)
{
    int64_t total = 0, runs = 0;
    for (int i = 0; i < n; i++) {
        total += j->smp[i].n_obs;
        runs += j->smp[i].n_runs;
    }
    if (!(ev->contig = strdup(j->contig)) || !(ev->sample_ids = calloc((size_t)n + 1, sizeof *ev->sample_ids)) ||
        !(ev->ref_qual = calloc((size_t)n + 1, sizeof *ev->ref_qual)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building low-pass evidence");
    ev->start = j->start;
    ev->end = j->end;
    ev->n_samples = n;
    for (int i = 0; i < n; i++) {
        if (!(ev->sample_ids[i] = strdup(ids[i])))
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory building low-pass evidence");
        ev->ref_qual[i] = j->smp[i].qn ? (float)(j->smp[i].qsum / (double)j->smp[i].qn) : 0.0f;
    }
    lp_obs_t *all = malloc((size_t)(total + 1) * sizeof *all);
    ev->pos = malloc((size_t)(total + 1) * sizeof *ev->pos);
    ev->kind = malloc((size_t)(total + 1));
    ev->n_alleles = malloc((size_t)(total + 1) * sizeof *ev->n_alleles);
    ev->allele_off = calloc((size_t)(total + 2), sizeof *ev->allele_off);
    ev->obs_off = calloc((size_t)(total + 2), sizeof *ev->obs_off);
    ev->obs_sample = malloc((size_t)(total + 1) * sizeof *ev->obs_sample);
    ev->obs_allele = malloc((size_t)(total + 1));
    ev->obs_qual = malloc((size_t)(total + 1));
    ev->run_sample = malloc((size_t)(runs + 1) * sizeof *ev->run_sample);
    ev->run_start = malloc((size_t)(runs + 1) * sizeof *ev->run_start);
    ev->run_end = malloc((size_t)(runs + 1) * sizeof *ev->run_end);
    ev->run_depth = malloc((size_t)(runs + 1) * sizeof *ev->run_depth);
    if (!all || !ev->pos || !ev->kind || !ev->n_alleles || !ev->allele_off || !ev->obs_off || !ev->obs_sample ||
        !ev->obs_allele || !ev->obs_qual || !ev->run_sample || !ev->run_start || !ev->run_end || !ev->run_depth) {
        free(all);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building low-pass evidence (%lld observations)",
                             (long long)total);
    }
    int64_t m = 0;
    for (int i = 0; i < n; i++) {
        if (j->smp[i].n_obs > 0) /* a sample without observations has no array */
            memcpy(all + m, j->smp[i].obs, (size_t)j->smp[i].n_obs * sizeof *all);
        m += j->smp[i].n_obs;
        for (int64_t r = 0; r < j->smp[i].n_runs; r++) {
            ev->run_sample[ev->n_runs] = i;
            ev->run_start[ev->n_runs] = j->smp[i].run_start[r];
            ev->run_end[ev->n_runs] = j->smp[i].run_end[r];
            ev->run_depth[ev->n_runs++] = j->smp[i].run_depth[r];
        }
    }
    qsort_r(all, (size_t)total, sizeof *all, lp_obs_cmp, j->smp);
    lp_buf_t alle = {0};
    int64_t n_obs = 0;
    tsr_status_t s = TSR_OK;
    for (int64_t a = 0; a < total && s == TSR_OK;) {
        int64_t b = a + 1;
        while (b < total && all[b].pos == all[a].pos && all[b].kind == all[a].kind)
            b++;
        if (lp_make_site(j, all, a, b, ev, &alle, &n_obs) < 0)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory building low-pass sites");
        a = b;
    }
    free(all);
    ev->allele_blob = alle.s ? alle.s : malloc(1);
    if (!ev->allele_blob && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory building low-pass sites");
    return s;
}

tsr_status_t tsr_lp_evidence_region(const char *ref_seq, int64_t ref_len, const char *contig, int64_t start,
                                    int64_t end, int n_samples, const char *const *sample_ids,
                                    const char *const *aln_paths, const tsr_lp_opts_t *o, tsr_pool_t *pool,
                                    tsr_lp_evidence_t **out)
{
    *out = NULL;
    if (end <= start || ref_len < end - start)
        return tsr_error_set(TSR_ERR_INTERNAL, "low-pass evidence: bad region %s:%lld-%lld", contig,
                             (long long)start + 1, (long long)end);
    lp_job_t j = {ref_seq, ref_len, contig, start, end, aln_paths, o, NULL, NULL, NULL};
    j.smp = calloc((size_t)n_samples + 1, sizeof *j.smp);
    j.status = calloc((size_t)n_samples + 1, sizeof *j.status);
    j.msg = calloc((size_t)n_samples + 1, sizeof *j.msg);
    tsr_lp_evidence_t *ev = NULL;
    tsr_status_t s = (j.smp && j.status && j.msg) ? tsr_lp_evidence_create(&ev)
                                                  : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    if (s == TSR_OK) {
        if (pool)
            s = tsr_pool_for(pool, n_samples, lp_sample_fn, &j);
        else
            for (int i = 0; i < n_samples && s == TSR_OK; i++)
                s = lp_sample_fn(&j, i, 0);
    }
    for (int i = 0; i < n_samples && s == TSR_OK; i++)
        if (j.status[i] != TSR_OK)
            s = tsr_error_set(j.status[i], "%s", j.msg[i]);
    if (s == TSR_OK)
        s = lp_build(&j, n_samples, sample_ids, ev);
    for (int i = 0; j.smp && i < n_samples; i++) {
        free(j.smp[i].obs);
        free(j.smp[i].ins);
        free(j.smp[i].run_start);
        free(j.smp[i].run_end);
        free(j.smp[i].run_depth);
    }
    free(j.smp);
    free(j.status);
    free(j.msg);
    if (s != TSR_OK) {
        tsr_lp_evidence_destroy(&ev);
        return s;
    }
    *out = ev;
    return TSR_OK;
}
