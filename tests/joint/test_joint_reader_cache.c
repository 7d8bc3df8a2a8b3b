/*
 * test_joint_reader_cache.c - the joint's evidence reader with a chunk-cache
 * allowance (io/partition_reader.c, tsr_partition_reader_set_cache; issue
 * 17) reads the same windows as without one: a partition of 3,000 sites x 8
 * samples, whose PL, AD, strand and DP datasets span several 64 Ki-element
 * chunks, read 50 sites a window (windows far smaller than a chunk, as at
 * thousands of samples) with no allowance, a partial one and a whole one;
 * every window equals the others' and the concatenated sites equal the whole
 * partition's (tsr_partition_read); the cache taken is 0, at most the
 * partial allowance, and at least a PL chunk with the whole one.
 */
#include "io/io.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NS 8
#define NSITES 3000
#define WINDOW 50
#define BLOCK_LEN 40

static char g_path[256];

static tsr_evidence_t *make_partition(void)
{
    tsr_evidence_t *ev;
    assert_int_equal(tsr_evidence_create(&ev), TSR_OK);
    ev->contig = strdup("chrT");
    ev->start = 0;
    ev->end = 3 * NSITES + 100;
    ev->n_samples = NS;
    ev->sample_ids = calloc(NS, sizeof *ev->sample_ids);
    for (int j = 0; j < NS; j++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", j);
        ev->sample_ids[j] = strdup(id);
    }
    const int A = 3, G = 6;
    const char *al = "A,G,<*>";
    const int64_t n = NSITES, la = (int64_t)strlen(al);
    ev->n_sites = n;
    ev->pos = calloc((size_t)n, sizeof *ev->pos);
    ev->kind = calloc((size_t)n, sizeof *ev->kind);
    ev->n_alleles = calloc((size_t)n, sizeof *ev->n_alleles);
    ev->allele_off = calloc((size_t)n + 1, sizeof *ev->allele_off);
    ev->allele_blob = calloc((size_t)(n * la), 1);
    ev->pl_off = calloc((size_t)n + 1, sizeof *ev->pl_off);
    ev->pl = calloc((size_t)(n * NS * G), sizeof *ev->pl);
    ev->ad_off = calloc((size_t)n + 1, sizeof *ev->ad_off);
    ev->ad = calloc((size_t)(n * NS * A), sizeof *ev->ad);
    ev->strand = calloc((size_t)(2 * n * NS * A), sizeof *ev->strand);
    ev->dp = calloc((size_t)(n * NS), sizeof *ev->dp);
    for (int64_t i = 0; i < n; i++) {
        ev->pos[i] = 10 + 3 * i;
        ev->kind[i] = TSR_SITE_SNV;
        ev->n_alleles[i] = A;
        memcpy(ev->allele_blob + i * la, al, (size_t)la);
        ev->allele_off[i + 1] = (i + 1) * la;
        ev->pl_off[i + 1] = (i + 1) * NS * G;
        ev->ad_off[i + 1] = (i + 1) * NS * A;
        for (int j = 0; j < NS; j++) {
            int32_t *pl = ev->pl + (i * NS + j) * G, *ad = ev->ad + (i * NS + j) * A;
            int best = (int)((i + j) % G);
            for (int g = 0; g < G; g++)
                pl[g] = g == best ? 0 : (int32_t)((i * 31 + j * 7 + g * 3) % 97 + 1);
            ad[0] = (int32_t)((i + 2 * j) % 9);
            ad[1] = (int32_t)((3 * i + j) % 5);
            ad[2] = (int32_t)(i % 2);
            ev->dp[i * NS + j] = ad[0] + ad[1] + ad[2];
            for (int a = 0; a < A; a++) {
                ev->strand[2 * ((i * NS + j) * A + a)] = (ad[a] + 1) / 2;
                ev->strand[2 * ((i * NS + j) * A + a) + 1] = ad[a] / 2;
            }
        }
    }
    /* reference blocks of BLOCK_LEN bp tiling the region, each sample's offset by j bp */
    int64_t nb = 0, cap = NS * (ev->end / BLOCK_LEN + 2);
    ev->block_sample = calloc((size_t)cap, sizeof *ev->block_sample);
    ev->block_start = calloc((size_t)cap, sizeof *ev->block_start);
    ev->block_end = calloc((size_t)cap, sizeof *ev->block_end);
    ev->block_min_dp = calloc((size_t)cap, sizeof *ev->block_min_dp);
    for (int j = 0; j < NS; j++)
        for (int64_t s = j; s < ev->end; s += BLOCK_LEN) {
            ev->block_sample[nb] = j;
            ev->block_start[nb] = s;
            ev->block_end[nb] = s + BLOCK_LEN < ev->end ? s + BLOCK_LEN : ev->end;
            ev->block_min_dp[nb] = 1 + (int32_t)((s / BLOCK_LEN + j) % 6);
            nb++;
        }
    ev->n_blocks = nb;
    /* the order the call kernel writes, so the reader streams the blocks */
    assert_int_equal(tsr_evidence_blocks_by_position(ev), TSR_OK);
    return ev;
}

static void assert_windows_equal(const tsr_evidence_t *a, const tsr_evidence_t *b)
{
    assert_int_equal(a->n_sites, b->n_sites);
    int64_t n = a->n_sites;
    assert_memory_equal(a->pos, b->pos, (size_t)n * sizeof *a->pos);
    assert_memory_equal(a->kind, b->kind, (size_t)n);
    assert_memory_equal(a->allele_off, b->allele_off, (size_t)(n + 1) * sizeof *a->allele_off);
    assert_memory_equal(a->allele_blob, b->allele_blob, (size_t)a->allele_off[n]);
    assert_memory_equal(a->pl_off, b->pl_off, (size_t)(n + 1) * sizeof *a->pl_off);
    assert_memory_equal(a->pl, b->pl, (size_t)a->pl_off[n] * sizeof *a->pl);
    assert_memory_equal(a->ad_off, b->ad_off, (size_t)(n + 1) * sizeof *a->ad_off);
    assert_memory_equal(a->ad, b->ad, (size_t)a->ad_off[n] * sizeof *a->ad);
    assert_memory_equal(a->strand, b->strand, (size_t)(2 * a->ad_off[n]) * sizeof *a->strand);
    assert_memory_equal(a->dp, b->dp, (size_t)(n * a->n_samples) * sizeof *a->dp);
    assert_int_equal(a->n_blocks, b->n_blocks);
    assert_memory_equal(a->block_sample, b->block_sample, (size_t)a->n_blocks * sizeof *a->block_sample);
    assert_memory_equal(a->block_start, b->block_start, (size_t)a->n_blocks * sizeof *a->block_start);
    assert_memory_equal(a->block_end, b->block_end, (size_t)a->n_blocks * sizeof *a->block_end);
    assert_memory_equal(a->block_min_dp, b->block_min_dp, (size_t)a->n_blocks * sizeof *a->block_min_dp);
}

static void test_reader_cache_same_windows(void **state)
{
    (void)state;
    tsr_evidence_t *ev = make_partition(), *whole = NULL;
    assert_int_equal(tsr_partition_write(g_path, ev), TSR_OK);
    assert_int_equal(tsr_partition_read(g_path, &whole), TSR_OK);
    enum { R_NONE, R_PART, R_FULL, N_R };
    const int64_t allowance[N_R] = {0, 100000, 64 << 20};
    tsr_partition_reader_t *rd[N_R] = {NULL};
    for (int k = 0; k < N_R; k++) {
        assert_int_equal(tsr_partition_reader_open(g_path, &rd[k]), TSR_OK);
        tsr_partition_reader_set_cache(rd[k], allowance[k]);
    }
    const tsr_evidence_t *h = tsr_partition_reader_head(rd[0]);
    assert_int_equal(h->n_sites, NSITES);
    int64_t sites = 0, windows = 0, pl_at = 0, ad_at = 0, blocks = 0;
    while (tsr_partition_reader_at(rd[0]) < h->n_sites) {
        int64_t at = tsr_partition_reader_at(rd[0]);
        int64_t lo = h->pos[at], bound = at + WINDOW < h->n_sites ? h->pos[at + WINDOW] : h->end;
        tsr_evidence_t *w[N_R] = {NULL};
        for (int k = 0; k < N_R; k++)
            assert_int_equal(tsr_partition_reader_next(rd[k], lo, bound, &w[k]), TSR_OK);
        assert_windows_equal(w[R_NONE], w[R_PART]);
        assert_windows_equal(w[R_NONE], w[R_FULL]);
        /* and the window is the whole partition's slice */
        const tsr_evidence_t *x = w[R_NONE];
        assert_int_equal(x->n_sites, WINDOW);
        assert_memory_equal(x->pos, whole->pos + sites, (size_t)x->n_sites * sizeof *x->pos);
        assert_memory_equal(x->pl, whole->pl + pl_at, (size_t)x->pl_off[x->n_sites] * sizeof *x->pl);
        assert_memory_equal(x->ad, whole->ad + ad_at, (size_t)x->ad_off[x->n_sites] * sizeof *x->ad);
        assert_memory_equal(x->strand, whole->strand + 2 * ad_at, (size_t)(2 * x->ad_off[x->n_sites]) * sizeof *x->strand);
        assert_memory_equal(x->dp, whole->dp + sites * NS, (size_t)(x->n_sites * NS) * sizeof *x->dp);
        for (int64_t b = 0; b < x->n_blocks; b++)
            assert_true(x->block_start[b] < bound && x->block_end[b] > lo);
        sites += x->n_sites;
        pl_at += x->pl_off[x->n_sites];
        ad_at += x->ad_off[x->n_sites];
        blocks += x->n_blocks;
        windows++;
        for (int k = 0; k < N_R; k++)
            tsr_evidence_destroy(&w[k]);
    }
    assert_int_equal(sites, NSITES);
    assert_int_equal(windows, NSITES / WINDOW);
    assert_int_equal(pl_at, whole->pl_off[NSITES]);
    assert_true(blocks >= whole->n_blocks); /* every block in some window, the ones spanning a cut in two */
    /* the cache taken: none without an allowance, never past it, and at least one PL chunk (64 Ki int32) */
    assert_int_equal(tsr_partition_reader_cache(rd[R_NONE]), 0);
    assert_true(tsr_partition_reader_cache(rd[R_PART]) > 0);
    assert_true(tsr_partition_reader_cache(rd[R_PART]) <= allowance[R_PART]);
    assert_true(tsr_partition_reader_cache(rd[R_FULL]) >= 65536 * 4);
    assert_true(tsr_partition_reader_cache(rd[R_FULL]) > tsr_partition_reader_cache(rd[R_PART]));
    for (int k = 0; k < N_R; k++)
        tsr_partition_reader_close(&rd[k]);
    tsr_evidence_destroy(&whole);
    tsr_evidence_destroy(&ev);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_path, sizeof g_path, "%s/tsr_joint_reader_cache_%d.h5", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_cache_same_windows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
