/*
 * read_source.c - the read-source front end and its FASTQ back end.
 *
 * Front end: tsr_reader_t reads a sample's lanes one after the other as one
 * stream. Each lane is read by a back end (io_internal.h) chosen by content:
 * unaligned BAM/CRAM (htslib's format detection) goes to io/read_hts.c,
 * anything else to FASTQ. A stream position is (lane, the back end's file
 * positions), so fixed read-pair chunks may cross lane boundaries; a
 * position at the end of a lane reads on into the next one.
 *
 * FASTQ back end: zlib's gzread reads plain, gzip and BGZF (multi-member gzip)
 * files alike; records are parsed with our own buffered line reader, strictly
 * four lines per record. Names lose everything after the first whitespace and
 * a trailing /1 or /2. Bases are upper-cased, anything but ACGT becomes N.
 */
#include "io/io_internal.h"

#include <ctype.h>
#include <errno.h>
#include <htslib/hfile.h>
#include <htslib/hts.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { FQ_BUF_SIZE = 1 << 17 };

struct tsr_reader {
    int n_lanes, lane;        /* lanes of the stream and the one being read */
    char **path1, **path2;    /* per lane (path2[i] NULL when lane i is one file) */
    int segments;             /* 1 or 2, the same for every lane */
    const tsr_reader_backend_t *be; /* the current lane's back end and state */
    void *state;
};

/* ------------------------------------------------------------ FASTQ files */

typedef struct fq_file {
    char *path;
    gzFile gz;
    char *buf;
    int buf_len, buf_pos, eof;
    int64_t rec, line;
    int64_t uoff; /* uncompressed bytes consumed by the lines read so far */
    tsr_str_t name, seq, plus, qual;
} fq_file_t;

typedef struct fq_state {
    fq_file_t *f1, *f2;
} fq_state_t;

static void fq_file_close(fq_file_t **fp)
{
    fq_file_t *f = *fp;
    if (!f)
        return;
    if (f->gz)
        gzclose(f->gz);
    free(f->buf);
    free(f->path);
    tsr_str_free(&f->name);
    tsr_str_free(&f->seq);
    tsr_str_free(&f->plus);
    tsr_str_free(&f->qual);
    free(f);
    *fp = NULL;
}

static tsr_status_t fq_file_open(const char *path, fq_file_t **out)
{
    *out = NULL;
    fq_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path)) || !(f->buf = malloc(FQ_BUF_SIZE))) {
        fq_file_close(&f);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path);
    }
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz) {
        tsr_status_t s = tsr_error_set(TSR_ERR_IO, "cannot open FASTQ '%s': %s", path,
                                       errno ? strerror(errno) : "out of memory");
        fq_file_close(&f);
        return s;
    }
    gzbuffer(f->gz, FQ_BUF_SIZE);
    *out = f;
    return TSR_OK;
}

/* Read one line (without "\n" or "\r\n") into `s`: 1 line, 0 end of file, -2 error. */
static int fq_line(fq_file_t *f, tsr_str_t *s)
{
    s->l = 0;
    if (s->s)
        s->s[0] = '\0';
    int got = 0;
    for (;;) {
        if (f->buf_pos == f->buf_len) {
            if (f->eof)
                break;
            int n = gzread(f->gz, f->buf, FQ_BUF_SIZE);
            if (n < 0) {
                int zerr;
                const char *msg = gzerror(f->gz, &zerr);
                tsr_error_set(TSR_ERR_IO, "cannot read FASTQ '%s' near line %" PRId64 ": %s; the file may be "
                              "damaged or not fully copied",
                              f->path, f->line + 1, zerr == Z_ERRNO ? strerror(errno) : msg);
                return -2;
            }
            f->buf_pos = 0;
            f->buf_len = n;
            if (n == 0) {
                /* zlib reports a gzip/BGZF stream cut short only once its data is used up. */
                int zerr = Z_OK;
                gzerror(f->gz, &zerr);
                if (zerr == Z_BUF_ERROR) {
                    tsr_error_set(TSR_ERR_FORMAT,
                                  "%s: the compressed stream ends early (truncated gzip/BGZF) after line %" PRId64
                                  "; the file is incomplete, copy or download it again",
                                  f->path, f->line);
                    return -2;
                }
                f->eof = 1;
                break;
            }
        }
        got = 1;
        char *start = f->buf + f->buf_pos;
        int avail = f->buf_len - f->buf_pos;
        char *nl = memchr(start, '\n', (size_t)avail);
        int take = nl ? (int)(nl - start) : avail;
        if (tsr_str_putn(s, start, (size_t)take) != 0) {
            tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", f->path);
            return -2;
        }
        f->buf_pos += take + (nl ? 1 : 0);
        f->uoff += take + (nl ? 1 : 0);
        if (nl)
            break;
    }
    if (!got)
        return 0;
    if (tsr_str_putn(s, "", 0) != 0) {
        tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", f->path);
        return -2;
    }
    if (s->l > 0 && s->s[s->l - 1] == '\r')
        s->s[--s->l] = '\0';
    f->line++;
    return 1;
}

static int fq_truncated(const fq_file_t *f, const char *what)
{
    tsr_error_set(TSR_ERR_FORMAT,
                  "%s record %" PRId64 ": truncated record, the file ends before its %s line; the file may "
                  "be incomplete (copy or download it again)",
                  f->path, f->rec, what);
    return -2;
}

/* Read one 4-line record into `r`: 1, 0 at the end, -2 on error. */
static int fq_read(fq_file_t *f, tsr_read_t *r)
{
    int rc;
    do { /* blank lines between or after records are tolerated */
        if ((rc = fq_line(f, &f->name)) <= 0)
            return rc;
    } while (f->name.l == 0);
    f->rec++;
    if (f->name.s[0] != '@') {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 " (line %" PRId64 "): expected a header line starting with '@'; "
                      "is this FASTQ with exactly 4 lines per record (multi-line FASTQ is not supported)?",
                      f->path, f->rec, f->line);
        return -2;
    }
    if ((rc = fq_line(f, &f->seq)) <= 0)
        return rc < 0 ? rc : fq_truncated(f, "sequence");
    if ((rc = fq_line(f, &f->plus)) <= 0)
        return rc < 0 ? rc : fq_truncated(f, "'+'");
    if (f->plus.l == 0 || f->plus.s[0] != '+') {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 " (line %" PRId64 "): expected the '+' separator line; is this FASTQ "
                      "with exactly 4 lines per record (multi-line FASTQ is not supported)?",
                      f->path, f->rec, f->line);
        return -2;
    }
    if ((rc = fq_line(f, &f->qual)) <= 0)
        return rc < 0 ? rc : fq_truncated(f, "quality");
    if (f->qual.l != f->seq.l) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "%s record %" PRId64 " (line %" PRId64 "): the sequence has %zu bases but the quality "
                      "string has %zu characters; the file is damaged (check how it was produced)",
                      f->path, f->rec, f->line, f->seq.l, f->qual.l);
        return -2;
    }
    if (f->seq.l > INT32_MAX) {
        tsr_error_set(TSR_ERR_FORMAT, "%s record %" PRId64 ": read longer than 2^31 bases", f->path, f->rec);
        return -2;
    }
    for (size_t i = 0; i < f->qual.l; i++) {
        unsigned char q = (unsigned char)f->qual.s[i];
        if (q < 33 || q > 126) {
            tsr_error_set(TSR_ERR_FORMAT,
                          "%s record %" PRId64 " (line %" PRId64 "): quality character %zu is not phred+33 "
                          "(byte %u); convert the file to Sanger/Illumina 1.8+ qualities",
                          f->path, f->rec, f->line, i + 1, q);
            return -2;
        }
    }
    for (size_t i = 0; i < f->seq.l; i++) {
        char c = (char)toupper((unsigned char)f->seq.s[i]);
        f->seq.s[i] = (c == 'A' || c == 'C' || c == 'G' || c == 'T') ? c : 'N';
    }
    char *name = f->name.s + 1;
    tsr_read_name_trim(name);
    r->name = name;
    r->seq = f->seq.s;
    r->qual = f->qual.s;
    r->len = (int)f->seq.l;
    return 1;
}

static void fq_close(void *state)
{
    fq_state_t *st = state;
    if (!st)
        return;
    fq_file_close(&st->f1);
    fq_file_close(&st->f2);
    free(st);
}

static tsr_status_t fq_open(const char *path1, const char *path2, void **state)
{
    *state = NULL;
    fq_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path1);
    tsr_status_t s = fq_file_open(path1, &st->f1);
    if (s == TSR_OK && path2)
        s = fq_file_open(path2, &st->f2);
    if (s != TSR_OK) {
        fq_close(st);
        return s;
    }
    *state = st;
    return TSR_OK;
}

static int fq_next(void *state, tsr_read_t *r1, tsr_read_t *r2)
{
    fq_state_t *st = state;
    int rc1 = fq_read(st->f1, r1);
    if (rc1 < 0 || !st->f2)
        return rc1;
    int rc2 = fq_read(st->f2, r2);
    if (rc2 < 0)
        return rc2;
    if (rc1 != rc2) {
        const fq_file_t *shorter = rc1 ? st->f2 : st->f1, *longer = rc1 ? st->f1 : st->f2;
        tsr_error_set(TSR_ERR_FORMAT,
                      "'%s' ends after %" PRId64 " records but '%s' has more; paired FASTQ files must hold the "
                      "same reads in the same order",
                      shorter->path, shorter->rec, longer->path);
        return -2;
    }
    if (rc1 && strcmp(r1->name, r2->name) != 0) {
        tsr_error_set(TSR_ERR_FORMAT,
                      "record %" PRId64 ": read name '%s' in '%s' does not match '%s' in '%s'; paired FASTQ "
                      "files must list mates in the same order",
                      st->f1->rec, r1->name, st->f1->path, r2->name, st->f2->path);
        return -2;
    }
    return rc1;
}

static int fq_segments(const void *state)
{
    const fq_state_t *st = state;
    return st->f2 ? 2 : 1;
}

static void fq_tell(const void *state, tsr_read_pos_t pos[2])
{
    const fq_state_t *st = state;
    const fq_file_t *f[2] = {st->f1, st->f2};
    memset(pos, 0, 2 * sizeof *pos);
    for (int k = 0; k < 2; k++)
        if (f[k]) /* bytes read ahead into buf are not consumed yet: uoff counts the lines parsed */
            pos[k] = (tsr_read_pos_t){f[k]->uoff, -1, 0, f[k]->rec, f[k]->line};
}

/* Size of the BGZF block at `c` and its uncompressed size: 1, 0 at the end, -1 not BGZF. */
static int bgzf_block(FILE *fp, int64_t c, int64_t *bsize, int64_t *isize)
{
    unsigned char h[18 + 64];
    if (fseeko(fp, (off_t)c, SEEK_SET) != 0)
        return -1;
    size_t n = fread(h, 1, 12, fp);
    if (n == 0)
        return 0;
    if (n < 12 || h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || !(h[3] & 4))
        return -1;
    int xlen = h[10] | h[11] << 8;
    if (xlen < 6 || xlen > 64 || fread(h + 12, 1, (size_t)xlen, fp) != (size_t)xlen)
        return -1;
    for (int i = 12; i + 4 <= 12 + xlen;) {
        int slen = h[i + 2] | h[i + 3] << 8;
        if (h[i] == 'B' && h[i + 1] == 'C' && slen == 2 && i + 6 <= 12 + xlen) {
            *bsize = (int64_t)(h[i + 4] | h[i + 5] << 8) + 1;
            unsigned char t[4];
            if (fseeko(fp, (off_t)(c + *bsize - 4), SEEK_SET) != 0 || fread(t, 1, 4, fp) != 4)
                return -1;
            *isize = (int64_t)t[0] | (int64_t)t[1] << 8 | (int64_t)t[2] << 16 | (int64_t)t[3] << 24;
            return 1;
        }
        i += 4 + slen;
    }
    return -1;
}

static tsr_status_t fq_locate(const char *path, int n, tsr_read_pos_t *pos, int *direct)
{
    *direct = 0;
    for (int i = 0; i < n; i++)
        pos[i].coff = -1, pos[i].within = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot open read file '%s': %s", path, strerror(errno));
    int64_t c = 0, u = 0, bsize = 0, isize = 0;
    int i = 0, rc = 0;
    while (i < n && (rc = bgzf_block(fp, c, &bsize, &isize)) == 1) {
        while (i < n && pos[i].uoff < u + isize) {
            pos[i].coff = c;
            pos[i].within = pos[i].uoff - u;
            i++;
        }
        c += bsize;
        u += isize;
    }
    fclose(fp);
    /* the end of the data (a chunk that starts where a lane ends) is the end of the file */
    while (rc == 0 && i < n && pos[i].uoff == u) {
        pos[i].coff = c;
        pos[i].within = 0;
        i++;
    }
    if (i < n || rc < 0) { /* not BGZF throughout (or offsets past the end): skip by decompressing */
        for (int j = 0; j < n; j++)
            pos[j].coff = -1, pos[j].within = 0;
        return TSR_OK;
    }
    *direct = 1;
    return TSR_OK;
}

static tsr_status_t fq_file_seek(fq_file_t *f, const tsr_read_pos_t *p)
{
    if (p->coff >= 0) {
        /* a BGZF block is a gzip member: start zlib at it and skip inside the block */
        int fd = open(f->path, O_RDONLY);
        if (fd < 0)
            return tsr_error_set(TSR_ERR_IO, "cannot open FASTQ '%s': %s", f->path, strerror(errno));
        if (lseek(fd, (off_t)p->coff, SEEK_SET) < 0) {
            close(fd);
            return tsr_error_set(TSR_ERR_IO, "cannot seek in FASTQ '%s': %s", f->path, strerror(errno));
        }
        gzFile gz = gzdopen(fd, "rb");
        if (!gz) {
            close(fd);
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", f->path);
        }
        gzclose(f->gz);
        f->gz = gz;
        gzbuffer(f->gz, FQ_BUF_SIZE);
        if (p->within > 0 && gzseek(f->gz, (z_off_t)p->within, SEEK_SET) < 0)
            return tsr_error_set(TSR_ERR_FORMAT, "%s: cannot reach byte %" PRId64 " of the data; the file changed "
                                 "since it was indexed or is damaged", f->path, p->uoff);
    } else if (p->uoff > 0 && gzseek(f->gz, (z_off_t)p->uoff, SEEK_SET) < 0) {
        return tsr_error_set(TSR_ERR_FORMAT, "%s: cannot reach byte %" PRId64 " of the data; the file changed "
                             "since it was indexed or is damaged", f->path, p->uoff);
    }
    f->buf_pos = f->buf_len = 0;
    f->eof = 0;
    f->uoff = p->uoff;
    f->rec = p->rec;
    f->line = p->line;
    return TSR_OK;
}

static tsr_status_t fq_seek(void *state, const tsr_read_pos_t pos[2])
{
    fq_state_t *st = state;
    TSR_CALL(fq_file_seek(st->f1, &pos[0]));
    if (st->f2)
        TSR_CALL(fq_file_seek(st->f2, &pos[1]));
    return TSR_OK;
}

const tsr_reader_backend_t tsr_fastq_backend = {"fastq",  fq_open,   fq_segments, fq_next,
                                                fq_tell,  fq_seek,   fq_locate,   fq_close};

/* -------------------------------------------------------------- front end */

/* The back end for `path`: unaligned BAM/CRAM by content, anything else FASTQ (which reports bad bytes). */
static tsr_status_t backend_for(const char *path, const tsr_reader_backend_t **be)
{
    errno = 0;
    hFILE *h = hopen(path, "r");
    if (!h)
        return tsr_error_set(TSR_ERR_IO, "cannot open read file '%s': %s", path,
                             errno ? strerror(errno) : "out of memory");
    htsFormat fmt;
    int rc = hts_detect_format(h, &fmt);
    if (hclose(h) != 0 && rc == 0)
        rc = -1;
    if (rc == 0 && fmt.format == sam)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "'%s' is SAM text; as read input give unaligned BAM/CRAM (samtools view -b) or FASTQ, "
                             "an aligned file goes in the sheet's 'bam' column",
                             path);
    *be = rc == 0 && (fmt.format == bam || fmt.format == cram) ? &tsr_hts_backend : &tsr_fastq_backend;
    return TSR_OK;
}

/* Open lane `i` of r as its current lane (the previous one closed). */
static tsr_status_t lane_open(tsr_reader_t *r, int i)
{
    if (r->state)
        r->be->close(r->state);
    r->state = NULL;
    r->lane = i;
    TSR_CALL(backend_for(r->path1[i], &r->be));
    if (r->path2[i]) {
        const tsr_reader_backend_t *be2;
        TSR_CALL(backend_for(r->path2[i], &be2));
        if (r->be == &tsr_hts_backend || be2 == &tsr_hts_backend)
            return tsr_error_set(TSR_ERR_FORMAT,
                                 "'%s' is unaligned BAM/CRAM, which holds both reads of each pair in one file: "
                                 "name it in fastq1 and leave fastq2 empty (it has '%s')",
                                 r->be == &tsr_hts_backend ? r->path1[i] : r->path2[i],
                                 r->be == &tsr_hts_backend ? r->path2[i] : r->path1[i]);
    }
    TSR_CALL(r->be->open(r->path1[i], r->path2[i], &r->state));
    int seg = r->be->segments(r->state);
    if (i > 0 && seg != r->segments)
        return tsr_error_set(TSR_ERR_FORMAT,
                             "'%s' (lane %d) is %s but '%s' (lane 1) is %s; the lanes of a sample must all be "
                             "paired or all single-end",
                             r->path1[i], i + 1, seg == 2 ? "paired" : "single-end", r->path1[0],
                             r->segments == 2 ? "paired" : "single-end");
    r->segments = seg;
    return TSR_OK;
}

/* Open every lane once to learn and check their segments, then leave lane `start` open. */
static tsr_status_t reader_create(int n_lanes, const char *const *p1, const char *const *p2, int start,
                                  tsr_reader_t **out)
{
    *out = NULL;
    if (n_lanes < 1 || start < 0 || start >= n_lanes)
        return tsr_error_set(TSR_ERR_INTERNAL, "reader: lane %d of %d", start, n_lanes);
    tsr_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", p1[0]);
    r->n_lanes = n_lanes;
    r->path1 = calloc((size_t)n_lanes, sizeof *r->path1);
    r->path2 = calloc((size_t)n_lanes, sizeof *r->path2);
    tsr_status_t s = r->path1 && r->path2 ? TSR_OK : TSR_ERR_NOMEM;
    for (int i = 0; i < n_lanes && s == TSR_OK; i++)
        if (!(r->path1[i] = strdup(p1[i])) || (p2[i] && !(r->path2[i] = strdup(p2[i]))))
            s = TSR_ERR_NOMEM;
    if (s != TSR_OK)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", p1[0]);
    for (int i = 0; i < n_lanes && s == TSR_OK; i++)
        s = lane_open(r, i);
    if (s == TSR_OK && start != n_lanes - 1)
        s = lane_open(r, start);
    if (s != TSR_OK) {
        tsr_reader_close(&r);
        return s;
    }
    *out = r;
    return TSR_OK;
}

tsr_status_t tsr_reader_open(const char *path1, const char *path2, tsr_reader_t **r)
{
    const char *p1[1] = {path1}, *p2[1] = {path2};
    return reader_create(1, p1, p2, 0, r);
}

/* The lanes' paths as two arrays (*p1 freed by the caller; *p2 points into it). */
static tsr_status_t lane_paths(int n_lanes, const tsr_lane_t *lanes, const char ***p1, const char ***p2)
{
    *p1 = calloc(n_lanes > 0 ? 2 * (size_t)n_lanes : 1, sizeof **p1);
    if (!*p1)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening the lanes of %s", lanes[0].fastq1);
    *p2 = *p1 + n_lanes;
    for (int i = 0; i < n_lanes; i++) {
        (*p1)[i] = lanes[i].fastq1;
        (*p2)[i] = lanes[i].fastq2;
    }
    return TSR_OK;
}

tsr_status_t tsr_reader_open_lanes(int n_lanes, const tsr_lane_t *lanes, tsr_reader_t **r)
{
    *r = NULL;
    const char **p1 = NULL, **p2 = NULL;
    TSR_CALL(lane_paths(n_lanes, lanes, &p1, &p2));
    tsr_status_t s = reader_create(n_lanes, p1, p2, 0, r);
    free(p1);
    return s;
}

int tsr_reader_segments(const tsr_reader_t *r)
{
    return r->segments;
}

int tsr_reader_next(tsr_reader_t *r, tsr_read_t *r1, tsr_read_t *r2)
{
    if (!r->state) /* the next lane failed to open: its message was recorded then */
        return -2;
    for (;;) {
        int rc = r->be->next(r->state, r1, r2);
        if (rc != 0 || r->lane + 1 == r->n_lanes) {
            if (rc > 0) {
                r1->lane = r->lane;
                if (r->segments == 2)
                    r2->lane = r->lane;
            }
            return rc;
        }
        if (lane_open(r, r->lane + 1) != TSR_OK)
            return -2;
    }
}

void tsr_reader_tell(const tsr_reader_t *r, tsr_read_pos_t pos[2])
{
    r->be->tell(r->state, pos);
}

void tsr_reader_tell_stream(const tsr_reader_t *r, tsr_stream_pos_t *pos)
{
    pos->lane = r->lane;
    r->be->tell(r->state, pos->file);
}

tsr_status_t tsr_reader_locate(const char *path, int n, tsr_read_pos_t *pos, int *is_bgzf)
{
    *is_bgzf = 0;
    const tsr_reader_backend_t *be = NULL;
    TSR_CALL(backend_for(path, &be));
    return be->locate(path, n, pos, is_bgzf);
}

tsr_status_t tsr_reader_locate_lanes(int n_lanes, const tsr_lane_t *lanes, int n, tsr_stream_pos_t *pos,
                                     int *n_direct)
{
    *n_direct = 0;
    tsr_read_pos_t *col = calloc(n > 0 ? (size_t)n : 1, sizeof *col);
    if (!col)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory locating chunks of %s", lanes[0].fastq1);
    tsr_status_t s = TSR_OK;
    for (int j0 = 0, j1; j0 < n && s == TSR_OK; j0 = j1) {
        int64_t lane = pos[j0].lane;
        for (j1 = j0; j1 < n && pos[j1].lane == lane; j1++)
            ;
        if (lane < 0 || lane >= n_lanes) {
            s = tsr_error_set(TSR_ERR_INTERNAL, "position in lane %" PRId64 " of %d", lane, n_lanes);
            break;
        }
        const char *files[2] = {lanes[lane].fastq1, lanes[lane].fastq2};
        for (int k = 0; k < 2 && s == TSR_OK; k++) {
            if (!files[k])
                continue;
            int direct = 0;
            for (int j = j0; j < j1; j++)
                col[j - j0] = pos[j].file[k];
            s = tsr_reader_locate(files[k], j1 - j0, col, &direct);
            for (int j = j0; j < j1 && s == TSR_OK; j++)
                pos[j].file[k] = col[j - j0];
        }
    }
    for (int j = 0; j < n && s == TSR_OK; j++) {
        const tsr_lane_t *l = &lanes[pos[j].lane];
        *n_direct += pos[j].file[0].coff >= 0 && (!l->fastq2 || pos[j].file[1].coff >= 0);
    }
    free(col);
    return s;
}

tsr_status_t tsr_reader_open_at(const char *path1, const char *path2, const tsr_read_pos_t pos[2],
                                tsr_reader_t **r)
{
    TSR_CALL(tsr_reader_open(path1, path2, r));
    tsr_status_t s = (*r)->be->seek((*r)->state, pos);
    if (s != TSR_OK)
        tsr_reader_close(r);
    return s;
}

tsr_status_t tsr_reader_open_lanes_at(int n_lanes, const tsr_lane_t *lanes, const tsr_stream_pos_t *pos,
                                      tsr_reader_t **r)
{
    *r = NULL;
    if (pos->lane < 0 || pos->lane >= n_lanes)
        return tsr_error_set(TSR_ERR_FORMAT, "a chunk starts in lane %" PRId64 " but the sample has %d; the sample "
                             "sheet changed since the chunks were indexed, rerun with a new --out", pos->lane + 1,
                             n_lanes);
    const char **p1 = NULL, **p2 = NULL;
    TSR_CALL(lane_paths(n_lanes, lanes, &p1, &p2));
    tsr_status_t s = reader_create(n_lanes, p1, p2, (int)pos->lane, r);
    free(p1);
    if (s == TSR_OK && (s = (*r)->be->seek((*r)->state, pos->file)) != TSR_OK)
        tsr_reader_close(r);
    return s;
}

void tsr_reader_close(tsr_reader_t **r)
{
    if (!r || !*r)
        return;
    tsr_reader_t *rd = *r;
    if (rd->state)
        rd->be->close(rd->state);
    for (int i = 0; i < rd->n_lanes; i++) {
        if (rd->path1)
            free(rd->path1[i]);
        if (rd->path2)
            free(rd->path2[i]);
    }
    free(rd->path1);
    free(rd->path2);
    free(rd);
    *r = NULL;
}
