/*
 * test_cohort_writer.c - cohort.bcf (+ .csi) and stats.tsv from two
 * hand-built call sets (the serial cohort writer), and cohort.h5 from the
 * same call sets written as files (the collective writer, here at one rank:
 * the pipeline test compares 1, 2 and 3 ranks): records and INFO per
 * population read back with htslib, the HDF5 schema read back with the C API
 * (an allele axis of 4 alleles, shorter rows padded), commit=0 leaving
 * nothing, byte-identical reruns, errors leaving no file.
 */
#include "kernels/stats/stats.h"
#include "formats_test_util.h"

#include "io/io.h"

#include <hdf5.h>
#include <htslib/vcf.h>
#include <math.h>

enum { NS = 4 };

/* Samples S1..S4 in populations EUR, AFR, EUR, AFR (sorted: AFR=0, EUR=1). */
static char *sample_ids[NS] = {"S1", "S2", "S3", "S4"};
static char *pops[2] = {"AFR", "EUR"};
static int sample_pop[NS] = {1, 0, 1, 0};

typedef struct fixture {
    char *dir;
    tsr_ref_t *ref;
    tsr_sheet_t sheet;
    tsr_sample_t samples[NS];
    tsr_callset_t cs1, cs2;
} fixture_t;

/* A call set filled by hand; `alleles` holds one "REF,ALT..." string per site. */
static void fill_callset(tsr_callset_t *cs, const char *contig, int n, const int64_t *pos, const char **alleles,
                         const float *qual, const uint8_t *filter, const int8_t *gt, const int32_t *gq,
                         const int32_t *dp, const int32_t *ad, int with_pl)
{
    memset(cs, 0, sizeof *cs);
    cs->contig = strdup(contig);
    cs->n_samples = NS;
    cs->n_sites = n;
    cs->pos = malloc((size_t)n * sizeof *cs->pos);
    cs->n_alleles = malloc((size_t)n * sizeof *cs->n_alleles);
    cs->allele_off = malloc((size_t)(n + 1) * sizeof *cs->allele_off);
    cs->qual = malloc((size_t)n * sizeof *cs->qual);
    cs->filter = malloc((size_t)n);
    cs->gt = malloc((size_t)n * NS * 2);
    cs->gq = malloc((size_t)n * NS * sizeof *cs->gq);
    cs->dp = malloc((size_t)n * NS * sizeof *cs->dp);
    cs->ad_off = malloc((size_t)(n + 1) * sizeof *cs->ad_off);
    cs->pl_off = malloc((size_t)(n + 1) * sizeof *cs->pl_off);
    cs->af_off = malloc((size_t)(n + 1) * sizeof *cs->af_off);
    assert_true(cs->af_off && cs->contig && cs->pos && cs->n_alleles && cs->allele_off && cs->qual && cs->filter && cs->gt &&
                cs->gq && cs->dp && cs->ad_off && cs->pl_off);
    size_t blob = 0;
    for (int i = 0; i < n; i++)
        blob += strlen(alleles[i]);
    cs->allele_blob = malloc(blob + 1);
    assert_non_null(cs->allele_blob);
    cs->allele_off[0] = cs->ad_off[0] = cs->pl_off[0] = cs->af_off[0] = 0;
    for (int i = 0; i < n; i++) {
        int na = 1;
        for (const char *p = alleles[i]; *p; p++)
            na += *p == ',';
        cs->n_alleles[i] = na;
        memcpy(cs->allele_blob + cs->allele_off[i], alleles[i], strlen(alleles[i]));
        cs->allele_off[i + 1] = cs->allele_off[i] + (int64_t)strlen(alleles[i]);
        cs->ad_off[i + 1] = cs->ad_off[i] + NS * na;
        cs->pl_off[i + 1] = cs->pl_off[i] + NS * na * (na + 1) / 2;
        cs->af_off[i + 1] = cs->af_off[i] + na;
    }
    cs->af = calloc((size_t)cs->af_off[n] + 1, sizeof *cs->af);
    assert_non_null(cs->af);
    memcpy(cs->pos, pos, (size_t)n * sizeof *pos);
    memcpy(cs->qual, qual, (size_t)n * sizeof *qual);
    memcpy(cs->filter, filter, (size_t)n);
    memcpy(cs->gt, gt, (size_t)n * NS * 2);
    memcpy(cs->gq, gq, (size_t)n * NS * sizeof *gq);
    memcpy(cs->dp, dp, (size_t)n * NS * sizeof *dp);
    cs->ad = malloc((size_t)cs->ad_off[n] * sizeof *cs->ad);
    assert_non_null(cs->ad);
    memcpy(cs->ad, ad, (size_t)cs->ad_off[n] * sizeof *ad);
    if (with_pl) {
        cs->pl = malloc((size_t)cs->pl_off[n] * sizeof *cs->pl);
        assert_non_null(cs->pl);
        for (int64_t k = 0; k < cs->pl_off[n]; k++)
            cs->pl[k] = (int32_t)(k % 7) * 10;
    }
}

static void free_callset(tsr_callset_t *cs)
{
    free(cs->contig);
    free(cs->pos);
    free(cs->n_alleles);
    free(cs->allele_off);
    free(cs->allele_blob);
    free(cs->qual);
    free(cs->filter);
    free(cs->af);
    free(cs->af_off);
    free(cs->gt);
    free(cs->gq);
    free(cs->dp);
    free(cs->ad_off);
    free(cs->ad);
    free(cs->pl_off);
    free(cs->pl);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tmpdir_make();
    char seq[2200];
    strcpy(seq, ">chr1\n");
    for (int i = 0; i < 10; i++)
        strcat(seq, "ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n");
    strcat(seq, ">chr2\n");
    for (int i = 0; i < 5; i++)
        strcat(seq, "GGGGCCCCAAAATTTTGGGGCCCCAAAATTTTGGGGCCCCAAAATTTTGGGGCCCCAAAA\n");
    char *fa = write_file(f->dir, "ref.fa", seq, 0);
    assert_int_equal(tsr_ref_open(fa, &f->ref), TSR_OK);
    free(fa);

    for (int i = 0; i < NS; i++) {
        f->samples[i].id = sample_ids[i];
        f->samples[i].population = pops[sample_pop[i]];
        f->samples[i].kind = TSR_INPUT_ALIGNED;
    }
    f->sheet.n_samples = NS;
    f->sheet.samples = f->samples;
    f->sheet.n_populations = 2;
    f->sheet.populations = pops;
    f->sheet.sample_pop = sample_pop;

    {
        const int64_t pos[2] = {99, 199};
        const char *al[2] = {"A,G", "C,T"};
        const float qual[2] = {50.0f, 5.5f};
        const uint8_t filter[2] = {0, 1};
        const int8_t gt[2 * NS * 2] = {0, 1, 1, 1, 0, 0, -1, -1, /* site 1 */ 0, 0, 0, 0, 0, 0, 0, 1};
        const int32_t gq[2 * NS] = {30, 40, 50, -1, 60, 60, 60, 20};
        const int32_t dp[2 * NS] = {10, 12, 9, 0, 8, 8, 8, 7};
        const int32_t ad[2 * NS * 2] = {5, 5, 0, 12, 9, 0, -1, -1, 8, 0, 8, 0, 8, 0, 4, 3};
        fill_callset(&f->cs1, "chr1", 2, pos, al, qual, filter, gt, gq, dp, ad, 1);
    }
    {
        const int64_t pos[2] = {9, 49};
        const char *al[2] = {"G,A,C,T", "AT,A"};
        const float qual[2] = {99.0f, NAN};
        const uint8_t filter[2] = {0, TSR_FILTER_EXCHET | TSR_FILTER_STRANDBIAS};
        const int8_t gt[2 * NS * 2] = {1, 2, 3, 3, 0, 2, -1, 0, /* site 1 */ 0, 1, 0, 0, 1, 1, -1, -1};
        const int32_t gq[2 * NS] = {10, 20, 30, 40, 11, 12, 13, -1};
        const int32_t dp[2 * NS] = {6, 7, 8, 1, 5, 5, 5, -1};
        const int32_t ad[NS * 4 + NS * 2] = {0, 3, 3, 0, 0, 0, 0, 7, 4, 0, 4, 0, 1, 0, 0, 0,
                                             /* site 1 */ 3, 2, 5, 0, 0, 5, -1, -1};
        fill_callset(&f->cs2, "chr2", 2, pos, al, qual, filter, gt, gq, dp, ad, 0);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    tsr_ref_close(&f->ref);
    free_callset(&f->cs1);
    free_callset(&f->cs2);
    tmpdir_remove(&f->dir);
    free(f);
    return 0;
}

/* Write `cs` as the call-set file dir/name (with placeholder PL where it has none: the file format requires PL). */
static char *write_callset_file(const char *dir, const char *name, tsr_callset_t *cs)
{
    char *p = path_in(dir, name);
    int32_t *pl = cs->pl;
    if (!pl) {
        cs->pl = calloc((size_t)cs->pl_off[cs->n_sites] + 1, sizeof *cs->pl);
        assert_non_null(cs->pl);
    }
    assert_int_equal(tsr_callset_write(p, cs), TSR_OK);
    if (!pl) {
        free(cs->pl);
        cs->pl = NULL;
    }
    return p;
}

/* out/cohort.h5 from the call sets, written by the collective writer on MPI_COMM_WORLD. */
static tsr_status_t write_h5(fixture_t *f, const char *out, int n, tsr_callset_t *const *cs, int64_t *n_sites)
{
    char *paths[4], name[32];
    assert_true(n <= 4);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "callset%d.h5", i);
        paths[i] = write_callset_file(f->dir, name, cs[i]);
    }
    char *h5 = path_in(out, "cohort.h5");
    tsr_status_t st = tsr_cohort_h5_write(MPI_COMM_WORLD, h5, f->ref, &f->sheet, n, (const char *const *)paths, 0,
                                          n_sites);
    for (int i = 0; i < n; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
    free(h5);
    return st;
}

static char *write_cohort(fixture_t *f, const char *sub)
{
    char *out = path_in(f->dir, sub);
    tsr_cohort_writer_t *w = NULL;
    assert_int_equal(tsr_cohort_writer_open(out, f->ref, &f->sheet, &w), TSR_OK);
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs1), TSR_OK);
    assert_int_equal(tsr_cohort_writer_n_sites(w), 2);
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs2), TSR_OK);
    assert_int_equal(tsr_cohort_writer_n_sites(w), 4);
    assert_false(file_exists(out, "cohort.bcf"));
    assert_int_equal(tsr_cohort_writer_close(&w, 1), TSR_OK);
    assert_null(w);
    assert_false(file_exists(out, "cohort.h5"));
    int64_t n = -1;
    tsr_callset_t *cs[2] = {&f->cs1, &f->cs2};
    assert_int_equal(write_h5(f, out, 2, cs, &n), TSR_OK);
    assert_int_equal(n, 4);
    return out;
}

static void expect_info_int(bcf_hdr_t *h, bcf1_t *r, const char *key, int n, const int32_t *want)
{
    int32_t *v = NULL;
    int nv = 0;
    assert_int_equal(bcf_get_info_int32(h, r, key, &v, &nv), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(v[i], want[i]);
    free(v);
}

static void expect_info_float(bcf_hdr_t *h, bcf1_t *r, const char *key, int n, const float *want)
{
    float *v = NULL;
    int nv = 0;
    assert_int_equal(bcf_get_info_float(h, r, key, &v, &nv), n);
    for (int i = 0; i < n; i++) {
        if (isnan(want[i]))
            assert_true(bcf_float_is_missing(v[i]));
        else
            assert_float_equal(v[i], want[i], 1e-6);
    }
    free(v);
}

static void test_bcf(void **state)
{
    fixture_t *f = *state;
    char *out = write_cohort(f, "a");
    assert_true(file_exists(out, "cohort.bcf.csi"));
    assert_false(file_exists(out, "cohort.bcf.tmp"));
    assert_false(file_exists(out, "cohort.bcf.csi.tmp"));
    char *bcf = path_in(out, "cohort.bcf");
    htsFile *fp = hts_open(bcf, "r");
    assert_non_null(fp);
    bcf_hdr_t *h = bcf_hdr_read(fp);
    assert_non_null(h);
    assert_string_equal(bcf_hdr_get_version(h), "VCFv4.3");
    assert_int_equal(bcf_hdr_nsamples(h), NS);
    assert_string_equal(h->samples[2], "S3");
    kstring_t ks = {0, 0, NULL};
    assert_int_equal(bcf_hdr_format(h, 0, &ks), 0);
    assert_non_null(strstr(ks.s, "##source=tessera\n"));
    assert_non_null(strstr(ks.s, "##contig=<ID=chr2,length=300>"));
    assert_non_null(strstr(ks.s, "##INFO=<ID=AF_EUR,Number=A,Type=Float"));
    assert_null(strstr(ks.s, "Version"));
    free(ks.s);

    bcf1_t *r = bcf_init();
    int32_t *gt = NULL, *fmt = NULL;
    int ngt = 0, nfmt = 0;
    /* chr1:100 A>G: GT 0/1 1/1 0/0 ./. */
    assert_int_equal(bcf_read(fp, h, r), 0);
    bcf_unpack(r, BCF_UN_ALL);
    assert_string_equal(bcf_hdr_id2name(h, r->rid), "chr1");
    assert_int_equal(r->pos, 99);
    assert_int_equal(r->n_allele, 2);
    assert_string_equal(r->d.allele[1], "G");
    assert_float_equal(r->qual, 50.0, 1e-6);
    assert_int_equal(bcf_has_filter(h, r, "PASS"), 1);
    expect_info_int(h, r, "AC", 1, (int32_t[]){3});
    expect_info_int(h, r, "AN", 1, (int32_t[]){6});
    expect_info_float(h, r, "AF", 1, (float[]){0.5f});
    expect_info_int(h, r, "NS", 1, (int32_t[]){3});
    expect_info_int(h, r, "AC_AFR", 1, (int32_t[]){2});
    expect_info_int(h, r, "AN_AFR", 1, (int32_t[]){2});
    expect_info_float(h, r, "AF_AFR", 1, (float[]){1.0f});
    expect_info_int(h, r, "AC_EUR", 1, (int32_t[]){1});
    expect_info_int(h, r, "AN_EUR", 1, (int32_t[]){4});
    expect_info_float(h, r, "AF_EUR", 1, (float[]){0.25f});
    assert_int_equal(bcf_get_genotypes(h, r, &gt, &ngt), NS * 2);
    assert_int_equal(bcf_gt_allele(gt[0]), 0);
    assert_int_equal(bcf_gt_allele(gt[1]), 1);
    assert_int_equal(bcf_gt_is_phased(gt[1]), 0);
    assert_int_equal(bcf_gt_allele(gt[2]), 1);
    assert_true(bcf_gt_is_missing(gt[6]) && bcf_gt_is_missing(gt[7]));
    assert_int_equal(bcf_get_format_int32(h, r, "GQ", &fmt, &nfmt), NS);
    assert_int_equal(fmt[1], 40);
    assert_int_equal(fmt[3], bcf_int32_missing);
    assert_int_equal(bcf_get_format_int32(h, r, "PL", &fmt, &nfmt), NS * 3);

    /* chr1:200 LowQual */
    assert_int_equal(bcf_read(fp, h, r), 0);
    bcf_unpack(r, BCF_UN_ALL);
    assert_int_equal(bcf_has_filter(h, r, "LowQual"), 1);
    assert_int_equal(bcf_has_filter(h, r, "PASS"), 0);
    expect_info_int(h, r, "AC", 1, (int32_t[]){1});
    expect_info_int(h, r, "AN", 1, (int32_t[]){8});

    /* chr2:10 G>A,C,T: GT 1/2 3/3 0/2 ./0 */
    assert_int_equal(bcf_read(fp, h, r), 0);
    bcf_unpack(r, BCF_UN_ALL);
    assert_string_equal(bcf_hdr_id2name(h, r->rid), "chr2");
    assert_int_equal(r->pos, 9);
    assert_int_equal(r->n_allele, 4);
    assert_string_equal(r->d.allele[3], "T");
    expect_info_int(h, r, "AC", 3, (int32_t[]){1, 2, 2});
    expect_info_int(h, r, "AN", 1, (int32_t[]){7});
    expect_info_float(h, r, "AF", 3, (float[]){1.0f / 7, 2.0f / 7, 2.0f / 7});
    expect_info_int(h, r, "AC_AFR", 3, (int32_t[]){0, 0, 2});
    expect_info_int(h, r, "AN_AFR", 1, (int32_t[]){3});
    expect_info_int(h, r, "AC_EUR", 3, (int32_t[]){1, 2, 0});
    expect_info_int(h, r, "NS", 1, (int32_t[]){4});
    expect_info_int(h, r, "AC_Het", 3, (int32_t[]){1, 2, 0});
    expect_info_int(h, r, "AC_Hom", 3, (int32_t[]){0, 0, 2});
    expect_info_int(h, r, "nhomalt", 3, (int32_t[]){0, 0, 1});
    expect_info_float(h, r, "HWE", 3, (float[]){1.0f, 1.0f, 0.2f});
    expect_info_float(h, r, "ExcHet", 3, (float[]){1.0f, 2.0f / 3, 1.0f});
    expect_info_float(h, r, "ExcHet_EUR", 3, (float[]){1.0f, 2.0f / 3, 1.0f});
    expect_info_int(h, r, "NS_AFR", 1, (int32_t[]){2});
    assert_int_equal(bcf_get_format_int32(h, r, "AD", &fmt, &nfmt), NS * 4);
    assert_int_equal(fmt[7], 7);
    assert_int_equal(bcf_get_format_int32(h, r, "PL", &fmt, &nfmt), -3); /* not in this call set */
    assert_int_equal(bcf_get_genotypes(h, r, &gt, &ngt), NS * 2);
    assert_true(bcf_gt_is_missing(gt[6]));
    assert_int_equal(bcf_gt_allele(gt[7]), 0);

    /* chr2:50 AT>A, QUAL missing, ExcHet + StrandBias, no called AFR allele -> AF_AFR missing */
    assert_int_equal(bcf_read(fp, h, r), 0);
    bcf_unpack(r, BCF_UN_ALL);
    assert_true(bcf_float_is_missing(r->qual));
    assert_int_equal(r->d.n_flt, 2);
    assert_int_equal(bcf_has_filter(h, r, "ExcHet"), 1);
    assert_int_equal(bcf_has_filter(h, r, "StrandBias"), 1);
    assert_int_equal(bcf_has_filter(h, r, "LowQual"), 0);
    assert_string_equal(r->d.allele[0], "AT");
    expect_info_int(h, r, "AN_AFR", 1, (int32_t[]){2});
    expect_info_int(h, r, "AC_AFR", 1, (int32_t[]){0});
    expect_info_int(h, r, "AN_EUR", 1, (int32_t[]){4});
    expect_info_float(h, r, "AF_EUR", 1, (float[]){0.75f});
    assert_int_equal(bcf_read(fp, h, r), -1);
    free(gt);
    free(fmt);

    /* The index answers region queries. */
    hts_idx_t *idx = bcf_index_load(bcf);
    assert_non_null(idx);
    hts_itr_t *itr = bcf_itr_querys(idx, h, "chr2");
    assert_non_null(itr);
    int n = 0;
    while (bcf_itr_next(fp, itr, r) >= 0)
        n++;
    assert_int_equal(n, 2);
    hts_itr_destroy(itr);
    hts_idx_destroy(idx);
    bcf_destroy(r);
    bcf_hdr_destroy(h);
    assert_int_equal(hts_close(fp), 0);

    /* stats.tsv */
    char *tsv = path_in(out, "stats.tsv");
    size_t len;
    char *text = read_all(tsv, &len);
    /* Worked by hand in io/cohort_schema.md's terms, e.g. chr2:10 (S1 1/2, S2 3/3, S3 0/2, S4 ./0):
     * per-allele het counts 1,1,2,0 and hom-T 2 give, for ALT T, nref 4, nalt 2, nhet 0 -> the exact
     * distribution over 3 samples P(0 het) = 3/15 -> HWE 0.2; for ALT C, nref 2, nalt 2, nhet 2 ->
     * ExcHet P(2 het) = 4/6; F = 1 - 2 / (3 - (1 + 1 + 4 + 4) / 12). */
    const char *want =
        "CHROM\tPOS\tREF\tALT\tQUAL\tFILTER\tAC\tAN\tAF\tNS\tnhet\tnhomalt\tF_MISSING\tHWE\tExcHet\tF"
        "\tAC_AFR\tAN_AFR\tAF_AFR\tNS_AFR\tnhet_AFR\tnhomalt_AFR\tF_MISSING_AFR\tHWE_AFR\tExcHet_AFR\tF_AFR"
        "\tAC_EUR\tAN_EUR\tAF_EUR\tNS_EUR\tnhet_EUR\tnhomalt_EUR\tF_MISSING_EUR\tHWE_EUR\tExcHet_EUR\tF_EUR\n"
        "chr1\t100\tA\tG\t50\tPASS\t3\t6\t0.5\t3\t1\t1\t0.25\t1\t1\t0.333333"
        "\t2\t2\t1\t1\t0\t1\t0.5\t1\t1\t.\t1\t4\t0.25\t2\t1\t0\t0\t1\t1\t-0.333333\n"
        "chr1\t200\tC\tT\t5.5\tLowQual\t1\t8\t0.125\t4\t1\t0\t0\t1\t1\t-0.142857"
        "\t1\t4\t0.25\t2\t1\t0\t0\t1\t1\t-0.333333\t0\t4\t0\t2\t0\t0\t0\t1\t1\t.\n"
        "chr2\t10\tG\tA,C,T\t99\tPASS\t1,2,2\t7\t0.142857,0.285714,0.285714\t4\t2\t0,0,1\t0\t1,1,0.2"
        "\t1,0.666666667,1\t0.076923\t0,0,2\t3\t0,0,0.666667\t2\t0\t0,0,1\t0\t1,1,1\t1,1,1\t."
        "\t1,2,0\t4\t0.25,0.5,0\t2\t2\t0,0,0\t0\t1,1,1\t1,0.666666667,1\t-0.600000\n"
        "chr2\t50\tAT\tA\t.\tExcHet;StrandBias\t3\t6\t0.5\t3\t1\t1\t0.25\t1\t1\t0.333333"
        "\t0\t2\t0\t1\t0\t0\t0.5\t1\t1\t.\t3\t4\t0.75\t2\t1\t1\t0\t1\t1\t-0.333333\n";
    assert_string_equal(text, want);
    free(text);
    free(tsv);
    free(bcf);
    free(out);
}

static hid_t open_ds(hid_t file, const char *name, int rank, const hsize_t *want)
{
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0)
        fail_msg("dataset %s missing", name);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[4];
    assert_int_equal(H5Sget_simple_extent_ndims(sp), rank);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int i = 0; i < rank; i++)
        if (dims[i] != want[i])
            fail_msg("%s axis %d: %llu, want %llu", name, i, (unsigned long long)dims[i],
                     (unsigned long long)want[i]);
    H5Sclose(sp);
    return ds;
}

static void test_h5(void **state)
{
    fixture_t *f = *state;
    char *out = write_cohort(f, "h");
    char *path = path_in(out, "cohort.h5");
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, H5T_VARIABLE);

    hid_t ds = open_ds(file, "sample_id", 1, (hsize_t[]){NS});
    char *names[NS];
    assert_true(H5Dread(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0);
    assert_string_equal(names[0], "S1");
    assert_string_equal(names[3], "S4");
    H5Dvlen_reclaim(str, H5Dget_space(ds), H5P_DEFAULT, names);
    H5Dclose(ds);

    int64_t lens[2];
    ds = open_ds(file, "contig_length", 1, (hsize_t[]){2});
    assert_true(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lens) >= 0);
    assert_int_equal(lens[0], 600);
    assert_int_equal(lens[1], 300);
    H5Dclose(ds);
    H5Dclose(open_ds(file, "contig_id", 1, (hsize_t[]){2}));
    H5Dclose(open_ds(file, "filter_id", 1, (hsize_t[]){4}));

    int64_t pos[4];
    ds = open_ds(file, "variant_position", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, pos) >= 0);
    assert_int_equal(pos[0], 100);
    assert_int_equal(pos[2], 10);
    H5Dclose(ds);
    int32_t contig[4];
    ds = open_ds(file, "variant_contig", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, contig) >= 0);
    assert_int_equal(contig[1], 0);
    assert_int_equal(contig[2], 1);
    H5Dclose(ds);

    /* The allele axis is 4 (the 3-ALT site); shorter rows are padded with "". */
    char *al[4 * 4];
    ds = open_ds(file, "variant_allele", 2, (hsize_t[]){4, 4});
    assert_true(H5Dread(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, al) >= 0);
    assert_string_equal(al[0], "A");
    assert_string_equal(al[1], "G");
    assert_true(al[2] == NULL || al[2][0] == '\0');
    assert_true(al[7] == NULL || al[7][0] == '\0');
    assert_string_equal(al[8], "G");
    assert_string_equal(al[11], "T");
    assert_string_equal(al[12], "AT");
    assert_true(al[14] == NULL || al[14][0] == '\0');
    hid_t sp = H5Dget_space(ds);
    H5Dvlen_reclaim(str, sp, H5P_DEFAULT, al);
    H5Sclose(sp);
    H5Dclose(ds);

    float q[4];
    ds = open_ds(file, "variant_quality", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, q) >= 0);
    assert_float_equal(q[1], 5.5, 1e-6);
    assert_true(isnan(q[3]));
    H5Dclose(ds);

    int8_t flt[4 * 4];
    ds = open_ds(file, "variant_filter", 2, (hsize_t[]){4, 4});
    assert_true(H5Dread(ds, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, flt) >= 0);
    assert_memory_equal(flt, ((int8_t[]){1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1}), 16);
    H5Dclose(ds);

    int8_t g[4 * NS * 2];
    ds = open_ds(file, "call_genotype", 3, (hsize_t[]){4, NS, 2});
    assert_true(H5Dread(ds, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, g) >= 0);
    assert_memory_equal(g, f->cs1.gt, NS * 2 * 2);
    assert_memory_equal(g + NS * 2 * 2, f->cs2.gt, NS * 2 * 2);
    H5Dclose(ds);

    int32_t gq[4 * NS];
    ds = open_ds(file, "call_GQ", 2, (hsize_t[]){4, NS});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, gq) >= 0);
    assert_int_equal(gq[3], -1);
    assert_int_equal(gq[15], -1);
    assert_int_equal(gq[8], 10);
    H5Dclose(ds);
    H5Dclose(open_ds(file, "call_DP", 2, (hsize_t[]){4, NS}));

    int32_t ad[4 * NS * 4];
    ds = open_ds(file, "call_AD", 3, (hsize_t[]){4, NS, 4});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, ad) >= 0);
    assert_memory_equal(ad, ((int32_t[]){5, 5, -1, -1, 0, 12, -1, -1}), 8 * sizeof(int32_t));
    assert_int_equal(ad[2 * NS * 4 + 7], 7);          /* site 2, sample 2, allele 3 */
    assert_int_equal(ad[3 * NS * 4 + 3 * 4 + 0], -1); /* site 3, sample 4: missing */
    assert_int_equal(ad[3 * NS * 4 + 0 * 4 + 2], -1); /* site 3: pad beyond 2 alleles */
    H5Dclose(ds);

    int32_t ac[4 * 3], an[4];
    float af[4 * 3];
    ds = open_ds(file, "variant_AC", 2, (hsize_t[]){4, 3});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, ac) >= 0);
    assert_memory_equal(ac, ((int32_t[]){3, -1, -1, 1, -1, -1, 1, 2, 2, 3, -1, -1}), sizeof ac);
    H5Dclose(ds);
    ds = open_ds(file, "variant_AN_AFR", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, an) >= 0);
    assert_memory_equal(an, ((int32_t[]){2, 4, 3, 2}), sizeof an);
    H5Dclose(ds);
    ds = open_ds(file, "variant_AF_EUR", 2, (hsize_t[]){4, 3});
    assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, af) >= 0);
    assert_float_equal(af[0], 0.25, 1e-6);
    assert_true(isnan(af[1]) && isnan(af[2]));
    assert_float_equal(af[7], 0.5, 1e-6);
    assert_float_equal(af[9], 0.75, 1e-6);
    H5Dclose(ds);
    H5Dclose(open_ds(file, "variant_AC_AFR", 2, (hsize_t[]){4, 3}));
    H5Dclose(open_ds(file, "variant_AF", 2, (hsize_t[]){4, 3}));
    H5Dclose(open_ds(file, "variant_AN", 1, (hsize_t[]){4}));
    H5Dclose(open_ds(file, "variant_AC_EUR", 2, (hsize_t[]){4, 3}));
    H5Dclose(open_ds(file, "variant_AN_EUR", 1, (hsize_t[]){4}));
    H5Dclose(open_ds(file, "variant_AF_AFR", 2, (hsize_t[]){4, 3}));

    /* The per-site statistics, the same values as stats.tsv's hand-worked lines above. */
    int32_t i4[4], i12[12];
    double d4[4], d12[12];
    float f4[4];
    ds = open_ds(file, "variant_NS", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, i4) >= 0);
    assert_memory_equal(i4, ((int32_t[]){3, 4, 4, 3}), sizeof i4);
    H5Dclose(ds);
    ds = open_ds(file, "variant_nhet", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, i4) >= 0);
    assert_memory_equal(i4, ((int32_t[]){1, 1, 2, 1}), sizeof i4);
    H5Dclose(ds);
    ds = open_ds(file, "variant_nhomalt", 2, (hsize_t[]){4, 3});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, i12) >= 0);
    assert_memory_equal(i12 + 6, ((int32_t[]){0, 0, 1}), 3 * sizeof *i12);
    assert_int_equal(i12[1], -1);
    H5Dclose(ds);
    ds = open_ds(file, "variant_F_MISSING", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, f4) >= 0);
    assert_float_equal(f4[0], 0.25, 1e-6);
    assert_float_equal(f4[1], 0.0, 1e-6);
    H5Dclose(ds);
    ds = open_ds(file, "variant_HWE", 2, (hsize_t[]){4, 3});
    assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d12) >= 0);
    assert_float_equal(d12[6], 1.0, 1e-12);
    assert_float_equal(d12[7], 1.0, 1e-12);
    assert_float_equal(d12[8], 0.2, 1e-12);
    assert_true(isnan(d12[1]));
    H5Dclose(ds);
    ds = open_ds(file, "variant_ExcHet", 2, (hsize_t[]){4, 3});
    assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d12) >= 0);
    assert_float_equal(d12[7], 4.0 / 6.0, 1e-12);
    H5Dclose(ds);
    ds = open_ds(file, "variant_F", 1, (hsize_t[]){4});
    assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d4) >= 0);
    assert_float_equal(d4[0], 1.0 / 3.0, 1e-6);
    assert_float_equal(d4[1], -1.0 / 7.0, 1e-6);
    H5Dclose(ds);
    H5Dclose(open_ds(file, "variant_HWE_EUR", 2, (hsize_t[]){4, 3}));
    H5Dclose(open_ds(file, "variant_F_AFR", 1, (hsize_t[]){4}));

    H5Tclose(str);
    assert_true(H5Fclose(file) >= 0);
    free(path);
    free(out);
}

static void expect_same_file(const char *a, const char *b, const char *name)
{
    char *pa = path_in(a, name), *pb = path_in(b, name);
    size_t la, lb;
    char *ba = read_all(pa, &la), *bb = read_all(pb, &lb);
    if (la != lb || memcmp(ba, bb, la) != 0)
        fail_msg("%s differs between two identical runs", name);
    free(ba);
    free(bb);
    free(pa);
    free(pb);
}

static void test_deterministic(void **state)
{
    fixture_t *f = *state;
    char *a = write_cohort(f, "d1"), *b = write_cohort(f, "d2");
    expect_same_file(a, b, "cohort.bcf");
    expect_same_file(a, b, "cohort.bcf.csi");
    expect_same_file(a, b, "cohort.h5");
    expect_same_file(a, b, "stats.tsv");
    free(a);
    free(b);
}

/*
 * The cohort-wide reductions written on commit: statistics.json (2 biallelic
 * transitions, a 4-allele SNV, an indel), sample_qc.tsv (S4: 1 of 4 sites
 * called, one singleton, mean DP (0 + 7 + 1) / 3) and report.html with the
 * run facts handed over.
 */
static void test_reductions(void **state)
{
    fixture_t *f = *state;
    char *out = path_in(f->dir, "red");
    tsr_cohort_writer_t *w = NULL;
    assert_int_equal(tsr_cohort_writer_open(out, f->ref, &f->sheet, &w), TSR_OK);
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs1), TSR_OK);
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs2), TSR_OK);
    const char *key[1] = {"tessera"}, *value[1] = {"9.9-test <&>"};
    tsr_report_facts_t facts = {1, key, value};
    assert_int_equal(tsr_cohort_writer_set_facts(w, &facts), TSR_OK);
    assert_int_equal(tsr_cohort_writer_close(&w, 1), TSR_OK);
    size_t len;
    char *p = path_in(out, "statistics.json"), *text = read_all(p, &len);
    const char *want[] = {"\"sites\": 4,", "\"snv_sites\": 3,", "\"indel_sites\": 1,", "\"multiallelic_sites\": 1,",
                          "\"biallelic_snvs\": 2,", "\"transitions\": 2,", "\"transversions\": 0,", "\"ti_tv\": null",
                          "\"pop1\": \"AFR\", \"pop2\": \"EUR\""};
    for (size_t k = 0; k < sizeof want / sizeof *want; k++)
        if (!strstr(text, want[k]))
            fail_msg("statistics.json lacks '%s'", want[k]);
    free(text);
    free(p);
    p = path_in(out, "sample_qc.tsv");
    text = read_all(p, &len);
    assert_non_null(strstr(text, "\nS4\tAFR\t4\t1\t0.250000\t0\t1\t0\t.\t1\t2.667\t1\t0\t.\t"));
    free(text);
    free(p);
    p = path_in(out, "report.html");
    text = read_all(p, &len);
    assert_non_null(strstr(text, "9.9-test &lt;&amp;&gt;"));
    assert_non_null(strstr(text, "<svg id=\"fst-heatmap\""));
    assert_null(strstr(text, "<script"));
    free(text);
    free(p);
    free(out);
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n == 0;
}

static void test_abort_and_errors(void **state)
{
    fixture_t *f = *state;
    char *out = path_in(f->dir, "x");
    tsr_cohort_writer_t *w = NULL;
    assert_int_equal(tsr_cohort_writer_open(out, f->ref, &f->sheet, &w), TSR_OK);
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs1), TSR_OK);
    assert_int_equal(tsr_cohort_writer_close(&w, 0), TSR_OK);
    assert_null(w);
    assert_true(dir_is_empty(out));

    /* Out of genome order: an error, and close(commit=1) then refuses and removes everything. */
    assert_int_equal(tsr_cohort_writer_open(out, f->ref, &f->sheet, &w), TSR_OK);
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs2), TSR_OK);
    tsr_error_clear();
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs1), TSR_ERR_INTERNAL);
    assert_non_null(strstr(tsr_error_msg(), "out of genome order"));
    assert_int_equal(tsr_cohort_writer_close(&w, 1), TSR_ERR_STATE);
    assert_true(dir_is_empty(out));

    /* A genotype allele beyond the site's alleles is refused. */
    assert_int_equal(tsr_cohort_writer_open(out, f->ref, &f->sheet, &w), TSR_OK);
    f->cs1.gt[0] = 2;
    tsr_error_clear();
    assert_int_equal(tsr_cohort_writer_add(w, &f->cs1), TSR_ERR_INTERNAL);
    f->cs1.gt[0] = 0;
    assert_non_null(strstr(tsr_error_msg(), "chr1:100"));
    assert_int_equal(tsr_cohort_writer_close(&w, 0), TSR_OK);
    assert_true(dir_is_empty(out));

    /* cohort.h5: a genotype allele beyond the site's alleles, then a missing call set: errors, nothing left. */
    tsr_callset_t *cs[2] = {&f->cs1, &f->cs2};
    f->cs2.gt[0] = 4;
    tsr_error_clear();
    assert_int_equal(write_h5(f, out, 2, cs, NULL), TSR_ERR_INTERNAL);
    f->cs2.gt[0] = 1;
    assert_non_null(strstr(tsr_error_msg(), "chr2:10"));
    assert_true(dir_is_empty(out));
    char *h5 = path_in(out, "cohort.h5"), *missing = path_in(f->dir, "no_such_callset.h5");
    const char *paths[1] = {missing};
    tsr_error_clear();
    assert_int_not_equal(tsr_cohort_h5_write(MPI_COMM_WORLD, h5, f->ref, &f->sheet, 1, paths, 0, NULL), TSR_OK);
    assert_non_null(strstr(tsr_error_msg(), "no_such_callset.h5"));
    assert_true(dir_is_empty(out));
    free(missing);
    free(h5);
    free(out);
}

/*
 * More sites than one round of rows (10,000 variants for 4 samples), with one
 * 3-allele site in the second round: every row keeps its values and the
 * 2-allele rows their pads.
 */
static void test_many_sites(void **state)
{
    fixture_t *f = *state;
    enum { N = 25000, MULTI = 12345 };
    tsr_callset_t cs;
    int64_t *pos = malloc(N * sizeof *pos);
    const char **al = malloc(N * sizeof *al);
    float *qual = malloc(N * sizeof *qual);
    uint8_t *filter = calloc(N, 1);
    int8_t *gt = malloc((size_t)N * NS * 2);
    int32_t *gq = malloc((size_t)N * NS * sizeof *gq), *dp = malloc((size_t)N * NS * sizeof *dp);
    int32_t *ad = malloc(((size_t)N * NS * 2 + NS * 2) * sizeof *ad);
    assert_true(pos && al && qual && filter && gt && gq && dp && ad);
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        int na = i == MULTI ? 3 : 2;
        pos[i] = i / 50;
        al[i] = i == MULTI ? "C,A,G" : "C,T";
        qual[i] = (float)(i % 100);
        for (int j = 0; j < NS * 2; j++)
            gt[(size_t)i * NS * 2 + j] = (int8_t)((i + j) % na);
        for (int j = 0; j < NS; j++) {
            gq[(size_t)i * NS + j] = i % 99;
            dp[(size_t)i * NS + j] = j;
            for (int a = 0; a < na; a++)
                ad[k++] = i + a;
        }
    }
    fill_callset(&cs, "chr1", N, pos, al, qual, filter, gt, gq, dp, ad, 0);
    char *out = path_in(f->dir, "many");
    tsr_cohort_writer_t *w = NULL;
    assert_int_equal(tsr_cohort_writer_open(out, f->ref, &f->sheet, &w), TSR_OK);
    assert_int_equal(tsr_cohort_writer_add(w, &cs), TSR_OK);
    assert_int_equal(tsr_cohort_writer_close(&w, 1), TSR_OK);
    tsr_callset_t *csp[1] = {&cs};
    int64_t n_sites = 0;
    assert_int_equal(write_h5(f, out, 1, csp, &n_sites), TSR_OK);
    assert_int_equal(n_sites, N);

    char *path = path_in(out, "cohort.h5");
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(file >= 0);
    int32_t *rad = malloc((size_t)N * NS * 3 * sizeof *rad);
    assert_non_null(rad);
    hid_t ds = open_ds(file, "call_AD", 3, (hsize_t[]){N, NS, 3});
    assert_true(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, rad) >= 0);
    H5Dclose(ds);
    for (int i = 0; i < N; i++) {
        int na = i == MULTI ? 3 : 2;
        for (int j = 0; j < NS; j++)
            for (int a = 0; a < 3; a++) {
                int32_t want = a < na ? i + a : -1;
                if (rad[((size_t)i * NS + j) * 3 + a] != want)
                    fail_msg("call_AD[%d][%d][%d] = %d, want %d", i, j, a, rad[((size_t)i * NS + j) * 3 + a], want);
            }
    }
    int8_t *rgt = malloc((size_t)N * NS * 2);
    assert_non_null(rgt);
    ds = open_ds(file, "call_genotype", 3, (hsize_t[]){N, NS, 2});
    assert_true(H5Dread(ds, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, rgt) >= 0);
    H5Dclose(ds);
    assert_memory_equal(rgt, gt, (size_t)N * NS * 2);
    int64_t *rpos = malloc(N * sizeof *rpos);
    assert_non_null(rpos);
    ds = open_ds(file, "variant_position", 1, (hsize_t[]){N});
    assert_true(H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rpos) >= 0);
    H5Dclose(ds);
    for (int i = 0; i < N; i++)
        assert_int_equal(rpos[i], pos[i] + 1);
    H5Dclose(open_ds(file, "variant_allele", 2, (hsize_t[]){N, 3}));
    H5Dclose(open_ds(file, "variant_AC_EUR", 2, (hsize_t[]){N, 2}));
    assert_true(H5Fclose(file) >= 0);

    char *bcf = path_in(out, "cohort.bcf");
    htsFile *fp = hts_open(bcf, "r");
    assert_non_null(fp);
    bcf_hdr_t *h = bcf_hdr_read(fp);
    bcf1_t *r = bcf_init();
    int n = 0;
    while (bcf_read(fp, h, r) == 0)
        n++;
    assert_int_equal(n, N);
    bcf_destroy(r);
    bcf_hdr_destroy(h);
    assert_int_equal(hts_close(fp), 0);

    free(bcf);
    free(rpos);
    free(rgt);
    free(rad);
    free(path);
    free(out);
    free_callset(&cs);
    free(pos);
    free(al);
    free(qual);
    free(filter);
    free(gt);
    free(gq);
    free(dp);
    free(ad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bcf),
        cmocka_unit_test(test_h5),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_abort_and_errors),
        cmocka_unit_test(test_many_sites),
    };
    /* The cohort.h5 writer is collective: a one-rank MPI world (a singleton without mpirun). */
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return 1;
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    MPI_Finalize();
    return rc;
}
