/* test_ploidy.c - the ploidy map (io/ploidy.h): built-in GRCh37/GRCh38 rules at the PAR edges, the choice of
 * build, a BED replacing them, and the BED's error lines. */
#include "formats_test_util.h"

#include "io/io.h"

enum { M = TSR_SEX_MALE, F = TSR_SEX_FEMALE, U = TSR_SEX_UNKNOWN };

static tsr_ploidy_t *make(const char *bed, int n, const char *const *names, const int64_t *lens)
{
    tsr_ploidy_t *p = NULL;
    if (tsr_ploidy_create(bed, n, names, lens, &p) != TSR_OK)
        fail_msg("%s", tsr_error_msg());
    return p;
}

/* GRCh37: positions are 0-based here, the PARs 1-based X:60001-2699520 and X:154931044-155260560. */
static void test_grch37(void **state)
{
    (void)state;
    const char *names[] = {"1", "X", "Y", "MT"};
    const int64_t lens[] = {249250621, 155270560, 59373566, 16569};
    tsr_ploidy_t *p = make(NULL, 4, names, lens);
    assert_string_equal(tsr_ploidy_source(p), "GRCh37 built-in");
    assert_int_equal(tsr_ploidy_at(p, "1", 1000, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "X", 59999, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "X", 60000, M), 2);      /* PAR1 starts at 60001 */
    assert_int_equal(tsr_ploidy_at(p, "X", 2699519, M), 2);    /* PAR1 ends at 2699520 */
    assert_int_equal(tsr_ploidy_at(p, "X", 2699520, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "X", 154931042, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "X", 154931043, M), 2);  /* PAR2 starts at 154931044 */
    assert_int_equal(tsr_ploidy_at(p, "X", 155260559, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "X", 155260560, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "X", 5000000, F), 2);
    assert_int_equal(tsr_ploidy_at(p, "X", 5000000, U), 2);    /* unknown: diploid on X */
    assert_int_equal(tsr_ploidy_at(p, "Y", 3000000, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "Y", 3000000, F), 0);
    assert_int_equal(tsr_ploidy_at(p, "Y", 3000000, U), 2);
    for (int sex = 0; sex < 3; sex++)
        assert_int_equal(tsr_ploidy_at(p, "MT", 100, sex), 1);
    tsr_ploidy_destroy(&p);
    assert_null(p);
}

/* GRCh38: PAR1 chrX:10001-2781479, PAR2 chrX:155701383-156030895. */
static void test_grch38(void **state)
{
    (void)state;
    const char *names[] = {"chr1", "chrX", "chrY", "chrM"};
    const int64_t lens[] = {248956422, 156040895, 57227415, 16569};
    tsr_ploidy_t *p = make(NULL, 4, names, lens);
    assert_string_equal(tsr_ploidy_source(p), "GRCh38 built-in");
    assert_int_equal(tsr_ploidy_at(p, "chrX", 9999, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 10000, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 2781478, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 2781479, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 155701381, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 155701382, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 156030894, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 156030895, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "chrY", 100, F), 0);
    assert_int_equal(tsr_ploidy_at(p, "chrM", 100, F), 1);
    assert_int_equal(tsr_ploidy_at(p, "X", 5000, M), 2); /* not a contig of this build */
    tsr_ploidy_destroy(&p);

    /* hg19: chr names, GRCh37's X length -> GRCh37's PARs */
    const char *hg19[] = {"chrX", "chrM"};
    const int64_t hg19_len[] = {155270560, 16571};
    p = make(NULL, 2, hg19, hg19_len);
    assert_string_equal(tsr_ploidy_source(p), "GRCh37 built-in");
    assert_int_equal(tsr_ploidy_at(p, "chrX", 10000, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "chrX", 60000, M), 2);
    tsr_ploidy_destroy(&p);

    /* no sex chromosome or mitochondrion: everyone diploid */
    const char *sim[] = {"sim1"};
    const int64_t sim_len[] = {200000};
    p = make(NULL, 1, sim, sim_len);
    assert_string_equal(tsr_ploidy_source(p), "none (diploid)");
    assert_int_equal(tsr_ploidy_at(p, "sim1", 10, M), 2);
    tsr_ploidy_destroy(&p);
    assert_int_equal(tsr_ploidy_at(NULL, "X", 10, M), 2);
}

static void test_bed(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    char *bed = write_file(dir, "p.bed",
                           "# contig start end sex ploidy\n"
                           "track name=ploidy\n"
                           "c1\t100\t200\tM\t1\n"
                           "c1\t150\t160\t*\t1\n"
                           "c1\t150\t160\tF\t0\n"
                           "\n"
                           "X\t0\t10\tunknown\t1\n",
                           0);
    const char *names[] = {"c1", "X"};
    const int64_t lens[] = {1000, 155270560};
    tsr_ploidy_t *p = make(bed, 2, names, lens);
    assert_string_equal(tsr_ploidy_source(p), bed);
    assert_int_equal(tsr_ploidy_at(p, "c1", 99, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "c1", 100, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "c1", 199, M), 1);
    assert_int_equal(tsr_ploidy_at(p, "c1", 200, M), 2);
    assert_int_equal(tsr_ploidy_at(p, "c1", 120, F), 2);
    assert_int_equal(tsr_ploidy_at(p, "c1", 155, F), 0); /* the last rule that covers it wins */
    assert_int_equal(tsr_ploidy_at(p, "c1", 155, U), 1);
    assert_int_equal(tsr_ploidy_at(p, "X", 5, U), 1);
    assert_int_equal(tsr_ploidy_at(p, "X", 5000000, M), 2); /* the BED replaces the built-in rules */
    tsr_ploidy_destroy(&p);

    const char *bad[] = {"c1\t10\t5\tM\t1\n", "c1\t0\t10\tQ\t1\n", "c1\t0\t10\tM\t3\n", "c1\t0\t10\tM\n",
                         "c1\t0\t10\tM\t1\textra\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[256];
        snprintf(text, sizeof text, "c1\t0\t5\tM\t1\n%s", bad[i]);
        char *b = write_file(dir, "bad.bed", text, 0);
        tsr_error_clear();
        p = (tsr_ploidy_t *)1;
        assert_int_equal(tsr_ploidy_create(b, 2, names, lens, &p), TSR_ERR_FORMAT);
        assert_null(p);
        char want[4200];
        snprintf(want, sizeof want, "%s line 2: expected 5 columns", b);
        if (!strstr(tsr_error_msg(), want))
            fail_msg("message '%s' lacks '%s'", tsr_error_msg(), want);
        free(b);
    }
    char *missing = path_in(dir, "none.bed");
    p = (tsr_ploidy_t *)1;
    tsr_error_clear();
    assert_int_equal(tsr_ploidy_create(missing, 2, names, lens, &p), TSR_ERR_IO);
    assert_null(p);
    assert_non_null(strstr(tsr_error_msg(), "none.bed"));
    free(missing);
    free(bed);
    tmpdir_remove(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grch37),
        cmocka_unit_test(test_grch38),
        cmocka_unit_test(test_bed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
