/*
 * align_dups.c - the align kernel's duplicate marking, Picard MarkDuplicates
 * style, in two halves. A map task writes one signature line per fragment
 * (its ends' unclipped 5' positions and strands, and its base-quality score)
 * beside its run; the merge reads every run's signatures, decides which reads
 * are duplicates and asks, record by record, whether to set 0x400. The
 * signatures travel as text so the decision needs only the sample's .dup
 * files, never a second pass over its records.
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
static int tsr_dup_line(kstring_t *ks, char kind, const int64_t *f, int n, const char *name)
{
    int bad = kputc(kind, ks) < 0;
    for (int i = 0; i < n; i++)
        bad |= kputc('\t', ks) < 0 || kputll((long long)f[i], ks) < 0;
    bad |= kputc('\t', ks) < 0 || kputs(name, ks) < 0 || kputc('\n', ks) < 0;
    return bad ? -1 : 0;
}

/*
 * The duplicate signature of one fragment (its records, primary ones used):
 *   "P tidA posA revA tidB posB revB score name"  both ends mapped (ends ordered)
 *   "F tid pos rev score seg name"               one end mapped (single-end, or mate unmapped)
 * nothing when no end maps. pos is the unclipped 5' end. Duplicates are
 * found within a library (Picard's rule): the tid fields carry the library's
 * index in the sample times 2^32 plus the contig, so ends of two libraries
 * never compare equal.
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
        return tsr_dup_line(ks, 'P', f, 7, bam_get_qname(p[0]));
    }
    if (m0 || m1) {
        const bam1_t *b = m0 ? p[0] : p[1];
        const int64_t f[5] = {lib * ((int64_t)1 << 32) + b->core.tid, tsr_unclipped5(b), bam_is_rev(b), tsr_qual_score(b), m0 ? 0 : 1};
        return tsr_dup_line(ks, 'F', f, 5, bam_get_qname(b));
    }
    return 0;
}

/* ------------------------------------------------------- the merge side */

/* One signature line of a .dup file; for pair ends (marker) only tid/pos/rev/name matter. */
typedef struct tsr_dup_ent {
    int64_t a[3], b[3], score;
    int pair, seg;
    const char *name;
} tsr_dup_ent_t;

typedef struct tsr_align_dup_mark {
    const char *name;
    int mask; /* bit 0: read 1 (or single-end), bit 1: read 2 */
} tsr_dup_mark_t;

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
    return c ? c : strcmp(x->name, y->name);
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
    return c ? c : strcmp(x->name, y->name);
}

static int tsr_dup_mark_cmp(const void *p, const void *q)
{
    return strcmp(((const tsr_dup_mark_t *)p)->name, ((const tsr_dup_mark_t *)q)->name);
}

void tsr_align_dups_free(tsr_align_dups_t *d)
{
    for (int i = 0; i < d->n_text; i++)
        free(d->text[i]);
    free(d->text);
    free(d->mark);
    memset(d, 0, sizeof *d);
}

static tsr_status_t tsr_read_whole(const char *path, char **out)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s; rerun to rebuild it", path, strerror(errno));
    kstring_t ks = KS_INITIALIZE;
    char buf[65536];
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        bad |= kputsn(buf, n, &ks) < 0;
    bad |= ferror(fp);
    fclose(fp);
    if (bad || kputsn("", 0, &ks) < 0) {
        free(ks.s);
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s'", path);
    }
    *out = ks.s;
    return TSR_OK;
}

/* The n integers of a signature line (after its kind letter); the name after them, or NULL when damaged. */
static const char *tsr_dup_fields(const char *l, int64_t *v, int n)
{
    const char *p = l + 1;
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
    return *p == '\t' && p[1] ? p + 1 : NULL;
}

/*
 * Picard MarkDuplicates rules, library = the sample's: pairs with both ends
 * mapped are duplicates of each other when both ends' unclipped 5' positions
 * and strands agree; the pair with the highest sum of base qualities >= 15
 * stays (ties: smallest read name). A mapped read whose mate is unmapped (or
 * a single-end read) is a duplicate when a pair has an end at the same 5'
 * position and strand, else of the other such reads there (best stays). The
 * unmapped mate is not marked, as in Picard; reads with no end mapped never are.
 */
tsr_status_t tsr_align_dups_decide(const char *const *paths, int n_paths, tsr_align_dups_t *d)
{
    memset(d, 0, sizeof *d);
    tsr_dup_ent_t *pv = NULL, *fv = NULL;
    size_t np = 0, nf = 0, cp = 0, cf = 0;
    tsr_status_t s = TSR_OK;
    if (!(d->text = calloc((size_t)n_paths + 1, sizeof *d->text)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    d->n_text = n_paths;
    for (int i = 0; i < n_paths && s == TSR_OK; i++) {
        s = tsr_read_whole(paths[i], &d->text[i]);
        int counted = 0;
        for (char *save = NULL, *l = s == TSR_OK ? strtok_r(d->text[i], "\n", &save) : NULL; l && s == TSR_OK;
             l = strtok_r(NULL, "\n", &save)) {
            long long pairs;
            if (l[0] == '#') {
                if (sscanf(l, "#pairs\t%lld", &pairs) != 1 || pairs < 0 || counted++)
                    s = tsr_error_set(TSR_ERR_FORMAT, "'%s' holds a damaged line; delete it and rerun", paths[i]);
                d->read_pairs += pairs;
                continue;
            }
            tsr_dup_ent_t e;
            memset(&e, 0, sizeof e);
            int64_t v[7];
            const char *name = NULL;
            if (l[0] == 'P' && (name = tsr_dup_fields(l, v, 7))) {
                e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {v[3], v[4], v[5]}, v[6], 1, 0, name};
            } else if (l[0] == 'F' && (name = tsr_dup_fields(l, v, 5))) {
                e = (tsr_dup_ent_t){{v[0], v[1], v[2]}, {0, 0, 0}, v[3], 0, (int)v[4], name};
            } else {
                s = tsr_error_set(TSR_ERR_FORMAT, "'%s' holds a damaged line; delete it and rerun", paths[i]);
                break;
            }
            /* every pair also enters the fragment list once per end, as a marker */
            for (int k = 0; k < (e.pair ? 3 : 1) && s == TSR_OK; k++) {
                int to_pairs = e.pair && k == 0;
                size_t *n = to_pairs ? &np : &nf, *c = to_pairs ? &cp : &cf;
                tsr_dup_ent_t **vv = to_pairs ? &pv : &fv;
                if (*n == *c) {
                    size_t nc = *c ? *c * 2 : 1024;
                    void *nv = realloc(*vv, nc * sizeof **vv);
                    if (!nv) {
                        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates");
                        break;
                    }
                    *vv = nv;
                    *c = nc;
                }
                tsr_dup_ent_t x = e;
                if (k == 2)
                    memcpy(x.a, e.b, sizeof x.a);
                (*vv)[(*n)++] = x;
            }
        }
        if (s == TSR_OK && !counted)
            s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short (no #pairs line); delete it and rerun", paths[i]);
    }
    size_t cm = np + nf + 1;
    if (s == TSR_OK && !(d->mark = malloc(cm * sizeof *d->mark)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory marking duplicates");
    if (s == TSR_OK) {
        if (np > 0) /* qsort needs a non-NULL array even when empty */
            qsort(pv, np, sizeof *pv, tsr_dup_pair_cmp);
        for (size_t i = 1; i < np; i++)
            if (!tsr_i64cmp(pv[i].a, pv[i - 1].a, 3) && !tsr_i64cmp(pv[i].b, pv[i - 1].b, 3)) {
                d->mark[d->n_mark++] = (tsr_dup_mark_t){pv[i].name, 3};
                d->dup_pairs++;
            }
        if (nf > 0) /* qsort needs a non-NULL array even when empty */
            qsort(fv, nf, sizeof *fv, tsr_dup_frag_cmp);
        for (size_t i = 0, g = 0; i < nf; i++) {
            if (i == 0 || tsr_i64cmp(fv[i].a, fv[i - 1].a, 3))
                g = i; /* first of its position: a pair end, or the best fragment */
            if (fv[i].pair || (i == g && !fv[g].pair))
                continue;
            d->mark[d->n_mark++] = (tsr_dup_mark_t){fv[i].name, 1 << fv[i].seg};
            d->dup_frags++;
        }
        if (d->n_mark > 0) /* qsort needs a non-NULL array even when empty */
            qsort(d->mark, d->n_mark, sizeof *d->mark, tsr_dup_mark_cmp);
    }
    free(pv);
    free(fv);
    if (s != TSR_OK)
        tsr_align_dups_free(d);
    return s;
}

int tsr_align_dups_is_marked(const tsr_align_dups_t *d, const bam1_t *b)
{
    tsr_dup_mark_t key = {bam_get_qname(b), 0};
    const tsr_dup_mark_t *m = bsearch(&key, d->mark, d->n_mark, sizeof *d->mark, tsr_dup_mark_cmp);
    if (!m)
        return 0;
    /* a name marked twice (never in practice) keeps both masks: scan its neighbours */
    int mask = 0;
    for (const tsr_dup_mark_t *x = m; x >= d->mark && !strcmp(x->name, key.name); x--)
        mask |= x->mask;
    for (const tsr_dup_mark_t *x = m + 1; x < d->mark + d->n_mark && !strcmp(x->name, key.name); x++)
        mask |= x->mask;
    return (mask & ((b->core.flag & BAM_FREAD2) ? 2 : 1)) != 0;
}
