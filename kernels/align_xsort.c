/*
 * align_xsort.c - the align kernel's external sort: variable-length records
 * (the duplicate signatures and marks of align_dups.c) sorted in memory up
 * to a byte cap, spilled as sorted runs to files, and read back through a
 * k-way merge whose fan-in is bounded: with more runs than the fan-in, runs
 * are merged in passes of at most that many into longer runs first. Memory is
 * the cap plus one record buffer per open run. Ties between runs go to the
 * earlier run (records pushed earlier), so the order does not depend on the
 * cap beyond what the comparator leaves equal.
 *
 * A run file is a sequence of (uint32 length, payload) in sort order. Records
 * in memory and handed to the comparator start 8-byte aligned.
 */
#include "kernels/align_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tsr_xs_cursor {
    FILE *fp;
    char *buf; /* malloc'd: aligned for any payload */
    size_t len, cap;
    int id; /* the run's place in creation order: ties go to the smaller */
} tsr_xs_cursor_t;

struct tsr_align_xsort {
    char *dir, *tag;
    size_t cap;
    int fanin;
    int (*cmp)(const void *, const void *);
    /* in memory: records at 8-aligned offsets of arena, each preceded by its length (8 bytes) */
    char *arena;
    size_t n_arena, cap_arena;
    char **ptr;
    size_t n, cap_ptr;
    /* on disk */
    char **runs; /* paths, creation order */
    int n_runs, cap_runs, n_made, passes, n_spilled;
    /* reading */
    int reading, in_memory;
    size_t next_mem;
    tsr_xs_cursor_t *cur;
    tsr_xs_cursor_t **heap;
    int n_cur, n_heap, advance; /* advance: the heap top was handed out; read its next record first */
};

static size_t tsr_xs_pad(size_t n) { return (n + 7) & ~(size_t)7; }

tsr_status_t tsr_align_xsort_create(const char *dir, const char *tag, size_t cap, int fanin,
                                    int (*cmp)(const void *, const void *), tsr_align_xsort_t **xp)
{
    *xp = NULL;
    tsr_align_xsort_t *x = calloc(1, sizeof *x);
    if (!x || !(x->dir = strdup(dir)) || !(x->tag = strdup(tag))) {
        if (x)
            free(x->dir);
        free(x);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    x->cap = cap < 4096 ? 4096 : cap;
    x->fanin = fanin < 2 ? 2 : fanin;
    x->cmp = cmp;
    *xp = x;
    return TSR_OK;
}

/* qsort_r is not C11: a pointer sort via a small merge sort (stable, so equal records keep push order). */
static void tsr_xs_msort(char **v, char **tmp, size_t n, int (*cmp)(const void *, const void *))
{
    if (n < 2)
        return;
    size_t h = n / 2;
    tsr_xs_msort(v, tmp, h, cmp);
    tsr_xs_msort(v + h, tmp, n - h, cmp);
    if (cmp(v[h - 1], v[h]) <= 0)
        return;
    memcpy(tmp, v, h * sizeof *v);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        v[k++] = cmp(v[j], tmp[i]) < 0 ? v[j++] : tmp[i++];
    while (i < h)
        v[k++] = tmp[i++];
}

static tsr_status_t tsr_xs_sort_mem(tsr_align_xsort_t *x)
{
    if (x->n < 2)
        return TSR_OK;
    char **tmp = malloc((x->n / 2 + 1) * sizeof *tmp);
    if (!tmp)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory sorting duplicate signatures");
    tsr_xs_msort(x->ptr, tmp, x->n, x->cmp);
    free(tmp);
    return TSR_OK;
}

static tsr_status_t tsr_xs_new_run(tsr_align_xsort_t *x, FILE **fp)
{
    if (x->n_runs == x->cap_runs) {
        int nc = x->cap_runs ? 2 * x->cap_runs : 16;
        char **nr = realloc(x->runs, (size_t)nc * sizeof *nr);
        if (!nr)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        x->runs = nr;
        x->cap_runs = nc;
    }
    size_t l = strlen(x->dir) + strlen(x->tag) + 32;
    char *p = malloc(l);
    if (!p)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    snprintf(p, l, "%s/%s.%d.tmp", x->dir, x->tag, x->n_made++);
    if (!(*fp = fopen(p, "wb"))) {
        tsr_status_t s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; check the output directory", p,
                                       strerror(errno));
        free(p);
        return s;
    }
    x->runs[x->n_runs++] = p;
    return TSR_OK;
}

static tsr_status_t tsr_xs_close_run(tsr_align_xsort_t *x, FILE *fp)
{
    int bad = ferror(fp);
    bad |= fclose(fp) != 0;
    if (bad)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s; free space (or raise the quota) and rerun",
                             x->runs[x->n_runs - 1], tsr_write_failure_reason(x->runs[x->n_runs - 1], errno));
    return TSR_OK;
}

static int tsr_xs_put(FILE *fp, const char *rec, size_t len)
{
    uint32_t l = (uint32_t)len;
    return fwrite(&l, sizeof l, 1, fp) == 1 && (len == 0 || fwrite(rec, 1, len, fp) == len) ? 0 : -1;
}

/* The records in memory, sorted, become a run on disk. */
static tsr_status_t tsr_xs_spill(tsr_align_xsort_t *x)
{
    TSR_CALL(tsr_xs_sort_mem(x));
    FILE *fp = NULL;
    TSR_CALL(tsr_xs_new_run(x, &fp));
    for (size_t i = 0; i < x->n; i++)
        if (tsr_xs_put(fp, x->ptr[i], (size_t) * (uint64_t *)(x->ptr[i] - 8)) < 0)
            break; /* the error flag is checked on close */
    x->n = 0;
    x->n_arena = 0;
    x->n_spilled++;
    return tsr_xs_close_run(x, fp);
}

tsr_status_t tsr_align_xsort_push(tsr_align_xsort_t *x, const void *rec, size_t len)
{
    size_t need = 8 + tsr_xs_pad(len);
    if (x->n > 0 && x->n_arena + need + (x->n + 1) * sizeof *x->ptr > x->cap)
        TSR_CALL(tsr_xs_spill(x));
    if (x->n_arena + need > x->cap_arena) {
        size_t nc = x->cap_arena ? x->cap_arena : 65536;
        while (nc < x->n_arena + need)
            nc *= 2;
        if (nc > x->cap + need && x->cap + need >= x->n_arena + need)
            nc = x->cap + need; /* the arena never much beyond the cap */
        /* the pointers move with the arena: rebase them */
        char *na = realloc(x->arena, nc);
        if (!na)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory sorting duplicate signatures");
        for (size_t i = 0; i < x->n; i++)
            x->ptr[i] = na + (x->ptr[i] - x->arena);
        x->arena = na;
        x->cap_arena = nc;
    }
    if (x->n == x->cap_ptr) {
        size_t nc = x->cap_ptr ? 2 * x->cap_ptr : 1024;
        char **np = realloc(x->ptr, nc * sizeof *np);
        if (!np)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory sorting duplicate signatures");
        x->ptr = np;
        x->cap_ptr = nc;
    }
    char *p = x->arena + x->n_arena;
    *(uint64_t *)p = len;
    memcpy(p + 8, rec, len);
    x->ptr[x->n++] = p + 8;
    x->n_arena += need;
    return TSR_OK;
}

/* Read a cursor's next record: 1 read, 0 end, -1 damaged. */
static int tsr_xs_read(tsr_xs_cursor_t *c)
{
    uint32_t l;
    size_t got = fread(&l, 1, sizeof l, c->fp);
    if (got == 0 && feof(c->fp))
        return 0;
    if (got != sizeof l)
        return -1;
    if (l > c->cap) {
        size_t nc = c->cap ? c->cap : 256;
        while (nc < l)
            nc *= 2;
        char *nb = realloc(c->buf, nc);
        if (!nb)
            return -1;
        c->buf = nb;
        c->cap = nc;
    }
    if (l > 0 && fread(c->buf, 1, l, c->fp) != l)
        return -1;
    c->len = l;
    return 1;
}

static int tsr_xs_less(const tsr_align_xsort_t *x, const tsr_xs_cursor_t *a, const tsr_xs_cursor_t *b)
{
    int c = x->cmp(a->buf, b->buf);
    return c ? c < 0 : a->id < b->id;
}

static void tsr_xs_down(tsr_align_xsort_t *x, int i)
{
    tsr_xs_cursor_t **h = x->heap;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < x->n_heap && tsr_xs_less(x, h[l], h[m]))
            m = l;
        if (r < x->n_heap && tsr_xs_less(x, h[r], h[m]))
            m = r;
        if (m == i)
            return;
        tsr_xs_cursor_t *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void tsr_xs_close_cursors(tsr_align_xsort_t *x)
{
    for (int i = 0; i < x->n_cur; i++) {
        if (x->cur[i].fp)
            fclose(x->cur[i].fp);
        free(x->cur[i].buf);
    }
    free(x->cur);
    free(x->heap);
    x->cur = NULL;
    x->heap = NULL;
    x->n_cur = x->n_heap = x->advance = 0;
}

/* Open cursors on runs [first, first + n) and fill the heap. */
static tsr_status_t tsr_xs_open(tsr_align_xsort_t *x, int first, int n)
{
    x->cur = calloc((size_t)n, sizeof *x->cur);
    x->heap = calloc((size_t)n, sizeof *x->heap);
    if (!x->cur || !x->heap)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    x->n_cur = n;
    for (int i = 0; i < n; i++) {
        tsr_xs_cursor_t *c = &x->cur[i];
        c->id = i;
        const char *path = x->runs[first + i];
        if (!(c->fp = fopen(path, "rb")))
            return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        int rc = tsr_xs_read(c);
        if (rc < 0)
            return tsr_error_set(TSR_ERR_FORMAT, "'%s' is damaged (a spilled sort run); rerun", path);
        if (rc > 0)
            x->heap[x->n_heap++] = c;
    }
    for (int i = x->n_heap / 2 - 1; i >= 0; i--)
        tsr_xs_down(x, i);
    return TSR_OK;
}

/* The heap's next record (valid until the next call): 1, 0 at the end, < 0 error (set). */
static int tsr_xs_heap_next(tsr_align_xsort_t *x, const void **rec, size_t *len)
{
    if (x->advance) {
        x->advance = 0;
        tsr_xs_cursor_t *c = x->heap[0];
        int rc = tsr_xs_read(c);
        if (rc < 0) {
            tsr_error_set(TSR_ERR_FORMAT, "a spilled sort run in '%s' is damaged; rerun", x->dir);
            return -2;
        }
        if (rc == 0)
            x->heap[0] = x->heap[--x->n_heap];
        tsr_xs_down(x, 0);
    }
    if (x->n_heap == 0)
        return 0;
    *rec = x->heap[0]->buf;
    *len = x->heap[0]->len;
    x->advance = 1;
    return 1;
}

static void tsr_xs_unlink_runs(tsr_align_xsort_t *x, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        unlink(x->runs[i]);
        free(x->runs[i]);
        x->runs[i] = NULL;
    }
}

/* Move a run's path to the end of the list (a run left alone by a pass keeps its place in the order). */
static tsr_status_t tsr_xs_move_last(tsr_align_xsort_t *x, int i)
{
    if (x->n_runs == x->cap_runs) {
        int nc = 2 * x->cap_runs;
        char **nr = realloc(x->runs, (size_t)nc * sizeof *nr);
        if (!nr)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        x->runs = nr;
        x->cap_runs = nc;
    }
    x->runs[x->n_runs++] = x->runs[i];
    x->runs[i] = NULL;
    return TSR_OK;
}

/* Merge runs [g, g + n) into a new run at the end of the list and delete them. */
static tsr_status_t tsr_xs_merge_group(tsr_align_xsort_t *x, int g, int n)
{
    tsr_status_t s = tsr_xs_open(x, g, n);
    FILE *fp = NULL;
    if (s == TSR_OK)
        s = tsr_xs_new_run(x, &fp);
    const void *rec;
    size_t len;
    int rc = 0;
    while (s == TSR_OK && (rc = tsr_xs_heap_next(x, &rec, &len)) > 0)
        if (tsr_xs_put(fp, rec, len) < 0)
            break; /* the error flag is checked on close */
    if (s == TSR_OK && rc < 0)
        s = TSR_ERR_FORMAT;
    tsr_xs_close_cursors(x);
    if (fp) {
        tsr_status_t s2 = tsr_xs_close_run(x, fp);
        if (s == TSR_OK)
            s = s2;
    }
    if (s == TSR_OK)
        tsr_xs_unlink_runs(x, g, n);
    return s;
}

tsr_status_t tsr_align_xsort_finish(tsr_align_xsort_t *x)
{
    x->reading = 1;
    if (x->n_runs == 0) { /* it all fit: read straight from memory */
        x->in_memory = 1;
        return tsr_xs_sort_mem(x);
    }
    if (x->n > 0)
        TSR_CALL(tsr_xs_spill(x));
    free(x->arena);
    free(x->ptr);
    x->arena = NULL;
    x->ptr = NULL;
    x->n_arena = x->cap_arena = x->n = x->cap_ptr = 0;
    /* passes of at most fanin runs (consecutive, so ties keep push order) until one merge is left */
    int first = 0;
    while (x->n_runs - first > x->fanin) {
        int end = x->n_runs;
        for (int g = first; g < end; g += x->fanin) {
            int n = end - g < x->fanin ? end - g : x->fanin;
            TSR_CALL(n == 1 ? tsr_xs_move_last(x, g) : tsr_xs_merge_group(x, g, n));
        }
        first = end;
        x->passes++;
    }
    x->passes++; /* the final merge, read through tsr_align_xsort_next */
    return tsr_xs_open(x, first, x->n_runs - first);
}

int tsr_align_xsort_next(tsr_align_xsort_t *x, const void **rec, size_t *len)
{
    if (x->in_memory) {
        if (x->next_mem >= x->n)
            return 0;
        const char *p = x->ptr[x->next_mem++];
        *rec = p;
        *len = (size_t) * (const uint64_t *)(p - 8);
        return 1;
    }
    return tsr_xs_heap_next(x, rec, len);
}

int tsr_align_xsort_runs(const tsr_align_xsort_t *x) { return x->n_spilled; }
int tsr_align_xsort_passes(const tsr_align_xsort_t *x) { return x->passes; }

void tsr_align_xsort_destroy(tsr_align_xsort_t **xp)
{
    tsr_align_xsort_t *x = xp ? *xp : NULL;
    if (!x)
        return;
    tsr_xs_close_cursors(x);
    for (int i = 0; i < x->n_runs; i++)
        if (x->runs[i]) {
            unlink(x->runs[i]);
            free(x->runs[i]);
        }
    free(x->runs);
    free(x->arena);
    free(x->ptr);
    free(x->dir);
    free(x->tag);
    free(x);
    *xp = NULL;
}
