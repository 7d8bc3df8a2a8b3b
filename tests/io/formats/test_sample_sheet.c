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
    const char *names[] = {"a_1.fq", "a_2.fq", "sub/b.fq.gz", "c.bam"};
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
                 TSR_ERR_FORMAT, 5, "sample 'S1' already on line 2; sample ids must be unique");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_sheet),
        cmocka_unit_test(test_no_population_column),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_sheet),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
