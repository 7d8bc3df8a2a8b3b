/*
 * align_dups.c - the align kernel's duplicate marking, Picard MarkDuplicates
 * style, in two halves. A map task writes one signature line per fragment
 * (its ends' unclipped 5' positions and strands, and its base-quality score)
 * beside its run; the merge reads every run's signatures, decides which reads
 * are duplicates and asks, record by record, whether to set 0x400. The
 * signatures travel as text so the decision needs only the sample's .dup
 * files, never a second pass over its records. Memory is bounded: the
 * signatures are sorted through external sorts (align_xsort.c) and the
 * decision is a stream of marks keyed by each marked record's place in the
 * merged order (contig, position, strand, name, end), read alongside the
 * merge, so nothing scales with the sample but files.
 */
#include "kernels/align_internal.h"

#include <htslib/sam.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 5' end of a read on the reference, clips included (Picard's unclipped 5' position), 0-based. */
static int64_t tsr_unclipped5(const bam1_t *b)
{
    const uint32_t *cig = bam_get_cigar(b);
    int n = (int)b->core.n_cigar;
    if (!bam_is_rev(b)) {
        int64_t clip = 0;
        for (int i = 0; i < n && (bam_cigar_op(cig[i]) == BAM_CSOFT_CLIP || bam_cigar_op(cig[i]) == BAM_CHARD_CLIP); i++)
            clip += bam_cigar_oplen(cig[i]);
        return b->core.pos - clip;
    }
    int64_t clip = 0;
    for (int i = n - 1; i >= 0 && (bam_cigar_op(cig[i]) == BAM_CSOFT_CLIP || bam_cigar_op(cig[i]) == BAM_CHARD_CLIP); i--)
        clip += bam_cigar_oplen(cig[i]);
    return bam_endpos(b) - 1 + clip;
}

/* Picard's score: the sum of base qualities >= 15. */
static int64_t tsr_qual_score(const bam1_t *b)
{
    const uint8_t *q = bam_get_qual(b);
    int64_t s = 0;
    for (int i = 0; i < b->core.l_qseq; i++)
        s += q[i] >= 15 ? q[i] : 0;
    return s;
}

/* "K\tf0\t...\tname\n" (printf is the slow part of a signature); -1 out of memory. */
static int tsr_dup_line(kstring_t *ks, char kind, const int64_t *f, int n, const int64_t *r, int n_r,
                        const char *name)
{
    int bad = kputc(kind, ks) < 0;
    for (int i = 0; i < n; i++)
        bad |= kputc('\t', ks) < 0 || kputll((long long)f[i], ks) < 0;
    bad |= kputc('\t', ks) < 0 || kputw(n_r / 4, ks) < 0;
    for (int i = 0; i < n_r; i++)
        bad |= kputc('\t', ks) < 0 || kputll((long long)r[i], ks) < 0;
    bad |= kputc('\t', ks) < 0 || kputs(name, ks) < 0 || kputc('\n', ks) < 0;
    return bad ? -1 : 0;
}

/* At most this many records of a fragment carry marks (primary and supplementary of two ends: a handful). */
#define TSR_DUP_MAX_RECS 64

/*
 * The duplicate signature of one fragment (its records, primary ones used):
 *   "P tidA posA revA tidB posB revB score m R.. name"  both ends mapped (ends ordered)
 *   "F tid pos rev score seg m R.. name"               one end mapped (single-end, or mate unmapped)
 * nothing when no end maps. pos is the unclipped 5' end. Duplicates are
 * found within a library (Picard's rule): the tid fields carry the library's
 * index in the sample times 2^32 plus the contig, so ends of two libraries
 * never compare equal. R.. are m records' "tid pos rev end" (end 0: read 1 or
 * single, 1: read 2), every record the fragment's mark would flag (both ends'
 * for P, the mapped end's for F, supplementary and secondary included): where
 * the merge meets them.
 */
int tsr_align_dup_sig(bam1_t **v, size_t n, int64_t lib, kstring_t *ks)
{
    const bam1_t *p[2] = {NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        if (v[i]->core.flag & (BAM_FSECONDARY | BAM_FSUPPLEMENTARY))
            continue;
        p[(v[i]->core.flag & BAM_FREAD2) ? 1 : 0] = v[i];
    }
    int m0 = p[0] && !(p[0]->core.flag & BAM_FUNMAP), m1 = p[1] && !(p[1]->core.flag & BAM_FUNMAP);
    if (!m0 && !m1)
        return 0;
    int64_t r[4 * TSR_DUP_MAX_RECS];
    int n_r = 0;
    for (size_t i = 0; i < n && n_r < 4 * TSR_DUP_MAX_RECS; i++) {
        int end = (v[i]->core.flag & BAM_FREAD2) ? 1 : 0;
        if (!(m0 && m1) && end != (m0 ? 0 : 1))
            continue;
        r[n_r++] = v[i]->core.tid;
        r[n_r++] = v[i]->core.pos;
        r[n_r++] = bam_is_rev(v[i]);
        r[n_r++] = end;
    }
    int64_t score = (p[0] ? tsr_qual_score(p[0]) : 0) + (p[1] ? tsr_qual_score(p[1]) : 0);
    if (m0 && m1) {
        int64_t e[2][3];
        for (int k = 0; k < 2; k++) {
            e[k][0] = lib * ((int64_t)1 << 32) + p[k]->core.tid;
            e[k][1] = tsr_unclipped5(p[k]);
            e[k][2] = bam_is_rev(p[k]);
        }
        int sw = e[1][0] < e[0][0] || (e[1][0] == e[0][0] && (e[1][1] < e[0][1] || (e[1][1] == e[0][1] && e[1][2] < e[0][2])));
        const int64_t *a = e[sw], *b = e[!sw];
        const int64_t f[7] = {a[0], a[1], a[2], b[0], b[1], b[2], score};
        return tsr_dup_line(ks, 'P', f, 7, r, n_r, bam_get_qname(p[0]));
    }
    const bam1_t *b = m0 ? p[0] : p[1];
    const int64_t f[5] = {lib * ((int64_t)1 << 32) + b->core.tid, tsr_unclipped5(b), bam_is_rev(b), tsr_qual_score(b), m0 ? 0 : 1};
    return tsr_dup_line(ks, 'F', f, 5, r, n_r, bam_get_qname(b));
}

/* ------------------------------------------------------- the merge side */

/*
 * One signature as a sort record: this header, n_rec record keys, the name (NUL-terminated). Pairs are
 * also entered among the fragments once per end as markers (pair 1, no record keys).
 */
typedef struct tsr_dup_ent {
    int64_t a[3], b[3], score;
    int32_t pair, seg, n_rec, pad;
} tsr_dup_ent_t;

/* Where a record sits in the merged order; a mark is one, followed by the read name. */
typedef struct tsr_dup_key {
    int64_t pos;
    uint32_t tid; /* (uint32_t)-1 (unmapped) sorts last, as in tsr_align_bam_cmp */
    int32_t rev, end, pad;
} tsr_dup_key_t;

static const tsr_dup_key_t *tsr_dup_ent_keys(const tsr_dup_ent_t *e) { return (const tsr_dup_key_t *)(e + 1); }
static const char *tsr_dup_ent_name(const tsr_dup_ent_t *e) { return (const char *)(tsr_dup_ent_keys(e) + e->n_rec); }
static const char *tsr_dup_key_name(const tsr_dup_key_t *k) { return (const char *)(k + 1); }

static int tsr_i64cmp(const int64_t *x, const int64_t *y, int n)
{
    for (int i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* pairs: signature, then best first (score desc, name asc) */
static int tsr_dup_pair_cmp(const void *p, const void *q)
{
    const tsr_dup_ent_t *x = p, *y = q;
    int c = tsr_i64cmp(x->a, y->a, 3);
    if (!c)
        c = tsr_i64cmp(x->b, y->b, 3);
    if (!c && x->score != y->score)
        c = x->score > y->score ? -1 : 1;
    return c ? c : strcmp(tsr_dup_ent_name(x), tsr_dup_ent_name(y));
}

/* fragment ends: position, then pair ends first, then best first */
static int tsr_dup_frag_cmp(const void *p, const void *q)
{
    const tsr_dup_ent_t *x = p, *y = q;
    int c = tsr_i64cmp(x->a, y->a, 3);
    if (!c && x->pair != y->pair)
        c = x->pair ? -1 : 1;
    if (!c && x->score != y->score)
        c = x->score > y->score ? -1 : 1;
    return c ? c : strcmp(tsr_dup_ent_name(x), tsr_dup_ent_name(y));
}

/* marks in the records' order (tsr_align_bam_cmp: contig, position, strand, name), then end */
static int tsr_dup_key_cmp_name(const tsr_dup_key_t *x, const tsr_dup_key_t *y)
{
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    if (x->rev != y->rev)
        return x->rev < y->rev ? -1 : 1;
    return strcmp(tsr_dup_key_name(x), tsr_dup_key_name(y));
}

static int tsr_dup_mark_cmp(const void *p, const void *q)
{
    const tsr_dup_key_t *x = p, *y = q;
    int c = tsr_dup_key_cmp_name(x, y);
    return c ? c : (x->end > y->end) - (x->end < y->end);
}

void tsr_align_dups_free(tsr_align_dups_t *d)
{
    tsr_align_xsort_destroy(&d->marks);
    free(d->peek);
    free(d->win);
    memset(d, 0, sizeof *d);
}

/* The n integers of a signature line from p (at a tab); where they end, or NULL when damaged. */
static const char *tsr_dup_ints(const char *p, int64_t *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (*p++ != '\t')
            return NULL;
        char *end;
        errno = 0;
        v[i] = strtoll(p, &end, 10);
        if (end == p || errno)
            return NULL;
        p = end;
    }
    return p;
}

/* Build the sort record of entry e (with n_rec keys from r, "tid pos rev end" each) and name into *buf. */
static tsr_status_t tsr_dup_ent_build(kstring_t *buf, const tsr_dup_ent_t *e, const int64_t *r, const char *name)
{
    buf->l = 0;
    int bad = kputsn((const char *)e, sizeof *e, buf) < 0;
    for (int i = 0; i < e->n_rec && !bad; i++) {
        tsr_dup_key_t k = {r[4 * i + 1], (uint32_t)r[4 * i], (int32_t)r[4 * i + 2], (int32_t)r[4 * i + 3], 0};
        bad = kputsn((const char *)&k, sizeof k, buf) < 0;
    }
    bad |= kputsn(name, strlen(name) + 1, buf) < 0;
    return bad ? tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates") : TSR_OK;
}

/* Push a mark for every record key of entry e. */
static tsr_status_t tsr_dup_mark_push(tsr_align_xsort_t *marks, const tsr_dup_ent_t *e, kstring_t *buf)
{
    const tsr_dup_key_t *k = tsr_dup_ent_keys(e);
    const char *name = tsr_dup_ent_name(e);
    for (int i = 0; i < e->n_rec; i++) {
        buf->l = 0;
        if (kputsn((const char *)&k[i], sizeof k[i], buf) < 0 || kputsn(name, strlen(name) + 1, buf) < 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates");
        TSR_CALL(tsr_align_xsort_push(marks, buf->s, buf->l));
    }
    return TSR_OK;
}

/* Read one .dup file into the pair and fragment sorts. */
static tsr_status_t tsr_dup_read(const char *path, tsr_align_xsort_t *pairs, tsr_align_xsort_t *frags,
                                 kstring_t *buf, tsr_align_dups_t *d)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s; rerun to rebuild it", path, strerror(errno));
    char *l = NULL;
    size_t cap = 0;
    ssize_t len;
    int counted = 0;
    long long line = 0;
    tsr_status_t s = TSR_OK;
    int64_t r[4 * TSR_DUP_MAX_RECS];
    while (s == TSR_OK && (len = getline(&l, &cap, fp)) > 0) {
        line++;
        if (l[len - 1] == '\n')
            l[--len] = '\0';
        long long pairs_read;
        if (l[0] == '#') {
            if (sscanf(l, "#pairs\t%lld", &pairs_read) != 1 || pairs_read < 0 || counted++)
                s = tsr_error_set(TSR_ERR_FORMAT, "'%s' line %lld is damaged; delete it and rerun", path, line);
            else
                d->read_pairs += pairs_read;
            continue;
        }
        int64_t v[8];
        int pair = l[0] == 'P', nf = pair ? 7 : 5;
        const char *p = (l[0] == 'P' || l[0] == 'F') ? tsr_dup_ints(l + 1, v, nf + 1) : NULL;
        int m = p ? (int)v[nf] : -1;
        if (p && (m < 0 || m > TSR_DUP_MAX_RECS || !(p = tsr_dup_ints(p, r, 4 * m)) || *p != '\t' || !p[1]))
            p = NULL;
        if (!p) {
            s = tsr_error_set(TSR_ERR_FORMAT, "'%s' line %lld is damaged; delete it and rerun", path, line);
            break;
        }
        const char *name = p + 1;
        tsr_dup_ent_t e;
        memset(&e, 0, sizeof e);
        if (pair) {
            e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {v[3], v[4], v[5]}, v[6], 1, 0, m, 0};
            s = tsr_dup_ent_build(buf, &e, r, name);
            if (s == TSR_OK)
                s = tsr_align_xsort_push(pairs, buf->s, buf->l);
            /* and once per end among the fragments, as a marker */
            for (int k = 0; k < 2 && s == TSR_OK; k++) {
                tsr_dup_ent_t x = e;
                x.n_rec = 0;
                if (k == 1)
                    memcpy(x.a, e.b, sizeof x.a);
                memset(x.b, 0, sizeof x.b);
                s = tsr_dup_ent_build(buf, &x, r, name);
                if (s == TSR_OK)
                    s = tsr_align_xsort_push(frags, buf->s, buf->l);
            }
        } else {
            e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {0, 0, 0}, v[3], 0, (int32_t)v[4], m, 0};
            s = tsr_dup_ent_build(buf, &e, r, name);
            if (s == TSR_OK)
                s = tsr_align_xsort_push(frags, buf->s, buf->l);
        }
    }
    if (s == TSR_OK && ferror(fp))
        s = tsr_error_set(TSR_ERR_IO, "cannot read '%s'", path);
    if (s == TSR_OK && !counted)
        s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short (no #pairs line); delete it and rerun", path);
    free(l);
    fclose(fp);
    return s;
}

/* A record read back from a sort, copied (the next read reuses the sort's buffer). */
static tsr_status_t tsr_dup_copy(kstring_t *to, const void *rec, size_t len)
{
    to->l = 0;
    return kputsn(rec, len, to) < 0 ? tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates") : TSR_OK;
}

/*
 * Picard MarkDuplicates rules, library = the sample's: pairs with both ends
 * mapped are duplicates of each other when both ends' unclipped 5' positions
 * and strands agree; the pair with the highest sum of base qualities >= 15
 * stays (ties: smallest read name). A mapped read whose mate is unmapped (or
 * a single-end read) is a duplicate when a pair has an end at the same 5'
 * position and strand, else of the other such reads there (best stays). The
 * unmapped mate is not marked, as in Picard; reads with no end mapped never are.
 * Each sorted list is read once in order, so a group is decided by comparing
 * each entry with the first of its group (kept as a copy).
 */
tsr_status_t tsr_align_dups_decide(const char *const *paths, int n_paths, const char *dir, size_t sort_bytes,
                                   int fanin, tsr_align_dups_t *d)
{
    memset(d, 0, sizeof *d);
    tsr_align_xsort_t *pairs = NULL, *frags = NULL;
    kstring_t buf = KS_INITIALIZE, first = KS_INITIALIZE, mk = KS_INITIALIZE;
    size_t each = sort_bytes / 3; /* the three sorts may hold memory at once */
    tsr_status_t s = tsr_align_xsort_create(dir, "dups.pairs", each, fanin, tsr_dup_pair_cmp, &pairs);
    if (s == TSR_OK)
        s = tsr_align_xsort_create(dir, "dups.frags", each, fanin, tsr_dup_frag_cmp, &frags);
    if (s == TSR_OK)
        s = tsr_align_xsort_create(dir, "dups.marks", each, fanin, tsr_dup_mark_cmp, &d->marks);
    for (int i = 0; i < n_paths && s == TSR_OK; i++)
        s = tsr_dup_read(paths[i], pairs, frags, &buf, d);
    if (s == TSR_OK)
        s = tsr_align_xsort_finish(pairs);
    const void *rec;
    size_t len;
    int rc = 0;
    /* pairs: every one but the first of its signature */
    while (s == TSR_OK && (rc = tsr_align_xsort_next(pairs, &rec, &len)) > 0) {
        const tsr_dup_ent_t *e = rec, *f = (const tsr_dup_ent_t *)first.s;
        if (first.l && !tsr_i64cmp(e->a, f->a, 3) && !tsr_i64cmp(e->b, f->b, 3)) {
            d->dup_pairs++;
            s = tsr_dup_mark_push(d->marks, e, &mk);
        } else {
            s = tsr_dup_copy(&first, rec, len);
        }
    }
    if (s == TSR_OK && rc < 0)
        s = TSR_ERR_FORMAT;
    if (s == TSR_OK)
        s = tsr_align_xsort_finish(frags);
    /* fragments: the first of a position is a pair end (then every fragment there is marked) or the best */
    first.l = 0;
    while (s == TSR_OK && (rc = tsr_align_xsort_next(frags, &rec, &len)) > 0) {
        const tsr_dup_ent_t *e = rec, *f = (const tsr_dup_ent_t *)first.s;
        if (!first.l || tsr_i64cmp(e->a, f->a, 3)) {
            s = tsr_dup_copy(&first, rec, len);
            continue;
        }
        if (e->pair)
            continue;
        d->dup_frags++;
        s = tsr_dup_mark_push(d->marks, e, &mk);
    }
    if (s == TSR_OK && rc < 0)
        s = TSR_ERR_FORMAT;
    if (s == TSR_OK)
        s = tsr_align_xsort_finish(d->marks);
    d->sort_runs = tsr_align_xsort_runs(pairs) + tsr_align_xsort_runs(frags) + tsr_align_xsort_runs(d->marks);
    d->sort_passes = tsr_align_xsort_passes(pairs) + tsr_align_xsort_passes(frags) + tsr_align_xsort_passes(d->marks);
    tsr_align_xsort_destroy(&pairs);
    tsr_align_xsort_destroy(&frags);
    free(buf.s);
    free(first.s);
    free(mk.s);
    if (s != TSR_OK)
        tsr_align_dups_free(d);
    return s;
}

/* Copy the marks' next record into *to (cap *cap); 1, 0 at the end, < 0 damaged. */
static int tsr_dup_next_copy(tsr_align_dups_t *d, char **to, size_t *cap)
{
    const void *rec;
    size_t len;
    int rc = tsr_align_xsort_next(d->marks, &rec, &len);
    if (rc <= 0)
        return rc;
    if (len > *cap) {
        char *n = realloc(*to, len);
        if (!n) {
            tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates");
            return -2;
        }
        *to = n;
        *cap = len;
    }
    memcpy(*to, rec, len);
    return 1;
}

int tsr_align_dups_is_marked(tsr_align_dups_t *d, const bam1_t *b)
{
    if (!d->marks)
        return 0;
    /* the record's key, compared with the marks' (the name follows the key in both) */
    char kb[sizeof(tsr_dup_key_t) + 256];
    tsr_dup_key_t *k = (tsr_dup_key_t *)kb;
    *k = (tsr_dup_key_t){b->core.pos, (uint32_t)b->core.tid, bam_is_rev(b), 0, 0};
    snprintf(kb + sizeof *k, sizeof kb - sizeof *k, "%s", bam_get_qname(b)); /* QNAME is at most 254 bytes */
    int end = (b->core.flag & BAM_FREAD2) ? 1 : 0;
    if (d->win_valid && !tsr_dup_key_cmp_name((const tsr_dup_key_t *)d->win, k))
        return (d->win_mask >> end) & 1;
    if (!d->has_peek) {
        int rc = tsr_dup_next_copy(d, &d->peek, &d->cap_peek);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            tsr_align_xsort_destroy(&d->marks); /* every mark was met */
            return 0;
        }
        d->has_peek = 1;
    }
    int c;
    while ((c = tsr_dup_key_cmp_name((const tsr_dup_key_t *)d->peek, k)) < 0) {
        int rc = tsr_dup_next_copy(d, &d->peek, &d->cap_peek);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            d->has_peek = 0;
            tsr_align_xsort_destroy(&d->marks);
            return 0;
        }
    }
    if (c > 0)
        return 0;
    /* the marks of this key (one per end at most, in practice): their ends, then the key kept */
    size_t kl = sizeof *k + strlen(kb + sizeof *k) + 1;
    if (kl > d->cap_win) {
        char *n = realloc(d->win, kl);
        if (!n) {
            tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates");
            return -2;
        }
        d->win = n;
        d->cap_win = kl;
    }
    memcpy(d->win, kb, kl);
    d->win_valid = 1;
    d->win_mask = 0;
    while (d->has_peek && !tsr_dup_key_cmp_name((const tsr_dup_key_t *)d->peek, k)) {
        d->win_mask |= 1 << ((const tsr_dup_key_t *)d->peek)->end;
        int rc = tsr_dup_next_copy(d, &d->peek, &d->cap_peek);
        if (rc < 0)
            return rc;
        d->has_peek = rc > 0;
    }
    return (d->win_mask >> end) & 1;
}
