/*
 * callset_store.c - the per-region call-set file (HDF5), the joint kernel's
 * output; schema in io/partition_schema.md.
 */
#include "io/h5_store_internal.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

#define TSR_CALLSET_SCHEMA "tessera-callset"
#define TSR_CALLSET_VERSION 1 /* low-pass call sets add n_pops, /call/ds, /call/gp, /site/pop_af */

static tsr_status_t callset_write_body(tsr_h5_file_t *f, const tsr_callset_t *cs)
{
    int64_t n = cs->n_sites, ns = cs->n_samples, zero = 0;
    const int64_t *aoff = n ? cs->allele_off : &zero, *foff = n ? cs->af_off : &zero,
                  *doff = n ? cs->ad_off : &zero, *poff = n ? cs->pl_off : &zero;
    TSR_CALL(tsr_h5_attr_write_str(f, "schema", TSR_CALLSET_SCHEMA));
    TSR_CALL(tsr_h5_attr_write_i64(f, "schema_version", TSR_CALLSET_VERSION));
    TSR_CALL(tsr_h5_attr_write_str(f, "contig", cs->contig ? cs->contig : ""));
    TSR_CALL(tsr_h5_attr_write_i64(f, "start", cs->start));
    TSR_CALL(tsr_h5_attr_write_i64(f, "end", cs->end));
    TSR_CALL(tsr_h5_attr_write_i64(f, "n_samples", ns));
    TSR_CALL(tsr_h5_group(f, "/site"));
    TSR_CALL(tsr_h5_group(f, "/call"));
    TSR_CALL(tsr_h5_write(f, "/site/position", H5T_NATIVE_INT64, n, cs->pos));
    TSR_CALL(tsr_h5_write(f, "/site/n_alleles", H5T_NATIVE_INT32, n, cs->n_alleles));
    TSR_CALL(tsr_h5_write(f, "/site/allele_offset", H5T_NATIVE_INT64, n + 1, aoff));
    TSR_CALL(tsr_h5_write(f, "/site/alleles", H5T_NATIVE_UINT8, aoff[n], cs->allele_blob));
    TSR_CALL(tsr_h5_write(f, "/site/qual", H5T_NATIVE_FLOAT, n, cs->qual));
    TSR_CALL(tsr_h5_write(f, "/site/filter", H5T_NATIVE_UINT8, n, cs->filter));
    TSR_CALL(tsr_h5_write(f, "/site/af_offset", H5T_NATIVE_INT64, n + 1, foff));
    TSR_CALL(tsr_h5_write(f, "/site/af", H5T_NATIVE_FLOAT, foff[n], cs->af));
    TSR_CALL(tsr_h5_write(f, "/call/gt", H5T_NATIVE_INT8, n * ns * 2, cs->gt));
    TSR_CALL(tsr_h5_write(f, "/call/gq", H5T_NATIVE_INT32, n * ns, cs->gq));
    TSR_CALL(tsr_h5_write(f, "/call/dp", H5T_NATIVE_INT32, n * ns, cs->dp));
    TSR_CALL(tsr_h5_write(f, "/call/ad_offset", H5T_NATIVE_INT64, n + 1, doff));
    TSR_CALL(tsr_h5_write(f, "/call/ad", H5T_NATIVE_INT32, doff[n], cs->ad));
    TSR_CALL(tsr_h5_write(f, "/call/pl_offset", H5T_NATIVE_INT64, n + 1, poff));
    TSR_CALL(tsr_h5_write(f, "/call/pl", H5T_NATIVE_INT32, poff[n], cs->pl));
    /* low-pass fields, only when present (deep call sets keep their bytes) */
    if (cs->ds) {
        TSR_CALL(tsr_h5_attr_write_i64(f, "n_pops", cs->n_pops));
        TSR_CALL(tsr_h5_write(f, "/call/ds", H5T_NATIVE_FLOAT, n * ns, cs->ds));
        TSR_CALL(tsr_h5_write(f, "/call/gp", H5T_NATIVE_FLOAT, poff[n], cs->gp));
        TSR_CALL(tsr_h5_write(f, "/site/pop_af", H5T_NATIVE_FLOAT, foff[n] * cs->n_pops, cs->pop_af));
    }
    return TSR_OK;
}

tsr_status_t tsr_callset_write(const char *path, const tsr_callset_t *cs)
{
    tsr_h5_file_t f;
    TSR_CALL(tsr_h5_create(path, &f));
    tsr_status_t s = callset_write_body(&f, cs);
    tsr_status_t c = tsr_h5_finish(&f, s == TSR_OK);
    return s != TSR_OK ? s : c;
}

static tsr_status_t callset_read_body(tsr_h5_file_t *f, tsr_callset_t *cs)
{
    char *schema = NULL;
    TSR_CALL(tsr_h5_attr_read_str(f, "schema", &schema));
    int bad = strcmp(schema, TSR_CALLSET_SCHEMA) != 0;
    free(schema);
    if (bad)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: not a tessera call set (schema attribute)", f->path);
    int64_t v, ns, n, m;
    TSR_CALL(tsr_h5_attr_read_i64(f, "schema_version", &v));
    if (v != TSR_CALLSET_VERSION)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: call-set schema version %lld, this tessera reads %d", f->path,
                             (long long)v, TSR_CALLSET_VERSION);
    TSR_CALL(tsr_h5_attr_read_str(f, "contig", &cs->contig));
    TSR_CALL(tsr_h5_attr_read_i64(f, "start", &cs->start));
    TSR_CALL(tsr_h5_attr_read_i64(f, "end", &cs->end));
    TSR_CALL(tsr_h5_attr_read_i64(f, "n_samples", &ns));
    if (ns < 0 || ns > INT32_MAX || cs->end < cs->start)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: bad region or sample count in the attributes", f->path);
    cs->n_samples = (int32_t)ns;
    TSR_CALL(tsr_h5_read(f, "/site/position", H5T_NATIVE_INT64, -1, &n, (void **)&cs->pos));
    cs->n_sites = n;
    TSR_CALL(tsr_h5_read(f, "/site/n_alleles", H5T_NATIVE_INT32, n, NULL, (void **)&cs->n_alleles));
    TSR_CALL(tsr_h5_read(f, "/site/allele_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&cs->allele_off));
    TSR_CALL(tsr_h5_read(f, "/site/alleles", H5T_NATIVE_UINT8, -1, &m, (void **)&cs->allele_blob));
    TSR_CALL(tsr_h5_check_offsets(f, "/site/allele_offset", cs->allele_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/site/qual", H5T_NATIVE_FLOAT, n, NULL, (void **)&cs->qual));
    TSR_CALL(tsr_h5_read(f, "/site/filter", H5T_NATIVE_UINT8, n, NULL, (void **)&cs->filter));
    TSR_CALL(tsr_h5_read(f, "/site/af_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&cs->af_off));
    TSR_CALL(tsr_h5_read(f, "/site/af", H5T_NATIVE_FLOAT, -1, &m, (void **)&cs->af));
    TSR_CALL(tsr_h5_check_offsets(f, "/site/af_offset", cs->af_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/call/gt", H5T_NATIVE_INT8, n * ns * 2, NULL, (void **)&cs->gt));
    TSR_CALL(tsr_h5_read(f, "/call/gq", H5T_NATIVE_INT32, n * ns, NULL, (void **)&cs->gq));
    TSR_CALL(tsr_h5_read(f, "/call/dp", H5T_NATIVE_INT32, n * ns, NULL, (void **)&cs->dp));
    TSR_CALL(tsr_h5_read(f, "/call/ad_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&cs->ad_off));
    TSR_CALL(tsr_h5_read(f, "/call/ad", H5T_NATIVE_INT32, -1, &m, (void **)&cs->ad));
    TSR_CALL(tsr_h5_check_offsets(f, "/call/ad_offset", cs->ad_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/call/pl_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&cs->pl_off));
    TSR_CALL(tsr_h5_read(f, "/call/pl", H5T_NATIVE_INT32, -1, &m, (void **)&cs->pl));
    TSR_CALL(tsr_h5_check_offsets(f, "/call/pl_offset", cs->pl_off, n, m));
    if (H5Aexists(f->id, "n_pops") > 0) {
        int64_t np;
        TSR_CALL(tsr_h5_attr_read_i64(f, "n_pops", &np));
        if (np < 0 || np > INT32_MAX)
            return tsr_error_set(TSR_ERR_FORMAT, "%s: bad n_pops attribute", f->path);
        cs->n_pops = (int32_t)np;
        TSR_CALL(tsr_h5_read(f, "/call/ds", H5T_NATIVE_FLOAT, n * ns, NULL, (void **)&cs->ds));
        TSR_CALL(tsr_h5_read(f, "/call/gp", H5T_NATIVE_FLOAT, cs->pl_off[n], NULL, (void **)&cs->gp));
        TSR_CALL(tsr_h5_read(f, "/site/pop_af", H5T_NATIVE_FLOAT, cs->af_off[n] * np, NULL, (void **)&cs->pop_af));
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t na = cs->n_alleles[i];
        if (na < 1 || tsr_h5_count_alleles(cs->allele_blob, cs->allele_off[i], cs->allele_off[i + 1]) != na ||
            cs->af_off[i + 1] - cs->af_off[i] != na || cs->ad_off[i + 1] - cs->ad_off[i] != ns * na ||
            cs->pl_off[i + 1] - cs->pl_off[i] != ns * (na * (na + 1) / 2))
            return tsr_error_set(TSR_ERR_FORMAT, "%s: site %lld (position %lld) has inconsistent alleles or sizes",
                                 f->path, (long long)i, (long long)cs->pos[i]);
    }
    return TSR_OK;
}

tsr_status_t tsr_callset_read(const char *path, tsr_callset_t **cs)
{
    *cs = NULL;
    tsr_callset_t *c;
    TSR_CALL(tsr_callset_create(&c));
    tsr_h5_file_t f;
    tsr_status_t s = tsr_h5_open(path, &f);
    if (s != TSR_OK) {
        tsr_callset_destroy(&c);
        return s;
    }
    s = callset_read_body(&f, c);
    tsr_status_t fs = tsr_h5_finish(&f, 0);
    if (s == TSR_OK)
        s = fs;
    if (s != TSR_OK) {
        tsr_callset_destroy(&c);
        return s;
    }
    *cs = c;
    return TSR_OK;
}

static const char *const filter_names[TSR_FILTER_N] = {"LowQual", "ExcHet", "StrandBias"};
static const char *const filter_descriptions[TSR_FILTER_N] = {
    "Low quality: QUAL below the joint kernel's threshold (--min-qual)",
    "Excess heterozygosity: one-sided Hardy-Weinberg p-value of too many heterozygotes below the joint "
    "kernel's threshold",
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
