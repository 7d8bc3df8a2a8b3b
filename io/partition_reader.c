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

#include <stdlib.h>
#include <string.h>

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
