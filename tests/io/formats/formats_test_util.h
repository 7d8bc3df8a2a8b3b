/* formats_test_util.h - scratch directories and small files for the io format tests. */
#ifndef TSR_FORMATS_TEST_UTIL_H
#define TSR_FORMATS_TEST_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

/* A fresh directory under /tmp; the caller removes it with tmpdir_remove(). */
static inline char *tmpdir_make(void)
{
    char *d = strdup("/tmp/tsr_formats_XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static inline int tmpdir_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void tmpdir_remove(char **d)
{
    if (*d)
        assert_int_equal(nftw(*d, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(*d);
    *d = NULL;
}

/* malloc'ed "dir/name". */
static inline char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Write `text` to dir/name (gzip-compressed when gz is 1); returns the malloc'ed path. */
static inline char *write_file(const char *dir, const char *name, const char *text, int gz)
{
    char *p = path_in(dir, name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, text, (unsigned)strlen(text)), (int)strlen(text));
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        assert_int_equal(fclose(f), 0);
    }
    return p;
}

static inline int file_exists(const char *dir, const char *name)
{
    char *p = path_in(dir, name);
    struct stat st;
    int r = stat(p, &st) == 0;
    free(p);
    return r;
}

/* Whole file into a malloc'ed buffer. */
static inline char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

#endif
