/* test_reference.c - tsr_ref_*: .fai building, contig lookup, fetches, upper-casing and IUPAC -> N. */
#include "formats_test_util.h"

#include "io/io.h"

static int setup(void **state)
{
    *state = tmpdir_make();
    return 0;
}

static int teardown(void **state)
{
    char *d = *state;
    tmpdir_remove(&d);
    return 0;
}

static void test_fetch(void **state)
{
    const char *d = *state;
    char *fa = write_file(d, "ref.fa", ">chrA desc\nACGTacgtNN\nRYKMacgtAC\nGT\n>chrB\nggggcccc\n", 0);
    assert_false(file_exists(d, "ref.fa.fai"));
    tsr_ref_t *ref = NULL;
    assert_int_equal(tsr_ref_open(fa, &ref), TSR_OK);
    assert_true(file_exists(d, "ref.fa.fai"));
    assert_int_equal(tsr_ref_n_contigs(ref), 2);
    assert_string_equal(tsr_ref_contig_name(ref, 0), "chrA");
    assert_string_equal(tsr_ref_contig_name(ref, 1), "chrB");
    assert_null(tsr_ref_contig_name(ref, 2));
    assert_int_equal(tsr_ref_contig_length(ref, 0), 22);
    assert_int_equal(tsr_ref_contig_length(ref, 1), 8);
    assert_int_equal(tsr_ref_contig_index(ref, "chrB"), 1);
    assert_int_equal(tsr_ref_contig_index(ref, "chrC"), -1);

    char *seq = NULL;
    int64_t len = 0;
    assert_int_equal(tsr_ref_fetch(ref, "chrA", 0, 22, &seq, &len), TSR_OK);
    assert_int_equal(len, 22);
    assert_string_equal(seq, "ACGTACGTNNNNNNACGTACGT");
    free(seq);
    assert_int_equal(tsr_ref_fetch(ref, "chrA", 6, 16, &seq, &len), TSR_OK);
    assert_string_equal(seq, "GTNNNNNNAC");
    free(seq);
    assert_int_equal(tsr_ref_fetch(ref, "chrB", 3, 5, &seq, &len), TSR_OK);
    assert_string_equal(seq, "GC");
    assert_int_equal(len, 2);
    free(seq);
    assert_int_equal(tsr_ref_fetch(ref, "chrB", 8, 8, &seq, &len), TSR_OK);
    assert_string_equal(seq, "");
    free(seq);

    tsr_error_clear();
    assert_int_equal(tsr_ref_fetch(ref, "chrB", 4, 9, &seq, &len), TSR_ERR_USAGE);
    assert_null(seq);
    assert_non_null(strstr(tsr_error_msg(), "outside contig 'chrB'"));
    tsr_error_clear();
    assert_int_equal(tsr_ref_fetch(ref, "chrZ", 0, 1, &seq, &len), TSR_ERR_USAGE);
    assert_non_null(strstr(tsr_error_msg(), "chrZ"));
    tsr_ref_close(&ref);
    assert_null(ref);
    tsr_ref_close(&ref);

    /* Reopening uses the existing .fai. */
    assert_int_equal(tsr_ref_open(fa, &ref), TSR_OK);
    assert_int_equal(tsr_ref_contig_length(ref, 0), 22);
    tsr_ref_close(&ref);
    free(fa);
}

static void test_bad_inputs(void **state)
{
    const char *d = *state;
    tsr_ref_t *ref = (tsr_ref_t *)1;
    char *missing = path_in(d, "missing.fa");
    tsr_error_clear();
    assert_int_equal(tsr_ref_open(missing, &ref), TSR_ERR_IO);
    assert_null(ref);
    assert_non_null(strstr(tsr_error_msg(), missing));
    char *fq = write_file(d, "notfa.fa", "@r\nACGT\n+\nIIII\n", 0);
    tsr_error_clear();
    assert_int_equal(tsr_ref_open(fq, &ref), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), "is not FASTA"));
    char *empty = write_file(d, "empty.fa", "", 0);
    tsr_error_clear();
    assert_int_equal(tsr_ref_open(empty, &ref), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), empty));
    free(missing);
    free(fq);
    free(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
