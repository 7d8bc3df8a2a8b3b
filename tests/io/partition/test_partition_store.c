/* test_partition_store.c - evidence partition and call-set HDF5 round trips and rejections. */
#include "io/h5_store.h"
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

/* Sites [i0, i1) of cs as a window (its offsets start at 0). */
static tsr_callset_t *slice(const tsr_callset_t *cs, int64_t i0, int64_t i1)
{
    tsr_callset_t *w;
    assert_int_equal(tsr_callset_create(&w), TSR_OK);
    const int64_t n = i1 - i0, S = cs->n_samples;
    w->contig = strdup(cs->contig);
    w->start = cs->start;
    w->end = cs->end;
    w->n_samples = cs->n_samples;
    w->n_pops = cs->n_pops;
    w->n_sites = n;
    w->pos = dup_mem(cs->pos + i0, (size_t)n * sizeof *w->pos);
    w->n_alleles = dup_mem(cs->n_alleles + i0, (size_t)n * sizeof *w->n_alleles);
    w->qual = dup_mem(cs->qual + i0, (size_t)n * sizeof *w->qual);
    w->filter = dup_mem(cs->filter + i0, (size_t)n);
    w->gt = dup_mem(cs->gt + i0 * S * 2, (size_t)(n * S * 2));
    w->gq = dup_mem(cs->gq + i0 * S, (size_t)(n * S) * sizeof *w->gq);
    w->dp = dup_mem(cs->dp + i0 * S, (size_t)(n * S) * sizeof *w->dp);
    w->ds = dup_mem(cs->ds + i0 * S, (size_t)(n * S) * sizeof *w->ds);
    int64_t *offs[4] = {cs->allele_off, cs->af_off, cs->ad_off, cs->pl_off};
    int64_t **wo[4] = {&w->allele_off, &w->af_off, &w->ad_off, &w->pl_off};
    for (int k = 0; k < 4; k++) {
        *wo[k] = malloc((size_t)(n + 1) * sizeof **wo[k]);
        for (int64_t i = 0; i <= n; i++)
            (*wo[k])[i] = offs[k][i0 + i] - offs[k][i0];
    }
    w->allele_blob = dup_mem(cs->allele_blob + cs->allele_off[i0], (size_t)w->allele_off[n]);
    w->af = dup_mem(cs->af + cs->af_off[i0], (size_t)w->af_off[n] * sizeof *w->af);
    w->pop_af = dup_mem(cs->pop_af + cs->af_off[i0] * cs->n_pops,
                        (size_t)(w->af_off[n] * cs->n_pops) * sizeof *w->pop_af);
    w->ad = dup_mem(cs->ad + cs->ad_off[i0], (size_t)w->ad_off[n] * sizeof *w->ad);
    w->pl = dup_mem(cs->pl + cs->pl_off[i0], (size_t)w->pl_off[n] * sizeof *w->pl);
    w->gp = dup_mem(cs->gp + cs->pl_off[i0], (size_t)w->pl_off[n] * sizeof *w->gp);
    return w;
}

static void assert_callsets_equal(const tsr_callset_t *a, const tsr_callset_t *b)
{
    const int64_t n = a->n_sites, S = a->n_samples;
    assert_int_equal(b->n_sites, n);
    assert_int_equal(b->n_samples, S);
    assert_int_equal(b->n_pops, a->n_pops);
    assert_string_equal(b->contig, a->contig);
    assert_memory_equal(b->pos, a->pos, (size_t)n * sizeof *a->pos);
    assert_memory_equal(b->n_alleles, a->n_alleles, (size_t)n * sizeof *a->n_alleles);
    assert_memory_equal(b->allele_off, a->allele_off, (size_t)(n + 1) * sizeof *a->allele_off);
    assert_memory_equal(b->af_off, a->af_off, (size_t)(n + 1) * sizeof *a->af_off);
    assert_memory_equal(b->ad_off, a->ad_off, (size_t)(n + 1) * sizeof *a->ad_off);
    assert_memory_equal(b->pl_off, a->pl_off, (size_t)(n + 1) * sizeof *a->pl_off);
    assert_memory_equal(b->allele_blob, a->allele_blob, (size_t)a->allele_off[n]);
    assert_memory_equal(b->qual, a->qual, (size_t)n * sizeof *a->qual);
    assert_memory_equal(b->filter, a->filter, (size_t)n);
    assert_memory_equal(b->af, a->af, (size_t)a->af_off[n] * sizeof *a->af);
    assert_memory_equal(b->pop_af, a->pop_af, (size_t)(a->af_off[n] * a->n_pops) * sizeof *a->pop_af);
    assert_memory_equal(b->gt, a->gt, (size_t)(n * S * 2));
    assert_memory_equal(b->gq, a->gq, (size_t)(n * S) * sizeof *a->gq);
    assert_memory_equal(b->dp, a->dp, (size_t)(n * S) * sizeof *a->dp);
    assert_memory_equal(b->ds, a->ds, (size_t)(n * S) * sizeof *a->ds);
    assert_memory_equal(b->ad, a->ad, (size_t)a->ad_off[n] * sizeof *a->ad);
    assert_memory_equal(b->pl, a->pl, (size_t)a->pl_off[n] * sizeof *a->pl);
    assert_memory_equal(b->gp, a->gp, (size_t)a->pl_off[n] * sizeof *a->gp);
}

/* A low-pass call set written a window at a time reads back as the whole; read in windows it gives the slices. */
static void test_callset_windows(void **state)
{
    (void)state;
    char p1[512], p2[512];
    path_in(p1, sizeof p1, "whole.h5");
    path_in(p2, sizeof p2, "windows.h5");
    enum { N = 7, S = 3, P = 2 };
    tsr_callset_t *cs;
    assert_int_equal(tsr_callset_create(&cs), TSR_OK);
    cs->contig = strdup("chr2");
    cs->start = 100;
    cs->end = 9000;
    cs->n_samples = S;
    cs->n_pops = P;
    cs->n_sites = N;
    const int32_t na[N] = {2, 3, 2, 2, 4, 2, 3};
    cs->pos = malloc(N * sizeof *cs->pos);
    cs->n_alleles = dup_mem(na, sizeof na);
    cs->qual = malloc(N * sizeof *cs->qual);
    cs->filter = malloc(N);
    cs->gt = malloc(N * S * 2);
    cs->gq = malloc(N * S * sizeof *cs->gq);
    cs->dp = malloc(N * S * sizeof *cs->dp);
    cs->ds = malloc(N * S * sizeof *cs->ds);
    cs->allele_off = malloc((N + 1) * sizeof(int64_t));
    cs->af_off = malloc((N + 1) * sizeof(int64_t));
    cs->ad_off = malloc((N + 1) * sizeof(int64_t));
    cs->pl_off = malloc((N + 1) * sizeof(int64_t));
    char blob[256] = "";
    cs->allele_off[0] = cs->af_off[0] = cs->ad_off[0] = cs->pl_off[0] = 0;
    for (int i = 0; i < N; i++) {
        cs->pos[i] = 150 + 37 * i;
        cs->qual[i] = 10.5f * (float)i;
        cs->filter[i] = (uint8_t)(i % 3);
        const char *al[] = {"A", "C", "GT", "T"};
        size_t l0 = strlen(blob);
        for (int a = 0; a < na[i]; a++) {
            if (a)
                strcat(blob, ",");
            strcat(blob, al[a]);
        }
        cs->allele_off[i + 1] = cs->allele_off[i] + (int64_t)(strlen(blob) - l0);
        cs->af_off[i + 1] = cs->af_off[i] + na[i];
        cs->ad_off[i + 1] = cs->ad_off[i] + S * na[i];
        cs->pl_off[i + 1] = cs->pl_off[i] + S * na[i] * (na[i] + 1) / 2;
        for (int j = 0; j < S; j++) {
            cs->gt[(i * S + j) * 2] = (int8_t)(j == 2 ? -1 : 0);
            cs->gt[(i * S + j) * 2 + 1] = (int8_t)(j == 2 ? -1 : (i + j) % na[i]);
            cs->gq[i * S + j] = 3 * i + j;
            cs->dp[i * S + j] = i - j;
            cs->ds[i * S + j] = 0.125f * (float)(i + j);
        }
    }
    cs->allele_blob = dup_mem(blob, (size_t)cs->allele_off[N]);
    cs->af = malloc((size_t)cs->af_off[N] * sizeof *cs->af);
    cs->pop_af = malloc((size_t)(cs->af_off[N] * P) * sizeof *cs->pop_af);
    cs->ad = malloc((size_t)cs->ad_off[N] * sizeof *cs->ad);
    cs->pl = malloc((size_t)cs->pl_off[N] * sizeof *cs->pl);
    cs->gp = malloc((size_t)cs->pl_off[N] * sizeof *cs->gp);
    for (int64_t k = 0; k < cs->af_off[N]; k++)
        cs->af[k] = 0.01f * (float)k;
    for (int64_t k = 0; k < cs->af_off[N] * P; k++)
        cs->pop_af[k] = 0.02f * (float)k;
    for (int64_t k = 0; k < cs->ad_off[N]; k++)
        cs->ad[k] = (int32_t)(k % 5);
    for (int64_t k = 0; k < cs->pl_off[N]; k++) {
        cs->pl[k] = (int32_t)(k * 7 % 50);
        cs->gp[k] = 0.001f * (float)k;
    }
    assert_int_equal(tsr_callset_write(p1, cs), TSR_OK);
    /* windows of 3, 3, 1 through the writer */
    tsr_callset_writer_t *w = NULL;
    assert_int_equal(tsr_callset_writer_open(p2, cs->contig, cs->start, cs->end, S, 1, P, &w), TSR_OK);
    for (int64_t i0 = 0; i0 < N; i0 += 3) {
        tsr_callset_t *win = slice(cs, i0, i0 + 3 < N ? i0 + 3 : N);
        assert_int_equal(tsr_callset_writer_append(w, win), TSR_OK);
        tsr_callset_destroy(&win);
    }
    assert_int_equal(tsr_callset_writer_close(&w, 1), TSR_OK);
    tsr_callset_t *back = NULL;
    assert_int_equal(tsr_callset_read(p2, &back), TSR_OK);
    assert_int_equal(back->start, 100);
    assert_int_equal(back->end, 9000);
    assert_callsets_equal(cs, back);
    tsr_callset_destroy(&back);
    /* the whole file read in windows of 2: the slices, then NULL */
    tsr_callset_reader_t *r = NULL;
    assert_int_equal(tsr_callset_reader_open(p1, &r), TSR_OK);
    assert_int_equal(tsr_callset_reader_n_sites(r), N);
    for (int64_t i0 = 0; i0 < N; i0 += 2) {
        assert_int_equal(tsr_callset_reader_next(r, 2, &back), TSR_OK);
        assert_non_null(back);
        tsr_callset_t *want = slice(cs, i0, i0 + 2 < N ? i0 + 2 : N);
        assert_callsets_equal(want, back);
        tsr_callset_destroy(&want);
        tsr_callset_destroy(&back);
    }
    assert_int_equal(tsr_callset_reader_next(r, 2, &back), TSR_OK);
    assert_null(back);
    tsr_callset_reader_close(&r);
    /* a window of other samples does not fit */
    assert_int_equal(tsr_callset_writer_open(p2, cs->contig, cs->start, cs->end, S + 1, 1, P, &w), TSR_OK);
    assert_int_equal(tsr_callset_writer_append(w, cs), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_callset_writer_close(&w, 0), TSR_OK);
    /* the committed file from before is still whole */
    assert_int_equal(tsr_callset_read(p2, &back), TSR_OK);
    assert_callsets_equal(cs, back);
    tsr_callset_destroy(&back);

    /* a packed file (issue 18): member 0 without sites (only marked empty), member 1 buffered in windows */
    char p3[512], m[600];
    path_in(p3, sizeof p3, "packed_cs.h5");
    snprintf(m, sizeof m, "%s#0/2", p3);
    assert_int_equal(tsr_callset_writer_open(m, "chrUn_x", 0, 500, S, 1, P, &w), TSR_OK);
    assert_int_equal(tsr_callset_writer_close(&w, 1), TSR_OK);
    assert_int_equal(access(p3, F_OK), -1); /* not in place before its last member */
    snprintf(m, sizeof m, "%s#1/2", p3);
    assert_int_equal(tsr_callset_writer_open(m, cs->contig, cs->start, cs->end, S, 1, P, &w), TSR_OK);
    for (int64_t i0 = 0; i0 < N; i0 += 3) {
        tsr_callset_t *win = slice(cs, i0, i0 + 3 < N ? i0 + 3 : N);
        assert_int_equal(tsr_callset_writer_append(w, win), TSR_OK);
        tsr_callset_destroy(&win);
    }
    assert_int_equal(tsr_callset_writer_close(&w, 1), TSR_OK);
    assert_int_equal(n_dir_entries(), 3); /* whole.h5, windows.h5, packed_cs.h5: no temporary file left */
    snprintf(m, sizeof m, "%s#1", p3);
    assert_int_equal(tsr_callset_read(m, &back), TSR_OK);
    assert_callsets_equal(cs, back);
    tsr_callset_destroy(&back);
    snprintf(m, sizeof m, "%s#0", p3);
    assert_int_equal(tsr_callset_reader_open(m, &r), TSR_OK);
    assert_int_equal(tsr_callset_reader_n_sites(r), 0);
    assert_int_equal(tsr_callset_reader_next(r, 2, &back), TSR_OK); /* one empty window */
    assert_non_null(back);
    assert_int_equal(back->n_sites, 0);
    assert_int_equal(back->n_pops, P);
    assert_string_equal(back->contig, "chrUn_x");
    assert_int_equal(back->allele_off[0], 0);
    assert_int_equal(back->pl_off[0], 0);
    assert_non_null(back->gp);
    tsr_callset_destroy(&back);
    assert_int_equal(tsr_callset_reader_next(r, 2, &back), TSR_OK);
    assert_null(back);
    tsr_callset_reader_close(&r);
    /* the empty member has no datasets; read through the HDF5 layer, a per-site dataset has no elements */
    tsr_h5_file_t f;
    int32_t *na_back = NULL;
    int64_t n_back = -1;
    assert_int_equal(tsr_h5_open(m, &f), TSR_OK);
    assert_true(tsr_h5_is_empty(&f));
    assert_int_equal(tsr_h5_read(&f, "/site/n_alleles", H5T_NATIVE_INT32, -1, &n_back, (void **)&na_back), TSR_OK);
    assert_int_equal(n_back, 0);
    free(na_back);
    assert_int_equal(tsr_h5_read(&f, "/site/allele_offset", H5T_NATIVE_INT64, 1, NULL, (void **)&na_back),
                     TSR_ERR_FORMAT); /* offsets are never made up */
    tsr_error_clear();
    assert_int_equal(tsr_h5_finish(&f, 0), TSR_OK);
    snprintf(m, sizeof m, "%s#1", p3);
    assert_int_equal(tsr_h5_open(m, &f), TSR_OK);
    assert_false(tsr_h5_is_empty(&f));
    assert_int_equal(tsr_h5_finish(&f, 0), TSR_OK);
    tsr_callset_destroy(&cs);
    unlink(p1);
    unlink(p2);
    unlink(p3);
}

/* Evidence members of a packed file: empty ones (attributes and sample ids only) around a full one. */
static void test_partition_packed(void **state)
{
    (void)state;
    char p[512], m[600];
    path_in(p, sizeof p, "packed.h5");
    tsr_evidence_t *full = make_evidence(), *empty, *back = NULL;
    assert_int_equal(tsr_evidence_create(&empty), TSR_OK);
    empty->contig = strdup("HLA-A*01:01:01:01");
    empty->start = 0;
    empty->end = 3503;
    empty->n_samples = 2;
    empty->sample_ids = calloc(2, sizeof *empty->sample_ids);
    empty->sample_ids[0] = strdup("S1");
    empty->sample_ids[1] = strdup("S2");
    for (int k = 0; k < 3; k++) {
        snprintf(m, sizeof m, "%s#%d/3", p, k);
        assert_int_equal(tsr_partition_write(m, k == 1 ? full : empty), TSR_OK);
    }
    assert_int_equal(n_dir_entries(), 1); /* no temporary file left */
    int members = 0;
    assert_int_equal(tsr_partition_members(p, &members), TSR_OK);
    assert_int_equal(members, 3);
    for (int k = 0; k < 3; k++) {
        snprintf(m, sizeof m, "%s#%d", p, k);
        assert_int_equal(tsr_partition_read(m, &back), TSR_OK);
        assert_evidence_equal(k == 1 ? full : empty, back);
        tsr_evidence_destroy(&back);
        tsr_h5_file_t f;
        assert_int_equal(tsr_h5_open(m, &f), TSR_OK);
        assert_int_equal(tsr_h5_is_empty(&f), k != 1);
        assert_int_equal(tsr_h5_finish(&f, 0), TSR_OK);
        /* the member table lists the same, so readers may skip members 0 and 2 unopened */
        assert_int_equal(tsr_h5_member_empty(m), k != 1);
    }
    snprintf(m, sizeof m, "%s#%d", p, 3); /* past the last member: not listed, left to the reader's open */
    assert_int_equal(tsr_h5_member_empty(m), 0);
    assert_int_equal(tsr_h5_member_empty(p), 0); /* a whole path names no member */
    /* the windowed reader: an empty member gives one window of nothing, the full one its sites and blocks */
    for (int k = 0; k < 2; k++) {
        tsr_partition_reader_t *r = NULL;
        snprintf(m, sizeof m, "%s#%d", p, k);
        assert_int_equal(tsr_partition_reader_open(m, &r), TSR_OK);
        const tsr_evidence_t *h = tsr_partition_reader_head(r);
        assert_int_equal(h->n_sites, k == 1 ? full->n_sites : 0);
        assert_string_equal(h->sample_ids[1], k == 1 ? "s2" : "S2");
        assert_int_equal(tsr_partition_reader_next(r, h->start, h->end, &back), TSR_OK);
        assert_int_equal(back->n_sites, k == 1 ? full->n_sites : 0);
        assert_int_equal(back->n_blocks, k == 1 ? full->n_blocks : 0);
        assert_int_equal(back->ad_off[back->n_sites], k == 1 ? full->ad_off[full->n_sites] : 0);
        tsr_evidence_destroy(&back);
        tsr_partition_reader_close(&r);
    }
    tsr_evidence_destroy(&full);
    tsr_evidence_destroy(&empty);
    unlink(p);
}

/* Append file src's bytes to the open container fp at offset `at` (zeros before it); its length. */
static long append_image(FILE *fp, const char *src, long at)
{
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    for (long pos = ftell(fp); pos < at; pos++)
        fputc(0, fp);
    char buf[8192];
    long n = 0;
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, k, fp), k);
        n += (long)k;
    }
    fclose(in);
    return n;
}

/*
 * Evidence containers (io/h5_window.c): partitions appended to a container at 4 KiB offsets, between other
 * bytes, read back by location ("CONTAINER@OFFSET+LENGTH", a packed file's member as "...#K") through every
 * reader; a short container, a window that is not an image and a damaged image are refused.
 */
static void test_partition_window(void **state)
{
    (void)state;
    char whole[512], packed[512], cont[512], loc[700], m[760];
    path_in(whole, sizeof whole, "w.h5");
    path_in(packed, sizeof packed, "w_packed.h5");
    path_in(cont, sizeof cont, "r000000.s0001.pack");
    tsr_evidence_t *ev = make_evidence(), *back = NULL;
    assert_int_equal(tsr_partition_write(whole, ev), TSR_OK);
    for (int k = 0; k < 2; k++) {
        snprintf(m, sizeof m, "%s#%d/2", packed, k);
        assert_int_equal(tsr_partition_write(m, ev), TSR_OK);
    }
    FILE *fp = fopen(cont, "wb");
    assert_non_null(fp);
    fputs("not an image", fp);
    long len1 = append_image(fp, whole, 4096);
    long at2 = (4096 + len1 + 4095) / 4096 * 4096;
    long len2 = append_image(fp, packed, at2);
    fputs("a half-appended tail", fp);
    fclose(fp);
    int64_t off = 0, len = 0;
    snprintf(loc, sizeof loc, "%s@4096+%ld", cont, len1);
    assert_int_equal(tsr_location_parse(loc, m, sizeof m, &off, &len), 1);
    assert_string_equal(m, cont);
    assert_int_equal(off, 4096);
    assert_int_equal(len, len1);
    assert_int_equal(tsr_location_parse(cont, NULL, 0, &off, &len), 0);
    assert_int_equal(tsr_partition_read(loc, &back), TSR_OK);
    assert_evidence_equal(ev, back);
    tsr_evidence_destroy(&back);
    tsr_partition_reader_t *r = NULL;
    assert_int_equal(tsr_partition_reader_open(loc, &r), TSR_OK);
    assert_int_equal(tsr_partition_reader_head(r)->n_sites, ev->n_sites);
    tsr_partition_reader_close(&r);
    int members = -1;
    snprintf(loc, sizeof loc, "%s@%ld+%ld", cont, at2, len2);
    assert_int_equal(tsr_partition_members(loc, &members), TSR_OK);
    assert_int_equal(members, 2);
    for (int k = 0; k < 2; k++) {
        snprintf(m, sizeof m, "%s#%d", loc, k);
        assert_int_equal(tsr_partition_read(m, &back), TSR_OK);
        assert_evidence_equal(ev, back);
        tsr_evidence_destroy(&back);
    }
    /* a window past the container's end, one that is not an image, an image with a changed byte */
    snprintf(loc, sizeof loc, "%s@%ld+%ld", cont, at2, len2 + 100000);
    assert_int_not_equal(tsr_partition_read(loc, &back), TSR_OK);
    snprintf(loc, sizeof loc, "%s@0+%ld", cont, len1);
    assert_int_not_equal(tsr_partition_read(loc, &back), TSR_OK);
    fp = fopen(cont, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 4096 + 600, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_int_equal(fseek(fp, 4096 + 600, SEEK_SET), 0);
    fputc(c ^ 0x5a, fp);
    fclose(fp);
    snprintf(loc, sizeof loc, "%s@4096+%ld", cont, len1);
    assert_int_equal(tsr_partition_read(loc, &back), TSR_ERR_FORMAT);
    assert_null(back);
    tsr_error_clear();
    tsr_evidence_destroy(&ev);
    unlink(whole);
    unlink(packed);
    unlink(cont);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_round_trip),
        cmocka_unit_test(test_partition_empty),
        cmocka_unit_test(test_partition_rejects_bad_files),
        cmocka_unit_test(test_callset_round_trip),
        cmocka_unit_test(test_callset_windows),
        cmocka_unit_test(test_partition_packed),
        cmocka_unit_test(test_partition_window),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
