/*
 * callable_mask.c - the callable mask of a federated aggregate export: where
 * a run's samples were callable, as the number of callable samples per
 * population, never which samples.
 *
 * Definition (the one `tessera merge` relies on): sample j is callable at
 * 0-based position p when its gVCF (`tessera export --gvcf`) has a record
 * there: p lies in one of its reference-confidence blocks [start, end) or p
 * is the position of a candidate site where it has reads (DP > 0). A site
 * that a call set does not carry is hom-ref for exactly these samples: the
 * reference blocks are the evidence that they carry no other allele.
 *
 * The file is BGZF-compressed text: one header line
 * "#CHROM<TAB>START<TAB>END<TAB>pop1<TAB>pop2..." (populations in the sheet's
 * sorted order), then BED-style intervals, 0-based half-open, in the
 * partitions' genome order, each with its count per population; adjacent
 * positions with the same counts are one interval and positions where no
 * sample is callable have none. Its SHA-256 is over the uncompressed text.
 *
 * Memory: one region (a shard of the run) of int32 counts per population at
 * a time.
 */
#include "io/io.h"

#include <htslib/bgzf.h>
#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mask_out {
    BGZF *fp;
    EVP_MD_CTX *md;
    const char *path;
    int n_pops;
    /* the interval not yet written (runs merge across region boundaries) */
    char *contig;
    int64_t start, end;
    int32_t *counts;
    int64_t n_written;
    /* the low-pass depth mask (tsr_depth_mask_write): ref_qual summed over (sample, partition) */
    int lowpass;
    double qual_sum;
    int64_t qual_n;
} mask_out_t;

static int mask_dir_filter(const struct dirent *e) { return e->d_name[0] != '.'; }

static tsr_status_t mask_emit(mask_out_t *m, const char *text, size_t n)
{
    if (bgzf_write(m->fp, text, n) != (ssize_t)n)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", m->path, strerror(errno));
    if (EVP_DigestUpdate(m->md, text, n) != 1)
        return tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 of '%s' failed", m->path);
    return TSR_OK;
}

static tsr_status_t mask_flush(mask_out_t *m)
{
    if (!m->contig || m->end <= m->start)
        return TSR_OK;
    char buf[64];
    tsr_str_t line = {0};
    int bad = tsr_str_putn(&line, m->contig, strlen(m->contig)) != 0;
    snprintf(buf, sizeof buf, "\t%" PRId64 "\t%" PRId64, m->start, m->end);
    bad |= tsr_str_putn(&line, buf, strlen(buf)) != 0;
    for (int p = 0; p < m->n_pops && !bad; p++) {
        snprintf(buf, sizeof buf, "\t%" PRId32, m->counts[p]);
        bad |= tsr_str_putn(&line, buf, strlen(buf)) != 0;
    }
    bad |= tsr_str_putn(&line, "\n", 1) != 0;
    tsr_status_t s = bad ? tsr_error_set(TSR_ERR_NOMEM, "out of memory writing '%s'", m->path)
                         : mask_emit(m, line.s, line.l);
    tsr_str_free(&line);
    m->n_written++;
    m->start = m->end;
    return s;
}

/* Add position run [a, b) with per-population counts c (all zero: a gap). */
static tsr_status_t mask_add_run(mask_out_t *m, const char *contig, int64_t a, int64_t b, const int32_t *c)
{
    int zero = 1;
    for (int p = 0; p < m->n_pops; p++)
        zero &= c[p] == 0;
    int same = m->contig && !strcmp(m->contig, contig) && m->end == a && m->end > m->start &&
               !memcmp(m->counts, c, sizeof *c * (size_t)m->n_pops);
    if (same) {
        m->end = b;
        return TSR_OK;
    }
    TSR_CALL(mask_flush(m));
    if (zero) {
        m->start = m->end = b;
        return TSR_OK;
    }
    if (!m->contig || strcmp(m->contig, contig)) {
        free(m->contig);
        if (!(m->contig = strdup(contig)))
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing '%s'", m->path);
    }
    m->start = a;
    m->end = b;
    memcpy(m->counts, c, sizeof *c * (size_t)m->n_pops);
    return TSR_OK;
}

static int mask_pop_of(const tsr_sheet_t *sheet, const char *id)
{
    for (int i = 0; i < sheet->n_samples; i++)
        if (!strcmp(sheet->samples[i].id, id))
            return sheet->sample_pop[i];
    return -1;
}

/* Add sample j's callable positions of one partition to diff[(pos - start) * n_pops + pop]. */
static void mask_add_sample(const tsr_evidence_t *ev, int j, int pop, int n_pops, int64_t *b, int32_t *diff)
{
    int64_t len = ev->end - ev->start, i = 0, cur_a = -1, cur_b = -1;
    while (*b < ev->n_blocks && ev->block_sample[*b] < j)
        (*b)++;
    for (;;) {
        int have_b = *b < ev->n_blocks && ev->block_sample[*b] == j;
        while (i < ev->n_sites && ev->dp[i * ev->n_samples + j] <= 0)
            i++;
        int64_t a, e;
        if (have_b && (i >= ev->n_sites || ev->block_start[*b] <= ev->pos[i])) {
            a = ev->block_start[*b];
            e = ev->block_end[*b];
            (*b)++;
        } else if (i < ev->n_sites) {
            a = ev->pos[i];
            e = a + 1;
            i++;
        } else {
            break;
        }
        a = a < ev->start ? ev->start : a;
        e = e > ev->end ? ev->end : e;
        if (e <= a)
            continue;
        if (cur_b >= a) { /* overlapping or adjacent: one run */
            if (e > cur_b)
                cur_b = e;
            continue;
        }
        if (cur_b > cur_a) {
            diff[(cur_a - ev->start) * n_pops + pop]++;
            diff[(cur_b - ev->start) * n_pops + pop]--;
        }
        cur_a = a;
        cur_b = e;
    }
    if (cur_b > cur_a) {
        diff[(cur_a - ev->start) * n_pops + pop]++;
        diff[(cur_b - ev->start) * n_pops + pop]--;
    }
    (void)len;
}

/*
 * The path of batch file `name` of unit folder rdir, with "#member" for a packed unit's member (member >= 0),
 * into *path (malloc'ed); *path stays NULL for a name that is not an .h5 file (TSR_OK) or when out of memory.
 */
static tsr_status_t mask_batch_path(const char *rdir, const char *name, int member, char **path)
{
    *path = NULL;
    size_t l = strlen(name);
    if (l < 4 || strcmp(name + l - 3, ".h5") != 0)
        return TSR_OK;
    char *file = tsr_path_join(rdir, name);
    size_t pl = file ? strlen(file) + 16 : 0;
    if (file && (*path = malloc(pl)))
        snprintf(*path, pl, member >= 0 ? "%s#%d" : "%s", file, member);
    free(file);
    return *path ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory for the masks of %s", rdir);
}

/*
 * Every batch of one region: the batch files of its unit directory (`files`), or their member `member`
 * when the unit is packed (member < 0: whole files).
 */
static tsr_status_t mask_region(mask_out_t *m, const tsr_sheet_t *sheet, const char *rdir, struct dirent **files,
                                int nf, int member)
{
    tsr_status_t s = TSR_OK;
    int32_t *diff = NULL, *run = NULL;
    char *contig = NULL;
    int64_t start = 0, end = 0;
    int n_pops = m->n_pops;
    for (int f = 0; f < nf && s == TSR_OK; f++) {
        char *path = NULL;
        s = mask_batch_path(rdir, files[f]->d_name, member, &path);
        if (!path)
            continue;
        tsr_evidence_t *ev = NULL;
        char at[8300]; /* in an evidence container, its location (tsr_evidence_resolve) */
        tsr_evidence_resolve(path, at, sizeof at);
        s = tsr_partition_read(at, &ev);
        if (s != TSR_OK) {
            free(path);
            break;
        }
        if (!diff) {
            start = ev->start;
            end = ev->end;
            contig = strdup(ev->contig);
            diff = calloc((size_t)(end - start + 1) * (size_t)n_pops, sizeof *diff);
            if (!contig || !diff)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for the callable mask of %s", rdir);
        } else if (strcmp(contig, ev->contig) || start != ev->start || end != ev->end) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s covers %s:%" PRId64 "-%" PRId64 ", not its region's %s:%" PRId64
                              "-%" PRId64 " (partitions from another run?)", path, ev->contig, ev->start + 1,
                              ev->end, contig, start + 1, end);
        }
        int64_t b = 0;
        for (int j = 0; j < ev->n_samples && s == TSR_OK; j++) {
            int pop = mask_pop_of(sheet, ev->sample_ids[j]);
            if (pop < 0)
                s = tsr_error_set(TSR_ERR_FORMAT, "%s holds a sample that is not in the run's sample sheet "
                                  "(partitions from another run?)", path);
            else
                mask_add_sample(ev, j, pop, n_pops, &b, diff);
        }
        tsr_evidence_destroy(&ev);
        free(path);
    }
    if (s == TSR_OK && diff) {
        if (!(run = calloc((size_t)n_pops, sizeof *run)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for the callable mask of %s", rdir);
        int64_t a = start;
        for (int64_t p = start; p < end && s == TSR_OK; p++) {
            const int32_t *d = diff + (p - start) * n_pops;
            int change = 0;
            for (int k = 0; k < n_pops; k++)
                change |= d[k] != 0;
            if (!change)
                continue;
            if (p > a)
                s = mask_add_run(m, contig, a, p, run);
            for (int k = 0; k < n_pops; k++)
                run[k] += d[k];
            a = p;
        }
        if (s == TSR_OK && end > a)
            s = mask_add_run(m, contig, a, end, run);
    }
    free(run);
    free(diff);
    free(contig);
    return s;
}

/*
 * Low-pass: every batch of one region (as mask_region) into per-window depth histograms, one line per
 * window with coverage: "CONTIG START END" and, per population, TSR_LP_DEPTH_BINS counts of (sample,
 * base) pairs at depth 1 .. TSR_LP_DEPTH_BINS (the last: or more).
 */
static tsr_status_t lp_mask_region(mask_out_t *m, const tsr_sheet_t *sheet, const char *rdir, struct dirent **files,
                                   int nf, int member)
{
    const int D = TSR_LP_DEPTH_BINS, W = TSR_LP_DEPTH_WINDOW, np = m->n_pops;
    tsr_status_t s = TSR_OK;
    int32_t *hist = NULL;
    char *contig = NULL;
    int64_t start = 0, end = 0, nw = 0;
    for (int f = 0; f < nf && s == TSR_OK; f++) {
        char *path = NULL;
        s = mask_batch_path(rdir, files[f]->d_name, member, &path);
        if (!path)
            continue;
        tsr_lp_evidence_t *ev = NULL;
        char at[8300]; /* in an evidence container, its location (tsr_evidence_resolve) */
        tsr_evidence_resolve(path, at, sizeof at);
        s = tsr_lp_partition_read(at, &ev);
        if (s != TSR_OK) {
            free(path);
            break;
        }
        if (!hist) {
            start = ev->start;
            end = ev->end;
            nw = (end - start + W - 1) / W;
            contig = strdup(ev->contig);
            hist = calloc((size_t)(nw + 1) * (size_t)np * (size_t)D, sizeof *hist);
            if (!contig || !hist)
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for the depth mask of %s", rdir);
        } else if (strcmp(contig, ev->contig) || start != ev->start || end != ev->end) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s covers %s:%" PRId64 "-%" PRId64 ", not its region's %s:%" PRId64
                              "-%" PRId64 " (partitions from another run?)", path, ev->contig, ev->start + 1,
                              ev->end, contig, start + 1, end);
        }
        int *pop = s == TSR_OK ? malloc(sizeof *pop * (size_t)(ev->n_samples + 1)) : NULL;
        if (s == TSR_OK && !pop)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for the depth mask of %s", rdir);
        for (int j = 0; j < ev->n_samples && s == TSR_OK; j++) {
            if ((pop[j] = mask_pop_of(sheet, ev->sample_ids[j])) < 0)
                s = tsr_error_set(TSR_ERR_FORMAT, "%s holds a sample that is not in the run's sample sheet "
                                  "(partitions from another run?)", path);
            else if (ev->ref_qual[j] > 0) {
                m->qual_sum += ev->ref_qual[j];
                m->qual_n++;
            }
        }
        for (int64_t r = 0; r < ev->n_runs && s == TSR_OK; r++) {
            int64_t a = ev->run_start[r] < start ? start : ev->run_start[r];
            int64_t b = ev->run_end[r] > end ? end : ev->run_end[r];
            int k = ev->run_depth[r] > D ? D : ev->run_depth[r];
            int p = pop[ev->run_sample[r]];
            while (a < b) { /* split at window boundaries */
                int64_t w = (a - start) / W, we = start + (w + 1) * W;
                int64_t e = b < we ? b : we;
                hist[((size_t)w * (size_t)np + (size_t)p) * (size_t)D + (size_t)(k - 1)] += (int32_t)(e - a);
                a = e;
            }
        }
        free(pop);
        tsr_lp_evidence_destroy(&ev);
        free(path);
    }
    tsr_str_t line = {0};
    char buf[64];
    for (int64_t w = 0; w < nw && s == TSR_OK; w++) {
        const int32_t *h = hist + (size_t)w * (size_t)np * (size_t)D;
        int any = 0;
        for (int k = 0; k < np * D; k++)
            any |= h[k] != 0;
        if (!any)
            continue;
        int64_t a = start + w * W, b = a + W < end ? a + W : end;
        line.l = 0;
        snprintf(buf, sizeof buf, "\t%" PRId64 "\t%" PRId64, a, b);
        int bad = tsr_str_putn(&line, contig, strlen(contig)) != 0 || tsr_str_putn(&line, buf, strlen(buf)) != 0;
        for (int k = 0; k < np * D && !bad; k++) {
            snprintf(buf, sizeof buf, "\t%" PRId32, h[k]);
            bad = tsr_str_putn(&line, buf, strlen(buf)) != 0;
        }
        bad = bad || tsr_str_putn(&line, "\n", 1) != 0;
        s = bad ? tsr_error_set(TSR_ERR_NOMEM, "out of memory writing '%s'", m->path) : mask_emit(m, line.s, line.l);
        m->n_written++;
    }
    tsr_str_free(&line);
    free(hist);
    free(contig);
    return s;
}

/* One unit directory (evidence/gGGGGG/U): its regions, a packed unit's members in order. */
static tsr_status_t mask_unit(mask_out_t *m, const tsr_sheet_t *sheet, const char *udir)
{
    struct dirent **files = NULL;
    int nf = tsr_evidence_scandir(udir, &files, mask_dir_filter);
    if (nf < 0)
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", udir, strerror(errno));
    tsr_status_t s = TSR_OK;
    int nm = 0;
    for (int f = 0; f < nf && s == TSR_OK; f++) {
        size_t l = strlen(files[f]->d_name);
        if (l < 4 || strcmp(files[f]->d_name + l - 3, ".h5") != 0)
            continue;
        char *path = tsr_path_join(udir, files[f]->d_name);
        char at[8300];
        if (path)
            tsr_evidence_resolve(path, at, sizeof at);
        s = path ? tsr_partition_members(at, &nm) : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        free(path);
        break;
    }
    for (int k = 0; k < (nm > 0 ? nm : 1) && s == TSR_OK; k++)
        s = m->lowpass ? lp_mask_region(m, sheet, udir, files, nf, nm > 0 ? k : -1)
                       : mask_region(m, sheet, udir, files, nf, nm > 0 ? k : -1);
    for (int f = 0; f < nf; f++)
        free(files[f]);
    free(files);
    return s;
}

static tsr_status_t mask_write(const char *run_dir, const tsr_sheet_t *sheet, const char *path, char sha[72],
                               int64_t *n_intervals, double *ref_qual)
{
    char edir[4200];
    snprintf(edir, sizeof edir, "%s/evidence", run_dir);
    struct dirent **regions = NULL;
    int nr = tsr_evidence_scandir(edir, &regions, mask_dir_filter);
    if (nr < 0)
        return tsr_error_set(TSR_ERR_IO, "%s: cannot read the evidence partitions (%s); the callable mask comes "
                             "from them: export from a finished deep-mode run directory", edir, strerror(errno));
    mask_out_t m;
    memset(&m, 0, sizeof m);
    m.path = path;
    m.n_pops = sheet->n_populations;
    m.lowpass = ref_qual != NULL;
    tsr_status_t s = TSR_OK;
    m.counts = calloc((size_t)m.n_pops + 1, sizeof *m.counts);
    m.md = EVP_MD_CTX_new();
    if (!m.counts || !m.md || EVP_DigestInit_ex(m.md, EVP_sha256(), NULL) != 1)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory starting the callable mask");
    if (s == TSR_OK && !(m.fp = bgzf_open(path, "w")))
        s = tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    if (s == TSR_OK) {
        tsr_str_t h = {0};
        int bad = tsr_str_putn(&h, "#CHROM\tSTART\tEND", 16) != 0;
        for (int p = 0; p < m.n_pops; p++)
            for (int k = 1; k <= (m.lowpass ? TSR_LP_DEPTH_BINS : 1); k++) {
                char col[32] = "";
                if (m.lowpass)
                    snprintf(col, sizeof col, ":%d", k);
                bad |= tsr_str_putn(&h, "\t", 1) != 0 ||
                       tsr_str_putn(&h, sheet->populations[p], strlen(sheet->populations[p])) != 0 ||
                       tsr_str_putn(&h, col, strlen(col)) != 0;
            }
        bad |= tsr_str_putn(&h, "\n", 1) != 0;
        s = bad ? tsr_error_set(TSR_ERR_NOMEM, "out of memory writing '%s'", path) : mask_emit(&m, h.s, h.l);
        tsr_str_free(&h);
    }
    /* evidence/gGGGGG/U/bK.h5: fixed-width names, so name order is genome order */
    for (int r = 0; r < nr && s == TSR_OK; r++) {
        char *gdir = tsr_path_join(edir, regions[r]->d_name);
        struct dirent **units = NULL;
        int nu = gdir ? tsr_evidence_scandir(gdir, &units, mask_dir_filter) : -1;
        if (!gdir)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        else if (nu < 0)
            s = tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", gdir, strerror(errno));
        for (int u = 0; u < nu && s == TSR_OK; u++) {
            char *udir = tsr_path_join(gdir, units[u]->d_name);
            s = udir ? mask_unit(&m, sheet, udir) : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            free(udir);
        }
        for (int u = 0; u < nu; u++)
            free(units[u]);
        free(units);
        free(gdir);
    }
    if (s == TSR_OK)
        s = mask_flush(&m);
    if (m.fp && bgzf_close(m.fp) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot finish '%s': %s", path, strerror(errno));
    unsigned char d[32];
    unsigned int dl = 0;
    if (s == TSR_OK && (EVP_DigestFinal_ex(m.md, d, &dl) != 1 || dl != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 of '%s' failed", path);
    if (s == TSR_OK) {
        int k = snprintf(sha, 72, "sha256:");
        for (int i = 0; i < 32; i++)
            k += snprintf(sha + k, 72 - (size_t)k, "%02x", d[i]);
        *n_intervals = m.n_written;
        if (ref_qual)
            *ref_qual = m.qual_n ? m.qual_sum / (double)m.qual_n : 0;
    }
    EVP_MD_CTX_free(m.md);
    free(m.counts);
    free(m.contig);
    for (int r = 0; r < nr; r++)
        free(regions[r]);
    free(regions);
    return s;
}

tsr_status_t tsr_callable_mask_write(const char *run_dir, const tsr_sheet_t *sheet, const char *path,
                                     char sha[72], int64_t *n_intervals)
{
    return mask_write(run_dir, sheet, path, sha, n_intervals, NULL);
}

tsr_status_t tsr_depth_mask_write(const char *run_dir, const tsr_sheet_t *sheet, const char *path, char sha[72],
                                  int64_t *n_intervals, double *ref_qual)
{
    return mask_write(run_dir, sheet, path, sha, n_intervals, ref_qual);
}
