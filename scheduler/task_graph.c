/*
 * task_graph.c - typed tasks with stable keys, costs, outputs and
 * dependencies. Tasks live in fixed-size blocks so the tsr_task_t pointers
 * handed out stay valid while more tasks are added; a key index (open
 * addressing, FNV-1a) rejects duplicate keys and maps journal keys to ids.
 * Keys, output paths and output lists are copied into an arena of 1 MiB
 * chunks (freed with the graph), not one malloc each: at 5 million tasks
 * three small allocations per task cost more in allocator overhead and time
 * than the strings themselves (scheduler/SCALE.md).
 */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>

#define TSR_GRAPH_BLOCK 4096
#define TSR_GRAPH_ARENA_CHUNK (1 << 20)

/* One chunk of the string arena; chunks form a list, newest first. */
typedef struct tsr_arena_chunk {
    struct tsr_arena_chunk *next;
    size_t used, cap;
    char data[];
} tsr_arena_chunk_t;

typedef struct tsr_task_slot {
    tsr_task_t pub; /* its key and outputs point into the arena */
} tsr_task_slot_t;

struct tsr_graph {
    tsr_task_slot_t **blocks;
    int32_t n_blocks, n;
    int32_t *edges; /* pairs (task, dep) */
    int64_t n_edges, cap_edges;
    int32_t *index; /* key hash table: task id or -1 */
    int64_t index_cap;
    tsr_arena_chunk_t *arena; /* keys, outputs and output lists of every task */
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
    free(g);
    *gp = NULL;
}

tsr_task_id_t tsr_graph_find(const tsr_graph_t *g, const char *key)
{
    if (!g->index_cap)
        return -1;
    uint64_t mask = (uint64_t)g->index_cap - 1;
    for (uint64_t h = tsr_key_hash(key) & mask;; h = (h + 1) & mask) {
        int32_t id = g->index[h];
        if (id < 0)
            return -1;
        if (strcmp(tsr_graph_slot(g, id)->pub.key, key) == 0)
            return id;
    }
}

static void tsr_graph_index_put(tsr_graph_t *g, tsr_task_id_t id)
{
    uint64_t mask = (uint64_t)g->index_cap - 1;
    uint64_t h = tsr_key_hash(tsr_graph_slot(g, id)->pub.key) & mask;
    while (g->index[h] >= 0)
        h = (h + 1) & mask;
    g->index[h] = id;
}

static tsr_status_t tsr_graph_index_grow(tsr_graph_t *g)
{
    if ((int64_t)(g->n + 1) * 2 <= g->index_cap)
        return TSR_OK;
    int64_t cap = g->index_cap ? g->index_cap * 2 : 1024;
    int32_t *idx = malloc((size_t)cap * sizeof *idx);
    if (!idx)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory growing the task index to %lld slots",
                             (long long)cap);
    memset(idx, 0xff, (size_t)cap * sizeof *idx);
    free(g->index);
    g->index = idx;
    g->index_cap = cap;
    for (int32_t i = 0; i < g->n; i++)
        tsr_graph_index_put(g, i);
    return TSR_OK;
}

tsr_status_t tsr_graph_add(tsr_graph_t *g, int type, const char *key, double cost, int64_t arg,
                           const char *const *outputs, int n_outputs, tsr_task_id_t *id)
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
    if (g->n == INT32_MAX)
        return tsr_error_set(TSR_ERR_INTERNAL, "task graph is full (%d tasks)", g->n);
    if (tsr_graph_find(g, key) >= 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "task key '%s' added twice; keys must be unique", key);
    TSR_CALL(tsr_graph_index_grow(g));
    if (g->n == g->n_blocks * TSR_GRAPH_BLOCK) {
        tsr_task_slot_t **blocks = realloc(g->blocks, (size_t)(g->n_blocks + 1) * sizeof *blocks);
        if (!blocks)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding task '%s'", key);
        g->blocks = blocks;
        TSR_ALLOC(g->blocks[g->n_blocks], TSR_GRAPH_BLOCK);
        g->n_blocks++;
    }
    tsr_task_slot_t *t = tsr_graph_slot(g, g->n);
    memset(t, 0, sizeof *t);
    char *kcopy = tsr_graph_arena_strdup(g, key);
    char **ocopy = tsr_graph_arena_alloc(g, (n_outputs ? (size_t)n_outputs : 1u) * sizeof *ocopy);
    for (int k = 0; kcopy && ocopy && k < n_outputs; k++)
        if (!(ocopy[k] = tsr_graph_arena_strdup(g, outputs[k])))
            ocopy = NULL;
    if (!kcopy || !ocopy) /* what the arena gave stays there until the graph is destroyed */
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory adding task '%s'", key);
    t->pub.id = g->n;
    t->pub.type = type;
    t->pub.arg = arg;
    t->pub.key = kcopy;
    t->pub.cost = cost;
    t->pub.n_outputs = n_outputs;
    t->pub.outputs = (const char *const *)ocopy;
    t->pub.attempt = 0;
    tsr_graph_index_put(g, g->n);
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
    if (task == dep)
        return tsr_error_set(TSR_ERR_INTERNAL, "task '%s' cannot depend on itself", tsr_graph_slot(g, task)->pub.key);
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
           (size_t)g->cap_edges * 2 * sizeof *g->edges + (size_t)g->index_cap * sizeof *g->index + g->arena_bytes;
}

const tsr_task_t *tsr_graph_task(const tsr_graph_t *g, tsr_task_id_t id)
{
    if (!g || id < 0 || id >= g->n)
        return NULL;
    return &tsr_graph_slot(g, id)->pub;
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
    free(c->dep_off);
    free(c->dep_idx);
    free(c->out_off);
    free(c->out_idx);
    free(c->order);
    memset(c, 0, sizeof *c);
}

static tsr_status_t tsr_graph_check_acyclic(const tsr_graph_t *g, tsr_graph_csr_t *c)
{
    int32_t n = c->n, head = 0, tail = 0;
    int32_t *left = malloc(((size_t)n + 1) * sizeof *left);
    int32_t *queue = malloc(((size_t)n + 1) * sizeof *queue);
    if (!left || !queue) {
        free(left);
        free(queue);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory checking the task graph");
    }
    for (int32_t t = 0; t < n; t++) {
        left[t] = c->dep_off[t + 1] - c->dep_off[t];
        if (!left[t])
            queue[tail++] = t;
    }
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
            for (int32_t k = c->dep_off[t]; k < c->dep_off[t + 1] && next < 0; k++)
                if (left[c->dep_idx[k]] > 0)
                    next = c->dep_idx[k];
            t = next;
        }
        s = tsr_error_set(TSR_ERR_INTERNAL,
                          "the task graph has a dependency cycle through task '%s' (%d of %d tasks can never run)",
                          tsr_graph_task(g, t)->key, n - tail, n);
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
    c->dep_off = calloc((size_t)n + 1, sizeof *c->dep_off);
    c->out_off = calloc((size_t)n + 1, sizeof *c->out_off);
    c->dep_idx = malloc((size_t)(m ? m : 1) * sizeof *c->dep_idx);
    c->out_idx = malloc((size_t)(m ? m : 1) * sizeof *c->out_idx);
    int32_t *fill = calloc((size_t)n + 1, sizeof *fill);
    if (!e || !c->dep_off || !c->out_off || !c->dep_idx || !c->out_idx || !fill) {
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
    for (int64_t i = 0; i < u; i++) {
        c->dep_off[e[2 * i] + 1]++;
        c->out_off[e[2 * i + 1] + 1]++;
    }
    for (int32_t t = 0; t < n; t++) {
        c->dep_off[t + 1] += c->dep_off[t];
        c->out_off[t + 1] += c->out_off[t];
    }
    for (int64_t i = 0; i < u; i++) {
        int32_t task = e[2 * i], dep = e[2 * i + 1];
        c->dep_idx[c->dep_off[task] + fill[task]++] = dep;
    }
    memset(fill, 0, ((size_t)n + 1) * sizeof *fill);
    for (int64_t i = 0; i < u; i++) {
        int32_t task = e[2 * i], dep = e[2 * i + 1];
        c->out_idx[c->out_off[dep] + fill[dep]++] = task;
    }
    free(e);
    free(fill);
    tsr_status_t s = tsr_graph_check_acyclic(g, c);
    if (s != TSR_OK)
        tsr_graph_csr_free(c);
    return s;
}
