/*
 * cohort_h5.c - the cohort.h5 back end of the cohort writer (schema in
 * io/cohort_schema.md; VCF-Zarr names).
 *
 * Design. Sites arrive one at a time in genome order. They are buffered for
 * one chunk-row of variants and then written with one hyperslab per dataset,
 * so each chunk is normally written (and compressed) once. Both the variants
 * axis and the allele axis are unlimited: a site with more alleles than any
 * before flushes the buffer and extends every allele-shaped dataset; HDF5
 * fills the new columns of earlier rows with the dataset's fill value, which
 * is the pad value ("" / -1 / NaN), so there is no cap on alleles.
 * Object time stamps are off so the same input gives the same bytes. One task
 * writes the file with the default (serial) driver; writing it collectively
 * with the MPI-IO driver is left to a later change.
 */
#include "io/h5_store_internal.h"
#include "io/io_internal.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    DS_CONTIG, DS_POSITION, DS_ALLELE, DS_QUALITY, DS_FILTER,
    DS_GT, DS_GQ, DS_DP, DS_AD,
    DS_FIXED /* then the G_* datasets per statistics group (cohort, populations) */
};
/*
 * Per statistics group (cohort, then each population): the datasets
 * variant_<name>[_<pop>], per ALT (variants x ALTs) or per site, of
 * tsr_site_stats_t (io/io.h defines each statistic).
 */
enum { G_AC, G_AN, G_AF, G_NS, G_NHET, G_NHOMALT, G_FMISSING, G_HWE, G_EXCHET, G_F, N_G };
enum { T_I32, T_F32, T_F64 };
static const struct {
    const char *name;
    int per_alt, type;
} group_ds[N_G] = {
    [G_AC] = {"AC", 1, T_I32},          [G_AN] = {"AN", 0, T_I32},
    [G_AF] = {"AF", 1, T_F32},          [G_NS] = {"NS", 0, T_I32},
    [G_NHET] = {"nhet", 0, T_I32},      [G_NHOMALT] = {"nhomalt", 1, T_I32},
    [G_FMISSING] = {"F_MISSING", 0, T_F32}, [G_HWE] = {"HWE", 1, T_F64},
    [G_EXCHET] = {"ExcHet", 1, T_F64},  [G_F] = {"F", 0, T_F64},
};
enum { N_FILTERS = 2, PLOIDY = 2, ALLELE_CHUNK = 2 };

typedef struct h5var {
    hid_t id;
    int rank;         /* 1..3; axis 0 is variants */
    hsize_t dims[3];  /* current extent (dims[0] = variants written) */
    int allele_axis;  /* axis sized by alleles, -1 if none */
    int minus_one;    /* the allele axis counts ALTs (n_alleles - 1) */
    hid_t mem_type;
    size_t elem;
    void *buf;        /* n_buf rows */
} h5var_t;

struct tsr_cohort_h5 {
    char *path;
    hid_t file, str_type, bool_type;
    int n_samples, n_groups; /* groups: cohort + populations */
    int n_alleles;           /* current allele-axis size */
    int64_t n_written;
    int n_vars;
    h5var_t *vars;
    int cap_rows, n_rows;    /* buffered rows */
    tsr_str_t arena;         /* allele strings of buffered rows */
};

#define H5TRY(h, expr)                                                                                       \
    do {                                                                                                     \
        if ((expr) < 0)                                                                                      \
            return tsr_error_set(TSR_ERR_HDF5, "cannot write '%s': HDF5 call failed (%s); check free space " \
                                 "and permissions of the output directory", (h)->path, #expr);               \
    } while (0)

static size_t row_elems(const h5var_t *v)
{
    size_t n = 1;
    for (int a = 1; a < v->rank; a++)
        n *= v->dims[a];
    return n;
}

static tsr_status_t make_dataset(tsr_cohort_h5_t *h, h5var_t *v, const char *name, hid_t file_type, hid_t mem_type,
                                 size_t elem, int rank, const hsize_t *dims, const hsize_t *chunk, int allele_axis,
                                 int minus_one, const void *fill, int compress)
{
    hsize_t maxdims[3];
    for (int a = 0; a < rank; a++)
        maxdims[a] = (a == 0 || a == allele_axis) ? H5S_UNLIMITED : dims[a];
    v->rank = rank;
    memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
    v->allele_axis = allele_axis;
    v->minus_one = minus_one;
    v->mem_type = mem_type;
    v->elem = elem;
    hid_t space = H5Screate_simple(rank, dims, maxdims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    herr_t e = (space < 0 || dcpl < 0) ? -1 : 0;
    if (e >= 0)
        e = H5Pset_chunk(dcpl, rank, chunk);
    if (e >= 0 && compress)
        e = H5Pset_shuffle(dcpl);
    if (e >= 0 && compress)
        e = H5Pset_deflate(dcpl, 4);
    if (e >= 0)
        e = H5Pset_fill_value(dcpl, file_type, fill);
    if (e >= 0)
        e = H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC);
    if (e >= 0)
        e = H5Pset_obj_track_times(dcpl, 0);
    if (e >= 0)
        v->id = H5Dcreate2(h->file, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    if (e < 0 || v->id < 0)
        return tsr_error_set(TSR_ERR_HDF5, "cannot create dataset '%s' in '%s'", name, h->path);
    return TSR_OK;
}

/* A small fixed-size 1-D dataset written at once. */
static tsr_status_t write_fixed(tsr_cohort_h5_t *h, const char *name, hid_t type, hsize_t n, const void *data)
{
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = -1;
    herr_t e = (space < 0 || dcpl < 0) ? -1 : H5Pset_obj_track_times(dcpl, 0);
    if (e >= 0)
        ds = H5Dcreate2(h->file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (ds >= 0 && n > 0)
        e = H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0 && H5Dclose(ds) < 0)
        e = -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    if (e < 0 || ds < 0)
        return tsr_error_set(TSR_ERR_HDF5, "cannot write dataset '%s' in '%s'", name, h->path);
    return TSR_OK;
}

static tsr_status_t write_header_datasets(tsr_cohort_h5_t *h, const tsr_ref_t *ref, const tsr_sheet_t *sheet)
{
    int nc = tsr_ref_n_contigs(ref);
    const char **names = calloc((size_t)(nc > sheet->n_samples ? nc : sheet->n_samples) + 1, sizeof *names);
    int64_t *lens = calloc((size_t)nc + 1, sizeof *lens);
    tsr_status_t st = TSR_OK;
    if (!names || !lens)
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
    for (int i = 0; st == TSR_OK && i < sheet->n_samples; i++)
        names[i] = sheet->samples[i].id;
    if (st == TSR_OK)
        st = write_fixed(h, "sample_id", h->str_type, (hsize_t)sheet->n_samples, names);
    for (int i = 0; st == TSR_OK && i < nc; i++) {
        names[i] = tsr_ref_contig_name(ref, i);
        lens[i] = tsr_ref_contig_length(ref, i);
    }
    if (st == TSR_OK)
        st = write_fixed(h, "contig_id", h->str_type, (hsize_t)nc, names);
    if (st == TSR_OK)
        st = write_fixed(h, "contig_length", H5T_NATIVE_INT64, (hsize_t)nc, lens);
    const char *filters[N_FILTERS] = {"PASS", "LowQual"};
    if (st == TSR_OK)
        st = write_fixed(h, "filter_id", h->str_type, N_FILTERS, filters);
    free(names);
    free(lens);
    return st;
}

static tsr_status_t create_variant_datasets(tsr_cohort_h5_t *h, const tsr_sheet_t *sheet)
{
    const hsize_t S = (hsize_t)h->n_samples, A = (hsize_t)h->n_alleles;
    const hsize_t cs = S < 1000 ? S : 1000;
    /* Variants per chunk: about 1 MiB per call-level chunk, and the row buffer
     * (all call datasets, n_rows x samples) under about 256 MiB. */
    hsize_t cv = ((hsize_t)1 << 20) / (cs * 4);
    hsize_t cap = ((hsize_t)256 << 20) / (S * (PLOIDY + 4 + 4 + 4 * 4));
    if (cv > cap)
        cv = cap;
    if (cv > 10000)
        cv = 10000;
    if (cv < 1)
        cv = 1;
    h->cap_rows = (int)cv;
    const hsize_t c1 = 10000;

    const int8_t fill_i8 = -1, fill_false = 0;
    const int32_t fill_i32 = -1, fill_contig = -1;
    const int64_t fill_i64 = -1;
    const float fill_nan = NAN;
    const double fill_nan64 = NAN;
    const char *fill_str = "";
    h5var_t *v = h->vars;
    {
        hsize_t d[1] = {0}, c[1] = {c1};
        TSR_CALL(make_dataset(h, &v[DS_CONTIG], "variant_contig", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 1, d, c, -1,
                              0, &fill_contig, 1));
        TSR_CALL(make_dataset(h, &v[DS_POSITION], "variant_position", H5T_STD_I64LE, H5T_NATIVE_INT64, 8, 1, d, c,
                              -1, 0, &fill_i64, 1));
        TSR_CALL(make_dataset(h, &v[DS_QUALITY], "variant_quality", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, 1, d, c,
                              -1, 0, &fill_nan, 1));
    }
    {
        hsize_t d[2] = {0, A}, c[2] = {c1 / 10, ALLELE_CHUNK};
        TSR_CALL(make_dataset(h, &v[DS_ALLELE], "variant_allele", h->str_type, h->str_type, sizeof(int64_t), 2, d,
                              c, 1, 0, &fill_str, 0));
        hsize_t df[2] = {0, N_FILTERS}, cf[2] = {c1, N_FILTERS};
        TSR_CALL(make_dataset(h, &v[DS_FILTER], "variant_filter", h->bool_type, h->bool_type, 1, 2, df, cf, -1, 0,
                              &fill_false, 1));
    }
    {
        hsize_t d[3] = {0, S, PLOIDY}, c[3] = {cv, cs, PLOIDY};
        TSR_CALL(make_dataset(h, &v[DS_GT], "call_genotype", H5T_STD_I8LE, H5T_NATIVE_INT8, 1, 3, d, c, -1, 0,
                              &fill_i8, 1));
        hsize_t d2[2] = {0, S}, c2[2] = {cv, cs};
        TSR_CALL(make_dataset(h, &v[DS_GQ], "call_GQ", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 2, d2, c2, -1, 0,
                              &fill_i32, 1));
        TSR_CALL(make_dataset(h, &v[DS_DP], "call_DP", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 2, d2, c2, -1, 0,
                              &fill_i32, 1));
        hsize_t d3[3] = {0, S, A}, c3[3] = {cv, cs, ALLELE_CHUNK};
        TSR_CALL(make_dataset(h, &v[DS_AD], "call_AD", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 3, d3, c3, 2, 0,
                              &fill_i32, 1));
    }
    for (int g = 0; g < h->n_groups; g++) {
        char name[320];
        const char *suffix = g == 0 ? "" : sheet->populations[g - 1];
        const char *sep = g == 0 ? "" : "_";
        for (int k = 0; k < N_G; k++) {
            h5var_t *gv = &v[DS_FIXED + N_G * g + k];
            hsize_t d[2] = {0, A - 1}, c[2] = {c1, ALLELE_CHUNK};
            hsize_t d1[1] = {0}, c1d[1] = {c1};
            snprintf(name, sizeof name, "variant_%s%s%s", group_ds[k].name, sep, suffix);
            const int t = group_ds[k].type;
            hid_t ft = t == T_I32 ? H5T_STD_I32LE : t == T_F32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
            hid_t mt = t == T_I32 ? H5T_NATIVE_INT32 : t == T_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
            const void *fill = t == T_I32 ? (const void *)&fill_i32 : t == T_F32 ? (const void *)&fill_nan
                                                                                : (const void *)&fill_nan64;
            size_t elem = t == T_F64 ? 8 : 4;
            if (group_ds[k].per_alt)
                TSR_CALL(make_dataset(h, gv, name, ft, mt, elem, 2, d, c, 1, 1, fill, 1));
            else
                TSR_CALL(make_dataset(h, gv, name, ft, mt, elem, 1, d1, c1d, -1, 0, fill, 1));
        }
    }
    return TSR_OK;
}

static tsr_status_t alloc_buffers(tsr_cohort_h5_t *h)
{
    for (int i = 0; i < h->n_vars; i++) {
        h5var_t *v = &h->vars[i];
        free(v->buf);
        v->buf = malloc((size_t)h->cap_rows * row_elems(v) * v->elem);
        if (!v->buf)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
    }
    return TSR_OK;
}

tsr_status_t tsr_cohort_h5_open(const char *path, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                tsr_cohort_h5_t **out)
{
    *out = NULL;
    tsr_cohort_h5_t *h = calloc(1, sizeof *h);
    if (!h)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path);
    h->file = h->str_type = h->bool_type = -1;
    h->n_samples = sheet->n_samples;
    h->n_groups = 1 + sheet->n_populations;
    h->n_alleles = 2;
    h->n_vars = DS_FIXED + N_G * h->n_groups;
    h->path = strdup(path);
    h->vars = calloc((size_t)h->n_vars, sizeof *h->vars);
    tsr_status_t st = TSR_OK;
    if (!h->path || !h->vars) {
        free(h->path);
        free(h->vars);
        free(h);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path);
    }
    for (int i = 0; i < h->n_vars; i++)
        h->vars[i].id = -1;

    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0)
        st = tsr_error_set(TSR_ERR_HDF5, "cannot set up HDF5 file creation for '%s'", path);
    /* Errors reach the user as one tsr_error_set line, not HDF5's stack dump. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = tsr_h5_fapl();
    if (st == TSR_OK && (h->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl)) < 0)
        st = tsr_error_set(TSR_ERR_HDF5, "cannot create '%s'; check that the output directory is writable", path);
    if (fapl != H5P_DEFAULT)
        H5Pclose(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (st == TSR_OK) {
        h->str_type = H5Tcopy(H5T_C_S1);
        int8_t f = 0, t = 1;
        h->bool_type = H5Tenum_create(H5T_NATIVE_INT8);
        if (h->str_type < 0 || H5Tset_size(h->str_type, H5T_VARIABLE) < 0 ||
            H5Tset_cset(h->str_type, H5T_CSET_UTF8) < 0 || h->bool_type < 0 ||
            H5Tenum_insert(h->bool_type, "FALSE", &f) < 0 || H5Tenum_insert(h->bool_type, "TRUE", &t) < 0)
            st = tsr_error_set(TSR_ERR_HDF5, "cannot create HDF5 types for '%s'", path);
    }
    if (st == TSR_OK)
        st = write_header_datasets(h, ref, sheet);
    if (st == TSR_OK)
        st = create_variant_datasets(h, sheet);
    if (st == TSR_OK)
        st = alloc_buffers(h);
    if (st != TSR_OK) {
        if (tsr_cohort_h5_close(&h, 0) != TSR_OK)
            tsr_log_debug("closing '%s' after an error failed too", path);
        return st;
    }
    *out = h;
    return TSR_OK;
}

/* Write the buffered rows and extend the variants axis. */
static tsr_status_t flush_rows(tsr_cohort_h5_t *h)
{
    if (h->n_rows == 0)
        return TSR_OK;
    const char **strs = NULL;
    h5var_t *al = &h->vars[DS_ALLELE];
    size_t n_str = (size_t)h->n_rows * row_elems(al);
    strs = malloc(n_str * sizeof *strs);
    if (!strs)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
    const int64_t *off = al->buf;
    for (size_t i = 0; i < n_str; i++)
        strs[i] = off[i] < 0 ? "" : h->arena.s + off[i];

    tsr_status_t st = TSR_OK;
    for (int i = 0; st == TSR_OK && i < h->n_vars; i++) {
        h5var_t *v = &h->vars[i];
        hsize_t start[3] = {(hsize_t)h->n_written, 0, 0}, count[3];
        memcpy(count, v->dims, sizeof count);
        count[0] = (hsize_t)h->n_rows;
        v->dims[0] = (hsize_t)h->n_written + (hsize_t)h->n_rows;
        hid_t fs = -1, ms = -1;
        herr_t e = H5Dset_extent(v->id, v->dims);
        if (e >= 0 && (fs = H5Dget_space(v->id)) < 0)
            e = -1;
        if (e >= 0)
            e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        if (e >= 0 && (ms = H5Screate_simple(v->rank, count, NULL)) < 0)
            e = -1;
        if (e >= 0)
            e = H5Dwrite(v->id, v->mem_type, ms, fs, H5P_DEFAULT, i == DS_ALLELE ? (const void *)strs : v->buf);
        if (ms >= 0)
            H5Sclose(ms);
        if (fs >= 0)
            H5Sclose(fs);
        if (e < 0)
            st = tsr_error_set(TSR_ERR_HDF5, "cannot write variants to '%s'; check free space and permissions",
                               h->path);
    }
    free(strs);
    h->n_written += h->n_rows;
    h->n_rows = 0;
    h->arena.l = 0;
    return st;
}

static tsr_status_t grow_alleles(tsr_cohort_h5_t *h, int n_alleles)
{
    TSR_CALL(flush_rows(h));
    for (int i = 0; i < h->n_vars; i++) {
        h5var_t *v = &h->vars[i];
        if (v->allele_axis < 0)
            continue;
        v->dims[v->allele_axis] = (hsize_t)(n_alleles - v->minus_one);
        H5TRY(h, H5Dset_extent(v->id, v->dims));
    }
    h->n_alleles = n_alleles;
    return alloc_buffers(h);
}

tsr_status_t tsr_cohort_h5_add(tsr_cohort_h5_t *h, const tsr_cohort_site_t *s)
{
    if (s->n_alleles > h->n_alleles)
        TSR_CALL(grow_alleles(h, s->n_alleles));
    const int r = h->n_rows, S = h->n_samples, A = h->n_alleles, n = s->n_alleles;
    h5var_t *v = h->vars;
    ((int32_t *)v[DS_CONTIG].buf)[r] = s->contig;
    ((int64_t *)v[DS_POSITION].buf)[r] = s->pos + 1;
    ((float *)v[DS_QUALITY].buf)[r] = s->qual;
    int8_t *flt = (int8_t *)v[DS_FILTER].buf + (size_t)r * N_FILTERS;
    flt[0] = s->filter == 0;
    flt[1] = (s->filter & 1) != 0;

    int64_t *off = (int64_t *)v[DS_ALLELE].buf + (size_t)r * A;
    for (int a = 0; a < A; a++) {
        off[a] = -1;
        if (a >= n)
            continue;
        off[a] = (int64_t)h->arena.l;
        if (tsr_str_putn(&h->arena, s->alleles[a], strlen(s->alleles[a]) + 1) != 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
    }

    memcpy((int8_t *)v[DS_GT].buf + (size_t)r * S * PLOIDY, s->gt, (size_t)S * PLOIDY);
    int32_t *gq = (int32_t *)v[DS_GQ].buf + (size_t)r * S, *dp = (int32_t *)v[DS_DP].buf + (size_t)r * S;
    int32_t *ad = (int32_t *)v[DS_AD].buf + (size_t)r * S * A;
    for (int j = 0; j < S; j++) {
        gq[j] = s->gq ? s->gq[j] : -1;
        dp[j] = s->dp ? s->dp[j] : -1;
        for (int a = 0; a < A; a++)
            ad[(size_t)j * A + a] = (s->ad && a < n) ? s->ad[(size_t)j * n + a] : -1;
    }
    const tsr_site_stats_t *st = s->st;
    for (int g = 0; g < h->n_groups; g++) {
        h5var_t *gv = &v[DS_FIXED + N_G * g];
        const size_t o = (size_t)g * (size_t)(n - 1);
        for (int a = 0; a < A - 1; a++) {
            int in = a < n - 1;
            size_t i = (size_t)r * (A - 1) + a;
            ((int32_t *)gv[G_AC].buf)[i] = in ? st->ac[o + a] : -1;
            ((float *)gv[G_AF].buf)[i] = in ? st->af[o + a] : NAN;
            ((int32_t *)gv[G_NHOMALT].buf)[i] = in ? st->nhomalt[o + a] : -1;
            ((double *)gv[G_HWE].buf)[i] = in ? st->hwe[o + a] : NAN;
            ((double *)gv[G_EXCHET].buf)[i] = in ? st->exchet[o + a] : NAN;
        }
        ((int32_t *)gv[G_AN].buf)[r] = st->an[g];
        ((int32_t *)gv[G_NS].buf)[r] = st->ns[g];
        ((int32_t *)gv[G_NHET].buf)[r] = st->nhet[g];
        ((float *)gv[G_FMISSING].buf)[r] = st->f_missing[g];
        ((double *)gv[G_F].buf)[r] = st->inbreeding[g];
    }
    if (++h->n_rows == h->cap_rows)
        TSR_CALL(flush_rows(h));
    return TSR_OK;
}

tsr_status_t tsr_cohort_h5_close(tsr_cohort_h5_t **hp, int flush)
{
    if (!hp || !*hp)
        return TSR_OK;
    tsr_cohort_h5_t *h = *hp;
    tsr_status_t st = flush ? flush_rows(h) : TSR_OK;
    for (int i = 0; i < h->n_vars; i++) {
        if (h->vars[i].id >= 0 && H5Dclose(h->vars[i].id) < 0 && st == TSR_OK)
            st = tsr_error_set(TSR_ERR_HDF5, "cannot close a dataset of '%s'", h->path);
        free(h->vars[i].buf);
    }
    if (h->str_type >= 0)
        H5Tclose(h->str_type);
    if (h->bool_type >= 0)
        H5Tclose(h->bool_type);
    if (h->file >= 0 && H5Fclose(h->file) < 0 && st == TSR_OK)
        st = tsr_error_set(TSR_ERR_HDF5, "cannot close '%s'; check free space", h->path);
    tsr_str_free(&h->arena);
    free(h->vars);
    free(h->path);
    free(h);
    *hp = NULL;
    return st;
}
