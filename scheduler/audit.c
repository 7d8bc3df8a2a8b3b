/*
 * audit.c - the audit of an output directory: the journal's hash chain, the
 * task list, every output's digest, and the run's head.
 *
 * The chain (journal.c) is in the order records were written, which depends
 * on which rank finished first; the head must not. So the head is computed
 * over a canonical manifest instead: the fingerprint, then every key (tasks
 * in tasks.tsv and stages, in byte order) with the outputs and digests of its
 * newest valid record. A record appended by a resume, a retry or `tessera
 * add` replaces the key's older one in the manifest, so the head depends only
 * on what the outputs hold. The chain proves the journal was not edited
 * between its records; the head, once published, proves the whole set of
 * outputs (and the input manifest, an output like any other) is the same.
 * Outputs that describe the run rather than the data (report.html, journaled
 * as "runsha256:") are checked against the chain but enter the head by name
 * only; cohort.h5 enters it by its content digest ("h5sha256:").
 */
#include "scheduler/scheduler_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/evp.h>

typedef struct tsr_audit_rec {
    const char *key;
    int n;
    char **f; /* the record's fields: outputs at f[3 + 3k], digests at f[5 + 3k] */
    int line;
} tsr_audit_rec_t;

typedef struct tsr_audit_walk {
    const tsr_audit_opts_t *o;
    tsr_audit_result_t *r;
    const char *outdir;
} tsr_audit_walk_t;

static void tsr_audit_problem(tsr_audit_walk_t *w, const char *fmt, ...) TSR_PRINTF(2, 3);
static void tsr_audit_problem(tsr_audit_walk_t *w, const char *fmt, ...)
{
    char line[TSR_ERRMSG_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    w->r->n_problems++;
    if (w->o->problem)
        w->o->problem(w->o->problem_ctx, line);
}

/* Key ascending, then newest record first. */
static int tsr_audit_rec_cmp(const void *a, const void *b)
{
    const tsr_audit_rec_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : y->line - x->line;
}

static int tsr_audit_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys (third column) of tasks.tsv, sorted; *n = -1 when the file is missing. */
static tsr_status_t tsr_audit_task_keys(const char *outdir, char **text, char ***keys, int *n)
{
    char path[4200];
    size_t len = 0;
    int missing = 0;
    *keys = NULL;
    *n = 0;
    snprintf(path, sizeof path, "%s/tasks.tsv", outdir);
    TSR_CALL(tsr_file_read_all(path, text, &len, &missing));
    if (missing) {
        *n = -1;
        return TSR_OK;
    }
    int cap = 0;
    for (char *line = *text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **k = realloc(*keys, (size_t)cap * sizeof *k);
            if (!k)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", path);
            *keys = k;
        }
        (*keys)[(*n)++] = t2 + 1;
    }
    if (*n > 0)
        qsort(*keys, (size_t)*n, sizeof **keys, tsr_audit_str_cmp);
    return TSR_OK;
}

/* Recompute one output's digest and compare it with the record's. */
static void tsr_audit_rehash(tsr_audit_walk_t *w, const char *key, const char *out, const char *want)
{
    char path[4200], now[TSR_DIGEST_MAX];
    const char *loc = NULL;
    if (tsr_output_packed_split(out, NULL, 0, &loc)) { /* a packed output: its range of its container */
        unsigned char sha[32];
        char hex[TSR_SHA256_HEX + 1];
        snprintf(path, sizeof path, "%s/%s", w->outdir, loc);
        if (tsr_pack_range_digest(w->outdir, loc, NULL, sha) != TSR_OK) {
            tsr_audit_problem(w, "%s (output of task '%s'): %s", path, key, tsr_error_msg());
            tsr_error_clear();
            return;
        }
        tsr_sha256_hex(sha, hex);
        snprintf(now, sizeof now, "sha256:%s", hex);
        if (strcmp(now, want) != 0)
            tsr_audit_problem(w, "%s changed after task '%s' wrote it (now %s, journal %s)", path, key, now, want);
        return;
    }
    snprintf(path, sizeof path, "%s/%s", w->outdir, out);
    if (access(path, F_OK) != 0) {
        tsr_audit_problem(w, "%s is missing (output of task '%s')", path, key);
        return;
    }
    tsr_status_t s;
    if (!strncmp(want, "sha256:", 7)) {
        s = tsr_file_sha256(path, now);
    } else if (!strncmp(want, "runsha256:", 10)) {
        char bytes[TSR_DIGEST_MAX];
        s = tsr_file_sha256(path, bytes);
        snprintf(now, sizeof now, "run%.76s", bytes);
    }
    else if (w->o->content)
        s = w->o->content(w->o->content_ctx, path, want, now);
    else
        s = tsr_error_set(TSR_ERR_INTERNAL, "no way to recompute a digest of the kind '%.10s'", want);
    if (s != TSR_OK) {
        tsr_audit_problem(w, "%s: %s", path, tsr_error_msg());
        tsr_error_clear();
    } else if (strcmp(now, want) != 0) {
        tsr_audit_problem(w, "%s changed after task '%s' wrote it (now %s, journal %s)", path, key, now, want);
    }
}

static tsr_status_t tsr_audit_walk(tsr_audit_walk_t *w, char *data, size_t len, char **tkeys, int n_tkeys,
                                   const char *jpath)
{
    tsr_audit_result_t *r = w->r;
    tsr_audit_rec_t *recs = NULL;
    int n_recs = 0, cap = 0, last_h_line = 0, last_d_line = 0, lineno = 0, have_header = 0;
    char last_h[TSR_DIGEST_MAX] = "", prev[TSR_SHA256_HEX + 1] = "";
    char *f[4096];
    tsr_status_t s = TSR_OK;
    for (size_t pos = 0; pos < len && s == TSR_OK;) {
        char *nl = memchr(data + pos, '\n', len - pos);
        lineno++;
        if (!nl) {
            tsr_audit_problem(w, "%s line %d is unfinished (the journal was cut short)", jpath, lineno);
            break;
        }
        size_t n = (size_t)(nl - (data + pos));
        *nl = '\0';
        char link[TSR_SHA256_HEX + 1];
        s = tsr_sha256_bytes(data + pos, n, link);
        int nf = s == TSR_OK ? tsr_journal_split(data + pos, n, f, (int)(sizeof f / sizeof *f)) : -1;
        pos += n + 1;
        if (s != TSR_OK)
            break;
        if (!have_header) {
            if (nf != 3 || strcmp(f[0], TSR_JOURNAL_MAGIC) != 0)
                return tsr_error_set(TSR_ERR_STATE, "%s is not a tessera journal or its header is damaged", jpath);
            if (!tsr_journal_version_readable(f[1]))
                return tsr_error_set(TSR_ERR_STATE,
                                     "%s has journal format version %s, without the audit chain of versions %d to %d",
                                     jpath, f[1], TSR_JOURNAL_VERSION_MIN, TSR_JOURNAL_VERSION);
            snprintf(r->fingerprint, sizeof r->fingerprint, "%s", f[2]);
            have_header = 1;
        } else if (nf < 0 || !tsr_journal_rec_valid(f, nf)) {
            tsr_audit_problem(w, "%s line %d: its checksum or layout is wrong (the line was edited or damaged)",
                              jpath, lineno);
        } else {
            if (strcmp(f[nf - 1], prev) != 0)
                tsr_audit_problem(w,
                                  "%s line %d does not chain to line %d (a record was edited, removed, inserted "
                                  "or reordered there)",
                                  jpath, lineno, lineno - 1);
            if (f[0][0] == 'H') {
                snprintf(last_h, sizeof last_h, "%s", f[1]);
                last_h_line = lineno;
            } else if (f[0][0] == 'D') {
                last_d_line = lineno;
                if (n_recs == cap) {
                    cap = cap ? 2 * cap : 256;
                    tsr_audit_rec_t *nr = realloc(recs, (size_t)cap * sizeof *nr);
                    if (!nr) {
                        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", jpath);
                        break;
                    }
                    recs = nr;
                }
                char **copy = malloc((size_t)nf * sizeof *copy);
                if (!copy) {
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading '%s'", jpath);
                    break;
                }
                memcpy(copy, f, (size_t)nf * sizeof *copy);
                recs[n_recs++] = (tsr_audit_rec_t){copy[1], atoi(copy[2]), copy, lineno};
            }
        }
        memcpy(prev, link, sizeof prev);
    }
    if (s == TSR_OK && !have_header)
        s = tsr_error_set(TSR_ERR_STATE, "%s is empty: nothing was journaled", jpath);
    if (s == TSR_OK && n_recs > 0)
        qsort(recs, (size_t)n_recs, sizeof *recs, tsr_audit_rec_cmp);

    /* The manifest: every key once (its newest record), in byte order; tasks without a record are problems. */
    EVP_MD_CTX *md = s == TSR_OK ? EVP_MD_CTX_new() : NULL;
    if (s == TSR_OK && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to start");
    char line[TSR_DIGEST_MAX + 4300];
    if (s == TSR_OK) {
        int k = snprintf(line, sizeof line, "tessera-audit\t1\nfingerprint\t%s\n", r->fingerprint);
        EVP_DigestUpdate(md, line, (size_t)k);
    }
    int t = 0;
    for (int i = 0; s == TSR_OK && i < n_recs; i++) {
        if (i > 0 && !strcmp(recs[i].key, recs[i - 1].key))
            continue; /* an older record of a key that ran again */
        for (; t < n_tkeys && strcmp(tkeys[t], recs[i].key) < 0; t++)
            tsr_audit_problem(w, "task '%s' (tasks.tsv) has no valid record in %s", tkeys[t], jpath);
        for (; t < n_tkeys && !strcmp(tkeys[t], recs[i].key); t++)
            ;
        const tsr_audit_rec_t *rc = &recs[i];
        int k = snprintf(line, sizeof line, "%s\t%d", rc->key, rc->n);
        EVP_DigestUpdate(md, line, (size_t)k);
        for (int o = 0; o < rc->n; o++) {
            const char *dg = rc->f[5 + 3 * o];
            /* a run-specific output (report.html) is in the chain, not in the head: only its name is */
            /* a packed output enters by its name: its location depends on which rank ran the task */
            char name[TSR_TASK_STR_MAX];
            const char *out = tsr_output_packed_split(rc->f[3 + 3 * o], name, sizeof name, NULL) ? name
                                                                                                 : rc->f[3 + 3 * o];
            k = snprintf(line, sizeof line, "\t%s\t%s", out, strncmp(dg, "runsha256:", 10) ? dg : "run-specific");
            EVP_DigestUpdate(md, line, (size_t)k);
            if (w->o->rehash)
                tsr_audit_rehash(w, rc->key, rc->f[3 + 3 * o], rc->f[5 + 3 * o]);
        }
        EVP_DigestUpdate(md, "\n", 1);
        r->n_tasks++;
        r->n_files += rc->n;
    }
    for (; s == TSR_OK && t < n_tkeys; t++)
        tsr_audit_problem(w, "task '%s' (tasks.tsv) has no valid record in %s", tkeys[t], jpath);
    unsigned char sha[EVP_MAX_MD_SIZE];
    unsigned int shalen = 0;
    if (s == TSR_OK && (EVP_DigestFinal_ex(md, sha, &shalen) != 1 || shalen != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to finish");
    if (s == TSR_OK) {
        char hex[TSR_SHA256_HEX + 1];
        tsr_sha256_hex(sha, hex);
        snprintf(r->head, sizeof r->head, "sha256:%s", hex);
        r->sealed = last_h_line > last_d_line && !strcmp(last_h, r->head);
    }
    if (s == TSR_OK && w->o->need_head_record) {
        if (!last_h_line)
            tsr_audit_problem(w, "%s has no audit head record: the run did not finish, or the journal's end was cut off",
                              jpath);
        else if (last_d_line > last_h_line)
            tsr_audit_problem(w, "%s has task records after its last audit head (line %d): the run did not finish",
                              jpath, last_h_line);
        else if (strcmp(last_h, r->head) != 0)
            tsr_audit_problem(w, "%s line %d records the head %s, its records give %s", jpath, last_h_line, last_h,
                              r->head);
    }
    EVP_MD_CTX_free(md);
    for (int i = 0; i < n_recs; i++)
        free(recs[i].f);
    free(recs);
    return s;
}

tsr_status_t tsr_audit_check(const char *outdir, const tsr_audit_opts_t *o, tsr_audit_result_t *r)
{
    memset(r, 0, sizeof *r);
    char jpath[4200];
    TSR_CALL(tsr_journal_path(outdir, jpath, sizeof jpath));
    int fd = open(jpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error_set(TSR_ERR_IO, "no journal at '%s' (%s): nothing has run in this directory yet", jpath, strerror(errno));
    /* A shared lock: a journal a run is still writing is refused, not judged. */
    if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        close(fd);
        return tsr_error_set(TSR_ERR_STATE, "%s is locked by a tessera run on this output directory; "
                                            "wait for it to end first", jpath);
    }
    char *data = NULL, *ttext = NULL, **tkeys = NULL;
    size_t len = 0;
    int missing = 0, n_tkeys = 0;
    tsr_status_t s = tsr_file_read_all(jpath, &data, &len, &missing);
    if (s == TSR_OK)
        s = tsr_audit_task_keys(outdir, &ttext, &tkeys, &n_tkeys);
    tsr_audit_walk_t w = {o, r, outdir};
    if (s == TSR_OK && n_tkeys < 0) {
        tsr_audit_problem(&w, "%s/tasks.tsv is missing: the task list cannot be checked", outdir);
        n_tkeys = 0;
    }
    if (s == TSR_OK)
        s = tsr_audit_walk(&w, data, data ? len : 0, tkeys, n_tkeys, jpath);
    free(data);
    free(ttext);
    free(tkeys);
    close(fd);
    return s;
}

static void tsr_audit_log(void *ctx, const char *line)
{
    (void)ctx;
    tsr_log_warn("audit: %s", line);
}

tsr_status_t tsr_audit_seal(const char *outdir, const char *fingerprint, char head[TSR_DIGEST_MAX])
{
    tsr_audit_opts_t o = {0};
    o.problem = tsr_audit_log;
    tsr_audit_result_t r;
    TSR_CALL(tsr_audit_check(outdir, &o, &r));
    if (r.n_problems > 0)
        return tsr_error_set(TSR_ERR_STATE, "the audit of '%s' found %d problems (logged above); "
                                            "run `tessera verify %s` for the list",
                             outdir, r.n_problems, outdir);
    snprintf(head, TSR_DIGEST_MAX, "%s", r.head);
    if (r.sealed)
        return TSR_OK;
    char jpath[4200];
    TSR_CALL(tsr_journal_path(outdir, jpath, sizeof jpath));
    tsr_journal_t *j = NULL;
    TSR_CALL(tsr_journal_open_visit(jpath, fingerprint, NULL, NULL, &j));
    tsr_status_t s = tsr_journal_append_head(j, r.head);
    tsr_journal_close(&j);
    return s;
}
