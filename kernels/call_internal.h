/*
 * call_internal.h - private to the call stage files (kernels/call_*.c): the
 * types the stages hand each other and the functions one stage calls in
 * another. Nothing outside those files includes it; the call computation's
 * entry points are in kernels/kernels.h. The model is described at the top
 * of kernels/call_region.c.
 */
#ifndef TSR_CALL_INTERNAL_H
#define TSR_CALL_INTERNAL_H

#include "io/io.h"
#include "kernels/kernels.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ read view */

/* One indel event of a read: at `pos` (the anchor), a deletion of `del` bases or an insertion. */
typedef struct indel_ev {
    int64_t pos;
    int32_t del;
    int32_t ins_len;
    int64_t ins_off; /* into the owner's base pool */
    int32_t n;       /* pass 1, per sample: reads showing the event */
    int32_t dp;      /* pass 1, per sample: counted depth at the anchor */
} indel_ev_t;

/* A read as the passes see it: per reference position of its aligned span, base code and quality. */
typedef struct read_view {
    int64_t rstart, rend; /* aligned span [rstart, rend) */
    int64_t skip_before;  /* mate overlap: positions < this are not counted */
    int mapq;
    int is_rev;           /* the read maps to the reverse strand */
    uint64_t frag;        /* hash of the read name: both mates of a fragment share it */
    int8_t *base;         /* rend-rstart: 0..3 ACGT, 4 N, -1 deleted or skipped */
    uint8_t *qual;
    int32_t *qpos;        /* rend-rstart: query index of the base aligned there (deleted: of the next one) */
    size_t cap;
    int8_t *qseq;         /* the query: 0..3 ACGT, 4 N */
    uint8_t *qqual;
    size_t qcap;
    int32_t q_aln_end;    /* query index after the last aligned base (trailing soft clip excluded) */
    int32_t q_len;        /* query length (soft clips included) */
    int n_ev, m_ev;
    indel_ev_t *ev;       /* ins_off into ins */
    char *ins;
    size_t ins_len, ins_cap;
} read_view_t;

/* The reference a read view is normalised against: [start, start + len). */
typedef struct ref_span {
    const char *seq;
    int64_t start, len;
} ref_span_t;

/* Free the view's arrays and zero it (a zeroed view is empty and may be refilled). */
void tsr_call_read_view_free(read_view_t *v);

/* ------------------------------------------------------- sample walking */

/* Called once per usable read; returns -1 on out of memory (the walk stops), else 0. */
typedef int (*read_fn)(void *ctx, const read_view_t *v);

/*
 * Iterate the usable reads of one sample over contig:[start, end), handing
 * each to fn with its mate-overlap cut; fn returns -1 on out of memory.
 * Every read is filled into v (the caller's scratch view, zeroed or reused;
 * the caller frees it with tsr_call_read_view_free()) and left-aligned
 * against ref. Errors name the file.
 */
tsr_status_t tsr_call_walk_sample(const char *path, const char *contig, int64_t start, int64_t end,
                                  const ref_span_t *ref, const tsr_call_opts_t *o, read_view_t *v, read_fn fn,
                                  void *ctx) TSR_RESULT_USED;

/* ------------------------------------------------------------------ pass 1 */

/* Reads of one non-reference base at one position of one sample (pass 1). */
typedef struct alt_count {
    int64_t p;         /* offset in the region */
    int8_t b;
    int32_t n;
} alt_count_t;

/* What pass 1 keeps per sample. */
typedef struct sample_scan {
    uint8_t *altmask;  /* region length: bit b set when base b qualifies as an SNV candidate */
    int64_t n_alt;     /* every non-reference base seen, by position */
    alt_count_t *alt;
    uint16_t *depth;   /* region length: counted bases (saturating) */
    int n_ev;          /* indel events seen, sorted, distinct, with their read counts and depth */
    indel_ev_t *ev;    /* ins_off into ins */
    char *ins;
} sample_scan_t;

/*
 * Pass 1 over one sample's reads of contig:[start, end) (ref_seq covers
 * [start, start + ref_len)): base counts -> depth, every non-reference base
 * and the altmask of the bases that qualify in this sample alone; its
 * distinct indel events with their read counts and anchor depth. *out
 * comes zeroed; on error it may hold partial arrays: free it with
 * tsr_call_sample_scan_free() either way.
 */
tsr_status_t tsr_call_sample_scan_run(const char *path, const char *contig, int64_t start, int64_t end,
                                      int64_t ref_len, const char *ref_seq, const tsr_call_opts_t *o,
                                      sample_scan_t *out) TSR_RESULT_USED;
/* Free what tsr_call_sample_scan_run() filled and zero *sc. */
void tsr_call_sample_scan_free(sample_scan_t *sc);

/* Order of indel events: anchor, deletions (by length) before insertions (by length, bases). */
int tsr_call_ev_cmp(const indel_ev_t *a, const char *ia, const indel_ev_t *b, const char *ib);

/* Events and their base pool, the context of tsr_call_ev_idx_cmp(). */
typedef struct ev_sort {
    indel_ev_t *ev;
    const char *ins;
} ev_sort_t;

/* qsort_r comparator over indices into an ev_sort_t's events (glibc qsort_r; _GNU_SOURCE). */
int tsr_call_ev_idx_cmp(const void *pa, const void *pb, void *vctx);

/* ------------------------------------------------------- candidate sites */

/* One haplotype of an indel site's window: bases at hap_seq[off, off + len); net = inserted - deleted bases. */
typedef struct cand_hap {
    int64_t off;
    int32_t len, net;
} cand_hap_t;

/* One candidate site: an SNV (kind TSR_SITE_SNV) or an indel site (TSR_SITE_INDEL) with its ALTs. */
typedef struct cand_site {
    int64_t pos;
    uint8_t kind;
    int n_alt;            /* listed ALT alleles */
    int8_t ref_base;      /* SNV: 0..3 */
    int8_t alt_base[3];   /* SNV */
    int32_t ref_span;     /* indel: bases of REF after the anchor (longest deletion) */
    int64_t ev_first;     /* indel: its ALTs are events [ev_first, ev_first + n_alt) */
    int64_t ws, we;       /* indel: the realignment window [ws, we) on the reference */
    int64_t core_end;     /* indel: reads must overlap [pos, core_end) to be scored */
    int64_t hap_first;    /* indel: haplotypes [hap_first, hap_first + n_alt + 1), REF first */
    double gop;           /* indel: gap-open probability of the pair-HMM at this site */
} cand_site_t;

/* The batch's candidate sites, sorted by (pos, kind), with the indel events and haplotypes they point into. */
typedef struct cand_set {
    int64_t n, m;
    cand_site_t *site;
    int64_t n_ev;
    indel_ev_t *ev;       /* ins_off into ins */
    char *ins;
    int64_t n_hap, m_hap, n_hap_seq, m_hap_seq;
    cand_hap_t *hap;
    int8_t *hap_seq;
    int max_alleles;      /* the most alleles (REF, ALTs, <*>) of any site */
    int64_t max_reach;    /* the largest we - pos of any indel site (reads starting after an anchor) */
} cand_set_t;

/*
 * The batch's candidate sites from its samples' pass-1 scans (n_samples),
 * sorted by (pos, kind), indel sites with their realignment windows and
 * haplotypes; ref covers the region [ref->start, end) and beyond. *cs is
 * zeroed first; free it with tsr_call_cand_set_free(), also on error.
 */
tsr_status_t tsr_call_candidates_build(const sample_scan_t *sc, int n_samples, const ref_span_t *ref, int64_t end,
                                       const tsr_call_opts_t *o, cand_set_t *cs) TSR_RESULT_USED;
/* Free the set's arrays and zero it. */
void tsr_call_cand_set_free(cand_set_t *cs);

/* ------------------------------------------------------------------ pass 2 */

/* Scratch rows of the banded pair-HMM (two rows of M, I, D). */
typedef struct phmm_buf {
    double *row;
    int cap;
} phmm_buf_t;

/* One base of a fragment at a biallelic SNV site (pass 2), for read-backed phase. */
typedef struct phase_obs {
    uint64_t frag;
    int64_t si;
    double e;      /* the base's error probability */
    int8_t allele; /* 0 REF, 1 ALT */
} phase_obs_t;

/* Pass 2 output of one sample: log10 likelihoods, AD and DP per site. */
typedef struct sample_calls {
    double *gl;  /* at gl_off[site] */
    int32_t *ad; /* at ad_off[site] */
    int32_t *sb; /* at 2*ad_off[site]: forward, reverse reads per allele */
    int32_t *dp;
} sample_calls_t;

/* Pass 2 of one sample (and its read-backed phase): the sites, the output, scratch. */
typedef struct pass2_ctx {
    const tsr_call_opts_t *o;
    const cand_set_t *cs;
    const int64_t *gl_off, *ad_off;
    sample_calls_t *out;
    double *ll;           /* per-allele log10 likelihoods of the current read (max_alleles) */
    phmm_buf_t hmm;
    int64_t *skip;        /* the current read's windows [skip[2k], skip[2k+1]) that are not SNV evidence */
    int n_skip, m_skip;
    int is_rev;           /* strand of the current read */
    phase_obs_t *obs;     /* read-backed phase: the sample's REF/ALT bases at biallelic SNV sites */
    int64_t n_obs, m_obs;
} pass2_ctx_t;

/*
 * Pass 2's read_fn (ctx: a pass2_ctx_t whose ll has room for
 * cs->max_alleles values): adds one read's genotype likelihoods, AD, strand
 * and DP to every candidate site it covers (indel sites by pair-HMM
 * realignment, SNVs by the base model) and keeps its bases at biallelic SNV
 * sites in c->obs for read-backed phase. -1 on out of memory.
 */
int tsr_call_pass2_read(void *vctx, const read_view_t *v);

/* ------------------------------------------------------ read-backed phase */

/*
 * Read-backed phase of one sample after pass 2: re-weighs the het
 * likelihood of its biallelic SNV sites (c->out) from c->obs, which it
 * sorts; the caller frees c->obs. 0, or -1 on out of memory.
 */
int tsr_call_phase_apply(pass2_ctx_t *c);

#endif /* TSR_CALL_INTERNAL_H */
