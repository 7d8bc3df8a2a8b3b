/* test_call_pileup.c - the call computation on tiny BAMs built here with htslib. */
#include "kernels/kernels.h"

#include <htslib/sam.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define REF_LEN 200

static char tmpdir[256];
static char ref[REF_LEN + 1];

static int setup(void **state)
{
    (void)state;
    uint32_t x = 12345;
    for (int i = 0; i < REF_LEN; i++) {
        x = x * 1103515245u + 12345u;
        ref[i] = "ACGT"[(x >> 16) & 3];
    }
    ref[REF_LEN] = '\0';
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsr_call_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

static char alt_of(char b) { return b == 'A' ? 'C' : b == 'C' ? 'G' : b == 'G' ? 'T' : 'A'; }

typedef struct read_spec {
    const char *name;
    uint16_t flag;
    int64_t pos, mpos;
    const char *cigar;
    char seq[128];
    int low_q_at; /* query offset with base quality 5, or -1 */
} read_spec_t;

/* A read of the reference at pos, len bases, with base `sub` at ref position `at` (if at >= 0). */
static void ref_read(read_spec_t *r, const char *name, uint16_t flag, int64_t pos, int len, int64_t at, char sub)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->flag = flag;
    r->pos = pos;
    r->mpos = -1;
    r->cigar = len == 40 ? "40M" : NULL;
    memcpy(r->seq, ref + pos, (size_t)len);
    if (at >= 0)
        r->seq[at - pos] = sub;
    r->low_q_at = -1;
}

static int cmp_spec(const void *a, const void *b)
{
    const read_spec_t *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void write_bam(const char *path, read_spec_t *r, int n)
{
    qsort(r, (size_t)n, sizeof *r, cmp_spec);
    samFile *fp = sam_open(path, "wb");
    assert_non_null(fp);
    sam_hdr_t *h = sam_hdr_parse(strlen("@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chrT\tLN:200\n"),
                                 "@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chrT\tLN:200\n");
    assert_non_null(h);
    assert_int_equal(sam_hdr_write(fp, h), 0);
    bam1_t *b = bam_init1();
    for (int i = 0; i < n; i++) {
        uint32_t cig[8];
        size_t nc = 0;
        char *end = NULL;
        const char *c = r[i].cigar;
        while (*c) {
            long len = strtol(c, &end, 10);
            cig[nc++] = bam_cigar_gen(len, bam_cigar_table[(unsigned char)*end]);
            c = end + 1;
        }
        size_t l = strlen(r[i].seq);
        char qual[128];
        memset(qual, 30, l);
        if (r[i].low_q_at >= 0)
            qual[r[i].low_q_at] = 5;
        int paired = r[i].mpos >= 0;
        assert_true(bam_set1(b, strlen(r[i].name), r[i].name, r[i].flag, 0, r[i].pos, 60, nc, cig,
                             paired ? 0 : -1, paired ? r[i].mpos : -1, 0, l, r[i].seq, qual, 0) >= 0);
        assert_true(sam_write1(fp, h, b) >= 0);
    }
    bam_destroy1(b);
    sam_hdr_destroy(h);
    assert_int_equal(sam_close(fp), 0);
    assert_int_equal(sam_index_build(path, 0), 0);
}

static int64_t find_site(const tsr_evidence_t *ev, int64_t pos, int kind)
{
    for (int64_t i = 0; i < ev->n_sites; i++)
        if (ev->pos[i] == pos && ev->kind[i] == kind)
            return i;
    return -1;
}

static void site_alleles(const tsr_evidence_t *ev, int64_t i, char *buf)
{
    int64_t l = ev->allele_off[i + 1] - ev->allele_off[i];
    memcpy(buf, ev->allele_blob + ev->allele_off[i], (size_t)l);
    buf[l] = '\0';
}

static const int32_t *pl_of(const tsr_evidence_t *ev, int64_t i, int s)
{
    int na = ev->n_alleles[i];
    return ev->pl + ev->pl_off[i] + (int64_t)s * na * (na + 1) / 2;
}

static const int32_t *ad_of(const tsr_evidence_t *ev, int64_t i, int s)
{
    return ev->ad + ev->ad_off[i] + (int64_t)s * ev->n_alleles[i];
}

/* The genotype index with PL 0 (the most likely); asserts it is unique. */
static int best_gt(const int32_t *pl, int G)
{
    int best = -1;
    for (int g = 0; g < G; g++)
        if (pl[g] == 0) {
            assert_int_equal(best, -1);
            best = g;
        }
    return best;
}

static void test_call_small_cohort(void **state)
{
    (void)state;
    read_spec_t s1[32], s2[32];
    int n1 = 0, n2 = 0;
    char names[64][16];
    int nn = 0;
#define NAME() (snprintf(names[nn], sizeof names[nn], "r%d", nn), names[nn++])
    /* sample 1: het SNV at 50 (4 ref, 4 alt), a low-quality third base (in DP and GL, not in AD), a duplicate ignored */
    for (int i = 0; i < 4; i++)
        ref_read(&s1[n1++], NAME(), 0, 30, 40, -1, 0);
    for (int i = 0; i < 4; i++)
        ref_read(&s1[n1++], NAME(), 0, 30, 40, 50, alt_of(ref[50]));
    ref_read(&s1[n1], NAME(), 0, 30, 40, 50, alt_of(alt_of(ref[50])));
    s1[n1++].low_q_at = 20;
    for (int i = 0; i < 2; i++)
        ref_read(&s1[n1++], NAME(), BAM_FDUP, 30, 40, 50, alt_of(alt_of(ref[50])));
    /* sample 1: het insertion of GG after 130 (3 reads with it, 3 without) */
    for (int i = 0; i < 3; i++)
        ref_read(&s1[n1++], NAME(), 0, 110, 40, -1, 0);
    for (int i = 0; i < 3; i++) {
        read_spec_t *r = &s1[n1++];
        ref_read(r, NAME(), 0, 110, 40, -1, 0);
        r->cigar = "21M2I19M";
        memcpy(r->seq, ref + 110, 21);
        memcpy(r->seq + 21, "GG", 2);
        memcpy(r->seq + 23, ref + 131, 19);
        r->seq[42] = '\0';
    }
    /* sample 2: hom-ref at 50 (3 reads + an overlapping pair counted once), hom-alt SNV at 100 */
    for (int i = 0; i < 3; i++)
        ref_read(&s2[n2++], NAME(), 0, 30, 40, -1, 0);
    const char *pair = NAME();
    ref_read(&s2[n2], pair, BAM_FPAIRED | BAM_FPROPER_PAIR | BAM_FMREVERSE | BAM_FREAD1, 30, 40, -1, 0);
    s2[n2++].mpos = 40;
    ref_read(&s2[n2], pair, BAM_FPAIRED | BAM_FPROPER_PAIR | BAM_FREVERSE | BAM_FREAD2, 40, 40, -1, 0);
    s2[n2++].mpos = 30;
    for (int i = 0; i < 5; i++)
        ref_read(&s2[n2++], NAME(), 0, 80, 40, 100, alt_of(ref[100]));
    /* sample 2: hom deletion of 161-162 (anchor 160) */
    for (int i = 0; i < 4; i++) {
        read_spec_t *r = &s2[n2++];
        ref_read(r, NAME(), 0, 140, 40, -1, 0);
        r->cigar = "21M2D19M";
        memcpy(r->seq, ref + 140, 21);
        memcpy(r->seq + 21, ref + 163, 19);
        r->seq[40] = '\0';
    }
#undef NAME
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/s1.bam", tmpdir);
    snprintf(p2, sizeof p2, "%s/s2.bam", tmpdir);
    write_bam(p1, s1, n1);
    write_bam(p2, s2, n2);

    tsr_call_opts_t o;
    tsr_call_opts_init(&o);
    const char *ids[] = {"S1", "S2"}, *paths[] = {p1, p2};
    tsr_evidence_t *ev = NULL;
    assert_int_equal(tsr_call_region(ref, REF_LEN, "chrT", 0, REF_LEN, 2, ids, paths, &o, NULL, &ev), TSR_OK);
    assert_non_null(ev);
    assert_string_equal(ev->contig, "chrT");
    assert_string_equal(ev->sample_ids[1], "S2");
    assert_int_equal(ev->n_sites, 4);
    for (int64_t i = 1; i < ev->n_sites; i++)
        assert_true(ev->pos[i - 1] < ev->pos[i] || (ev->pos[i - 1] == ev->pos[i] && ev->kind[i - 1] < ev->kind[i]));
    char buf[64], want[64];

    /* het SNV at 50 */
    int64_t i = find_site(ev, 50, TSR_SITE_SNV);
    assert_true(i >= 0);
    site_alleles(ev, i, buf);
    snprintf(want, sizeof want, "%c,%c,<*>", ref[50], alt_of(ref[50]));
    assert_string_equal(buf, want);
    assert_int_equal(ev->n_alleles[i], 3);
    assert_memory_equal(ad_of(ev, i, 0), ((int32_t[]){4, 4, 0}), 3 * sizeof(int32_t));
    assert_memory_equal(ad_of(ev, i, 1), ((int32_t[]){4, 0, 0}), 3 * sizeof(int32_t));
    assert_int_equal(ev->dp[i * 2 + 0], 9); /* the Q5 base weighs in the likelihoods (DP), not in AD */
    assert_int_equal(ev->dp[i * 2 + 1], 4);
    assert_int_equal(best_gt(pl_of(ev, i, 0), 6), tsr_gt_index(0, 1));
    assert_int_equal(best_gt(pl_of(ev, i, 1), 6), tsr_gt_index(0, 0));
    assert_true(pl_of(ev, i, 1)[tsr_gt_index(1, 1)] > 60);

    /* hom-alt SNV at 100: sample 1 has no reads there */
    i = find_site(ev, 100, TSR_SITE_SNV);
    assert_true(i >= 0);
    assert_int_equal(best_gt(pl_of(ev, i, 1), 6), tsr_gt_index(1, 1));
    assert_memory_equal(ad_of(ev, i, 1), ((int32_t[]){0, 5, 0}), 3 * sizeof(int32_t));
    assert_int_equal(ev->dp[i * 2 + 0], 0);
    for (int g = 0; g < 6; g++)
        assert_int_equal(pl_of(ev, i, 0)[g], 0);

    /* het insertion anchored at 130 */
    i = find_site(ev, 130, TSR_SITE_INDEL);
    assert_true(i >= 0);
    site_alleles(ev, i, buf);
    snprintf(want, sizeof want, "%c,%cGG,<*>", ref[130], ref[130]);
    assert_string_equal(buf, want);
    assert_memory_equal(ad_of(ev, i, 0), ((int32_t[]){3, 3, 0}), 3 * sizeof(int32_t));
    assert_int_equal(best_gt(pl_of(ev, i, 0), 6), tsr_gt_index(0, 1));
    assert_int_equal(ev->dp[i * 2 + 1], 0);

    /* hom deletion anchored at 160 */
    i = find_site(ev, 160, TSR_SITE_INDEL);
    assert_true(i >= 0);
    site_alleles(ev, i, buf);
    snprintf(want, sizeof want, "%.3s,%c,<*>", ref + 160, ref[160]);
    assert_string_equal(buf, want);
    assert_memory_equal(ad_of(ev, i, 1), ((int32_t[]){0, 4, 0}), 3 * sizeof(int32_t));
    assert_int_equal(best_gt(pl_of(ev, i, 1), 6), tsr_gt_index(1, 1));

    /* reference blocks: sample 1 over [30, 70) minus the site at 50, depth 9 (the duplicates not counted) */
    int found_left = 0, found_right = 0;
    for (int64_t b = 0; b < ev->n_blocks; b++) {
        assert_true(ev->block_start[b] < ev->block_end[b]);
        if (b > 0)
            assert_true(ev->block_sample[b - 1] < ev->block_sample[b] ||
                        ev->block_end[b - 1] <= ev->block_start[b]);
        for (int64_t k = 0; k < ev->n_sites; k++)
            assert_false(ev->block_start[b] <= ev->pos[k] && ev->pos[k] < ev->block_end[b]);
        if (ev->block_sample[b] == 0 && ev->block_start[b] == 30 && ev->block_end[b] == 50) {
            found_left = 1;
            assert_int_equal(ev->block_min_dp[b], 9);
        }
        if (ev->block_sample[b] == 0 && ev->block_start[b] == 51 && ev->block_end[b] == 70)
            found_right = 1;
        /* sample 2 at 40..69: 3 singles + the pair once = 4; a block of band 3-5 must cover 45 */
        if (ev->block_sample[b] == 1 && ev->block_start[b] <= 45 && 45 < ev->block_end[b])
            assert_int_equal(ev->block_min_dp[b], 4);
        /* nobody covers 0..29 */
        assert_true(ev->block_start[b] >= 30);
    }
    assert_true(found_left);
    assert_true(found_right);

    /* a round trip through the partition file keeps it all */
    char part[512];
    snprintf(part, sizeof part, "%s/b0.h5", tmpdir);
    assert_int_equal(tsr_partition_write(part, ev), TSR_OK);
    tsr_evidence_t *back = NULL;
    assert_int_equal(tsr_partition_read(part, &back), TSR_OK);
    assert_int_equal(back->n_sites, ev->n_sites);
    assert_memory_equal(back->pl, ev->pl, (size_t)ev->pl_off[ev->n_sites] * sizeof(int32_t));
    tsr_evidence_destroy(&back);
    tsr_evidence_destroy(&ev);

    /* a missing BAM is an error naming it */
    const char *bad[] = {p1, "/nonexistent/x.bam"};
    tsr_error_clear();
    assert_int_not_equal(tsr_call_region(ref, REF_LEN, "chrT", 0, REF_LEN, 2, ids, bad, &o, NULL, &ev), TSR_OK);
    assert_null(ev);
    assert_non_null(strstr(tsr_error_msg(), "/nonexistent/x.bam"));
    tsr_error_clear();
}

/* Evidence equal in what the caller reads: sites, alleles, PL, AD, DP and reference blocks. */
static void assert_evidence_equal(const tsr_evidence_t *a, const tsr_evidence_t *b)
{
    assert_int_equal(a->n_sites, b->n_sites);
    assert_int_equal(a->n_blocks, b->n_blocks);
    assert_memory_equal(a->pos, b->pos, (size_t)a->n_sites * sizeof *a->pos);
    assert_memory_equal(a->pl_off, b->pl_off, (size_t)(a->n_sites + 1) * sizeof *a->pl_off);
    assert_memory_equal(a->pl, b->pl, (size_t)a->pl_off[a->n_sites] * sizeof *a->pl);
    assert_memory_equal(a->ad, b->ad, (size_t)a->ad_off[a->n_sites] * sizeof *a->ad);
    assert_memory_equal(a->dp, b->dp, (size_t)a->n_sites * (size_t)a->n_samples * sizeof *a->dp);
    assert_memory_equal(a->block_start, b->block_start, (size_t)a->n_blocks * sizeof *a->block_start);
    assert_memory_equal(a->block_min_dp, b->block_min_dp, (size_t)a->n_blocks * sizeof *a->block_min_dp);
}

/*
 * Readers kept across calls (the call kernel keeps them across a rank's tasks): fewer slots than files
 * (the least recently used idle one is closed) give what opening per region gives, and a file replaced
 * since its reader was opened is read anew after tsr_region_readers_recheck(), never through the old reader.
 */
static void test_call_readers_kept(void **state)
{
    (void)state;
    read_spec_t a[8], b[8];
    char names[16][16];
    int nn = 0;
#define NAME() (snprintf(names[nn], sizeof names[nn], "k%d", nn), names[nn++])
    for (int i = 0; i < 4; i++)
        ref_read(&a[i], NAME(), 0, 30, 40, i < 2 ? 50 : -1, alt_of(ref[50])); /* het SNV at 50 */
    for (int i = 0; i < 4; i++)
        ref_read(&b[i], NAME(), 0, 80, 40, 100, alt_of(ref[100])); /* hom-alt SNV at 100 */
#undef NAME
    char pa[512], pb[512], tmp[512], tmpi[512], pai[512];
    snprintf(pa, sizeof pa, "%s/ka.bam", tmpdir);
    snprintf(pb, sizeof pb, "%s/kb.bam", tmpdir);
    write_bam(pa, a, 4);
    write_bam(pb, b, 4);

    const char *ids[] = {"A", "B"}, *paths[] = {pa, pb};
    tsr_call_opts_t o;
    tsr_call_opts_init(&o);
    tsr_evidence_t *plain = NULL, *kept = NULL;
    assert_int_equal(tsr_call_region(ref, REF_LEN, "chrT", 0, REF_LEN, 2, ids, paths, &o, NULL, &plain), TSR_OK);
    assert_int_equal(tsr_region_readers_create(1, &o.readers), TSR_OK); /* one slot for two files */
    for (int round = 0; round < 3; round++) {
        assert_int_equal(tsr_call_region(ref, REF_LEN, "chrT", 0, REF_LEN, 2, ids, paths, &o, NULL, &kept), TSR_OK);
        assert_evidence_equal(plain, kept);
        tsr_evidence_destroy(&kept);
    }
    tsr_evidence_destroy(&plain);

    /* sample B's file alone, kept after a call; then A's file replaced by B's reads (a new inode) */
    const char *one[] = {pa};
    assert_int_equal(tsr_call_region(ref, REF_LEN, "chrT", 0, REF_LEN, 1, ids, one, &o, NULL, &kept), TSR_OK);
    assert_true(find_site(kept, 50, TSR_SITE_SNV) >= 0);
    tsr_evidence_destroy(&kept);
    snprintf(tmp, sizeof tmp, "%s/ka.new.bam", tmpdir);
    snprintf(tmpi, sizeof tmpi, "%s/ka.new.bam.bai", tmpdir);
    snprintf(pai, sizeof pai, "%s/ka.bam.bai", tmpdir);
    for (int i = 0; i < 4; i++)
        ref_read(&b[i], names[4 + i], 0, 80, 40, 100, alt_of(ref[100]));
    write_bam(tmp, b, 4);
    assert_int_equal(rename(tmp, pa), 0);
    assert_int_equal(rename(tmpi, pai), 0);
    tsr_region_readers_recheck(o.readers);
    assert_int_equal(tsr_call_region(ref, REF_LEN, "chrT", 0, REF_LEN, 1, ids, one, &o, NULL, &kept), TSR_OK);
    assert_true(find_site(kept, 50, TSR_SITE_SNV) < 0);
    assert_true(find_site(kept, 100, TSR_SITE_SNV) >= 0);
    tsr_evidence_destroy(&kept);
    tsr_region_readers_destroy(&o.readers);
    assert_null(o.readers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_small_cohort),
        cmocka_unit_test(test_call_readers_kept),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
