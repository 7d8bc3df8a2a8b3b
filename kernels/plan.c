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
#include <sys/stat.h>
#include <zlib.h>

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
    if (!strcmp(o->mode, "lowpass"))
        return tsr_error_set(TSR_ERR_USAGE, "--mode lowpass arrives with the low-pass issue; use --mode deep or auto for now");
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
    char buf[512], fai[4200];
    /* Two independent CRCs make a 64-bit fingerprint. */
    uint32_t a = (uint32_t)crc32(0L, Z_NULL, 0), b = 0x9e3779b9u;
    snprintf(buf, sizeof buf, "tessera-run-1 shard=%lld batch=%d mapq=%d baseq=%d qual=%g mode=%s k=%d.%d.%d.%d",
             (long long)o->shard_size, o->batch_size, o->min_mapq, o->min_baseq, o->min_qual, o->mode,
             tsr_kernel_align.version, tsr_kernel_call.version, tsr_kernel_joint.version, tsr_kernel_cohort.version);
    a = tsr_crc_str(a, buf);
    a = tsr_crc_str(a, o->regions ? o->regions : "");
    snprintf(buf, sizeof buf, "align-chunk=%lld", (long long)o->align_chunk_pairs);
    a = tsr_crc_str(a, buf);
    snprintf(fai, sizeof fai, "%s.fai", o->ref);
    a = tsr_crc_file_or_zero(fai, a);
    a = tsr_crc_file_or_zero(o->samples, a);
    for (int i = 0; i < plan->sheet->n_samples; i++) {
        const tsr_sample_t *s = &plan->sheet->samples[i];
        const char *paths[3] = {s->fastq1, s->fastq2, s->bam};
        for (int k = 0; k < 3; k++) {
            struct stat st;
            if (paths[k] && stat(paths[k], &st) == 0) {
                snprintf(buf, sizeof buf, "%d:%d:%lld", i, k, (long long)st.st_size);
                b = tsr_crc_str(b, buf);
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
 * Map tasks per FASTQ sample, from the files' sizes alone (identical on every
 * rank): about one per chunk at TSR_ALIGN_EST_BYTES compressed bytes per read
 * pair (gzip'ed 2 x 150 bp). A wrong estimate costs balance, never results:
 * each slot takes a contiguous share of the chunks the index task finds.
 */
#define TSR_ALIGN_EST_BYTES 160
#define TSR_ALIGN_MAX_SLOTS 100000
static tsr_status_t tsr_plan_align_units(tsr_plan_t *plan)
{
    const tsr_sheet_t *sh = plan->sheet;
    plan->align_slots = calloc((size_t)sh->n_samples + 1, sizeof *plan->align_slots);
    if (!plan->align_slots)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < sh->n_samples; i++) {
        if (sh->samples[i].kind != TSR_INPUT_FASTQ)
            continue;
        double bytes = (double)(tsr_file_size(sh->samples[i].fastq1) + tsr_file_size(sh->samples[i].fastq2));
        double k = bytes / ((double)plan->opts.align_chunk_pairs * TSR_ALIGN_EST_BYTES);
        plan->align_slots[i] = k < 1 ? 1 : k > TSR_ALIGN_MAX_SLOTS ? TSR_ALIGN_MAX_SLOTS : (int)(k + 0.999999);
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

tsr_status_t tsr_plan_create(const tsr_run_opts_t *o, tsr_plan_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_run_opts_check(o));
    tsr_plan_t *plan;
    TSR_ALLOC(plan, 1);
    plan->opts = *o;
    tsr_ref_t *ref = NULL;
    tsr_status_t s = tsr_sheet_create_from_file(o->samples, &plan->sheet);
    if (s == TSR_OK)
        s = tsr_ref_open(o->ref, &ref);
    if (s == TSR_OK)
        s = tsr_plan_regions(plan, ref);
    if (s == TSR_OK) {
        int n = plan->sheet->n_samples, bs = o->batch_size;
        plan->n_batches = (n + bs - 1) / bs;
        plan->batches = calloc((size_t)plan->n_batches, sizeof *plan->batches);
        if (!plan->batches)
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        for (int b = 0; s == TSR_OK && b < plan->n_batches; b++) {
            plan->batches[b].first = b * bs;
            plan->batches[b].n = (b + 1) * bs <= n ? bs : n - b * bs;
        }
    }
    tsr_ref_close(&ref);
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

void tsr_plan_aln_path(const tsr_plan_t *plan, int sample, char *buf, size_t len)
{
    snprintf(buf, len, "aln/%s.bam", plan->sheet->samples[sample].id);
}

void tsr_plan_evidence_path(const tsr_plan_t *plan, int region, int batch, char *buf, size_t len)
{
    snprintf(buf, len, "evidence/%s/b%05d.h5", plan->regions[region].name, batch);
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
    double bytes = (double)(tsr_file_size(smp->fastq1) + tsr_file_size(smp->fastq2));
    int k_slots = plan->align_slots[i];
    tsr_task_id_t index_id;
    snprintf(key, sizeof key, "align/%s/index", smp->id);
    tsr_plan_align_chunks_path(plan, i, o1, sizeof o1);
    const char *outs1[1] = {o1};
    TSR_CALL(tsr_graph_add(g, TSR_TASK_ALIGN, key, bytes * 0.05, tsr_plan_align_arg(TSR_ALIGN_STEP_INDEX, i, 0),
                           outs1, 1, &index_id));
    snprintf(key, sizeof key, "align/%s", smp->id);
    tsr_plan_aln_path(plan, i, o1, sizeof o1);
    snprintf(o2, sizeof o2, "%s.bai", o1);
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
    for (int r = 0; r < plan->n_regions && s == TSR_OK; r++) {
        const tsr_region_t *reg = &plan->regions[r];
        tsr_task_id_t *call_id = calloc((size_t)plan->n_batches, sizeof *call_id);
        if (!call_id) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
            break;
        }
        for (int b = 0; b < plan->n_batches && s == TSR_OK; b++) {
            snprintf(key, sizeof key, "call/%s/b%05d", reg->name, b);
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
