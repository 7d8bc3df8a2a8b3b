/*
 * align_mm2.c - the libminimap2 side of the align kernel. Kept in its own
 * translation unit because minimap2's headers define kstring_t/kseq the way
 * htslib's do: nothing here includes htslib, and align.c never includes
 * minimap2. The two talk through align_internal.h in plain C types: this
 * file maps read pairs and hands back SAM text, which align.c parses with
 * htslib into BAM records.
 */
#include "kernels/align_internal.h"

#include <errno.h>
#include <minimap.h>
#include <mmpriv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tsr_mm_index {
    mm_idx_t *mi;
    mm_idxopt_t iopt;
    mm_mapopt_t mopt;
    size_t bytes;
    int from_cache;
};

#if defined(MM_VERSION)
#define TSR_MM2_VERSION MM_VERSION
#elif defined(TSR_MINIMAP2_VERSION)
#define TSR_MM2_VERSION TSR_MINIMAP2_VERSION
#else
#define TSR_MM2_VERSION "lib" /* Debian's headers state no version; the .mmi magic still guards the format */
#endif

/* What a cached index must match: minimap2's version, the preset's k/w, the FASTA's size and mtime. */
static void tsr_mm_cache_key(const char *ref_fasta, const mm_idxopt_t *io, char *buf, size_t len)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    if (stat(ref_fasta, &st) != 0)
        st.st_size = -1;
    snprintf(buf, len, "tessera-mmi 1 minimap2 %s sr k=%d w=%d flag=%d size=%lld mtime=%lld.%09ld\n", TSR_MM2_VERSION,
             io->k, io->w, io->flag, (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static int tsr_mm_cache_matches(const char *key_path, const char *key)
{
    char got[512] = "";
    FILE *fp = fopen(key_path, "r");
    if (!fp)
        return 0;
    size_t n = fread(got, 1, sizeof got - 1, fp);
    fclose(fp);
    got[n] = '\0';
    return strcmp(got, key) == 0;
}

/* Write the index and its key under temporary names, then rename (ranks racing write the same bytes). */
static tsr_status_t tsr_mm_cache_write(const mm_idx_t *mi, const char *mmi, const char *key_path, const char *key)
{
    char tmp[4300], ktmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", mmi, (long)getpid());
    snprintf(ktmp, sizeof ktmp, "%s.tmp.%ld", key_path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write the minimap2 index cache '%s': %s", tmp, strerror(errno));
    mm_idx_dump(fp, mi);
    int bad = fflush(fp) != 0 || ferror(fp);
    bad |= fclose(fp) != 0;
    FILE *kf = bad ? NULL : fopen(ktmp, "w");
    if (kf) {
        bad |= fputs(key, kf) < 0;
        bad |= fclose(kf) != 0;
    }
    if (bad || !kf || rename(tmp, mmi) != 0 || rename(ktmp, key_path) != 0) {
        unlink(tmp);
        unlink(ktmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write the minimap2 index cache '%s' (disk full?)", mmi);
    }
    return TSR_OK;
}

struct tsr_mm_tbuf {
    mm_tbuf_t *b;
    kstring_t line;
    char *rc;      /* read 2 reverse-complemented for mapping */
    size_t rc_cap;
};

tsr_status_t tsr_mm_index_create(const char *ref_fasta, const char *cache, int n_threads, tsr_mm_index_t **out)
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
    char key[512], key_path[4200];
    tsr_mm_cache_key(ref_fasta, &x->iopt, key, sizeof key);
    if (cache)
        snprintf(key_path, sizeof key_path, "%s.key", cache);
    x->from_cache = cache && tsr_mm_cache_matches(key_path, key);
    mm_idx_reader_t *r = mm_idx_reader_open(x->from_cache ? cache : ref_fasta, &x->iopt, 0);
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
    /* the cache only saves time: a full disk here is reported by the outputs, not by it */
    if (cache && !x->from_cache && tsr_mm_cache_write(x->mi, cache, key_path, key) != TSR_OK)
        tsr_log_info("%s; the index is kept in memory only", tsr_error_msg());
    struct stat st;
    if (cache && stat(cache, &st) == 0) {
        x->bytes = (size_t)st.st_size; /* the dump holds the sequence, minimizer arrays and hash tables */
    } else {
        for (uint32_t i = 0; i < x->mi->n_seq; i++)
            x->bytes += x->mi->seq[i].len / 2 + 1;
        x->bytes *= 25; /* hash tables and minimizer arrays: ~12 B per base per strand */
    }
    *out = x;
    return TSR_OK;
}

int tsr_mm_index_from_cache(const tsr_mm_index_t *x)
{
    return x->from_cache;
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
    return x->bytes;
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
    free((*tp)->rc);
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
    /*
     * As minimap2's own driver does for FR pairs (pe_ori): read 2 is mapped
     * reverse-complemented, so both ends of a proper pair lie on one strand
     * for mm_pair, then its hits are flipped back to the read's own strand.
     */
    int flip = n_seg == 2 && (x->mopt.pe_ori & 1);
    const char *mseq[2] = {seq[0], n_seg == 2 ? seq[1] : NULL};
    if (flip) {
        if ((size_t)len[1] + 1 > t->rc_cap) {
            char *p = realloc(t->rc, (size_t)len[1] + 1);
            if (!p)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory mapping read '%s'", name);
            t->rc = p;
            t->rc_cap = (size_t)len[1] + 1;
        }
        for (int i = 0; i < len[1]; i++) {
            char c = seq[1][len[1] - 1 - i];
            t->rc[i] = c == 'A' ? 'T' : c == 'C' ? 'G' : c == 'G' ? 'C' : c == 'T' ? 'A' : 'N';
        }
        t->rc[len[1]] = '\0';
        mseq[1] = t->rc;
    }
    mm_map_frag(x->mi, n_seg, len, mseq, n_regs, regs, t->b, &x->mopt, name);
    for (int j = 0; flip && j < n_regs[1]; j++) {
        mm_reg1_t *r = &regs[1][j];
        int qs = r->qs;
        r->qs = len[1] - r->qe;
        r->qe = len[1] - qs;
        r->rev = !r->rev;
    }
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
