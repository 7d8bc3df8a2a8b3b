/*
 * partition_reader.c - an evidence partition (io/partition_store.c's file) a
 * window of sites at a time, for the joint kernel: it holds one window of
 * every batch instead of every batch's whole region.
 *
 * What stays in memory per open reader: the site positions (8 bytes a site,
 * to cut windows), the sample names, a buffer of TSR_PR_BLOCK_BUF reference
 * blocks and each sample's last block (24 bytes a sample). Everything per
 * site and sample (PL, AD, strand counts, DP) is read per window with HDF5
 * hyperslabs, and the blocks are streamed: the call kernel writes them in
 * (start, sample) order (tsr_evidence_blocks_by_position), so the blocks of a
 * window are the next ones of the file.
 * The per-site datasets stay open from the first window to the close, each
 * with a chunk cache of one chunk while the reader's cache allowance lasts
 * (tsr_partition_reader_set_cache; none by default; given in pr_cache_order,
 * the datasets a small window would decompress most often first): HDF5 decompresses a
 * whole chunk (64 Ki elements, about 170 sites of PL at 64 samples) for any
 * part of it, so windows smaller than a chunk, reading it anew each time,
 * decompressed every chunk once per window (issue 17: windows shrink as the
 * cohort grows, so the joint's reading grew with samples squared).
 */
#include "io/h5_store.h"
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The per-site datasets a window reads; pr_cache_order below says which get the cache first. */
enum {
    PR_KIND,
    PR_N_ALLELES,
    PR_ALLELE_OFFSET,
    PR_ALLELES,
    PR_PL_OFFSET,
    PR_PL,
    PR_AD_OFFSET,
    PR_AD,
    PR_DP,
    PR_STRAND,
    PR_N_DS
};
static const char *const pr_ds_name[PR_N_DS] = {"/site/kind", "/site/n_alleles", "/site/allele_offset",
                                                "/site/alleles", "/call/pl_offset", "/call/pl",
                                                "/call/ad_offset", "/call/ad", "/call/dp", "/call/strand"};

/*
 * Which datasets get the allowance first, by how often a window smaller than a chunk would decompress a
 * chunk again: the small per-site datasets are one chunk each (the whole region's sites), DP has 64 Ki / S
 * sites a chunk (1,024 at 64 samples), PL, AD and strand about S x 3-6 values a site (110-340 sites).
 */
static const int pr_cache_order[PR_N_DS] = {PR_KIND, PR_N_ALLELES, PR_ALLELE_OFFSET, PR_ALLELES, PR_PL_OFFSET,
                                            PR_AD_OFFSET, PR_DP, PR_AD, PR_PL, PR_STRAND};

struct tsr_partition_reader {
    tsr_h5_file_t f;
    int open;
    tsr_evidence_t *head;   /* contig, region, samples; pos = every site's position, n_sites = their count */
    int64_t at;             /* first site not yet given out */
    /* the blocks, streamed in (start, sample) order TSR_PR_BLOCK_BUF at a time */
    int64_t n_blocks, b_at;  /* in the file; the first not yet buffered */
    int64_t bi, bn;          /* buffered blocks [bi, bn) not yet consumed */
    int64_t last_start;      /* the start of the last block consumed (the stream must not go back) */
    int32_t *b_sample, *b_min_dp;
    int64_t *b_start, *b_end;
    /* per sample, the last block consumed (the only one that may reach into the next window) */
    uint8_t *c_has;
    int32_t *c_min_dp;
    int64_t *c_start, *c_end;
    /* the per-site datasets, opened at their first read (pr_ds order) with what is left of cache_left */
    tsr_h5_range_t ds[PR_N_DS];
    int64_t cache_left, cache_used;
};

/* Blocks buffered at a time: a few chunks' worth of reading, a fixed 288 KiB per open reader. */
#define TSR_PR_BLOCK_BUF 12288

void tsr_partition_reader_close(tsr_partition_reader_t **rp)
{
    tsr_partition_reader_t *r = rp ? *rp : NULL;
    if (!r)
        return;
    *rp = NULL;
    for (int k = 0; k < PR_N_DS; k++)
        tsr_h5_range_close(&r->ds[k]);
    if (r->open && tsr_h5_finish(&r->f, 0) != TSR_OK)
        tsr_log_warn("%s: closing the evidence partition failed (it was only read)", r->f.path);
    tsr_evidence_destroy(&r->head);
    free(r->c_has);
    free(r->c_min_dp);
    free(r->c_start);
    free(r->c_end);
    free(r->b_sample);
    free(r->b_min_dp);
    free(r->b_start);
    free(r->b_end);
    free(r);
}

static tsr_status_t reader_head(tsr_partition_reader_t *r)
{
    tsr_h5_file_t *f = &r->f;
    tsr_evidence_t *h = r->head;
    int64_t n_off;
    TSR_CALL(tsr_partition_read_head(f, h));
    const int64_t ns = h->n_samples;
    TSR_ALLOC(r->c_has, (size_t)ns + 1);
    TSR_ALLOC(r->c_min_dp, (size_t)ns + 1);
    TSR_ALLOC(r->c_start, (size_t)ns + 1);
    TSR_ALLOC(r->c_end, (size_t)ns + 1);
    if (tsr_h5_is_empty(f)) { /* a member without sites or blocks */
        TSR_ALLOC(h->pos, 1);
        h->n_sites = r->n_blocks = 0;
        return TSR_OK;
    }
    TSR_CALL(tsr_h5_read(f, "/site/position", H5T_NATIVE_INT64, -1, &h->n_sites, (void **)&h->pos));
    TSR_CALL(tsr_h5_length(f, "/site/allele_offset", H5T_NATIVE_INT64, &n_off));
    if (n_off != h->n_sites + 1)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: /site/allele_offset has %lld entries for %lld sites", f->path,
                             (long long)n_off, (long long)h->n_sites);
    for (int64_t i = 1; i < h->n_sites; i++)
        if (h->pos[i] < h->pos[i - 1])
            return tsr_error_set(TSR_ERR_FORMAT, "%s: site %lld is before the site ahead of it", f->path,
                                 (long long)i);
    TSR_CALL(tsr_h5_length(f, "/refblock/sample", H5T_NATIVE_INT32, &r->n_blocks));
    return TSR_OK;
}

tsr_status_t tsr_partition_reader_open(const char *path, tsr_partition_reader_t **out)
{
    *out = NULL;
    tsr_partition_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path);
    tsr_status_t s = tsr_evidence_create(&r->head);
    if (s == TSR_OK) {
        s = tsr_h5_open(path, &r->f);
        r->open = s == TSR_OK;
    }
    if (s == TSR_OK)
        s = reader_head(r);
    if (s != TSR_OK) {
        tsr_partition_reader_close(&r);
        return s;
    }
    *out = r;
    return TSR_OK;
}

const tsr_evidence_t *tsr_partition_reader_head(const tsr_partition_reader_t *r) { return r->head; }

int64_t tsr_partition_reader_at(const tsr_partition_reader_t *r) { return r->at; }

void tsr_partition_reader_set_cache(tsr_partition_reader_t *r, int64_t bytes)
{
    r->cache_left = bytes > 0 ? bytes : 0;
}

int64_t tsr_partition_reader_cache(const tsr_partition_reader_t *r) { return r->cache_used; }

/* The memory type a window reads dataset k in. */
static hid_t pr_ds_type(int k)
{
    switch (k) {
    case PR_KIND:
    case PR_ALLELES:
        return H5T_NATIVE_UINT8;
    case PR_ALLELE_OFFSET:
    case PR_PL_OFFSET:
    case PR_AD_OFFSET:
        return H5T_NATIVE_INT64;
    default:
        return H5T_NATIVE_INT32;
    }
}

/* Open the per-site datasets (at the first window with sites), the allowance given in pr_cache_order. */
static tsr_status_t pr_open_all(tsr_partition_reader_t *r)
{
    for (int i = 0; i < PR_N_DS; i++) {
        int k = pr_cache_order[i];
        int64_t used = 0;
        if (r->ds[k].open)
            continue;
        TSR_CALL(tsr_h5_range_open(&r->f, pr_ds_name[k], pr_ds_type(k), r->cache_left, &r->ds[k], &used));
        r->cache_left -= used;
        r->cache_used += used;
    }
    return TSR_OK;
}

/* Elements [off, off + n) of per-site dataset k (opened by pr_open_all). */
static tsr_status_t pr_read(tsr_partition_reader_t *r, int k, hid_t type, int64_t off, int64_t n, void **data)
{
    return tsr_h5_range_read(&r->f, &r->ds[k], pr_ds_name[k], type, off, n, data);
}

/* Entries [i0, i1] of offsets dataset k rebased to 0 and checked non-decreasing (as tsr_h5_read_offsets). */
static tsr_status_t pr_offsets(tsr_partition_reader_t *r, int k, int64_t i0, int64_t i1, int64_t **off,
                               int64_t *base)
{
    TSR_CALL(pr_read(r, k, H5T_NATIVE_INT64, i0, i1 - i0 + 1, (void **)off));
    *base = (*off)[0];
    for (int64_t i = 0; i <= i1 - i0; i++) {
        (*off)[i] -= *base;
        if ((*off)[i] < 0 || (i > 0 && (*off)[i] < (*off)[i - 1]))
            return tsr_error_set(TSR_ERR_FORMAT, "%s: %s decreases at entry %lld", r->f.path, pr_ds_name[k],
                                 (long long)(i0 + i));
    }
    return TSR_OK;
}

static tsr_status_t window_sites(tsr_partition_reader_t *r, int64_t i0, int64_t i1, tsr_evidence_t *ev)
{
    const int64_t n = i1 - i0, ns = ev->n_samples;
    int64_t ba, bp, bd;
    if (n <= 0) /* no sites (a decoy's region): offsets {0}, and a member's datasets are not opened */
        return tsr_partition_sites_empty(ev);
    ev->n_sites = n;
    TSR_ALLOC(ev->pos, (size_t)n + 1);
    memcpy(ev->pos, r->head->pos + i0, (size_t)n * sizeof *ev->pos);
    TSR_CALL(pr_open_all(r));
    TSR_CALL(pr_read(r, PR_KIND, H5T_NATIVE_UINT8, i0, n, (void **)&ev->kind));
    TSR_CALL(pr_read(r, PR_N_ALLELES, H5T_NATIVE_INT32, i0, n, (void **)&ev->n_alleles));
    TSR_CALL(pr_offsets(r, PR_ALLELE_OFFSET, i0, i1, &ev->allele_off, &ba));
    TSR_CALL(pr_read(r, PR_ALLELES, H5T_NATIVE_UINT8, ba, ev->allele_off[n], (void **)&ev->allele_blob));
    TSR_CALL(pr_offsets(r, PR_PL_OFFSET, i0, i1, &ev->pl_off, &bp));
    TSR_CALL(pr_read(r, PR_PL, H5T_NATIVE_INT32, bp, ev->pl_off[n], (void **)&ev->pl));
    TSR_CALL(pr_offsets(r, PR_AD_OFFSET, i0, i1, &ev->ad_off, &bd));
    TSR_CALL(pr_read(r, PR_AD, H5T_NATIVE_INT32, bd, ev->ad_off[n], (void **)&ev->ad));
    TSR_CALL(pr_read(r, PR_DP, H5T_NATIVE_INT32, i0 * ns, n * ns, (void **)&ev->dp));
    TSR_CALL(pr_read(r, PR_STRAND, H5T_NATIVE_INT32, 2 * bd, 2 * ev->ad_off[n], (void **)&ev->strand));
    return tsr_partition_check_sites(&r->f, ev, i0);
}

/* Buffer the next blocks of the file (the buffer is empty). */
static tsr_status_t blocks_refill(tsr_partition_reader_t *r)
{
    tsr_h5_file_t *f = &r->f;
    int64_t n = r->n_blocks - r->b_at < TSR_PR_BLOCK_BUF ? r->n_blocks - r->b_at : TSR_PR_BLOCK_BUF;
    free(r->b_sample);
    free(r->b_start);
    free(r->b_end);
    free(r->b_min_dp);
    r->b_sample = r->b_min_dp = NULL;
    r->b_start = r->b_end = NULL;
    TSR_CALL(tsr_h5_read_range(f, "/refblock/sample", H5T_NATIVE_INT32, r->b_at, n, (void **)&r->b_sample));
    TSR_CALL(tsr_h5_read_range(f, "/refblock/start", H5T_NATIVE_INT64, r->b_at, n, (void **)&r->b_start));
    TSR_CALL(tsr_h5_read_range(f, "/refblock/end", H5T_NATIVE_INT64, r->b_at, n, (void **)&r->b_end));
    TSR_CALL(tsr_h5_read_range(f, "/refblock/min_dp", H5T_NATIVE_INT32, r->b_at, n, (void **)&r->b_min_dp));
    r->bi = 0;
    r->bn = n;
    r->b_at += n;
    return TSR_OK;
}

/*
 * The blocks of every sample that overlap [lo, bound), in (sample, start) order. The file lists them by
 * (start, sample) (tsr_evidence_blocks_by_position), so the blocks starting before bound are the next ones
 * of the stream; of those consumed by earlier windows only each sample's last one can reach past lo (an
 * earlier window's bound is <= lo), and it is carried.
 */
typedef struct pr_block {
    int32_t sample, min_dp;
    int64_t start, end;
} pr_block_t;

static tsr_status_t window_blocks(tsr_partition_reader_t *r, int64_t lo, int64_t bound, tsr_evidence_t *ev)
{
    const int32_t ns = ev->n_samples;
    pr_block_t *bl = NULL;
    int64_t cap = 0, m = 0;
    tsr_status_t s = TSR_OK;
    for (int32_t j = 0; j < ns && s == TSR_OK; j++)
        if (r->c_has[j] && r->c_end[j] > lo) {
            if (tsr_array_grow((void **)&bl, &cap, m + 1, sizeof *bl) < 0)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", r->f.path);
            else
                bl[m++] = (pr_block_t){j, r->c_min_dp[j], r->c_start[j], r->c_end[j]};
        }
    while (s == TSR_OK) {
        if (r->bi == r->bn) {
            if (r->b_at == r->n_blocks)
                break;
            s = blocks_refill(r);
            continue;
        }
        int64_t k = r->bi;
        int32_t j = r->b_sample[k];
        if (j < 0 || j >= ns || r->b_end[k] <= r->b_start[k] || (r->c_has[j] && r->b_start[k] < r->c_end[j])) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s: reference block %lld is invalid or overlaps the one before it",
                              r->f.path, (long long)(r->b_at - r->bn + k));
            break;
        }
        if (r->b_start[k] < r->last_start) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s: reference block %lld is not in position order (a partition of "
                              "a call kernel before version 6?); remove it and run again to re-make it", r->f.path,
                              (long long)(r->b_at - r->bn + k));
            break;
        }
        if (r->b_start[k] >= bound)
            break;
        r->last_start = r->b_start[k];
        r->c_has[j] = 1;
        r->c_start[j] = r->b_start[k];
        r->c_end[j] = r->b_end[k];
        r->c_min_dp[j] = r->b_min_dp[k];
        if (r->b_end[k] > lo) {
            if (tsr_array_grow((void **)&bl, &cap, m + 1, sizeof *bl) < 0)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", r->f.path);
            else
                bl[m++] = (pr_block_t){j, r->b_min_dp[k], r->b_start[k], r->b_end[k]};
        }
        r->bi++;
    }
    /* (sample, start) order: a stable counting sort by sample (carried blocks first, then by start) */
    int64_t *first = s == TSR_OK ? calloc((size_t)ns + 1, sizeof *first) : NULL;
    if (s == TSR_OK && !first)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", r->f.path);
    if (s == TSR_OK) {
        ev->block_sample = malloc((size_t)(m ? m : 1) * sizeof *ev->block_sample);
        ev->block_start = malloc((size_t)(m ? m : 1) * sizeof *ev->block_start);
        ev->block_end = malloc((size_t)(m ? m : 1) * sizeof *ev->block_end);
        ev->block_min_dp = malloc((size_t)(m ? m : 1) * sizeof *ev->block_min_dp);
        if (!ev->block_sample || !ev->block_start || !ev->block_end || !ev->block_min_dp)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", r->f.path);
    }
    if (s == TSR_OK) {
        for (int64_t i = 0; i < m; i++)
            first[bl[i].sample + 1]++;
        for (int32_t j = 0; j < ns; j++)
            first[j + 1] += first[j];
        for (int64_t i = 0; i < m; i++) {
            int64_t o = first[bl[i].sample]++;
            ev->block_sample[o] = bl[i].sample;
            ev->block_start[o] = bl[i].start;
            ev->block_end[o] = bl[i].end;
            ev->block_min_dp[o] = bl[i].min_dp;
        }
        ev->n_blocks = m;
    }
    free(first);
    free(bl);
    return s;
}

/* ----------------------------------------------------- block order */

static int block_pos_cmp(const void *a, const void *b)
{
    const pr_block_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->sample > y->sample) - (x->sample < y->sample);
}

/* Put ev's blocks in (start, sample) order (by_pos) or (sample, start) order. */
static tsr_status_t blocks_order(tsr_evidence_t *ev, int by_pos)
{
    const int64_t m = ev->n_blocks;
    if (m < 2)
        return TSR_OK;
    pr_block_t *bl = malloc((size_t)m * sizeof *bl);
    if (!bl)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory sorting %lld reference blocks", (long long)m);
    for (int64_t i = 0; i < m; i++)
        bl[i] = (pr_block_t){ev->block_sample[i], ev->block_min_dp[i], ev->block_start[i], ev->block_end[i]};
    if (by_pos) {
        qsort(bl, (size_t)m, sizeof *bl, block_pos_cmp);
    } else {
        /* already by position within a sample when read by position: a stable merge by sample suffices */
        int64_t *first = calloc((size_t)ev->n_samples + 1, sizeof *first);
        pr_block_t *out = malloc((size_t)m * sizeof *out);
        if (!first || !out) {
            free(first);
            free(out);
            free(bl);
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory sorting %lld reference blocks", (long long)m);
        }
        qsort(bl, (size_t)m, sizeof *bl, block_pos_cmp);
        for (int64_t i = 0; i < m; i++)
            first[bl[i].sample + 1]++;
        for (int32_t j = 0; j < ev->n_samples; j++)
            first[j + 1] += first[j];
        for (int64_t i = 0; i < m; i++)
            out[first[bl[i].sample]++] = bl[i];
        free(first);
        free(bl);
        bl = out;
    }
    for (int64_t i = 0; i < m; i++) {
        ev->block_sample[i] = bl[i].sample;
        ev->block_min_dp[i] = bl[i].min_dp;
        ev->block_start[i] = bl[i].start;
        ev->block_end[i] = bl[i].end;
    }
    free(bl);
    return TSR_OK;
}

tsr_status_t tsr_evidence_blocks_by_position(tsr_evidence_t *ev) { return blocks_order(ev, 1); }

tsr_status_t tsr_evidence_blocks_by_sample(tsr_evidence_t *ev)
{
    for (int64_t i = 0; i < ev->n_blocks; i++)
        if (ev->block_sample[i] < 0 || ev->block_sample[i] >= ev->n_samples)
            return tsr_error_set(TSR_ERR_FORMAT, "reference block %lld names sample %d of %d", (long long)i,
                                 ev->block_sample[i], ev->n_samples);
    return blocks_order(ev, 0);
}

tsr_status_t tsr_partition_reader_next(tsr_partition_reader_t *r, int64_t lo, int64_t bound, tsr_evidence_t **out)
{
    *out = NULL;
    const tsr_evidence_t *h = r->head;
    if (lo > bound || (r->at < h->n_sites && h->pos[r->at] < lo))
        return tsr_error_set(TSR_ERR_INTERNAL, "%s: window [%lld, %lld) starts past unread sites", r->f.path,
                             (long long)lo, (long long)bound);
    int64_t i1 = r->at;
    while (i1 < h->n_sites && h->pos[i1] < bound)
        i1++;
    tsr_evidence_t *ev;
    TSR_CALL(tsr_evidence_create(&ev));
    tsr_status_t s = TSR_OK;
    ev->start = h->start;
    ev->end = h->end;
    ev->n_samples = h->n_samples;
    if (!(ev->contig = strdup(h->contig)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", r->f.path);
    if (s == TSR_OK)
        s = window_sites(r, r->at, i1, ev);
    if (s == TSR_OK)
        s = window_blocks(r, lo, bound, ev);
    if (s != TSR_OK) {
        tsr_evidence_destroy(&ev);
        return s;
    }
    r->at = i1;
    *out = ev;
    return TSR_OK;
}

/* ---------------------------------------------------- evidence containers' index (tsr_evidence_scandir) */

/*
 * RUN/evidence/index.tsv ("NAME\tLOCATION" a line) is ~5.2 M lines at 100,000 samples x 3 Gb, so it is
 * never held whole. One streamed pass keeps its directory: each run of consecutive lines whose names share
 * a folder ("evidence/gGGGGG/U/"), as that folder and the run's byte offset (the run writes the index in
 * task order, a unit's partitions one after another: one run a unit). A query then reads only the runs of
 * the folder it asks about, and the cache keeps that one folder's lines (a unit's batches). Memory follows
 * the units (~3,300 folders) and one unit's batches (~1,563 lines), not the partitions. The cache is kept
 * while the index's path, size and mtime are the same; it is a cache, not state.
 */
typedef struct ev_ix_run {
    char *dir; /* "evidence/.../" with its slash */
    off_t off; /* the run's first line */
} ev_ix_run_t;
static struct {
    char path[4096];
    off_t size;
    struct timespec mtime;
    ev_ix_run_t *run; /* n_run, by (dir, off) */
    size_t n_run;
    char *cur;           /* the folder whose lines are loaded, or NULL */
    char *text;          /* its lines: name, NUL, location, NUL, ... */
    size_t text_len, text_cap;
    char **name;         /* n pairs (name, location) into text, by name */
    size_t n, cap;
    int loaded;
} ev_ix;
static pthread_mutex_t ev_ix_lock = PTHREAD_MUTEX_INITIALIZER;

static int ev_ix_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ev_run_cmp(const void *a, const void *b)
{
    const ev_ix_run_t *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    return c ? c : (x->off > y->off) - (x->off < y->off);
}

static void ev_ix_reset(void)
{
    for (size_t i = 0; i < ev_ix.n_run; i++)
        free(ev_ix.run[i].dir);
    free(ev_ix.run);
    free(ev_ix.cur);
    free(ev_ix.text);
    free(ev_ix.name);
    memset(&ev_ix, 0, sizeof ev_ix);
}

/* A line's folder: the length of its name up to and with the last slash (0: none). */
static size_t ev_line_dir(const char *name, size_t name_len)
{
    for (size_t k = name_len; k > 0; k--)
        if (name[k - 1] == '/')
            return k;
    return 0;
}

/* Where RUN/evidence starts in path ("RUN/evidence/..." or "RUN/evidence"): its length, or 0. */
static size_t ev_run_evidence(const char *path)
{
    size_t best = 0;
    for (const char *p = strstr(path, "evidence"); p; p = strstr(p + 1, "evidence"))
        if ((p == path || p[-1] == '/') && (p[8] == '/' || p[8] == '\0'))
            best = (size_t)(p - path) + 8;
    return best;
}

/* Load (or keep) the directory of RUN/evidence's index (edir, its length elen); 0 when there is none. Lock held. */
static int ev_ix_load(const char *edir, size_t elen)
{
    char path[4096];
    if (elen + 11 > sizeof path)
        return 0;
    snprintf(path, sizeof path, "%.*s/index.tsv", (int)elen, edir);
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (ev_ix.loaded && !strcmp(ev_ix.path, path) && ev_ix.size == st.st_size &&
        ev_ix.mtime.tv_sec == st.st_mtim.tv_sec && ev_ix.mtime.tv_nsec == st.st_mtim.tv_nsec)
        return 1;
    ev_ix_reset();
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    char *line = NULL, *last = NULL;
    size_t lcap = 0, cap = 0, last_len = 0;
    ssize_t got;
    off_t off = 0;
    int ok = 1;
    while (ok && (got = getline(&line, &lcap, fp)) > 0) {
        char *tab = memchr(line, '\t', (size_t)got);
        size_t dl = tab ? ev_line_dir(line, (size_t)(tab - line)) : 0;
        if (tab && !(last && last_len == dl && !memcmp(last, line, dl))) {
            if (ev_ix.n_run == cap) {
                cap = cap ? 2 * cap : 256;
                ev_ix_run_t *r = realloc(ev_ix.run, cap * sizeof *r);
                ok = r != NULL;
                if (r)
                    ev_ix.run = r;
            }
            char *d = ok ? strndup(line, dl) : NULL;
            ok = d != NULL;
            if (ok) {
                ev_ix.run[ev_ix.n_run++] = (ev_ix_run_t){d, off};
                last = d;
                last_len = dl;
            }
        }
        off += got;
    }
    ok = ok && !ferror(fp);
    free(line);
    fclose(fp);
    if (!ok) {
        ev_ix_reset();
        return 0;
    }
    qsort(ev_ix.run, ev_ix.n_run, sizeof *ev_ix.run, ev_run_cmp);
    snprintf(ev_ix.path, sizeof ev_ix.path, "%s", path);
    ev_ix.size = st.st_size;
    ev_ix.mtime = st.st_mtim;
    ev_ix.loaded = 1;
    return 1;
}

/* First run whose folder is >= dir (lock held). */
static size_t ev_run_lower(const char *dir)
{
    size_t lo = 0, hi = ev_ix.n_run;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(ev_ix.run[mid].dir, dir) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Append "name\0location\0" to the folder's text; its offset as the pair's name (pointers after the last). */
static int ev_text_put(const char *name, size_t nl, const char *loc, size_t ll)
{
    size_t need = ev_ix.text_len + nl + ll + 2;
    if (need > ev_ix.text_cap) {
        size_t c = ev_ix.text_cap ? ev_ix.text_cap : 1 << 16;
        while (c < need)
            c *= 2;
        char *t = realloc(ev_ix.text, c);
        if (!t)
            return 0;
        ev_ix.text = t;
        ev_ix.text_cap = c;
    }
    if (ev_ix.n == ev_ix.cap) {
        size_t c = ev_ix.cap ? 2 * ev_ix.cap : 1024;
        char **v = realloc(ev_ix.name, 2 * c * sizeof *v);
        if (!v)
            return 0;
        ev_ix.name = v;
        ev_ix.cap = c;
    }
    char *t = ev_ix.text + ev_ix.text_len;
    memcpy(t, name, nl);
    t[nl] = '\0';
    memcpy(t + nl + 1, loc, ll);
    t[nl + 1 + ll] = '\0';
    ev_ix.name[2 * ev_ix.n] = (char *)(uintptr_t)ev_ix.text_len;
    ev_ix.name[2 * ev_ix.n + 1] = (char *)(uintptr_t)(ev_ix.text_len + nl + 1);
    ev_ix.n++;
    ev_ix.text_len = need;
    return 1;
}

/* Load (or keep) the lines of folder `dir` ("evidence/.../"): its runs only, streamed. 0 on failure. Lock held. */
static int ev_dir_load(const char *dir)
{
    if (ev_ix.cur && !strcmp(ev_ix.cur, dir))
        return 1;
    free(ev_ix.cur);
    ev_ix.cur = NULL;
    ev_ix.n = ev_ix.text_len = 0;
    size_t want = strlen(dir), i = ev_run_lower(dir);
    FILE *fp = i < ev_ix.n_run && !strcmp(ev_ix.run[i].dir, dir) ? fopen(ev_ix.path, "rb") : NULL;
    char *line = NULL;
    size_t lcap = 0;
    int ok = 1;
    for (; fp && ok && i < ev_ix.n_run && !strcmp(ev_ix.run[i].dir, dir); i++) {
        ok = fseeko(fp, ev_ix.run[i].off, SEEK_SET) == 0;
        ssize_t got;
        while (ok && (got = getline(&line, &lcap, fp)) > 0) {
            if (line[got - 1] == '\n')
                line[--got] = '\0';
            char *tab = memchr(line, '\t', (size_t)got);
            if (!tab)
                continue;
            size_t nl = (size_t)(tab - line);
            if (ev_line_dir(line, nl) != want || memcmp(line, dir, want))
                break; /* the run ends */
            ok = ev_text_put(line, nl, tab + 1, (size_t)got - nl - 1);
        }
        ok = ok && !ferror(fp);
    }
    free(line);
    if (fp)
        fclose(fp);
    for (size_t k = 0; k < 2 * ev_ix.n; k++)
        ev_ix.name[k] = ev_ix.text + (uintptr_t)ev_ix.name[k];
    if (!ok || !(ev_ix.cur = strdup(dir))) {
        ev_ix.n = ev_ix.text_len = 0;
        return 0;
    }
    qsort(ev_ix.name, ev_ix.n, 2 * sizeof *ev_ix.name, ev_ix_cmp); /* a pair sorts by its name, its first pointer */
    return 1;
}

/* Entry i's name and location (the pairs array holds them side by side). */
#define EV_NAME(i) (ev_ix.name[2 * (i)])
#define EV_LOC(i) (ev_ix.name[2 * (i) + 1])

/* First entry of the loaded folder whose name is >= key (lock held). */
static size_t ev_ix_lower(const char *key)
{
    size_t lo = 0, hi = ev_ix.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(EV_NAME(mid), key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void tsr_evidence_resolve(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", path);
    if (access(path, F_OK) == 0)
        return;
    char base[4096];
    const char *hash = strrchr(path, '#');
    size_t bl = hash && strchr(hash, '/') == NULL ? (size_t)(hash - path) : strlen(path);
    size_t elen = ev_run_evidence(path);
    if (!elen || bl >= sizeof base)
        return;
    memcpy(base, path, bl);
    base[bl] = '\0';
    if (access(base, F_OK) == 0)
        return;
    size_t run = elen - 8; /* RUN/ (with its slash) */
    pthread_mutex_lock(&ev_ix_lock);
    char dir[4096];
    size_t dl = ev_line_dir(base + run, strlen(base + run));
    snprintf(dir, sizeof dir, "%.*s", (int)dl, base + run);
    if (ev_ix_load(path, elen) && dl && ev_dir_load(dir)) {
        size_t i = ev_ix_lower(base + run);
        if (i < ev_ix.n && !strcmp(EV_NAME(i), base + run))
            snprintf(buf, len, "%.*s%s%s", (int)run, path, EV_LOC(i), bl < strlen(path) ? path + bl : "");
    }
    pthread_mutex_unlock(&ev_ix_lock);
}

static int ev_ent_cmp(const void *a, const void *b)
{
    return strcmp((*(struct dirent *const *)a)->d_name, (*(struct dirent *const *)b)->d_name);
}

/* Append a copy of name to the list (unless it is the last one added): 0 or -1 (out of memory). */
static int ev_ent_add(struct dirent ***v, int *n, int *cap, const char *name, size_t nl)
{
    if (nl == 0 || nl >= sizeof((struct dirent *)0)->d_name)
        return 0;
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 64;
        struct dirent **w = realloc(*v, (size_t)c * sizeof *w);
        if (!w)
            return -1;
        *v = w;
        *cap = c;
    }
    struct dirent *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    memcpy(e->d_name, name, nl);
    e->d_name[nl] = '\0';
    (*v)[(*n)++] = e;
    return 0;
}

int tsr_evidence_scandir(const char *dir, struct dirent ***list, int (*filter)(const struct dirent *))
{
    *list = NULL;
    struct dirent **real = NULL;
    int nr = scandir(dir, &real, filter, alphasort);
    int err = nr < 0 ? errno : 0;
    size_t elen = ev_run_evidence(dir);
    if (!elen || (dir[elen] != '\0' && dir[elen] != '/')) {
        *list = real;
        errno = err;
        return nr;
    }
    struct dirent **v = NULL;
    int n = 0, cap = 0, bad = 0;
    pthread_mutex_lock(&ev_ix_lock);
    int have = ev_ix_load(dir, elen);
    /* the names under dir: RUN/evidence[/REST] -> "evidence[/REST]/" */
    char pre[4200];
    snprintf(pre, sizeof pre, "%s/", dir + elen - 8);
    size_t pl = strlen(pre);
    /* the folders below dir from the index's directory; the names in dir itself from its lines */
    int files_done = 0;
    for (size_t i = have ? ev_run_lower(pre) : 0; have && i < ev_ix.n_run && !bad; i++) {
        const char *nm = ev_ix.run[i].dir;
        if (strncmp(nm, pre, pl))
            break;
        if (nm[pl] == '\0') {
            if (files_done++)
                continue;
            if (!ev_dir_load(pre)) {
                bad = 1;
                break;
            }
            for (size_t k = 0; k < ev_ix.n && !bad; k++)
                bad = ev_ent_add(&v, &n, &cap, EV_NAME(k) + pl, strlen(EV_NAME(k) + pl)) != 0;
            continue;
        }
        const char *c = nm + pl, *sl = strchr(c, '/');
        size_t cl = sl ? (size_t)(sl - c) : strlen(c);
        if (n > 0 && strlen(v[n - 1]->d_name) == cl && !strncmp(v[n - 1]->d_name, c, cl))
            continue;
        bad = ev_ent_add(&v, &n, &cap, c, cl) != 0;
    }
    pthread_mutex_unlock(&ev_ix_lock);
    for (int i = 0; i < nr && !bad; i++) {
        const char *nm = real[i]->d_name;
        size_t l = strlen(nm);
        /* the run's own: the index, a session's folder of containers (sSSSS), staged outputs */
        int own = have && (!strcmp(nm, "index.tsv") || (l > 5 && !strcmp(nm + l - 5, ".pack")) ||
                           (l > 6 && !strcmp(nm + l - 6, ".stage")) ||
                           (l == 5 && nm[0] == 's' && strspn(nm + 1, "0123456789") == 4));
        if (!own)
            bad = ev_ent_add(&v, &n, &cap, nm, l) != 0;
    }
    for (int i = 0; i < nr; i++)
        free(real[i]);
    free(real);
    if (bad) {
        for (int i = 0; i < n; i++)
            free(v[i]);
        free(v);
        errno = ENOMEM;
        return -1;
    }
    if (n == 0 && nr < 0) {
        free(v);
        errno = err;
        return -1;
    }
    qsort(v, (size_t)n, sizeof *v, ev_ent_cmp);
    int u = 0; /* a unit both packed and on disk (a resumed run of the other layout) appears once */
    for (int i = 0; i < n; i++) {
        if (u > 0 && !strcmp(v[u - 1]->d_name, v[i]->d_name))
            free(v[i]);
        else
            v[u++] = v[i];
    }
    *list = v;
    return u;
}
