/*
 * test_plan_work.c - the resolved work units of a small plan (kernels/pipeline/plan_work.c): 3 samples in batches
 * of 2 and 1, a 2,500 bp contig in shards of 1,000 (3 regions). Checks what each task type reads and
 * writes, that output directories are created, and the range errors named after the plan's kernels.
 * Everything is written under a temporary directory that the test removes.
 */
#define _XOPEN_SOURCE 700
#include "kernels/pipeline/pipeline.h"

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[PATH_MAX], outdir[PATH_MAX + 8];

static void write_file(const char *name, const char *text)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/tsr-plan-work-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(outdir, sizeof outdir, "%s/out", dir);
    char fa[2600] = ">chrT\n";
    for (int i = 0; i < 2500; i++)
        strcat(fa, i % 100 == 99 ? "A\n" : "A");
    write_file("ref.fa", fa);
    write_file("s1.bam", "");
    write_file("s2.bam", "");
    write_file("s3.bam", "");
    write_file("samples.tsv", "sample\tpopulation\tbam\ns1\tP\ts1.bam\ns2\tP\ts2.bam\ns3\tQ\ts3.bam\n");
    char ref[PATH_MAX + 16], sheet[PATH_MAX + 16];
    snprintf(ref, sizeof ref, "%s/ref.fa", dir);
    snprintf(sheet, sizeof sheet, "%s/samples.tsv", dir);
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.ref = ref;
    o.samples = sheet;
    o.outdir = outdir;
    o.shard_size = 1000;
    o.batch_size = 2;
    o.mode = "deep";
    tsr_plan_t *plan = NULL;
    if (tsr_plan_create(&o, &plan) != TSR_OK) {
        fprintf(stderr, "plan: %s\n", tsr_error_msg());
        return -1;
    }
    *state = plan;
    return 0;
}

static int teardown(void **state)
{
    tsr_plan_t *plan = *state;
    tsr_plan_destroy(&plan);
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static tsr_task_t task_of(int type, int64_t arg, const char *key)
{
    tsr_task_t t;
    memset(&t, 0, sizeof t);
    t.type = type;
    t.arg = arg;
    t.key = key;
    return t;
}

static void is_dir(const char *file)
{
    char d[PATH_MAX + 64];
    snprintf(d, sizeof d, "%s", file);
    *strrchr(d, '/') = '\0';
    struct stat st;
    assert_int_equal(stat(d, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_call_unit(void **state)
{
    const tsr_plan_t *plan = *state;
    assert_int_equal(plan->n_regions, 3);
    assert_int_equal(plan->n_batches, 2);
    tsr_task_t t = task_of(TSR_TASK_CALL, 1 * 2 + 1, "call/00000001_chrT_1001/b00001");
    tsr_work_t *w = NULL;
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->type, TSR_TASK_CALL);
    assert_int_equal(w->region, 1);
    assert_ptr_equal(w->reg, &plan->regions[1]);
    assert_int_equal(w->unit, 1); /* full shards: a unit each */
    assert_int_equal(w->n_regs, 1);
    char member[PATH_MAX];
    tsr_work_member(w, "x.h5", 0, 1, member, sizeof member);
    assert_string_equal(member, "x.h5"); /* an unpacked unit's files are whole files */
    assert_int_equal(w->reg->start, 1000);
    assert_int_equal(w->batch, 1);
    assert_ptr_equal(w->bt, &plan->batches[1]);
    assert_int_equal(w->n_inputs, 1);
    assert_int_equal(w->n_samples, 1);
    assert_string_equal(w->sample_ids[0], "s3");
    assert_int_equal(w->input_samples[0], 1);
    char want[2 * PATH_MAX], real[PATH_MAX];
    snprintf(want, sizeof want, "%s/s3.bam", dir);
    assert_non_null(realpath(want, real));
    assert_string_equal(w->inputs[0], real);
    snprintf(want, sizeof want, "%s/evidence/g00000/00000001_chrT_1001/b00001.h5", outdir);
    assert_string_equal(w->output, want);
    is_dir(w->output);
    tsr_plan_work_destroy(&w);
    assert_null(w);
    tsr_plan_work_destroy(&w);
    tsr_plan_work_destroy(NULL);

    t = task_of(TSR_TASK_CALL, 0, "call/00000000_chrT_1/b00000");
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->n_inputs, 2);
    assert_string_equal(w->sample_ids[0], "s1");
    assert_string_equal(w->sample_ids[1], "s2");
    tsr_plan_work_destroy(&w);
}

static void test_joint_unit(void **state)
{
    const tsr_plan_t *plan = *state;
    tsr_task_t t = task_of(TSR_TASK_JOINT, 2, "joint/00000002_chrT_2001");
    tsr_work_t *w = NULL;
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->region, 2);
    assert_int_equal(w->reg->end, 2500);
    assert_int_equal(w->batch, -1);
    assert_null(w->bt);
    assert_int_equal(w->n_inputs, 2);
    char want[2 * PATH_MAX];
    snprintf(want, sizeof want, "%s/evidence/g00000/00000002_chrT_2001/b00000.h5", outdir);
    assert_string_equal(w->inputs[0], want);
    snprintf(want, sizeof want, "%s/evidence/g00000/00000002_chrT_2001/b00001.h5", outdir);
    assert_string_equal(w->inputs[1], want);
    assert_int_equal(w->input_samples[0], 2);
    assert_int_equal(w->input_samples[1], 1);
    assert_int_equal(w->n_samples, 3);
    assert_string_equal(w->sample_ids[2], "s3");
    assert_ptr_equal(w->sheet, plan->sheet);
    snprintf(want, sizeof want, "%s/joint/g00000/00000002_chrT_2001.h5", outdir);
    assert_string_equal(w->output, want);
    is_dir(w->output);
    tsr_plan_work_destroy(&w);
}

static void test_cohort_unit(void **state)
{
    const tsr_plan_t *plan = *state;
    tsr_task_t t = task_of(TSR_TASK_COHORT, 0, "cohort");
    tsr_work_t *w = NULL;
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->region, -1);
    assert_null(w->reg);
    assert_int_equal(w->n_inputs, 3);
    char want[2 * PATH_MAX];
    for (int r = 0; r < 3; r++) {
        snprintf(want, sizeof want, "%s/joint/g00000/%s.h5", outdir, plan->units[r].name);
        assert_string_equal(w->inputs[r], want);
        assert_int_equal(w->input_samples[r], 3);
    }
    assert_string_equal(w->output, outdir);
    tsr_plan_work_destroy(&w);
}

static void expect_error(const tsr_plan_t *plan, int type, int64_t arg, const char *msg)
{
    tsr_task_t t = task_of(type, arg, "k");
    tsr_work_t *w = (tsr_work_t *)1;
    tsr_error_clear();
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_ERR_INTERNAL);
    assert_null(w);
    assert_string_equal(tsr_error_msg(), msg);
    tsr_error_clear();
}

/* A FASTQ sample's three align steps, on a plan of its own. */
static void test_align_units(void **state)
{
    (void)state;
    write_file("f_1.fq", "@r1/1\nACGTACGTAC\n+\nIIIIIIIIII\n");
    write_file("f_2.fq", "@r1/2\nGTACGTACGT\n+\nIIIIIIIIII\n");
    write_file("fq.tsv", "sample\tpopulation\tfastq1\tfastq2\nf\tP\tf_1.fq\tf_2.fq\n");
    char ref[PATH_MAX + 16], sheet[PATH_MAX + 16], out[PATH_MAX + 16], want[2 * PATH_MAX];
    snprintf(ref, sizeof ref, "%s/ref.fa", dir);
    snprintf(sheet, sizeof sheet, "%s/fq.tsv", dir);
    snprintf(out, sizeof out, "%s/fqout", dir);
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.ref = ref;
    o.samples = sheet;
    o.outdir = out;
    o.aln_format = "bam";
    tsr_plan_t *plan = NULL;
    assert_int_equal(tsr_plan_create(&o, &plan), TSR_OK);
    assert_int_equal(plan->align_slots[0], 1);

    tsr_task_t t = task_of(TSR_TASK_ALIGN, tsr_plan_align_arg(TSR_ALIGN_STEP_INDEX, 0, 0), "align/f/index");
    tsr_work_t *w = NULL;
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->step, TSR_ALIGN_STEP_INDEX);
    assert_int_equal(w->sample, 0);
    assert_ptr_equal(w->smp, &plan->sheet->samples[0]);
    assert_string_equal(w->sample_ids[0], "f");
    assert_int_equal(w->n_inputs, 0);
    assert_int_equal(w->n_slots, 1);
    snprintf(want, sizeof want, "%s/aln/g00000/f.chunks.tsv", out);
    assert_string_equal(w->output, want);
    is_dir(w->output);
    assert_null(w->output2);
    tsr_plan_work_destroy(&w);

    t = task_of(TSR_TASK_ALIGN, tsr_plan_align_arg(TSR_ALIGN_STEP_MAP, 0, 0), "align/f/c00000");
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->step, TSR_ALIGN_STEP_MAP);
    assert_int_equal(w->slot, 0);
    assert_int_equal(w->n_inputs, 1);
    snprintf(want, sizeof want, "%s/aln/g00000/f.chunks.tsv", out);
    assert_string_equal(w->inputs[0], want);
    snprintf(want, sizeof want, "%s/aln/g00000/f.runs/c00000.bam", out);
    assert_string_equal(w->output, want);
    is_dir(w->output);
    snprintf(want, sizeof want, "%s/aln/g00000/f.runs/c00000.dup", out);
    assert_string_equal(w->output2, want);
    tsr_plan_work_destroy(&w);

    t = task_of(TSR_TASK_ALIGN, tsr_plan_align_arg(TSR_ALIGN_STEP_MERGE, 0, 0), "align/f");
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->step, TSR_ALIGN_STEP_MERGE);
    assert_int_equal(w->n_inputs, 3); /* the chunk file, one run, one signature file */
    snprintf(want, sizeof want, "%s/aln/g00000/f.runs/c00000.bam", out);
    assert_string_equal(w->inputs[1], want);
    snprintf(want, sizeof want, "%s/aln/g00000/f.runs/c00000.dup", out);
    assert_string_equal(w->inputs[2], want);
    snprintf(want, sizeof want, "%s/aln/g00000/f.bam", out);
    assert_string_equal(w->output, want);
    snprintf(want, sizeof want, "%s/aln/g00000/f.qc.json", out);
    assert_string_equal(w->output2, want);
    tsr_plan_work_destroy(&w);

    expect_error(plan, TSR_TASK_ALIGN, tsr_plan_align_arg(TSR_ALIGN_STEP_MAP, 0, 1),
                 "align task 'k' names no sample, step or slot of the plan");
    tsr_plan_destroy(&plan);
}

/*
 * Packing (issue 18): contigs a, b, c of 300 bp, d of 600 bp and e of 2,500 bp in shards of 1,000 give 7
 * regions and 5 units: {a, b, c} (900 bp), {d} (d + e's first shard would pass 1,000), and e's three
 * shards alone. A packed unit's tasks loop over its regions and name their members; the cohort reads every
 * region's member, in genome order.
 */
static void test_packed_units(void **state)
{
    (void)state;
    char fa[8192] = "";
    const char *names[5] = {"a", "b", "c", "d", "e"};
    const int lens[5] = {300, 300, 300, 600, 2500};
    for (int c = 0; c < 5; c++) {
        snprintf(fa + strlen(fa), sizeof fa - strlen(fa), ">%s\n", names[c]);
        for (int i = 0; i < lens[c]; i++)
            strcat(fa, i % 100 == 99 || i == lens[c] - 1 ? "C\n" : "C");
    }
    write_file("packed.fa", fa);
    char ref[PATH_MAX + 16], sheet[PATH_MAX + 16], out[PATH_MAX + 16], want[2 * PATH_MAX], member[PATH_MAX];
    snprintf(ref, sizeof ref, "%s/packed.fa", dir);
    snprintf(sheet, sizeof sheet, "%s/samples.tsv", dir);
    snprintf(out, sizeof out, "%s/packed", dir);
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.ref = ref;
    o.samples = sheet;
    o.outdir = out;
    o.shard_size = 1000;
    o.batch_size = 2;
    o.mode = "deep";
    tsr_plan_t *plan = NULL;
    assert_int_equal(tsr_plan_create(&o, &plan), TSR_OK);
    assert_int_equal(plan->n_regions, 7);
    assert_int_equal(plan->n_units, 5);
    const int first[5] = {0, 3, 4, 5, 6}, n[5] = {3, 1, 1, 1, 1};
    for (int u = 0; u < 5; u++) {
        assert_int_equal(plan->units[u].first, first[u]);
        assert_int_equal(plan->units[u].n, n[u]);
    }
    assert_string_equal(plan->units[0].name, "00000000_a_1");
    assert_string_equal(plan->units[1].name, "00000001_d_1");
    assert_string_equal(plan->regions[3].name, "00000003_d_1");
    assert_string_equal(plan->units[4].name, "00000004_e_2001");

    tsr_task_t t = task_of(TSR_TASK_CALL, 0 * 2 + 1, "call/00000000_a_1/b00001");
    tsr_work_t *w = NULL;
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->unit, 0);
    assert_int_equal(w->n_regs, 3);
    assert_ptr_equal(w->reg, &plan->regions[0]);
    assert_int_equal(w->reg[2].contig, 2);
    snprintf(want, sizeof want, "%s/evidence/g00000/00000000_a_1/b00001.h5", out);
    assert_string_equal(w->output, want);
    tsr_work_member(w, w->output, 2, 1, member, sizeof member);
    snprintf(want, sizeof want, "%s/evidence/g00000/00000000_a_1/b00001.h5#2/3", out);
    assert_string_equal(member, want);
    tsr_work_member(w, w->output, 1, 0, member, sizeof member);
    snprintf(want, sizeof want, "%s/evidence/g00000/00000000_a_1/b00001.h5#1", out);
    assert_string_equal(member, want);
    tsr_plan_work_destroy(&w);

    t = task_of(TSR_TASK_JOINT, 1, "joint/00000001_d_1");
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->region, 3);
    assert_int_equal(w->n_regs, 1);
    tsr_plan_work_destroy(&w);

    t = task_of(TSR_TASK_COHORT, 0, "cohort");
    assert_int_equal(tsr_plan_work_create(plan, &t, &w), TSR_OK);
    assert_int_equal(w->n_inputs, 7);
    for (int k = 0; k < 3; k++) {
        snprintf(want, sizeof want, "%s/joint/g00000/00000000_a_1.h5#%d", out, k);
        assert_string_equal(w->inputs[k], want);
    }
    snprintf(want, sizeof want, "%s/joint/g00000/00000001_d_1.h5", out);
    assert_string_equal(w->inputs[3], want);
    snprintf(want, sizeof want, "%s/joint/g00000/00000004_e_2001.h5", out);
    assert_string_equal(w->inputs[6], want);
    tsr_plan_work_destroy(&w);
    expect_error(plan, TSR_TASK_JOINT, 5, "joint task k: argument 5 out of range");

    /* the task graph: a call task per unit and batch, a joint task per unit, a cohort part per unit (deep),
       the final cohort task joining them */
    tsr_graph_t *g = NULL;
    assert_int_equal(tsr_plan_graph(plan, &g), TSR_OK);
    assert_int_equal(tsr_graph_size(g), 5 * 2 + 5 + 5 + 1);
    int parts = 0, finals = 0;
    tsr_task_buf_t tb;
    for (int i = 0; i < tsr_graph_size(g); i++) {
        const tsr_task_t *gt = tsr_graph_task(g, i, &tb);
        if (gt->type != TSR_TASK_COHORT)
            continue;
        if (gt->arg >= 0) {
            snprintf(want, sizeof want, "cohort/p%05d", parts);
            assert_string_equal(gt->key, want);
            assert_int_equal(gt->arg, parts);
            snprintf(want, sizeof want, "cohort_parts/g00000/p%05d.bcf", parts++);
            assert_string_equal(gt->outputs[0], want);
        } else {
            assert_int_equal(gt->arg, TSR_COHORT_ARG_FINAL);
            assert_string_equal(gt->key, "cohort");
            finals++;
        }
    }
    assert_int_equal(parts, 5);
    assert_int_equal(finals, 1);
    tsr_graph_destroy(&g);
    tsr_plan_destroy(&plan);
}

/*
 * Positions past what the outputs hold are refused in one line at planning (issue 18): a 3 Gb contig
 * (only its .fai is read at planning) plans below 2^31 and is refused past it; FASTQ samples aligned into
 * BAM are refused on a contig longer than a BAM header holds (2^31 - 1), and planned on one between 2^29
 * and 2^31 (its BAM gets a CSI index, not a .bai).
 */
static void test_position_limits(void **state)
{
    (void)state;
    write_file("big.fa", ">chrBig\nACGT\n");
    write_file("big.fa.fai", "chrBig\t3000000000\t8\t60\t61\n");
    char ref[PATH_MAX + 16], sheet[PATH_MAX + 16], out[PATH_MAX + 16];
    snprintf(ref, sizeof ref, "%s/big.fa", dir);
    snprintf(sheet, sizeof sheet, "%s/samples.tsv", dir);
    snprintf(out, sizeof out, "%s/big", dir);
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.ref = ref;
    o.samples = sheet;
    o.outdir = out;
    o.mode = "deep";
    o.regions = "chrBig:2147000001-2147483647";
    tsr_plan_t *plan = NULL;
    assert_int_equal(tsr_plan_create(&o, &plan), TSR_OK);
    assert_int_equal(plan->n_regions, 1);
    assert_int_equal(plan->regions[0].end, 2147483647);
    assert_string_equal(plan->units[0].name, "00000000_chrBig_2147000001");
    tsr_plan_destroy(&plan);
    o.regions = "chrBig:2147000001-2147483648";
    tsr_error_clear();
    assert_int_equal(tsr_plan_create(&o, &plan), TSR_ERR_USAGE);
    assert_null(plan);
    assert_non_null(strstr(tsr_error_msg(), "contig 'chrBig' is 3000000000 bp and --regions reaches base 2147483648: "
                                            "BCF/VCF positions are 32-bit"));
    tsr_error_clear();

    write_file("f_1.fq", "@r1/1\nACGTACGTAC\n+\nIIIIIIIIII\n");
    write_file("f_2.fq", "@r1/2\nGTACGTACGT\n+\nIIIIIIIIII\n");
    write_file("fq.tsv", "sample\tpopulation\tfastq1\tfastq2\nf\tP\tf_1.fq\tf_2.fq\n");
    snprintf(sheet, sizeof sheet, "%s/fq.tsv", dir);
    o.samples = sheet;
    o.regions = "chrBig:1-1000000";
    o.aln_format = "bam";
    assert_int_equal(tsr_plan_create(&o, &plan), TSR_ERR_USAGE);
    assert_non_null(strstr(tsr_error_msg(), "contig 'chrBig' is 3000000000 bp, longer than a BAM header can "
                                            "hold (2147483647); use --aln-format cram"));
    tsr_error_clear();
    o.aln_format = "cram";
    assert_int_equal(tsr_plan_create(&o, &plan), TSR_OK);
    tsr_plan_destroy(&plan);

    write_file("mid.fa", ">chrMid\nACGT\n");
    write_file("mid.fa.fai", "chrMid\t1000000000\t8\t60\t61\n");
    snprintf(ref, sizeof ref, "%s/mid.fa", dir);
    snprintf(out, sizeof out, "%s/mid", dir);
    o.regions = "chrMid:900000001-901000000";
    o.aln_format = "bam";
    assert_int_equal(tsr_plan_create(&o, &plan), TSR_OK);
    tsr_plan_destroy(&plan);
}

static void test_range_errors(void **state)
{
    tsr_plan_t *plan = *state;
    expect_error(plan, TSR_TASK_CALL, 6, "call task k: argument 6 out of range");
    expect_error(plan, TSR_TASK_CALL, -1, "call task k: argument -1 out of range");
    expect_error(plan, TSR_TASK_JOINT, 3, "joint task k: argument 3 out of range");
    /* the samples are aligned BAMs: no align task of the plan names them */
    expect_error(plan, TSR_TASK_ALIGN, tsr_plan_align_arg(TSR_ALIGN_STEP_INDEX, 0, 0),
                 "align task 'k' names no sample, step or slot of the plan");
    expect_error(plan, TSR_TASK_ALIGN, tsr_plan_align_arg(TSR_ALIGN_STEP_MERGE, 7, 0),
                 "align task 'k' names no sample, step or slot of the plan");
    expect_error(plan, TSR_TASK_N_TYPES, 0, "task k: type 4 has no resolved work unit");
    plan->lowpass = 1; /* the same task types run the low-pass kernels */
    expect_error(plan, TSR_TASK_CALL, 6, "lowpass evidence task k: argument 6 out of range");
    expect_error(plan, TSR_TASK_JOINT, -1, "lowpass discovery task k: argument -1 out of range");
    plan->lowpass = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_unit),
        cmocka_unit_test(test_joint_unit),
        cmocka_unit_test(test_cohort_unit),
        cmocka_unit_test(test_align_units),
        cmocka_unit_test(test_packed_units),
        cmocka_unit_test(test_position_limits),
        cmocka_unit_test(test_range_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
