/*
 * region_reads.c - the usable reads of one sample over a region (see
 * region_reads_internal.h). Overlapping mates: the first of a pair to start
 * records its end under the read name; the second, when it arrives, gets that
 * end as skip_before and the entry is dropped, so a base covered by both
 * mates is counted once (from the first).
 */
#include "io/io.h"
#include "kernels/region_reads_internal.h"

#include <htslib/khash.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

KHASH_MAP_INIT_STR(tsr_rr_mate, int64_t)

/*
 * A slot holds one file's reader: idle (in != NULL) between walks, busy (in == NULL) during one. The file's
 * identity (device, inode, size, modification time) is recorded when the slot is taken for it and compared
 * with the file at its first use after each tsr_region_readers_recheck() (a call task's start), so a reader
 * kept across tasks is never used for a file rewritten since (it is closed and the file reopened).
 */
typedef struct tsr_rr_slot {
    char *path;               /* NULL: free */
    tsr_aln_reader_t *in;     /* its reader while idle, NULL while a walk holds it */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    unsigned long long used;  /* for choosing the least recently used idle slot */
    int checked;              /* the identity was compared with the file since the last recheck */
} tsr_rr_slot_t;

struct tsr_region_readers {
    pthread_mutex_t lock;
    int n;
    unsigned long long clock;
    tsr_rr_slot_t *slot; /* n */
};

struct tsr_region_reads {
    tsr_region_readers_t *keep; /* where the reader goes back at close (NULL: closed) */
    int slot;
    char *path;
    int min_mapq;
    tsr_aln_reader_t *in; /* io's aligned reader: file, index and CRAM reference */
    bam1_t *b;
    khash_t(tsr_rr_mate) *mates;
    tsr_status_t status; /* of the last failed tsr_region_reads_next() */
};

tsr_status_t tsr_region_readers_create(int n, tsr_region_readers_t **out)
{
    *out = NULL;
    tsr_region_readers_t *rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->slot = calloc((size_t)n + 1, sizeof *rs->slot)) || pthread_mutex_init(&rs->lock, NULL) != 0) {
        if (rs)
            free(rs->slot);
        free(rs);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory keeping %d readers", n);
    }
    rs->n = n;
    *out = rs;
    return TSR_OK;
}

/* Close a slot's reader and free the slot (the caller holds the lock, or is the last user). */
static void tsr_rr_slot_free(tsr_rr_slot_t *sl)
{
    tsr_aln_reader_close(&sl->in);
    free(sl->path);
    memset(sl, 0, sizeof *sl);
}

void tsr_region_readers_destroy(tsr_region_readers_t **rsp)
{
    if (!rsp || !*rsp)
        return;
    tsr_region_readers_t *rs = *rsp;
    for (int i = 0; i < rs->n; i++)
        tsr_rr_slot_free(&rs->slot[i]);
    pthread_mutex_destroy(&rs->lock);
    free(rs->slot);
    free(rs);
    *rsp = NULL;
}

static int tsr_rr_same_file(const tsr_rr_slot_t *sl, const struct stat *st)
{
    return sl->dev == st->st_dev && sl->ino == st->st_ino && sl->size == st->st_size &&
           sl->mtime.tv_sec == st->st_mtim.tv_sec && sl->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

void tsr_region_readers_recheck(tsr_region_readers_t *rs)
{
    if (!rs)
        return;
    pthread_mutex_lock(&rs->lock);
    for (int i = 0; i < rs->n; i++)
        rs->slot[i].checked = 0;
    pthread_mutex_unlock(&rs->lock);
}

/*
 * The idle reader of `path` in rs when the file is still the one it was opened on (stat'ed once after each
 * tsr_region_readers_recheck()), else a slot reserved for it (a free one, or the least recently used idle
 * one, its reader closed): its slot, -1 when every slot is busy (or the file cannot be stat'ed: the open
 * that follows says why).
 */
static int tsr_region_readers_take(tsr_region_readers_t *rs, const char *path, tsr_aln_reader_t **in)
{
    int slot = -1, have_st = 0;
    *in = NULL;
    struct stat st;
    pthread_mutex_lock(&rs->lock);
    for (int i = 0; i < rs->n && slot < 0; i++) {
        tsr_rr_slot_t *sl = &rs->slot[i];
        if (!sl->path || !sl->in || strcmp(sl->path, path) != 0)
            continue;
        if (!sl->checked && !have_st && stat(path, &st) != 0)
            break;
        have_st |= !sl->checked;
        if (!sl->checked && !tsr_rr_same_file(sl, &st)) { /* rewritten since it was opened */
            tsr_rr_slot_free(sl);
            continue;
        }
        slot = i;
        sl->checked = 1;
        *in = sl->in;
        sl->in = NULL;
    }
    if (slot < 0 && !have_st && stat(path, &st) != 0) {
        pthread_mutex_unlock(&rs->lock);
        return -1;
    }
    for (int i = 0; i < rs->n && slot < 0; i++)
        if (!rs->slot[i].path)
            slot = i;
    if (slot < 0) { /* full: the least recently used idle reader makes room */
        for (int i = 0; i < rs->n; i++)
            if (rs->slot[i].in && (slot < 0 || rs->slot[i].used < rs->slot[slot].used))
                slot = i;
        if (slot >= 0)
            tsr_rr_slot_free(&rs->slot[slot]);
    }
    if (slot >= 0 && !*in) {
        tsr_rr_slot_t *sl = &rs->slot[slot];
        if (!(sl->path = strdup(path))) {
            slot = -1;
        } else {
            sl->dev = st.st_dev;
            sl->ino = st.st_ino;
            sl->size = st.st_size;
            sl->mtime = st.st_mtim;
            sl->checked = 1;
        }
    }
    if (slot >= 0)
        rs->slot[slot].used = ++rs->clock;
    pthread_mutex_unlock(&rs->lock);
    return slot;
}

tsr_status_t tsr_region_reads_open(const char *path, const char *ref_path, const char *contig, int64_t start,
                                   int64_t end, int min_mapq, tsr_region_readers_t *keep, tsr_region_reads_t **out)
{
    *out = NULL;
    tsr_region_reads_t *rr = calloc(1, sizeof *rr);
    if (!rr || !(rr->path = strdup(path)) || !(rr->b = bam_init1()) || !(rr->mates = kh_init(tsr_rr_mate))) {
        tsr_region_reads_close(&rr);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", path);
    }
    rr->min_mapq = min_mapq;
    rr->slot = keep ? tsr_region_readers_take(keep, path, &rr->in) : -1;
    rr->keep = rr->slot >= 0 ? keep : NULL;
    tsr_status_t s = rr->in ? TSR_OK : tsr_aln_reader_open(path, ref_path, &rr->in);
    if (s == TSR_OK)
        s = tsr_aln_reader_query(rr->in, contig, start, end);
    if (s != TSR_OK) {
        rr->status = s; /* not kept: its slot is freed */
        tsr_region_reads_close(&rr);
        return s;
    }
    *out = rr;
    return TSR_OK;
}

tsr_status_t tsr_region_reads_any(int n, const char *const *paths, const char *ref_path, const char *contig,
                                  int64_t start, int64_t end, tsr_region_readers_t *keep, int *any)
{
    *any = 0;
    for (int i = 0; i < n && !*any; i++) {
        tsr_region_reads_t *rr = NULL;
        TSR_CALL(tsr_region_reads_open(paths[i], ref_path, contig, start, end, 0, keep, &rr));
        *any = !tsr_aln_reader_none(rr->in);
        tsr_region_reads_close(&rr);
    }
    return TSR_OK;
}

int tsr_region_reads_next(tsr_region_reads_t *rr, bam1_t **out, int64_t *skip_before)
{
    const uint16_t skip = BAM_FUNMAP | BAM_FSECONDARY | BAM_FSUPPLEMENTARY | BAM_FQCFAIL | BAM_FDUP;
    bam1_t *b = rr->b;
    int r;
    while ((r = tsr_aln_reader_next(rr->in, b)) > 0) {
        if ((b->core.flag & skip) || b->core.qual < rr->min_mapq || b->core.n_cigar == 0)
            continue;
        int64_t rend = bam_endpos(b);
        *skip_before = INT64_MIN;
        const char *qn = bam_get_qname(b);
        khint_t k = kh_get(tsr_rr_mate, rr->mates, qn);
        if (k != kh_end(rr->mates)) {
            *skip_before = kh_val(rr->mates, k);
            free((char *)kh_key(rr->mates, k));
            kh_del(tsr_rr_mate, rr->mates, k);
        } else if ((b->core.flag & BAM_FPAIRED) && !(b->core.flag & BAM_FMUNMAP) && b->core.mtid == b->core.tid &&
                   b->core.mpos >= b->core.pos && b->core.mpos < rend) {
            char *key = strdup(qn);
            int ret = 0;
            k = key ? kh_put(tsr_rr_mate, rr->mates, key, &ret) : 0;
            if (!key || ret < 0) {
                free(key);
                rr->status = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", rr->path);
                return -2;
            }
            if (ret == 0)
                free(key); /* a third record of the same name: keep the first entry */
            kh_val(rr->mates, k) = rend;
        }
        *out = b;
        return 1;
    }
    if (r < 0) {
        rr->status = TSR_ERR_FORMAT; /* the reader named the file and region */
        return -2;
    }
    return 0;
}

tsr_status_t tsr_region_reads_status(const tsr_region_reads_t *rr)
{
    return rr->status;
}

void tsr_region_reads_close(tsr_region_reads_t **rrp)
{
    if (!rrp || !*rrp)
        return;
    tsr_region_reads_t *rr = *rrp;
    if (rr->mates) {
        for (khint_t k = kh_begin(rr->mates); k != kh_end(rr->mates); k++)
            if (kh_exist(rr->mates, k))
                free((char *)kh_key(rr->mates, k));
        kh_destroy(tsr_rr_mate, rr->mates);
    }
    if (rr->keep && rr->status == TSR_OK && rr->in) { /* back to its slot for the next region */
        pthread_mutex_lock(&rr->keep->lock);
        rr->keep->slot[rr->slot].in = rr->in;
        pthread_mutex_unlock(&rr->keep->lock);
        rr->in = NULL;
    } else if (rr->keep) { /* failed: the slot is freed, the reader closed */
        pthread_mutex_lock(&rr->keep->lock);
        tsr_rr_slot_free(&rr->keep->slot[rr->slot]);
        pthread_mutex_unlock(&rr->keep->lock);
    }
    tsr_aln_reader_close(&rr->in);
    bam_destroy1(rr->b);
    free(rr->path);
    free(rr);
    *rrp = NULL;
}
