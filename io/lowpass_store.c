/*
 * lowpass_store.c - the low-pass evidence partition (HDF5), written by the
 * lowpass evidence kernel per (region, batch) and read by the lowpass
 * discovery kernel; schema in io/lowpass_schema.md. Sealed and renamed like
 * the deep partitions (io/h5_store_internal.h).
 */
#include "io/h5_store.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

#define TSR_LP_SCHEMA "tessera-lowpass-evidence"
#define TSR_LP_VERSION 1

tsr_status_t tsr_lp_evidence_create(tsr_lp_evidence_t **ev)
{
    TSR_ALLOC(*ev, 1);
    return TSR_OK;
}

void tsr_lp_evidence_destroy(tsr_lp_evidence_t **ev)
{
    if (!ev || !*ev)
        return;
    tsr_lp_evidence_t *e = *ev;
    free(e->contig);
    if (e->sample_ids)
        for (int32_t i = 0; i < e->n_samples; i++)
            free(e->sample_ids[i]);
    free(e->sample_ids);
    free(e->ref_qual);
    free(e->pos);
    free(e->kind);
    free(e->n_alleles);
    free(e->allele_off);
    free(e->allele_blob);
    free(e->obs_off);
    free(e->obs_sample);
    free(e->obs_allele);
    free(e->obs_qual);
    free(e->run_sample);
    free(e->run_start);
    free(e->run_end);
    free(e->run_depth);
    free(e);
    *ev = NULL;
}

static tsr_status_t lp_write_body(tsr_h5_file_t *f, const tsr_lp_evidence_t *ev)
{
    int64_t n = ev->n_sites, zero = 0;
    const int64_t *aoff = n ? ev->allele_off : &zero, *ooff = n ? ev->obs_off : &zero;
    TSR_CALL(tsr_h5_attr_write_str(f, "schema", TSR_LP_SCHEMA));
    TSR_CALL(tsr_h5_attr_write_i64(f, "schema_version", TSR_LP_VERSION));
    TSR_CALL(tsr_h5_attr_write_str(f, "contig", ev->contig ? ev->contig : ""));
    TSR_CALL(tsr_h5_attr_write_i64(f, "start", ev->start));
    TSR_CALL(tsr_h5_attr_write_i64(f, "end", ev->end));
    TSR_CALL(tsr_h5_attr_write_i64(f, "n_samples", ev->n_samples));
    TSR_CALL(tsr_h5_write_strings(f, "/sample_id", ev->n_samples, (const char *const *)ev->sample_ids));
    TSR_CALL(tsr_h5_write(f, "/sample_ref_qual", H5T_NATIVE_FLOAT, ev->n_samples, ev->ref_qual));
    TSR_CALL(tsr_h5_group(f, "/site"));
    TSR_CALL(tsr_h5_group(f, "/obs"));
    TSR_CALL(tsr_h5_group(f, "/run"));
    TSR_CALL(tsr_h5_write(f, "/site/position", H5T_NATIVE_INT64, n, ev->pos));
    TSR_CALL(tsr_h5_write(f, "/site/kind", H5T_NATIVE_UINT8, n, ev->kind));
    TSR_CALL(tsr_h5_write(f, "/site/n_alleles", H5T_NATIVE_INT32, n, ev->n_alleles));
    TSR_CALL(tsr_h5_write(f, "/site/allele_offset", H5T_NATIVE_INT64, n + 1, aoff));
    TSR_CALL(tsr_h5_write(f, "/site/alleles", H5T_NATIVE_UINT8, aoff[n], ev->allele_blob));
    TSR_CALL(tsr_h5_write(f, "/site/obs_offset", H5T_NATIVE_INT64, n + 1, ooff));
    TSR_CALL(tsr_h5_write(f, "/obs/sample", H5T_NATIVE_INT32, ooff[n], ev->obs_sample));
    TSR_CALL(tsr_h5_write(f, "/obs/allele", H5T_NATIVE_UINT8, ooff[n], ev->obs_allele));
    TSR_CALL(tsr_h5_write(f, "/obs/qual", H5T_NATIVE_UINT8, ooff[n], ev->obs_qual));
    TSR_CALL(tsr_h5_write(f, "/run/sample", H5T_NATIVE_INT32, ev->n_runs, ev->run_sample));
    TSR_CALL(tsr_h5_write(f, "/run/start", H5T_NATIVE_INT64, ev->n_runs, ev->run_start));
    TSR_CALL(tsr_h5_write(f, "/run/end", H5T_NATIVE_INT64, ev->n_runs, ev->run_end));
    TSR_CALL(tsr_h5_write(f, "/run/depth", H5T_NATIVE_INT32, ev->n_runs, ev->run_depth));
    return TSR_OK;
}

tsr_status_t tsr_lp_partition_write(const char *path, const tsr_lp_evidence_t *ev)
{
    tsr_h5_file_t f;
    TSR_CALL(tsr_h5_create(path, &f));
    tsr_status_t s = lp_write_body(&f, ev);
    tsr_status_t c = tsr_h5_finish(&f, s == TSR_OK);
    return s != TSR_OK ? s : c;
}

static tsr_status_t lp_read_body(tsr_h5_file_t *f, tsr_lp_evidence_t *ev)
{
    char *schema = NULL;
    TSR_CALL(tsr_h5_attr_read_str(f, "schema", &schema));
    int bad = strcmp(schema, TSR_LP_SCHEMA) != 0;
    free(schema);
    if (bad)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: not a tessera low-pass evidence partition (schema attribute)",
                             f->path);
    int64_t v, ns, n, m, nr;
    TSR_CALL(tsr_h5_attr_read_i64(f, "schema_version", &v));
    if (v != TSR_LP_VERSION)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: low-pass schema version %lld, this tessera reads %d", f->path,
                             (long long)v, TSR_LP_VERSION);
    TSR_CALL(tsr_h5_attr_read_str(f, "contig", &ev->contig));
    TSR_CALL(tsr_h5_attr_read_i64(f, "start", &ev->start));
    TSR_CALL(tsr_h5_attr_read_i64(f, "end", &ev->end));
    TSR_CALL(tsr_h5_attr_read_i64(f, "n_samples", &ns));
    if (ns < 0 || ns > INT32_MAX || ev->end < ev->start)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: bad region or sample count in the attributes", f->path);
    ev->n_samples = (int32_t)ns;
    TSR_CALL(tsr_h5_read_strings(f, "/sample_id", ns, &ev->sample_ids));
    TSR_CALL(tsr_h5_read(f, "/sample_ref_qual", H5T_NATIVE_FLOAT, ns, NULL, (void **)&ev->ref_qual));
    TSR_CALL(tsr_h5_read(f, "/site/position", H5T_NATIVE_INT64, -1, &n, (void **)&ev->pos));
    ev->n_sites = n;
    TSR_CALL(tsr_h5_read(f, "/site/kind", H5T_NATIVE_UINT8, n, NULL, (void **)&ev->kind));
    TSR_CALL(tsr_h5_read(f, "/site/n_alleles", H5T_NATIVE_INT32, n, NULL, (void **)&ev->n_alleles));
    TSR_CALL(tsr_h5_read(f, "/site/allele_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&ev->allele_off));
    TSR_CALL(tsr_h5_read(f, "/site/alleles", H5T_NATIVE_UINT8, -1, &m, (void **)&ev->allele_blob));
    TSR_CALL(tsr_h5_check_offsets(f, "/site/allele_offset", ev->allele_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/site/obs_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&ev->obs_off));
    TSR_CALL(tsr_h5_read(f, "/obs/sample", H5T_NATIVE_INT32, -1, &m, (void **)&ev->obs_sample));
    TSR_CALL(tsr_h5_check_offsets(f, "/site/obs_offset", ev->obs_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/obs/allele", H5T_NATIVE_UINT8, m, NULL, (void **)&ev->obs_allele));
    TSR_CALL(tsr_h5_read(f, "/obs/qual", H5T_NATIVE_UINT8, m, NULL, (void **)&ev->obs_qual));
    TSR_CALL(tsr_h5_read(f, "/run/sample", H5T_NATIVE_INT32, -1, &nr, (void **)&ev->run_sample));
    ev->n_runs = nr;
    TSR_CALL(tsr_h5_read(f, "/run/start", H5T_NATIVE_INT64, nr, NULL, (void **)&ev->run_start));
    TSR_CALL(tsr_h5_read(f, "/run/end", H5T_NATIVE_INT64, nr, NULL, (void **)&ev->run_end));
    TSR_CALL(tsr_h5_read(f, "/run/depth", H5T_NATIVE_INT32, nr, NULL, (void **)&ev->run_depth));
    for (int64_t i = 0; i < n; i++) {
        int32_t na = ev->n_alleles[i];
        if (na < 2 || na > 255 ||
            tsr_h5_count_alleles(ev->allele_blob, ev->allele_off[i], ev->allele_off[i + 1]) != na ||
            ev->kind[i] > TSR_SITE_INDEL || (i > 0 && ev->pos[i] < ev->pos[i - 1]))
            return tsr_error_set(TSR_ERR_FORMAT, "%s: site %lld (position %lld) is inconsistent", f->path,
                                 (long long)i, (long long)ev->pos[i]);
        for (int64_t k = ev->obs_off[i]; k < ev->obs_off[i + 1]; k++)
            if (ev->obs_sample[k] < 0 || ev->obs_sample[k] >= ns || ev->obs_allele[k] < 1 ||
                ev->obs_allele[k] >= na)
                return tsr_error_set(TSR_ERR_FORMAT, "%s: observation %lld of site %lld is out of range", f->path,
                                     (long long)k, (long long)i);
    }
    for (int64_t r = 0; r < nr; r++)
        if (ev->run_sample[r] < 0 || ev->run_sample[r] >= ns || ev->run_end[r] <= ev->run_start[r] ||
            ev->run_depth[r] < 1 || (r > 0 && (ev->run_sample[r] < ev->run_sample[r - 1] ||
                                               (ev->run_sample[r] == ev->run_sample[r - 1] &&
                                                ev->run_start[r] < ev->run_end[r - 1]))))
            return tsr_error_set(TSR_ERR_FORMAT, "%s: coverage run %lld is out of order or range", f->path,
                                 (long long)r);
    return TSR_OK;
}

tsr_status_t tsr_lp_partition_read(const char *path, tsr_lp_evidence_t **ev)
{
    *ev = NULL;
    tsr_lp_evidence_t *e;
    TSR_CALL(tsr_lp_evidence_create(&e));
    tsr_h5_file_t f;
    tsr_status_t s = tsr_h5_open(path, &f);
    if (s != TSR_OK) {
        tsr_lp_evidence_destroy(&e);
        return s;
    }
    s = lp_read_body(&f, e);
    tsr_status_t fs = tsr_h5_finish(&f, 0);
    if (s == TSR_OK)
        s = fs;
    if (s != TSR_OK) {
        tsr_lp_evidence_destroy(&e);
        return s;
    }
    *ev = e;
    return TSR_OK;
}
