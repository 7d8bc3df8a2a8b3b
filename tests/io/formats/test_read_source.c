/* test_read_source.c - the FASTQ back end behind tsr_reader_*: plain, gzip, pairs and damaged files. */
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

static const char *R1 = "@r1/1 extra words\nACGTn\n+\nIIIII\n"
                        "@r2\tBX:Z:1\nacgtacgt\n+r2\n!!!!~~~~\r\n"
                        "\n"
                        "@r3/1\nA\n+\n#\n";
static const char *R2 = "@r1/2\nTTTT\n+\nIIII\n@r2 other\nGG\n+\nII\n@r3/2\nC\n+\n#";

static void check_single(const char *path)
{
    tsr_reader_t *r = NULL;
    tsr_read_t a;
    assert_int_equal(tsr_reader_open(path, NULL, &r), TSR_OK);
    assert_int_equal(tsr_reader_next(r, &a, NULL), 1);
    assert_string_equal(a.name, "r1");
    assert_string_equal(a.seq, "ACGTN");
    assert_string_equal(a.qual, "IIIII");
    assert_int_equal(a.len, 5);
    assert_int_equal(tsr_reader_next(r, &a, NULL), 1);
    assert_string_equal(a.name, "r2");
    assert_string_equal(a.seq, "ACGTACGT");
    assert_string_equal(a.qual, "!!!!~~~~");
    assert_int_equal(tsr_reader_next(r, &a, NULL), 1);
    assert_string_equal(a.name, "r3");
    assert_int_equal(a.len, 1);
    assert_int_equal(tsr_reader_next(r, &a, NULL), 0);
    assert_int_equal(tsr_reader_next(r, &a, NULL), 0);
    tsr_reader_close(&r);
    assert_null(r);
    tsr_reader_close(&r);
}

static void test_plain_and_gzip(void **state)
{
    char *plain = write_file(*state, "s.fq", R1, 0);
    char *gz = write_file(*state, "s.fq.gz", R1, 1);
    check_single(plain);
    check_single(gz);
    free(plain);
    free(gz);
}

static void test_pairs(void **state)
{
    char *p1 = write_file(*state, "p_1.fq.gz", R1, 1);
    char *p2 = write_file(*state, "p_2.fq", R2, 0);
    tsr_reader_t *r = NULL;
    tsr_read_t a, b;
    assert_int_equal(tsr_reader_open(p1, p2, &r), TSR_OK);
    assert_int_equal(tsr_reader_next(r, &a, &b), 1);
    assert_string_equal(a.name, "r1");
    assert_string_equal(b.name, "r1");
    assert_string_equal(b.seq, "TTTT");
    assert_int_equal(tsr_reader_next(r, &a, &b), 1);
    assert_string_equal(b.name, "r2");
    assert_string_equal(b.seq, "GG");
    assert_int_equal(tsr_reader_next(r, &a, &b), 1);
    assert_string_equal(b.seq, "C");
    assert_int_equal(tsr_reader_next(r, &a, &b), 0);
    tsr_reader_close(&r);
    free(p1);
    free(p2);
}

/* next() must fail with -2 and a message naming `file` and containing `needle`. */
static void expect_bad(const char *p1, const char *p2, const char *file, int good_records, const char *needle)
{
    tsr_reader_t *r = NULL;
    tsr_read_t a, b;
    assert_int_equal(tsr_reader_open(p1, p2, &r), TSR_OK);
    for (int i = 0; i < good_records; i++)
        assert_int_equal(tsr_reader_next(r, &a, &b), 1);
    tsr_error_clear();
    assert_int_equal(tsr_reader_next(r, &a, &b), -2);
    const char *msg = tsr_error_msg();
    assert_non_null(strstr(msg, file));
    if (!strstr(msg, needle))
        fail_msg("message '%s' lacks '%s'", msg, needle);
    tsr_reader_close(&r);
}

static void test_errors(void **state)
{
    const char *d = *state;
    char *p1 = write_file(d, "m_1.fq", R1, 0);
    char *p2 = write_file(d, "m_2.fq", "@r1\nA\n+\nI\n@rX\nA\n+\nI\n", 0);
    expect_bad(p1, p2, p2, 1, "record 2: read name 'r2'");
    char *p3 = write_file(d, "short_2.fq", "@r1\nA\n+\nI\n", 1);
    expect_bad(p1, p3, p3, 1, "ends after 1 records");
    char *t = write_file(d, "trunc.fq.gz", "@a\nAC\n+\nII\n@b\nAC\n+\n", 1);
    expect_bad(t, NULL, t, 1, "record 2: truncated record");
    char *q = write_file(d, "qual.fq", "@a\nAC\n+\nII\n@b\nACG\n+\nII\n", 0);
    expect_bad(q, NULL, q, 1, "record 2 (line 8): the sequence has 3 bases but the quality string has 2");
    char *h = write_file(d, "hdr.fq", ">a\nAC\n+\nII\n", 0);
    expect_bad(h, NULL, h, 0, "record 1 (line 1): expected a header line starting with '@'");
    char *pl = write_file(d, "plus.fq", "@a\nAC\nII\n+\n", 0);
    expect_bad(pl, NULL, pl, 0, "record 1 (line 3): expected the '+' separator");
    char *ml = write_file(d, "multi.fq", "@a\nAC\nGT\n+\nIIII\n", 0);
    expect_bad(ml, NULL, ml, 0, "multi-line FASTQ is not supported");
    char *bq = write_file(d, "badq.fq", "@a\nAC\n+\nI \n", 0);
    expect_bad(bq, NULL, bq, 0, "not phred+33");
    free(p1);
    free(p2);
    free(p3);
    free(t);
    free(q);
    free(h);
    free(pl);
    free(ml);
    free(bq);

    char *missing = path_in(d, "missing.fq");
    tsr_reader_t *r = (tsr_reader_t *)1;
    tsr_error_clear();
    assert_int_equal(tsr_reader_open(missing, NULL, &r), TSR_ERR_IO);
    assert_null(r);
    assert_non_null(strstr(tsr_error_msg(), missing));
    free(missing);

    /* BAM magic goes to the unaligned BAM/CRAM back end (tested in test_read_hts.c), never to FASTQ */
    char *bam = write_file(d, "u.bam", "BAM\1rest", 1);
    tsr_error_clear();
    assert_int_equal(tsr_reader_open(bam, NULL, &r), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), "cannot read the BAM/CRAM header"));
    free(bam);
}

static void test_long_lines(void **state)
{
    /* A record longer than the reader's 128 KiB buffer, then a normal one. */
    size_t n = 300000;
    char *text = malloc(2 * n + 64);
    assert_non_null(text);
    char *p = text;
    p += sprintf(p, "@long\n");
    memset(p, 'G', n);
    p += n;
    p += sprintf(p, "\n+\n");
    memset(p, 'F', n);
    p += n;
    sprintf(p, "\n@s\nT\n+\nF\n");
    char *path = write_file(*state, "long.fq.gz", text, 1);
    tsr_reader_t *r = NULL;
    tsr_read_t a;
    assert_int_equal(tsr_reader_open(path, NULL, &r), TSR_OK);
    assert_int_equal(tsr_reader_next(r, &a, NULL), 1);
    assert_int_equal(a.len, (int)n);
    assert_int_equal(a.seq[n - 1], 'G');
    assert_int_equal(a.qual[0], 'F');
    assert_int_equal(tsr_reader_next(r, &a, NULL), 1);
    assert_string_equal(a.name, "s");
    assert_int_equal(tsr_reader_next(r, &a, NULL), 0);
    tsr_reader_close(&r);
    free(path);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_gzip),
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_lines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
