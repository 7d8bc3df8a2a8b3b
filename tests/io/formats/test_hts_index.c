/* test_hts_index.c - io/hts_index.h: a bgzipped VCF and a BAM with a contig past 2^29 bases get a CSI
 * index that finds their records (a .tbi/.bai cannot be built for them), and short contigs keep
 * .tbi/.bai. */
#include "formats_test_util.h"

#include "io/io.h"

#include <htslib/bgzf.h>
#include <htslib/sam.h>
#include <htslib/tbx.h>

#define LONG_LEN (((int64_t)1 << 30) + 5)
static const int64_t POS[] = {100, 700000000, 1000000000}; /* 1-based */

static void write_vcf(const char *path, int64_t len)
{
    BGZF *fp = bgzf_open(path, "w");
    assert_non_null(fp);
    char line[512];
    int n = snprintf(line, sizeof line, "##fileformat=VCFv4.2\n##contig=<ID=chrL,length=%lld>\n"
                     "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", (long long)len);
    assert_int_equal(bgzf_write(fp, line, (size_t)n), n);
    for (int i = 0; i < 3; i++) {
        if (POS[i] > len)
            continue;
        n = snprintf(line, sizeof line, "chrL\t%lld\t.\tA\tC\t50\tPASS\t.\n", (long long)POS[i]);
        assert_int_equal(bgzf_write(fp, line, (size_t)n), n);
    }
    assert_int_equal(bgzf_close(fp), 0);
}

static int vcf_hits(const char *path, const char *region)
{
    htsFile *fp = hts_open(path, "r");
    tbx_t *tbx = tbx_index_load(path);
    assert_non_null(fp);
    assert_non_null(tbx);
    hts_itr_t *itr = tbx_itr_querys(tbx, region);
    assert_non_null(itr);
    kstring_t s = {0, 0, NULL};
    int hits = 0;
    while (tbx_itr_next(fp, tbx, itr, &s) >= 0)
        hits++;
    free(s.s);
    tbx_itr_destroy(itr);
    tbx_destroy(tbx);
    hts_close(fp);
    return hits;
}

static void test_vcf_long_contig_csi(void **state)
{
    (void)state;
    char *d = tmpdir_make(), path[512], idx[600];
    snprintf(path, sizeof path, "%s/long.vcf.gz", d);
    write_vcf(path, LONG_LEN);
    assert_int_not_equal(tbx_index_build(path, 0, &tbx_conf_vcf), 0); /* a .tbi cannot bin 700 Mb */
    const char *ext = NULL;
    assert_int_equal(tsr_hts_index_build(path, TSR_INDEX_VCF_GZ, LONG_LEN, &ext), TSR_OK);
    assert_string_equal(ext, "csi");
    snprintf(idx, sizeof idx, "%s.csi", path);
    assert_int_equal(access(idx, R_OK), 0);
    assert_int_equal(vcf_hits(path, "chrL:699999990-700000010"), 1);
    assert_int_equal(vcf_hits(path, "chrL:1000000000-1000000000"), 1);
    assert_int_equal(vcf_hits(path, "chrL:1-1000"), 1);
    assert_int_equal(vcf_hits(path, "chrL:800000000-900000000"), 0);
    tmpdir_remove(&d);
}

static void test_vcf_short_contig_tbi(void **state)
{
    (void)state;
    char *d = tmpdir_make(), path[512], idx[600];
    snprintf(path, sizeof path, "%s/short.vcf.gz", d);
    write_vcf(path, 5000);
    const char *ext = NULL;
    assert_int_equal(tsr_hts_index_build(path, TSR_INDEX_VCF_GZ, 5000, &ext), TSR_OK);
    assert_string_equal(ext, "tbi");
    snprintf(idx, sizeof idx, "%s.tbi", path);
    assert_int_equal(access(idx, R_OK), 0);
    assert_int_equal(vcf_hits(path, "chrL:90-110"), 1);
    assert_string_equal(tsr_hts_index_ext(TSR_INDEX_BAM, TSR_CLASSIC_INDEX_MAX), "bai");
    assert_string_equal(tsr_hts_index_ext(TSR_INDEX_BAM, TSR_CLASSIC_INDEX_MAX + 1), "csi");
    tmpdir_remove(&d);
}

static void write_bam(const char *path)
{
    samFile *fp = sam_open(path, "wb");
    assert_non_null(fp);
    char text[128];
    snprintf(text, sizeof text, "@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chrL\tLN:%lld\n", (long long)LONG_LEN);
    sam_hdr_t *h = sam_hdr_parse(strlen(text), text);
    assert_non_null(h);
    assert_int_equal(sam_hdr_write(fp, h), 0);
    bam1_t *b = bam_init1();
    const uint32_t cigar[] = {4u << BAM_CIGAR_SHIFT | BAM_CMATCH};
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        assert_true(bam_set1(b, strlen(name), name, 0, 0, POS[i] - 1, 60, 1, cigar, -1, -1, 0, 4, "ACGT",
                             "IIII", 0) >= 0);
        assert_true(sam_write1(fp, h, b) >= 0);
    }
    bam_destroy1(b);
    sam_hdr_destroy(h);
    assert_int_equal(sam_close(fp), 0);
}

static void test_bam_long_contig_csi(void **state)
{
    (void)state;
    char *d = tmpdir_make(), path[512], idx[600];
    snprintf(path, sizeof path, "%s/long.bam", d);
    write_bam(path);
    assert_int_not_equal(sam_index_build(path, 0), 0); /* a .bai cannot bin 700 Mb */
    const char *ext = NULL;
    assert_int_equal(tsr_hts_index_build(path, TSR_INDEX_BAM, LONG_LEN, &ext), TSR_OK);
    assert_string_equal(ext, "csi");
    snprintf(idx, sizeof idx, "%s.csi", path);
    assert_int_equal(access(idx, R_OK), 0);
    samFile *fp = sam_open(path, "r");
    sam_hdr_t *h = sam_hdr_read(fp);
    hts_idx_t *ix = sam_index_load(fp, path);
    assert_non_null(ix);
    hts_itr_t *itr = sam_itr_querys(ix, h, "chrL:999999990-1000000010");
    assert_non_null(itr);
    bam1_t *b = bam_init1();
    int hits = 0;
    while (sam_itr_next(fp, itr, b) >= 0) {
        assert_int_equal(b->core.pos, POS[2] - 1);
        hits++;
    }
    assert_int_equal(hits, 1);
    bam_destroy1(b);
    hts_itr_destroy(itr);
    hts_idx_destroy(ix);
    sam_hdr_destroy(h);
    sam_close(fp);
    tmpdir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcf_long_contig_csi),
        cmocka_unit_test(test_vcf_short_contig_tbi),
        cmocka_unit_test(test_bam_long_contig_csi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
