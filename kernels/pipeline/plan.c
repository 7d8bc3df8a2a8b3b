/*
 * plan.c - cut a cohort into fixed work units: the run options, the sheet
 * parts, the batches, the resolved mode, and tsr_plan_create() that runs
 * every planning step in order.
 *
 * Regions are fixed shards on a global grid (plan_regions.c); batches are
 * consecutive runs of --batch-size samples in sheet order, cut within each
 * sheet part. Neither depends on the number of ranks or threads, so every
 * output is the same for any layout. The other steps live beside what they
 * shape: the align units with the task graph (plan_graph.c), the fingerprint
 * with the run record (run_record.c), the paths of every output in
 * plan_paths.c, and the resolved work unit a kernel gets in plan_work.c.
 * Private declarations shared by these files: plan_internal.h.
 */
#include "kernels/pipeline/pipeline.h"
#include "kernels/pipeline/plan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define TSR_LOWPASS_MAX_DEPTH 2.0 /* --mode auto: lowpass below this median depth */

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

/*
 * The sheet parts: opts.samples, then every DIR/samples.d/NNNN.tsv from 0001 that exists (tessera add
 * wrote them), read as one cohort. part_first comes from reading each part's sample count.
 */
static tsr_status_t tsr_plan_sheet(tsr_plan_t *plan, int touch_inputs)
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
    int check_from = !touch_inputs ? n : plan->opts.add_fingerprint ? n - 1 : 0;
    if (s == TSR_OK && !(plan->part_first = calloc((size_t)n + 1, sizeof *plan->part_first)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    /* each part's size: read the parts once more (their text only; the inputs are checked below, once) */
    for (int p = 0; s == TSR_OK && p < n; p++) {
        tsr_sheet_t *one = NULL;
        s = tsr_sheet_create_from_parts(1, (const char *const *)&paths[p], 1, &one);
        if (s == TSR_OK)
            plan->part_first[p + 1] = plan->part_first[p] + one->n_samples;
        tsr_sheet_destroy(&one);
    }
    if (s == TSR_OK)
        s = tsr_sheet_create_from_parts(n, (const char *const *)paths, check_from, &plan->sheet);
    if (s == TSR_OK)
        plan->first_checked = plan->part_first[check_from < n ? check_from : n];
    for (int p = 0; paths && p < n; p++)
        free(paths[p]);
    free(paths);
    return s;
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

static int tsr_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define TSR_AUTO_WINDOWS 256     /* --mode auto: windows sampled per sample ... */
#define TSR_AUTO_WINDOW_LEN 1000 /* ... each this long ... */
#define TSR_AUTO_SAMPLES 32      /* ... in at most this many samples, spread over the sheet */

/*
 * Resolve --mode: lowpass takes aligned inputs only; auto picks lowpass
 * below a median depth of 2x. The depth of a sample is measured, not read
 * off its index: TSR_AUTO_WINDOWS windows spread evenly over the run's
 * regions, queried through the index (BAM or CRAM), read-weighted
 * (tsr_aln_sampled_depth), so reads over part of the reference (one region
 * of a large reference, an exome) count at the depth they have. At most
 * TSR_AUTO_SAMPLES samples are measured, whatever the cohort's size.
 */
static tsr_status_t tsr_plan_mode(tsr_plan_t *plan, const tsr_ref_t *ref)
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
    if (n_fastq || sh->n_samples == 0 || plan->n_regions == 0)
        return TSR_OK;
    /* windows evenly spread over the regions' bases */
    int64_t total = 0;
    for (int r = 0; r < plan->n_regions; r++)
        total += plan->regions[r].end - plan->regions[r].start;
    const char *wc[TSR_AUTO_WINDOWS];
    int64_t ws[TSR_AUTO_WINDOWS];
    int nw = 0, r = 0;
    int64_t before = 0; /* bases of regions [0, r) */
    for (int w = 0; w < TSR_AUTO_WINDOWS; w++) {
        int64_t at = (int64_t)(((double)w + 0.5) * (double)total / TSR_AUTO_WINDOWS);
        while (r < plan->n_regions && at >= before + (plan->regions[r].end - plan->regions[r].start)) {
            before += plan->regions[r].end - plan->regions[r].start;
            r++;
        }
        if (r >= plan->n_regions)
            break;
        const tsr_region_t *g = &plan->regions[r];
        int64_t st = g->start + (at - before);
        if (st + TSR_AUTO_WINDOW_LEN > g->end)
            st = g->end - TSR_AUTO_WINDOW_LEN > g->start ? g->end - TSR_AUTO_WINDOW_LEN : g->start;
        wc[nw] = tsr_ref_contig_name(ref, g->contig);
        ws[nw++] = st;
    }
    /* the run's own sheet decides, so an added part never flips the mode of an existing run */
    int n_own = plan->part_first[1], n_meas = n_own < TSR_AUTO_SAMPLES ? n_own : TSR_AUTO_SAMPLES;
    double *d = calloc((size_t)n_meas + 1, sizeof *d);
    if (!d)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int k = 0; k < n_meas; k++) {
        int i = (int)((int64_t)k * n_own / n_meas);
        double x = tsr_aln_sampled_depth(sh->samples[i].bam, plan->opts.ref, nw, wc, ws, TSR_AUTO_WINDOW_LEN);
        tsr_log_debug("mode auto: sample %s: %.2fx over %d windows of %d bp", sh->samples[i].id, x, nw,
                      TSR_AUTO_WINDOW_LEN);
        if (x >= 0)
            d[n++] = x;
    }
    if (n > 0) {
        qsort(d, (size_t)n, sizeof *d, tsr_double_cmp);
        plan->median_depth = n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
        plan->lowpass = plan->median_depth < TSR_LOWPASS_MAX_DEPTH;
        plan->auto_samples = n;
        plan->auto_min = d[0];
        plan->auto_max = d[n - 1];
    }
    free(d);
    return TSR_OK;
}

/* Read the ploidy rules now, so a bad --ploidy-bed fails before any work; plan->ploidy says which apply. */
static tsr_status_t tsr_plan_ploidy(tsr_plan_t *plan, const tsr_ref_t *ref)
{
    int n = tsr_ref_n_contigs(ref);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int64_t *lens = calloc((size_t)n + 1, sizeof *lens);
    tsr_ploidy_t *p = NULL;
    tsr_status_t s = names && lens ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; s == TSR_OK && i < n; i++) {
        names[i] = tsr_ref_contig_name(ref, i);
        lens[i] = tsr_ref_contig_length(ref, i);
    }
    if (s == TSR_OK)
        s = tsr_ploidy_create(plan->opts.ploidy_bed, n, names, lens, &p);
    if (s == TSR_OK)
        snprintf(plan->ploidy, sizeof plan->ploidy, "%s", tsr_ploidy_source(p));
    tsr_ploidy_destroy(&p);
    free(names);
    free(lens);
    return s;
}

/* The mode picks each task type's kernel by name; the driver finds them in the registry. */
static void tsr_plan_kernels(tsr_plan_t *plan)
{
    plan->kernel[TSR_TASK_ALIGN] = tsr_kernel_align.name;
    plan->kernel[TSR_TASK_CALL] = plan->lowpass ? tsr_kernel_lowpass_evidence.name : tsr_kernel_call.name;
    plan->kernel[TSR_TASK_JOINT] = plan->lowpass ? tsr_kernel_lowpass_discover.name : tsr_kernel_joint.name;
    plan->kernel[TSR_TASK_COHORT] = tsr_kernel_cohort.name;
}

tsr_status_t tsr_plan_create_as(const tsr_run_opts_t *o, int touch_inputs, tsr_plan_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_run_opts_check(o));
    tsr_plan_t *plan;
    TSR_ALLOC(plan, 1);
    plan->opts = *o;
    tsr_ref_t *ref = NULL;
    tsr_status_t s = tsr_plan_sheet(plan, touch_inputs);
    if (s == TSR_OK)
        s = tsr_ref_open(o->ref, &ref);
    if (s == TSR_OK)
        s = tsr_plan_regions(plan, ref);
    if (s == TSR_OK)
        s = tsr_plan_cut_batches(plan);
    if (s == TSR_OK && touch_inputs)
        s = tsr_plan_mode(plan, ref);
    if (s == TSR_OK)
        s = tsr_plan_ploidy(plan, ref);
    tsr_ref_close(&ref);
    if (s == TSR_OK && plan->lowpass && touch_inputs)
        s = tsr_plan_lowpass_batches(plan);
    if (s == TSR_OK && touch_inputs)
        s = tsr_plan_align_units(plan);
    else if (s == TSR_OK && !(plan->align_slots = calloc((size_t)plan->sheet->n_samples + 1, sizeof *plan->align_slots)))
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    if (s == TSR_OK && o->mem_per_rank > 0 && !plan->lowpass && touch_inputs) {
        /* a budget that cannot fit is refused here, before any work; what it gives each stage is logged */
        tsr_mem_budget_t b;
        s = tsr_plan_budget(plan, &b);
        if (s == TSR_OK)
            tsr_log_info("--mem-per-rank %lld MiB: rank %lld MiB, align map task %lld read pairs held (sorted "
                         "runs spilled beyond), call task about %lld MiB (--batch-size %d), joint window %lld sites "
                         "(%lld MiB), cohort %lld MiB", (long long)(b.total >> 20), (long long)(b.base >> 20),
                         (long long)b.align_pairs, (long long)(b.call_need >> 20), o->batch_size,
                         (long long)b.joint_window, (long long)(b.joint_bytes >> 20), (long long)(b.cohort_bytes >> 20));
    }
    if (s == TSR_OK)
        tsr_plan_kernels(plan);
    if (s != TSR_OK) {
        tsr_plan_destroy(&plan);
        return s;
    }
    if (touch_inputs)
        tsr_plan_fingerprint(plan);
    *out = plan;
    return TSR_OK;
}

tsr_status_t tsr_plan_create(const tsr_run_opts_t *o, tsr_plan_t **out)
{
    return tsr_plan_create_as(o, 1, out);
}

tsr_status_t tsr_plan_adopt(tsr_plan_t *plan, const tsr_plan_shared_t *sh, const int *align_slots)
{
    if (sh->n_samples != plan->sheet->n_samples || sh->n_parts != plan->n_parts)
        return tsr_error_set(TSR_ERR_STATE, "%s: rank 0 read %d samples in %d sheet parts, this rank %d in %d; the "
                             "sheet changed while the run started, or the ranks see different files: rerun",
                             plan->opts.samples, sh->n_samples, sh->n_parts, plan->sheet->n_samples, plan->n_parts);
    plan->lowpass = sh->lowpass;
    snprintf(plan->fingerprint, sizeof plan->fingerprint, "%s", sh->fingerprint);
    if (align_slots)
        memcpy(plan->align_slots, align_slots, (size_t)plan->sheet->n_samples * sizeof *align_slots);
    tsr_plan_kernels(plan);
    if (sh->batch_size == plan->opts.batch_size)
        return TSR_OK;
    plan->opts.batch_size = sh->batch_size;
    return tsr_plan_cut_batches(plan);
}

void tsr_plan_shared_get(const tsr_plan_t *plan, tsr_plan_shared_t *sh)
{
    memset(sh, 0, sizeof *sh);
    sh->n_samples = plan->sheet->n_samples;
    sh->n_parts = plan->n_parts;
    sh->lowpass = plan->lowpass;
    sh->batch_size = plan->opts.batch_size;
    snprintf(sh->fingerprint, sizeof sh->fingerprint, "%s", plan->fingerprint);
}

/* Bytes of one heap string as glibc holds it: the text, its size word, rounded up to 16. */
static size_t tsr_heap_str_bytes(const char *s)
{
    return s ? (strlen(s) + 1 + 8 + 15) & ~(size_t)15 : 0;
}

size_t tsr_plan_bytes(const tsr_plan_t *plan, size_t *sheet_bytes)
{
    const tsr_sheet_t *sh = plan->sheet;
    size_t b = sizeof *sh + (size_t)sh->n_samples * (sizeof *sh->samples + sizeof *sh->sample_pop);
    for (int i = 0; i < sh->n_samples; i++) {
        const tsr_sample_t *smp = &sh->samples[i];
        b += tsr_heap_str_bytes(smp->id) + tsr_heap_str_bytes(smp->population) + tsr_heap_str_bytes(smp->bam);
        b += (size_t)smp->n_lanes * sizeof *smp->lanes;
        for (int l = 0; l < smp->n_lanes; l++)
            b += tsr_heap_str_bytes(smp->lanes[l].fastq1) + tsr_heap_str_bytes(smp->lanes[l].fastq2) +
                 tsr_heap_str_bytes(smp->lanes[l].read_group) + tsr_heap_str_bytes(smp->lanes[l].library);
    }
    for (int p = 0; p < sh->n_populations; p++)
        b += sizeof *sh->populations + tsr_heap_str_bytes(sh->populations[p]);
    if (sheet_bytes)
        *sheet_bytes = b;
    return sizeof *plan + b + (size_t)plan->n_regions * sizeof *plan->regions +
           (size_t)plan->n_units * sizeof *plan->units + (size_t)plan->n_batches * sizeof *plan->batches +
           (size_t)sh->n_samples * sizeof *plan->align_slots + (size_t)(plan->n_parts + 1) * sizeof *plan->part_first;
}

void tsr_plan_destroy(tsr_plan_t **pp)
{
    if (!pp || !*pp)
        return;
    tsr_sheet_destroy(&(*pp)->sheet);
    free((*pp)->regions);
    free((*pp)->units);
    free((*pp)->batches);
    free((*pp)->align_slots);
    free((*pp)->part_first);
    free(*pp);
    *pp = NULL;
}
