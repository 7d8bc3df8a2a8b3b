/*
 * task_graph.c - typed tasks with stable keys, costs, outputs and
 * dependencies, held compactly enough for rank 0 to keep 10 million of them.
 *
 * A task is a 16-byte slot (arg or string record, cost as a float, type,
 * family) in fixed-size blocks. Its key and outputs are either copied strings
 * (a record in an arena of 1 MiB chunks: no malloc per string) or, for a
 * task of a family (tsr_task_family_t), generated on demand from its arg by
 * the family's function: a national cohort's millions of call tasks store no
 * string at all (scheduler/SCALE.md, "Planning"). The key index (open
 * addressing at most 3/4 full, FNV-1a, one tag byte per slot so a probe only
 * generates a key whose hash bits match) rejects duplicate keys and maps
 * journal keys to ids.
 */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>

#define TSR_GRAPH_BLOCK 4096
#define TSR_GRAPH_ARENA_CHUNK (1 << 20)
#define TSR_GRAPH_MAX_FAMILIES 255
#define TSR_GRAPH_MAX_TYPE 32767

/* One chunk of the string arena; chunks form a list, newest first. */
typedef struct tsr_arena_chunk {
    struct tsr_arena_chunk *next;
    size_t used, cap;
    char data[];
} tsr_arena_chunk_t;

/*
 * One task: `ref` is the arg of a family task, or the index of a string task's record (family 0). 16 bytes:
 * at 10 million tasks every byte here is 10 MB at rank 0.
 */
typedef struct tsr_task_slot {
    int64_t ref;
    float cost;
    int16_t type;
    uint8_t family; /* 0: strings copied (g->strs[ref]); k > 0: g->families[k - 1] */
    uint8_t pad;
} tsr_task_slot_t;

/* A string task's key, outputs and arg (its strings in the arena). */
typedef struct tsr_task_strs {
    const char *key;
    const char *const *outputs;
    int64_t arg;
    int32_t n_outputs;
} tsr_task_strs_t;

struct tsr_graph {
    tsr_task_slot_t **blocks;
    int32_t n_blocks, n;
    int32_t *edges; /* pairs (task, dep) */
    int64_t n_edges, cap_edges;
    int32_t *index;   /* key hash table: task id or -1 */
    uint8_t *tag;     /* per index slot: 7 bits of the key's hash | 0x80 (0 = empty) */
    int64_t index_cap;
    tsr_task_strs_t *strs; /* string tasks' records */
    int64_t n_strs, cap_strs;
    tsr_task_family_t families[TSR_GRAPH_MAX_FAMILIES];
    int n_families;
    tsr_arena_chunk_t *arena; /* keys, outputs and output lists of the string tasks */
    size_t arena_bytes;       /* bytes of every chunk, headers included */
};

/* n bytes (8-byte aligned) from the graph's arena; NULL when out of memory. */
static void *tsr_graph_arena_alloc(tsr_graph_t *g, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    tsr_arena_chunk_t *c = g->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > TSR_GRAPH_ARENA_CHUNK ? n : TSR_GRAPH_ARENA_CHUNK;
        if (!(c = malloc(sizeof *c + cap)))
            return NULL;
        c->next = g->arena;
        c->used = 0;
        c->cap = cap;
        g->arena = c;
        g->arena_bytes += sizeof *c + cap;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static char *tsr_graph_arena_strdup(tsr_graph_t *g, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = tsr_graph_arena_alloc(g, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static uint64_t tsr_key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static tsr_task_slot_t *tsr_graph_slot(const tsr_graph_t *g, tsr_task_id_t id)
{
    return &g->blocks[id / TSR_GRAPH_BLOCK][id % TSR_GRAPH_BLOCK];
}

int tsr_has_separator(const char *s)
{
    return strpbrk(s, "\t\n\r") != NULL;
}

tsr_status_t tsr_graph_create(tsr_graph_t **out)
{
    tsr_graph_t *g;
    *out = NULL;
    TSR_ALLOC(g, 1);
    *out = g;
    return TSR_OK;
}

void tsr_graph_destroy(tsr_graph_t **gp)
{
    if (!gp || !*gp)
        return;
    tsr_graph_t *g = *gp;
    while (g->arena) {
        tsr_arena_chunk_t *c = g->arena;
        g->arena = c->next;
        free(c);
    }
    for (int32_t b = 0; b < g->n_blocks; b++)
        free(g->blocks[b]);
    free(g->blocks);
    free(g->edges);
    free(g->index);
    free(g->tag);
    free(g->strs);
    free(g);
    *gp = NULL;
}

tsr_status_t tsr_graph_family_add(tsr_graph_t *g, const tsr_task_family_t *f, int *family)
{
    *family = -1;
    if (!f || !f->strings || f->n_outputs < 0 || f->n_outputs > TSR_TASK_FAMILY_OUTPUTS)
        return tsr_error_set(TSR_ERR_INTERNAL, "a task family needs a strings function and 0..%d outputs",
                             TSR_TASK_FAMILY_OUTPUTS);
    if (g->n_families == TSR_GRAPH_MAX_FAMILIES)
        return tsr_error_set(TSR_ERR_INTERNAL, "a task graph holds at most %d task families", TSR_GRAPH_MAX_FAMILIES);
    g->families[g->n_families] = *f;
    *family = ++g->n_families;
    return TSR_OK;
}

/* Fill buf->task from a slot: a string task's pointers into the arena, a family task's strings generated. */
static const tsr_task_t *tsr_graph_slot_view(const tsr_graph_t *g, tsr_task_id_t id, tsr_task_buf_t *buf)
{
    const tsr_task_slot_t *t = tsr_graph_slot(g, id);
    tsr_task_t *v = &buf->task;
    v->id = id;
    v->type = t->type;
    v->cost = t->cost;
    v->attempt = 0;
    if (t->family == 0) {
        const tsr_task_strs_t *r = &g->strs[t->ref];
        v->arg = r->arg;
        v->key = r->key;
        v->n_outputs = r->n_outputs;
        v->outputs = r->outputs;
        return v;
    }
    const tsr_task_family_t *f = &g->families[t->family - 1];
    v->arg = t->ref;
    buf->key[0] = '\0';
    for (int k = 0; k < f->n_outputs; k++) {
        buf->out[k][0] = '\0';
        buf->outp[k] = buf->out[k];
    }
    /* checked when the task was added; a pure function of (ctx, arg) gives the same strings again */
    if (f->strings(f->ctx, t->ref, buf->key, buf->out) != TSR_OK)
        tsr_error_clear();
    v->key = buf->key;
    v->n_outputs = f->n_outputs;
    v->outputs = buf->outp;
    return v;
}

const tsr_task_t *tsr_graph_task(const tsr_graph_t *g, tsr_task_id_t id, tsr_task_buf_t *buf)
{
    if (!g || id < 0 || id >= g->n)
        return NULL;
    return tsr_graph_slot_view(g, id, buf);
}

double tsr_graph_cost(const tsr_graph_t *g, tsr_task_id_t id) { return tsr_graph_slot(g, id)->cost; }
int tsr_graph_type(const tsr_graph_t *g, tsr_task_id_t id) { return tsr_graph_slot(g, id)->type; }

int64_t tsr_graph_n_deps(const tsr_graph_t *g) { return g ? g->n_edges : 0; }

/* The key of task id (into buf for a family task). */
static const char *tsr_graph_key(const tsr_graph_t *g, tsr_task_id_t id, tsr_task_buf_t *buf)
{
    const tsr_task_slot_t *t = tsr_graph_slot(g, id);
    if (t->family == 0)
        return g->strs[t->ref].key;
    return tsr_graph_slot_view(g, id, buf)->key;
}

static uint8_t tsr_key_tag(uint64_t h) { return (uint8_t)(0x80 | (h >> 57)); }

static tsr_task_id_t tsr_graph_find_hashed(const tsr_graph_t *g, const char *key, uint64_t hash, tsr_task_buf_t *buf)
{
    if (!g->index_cap)
        return -1;
    uint64_t mask = (uint64_t)g->index_cap - 1;
    uint8_t tag = tsr_key_tag(hash);
    for (uint64_t h = hash & mask;; h = (h + 1) & mask) {
        if (!g->tag[h])
            return -1;
        if (g->tag[h] == tag && strcmp(tsr_graph_key(g, g->index[h], buf), key) == 0)
            return g->index[h];
    }
}

tsr_task_id_t tsr_graph_find(const tsr_graph_t *g, const char *key)
{
    tsr_task_buf_t *buf = malloc(sizeof *buf);
    if (!buf)
        return -1;
    tsr_task_id_t id = tsr_graph_find_buf(g, key, buf);
    free(buf);
    return id;
}

tsr_task_id_t tsr_graph_find_buf(const tsr_graph_t *g, const char *key, tsr_task_buf_t *buf)
{
    return tsr_graph_find_hashed(g, key, tsr_key_hash(key), buf);
}

static void tsr_graph_index_put(tsr_graph_t *g, tsr_task_id_t id, uint64_t hash)
{
    uint64_t mask = (uint64_t)g->index_cap - 1;
    uint64_t h = hash & mask;
    while (g->tag[h])
        h = (h + 1) & mask;
    g->index[h] = id;
    g->tag[h] = tsr_key_tag(hash);
}

/* Make room in the index for `n` tasks (at most 3/4 full), rehashing every key (family keys regenerated). */
static tsr_status_t tsr_graph_index_fit(tsr_graph_t *g, int64_t n)
{
    if (n * 4 <= g->index_cap * 3)
        return TSR_OK;
    int64_t cap = g->index_cap ? g->index_cap : 1024;
    while (n * 4 > cap * 3)
        cap *= 2;
    int32_t *idx = malloc((size_t)cap * sizeof *idx);
    uint8_t *tag = calloc((size_t)cap, 1);
    tsr_task_buf_t *buf = malloc(sizeof *buf);
    if (!idx || !tag || !buf) {
        free(idx);
        free(tag);
        free(buf);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory growing the task index to %lld slots", (long long)cap);
    }
    int32_t *old_idx = g->index;
    uint8_t *old_tag = g->tag;
    g->index = idx;
    g->tag = tag;
    g->index_cap = cap;
    for (int32_t i = 0; i < g->n; i++)
        tsr_graph_index_put(g, i, tsr_key_hash(tsr_graph_key(g, i, buf)));
    free(old_idx);
    free(old_tag);
    free(buf);
    return TSR_OK;
}

tsr_status_t tsr_graph_reserve(tsr_graph_t *g, int64_t n_tasks, int64_t n_edges)
{
    if (n_tasks > INT32_MAX || n_edges < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "a task graph holds at most %d tasks (asked for %lld)", INT32_MAX,
                             (long long)n_tasks);
    if (n_edges > g->cap_edges) {
        int32_t *e = realloc(g->edges, (size_t)n_edges * 2 * sizeof *e);
        if (!e)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory reserving %lld dependencies", (long long)n_edges);
        g->edges = e;
        g->cap_edges = n_edges;
    }
    return tsr_graph_index_fit(g, n_tasks);
}

/* A new slot at id g->n (not yet counted). */
static tsr_status_t tsr_graph_slot_new(tsr_graph_t *g, const char *key, tsr_task_slot_t **out)
{
    if (g->n == INT32_MAX)
        return tsr_error_set(TSR_ERR_INTERNAL, "task graph is full (%d tasks)", g->n);
    TSR_CALL(tsr_graph_index_fit(g, (int64_t)g->n + 1));
    if (g->n == g->n_blocks * TSR_GRAPH_BLOCK) {
        tsr_task_slot_t **blocks = realloc(g->blocks, (size_t)(g->n_blocks + 1) * sizeof *blocks);
        if (!blocks)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding task '%s'", key);
        g->blocks = blocks;
        TSR_ALLOC(g->blocks[g->n_blocks], TSR_GRAPH_BLOCK);
        g->n_blocks++;
    }
    *out = tsr_graph_slot(g, g->n);
    memset(*out, 0, sizeof **out);
    return TSR_OK;
}

/* The checks every task's strings pass, whether copied or generated. */
static tsr_status_t tsr_graph_check_strings(const char *key, const char *const *outputs, int n_outputs)
{
    if (!key || !*key || tsr_has_separator(key))
        return tsr_error_set(TSR_ERR_INTERNAL, "task key '%s' is empty or contains a tab or newline",
                             key ? key : "(null)");
    if (n_outputs < 0 || (n_outputs > 0 && !outputs))
        return tsr_error_set(TSR_ERR_INTERNAL, "task '%s': bad output list (%d outputs)", key, n_outputs);
    for (int k = 0; k < n_outputs; k++)
        if (!outputs[k] || !*outputs[k] || tsr_has_separator(outputs[k]))
            return tsr_error_set(TSR_ERR_INTERNAL,
                                 "task '%s': output %d is empty or contains a tab or newline", key, k);
    return TSR_OK;
}

static tsr_status_t tsr_graph_check_type(const char *key, int type)
{
    if (type < 0 || type > TSR_GRAPH_MAX_TYPE)
        return tsr_error_set(TSR_ERR_INTERNAL, "task '%s': type %d is outside 0..%d", key, type,
                             TSR_GRAPH_MAX_TYPE);
    return TSR_OK;
}

/* A string task of any type (a gate's is TSR_GRAPH_GATE_TYPE, outside what callers may give). */
static tsr_status_t tsr_graph_add_typed(tsr_graph_t *g, int type, const char *key, double cost, int64_t arg,
                                        const char *const *outputs, int n_outputs, tsr_task_id_t *id)
{
    TSR_CALL(tsr_graph_check_strings(key, outputs, n_outputs));
    uint64_t hash = tsr_key_hash(key);
    tsr_task_buf_t *buf = malloc(sizeof *buf);
    if (!buf)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding task '%s'", key);
    tsr_task_id_t dup = tsr_graph_find_hashed(g, key, hash, buf);
    free(buf);
    if (dup >= 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "task key '%s' added twice; keys must be unique", key);
    if (g->n_strs == g->cap_strs) {
        int64_t cap = g->cap_strs ? g->cap_strs * 2 : 64;
        tsr_task_strs_t *v = realloc(g->strs, (size_t)cap * sizeof *v);
        if (!v)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding task '%s'", key);
        g->strs = v;
        g->cap_strs = cap;
    }
    tsr_task_slot_t *t;
    TSR_CALL(tsr_graph_slot_new(g, key, &t));
    char *kcopy = tsr_graph_arena_strdup(g, key);
    char **ocopy = tsr_graph_arena_alloc(g, (n_outputs ? (size_t)n_outputs : 1u) * sizeof *ocopy);
    for (int k = 0; kcopy && ocopy && k < n_outputs; k++)
        if (!(ocopy[k] = tsr_graph_arena_strdup(g, outputs[k])))
            ocopy = NULL;
    if (!kcopy || !ocopy) /* what the arena gave stays there until the graph is destroyed */
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding task '%s'", key);
    g->strs[g->n_strs] = (tsr_task_strs_t){.key = kcopy, .outputs = (const char *const *)ocopy, .arg = arg,
                                           .n_outputs = n_outputs};
    t->ref = g->n_strs++;
    t->cost = (float)cost;
    t->type = (int16_t)type;
    t->family = 0;
    tsr_graph_index_put(g, g->n, hash);
    if (id)
        *id = g->n;
    g->n++;
    return TSR_OK;
}

tsr_status_t tsr_graph_add(tsr_graph_t *g, int type, const char *key, double cost, int64_t arg,
                           const char *const *outputs, int n_outputs, tsr_task_id_t *id)
{
    TSR_CALL(tsr_graph_check_type(key, type));
    return tsr_graph_add_typed(g, type, key, cost, arg, outputs, n_outputs, id);
}

tsr_status_t tsr_graph_add_gate(tsr_graph_t *g, const char *key, tsr_task_id_t *id)
{
    return tsr_graph_add_typed(g, TSR_GRAPH_GATE_TYPE, key, 0.0, 0, NULL, 0, id);
}

int tsr_graph_is_gate(const tsr_graph_t *g, tsr_task_id_t id) { return tsr_graph_type(g, id) == TSR_GRAPH_GATE_TYPE; }

tsr_status_t tsr_graph_add_family(tsr_graph_t *g, int family, int type, double cost, int64_t arg,
                                  tsr_task_id_t *id)
{
    if (family < 1 || family > g->n_families)
        return tsr_error_set(TSR_ERR_INTERNAL, "task family %d was not added to this graph", family);
    const tsr_task_family_t *f = &g->families[family - 1];
    tsr_task_buf_t *buf = malloc(sizeof *buf);
    if (!buf)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding a task");
    buf->key[0] = '\0';
    for (int k = 0; k < f->n_outputs; k++) {
        buf->out[k][0] = '\0';
        buf->outp[k] = buf->out[k];
    }
    tsr_status_t s = f->strings(f->ctx, arg, buf->key, buf->out);
    if (s == TSR_OK)
        s = tsr_graph_check_strings(buf->key, buf->outp, f->n_outputs);
    if (s == TSR_OK)
        s = tsr_graph_check_type(buf->key, type);
    uint64_t hash = tsr_key_hash(buf->key);
    if (s == TSR_OK) {
        char key[TSR_TASK_STR_MAX];
        memcpy(key, buf->key, sizeof key);
        if (tsr_graph_find_hashed(g, key, hash, buf) >= 0)
            s = tsr_error_set(TSR_ERR_INTERNAL, "task key '%s' added twice; keys must be unique", key);
    }
    tsr_task_slot_t *t = NULL;
    if (s == TSR_OK)
        s = tsr_graph_slot_new(g, "(family task)", &t);
    free(buf);
    if (s != TSR_OK)
        return s;
    t->ref = arg;
    t->cost = (float)cost;
    t->type = (int16_t)type;
    t->family = (uint8_t)family;
    tsr_graph_index_put(g, g->n, hash);
    if (id)
        *id = g->n;
    g->n++;
    return TSR_OK;
}

tsr_status_t tsr_graph_add_dep(tsr_graph_t *g, tsr_task_id_t task, tsr_task_id_t dep)
{
    if (task < 0 || task >= g->n || dep < 0 || dep >= g->n)
        return tsr_error_set(TSR_ERR_INTERNAL, "dependency %d -> %d names a task that does not exist (%d tasks)",
                             task, dep, g->n);
    if (task == dep) {
        tsr_task_buf_t *buf = malloc(sizeof *buf);
        tsr_status_t s = tsr_error_set(TSR_ERR_INTERNAL, "task '%s' cannot depend on itself",
                                       buf ? tsr_graph_key(g, task, buf) : "?");
        free(buf);
        return s;
    }
    if (g->n_edges == g->cap_edges) {
        int64_t cap = g->cap_edges ? g->cap_edges * 2 : 1024;
        int32_t *e = realloc(g->edges, (size_t)cap * 2 * sizeof *e);
        if (!e)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding a dependency");
        g->edges = e;
        g->cap_edges = cap;
    }
    g->edges[2 * g->n_edges] = task;
    g->edges[2 * g->n_edges + 1] = dep;
    g->n_edges++;
    return TSR_OK;
}

int32_t tsr_graph_size(const tsr_graph_t *g) { return g ? g->n : 0; }

size_t tsr_graph_bytes(const tsr_graph_t *g)
{
    if (!g)
        return 0;
    return sizeof *g + (size_t)g->n_blocks * (sizeof *g->blocks + TSR_GRAPH_BLOCK * sizeof(tsr_task_slot_t)) +
           (size_t)g->cap_edges * 2 * sizeof *g->edges +
           (size_t)g->index_cap * (sizeof *g->index + sizeof *g->tag) +
           (size_t)g->cap_strs * sizeof *g->strs + g->arena_bytes;
}

static int tsr_edge_cmp(const void *a, const void *b)
{
    const int32_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

void tsr_graph_csr_free(tsr_graph_csr_t *c)
{
    if (!c)
        return;
    free(c->out_off);
    free(c->out_idx);
    free(c->order);
    memset(c, 0, sizeof *c);
}

/* First of the u sorted, distinct (task, dep) pairs in e whose task is t (u when none). */
static int64_t tsr_edges_first(const int32_t *e, int64_t u, int32_t t)
{
    int64_t lo = 0, hi = u;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (e[2 * mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Kahn's algorithm over the u distinct edges e (sorted by task, then dep) and the out-lists in c; on success
 * c->order holds every task, dependencies first.
 */
static tsr_status_t tsr_graph_check_acyclic(const tsr_graph_t *g, const int32_t *e, int64_t u, tsr_graph_csr_t *c)
{
    int32_t n = c->n, head = 0, tail = 0;
    int32_t *left = calloc((size_t)n + 1, sizeof *left);
    int32_t *queue = malloc(((size_t)n + 1) * sizeof *queue);
    if (!left || !queue) {
        free(left);
        free(queue);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory checking the task graph");
    }
    for (int64_t i = 0; i < u; i++)
        left[e[2 * i]]++;
    for (int32_t t = 0; t < n; t++)
        if (!left[t])
            queue[tail++] = t;
    while (head < tail) {
        int32_t t = queue[head++];
        for (int32_t k = c->out_off[t]; k < c->out_off[t + 1]; k++)
            if (--left[c->out_idx[k]] == 0)
                queue[tail++] = c->out_idx[k];
    }
    tsr_status_t s = TSR_OK;
    if (tail < n) {
        /* Walk unfinished dependencies until a task repeats: that one is on a cycle. */
        int32_t t = 0;
        while (left[t] == 0)
            t++;
        for (int32_t step = 0; step < n; step++) {
            int32_t next = -1;
            for (int64_t k = tsr_edges_first(e, u, t); k < u && e[2 * k] == t && next < 0; k++)
                if (left[e[2 * k + 1]] > 0)
                    next = e[2 * k + 1];
            t = next;
        }
        tsr_task_buf_t *buf = malloc(sizeof *buf);
        const tsr_task_t *task = buf ? tsr_graph_task(g, t, buf) : NULL;
        s = tsr_error_set(TSR_ERR_INTERNAL,
                          "the task graph has a dependency cycle through task '%s' (%d of %d tasks can never run)",
                          task ? task->key : "?", n - tail, n);
        free(buf);
    }
    free(left);
    if (s == TSR_OK)
        c->order = queue;
    else
        free(queue);
    return s;
}

tsr_status_t tsr_graph_csr_build(const tsr_graph_t *g, tsr_graph_csr_t *c)
{
    memset(c, 0, sizeof *c);
    int32_t n = g->n;
    int64_t m = g->n_edges;
    int32_t *e = malloc((size_t)(m ? m : 1) * 2 * sizeof *e);
    c->n = n;
    c->out_off = calloc((size_t)n + 1, sizeof *c->out_off);
    int32_t *fill = calloc((size_t)n + 1, sizeof *fill);
    if (!e || !c->out_off || !fill) {
        free(e);
        free(fill);
        tsr_graph_csr_free(c);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building the task graph (%d tasks)", n);
    }
    if (m)
        memcpy(e, g->edges, (size_t)m * 2 * sizeof *e);
    if (m > 0) /* qsort needs a non-NULL array even when empty */
        qsort(e, (size_t)m, 2 * sizeof *e, tsr_edge_cmp);
    int64_t u = 0;
    for (int64_t i = 0; i < m; i++)
        if (u == 0 || e[2 * i] != e[2 * (u - 1)] || e[2 * i + 1] != e[2 * (u - 1) + 1]) {
            e[2 * u] = e[2 * i];
            e[2 * u + 1] = e[2 * i + 1];
            u++;
        }
    c->n_edges = u;
    c->out_idx = malloc((size_t)(u ? u : 1) * sizeof *c->out_idx);
    if (!c->out_idx) {
        free(e);
        free(fill);
        tsr_graph_csr_free(c);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory building the task graph (%d tasks)", n);
    }
    for (int64_t i = 0; i < u; i++)
        c->out_off[e[2 * i + 1] + 1]++;
    for (int32_t t = 0; t < n; t++)
        c->out_off[t + 1] += c->out_off[t];
    for (int64_t i = 0; i < u; i++) {
        int32_t task = e[2 * i], dep = e[2 * i + 1];
        c->out_idx[c->out_off[dep] + fill[dep]++] = task;
    }
    free(fill);
    tsr_status_t s = tsr_graph_check_acyclic(g, e, u, c);
    free(e);
    if (s != TSR_OK)
        tsr_graph_csr_free(c);
    return s;
}
