/*
 * inspect.c - `tessera inspect`: what an output
 * directory's tasks.tsv and journal.tsv say is done and left.
 */
#include "scheduler/scheduler_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keys the journal proves done: a sorted array searched with bsearch. */
typedef struct tsr_keyset {
    char **keys;
    size_t n, cap;
    int failed;
} tsr_keyset_t;

static void tsr_keyset_visit(void *ctx, const char *key)
{
    tsr_keyset_t *ks = ctx;
    if (ks->failed)
        return;
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 1024;
        char **k = realloc(ks->keys, cap * sizeof *k);
        if (!k) {
            ks->failed = 1;
            return;
        }
        ks->keys = k;
        ks->cap = cap;
    }
    if (!(ks->keys[ks->n] = strdup(key)))
        ks->failed = 1;
    else
        ks->n++;
}

static int tsr_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct tsr_type_count {
    int type;
    char stage[32]; /* the key's prefix before '/' (e.g. "call"), naming the type for people */
    long done, left;
} tsr_type_count_t;

static tsr_status_t tsr_inspect_count(FILE *f, const char *path, const tsr_keyset_t *ks, tsr_type_count_t **types,
                                      int *n_types)
{
    char line[8192];
    int cap = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2)
            return tsr_error_set(TSR_ERR_FORMAT, "%s line %d: expected 'id<TAB>type<TAB>key'", path, lineno);
        int type = atoi(t1 + 1);
        const char *key = t2 + 1;
        int done = ks->n && bsearch(&key, ks->keys, ks->n, sizeof *ks->keys, tsr_str_cmp) != NULL;
        int i = 0;
        while (i < *n_types && (*types)[i].type != type)
            i++;
        if (i == *n_types) {
            if (*n_types == cap) {
                cap = cap ? cap * 2 : 8;
                tsr_type_count_t *nt = realloc(*types, (size_t)cap * sizeof *nt);
                if (!nt)
                    return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
                *types = nt;
            }
            (*types)[i] = (tsr_type_count_t){.type = type};
            size_t pre = strcspn(key, "/");
            snprintf((*types)[i].stage, sizeof (*types)[i].stage, "%.*s", (int)pre, key);
            (*n_types)++;
        }
        if (done)
            (*types)[i].done++;
        else
            (*types)[i].left++;
    }
    if (ferror(f))
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    return TSR_OK;
}

static int tsr_type_cmp(const void *a, const void *b)
{
    const tsr_type_count_t *x = a, *y = b;
    return (x->type > y->type) - (x->type < y->type);
}

tsr_status_t tsr_inspect_print(const char *outdir, FILE *out)
{
    char jpath[4096], tpath[4096], fp[256], err[TSR_ERRMSG_MAX + 256];
    TSR_CALL(tsr_journal_path(outdir, jpath, sizeof jpath));
    snprintf(tpath, sizeof tpath, "%s/tasks.tsv", outdir);
    FILE *f = fopen(tpath, "r");
    if (!f)
        return tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s (has a run started in %s?)", tpath, strerror(errno),
                             outdir);
    tsr_keyset_t ks = {0};
    int n_done = 0;
    tsr_status_t s = tsr_journal_scan(jpath, fp, sizeof fp, &n_done, err, sizeof err, tsr_keyset_visit, &ks);
    if (s == TSR_ERR_IO && access(jpath, F_OK) != 0) {
        /* tasks.tsv without a journal: nothing done yet. */
        tsr_error_clear();
        s = TSR_OK;
        snprintf(fp, sizeof fp, "(no journal yet)");
        err[0] = '\0';
    }
    if (s == TSR_OK && ks.failed)
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", jpath);
    tsr_type_count_t *types = NULL;
    int n_types = 0;
    if (s == TSR_OK) {
        if (ks.n > 0)
            qsort(ks.keys, ks.n, sizeof *ks.keys, tsr_str_cmp);
        s = tsr_inspect_count(f, tpath, &ks, &types, &n_types);
    }
    fclose(f);
    if (s == TSR_OK) {
        if (n_types > 0) /* qsort needs a non-NULL array even when empty */
            qsort(types, (size_t)n_types, sizeof *types, tsr_type_cmp);
        long done = 0, left = 0;
        fprintf(out, "output directory: %s\n", outdir);
        fprintf(out, "fingerprint: %s\n", fp);
        for (int i = 0; i < n_types; i++) {
            fprintf(out, "%s (type %d): %ld done, %ld left\n", types[i].stage, types[i].type, types[i].done,
                    types[i].left);
            done += types[i].done;
            left += types[i].left;
        }
        fprintf(out, "last error: %s\n", *err ? err : "none");
        fprintf(out, "done %ld left %ld\n", done, left);
        if (fflush(out) != 0 || ferror(out))
            s = tsr_error_set(TSR_ERR_IO, "cannot write the inspection report: %s", strerror(errno));
    }
    for (size_t i = 0; i < ks.n; i++)
        free(ks.keys[i]);
    free(ks.keys);
    free(types);
    return s;
}
