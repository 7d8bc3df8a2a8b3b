/*
 * test_scheduler.c - single-process tests of the task graph, the journal and
 * tsr_sched_run at one rank (the dispatcher thread and the worker share the
 * process, as on rank 0 of a real run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scheduler/scheduler_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static MPI_Comm g_comm; /* the test process's communicator, set once in main */

/* ------------------------------------------------------------ helpers */

typedef struct exec_ctx {
    const char *outdir;
    int32_t order[256]; /* task ids in execution order */
    int n;
    int32_t attempts[256];
    tsr_task_id_t transient_task; /* fails TRANSIENT while attempt < transient_times */
    int transient_times;
    tsr_task_id_t fail_task; /* fails with fail_status */
    tsr_status_t fail_status;
    tsr_task_id_t signal_task; /* raises SIGTERM while running */
} exec_ctx_t;

static void ctx_init(exec_ctx_t *c, const char *outdir)
{
    memset(c, 0, sizeof *c);
    c->outdir = outdir;
    c->transient_task = c->fail_task = c->signal_task = -1;
}

/* Write each output through a temporary name; content depends only on the task. */
static tsr_status_t write_outputs(const exec_ctx_t *c, const tsr_task_t *t)
{
    for (int k = 0; k < t->n_outputs; k++) {
        char path[4096], tmp[4200];
        snprintf(path, sizeof path, "%s/%s", c->outdir, t->outputs[k]);
        TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
        FILE *f = fopen(tmp, "w");
        if (!f)
            return tsr_error_set(TSR_ERR_IO, "cannot write %s", tmp);
        fprintf(f, "task %s output %d arg %lld\n", t->key, k, (long long)t->arg);
        fclose(f);
        if (rename(tmp, path) != 0)
            return tsr_error_set(TSR_ERR_IO, "cannot rename %s", tmp);
    }
    return TSR_OK;
}

static tsr_status_t exec_record(void *vctx, const tsr_task_t *t)
{
    exec_ctx_t *c = vctx;
    if (t->id < 256)
        c->attempts[t->id] = t->attempt;
    if (t->id == c->transient_task && t->attempt < c->transient_times)
        return tsr_error_set(TSR_ERR_TRANSIENT, "file system busy (attempt %d)", t->attempt);
    if (t->id == c->fail_task)
        return tsr_error_set(c->fail_status, "bad record in input.txt line 3: expected 4 columns");
    if (t->id == c->signal_task)
        raise(SIGTERM);
    TSR_CALL(write_outputs(c, t));
    if (c->n < 256)
        c->order[c->n++] = t->id;
    return TSR_OK;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

typedef struct fixture {
    char dir[64];
    tsr_graph_t *g;
    exec_ctx_t ctx;
    tsr_sched_opts_t opts;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/tsr_sched_XXXXXX");
    if (!mkdtemp(f->dir) || tsr_graph_create(&f->g) != TSR_OK)
        return -1;
    ctx_init(&f->ctx, f->dir);
    tsr_sched_opts_init(&f->opts);
    f->opts.outdir = f->dir;
    f->opts.fingerprint = "fp-test-1";
    f->opts.progress = 0;
    tsr_error_clear();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    tsr_graph_destroy(&f->g);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static tsr_task_id_t add_task(tsr_graph_t *g, const char *key, double cost, int with_output)
{
    char out[256];
    snprintf(out, sizeof out, "%s.out", key);
    const char *outs[1] = {out};
    tsr_task_id_t id = -1;
    assert_int_equal(tsr_graph_add(g, 1, key, cost, 7, outs, with_output ? 1 : 0, &id), TSR_OK);
    return id;
}

/* A layered graph of n tasks: task i > 0 depends on (i - 1) / 2, each with one output. */
static void build_tree(tsr_graph_t *g, int n)
{
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "t%03d", i);
        add_task(g, key, (double)(i % 5), 1);
        if (i > 0)
            assert_int_equal(tsr_graph_add_dep(g, i, (i - 1) / 2), TSR_OK);
    }
}

static tsr_status_t run(fixture_t *f, tsr_sched_result_t *res)
{
    tsr_error_clear();
    f->ctx.n = 0;
    return tsr_sched_run(g_comm, f->g, &f->opts, exec_record, &f->ctx, res);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static char *read_file(const char *path, long *len)
{
    long n = file_size(path);
    assert_true(n >= 0);
    char *d = malloc((size_t)n + 1);
    assert_non_null(d);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(d, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    d[n] = '\0';
    *len = n;
    return d;
}

static void write_file(const char *path, const char *d, long n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(d, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
}

/* ------------------------------------------------------------ graph */

static void test_graph_basics(void **state)
{
    fixture_t *f = *state;
    tsr_task_buf_t tb;
    tsr_task_id_t a = add_task(f->g, "a", 1, 1);
    tsr_task_id_t b = add_task(f->g, "b", 2, 0);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(tsr_graph_size(f->g), 2);
    const tsr_task_t *t = tsr_graph_task(f->g, a, &tb);
    assert_string_equal(t->key, "a");
    assert_int_equal(t->n_outputs, 1);
    assert_string_equal(t->outputs[0], "a.out");
    assert_int_equal(t->arg, 7);
    assert_int_equal(tsr_graph_type(f->g, a), 1);
    assert_null(tsr_graph_task(f->g, 2, &tb));
    assert_int_equal(tsr_graph_find(f->g, "b"), b);
    assert_int_equal(tsr_graph_find(f->g, "c"), -1);
    tsr_task_id_t id;
    assert_int_equal(tsr_graph_add(f->g, 0, "a", 1, 0, NULL, 0, &id), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_graph_add(f->g, 0, "bad\tkey", 1, 0, NULL, 0, &id), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_graph_add(f->g, -1, "neg", 1, 0, NULL, 0, &id), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_graph_add_dep(f->g, a, 5), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_graph_add_dep(f->g, a, a), TSR_ERR_INTERNAL);
    tsr_error_clear();
    /* A string task's strings stay valid while the graph grows (the index rehashes several times). */
    for (int i = 0; i < 10000; i++) {
        char key[32];
        snprintf(key, sizeof key, "grow%d", i);
        add_task(f->g, key, 0, 0);
    }
    assert_string_equal(t->key, "a");
    assert_string_equal(t->outputs[0], "a.out");
    assert_int_equal(tsr_graph_find(f->g, "grow9999"), 10001);
}

/* A family of tasks whose key and outputs are made from the arg, as the pipeline's call tasks are. */
static tsr_status_t fam_strings(const void *ctx, int64_t arg, char *key, char (*out)[TSR_TASK_STR_MAX])
{
    const char *prefix = ctx;
    if (arg == 66666)
        snprintf(key, TSR_TASK_STR_MAX, "has\ttab");
    else
        snprintf(key, TSR_TASK_STR_MAX, "%s/%lld", prefix, (long long)arg);
    snprintf(out[0], TSR_TASK_STR_MAX, "fam/%lld.a", (long long)arg);
    snprintf(out[1], TSR_TASK_STR_MAX, "fam/%lld.b", (long long)arg);
    return TSR_OK;
}

static void test_graph_family(void **state)
{
    fixture_t *f = *state;
    tsr_task_buf_t tb;
    tsr_task_family_t fam = {.strings = fam_strings, .ctx = "call", .n_outputs = 2};
    int h = -1;
    assert_int_equal(tsr_graph_family_add(f->g, &fam, &h), TSR_OK);
    tsr_task_id_t s0 = add_task(f->g, "call/5", 1, 0); /* a string task with a family-shaped key */
    size_t empty = tsr_graph_bytes(f->g);
    for (int i = 0; i < 20000; i++) {
        tsr_task_id_t id;
        tsr_status_t s = tsr_graph_add_family(f->g, h, 2, (double)(i % 7), i, &id);
        if (i == 5) { /* its key is the string task's */
            assert_int_equal(s, TSR_ERR_INTERNAL);
            assert_non_null(strstr(tsr_error_msg(), "added twice"));
            tsr_error_clear();
            continue;
        }
        assert_int_equal(s, TSR_OK);
    }
    assert_int_equal(tsr_graph_size(f->g), 1 + 19999);
    /* no strings stored: slots, index and edges only, well under 40 bytes a task */
    assert_true(tsr_graph_bytes(f->g) - empty < (size_t)20000 * 40);
    tsr_task_id_t id = tsr_graph_find(f->g, "call/12345");
    assert_int_equal(id, 1 + 12345 - 1); /* task 5 was refused */
    const tsr_task_t *t = tsr_graph_task(f->g, id, &tb);
    assert_string_equal(t->key, "call/12345");
    assert_int_equal(t->arg, 12345);
    assert_int_equal(t->type, 2);
    assert_int_equal(t->n_outputs, 2);
    assert_string_equal(t->outputs[0], "fam/12345.a");
    assert_string_equal(t->outputs[1], "fam/12345.b");
    assert_true(t->cost == (double)(12345 % 7));
    assert_int_equal(tsr_graph_find(f->g, "call/5"), s0);
    assert_int_equal(tsr_graph_find(f->g, "call/20000"), -1);
    /* a string task's key may not repeat a family task's either, and generated strings are checked */
    assert_int_equal(tsr_graph_add(f->g, 0, "call/7", 1, 0, NULL, 0, &id), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_graph_add_family(f->g, h, 0, 1, 66666, &id), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_graph_add_family(f->g, h + 1, 0, 1, 1, &id), TSR_ERR_INTERNAL);
    tsr_error_clear();
    fam.n_outputs = TSR_TASK_FAMILY_OUTPUTS + 1;
    assert_int_equal(tsr_graph_family_add(f->g, &fam, &h), TSR_ERR_INTERNAL);
    tsr_error_clear();
}

static void test_cycle_refused(void **state)
{
    fixture_t *f = *state;
    add_task(f->g, "a", 1, 0);
    add_task(f->g, "b", 1, 0);
    add_task(f->g, "c", 1, 0);
    add_task(f->g, "free", 1, 0);
    assert_int_equal(tsr_graph_add_dep(f->g, 1, 0), TSR_OK);
    assert_int_equal(tsr_graph_add_dep(f->g, 2, 1), TSR_OK);
    assert_int_equal(tsr_graph_add_dep(f->g, 0, 2), TSR_OK);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_ERR_INTERNAL);
    assert_non_null(strstr(tsr_error_msg(), "cycle"));
    assert_int_equal(f->ctx.n, 0);
}

/* ------------------------------------------------------------ ordering */

static void test_longest_first_independent(void **state)
{
    fixture_t *f = *state;
    const double cost[12] = {3, 9, 1, 9, 5, 0, 7, 3, 9, 2, 5, 8};
    for (int i = 0; i < 12; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        add_task(f->g, key, cost[i], 0);
    }
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 12);
    assert_int_equal(f->ctx.n, 12);
    for (int i = 1; i < 12; i++) {
        int32_t p = f->ctx.order[i - 1], q = f->ctx.order[i];
        assert_true(cost[p] > cost[q] || (cost[p] == cost[q] && p < q));
    }
}

static void test_longest_first_with_deps(void **state)
{
    fixture_t *f = *state;
    tsr_task_id_t a = add_task(f->g, "a", 1, 0);
    tsr_task_id_t b = add_task(f->g, "b", 5, 0);
    tsr_task_id_t c = add_task(f->g, "c", 9, 0);
    tsr_task_id_t d = add_task(f->g, "d", 3, 0);
    assert_int_equal(tsr_graph_add_dep(f->g, b, a), TSR_OK);
    assert_int_equal(tsr_graph_add_dep(f->g, c, a), TSR_OK);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(f->ctx.n, 4);
    /* Ready at start: d (3) before a (1); a releases c (9) and b (5). */
    assert_int_equal(f->ctx.order[0], d);
    assert_int_equal(f->ctx.order[1], a);
    assert_int_equal(f->ctx.order[2], c);
    assert_int_equal(f->ctx.order[3], b);
}

static void test_deps_respected(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 200);
    /* Extra cross-layer dependencies, one duplicated. */
    assert_int_equal(tsr_graph_add_dep(f->g, 150, 3), TSR_OK);
    assert_int_equal(tsr_graph_add_dep(f->g, 150, 3), TSR_OK);
    assert_int_equal(tsr_graph_add_dep(f->g, 20, 199), TSR_OK);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_tasks, 200);
    assert_int_equal(res.n_executed, 200);
    assert_int_equal(f->ctx.n, 200);
    int pos[200];
    for (int i = 0; i < 200; i++)
        pos[f->ctx.order[i]] = i;
    for (int i = 1; i < 200; i++)
        assert_true(pos[(i - 1) / 2] < pos[i]);
    assert_true(pos[3] < pos[150]);
    assert_true(pos[199] < pos[20]);
}

/*
 * Gates: 6 producers -> gate -> 5 consumers (11 dependencies instead of 30), a gate that waits on nothing,
 * and a gate between two gates. The consumers run after every producer; gates never run, are not in
 * tasks.tsv nor counted as tasks; a rerun skips everything; a changed producer output reruns the consumers.
 */
static void test_gates(void **state)
{
    fixture_t *f = *state;
    tsr_task_id_t prod[6], cons[5], gate, empty, g2;
    char key[64];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "p%d", i);
        prod[i] = add_task(f->g, key, 1.0, 1);
    }
    assert_int_equal(tsr_graph_add_gate(f->g, "gate/a", &gate), TSR_OK);
    assert_int_equal(tsr_graph_add_gate(f->g, "gate/empty", &empty), TSR_OK);
    assert_int_equal(tsr_graph_add_gate(f->g, "gate/b", &g2), TSR_OK);
    assert_int_not_equal(tsr_graph_add_gate(f->g, "gate/a", NULL), TSR_OK); /* keys stay unique */
    tsr_error_clear();
    assert_true(tsr_graph_is_gate(f->g, gate) && !tsr_graph_is_gate(f->g, prod[0]));
    for (int i = 0; i < 6; i++)
        assert_int_equal(tsr_graph_add_dep(f->g, gate, prod[i]), TSR_OK);
    assert_int_equal(tsr_graph_add_dep(f->g, g2, gate), TSR_OK);
    assert_int_equal(tsr_graph_add_dep(f->g, g2, empty), TSR_OK);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "c%d", i);
        cons[i] = add_task(f->g, key, 9.0, 1); /* costlier: dispatched first if a gate let them through */
        assert_int_equal(tsr_graph_add_dep(f->g, cons[i], i % 2 ? gate : g2), TSR_OK);
    }
    assert_int_equal(tsr_graph_n_deps(f->g), 6 + 2 + 5);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_tasks, 11);
    assert_int_equal(res.n_executed, 11);
    assert_int_equal(f->ctx.n, 11);
    int pos[32];
    for (int i = 0; i < 11; i++) {
        assert_false(tsr_graph_is_gate(f->g, f->ctx.order[i]));
        pos[f->ctx.order[i]] = i;
    }
    for (int c = 0; c < 5; c++)
        for (int p = 0; p < 6; p++)
            assert_true(pos[prod[p]] < pos[cons[c]]);
    char path[256];
    snprintf(path, sizeof path, "%s/tasks.tsv", f->dir);
    long len;
    char *d = read_file(path, &len);
    int lines = 0;
    for (long i = 0; i < len; i++)
        lines += d[i] == '\n';
    assert_int_equal(lines, 11);
    assert_null(strstr(d, "gate/"));
    free(d);
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 0);
    assert_int_equal(res.n_skipped, 11);
    /* a producer's output changed: it runs again, and through the gates every consumer */
    snprintf(path, sizeof path, "%s/p3.out", f->dir);
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs("tampered\n", fp);
    fclose(fp);
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 6);
    assert_int_equal(res.n_skipped, 5);
    assert_int_equal(f->ctx.order[0], prod[3]);
}

/* ------------------------------------------------------------ failures */

static void test_transient_retried(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 7);
    f->ctx.transient_task = 2;
    f->ctx.transient_times = 2;
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 7);
    assert_int_equal(res.n_retried, 2);
    assert_int_equal(res.n_failed, 0);
    assert_int_equal(f->ctx.attempts[2], 2);
    assert_int_equal(f->ctx.attempts[1], 0);
}

static void test_transient_exhausted(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 7);
    f->ctx.transient_task = 2;
    f->ctx.transient_times = 5;
    f->opts.max_retries = 1;
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_ERR_TRANSIENT);
    assert_int_equal(res.n_retried, 1);
    assert_int_equal(res.n_failed, 1);
    assert_non_null(strstr(tsr_error_msg(), "file system busy"));
    assert_non_null(strstr(tsr_error_msg(), "t002"));
}

static void test_permanent_failure(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 15);
    f->ctx.fail_task = 1;
    f->ctx.fail_status = TSR_ERR_FORMAT;
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_ERR_FORMAT);
    assert_string_equal(tsr_error_msg(), "bad record in input.txt line 3: expected 4 columns");
    assert_int_equal(res.n_failed, 1);
    assert_int_equal(res.interrupted, 0);
    /* Nothing that depends on the failed task ran. */
    for (int i = 0; i < f->ctx.n; i++) {
        int32_t t = f->ctx.order[i];
        for (int32_t a = t; a > 0; a = (a - 1) / 2)
            assert_int_not_equal(a, 1);
    }
    /* The journal's last error and inspect tell the user. */
    char jpath[256], fp[64], err[2048];
    snprintf(jpath, sizeof jpath, "%s/journal.tsv", f->dir);
    int n_done = -1;
    assert_int_equal(tsr_journal_scan(jpath, fp, sizeof fp, &n_done, err, sizeof err, NULL, NULL), TSR_OK);
    assert_string_equal(fp, "fp-test-1");
    assert_int_equal(n_done, f->ctx.n);
    assert_non_null(strstr(err, "t001"));
    assert_non_null(strstr(err, "expected 4 columns"));
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    assert_int_equal(tsr_inspect_print(f->dir, mem), TSR_OK);
    fclose(mem);
    char want[64];
    snprintf(want, sizeof want, "done %d left %d\n", f->ctx.n, 15 - f->ctx.n);
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "(type 1): "));
    assert_non_null(strstr(buf, "fingerprint: fp-test-1"));
    assert_non_null(strstr(buf, "expected 4 columns"));
    free(buf);
    /* A rerun with the fault gone finishes the rest. */
    f->ctx.fail_task = -1;
    int before = f->ctx.n;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_skipped, before);
    assert_int_equal(res.n_executed, 15 - before);
}

static void test_signal_interrupts(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 31);
    f->ctx.signal_task = 0;
    tsr_signals_install();
    tsr_signals_reset();
    tsr_sched_result_t res;
    tsr_status_t s = run(f, &res);
    tsr_signals_reset();
    assert_int_equal(s, TSR_ERR_INTERRUPTED);
    assert_int_equal(tsr_status_exit_code(s), TSR_EXIT_INTERRUPTED);
    assert_int_equal(res.interrupted, 1);
    assert_true(res.n_executed < 31);
    int32_t first = res.n_executed;
    f->ctx.signal_task = -1;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_skipped, first);
    assert_int_equal(res.n_executed, 31 - first);
}

/* ------------------------------------------------------------ journal */

static void test_replay_skips_done(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 63);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 63);
    assert_int_equal(res.n_skipped, 0);
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 0);
    assert_int_equal(res.n_skipped, 63);
    assert_int_equal(f->ctx.n, 0);
    /* tasks.tsv lists every task. */
    char path[256];
    snprintf(path, sizeof path, "%s/tasks.tsv", f->dir);
    long len;
    char *d = read_file(path, &len);
    assert_non_null(strstr(d, "0\t1\tt000\n"));
    assert_non_null(strstr(d, "62\t1\tt062\n"));
    free(d);
}

static void test_changed_output_rerun(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 15);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    /* Change task 10's output (a leaf) and delete task 2's (above 5, 6, 11..14). */
    char path[256];
    snprintf(path, sizeof path, "%s/t010.out", f->dir);
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs("tampered\n", fp);
    fclose(fp);
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 1);
    assert_int_equal(f->ctx.order[0], 10);
    snprintf(path, sizeof path, "%s/t002.out", f->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(run(f, &res), TSR_OK);
    /* 2 and everything below it: 2, 5, 6, 11, 12, 13, 14. */
    assert_int_equal(res.n_executed, 7);
    assert_int_equal(res.n_skipped, 8);
    assert_int_equal(f->ctx.order[0], 2);
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 0);
}

static void test_fingerprint_mismatch(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 3);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    f->opts.fingerprint = "fp-other-2";
    assert_int_equal(run(f, &res), TSR_ERR_STATE);
    const char *m = tsr_error_msg();
    assert_non_null(strstr(m, "belongs to another run"));
    assert_non_null(strstr(m, "fp-test-1"));
    assert_non_null(strstr(m, "fp-other-2"));
    assert_non_null(strstr(m, f->dir));
    assert_int_equal(f->ctx.n, 0);
}

/* A second run on the same output directory is refused while the first holds the journal. */
static void test_journal_locked(void **state)
{
    fixture_t *f = *state;
    char jpath[256];
    snprintf(jpath, sizeof jpath, "%s/journal.tsv", f->dir);
    tsr_journal_t *a = NULL, *b = NULL;
    assert_int_equal(tsr_journal_open(jpath, "fp-lock", &a), TSR_OK);
    tsr_error_clear();
    /* the second open waits for the lock (here 0.3 s) before it gives up */
    setenv("TSR_JOURNAL_LOCK_WAIT_S", "0.3", 1);
    assert_int_equal(tsr_journal_open(jpath, "fp-lock", &b), TSR_ERR_STATE);
    assert_null(b);
    assert_non_null(strstr(tsr_error_msg(), "locked by another tessera run"));
    tsr_journal_close(&a);
    tsr_error_clear();
    assert_int_equal(tsr_journal_open(jpath, "fp-lock", &b), TSR_OK);
    tsr_journal_close(&b);
    /*
     * A previous run's process that still holds the lock for a moment after
     * its mpirun returned (issue 21's flaky rerun): the open waits it out.
     */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(jpath, O_RDONLY);
        if (fd < 0 || flock(fd, LOCK_EX) != 0)
            _exit(1);
        if (write(pfd[1], "x", 1) != 1)
            _exit(1);
        usleep(500 * 1000);
        _exit(0);
    }
    char c;
    assert_int_equal(read(pfd[0], &c, 1), 1); /* the child holds the lock */
    setenv("TSR_JOURNAL_LOCK_WAIT_S", "30", 1);
    tsr_error_clear();
    assert_int_equal(tsr_journal_open(jpath, "fp-lock", &b), TSR_OK);
    tsr_journal_close(&b);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(pfd[0]);
    close(pfd[1]);
    unsetenv("TSR_JOURNAL_LOCK_WAIT_S");
}

/* A read-only open (tessera verify) replays the records, changes no byte, refuses appends and a locked journal. */
static void test_journal_readonly(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 10);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    char jpath[256];
    snprintf(jpath, sizeof jpath, "%s/journal.tsv", f->dir);
    long len;
    char *d = read_file(jpath, &len);
    write_file(jpath, d, len - 5); /* a torn last record, which a read-write open would cut back */
    tsr_journal_t *j = NULL;
    assert_int_equal(tsr_journal_open_readonly(jpath, &j), TSR_OK);
    assert_int_equal(tsr_journal_n_done(j), 9);
    tsr_error_clear();
    assert_int_equal(tsr_journal_append_error(j, "x", TSR_ERR_IO, "no"), TSR_ERR_STATE);
    assert_non_null(strstr(tsr_error_msg(), "read-only"));
    tsr_journal_close(&j);
    long len2;
    char *d2 = read_file(jpath, &len2);
    assert_int_equal(len2, len - 5);
    assert_memory_equal(d, d2, (size_t)len2);
    free(d2);
    free(d);

    tsr_journal_t *w = NULL;
    assert_int_equal(tsr_journal_open(jpath, "fp-test-1", &w), TSR_OK);
    tsr_error_clear();
    assert_int_equal(tsr_journal_open_readonly(jpath, &j), TSR_ERR_STATE);
    assert_null(j);
    assert_non_null(strstr(tsr_error_msg(), "locked"));
    tsr_journal_close(&w);
    snprintf(jpath, sizeof jpath, "%s/none.tsv", f->dir);
    assert_int_equal(tsr_journal_open_readonly(jpath, &j), TSR_ERR_IO);
    assert_null(j);
}

static void test_truncated_last_line(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 10);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    char jpath[256];
    snprintf(jpath, sizeof jpath, "%s/journal.tsv", f->dir);
    long len;
    char *d = read_file(jpath, &len);
    /* Cut the last record in the middle (kill -9 during a write). */
    write_file(jpath, d, len - 5);
    tsr_journal_t *j = NULL;
    assert_int_equal(tsr_journal_open(jpath, "fp-test-1", &j), TSR_OK);
    assert_int_equal(tsr_journal_n_done(j), 9);
    tsr_journal_close(&j);
    assert_null(j);
    long cut = file_size(jpath);
    assert_true(cut < len - 5);
    assert_int_equal(d[cut - 1], '\n');
    long len2;
    char *d2 = read_file(jpath, &len2);
    assert_int_equal(len2, cut);
    assert_memory_equal(d, d2, (size_t)cut);
    free(d2);
    free(d);
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_executed, 1);
    assert_int_equal(res.n_skipped, 9);
    int n_done = 0;
    assert_int_equal(tsr_journal_scan(jpath, NULL, 0, &n_done, NULL, 0, NULL, NULL), TSR_OK);
    assert_int_equal(n_done, 10);
    /* the chain continues from the last whole record: every line links to the one before it */
    tsr_audit_opts_t ao = {0};
    tsr_audit_result_t ar;
    assert_int_equal(tsr_audit_check(f->dir, &ao, &ar), TSR_OK);
    assert_int_equal(ar.n_problems, 0);
    assert_int_equal(ar.n_tasks, 10);
}

static void count_keys(void *ctx, const char *key)
{
    (void)key;
    (*(int *)ctx)++;
}

static void test_corrupted_middle_line(void **state)
{
    fixture_t *f = *state;
    build_tree(f->g, 10);
    tsr_sched_result_t res;
    assert_int_equal(run(f, &res), TSR_OK);
    char jpath[256];
    snprintf(jpath, sizeof jpath, "%s/journal.tsv", f->dir);
    long len;
    char *d = read_file(jpath, &len);
    /* Line 4 (the third record): flip one byte of its key. */
    char *line = d;
    for (int i = 0; i < 3; i++)
        line = strchr(line, '\n') + 1;
    long good_end = line - d;
    line[3] ^= 0x01;
    write_file(jpath, d, len);
    int visited = 0, n_done = -1;
    assert_int_equal(tsr_journal_scan(jpath, NULL, 0, &n_done, NULL, 0, count_keys, &visited), TSR_OK);
    assert_int_equal(n_done, 2);
    assert_int_equal(visited, 2);
    assert_int_equal(file_size(jpath), len); /* scanning never writes */
    tsr_journal_t *j = NULL;
    assert_int_equal(tsr_journal_open(jpath, "fp-test-1", &j), TSR_OK);
    assert_int_equal(tsr_journal_n_done(j), 2);
    assert_int_equal(file_size(jpath), good_end);
    const char *key;
    int n_out;
    const char *const *outs;
    const uint32_t *crc;
    tsr_journal_done_at(j, 1, &key, &n_out, &outs, &crc);
    assert_int_equal(n_out, 1);
    assert_non_null(strstr(outs[0], ".out"));
    tsr_journal_close(&j);
    free(d);
    assert_int_equal(run(f, &res), TSR_OK);
    assert_int_equal(res.n_skipped, 2);
    assert_int_equal(res.n_executed, 8);
    assert_int_equal(tsr_journal_scan(jpath, NULL, 0, &n_done, NULL, 0, NULL, NULL), TSR_OK);
    assert_int_equal(n_done, 10);
    /* the chain continues from the last whole record: every line links to the one before it */
    tsr_audit_opts_t ao = {0};
    tsr_audit_result_t ar;
    assert_int_equal(tsr_audit_check(f->dir, &ao, &ar), TSR_OK);
    assert_int_equal(ar.n_problems, 0);
    assert_int_equal(ar.n_tasks, 10);
}

static void test_journal_api(void **state)
{
    fixture_t *f = *state;
    char jpath[256], opath[256];
    snprintf(jpath, sizeof jpath, "%s/journal.tsv", f->dir);
    snprintf(opath, sizeof opath, "%s/x.bin", f->dir);
    write_file(opath, "123456789", 9);
    uint32_t crc = 0;
    assert_int_equal(tsr_file_crc32(opath, &crc), TSR_OK);
    assert_int_equal(crc, 0xcbf43926u); /* the CRC-32 check value */
    assert_int_equal(tsr_file_crc32("/nonexistent/x", &crc), TSR_ERR_IO);
    tsr_error_clear();
    tsr_journal_t *j = NULL;
    assert_int_equal(tsr_journal_open(jpath, "fp", &j), TSR_OK);
    const char *outs[2] = {"x.bin", "bad\tpath"};
    uint32_t crcs[2] = {crc, 1};
    char dig[TSR_DIGEST_MAX];
    assert_int_equal(tsr_file_sha256(opath, dig), TSR_OK);
    /* the SHA-256 check value of "123456789" */
    assert_string_equal(dig, "sha256:15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225");
    const char *digs[2] = {dig, dig};
    const char *bad_digs[1] = {"sha256:xyz"};
    assert_int_equal(tsr_journal_append_done(j, "k1", 1, outs, crcs, digs), TSR_OK);
    assert_int_equal(tsr_journal_append_done(j, "k0", 1, outs, crcs, bad_digs), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_journal_append_done(j, "bad\nkey", 1, outs, crcs, digs), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_journal_append_done(j, "k2", 2, outs, crcs, digs), TSR_ERR_INTERNAL);
    tsr_error_clear();
    assert_int_equal(tsr_journal_append_error(j, "k3", TSR_ERR_IO, "disk\tfull"), TSR_OK);
    assert_non_null(strstr(tsr_journal_last_error(j), "disk full"));
    tsr_journal_close(&j);
    tsr_journal_close(&j); /* NULL is fine */
    assert_int_equal(tsr_journal_open(jpath, "fp", &j), TSR_OK);
    assert_int_equal(tsr_journal_n_done(j), 1);
    const char *key;
    int n_out;
    const char *const *o;
    const uint32_t *c;
    tsr_journal_done_at(j, 0, &key, &n_out, &o, &c);
    assert_string_equal(key, "k1");
    assert_int_equal(n_out, 1);
    assert_string_equal(o[0], "x.bin");
    assert_int_equal(c[0], crc);
    assert_non_null(strstr(tsr_journal_last_error(j), "k3"));
    tsr_journal_close(&j);
    long len;
    char *d = read_file(jpath, &len);
    assert_memory_equal(d, "TSRJ\t3\tfp\t", 10);
    assert_non_null(strstr(d, "\nD\tk1\t1\tx.bin\tcbf43926\tsha256:15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225\t"));
    free(d);
}

/* Format 3 records each output's size and mtime; a format-2 journal is still read and appended to as format 2. */
static void test_journal_stat_formats(void **state)
{
    fixture_t *f = *state;
    char jpath[256], opath[256];
    snprintf(jpath, sizeof jpath, "%s/journal.tsv", f->dir);
    snprintf(opath, sizeof opath, "%s/x.bin", f->dir);
    write_file(opath, "123456789", 9);
    uint32_t crc = 0;
    unsigned char sha[32];
    tsr_file_stat_t fst = {-1, -1};
    assert_int_equal(tsr_file_digest_stat(opath, &crc, sha, &fst), TSR_OK);
    struct stat sb;
    assert_int_equal(stat(opath, &sb), 0);
    assert_int_equal(crc, 0xcbf43926u);
    assert_int_equal(fst.size, 9);
    assert_true(fst.mtime_ns == (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
    char hex[TSR_SHA256_HEX + 1], dig[TSR_DIGEST_MAX];
    tsr_sha256_hex(sha, hex);
    snprintf(dig, sizeof dig, "sha256:%s", hex);
    const char *outs[1] = {"x.bin"}, *digs[1] = {dig};
    for (int version = 2; version <= 3; version++) {
        unlink(jpath);
        if (version == 2) { /* the header a previous tessera wrote */
            char hdr[64];
            int n = snprintf(hdr, sizeof hdr, "TSRJ\t2\tfp");
            snprintf(hdr + n, sizeof hdr - (size_t)n, "\t%08lx\n",
                     (unsigned long)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)hdr, (uInt)n));
            write_file(jpath, hdr, strlen(hdr));
        }
        tsr_journal_t *j = NULL;
        assert_int_equal(tsr_journal_open(jpath, "fp", &j), TSR_OK);
        assert_int_equal(tsr_journal_queue_done_stat(j, "k1", 1, outs, &crc, digs, &fst), TSR_OK);
        assert_int_equal(tsr_journal_flush(j), TSR_OK);
        tsr_journal_close(&j);
        assert_int_equal(tsr_journal_open(jpath, "fp", &j), TSR_OK);
        assert_int_equal(tsr_journal_n_done(j), 1);
        const int64_t *size, *mtime;
        tsr_journal_stats_at(j, 0, &size, &mtime);
        assert_true(size[0] == (version == 2 ? -1 : 9));
        assert_true(mtime[0] == (version == 2 ? -1 : fst.mtime_ns));
        tsr_journal_close(&j);
        long len;
        char *d = read_file(jpath, &len);
        char want[256];
        snprintf(want, sizeof want, "TSRJ\t%d\tfp\t", version);
        assert_memory_equal(d, want, strlen(want));
        if (version == 2)
            snprintf(want, sizeof want, "\nD\tk1\t1\tx.bin\tcbf43926\t%s\t", dig);
        else
            snprintf(want, sizeof want, "\nD\tk1\t1\tx.bin\tcbf43926:9:%lld\t%s\t", (long long)fst.mtime_ns, dig);
        assert_non_null(strstr(d, want));
        free(d);
        /* the audit reads both formats */
        tsr_audit_opts_t ao = {0};
        tsr_audit_result_t ar;
        ao.rehash = 1;
        assert_int_equal(tsr_audit_check(f->dir, &ao, &ar), TSR_OK);
    }
}

static void test_tmpname_and_opts(void **state)
{
    (void)state;
    char tmp[128];
    char want[128];
    assert_int_equal(tsr_output_tmpname("out/dir/file.h5", tmp, sizeof tmp), TSR_OK);
    snprintf(want, sizeof want, "out/dir/.tmp.file.h5.%ld", (long)getpid());
    assert_string_equal(tmp, want);
    assert_int_equal(tsr_output_tmpname("plain", tmp, sizeof tmp), TSR_OK);
    snprintf(want, sizeof want, ".tmp.plain.%ld", (long)getpid());
    assert_string_equal(tmp, want);
    assert_int_equal(tsr_output_tmpname("out/dir/file.h5", tmp, 8), TSR_ERR_INTERNAL);
    tsr_error_clear();
    tsr_sched_opts_t o;
    tsr_sched_opts_init(&o);
    assert_int_equal(o.max_retries, 2);
    assert_int_equal(o.batch, 4);
    assert_int_equal(o.verify, 1);
    assert_int_equal(tsr_sched_opts_check(&o), TSR_ERR_USAGE); /* no outdir */
    tsr_error_clear();
    o.outdir = "/tmp/x";
    o.fingerprint = "f";
    assert_int_equal(tsr_sched_opts_check(&o), TSR_OK);
    o.batch = 0;
    assert_int_equal(tsr_sched_opts_check(&o), TSR_ERR_USAGE);
    tsr_error_clear();
}

int main(int argc, char **argv)
{
    tsr_rt_t *rt = NULL;
    if (tsr_rt_create(&argc, &argv, &rt) != TSR_OK) {
        fprintf(stderr, "%s\n", tsr_error_msg());
        return 1;
    }
    g_comm = rt->comm;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_graph_basics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_family, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longest_first_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longest_first_with_deps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deps_respected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_exhausted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_interrupts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_skips_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_output_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fingerprint_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_middle_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_stat_formats, setup, teardown),
        cmocka_unit_test(test_tmpname_and_opts),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tsr_rt_destroy(&rt);
    return failed;
}
