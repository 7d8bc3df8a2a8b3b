/*
 * pack.c - packed outputs (issue 18): append-only per-rank containers that
 * hold many tasks' finished outputs, so a run's file count follows ranks x
 * sessions, not tasks.
 *
 * A task output under tsr_sched_opts_t.pack_dir is written by its executor
 * to a staging file; the worker then appends the staging file's bytes to its
 * own container PACK_DIR/sSSSS/rRRRRR.pack (this session, this rank: a new
 * session is a new process, so nothing ever appends to a file a killed
 * process wrote) at a 4 KiB-aligned offset, fsyncs, removes the staging file
 * and reports the output's location "CONTAINER@OFFSET+LENGTH". The journal
 * records the output as "NAME LOCATION" (tsr_output_packed_split), so a
 * resume trusts a record while its container still holds the range, and the
 * audit head uses NAME alone (the location depends on which rank ran what).
 * A tail that a killed rank half-appended lies past every journaled range
 * and is never read.
 * A session's containers share its folder, PACK_DIR/sSSSS/, so no folder
 * holds more entries than a run has ranks (4,000 ranks x a few sessions in
 * one folder would not be "a few thousand entries").
 * Why a staging file and a copy, not HDF5's core driver and
 * H5Fget_file_image: the kernels keep writing files as they always did
 * (temporary name + rename, a packed unit's members across several opens)
 * and the copy streams through a 64 KiB buffer, so a rank never holds a
 * whole image in memory; the price is writing each partition twice (staged,
 * then appended) on the rank's file system.
 */
#include "scheduler/scheduler_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/evp.h>

int tsr_output_packed_split(const char *journaled, char *name, size_t cap, const char **location)
{
    const char *sp = strrchr(journaled, ' ');
    int64_t off, len;
    if (!sp || sp == journaled || !tsr_location_parse(sp + 1, NULL, 0, &off, &len))
        return 0;
    size_t n = (size_t)(sp - journaled);
    if (name) {
        if (n >= cap)
            return 0;
        memcpy(name, journaled, n);
        name[n] = '\0';
    }
    if (location)
        *location = sp + 1;
    return 1;
}

int tsr_output_is_packed(const tsr_sched_opts_t *o, const char *output)
{
    size_t l = o->pack_dir ? strlen(o->pack_dir) : 0;
    return l > 0 && !strncmp(output, o->pack_dir, l) && output[l] == '/';
}

void tsr_pack_container_name(const char *pack_dir, uint32_t code, char *buf, size_t len)
{
    snprintf(buf, len, "%s/s%04u/r%06u.pack", pack_dir, (unsigned)(code >> TSR_PACK_RANK_BITS),
             (unsigned)(code & TSR_PACK_RANK_MASK));
}

int tsr_pack_container_code(const char *pack_dir, const char *container, uint32_t *code)
{
    size_t l = strlen(pack_dir);
    unsigned r = 0, se = 0;
    int used = 0;
    if (strncmp(container, pack_dir, l) || container[l] != '/' ||
        sscanf(container + l + 1, "s%4u/r%6u.pack%n", &se, &r, &used) != 2 || container[l + 1 + used] != '\0' ||
        r > TSR_PACK_RANK_MASK || se == 0 || se >= 1u << (32 - TSR_PACK_RANK_BITS))
        return 0;
    *code = (uint32_t)se << TSR_PACK_RANK_BITS | r;
    return 1;
}

tsr_status_t tsr_pack_range_digest(const char *outdir, const char *location, uint32_t *crc, unsigned char sha[32])
{
    char cont[4096], path[4200];
    int64_t off = 0, len = 0;
    if (!tsr_location_parse(location, cont, sizeof cont, &off, &len))
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a location (CONTAINER@OFFSET+LENGTH)", location);
    snprintf(path, sizeof path, "%s/%s", outdir, cont);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return tsr_error_set(TSR_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    EVP_MD_CTX *md = sha ? EVP_MD_CTX_new() : NULL;
    tsr_status_t s = !sha || (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1)
                         ? TSR_OK
                         : tsr_error_set(TSR_ERR_NOMEM, "SHA-256 (OpenSSL) failed to start");
    uLong c = crc32(0L, Z_NULL, 0);
    unsigned char buf[1 << 16];
    for (int64_t done = 0; s == TSR_OK && done < len;) {
        size_t want = len - done < (int64_t)sizeof buf ? (size_t)(len - done) : sizeof buf;
        ssize_t n = pread(fd, buf, want, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            s = tsr_error_set(TSR_ERR_IO, "%s: ends before %s (%s)", path, location, n < 0 ? strerror(errno) : "short");
            break;
        }
        c = crc32(c, buf, (uInt)n);
        if (md && EVP_DigestUpdate(md, buf, (size_t)n) != 1)
            s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed");
        done += n;
    }
    unsigned int ml = 0;
    if (s == TSR_OK && md && (EVP_DigestFinal_ex(md, sha, &ml) != 1 || ml != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to finish");
    EVP_MD_CTX_free(md);
    close(fd);
    if (s == TSR_OK && crc)
        *crc = (uint32_t)c;
    return s;
}

tsr_status_t tsr_pack_range_check(const char *outdir, const char *location, int full, uint32_t want_crc)
{
    char cont[4096], path[4200];
    int64_t off = 0, len = 0;
    if (!tsr_location_parse(location, cont, sizeof cont, &off, &len))
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a location", location);
    snprintf(path, sizeof path, "%s/%s", outdir, cont);
    struct stat st;
    if (stat(path, &st) != 0)
        return tsr_error_set(TSR_ERR_IO, "container '%s' is missing", path);
    if ((int64_t)st.st_size < off + len)
        return tsr_error_set(TSR_ERR_IO, "container '%s' is %lld bytes, shorter than %s", path,
                             (long long)st.st_size, location);
    if (!full)
        return TSR_OK;
    uint32_t c = 0;
    TSR_CALL(tsr_pack_range_digest(outdir, location, &c, NULL));
    if (c != want_crc)
        return tsr_error_set(TSR_ERR_IO, "%s changed since the journal recorded it", location);
    return TSR_OK;
}

tsr_status_t tsr_pack_append(tsr_pack_t *p, const char *outdir, const char *pack_dir, uint32_t code,
                             const char *src, int64_t *off, int64_t *len, uint32_t *crc, unsigned char sha[32])
{
    if (p->fd < 0) {
        char rel[1024];
        tsr_pack_container_name(pack_dir, code, rel, sizeof rel);
        snprintf(p->path, sizeof p->path, "%s/%s", outdir, rel);
        char dir[4200]; /* the session's folder, PACK_DIR/sSSSS */
        snprintf(dir, sizeof dir, "%s", p->path);
        *strrchr(dir, '/') = '\0';
        TSR_CALL(tsr_mkdir_p(dir));
        /* O_EXCL: a session's container is new; an existing one was another process's */
        p->fd = open(p->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (p->fd < 0)
            return tsr_error_set(TSR_ERR_IO, "cannot create the container '%s': %s", p->path, strerror(errno));
        p->end = 0;
    }
    int in = open(src, O_RDONLY);
    if (in < 0)
        return tsr_error_set(TSR_ERR_IO, "cannot read the staged output '%s': %s", src, strerror(errno));
    int64_t at = (p->end + TSR_PACK_ALIGN - 1) / TSR_PACK_ALIGN * TSR_PACK_ALIGN, n_done = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    tsr_status_t s = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
                         ? TSR_OK
                         : tsr_error_set(TSR_ERR_NOMEM, "SHA-256 (OpenSSL) failed to start");
    uLong c = crc32(0L, Z_NULL, 0);
    unsigned char buf[1 << 16];
    for (;;) {
        if (s != TSR_OK)
            break;
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s = tsr_error_set(TSR_ERR_IO, "cannot read the staged output '%s': %s", src, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        c = crc32(c, buf, (uInt)n);
        if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
            s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed");
        for (ssize_t w = 0; s == TSR_OK && w < n;) {
            ssize_t k = pwrite(p->fd, buf + w, (size_t)(n - w), (off_t)(at + n_done + w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                s = tsr_error_set(TSR_ERR_IO, "cannot append to '%s': %s", p->path, strerror(errno));
            else
                w += k;
        }
        n_done += n;
    }
    close(in);
    unsigned int ml = 0;
    if (s == TSR_OK && (EVP_DigestFinal_ex(md, sha, &ml) != 1 || ml != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to finish");
    EVP_MD_CTX_free(md);
    if (s == TSR_OK && n_done == 0)
        s = tsr_error_set(TSR_ERR_IO, "the staged output '%s' is empty", src);
    if (s == TSR_OK && n_done > (int64_t)UINT32_MAX)
        s = tsr_error_set(TSR_ERR_IO, "the staged output '%s' is %lld bytes, more than a container entry holds (4 GiB)",
                          src, (long long)n_done);
    if (s == TSR_OK && fsync(p->fd) != 0)
        s = tsr_error_set(TSR_ERR_IO, "cannot sync '%s': %s", p->path, strerror(errno));
    if (s != TSR_OK)
        return s; /* p->end unchanged: the next append overwrites what this one left */
    p->end = at + n_done;
    *off = at;
    *len = n_done;
    *crc = (uint32_t)c;
    if (unlink(src) != 0)
        tsr_log_warn("cannot remove the staged output '%s': %s", src, strerror(errno));
    return TSR_OK;
}

void tsr_pack_close(tsr_pack_t *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

tsr_status_t tsr_pack_next_session(const char *outdir, const char *pack_dir, uint32_t floor, uint32_t *session)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", outdir, pack_dir);
    uint32_t best = floor;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            unsigned r = 0, se = 0;
            size_t l = strlen(e->d_name);
            int used = 0;
            /* a session's folder sSSSS, or a staged output rRRRRR.sSSSS.kK.stage */
            if (sscanf(e->d_name, "s%4u%n", &se, &used) == 1 && e->d_name[used] == '\0' && used == 5) {
                if (se > best)
                    best = se;
                continue;
            }
            if (sscanf(e->d_name, "r%6u.s%4u.", &r, &se) != 2)
                continue;
            if (se > best)
                best = se;
            /* a staged output a killed worker never appended: its task is not journaled and runs again */
            if (l > 6 && !strcmp(e->d_name + l - 6, ".stage")) {
                char p[4500];
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                if (unlink(p) != 0 && errno != ENOENT)
                    tsr_log_warn("cannot remove '%s': %s", p, strerror(errno));
            }
        }
        closedir(d);
    }
    if (best + 1 >= 1u << (32 - TSR_PACK_RANK_BITS))
        return tsr_error_set(TSR_ERR_STATE, "%s holds containers of %u sessions, the most a run directory may; "
                             "use a new --out directory", dir, (unsigned)best);
    *session = best + 1;
    return TSR_OK;
}
