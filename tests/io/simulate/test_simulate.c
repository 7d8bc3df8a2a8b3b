/*
 * test_simulate.c - the cohort simulator: byte-identical output for a seed
 * and any thread count, HWE genotypes, Balding-Nichols F_ST, a 1/i site
 * frequency spectrum, calibrated error rates and qualities, coverage, a
 * normalised truth VCF that matches the reference, --ref/--region, and BAMs
 * at the true positions.
 */
#include "io/simulate/simulate.h"
#include "io/io.h"

#include <htslib/bgzf.h>
#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/kstring.h>
#include <htslib/sam.h>
#include <htslib/tbx.h>
#include <htslib/vcf.h>

#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* ------------------------------------------------------------ helpers */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *tmpdir_create(void)
{
    char tpl[] = "/tmp/tsr_sim_test_XXXXXX";
    char *d = mkdtemp(tpl);
    assert_non_null(d);
    char *out = strdup(d);
    assert_non_null(out);
    return out;
}

static void tmpdir_remove(char **d)
{
    nftw(*d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(*d);
    *d = NULL;
}

static void pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < len);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static int files_equal(const char *dir_a, const char *dir_b, const char *name)
{
    char pa[4096], pb[4096];
    pathf(pa, sizeof pa, "%s/%s", dir_a, name);
    pathf(pb, sizeof pb, "%s/%s", dir_b, name);
    size_t la, lb;
    char *a = slurp(pa, &la), *b = slurp(pb, &lb);
    int eq = la == lb && memcmp(a, b, la) == 0;
    free(a);
    free(b);
    return eq;
}

static void simulate_ok(const tsr_sim_opts_t *o, tsr_sim_summary_t *sum)
{
    tsr_error_clear();
    tsr_status_t s = tsr_simulate(o, sum);
    if (s != TSR_OK)
        fail_msg("tsr_simulate failed: %s", tsr_error_msg());
}

/* Truth sites, read back with htslib. */
typedef struct truth {
    int n, n_samples, cap;
    int64_t *pos;
    int *n_allele, *is_indel;
    int *ac;        /* ALT1 count */
    int *het;       /* samples 0/1 */
    double *af1, *af2; /* AF_pop1, AF_pop2 of ALT1 (af2 -1 if absent) */
} truth_t;

static void truth_read(const char *dir, const char *ref_path, truth_t *t)
{
    char path[4096];
    pathf(path, sizeof path, "%s/truth.vcf.gz", dir);
    memset(t, 0, sizeof *t);
    htsFile *fp = hts_open(path, "r");
    assert_non_null(fp);
    bcf_hdr_t *h = bcf_hdr_read(fp);
    assert_non_null(h);
    tbx_t *tbx = tbx_index_load(path);
    assert_non_null(tbx); /* the .tbi is there and loads */
    tbx_destroy(tbx);
    faidx_t *fai = ref_path ? fai_load(ref_path) : NULL;
    bcf1_t *rec = bcf_init();
    t->n_samples = bcf_hdr_nsamples(h);
    int32_t *gt = NULL, ngt = 0;
    float *af = NULL;
    int naf = 0;
    int64_t prev = -1;
    while (bcf_read(fp, h, rec) == 0) {
        bcf_unpack(rec, BCF_UN_ALL);
        assert_true(rec->pos > prev); /* sorted, one record per position */
        prev = rec->pos;
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            t->pos = realloc(t->pos, (size_t)t->cap * sizeof *t->pos);
            t->n_allele = realloc(t->n_allele, (size_t)t->cap * sizeof *t->n_allele);
            t->is_indel = realloc(t->is_indel, (size_t)t->cap * sizeof *t->is_indel);
            t->ac = realloc(t->ac, (size_t)t->cap * sizeof *t->ac);
            t->het = realloc(t->het, (size_t)t->cap * sizeof *t->het);
            t->af1 = realloc(t->af1, (size_t)t->cap * sizeof *t->af1);
            t->af2 = realloc(t->af2, (size_t)t->cap * sizeof *t->af2);
            assert_true(t->pos && t->n_allele && t->is_indel && t->ac && t->het && t->af1 && t->af2);
        }
        int k = t->n++;
        t->pos[k] = rec->pos;
        t->n_allele[k] = rec->n_allele;
        const char *ref = rec->d.allele[0];
        int rl = (int)strlen(ref);
        t->is_indel[k] = 0;
        for (int a = 1; a < rec->n_allele; a++)
            if ((int)strlen(rec->d.allele[a]) != rl)
                t->is_indel[k] = 1;
        if (fai) {
            hts_pos_t len = 0;
            char *seq = faidx_fetch_seq64(fai, bcf_seqname(h, rec), rec->pos, rec->pos + rl - 1, &len);
            assert_non_null(seq);
            assert_string_equal(seq, ref); /* REF matches the reference */
            if (t->is_indel[k]) {
                /* left-aligned: the padding base differs from the last base of the indel sequence */
                const char *alt = rec->d.allele[1];
                const char *var = rl > 1 ? ref + 1 : alt + 1;
                size_t vl = strlen(var);
                assert_true(vl > 0);
                assert_true(ref[0] == alt[0]);
                assert_true(rec->pos == 0 || ref[0] != var[vl - 1]);
            }
            free(seq);
        }
        assert_int_equal(bcf_get_genotypes(h, rec, &gt, &ngt), 2 * t->n_samples);
        int ac = 0, het = 0;
        int32_t *acs = NULL, nacs = 0;
        int cnt[3] = {0, 0, 0};
        for (int i = 0; i < t->n_samples; i++) {
            int a0 = bcf_gt_allele(gt[2 * i]), a1 = bcf_gt_allele(gt[2 * i + 1]);
            assert_false(bcf_gt_is_phased(gt[2 * i + 1]));
            assert_true(a0 <= a1);
            cnt[a0]++;
            cnt[a1]++;
            ac += (a0 == 1) + (a1 == 1);
            het += (a0 == 0 && a1 == 1);
        }
        assert_int_equal(bcf_get_info_int32(h, rec, "AC", &acs, &nacs), rec->n_allele - 1);
        for (int a = 1; a < rec->n_allele; a++) {
            assert_int_equal(acs[a - 1], cnt[a]);
            assert_true(cnt[a] > 0); /* every ALT is seen in the samples */
        }
        assert_true(cnt[0] > 0 || rec->n_allele > 2); /* polymorphic in the samples */
        free(acs);
        t->ac[k] = ac;
        t->het[k] = het;
        assert_true(bcf_get_info_float(h, rec, "AF_pop1", &af, &naf) >= 1);
        t->af1[k] = af[0];
        t->af2[k] = bcf_get_info_float(h, rec, "AF_pop2", &af, &naf) >= 1 ? af[0] : -1.0;
    }
    free(gt);
    free(af);
    bcf_destroy(rec);
    bcf_hdr_destroy(h);
    hts_close(fp);
    if (fai)
        fai_destroy(fai);
}

static void truth_free(truth_t *t)
{
    free(t->pos);
    free(t->n_allele);
    free(t->is_indel);
    free(t->ac);
    free(t->het);
    free(t->af1);
    free(t->af2);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------- tests */

static void test_opts_check(void **state)
{
    (void)state;
    tsr_sim_opts_t o;
    tsr_sim_opts_init(&o);
    assert_int_equal(o.n_samples, 16);
    assert_int_equal(o.length, 200000);
    assert_int_equal(o.read_length, 150);
    tsr_error_clear();
    assert_int_equal(tsr_sim_opts_check(&o), TSR_ERR_USAGE); /* no --out */
    o.outdir = "/tmp/unused";
    assert_int_equal(tsr_sim_opts_check(&o), TSR_OK);
    o.fst = 1.0;
    tsr_error_clear();
    assert_int_equal(tsr_sim_opts_check(&o), TSR_ERR_USAGE);
    assert_non_null(strstr(tsr_error_msg(), "--fst"));
    o.fst = 0.1;
    o.populations = 17;
    assert_int_equal(tsr_sim_opts_check(&o), TSR_ERR_USAGE);
    o.populations = 2;
    o.region = "chr1:1-100";
    assert_int_equal(tsr_sim_opts_check(&o), TSR_ERR_USAGE); /* --region without --ref */
    tsr_error_clear();
}

static void test_determinism(void **state)
{
    (void)state;
    char *d[3] = {tmpdir_create(), tmpdir_create(), tmpdir_create()};
    tsr_sim_opts_t o;
    tsr_sim_summary_t sum[3];
    tsr_sim_opts_init(&o);
    o.n_samples = 4;
    o.length = 30000;
    o.coverage = 2.0;
    o.seed = 7;
    o.threads = 1;
    o.outdir = d[0];
    simulate_ok(&o, &sum[0]);
    o.threads = 2;
    o.outdir = d[1];
    simulate_ok(&o, &sum[1]);
    o.threads = 1;
    o.seed = 8;
    o.outdir = d[2];
    simulate_ok(&o, &sum[2]);
    const char *names[] = {"ref.fa", "ref.fa.fai", "truth.vcf.gz", "samples.tsv", "reads/S0001_1.fastq.gz",
                           "reads/S0001_2.fastq.gz", "reads/S0004_1.fastq.gz", "reads/S0004_2.fastq.gz"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!files_equal(d[0], d[1], names[i]))
            fail_msg("%s differs between 1 and 2 threads", names[i]);
    assert_false(files_equal(d[0], d[2], "ref.fa"));
    assert_false(files_equal(d[0], d[2], "truth.vcf.gz"));
    assert_false(files_equal(d[0], d[2], "reads/S0001_1.fastq.gz"));
    assert_int_equal(sum[0].n_variants, sum[1].n_variants);
    assert_true(sum[0].n_variants > 0);
    assert_int_equal(sum[0].n_snv + sum[0].n_indel, sum[0].n_variants);

    /* ref.fa: one contig sim1, 60-column lines */
    char path[4096];
    size_t len;
    pathf(path, sizeof path, "%s/ref.fa", d[0]);
    char *fa = slurp(path, &len);
    assert_memory_equal(fa, ">sim1\n", 6);
    assert_int_equal(fa[6 + 60], '\n');
    free(fa);
    pathf(path, sizeof path, "%s/samples.tsv", d[0]);
    char *tsv = slurp(path, &len);
    assert_memory_equal(tsv, "sample\tpopulation\tfastq1\tfastq2\nS0001\tpop1\treads/S0001_1.fastq.gz\t"
                             "reads/S0001_2.fastq.gz\n", 78);
    free(tsv);
    for (int i = 0; i < 3; i++)
        tmpdir_remove(&d[i]);
}

/* 400 samples, one population: HWE genotypes and a 1/i spectrum. */
static void test_hwe_and_sfs(void **state)
{
    (void)state;
    char *d = tmpdir_create();
    tsr_sim_opts_t o;
    tsr_sim_summary_t sum;
    tsr_sim_opts_init(&o);
    o.n_samples = 400;
    o.length = 300000;
    o.coverage = 0.01;
    o.seed = 11;
    o.threads = 2;
    o.outdir = d;
    simulate_ok(&o, &sum);
    truth_t t;
    truth_read(d, NULL, &t);
    assert_int_equal(t.n, sum.n_variants);
    /* Watterson: about theta * a_n * length sites (a few % lost to the spacing rule) */
    double an = 0.0;
    for (int i = 1; i < 2 * o.n_samples; i++)
        an += 1.0 / i;
    double expect = o.theta * an * (double)o.length;
    assert_true(t.n > 0.75 * expect && t.n < 1.15 * expect);

    int n = t.n_samples, common = 0;
    double obs = 0.0, exp_het = 0.0, chi = 0.0;
    long cls[6] = {0};
    for (int k = 0; k < t.n; k++) {
        if (t.n_allele[k] != 2)
            continue;
        if (t.ac[k] >= 1 && t.ac[k] <= 5)
            cls[t.ac[k]]++;
        double p = t.ac[k] / (2.0 * n);
        if (p < 0.1 || p > 0.9)
            continue;
        double e = 2.0 * p * (1.0 - p) * n;
        obs += t.het[k];
        exp_het += e;
        double f = 1.0 - t.het[k] / e; /* inbreeding coefficient: n*F^2 is the 1-df HWE chi-square */
        chi += n * f * f;
        common++;
    }
    assert_true(common > 100);
    /* aggregate het count within 3% of 2pq, and per-site chi-squares averaging about 1 (their df) */
    assert_true(fabs(obs / exp_het - 1.0) < 0.03);
    double mean_chi = chi / common;
    assert_true(mean_chi > 0.7 && mean_chi < 1.4);
    /* neutral spectrum: singletons the largest class, counts falling as 1/i */
    for (int i = 2; i <= 5; i++)
        assert_true(cls[1] > cls[i]);
    double r12 = (double)cls[1] / cls[2], r14 = (double)cls[1] / cls[4];
    assert_true(r12 > 1.4 && r12 < 2.8);
    assert_true(r14 > 2.5 && r14 < 6.0);
    truth_free(&t);
    tmpdir_remove(&d);
}

/* Hudson's F_ST between pop1 and pop2 over biallelic sites. */
static double hudson_fst(const truth_t *t, int n_per_pop)
{
    double num = 0.0, den = 0.0;
    for (int k = 0; k < t->n; k++) {
        if (t->n_allele[k] != 2)
            continue;
        double p1 = t->af1[k], p2 = t->af2[k], m = 2.0 * n_per_pop;
        assert_true(p2 >= 0.0);
        num += (p1 - p2) * (p1 - p2) - p1 * (1.0 - p1) / (m - 1.0) - p2 * (1.0 - p2) / (m - 1.0);
        den += p1 * (1.0 - p2) + p2 * (1.0 - p1);
    }
    return num / den;
}

static void test_fst(void **state)
{
    (void)state;
    double fst[2];
    const double want[2] = {0.0, 0.2};
    for (int r = 0; r < 2; r++) {
        char *d = tmpdir_create();
        tsr_sim_opts_t o;
        tsr_sim_summary_t sum;
        tsr_sim_opts_init(&o);
        o.n_samples = 400;
        o.populations = 2;
        o.fst = want[r];
        o.length = 300000;
        o.coverage = 0.01;
        o.seed = 5;
        o.threads = 2;
        o.outdir = d;
        simulate_ok(&o, &sum);
        truth_t t;
        truth_read(d, NULL, &t);
        fst[r] = hudson_fst(&t, 200);
        char path[4096];
        size_t len;
        pathf(path, sizeof path, "%s/samples.tsv", d);
        char *tsv = slurp(path, &len);
        assert_non_null(strstr(tsv, "S0200\tpop1\t"));
        assert_non_null(strstr(tsv, "S0201\tpop2\t"));
        free(tsv);
        truth_free(&t);
        tmpdir_remove(&d);
    }
    assert_true(fabs(fst[0]) < 0.02);
    assert_true(fabs(fst[1] - 0.2) < 0.05);
    assert_true(fst[1] > fst[0] + 0.1);
}

/* Realised error rate and coverage; qualities predict the errors. */
static void test_errors_and_coverage(void **state)
{
    (void)state;
    char *d = tmpdir_create();
    tsr_sim_opts_t o;
    tsr_sim_summary_t sum;
    tsr_sim_opts_init(&o);
    o.n_samples = 2;
    o.length = 60000;
    o.coverage = 10.0;
    o.error_rate = 0.005;
    o.seed = 3;
    o.outdir = d;
    simulate_ok(&o, &sum);
    assert_true(fabs(sum.realised_error_rate / o.error_rate - 1.0) < 0.2);
    assert_true(fabs(sum.realised_coverage / o.coverage - 1.0) < 0.05);
    assert_int_equal(sum.ref_length, o.length);

    double qsum = 0.0, first = 0.0, last = 0.0;
    long nb = 0, nreads = 0, nfirst = 0;
    for (int m = 1; m <= 2; m++) {
        char path[4096];
        pathf(path, sizeof path, "%s/reads/S0001_%d.fastq.gz", d, m);
        BGZF *fp = bgzf_open(path, "r");
        assert_non_null(fp);
        kstring_t line = {0, 0, NULL};
        long ln = 0;
        while (bgzf_getline(fp, '\n', &line) >= 0) {
            if (ln % 4 == 0) {
                assert_int_equal(line.s[0], '@');
                assert_true(strncmp(line.s, "@S0001:", 7) == 0);
                nreads++;
            }
            if (ln % 4 == 1)
                assert_int_equal((int)line.l, o.read_length);
            if (ln % 4 == 3) {
                for (size_t c = 0; c < line.l; c++) {
                    double p = pow(10.0, -(line.s[c] - 33) / 10.0);
                    if (line.s[c] - 33 <= 2)
                        continue; /* N calls */
                    qsum += p;
                    nb++;
                    if (c < 10)
                        first += p, nfirst++;
                    if (c >= line.l - 10)
                        last += p;
                }
            }
            ln++;
        }
        free(line.s);
        bgzf_close(fp);
    }
    assert_int_equal(nreads, 2 * sum.n_read_pairs / o.n_samples);
    /* the mean error probability the qualities claim matches the substitutions made */
    assert_true(fabs(qsum / nb / sum.realised_error_rate - 1.0) < 0.15);
    /* and errors rise along the read */
    assert_true(last / nfirst > 4.0 * first / nfirst);
    tmpdir_remove(&d);
}

static void test_truth_vcf(void **state)
{
    (void)state;
    char *d = tmpdir_create();
    tsr_sim_opts_t o;
    tsr_sim_summary_t sum;
    tsr_sim_opts_init(&o);
    o.n_samples = 8;
    o.length = 200000;
    o.coverage = 0.05;
    o.theta = 0.003;
    o.indel_fraction = 0.3;
    o.multiallelic_fraction = 0.2;
    o.populations = 2;
    o.seed = 21;
    o.outdir = d;
    simulate_ok(&o, &sum);
    char ref[4096];
    pathf(ref, sizeof ref, "%s/ref.fa", d);
    truth_t t;
    truth_read(d, ref, &t); /* sorted, REF matches, indels left-aligned, AC matches GT */
    int indels = 0, multi = 0;
    for (int k = 0; k < t.n; k++) {
        indels += t.is_indel[k];
        multi += t.n_allele[k] > 2;
    }
    assert_int_equal(t.n, sum.n_variants);
    assert_int_equal(indels, sum.n_indel);
    assert_int_equal(multi, sum.n_multiallelic);
    assert_true(indels > 0.15 * t.n && indels < 0.45 * t.n);
    assert_true(multi > 0);
    truth_free(&t);
    tmpdir_remove(&d);
}

static void test_ref_region(void **state)
{
    (void)state;
    char *d = tmpdir_create();
    char fa[4096], out[4096];
    pathf(fa, sizeof fa, "%s/in.fa", d);
    pathf(out, sizeof out, "%s/cohort", d);
    FILE *fp = fopen(fa, "w");
    assert_non_null(fp);
    fprintf(fp, ">chrA\nACGT\n>chrX\n");
    uint64_t x = 12345;
    char *want = malloc(20001);
    assert_non_null(want);
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        char c = "ACGTacgt"[(x >> 33) % 8];
        if (i >= 5000 && i < 5100)
            c = 'N';
        fputc(c, fp);
        if (i % 70 == 69)
            fputc('\n', fp);
        want[i] = (char)(c >= 'a' ? c - 32 : c);
    }
    want[20000] = '\0';
    fputc('\n', fp);
    fclose(fp);
    tsr_sim_opts_t o;
    tsr_sim_summary_t sum;
    tsr_sim_opts_init(&o);
    o.n_samples = 3;
    o.coverage = 1.0;
    o.ref = fa;
    o.region = "chrX:1001-16000";
    o.theta = 0.005;
    o.outdir = out;
    simulate_ok(&o, &sum);
    assert_int_equal(sum.ref_length, 15000);
    char path[4096];
    pathf(path, sizeof path, "%s/ref.fa", out);
    faidx_t *fai = fai_load(path);
    assert_non_null(fai);
    assert_int_equal(faidx_nseq(fai), 1);
    assert_string_equal(faidx_iseq(fai, 0), "chrX_1001_16000");
    hts_pos_t len;
    char *seq = faidx_fetch_seq64(fai, "chrX_1001_16000", 0, 14999, &len);
    assert_int_equal(len, 15000);
    assert_memory_equal(seq, want + 1000, 15000);
    free(seq);
    fai_destroy(fai);
    truth_t t;
    truth_read(out, path, &t);
    for (int k = 0; k < t.n; k++)
        assert_false(t.pos[k] >= 4000 - 25 && t.pos[k] < 4100); /* nothing on or padded by the Ns */
    truth_free(&t);
    o.region = "chrZ:1-100";
    tsr_error_clear();
    assert_int_equal(tsr_simulate(&o, &sum), TSR_ERR_USAGE);
    assert_non_null(strstr(tsr_error_msg(), "chrZ"));
    tsr_error_clear();
    free(want);
    tmpdir_remove(&d);
}

static void test_bam(void **state)
{
    (void)state;
    char *d = tmpdir_create();
    tsr_sim_opts_t o;
    tsr_sim_summary_t sum;
    tsr_sim_opts_init(&o);
    o.n_samples = 2;
    o.length = 40000;
    o.coverage = 5.0;
    o.theta = 0.002;
    o.indel_fraction = 0.3;
    o.bam = 1;
    o.threads = 2;
    o.outdir = d;
    simulate_ok(&o, &sum);
    char path[4096], ref[4096];
    pathf(ref, sizeof ref, "%s/ref.fa", d);
    size_t len;
    pathf(path, sizeof path, "%s/samples.tsv", d);
    char *tsv = slurp(path, &len);
    assert_memory_equal(tsv, "sample\tpopulation\tbam\nS0001\tpop1\tbam/S0001.bam\n", 44);
    free(tsv);
    faidx_t *fai = fai_load(ref);
    assert_non_null(fai);
    hts_pos_t rlen;
    char *rs = faidx_fetch_seq64(fai, "sim1", 0, o.length - 1, &rlen);
    assert_int_equal(rlen, o.length);
    pathf(path, sizeof path, "%s/bam/S0002.bam", d);
    samFile *fp = sam_open(path, "r");
    assert_non_null(fp);
    sam_hdr_t *h = sam_hdr_read(fp);
    assert_non_null(h);
    assert_int_equal(sam_hdr_nref(h), 1);
    assert_string_equal(sam_hdr_tid2name(h, 0), "sim1");
    kstring_t ks = {0, 0, NULL};
    assert_int_equal(sam_hdr_find_tag_id(h, "RG", "ID", "S0002", "SM", &ks), 0);
    assert_string_equal(ks.s, "S0002");
    free(ks.s);
    hts_idx_t *idx = sam_index_load(fp, path);
    assert_non_null(idx);
    hts_idx_destroy(idx);
    bam1_t *b = bam_init1();
    int64_t prev = -1, n = 0, match = 0, mism = 0, with_indel = 0;
    while (sam_read1(fp, h, b) >= 0) {
        n++;
        assert_true(b->core.pos >= prev);
        prev = b->core.pos;
        assert_true(b->core.flag & BAM_FPAIRED);
        if (b->core.flag & BAM_FUNMAP)
            continue;
        assert_true(b->core.flag & BAM_FPROPER_PAIR);
        assert_int_equal(b->core.qual, 60);
        assert_int_equal(bam_cigar2qlen(b->core.n_cigar, bam_get_cigar(b)), b->core.l_qseq);
        assert_non_null(bam_aux_get(b, "RG"));
        const uint32_t *cig = bam_get_cigar(b);
        const uint8_t *sq = bam_get_seq(b);
        int64_t rp = b->core.pos;
        int qp = 0;
        for (uint32_t c = 0; c < b->core.n_cigar; c++) {
            int op = bam_cigar_op(cig[c]), l = bam_cigar_oplen(cig[c]);
            if (op == BAM_CMATCH) {
                for (int j = 0; j < l; j++) {
                    char q = seq_nt16_str[bam_seqi(sq, qp + j)];
                    if (q == rs[rp + j])
                        match++;
                    else
                        mism++;
                }
            } else if (op == BAM_CINS || op == BAM_CDEL) {
                with_indel++;
            }
            if (bam_cigar_type(op) & 1)
                qp += l;
            if (bam_cigar_type(op) & 2)
                rp += l;
        }
        assert_true(rp <= o.length);
    }
    assert_int_equal(n, 2 * sum.n_read_pairs / o.n_samples);
    /* most bases match the reference at their CIGAR position: errors + variants only */
    assert_true((double)mism / (double)(match + mism) < 0.01);
    assert_true(with_indel > 0); /* variant indels show up in the CIGARs */
    bam_destroy1(b);
    sam_hdr_destroy(h);
    sam_close(fp);
    free(rs);
    fai_destroy(fai);
    tmpdir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_check),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_hwe_and_sfs),
        cmocka_unit_test(test_fst),
        cmocka_unit_test(test_errors_and_coverage),
        cmocka_unit_test(test_truth_vcf),
        cmocka_unit_test(test_ref_region),
        cmocka_unit_test(test_bam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
