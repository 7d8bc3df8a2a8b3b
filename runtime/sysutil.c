/* sysutil.c - clocks, peak memory, size parsing, mkdir -p, temporary output names. */
#include "runtime/runtime.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

double tsr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double tsr_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

int64_t tsr_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (int64_t)ru.ru_maxrss * 1024;
}

int64_t tsr_parse_size(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': mul = 1024.0; end++; break;
    case 'M': mul = 1024.0 * 1024; end++; break;
    case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    return (int64_t)(v * mul);
}

int tsr_location_parse(const char *loc, char *container, size_t cap, int64_t *off, int64_t *len)
{
    const char *at = loc ? strrchr(loc, '@') : NULL;
    if (!at || at == loc)
        return 0;
    char *end = NULL;
    errno = 0;
    long long o = strtoll(at + 1, &end, 10);
    if (errno || end == at + 1 || *end != '+' || o < 0)
        return 0;
    const char *l0 = end + 1;
    long long l = strtoll(l0, &end, 10);
    if (errno || end == l0 || *end != '\0' || l <= 0)
        return 0;
    size_t n = (size_t)(at - loc);
    if (container) {
        if (n >= cap)
            return 0;
        memcpy(container, loc, n);
        container[n] = '\0';
    }
    *off = o;
    *len = l;
    return 1;
}

int tsr_array_grow(void **p, int64_t *cap, int64_t need, size_t esz)
{
    if (need <= *cap)
        return 0;
    int64_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * esz);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

tsr_status_t tsr_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return tsr_error_set(TSR_ERR_IO, "cannot create directory '%s': path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return tsr_error_set(TSR_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return tsr_error_set(TSR_ERR_IO, "'%s' exists and is not a directory; choose another --out", path);
    return TSR_OK;
}

tsr_status_t tsr_output_tmpname(const char *final_path, char *tmp, size_t len)
{
    const char *slash = strrchr(final_path, '/');
    const char *name = slash ? slash + 1 : final_path;
    int dirlen = slash ? (int)(slash - final_path + 1) : 0;
    if (!*name)
        return tsr_error_set(TSR_ERR_INTERNAL, "output path '%s' names a directory, not a file", final_path);
    int n = snprintf(tmp, len, "%.*s.tmp.%s.%ld", dirlen, final_path, name, (long)getpid());
    if (n < 0 || (size_t)n >= len)
        return tsr_error_set(TSR_ERR_INTERNAL, "temporary name for '%s' does not fit in %zu bytes", final_path, len);
    return TSR_OK;
}

tsr_status_t tsr_output_tmp_sweep(const char *dir, int64_t *n_removed)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? TSR_OK : tsr_error_set(TSR_ERR_IO, "cannot read directory '%s': %s", dir, strerror(errno));
    struct dirent *e;
    tsr_status_t s = TSR_OK;
    while ((e = readdir(d)) && s == TSR_OK) {
        if (strncmp(e->d_name, ".tmp.", 5) != 0)
            continue;
        char p[4352];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) == 0)
            (*n_removed)++;
        else if (errno != ENOENT)
            s = tsr_error_set(TSR_ERR_IO, "cannot remove stale temporary file '%s': %s", p, strerror(errno));
    }
    closedir(d);
    return s;
}

tsr_status_t tsr_output_commit(FILE *fp, const char *tmp, const char *path)
{
    int bad = ferror(fp);
    int closed = fclose(fp);
    if (bad || closed != 0 || rename(tmp, path) != 0) {
        tsr_status_t s = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s (free space or check the directory)",
                                       path, tsr_write_failure_reason(tmp, errno));
        unlink(tmp);
        return s;
    }
    return TSR_OK;
}

const char *tsr_write_failure_reason(const char *path, int err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)1 << 20)
        return strerror(ENOSPC);
    return err ? strerror(err) : "write failed";
}

const char tsr_complement_table[256] = {
    ['A'] = 'T', ['C'] = 'G', ['G'] = 'C', ['T'] = 'A', ['N'] = 'N', ['a'] = 't', ['c'] = 'g', ['g'] = 'c',
    ['t'] = 'a', ['n'] = 'n', ['R'] = 'Y', ['Y'] = 'R', ['K'] = 'M', ['M'] = 'K', ['S'] = 'S', ['W'] = 'W',
    ['B'] = 'V', ['V'] = 'B', ['D'] = 'H', ['H'] = 'D'};

tsr_status_t tsr_file_read_all(const char *path, char **data, size_t *len, int *missing)
{
    *data = NULL;
    *len = 0;
    *missing = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *missing = 1;
            return TSR_OK;
        }
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tsr_error_set(TSR_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *d = malloc(cap);
    if (!d) {
        close(fd);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s' (%lld bytes)", path,
                             (long long)st.st_size);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nd = realloc(d, cap * 2);
            if (!nd) {
                free(d);
                close(fd);
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
            }
            d = nd;
            cap *= 2;
        }
        ssize_t r = read(fd, d + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(d);
            close(fd);
            return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    d[n] = '\0';
    *data = d;
    *len = n;
    return TSR_OK;
}

void tsr_utc_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tmv;
    if (len == 0)
        return;
    snprintf(buf, len, "unknown");
    if (gmtime_r(&now, &tmv))
        strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tmv);
}

void tsr_json_write_str(FILE *fp, const char *s)
{
    putc('"', fp);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", fp);
        else if (*p == '\t')
            fputs("\\t", fp);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(fp, "\\u%04x", *p);
        else
            putc(*p, fp);
    }
    putc('"', fp);
}
