/*
 * read_hts.c - the unaligned BAM/CRAM back end of the reader (io_internal.h).
 *
 * Reads as `samtools import` and Picard FastqToSam write them: every record
 * unmapped (flag 0x4); a paired file holds each pair as two consecutive
 * records, read 1 (0x40) then read 2 (0x80), with the same name; a
 * single-end file holds unpaired records. Whether a file is paired is decided
 * by its first record, and every record must agree. Secondary and
 * supplementary records (0x900) are skipped, as `samtools fastq` does. A
 * record flagged reverse (0x10) holds SEQ/QUAL reverse-complemented: the
 * reader restores the sequencing orientation.
 *
 * The back end reads one record ahead, so the segment count is known at open
 * and tell is the position of the record read ahead.
 *
 * Positions (tsr_read_pos_t):
 *   BAM:  the BGZF virtual offset (bgzf_tell) of the record, coff << 16 |
 *         within, exact and deterministic; seek is bgzf_seek.
 *   CRAM: htslib offers no record-level tell for CRAM, so a position is the
 *         record index (uoff = rec). locate turns it into the byte offset of
 *         the container holding it (coff) and the records before it in that
 *         container (within) by walking the container headers, no decoding
 *         (our own ITF8/LTF8 reader, CRAM 2.1 and 3.x); seek is cram_seek to
 *         the container and decoding `within` records (at most one
 *         container). A position not located skips `rec` records from the
 *         start.
 */
#include "io/io_internal.h"

#include <errno.h>
#include <htslib/bgzf.h>
#include <htslib/cram.h>
#include <htslib/sam.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ubam_state {
    char *path;
    samFile *fp;
    sam_hdr_t *hdr;
    int is_cram;
    int segments;
    int64_t n_read;           /* records read from the file so far (read ahead included) */
    bam1_t *ahead;            /* the next record (ahead_rc == 1) */
    int ahead_rc;             /* 1 a record, 0 the end, -2 error (message set) */
    tsr_read_pos_t ahead_pos; /* where it starts */
    tsr_str_t name[2], seq[2], qual[2];
} ubam_state_t;

/* Read the next primary record into st->ahead, noting where it starts. */
static void ubam_fill_ahead(ubam_state_t *st)
{
    if (st->ahead_rc <= 0)
        return;
    for (;;) {
        tsr_read_pos_t p = {st->n_read, -1, 0, st->n_read, 0};
        if (!st->is_cram) {
            BGZF *bg = st->fp->fp.bgzf;
            int64_t v = bgzf_tell(bg);
            p.uoff = (int64_t)bgzf_utell(bg);
            p.coff = v >> 16;
            p.within = v & 0xffff;
        }
        int rc = sam_read1(st->fp, st->hdr, st->ahead);
        if (rc == -1) {
            st->ahead_pos = p;
            st->ahead_rc = 0;
            return;
        }
        if (rc < -1) {
            tsr_error_set(TSR_ERR_FORMAT,
                          "%s record %" PRId64 ": cannot decode the record; the file is truncated or damaged "
                          "(check it with samtools quickcheck, copy it again)",
                          st->path, st->n_read + 1);
            st->ahead_rc = -2;
            return;
        }
        st->n_read++;
        if (st->ahead->core.flag & (BAM_FSECONDARY | BAM_FSUPPLEMENTARY))
            continue;
        st->ahead_pos = p;
        st->ahead_rc = 1;
        return;
    }
}

static const char *pair_word(int segments)
{
    return segments == 2 ? "paired" : "single-end";
}

/* Copy record b (number recno, 1-based) into slot k as a read in sequencing orientation: 0 or -2. */
static int ubam_take(ubam_state_t *st, int k, const bam1_t *b, int64_t recno, tsr_read_t *r)
{
    uint16_t flag = b->core.flag;
    const char *qname = bam_get_qname(b);
    if (!(flag & BAM_FUNMAP)) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 ": read '%s' is aligned (flag 0x4 unset): the file is already aligned, "
                      "put it in the sheet's 'bam' column instead of fastq1",
                      st->path, recno, qname);
        return -2;
    }
    if ((flag & BAM_FPAIRED ? 2 : 1) != st->segments) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 ": read '%s' is %s but the file starts with %s reads; a file holds "
                      "pairs only or single-end reads only (split it, one line per part)",
                      st->path, recno, qname, pair_word(flag & BAM_FPAIRED ? 2 : 1), pair_word(st->segments));
        return -2;
    }
    int len = b->core.l_qseq;
    const uint8_t *q = bam_get_qual(b);
    if (len == 0) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 ": read '%s' has no sequence ('*'); remove the record or re-export the "
                      "reads with their bases",
                      st->path, recno, qname);
        return -2;
    }
    if (q[0] == 0xff) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 ": read '%s' has no base qualities ('*'); alignment and calling need "
                      "them, re-export the reads with their qualities",
                      st->path, recno, qname);
        return -2;
    }
    tsr_str_t *name = &st->name[k], *seq = &st->seq[k], *qual = &st->qual[k];
    name->l = seq->l = qual->l = 0;
    if (tsr_str_putn(name, qname, strlen(qname)) != 0 || tsr_str_reserve(seq, (size_t)len) != 0 ||
        tsr_str_reserve(qual, (size_t)len) != 0) {
        tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", st->path);
        return -2;
    }
    tsr_read_name_trim(name->s);
    const uint8_t *s = bam_get_seq(b);
    int rev = (flag & BAM_FREVERSE) != 0;
    for (int i = 0; i < len; i++) {
        int j = rev ? len - 1 - i : i;
        char c = seq_nt16_str[bam_seqi(s, j)];
        if (rev)
            c = tsr_base_complement(c);
        seq->s[i] = (c == 'A' || c == 'C' || c == 'G' || c == 'T') ? c : 'N';
        qual->s[i] = (char)(33 + (q[j] > 93 ? 93 : q[j]));
    }
    seq->s[len] = qual->s[len] = '\0';
    seq->l = qual->l = (size_t)len;
    r->name = name->s;
    r->seq = seq->s;
    r->qual = qual->s;
    r->len = len;
    return 0;
}

static int ubam_next(void *state, tsr_read_t *r1, tsr_read_t *r2)
{
    ubam_state_t *st = state;
    if (st->ahead_rc <= 0)
        return st->ahead_rc;
    int64_t recno = st->ahead_pos.rec + 1;
    uint16_t flag = st->ahead->core.flag;
    if (ubam_take(st, 0, st->ahead, recno, r1) != 0)
        return -2;
    if (st->segments == 2 && (!(flag & BAM_FREAD1) || (flag & BAM_FREAD2))) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 ": read '%s' is not a read 1 (flags 0x%x) where a pair starts; mates must "
                      "be consecutive, read 1 then read 2, as samtools import and Picard FastqToSam write them "
                      "(samtools collate or sort -n puts them together)",
                      st->path, recno, bam_get_qname(st->ahead), flag);
        return -2;
    }
    ubam_fill_ahead(st);
    if (st->segments == 1)
        return st->ahead_rc < 0 ? -2 : 1;
    if (st->ahead_rc < 0)
        return -2;
    const char *want = r1->name;
    if (st->ahead_rc == 0) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 ": read 1 '%s' is the last record, its read 2 is missing; the file may be "
                      "incomplete (copy it again) or the mate was filtered out",
                      st->path, recno, want);
        return -2;
    }
    int64_t recno2 = st->ahead_pos.rec + 1;
    const bam1_t *b = st->ahead;
    char name2[256];
    snprintf(name2, sizeof name2, "%s", bam_get_qname(b));
    tsr_read_name_trim(name2);
    if (!(b->core.flag & BAM_FREAD2) || (b->core.flag & BAM_FREAD1) || strcmp(name2, want) != 0) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 ": read 1 '%s' (record %" PRId64 ") is followed by '%s' (flags 0x%x), not "
                      "its read 2; mates must be consecutive, read 1 then read 2 with the same name (samtools "
                      "collate or sort -n puts them together)",
                      st->path, recno2, want, recno, bam_get_qname(b), b->core.flag);
        return -2;
    }
    if (ubam_take(st, 1, b, recno2, r2) != 0)
        return -2;
    ubam_fill_ahead(st);
    return st->ahead_rc < 0 ? -2 : 1;
}

static void ubam_file_close(ubam_state_t *st)
{
    if (st->hdr)
        sam_hdr_destroy(st->hdr);
    if (st->fp)
        sam_close(st->fp);
    st->hdr = NULL;
    st->fp = NULL;
}

static void ubam_close(void *state)
{
    ubam_state_t *st = state;
    if (!st)
        return;
    ubam_file_close(st);
    if (st->ahead)
        bam_destroy1(st->ahead);
    for (int k = 0; k < 2; k++) {
        tsr_str_free(&st->name[k]);
        tsr_str_free(&st->seq[k]);
        tsr_str_free(&st->qual[k]);
    }
    free(st->path);
    free(st);
}

/* Open the file and read its header (no record read). */
static tsr_status_t ubam_file_open(ubam_state_t *st)
{
    errno = 0;
    st->fp = sam_open(st->path, "r");
    if (!st->fp)
        return tsr_error_set(TSR_ERR_IO, "cannot open unaligned BAM/CRAM '%s': %s", st->path,
                             errno ? strerror(errno) : "not a readable BAM/CRAM file");
    st->is_cram = hts_get_format(st->fp)->format == cram;
    st->hdr = sam_hdr_read(st->fp);
    if (!st->hdr)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "%s: cannot read the BAM/CRAM header; the file is damaged or not BAM/CRAM (check it "
                             "with samtools quickcheck)",
                             st->path);
    st->n_read = 0;
    st->ahead_rc = 1;
    return TSR_OK;
}

static tsr_status_t cram_first_data_container(const char *path, int32_t *ref_id);

static tsr_status_t ubam_open(const char *path1, const char *path2, void **state)
{
    *state = NULL;
    if (path2)
        return tsr_error_set(TSR_ERR_USAGE, "'%s' is unaligned BAM/CRAM: leave fastq2 empty (it has '%s')", path1,
                             path2);
    ubam_state_t *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path1)) || !(st->ahead = bam_init1())) {
        ubam_close(st);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path1);
    }
    tsr_status_t s = ubam_file_open(st);
    int32_t ref_id = -1;
    if (s == TSR_OK && st->is_cram)
        s = cram_first_data_container(path1, &ref_id);
    if (s == TSR_OK && ref_id >= 0) /* decoding mapped CRAM would go looking for its reference */
        s = tsr_error_set(TSR_ERR_FORMAT,
                          "%s: the CRAM holds aligned reads (its first container is on reference sequence %d): "
                          "the file is already aligned, put it in the sheet's 'bam' column instead of fastq1",
                          path1, ref_id);
    if (s == TSR_OK) {
        ubam_fill_ahead(st);
        if (st->ahead_rc < 0)
            s = TSR_ERR_FORMAT;
        st->segments = st->ahead_rc == 1 && (st->ahead->core.flag & BAM_FPAIRED) ? 2 : 1;
    }
    if (s != TSR_OK) {
        ubam_close(st);
        return s;
    }
    *state = st;
    return TSR_OK;
}

static int ubam_segments(const void *state)
{
    const ubam_state_t *st = state;
    return st->segments;
}

static void ubam_tell(const void *state, tsr_read_pos_t pos[2])
{
    const ubam_state_t *st = state;
    memset(pos, 0, 2 * sizeof *pos);
    pos[0] = st->ahead_pos;
}

static tsr_status_t ubam_seek(void *state, const tsr_read_pos_t pos[2])
{
    ubam_state_t *st = state;
    const tsr_read_pos_t *p = &pos[0];
    ubam_file_close(st);
    TSR_CALL(ubam_file_open(st));
    int64_t skip = p->rec;
    if (p->coff >= 0 && !st->is_cram) {
        if (bgzf_seek(st->fp->fp.bgzf, p->coff << 16 | p->within, SEEK_SET) < 0)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s: cannot reach record %" PRId64 " (offset %" PRId64 "); the file changed since "
                                 "it was indexed or is damaged",
                                 st->path, p->rec + 1, p->coff);
        skip = 0;
    } else if (p->coff >= 0) {
        if (cram_seek(st->fp->fp.cram, (off_t)p->coff, SEEK_SET) != 0)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s: cannot reach the container at byte %" PRId64 "; the file changed since it was "
                                 "indexed or is damaged",
                                 st->path, p->coff);
        skip = p->within;
    }
    st->n_read = p->rec - skip;
    for (int64_t i = 0; i < skip; i++) {
        int rc = sam_read1(st->fp, st->hdr, st->ahead);
        if (rc < 0)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "%s: the file ends or is damaged before record %" PRId64 "; it changed since it was "
                                 "indexed, rerun with a new --out",
                                 st->path, p->rec + 1);
        st->n_read++;
    }
    ubam_fill_ahead(st);
    return st->ahead_rc < 0 ? TSR_ERR_FORMAT : TSR_OK;
}

static tsr_status_t bam_locate(const char *path, int n, tsr_read_pos_t *pos, int *direct)
{
    (void)path;
    *direct = 1;
    for (int i = 0; i < n; i++)
        if (pos[i].coff < 0)
            *direct = 0;
    return TSR_OK;
}

/* ------------------------------------------------------- CRAM containers */

/* One ITF8 (n_max 5) or LTF8 (n_max 9) integer from fp: 0, or -1 at the end of the file. */
static int cram_varint(FILE *fp, int n_max, int64_t *v)
{
    int b0 = getc(fp);
    if (b0 == EOF)
        return -1;
    int extra = 0;
    while (extra < 8 && (b0 << extra & 0x80))
        extra++;
    if (n_max == 5 && extra >= 4) { /* ITF8's fifth byte gives only its low 4 bits */
        uint32_t x = (uint32_t)(b0 & 0x0f);
        for (int i = 0; i < 4; i++) {
            int b = getc(fp);
            if (b == EOF)
                return -1;
            x = i < 3 ? x << 8 | (uint32_t)b : x << 4 | (uint32_t)(b & 0x0f);
        }
        *v = (int32_t)x;
        return 0;
    }
    uint64_t x = extra < 8 ? (uint64_t)(b0 & (0xff >> (extra + 1))) : 0;
    for (int i = 0; i < extra; i++) {
        int b = getc(fp);
        if (b == EOF)
            return -1;
        x = x << 8 | (uint64_t)b;
    }
    *v = n_max == 5 ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x;
    return 0;
}

typedef struct cram_walk {
    FILE *fp;
    int major;
    int64_t off; /* the next container's byte offset */
} cram_walk_t;

/* Open a CRAM for walking its containers: 0, or -1 when not CRAM 2.1/3.x (or unreadable). */
static int cram_walk_open(const char *path, cram_walk_t *w)
{
    unsigned char def[26];
    w->fp = fopen(path, "rb");
    if (!w->fp)
        return -1;
    if (fread(def, 1, sizeof def, w->fp) != sizeof def || memcmp(def, "CRAM", 4) != 0 ||
        (def[4] != 3 && !(def[4] == 2 && def[5] >= 1))) {
        fclose(w->fp);
        w->fp = NULL;
        return -1;
    }
    w->major = def[4];
    w->off = (int64_t)sizeof def;
    return 0;
}

/* The container at w->off: its reference id and record count; 1, 0 at the end, -1 damaged. */
static int cram_walk_next(cram_walk_t *w, int64_t *at, int32_t *ref_id, int64_t *n_records)
{
    unsigned char len4[4];
    if (fseeko(w->fp, (off_t)w->off, SEEK_SET) != 0)
        return -1;
    size_t got = fread(len4, 1, 4, w->fp);
    if (got == 0)
        return 0;
    if (got < 4)
        return -1;
    int64_t length = (int64_t)((uint32_t)len4[0] | (uint32_t)len4[1] << 8 | (uint32_t)len4[2] << 16 |
                               (uint32_t)len4[3] << 24);
    int64_t v[7], n_land;
    /* ref id, start, span, records, record counter, bases, blocks */
    static const int width[7] = {5, 5, 5, 5, 9, 9, 5};
    for (int i = 0; i < 7; i++)
        if (cram_varint(w->fp, i == 4 && w->major < 3 ? 5 : width[i], &v[i]) != 0)
            return -1;
    if (cram_varint(w->fp, 5, &n_land) != 0 || n_land < 0)
        return -1;
    for (int64_t i = 0; i < n_land; i++) {
        int64_t x;
        if (cram_varint(w->fp, 5, &x) != 0)
            return -1;
    }
    if (w->major >= 3 && fseeko(w->fp, 4, SEEK_CUR) != 0) /* CRC32 */
        return -1;
    off_t body = ftello(w->fp);
    if (body < 0 || length < 0 || v[3] < 0)
        return -1;
    *at = w->off;
    *ref_id = (int32_t)v[0];
    *n_records = v[3];
    w->off = (int64_t)body + length;
    return 1;
}

static tsr_status_t cram_first_data_container(const char *path, int32_t *ref_id)
{
    *ref_id = -1;
    cram_walk_t w;
    if (cram_walk_open(path, &w) != 0)
        return TSR_OK; /* htslib decides what it can read */
    int64_t at, n;
    int32_t id;
    while (cram_walk_next(&w, &at, &id, &n) == 1)
        if (n > 0) {
            *ref_id = id;
            break;
        }
    fclose(w.fp);
    return TSR_OK;
}

static tsr_status_t cram_locate(const char *path, int n, tsr_read_pos_t *pos, int *direct)
{
    *direct = 0;
    for (int i = 0; i < n; i++)
        pos[i].coff = -1, pos[i].within = 0;
    cram_walk_t w;
    if (cram_walk_open(path, &w) != 0)
        return TSR_OK; /* not a CRAM we can walk: positions skip records */
    int64_t base = 0, at = 0, n_rec = 0, end_at = -1;
    int32_t ref_id;
    int i = 0;
    while (i < n && cram_walk_next(&w, &at, &ref_id, &n_rec) == 1) {
        if (n_rec == 0) { /* the header container, or the EOF container after the data */
            if (end_at < 0)
                end_at = at;
            continue;
        }
        end_at = -1;
        for (; i < n && pos[i].rec >= base && pos[i].rec < base + n_rec; i++) {
            pos[i].coff = at;
            pos[i].within = pos[i].rec - base;
        }
        base += n_rec;
    }
    fclose(w.fp);
    /* a position at the end of the records (a chunk starting where the lane ends) reads the EOF container */
    for (; i < n && end_at >= 0 && pos[i].rec == base; i++) {
        pos[i].coff = end_at;
        pos[i].within = 0;
    }
    if (i < n) { /* past the end, not ascending, or a damaged container: every position skips records */
        for (int j = 0; j < n; j++)
            pos[j].coff = -1, pos[j].within = 0;
        return TSR_OK;
    }
    *direct = 1;
    return TSR_OK;
}

static tsr_status_t ubam_locate(const char *path, int n, tsr_read_pos_t *pos, int *direct)
{
    cram_walk_t w;
    if (cram_walk_open(path, &w) == 0) {
        fclose(w.fp);
        return cram_locate(path, n, pos, direct);
    }
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot open read file '%s': %s", path, strerror(errno));
    unsigned char m[4] = {0};
    size_t got = fread(m, 1, 4, fp);
    fclose(fp);
    if (got == 4 && memcmp(m, "CRAM", 4) == 0) { /* a CRAM version we do not walk */
        *direct = 0;
        for (int i = 0; i < n; i++)
            pos[i].coff = -1, pos[i].within = 0;
        return TSR_OK;
    }
    return bam_locate(path, n, pos, direct);
}

const tsr_reader_backend_t tsr_hts_backend = {"bam/cram", ubam_open, ubam_segments, ubam_next,
                                              ubam_tell,   ubam_seek, ubam_locate,   ubam_close};
