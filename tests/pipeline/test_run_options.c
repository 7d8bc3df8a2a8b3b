/*
 * test_run_options.c - the option table of `tessera run` (kernels/pipeline/run_options.c): names and
 * run.tsv keys unique, every default parses, every recorded option survives run.tsv's writer and
 * reader, bad values are refused with the option's name, and strings with choices accept only them.
 */
#include "kernels/pipeline/pipeline.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_unique(void **state)
{
    (void)state;
    int n = tsr_run_opt_count();
    assert_true(n >= 10);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const tsr_run_opt_decl_t *a = tsr_run_opt_at(i), *b = tsr_run_opt_at(j);
            assert_string_not_equal(a->name, b->name);
            assert_int_not_equal(a->offset, b->offset);
            if (a->record && b->record)
                assert_string_not_equal(a->record, b->record);
        }
    assert_null(tsr_run_opt_at(n));
    assert_ptr_equal(tsr_run_opt_find("shard-size"), tsr_run_opt_at(7));
    assert_null(tsr_run_opt_find("no-such-option"));
}

static void test_defaults(void **state)
{
    (void)state;
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    assert_int_equal(o.shard_size, 1000000);
    assert_int_equal(o.batch_size, 64);
    assert_int_equal(o.min_mapq, 20);
    assert_int_equal(o.min_baseq, 13);
    assert_true(o.min_qual == 30.0);
    assert_string_equal(o.mode, "auto");
    assert_true(o.grace_seconds == 60.0);
    assert_int_equal(o.align_chunk_pairs, 1000000);
    assert_null(o.aln_format);
    assert_null(o.ref);
    /* every declared default parses on its own */
    for (int i = 0; i < tsr_run_opt_count(); i++) {
        const tsr_run_opt_decl_t *d = tsr_run_opt_at(i);
        if (d->dflt)
            assert_int_equal(tsr_run_opt_set(&o, d, d->dflt), TSR_OK);
    }
}

static void test_record_round_trip(void **state)
{
    (void)state;
    tsr_run_opts_t a, b;
    tsr_run_opts_init(&a);
    assert_int_equal(tsr_run_opt_set(&a, tsr_run_opt_find("shard-size"), "2M"), TSR_OK);
    assert_int_equal(tsr_run_opt_set(&a, tsr_run_opt_find("batch-size"), "7"), TSR_OK);
    assert_int_equal(tsr_run_opt_set(&a, tsr_run_opt_find("min-qual"), "12.5"), TSR_OK);
    assert_int_equal(tsr_run_opt_set(&a, tsr_run_opt_find("aln-format"), "bam"), TSR_OK);
    assert_int_equal(tsr_run_opt_set(&a, tsr_run_opt_find("align-chunk"), "500"), TSR_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    assert_int_equal(tsr_run_opts_record_write(fp, &a), TSR_OK);
    fclose(fp);
    tsr_run_opts_init(&b);
    char bufs[8][256];
    int lines = 0, known = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        known += tsr_run_opts_record_read(&b, line, tab + 1, bufs[lines], sizeof bufs[lines]);
        lines++;
    }
    free(text);
    assert_int_equal(lines, tsr_run_opts_record_count());
    assert_int_equal(known, lines);
    assert_int_equal(b.shard_size, 2 * 1024 * 1024);
    assert_int_equal(b.batch_size, 7);
    assert_true(b.min_qual == 12.5);
    assert_string_equal(b.aln_format, "bam");
    assert_int_equal(b.align_chunk_pairs, 500);
    assert_int_equal(tsr_run_opts_record_read(&b, "threads", "3", bufs[0], sizeof bufs[0]), 0);
}

static void test_refused(void **state)
{
    (void)state;
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    const char *bad[][2] = {{"threads", "x"},      {"threads", "-1"},     {"batch-size", "0"},
                            {"shard-size", "0"},   {"mem-per-rank", "4Q"}, {"min-mapq", "-3"},
                            {"min-qual", "high"},  {"aln-format", "sam"},  {"mode", "fast"},
                            {"align-chunk", "0"},  {"grace", ""}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsr_error_clear();
        assert_int_equal(tsr_run_opt_set(&o, tsr_run_opt_find(bad[i][0]), bad[i][1]), TSR_ERR_USAGE);
        char want[128];
        snprintf(want, sizeof want, "--%s takes ", bad[i][0]);
        assert_non_null(strstr(tsr_error_msg(), want));
    }
    /* nothing refused was stored */
    assert_int_equal(o.threads, 0);
    assert_string_equal(o.mode, "auto");
    assert_null(o.aln_format);
    assert_int_equal(tsr_run_opt_set(&o, tsr_run_opt_find("mode"), "lowpass"), TSR_OK);
    assert_string_equal(o.mode, "lowpass");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
