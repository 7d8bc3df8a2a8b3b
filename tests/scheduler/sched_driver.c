/*
 * sched_driver.c - an MPI program that runs a synthetic task graph through
 * tsr_sched_run and checks the journal it leaves.
 *
 *   sched_driver [--out DIR] [--tasks N] [--sleep-us U] [--outputs-every K]
 *                [--batch B] [--report FILE]
 *   sched_driver --scan DIR        (no MPI) print the journal's completed-record count
 *
 * The graph (N tasks, default 10,000): task i has type i % 4, cost
 * (i * 7919) % 100, depends on (i - 1) / 2 when i % 3 == 0 and on i - 1000
 * when i >= 1000 and i % 7 == 0; every K-th task (default 50) writes
 * out/NNNNNNN.txt whose content depends only on i. Odd tasks belong to a
 * task family (key and output made from i on demand), even ones are added
 * with their strings. Only rank 0 builds the graph: the other ranks pass
 * NULL and run what the dispatcher's messages carry. After the run rank 0
 * prints "journal-digest XXXXXXXX records R": a CRC over the sorted, unique
 * completion records of journal.tsv, so the digest is the same whatever the
 * order tasks finished in or the number of ranks; it also rebuilds the
 * records the journal must hold from the graph alone and exits 1 if they
 * differ. Prints "executed E skipped S total N interrupted I" (also to
 * --report). Without --out it works in a temporary directory it removes.
 * The exit code is tsr_status_exit_code() of the run (75 after a signal).
 */
#include "scheduler/scheduler.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

typedef struct driver {
    const char *outdir;
    long sleep_us;
} driver_t;

static void task_content(int64_t i, char *buf, size_t len)
{
    snprintf(buf, len, "synthetic output of task %lld: %llu\n", (long long)i,
             (unsigned long long)((uint64_t)i * 2654435761u));
}

static tsr_status_t driver_exec(void *ctx, const tsr_task_t *t)
{
    const driver_t *d = ctx;
    if (d->sleep_us > 0) {
        struct timespec ts = {d->sleep_us / 1000000, (d->sleep_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    for (int k = 0; k < t->n_outputs; k++) {
        char path[4096], tmp[4200], dir[4096], content[128];
        snprintf(dir, sizeof dir, "%s/out", d->outdir);
        TSR_CALL(tsr_mkdir_p(dir));
        snprintf(path, sizeof path, "%s/%s", d->outdir, t->outputs[k]);
        TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
        task_content(t->arg, content, sizeof content);
        FILE *f = fopen(tmp, "w");
        if (!f)
            return tsr_error_set(TSR_ERR_IO, "cannot write '%s'", tmp);
        int bad = fputs(content, f) < 0;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, path) != 0)
            return tsr_error_set(TSR_ERR_IO, "cannot write '%s'", path);
    }
    return TSR_OK;
}

/* The family of odd tasks: the same key and output as an even task's, made from the arg. */
static tsr_status_t family_strings(const void *ctx, int64_t arg, char *key, char (*out)[TSR_TASK_STR_MAX])
{
    (void)ctx;
    snprintf(key, TSR_TASK_STR_MAX, "task/%07lld", (long long)arg);
    snprintf(out[0], TSR_TASK_STR_MAX, "out/%07lld.txt", (long long)arg); /* unused without outputs */
    return TSR_OK;
}

static tsr_status_t build_graph(tsr_graph_t *g, int n, int every)
{
    tsr_task_family_t f = {.strings = family_strings, .n_outputs = 0};
    int fam_none, fam_one;
    TSR_CALL(tsr_graph_family_add(g, &f, &fam_none));
    f.n_outputs = 1;
    TSR_CALL(tsr_graph_family_add(g, &f, &fam_one));
    for (int i = 0; i < n; i++) {
        char key[64], out[64];
        snprintf(key, sizeof key, "task/%07d", i);
        snprintf(out, sizeof out, "out/%07d.txt", i);
        const char *outs[1] = {out};
        tsr_task_id_t id;
        int with = i % every == 0;
        if (i % 2)
            TSR_CALL(tsr_graph_add_family(g, with ? fam_one : fam_none, i % 4, (double)((i * 7919) % 100), i, &id));
        else
            TSR_CALL(tsr_graph_add(g, i % 4, key, (double)((i * 7919) % 100), i, outs, with ? 1 : 0, &id));
        if (i > 0 && i % 3 == 0)
            TSR_CALL(tsr_graph_add_dep(g, id, (i - 1) / 2));
        if (i >= 1000 && i % 7 == 0)
            TSR_CALL(tsr_graph_add_dep(g, id, i - 1000));
    }
    return TSR_OK;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sort, drop duplicates, CRC the lines joined by newlines. */
static uint32_t lines_digest(char **lines, int *n)
{
    qsort(lines, (size_t)*n, sizeof *lines, str_cmp);
    int u = 0;
    for (int i = 0; i < *n; i++)
        if (u == 0 || strcmp(lines[i], lines[u - 1]) != 0)
            lines[u++] = lines[i];
        else
            free(lines[i]);
    *n = u;
    uLong c = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < u; i++) {
        c = crc32(c, (const Bytef *)lines[i], (uInt)strlen(lines[i]));
        c = crc32(c, (const Bytef *)"\n", 1);
    }
    return (uint32_t)c;
}

/* Completion records of the journal file, as text lines without the newline. */
static int journal_digest(const char *outdir, uint32_t *digest, int *records)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/journal.tsv", outdir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int cap = 1024, n = 0;
    char **lines = malloc((size_t)cap * sizeof *lines);
    char buf[8192];
    while (lines && fgets(buf, sizeof buf, f)) {
        size_t len = strlen(buf);
        if (len == 0 || buf[len - 1] != '\n' || buf[0] != 'D')
            continue;
        buf[len - 1] = '\0';
        /* the link to the previous line and the line's checksum depend on the order tasks finished in */
        for (int k = 0; k < 2; k++) {
            char *tab = strrchr(buf, '\t');
            if (tab)
                *tab = '\0';
        }
        /* an output's size and mtime ("<crc>:<size>:<mtime_ns>", format 3) depend on when it was written */
        char *w = buf;
        for (char *r = buf; *r;) {
            char *fe = r + strcspn(r, "\t");
            size_t fl = (size_t)(fe - r);
            if (fl > 9 && r[8] == ':' && strspn(r, "0123456789abcdef") == 8)
                fl = 8;
            memmove(w, r, fl);
            w += fl;
            r = fe;
            if (*r)
                *w++ = *r++;
        }
        *w = '\0';
        if (n == cap) {
            char **nl = realloc(lines, (size_t)cap * 2 * sizeof *nl);
            if (!nl)
                break;
            lines = nl;
            cap *= 2;
        }
        lines[n++] = strdup(buf);
    }
    fclose(f);
    if (!lines)
        return -1;
    *digest = lines_digest(lines, &n);
    *records = n;
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return 0;
}

/* The records the journal must hold after a complete run, built from the graph alone. */
static int expected_digest(const tsr_graph_t *g, uint32_t *digest, int *records)
{
    int n = tsr_graph_size(g);
    char **lines = malloc((size_t)n * sizeof *lines + 1);
    tsr_task_buf_t *buf = malloc(sizeof *buf);
    if (!lines || !buf) {
        free(lines);
        free(buf);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const tsr_task_t *t = tsr_graph_task(g, i, buf);
        char line[512], content[128];
        int len = snprintf(line, sizeof line, "D\t%s\t%d", t->key, t->n_outputs);
        if (t->n_outputs) {
            task_content(t->arg, content, sizeof content);
            uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)content, (uInt)strlen(content));
            char sha[TSR_SHA256_HEX + 1];
            if (tsr_sha256_bytes(content, strlen(content), sha) != TSR_OK)
                return -1;
            len += snprintf(line + len, sizeof line - (size_t)len, "\t%s\t%08x\tsha256:%s", t->outputs[0], c, sha);
        }
        lines[i] = strdup(line);
    }
    free(buf);
    *digest = lines_digest(lines, &n);
    *records = n;
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--scan") == 0) {
        char path[4096];
        int n_done = 0;
        snprintf(path, sizeof path, "%s/journal.tsv", argv[2]);
        if (tsr_journal_scan(path, NULL, 0, &n_done, NULL, 0, NULL, NULL) != TSR_OK) {
            fprintf(stderr, "sched_driver: %s\n", tsr_error_msg());
            return 1;
        }
        printf("%d\n", n_done);
        return 0;
    }
    tsr_signals_install();
    tsr_rt_t *rt = NULL;
    if (tsr_rt_create(&argc, &argv, &rt) != TSR_OK) {
        fprintf(stderr, "sched_driver: %s\n", tsr_error_msg());
        return 1;
    }
    tsr_log_configure(TSR_LOG_WARN, rt->rank);
    int n = 10000, every = 50, batch = 4;
    long sleep_us = 0;
    const char *out = NULL, *report = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "sched_driver: option %s needs a value\n", a);
            tsr_rt_destroy(&rt);
            return 2;
        }
        if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--tasks") == 0)
            n = atoi(v);
        else if (strcmp(a, "--sleep-us") == 0)
            sleep_us = atol(v);
        else if (strcmp(a, "--outputs-every") == 0)
            every = atoi(v);
        else if (strcmp(a, "--batch") == 0)
            batch = atoi(v);
        else if (strcmp(a, "--report") == 0)
            report = v;
        else {
            fprintf(stderr, "sched_driver: unknown option %s\n", a);
            tsr_rt_destroy(&rt);
            return 2;
        }
        i++;
    }
    char tmpdir[64] = "";
    if (!out) {
        /* Rank 0 makes the directory; every rank needs its name. */
        if (rt->rank == 0) {
            snprintf(tmpdir, sizeof tmpdir, "/tmp/tsr_driver_XXXXXX");
            if (!mkdtemp(tmpdir))
                tmpdir[0] = '\0';
        }
        MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, rt->comm);
        if (!tmpdir[0]) {
            fprintf(stderr, "sched_driver: cannot create a temporary directory\n");
            tsr_rt_destroy(&rt);
            return 1;
        }
        out = tmpdir;
    }
    if (n < 1 || every < 1) {
        fprintf(stderr, "sched_driver: --tasks and --outputs-every must be >= 1\n");
        tsr_rt_destroy(&rt);
        return 2;
    }
    tsr_graph_t *g = NULL; /* rank 0's alone */
    tsr_status_t s = rt->rank == 0 ? tsr_graph_create(&g) : TSR_OK;
    if (s == TSR_OK && g)
        s = build_graph(g, n, every);
    driver_t d = {out, sleep_us};
    tsr_sched_opts_t o;
    tsr_sched_opts_init(&o);
    o.outdir = out;
    o.fingerprint = "sched-driver-v1";
    o.batch = batch;
    o.progress = 0;
    o.grace_seconds = 10;
    tsr_sched_result_t res = {0};
    if (s == TSR_OK)
        s = tsr_sched_run(rt->comm, g, &o, driver_exec, &d, &res);
    int rc = tsr_status_exit_code(s);
    if (rt->rank == 0) {
        if (s != TSR_OK)
            fprintf(stderr, "sched_driver: %s\n", tsr_error_msg());
        printf("executed %d skipped %d total %d interrupted %d\n", res.n_executed, res.n_skipped, res.n_tasks,
               res.interrupted);
        if (report) {
            FILE *f = fopen(report, "w");
            if (f) {
                fprintf(f, "executed %d skipped %d total %d interrupted %d\n", res.n_executed, res.n_skipped,
                        res.n_tasks, res.interrupted);
                fclose(f);
            }
        }
        if (s == TSR_OK) {
            uint32_t got = 0, want = 0;
            int n_got = 0, n_want = 0;
            if (journal_digest(out, &got, &n_got) != 0 || expected_digest(g, &want, &n_want) != 0) {
                fprintf(stderr, "sched_driver: cannot read the journal in %s\n", out);
                rc = 1;
            } else {
                printf("journal-digest %08x records %d\n", got, n_got);
                if (got != want || n_got != n_want) {
                    fprintf(stderr, "sched_driver: journal holds %d records (digest %08x), expected %d (%08x)\n",
                            n_got, got, n_want, want);
                    rc = 1;
                }
            }
        }
        fflush(stdout);
        if (tmpdir[0])
            nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    tsr_graph_destroy(&g);
    tsr_rt_destroy(&rt);
    return rc;
}
