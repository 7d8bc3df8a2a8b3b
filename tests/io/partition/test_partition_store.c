/* test_partition_store.c - evidence partition and call-set HDF5 round trips and rejections. */
#include "io/io.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

static char tmpdir[256];

static void path_in(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", tmpdir, name); }

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsr_partition_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    return rmdir(tmpdir);
}

static void *dup_mem(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    assert_non_null(q);
    if (n)
        memcpy(q, p, n);
    return q;
}

/* Two samples, an SNV site (A,G,<*>) and an indel site (AT,A,<*>) at the same position, two blocks. */
static tsr_evidence_t *make_evidence(void)
{
    tsr_evidence_t *ev;
    assert_int_equal(tsr_evidence_create(&ev), TSR_OK);
    ev->contig = strdup("chr2");
    ev->start = 1000;
    ev->end = 2000;
    ev->n_samples = 2;
    ev->sample_ids = calloc(2, sizeof(char *));
    ev->sample_ids[0] = strdup("NA12878");
    ev->sample_ids[1] = strdup("s2");
    ev->n_sites = 2;
    int64_t pos[] = {1500, 1500};
    uint8_t kind[] = {TSR_SITE_SNV, TSR_SITE_INDEL};
    int32_t na[] = {3, 3};
    const char *blob = "A,G,<*>AT,A,<*>";
    int64_t aoff[] = {0, 7, 15};
    int64_t poff[] = {0, 12, 24};
    int32_t pl[24];
    for (int i = 0; i < 24; i++)
        pl[i] = i * 7 % 50;
    int64_t doff[] = {0, 6, 12};
    int32_t ad[12] = {5, 3, 0, 9, 0, 1, 4, 4, 0, 8, 0, 0};
    int32_t dp[] = {8, 10, 8, 8};
    ev->pos = dup_mem(pos, sizeof pos);
    ev->kind = dup_mem(kind, sizeof kind);
    ev->n_alleles = dup_mem(na, sizeof na);
    ev->allele_off = dup_mem(aoff, sizeof aoff);
    ev->allele_blob = dup_mem(blob, 15);
    ev->pl_off = dup_mem(poff, sizeof poff);
    ev->pl = dup_mem(pl, sizeof pl);
    ev->ad_off = dup_mem(doff, sizeof doff);
    ev->ad = dup_mem(ad, sizeof ad);
    int32_t strand[24];
    for (int k = 0; k < 12; k++) { /* forward then reverse reads of each AD entry */
        strand[2 * k] = (ad[k] + 1) / 2;
        strand[2 * k + 1] = ad[k] / 2;
    }
    ev->strand = dup_mem(strand, sizeof strand);
    ev->dp = dup_mem(dp, sizeof dp);
    ev->n_blocks = 2;
    int32_t bs[] = {0, 1}, bmin[] = {3, 12};
    int64_t bst[] = {1000, 1200}, ben[] = {1500, 1499};
    ev->block_sample = dup_mem(bs, sizeof bs);
    ev->block_start = dup_mem(bst, sizeof bst);
    ev->block_end = dup_mem(ben, sizeof ben);
    ev->block_min_dp = dup_mem(bmin, sizeof bmin);
    return ev;
}

static void assert_evidence_equal(const tsr_evidence_t *a, const tsr_evidence_t *b)
{
    assert_string_equal(a->contig, b->contig);
    assert_int_equal(a->start, b->start);
    assert_int_equal(a->end, b->end);
    assert_int_equal(a->n_samples, b->n_samples);
    for (int i = 0; i < a->n_samples; i++)
        assert_string_equal(a->sample_ids[i], b->sample_ids[i]);
    assert_int_equal(a->n_sites, b->n_sites);
    int64_t n = a->n_sites;
    if (n) {
        assert_memory_equal(a->pos, b->pos, n * sizeof *a->pos);
        assert_memory_equal(a->kind, b->kind, n * sizeof *a->kind);
        assert_memory_equal(a->n_alleles, b->n_alleles, n * sizeof *a->n_alleles);
        assert_memory_equal(a->allele_off, b->allele_off, (n + 1) * sizeof(int64_t));
        assert_memory_equal(a->allele_blob, b->allele_blob, a->allele_off[n]);
        assert_memory_equal(a->pl_off, b->pl_off, (n + 1) * sizeof(int64_t));
        assert_memory_equal(a->pl, b->pl, a->pl_off[n] * sizeof(int32_t));
        assert_memory_equal(a->ad_off, b->ad_off, (n + 1) * sizeof(int64_t));
        assert_memory_equal(a->ad, b->ad, a->ad_off[n] * sizeof(int32_t));
        assert_memory_equal(a->strand, b->strand, 2 * a->ad_off[n] * sizeof(int32_t));
        assert_memory_equal(a->dp, b->dp, n * a->n_samples * sizeof(int32_t));
    }
    assert_int_equal(a->n_blocks, b->n_blocks);
    if (a->n_blocks) {
        size_t nb = (size_t)a->n_blocks;
        assert_memory_equal(a->block_sample, b->block_sample, nb * sizeof(int32_t));
        assert_memory_equal(a->block_start, b->block_start, nb * sizeof(int64_t));
        assert_memory_equal(a->block_end, b->block_end, nb * sizeof(int64_t));
        assert_memory_equal(a->block_min_dp, b->block_min_dp, nb * sizeof(int32_t));
    }
}

static int files_equal(const char *p, const char *q)
{
    FILE *a = fopen(p, "rb"), *b = fopen(q, "rb");
    int eq = a && b;
    while (eq) {
        int ca = fgetc(a), cb = fgetc(b);
        if (ca != cb)
            eq = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    return eq;
}

static int n_dir_entries(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' || strncmp(e->d_name, ".tmp", 4) == 0;
    if (d)
        closedir(d);
    return n;
}

static void test_partition_round_trip(void **state)
{
    (void)state;
    char p1[512], p2[512];
    path_in(p1, sizeof p1, "b0.h5");
    path_in(p2, sizeof p2, "b0_again.h5");
    tsr_evidence_t *ev = make_evidence(), *back = NULL;
    assert_int_equal(tsr_partition_write(p1, ev), TSR_OK);
    assert_int_equal(tsr_partition_write(p2, ev), TSR_OK);
    assert_int_equal(n_dir_entries(), 2); /* no temporary file left */
    assert_true(files_equal(p1, p2));
    assert_int_equal(tsr_partition_read(p1, &back), TSR_OK);
    assert_evidence_equal(ev, back);
    tsr_evidence_destroy(&back);
    assert_null(back);
    tsr_evidence_destroy(&ev);
    tsr_evidence_destroy(&ev); /* NULL is fine */
    unlink(p1);
    unlink(p2);
}

static void test_partition_empty(void **state)
{
    (void)state;
    char p[512];
    path_in(p, sizeof p, "empty.h5");
    tsr_evidence_t *ev, *back = NULL;
    assert_int_equal(tsr_evidence_create(&ev), TSR_OK);
    ev->contig = strdup("chrM");
    ev->start = 0;
    ev->end = 16569;
    assert_int_equal(tsr_partition_write(p, ev), TSR_OK);
    assert_int_equal(tsr_partition_read(p, &back), TSR_OK);
    assert_evidence_equal(ev, back);
    assert_int_equal(back->n_sites, 0);
    assert_int_equal(back->n_blocks, 0);
    tsr_evidence_destroy(&back);
    tsr_evidence_destroy(&ev);
    unlink(p);
}

static void test_partition_rejects_bad_files(void **state)
{
    (void)state;
    char p[512], t[512], c[512];
    path_in(p, sizeof p, "good.h5");
    path_in(t, sizeof t, "truncated.h5");
    path_in(c, sizeof c, "callset.h5");
    tsr_evidence_t *ev = make_evidence(), *back = NULL;
    assert_int_equal(tsr_partition_write(p, ev), TSR_OK);

    /* truncated: the first half of a good file */
    FILE *in = fopen(p, "rb"), *out = fopen(t, "wb");
    assert_non_null(in);
    assert_non_null(out);
    fseek(in, 0, SEEK_END);
    long len = ftell(in);
    fseek(in, 0, SEEK_SET);
    for (long i = 0; i < len / 2; i++)
        fputc(fgetc(in), out);
    fclose(in);
    fclose(out);
    tsr_error_clear();
    tsr_status_t s = tsr_partition_read(t, &back);
    assert_true(s == TSR_ERR_FORMAT || s == TSR_ERR_HDF5);
    assert_null(back);
    assert_non_null(strstr(tsr_error_msg(), t));

    /* one flipped byte anywhere after the seal: stopped by the checksum before HDF5 parses it */
    char f[512];
    path_in(f, sizeof f, "flipped.h5");
    in = fopen(p, "rb");
    out = fopen(f, "wb");
    assert_non_null(in);
    assert_non_null(out);
    for (long i = 0; i < len; i++) {
        int ch = fgetc(in);
        fputc(i == len * 2 / 3 ? ch ^ 0x10 : ch, out);
    }
    fclose(in);
    fclose(out);
    tsr_error_clear();
    assert_int_equal(tsr_partition_read(f, &back), TSR_ERR_FORMAT);
    assert_null(back);
    assert_non_null(strstr(tsr_error_msg(), f));
    assert_non_null(strstr(tsr_error_msg(), "damaged"));
    unlink(f);

    /* wrong schema: a call-set file read as a partition */
    tsr_callset_t *cs;
    assert_int_equal(tsr_callset_create(&cs), TSR_OK);
    cs->contig = strdup("chr2");
    assert_int_equal(tsr_callset_write(c, cs), TSR_OK);
    tsr_callset_destroy(&cs);
    tsr_error_clear();
    assert_int_equal(tsr_partition_read(c, &back), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), c));
    assert_non_null(strstr(tsr_error_msg(), "schema"));

    /* and the other way round */
    tsr_error_clear();
    assert_int_equal(tsr_callset_read(p, &cs), TSR_ERR_FORMAT);
    assert_null(cs);
    assert_non_null(strstr(tsr_error_msg(), p));

    /* missing file and missing directory */
    char m[512];
    path_in(m, sizeof m, "nope/x.h5");
    tsr_error_clear();
    assert_int_equal(tsr_partition_read(m, &back), TSR_ERR_IO);
    assert_non_null(strstr(tsr_error_msg(), m));
    tsr_error_clear();
    assert_int_equal(tsr_partition_write(m, ev), TSR_ERR_IO);
    assert_non_null(strstr(tsr_error_msg(), m));
    tsr_error_clear();

    tsr_evidence_destroy(&ev);
    unlink(p);
    unlink(t);
    unlink(c);
}

static void test_callset_round_trip(void **state)
{
    (void)state;
    char p1[512], p2[512];
    path_in(p1, sizeof p1, "joint.h5");
    path_in(p2, sizeof p2, "joint2.h5");
    tsr_callset_t *cs, *back = NULL;
    assert_int_equal(tsr_callset_create(&cs), TSR_OK);
    cs->contig = strdup("chr1");
    cs->start = 0;
    cs->end = 5000;
    cs->n_samples = 2;
    cs->n_sites = 2;
    int64_t pos[] = {10, 4000};
    int32_t na[] = {2, 3};
    int64_t aoff[] = {0, 3, 12};
    float qual[] = {45.5f, 12.25f}, af[] = {0.75f, 0.25f, 0.5f, 0.3f, 0.2f};
    uint8_t filt[] = {0, 1};
    int64_t foff[] = {0, 2, 5}, doff[] = {0, 4, 10}, poff[] = {0, 6, 18};
    int8_t gt[] = {0, 1, -1, -1, 0, 2, 1, 1};
    int32_t gq[] = {50, -1, 20, 99}, dp[] = {7, -1, 9, 11};
    int32_t ad[] = {4, 3, -1, -1, 5, 0, 4, 0, 11, 0};
    int32_t pl[18];
    for (int i = 0; i < 18; i++)
        pl[i] = (i * 13) % 40 - (i == 3 ? 41 : 0);
    cs->pos = dup_mem(pos, sizeof pos);
    cs->n_alleles = dup_mem(na, sizeof na);
    cs->allele_off = dup_mem(aoff, sizeof aoff);
    cs->allele_blob = dup_mem("C,TAGT,A,ATT", 12);
    cs->qual = dup_mem(qual, sizeof qual);
    cs->filter = dup_mem(filt, sizeof filt);
    cs->af_off = dup_mem(foff, sizeof foff);
    cs->af = dup_mem(af, sizeof af);
    cs->gt = dup_mem(gt, sizeof gt);
    cs->gq = dup_mem(gq, sizeof gq);
    cs->dp = dup_mem(dp, sizeof dp);
    cs->ad_off = dup_mem(doff, sizeof doff);
    cs->ad = dup_mem(ad, sizeof ad);
    cs->pl_off = dup_mem(poff, sizeof poff);
    cs->pl = dup_mem(pl, sizeof pl);
    assert_int_equal(tsr_callset_write(p1, cs), TSR_OK);
    assert_int_equal(tsr_callset_write(p2, cs), TSR_OK);
    assert_true(files_equal(p1, p2));
    assert_int_equal(tsr_callset_read(p1, &back), TSR_OK);
    assert_string_equal(back->contig, "chr1");
    assert_int_equal(back->start, 0);
    assert_int_equal(back->end, 5000);
    assert_int_equal(back->n_samples, 2);
    assert_int_equal(back->n_sites, 2);
    assert_memory_equal(back->pos, pos, sizeof pos);
    assert_memory_equal(back->n_alleles, na, sizeof na);
    assert_memory_equal(back->allele_off, aoff, sizeof aoff);
    assert_memory_equal(back->allele_blob, cs->allele_blob, 12);
    assert_memory_equal(back->qual, qual, sizeof qual);
    assert_memory_equal(back->filter, filt, sizeof filt);
    assert_memory_equal(back->af_off, foff, sizeof foff);
    assert_memory_equal(back->af, af, sizeof af);
    assert_memory_equal(back->gt, gt, sizeof gt);
    assert_memory_equal(back->gq, gq, sizeof gq);
    assert_memory_equal(back->dp, dp, sizeof dp);
    assert_memory_equal(back->ad_off, doff, sizeof doff);
    assert_memory_equal(back->ad, ad, sizeof ad);
    assert_memory_equal(back->pl_off, poff, sizeof poff);
    assert_memory_equal(back->pl, pl, sizeof pl);
    tsr_callset_destroy(&back);
    tsr_callset_destroy(&cs);

    /* an empty call set */
    assert_int_equal(tsr_callset_create(&cs), TSR_OK);
    cs->contig = strdup("chr3");
    cs->n_samples = 4;
    assert_int_equal(tsr_callset_write(p1, cs), TSR_OK);
    assert_int_equal(tsr_callset_read(p1, &back), TSR_OK);
    assert_int_equal(back->n_sites, 0);
    assert_int_equal(back->n_samples, 4);
    assert_string_equal(back->contig, "chr3");
    tsr_callset_destroy(&back);
    tsr_callset_destroy(&cs);
    unlink(p1);
    unlink(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_round_trip),
        cmocka_unit_test(test_partition_empty),
        cmocka_unit_test(test_partition_rejects_bad_files),
        cmocka_unit_test(test_callset_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
