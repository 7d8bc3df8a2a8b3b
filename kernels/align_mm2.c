/*
 * align_mm2.c - the libminimap2 side of the align kernel. Kept in its own
 * translation unit because minimap2's headers define kstring_t/kseq the way
 * htslib's do: nothing here includes htslib, and align.c never includes
 * minimap2. The two talk through align_internal.h in plain C types: this
 * file maps read pairs and hands back each record's SAM fields and tags as
 * minimap2's SAM writer (mm_write_sam3, format.c) sets them, and align.c
 * builds the BAM records from those (no SAM text is printed or parsed). It
 * also owns the index: the index file (REF.mmi or DIR/ref.mmi) and the copy of a loaded index
 * into a window shared by the ranks of a node.
 */
#include "kernels/align_internal.h"

#include <errno.h>
#include <kalloc.h>
#include <khash.h>
#include <math.h>
#include <minimap.h>
#include <mmpriv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/*
 * minimap2 keeps its bucket type inside index.c; this is its layout in 2.24
 * (the library tessera links), completed here so the shared window can be
 * filled from and read through mm_idx_t::B. The hash tables are klib khash
 * maps uint64_t -> uint64_t (KHASH_INIT(idx, ...) in index.c).
 */
struct mm_idx_bucket_s {
    mm128_v a;   /* minimizers while building; empty in a finished index */
    int32_t n;   /* length of p */
    uint64_t *p; /* positions of minimizers that occur more than once */
    void *h;     /* kh_idx_t *: minimizer -> position or (offset in p, count) */
};
__KHASH_TYPE(idx, uint64_t, uint64_t)

/*
 * A view of the node's shared window: mi, mi->seq, mi->B and the hash table
 * heads are this rank's small allocations, and every array they point to
 * lies in the window, which node rank 0 filled. Never mm_idx_destroy(mi).
 * win is NULL only while creation has not reached the window.
 */
struct tsr_mm_index {
    mm_idx_t *mi;
    mm_idxopt_t iopt;
    mm_mapopt_t mopt;
    size_t bytes;
    tsr_node_shared_t *win; /* runtime/collective.c */
    kh_idx_t *heads;
    void *img;      /* the mapped window image (CACHE.win) when the index comes from one, else NULL */
    size_t img_len;
};

#if defined(MM_VERSION)
#define TSR_MM2_VERSION MM_VERSION
#elif defined(TSR_MINIMAP2_VERSION)
#define TSR_MM2_VERSION TSR_MINIMAP2_VERSION
#else
#define TSR_MM2_VERSION "lib" /* Debian's headers state no version; the .mmi magic still guards the format */
#endif

/*
 * What an index file must match: minimap2's version, the preset's k/w/flag,
 * the FASTA's size and CRC-32 (its content, so a copied or touched reference
 * still matches and an edited one does not). -1 when the FASTA cannot be read.
 */
static int tsr_mm_cache_key(const char *ref_fasta, const mm_idxopt_t *io, char *buf, size_t len)
{
    FILE *fp = fopen(ref_fasta, "rb");
    if (!fp)
        return -1;
    static const size_t chunk = 1 << 20;
    unsigned char *b = malloc(chunk);
    uLong crc = crc32(0L, Z_NULL, 0);
    long long size = 0;
    size_t n;
    while (b && (n = fread(b, 1, chunk, fp)) > 0) {
        crc = crc32(crc, b, (uInt)n);
        size += (long long)n;
    }
    int bad = !b || ferror(fp);
    free(b);
    fclose(fp);
    if (bad)
        return -1;
    snprintf(buf, len, "tessera-mmi 2 minimap2 %s sr k=%d w=%d flag=%d size=%lld crc32=%08lx\n", TSR_MM2_VERSION,
             io->k, io->w, io->flag, size, (unsigned long)crc);
    return 0;
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
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(tmp, sizeof tmp, "%s.tmp.%s.%ld", mmi, host, (long)getpid());
    snprintf(ktmp, sizeof ktmp, "%s.tmp.%s.%ld", key_path, host, (long)getpid());
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
    char *rc;      /* read 2 reverse-complemented for mapping */
    size_t rc_cap;
    char *md;      /* mm_gen_MD's buffer */
    int md_cap;
};

/* The "sr" options tessera maps with (one index part: multi-part indexes change results). */
static tsr_status_t tsr_mm_opts(tsr_mm_index_t *x)
{
    mm_set_opt(0, &x->iopt, &x->mopt);
    if (mm_set_opt("sr", &x->iopt, &x->mopt) < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "minimap2 does not know the 'sr' preset");
    x->mopt.flag |= MM_F_CIGAR | MM_F_OUT_MD | MM_F_NO_PRINT_2ND;
    x->iopt.batch_size = 0x7fffffffffffffffLL;
    return TSR_OK;
}

/* Read an index from a .mmi dump or build it from a FASTA (minimap2 tells them apart). */
static tsr_status_t tsr_mm_read(const char *path, const char *ref_fasta, const mm_idxopt_t *io, int n_threads,
                                mm_idx_t **mi)
{
    mm_idx_reader_t *r = mm_idx_reader_open(path, io, 0);
    if (!r)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s' for minimap2 indexing: %s", path, strerror(errno));
    *mi = mm_idx_reader_read(r, n_threads > 0 ? n_threads : 1);
    mm_idx_reader_close(r);
    if (!*mi)
        return tsr_error_set(TSR_ERR_FORMAT, "reference '%s' holds no sequence minimap2 can index (read from '%s')",
                             ref_fasta, path);
    return TSR_OK;
}

typedef struct tsr_mm_img_head tsr_mm_img_head_t;
static int tsr_mm_img_matches(const char *img, const char *key, tsr_mm_img_head_t *ih);
static tsr_status_t tsr_mm_img_write(tsr_mm_index_t *x, mm_idx_t *mi, const char *img, const char *key,
                                     tsr_mm_img_head_t *ih);

/*
 * Rank 0 only: make `cache` current. A missing or stale cache is built from
 * the FASTA and dumped (the built index is handed back in *mi so this rank
 * need not read it again); with `strict` (a file the user named) a stale one
 * is refused instead. *cache_ok = 0 when it could not be written: the node
 * leaders then build from the FASTA themselves. The check and the build hold
 * an exclusive lock on CACHE.lock, so two runs on one reference build it
 * once and never see a half-replaced pair (where the file system has no
 * locks, the temporary names and renames still keep each file whole).
 * With a current cache, CACHE.win (the window image) is checked too and
 * written when missing or stale (*img_ok = 1 when it is current; *ih then
 * holds its head); reading the cache for it hands the index back in *mi.
 */
static tsr_status_t tsr_mm_cache_prepare(tsr_mm_index_t *x, const char *ref_fasta, const char *cache, int strict,
                                         int n_threads, mm_idx_t **mi, int *cache_ok, int *img_ok,
                                         tsr_mm_img_head_t *ih)
{
    const mm_idxopt_t *io = &x->iopt;
    *img_ok = 0;
    char key[512], key_path[4200], lock_path[4200];
    *cache_ok = 0;
    if (tsr_mm_cache_key(ref_fasta, io, key, sizeof key) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot read the reference '%s': %s", ref_fasta, strerror(errno));
    snprintf(key_path, sizeof key_path, "%s.key", cache);
    snprintf(lock_path, sizeof lock_path, "%s.lock", cache);
    int lk = open(lock_path, O_RDWR | O_CREAT, 0644);
    if (lk >= 0 && flock(lk, LOCK_EX) != 0) {
        close(lk);
        lk = -1;
    }
    tsr_status_t s = TSR_OK;
    struct stat st;
    *cache_ok = tsr_mm_cache_matches(key_path, key) && stat(cache, &st) == 0;
    if (*cache_ok)
        tsr_log_info("index: reused %s (it matches %s and minimap2's parameters)", cache, ref_fasta);
    else if (strict && (stat(cache, &st) == 0 || stat(key_path, &st) == 0))
        s = tsr_error_set(TSR_ERR_USAGE, "--index %s was built for another reference or other minimap2 "
                          "parameters than %s (%s.key); give another path, or remove it to rebuild it there",
                          cache, ref_fasta, cache);
    else {
        double t0 = tsr_now();
        s = tsr_mm_read(ref_fasta, ref_fasta, io, n_threads, mi);
        if (s == TSR_OK && tsr_mm_cache_write(*mi, cache, key_path, key) == TSR_OK) {
            *cache_ok = 1;
            tsr_log_info("index: built %s from %s in %.2f s", cache, ref_fasta, tsr_now() - t0);
        } else if (s == TSR_OK) {
            /* the cache only saves time: a full disk is reported by the outputs, not by it */
            tsr_log_info("index: %s; each node builds its index from %s instead", tsr_error_msg(), ref_fasta);
            tsr_error_clear();
        }
    }
    char img[4300];
    snprintf(img, sizeof img, "%s.win", cache);
    if (s == TSR_OK && *cache_ok && !(*img_ok = tsr_mm_img_matches(img, key, ih))) {
        /* the image only saves time: where it cannot be made, the window is filled from CACHE as before */
        double t0 = tsr_now();
        tsr_status_t si = *mi ? TSR_OK : tsr_mm_read(cache, ref_fasta, io, n_threads, mi);
        if (si == TSR_OK)
            si = tsr_mm_img_write(x, *mi, img, key, ih);
        if (si == TSR_OK) {
            *img_ok = 1;
            tsr_log_info("index: image %s written in %.2f s", img, tsr_now() - t0);
        } else {
            tsr_log_info("index: %s; the index is read from %s instead", tsr_error_msg(), cache);
            tsr_error_clear();
        }
    }
    if (lk >= 0)
        close(lk); /* releases the lock */
    return s;
}

/* Where node rank 0 put everything in the window (offsets in bytes), broadcast to the node. */
typedef struct tsr_mm_win_head {
    int32_t b, w, k, flag, index, n_alt, mid_occ, pad;
    uint32_t n_seq, has_seq;
    uint64_t bytes, seq, buckets, S;
} tsr_mm_win_head_t;

/* A sequence record in the window: the name as an offset instead of a pointer. */
typedef struct tsr_mm_win_seq {
    uint64_t name, offset;
    uint32_t len, is_alt;
} tsr_mm_win_seq_t;

/* A bucket in the window: its position array and hash table as offsets. */
typedef struct tsr_mm_win_bucket {
    uint64_t p, flags, keys, vals;
    int32_t n, has_h;
    uint32_t n_buckets, size, n_occupied, upper_bound;
} tsr_mm_win_bucket_t;

#define TSR_MM_WIN_ALIGN 64

/*
 * Where a layout goes: a window being filled (base), an image file being written (fp, the window's bytes
 * at TSR_MM_IMG_HEAD + offset, written in offset order with zero padding), or nowhere (offsets only).
 */
typedef struct tsr_mm_sink {
    char *base;
    FILE *fp;
    uint64_t done; /* window bytes written to fp so far */
    int bad;
} tsr_mm_sink_t;

#define TSR_MM_IMG_HEAD 4096 /* the image's header block; the window's bytes follow (page-aligned) */

/* Reserve n bytes at *at (aligned), copy src there (window or image); returns the offset. */
static uint64_t tsr_mm_win_put(tsr_mm_sink_t *k, uint64_t *at, const void *src, size_t n)
{
    uint64_t off = *at;
    if (k->base && n)
        memcpy(k->base + off, src, n);
    if (k->fp && n && !k->bad) {
        static const char zero[TSR_MM_WIN_ALIGN];
        while (k->done < off) {
            size_t z = off - k->done < sizeof zero ? (size_t)(off - k->done) : sizeof zero;
            k->bad |= fwrite(zero, 1, z, k->fp) != z;
            k->done += z;
        }
        k->bad |= fwrite(src, 1, n, k->fp) != n;
        k->done = off + n;
    }
    *at = (off + n + TSR_MM_WIN_ALIGN - 1) / TSR_MM_WIN_ALIGN * TSR_MM_WIN_ALIGN;
    return off;
}

/*
 * Lay mi out in the window. With no sink (k NULL) only hd (offsets and size) is
 * filled. Into a window (k->base) the arrays are copied and each bucket's private
 * arrays freed as soon as they are in the window, so the node leader holds
 * little more than one index at any time (mi is then only fit for
 * mm_idx_destroy). Into an image (k->fp) they are written and mi is left whole.
 * Everything mm_map and mm_write_sam3 read is placed:
 * sequence names and records, the packed sequence S, and per bucket the
 * position array p and the hash table's flags/keys/vals.
 */
static void tsr_mm_win_layout(mm_idx_t *mi, tsr_mm_win_head_t *hd, tsr_mm_sink_t *k)
{
    tsr_mm_sink_t none = {NULL, NULL, 0, 0};
    if (!k)
        k = &none;
    char *base = k->base;
    uint64_t at = 0, sum_len = 0;
    int nb = 1 << mi->b;
    hd->b = mi->b, hd->w = mi->w, hd->k = mi->k, hd->flag = mi->flag;
    hd->index = mi->index, hd->n_alt = mi->n_alt, hd->n_seq = mi->n_seq;
    hd->seq = tsr_mm_win_put(&none, &at, NULL, (size_t)mi->n_seq * sizeof(tsr_mm_win_seq_t));
    hd->buckets = tsr_mm_win_put(&none, &at, NULL, (size_t)nb * sizeof(tsr_mm_win_bucket_t));
    /* an image's records are gathered here and written at their offsets last */
    tsr_mm_win_seq_t *ws = base ? (tsr_mm_win_seq_t *)(base + hd->seq)
                           : k->fp ? calloc(mi->n_seq ? mi->n_seq : 1, sizeof *ws) : NULL;
    tsr_mm_win_bucket_t *wb = base ? (tsr_mm_win_bucket_t *)(base + hd->buckets)
                              : k->fp ? calloc((size_t)nb, sizeof *wb) : NULL;
    if (k->fp && (!ws || !wb))
        k->bad = 1;
    for (uint32_t i = 0; i < mi->n_seq; i++) {
        const mm_idx_seq_t *q = &mi->seq[i];
        const char *name = q->name ? q->name : "";
        uint64_t off = tsr_mm_win_put(k, &at, name, strlen(name) + 1);
        if (ws) {
            ws[i].name = off;
            ws[i].offset = q->offset;
            ws[i].len = q->len;
            ws[i].is_alt = q->is_alt;
        }
        sum_len += q->len;
    }
    hd->has_seq = mi->S != NULL;
    hd->S = tsr_mm_win_put(k, &at, mi->S, mi->S ? (size_t)((sum_len + 7) / 8) * 4 : 0);
    if (base && mi->S) {
        free(mi->S);
        mi->S = NULL;
    }
    for (int i = 0; i < nb; i++) {
        struct mm_idx_bucket_s *b = &mi->B[i];
        kh_idx_t *h = b->h;
        tsr_mm_win_bucket_t t;
        memset(&t, 0, sizeof t);
        t.n = b->n;
        t.p = tsr_mm_win_put(k, &at, b->p, (size_t)b->n * sizeof *b->p);
        if (h) {
            t.has_h = 1;
            t.n_buckets = h->n_buckets, t.size = h->size, t.n_occupied = h->n_occupied;
            t.upper_bound = h->upper_bound;
            size_t nf = h->n_buckets ? (size_t)__ac_fsize(h->n_buckets) : 0;
            t.flags = tsr_mm_win_put(k, &at, h->flags, nf * sizeof *h->flags);
            t.keys = tsr_mm_win_put(k, &at, h->keys, (size_t)h->n_buckets * sizeof *h->keys);
            t.vals = tsr_mm_win_put(k, &at, h->vals, (size_t)h->n_buckets * sizeof *h->vals);
        }
        if (wb)
            wb[i] = t;
        if (base) {
            /* what kh_destroy(idx, h) and mm_idx_destroy do for this bucket */
            if (h) {
                kfree(NULL, h->keys);
                kfree(NULL, h->flags);
                kfree(NULL, h->vals);
                kfree(NULL, h);
                b->h = NULL;
            }
            free(b->p);
            b->p = NULL;
        }
    }
    hd->bytes = at;
    if (k->fp && !k->bad) { /* pad to the window's size, then the records at their offsets */
        static const char zero[TSR_MM_WIN_ALIGN];
        while (k->done < at) {
            size_t z = at - k->done < sizeof zero ? (size_t)(at - k->done) : sizeof zero;
            k->bad |= fwrite(zero, 1, z, k->fp) != z;
            k->done += z;
        }
        k->bad |= fseeko(k->fp, (off_t)(TSR_MM_IMG_HEAD + hd->seq), SEEK_SET) != 0 ||
                  fwrite(ws, sizeof *ws, mi->n_seq, k->fp) != mi->n_seq;
        k->bad |= fseeko(k->fp, (off_t)(TSR_MM_IMG_HEAD + hd->buckets), SEEK_SET) != 0 ||
                  fwrite(wb, sizeof *wb, (size_t)nb, k->fp) != (size_t)nb;
    }
    if (!base) {
        free(ws);
        free(wb);
    }
}

/* This rank's mm_idx_t over the window at base: small local arrays whose pointers lead into it. */
static tsr_status_t tsr_mm_view_create(tsr_mm_index_t *x, const tsr_mm_win_head_t *hd, char *base)
{
    int nb = 1 << hd->b, n_h = 0;
    const tsr_mm_win_seq_t *ws = (const tsr_mm_win_seq_t *)(base + hd->seq);
    const tsr_mm_win_bucket_t *wb = (const tsr_mm_win_bucket_t *)(base + hd->buckets);
    for (int i = 0; i < nb; i++)
        n_h += wb[i].has_h;
    mm_idx_t *mi;
    TSR_ALLOC(mi, 1);
    x->mi = mi;
    mi->b = hd->b, mi->w = hd->w, mi->k = hd->k, mi->flag = hd->flag;
    mi->index = hd->index, mi->n_alt = hd->n_alt, mi->n_seq = hd->n_seq;
    TSR_ALLOC(mi->seq, hd->n_seq);
    TSR_ALLOC(mi->B, nb);
    TSR_ALLOC(x->heads, n_h);
    for (uint32_t i = 0; i < hd->n_seq; i++) {
        mi->seq[i].name = base + ws[i].name;
        mi->seq[i].offset = ws[i].offset;
        mi->seq[i].len = ws[i].len;
        mi->seq[i].is_alt = ws[i].is_alt;
    }
    mi->S = hd->has_seq ? (uint32_t *)(base + hd->S) : NULL;
    for (int i = 0, j = 0; i < nb; i++) {
        mi->B[i].n = wb[i].n;
        mi->B[i].p = (uint64_t *)(base + wb[i].p);
        if (!wb[i].has_h)
            continue;
        kh_idx_t *h = &x->heads[j++];
        h->n_buckets = wb[i].n_buckets, h->size = wb[i].size, h->n_occupied = wb[i].n_occupied;
        h->upper_bound = wb[i].upper_bound;
        h->flags = (khint32_t *)(base + wb[i].flags);
        h->keys = (uint64_t *)(base + wb[i].keys);
        h->vals = (uint64_t *)(base + wb[i].vals);
        mi->B[i].h = h;
    }
    return TSR_OK;
}

/* Node rank 0: what to tell the node (its index laid out, mid_occ computed once). */
static void tsr_mm_head_fill(tsr_mm_index_t *x, mm_idx_t *mi, tsr_mm_win_head_t *hd)
{
    mm_mapopt_t mo = x->mopt;
    mm_mapopt_update(&mo, mi);
    tsr_mm_win_layout(mi, hd, NULL);
    hd->mid_occ = mo.mid_occ;
}

/*
 * The window image (CACHE.win, issue 18): the window's bytes as node rank 0 lays them out, written once
 * beside the cache, so later runs map it read-only (mmap, MAP_SHARED) instead of reading CACHE (which
 * rebuilds every minimizer hash table entry by entry) and copying it into a window: the ranks of a node
 * share the file's pages through the page cache, and a page is read only when mapping touches it. A
 * 4 KiB header block holds the magic, the cache's key (so an image is used only with the reference and
 * parameters it was made for), the sizes of the structures below (another build's layout is refused) and
 * the layout's head. Like CACHE it is native-endian, written under a temporary name and renamed; every
 * offset is checked against the file's size before use (tsr_mm_view_check), not its content.
 */
#define TSR_MM_IMG_MAGIC "tessera-mmwin 1"
struct tsr_mm_img_head {
    char magic[16];
    char key[512];
    uint32_t head_bytes, seq_bytes, bucket_bytes, pad;
    tsr_mm_win_head_t hd;
};

static void tsr_mm_img_head_init(tsr_mm_img_head_t *ih, const char *key)
{
    memset(ih, 0, sizeof *ih);
    snprintf(ih->magic, sizeof ih->magic, "%s", TSR_MM_IMG_MAGIC);
    snprintf(ih->key, sizeof ih->key, "%s", key);
    ih->head_bytes = (uint32_t)sizeof(tsr_mm_win_head_t);
    ih->seq_bytes = (uint32_t)sizeof(tsr_mm_win_seq_t);
    ih->bucket_bytes = (uint32_t)sizeof(tsr_mm_win_bucket_t);
}

/* Whether `img` is an image for `key` whose size its head accounts for; its head into *ih. */
static int tsr_mm_img_matches(const char *img, const char *key, tsr_mm_img_head_t *ih)
{
    tsr_mm_img_head_t want;
    tsr_mm_img_head_init(&want, key);
    int fd = open(img, O_RDONLY);
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && pread(fd, ih, sizeof *ih, 0) == (ssize_t)sizeof *ih &&
             memcmp(ih, &want, offsetof(tsr_mm_img_head_t, hd)) == 0 &&
             (uint64_t)st.st_size == TSR_MM_IMG_HEAD + ih->hd.bytes;
    close(fd);
    return ok;
}

/* Write mi's window image to `img` (temporary name, then rename); *ih receives its head. */
static tsr_status_t tsr_mm_img_write(tsr_mm_index_t *x, mm_idx_t *mi, const char *img, const char *key,
                                     tsr_mm_img_head_t *ih)
{
    char tmp[4400], host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(tmp, sizeof tmp, "%s.tmp.%s.%ld", img, host, (long)getpid());
    tsr_mm_img_head_init(ih, key);
    tsr_mm_head_fill(x, mi, &ih->hd);
    /* khash leaves the keys and values of empty slots unset: zero them so the image's bytes are the index's
       alone (lookups test a slot's flags before its key, so nothing reads them) */
    for (int i = 0; i < 1 << mi->b; i++) {
        kh_idx_t *h = mi->B[i].h;
        for (khint_t j = 0; h && j < h->n_buckets; j++)
            if (__ac_iseither(h->flags, j))
                h->keys[j] = h->vals[j] = 0;
    }
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write the minimap2 index image '%s': %s", tmp, strerror(errno));
    static char block[TSR_MM_IMG_HEAD];
    tsr_mm_sink_t k = {NULL, fp, 0, 0};
    k.bad = fwrite(block, 1, sizeof block, fp) != sizeof block;
    tsr_mm_win_head_t again;
    tsr_mm_win_layout(mi, &again, &k);
    k.bad |= again.bytes != ih->hd.bytes;
    k.bad |= fseeko(fp, 0, SEEK_SET) != 0 || fwrite(ih, sizeof *ih, 1, fp) != 1;
    k.bad |= fflush(fp) != 0 || ferror(fp);
    k.bad |= fclose(fp) != 0;
    if (k.bad || rename(tmp, img) != 0) {
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write the minimap2 index image '%s' (disk full?)", img);
    }
    return TSR_OK;
}

/* Whether every offset in the image's window [base, base + hd->bytes) stays inside it. */
static int tsr_mm_view_check(const tsr_mm_win_head_t *hd, const char *base)
{
    uint64_t len = hd->bytes;
    if (hd->b < 1 || hd->b > 30 || hd->seq > len || (uint64_t)hd->n_seq * sizeof(tsr_mm_win_seq_t) > len - hd->seq)
        return 0;
    uint64_t nb = 1ULL << hd->b;
    if (hd->buckets > len || nb * sizeof(tsr_mm_win_bucket_t) > len - hd->buckets)
        return 0;
    const tsr_mm_win_seq_t *ws = (const tsr_mm_win_seq_t *)(base + hd->seq);
    uint64_t sum_len = 0;
    for (uint32_t i = 0; i < hd->n_seq; i++) {
        if (ws[i].name >= len || !memchr(base + ws[i].name, '\0', len - ws[i].name) || ws[i].offset != sum_len)
            return 0;
        sum_len += ws[i].len;
    }
    uint64_t s_bytes = hd->has_seq ? (sum_len + 7) / 8 * 4 : 0;
    if (hd->S > len || s_bytes > len - hd->S)
        return 0;
#define TSR_MM_IN(off, n, w) ((off) <= len && (uint64_t)(n) <= (len - (off)) / (w))
    const tsr_mm_win_bucket_t *wb = (const tsr_mm_win_bucket_t *)(base + hd->buckets);
    for (uint64_t i = 0; i < nb; i++) {
        const tsr_mm_win_bucket_t *t = &wb[i];
        if (t->n < 0 || !TSR_MM_IN(t->p, t->n, sizeof(uint64_t)))
            return 0;
        if (!t->has_h)
            continue;
        if (t->n_buckets & (t->n_buckets - 1)) /* khash's tables are powers of 2 */
            return 0;
        uint64_t nf = t->n_buckets ? (uint64_t)__ac_fsize(t->n_buckets) : 0;
        if (!TSR_MM_IN(t->flags, nf, sizeof(khint32_t)) || !TSR_MM_IN(t->keys, t->n_buckets, sizeof(uint64_t)) ||
            !TSR_MM_IN(t->vals, t->n_buckets, sizeof(uint64_t)))
            return 0;
    }
#undef TSR_MM_IN
    return 1;
}

/* This rank's view of the image `img` whose head rank 0 read (*ih): mapped read-only, checked. */
static tsr_status_t tsr_mm_img_map(tsr_mm_index_t *x, const char *img, const tsr_mm_img_head_t *ih)
{
    int fd = open(img, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return tsr_error_set(TSR_ERR_IO, "cannot read the minimap2 index image '%s': %s", img, strerror(errno));
    }
    void *m = (uint64_t)st.st_size == TSR_MM_IMG_HEAD + ih->hd.bytes
                  ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)
                  : MAP_FAILED;
    close(fd);
    if (m == MAP_FAILED)
        return tsr_error_set(TSR_ERR_IO, "cannot map the minimap2 index image '%s' (changed while starting?); "
                             "delete it and rerun to rebuild it", img);
    x->img = m;
    x->img_len = (size_t)st.st_size;
    char *base = (char *)m + TSR_MM_IMG_HEAD;
    if (memcmp(m, ih, sizeof *ih) != 0 || !tsr_mm_view_check(&ih->hd, base))
        return tsr_error_set(TSR_ERR_FORMAT, "the minimap2 index image '%s' is damaged; delete it and rerun to "
                             "rebuild it", img);
    TSR_CALL(tsr_mm_view_create(x, &ih->hd, base));
    x->mopt.mid_occ = ih->hd.mid_occ;
    mm_mapopt_update(&x->mopt, x->mi);
    x->bytes = (size_t)ih->hd.bytes;
    return TSR_OK;
}

/*
 * The window on the node: node rank 0 allocates hd->bytes and fills it from
 * *mi (freeing *mi), the others allocate nothing and query its address; then
 * every rank builds its view. Collective on node_comm.
 */
static tsr_status_t tsr_mm_share(tsr_mm_index_t *x, MPI_Comm node_comm, int node_rank, mm_idx_t **mi,
                                 const tsr_mm_win_head_t *hd)
{
    TSR_CALL(tsr_node_shared_create(node_comm, (size_t)hd->bytes, &x->win));
    char *base = tsr_node_shared_base(x->win);
    if (node_rank == 0) {
        tsr_mm_win_head_t again;
        tsr_mm_sink_t k = {base, NULL, 0, 0};
        tsr_mm_win_layout(*mi, &again, &k);
        mm_idx_destroy(*mi);
        *mi = NULL;
    }
    TSR_CALL(tsr_node_shared_publish(x->win));
    TSR_CALL(tsr_mm_view_create(x, hd, base));
    x->mopt.mid_occ = hd->mid_occ;
    mm_mapopt_update(&x->mopt, x->mi);
    x->bytes = (size_t)hd->bytes;
    return TSR_OK;
}

/* The node's one line about its index: size, host, ranks sharing it, where it came from ("mapped from IMG"). */
static void tsr_mm_log_node(const tsr_mm_index_t *x, const tsr_rt_t *rt, const char *how, const char *from, double t0)
{
    if (rt->node_rank != 0)
        return;
    char host[MPI_MAX_PROCESSOR_NAME] = "?";
    int len = 0;
    if (MPI_Get_processor_name(host, &len) != MPI_SUCCESS)
        snprintf(host, sizeof host, "?");
    tsr_log_info("index: %.1f MiB loaded once on node %s, shared by %d rank%s (%s %s, %.2f s)",
                 (double)x->bytes / (1 << 20), host, rt->node_size, rt->node_size == 1 ? "" : "s", how, from,
                 tsr_now() - t0);
}

tsr_status_t tsr_mm_index_create(const tsr_rt_t *rt, const char *ref_fasta, const char *cache, int strict,
                                 int n_threads, tsr_mm_index_t **out)
{
    *out = NULL;
    double t0 = tsr_now();
    tsr_mm_index_t *x = calloc(1, sizeof *x);
    tsr_status_t s = x ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the minimap2 index");
    if (x) {
        s = tsr_mm_opts(x);
    }
    mm_idx_t *mi = NULL;
    int ok[2] = {0, 0}; /* the cache is current, its window image is */
    tsr_mm_img_head_t ih;
    memset(&ih, 0, sizeof ih);
    if (s == TSR_OK && rt->rank == 0 && cache)
        s = tsr_mm_cache_prepare(x, ref_fasta, cache, strict, n_threads, &mi, &ok[0], &ok[1], &ih);
    s = tsr_comm_agree(rt->comm, s);
    if (s == TSR_OK) {
        int rc = MPI_Bcast(ok, 2, MPI_INT, 0, rt->comm);
        if (rc == MPI_SUCCESS && ok[1])
            rc = MPI_Bcast(&ih, (int)sizeof ih, MPI_BYTE, 0, rt->comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Bcast of the index cache state");
    }
    int cache_ok = ok[0];
    if (s == TSR_OK && ok[1]) { /* every rank maps the image: no window, no collective on the node */
        char img[4300];
        snprintf(img, sizeof img, "%s.win", cache);
        mm_idx_destroy(mi);
        mi = NULL;
        s = tsr_comm_agree(rt->comm, tsr_mm_img_map(x, img, &ih));
        if (s != TSR_OK) {
            tsr_mm_index_destroy(&x);
            return s;
        }
        tsr_mm_log_node(x, rt, "mapped from", img, t0);
        *out = x;
        return TSR_OK;
    }
    if (s == TSR_OK && rt->node_rank == 0 && !mi)
        s = tsr_mm_read(cache_ok ? cache : ref_fasta, ref_fasta, &x->iopt, n_threads, &mi);
    s = tsr_comm_agree(rt->comm, s);
    tsr_mm_win_head_t hd;
    memset(&hd, 0, sizeof hd);
    if (s == TSR_OK && rt->node_rank == 0)
        tsr_mm_head_fill(x, mi, &hd);
    if (s == TSR_OK) {
        int rc = MPI_Bcast(&hd, (int)sizeof hd, MPI_BYTE, 0, rt->node_comm);
        if (rc != MPI_SUCCESS)
            s = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Bcast of the index layout on the node");
    }
    if (s == TSR_OK)
        s = tsr_mm_share(x, rt->node_comm, rt->node_rank, &mi, &hd);
    s = tsr_comm_agree(rt->comm, s);
    mm_idx_destroy(mi);
    if (s != TSR_OK) {
        tsr_mm_index_destroy(&x);
        return s;
    }
    tsr_mm_log_node(x, rt, cache_ok ? "from" : "built from", cache_ok ? cache : ref_fasta, t0);
    *out = x;
    return TSR_OK;
}

void tsr_mm_index_destroy(tsr_mm_index_t **xp)
{
    if (!xp || !*xp)
        return;
    tsr_mm_index_t *x = *xp;
    if (x->mi) {
        free(x->mi->seq);
        free(x->mi->B);
        free(x->mi);
    }
    free(x->heads);
    if (x->img)
        munmap(x->img, x->img_len);
    tsr_node_shared_destroy(&x->win);
    free(x);
    *xp = NULL;
}

size_t tsr_mm_index_bytes(const tsr_mm_index_t *x)
{
    return x ? x->bytes : 0;
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
    free((*tp)->md);
    free((*tp)->rc);
    free(*tp);
    *tp = NULL;
}

int tsr_mm_index_n_seq(const tsr_mm_index_t *x)
{
    return x ? (int)x->mi->n_seq : 0;
}

const char *tsr_mm_index_seq_name(const tsr_mm_index_t *x, int rid)
{
    return x->mi->seq[rid].name;
}

void tsr_mm_recs_free(tsr_mm_recs_t *r)
{
    free(r->v);
    free(r->cigar);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* Room for `more` elements of `size` bytes after n in *v (capacity *cap); -1 out of memory. */
static int tsr_mm_grow(void **v, size_t *cap, size_t n, size_t more, size_t size)
{
    if (n + more <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < n + more)
        c *= 2;
    void *p = realloc(*v, c * size);
    if (!p)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

/* Append a NUL-terminated copy of s[0, n) to out->text; its offset, or TSR_MM_NONE out of memory. */
static size_t tsr_mm_text_put(tsr_mm_recs_t *out, const char *s, size_t n)
{
    if (tsr_mm_grow((void **)&out->text, &out->cap_text, out->n_text, n + 1, 1) < 0)
        return TSR_MM_NONE;
    size_t at = out->n_text;
    memcpy(out->text + at, s, n);
    out->text[at + n] = '\0';
    out->n_text += n + 1;
    return at;
}

static int tsr_mm_cigar_put(tsr_mm_recs_t *out, uint32_t op)
{
    if (tsr_mm_grow((void **)&out->cigar, &out->cap_cigar, out->n_cigar, 1, sizeof *out->cigar) < 0)
        return -1;
    out->cigar[out->n_cigar++] = op;
    return 0;
}

/* The primary record minimap2's SAM writer pairs with (sam_pri), NULL when the end is unmapped. */
static const mm_reg1_t *tsr_mm_sam_pri(int n_regs, const mm_reg1_t *regs)
{
    for (int i = 0; i < n_regs; i++)
        if (regs[i].sam_pri)
            return &regs[i];
    return NULL;
}

/*
 * The float SAM text "%.4f" of `div` parses back to (how minimap2 prints de/dv
 * and htslib reads them), without printing: the correctly rounded quotient
 * n / 10^4 equals strtod's value of the decimal. Near a rounding tie, where
 * div * 10^4 might round differently from printf's exact decimal, it prints.
 */
static float tsr_mm_div4(double div)
{
    double a = div < 0 ? -div : div, x = a * 10000.0, n = floor(x + 0.5);
    if (fabs(x - floor(x) - 0.5) < 1e-6 || x > 1e9) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.4f", div);
        return (float)strtod(buf, NULL);
    }
    double v = n / 10000.0;
    return (float)(div < 0 ? -v : v);
}

/* Append printf output to out->text (no NUL kept); -1 out of memory. */
static int tsr_mm_text_printf(tsr_mm_recs_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int tsr_mm_text_printf(tsr_mm_recs_t *out, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = out->cap_text - out->n_text;
        int n = vsnprintf(out->text ? out->text + out->n_text : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < room) {
            out->n_text += (size_t)n;
            return 0;
        }
        if (tsr_mm_grow((void **)&out->text, &out->cap_text, out->n_text, (size_t)n + 1, 1) < 0)
            return -1;
    }
}

/* SA:Z (the end's other non-secondary alignments), as minimap2 writes it; *at TSR_MM_NONE when none. */
static int tsr_mm_sa(const mm_idx_t *mi, const mm_reg1_t *r, int n_regs, const mm_reg1_t *regs, int qlen,
                     tsr_mm_recs_t *out, size_t *at)
{
    size_t start = out->n_text;
    *at = TSR_MM_NONE;
    for (int i = 0; i < n_regs; i++) {
        const mm_reg1_t *q = &regs[i];
        if (q == r || q->parent != q->id || !q->p)
            continue;
        int l_m, l_i = 0, l_d = 0;
        if (q->qe - q->qs < q->re - q->rs)
            l_m = q->qe - q->qs, l_d = (q->re - q->rs) - l_m;
        else
            l_m = q->re - q->rs, l_i = (q->qe - q->qs) - l_m;
        int clip5 = q->rev ? qlen - q->qe : q->qs, clip3 = q->rev ? q->qs : qlen - q->qe;
        int bad = tsr_mm_text_printf(out, "%s,%d,%c,", mi->seq[q->rid].name, q->rs + 1, "+-"[q->rev]) < 0;
        bad = bad || (clip5 && tsr_mm_text_printf(out, "%dS", clip5) < 0);
        bad = bad || (l_m && tsr_mm_text_printf(out, "%dM", l_m) < 0);
        bad = bad || (l_i && tsr_mm_text_printf(out, "%dI", l_i) < 0);
        bad = bad || (l_d && tsr_mm_text_printf(out, "%dD", l_d) < 0);
        bad = bad || (clip3 && tsr_mm_text_printf(out, "%dS", clip3) < 0);
        bad = bad || tsr_mm_text_printf(out, ",%d,%d;", q->mapq, q->blen - q->mlen + (int)q->p->n_ambi) < 0;
        if (bad)
            return -1;
        *at = start;
    }
    if (*at == TSR_MM_NONE)
        return 0;
    if (tsr_mm_grow((void **)&out->text, &out->cap_text, out->n_text, 1, 1) < 0)
        return -1;
    out->text[out->n_text++] = '\0'; /* the entries make one string */
    return 0;
}

/* minimap2's tags of mapped record e (write_tags, then SA and MD, as mm_write_sam3 adds them). */
static int tsr_mm_rec_tags(const tsr_mm_index_t *x, tsr_mm_tbuf_t *t, tsr_mm_recs_t *out, tsr_mm_rec_t *e,
                           const char *seq, int qlen, const mm_reg1_t *r, int n_regs, const mm_reg1_t *regs)
{
    e->mapped = 1;
    if (r->p) {
        e->nm = r->blen - r->mlen + (int)r->p->n_ambi;
        e->ms = r->p->dp_max;
        e->as = r->p->dp_score;
        e->nn = (int)r->p->n_ambi;
        if (r->p->trans_strand == 1 || r->p->trans_strand == 2)
            e->ts = "?+-?"[r->p->trans_strand];
    }
    e->tp = r->id == r->parent ? (r->inv ? 'I' : 'P') : (r->inv ? 'i' : 'S');
    e->cm = r->cnt;
    e->s1 = r->score;
    e->has_s2 = r->parent == r->id;
    e->s2 = r->subsc;
    if (r->p) {
        double div = 1.0 - mm_event_identity(r);
        e->div_kind = 'e';
        e->div = div == 0.0 ? 0.0f : tsr_mm_div4(div);
    } else if (r->div >= 0.0f && r->div <= 1.0f) {
        e->div_kind = 'v';
        e->div = r->div == 0.0f ? 0.0f : tsr_mm_div4(r->div);
    }
    e->zd = r->split;
    if (r->parent == r->id && r->p && n_regs > 1 && tsr_mm_sa(x->mi, r, n_regs, regs, qlen, out, &e->sa) < 0)
        return -1;
    if (r->p && (x->mopt.flag & MM_F_OUT_MD)) {
        int n = mm_gen_MD(mm_tbuf_get_km(t->b), &t->md, &t->md_cap, x->mi, r, seq);
        if ((e->md = tsr_mm_text_put(out, t->md ? t->md : "", n > 0 ? (size_t)n : 0)) == TSR_MM_NONE)
            return -1;
    }
    return 0;
}

/*
 * One SAM record of end `seg` (r NULL: unmapped), mate = the other end's
 * primary (NULL when unmapped or single-end): mm_write_sam3's FLAG, placement,
 * mate fields, TLEN, clipping and tags, for up to two segments. -1 out of memory.
 */
static int tsr_mm_rec_put(const tsr_mm_index_t *x, tsr_mm_tbuf_t *t, tsr_mm_recs_t *out, int seg, int n_seg,
                          const char *seq, int qlen, const mm_reg1_t *r, int n_regs, const mm_reg1_t *regs,
                          const mm_reg1_t *mate)
{
    if (tsr_mm_grow((void **)&out->v, &out->cap, out->n, 1, sizeof *out->v) < 0)
        return -1;
    tsr_mm_rec_t *e = &out->v[out->n++];
    memset(e, 0, sizeof *e);
    e->seg = seg;
    e->sa = e->md = TSR_MM_NONE;
    int flag = n_seg > 1 ? 0x1 : 0;
    if (!r)
        flag |= 0x4;
    else if (r->rev)
        flag |= 0x10;
    if (r && r->parent == r->id && !r->sam_pri)
        flag |= 0x800;
    if (n_seg > 1) {
        if (r && r->proper_frag)
            flag |= 0x2;
        flag |= seg == 0 ? 0x40 : 0x80;
        if (!mate)
            flag |= 0x8;
        else if (mate->rev)
            flag |= 0x20;
    }
    e->flag = flag;
    /* an unmapped end takes its mate's place */
    const mm_reg1_t *at = r ? r : mate;
    e->rid = at ? at->rid : -1;
    e->pos = at ? at->rs : -1;
    e->mapq = r ? (int)r->mapq : 0;
    e->mrid = -1, e->mpos = -1;
    if (n_seg > 1 && mate) {
        e->mrid = mate->rid, e->mpos = mate->rs;
        if (r && r->rid == mate->rid) {
            int64_t p5 = r->rev ? r->re - 1 : r->rs, m5 = mate->rev ? mate->re - 1 : mate->rs;
            e->tlen = m5 - p5;
            e->tlen += e->tlen > 0 ? 1 : e->tlen < 0 ? -1 : 0;
        }
    } else if (n_seg > 1 && e->rid >= 0) { /* the mate is unmapped and takes this record's place */
        e->mrid = e->rid, e->mpos = e->pos;
    }
    e->qs = 0, e->qe = qlen, e->rev = r ? r->rev : 0;
    if (r && (flag & 0x800))
        e->qs = r->qs, e->qe = r->qe;
    e->cigar = out->n_cigar;
    if (!r)
        return 0;
    if (r->p) {
        uint32_t clip[2] = {(uint32_t)(r->rev ? qlen - r->qe : r->qs), (uint32_t)(r->rev ? r->qs : qlen - r->qe)};
        uint32_t op = (flag & 0x800) ? MM_CIGAR_HARDCLIP : MM_CIGAR_SOFTCLIP;
        if (clip[0] && tsr_mm_cigar_put(out, clip[0] << 4 | op) < 0)
            return -1;
        for (uint32_t k = 0; k < r->p->n_cigar; k++)
            if (tsr_mm_cigar_put(out, r->p->cigar[k]) < 0)
                return -1;
        if (clip[1] && tsr_mm_cigar_put(out, clip[1] << 4 | op) < 0)
            return -1;
    }
    e->n_cigar = out->n_cigar - e->cigar;
    return tsr_mm_rec_tags(x, t, out, e, seq, qlen, r, n_regs, regs);
}

tsr_status_t tsr_mm_map_pair(const tsr_mm_index_t *x, tsr_mm_tbuf_t *t, const char *name, int n_seg,
                             const char *const *seq, const int *len, tsr_mm_recs_t *out)
{
    int n_regs[2] = {0, 0};
    mm_reg1_t *regs[2] = {NULL, NULL};
    out->n = out->n_cigar = out->n_text = 0;
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
        for (int i = 0; i < len[1]; i++)
            t->rc[i] = tsr_base_complement(seq[1][len[1] - 1 - i]);
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
    const mm_reg1_t *pri[2] = {tsr_mm_sam_pri(n_regs[0], regs[0]),
                               n_seg == 2 ? tsr_mm_sam_pri(n_regs[1], regs[1]) : NULL};
    int bad = 0;
    for (int i = 0; i < n_seg && !bad; i++) {
        const mm_reg1_t *mate = n_seg == 2 ? pri[!i] : NULL;
        if (n_regs[i] == 0) {
            bad = tsr_mm_rec_put(x, t, out, i, n_seg, seq[i], len[i], NULL, 0, NULL, mate) < 0;
            continue;
        }
        for (int j = 0; j < n_regs[i] && !bad; j++) {
            if (regs[i][j].id != regs[i][j].parent)
                continue; /* secondary alignments are not reported */
            bad = tsr_mm_rec_put(x, t, out, i, n_seg, seq[i], len[i], &regs[i][j], n_regs[i], regs[i], mate) < 0;
        }
    }
    for (int i = 0; i < n_seg; i++) {
        for (int j = 0; j < n_regs[i]; j++)
            free(regs[i][j].p);
        free(regs[i]);
    }
    return bad ? tsr_error_set(TSR_ERR_NOMEM, "out of memory holding the alignments of read '%s'", name) : TSR_OK;
}
