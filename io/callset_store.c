/*
 * callset_store.c - the per-region call-set file (HDF5), the joint kernel's
 * output; schema in io/partition_schema.md.
 */
#include "io/h5_store.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

#define TSR_CALLSET_SCHEMA "tessera-callset"
#define TSR_CALLSET_VERSION 2 /* 2: empty members; low-pass call sets add n_pops, /call/ds, /call/gp, /site/pop_af */
/* The call-set bytes a window reader or writer aims to hold (tsr_callset_window_sites). */
#define TSR_CALLSET_WINDOW_BYTES ((int64_t)32 << 20)

/* The datasets of a call set, in file order; `site`: n_sites (+1 for offsets) entries; lowpass: only then. */
enum { CS_SITE, CS_OFF, CS_DATA };
static const struct {
    const char *name;
    int lowpass;
} cs_sets[] = {
    {"/site/position", 0}, {"/site/n_alleles", 0}, {"/site/allele_offset", 0}, {"/site/alleles", 0},
    {"/site/qual", 0},     {"/site/filter", 0},    {"/site/af_offset", 0},     {"/site/af", 0},
    {"/call/gt", 0},       {"/call/gq", 0},        {"/call/dp", 0},            {"/call/ad_offset", 0},
    {"/call/ad", 0},       {"/call/pl_offset", 0}, {"/call/pl", 0},            {"/call/ds", 1},
    {"/call/gp", 1},       {"/site/pop_af", 1},
};
enum { D_POS, D_NAL, D_AOFF, D_ALLELES, D_QUAL, D_FILTER, D_FOFF, D_AF, D_GT, D_GQ, D_DP, D_DOFF, D_AD, D_POFF,
       D_PL, D_DS, D_GP, D_POPAF, D_N };

static hid_t cs_type(int k)
{
    switch (k) {
    case D_POS: case D_AOFF: case D_FOFF: case D_DOFF: case D_POFF: return H5T_NATIVE_INT64;
    case D_NAL: case D_GQ: case D_DP: case D_AD: case D_PL: return H5T_NATIVE_INT32;
    case D_ALLELES: case D_FILTER: return H5T_NATIVE_UINT8;
    case D_GT: return H5T_NATIVE_INT8;
    default: return H5T_NATIVE_FLOAT;
    }
}

/*
 * A packed file's member (a small contig's region, packed by the hundred) is buffered in memory and written
 * at close as fixed-size datasets (compact when small, io/partition_store.c): creating 15 extendible
 * chunked datasets per member and appending to them cost more than the rest of the joint task. A member
 * whose buffer passes TSR_CALLSET_BUFFER_BYTES goes on as a whole file does (extendible datasets, appended
 * a window at a time), so memory stays bounded; either way the datasets hold the same values.
 */
#define TSR_CALLSET_BUFFER_BYTES ((int64_t)4 << 20)

struct tsr_callset_writer {
    tsr_h5_file_t f;
    int lowpass, open;
    int32_t n_samples, n_pops;
    int64_t n_sites, tot[4]; /* appended so far: allele bytes, af values, ad values, pl values */
    int buffered;            /* a member still held in buf (see TSR_CALLSET_BUFFER_BYTES) */
    int64_t buf_bytes;
    struct {
        char *p;
        int64_t n, cap; /* elements, bytes allocated */
    } buf[D_N];
};

/* Append n elements of dataset k: to its buffer, or to the file's extendible dataset. */
static tsr_status_t cs_put(tsr_callset_writer_t *w, int k, int64_t n, const void *data)
{
    if (!w->buffered)
        return tsr_h5_append(&w->f, cs_sets[k].name, cs_type(k), n, data);
    if (n <= 0)
        return TSR_OK;
    const int64_t esz = (int64_t)H5Tget_size(cs_type(k)), need = (w->buf[k].n + n) * esz;
    if (need > w->buf[k].cap) {
        int64_t cap = w->buf[k].cap ? w->buf[k].cap : 256;
        while (cap < need)
            cap *= 2;
        char *p = realloc(w->buf[k].p, (size_t)cap);
        if (!p)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->f.path);
        w->buf[k].p = p;
        w->buf[k].cap = cap;
    }
    memcpy(w->buf[k].p + w->buf[k].n * esz, data, (size_t)(n * esz));
    w->buf[k].n += n;
    w->buf_bytes += n * esz;
    return TSR_OK;
}

static void cs_buf_free(tsr_callset_writer_t *w)
{
    for (int k = 0; k < D_N; k++) {
        free(w->buf[k].p);
        w->buf[k].p = NULL;
        w->buf[k].n = w->buf[k].cap = 0;
    }
    w->buf_bytes = 0;
}

/*
 * Write the buffered member: as fixed-size datasets (close), or as extendible ones that later windows
 * extend; a member closed without sites is only marked empty (no groups, no datasets).
 */
static tsr_status_t cs_flush(tsr_callset_writer_t *w, int ext)
{
    tsr_status_t s = TSR_OK;
    if (!ext && w->n_sites == 0) {
        w->buffered = 0;
        cs_buf_free(w);
        return tsr_h5_mark_empty(&w->f);
    }
    s = tsr_h5_group(&w->f, "/site");
    if (s == TSR_OK)
        s = tsr_h5_group(&w->f, "/call");
    for (int k = 0; k < D_N && s == TSR_OK; k++) {
        if (cs_sets[k].lowpass && !w->lowpass)
            continue;
        if (!ext)
            s = tsr_h5_write(&w->f, cs_sets[k].name, cs_type(k), w->buf[k].n, w->buf[k].p);
        else if ((s = tsr_h5_create_ext(&w->f, cs_sets[k].name, cs_type(k))) == TSR_OK)
            s = tsr_h5_append(&w->f, cs_sets[k].name, cs_type(k), w->buf[k].n, w->buf[k].p);
    }
    w->buffered = 0;
    cs_buf_free(w);
    return s;
}

tsr_status_t tsr_callset_writer_open(const char *path, const char *contig, int64_t start, int64_t end,
                                     int32_t n_samples, int lowpass, int32_t n_pops, tsr_callset_writer_t **out)
{
    *out = NULL;
    tsr_callset_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path);
    w->lowpass = lowpass;
    w->n_samples = n_samples;
    w->n_pops = n_pops;
    tsr_status_t s = tsr_h5_create(path, &w->f);
    w->open = s == TSR_OK;
    /*
     * Every chunk is deflated whole, even when one value of it was written: a region shorter than a chunk
     * (a decoy or HLA contig, packed by the hundred) gets chunks of 4,096 values, not 65,536.
     */
    if (end - start < 65536)
        w->f.ext_chunk = 4096;
    const int64_t zero = 0;
    if (s == TSR_OK)
        s = tsr_h5_attr_write_str(&w->f, "schema", TSR_CALLSET_SCHEMA);
    if (s == TSR_OK)
        s = tsr_h5_attr_write_i64(&w->f, "schema_version", TSR_CALLSET_VERSION);
    if (s == TSR_OK)
        s = tsr_h5_attr_write_str(&w->f, "contig", contig ? contig : "");
    if (s == TSR_OK)
        s = tsr_h5_attr_write_i64(&w->f, "start", start);
    if (s == TSR_OK)
        s = tsr_h5_attr_write_i64(&w->f, "end", end);
    if (s == TSR_OK)
        s = tsr_h5_attr_write_i64(&w->f, "n_samples", n_samples);
    if (s == TSR_OK && lowpass)
        s = tsr_h5_attr_write_i64(&w->f, "n_pops", n_pops);
    w->buffered = s == TSR_OK && w->f.file >= 0; /* a packed file's member */
    if (s == TSR_OK && !w->buffered)
        s = tsr_h5_group(&w->f, "/site");
    if (s == TSR_OK && !w->buffered)
        s = tsr_h5_group(&w->f, "/call");
    for (int k = 0; k < D_N && s == TSR_OK && !w->buffered; k++)
        if (!cs_sets[k].lowpass || lowpass)
            s = tsr_h5_create_ext(&w->f, cs_sets[k].name, cs_type(k));
    /* offsets start with their 0 */
    const int offs[] = {D_AOFF, D_FOFF, D_DOFF, D_POFF};
    for (int k = 0; k < 4 && s == TSR_OK; k++)
        s = cs_put(w, offs[k], 1, &zero);
    if (s != TSR_OK) {
        tsr_callset_writer_close(&w, 0);
        return s;
    }
    *out = w;
    return TSR_OK;
}

/* Append off[1..n] + base (a window's offsets, which start at 0) to an offsets dataset. */
static tsr_status_t append_offsets(tsr_callset_writer_t *w, int k, const int64_t *off, int64_t n, int64_t base,
                                   int64_t *shifted)
{
    for (int64_t i = 0; i < n; i++)
        shifted[i] = off[i + 1] + base;
    return cs_put(w, k, n, shifted);
}

tsr_status_t tsr_callset_writer_append(tsr_callset_writer_t *w, const tsr_callset_t *cs)
{
    const int64_t n = cs->n_sites, ns = cs->n_samples;
    if (n == 0)
        return TSR_OK;
    if (ns != w->n_samples || (cs->ds != NULL) != w->lowpass || (w->lowpass && cs->n_pops != w->n_pops))
        return tsr_error_set(TSR_ERR_INTERNAL, "%s: a window of %lld samples (%s) does not fit this call set",
                             w->f.path, (long long)ns, cs->ds ? "low-pass" : "deep");
    if (cs->allele_off[0] != 0 || cs->af_off[0] != 0 || cs->ad_off[0] != 0 || cs->pl_off[0] != 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "%s: a window's offsets must start at 0", w->f.path);
    int64_t *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->f.path);
    const int64_t na = cs->allele_off[n], nf = cs->af_off[n], nd = cs->ad_off[n], np = cs->pl_off[n];
    tsr_status_t s = cs_put(w, D_POS, n, cs->pos);
    if (s == TSR_OK)
        s = cs_put(w, D_NAL, n, cs->n_alleles);
    if (s == TSR_OK)
        s = append_offsets(w, D_AOFF, cs->allele_off, n, w->tot[0], tmp);
    if (s == TSR_OK)
        s = cs_put(w, D_ALLELES, na, cs->allele_blob);
    if (s == TSR_OK)
        s = cs_put(w, D_QUAL, n, cs->qual);
    if (s == TSR_OK)
        s = cs_put(w, D_FILTER, n, cs->filter);
    if (s == TSR_OK)
        s = append_offsets(w, D_FOFF, cs->af_off, n, w->tot[1], tmp);
    if (s == TSR_OK)
        s = cs_put(w, D_AF, nf, cs->af);
    if (s == TSR_OK)
        s = cs_put(w, D_GT, n * ns * 2, cs->gt);
    if (s == TSR_OK)
        s = cs_put(w, D_GQ, n * ns, cs->gq);
    if (s == TSR_OK)
        s = cs_put(w, D_DP, n * ns, cs->dp);
    if (s == TSR_OK)
        s = append_offsets(w, D_DOFF, cs->ad_off, n, w->tot[2], tmp);
    if (s == TSR_OK)
        s = cs_put(w, D_AD, nd, cs->ad);
    if (s == TSR_OK)
        s = append_offsets(w, D_POFF, cs->pl_off, n, w->tot[3], tmp);
    if (s == TSR_OK)
        s = cs_put(w, D_PL, np, cs->pl);
    if (s == TSR_OK && w->lowpass) {
        s = cs_put(w, D_DS, n * ns, cs->ds);
        if (s == TSR_OK)
            s = cs_put(w, D_GP, np, cs->gp);
        if (s == TSR_OK)
            s = cs_put(w, D_POPAF, nf * w->n_pops, cs->pop_af);
    }
    free(tmp);
    if (s == TSR_OK) {
        w->n_sites += n;
        w->tot[0] += na;
        w->tot[1] += nf;
        w->tot[2] += nd;
        w->tot[3] += np;
    }
    if (s == TSR_OK && w->buffered && w->buf_bytes > TSR_CALLSET_BUFFER_BYTES)
        s = cs_flush(w, 1);
    return s;
}

tsr_status_t tsr_callset_writer_close(tsr_callset_writer_t **wp, int commit)
{
    tsr_callset_writer_t *w = wp ? *wp : NULL;
    if (!w)
        return TSR_OK;
    *wp = NULL;
    tsr_status_t s = w->open && commit && w->buffered ? cs_flush(w, 0) : TSR_OK;
    if (w->open) {
        tsr_status_t c = tsr_h5_finish(&w->f, commit && s == TSR_OK);
        if (s == TSR_OK)
            s = c;
    }
    cs_buf_free(w);
    free(w);
    return s;
}

tsr_status_t tsr_callset_write(const char *path, const tsr_callset_t *cs)
{
    tsr_callset_writer_t *w = NULL;
    TSR_CALL(tsr_callset_writer_open(path, cs->contig, cs->start, cs->end, cs->n_samples, cs->ds != NULL,
                                     cs->n_pops, &w));
    tsr_status_t s = tsr_callset_writer_append(w, cs);
    tsr_status_t c = tsr_callset_writer_close(&w, s == TSR_OK);
    return s != TSR_OK ? s : c;
}

int64_t tsr_callset_window_sites(int32_t n_samples, int64_t mem_bytes)
{
    if (mem_bytes <= 0 || mem_bytes > TSR_CALLSET_WINDOW_BYTES)
        mem_bytes = TSR_CALLSET_WINDOW_BYTES;
    /* ~48 bytes per site and sample for a biallelic low-pass site (GT 2, GQ, DP, DS 4 each, AD 8, PL 12, GP 12) */
    int64_t w = mem_bytes / (48 * (int64_t)(n_samples > 0 ? n_samples : 1));
    return w < 16 ? 16 : w;
}

struct tsr_callset_reader {
    tsr_h5_file_t f;
    int open;
    char *contig;
    int64_t start, end, n_sites, at;
    int32_t n_samples, n_pops;
    int lowpass, done;
};

void tsr_callset_reader_close(tsr_callset_reader_t **rp)
{
    tsr_callset_reader_t *r = rp ? *rp : NULL;
    if (!r)
        return;
    *rp = NULL;
    if (r->open && tsr_h5_finish(&r->f, 0) != TSR_OK)
        tsr_log_warn("%s: closing the call set failed (it was only read)", r->f.path);
    free(r->contig);
    free(r);
}

static tsr_status_t reader_head(tsr_callset_reader_t *r)
{
    tsr_h5_file_t *f = &r->f;
    char *schema = NULL;
    TSR_CALL(tsr_h5_attr_read_str(f, "schema", &schema));
    int bad = strcmp(schema, TSR_CALLSET_SCHEMA) != 0;
    free(schema);
    if (bad)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: not a tessera call set (schema attribute)", f->path);
    int64_t v, ns;
    TSR_CALL(tsr_h5_attr_read_i64(f, "schema_version", &v));
    if (v != TSR_CALLSET_VERSION)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: call-set schema version %lld, this tessera reads %d", f->path,
                             (long long)v, TSR_CALLSET_VERSION);
    TSR_CALL(tsr_h5_attr_read_str(f, "contig", &r->contig));
    TSR_CALL(tsr_h5_attr_read_i64(f, "start", &r->start));
    TSR_CALL(tsr_h5_attr_read_i64(f, "end", &r->end));
    TSR_CALL(tsr_h5_attr_read_i64(f, "n_samples", &ns));
    if (ns < 0 || ns > INT32_MAX || r->end < r->start)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: bad region or sample count in the attributes", f->path);
    r->n_samples = (int32_t)ns;
    if (H5Aexists(f->id, "n_pops") > 0) {
        int64_t np;
        TSR_CALL(tsr_h5_attr_read_i64(f, "n_pops", &np));
        if (np < 0 || np > INT32_MAX)
            return tsr_error_set(TSR_ERR_FORMAT, "%s: bad n_pops attribute", f->path);
        r->n_pops = (int32_t)np;
        r->lowpass = 1;
    }
    if (tsr_h5_is_empty(f)) { /* a member without sites: no datasets */
        r->n_sites = 0;
        return TSR_OK;
    }
    int64_t n_off;
    TSR_CALL(tsr_h5_length(f, "/site/position", H5T_NATIVE_INT64, &r->n_sites));
    TSR_CALL(tsr_h5_length(f, "/site/allele_offset", H5T_NATIVE_INT64, &n_off));
    if (n_off != r->n_sites + 1)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: /site/allele_offset has %lld entries for %lld sites", f->path,
                             (long long)n_off, (long long)r->n_sites);
    return TSR_OK;
}

tsr_status_t tsr_callset_reader_open(const char *path, tsr_callset_reader_t **out)
{
    *out = NULL;
    tsr_callset_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path);
    tsr_status_t s = tsr_h5_open(path, &r->f);
    r->open = s == TSR_OK;
    if (s == TSR_OK)
        s = reader_head(r);
    if (s != TSR_OK) {
        tsr_callset_reader_close(&r);
        return s;
    }
    *out = r;
    return TSR_OK;
}

int64_t tsr_callset_reader_n_sites(const tsr_callset_reader_t *r) { return r->n_sites; }

/* A window of no sites: every array allocated (never NULL, as tsr_h5_read_range gives), offsets {0}. */
static tsr_status_t reader_window_empty(const tsr_callset_reader_t *r, tsr_callset_t *cs)
{
    TSR_ALLOC(cs->pos, 1);
    TSR_ALLOC(cs->n_alleles, 1);
    TSR_ALLOC(cs->allele_off, 1);
    TSR_ALLOC(cs->allele_blob, 1);
    TSR_ALLOC(cs->qual, 1);
    TSR_ALLOC(cs->filter, 1);
    TSR_ALLOC(cs->af_off, 1);
    TSR_ALLOC(cs->af, 1);
    TSR_ALLOC(cs->gt, 1);
    TSR_ALLOC(cs->gq, 1);
    TSR_ALLOC(cs->dp, 1);
    TSR_ALLOC(cs->ad_off, 1);
    TSR_ALLOC(cs->ad, 1);
    TSR_ALLOC(cs->pl_off, 1);
    TSR_ALLOC(cs->pl, 1);
    if (r->lowpass) {
        cs->n_pops = r->n_pops;
        TSR_ALLOC(cs->ds, 1);
        TSR_ALLOC(cs->gp, 1);
        TSR_ALLOC(cs->pop_af, 1);
    }
    return TSR_OK;
}

static tsr_status_t reader_window(tsr_callset_reader_t *r, int64_t i0, int64_t i1, tsr_callset_t *cs)
{
    tsr_h5_file_t *f = &r->f;
    const int64_t n = i1 - i0, ns = r->n_samples;
    int64_t ba, bf, bd, bp;
    cs->n_samples = r->n_samples;
    cs->start = r->start;
    cs->end = r->end;
    if (!(cs->contig = strdup(r->contig)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", f->path);
    cs->n_sites = n;
    if (n == 0) /* an empty window (a decoy's region): nothing to read, a member's datasets are not opened */
        return reader_window_empty(r, cs);
    TSR_CALL(tsr_h5_read_range(f, "/site/position", H5T_NATIVE_INT64, i0, n, (void **)&cs->pos));
    TSR_CALL(tsr_h5_read_range(f, "/site/n_alleles", H5T_NATIVE_INT32, i0, n, (void **)&cs->n_alleles));
    TSR_CALL(tsr_h5_read_offsets(&r->f, "/site/allele_offset", i0, i1, &cs->allele_off, &ba));
    TSR_CALL(tsr_h5_read_range(f, "/site/alleles", H5T_NATIVE_UINT8, ba, cs->allele_off[n],
                               (void **)&cs->allele_blob));
    TSR_CALL(tsr_h5_read_range(f, "/site/qual", H5T_NATIVE_FLOAT, i0, n, (void **)&cs->qual));
    TSR_CALL(tsr_h5_read_range(f, "/site/filter", H5T_NATIVE_UINT8, i0, n, (void **)&cs->filter));
    TSR_CALL(tsr_h5_read_offsets(&r->f, "/site/af_offset", i0, i1, &cs->af_off, &bf));
    TSR_CALL(tsr_h5_read_range(f, "/site/af", H5T_NATIVE_FLOAT, bf, cs->af_off[n], (void **)&cs->af));
    TSR_CALL(tsr_h5_read_range(f, "/call/gt", H5T_NATIVE_INT8, i0 * ns * 2, n * ns * 2, (void **)&cs->gt));
    TSR_CALL(tsr_h5_read_range(f, "/call/gq", H5T_NATIVE_INT32, i0 * ns, n * ns, (void **)&cs->gq));
    TSR_CALL(tsr_h5_read_range(f, "/call/dp", H5T_NATIVE_INT32, i0 * ns, n * ns, (void **)&cs->dp));
    TSR_CALL(tsr_h5_read_offsets(&r->f, "/call/ad_offset", i0, i1, &cs->ad_off, &bd));
    TSR_CALL(tsr_h5_read_range(f, "/call/ad", H5T_NATIVE_INT32, bd, cs->ad_off[n], (void **)&cs->ad));
    TSR_CALL(tsr_h5_read_offsets(&r->f, "/call/pl_offset", i0, i1, &cs->pl_off, &bp));
    TSR_CALL(tsr_h5_read_range(f, "/call/pl", H5T_NATIVE_INT32, bp, cs->pl_off[n], (void **)&cs->pl));
    if (r->lowpass) {
        cs->n_pops = r->n_pops;
        TSR_CALL(tsr_h5_read_range(f, "/call/ds", H5T_NATIVE_FLOAT, i0 * ns, n * ns, (void **)&cs->ds));
        TSR_CALL(tsr_h5_read_range(f, "/call/gp", H5T_NATIVE_FLOAT, bp, cs->pl_off[n], (void **)&cs->gp));
        TSR_CALL(tsr_h5_read_range(f, "/site/pop_af", H5T_NATIVE_FLOAT, bf * r->n_pops, cs->af_off[n] * r->n_pops,
                                   (void **)&cs->pop_af));
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t na = cs->n_alleles[i];
        if (na < 1 || tsr_h5_count_alleles(cs->allele_blob, cs->allele_off[i], cs->allele_off[i + 1]) != na ||
            cs->af_off[i + 1] - cs->af_off[i] != na || cs->ad_off[i + 1] - cs->ad_off[i] != ns * na ||
            cs->pl_off[i + 1] - cs->pl_off[i] != ns * (na * (na + 1) / 2))
            return tsr_error_set(TSR_ERR_FORMAT, "%s: site %lld (position %lld) has inconsistent alleles or sizes",
                                 f->path, (long long)(i0 + i), (long long)cs->pos[i]);
    }
    return TSR_OK;
}

tsr_status_t tsr_callset_reader_next(tsr_callset_reader_t *r, int64_t max_sites, tsr_callset_t **out)
{
    *out = NULL;
    if (r->done)
        return TSR_OK;
    int64_t i0 = r->at, i1 = max_sites > 0 && max_sites < r->n_sites - i0 ? i0 + max_sites : r->n_sites;
    tsr_callset_t *cs;
    TSR_CALL(tsr_callset_create(&cs));
    tsr_status_t s = reader_window(r, i0, i1, cs);
    if (s != TSR_OK) {
        tsr_callset_destroy(&cs);
        return s;
    }
    r->at = i1;
    r->done = i1 >= r->n_sites; /* an empty call set gives one empty window */
    *out = cs;
    return TSR_OK;
}

tsr_status_t tsr_callset_read(const char *path, tsr_callset_t **cs)
{
    *cs = NULL;
    tsr_callset_reader_t *r;
    TSR_CALL(tsr_callset_reader_open(path, &r));
    tsr_status_t s = tsr_callset_reader_next(r, 0, cs);
    tsr_callset_reader_close(&r);
    return s;
}

static const char *const filter_names[TSR_FILTER_N] = {"LowQual", "ExcHet", "StrandBias"};
static const char *const filter_descriptions[TSR_FILTER_N] = {
    "Low quality: QUAL below the joint kernel's threshold (--min-qual)",
    ("Excess heterozygosity: one-sided Hardy-Weinberg p-value of too many heterozygotes below the joint "
     "kernel's threshold"),
    "Strand bias: the ALT reads lean to one strand beyond the joint kernel's threshold",
};

const char *tsr_filter_name(int k)
{
    return k >= 0 && k < TSR_FILTER_N ? filter_names[k] : "";
}

const char *tsr_filter_description(int k)
{
    return k >= 0 && k < TSR_FILTER_N ? filter_descriptions[k] : "";
}
