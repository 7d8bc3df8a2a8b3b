/* test_sample_sheet.c - tsr_sheet_create_from_file: good sheets and every error line. */
#include "formats_test_util.h"

#include "io/io.h"

typedef struct fixture {
    char *dir, *real;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tmpdir_make();
    f->real = realpath(f->dir, NULL);
    assert_non_null(f->real);
    char *sub = path_in(f->dir, "sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    free(sub);
    const char *names[] = {"a_1.fq", "a_2.fq", "sub/b.fq.gz", "c.bam", "l2_1.fq", "l2_2.fq", "l3.fq"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        free(write_file(f->dir, names[i], "x\n", 0));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    tmpdir_remove(&f->dir);
    free(f->real);
    free(f);
    return 0;
}

static void expect_path(const char *got, const char *dir, const char *name)
{
    char *want = path_in(dir, name);
    assert_string_equal(got, want);
    free(want);
}

static void test_good_sheet(void **state)
{
    fixture_t *f = *state;
    char *bam = path_in(f->real, "c.bam");
    char text[2048];
    snprintf(text, sizeof text,
             "#sample\tpopulation\tfastq1\tfastq2\tbam\n"
             "S1\tEUR\ta_1.fq\ta_2.fq\t\n"
             "# a comment\n"
             "\n"
             "S2\tAFR\tsub/b.fq.gz\t\t\r\n"
             "S3\tEUR\t\t\t%s\n",
             bam);
    char *sheet_path = write_file(f->dir, "good.tsv", text, 0);
    tsr_sheet_t *sh = NULL;
    tsr_error_clear();
    assert_int_equal(tsr_sheet_create_from_file(sheet_path, &sh), TSR_OK);
    assert_int_equal(sh->n_samples, 3);
    assert_string_equal(sh->samples[0].id, "S1");
    assert_int_equal(sh->samples[0].kind, TSR_INPUT_FASTQ);
    expect_path(sh->samples[0].fastq1, f->real, "a_1.fq");
    expect_path(sh->samples[0].fastq2, f->real, "a_2.fq");
    assert_null(sh->samples[0].bam);
    assert_string_equal(sh->samples[1].id, "S2");
    expect_path(sh->samples[1].fastq1, f->real, "sub/b.fq.gz");
    assert_null(sh->samples[1].fastq2);
    assert_int_equal(sh->samples[2].kind, TSR_INPUT_ALIGNED);
    assert_string_equal(sh->samples[2].bam, bam);
    assert_null(sh->samples[2].fastq1);
    assert_int_equal(sh->n_populations, 2);
    assert_string_equal(sh->populations[0], "AFR");
    assert_string_equal(sh->populations[1], "EUR");
    assert_int_equal(sh->sample_pop[0], 1);
    assert_int_equal(sh->sample_pop[1], 0);
    assert_int_equal(sh->sample_pop[2], 1);
    assert_string_equal(sh->samples[2].population, "EUR");
    tsr_sheet_destroy(&sh);
    assert_null(sh);
    tsr_sheet_destroy(&sh);
    free(sheet_path);
    free(bam);
}

static void test_no_population_column(void **state)
{
    fixture_t *f = *state;
    char *sheet_path = write_file(f->dir, "nopop.tsv", "bam\tsample\nc.bam\tX.1-b_c\n", 0);
    tsr_sheet_t *sh = NULL;
    assert_int_equal(tsr_sheet_create_from_file(sheet_path, &sh), TSR_OK);
    assert_int_equal(sh->n_samples, 1);
    assert_string_equal(sh->samples[0].id, "X.1-b_c");
    assert_int_equal(sh->n_populations, 1);
    assert_string_equal(sh->populations[0], "all");
    assert_int_equal(sh->sample_pop[0], 0);
    expect_path(sh->samples[0].bam, f->real, "c.bam");
    tsr_sheet_destroy(&sh);
    free(sheet_path);
}

/* The sheet must fail with `want`, and the message must name the sheet, "line N:" and `needle`. */
static void expect_error(fixture_t *f, const char *text, tsr_status_t want, int line, const char *needle)
{
    char *sheet_path = write_file(f->dir, "bad.tsv", text, 0);
    tsr_sheet_t *sh = (tsr_sheet_t *)1;
    tsr_error_clear();
    assert_int_equal(tsr_sheet_create_from_file(sheet_path, &sh), want);
    assert_null(sh);
    const char *msg = tsr_error_msg();
    assert_non_null(strstr(msg, sheet_path));
    if (line > 0) {
        char l[32];
        snprintf(l, sizeof l, "line %d:", line);
        assert_non_null(strstr(msg, l));
    }
    if (!strstr(msg, needle))
        fail_msg("message '%s' lacks '%s'", msg, needle);
    free(sheet_path);
}

static void test_errors(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "id\tpopulation\tfastq1\nS1\tA\ta_1.fq\n", TSR_ERR_FORMAT, 1, "no 'sample' column");
    expect_error(f, "sample\tpopulation\nS1\tA\n", TSR_ERR_FORMAT, 1, "neither a 'fastq1' nor a 'bam'");
    expect_error(f, "sample\tpopulation\tfastq1\nS1\tA\ta_1.fq\nS2\tA\n", TSR_ERR_FORMAT, 3,
                 "2 tab-separated fields but the header has 3");
    expect_error(f, "sample\tpopulation\tfastq1\n\tA\ta_1.fq\n", TSR_ERR_FORMAT, 2, "empty sample id");
    expect_error(f,
                 "sample\tpopulation\tfastq1\nS1\tA\ta_1.fq\n# c\nS2\tA\ta_1.fq\nS1\tB\ta_2.fq\n",
                 TSR_ERR_FORMAT, 5, "sample 'S1' already on line 2 in population 'A'; sample ids must be unique");
    expect_error(f, "sample\tpopulation\tfastq1\nS/1\tA\ta_1.fq\n", TSR_ERR_FORMAT, 2,
                 "outside [A-Za-z0-9._-]");
    expect_error(f, "sample\tpopulation\tfastq1\nS1\tA\ta_1.fq\nS2\tA\tx.fq.gz\n", TSR_ERR_IO, 3,
                 "cannot read 'x.fq.gz'");
    expect_error(f, "sample\tpopulation\tfastq1\nS2\tA\tx.fq.gz\n", TSR_ERR_IO, 2, "No such file or directory");
    expect_error(f, "sample\tpopulation\tfastq1\nS2\tA\tsub\n", TSR_ERR_IO, 2, "is a directory");
    expect_error(f, "sample\tpopulation\tfastq1\tbam\nS1\tA\ta_1.fq\tc.bam\n", TSR_ERR_FORMAT, 2,
                 "both FASTQ and BAM/CRAM");
    expect_error(f, "sample\tpopulation\tfastq1\tbam\nS1\tA\t\t\n", TSR_ERR_FORMAT, 2, "no input file");
    expect_error(f, "sample\tpopulation\tfastq1\nS1\t\ta_1.fq\n", TSR_ERR_FORMAT, 2, "empty population");
    expect_error(f, "sample\tpopulation\tfastq1\nS1\tE-U\ta_1.fq\n", TSR_ERR_FORMAT, 2, "population 'E-U'");
    expect_error(f, "sample\tsample\tfastq1\nS1\tA\ta_1.fq\n", TSR_ERR_FORMAT, 1, "appears twice");
    expect_error(f, "#sample\tpopulation\tfastq1\n\n# and comments\n", TSR_ERR_FORMAT, 0, "no samples");
    expect_error(f, "\n\n", TSR_ERR_FORMAT, 0, "empty sample sheet");
}

static void test_missing_sheet(void **state)
{
    fixture_t *f = *state;
    char *p = path_in(f->dir, "nope.tsv");
    tsr_sheet_t *sh = NULL;
    tsr_error_clear();
    assert_int_equal(tsr_sheet_create_from_file(p, &sh), TSR_ERR_IO);
    assert_null(sh);
    assert_non_null(strstr(tsr_error_msg(), p));
    free(p);
}

/* One sample's lane: files (relative to the fixture) and read group / library. */
static void expect_lane(const fixture_t *f, const tsr_lane_t *l, const char *fq1, const char *fq2, const char *rg,
                        const char *lib)
{
    expect_path(l->fastq1, f->real, fq1);
    if (fq2)
        expect_path(l->fastq2, f->real, fq2);
    else
        assert_null(l->fastq2);
    assert_string_equal(l->read_group, rg);
    assert_string_equal(l->library, lib);
}

static void check_lanes_sheet(const fixture_t *f, const tsr_sheet_t *sh)
{
    assert_int_equal(sh->n_samples, 4);
    const tsr_sample_t *s1 = &sh->samples[0], *s2 = &sh->samples[1], *s3 = &sh->samples[2], *s4 = &sh->samples[3];
    assert_string_equal(s1->id, "S1");
    assert_int_equal(s1->kind, TSR_INPUT_FASTQ);
    assert_int_equal(s1->n_lanes, 3);
    expect_lane(f, &s1->lanes[0], "a_1.fq", "a_2.fq", "S1.L1", "S1");
    expect_lane(f, &s1->lanes[1], "l2_1.fq", "l2_2.fq", "S1.L2", "libB");
    expect_lane(f, &s1->lanes[2], "l3.fq", NULL, "my:RG.7", "S1");
    assert_ptr_equal(s1->fastq1, s1->lanes[0].fastq1); /* fastq1/fastq2 stay lane 0's */
    assert_ptr_equal(s1->fastq2, s1->lanes[0].fastq2);
    assert_string_equal(s2->id, "S2");
    assert_int_equal(s2->n_lanes, 1);
    expect_lane(f, &s2->lanes[0], "sub/b.fq.gz", NULL, "RGX", "LIBY");
    assert_string_equal(s3->id, "S3"); /* unaligned BAM in fastq1: read input, one lane */
    assert_int_equal(s3->kind, TSR_INPUT_FASTQ);
    expect_lane(f, &s3->lanes[0], "c.bam", NULL, "S3", "S3");
    assert_int_equal(s4->kind, TSR_INPUT_ALIGNED);
    assert_int_equal(s4->n_lanes, 0);
    assert_null(s4->lanes);
    assert_null(s4->fastq1);
    expect_path(s4->bam, f->real, "c.bam");
    assert_int_equal(sh->n_populations, 2);
    assert_int_equal(sh->sample_pop[0], 1);
    assert_int_equal(sh->sample_pop[1], 0);
}

static void test_lanes(void **state)
{
    fixture_t *f = *state;
    char *sheet_path = write_file(f->dir, "lanes.tsv",
                                  "sample\tpopulation\tfastq1\tfastq2\tbam\tread_group\tlibrary\n"
                                  "S1\tEUR\ta_1.fq\ta_2.fq\t\tS1.L1\t\n"
                                  "S2\tAFR\tsub/b.fq.gz\t\t\tRGX\tLIBY\n"
                                  "S1\tEUR\tl2_1.fq\tl2_2.fq\t\tS1.L2\tlibB\n"
                                  "S3\tEUR\tc.bam\t\t\t\t\n"
                                  "S4\tEUR\t\t\tc.bam\t\t\n"
                                  "S1\tEUR\tl3.fq\t\t\tmy:RG.7\t\n",
                                  0);
    tsr_sheet_t *sh = NULL;
    if (tsr_sheet_create_from_file(sheet_path, &sh) != TSR_OK)
        fail_msg("%s", tsr_error_msg());
    check_lanes_sheet(f, sh);

    /* written back (what a run records for `tessera add`), it reads as the same samples */
    char *copy = path_in(f->dir, "copy.tsv");
    assert_int_equal(tsr_sheet_write(sh, 0, sh->n_samples, copy), TSR_OK);
    tsr_sheet_t *again = NULL;
    if (tsr_sheet_create_from_file(copy, &again) != TSR_OK)
        fail_msg("%s", tsr_error_msg());
    check_lanes_sheet(f, again);
    tsr_sheet_destroy(&again);
    tsr_sheet_destroy(&sh);

    /* lanes never span parts: a sample of an earlier part cannot gain lanes later */
    char *more = write_file(f->dir, "more.tsv", "sample\tpopulation\tfastq1\nS1\tEUR\tl3.fq\n", 0);
    const char *parts[2] = {sheet_path, more};
    tsr_error_clear();
    assert_int_equal(tsr_sheet_create_from_parts(2, parts, 0, &sh), TSR_ERR_FORMAT);
    assert_null(sh);
    assert_non_null(strstr(tsr_error_msg(), "more.tsv line 2: sample 'S1' is already in the cohort"));
    assert_non_null(strstr(tsr_error_msg(), "lanes.tsv line 2)"));
    free(more);
    free(copy);
    free(sheet_path);
}

static void test_lane_errors(void **state)
{
    fixture_t *f = *state;
    const char *hdr = "sample\tpopulation\tfastq1\tfastq2\tbam\tread_group\tlibrary\n";
    char text[1024];
#define LANES(body) (snprintf(text, sizeof text, "%s%s", hdr, body), text)
    expect_error(f, LANES("S1\tA\t\t\tc.bam\t\t\nS1\tA\ta_1.fq\t\t\t\t\n"), TSR_ERR_FORMAT, 3,
                 "sample 'S1' already on line 2; sample ids must be unique (only a sample with FASTQ");
    expect_error(f, LANES("S1\tA\ta_1.fq\t\t\t\t\nS1\tA\t\t\tc.bam\t\t\n"), TSR_ERR_FORMAT, 3,
                 "sample 'S1' already on line 2; sample ids must be unique");
    expect_error(f, LANES("S1\tA\ta_1.fq\ta_2.fq\t\tR1\t\nS1\tA\ta_2.fq\t\t\tR2\t\n"), TSR_ERR_FORMAT, 3,
                 "sample 'S1' already reads");
    /* a repeated id without read groups: two people pasted under one id, not lanes */
    expect_error(f, LANES("S1\tA\ta_1.fq\ta_2.fq\t\t\t\nS1\tA\tb_1.fq\tb_2.fq\t\t\t\n"), TSR_ERR_FORMAT, 3,
                 "sample 'S1' is also on line 2, and line 3 names no read_group");
    expect_error(f, LANES("S1\tA\ta_1.fq\t\t\t\t\nS1\tA\ta_2.fq\t\t\tR2\t\n"), TSR_ERR_FORMAT, 3,
                 "and line 2 names no read_group");
    expect_error(f, LANES("S1\tA\ta_1.fq\t\t\tR\t\nS1\tA\ta_2.fq\t\t\tR\t\n"), TSR_ERR_FORMAT, 3,
                 "read group 'R' of sample 'S1' is also the read group of line 2");
    expect_error(f, LANES("S1\tA\ta_1.fq\t\t\tR 1\t\n"), TSR_ERR_FORMAT, 2,
                 "read group 'R 1' of sample 'S1' has spaces or unprintable characters");
    expect_error(f, LANES("S1\tA\ta_1.fq\t\t\t\tlib\x01\n"), TSR_ERR_FORMAT, 2, "library 'lib");
    expect_error(f, LANES("S1\tA\t\t\tc.bam\tR\t\n"), TSR_ERR_FORMAT, 2,
                 "aligned input and a read_group or library");
    expect_error(f, LANES("S1\tA\ta_1.fq\t\t\t\t\nS1\tB\ta_2.fq\t\t\t\t\n"), TSR_ERR_FORMAT, 3,
                 "in population 'A'; sample ids must be unique, and the lines (lanes) of one sample name the "
                 "same population");
#undef LANES
}

/* The optional sex column: spellings, lanes that agree, a sheet written back, and the errors. */
static void test_sex(void **state)
{
    fixture_t *f = *state;
    char *sheet_path = write_file(f->dir, "sex.tsv",
                                  "sample\tpopulation\tfastq1\tread_group\tsex\n"
                                  "S1\tA\ta_1.fq\tR1\tM\n"
                                  "S2\tA\ta_2.fq\t\tfemale\n"
                                  "S1\tA\tl2_1.fq\tR2\tmale\n"
                                  "S3\tA\tl3.fq\t\t\n"
                                  "S4\tA\tl2_2.fq\t\t2\n"
                                  "S5\tA\tsub/b.fq.gz\t\tunknown\n",
                                  0);
    tsr_sheet_t *sh = NULL;
    if (tsr_sheet_create_from_file(sheet_path, &sh) != TSR_OK)
        fail_msg("%s", tsr_error_msg());
    const int want[] = {TSR_SEX_MALE, TSR_SEX_FEMALE, TSR_SEX_UNKNOWN, TSR_SEX_FEMALE, TSR_SEX_UNKNOWN};
    assert_int_equal(sh->n_samples, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sh->samples[i].sex, want[i]);
    char *copy = path_in(f->dir, "sex_copy.tsv");
    assert_int_equal(tsr_sheet_write(sh, 0, sh->n_samples, copy), TSR_OK);
    tsr_sheet_t *again = NULL;
    if (tsr_sheet_create_from_file(copy, &again) != TSR_OK)
        fail_msg("%s", tsr_error_msg());
    for (int i = 0; i < 5; i++)
        assert_int_equal(again->samples[i].sex, want[i]);
    tsr_sheet_destroy(&again);
    tsr_sheet_destroy(&sh);
    free(copy);
    free(sheet_path);
    expect_error(f, "sample\tpopulation\tfastq1\tsex\nS1\tA\ta_1.fq\tX\n", TSR_ERR_FORMAT, 2,
                 "sex 'X' of sample 'S1' is not one of male/M/1, female/F/2, unknown/0 or empty");
    expect_error(f,
                 "sample\tpopulation\tfastq1\tread_group\tsex\nS1\tA\ta_1.fq\tR1\tM\nS1\tA\ta_2.fq\tR2\tF\n",
                 TSR_ERR_FORMAT, 3, "sample 'S1' is female here but male on line 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_sheet),
        cmocka_unit_test(test_no_population_column),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_sheet),
        cmocka_unit_test(test_lanes),
        cmocka_unit_test(test_lane_errors),
        cmocka_unit_test(test_sex),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
