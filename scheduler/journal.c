/*
 * journal.c - the append-only record of finished tasks that makes runs
 * resumable.
 *
 * Format (text, one record per line, fields separated by tabs, every line
 * ending with the CRC32 of the bytes before its last tab, as 8 hex digits):
 *   TSRJ  <version>  <fingerprint>  <linecrc>             header, line 1
 *   D  <key>  <n>  <path1> <crc1> <digest1> ... <prev>  <linecrc>   task done
 * <crc> is the output's CRC32 as 8 hex digits; from version 3 on it may carry
 * the size and mtime (ns) the output had when it was checksummed,
 * "<crc32>:<size>:<mtime_ns>", so a resume trusts an output whose stat still
 * matches without re-reading it. Version 2 journals (no stat) are still read
 * and appended to in their own format; their outputs are re-read on resume.
 *   E  <key>  <status>  <message>  <prev>  <linecrc>     task failed
 *   H  sha256:<head>  <prev>  <linecrc>                   audit head of a finished run
 * <digest> is "sha256:<hex>" of the output's bytes (or "h5sha256:<hex>", a
 * stage's content digest); <prev> is the SHA-256 (hex) of the whole previous
 * line, checksum included, so the records form a hash chain from the header:
 * editing, removing or reordering a record breaks the link after it.
 * A last line without its newline is a write cut short by kill -9: dropped.
 * A line whose checksum or link does not match is damage: replay stops there
 * with a warning and the file is cut back to the last good record, so a
 * resumed run appends after good data only and the chain continues from it. Records are buffered and written with one
 * write(2) + fsync(2) per flush, which is what keeps the dispatcher fast when
 * many completions arrive together.
 */
#include "scheduler/scheduler_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/evp.h>

typedef struct tsr_journal_rec {
    char *key;
    int n;
    char **outputs;
    uint32_t *crc;
    char **digest;
    int64_t *size, *mtime_ns; /* -1: not recorded (version 2) */
} tsr_journal_rec_t;

struct tsr_journal {
    int fd;
    int readonly; /* opened by tsr_journal_open_readonly(): appends are refused */
    int version;  /* of the header: records are appended in its format */
    char *path;
    tsr_journal_rec_t *recs; /* kept by tsr_journal_open and tsr_journal_open_readonly only */
    int n_recs, cap_recs;
    char last_error[TSR_ERRMSG_MAX + 256];
    char *buf; /* queued, not yet written records */
    size_t len, cap;
    char prev[TSR_SHA256_HEX + 1]; /* SHA-256 of the last line written or replayed: the chain's end */
};

/* What a replay found; filled by tsr_journal_parse(). */
typedef struct tsr_journal_parse {
    char fingerprint[256];
    int have_header, version;
    size_t good_end; /* bytes of the file that hold valid lines */
    int n_done;
    char last_error[TSR_ERRMSG_MAX + 256];
    char prev[TSR_SHA256_HEX + 1]; /* SHA-256 of the last good line */
} tsr_journal_parse_t;

typedef tsr_status_t (*tsr_journal_rec_fn)(void *ctx, char **f, int nf);

static uint32_t tsr_crc_bytes(const char *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, (const Bytef *)p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

void tsr_sha256_hex(const unsigned char sha[32], char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[sha[i] >> 4];
        hex[2 * i + 1] = digits[sha[i] & 15];
    }
    hex[64] = '\0';
}

tsr_status_t tsr_sha256_bytes(const void *p, size_t n, char hex[TSR_SHA256_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed");
    tsr_sha256_hex(md, hex);
    return TSR_OK;
}

/* One read of the file feeds both the CRC32 (resume) and the SHA-256 (audit); sha may be NULL. */
tsr_status_t tsr_file_digest(const char *path, uint32_t *crc, unsigned char sha[32])
{
    return tsr_file_digest_stat(path, crc, sha, NULL);
}

tsr_status_t tsr_file_digest_stat(const char *path, uint32_t *crc, unsigned char sha[32], tsr_file_stat_t *fst)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    EVP_MD_CTX *md = sha ? EVP_MD_CTX_new() : NULL;
    if (!buf || (sha && !md)) {
        free(buf);
        EVP_MD_CTX_free(md);
        close(fd);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    tsr_status_t s = TSR_OK;
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to start for '%s'", path);
    uLong c = crc32(0L, Z_NULL, 0);
    while (s == TSR_OK) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            s = tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        c = crc32(c, buf, (uInt)r);
        if (md && EVP_DigestUpdate(md, buf, (size_t)r) != 1)
            s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed on '%s'", path);
    }
    unsigned int mdlen = 0;
    if (s == TSR_OK && md && (EVP_DigestFinal_ex(md, sha, &mdlen) != 1 || mdlen != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to finish '%s'", path);
    /* the stat of the very file read (after the read): what a resume compares instead of re-reading it */
    struct stat st;
    if (s == TSR_OK && fst && fstat(fd, &st) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    if (s == TSR_OK && fst) {
        fst->size = (int64_t)st.st_size;
        fst->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    free(buf);
    EVP_MD_CTX_free(md);
    close(fd);
    if (s == TSR_OK && crc)
        *crc = (uint32_t)c;
    return s;
}

tsr_status_t tsr_file_crc32(const char *path, uint32_t *crc) { return tsr_file_digest(path, crc, NULL); }

tsr_status_t tsr_file_sha256(const char *path, char digest[TSR_DIGEST_MAX])
{
    unsigned char sha[32];
    char hex[TSR_SHA256_HEX + 1];
    TSR_CALL(tsr_file_digest(path, NULL, sha));
    tsr_sha256_hex(sha, hex);
    snprintf(digest, TSR_DIGEST_MAX, "sha256:%s", hex);
    return TSR_OK;
}

/* The directory part of a journal path, for messages ("." when none). */
static void tsr_journal_dir(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

int tsr_journal_split(char *line, size_t n, char **f, int maxf)
{
    char *last = NULL;
    for (size_t i = n; i > 0; i--)
        if (line[i - 1] == '\t') {
            last = line + i - 1;
            break;
        }
    if (!last || line + n - last != 9)
        return -1;
    char hex[9];
    memcpy(hex, last + 1, 8);
    hex[8] = '\0';
    char *end = NULL;
    unsigned long want = strtoul(hex, &end, 16);
    if (*end || tsr_crc_bytes(line, (size_t)(last - line)) != (uint32_t)want)
        return -1;
    *last = '\0';
    int nf = 0;
    char *p = line;
    for (;;) {
        if (nf == maxf)
            return -1;
        f[nf++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return nf;
}

static int tsr_parse_u32hex(const char *s, uint32_t *v)
{
    char *end = NULL;
    if (strlen(s) != 8)
        return -1;
    unsigned long x = strtoul(s, &end, 16);
    if (*end)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

/*
 * An output's checksum field: "<crc32 hex8>" or "<crc32 hex8>:<size>:<mtime_ns>"
 * (size and mtime -1 when absent). 0 when well formed.
 */
static int tsr_parse_crc_field(const char *s, uint32_t *crc, int64_t *size, int64_t *mtime_ns)
{
    char hex[9];
    *size = *mtime_ns = -1;
    if (strlen(s) < 8)
        return -1;
    memcpy(hex, s, 8);
    hex[8] = '\0';
    if (tsr_parse_u32hex(hex, crc) != 0 || hex[0] == '-' || hex[0] == '+' || hex[0] == ' ')
        return -1;
    if (s[8] == '\0')
        return 0;
    if (s[8] != ':' || s[9] < '0' || s[9] > '9')
        return -1;
    char *end = NULL;
    long long sz = strtoll(s + 9, &end, 10);
    if (*end != ':' || end[1] < '0' || end[1] > '9')
        return -1;
    const char *m = end + 1;
    long long mt = strtoll(m, &end, 10);
    if (*end || sz < 0 || mt < 0)
        return -1;
    *size = sz;
    *mtime_ns = mt;
    return 0;
}

static int tsr_is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int tsr_digest_valid(const char *d)
{
    if (!strncmp(d, "sha256:", 7))
        return tsr_is_hex(d + 7, TSR_SHA256_HEX);
    if (!strncmp(d, "h5sha256:", 9))
        return tsr_is_hex(d + 9, TSR_SHA256_HEX);
    if (!strncmp(d, "runsha256:", 10))
        return tsr_is_hex(d + 10, TSR_SHA256_HEX);
    return 0;
}

int tsr_journal_rec_valid(char **f, int nf)
{
    if (nf < 2 || !tsr_is_hex(f[nf - 1], TSR_SHA256_HEX)) /* every record ends with its link */
        return 0;
    if (nf >= 4 && strcmp(f[0], "D") == 0) {
        char *end = NULL;
        long n = strtol(f[2], &end, 10);
        if (*end || n < 0 || nf != 4 + 3 * n)
            return 0;
        for (long k = 0; k < n; k++) {
            uint32_t c;
            int64_t sz, mt;
            if (tsr_parse_crc_field(f[4 + 3 * k], &c, &sz, &mt) != 0 || !tsr_digest_valid(f[5 + 3 * k]))
                return 0;
        }
        return 1;
    }
    if (nf == 3 && strcmp(f[0], "H") == 0)
        return !strncmp(f[1], "sha256:", 7) && tsr_is_hex(f[1] + 7, TSR_SHA256_HEX);
    return nf == 5 && strcmp(f[0], "E") == 0;
}

/*
 * Replay the journal at `path` a line at a time (the file is never held whole: at 5 million records it is
 * gigabytes): header into `po`, each good record to `fn`. Stops at the first damaged or truncated line, and
 * after the header when `want_fp` is given and the journal's fingerprint differs (the caller refuses it;
 * no record of another run reaches `fn`). *missing = 1 when there is no file.
 */
static tsr_status_t tsr_journal_parse(const char *path, const char *want_fp, tsr_journal_parse_t *po,
                                      tsr_journal_rec_fn fn, void *ctx, int *missing)
{
    memset(po, 0, sizeof *po);
    *missing = 0;
    FILE *fp = fopen(path, "re");
    if (!fp) {
        if (errno == ENOENT) {
            *missing = 1;
            return TSR_OK;
        }
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    size_t pos = 0, cap = 0;
    int lineno = 0;
    char *f[4096], *line = NULL;
    ssize_t got;
    tsr_status_t s = TSR_OK;
    while (s == TSR_OK && (got = getline(&line, &cap, fp)) > 0) {
        lineno++;
        if (line[got - 1] != '\n') {
            tsr_log_info("%s: dropping the unfinished last line %d (a write cut short)", path, lineno);
            break;
        }
        size_t n = (size_t)got - 1;
        line[n] = '\0';
        char link[TSR_SHA256_HEX + 1];
        s = tsr_sha256_bytes(line, n, link);
        if (s != TSR_OK)
            break;
        int nf = tsr_journal_split(line, n, f, (int)(sizeof f / sizeof *f));
        if (!po->have_header) {
            if (nf != 3 || strcmp(f[0], TSR_JOURNAL_MAGIC) != 0) {
                char dir[4096];
                tsr_journal_dir(path, dir, sizeof dir);
                s = tsr_error_set(TSR_ERR_STATE,
                                  "%s is not a tessera journal or its header is damaged: delete %s to start over",
                                  path, dir);
                break;
            }
            if (!tsr_journal_version_readable(f[1])) {
                s = tsr_error_set(TSR_ERR_STATE,
                                  "%s has journal format version %s, this tessera reads versions %d to %d: "
                                  "use a new --out directory",
                                  path, f[1], TSR_JOURNAL_VERSION_MIN, TSR_JOURNAL_VERSION);
                break;
            }
            snprintf(po->fingerprint, sizeof po->fingerprint, "%s", f[2]);
            po->version = atoi(f[1]);
            po->have_header = 1;
            if (want_fp && strcmp(po->fingerprint, want_fp) != 0)
                break;
        } else {
            if (nf < 0 || !tsr_journal_rec_valid(f, nf) || strcmp(f[nf - 1], po->prev) != 0) {
                tsr_log_warn("%s line %d is corrupted (checksum, layout or hash-chain link); ignoring it and every "
                             "later record, those tasks will run again",
                             path, lineno);
                break;
            }
            if (f[0][0] == 'D') {
                po->n_done++;
            } else if (f[0][0] == 'E') {
                snprintf(po->last_error, sizeof po->last_error, "%s: %s: %s", f[1],
                         tsr_status_str((tsr_status_t)atoi(f[2])), f[3]);
            }
            if (fn && (s = fn(ctx, f, nf)) != TSR_OK)
                break;
        }
        memcpy(po->prev, link, sizeof link);
        pos += n + 1;
        po->good_end = pos;
    }
    if (s == TSR_OK && ferror(fp))
        s = tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    free(line);
    fclose(fp);
    return s;
}

static tsr_status_t tsr_journal_keep(void *ctx, char **f, int nf)
{
    tsr_journal_t *j = ctx;
    if (f[0][0] == 'H')
        return TSR_OK;
    if (f[0][0] == 'E') {
        snprintf(j->last_error, sizeof j->last_error, "%s: %s: %s", f[1],
                 tsr_status_str((tsr_status_t)atoi(f[2])), f[3]);
        return TSR_OK;
    }
    if (j->n_recs == j->cap_recs) {
        int cap = j->cap_recs ? j->cap_recs * 2 : 256;
        tsr_journal_rec_t *r = realloc(j->recs, (size_t)cap * sizeof *r);
        if (!r)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory replaying journal '%s'", j->path);
        j->recs = r;
        j->cap_recs = cap;
    }
    int n = (nf - 4) / 3;
    tsr_journal_rec_t *r = &j->recs[j->n_recs];
    memset(r, 0, sizeof *r);
    r->n = n;
    r->key = strdup(f[1]);
    r->outputs = calloc(n ? (size_t)n : 1u, sizeof *r->outputs);
    r->digest = calloc(n ? (size_t)n : 1u, sizeof *r->digest);
    r->crc = calloc(n ? (size_t)n : 1u, sizeof *r->crc);
    r->size = calloc(n ? (size_t)n : 1u, sizeof *r->size);
    r->mtime_ns = calloc(n ? (size_t)n : 1u, sizeof *r->mtime_ns);
    j->n_recs++; /* counted now so close() frees a partly built record */
    if (!r->key || !r->outputs || !r->crc || !r->digest || !r->size || !r->mtime_ns)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory replaying journal '%s'", j->path);
    for (int k = 0; k < n; k++) {
        r->outputs[k] = strdup(f[3 + 3 * k]);
        r->digest[k] = strdup(f[5 + 3 * k]);
        if (!r->outputs[k] || !r->digest[k])
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory replaying journal '%s'", j->path);
        if (tsr_parse_crc_field(f[4 + 3 * k], &r->crc[k], &r->size[k], &r->mtime_ns[k]) != 0)
            return tsr_error_set(TSR_ERR_INTERNAL, "journal '%s': bad checksum field", j->path);
    }
    return TSR_OK;
}

/* tsr_journal_open_visit's record handler: each done record parsed into reusable arrays, handed to fn. */
typedef struct tsr_journal_visit {
    tsr_journal_done_fn fn;
    void *ctx;
    const char *path;
    int64_t i; /* done records so far */
    int cap;
    uint32_t *crc;
    int64_t *size, *mtime_ns;
    const char **outputs, **digests;
} tsr_journal_visit_t;

static tsr_status_t tsr_journal_visit_rec(void *ctx, char **f, int nf)
{
    tsr_journal_visit_t *v = ctx;
    if (f[0][0] != 'D')
        return TSR_OK;
    int n = (nf - 4) / 3;
    if (n > v->cap) {
        int cap = n > 2 * v->cap ? n : 2 * v->cap;
        uint32_t *c = realloc(v->crc, (size_t)cap * sizeof *c);
        if (c)
            v->crc = c;
        int64_t *sz = realloc(v->size, (size_t)cap * sizeof *sz);
        if (sz)
            v->size = sz;
        int64_t *mt = realloc(v->mtime_ns, (size_t)cap * sizeof *mt);
        if (mt)
            v->mtime_ns = mt;
        const char **o = realloc(v->outputs, (size_t)cap * sizeof *o);
        if (o)
            v->outputs = o;
        const char **d = realloc(v->digests, (size_t)cap * sizeof *d);
        if (d)
            v->digests = d;
        if (!c || !sz || !mt || !o || !d)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory replaying journal '%s'", v->path);
        v->cap = cap;
    }
    for (int k = 0; k < n; k++) {
        v->outputs[k] = f[3 + 3 * k];
        v->digests[k] = f[5 + 3 * k];
        if (tsr_parse_crc_field(f[4 + 3 * k], &v->crc[k], &v->size[k], &v->mtime_ns[k]) != 0)
            return tsr_error_set(TSR_ERR_INTERNAL, "journal '%s': bad checksum field", v->path);
    }
    tsr_journal_done_t d = {.i = v->i++, .key = f[1], .n_outputs = n, .outputs = v->outputs, .crc = v->crc,
                            .size = v->size, .mtime_ns = v->mtime_ns, .digests = v->digests};
    return v->fn ? v->fn(v->ctx, &d) : TSR_OK;
}

static void tsr_journal_visit_free(tsr_journal_visit_t *v)
{
    free(v->crc);
    free(v->size);
    free(v->mtime_ns);
    free(v->outputs);
    free(v->digests);
}

static tsr_status_t tsr_journal_write_all(tsr_journal_t *j, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(j->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return tsr_error_set(TSR_ERR_IO, "cannot write journal '%s': %s (is the disk full?)", j->path,
                                 strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return TSR_OK;
}

static tsr_status_t tsr_journal_sync_dir(const char *path)
{
    char dir[4096];
    tsr_journal_dir(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error_set(TSR_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
    fsync(fd); /* not every file system supports fsync on a directory; the file itself is synced */
    close(fd);
    return TSR_OK;
}

static tsr_status_t tsr_journal_reserve(tsr_journal_t *j, size_t extra)
{
    if (j->len + extra + 1 <= j->cap)
        return TSR_OK;
    size_t cap = j->cap ? j->cap : 4096;
    while (cap < j->len + extra + 1)
        cap *= 2;
    char *b = realloc(j->buf, cap);
    if (!b)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory buffering journal records");
    j->buf = b;
    j->cap = cap;
    return TSR_OK;
}

/* Append printf-formatted text to the queue. */
static tsr_status_t tsr_journal_put(tsr_journal_t *j, const char *fmt, ...) TSR_PRINTF(2, 3);
static tsr_status_t tsr_journal_put(tsr_journal_t *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot format a journal record");
    TSR_CALL(tsr_journal_reserve(j, (size_t)n));
    va_start(ap, fmt);
    vsnprintf(j->buf + j->len, j->cap - j->len, fmt, ap);
    va_end(ap);
    j->len += (size_t)n;
    return TSR_OK;
}

/*
 * Close the line that starts at `start`: its link to the previous line (not
 * for the header, the chain's root), its checksum and newline; the line
 * becomes the chain's end.
 */
static tsr_status_t tsr_journal_end_line(tsr_journal_t *j, size_t start, int link)
{
    if (link)
        TSR_CALL(tsr_journal_put(j, "\t%s", j->prev));
    uint32_t c = tsr_crc_bytes(j->buf + start, j->len - start);
    TSR_CALL(tsr_journal_put(j, "\t%08x", c));
    TSR_CALL(tsr_sha256_bytes(j->buf + start, j->len - start, j->prev));
    return tsr_journal_put(j, "\n");
}

tsr_status_t tsr_journal_open_readonly(const char *path, tsr_journal_t **out)
{
    *out = NULL;
    tsr_journal_t *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening journal '%s'", path);
    }
    j->readonly = 1;
    j->fd = open(path, O_RDONLY | O_CLOEXEC);
    tsr_status_t s = TSR_OK;
    if (j->fd < 0 && errno == ENOENT)
        s = tsr_error_set(TSR_ERR_IO, "no journal at '%s': nothing has run in this directory yet", path);
    else if (j->fd < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot open journal '%s': %s", path, strerror(errno));
    /* A shared lock: refused while a run holds the exclusive one, so a journal being written is not judged. */
    if (s == TSR_OK && flock(j->fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
        s = tsr_error_set(TSR_ERR_STATE,
                          "%s is locked by a tessera run on this output directory; wait for it to end first", path);
    tsr_journal_parse_t po;
    int missing = 0;
    if (s == TSR_OK)
        s = tsr_journal_parse(path, NULL, &po, tsr_journal_keep, j, &missing);
    if (s == TSR_OK) {
        snprintf(j->last_error, sizeof j->last_error, "%s", po.last_error);
        j->version = po.version;
    }
    if (s != TSR_OK) {
        tsr_journal_close(&j);
        return s;
    }
    *out = j;
    return TSR_OK;
}

/*
 * Take the exclusive lock, waiting up to TSR_JOURNAL_LOCK_WAIT_S seconds
 * (environment; default 60) for a previous holder to go: after a failed
 * run, mpirun may return while a killed rank still exits, and an
 * immediate rerun (a Slurm requeue, a retry loop) must not be refused for
 * that. Returns 0 when locked, 1 when another run still holds it, -1 when
 * the file system cannot lock (errno set).
 */
static int journal_lock_wait(int fd, const char *path)
{
    double wait_s = 60;
    const char *e = getenv("TSR_JOURNAL_LOCK_WAIT_S");
    if (e && *e)
        wait_s = atof(e);
    double t0 = tsr_now();
    int said = 0;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK)
            return -1;
        if (tsr_now() - t0 >= wait_s)
            return 1;
        if (!said++)
            tsr_log_info("%s is locked by another run; waiting up to %.0f s for it to end", path, wait_s);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Open for appending; the records go to rec_fn(rec_ctx) as they are replayed (kept, or visited). */
static tsr_status_t tsr_journal_open_with(const char *path, const char *fingerprint, tsr_journal_rec_fn rec_fn,
                                          void *rec_ctx, int keep, tsr_journal_t **out)
{
    *out = NULL;
    if (!fingerprint || !*fingerprint || tsr_has_separator(fingerprint) || strlen(fingerprint) > 200)
        return tsr_error_set(TSR_ERR_INTERNAL, "journal fingerprint '%s' is empty, too long or has a tab",
                             fingerprint ? fingerprint : "(null)");
    tsr_journal_t *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening journal '%s'", path);
    }
    /* Lock first, then read: what is judged is what no other run is still appending to. */
    tsr_status_t s = TSR_OK;
    int missing = access(path, F_OK) != 0;
    j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot open journal '%s' for writing: %s", path, strerror(errno));
    /* One run per output directory: the lock dies with its holder, even under kill -9. */
    if (s == TSR_OK) {
        int r = journal_lock_wait(j->fd, path);
        if (r > 0)
            s = tsr_error_set(TSR_ERR_STATE,
                              "%s is locked by another tessera run on this output directory; "
                              "wait for it to end (or stop it) before running again",
                              path);
        else if (r < 0)
            tsr_log_warn("cannot lock %s (%s); make sure only one run uses this output directory", path,
                         strerror(errno));
    }
    tsr_journal_parse_t po;
    memset(&po, 0, sizeof po);
    int absent = 0; /* never: the file was created above */
    struct stat sb;
    if (s == TSR_OK && fstat(j->fd, &sb) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot stat journal '%s': %s", path, strerror(errno));
    if (s == TSR_OK)
        s = tsr_journal_parse(path, fingerprint, &po, keep ? tsr_journal_keep : rec_fn, keep ? (void *)j : rec_ctx,
                              &absent);
    size_t len = s == TSR_OK ? (size_t)sb.st_size : 0;
    if (s == TSR_OK && po.have_header && strcmp(po.fingerprint, fingerprint) != 0) {
        char dir[4096];
        tsr_journal_dir(path, dir, sizeof dir);
        s = tsr_error_set(TSR_ERR_STATE,
                          "%s belongs to another run (fingerprint %s, this run %s): use a new --out directory, "
                          "or delete %s to start over",
                          path, po.fingerprint, fingerprint, dir);
    }
    if (s == TSR_OK && po.good_end < len) {
        if (ftruncate(j->fd, (off_t)po.good_end) != 0 || fsync(j->fd) != 0)
            s = tsr_error_set(TSR_ERR_IO, "cannot cut journal '%s' back to its last good record: %s", path,
                              strerror(errno));
    }
    if (s == TSR_OK) {
        memcpy(j->prev, po.prev, sizeof j->prev);
        j->version = po.have_header ? po.version : TSR_JOURNAL_VERSION;
    }
    if (s == TSR_OK && !po.have_header) {
        size_t start = j->len;
        s = tsr_journal_put(j, "%s\t%d\t%s", TSR_JOURNAL_MAGIC, TSR_JOURNAL_VERSION, fingerprint);
        if (s == TSR_OK)
            s = tsr_journal_end_line(j, start, 0);
        if (s == TSR_OK)
            s = tsr_journal_flush(j);
        if (s == TSR_OK && missing)
            s = tsr_journal_sync_dir(path);
    }
    if (s == TSR_OK)
        snprintf(j->last_error, sizeof j->last_error, "%s", po.last_error);
    if (s != TSR_OK) {
        tsr_journal_close(&j);
        return s;
    }
    *out = j;
    return TSR_OK;
}

tsr_status_t tsr_journal_open(const char *path, const char *fingerprint, tsr_journal_t **out)
{
    return tsr_journal_open_with(path, fingerprint, NULL, NULL, 1, out);
}

tsr_status_t tsr_journal_open_visit(const char *path, const char *fingerprint, tsr_journal_done_fn fn, void *ctx,
                                    tsr_journal_t **out)
{
    tsr_journal_visit_t v = {.fn = fn, .ctx = ctx, .path = path};
    tsr_status_t s = tsr_journal_open_with(path, fingerprint, tsr_journal_visit_rec, &v, 0, out);
    tsr_journal_visit_free(&v);
    return s;
}

tsr_status_t tsr_journal_revisit(const tsr_journal_t *j, tsr_journal_done_fn fn, void *ctx)
{
    tsr_journal_visit_t v = {.fn = fn, .ctx = ctx, .path = j->path};
    tsr_journal_parse_t po;
    int missing = 0;
    tsr_status_t s = tsr_journal_parse(j->path, NULL, &po, tsr_journal_visit_rec, &v, &missing);
    tsr_journal_visit_free(&v);
    return s;
}

void tsr_journal_close(tsr_journal_t **jp)
{
    if (!jp || !*jp)
        return;
    tsr_journal_t *j = *jp;
    if (j->fd >= 0 && j->len > 0 && tsr_journal_flush(j) != TSR_OK)
        tsr_log_error("%s", tsr_error_msg());
    if (j->fd >= 0)
        close(j->fd);
    for (int i = 0; i < j->n_recs; i++) {
        for (int k = 0; k < j->recs[i].n && j->recs[i].outputs; k++)
            free(j->recs[i].outputs[k]);
        for (int k = 0; k < j->recs[i].n && j->recs[i].digest; k++)
            free(j->recs[i].digest[k]);
        free(j->recs[i].digest);
        free(j->recs[i].outputs);
        free(j->recs[i].crc);
        free(j->recs[i].size);
        free(j->recs[i].mtime_ns);
        free(j->recs[i].key);
    }
    free(j->recs);
    free(j->buf);
    free(j->path);
    free(j);
    *jp = NULL;
}

tsr_status_t tsr_journal_queue_done(tsr_journal_t *j, const char *key, int n_outputs, const char *const *outputs,
                                    const uint32_t *crc, const char *const *digest)
{
    return tsr_journal_queue_done_stat(j, key, n_outputs, outputs, crc, digest, NULL);
}

tsr_status_t tsr_journal_queue_done_stat(tsr_journal_t *j, const char *key, int n_outputs, const char *const *outputs,
                                         const uint32_t *crc, const char *const *digest, const tsr_file_stat_t *fst)
{
    if (j->readonly)
        return tsr_error_set(TSR_ERR_STATE, "journal '%s' was opened read-only", j->path);
    if (tsr_has_separator(key))
        return tsr_error_set(TSR_ERR_INTERNAL, "journal key '%s' contains a tab or newline", key);
    size_t start = j->len;
    TSR_CALL(tsr_journal_put(j, "D\t%s\t%d", key, n_outputs));
    for (int k = 0; k < n_outputs; k++) {
        if (tsr_has_separator(outputs[k])) {
            j->len = start;
            return tsr_error_set(TSR_ERR_INTERNAL, "journal path '%s' contains a tab or newline", outputs[k]);
        }
        if (!tsr_digest_valid(digest[k])) {
            j->len = start;
            return tsr_error_set(TSR_ERR_INTERNAL, "journal digest '%s' of '%s' is malformed", digest[k], outputs[k]);
        }
        if (fst && j->version >= 3 && fst[k].size >= 0 && fst[k].mtime_ns >= 0)
            TSR_CALL(tsr_journal_put(j, "\t%s\t%08x:%lld:%lld\t%s", outputs[k], crc[k], (long long)fst[k].size,
                                     (long long)fst[k].mtime_ns, digest[k]));
        else
            TSR_CALL(tsr_journal_put(j, "\t%s\t%08x\t%s", outputs[k], crc[k], digest[k]));
    }
    return tsr_journal_end_line(j, start, 1);
}

tsr_status_t tsr_journal_queue_error(tsr_journal_t *j, const char *key, tsr_status_t s, const char *msg)
{
    if (j->readonly)
        return tsr_error_set(TSR_ERR_STATE, "journal '%s' was opened read-only", j->path);
    if (tsr_has_separator(key))
        return tsr_error_set(TSR_ERR_INTERNAL, "journal key '%s' contains a tab or newline", key);
    char clean[TSR_ERRMSG_MAX];
    snprintf(clean, sizeof clean, "%s", msg && *msg ? msg : "(no message)");
    for (char *p = clean; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r')
            *p = ' ';
    size_t start = j->len;
    TSR_CALL(tsr_journal_put(j, "E\t%s\t%d\t%s", key, (int)s, clean));
    TSR_CALL(tsr_journal_end_line(j, start, 1));
    snprintf(j->last_error, sizeof j->last_error, "%s: %s: %s", key, tsr_status_str(s), clean);
    return TSR_OK;
}

tsr_status_t tsr_journal_flush(tsr_journal_t *j)
{
    if (j->len == 0)
        return TSR_OK;
    size_t n = j->len;
    j->len = 0;
    TSR_CALL(tsr_journal_write_all(j, j->buf, n));
    if (fsync(j->fd) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot fsync journal '%s': %s", j->path, strerror(errno));
    return TSR_OK;
}

tsr_status_t tsr_journal_append_done(tsr_journal_t *j, const char *key, int n_outputs, const char *const *outputs,
                                     const uint32_t *crc, const char *const *digest)
{
    TSR_CALL(tsr_journal_queue_done(j, key, n_outputs, outputs, crc, digest));
    return tsr_journal_flush(j);
}

tsr_status_t tsr_journal_append_head(tsr_journal_t *j, const char *head)
{
    if (j->readonly)
        return tsr_error_set(TSR_ERR_STATE, "journal '%s' was opened read-only", j->path);
    if (strncmp(head, "sha256:", 7) != 0 || !tsr_is_hex(head + 7, TSR_SHA256_HEX))
        return tsr_error_set(TSR_ERR_INTERNAL, "audit head '%s' is malformed", head);
    size_t start = j->len;
    TSR_CALL(tsr_journal_put(j, "H\t%s", head));
    TSR_CALL(tsr_journal_end_line(j, start, 1));
    return tsr_journal_flush(j);
}

tsr_status_t tsr_journal_append_error(tsr_journal_t *j, const char *key, tsr_status_t s, const char *msg)
{
    TSR_CALL(tsr_journal_queue_error(j, key, s, msg));
    return tsr_journal_flush(j);
}

int tsr_journal_n_done(const tsr_journal_t *j) { return j ? j->n_recs : 0; }

void tsr_journal_done_at(const tsr_journal_t *j, int i, const char **key, int *n_outputs,
                         const char *const **outputs, const uint32_t **crc)
{
    const tsr_journal_rec_t *r = &j->recs[i];
    *key = r->key;
    *n_outputs = r->n;
    *outputs = (const char *const *)r->outputs;
    *crc = r->crc;
}

const char *const *tsr_journal_digests_at(const tsr_journal_t *j, int i)
{
    return (const char *const *)j->recs[i].digest;
}

void tsr_journal_stats_at(const tsr_journal_t *j, int i, const int64_t **size, const int64_t **mtime_ns)
{
    *size = j->recs[i].size;
    *mtime_ns = j->recs[i].mtime_ns;
}

int tsr_journal_version_readable(const char *v)
{
    char *end = NULL;
    long x = strtol(v, &end, 10);
    return *v && !*end && x >= TSR_JOURNAL_VERSION_MIN && x <= TSR_JOURNAL_VERSION;
}

const char *tsr_journal_last_error(const tsr_journal_t *j) { return j ? j->last_error : ""; }

typedef struct tsr_scan_ctx {
    tsr_journal_visit_fn visit;
    void *ctx;
} tsr_scan_ctx_t;

static tsr_status_t tsr_journal_scan_rec(void *ctx, char **f, int nf)
{
    (void)nf;
    tsr_scan_ctx_t *sc = ctx;
    if (f[0][0] == 'D' && sc->visit)
        sc->visit(sc->ctx, f[1]);
    return TSR_OK;
}

tsr_status_t tsr_journal_scan(const char *path, char *fingerprint, size_t fp_len, int *n_done, char *last_error,
                              size_t err_len, tsr_journal_visit_fn visit, void *ctx)
{
    int missing = 0;
    tsr_journal_parse_t po;
    tsr_scan_ctx_t sc = {visit, ctx};
    TSR_CALL(tsr_journal_parse(path, NULL, &po, tsr_journal_scan_rec, &sc, &missing));
    if (missing)
        return tsr_error_set(TSR_ERR_IO, "no journal at '%s': nothing has run in this directory yet", path);
    if (fingerprint && fp_len)
        snprintf(fingerprint, fp_len, "%s", po.fingerprint);
    if (n_done)
        *n_done = po.n_done;
    if (last_error && err_len)
        snprintf(last_error, err_len, "%s", po.last_error);
    return TSR_OK;
}
