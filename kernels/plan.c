/*
 * plan.c - cut a cohort into fixed work units and build the task graph.
 *
 * Regions are fixed shards on a global grid (multiples of --shard-size from
 * each contig's start, clipped to the requested regions); batches are
 * consecutive runs of --batch-size samples in sheet order. Neither depends
 * on the number of ranks or threads, so every output is the same for any
 * layout. The fingerprint hashes everything that shapes the outputs, so a
 * rerun with other inputs or options is refused instead of mixing results.
 */
#include "kernels/kernels.h"

#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <htslib/sam.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define TSR_LOWPASS_MAX_DEPTH 2.0 /* --mode auto: lowpass below this median depth */

void tsr_run_opts_init(tsr_run_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->shard_size = 1000000;
    o->batch_size = 64;
    o->min_mapq = 20;
    o->min_baseq = 13;
    o->min_qual = 30.0;
    o->mode = "auto";
    o->grace_seconds = 60.0;
    o->align_chunk_pairs = 1000000;
}

tsr_status_t tsr_run_opts_check(const tsr_run_opts_t *o)
{
    if (!o->ref)
        return tsr_error_set(TSR_ERR_USAGE, "--ref FASTA is required");
    if (!o->samples)
        return tsr_error_set(TSR_ERR_USAGE, "--samples SHEET.tsv is required");
    if (!o->outdir)
        return tsr_error_set(TSR_ERR_USAGE, "--out DIR is required");
    if (o->shard_size < 1000)
        return tsr_error_set(TSR_ERR_USAGE, "--shard-size must be at least 1000 bp (got %lld)", (long long)o->shard_size);
    if (o->batch_size < 1)
        return tsr_error_set(TSR_ERR_USAGE, "--batch-size must be at least 1 (got %d)", o->batch_size);
    if (o->threads < 0)
        return tsr_error_set(TSR_ERR_USAGE, "--threads must be >= 0 (got %d)", o->threads);
    if (o->min_mapq < 0 || o->min_baseq < 0 || o->min_qual < 0)
        return tsr_error_set(TSR_ERR_USAGE, "--min-mapq, --min-baseq and --min-qual must be >= 0");
    if (strcmp(o->mode, "auto") && strcmp(o->mode, "deep") && strcmp(o->mode, "lowpass"))
        return tsr_error_set(TSR_ERR_USAGE, "--mode must be auto, deep or lowpass (got '%s')", o->mode);
    if (o->grace_seconds < 0)
        return tsr_error_set(TSR_ERR_USAGE, "--grace must be >= 0");
    if (o->align_chunk_pairs < 1)
        return tsr_error_set(TSR_ERR_USAGE, "--align-chunk must be at least 1 read pair (got %lld)",
                             (long long)o->align_chunk_pairs);
    return TSR_OK;
}

/* One requested interval before sharding. */
typedef struct tsr_interval {
    int contig;
    int64_t start, end;
} tsr_interval_t;

typedef struct tsr_ivec {
    tsr_interval_t *v;
    int n, cap;
} tsr_ivec_t;

static tsr_status_t tsr_ivec_push(tsr_ivec_t *iv, int contig, int64_t start, int64_t end)
{
    if (iv->n == iv->cap) {
        int cap = iv->cap ? iv->cap * 2 : 16;
        tsr_interval_t *v = realloc(iv->v, (size_t)cap * sizeof *v);
        if (!v)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory planning regions");
        iv->v = v;
        iv->cap = cap;
    }
    iv->v[iv->n++] = (tsr_interval_t){contig, start, end};
    return TSR_OK;
}

/* "chr", "chr:beg-end" or "chr:beg" (1-based, inclusive) */
static tsr_status_t tsr_parse_region(const tsr_ref_t *ref, const char *spec, const char *where, tsr_ivec_t *iv)
{
    char name[1024];
    snprintf(name, sizeof name, "%s", spec);
    int c = tsr_ref_contig_index(ref, name);
    if (c >= 0)
        return tsr_ivec_push(iv, c, 0, tsr_ref_contig_length(ref, c));
    char *colon = strrchr(name, ':');
    if (!colon)
        return tsr_error_set(TSR_ERR_USAGE, "%s: contig '%s' is not in the reference; check --regions", where, spec);
    *colon = '\0';
    c = tsr_ref_contig_index(ref, name);
    if (c < 0)
        return tsr_error_set(TSR_ERR_USAGE, "%s: contig '%s' is not in the reference; check --regions", where, name);
    char digits[256];
    size_t k = 0;
    for (const char *p = colon + 1; *p && k + 1 < sizeof digits; p++)
        if (*p != ',')
            digits[k++] = *p;
    digits[k] = '\0';
    char *e1 = NULL, *e2 = NULL;
    long long beg = strtoll(digits, &e1, 10), end = tsr_ref_contig_length(ref, c);
    if (e1 == digits || beg < 1)
        return tsr_error_set(TSR_ERR_USAGE, "%s: cannot read region '%s' (use chr, chr:beg-end, or a BED file)", where, spec);
    if (*e1 == '-') {
        end = strtoll(e1 + 1, &e2, 10);
        if (e2 == e1 + 1 || *e2)
            return tsr_error_set(TSR_ERR_USAGE, "%s: cannot read region '%s' (use chr:beg-end)", where, spec);
    } else if (*e1) {
        return tsr_error_set(TSR_ERR_USAGE, "%s: cannot read region '%s' (use chr:beg-end)", where, spec);
    }
    if (end > tsr_ref_contig_length(ref, c))
        end = tsr_ref_contig_length(ref, c);
    if (end < beg)
        return tsr_error_set(TSR_ERR_USAGE, "%s: region '%s' is empty", where, spec);
    return tsr_ivec_push(iv, c, beg - 1, end);
}

static tsr_status_t tsr_parse_bed(const tsr_ref_t *ref, const char *path, tsr_ivec_t *iv)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot read BED file '%s': %s", path, strerror(errno));
    char line[4096];
    int lineno = 0;
    tsr_status_t s = TSR_OK;
    while (s == TSR_OK && fgets(line, sizeof line, fp)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n' || !strncmp(line, "track", 5) || !strncmp(line, "browser", 7))
            continue;
        char chrom[1024];
        long long beg, end;
        if (sscanf(line, "%1023s %lld %lld", chrom, &beg, &end) != 3 || beg < 0 || end <= beg) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: expected 'chrom<TAB>start<TAB>end' with start < end", path, lineno);
            break;
        }
        int c = tsr_ref_contig_index(ref, chrom);
        if (c < 0) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: contig '%s' is not in the reference", path, lineno, chrom);
            break;
        }
        if (end > tsr_ref_contig_length(ref, c))
            end = tsr_ref_contig_length(ref, c);
        s = tsr_ivec_push(iv, c, beg, end);
    }
    fclose(fp);
    return s;
}

static int tsr_interval_cmp(const void *a, const void *b)
{
    const tsr_interval_t *x = a, *y = b;
    if (x->contig != y->contig)
        return x->contig - y->contig;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static tsr_status_t tsr_plan_regions(tsr_plan_t *plan, const tsr_ref_t *ref)
{
    tsr_ivec_t iv = {0};
    tsr_status_t s = TSR_OK;
    const char *spec = plan->opts.regions;
    struct stat st;
    if (!spec) {
        for (int c = 0; c < tsr_ref_n_contigs(ref) && s == TSR_OK; c++)
            s = tsr_ivec_push(&iv, c, 0, tsr_ref_contig_length(ref, c));
    } else if (stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
        s = tsr_parse_bed(ref, spec, &iv);
    } else {
        char *copy = strdup(spec);
        if (!copy)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        for (char *save = NULL, *tok = copy ? strtok_r(copy, " ", &save) : NULL; tok && s == TSR_OK;
             tok = strtok_r(NULL, " ", &save))
            s = tsr_parse_region(ref, tok, "--regions", &iv);
        free(copy);
    }
    if (s == TSR_OK && iv.n == 0)
        s = tsr_error_set(TSR_ERR_USAGE, "--regions selects nothing");
    if (s != TSR_OK) {
        free(iv.v);
        return s;
    }
    qsort(iv.v, (size_t)iv.n, sizeof *iv.v, tsr_interval_cmp);
    /* Merge overlaps, then cut on the global shard grid. */
    int m = 0;
    for (int i = 0; i < iv.n; i++) {
        if (m > 0 && iv.v[m - 1].contig == iv.v[i].contig && iv.v[i].start <= iv.v[m - 1].end) {
            if (iv.v[i].end > iv.v[m - 1].end)
                iv.v[m - 1].end = iv.v[i].end;
        } else {
            iv.v[m++] = iv.v[i];
        }
    }
    int64_t w = plan->opts.shard_size, n = 0;
    for (int i = 0; i < m; i++)
        n += (iv.v[i].end - 1) / w - iv.v[i].start / w + 1;
    plan->regions = calloc((size_t)n, sizeof *plan->regions);
    if (!plan->regions) {
        free(iv.v);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory planning %lld regions", (long long)n);
    }
    for (int i = 0; i < m; i++) {
        for (int64_t b = iv.v[i].start / w; b * w < iv.v[i].end; b++) {
            tsr_region_t *r = &plan->regions[plan->n_regions];
            r->contig = iv.v[i].contig;
            r->start = b * w > iv.v[i].start ? b * w : iv.v[i].start;
            r->end = (b + 1) * w < iv.v[i].end ? (b + 1) * w : iv.v[i].end;
            char safe[32];
            const char *cn = tsr_ref_contig_name(ref, r->contig);
            size_t k = 0;
            for (; cn[k] && k + 1 < sizeof safe; k++)
                safe[k] = (isalnum((unsigned char)cn[k]) || cn[k] == '.' || cn[k] == '-') ? cn[k] : '_';
            safe[k] = '\0';
            snprintf(r->name, sizeof r->name, "%05d_%s_%lld", plan->n_regions, safe, (long long)r->start + 1);
            plan->n_regions++;
        }
    }
    free(iv.v);
    return TSR_OK;
}

static uint32_t tsr_crc_file_or_zero(const char *path, uint32_t crc)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return crc;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        crc = (uint32_t)crc32(crc, buf, (uInt)n);
    fclose(fp);
    return crc;
}

static uint32_t tsr_crc_str(uint32_t crc, const char *s)
{
    return (uint32_t)crc32(crc, (const unsigned char *)s, (uInt)strlen(s) + 1);
}

static void tsr_plan_fingerprint(tsr_plan_t *plan)
{
    const tsr_run_opts_t *o = &plan->opts;
    if (o->add_fingerprint) { /* tessera add: the run's own, since the earlier parts' files may be gone */
        snprintf(plan->fingerprint, sizeof plan->fingerprint, "%s", o->add_fingerprint);
        return;
    }
    char buf[512], fai[4200];
    /* Two independent CRCs make a 64-bit fingerprint. */
    uint32_t a = (uint32_t)crc32(0L, Z_NULL, 0), b = 0x9e3779b9u;
    snprintf(buf, sizeof buf, "tessera-run-1 shard=%lld batch=%d mapq=%d baseq=%d qual=%g mode=%s k=%d.%d.%d.%d",
             (long long)o->shard_size, o->batch_size, o->min_mapq, o->min_baseq, o->min_qual, o->mode,
             tsr_kernel_align.version, tsr_kernel_call.version, tsr_kernel_joint.version, tsr_kernel_cohort.version);
    a = tsr_crc_str(a, buf);
    a = tsr_crc_str(a, o->regions ? o->regions : "");
    snprintf(buf, sizeof buf, "align-chunk=%lld lowpass=%d lpk=%d.%d", (long long)o->align_chunk_pairs, plan->lowpass,
             tsr_kernel_lowpass_evidence.version, tsr_kernel_lowpass_discover.version);
    a = tsr_crc_str(a, buf);
    snprintf(fai, sizeof fai, "%s.fai", o->ref);
    a = tsr_crc_file_or_zero(fai, a);
    a = tsr_crc_file_or_zero(o->samples, a);
    /* the run's own sheet only: parts added later (tessera add) grow the cohort under the same journal */
    for (int i = 0; i < plan->part_first[1]; i++) {
        const tsr_sample_t *s = &plan->sheet->samples[i];
        /* k: lane 0's files 0 and 1 and the aligned input 2 (a one-lane sheet's numbering), lane L's 2L+1, 2L+2 */
        for (int l = 0; l < (s->n_lanes > 1 ? s->n_lanes : 1); l++) {
            const char *paths[3] = {l < s->n_lanes ? s->lanes[l].fastq1 : NULL,
                                    l < s->n_lanes ? s->lanes[l].fastq2 : NULL, l == 0 ? s->bam : NULL};
            for (int k = 0; k < 3; k++) {
                struct stat st;
                if (paths[k] && stat(paths[k], &st) == 0) {
                    snprintf(buf, sizeof buf, "%d:%d:%lld", i, l == 0 ? k : 2 * l + 1 + k, (long long)st.st_size);
                    b = tsr_crc_str(b, buf);
                }
            }
        }
    }
    snprintf(plan->fingerprint, sizeof plan->fingerprint, "%08x%08x", a, b);
}

static int64_t tsr_file_size(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

/*
 * 1 when the file is gzip but not BGZF (no "BC" extra field in its first
 * member): a map task can enter it mid-stream only by inflating everything
 * before its chunk.
 */
static int tsr_plain_gzip(const char *path)
{
    unsigned char b[18];
    FILE *fp = path ? fopen(path, "rb") : NULL;
    size_t n = fp ? fread(b, 1, sizeof b, fp) : 0;
    if (fp)
        fclose(fp);
    if (n < 2 || b[0] != 0x1f || b[1] != 0x8b)
        return 0;
    return !(n == sizeof b && (b[3] & 4) && b[12] == 'B' && b[13] == 'C');
}

/* Bytes of a read-input sample's files, every lane. */
static double tsr_sample_read_bytes(const tsr_sample_t *smp)
{
    double bytes = 0;
    for (int l = 0; l < smp->n_lanes; l++)
        bytes += (double)(tsr_file_size(smp->lanes[l].fastq1) + tsr_file_size(smp->lanes[l].fastq2));
    return bytes;
}

/*
 * Map tasks per FASTQ sample, from the files' sizes alone (identical on every
 * rank): about one per chunk at TSR_ALIGN_EST_BYTES compressed bytes per read
 * pair (gzip'ed 2 x 150 bp). A wrong estimate costs balance, never results:
 * each slot takes a contiguous share of the chunks the index task finds.
 */
#define TSR_ALIGN_EST_BYTES 160
#define TSR_ALIGN_MAX_SLOTS 100000
/*
 * Map tasks of a sample with a plain-gzip file: map task k inflates k/K of
 * the file before its chunks, K/2 whole-file inflations in all (8 tasks on
 * 100,000 pairs: +12% CPU against BGZF input, kernels/README.md), so K stays
 * small; BGZF, BAM/CRAM and plain text are entered directly and are not capped.
 */
#define TSR_ALIGN_MAX_GZIP_SLOTS 8
static tsr_status_t tsr_plan_align_units(tsr_plan_t *plan)
{
    const tsr_sheet_t *sh = plan->sheet;
    plan->align_slots = calloc((size_t)sh->n_samples + 1, sizeof *plan->align_slots);
    if (!plan->align_slots)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < sh->n_samples; i++) {
        if (sh->samples[i].kind != TSR_INPUT_FASTQ)
            continue;
        const tsr_sample_t *smp = &sh->samples[i];
        double bytes = tsr_sample_read_bytes(smp);
        double k = bytes / ((double)plan->opts.align_chunk_pairs * TSR_ALIGN_EST_BYTES), cap = TSR_ALIGN_MAX_SLOTS;
        /* only a sample big enough for the gzip cap to matter has its files opened (every rank plans) */
        for (int l = 0; k > TSR_ALIGN_MAX_GZIP_SLOTS && l < smp->n_lanes; l++)
            if (tsr_plain_gzip(smp->lanes[l].fastq1) || tsr_plain_gzip(smp->lanes[l].fastq2))
                cap = TSR_ALIGN_MAX_GZIP_SLOTS;
        plan->align_slots[i] = k < 1 ? 1 : k > cap ? (int)cap : (int)(k + 0.999999);
    }
    return TSR_OK;
}

int64_t tsr_plan_align_arg(tsr_align_step_t step, int sample, int slot)
{
    return (int64_t)step << 56 | (int64_t)sample << 24 | (int64_t)slot;
}

void tsr_plan_align_unpack(int64_t arg, tsr_align_step_t *step, int *sample, int *slot)
{
    *step = (tsr_align_step_t)(arg >> 56);
    *sample = (int)((arg >> 24) & 0xffffffff);
    *slot = (int)(arg & 0xffffff);
}

void tsr_plan_align_chunks_path(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    snprintf(buf, len, "aln/%s.chunks.tsv", plan->sheet->samples[sample].id);
}

void tsr_plan_align_run_path(const tsr_plan_t *plan, int sample, int slot, const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "aln/%s.runs/c%05d.%s", plan->sheet->samples[sample].id, slot, ext);
}

void tsr_plan_align_qc_path(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    snprintf(buf, len, "aln/%s.qc.json", plan->sheet->samples[sample].id);
}

/*
 * Depth of one aligned input, cheaply: mapped reads from the index x the mean
 * length of its first 1,000 records / the summed length of the header's
 * contigs. -1 when the index has no counts (CRAM indexes do not).
 */
static double tsr_plan_bam_depth(const char *path)
{
    samFile *fp = sam_open(path, "r");
    if (!fp)
        return -1;
    sam_hdr_t *h = sam_hdr_read(fp);
    hts_idx_t *idx = h ? sam_index_load(fp, path) : NULL;
    bam1_t *b = bam_init1();
    double depth = -1;
    if (h && idx && b) {
        uint64_t mapped = 0, unmapped = 0, m, u;
        double reflen = 0, bases = 0;
        int have = 0;
        for (int t = 0; t < sam_hdr_nref(h); t++) {
            reflen += (double)sam_hdr_tid2len(h, t);
            if (hts_idx_get_stat(idx, t, &m, &u) == 0) {
                mapped += m;
                unmapped += u;
                have = 1;
            }
        }
        int n = 0;
        while (n < 1000 && sam_read1(fp, h, b) >= 0)
            if (!(b->core.flag & (BAM_FUNMAP | BAM_FSECONDARY | BAM_FSUPPLEMENTARY))) {
                bases += b->core.l_qseq;
                n++;
            }
        if (have && reflen > 0)
            depth = n ? (double)mapped * (bases / n) / reflen : 0;
    }
    bam_destroy1(b);
    if (idx)
        hts_idx_destroy(idx);
    if (h)
        sam_hdr_destroy(h);
    sam_close(fp);
    return depth;
}

static int tsr_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Resolve --mode: lowpass takes aligned inputs only; auto picks lowpass below a median depth of 2x. */
static tsr_status_t tsr_plan_mode(tsr_plan_t *plan)
{
    const tsr_sheet_t *sh = plan->sheet;
    plan->median_depth = -1;
    int n_fastq = 0, first_fastq = -1;
    for (int i = 0; i < sh->n_samples; i++)
        if (sh->samples[i].kind == TSR_INPUT_FASTQ && n_fastq++ == 0)
            first_fastq = i;
    if (!strcmp(plan->opts.mode, "deep"))
        return TSR_OK;
    if (!strcmp(plan->opts.mode, "lowpass")) {
        if (n_fastq)
            return tsr_error_set(TSR_ERR_USAGE, "--mode lowpass takes aligned BAM/CRAM inputs, but sample '%s' of %s "
                                 "lists FASTQ; align it first (or run --mode deep)", sh->samples[first_fastq].id,
                                 plan->opts.samples);
        plan->lowpass = 1;
        return TSR_OK;
    }
    if (n_fastq || sh->n_samples == 0)
        return TSR_OK;
    double *d = calloc((size_t)sh->n_samples, sizeof *d);
    if (!d)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    int n = 0;
    /* the run's own sheet decides, so an added part never flips the mode of an existing run */
    for (int i = 0; i < plan->part_first[1]; i++) {
        double x = tsr_plan_bam_depth(sh->samples[i].bam);
        if (x >= 0)
            d[n++] = x;
    }
    if (n > 0) {
        qsort(d, (size_t)n, sizeof *d, tsr_double_cmp);
        plan->median_depth = n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
        plan->lowpass = plan->median_depth < TSR_LOWPASS_MAX_DEPTH;
    }
    free(d);
    return TSR_OK;
}

/* Batches of opts.batch_size samples cut within each sheet part, so an added part never moves earlier ones. */
static tsr_status_t tsr_plan_cut_batches(tsr_plan_t *plan)
{
    int bs = plan->opts.batch_size, nb = 0;
    for (int p = 0; p < plan->n_parts; p++)
        nb += (plan->part_first[p + 1] - plan->part_first[p] + bs - 1) / bs;
    free(plan->batches);
    plan->n_batches = nb;
    plan->batches = calloc((size_t)nb + 1, sizeof *plan->batches);
    if (!plan->batches)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    int b = 0;
    for (int p = 0; p < plan->n_parts; p++)
        for (int first = plan->part_first[p], k = 0; first < plan->part_first[p + 1]; first += bs, k++, b++) {
            int left = plan->part_first[p + 1] - first;
            plan->batches[b] = (tsr_batch_t){.first = first, .n = left < bs ? left : bs, .part = p, .index = k};
        }
    return TSR_OK;
}

/* DIR/samples.d/NNNN.tsv (relative to outdir). */
static void tsr_plan_part_path(const char *outdir, int part, char *buf, size_t len)
{
    snprintf(buf, len, "%s/samples.d/%04d.tsv", outdir, part);
}

/*
 * The sheet parts: opts.samples, then every DIR/samples.d/NNNN.tsv from 0001 that exists (tessera add
 * wrote them), read as one cohort. part_first comes from reading each part's sample count.
 */
static tsr_status_t tsr_plan_sheet(tsr_plan_t *plan)
{
    int n = 1, cap = 8;
    char **paths = calloc((size_t)cap, sizeof *paths);
    tsr_status_t s = paths && (paths[0] = strdup(plan->opts.samples)) ? TSR_OK
                                                                      : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (;;) {
        if (s != TSR_OK)
            break;
        char p[4200];
        tsr_plan_part_path(plan->opts.outdir, n, p, sizeof p);
        if (access(p, F_OK) != 0)
            break;
        if (n == cap) {
            char **q = realloc(paths, (size_t)cap * 2 * sizeof *paths);
            if (!q) {
                s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
                break;
            }
            paths = q;
            cap *= 2;
        }
        if (!(paths[n] = strdup(p)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        n++;
    }
    plan->n_parts = n;
    int check_from = plan->opts.add_fingerprint ? n - 1 : 0;
    if (s == TSR_OK && !(plan->part_first = calloc((size_t)n + 1, sizeof *plan->part_first)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    /* each part's size: read the parts one more (they are small) */
    for (int p = 0; s == TSR_OK && p < n; p++) {
        tsr_sheet_t *one = NULL;
        s = tsr_sheet_create_from_parts(1, (const char *const *)&paths[p], p >= check_from ? 0 : 1, &one);
        if (s == TSR_OK)
            plan->part_first[p + 1] = plan->part_first[p] + one->n_samples;
        tsr_sheet_destroy(&one);
    }
    if (s == TSR_OK)
        s = tsr_sheet_create_from_parts(n, (const char *const *)paths, check_from, &plan->sheet);
    if (s == TSR_OK)
        plan->first_checked = plan->part_first[check_from];
    for (int p = 0; paths && p < n; p++)
        free(paths[p]);
    free(paths);
    return s;
}

/*
 * Low-pass batch size: --batch-size, lowered to fit --mem-per-rank (half of it
 * for the evidence of one batch: about shard_size / 4 bytes per sample for its
 * coverage runs and observations at <= 2x, plus 1 MiB of reader state) and to
 * RLIMIT_NOFILE less a margin of 32 descriptors for HDF5, MPI and logs (a
 * sample's file is open only while a thread reads it, so this is a bound, not
 * a need).
 */
static tsr_status_t tsr_plan_lowpass_batches(tsr_plan_t *plan)
{
    int bs = plan->opts.batch_size;
    if (plan->opts.mem_per_rank > 0) {
        double per = (double)plan->opts.shard_size / 4.0 + 1048576.0;
        double fit = (double)plan->opts.mem_per_rank / 2.0 / per;
        if (fit < bs)
            bs = fit < 1 ? 1 : (int)fit;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long cap = (long)rl.rlim_cur - 32;
        if (cap < 1)
            return tsr_error_set(TSR_ERR_USAGE, "ulimit -n is %ld: low-pass mode needs at least 33 open files",
                                 (long)rl.rlim_cur);
        if (bs > cap)
            bs = (int)cap;
    }
    if (bs == plan->opts.batch_size)
        return TSR_OK;
    plan->opts.batch_size = bs;
    return tsr_plan_cut_batches(plan);
}

tsr_status_t tsr_plan_create(const tsr_run_opts_t *o, tsr_plan_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_run_opts_check(o));
    tsr_plan_t *plan;
    TSR_ALLOC(plan, 1);
    plan->opts = *o;
    tsr_ref_t *ref = NULL;
    tsr_status_t s = tsr_plan_sheet(plan);
    if (s == TSR_OK)
        s = tsr_ref_open(o->ref, &ref);
    if (s == TSR_OK)
        s = tsr_plan_regions(plan, ref);
    if (s == TSR_OK)
        s = tsr_plan_cut_batches(plan);
    tsr_ref_close(&ref);
    if (s == TSR_OK)
        s = tsr_plan_mode(plan);
    if (s == TSR_OK && plan->lowpass)
        s = tsr_plan_lowpass_batches(plan);
    if (s == TSR_OK)
        s = tsr_plan_align_units(plan);
    if (s != TSR_OK) {
        tsr_plan_destroy(&plan);
        return s;
    }
    tsr_plan_fingerprint(plan);
    *out = plan;
    return TSR_OK;
}

void tsr_plan_destroy(tsr_plan_t **pp)
{
    if (!pp || !*pp)
        return;
    tsr_sheet_destroy(&(*pp)->sheet);
    free((*pp)->regions);
    free((*pp)->batches);
    free((*pp)->align_slots);
    free((*pp)->part_first);
    free(*pp);
    *pp = NULL;
}

tsr_status_t tsr_plan_path(const tsr_plan_t *plan, const char *rel, char *buf, size_t len)
{
    int n = rel[0] == '/' ? snprintf(buf, len, "%s", rel) : snprintf(buf, len, "%s/%s", plan->opts.outdir, rel);
    if (n < 0 || (size_t)n >= len)
        return tsr_error_set(TSR_ERR_IO, "path too long: %s/%s", plan->opts.outdir, rel);
    return TSR_OK;
}

tsr_status_t tsr_plan_output_path(const tsr_plan_t *plan, const char *rel, char *buf, size_t len)
{
    TSR_CALL(tsr_plan_path(plan, rel, buf, len));
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", buf) >= (int)sizeof dir)
        return tsr_error_set(TSR_ERR_IO, "path too long: %s", buf);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return TSR_OK;
    *slash = '\0';
    return tsr_mkdir_p(dir);
}

tsr_status_t tsr_plan_batch_inputs_create(const tsr_plan_t *plan, int batch, tsr_batch_inputs_t **out)
{
    *out = NULL;
    const tsr_batch_t *b = &plan->batches[batch];
    tsr_batch_inputs_t *in = calloc(1, sizeof *in);
    if (!in || !(in->paths = calloc((size_t)b->n + 1, sizeof *in->paths)) ||
        !(in->ids = calloc((size_t)b->n + 1, sizeof *in->ids))) {
        tsr_plan_batch_inputs_destroy(&in);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory listing the inputs of batch %d", batch);
    }
    in->n = b->n;
    for (int i = 0; i < b->n; i++) {
        char path[4096];
        tsr_status_t s = tsr_plan_sample_alignments(plan, b->first + i, path, sizeof path);
        in->ids[i] = plan->sheet->samples[b->first + i].id;
        if (s == TSR_OK && !(in->paths[i] = strdup(path)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory listing the inputs of batch %d", batch);
        if (s != TSR_OK) {
            tsr_plan_batch_inputs_destroy(&in);
            return s;
        }
    }
    *out = in;
    return TSR_OK;
}

void tsr_plan_batch_inputs_destroy(tsr_batch_inputs_t **inp)
{
    if (!inp || !*inp)
        return;
    tsr_batch_inputs_t *in = *inp;
    for (int i = 0; in->paths && i < in->n; i++)
        free(in->paths[i]);
    free(in->paths);
    free(in->ids);
    free(in);
    *inp = NULL;
}

void tsr_plan_aln_path(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    const char *fmt = plan->opts.aln_format ? plan->opts.aln_format : TSR_ALN_FORMAT_DEFAULT;
    snprintf(buf, len, "aln/%s.%s", plan->sheet->samples[sample].id, strcmp(fmt, "cram") ? "bam" : "cram");
}

/* Part 0 keeps the names of a run without adds; part p >= 1 names its part: evidence/R/pPPPP_bBBBBB.h5. */
void tsr_plan_evidence_path(const tsr_plan_t *plan, int region, int batch, char *buf, size_t len)
{
    const tsr_batch_t *b = &plan->batches[batch];
    if (b->part == 0)
        snprintf(buf, len, "evidence/%s/b%05d.h5", plan->regions[region].name, b->index);
    else
        snprintf(buf, len, "evidence/%s/p%04d_b%05d.h5", plan->regions[region].name, b->part, b->index);
}

void tsr_plan_joint_path(const tsr_plan_t *plan, int region, char *buf, size_t len)
{
    snprintf(buf, len, "joint/%s.h5", plan->regions[region].name);
}

tsr_status_t tsr_plan_sample_alignments(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    const tsr_sample_t *s = &plan->sheet->samples[sample];
    char rel[1024], joined[4200], abs[PATH_MAX];
    if (s->kind == TSR_INPUT_ALIGNED) {
        snprintf(joined, sizeof joined, "%s", s->bam);
    } else {
        tsr_plan_aln_path(plan, sample, rel, sizeof rel);
        TSR_CALL(tsr_plan_path(plan, rel, joined, sizeof joined));
    }
    /* Absolute when it can be resolved (the file exists), as the contract promises callers. */
    const char *res = joined[0] != '/' && realpath(joined, abs) ? abs : joined;
    if (snprintf(buf, len, "%s", res) >= (int)len)
        return tsr_error_set(TSR_ERR_IO, "path too long: %s", res);
    return TSR_OK;
}

/* index -> map slots -> merge for one FASTQ sample; *merge_id is what call tasks wait for. */
static tsr_status_t tsr_plan_graph_align(const tsr_plan_t *plan, tsr_graph_t *g, int i, tsr_task_id_t *merge_id)
{
    const tsr_sample_t *smp = &plan->sheet->samples[i];
    char key[1024], o1[1024], o2[1100], o3[1100];
    double bytes = tsr_sample_read_bytes(smp);
    int k_slots = plan->align_slots[i];
    tsr_task_id_t index_id;
    snprintf(key, sizeof key, "align/%s/index", smp->id);
    tsr_plan_align_chunks_path(plan, i, o1, sizeof o1);
    const char *outs1[1] = {o1};
    TSR_CALL(tsr_graph_add(g, TSR_TASK_ALIGN, key, bytes * 0.05, tsr_plan_align_arg(TSR_ALIGN_STEP_INDEX, i, 0),
                           outs1, 1, &index_id));
    snprintf(key, sizeof key, "align/%s", smp->id);
    tsr_plan_aln_path(plan, i, o1, sizeof o1);
    size_t l1 = strlen(o1);
    snprintf(o2, sizeof o2, "%s.%s", o1, l1 > 5 && !strcmp(o1 + l1 - 5, ".cram") ? "crai" : "bai");
    tsr_plan_align_qc_path(plan, i, o3, sizeof o3);
    const char *outs3[3] = {o1, o2, o3};
    TSR_CALL(tsr_graph_add(g, TSR_TASK_ALIGN, key, bytes * 0.1, tsr_plan_align_arg(TSR_ALIGN_STEP_MERGE, i, 0),
                           outs3, 3, merge_id));
    for (int k = 0; k < k_slots; k++) {
        tsr_task_id_t map_id;
        snprintf(key, sizeof key, "align/%s/c%05d", smp->id, k);
        tsr_plan_align_run_path(plan, i, k, "bam", o1, sizeof o1);
        tsr_plan_align_run_path(plan, i, k, "dup", o2, sizeof o2);
        const char *outs2[2] = {o1, o2};
        TSR_CALL(tsr_graph_add(g, TSR_TASK_ALIGN, key, bytes / k_slots, tsr_plan_align_arg(TSR_ALIGN_STEP_MAP, i, k),
                               outs2, 2, &map_id));
        TSR_CALL(tsr_graph_add_dep(g, map_id, index_id));
        TSR_CALL(tsr_graph_add_dep(g, *merge_id, map_id));
    }
    return TSR_OK;
}

tsr_status_t tsr_plan_graph(const tsr_plan_t *plan, tsr_graph_t **out)
{
    *out = NULL;
    tsr_graph_t *g = NULL;
    TSR_CALL(tsr_graph_create(&g));
    const tsr_sheet_t *sh = plan->sheet;
    tsr_task_id_t *align_id = calloc((size_t)sh->n_samples, sizeof *align_id);
    tsr_task_id_t *joint_id = calloc((size_t)plan->n_regions, sizeof *joint_id);
    tsr_status_t s = (align_id && joint_id) ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    char key[1024], o1[1024];
    for (int i = 0; i < sh->n_samples && s == TSR_OK; i++) {
        align_id[i] = -1;
        if (sh->samples[i].kind != TSR_INPUT_FASTQ)
            continue;
        s = tsr_plan_graph_align(plan, g, i, &align_id[i]);
    }
    if (plan->opts.align_only) { /* tessera align: the align tasks alone, same keys and outputs as in a full run */
        free(align_id);
        free(joint_id);
        if (s != TSR_OK)
            tsr_graph_destroy(&g);
        *out = g;
        return s;
    }
    for (int r = 0; r < plan->n_regions && s == TSR_OK; r++) {
        const tsr_region_t *reg = &plan->regions[r];
        tsr_task_id_t *call_id = calloc((size_t)plan->n_batches, sizeof *call_id);
        if (!call_id) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            break;
        }
        for (int b = 0; b < plan->n_batches && s == TSR_OK; b++) {
            const tsr_batch_t *bt = &plan->batches[b];
            if (bt->part == 0)
                snprintf(key, sizeof key, "call/%s/b%05d", reg->name, bt->index);
            else
                snprintf(key, sizeof key, "call/%s/p%04d_b%05d", reg->name, bt->part, bt->index);
            tsr_plan_evidence_path(plan, r, b, o1, sizeof o1);
            const char *outs[1] = {o1};
            double cost = (double)(reg->end - reg->start) * plan->batches[b].n * 1e-3;
            s = tsr_graph_add(g, TSR_TASK_CALL, key, cost, (int64_t)r * plan->n_batches + b, outs, 1, &call_id[b]);
            for (int k = 0; k < plan->batches[b].n && s == TSR_OK; k++) {
                int smp = plan->batches[b].first + k;
                if (align_id[smp] >= 0)
                    s = tsr_graph_add_dep(g, call_id[b], align_id[smp]);
            }
        }
        if (s == TSR_OK) {
            snprintf(key, sizeof key, "joint/%s", reg->name);
            tsr_plan_joint_path(plan, r, o1, sizeof o1);
            const char *outs[1] = {o1};
            double cost = (double)(reg->end - reg->start) * sh->n_samples * 1e-4;
            s = tsr_graph_add(g, TSR_TASK_JOINT, key, cost, r, outs, 1, &joint_id[r]);
        }
        for (int b = 0; b < plan->n_batches && s == TSR_OK; b++)
            s = tsr_graph_add_dep(g, joint_id[r], call_id[b]);
        free(call_id);
    }
    if (s == TSR_OK) {
        const char *outs[6] = {"cohort.bcf", "cohort.bcf.csi", "stats.tsv", "statistics.json", "sample_qc.tsv",
                               "report.html"};
        tsr_task_id_t cid;
        s = tsr_graph_add(g, TSR_TASK_COHORT, "cohort", 1.0, 0, outs, 6, &cid);
        for (int r = 0; r < plan->n_regions && s == TSR_OK; r++)
            s = tsr_graph_add_dep(g, cid, joint_id[r]);
    }
    free(align_id);
    free(joint_id);
    if (s != TSR_OK) {
        tsr_graph_destroy(&g);
        return s;
    }
    *out = g;
    return TSR_OK;
}

/* ------------------------------------------------ the run record (tessera add) */

/* Whole small file into a malloc'ed string (*len bytes); NULL when missing or unreadable. */
static char *tsr_plan_slurp(const char *path, size_t *len)
{
    char *text = NULL;
    int missing = 0;
    if (tsr_file_read_all(path, &text, len, &missing) != TSR_OK)
        return NULL;
    return text;
}

tsr_status_t tsr_plan_record_write(const tsr_plan_t *plan)
{
    const tsr_run_opts_t *o = &plan->opts;
    char path[4200], dir[4200], tmp[4300], abs_ref[PATH_MAX], abs_reg[PATH_MAX];
    snprintf(path, sizeof path, "%s/run.tsv", o->outdir);
    if (access(path, F_OK) == 0)
        return TSR_OK;
    snprintf(dir, sizeof dir, "%s/samples.d", o->outdir);
    TSR_CALL(tsr_mkdir_p(dir));
    tsr_plan_part_path(o->outdir, 0, dir, sizeof dir);
    TSR_CALL(tsr_sheet_write(plan->sheet, 0, plan->part_first[1], dir));
    struct stat st;
    const char *regions = o->regions ? o->regions : "";
    if (o->regions && stat(o->regions, &st) == 0 && S_ISREG(st.st_mode) && realpath(o->regions, abs_reg))
        regions = abs_reg;
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    fprintf(fp, "fingerprint\t%s\nmode\t%s\nref\t%s\nregions\t%s\nshard_size\t%lld\nbatch_size\t%d\n"
                "min_mapq\t%d\nmin_baseq\t%d\nmin_qual\t%.17g\nalign_chunk\t%lld\naln_format\t%s\n",
            plan->fingerprint, plan->lowpass ? "lowpass" : "deep", realpath(o->ref, abs_ref) ? abs_ref : o->ref,
            regions, (long long)o->shard_size, o->batch_size, o->min_mapq, o->min_baseq, o->min_qual,
            (long long)o->align_chunk_pairs, o->aln_format ? o->aln_format : "");
    return tsr_output_commit(fp, tmp, path);
}

tsr_status_t tsr_run_record_read(const char *outdir, tsr_run_record_t *rec)
{
    memset(rec, 0, sizeof *rec);
    char path[4200];
    snprintf(path, sizeof path, "%s/run.tsv", outdir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_STATE, "'%s' is not a tessera run directory (no %s: %s); run `tessera run "
                             "--out %s` first", outdir, path, strerror(errno), outdir);
    tsr_run_opts_init(&rec->opts);
    char line[8400];
    int seen = 0, lineno = 0;
    tsr_status_t s = TSR_OK;
    while (s == TSR_OK && fgets(line, sizeof line, fp)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '\t');
        if (!v) {
            s = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: expected 'key<TAB>value'", path, lineno);
            break;
        }
        *v++ = '\0';
        seen++;
        if (!strcmp(line, "fingerprint"))
            snprintf(rec->fingerprint, sizeof rec->fingerprint, "%s", v);
        else if (!strcmp(line, "mode"))
            rec->lowpass = !strcmp(v, "lowpass");
        else if (!strcmp(line, "ref"))
            snprintf(rec->ref, sizeof rec->ref, "%s", v);
        else if (!strcmp(line, "regions"))
            snprintf(rec->regions, sizeof rec->regions, "%s", v);
        else if (!strcmp(line, "shard_size"))
            rec->opts.shard_size = strtoll(v, NULL, 10);
        else if (!strcmp(line, "batch_size"))
            rec->opts.batch_size = atoi(v);
        else if (!strcmp(line, "min_mapq"))
            rec->opts.min_mapq = atoi(v);
        else if (!strcmp(line, "min_baseq"))
            rec->opts.min_baseq = atoi(v);
        else if (!strcmp(line, "min_qual"))
            rec->opts.min_qual = strtod(v, NULL);
        else if (!strcmp(line, "align_chunk"))
            rec->opts.align_chunk_pairs = strtoll(v, NULL, 10);
        else if (!strcmp(line, "aln_format"))
            snprintf(rec->aln_format, sizeof rec->aln_format, "%s", v);
        else
            seen--;
    }
    fclose(fp);
    if (s == TSR_OK && (seen < 11 || !rec->fingerprint[0]))
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: incomplete run record (%d of 11 keys)", path, seen);
    if (s != TSR_OK)
        return s;
    snprintf(rec->outdir, sizeof rec->outdir, "%s", outdir);
    tsr_plan_part_path(outdir, 0, rec->samples, sizeof rec->samples);
    rec->opts.ref = rec->ref;
    rec->opts.regions = rec->regions[0] ? rec->regions : NULL;
    rec->opts.aln_format = rec->aln_format[0] ? rec->aln_format : NULL;
    rec->opts.samples = rec->samples;
    rec->opts.outdir = rec->outdir;
    rec->opts.mode = rec->lowpass ? "lowpass" : "deep";
    rec->opts.add_fingerprint = rec->fingerprint;
    return TSR_OK;
}

tsr_status_t tsr_plan_part_add(const char *outdir, const char *new_sheet, int *part)
{
    *part = 0;
    int n = 1;
    char p[4200];
    for (;; n++) {
        tsr_plan_part_path(outdir, n, p, sizeof p);
        if (access(p, F_OK) != 0)
            break;
    }
    /* the new sheet alone: its files must be readable, its ids unique among themselves */
    tsr_sheet_t *one = NULL;
    TSR_CALL(tsr_sheet_create_from_file(new_sheet, &one));
    char tmpl[] = "/tmp/tsr-part-XXXXXX";
    int fd = mkstemp(tmpl);
    tsr_status_t s = fd >= 0 ? TSR_OK : tsr_error_set(TSR_ERR_IO, "cannot create a temporary file: %s",
                                                     strerror(errno));
    if (fd >= 0)
        close(fd);
    if (s == TSR_OK)
        s = tsr_sheet_write(one, 0, one->n_samples, tmpl);
    tsr_sheet_destroy(&one);
    size_t la = 0, lb = 0;
    char *mine = s == TSR_OK ? tsr_plan_slurp(tmpl, &la) : NULL;
    if (s == TSR_OK && !mine)
        s = tsr_error_set(TSR_ERR_IO, "cannot read back '%s'", tmpl);
    if (s == TSR_OK && n > 1) { /* the same sheet as the newest part: an interrupted add, resumed */
        tsr_plan_part_path(outdir, n - 1, p, sizeof p);
        char *last = tsr_plan_slurp(p, &lb);
        int same = last && la == lb && memcmp(mine, last, la) == 0;
        free(last);
        if (same) {
            *part = n - 1;
            free(mine);
            unlink(tmpl);
            return TSR_OK;
        }
    }
    /* ids must be new to the cohort: read every part (earlier ones sealed) with the new one last */
    char **paths = s == TSR_OK ? calloc((size_t)n + 1, sizeof *paths) : NULL;
    if (s == TSR_OK && !paths)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int k = 0; s == TSR_OK && k < n; k++) {
        tsr_plan_part_path(outdir, k, p, sizeof p);
        if (!(paths[k] = strdup(p)))
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    if (s == TSR_OK && !(paths[n] = strdup(new_sheet)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    tsr_sheet_t *all = NULL;
    if (s == TSR_OK)
        s = tsr_sheet_create_from_parts(n + 1, (const char *const *)paths, n + 1, &all);
    tsr_sheet_destroy(&all);
    for (int k = 0; paths && k <= n; k++)
        free(paths[k]);
    free(paths);
    if (s == TSR_OK) {
        tsr_plan_part_path(outdir, n, p, sizeof p);
        char tmp[4300];
        s = tsr_output_tmpname(p, tmp, sizeof tmp);
        FILE *fp = s == TSR_OK ? fopen(tmp, "w") : NULL;
        if (s == TSR_OK && !fp)
            s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        if (fp) {
            fwrite(mine, 1, la, fp);
            s = tsr_output_commit(fp, tmp, p);
        }
    }
    free(mine);
    unlink(tmpl);
    if (s == TSR_OK)
        *part = n;
    return s;
}
