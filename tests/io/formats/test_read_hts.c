/*
 * test_read_hts.c - unaligned BAM/CRAM behind tsr_reader_*: pairs and single
 * reads equal to the FASTQ they came from, starts mid-file through
 * tell/locate/open_at, reverse-flagged records, and every bad-input message.
 * Files are written with htslib here (flags as samtools import writes them)
 * and, where samtools is installed, with `samtools import` itself.
 */
#include "io/simulate/simulate.h"
#include "formats_test_util.h"

#include "io/io.h"

#include <htslib/hts.h>
#include <htslib/sam.h>

/* The reads of a source, in order: pair i is (name[i], seq[2i], qual[2i]) and (.., seq[2i+1], ..). */
typedef struct reads {
    int n, seg;
    char **name, **seq, **qual;
    int *lane; /* per pair */
} reads_t;

typedef struct fixture {
    char *dir;
    char *fq1, *fq2; /* simulated BGZF FASTQ pair */
    reads_t fq;      /* what the FASTQ reader yields for them */
} fixture_t;

static void reads_free(reads_t *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->name[i]);
    for (int i = 0; i < r->n * r->seg; i++) {
        free(r->seq[i]);
        free(r->qual[i]);
    }
    free(r->name);
    free(r->lane);
    free(r->seq);
    free(r->qual);
    memset(r, 0, sizeof *r);
}

/* Read everything from an open reader into `out` (the reader must end cleanly). */
static void reads_drain(tsr_reader_t *rd, reads_t *out)
{
    memset(out, 0, sizeof *out);
    out->seg = tsr_reader_segments(rd);
    int cap = 0;
    tsr_read_t a, b;
    int rc;
    while ((rc = tsr_reader_next(rd, &a, &b)) == 1) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            out->name = realloc(out->name, (size_t)cap * sizeof *out->name);
            out->seq = realloc(out->seq, 2 * (size_t)cap * sizeof *out->seq);
            out->qual = realloc(out->qual, 2 * (size_t)cap * sizeof *out->qual);
            out->lane = realloc(out->lane, (size_t)cap * sizeof *out->lane);
            assert_non_null(out->lane);
            assert_non_null(out->name);
            assert_non_null(out->seq);
            assert_non_null(out->qual);
        }
        out->name[out->n] = strdup(a.name);
        out->lane[out->n] = a.lane;
        if (out->seg == 2)
            assert_int_equal(b.lane, a.lane);
        const tsr_read_t *ends[2] = {&a, &b};
        for (int k = 0; k < out->seg; k++) {
            assert_int_equal((int)strlen(ends[k]->seq), ends[k]->len);
            assert_int_equal((int)strlen(ends[k]->qual), ends[k]->len);
            if (k)
                assert_string_equal(b.name, a.name);
            out->seq[out->n * out->seg + k] = strdup(ends[k]->seq);
            out->qual[out->n * out->seg + k] = strdup(ends[k]->qual);
        }
        out->n++;
    }
    if (rc != 0)
        fail_msg("reader failed: %s", tsr_error_msg());
}

/* got must equal want's pairs [from, want->n). */
static void reads_expect(const reads_t *got, const reads_t *want, int from)
{
    assert_int_equal(got->seg, want->seg);
    assert_int_equal(got->n, want->n - from);
    for (int i = 0; i < got->n; i++) {
        assert_string_equal(got->name[i], want->name[from + i]);
        assert_int_equal(got->lane[i], want->lane[from + i]);
        for (int k = 0; k < got->seg; k++) {
            assert_string_equal(got->seq[i * got->seg + k], want->seq[(from + i) * want->seg + k]);
            assert_string_equal(got->qual[i * got->seg + k], want->qual[(from + i) * want->seg + k]);
        }
    }
}

static void read_source(const char *p1, const char *p2, reads_t *out)
{
    tsr_reader_t *rd = NULL;
    if (tsr_reader_open(p1, p2, &rd) != TSR_OK)
        fail_msg("open %s: %s", p1, tsr_error_msg());
    reads_drain(rd, out);
    tsr_reader_close(&rd);
}

/* One unmapped record: seq/qual as given (qual phred+33, or NULL for '*'). */
static void put_record(samFile *fp, sam_hdr_t *h, bam1_t *b, const char *name, uint16_t flag, const char *seq,
                       const char *qual)
{
    size_t n = strlen(seq);
    char *q = malloc(n + 1);
    assert_non_null(q);
    for (size_t i = 0; i < n; i++)
        q[i] = qual ? (char)(qual[i] - 33) : (char)0xff;
    assert_true(bam_set1(b, strlen(name), name, flag, -1, -1, 0, 0, NULL, -1, -1, 0, n, seq, q, 0) >= 0);
    assert_true(sam_write1(fp, h, b) >= 0);
    free(q);
}

/* Open dir/name for writing as BAM ("wb") or CRAM ("wc", tiny slices so the file has many containers). */
static samFile *ubam_create(const char *dir, const char *name, const char *mode, sam_hdr_t **h, char **path)
{
    *path = path_in(dir, name);
    samFile *fp = sam_open(*path, mode);
    assert_non_null(fp);
    if (mode[1] == 'c')
        assert_int_equal(hts_set_opt(fp, CRAM_OPT_SEQS_PER_SLICE, 64), 0);
    *h = sam_hdr_parse(strlen("@HD\tVN:1.6\tSO:unsorted\n"), "@HD\tVN:1.6\tSO:unsorted\n");
    assert_non_null(*h);
    assert_int_equal(sam_hdr_write(fp, *h), 0);
    return fp;
}

static void ubam_finish(samFile *fp, sam_hdr_t *h)
{
    assert_int_equal(sam_close(fp), 0);
    sam_hdr_destroy(h);
}

/*
 * Write `r` as unaligned BAM/CRAM with samtools import's flags (77/141
 * paired, 4 single-end); every third pair is stored reverse-flagged (0x10,
 * SEQ reverse-complemented, QUAL reversed), which the reader must undo.
 */
static char *ubam_write(const char *dir, const char *name, const char *mode, const reads_t *r)
{
    sam_hdr_t *h;
    char *path;
    samFile *fp = ubam_create(dir, name, mode, &h, &path);
    bam1_t *b = bam_init1();
    assert_non_null(b);
    for (int i = 0; i < r->n; i++)
        for (int k = 0; k < r->seg; k++) {
            uint16_t flag = r->seg == 2 ? (k ? 141 : 77) : 4;
            const char *seq = r->seq[i * r->seg + k], *qual = r->qual[i * r->seg + k];
            if (i % 3 != 2) {
                put_record(fp, h, b, r->name[i], flag, seq, qual);
                continue;
            }
            size_t n = strlen(seq);
            char *rs = malloc(n + 1), *rq = malloc(n + 1);
            assert_non_null(rs);
            assert_non_null(rq);
            for (size_t j = 0; j < n; j++) {
                char c = seq[n - 1 - j];
                rs[j] = c == 'A' ? 'T' : c == 'C' ? 'G' : c == 'G' ? 'C' : c == 'T' ? 'A' : 'N';
                rq[j] = qual[n - 1 - j];
            }
            rs[n] = rq[n] = '\0';
            put_record(fp, h, b, r->name[i], flag | 0x10, rs, rq);
            free(rs);
            free(rq);
        }
    bam_destroy1(b);
    ubam_finish(fp, h);
    return path;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tmpdir_make();
    tsr_sim_opts_t o;
    tsr_sim_opts_init(&o);
    o.outdir = f->dir;
    o.n_samples = 1;
    o.length = 40000;
    o.coverage = 8.0;
    o.seed = 11;
    o.threads = 1;
    tsr_sim_summary_t sum;
    if (tsr_simulate(&o, &sum) != TSR_OK)
        fail_msg("tsr_simulate failed: %s", tsr_error_msg());
    f->fq1 = path_in(f->dir, "reads/S0001_1.fastq.gz");
    f->fq2 = path_in(f->dir, "reads/S0001_2.fastq.gz");
    read_source(f->fq1, f->fq2, &f->fq);
    assert_true(f->fq.n > 500);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    reads_free(&f->fq);
    free(f->fq1);
    free(f->fq2);
    tmpdir_remove(&f->dir);
    free(f);
    return 0;
}

/*
 * The whole file, then every 37th pair as a chunk start: tell, locate, and
 * open_at there (located or not) must yield exactly the rest of the pairs.
 */
static void check_source_and_chunks(const char *path, const reads_t *want, int expect_direct)
{
    reads_t got;
    read_source(path, NULL, &got);
    reads_expect(&got, want, 0);
    reads_free(&got);

    enum { STEP = 37 };
    int n = want->n / STEP + 2;
    tsr_read_pos_t (*pos)[2] = calloc((size_t)n, sizeof *pos);
    int *first = calloc((size_t)n, sizeof *first);
    assert_non_null(pos);
    assert_non_null(first);
    tsr_reader_t *rd = NULL;
    assert_int_equal(tsr_reader_open(path, NULL, &rd), TSR_OK);
    int m = 0;
    tsr_read_t a, b;
    for (int i = 0;; i++) {
        if (i % STEP == 0 || i == want->n) {
            tsr_reader_tell(rd, pos[m]);
            assert_int_equal(pos[m][1].uoff, 0);
            assert_int_equal(pos[m][1].rec, 0);
            first[m++] = i;
        }
        int rc = tsr_reader_next(rd, &a, &b);
        if (rc == 0)
            break;
        assert_int_equal(rc, 1);
    }
    tsr_reader_close(&rd);
    assert_int_equal(first[m - 1], want->n); /* the last position is the end of the file */

    tsr_read_pos_t *col = calloc((size_t)m, sizeof *col);
    assert_non_null(col);
    for (int j = 0; j < m; j++)
        col[j] = pos[j][0];
    int direct = -1;
    assert_int_equal(tsr_reader_locate(path, m, col, &direct), TSR_OK);
    assert_int_equal(direct, expect_direct);
    for (int j = 0; j < m; j++) {
        if (j > 0) /* BAM: bgzf_utell; CRAM: the record index */
            assert_true(pos[j][0].uoff > pos[j - 1][0].uoff);
        if (expect_direct)
            assert_true(col[j].coff >= 0);
        assert_int_equal(col[j].rec, pos[j][0].rec);
    }
    for (int located = 0; located < 2; located++)
        for (int j = 0; j < m; j++) {
            tsr_read_pos_t at[2] = {located ? col[j] : pos[j][0], pos[j][1]};
            tsr_reader_t *r2 = NULL;
            if (tsr_reader_open_at(path, NULL, at, &r2) != TSR_OK)
                fail_msg("open_at %s chunk %d: %s", path, j, tsr_error_msg());
            reads_drain(r2, &got);
            tsr_reader_close(&r2);
            reads_expect(&got, want, first[j]);
            reads_free(&got);
        }
    free(col);
    free(pos);
    free(first);
}

static void test_paired_bam_and_cram(void **state)
{
    fixture_t *f = *state;
    char *bam = ubam_write(f->dir, "u.bam", "wb", &f->fq);
    check_source_and_chunks(bam, &f->fq, 1);
    char *cram = ubam_write(f->dir, "u.cram", "wc", &f->fq);
    check_source_and_chunks(cram, &f->fq, 1);

    /* BAM positions are the virtual offsets from tell: locate keeps them */
    tsr_reader_t *rd = NULL;
    tsr_read_t a, b;
    assert_int_equal(tsr_reader_open(bam, NULL, &rd), TSR_OK);
    assert_int_equal(tsr_reader_segments(rd), 2);
    for (int i = 0; i < 300; i++)
        assert_int_equal(tsr_reader_next(rd, &a, &b), 1);
    tsr_read_pos_t p[2], q;
    tsr_reader_tell(rd, p);
    assert_int_equal(p[0].rec, 600);
    assert_true(p[0].coff > 0);
    q = p[0];
    int direct = 0;
    assert_int_equal(tsr_reader_locate(bam, 1, &q, &direct), TSR_OK);
    assert_int_equal(direct, 1);
    assert_memory_equal(&q, &p[0], sizeof q);
    tsr_reader_close(&rd);

    /* CRAM positions are record indexes until located into a container */
    assert_int_equal(tsr_reader_open(cram, NULL, &rd), TSR_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(tsr_reader_next(rd, &a, &b), 1);
    tsr_reader_tell(rd, p);
    assert_int_equal(p[0].rec, 200);
    assert_int_equal(p[0].uoff, 200);
    assert_int_equal(p[0].coff, -1);
    q = p[0];
    assert_int_equal(tsr_reader_locate(cram, 1, &q, &direct), TSR_OK);
    assert_int_equal(direct, 1);
    assert_true(q.coff > 0);
    assert_int_equal(q.within, 200 % 64); /* 64 records per container */
    tsr_reader_close(&rd);
    free(bam);
    free(cram);
}

static void test_single_end(void **state)
{
    fixture_t *f = *state;
    reads_t se;
    read_source(f->fq2, NULL, &se);
    assert_int_equal(se.seg, 1);
    char *bam = ubam_write(f->dir, "se.bam", "wb", &se);
    check_source_and_chunks(bam, &se, 1);
    char *cram = ubam_write(f->dir, "se.cram", "wc", &se);
    check_source_and_chunks(cram, &se, 1);
    tsr_reader_t *rd = NULL;
    assert_int_equal(tsr_reader_open(bam, NULL, &rd), TSR_OK);
    assert_int_equal(tsr_reader_segments(rd), 1);
    tsr_reader_close(&rd);
    reads_free(&se);
    free(bam);
    free(cram);
}

/* `samtools import -1 R1 -2 R2` (BAM and CRAM): the reader yields exactly the FASTQ's pairs. */
static void test_samtools_import(void **state)
{
    fixture_t *f = *state;
    if (system("samtools --version >/dev/null 2>&1") != 0) {
        /* a skip is not a pass: only where it is allowed on purpose (deploy/test.sh, TSR_ALLOW_SKIP=1) */
        if (!getenv("TSR_ALLOW_SKIP") || strcmp(getenv("TSR_ALLOW_SKIP"), "1") != 0)
            fail_msg("samtools is not installed (deploy/setup.sh installs it; TSR_ALLOW_SKIP=1 skips this)");
        skip();
    }
    char *bam = path_in(f->dir, "import.bam"), *cram = path_in(f->dir, "import.cram");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "samtools import -1 '%s' -2 '%s' -o '%s' && samtools import -1 '%s' -2 '%s' "
             "-O cram -o '%s'", f->fq1, f->fq2, bam, f->fq1, f->fq2, cram);
    assert_int_equal(system(cmd), 0);
    check_source_and_chunks(bam, &f->fq, 1);
    check_source_and_chunks(cram, &f->fq, 1);
    free(bam);
    free(cram);
}

/* A hand-written file of `n` records (name, flag, seq, qual or NULL for '*'), BAM or CRAM. */
typedef struct rec {
    const char *name;
    uint16_t flag;
    const char *seq, *qual;
} rec_t;

static char *write_records(const char *dir, const char *name, const char *mode, const rec_t *r, int n)
{
    sam_hdr_t *h;
    char *path;
    samFile *fp = ubam_create(dir, name, mode, &h, &path);
    bam1_t *b = bam_init1();
    for (int i = 0; i < n; i++)
        put_record(fp, h, b, r[i].name, r[i].flag, r[i].seq, r[i].qual);
    bam_destroy1(b);
    ubam_finish(fp, h);
    return path;
}

static void test_reverse_flag(void **state)
{
    fixture_t *f = *state;
    const rec_t recs[] = {
        {"p1", 77 | 0x10, "AACCGTN", "ABCDEFG"}, /* stored reverse-complemented: read ACGGTT N first */
        {"p1", 141, "TTGCA", "IIIII"},
        {"p2/1", 77, "GATTACA", "!!!!!!!"},
        {"p2/2", 141 | 0x10, "AC", "#$"},
        {"p3", 77 | 0x100, "AAAA", "IIII"}, /* secondary: skipped */
    };
    const char *modes[2] = {"wb", "wc"};
    for (int m = 0; m < 2; m++) {
        char *p = write_records(f->dir, m ? "rev.cram" : "rev.bam", modes[m], recs, 5);
        tsr_reader_t *rd = NULL;
        tsr_read_t a, b;
        assert_int_equal(tsr_reader_open(p, NULL, &rd), TSR_OK);
        assert_int_equal(tsr_reader_segments(rd), 2);
        assert_int_equal(tsr_reader_next(rd, &a, &b), 1);
        assert_string_equal(a.name, "p1");
        assert_string_equal(a.seq, "NACGGTT");
        assert_string_equal(a.qual, "GFEDCBA");
        assert_int_equal(a.lane, 0);
        assert_string_equal(b.seq, "TTGCA");
        assert_int_equal(tsr_reader_next(rd, &a, &b), 1);
        assert_string_equal(a.name, "p2"); /* /1 /2 removed as for FASTQ */
        assert_string_equal(b.name, "p2");
        assert_string_equal(b.seq, "GT");
        assert_string_equal(b.qual, "$#");
        assert_int_equal(tsr_reader_next(rd, &a, &b), 0);
        assert_int_equal(tsr_reader_next(rd, &a, &b), 0);
        tsr_reader_close(&rd);
        free(p);
    }
}

/* Reading `path` must fail after `good` pairs with a message naming the file and holding every needle. */
static void expect_bad(const char *path, int good, const char *n1, const char *n2)
{
    tsr_reader_t *rd = NULL;
    tsr_read_t a, b;
    tsr_error_clear();
    tsr_status_t s = tsr_reader_open(path, NULL, &rd);
    if (s == TSR_OK) {
        for (int i = 0; i < good; i++)
            if (tsr_reader_next(rd, &a, &b) != 1)
                fail_msg("pair %d of %s: %s", i, path, tsr_error_msg());
        assert_int_equal(tsr_reader_next(rd, &a, &b), -2);
        tsr_reader_close(&rd);
    } else {
        assert_int_equal(good, -1); /* the error comes at open */
        assert_null(rd);
    }
    const char *msg = tsr_error_msg();
    if (!strstr(msg, path) || !strstr(msg, n1) || (n2 && !strstr(msg, n2)))
        fail_msg("message '%s' lacks '%s' / '%s' / '%s'", msg, path, n1, n2 ? n2 : "");
}

static void test_bad_input(void **state)
{
    fixture_t *f = *state;
    const char *d = f->dir;
    const rec_t ok1 = {"a", 77, "ACGT", "IIII"}, ok2 = {"a", 141, "ACGT", "IIII"};

    rec_t no_mate[] = {ok1, ok2, {"b", 77, "ACGT", "IIII"}};
    char *p = write_records(d, "no_mate.bam", "wb", no_mate, 3);
    expect_bad(p, 1, "record 3: read 1 'b' is the last record, its read 2 is missing", NULL);
    free(p);

    rec_t other_name[] = {ok1, ok2, {"b", 77, "ACGT", "IIII"}, {"c", 141, "ACGT", "IIII"}};
    p = write_records(d, "other_name.cram", "wc", other_name, 4);
    expect_bad(p, 1, "record 4: read 1 'b' (record 3) is followed by 'c'", "not its read 2");
    free(p);

    rec_t two_read1[] = {ok1, ok1};
    p = write_records(d, "two_read1.bam", "wb", two_read1, 2);
    expect_bad(p, 0, "record 2: read 1 'a' (record 1) is followed by 'a' (flags 0x4d)", NULL);
    free(p);

    rec_t read2_first[] = {ok2, ok1};
    p = write_records(d, "read2_first.bam", "wb", read2_first, 2);
    expect_bad(p, 0, "record 1: read 'a' is not a read 1", "read 1 then read 2");
    free(p);

    rec_t no_qual[] = {ok1, ok2, {"b", 77, "ACGT", NULL}, {"b", 141, "ACGT", "IIII"}};
    p = write_records(d, "no_qual.bam", "wb", no_qual, 4);
    expect_bad(p, 1, "record 3: read 'b' has no base qualities ('*')", NULL);
    free(p);

    rec_t mixed[] = {{"s", 4, "ACGT", "IIII"}, ok1, ok2};
    p = write_records(d, "mixed.bam", "wb", mixed, 3);
    expect_bad(p, 1, "record 2: read 'a' is paired but the file starts with single-end reads", NULL);
    free(p);

    /* an aligned record: the file belongs in the bam column */
    char *sam = write_file(d, "aligned.sam",
                           "@SQ\tSN:chr1\tLN:100\nu\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\tIIII\n"
                           "m\t0\tchr1\t5\t60\t4M\t*\t0\t0\tACGT\tIIII\n",
                           0);
    p = path_in(d, "aligned.bam");
    samFile *in = sam_open(sam, "r"), *out = sam_open(p, "wb");
    sam_hdr_t *h = sam_hdr_read(in);
    bam1_t *b = bam_init1();
    assert_int_equal(sam_hdr_write(out, h), 0);
    while (sam_read1(in, h, b) >= 0)
        assert_true(sam_write1(out, h, b) >= 0);
    bam_destroy1(b);
    sam_hdr_destroy(h);
    sam_close(in);
    assert_int_equal(sam_close(out), 0);
    expect_bad(p, 1, "record 2: read 'm' is aligned (flag 0x4 unset)", "put it in the sheet's 'bam' column");
    free(p);
    free(sam);

    /* a BAM magic with nothing behind it */
    p = write_file(d, "garbage.bam", "BAM\1rest", 1);
    expect_bad(p, -1, "cannot read the BAM/CRAM header", NULL);
    free(p);

    /* unaligned BAM in fastq1 with a fastq2 as well */
    rec_t pair[] = {ok1, ok2};
    p = write_records(d, "pair.bam", "wb", pair, 2);
    tsr_reader_t *rd = NULL;
    tsr_error_clear();
    assert_int_equal(tsr_reader_open(p, f->fq2, &rd), TSR_ERR_FORMAT);
    assert_null(rd);
    assert_non_null(strstr(tsr_error_msg(), "name it in fastq1 and leave fastq2 empty"));
    free(p);
}

/* Append pairs [0, n) of `src` to `dst` (copies), marking them as lane `lane`. */
static void reads_append(reads_t *dst, const reads_t *src, int n, int lane)
{
    dst->seg = src->seg;
    int m = dst->n + n;
    dst->name = realloc(dst->name, (size_t)m * sizeof *dst->name);
    dst->lane = realloc(dst->lane, (size_t)m * sizeof *dst->lane);
    dst->seq = realloc(dst->seq, (size_t)m * (size_t)src->seg * sizeof *dst->seq);
    dst->qual = realloc(dst->qual, (size_t)m * (size_t)src->seg * sizeof *dst->qual);
    assert_true(dst->name && dst->lane && dst->seq && dst->qual);
    for (int i = 0; i < n; i++) {
        dst->name[dst->n + i] = strdup(src->name[i]);
        dst->lane[dst->n + i] = lane;
        for (int k = 0; k < src->seg; k++) {
            dst->seq[(dst->n + i) * src->seg + k] = strdup(src->seq[i * src->seg + k]);
            dst->qual[(dst->n + i) * src->seg + k] = strdup(src->qual[i * src->seg + k]);
        }
    }
    dst->n = m;
}

/*
 * Three lanes read as one stream: BGZF FASTQ (simulated), unaligned BAM, plain
 * gzip FASTQ. Chunk starts every 29 pairs and at both lane boundaries (a
 * position at the end of a lane) round-trip through tell_stream,
 * locate_lanes and open_lanes_at, located or not.
 */
static void test_lanes(void **state)
{
    fixture_t *f = *state;
    const char *d = f->dir;
    reads_t head = f->fq;
    head.n = 150;
    char *bam = ubam_write(d, "lane2.bam", "wb", &head);
    char *g1 = write_file(d, "lane3_1.fq.gz", "@x1/1\nACGT\n+\nIIII\n@x2/1\nGG\n+\n#I\n@x3/1\nT\n+\nI\n", 1);
    char *g2 = write_file(d, "lane3_2.fq.gz", "@x1/2\nTT\n+\nII\n@x2/2\nCCC\n+\nIII\n@x3/2\nA\n+\n!\n", 1);
    reads_t third;
    read_source(g1, g2, &third);
    assert_int_equal(third.n, 3);
    tsr_lane_t lanes[3] = {{f->fq1, f->fq2, NULL, NULL}, {bam, NULL, NULL, NULL}, {g1, g2, NULL, NULL}};

    reads_t want = {0};
    reads_append(&want, &f->fq, f->fq.n, 0);
    reads_append(&want, &f->fq, 150, 1);
    reads_append(&want, &third, 3, 2);
    reads_free(&third);

    tsr_reader_t *rd = NULL;
    assert_int_equal(tsr_reader_open_lanes(3, lanes, &rd), TSR_OK);
    assert_int_equal(tsr_reader_segments(rd), 2);
    reads_t got;
    reads_drain(rd, &got);
    tsr_reader_close(&rd);
    reads_expect(&got, &want, 0);
    reads_free(&got);

    int b1 = f->fq.n, b2 = f->fq.n + 150, cap = want.n / 29 + 8, m = 0;
    tsr_stream_pos_t *pos = calloc((size_t)cap, sizeof *pos);
    int *first = calloc((size_t)cap, sizeof *first);
    assert_non_null(pos);
    assert_non_null(first);
    assert_int_equal(tsr_reader_open_lanes(3, lanes, &rd), TSR_OK);
    tsr_read_t a, b;
    for (int i = 0; i < want.n; i++) {
        if (i % 29 == 0 || i == b1 || i == b2 || i == want.n - 1) {
            tsr_reader_tell_stream(rd, &pos[m]);
            first[m++] = i;
        }
        assert_int_equal(tsr_reader_next(rd, &a, &b), 1);
        assert_int_equal(a.lane, want.lane[i]);
    }
    assert_int_equal(tsr_reader_next(rd, &a, &b), 0);
    tsr_reader_close(&rd);
    /* a position taken before the first pair of a lane is the end of the lane before */
    for (int j = 0; j < m; j++)
        if (first[j] == b1 || first[j] == b2)
            assert_int_equal(pos[j].lane, first[j] == b1 ? 0 : 1);

    tsr_stream_pos_t *loc = malloc((size_t)m * sizeof *loc);
    assert_non_null(loc);
    memcpy(loc, pos, (size_t)m * sizeof *loc);
    int n_direct = -1, n_gz = 0;
    assert_int_equal(tsr_reader_locate_lanes(3, lanes, m, loc, &n_direct), TSR_OK);
    for (int j = 0; j < m; j++) {
        assert_int_equal(loc[j].lane, pos[j].lane);
        n_gz += loc[j].lane == 2;
        assert_true(loc[j].lane == 2 ? loc[j].file[0].coff == -1 : loc[j].file[0].coff >= 0);
    }
    assert_int_equal(n_direct, m - n_gz);
    for (int located = 0; located < 2; located++)
        for (int j = 0; j < m; j++) {
            if (tsr_reader_open_lanes_at(3, lanes, located ? &loc[j] : &pos[j], &rd) != TSR_OK)
                fail_msg("open_lanes_at chunk %d: %s", j, tsr_error_msg());
            reads_drain(rd, &got);
            tsr_reader_close(&rd);
            reads_expect(&got, &want, first[j]);
            reads_free(&got);
        }

    /* lanes must agree on paired / single-end */
    tsr_lane_t mixed[2] = {{f->fq1, f->fq2, NULL, NULL}, {f->fq1, NULL, NULL, NULL}};
    tsr_error_clear();
    assert_int_equal(tsr_reader_open_lanes(2, mixed, &rd), TSR_ERR_FORMAT);
    assert_null(rd);
    const char *msg = tsr_error_msg();
    if (!strstr(msg, "(lane 2) is single-end but") || !strstr(msg, "all be paired or all single-end"))
        fail_msg("message: %s", msg);
    tsr_stream_pos_t bad = {5, {{0}, {0}}};
    tsr_error_clear();
    assert_int_equal(tsr_reader_open_lanes_at(3, lanes, &bad, &rd), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), "lane 6 but the sample has 3"));

    reads_free(&want);
    free(loc);
    free(pos);
    free(first);
    free(bam);
    free(g1);
    free(g2);
}

int main(void)
{
    hts_set_log_level(HTS_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paired_bam_and_cram),
        cmocka_unit_test(test_single_end),
        cmocka_unit_test(test_samtools_import),
        cmocka_unit_test(test_reverse_flag),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_lanes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
