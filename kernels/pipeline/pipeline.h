/*
 * pipeline.h - orchestration: the plan that cuts a cohort into fixed work
 * units, each task's resolved work unit, the kernel contract and registry,
 * and the driver that runs the task graph through the scheduler
 * (`tessera run`, `tessera add`, `tessera align`).
 *
 * Design. A kernel registers by name with a written contract (below): init
 * once per rank, process one task, destroy. The plan depends only on the
 * inputs and options (never on the rank or thread count), which is what
 * makes outputs byte-identical for any layout:
 *   align  (sample)            FASTQ -> DIR/aln/S.cram + .crai (coordinate-sorted)
 *   call   (region, batch)     alignments -> DIR/evidence/R/bB.h5 (tsr_evidence_t)
 *   joint  (region)            all batches of R -> DIR/joint/R.h5 (tsr_callset_t)
 *   cohort part (unit)         deep: the unit's call sets -> DIR/cohort_parts/G/pU.{bcf,tsv,acc}
 *   cohort ()                  the parts in order (low-pass: all regions) -> cohort.bcf, stats.tsv, report
 *   cohort.h5 (stage)          every rank, collectively, after the graph
 * The kernel objects here are thin adapters: they take a task's work unit
 * (tsr_plan_work_create) and call the computations in kernels/kernels.h.
 *
 * Layer 4: may include runtime/, scheduler/, io/, kernels/stats/, kernels/.
 * Included only by kernels/cli/.
 */
#ifndef TSR_PIPELINE_H
#define TSR_PIPELINE_H

#include "io/io.h"
#include "kernels/kernels.h"
#include "runtime/runtime.h"
#include "scheduler/scheduler.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ plan */

typedef struct tsr_region {
    int contig;        /* index in the reference */
    int64_t start, end; /* 0-based half-open */
    char name[64];     /* file-name-safe label, e.g. "chr1_000000001_001000000" */
} tsr_region_t;

/*
 * A work unit (issue 18): consecutive regions [first, first + n) in genome order (reference .fai order)
 * totalling at most --shard-size bases (a region of a full shard is a unit alone), so small contigs share
 * tasks and files and the task count follows bases, not contigs. A unit of n > 1 regions writes packed
 * files (io/h5_store.h): member k holds region first + k.
 */
typedef struct tsr_unit {
    int first, n;      /* regions [first, first + n) of plan->regions */
    char name[64];     /* "UUUUUUUU_contig_start1" (8+ digits, so names sort in genome order) */
} tsr_unit_t;
/* The most regions one unit packs (bounds a task's members and its file's groups). */
#define TSR_UNIT_MAX_REGIONS 1000
/* Units per directory level: evidence/gGGGGG/U/ and joint/gGGGGG/U.h5, GGGGG = unit / TSR_UNIT_FANOUT. */
#define TSR_UNIT_FANOUT 1000
/* FASTQ samples per aln/gGGGGG/ folder (GGGGG = the sample's place in the sheet / TSR_SAMPLE_FANOUT). */
#define TSR_SAMPLE_FANOUT 500

typedef struct tsr_batch {
    int first, n;      /* samples [first, first+n) of the sheet */
    int part, index;   /* the sheet part holding them (0 = the run's sheet, k = the k-th `tessera add`) and
                          the batch's index within that part: batches are cut per part, so an add never
                          moves an earlier batch */
} tsr_batch_t;

typedef enum { TSR_TASK_ALIGN = 0, TSR_TASK_CALL = 1, TSR_TASK_JOINT = 2, TSR_TASK_COHORT = 3,
               TSR_TASK_N_TYPES = 4 } tsr_task_type_t;

/*
 * Provenance that summary.json records for audit, filled by the command layer
 * (kernels/pipeline/ cannot see kernels/cli/). Never part of the run fingerprint.
 */
typedef struct tsr_run_provenance {
    const char *command_line;            /* argv as run, joined with spaces (shell-quoted where needed) */
    int n_versions;
    const char *const *version_name;     /* "tessera", "MPI", "HDF5", "htslib", "hwloc", "minimap2" */
    const char *const *version_value;
} tsr_run_provenance_t;

/* Options of `tessera run` (and the stage commands) that shape the plan. */
typedef struct tsr_run_opts {
    const char *ref;        /* --ref */
    const char *samples;    /* --samples */
    const char *outdir;     /* --out */
    const char *regions;    /* --regions: "chr", "chr:beg-end", or a BED file; NULL = whole reference */
    int64_t shard_size;     /* --shard-size: region length (default 1,000,000) */
    int batch_size;         /* --batch-size: samples per evidence partition (default 64) */
    int threads;            /* --threads per rank (0 = one per core of the rank's domain) */
    int64_t mem_per_rank;   /* --mem-per-rank bytes (0 = unlimited) */
    int64_t joint_window;   /* --joint-window: deep joint sites per batch per window (0 = from the budget) */
    int discover_windows;   /* --discover-windows: low-pass site-window tasks per region (0 = from the cohort size;
                               tsr_plan_lp_windows) */
    int min_mapq;           /* --min-mapq (default 20) */
    int min_baseq;          /* --min-baseq (default 13) */
    int ignore_sm;          /* --ignore-sm: aligned inputs' @RG SM is not checked against the sheet */
    double min_qual;        /* --min-qual: below it a site is filtered LowQual (default 30) */
    double min_site_qual;   /* --min-site-qual: low-pass discovery reports no site below it (default 30) */
    int min_alt_obs;        /* --min-alt-obs: low-pass candidate sites need this many ALT reads (default 2) */
    const char *ploidy_bed; /* --ploidy-bed: ploidy rules replacing the built-in GRCh37/38 ones (io/ploidy.h) */
    const char *targets;    /* --targets: BED of target intervals; calling is restricted to them (plan_regions.c) */
    const char *mode;       /* --mode auto|deep|lowpass (auto: lowpass when the median depth is below 2x) */
    double grace_seconds;   /* --grace */
    const char *verify_outputs; /* --verify-outputs full|stat: how a resume checks journaled outputs (tsr_verify_t) */
    /*
     * --evidence-layout files|packs: evidence partitions as a file per (unit, batch) under evidence/gGGGGG/U/,
     * or appended to per-rank containers evidence/sSSSS/rRRRRR.pack (scheduler/pack.c; NULL = packs)
     */
    const char *evidence_layout;
    int64_t align_chunk_pairs; /* --align-chunk: read pairs per align chunk (default 1,000,000) */
    /*
     * --aln-format: "bam" or "cram" for DIR/aln/S.{bam,cram} + .bai/.crai (NULL = TSR_ALN_FORMAT_DEFAULT).
     * Not in the fingerprint: it changes the align merge task's outputs, so the journal re-runs the merge
     * (and what reads it) and keeps the map runs.
     */
    const char *aln_format;
    /*
     * `tessera align`: the graph stops after the align tasks and no cohort stage runs. Not in the
     * fingerprint: the align tasks are the same keys and outputs in both graphs, so a later
     * `tessera run` on the same --out reuses them.
     */
    int align_only;
    /*
     * --plan-only: build the plan and the task graph on rank 0, print tasks per stage, the files the layout
     * will create and the plan's memory, write nothing (kernels/pipeline/driver.c). Not in the fingerprint.
     */
    int plan_only;
    const tsr_run_provenance_t *provenance; /* for summary.json; NULL = none recorded (not in the fingerprint) */
    /*
     * `tessera add` (kernels/README.md, N+1): the run's recorded fingerprint (DIR/run.tsv), used as the
     * plan's instead of hashing the inputs, whose earlier files may have moved away; only the newest sheet
     * part's files are checked. NULL for `tessera run`.
     */
    const char *add_fingerprint;
    /*
     * --hash-inputs: the audit manifest (DIR/audit_inputs.sha256) also lists every read file's SHA-256
     * (the sheet, reference and .fai always). In the fingerprint: it changes that output.
     */
    int hash_inputs;
    /* --sign-key: Ed25519 private key (PEM, `tessera keygen`) that signs the head into DIR/audit.sig. */
    const char *sign_key;
    /*
     * --index: the minimap2 index file; built there when missing, refused when it does not match the
     * reference and minimap2's parameters. NULL: REF.mmi beside the reference when its folder is writable,
     * else DIR/ref.mmi, rebuilt when stale. Not in the fingerprint: it changes no output.
     */
    const char *index;
} tsr_run_opts_t;

/* Defaults from the option table (below). */
void tsr_run_opts_init(tsr_run_opts_t *o);
/* The whole set: required paths, ranges, the mode; TSR_ERR_USAGE naming the first bad option. */
tsr_status_t tsr_run_opts_check(const tsr_run_opts_t *o) TSR_RESULT_USED;

/*
 * Every option of tsr_run_opts_t declared once (kernels/pipeline/run_options.c):
 * the command line's name, metavar and help, the field it sets, its default,
 * its parser and usage error, and the run.tsv key that keeps it for
 * `tessera add`. The defaults, the command layer's parser and --help, and
 * run.tsv's writer and reader walk the table.
 */
typedef enum {
    TSR_RUN_OPT_STR,  /* const char * (points into the caller's text) */
    TSR_RUN_OPT_INT,  /* int, decimal */
    TSR_RUN_OPT_I64,  /* int64_t, decimal */
    TSR_RUN_OPT_SIZE, /* int64_t, a size or length with an optional K/M/G suffix (tsr_parse_size) */
    TSR_RUN_OPT_REAL, /* double */
    TSR_RUN_OPT_FLAG  /* int, 1 when given; takes no value on the command line */
} tsr_run_opt_kind_t;
enum {
    TSR_RUN_OPT_REQUIRED = 1, /* --help lists it under "Required" */
    TSR_RUN_OPT_ALIGN = 2     /* `tessera align --help` lists it (align accepts every option) */
};
typedef struct tsr_run_opt_decl {
    const char *name;     /* --name */
    const char *metavar;  /* in --help */
    const char *help;     /* in --help, with the default in brackets; lines separated by '\n' */
    tsr_run_opt_kind_t kind;
    size_t offset;        /* offsetof(tsr_run_opts_t, field) */
    const char *dflt;     /* the default as command-line text; NULL: zero / NULL */
    const char *expect;   /* the usage error's "--name takes EXPECT, not 'TEXT'" */
    double min;           /* numbers: the smallest value accepted */
    const char *choices;  /* strings: "a|b|c" accepted values; NULL: any */
    const char *record;   /* the run.tsv key, or NULL when run.tsv does not keep it */
    unsigned flags;       /* TSR_RUN_OPT_REQUIRED, TSR_RUN_OPT_ALIGN */
} tsr_run_opt_decl_t;

int tsr_run_opt_count(void);
/* The i-th declaration (table order), NULL out of range; by --name, NULL if none. Not collective. */
const tsr_run_opt_decl_t *tsr_run_opt_at(int i);
const tsr_run_opt_decl_t *tsr_run_opt_find(const char *name);
/* Parse `text` into o's field (strings keep the pointer); TSR_ERR_USAGE "--name takes ..., not 'text'". */
tsr_status_t tsr_run_opt_set(tsr_run_opts_t *o, const tsr_run_opt_decl_t *d, const char *text) TSR_RESULT_USED;
/* The "Required:" and "Options:" lines of --help; flags != 0 lists only options with one of them. */
void tsr_run_opts_help(FILE *fp, unsigned flags);
/* run.tsv: write every recorded option as "key<TAB>value" lines, in table order. */
tsr_status_t tsr_run_opts_record_write(FILE *fp, const tsr_run_opts_t *o) TSR_RESULT_USED;
/* How many keys tsr_run_opts_record_write() writes. */
int tsr_run_opts_record_count(void);
/*
 * run.tsv: set the option recorded under `key` from `value`; strings are copied to buf (len bytes), which
 * must outlive o. 1 when the key is an option's, 0 otherwise.
 */
int tsr_run_opts_record_read(tsr_run_opts_t *o, const char *key, const char *value, char *buf, size_t len);

typedef struct tsr_plan {
    tsr_run_opts_t opts;
    tsr_sheet_t *sheet;
    int n_regions;
    tsr_region_t *regions;
    int n_units;           /* work units packing the regions (tsr_unit_t); call and joint tasks are per unit */
    tsr_unit_t *units;
    int n_batches;
    tsr_batch_t *batches;
    int *align_slots;      /* per sample: align map tasks (0 for aligned inputs), see tsr_plan_align_slots */
    int lowpass;           /* the resolved mode: 1 = low-pass kernels (--mode lowpass, or auto below 2x) */
    const char *kernel[TSR_TASK_N_TYPES]; /* the kernel that runs each task type, by name (tsr_kernel_find):
                                             align, call|lowpass_evidence, joint|lowpass_discover, cohort */
    double median_depth;   /* --mode auto: median measured depth of the sampled samples (-1 if not measured) */
    int auto_samples;      /* --mode auto: samples measured, and the least and most depth among them */
    double auto_min, auto_max;
    int n_parts;           /* sheet parts: opts.samples, then DIR/samples.d/0001.tsv, 0002.tsv, ... (tessera add) */
    int *part_first;       /* n_parts + 1: part p holds samples [part_first[p], part_first[p+1]) */
    int first_checked;     /* samples before it belong to sealed parts: not opened at planning (tessera add) */
    char fingerprint[64];  /* hash of inputs and plan-shaping options */
    char ploidy[256];      /* where the ploidy rules come from (tsr_ploidy_source); deep mode only */
} tsr_plan_t;

/*
 * What --mem-per-rank gives each stage (kernels/pipeline/plan_budget.c). With no budget every field is 0 and
 * the stages use their defaults. joint_bytes sizes the joint window (tsr_joint_window_sites); cohort_bytes the
 * cohort stage's call-set window and cohort.h5 row block (half each); align_pairs the read pairs an align map
 * task holds (the rest spilled as sorted runs, kernels/align_runs.c); call_need is the
 * estimated peak of one call task at the plan's batch and shard size; base the rank's fixed cost (libraries,
 * reference, plan). tsr_plan_budget refuses a budget that cannot fit with one line naming the stage and the
 * least --mem-per-rank it needs (TSR_ERR_USAGE). Not collective.
 */
typedef struct tsr_mem_budget {
    int64_t total, base, call_need, joint_bytes, joint_window, cohort_bytes;
    int64_t align_pairs; /* read pairs an align map task holds before spilling a sorted run; 0: no FASTQ sample */
} tsr_mem_budget_t;
tsr_status_t tsr_plan_budget(const tsr_plan_t *plan, tsr_mem_budget_t *b) TSR_RESULT_USED;

/* Build the plan (reads the sheet and the reference index). Not collective. Destroy with tsr_plan_destroy(). */
tsr_status_t tsr_plan_create(const tsr_run_opts_t *o, tsr_plan_t **plan) TSR_RESULT_USED;
void tsr_plan_destroy(tsr_plan_t **plan);
/*
 * The run record that `tessera add` reads: DIR/run.tsv (fingerprint, resolved mode, the options that shape
 * outputs; one `key<TAB>value` per line) and DIR/samples.d/0000.tsv (the run's sheet with absolute paths).
 * Written by the master of `tessera run` when DIR holds none yet (tmp + rename). Not collective.
 */
tsr_status_t tsr_plan_record_write(const tsr_plan_t *plan) TSR_RESULT_USED;
typedef struct tsr_run_record {
    tsr_run_opts_t opts;   /* the recorded options; its strings point into this struct */
    int lowpass;           /* the resolved mode */
    char fingerprint[64];
    char ref[4096], regions[4096], samples[4200], outdir[4096];
    char text[4][4096];    /* the recorded string options' values (tsr_run_opts_record_read), in run.tsv order */
} tsr_run_record_t;
/* Read DIR/run.tsv into *rec (opts.samples = DIR/samples.d/0000.tsv, opts.add_fingerprint set). Not collective. */
tsr_status_t tsr_run_record_read(const char *outdir, tsr_run_record_t *rec) TSR_RESULT_USED;
/*
 * Make NEW the next sheet part of the run in outdir: DIR/samples.d/NNNN.tsv with absolute paths. When it
 * equals the newest part already there (an interrupted add run again) nothing is written. A sample id that
 * is already in the cohort is refused with one line naming both sheets. *part is its part number (>= 1).
 * Not collective (the master calls it).
 */
tsr_status_t tsr_plan_part_add(const char *outdir, const char *new_sheet, int *part) TSR_RESULT_USED;
/* The task graph of the plan: align (FASTQ samples), call, joint, cohort parts (deep), cohort. */
tsr_status_t tsr_plan_graph(const tsr_plan_t *plan, tsr_graph_t **g) TSR_RESULT_USED;
/*
 * Low-pass discovery split below the region (issue 18): a unit of one region whose cohort is large gets
 * tsr_plan_lp_windows() > 1 site-window tasks instead of its joint task (TSR_TASK_JOINT, key
 * "joint/U/wWWWW", arg TSR_JOINT_WINDOW_ARG(u, w)), each reading every batch's partition and discovering
 * the sites of positions [start + len*w/W, start + len*(w+1)/W) into joint/gGGGGG/U/wWWWW.h5 (a call set
 * with the region's bounds and the window's sites); the cohort task reads the windows' call sets in
 * window order where an unsplit run reads joint/gGGGGG/U.h5: the same sites in the same order.
 * 1: no split (packed units, deep mode, small cohorts).
 */
int tsr_plan_lp_windows(const tsr_plan_t *plan, int unit);
#define TSR_JOINT_WINDOW_ARG(unit, w) ((((int64_t)(w) + 1) << 32) | (int64_t)(unit))
void tsr_plan_joint_window_path(const tsr_plan_t *plan, int unit, int w, char *buf, size_t len);
/* A cohort task's argument: a unit's part (>= 0), the final join of the parts, or the whole genome (low-pass). */
#define TSR_COHORT_ARG_FINAL (-1)
#define TSR_COHORT_ARG_WHOLE (-2)
/* outdir/rel, or rel itself when it is absolute; TSR_ERR_IO if it does not fit in len. */
tsr_status_t tsr_plan_path(const tsr_plan_t *plan, const char *rel, char *buf, size_t len) TSR_RESULT_USED;
/* The per-sample alignment format when --aln-format is not given. */
#define TSR_ALN_FORMAT_DEFAULT "cram"
/* Output paths relative to outdir. tsr_plan_aln_path: aln/S.bam or aln/S.cram (opts.aln_format). */
void tsr_plan_aln_path(const tsr_plan_t *plan, int sample, char *buf, size_t len);
/* evidence/gGGGGG/U/bBBBBB.h5 and joint/gGGGGG/U.h5 of unit `unit` (see tsr_unit_t). */
void tsr_plan_evidence_path(const tsr_plan_t *plan, int unit, int batch, char *buf, size_t len);
void tsr_plan_joint_path(const tsr_plan_t *plan, int unit, char *buf, size_t len);
/*
 * Align work units (kernels/README.md). A FASTQ sample gets one index task
 * (scan the reads once, record where every chunk of align_chunk_pairs read
 * pairs starts: DIR/aln/S.chunks.tsv), align_slots[S] map tasks (slot k maps
 * the chunks [k*C/K, (k+1)*C/K) of the C chunks found, into a sorted run and
 * its duplicate signatures) and one merge task (runs -> aln/S.bam + .bai +
 * .qc.json, duplicates marked). K comes from the files' sizes only, so every
 * rank and thread count sees the same tasks; all align tasks have type
 * TSR_TASK_ALIGN and their arg packs (step, sample, slot).
 */
typedef enum { TSR_ALIGN_STEP_INDEX = 0, TSR_ALIGN_STEP_MAP = 1, TSR_ALIGN_STEP_MERGE = 2 } tsr_align_step_t;
int64_t tsr_plan_align_arg(tsr_align_step_t step, int sample, int slot);
void tsr_plan_align_unpack(int64_t arg, tsr_align_step_t *step, int *sample, int *slot);
/* aln/S.chunks.tsv, aln/S.runs/cKKKKK.bam, aln/S.runs/cKKKKK.dup, aln/S.qc.json (relative to outdir) */
void tsr_plan_align_chunks_path(const tsr_plan_t *plan, int sample, char *buf, size_t len);
void tsr_plan_align_run_path(const tsr_plan_t *plan, int sample, int slot, const char *ext, char *buf, size_t len);
void tsr_plan_align_qc_path(const tsr_plan_t *plan, int sample, char *buf, size_t len);
/*
 * The alignment file a call task reads for a sample: its aligned input, or align's output,
 * as an absolute path once the file exists (relative to the working directory before).
 */
tsr_status_t tsr_plan_sample_alignments(const tsr_plan_t *plan, int sample, char *buf, size_t len) TSR_RESULT_USED;
/* tsr_plan_path(), then the file's parent directory created (a task's output path). */
tsr_status_t tsr_plan_output_path(const tsr_plan_t *plan, const char *rel, char *buf, size_t len) TSR_RESULT_USED;
/*
 * A task's resolved work unit (kernels/pipeline/plan_work.c): the region, batch or sample, input files,
 * samples and output files of one task, so that a kernel neither decodes task->arg nor names files.
 * Inputs are in the order the task reads them; everything the struct points to that is not its own
 * (region, batch, sheet, ids) is owned by the plan and lives as long as it.
 */
typedef struct tsr_work {
    tsr_task_type_t type;     /* TSR_TASK_ALIGN, TSR_TASK_CALL, TSR_TASK_JOINT or TSR_TASK_COHORT */
    int region;               /* call, joint: index into plan->regions of the unit's first region; -1 for cohort */
    const tsr_region_t *reg;  /* call, joint: &plan->regions[region]; NULL for cohort */
    int unit;                 /* call, joint: index into plan->units; -1 otherwise */
    int n_regs;               /* call, joint: the unit's regions reg[0 .. n_regs) (genome order); 0 otherwise.
                                 A kernel loops over them, reading and writing member k of its files
                                 through tsr_work_member() */
    int window, n_windows;    /* low-pass joint: the site window (-1: the whole unit) and the unit's windows
                                 (tsr_plan_lp_windows); -1, 1 otherwise */
    int64_t win_start, win_end; /* a window task: its positions [win_start, win_end) (0-based); else 0, 0 */
    int batch;                /* call: index into plan->batches; -1 otherwise */
    const tsr_batch_t *bt;    /* call: &plan->batches[batch] (its sheet part and index in it); NULL otherwise */
    int n_inputs;
    char **inputs;            /* call: each sample's alignment file (tsr_plan_sample_alignments), in sheet order;
                                 joint: the region's evidence partition of every batch, in batch order;
                                 cohort: every region's joint call set, in region order (a split
                                 low-pass unit: its site windows' call sets, in window order)
                                 (evidence and call sets: tsr_plan_path of their output path) */
    int *input_samples;       /* per input, the samples it holds: 1 (call), the batch's (joint), all (cohort) */
    int n_samples;            /* the samples of the task's output: the batch's (call), the cohort's (joint, cohort) */
    const char **sample_ids;  /* their ids, in cohort order */
    const tsr_sheet_t *sheet; /* the whole cohort: populations for the joint and cohort outputs */
    char *output;             /* call, joint: the output file (tsr_plan_output_path: its parent directory
                                 exists); cohort: opts.outdir, which its outputs are written into;
                                 align: index aln/S.chunks.tsv, map the run aln/S.runs/cK.bam, merge aln/S.cram
                                 (or .bam), each with its directory created */
    /* align tasks only (else step 0, sample -1, slot 0, n_slots 0, smp and output2 NULL): */
    tsr_align_step_t step;    /* index, map or merge */
    int sample, slot, n_slots; /* the sample, the map slot, the sample's map tasks (plan->align_slots) */
    const tsr_sample_t *smp;  /* the sample (its lanes are what index and map read) */
    char *output2;            /* map: the duplicate signatures aln/S.runs/cK.dup; merge: aln/S.qc.json
                                 (inputs: map, the chunk file; merge, the chunk file, then the K runs, then
                                 the K signature files) */
} tsr_work_t;
/*
 * Resolve the work unit of a task of this plan. A task arg outside the plan is TSR_ERR_INTERNAL, named
 * after the kernel that runs the task in the plan's mode; creating the output's
 * parent directory may fail with TSR_ERR_IO. *w is NULL on error. Not collective (one thread, one task).
 * Destroy with tsr_plan_work_destroy().
 */
tsr_status_t tsr_plan_work_create(const tsr_plan_t *plan, const tsr_task_t *task, tsr_work_t **w) TSR_RESULT_USED;
/*
 * The path of member k (the unit's k-th region) of one of w's files: `path` itself when the unit has one
 * region, else "path#k" to read or "path#k/n" to write (io/h5_store.h, packed files; members are written
 * in order k = 0 .. n_regs - 1). Not collective.
 */
void tsr_work_member(const tsr_work_t *w, const char *path, int k, int write, char *buf, size_t len);
/* Free a work unit (not what the plan owns); accepts NULL and sets *w to NULL. Not collective. */
void tsr_plan_work_destroy(tsr_work_t **w);

/*
 * The reference a region task reads: contig:[start - TSR_REGION_REF_PAD,
 * end + TSR_REGION_REF_PAD), clipped to the contig (deletions anchored near
 * the end carry their REF; indels left-align across the start as in the
 * previous region), fetched under `lock` (a rank's kernels share one
 * reader). *seq (the caller frees it) holds *before bases before
 * reg->start, then *len >= end - start more. Errors name the task and
 * ref_path. Not collective.
 */
#define TSR_REGION_REF_PAD 1000
tsr_status_t tsr_region_ref_fetch(tsr_ref_t *ref, pthread_mutex_t *lock, const tsr_region_t *reg,
                                  const char *task_key, const char *ref_path, const char **contig, char **seq,
                                  int64_t *before, int64_t *len) TSR_RESULT_USED;

/* --------------------------------------------------------------- kernels */

/* What every kernel gets: the plan, the rank's pool and MPI context, and what its setup() made. */
typedef struct tsr_kernel_env {
    const tsr_plan_t *plan;
    tsr_pool_t *pool;
    const tsr_rt_t *rt;
    void *shared; /* this kernel's setup() result on this rank (NULL without setup) */
} tsr_kernel_env_t;

/*
 * The kernel contract. Phases, each optional unless marked:
 *   setup()     collective on env->rt->comm, before the task graph, on every
 *               rank: state the ranks build together (the align kernel's
 *               node-shared index), seen by init() and process() as
 *               env->shared; teardown() frees it, collectively, after the graph.
 *   init()      (required) once per rank before its first task of this
 *               kernel: the rank's private state.
 *   process()   (required) one task: its work unit comes from
 *               tsr_plan_work_create() (call, joint, cohort) or the task arg
 *               (align, see kernels/README.md); outputs are written under
 *               temporary names and renamed when complete.
 *   destroy()   (required) frees init()'s state; accepts NULL.
 *   finish      a collective stage after the graph (the cohort kernel's cohort.h5): a
 *               scheduler stage (tsr_stage_t: journal key, outputs, the task-key
 *               prefixes that make it stale) whose run() gets this kernel's env as ctx;
 *               the driver runs it through tsr_sched_stage_run.
 *   shared_bytes()  memory setup() holds once per node, for summary.json.
 * The driver runs setup, finish and teardown only for kernels that have
 * tasks in the graph (`tessera align` has no cohort task, so no cohort.h5).
 * version changes whenever the kernel's output for the same input changes
 * (it enters the run fingerprint).
 */
typedef struct tsr_kernel {
    const char *name;
    int version;
    tsr_status_t (*setup)(const tsr_kernel_env_t *env, void **shared);
    void (*teardown)(void **shared);
    size_t (*shared_bytes)(const void *shared);
    tsr_status_t (*init)(const tsr_kernel_env_t *env, void **state);
    tsr_status_t (*process)(void *state, const tsr_kernel_env_t *env, const tsr_task_t *task);
    void (*destroy)(void **state);
    const tsr_stage_t *finish; /* its ctx is ignored: the driver passes the kernel's env */
} tsr_kernel_t;

/*
 * The registered kernel by name ("align", "call", "joint", "cohort",
 * "lowpass_evidence", "lowpass_discover"), NULL if none.
 */
const tsr_kernel_t *tsr_kernel_find(const char *name);
/* The kernel that runs tasks of a type in this plan: tsr_kernel_find(plan->kernel[type]). */
const tsr_kernel_t *tsr_kernel_for_plan(const tsr_plan_t *plan, tsr_task_type_t type);

extern const tsr_kernel_t tsr_kernel_align;
extern const tsr_kernel_t tsr_kernel_call;
extern const tsr_kernel_t tsr_kernel_joint;
extern const tsr_kernel_t tsr_kernel_cohort;
extern const tsr_kernel_t tsr_kernel_lowpass_evidence;
extern const tsr_kernel_t tsr_kernel_lowpass_discover;

/* ------------------------------------------------------ the aligner index */

/*
 * The pipeline's index hook: when the plan has FASTQ samples, the node-shared
 * index of plan->opts.ref (tsr_mm_index_create with n_threads for building)
 * kept in plan->opts.index (a mismatch refused), else in REF.mmi beside the
 * reference when rank 0 can write its folder, else in DIR/ref.mmi (a stale
 * one rebuilt); else *x = NULL. Collective on rt->comm. Run it
 * before the task graph and tsr_mm_index_destroy() it after the graph, on
 * every rank: the align kernel's setup() and teardown(), so it maps with it
 * as env->shared.
 */
tsr_status_t tsr_align_index_create(const tsr_rt_t *rt, const tsr_plan_t *plan, int n_threads,
                                    tsr_mm_index_t **x) TSR_RESULT_USED;

/* --------------------------------------------------------------- pipeline */

typedef struct tsr_run_summary {
    tsr_sched_result_t sched;
    int64_t n_sites;       /* in cohort.bcf (known on every rank after a complete run) */
    double seconds;
    int64_t peak_rss;      /* max over ranks */
    int lowpass;           /* the resolved mode (1: low-pass) */
    int64_t index_bytes_per_node; /* the node-shared minimap2 index (0 when the run does not align) */
    char audit_head[TSR_DIGEST_MAX]; /* "sha256:<hex>" of a finished run (tsr_audit_check), at the master */
} tsr_run_summary_t;

/*
 * Plan, then run the task graph over rt->comm (collective on it), with a
 * placement-pinned pool per rank. Resumes from DIR/journal.tsv.
 */
tsr_status_t tsr_pipeline_run(const tsr_rt_t *rt, const tsr_run_opts_t *o,
                              tsr_run_summary_t *sum) TSR_RESULT_USED;
/*
 * `tessera add`: the master makes NEW the next sheet part of the low-pass run in outdir
 * (tsr_plan_part_add), then every rank runs the run's recorded plan over the union: evidence tasks for
 * the new part only, discovery and the cohort stage again. threads and mem_per_rank as in
 * tsr_run_opts_t (0 = default). Refuses a deep-mode run. Collective on rt->comm.
 */
/*
 * The audit (kernels/pipeline/audit_run.c; the chain is scheduler/audit.c). Master only, not collective.
 * audit_inputs: hash the inputs into DIR/audit_inputs.sha256 and journal it; TSR_ERR_STATE when an input
 * listed by an earlier part of this run changed. audit_seal: the head of a finished run, appended to the
 * journal, and DIR/audit.sig with --sign-key. h5_digest: cohort.h5's content digest ("h5sha256:<hex>");
 * audit_content is it as a tsr_audit_content_fn (for `tessera verify`). audit_inputs_check: rehash every
 * file the manifest lists, one problem line per file that changed or is unreadable.
 */
tsr_status_t tsr_pipeline_audit_inputs(const tsr_plan_t *plan) TSR_RESULT_USED;
tsr_status_t tsr_pipeline_audit_seal(const tsr_plan_t *plan, char head[TSR_DIGEST_MAX]) TSR_RESULT_USED;
tsr_status_t tsr_pipeline_h5_digest(const char *path, char digest[TSR_DIGEST_MAX]) TSR_RESULT_USED;
tsr_status_t tsr_pipeline_audit_content(void *ctx, const char *path, const char *recorded,
                                        char digest[TSR_DIGEST_MAX]) TSR_RESULT_USED;
tsr_status_t tsr_pipeline_audit_inputs_check(const char *outdir, tsr_audit_problem_fn problem, void *ctx,
                                             int *n_inputs, int *n_problems) TSR_RESULT_USED;

tsr_status_t tsr_pipeline_add(const tsr_rt_t *rt, const char *outdir, const char *new_sheet, int threads,
                              int64_t mem_per_rank, const tsr_run_provenance_t *provenance,
                              tsr_run_summary_t *sum) TSR_RESULT_USED;

/* --------------------------------------------------------- `tessera stats` */

/*
 * `tessera stats --vcf F --out DIR` (kernels/pipeline/stats_run.c): the
 * per-site and cohort-wide statistics of an existing indexed VCF/BCF through
 * the scheduler, so regions are dispatched dynamically, every finished one is
 * journaled in DIR/journal.tsv and a rerun of the same command resumes.
 * Tasks: one per region window of tsr_vcf_stats_open() ("region/NNNNNNNN":
 * DIR/stats.d/NNNNNNNN.tsv, its stats.tsv lines, and .counts, its cohort-wide
 * counts), then "stats/merge" after all of them (DIR/stats.tsv, sample_qc.tsv,
 * stats.d/all.counts). After the graph the master writes summary.json and
 * report.html (run facts: time, CPU, memory, tasks). The fingerprint covers
 * the VCF (absolute path, size, mtime), the --samples file's bytes and
 * --window, so DIR's journal refuses another input.
 */
typedef struct tsr_stats_opts {
    const char *vcf;        /* --vcf: bgzipped VCF or BCF with a .csi/.tbi index */
    const char *samples;    /* --samples: sample -> population TSV; NULL = every sample in population "all" */
    const char *outdir;     /* --out */
    int64_t window;         /* --window: region size in bp (default 1,000,000) */
    double grace_seconds;   /* --grace: after a stop signal, wait this long for running tasks (default 60) */
    const char *verify_outputs; /* --verify-outputs full|stat (NULL = stat), as for `tessera run` */
    const tsr_run_provenance_t *provenance; /* versions for report.html's facts; NULL = none (not in the fingerprint) */
} tsr_stats_opts_t;

void tsr_stats_opts_init(tsr_stats_opts_t *o);
/* --verify-outputs text ("full", "stat", NULL = "stat") as the scheduler's tsr_verify_t. Not collective. */
int tsr_verify_outputs_mode(const char *text);
/* TSR_ERR_USAGE naming the option when one is missing or out of range. Not collective. */
tsr_status_t tsr_stats_opts_check(const tsr_stats_opts_t *o) TSR_RESULT_USED;

/* What a `tessera stats` run did; the same on every rank after tsr_stats_run returns. */
typedef struct tsr_stats_summary {
    tsr_sched_result_t sched; /* tasks: in the graph, from the journal, executed, retried */
    int64_t n_sites;          /* in DIR/stats.tsv (after a complete run) */
    int n_samples, n_populations, n_regions;
    double seconds;           /* wall time of this invocation */
    double cpu_seconds;       /* summed over ranks */
    int64_t peak_rss;         /* max over ranks */
} tsr_stats_summary_t;

/*
 * Run `tessera stats` over rt->comm. Collective on it: every rank passes the
 * same options. Returns TSR_OK when DIR holds every output, TSR_ERR_INTERRUPTED
 * after a stop signal (journal flushed; rerun the same command to resume;
 * sum->sched.interrupted = 1), TSR_ERR_STATE when DIR's journal belongs to
 * another input, or the failing status; every rank returns the same status
 * and message.
 */
tsr_status_t tsr_stats_run(const tsr_rt_t *rt, const tsr_stats_opts_t *o, tsr_stats_summary_t *sum) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_PIPELINE_H */
