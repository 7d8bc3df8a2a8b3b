/*
 * align_mm2.c - the libminimap2 side of the align kernel. Kept in its own
 * translation unit because minimap2's headers define kstring_t/kseq the way
 * htslib's do: nothing here includes htslib, and align.c never includes
 * minimap2. The two talk through align_internal.h in plain C types: this
 * file maps read pairs and hands back SAM text, which align.c parses with
 * htslib into BAM records.
 */
#include "kernels/align_internal.h"

#include <minimap.h>
#include <mmpriv.h>
#include <stdlib.h>
#include <string.h>

struct tsr_mm_index {
    mm_idx_t *mi;
    mm_idxopt_t iopt;
    mm_mapopt_t mopt;
};

struct tsr_mm_tbuf {
    mm_tbuf_t *b;
    kstring_t line;
};

tsr_status_t tsr_mm_index_create(const char *ref_fasta, int n_threads, tsr_mm_index_t **out)
{
    *out = NULL;
    tsr_mm_index_t *x;
    TSR_ALLOC(x, 1);
    mm_set_opt(0, &x->iopt, &x->mopt);
    if (mm_set_opt("sr", &x->iopt, &x->mopt) < 0) {
        free(x);
        return tsr_error_set(TSR_ERR_INTERNAL, "minimap2 does not know the 'sr' preset");
    }
    x->mopt.flag |= MM_F_CIGAR | MM_F_OUT_MD | MM_F_NO_PRINT_2ND;
    /* One index part for the whole reference: multi-part indexes change results. */
    x->iopt.batch_size = 0x7fffffffffffffffLL;
    mm_idx_reader_t *r = mm_idx_reader_open(ref_fasta, &x->iopt, 0);
    if (!r) {
        free(x);
        return tsr_error_set(TSR_ERR_IO, "cannot open reference '%s' for minimap2 indexing", ref_fasta);
    }
    x->mi = mm_idx_reader_read(r, n_threads > 0 ? n_threads : 1);
    mm_idx_reader_close(r);
    if (!x->mi) {
        free(x);
        return tsr_error_set(TSR_ERR_FORMAT, "reference '%s' holds no sequence minimap2 can index", ref_fasta);
    }
    mm_mapopt_update(&x->mopt, x->mi);
    *out = x;
    return TSR_OK;
}

void tsr_mm_index_destroy(tsr_mm_index_t **xp)
{
    if (!xp || !*xp)
        return;
    mm_idx_destroy((*xp)->mi);
    free(*xp);
    *xp = NULL;
}

size_t tsr_mm_index_bytes(const tsr_mm_index_t *x)
{
    size_t sum = 0;
    for (uint32_t i = 0; i < x->mi->n_seq; i++)
        sum += x->mi->seq[i].len / 2 + 1;
    /* minimizer hash tables dominate; minimap2 does not expose their size, so estimate 12 B per base */
    return sum + (size_t)12 * sum * 2;
}

tsr_status_t tsr_mm_tbuf_create(tsr_mm_tbuf_t **out)
{
    tsr_mm_tbuf_t *t;
    TSR_ALLOC(t, 1);
    t->b = mm_tbuf_init();
    if (!t->b) {
        free(t);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating a minimap2 thread buffer");
    }
    *out = t;
    return TSR_OK;
}

void tsr_mm_tbuf_destroy(tsr_mm_tbuf_t **tp)
{
    if (!tp || !*tp)
        return;
    mm_tbuf_destroy((*tp)->b);
    free((*tp)->line.s);
    free(*tp);
    *tp = NULL;
}

static tsr_status_t tsr_text_append(tsr_text_t *out, const char *s, size_t n)
{
    if (out->len + n + 2 > out->cap) {
        size_t cap = out->cap ? out->cap : 1024;
        while (out->len + n + 2 > cap)
            cap *= 2;
        char *p = realloc(out->s, cap);
        if (!p)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory holding alignments");
        out->s = p;
        out->cap = cap;
    }
    memcpy(out->s + out->len, s, n);
    out->len += n;
    out->s[out->len++] = '\n';
    out->s[out->len] = '\0';
    return TSR_OK;
}

tsr_status_t tsr_mm_map_pair(const tsr_mm_index_t *x, tsr_mm_tbuf_t *t, const char *name, int n_seg,
                             const char *const *seq, const char *const *qual, const int *len,
                             tsr_text_t *out)
{
    int n_regs[2] = {0, 0};
    mm_reg1_t *regs[2] = {NULL, NULL};
    mm_map_frag(x->mi, n_seg, len, (const char **)seq, n_regs, regs, t->b, &x->mopt, name);
    mm_bseq1_t bs[2];
    memset(bs, 0, sizeof bs);
    for (int i = 0; i < n_seg; i++) {
        bs[i].l_seq = len[i];
        bs[i].name = (char *)name;
        bs[i].seq = (char *)seq[i];
        bs[i].qual = (char *)qual[i];
    }
    tsr_status_t s = TSR_OK;
    for (int i = 0; i < n_seg && s == TSR_OK; i++) {
        if (n_regs[i] == 0) {
            t->line.l = 0;
            mm_write_sam3(&t->line, x->mi, &bs[i], i, -1, n_seg, n_regs, (const mm_reg1_t *const *)regs,
                          mm_tbuf_get_km(t->b), x->mopt.flag, 0);
            s = tsr_text_append(out, t->line.s, t->line.l);
            continue;
        }
        for (int j = 0; j < n_regs[i] && s == TSR_OK; j++) {
            if (regs[i][j].id != regs[i][j].parent)
                continue; /* secondary alignments are not reported */
            t->line.l = 0;
            mm_write_sam3(&t->line, x->mi, &bs[i], i, j, n_seg, n_regs, (const mm_reg1_t *const *)regs,
                          mm_tbuf_get_km(t->b), x->mopt.flag, 0);
            s = tsr_text_append(out, t->line.s, t->line.l);
        }
    }
    for (int i = 0; i < n_seg; i++) {
        for (int j = 0; j < n_regs[i]; j++)
            free(regs[i][j].p);
        free(regs[i]);
    }
    return s;
}
