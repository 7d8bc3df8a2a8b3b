/*
 * test_known_answers.c - hand-built BAMs with known genotypes through the call
 * and joint computations (tsr_call_region -> tsr_joint_region): hom and het
 * SNVs, 1 bp and 10 bp deletions and insertions (het and hom), a deletion in
 * a homopolymer placed differently by the aligner, a three-allele site, an
 * SNV and an insertion at one position merged into one site, an SNV next to a
 * deletion, a site covered in one sample only (the others missing, not
 * hom-ref), strand bias, and a hom deletion that most reads carry a few bases
 * before their end written as mismatches (only realignment against the
 * haplotypes tells them from REF), and an insertion seen in one read in each
 * of two samples (a candidate only when the batch's reads are pooled), and
 * read-backed phase (a het whose ALT reads share a haplotype gains, one whose
 * ALT reads sit on both loses).
 */
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

#define REF_LEN 420
#define NS 3
#define MAX_READS 512

static char tmpdir[256];
static char ref[REF_LEN + 1];

typedef enum { EV_NONE, EV_SNV, EV_DEL, EV_INS } ev_kind_t;

typedef struct read_rec {
    int64_t pos;
    uint16_t flag;
    char cigar[32];
    char seq[160];
} read_rec_t;

typedef struct sample_reads {
    int n;
    read_rec_t r[MAX_READS];
} sample_reads_t;

static sample_reads_t reads[NS];

static char other(char b, int k) { return "ACGT"[(strchr("ACGT", b) - "ACGT" + k) % 4]; }

/*
 * A read of 50 reference bases from st carrying one event: an SNV `seq[0]` at
 * `at`, a deletion of `len` bases after the anchor `at`, or the insertion of
 * `seq` after the anchor `at`.
 */
static void add_read(int s, int64_t st, ev_kind_t kind, int64_t at, int len, const char *seq, int rev)
{
    assert_true(reads[s].n < MAX_READS);
    read_rec_t *r = &reads[s].r[reads[s].n++];
    memset(r, 0, sizeof *r);
    r->pos = st;
    r->flag = rev ? BAM_FREVERSE : 0;
    const int L = 50;
    int head = (int)(at - st + 1);
    switch (kind) {
    case EV_NONE:
    case EV_SNV:
        memcpy(r->seq, ref + st, L);
        if (kind == EV_SNV)
            r->seq[at - st] = seq[0];
        snprintf(r->cigar, sizeof r->cigar, "%dM", L);
        break;
    case EV_DEL:
        memcpy(r->seq, ref + st, (size_t)head);
        memcpy(r->seq + head, ref + at + 1 + len, (size_t)(L - head));
        snprintf(r->cigar, sizeof r->cigar, "%dM%dD%dM", head, len, L - head);
        break;
    case EV_INS:
        memcpy(r->seq, ref + st, (size_t)head);
        memcpy(r->seq + head, seq, strlen(seq));
        memcpy(r->seq + head + strlen(seq), ref + at + 1, (size_t)(L - head));
        snprintf(r->cigar, sizeof r->cigar, "%dM%dI%dM", head, (int)strlen(seq), L - head);
        break;
    }
}

/* n reads at site `at` in sample s: `n_alt` carry the event, the rest are reference; strands alternate. */
static void add_site(int s, int64_t at, int n, int n_alt, ev_kind_t kind, int len, const char *seq)
{
    for (int i = 0; i < n; i++)
        add_read(s, at - 20 - (i % 5), i < n_alt ? kind : EV_NONE, at, len, seq, i % 2);
}

static int cmp_rec(const void *a, const void *b)
{
    const read_rec_t *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void write_bam(const char *path, sample_reads_t *sr)
{
    qsort(sr->r, (size_t)sr->n, sizeof *sr->r, cmp_rec);
    samFile *fp = sam_open(path, "wb");
    assert_non_null(fp);
    char htxt[128];
    snprintf(htxt, sizeof htxt, "@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chrK\tLN:%d\n", REF_LEN);
    sam_hdr_t *h = sam_hdr_parse(strlen(htxt), htxt);
    assert_non_null(h);
    assert_int_equal(sam_hdr_write(fp, h), 0);
    bam1_t *b = bam_init1();
    assert_non_null(b);
    for (int i = 0; i < sr->n; i++) {
        uint32_t cig[8];
        size_t nc = 0;
        char *end = NULL;
        for (const char *c = sr->r[i].cigar; *c; c = end + 1) {
            long len = strtol(c, &end, 10);
            cig[nc++] = bam_cigar_gen(len, bam_cigar_table[(unsigned char)*end]);
        }
        size_t l = strlen(sr->r[i].seq);
        char qual[160], name[16];
        memset(qual, 30, l);
        snprintf(name, sizeof name, "r%d", i);
        assert_true(bam_set1(b, strlen(name), name, sr->r[i].flag, 0, sr->r[i].pos, 60, nc, cig, -1, -1, 0, l,
                             sr->r[i].seq, qual, 0) >= 0);
        assert_true(sam_write1(fp, h, b) >= 0);
    }
    bam_destroy1(b);
    sam_hdr_destroy(h);
    assert_int_equal(sam_close(fp), 0);
    assert_int_equal(sam_index_build(path, 0), 0);
}

static int setup(void **state)
{
    (void)state;
    uint32_t x = 2024;
    for (int i = 0; i < REF_LEN; i++) {
        x = x * 1103515245u + 12345u;
        ref[i] = "ACGT"[(x >> 16) & 3];
    }
    memset(ref + 300, 'A', 8); /* homopolymer [300, 308) */
    ref[299] = 'C';
    ref[308] = 'G';
    ref[REF_LEN] = '\0';
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsr_known_XXXXXX");
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

/*
 * reads[] written as tmpdir/ID.bam per sample, then the call kernel's evidence over the whole reference
 * (read-backed phase at weight phase_weight; < 0: the default).
 */
/* reads[] written as tmpdir/ID.bam per sample; paths[s] points into buf[s]. */
static void write_bams(const char *const ids[NS], char buf[NS][512], const char *paths[NS])
{
    for (int s = 0; s < NS; s++) {
        snprintf(buf[s], 512, "%s/%s.bam", tmpdir, ids[s]);
        write_bam(buf[s], &reads[s]);
        paths[s] = buf[s];
    }
}

static tsr_evidence_t *call_reads_phase(const char *const ids[NS], double phase_weight)
{
    char paths_buf[NS][512];
    const char *paths[NS];
    write_bams(ids, paths_buf, paths);
    tsr_call_opts_t co;
    tsr_call_opts_init(&co);
    if (phase_weight >= 0)
        co.phase_weight = phase_weight;
    tsr_evidence_t *ev = NULL;
    assert_int_equal(tsr_call_region(ref, REF_LEN, "chrK", 0, REF_LEN, NS, ids, paths, &co, NULL, &ev), TSR_OK);
    return ev;
}

static tsr_evidence_t *call_reads(const char *const ids[NS]) { return call_reads_phase(ids, -1); }

/* Index of the call-set site at pos with exactly these alleles ("REF,ALT,..."), or -1. */
static int64_t find(const tsr_callset_t *cs, int64_t pos, const char *alleles)
{
    for (int64_t i = 0; i < cs->n_sites; i++) {
        int64_t l = cs->allele_off[i + 1] - cs->allele_off[i];
        if (cs->pos[i] == pos && (size_t)l == strlen(alleles) &&
            memcmp(cs->allele_blob + cs->allele_off[i], alleles, (size_t)l) == 0)
            return i;
    }
    return -1;
}

static void expect_gt(const tsr_callset_t *cs, int64_t i, int s, int a, int b)
{
    const int8_t *g = cs->gt + (i * cs->n_samples + s) * 2;
    if (g[0] != a || g[1] != b)
        fail_msg("site %lld sample %d: GT %d/%d, expected %d/%d", (long long)cs->pos[i], s, g[0], g[1], a, b);
}

static void test_known_answers(void **state)
{
    (void)state;
    char buf[256], a1[64], a2[64];
    /* every sample covers every site but 380, with reference reads unless said otherwise */
    const int64_t sites[] = {40, 100, 120, 150, 185, 200, 250, 299, 350};
    for (int s = 0; s < NS; s++)
        memset(&reads[s], 0, sizeof reads[s]);
    /* 40: S0 hom SNV, S1 het SNV, S2 ref */
    char snv40[2] = {other(ref[40], 1), 0};
    add_site(0, 40, 10, 10, EV_SNV, 0, snv40);
    add_site(1, 40, 10, 5, EV_SNV, 0, snv40);
    /* 100: S0 het 1 bp deletion; 150: S0 hom 10 bp deletion */
    add_site(0, 100, 10, 5, EV_DEL, 1, "");
    add_site(0, 150, 10, 10, EV_DEL, 10, "");
    /* 200: S1 het 10 bp insertion; 250: S1 hom 1 bp insertion */
    add_site(1, 200, 10, 5, EV_INS, 0, "ACGTTGCAAC");
    add_site(1, 250, 10, 10, EV_INS, 0, "T");
    /* 120 + 121: S2 het SNV at 120 and het deletion anchored at 121 on other reads */
    char snv120[2] = {other(ref[120], 2), 0};
    add_site(2, 120, 6, 6, EV_SNV, 0, snv120);
    add_site(2, 121, 6, 6, EV_DEL, 2, "");
    /* 185: S1 het insertion and S2 het SNV at one position: one site of three alleles */
    char snv185[2] = {other(ref[185], 1), 0};
    add_site(1, 185, 10, 5, EV_INS, 0, "GG");
    add_site(2, 185, 10, 5, EV_SNV, 0, snv185);
    /* 299: S2 het deletion of one A of the homopolymer [300, 308), placed at its start or its end */
    for (int i = 0; i < 10; i++)
        add_read(2, 279 - i, i < 5 ? EV_DEL : EV_NONE, (i % 2) ? 299 : 306, 1, NULL, i % 2);
    /* 350: S0 het REF/ALT1, S1 het ALT1/ALT2 */
    char x1[2] = {other(ref[350], 1), 0}, x2[2] = {other(ref[350], 2), 0};
    add_site(0, 350, 10, 5, EV_SNV, 0, x1);
    for (int i = 0; i < 10; i++)
        add_read(1, 330 - (i % 5), EV_SNV, 350, 0, i % 2 ? x1 : x2, i % 2);
    /* 380: only S0 has reads (hom SNV) */
    char snv380[2] = {other(ref[380], 3), 0};
    add_site(0, 380, 8, 8, EV_SNV, 0, snv380);
    /* 60: S2 het SNV with every ALT read forward, REF reads on both strands: strand bias */
    for (int i = 0; i < 80; i++)
        add_read(2, 40 - (i % 5) + 25, i < 40 ? EV_SNV : EV_NONE, 60 + 25, 0, (char[]){other(ref[85], 1), 0},
                 i < 40 ? 0 : i % 2);
    /*
     * near 275: S0 hom deletion of one base (no repeat there). 3 reads carry it as a CIGAR D; 6 reads end
     * 4 bases after it and the aligner wrote them 50M, the shifted tail as mismatches: realigned against
     * the haplotypes they are ALT reads, so S0 is 1/1 with 9 ALT reads.
     */
    int64_t del_at = 270;
    while (ref[del_at] == ref[del_at + 1] || ref[del_at + 1] == ref[del_at + 2] || ref[del_at + 2] == ref[del_at + 3])
        del_at++;
    assert_true(del_at < 290);
    add_site(0, del_at, 3, 3, EV_DEL, 1, "");
    for (int i = 0; i < 6; i++) {
        read_rec_t *r = &reads[0].r[reads[0].n++];
        memset(r, 0, sizeof *r);
        r->pos = del_at - 45;
        r->flag = i % 2 ? BAM_FREVERSE : 0;
        memcpy(r->seq, ref + r->pos, 46);
        memcpy(r->seq + 46, ref + del_at + 2, 4);
        snprintf(r->cigar, sizeof r->cigar, "50M");
    }
    /*
     * reference reads elsewhere (in S0, none that starts on the base S0 lacks: a read that starts at its
     * deletion must come from a REF haplotype, and reads that overlap the deletion's window are evidence)
     */
    for (int s = 0; s < NS; s++)
        for (size_t k = 0; k < sizeof sites / sizeof *sites; k++) {
            int have = 0;
            for (int i = 0; i < reads[s].n; i++)
                have |= reads[s].r[i].pos <= sites[k] - 10 && reads[s].r[i].pos + 50 > sites[k] + 12;
            if (have)
                continue;
            for (int i = 0; i < 8; i++) {
                int64_t st = sites[k] - 20 - (i % 5);
                if (s == 0 && st > del_at - 50 && st <= del_at + 1)
                    st = del_at + 2;
                add_read(s, st, EV_NONE, sites[k], 0, "", i % 2);
            }
        }
    const char *ids[NS] = {"S0", "S1", "S2"};
    tsr_evidence_t *ev = call_reads(ids);
    /* strand counts: the 80 reads at 85 in S2 */
    for (int64_t i = 0; i < ev->n_sites; i++)
        if (ev->pos[i] == 85) {
            int na = ev->n_alleles[i];
            const int32_t *sb = ev->strand + 2 * (ev->ad_off[i] + 2 * na);
            assert_int_equal(sb[0], 20); /* REF forward */
            assert_int_equal(sb[1], 20); /* REF reverse */
            assert_int_equal(sb[2], 40); /* ALT forward */
            assert_int_equal(sb[3], 0);
        }
    tsr_joint_opts_t jo;
    tsr_joint_opts_init(&jo);
    tsr_callset_t *cs = NULL;
    assert_int_equal(tsr_joint_region(&ev, 1, ref, &jo, &cs), TSR_OK);
    int64_t i;

    snprintf(buf, sizeof buf, "%c,%s", ref[40], snv40);
    assert_true((i = find(cs, 40, buf)) >= 0);
    expect_gt(cs, i, 0, 1, 1);
    expect_gt(cs, i, 1, 0, 1);
    expect_gt(cs, i, 2, 0, 0);
    assert_int_equal(cs->filter[i], 0);

    snprintf(buf, sizeof buf, "%.2s,%c", ref + 100, ref[100]);
    assert_true((i = find(cs, 100, buf)) >= 0);
    expect_gt(cs, i, 0, 0, 1);
    expect_gt(cs, i, 1, 0, 0);

    snprintf(buf, sizeof buf, "%.11s,%c", ref + 150, ref[150]);
    assert_true((i = find(cs, 150, buf)) >= 0);
    expect_gt(cs, i, 0, 1, 1);
    expect_gt(cs, i, 2, 0, 0);

    snprintf(buf, sizeof buf, "%c,%cACGTTGCAAC", ref[200], ref[200]);
    assert_true((i = find(cs, 200, buf)) >= 0);
    expect_gt(cs, i, 1, 0, 1);
    expect_gt(cs, i, 0, 0, 0);

    snprintf(buf, sizeof buf, "%c,%cT", ref[250], ref[250]);
    assert_true((i = find(cs, 250, buf)) >= 0);
    expect_gt(cs, i, 1, 1, 1);

    /* adjacent SNV and deletion: two sites */
    snprintf(buf, sizeof buf, "%c,%s", ref[120], snv120);
    assert_true((i = find(cs, 120, buf)) >= 0);
    expect_gt(cs, i, 2, 0, 1);
    snprintf(buf, sizeof buf, "%.3s,%c", ref + 121, ref[121]);
    assert_true((i = find(cs, 121, buf)) >= 0);
    expect_gt(cs, i, 2, 0, 1);
    expect_gt(cs, i, 0, 0, 0);

    /* SNV and insertion at 185: one site, ALTs sorted */
    snprintf(a1, sizeof a1, "%cGG", ref[185]);
    snprintf(a2, sizeof a2, "%s", snv185);
    int ins_first = strcmp(a1, a2) < 0;
    snprintf(buf, sizeof buf, "%c,%s,%s", ref[185], ins_first ? a1 : a2, ins_first ? a2 : a1);
    assert_true((i = find(cs, 185, buf)) >= 0);
    expect_gt(cs, i, 1, 0, ins_first ? 1 : 2);
    expect_gt(cs, i, 2, 0, ins_first ? 2 : 1);
    expect_gt(cs, i, 0, 0, 0);

    /* the homopolymer deletion, left-aligned to the anchor before the run */
    assert_true((i = find(cs, 299, "CA,C")) >= 0);
    expect_gt(cs, i, 2, 0, 1);
    expect_gt(cs, i, 1, 0, 0);
    for (int64_t k = 0; k < cs->n_sites; k++)
        assert_false(cs->pos[k] > 299 && cs->pos[k] < 310);

    /* three alleles at 350 */
    int x1_first = strcmp(x1, x2) < 0;
    snprintf(buf, sizeof buf, "%c,%s,%s", ref[350], x1_first ? x1 : x2, x1_first ? x2 : x1);
    assert_true((i = find(cs, 350, buf)) >= 0);
    expect_gt(cs, i, 0, 0, x1_first ? 1 : 2);
    expect_gt(cs, i, 1, 1, 2);
    expect_gt(cs, i, 2, 0, 0);

    /* 380: covered in S0 only, the others missing */
    snprintf(buf, sizeof buf, "%c,%s", ref[380], snv380);
    assert_true((i = find(cs, 380, buf)) >= 0);
    expect_gt(cs, i, 0, 1, 1);
    expect_gt(cs, i, 1, -1, -1);
    expect_gt(cs, i, 2, -1, -1);
    assert_int_equal(cs->dp[i * NS + 1], -1);

    /* the deletion at the read ends: 1/1, every read ALT */
    snprintf(buf, sizeof buf, "%.2s,%c", ref + del_at, ref[del_at]);
    assert_true((i = find(cs, del_at, buf)) >= 0);
    expect_gt(cs, i, 0, 1, 1);
    assert_memory_equal(cs->ad + cs->ad_off[i], ((int32_t[]){0, 9}), 2 * sizeof(int32_t));

    /* 85: strand bias */
    snprintf(buf, sizeof buf, "%c,%c", ref[85], other(ref[85], 1));
    assert_true((i = find(cs, 85, buf)) >= 0);
    expect_gt(cs, i, 2, 0, 1);
    assert_true(cs->filter[i] & TSR_FILTER_STRANDBIAS);

    /* nothing else was called */
    assert_int_equal(cs->n_sites, 13);
    tsr_callset_destroy(&cs);
    tsr_evidence_destroy(&ev);
}

/*
 * 4x-like depth: an insertion in one read of S0 and one of S1 (four reads each), none in S2. No sample
 * has two reads of it, the batch does: a candidate, each carrier's read ALT, S2's reads REF. A lone
 * read's insertion (one read in the batch) is no candidate.
 */
static void test_pooled_indel(void **state)
{
    (void)state;
    for (int s = 0; s < NS; s++)
        memset(&reads[s], 0, sizeof reads[s]);
    char ins[5] = {'G', 'T', 'C', other(ref[170], 1), 0}; /* its last base is not the anchor's: no left shift */
    for (int s = 0; s < NS; s++)
        add_site(s, 170, 4, s < 2 ? 1 : 0, EV_INS, 0, ins);
    add_site(2, 60, 4, 1, EV_INS, 0, "TTG");
    const char *ids[NS] = {"P0", "P1", "P2"};
    tsr_evidence_t *ev = call_reads(ids);
    assert_int_equal(ev->n_sites, 1);
    assert_int_equal(ev->pos[0], 170);
    assert_int_equal(ev->kind[0], TSR_SITE_INDEL);
    assert_int_equal(ev->n_alleles[0], 3);
    const int32_t want[NS][3] = {{3, 1, 0}, {3, 1, 0}, {4, 0, 0}};
    for (int s = 0; s < NS; s++)
        assert_memory_equal(ev->ad + ev->ad_off[0] + s * 3, want[s], 3 * sizeof(int32_t));
    tsr_evidence_destroy(&ev);
}

/* PL(REF/REF) - PL(REF/ALT) of sample 0 at the SNV site at pos. */
static int het_margin(const tsr_evidence_t *ev, int64_t pos)
{
    for (int64_t i = 0; i < ev->n_sites; i++)
        if (ev->pos[i] == pos && ev->kind[i] == TSR_SITE_SNV) {
            assert_int_equal(ev->n_alleles[i], 3);
            const int32_t *pl = ev->pl + ev->pl_off[i];
            return pl[tsr_gt_index(0, 0)] - pl[tsr_gt_index(0, 1)];
        }
    fail_msg("no SNV site at %lld", (long long)pos);
    return 0;
}

/*
 * Read-backed phase. Sample 0 is het at y (3 of 6 reads ALT), and the same 6
 * reads show 3 ALT bases at x, 30 bp on. "cis": the x ALT bases are on the
 * three y-ALT reads (one haplotype), as a real het's are: phase raises x's
 * het likelihood over REF/REF, by about log10(0.9 * 2^5) = 14.6 phred.
 * "split": two on y-ALT reads and one on a y-REF read, which no haplotype
 * explains without errors: it lowers it, by at most -10 log10(1 - 0.9) = 10
 * phred. Without phase both cases score alike.
 */
static void test_read_phase(void **state)
{
    (void)state;
    for (int s = 0; s < NS; s++)
        memset(&reads[s], 0, sizeof reads[s]);
    const int64_t y[2] = {100, 250};
    for (int c = 0; c < 2; c++) {
        int64_t x = y[c] + 30;
        char alt_y = other(ref[y[c]], 1), alt_x = other(ref[x], 2);
        for (int i = 0; i < 6; i++) {
            add_read(0, y[c] - 5 - i, i < 3 ? EV_SNV : EV_NONE, y[c], 0, &alt_y, i % 2);
            int x_alt = c == 0 ? i < 3 : (i < 2 || i == 3);
            if (x_alt)
                reads[0].r[reads[0].n - 1].seq[x - (y[c] - 5 - i)] = alt_x;
        }
        for (int s = 1; s < NS; s++)
            add_site(s, y[c], 4, 0, EV_NONE, 0, "");
    }
    const char *ids[NS] = {"H0", "H1", "H2"};
    tsr_evidence_t *off = call_reads_phase(ids, 0), *on = call_reads_phase(ids, 0.9);
    int cis_off = het_margin(off, 130), split_off = het_margin(off, 280);
    int cis_on = het_margin(on, 130), split_on = het_margin(on, 280);
    assert_int_equal(cis_off, split_off);
    if (cis_on - cis_off < 12 || cis_on - cis_off > 17)
        fail_msg("cis: het margin %d -> %d with phase, expected +12..+17", cis_off, cis_on);
    if (split_on - split_off > -8 || split_on - split_off < -11)
        fail_msg("split: het margin %d -> %d with phase, expected -8..-11", split_off, split_on);
    /* y itself is an anchor but has no anchor of its own besides x, which is none when split */
    tsr_evidence_destroy(&off);
    tsr_evidence_destroy(&on);
}

/* The indel sites of ev as "pos:alleles;" appended to out. */
static void indel_sites(const tsr_evidence_t *ev, char *out, size_t cap)
{
    for (int64_t i = 0; i < ev->n_sites; i++)
        if (ev->kind[i] == TSR_SITE_INDEL) {
            size_t n = strlen(out);
            snprintf(out + n, cap - n, "%lld:%.*s;", (long long)ev->pos[i],
                     (int)(ev->allele_off[i + 1] - ev->allele_off[i]), ev->allele_blob + ev->allele_off[i]);
        }
}

/*
 * A repeat indel across a shard edge (issue 21): S0 is homozygous for the
 * deletion of one A of the homopolymer [300, 308), which the aligner wrote
 * at its right end (anchor 306). Left-aligned it is CA>C at 299. Called as
 * one region, or as [0, 304) + [304, 420) where the second region has the
 * reference before its start (opts.ref_before), the indel sites are the
 * same: one record at 299. (Before, the second region stopped the
 * left-alignment at its start and made a second record of the same
 * deletion at 304's side.)
 */
static void test_shard_edge(void **state)
{
    (void)state;
    for (int s = 0; s < NS; s++)
        memset(&reads[s], 0, sizeof reads[s]);
    for (int i = 0; i < 8; i++)
        add_read(0, 262 + 4 * i, EV_DEL, 306, 1, NULL, i % 2);
    for (int s = 1; s < NS; s++)
        for (int i = 0; i < 6; i++)
            add_read(s, 262 + 5 * i, EV_NONE, 0, 0, NULL, i % 2);
    const char *ids[NS] = {"E0", "E1", "E2"};
    char paths_buf[NS][512];
    const char *paths[NS];
    write_bams(ids, paths_buf, paths);
    tsr_call_opts_t co;
    tsr_call_opts_init(&co);
    tsr_evidence_t *whole = NULL, *a = NULL, *b = NULL;
    assert_int_equal(tsr_call_region(ref, REF_LEN, "chrK", 0, REF_LEN, NS, ids, paths, &co, NULL, &whole), TSR_OK);
    assert_int_equal(tsr_call_region(ref, REF_LEN, "chrK", 0, 304, NS, ids, paths, &co, NULL, &a), TSR_OK);
    co.ref_before = 304;
    assert_int_equal(tsr_call_region(ref + 304, REF_LEN - 304, "chrK", 304, REF_LEN, NS, ids, paths, &co, NULL, &b),
                     TSR_OK);
    char one[512] = "", split[512] = "";
    indel_sites(whole, one, sizeof one);
    indel_sites(a, split, sizeof split);
    indel_sites(b, split, sizeof split);
    char want[64];
    snprintf(want, sizeof want, "299:%c%c,%c,<*>;", ref[299], ref[300], ref[299]);
    assert_string_equal(one, want);
    assert_string_equal(split, one);
    tsr_evidence_destroy(&whole);
    tsr_evidence_destroy(&a);
    tsr_evidence_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_pooled_indel),
        cmocka_unit_test(test_read_phase),
        cmocka_unit_test(test_shard_edge),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
