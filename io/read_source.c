/*
 * read_source.c - the read-source front end and its FASTQ back end.
 *
 * Front end: tsr_reader_t holds a back-end table (io_internal.h) and the back
 * end's state; tsr_reader_open() sniffs the first file to choose the back end.
 * Unaligned BAM/CRAM is recognised and refused with a clear message until its
 * back end exists.
 *
 * FASTQ back end: zlib's gzread reads plain, gzip and BGZF (multi-member gzip)
 * files alike; records are parsed with our own buffered line reader, strictly
 * four lines per record. Names lose everything after the first whitespace and
 * a trailing /1 or /2. Bases are upper-cased, anything but ACGT becomes N.
 */
#include "io/io_internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { FQ_BUF_SIZE = 1 << 17 };

struct tsr_reader {
    const tsr_reader_backend_t *be;
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
    size_t n = strcspn(name, " \t");
    name[n] = '\0';
    if (n >= 2 && name[n - 2] == '/' && (name[n - 1] == '1' || name[n - 1] == '2'))
        name[n - 2] = '\0';
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

const tsr_reader_backend_t tsr_fastq_backend = {"fastq", fq_open, fq_next, fq_close};

/* -------------------------------------------------------------- front end */

/* Refuse unaligned BAM/CRAM (no back end yet) with a clear message; anything else goes to FASTQ. */
static tsr_status_t choose_backend(const char *path, const tsr_reader_backend_t **be)
{
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return tsr_error_set(TSR_ERR_IO, "cannot open read file '%s': %s", path,
                             errno ? strerror(errno) : "out of memory");
    unsigned char magic[4] = {0};
    int n = gzread(gz, magic, sizeof magic);
    gzclose(gz);
    if (n == 4 && (memcmp(magic, "BAM\1", 4) == 0 || memcmp(magic, "CRAM", 4) == 0))
        return tsr_error_set(TSR_ERR_FORMAT,
                             "'%s' is BAM/CRAM: unaligned BAM/CRAM read input is not supported yet; convert it "
                             "to FASTQ (samtools fastq) or list aligned files in the sheet's 'bam' column",
                             path);
    *be = &tsr_fastq_backend;
    return TSR_OK;
}

tsr_status_t tsr_reader_open(const char *path1, const char *path2, tsr_reader_t **r)
{
    *r = NULL;
    const tsr_reader_backend_t *be = NULL;
    TSR_CALL(choose_backend(path1, &be));
    tsr_reader_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path1);
    rd->be = be;
    tsr_status_t s = be->open(path1, path2, &rd->state);
    if (s != TSR_OK) {
        free(rd);
        return s;
    }
    *r = rd;
    return TSR_OK;
}

int tsr_reader_next(tsr_reader_t *r, tsr_read_t *r1, tsr_read_t *r2)
{
    return r->be->next(r->state, r1, r2);
}

/*
 * Chunk positions. Only the FASTQ back end has positions today, so the front
 * end reaches its state directly; a back end without positions would add
 * tell/seek entries to tsr_reader_backend_t.
 */
void tsr_reader_tell(const tsr_reader_t *r, tsr_read_pos_t pos[2])
{
    memset(pos, 0, 2 * sizeof *pos);
    if (r->be != &tsr_fastq_backend)
        return;
    const fq_state_t *st = r->state;
    const fq_file_t *f[2] = {st->f1, st->f2};
    for (int k = 0; k < 2; k++) {
        if (!f[k])
            continue;
        /* bytes read ahead into buf are not consumed yet */
        pos[k] = (tsr_read_pos_t){f[k]->uoff, -1, 0, f[k]->rec, f[k]->line};
    }
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

tsr_status_t tsr_reader_locate(const char *path, int n, tsr_read_pos_t *pos, int *is_bgzf)
{
    *is_bgzf = 0;
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
    if (i < n || rc < 0) { /* not BGZF throughout (or offsets past the end): skip by decompressing */
        for (int j = 0; j < n; j++)
            pos[j].coff = -1, pos[j].within = 0;
        return TSR_OK;
    }
    *is_bgzf = 1;
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

tsr_status_t tsr_reader_open_at(const char *path1, const char *path2, const tsr_read_pos_t pos[2],
                                tsr_reader_t **r)
{
    TSR_CALL(tsr_reader_open(path1, path2, r));
    if ((*r)->be != &tsr_fastq_backend)
        return TSR_OK;
    fq_state_t *st = (*r)->state;
    tsr_status_t s = fq_file_seek(st->f1, &pos[0]);
    if (s == TSR_OK && st->f2)
        s = fq_file_seek(st->f2, &pos[1]);
    if (s != TSR_OK)
        tsr_reader_close(r);
    return s;
}

void tsr_reader_close(tsr_reader_t **r)
{
    if (!r || !*r)
        return;
    (*r)->be->close((*r)->state);
    free(*r);
    *r = NULL;
}
