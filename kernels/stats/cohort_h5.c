/*
 * cohort_h5.c - DIR/cohort.h5 (schema in io/cohort_schema.md; VCF-Zarr
 * names), written collectively by every rank with parallel HDF5.
 *
 * Design. In low-pass mode (call sets with posteriors) call_DS and call_GP
 * are written too. The per-region call sets hold every site, so the file's full
 * shape is known before it is created: ranks read the small /site/n_alleles
 * of the regions round-robin and combine them (MPI_MAX over arrays that are
 * zero where a rank did not read), which gives every rank each region's site
 * count and the allele axis A = the largest allele count of any site (at
 * least 2; no cap). The rows are then given to ranks in contiguous blocks of
 * whole chunk-rows (rank k: chunk-rows [nc*k/ranks, nc*(k+1)/ranks) of nc),
 * so a rank's rows are one contiguous run of the variants axis, a region may
 * be shared by ranks (each skips the sites before its first row as it reads),
 * and every chunk is compressed by the one rank that fills it. Chunks hold at
 * most ceil(V/64) variants, so even one region of a few hundred sites spreads
 * over ranks (the chunk shape depends on V, not on the rank count).
 *
 * Parallel HDF5 1.10 refuses to write variable-length data through the
 * MPI-IO driver ("Parallel IO does not support writing VL or region
 * reference datatypes yet"), so the file is made in two steps:
 *   1. rank 0 alone, default driver: create the temporary file, write the
 *      string datasets (sample_id, contig_id, filter_id, variant_allele, the
 *      latter from each call set's small allele blob) and contig_length;
 *   2. every rank, MPI-IO driver on a duplicate of the communicator: open
 *      the file, create the numeric datasets at their full shapes (chunked,
 *      shuffle + deflate, which needs collective transfers), then write in
 *      rounds: each rank reads its call sets, computes every per-site
 *      statistic with kernels/stats/site_stats.c exactly as the serial cohort writer
 *      does (low-pass: the likelihood-based ones, tsr_site_stats_lowpass), and writes its next block of rows as one hyperslab per
 *      dataset; every rank calls every H5Dwrite, a rank with nothing left
 *      writes an empty selection. Then a collective close, and rank 0
 *      renames the temporary file.
 * Ranks agree on the status after each step and round (the lowest failing
 * rank's message reaches every rank), so no rank is left waiting in a
 * collective call that another rank skipped. Dataset values do not depend on
 * the number of ranks; the file's bytes may (chunk allocation order).
 */
#include "io/h5_store.h"
#include "kernels/stats/stats_internal.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The numeric datasets written collectively (variant_allele is written by rank 0 in step 1). */
enum {
    DS_CONTIG, DS_POSITION, DS_QUALITY, DS_FILTER,
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
/*
 * Deflate levels: the per-call datasets (nearly all the bytes) at 1, the per-variant ones at 4. Measured at
 * 240 sites x 20,000 samples, 0.1x (README.md, low-pass discovery at large cohorts): the stage's CPU 7.3 ->
 * 4.1-5.0 s, the file 14.6 -> 18.7 MB (with the smaller chunk-rows of plan_chunks).
 */
enum { DEFLATE_CALL = 1, DEFLATE_VARIANT = 4 };
enum { N_FILTERS = 1 + TSR_FILTER_N, PLOIDY = 2, ALLELE_CHUNK = 2, ALLELE_ROWS_CHUNK = 1000, VARIANT_CHUNK = 10000 };

typedef struct h5var {
    hid_t id;
    int rank;        /* 1..3; axis 0 is variants */
    hsize_t dims[3]; /* full extent */
    hid_t mem_type;
    size_t elem;
    void *buf;       /* rows_per_round rows */
} h5var_t;

typedef struct cohort_h5 {
    const char *path; /* the final path (what messages name) */
    char tmp[4300];   /* rank 0's temporary name, the same on every rank */
    const tsr_ref_t *ref;
    const tsr_sheet_t *sheet;
    int n_regions;
    const char *const *callsets;
    MPI_Comm comm;
    int rank, size;
    int S, n_groups, A;
    int lowpass;            /* the call sets carry DS/GP: call_DS and call_GP are written */
    int G;                  /* diploid genotypes of A alleles: the call_GP genotype axis */
    int64_t V;
    int64_t *count, *first; /* per region: sites, first row */
    hsize_t cs, cv;         /* chunk: samples, variants (per-call datasets) */
    int64_t rows;           /* rows per round */
    int64_t mem_bytes;      /* the row block and call-set window aim (tsr_cohort_h5_write) */
    hid_t file, str_type, bool_type;
    int n_vars;
    h5var_t *vars;
    tsr_site_stats_t *st;
    int32_t *gt_stats;
    /* this rank's stream of sites: regions [r_lo, r_hi), the next region to read, the current call set and site */
    int r_lo, r_hi, r_cur;
    int64_t skip;             /* sites of region r_cur before this rank's first row (skipped as read) */
    tsr_callset_reader_t *rd; /* the region being read (regions before r_cur are open or done) */
    tsr_callset_t *cur;       /* its current window */
    int64_t i_cur;
} cohort_h5_t;


static tsr_status_t h5_fail(const cohort_h5_t *h, const char *what)
{
    return tsr_error_set(TSR_ERR_HDF5, "cannot write '%s': %s failed; check free space and permissions of the "
                         "output directory", h->path, what);
}

static size_t row_elems(const h5var_t *v)
{
    size_t n = 1;
    for (int a = 1; a < v->rank; a++)
        n *= v->dims[a];
    return n;
}

/*
 * A chunked dataset; axis 0 and `allele_axis` (-1: none) may grow later, as the schema says. compress: the
 * deflate level after shuffle (0: none); the per-call datasets, nearly all of the bytes, use DEFLATE_CALL.
 */
static tsr_status_t make_dataset(cohort_h5_t *h, h5var_t *v, const char *name, hid_t file_type, hid_t mem_type,
                                 size_t elem, int rank, const hsize_t *dims, const hsize_t *chunk, int allele_axis,
                                 const void *fill, int compress, H5D_fill_time_t fill_time)
{
    hsize_t maxdims[3];
    for (int a = 0; a < rank; a++)
        maxdims[a] = (a == 0 || a == allele_axis) ? H5S_UNLIMITED : dims[a];
    v->rank = rank;
    memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
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
        e = H5Pset_deflate(dcpl, (unsigned)compress);
    if (e >= 0)
        e = H5Pset_fill_value(dcpl, file_type, fill);
    if (e >= 0)
        e = H5Pset_fill_time(dcpl, fill_time);
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

/* A small fixed-size 1-D dataset written at once (step 1, rank 0). */
static tsr_status_t write_fixed(cohort_h5_t *h, const char *name, hid_t type, hsize_t n, const void *data)
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

static tsr_status_t write_header_datasets(cohort_h5_t *h)
{
    const tsr_ref_t *ref = h->ref;
    const tsr_sheet_t *sheet = h->sheet;
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
    const char *filters[N_FILTERS] = {"PASS"};
    for (int k = 0; k < TSR_FILTER_N; k++)
        filters[1 + k] = tsr_filter_name(k);
    if (st == TSR_OK)
        st = write_fixed(h, "filter_id", h->str_type, N_FILTERS, filters);
    free(names);
    free(lens);
    return st;
}

static tsr_status_t make_types(cohort_h5_t *h)
{
    h->str_type = H5Tcopy(H5T_C_S1);
    int8_t f = 0, t = 1;
    h->bool_type = H5Tenum_create(H5T_NATIVE_INT8);
    if (h->str_type < 0 || H5Tset_size(h->str_type, H5T_VARIABLE) < 0 ||
        H5Tset_cset(h->str_type, H5T_CSET_UTF8) < 0 || h->bool_type < 0 ||
        H5Tenum_insert(h->bool_type, "FALSE", &f) < 0 || H5Tenum_insert(h->bool_type, "TRUE", &t) < 0)
        return tsr_error_set(TSR_ERR_HDF5, "cannot create HDF5 types for '%s'", h->path);
    return TSR_OK;
}

/* ------------------------------------------------- shape (every rank) */

/* Each region's site count and the allele axis, read round-robin and combined. Collective. */
static tsr_status_t read_shape(cohort_h5_t *h)
{
    int32_t *amax = calloc((size_t)h->n_regions + 1, sizeof *amax);
    h->count = calloc((size_t)h->n_regions + 1, sizeof *h->count);
    h->first = calloc((size_t)h->n_regions + 1, sizeof *h->first);
    tsr_status_t st = amax && h->count && h->first ? TSR_OK
                                                   : tsr_error_set(TSR_ERR_NOMEM, "out of memory planning %s", h->path);
    int lowpass = 0;
    for (int r = h->rank; st == TSR_OK && r < h->n_regions; r += h->size) {
        tsr_h5_file_t f;
        int32_t *na = NULL;
        int64_t n = 0;
        st = tsr_h5_open(h->callsets[r], &f);
        if (st != TSR_OK)
            break;
        st = tsr_h5_read(&f, "/site/n_alleles", H5T_NATIVE_INT32, -1, &n, (void **)&na);
        if (st == TSR_OK && H5Aexists(f.id, "n_pops") > 0) /* a low-pass call set (io/callset_store.c) */
            lowpass = 1;
        tsr_status_t c = tsr_h5_finish(&f, 0);
        if (st == TSR_OK)
            st = c;
        for (int64_t i = 0; st == TSR_OK && i < n; i++) {
            if (na[i] < 1)
                st = tsr_error_set(TSR_ERR_FORMAT, "%s: site %lld has %d alleles", h->callsets[r], (long long)i,
                                   na[i]);
            else if (na[i] > amax[r])
                amax[r] = na[i];
        }
        h->count[r] = n;
        free(na);
    }
    st = tsr_comm_agree(h->comm, st);
    if (st == TSR_OK && h->n_regions > 0) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, h->count, h->n_regions, MPI_INT64_T, MPI_MAX, h->comm);
        if (rc == MPI_SUCCESS)
            rc = MPI_Allreduce(MPI_IN_PLACE, amax, h->n_regions, MPI_INT32_T, MPI_MAX, h->comm);
        if (rc == MPI_SUCCESS)
            rc = MPI_Allreduce(MPI_IN_PLACE, &lowpass, 1, MPI_INT, MPI_MAX, h->comm);
        if (rc != MPI_SUCCESS)
            st = tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Allreduce of the call sets' sizes");
    }
    h->V = 0;
    h->A = 2;
    for (int r = 0; st == TSR_OK && r < h->n_regions; r++) {
        h->first[r] = h->V;
        h->V += h->count[r];
        if (amax[r] > h->A)
            h->A = amax[r];
    }
    h->lowpass = lowpass;
    h->G = h->A * (h->A + 1) / 2;
    free(amax);
    return st;
}

/* Chunk shapes (io/cohort_schema.md) and rows per round. */
static void plan_chunks(cohort_h5_t *h)
{
    const hsize_t S = (hsize_t)h->S;
    h->cs = S < 1000 ? S : 1000;
    if (h->cs < 1)
        h->cs = 1;
    /* Variants per chunk: about 1 MiB per call-level chunk, and a row block of
     * the call datasets (n_rows x samples) under about 256 MiB. */
    hsize_t cv = ((hsize_t)1 << 20) / (h->cs * 4);
    hsize_t cap = ((hsize_t)256 << 20) / ((S ? S : 1) * (PLOIDY + 4 + 4 + 4 * 4));
    if (cv > cap)
        cv = cap;
    if (cv > VARIANT_CHUNK)
        cv = VARIANT_CHUNK;
    /* ranks split the rows at chunk-row boundaries (write_parallel_part): a small call set still gets about
     * 64 chunk-rows (from V alone, so the chunks do not depend on the rank count) */
    hsize_t cv_split = ((hsize_t)h->V + 63) / 64;
    if (cv_split < 16)
        cv_split = 16;
    if (cv > cv_split)
        cv = cv_split;
    size_t row_bytes = (size_t)h->S * (PLOIDY + 4 + 4 + 4 * (size_t)h->A + (h->lowpass ? 4 + 4 * (size_t)h->G : 0)) + 32 +
                       (size_t)h->n_groups * ((size_t)(h->A - 1) * 28 + 24);
    /* a budget (mem_bytes) also bounds a chunk-row, the least round: the chunks' shape changes the file's
     * layout, not its content */
    if (h->mem_bytes > 0 && cv * row_bytes > (size_t)(h->mem_bytes / 2))
        cv = (hsize_t)((size_t)(h->mem_bytes / 2) / row_bytes);
    if (cv < 1)
        cv = 1;
    h->cv = cv;
    /* Rows per round: whole chunk-rows, about VARIANT_CHUNK of them, the row block under about 32 MiB (each
     * round is one collective H5Dwrite per dataset, which costs most when ranks wait on a loaded machine;
     * at 128 MiB the block grew with the samples up to that cap and was the run's peak: low-pass 2,000 x
     * 0.1x peaked at 257 MiB in this stage against 185 at 300 samples, 171 and 149 at 32 MiB, same content)
     * or half of mem_bytes (--mem-per-rank's cohort share), at least one chunk-row (rounds only cut the
     * writes: the content does not depend on them). */
    int64_t k = VARIANT_CHUNK / (int64_t)cv;
    if (k < 1)
        k = 1;
    size_t block = (size_t)32 << 20;
    if (h->mem_bytes > 0 && (size_t)(h->mem_bytes / 2) < block)
        block = (size_t)(h->mem_bytes / 2);
    while (k > 1 && (size_t)k * cv * row_bytes > block)
        k--;
    h->rows = k * (int64_t)cv;
}

/* --------------------------------------------------- step 1 (rank 0) */

/* variant_allele: REF then ALTs per row, "" beyond the site's alleles, from each call set's allele blob. */
static tsr_status_t write_alleles(cohort_h5_t *h, h5var_t *al)
{
    tsr_status_t st = TSR_OK;
    for (int r = 0; st == TSR_OK && r < h->n_regions; r++) {
        const int64_t n = h->count[r];
        if (n == 0)
            continue;
        tsr_h5_file_t f;
        int64_t *off = NULL, m = 0;
        char *blob = NULL, *text = NULL;
        const char **cells = NULL;
        TSR_CALL(tsr_h5_open(h->callsets[r], &f));
        st = tsr_h5_read(&f, "/site/allele_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&off);
        if (st == TSR_OK)
            st = tsr_h5_read(&f, "/site/alleles", H5T_NATIVE_UINT8, -1, &m, (void **)&blob);
        if (st == TSR_OK)
            st = tsr_h5_check_offsets(&f, "/site/allele_offset", off, n, m);
        tsr_status_t c = tsr_h5_finish(&f, 0);
        if (st == TSR_OK)
            st = c;
        if (st == TSR_OK) {
            text = malloc((size_t)m + (size_t)n + 1);
            cells = malloc((size_t)n * (size_t)h->A * sizeof *cells);
            if (!text || !cells)
                st = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
        }
        char *p = text;
        for (int64_t i = 0; st == TSR_OK && i < n; i++) {
            const char **row = cells + (size_t)i * (size_t)h->A;
            int k = 0;
            row[k++] = p;
            for (int64_t b = off[i]; b < off[i + 1]; b++) {
                char ch = blob[b];
                *p++ = ch == ',' ? '\0' : ch;
                if (ch == ',' && k < h->A)
                    row[k] = p;
                k += ch == ',';
            }
            *p++ = '\0';
            if (k > h->A) {
                st = tsr_error_set(TSR_ERR_FORMAT, "%s: site %lld has more alleles than its n_alleles says; "
                                   "the call set changed while %s was written", h->callsets[r], (long long)i, h->path);
                break;
            }
            for (; k < h->A; k++)
                row[k] = "";
        }
        if (st == TSR_OK) {
            hsize_t start[2] = {(hsize_t)h->first[r], 0}, cnt[2] = {(hsize_t)n, (hsize_t)h->A};
            hid_t fs = H5Dget_space(al->id), ms = H5Screate_simple(2, cnt, NULL);
            herr_t e = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
            if (e >= 0)
                e = H5Dwrite(al->id, h->str_type, ms, fs, H5P_DEFAULT, cells);
            if (ms >= 0)
                H5Sclose(ms);
            if (fs >= 0)
                H5Sclose(fs);
            if (e < 0)
                st = h5_fail(h, "writing variant_allele");
        }
        free(off);
        free(blob);
        free(text);
        free(cells);
    }
    return st;
}

/* Create the temporary file and write its string datasets with the default driver. */
static tsr_status_t write_serial_part(cohort_h5_t *h)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    tsr_status_t st = TSR_OK;
    if (fcpl < 0 || H5Pset_obj_track_times(fcpl, 0) < 0)
        st = tsr_error_set(TSR_ERR_HDF5, "cannot set up HDF5 file creation for '%s'", h->path);
    hid_t fapl = tsr_h5_fapl();
    if (st == TSR_OK && (h->file = H5Fcreate(h->tmp, H5F_ACC_TRUNC, fcpl, fapl)) < 0)
        st = tsr_error_set(TSR_ERR_HDF5, "cannot create '%s'; check that the output directory is writable", h->tmp);
    if (fapl != H5P_DEFAULT)
        H5Pclose(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (st == TSR_OK)
        st = write_header_datasets(h);
    h5var_t al = {.id = -1};
    if (st == TSR_OK) {
        const char *fill_str = "";
        hsize_t d[2] = {(hsize_t)h->V, (hsize_t)h->A}, c[2] = {ALLELE_ROWS_CHUNK, ALLELE_CHUNK};
        st = make_dataset(h, &al, "variant_allele", h->str_type, h->str_type, sizeof(char *), 2, d, c, 1, &fill_str,
                          0, H5D_FILL_TIME_ALLOC);
    }
    if (st == TSR_OK)
        st = write_alleles(h, &al);
    if (al.id >= 0 && H5Dclose(al.id) < 0 && st == TSR_OK)
        st = h5_fail(h, "closing variant_allele");
    if (h->file >= 0 && H5Fclose(h->file) < 0 && st == TSR_OK)
        st = h5_fail(h, "closing the file");
    h->file = -1;
    return st;
}

/* ------------------------------------------------ step 2 (collective) */

static tsr_status_t create_numeric_datasets(cohort_h5_t *h)
{
    const hsize_t S = (hsize_t)h->S, A = (hsize_t)h->A, V = (hsize_t)h->V, cs = h->cs, cv = h->cv;
    const hsize_t c1 = VARIANT_CHUNK;
    /* Every element is written, so fill values are recorded (the pad values) but never written. */
    const H5D_fill_time_t ft = H5D_FILL_TIME_NEVER;
    const int8_t fill_i8 = -1, fill_false = 0;
    const int32_t fill_i32 = -1, fill_contig = -1;
    const int64_t fill_i64 = -1;
    const float fill_nan = NAN;
    const double fill_nan64 = NAN;
    h5var_t *v = h->vars;
    {
        hsize_t d[1] = {V}, c[1] = {c1};
        TSR_CALL(make_dataset(h, &v[DS_CONTIG], "variant_contig", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 1, d, c, -1,
                              &fill_contig, DEFLATE_VARIANT, ft));
        TSR_CALL(make_dataset(h, &v[DS_POSITION], "variant_position", H5T_STD_I64LE, H5T_NATIVE_INT64, 8, 1, d, c,
                              -1, &fill_i64, DEFLATE_VARIANT, ft));
        TSR_CALL(make_dataset(h, &v[DS_QUALITY], "variant_quality", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, 1, d, c,
                              -1, &fill_nan, DEFLATE_VARIANT, ft));
        hsize_t df[2] = {V, N_FILTERS}, cf[2] = {c1, N_FILTERS};
        TSR_CALL(make_dataset(h, &v[DS_FILTER], "variant_filter", h->bool_type, h->bool_type, 1, 2, df, cf, -1,
                              &fill_false, DEFLATE_VARIANT, ft));
    }
    {
        hsize_t d[3] = {V, S, PLOIDY}, c[3] = {cv, cs, PLOIDY};
        TSR_CALL(make_dataset(h, &v[DS_GT], "call_genotype", H5T_STD_I8LE, H5T_NATIVE_INT8, 1, 3, d, c, -1,
                              &fill_i8, DEFLATE_CALL, ft));
        hsize_t d2[2] = {V, S}, c2[2] = {cv, cs};
        TSR_CALL(make_dataset(h, &v[DS_GQ], "call_GQ", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 2, d2, c2, -1, &fill_i32,
                              DEFLATE_CALL, ft));
        TSR_CALL(make_dataset(h, &v[DS_DP], "call_DP", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 2, d2, c2, -1, &fill_i32,
                              DEFLATE_CALL, ft));
        hsize_t d3[3] = {V, S, A}, c3[3] = {cv, cs, ALLELE_CHUNK};
        TSR_CALL(make_dataset(h, &v[DS_AD], "call_AD", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, 3, d3, c3, 2, &fill_i32,
                              DEFLATE_CALL, ft));
    }
    for (int g = 0; g < h->n_groups; g++) {
        char name[320];
        const char *suffix = g == 0 ? "" : h->sheet->populations[g - 1];
        const char *sep = g == 0 ? "" : "_";
        for (int k = 0; k < N_G; k++) {
            h5var_t *gv = &v[DS_FIXED + N_G * g + k];
            hsize_t d[2] = {V, A - 1}, c[2] = {c1, ALLELE_CHUNK};
            hsize_t d1[1] = {V}, c1d[1] = {c1};
            snprintf(name, sizeof name, "variant_%s%s%s", group_ds[k].name, sep, suffix);
            const int t = group_ds[k].type;
            hid_t ftype = t == T_I32 ? H5T_STD_I32LE : t == T_F32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
            hid_t mt = t == T_I32 ? H5T_NATIVE_INT32 : t == T_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
            const void *fill = t == T_I32 ? (const void *)&fill_i32 : t == T_F32 ? (const void *)&fill_nan
                                                                                : (const void *)&fill_nan64;
            size_t elem = t == T_F64 ? 8 : 4;
            if (group_ds[k].per_alt)
                TSR_CALL(make_dataset(h, gv, name, ftype, mt, elem, 2, d, c, 1, fill, DEFLATE_VARIANT, ft));
            else
                TSR_CALL(make_dataset(h, gv, name, ftype, mt, elem, 1, d1, c1d, -1, fill, DEFLATE_VARIANT, ft));
        }
    }
    if (h->lowpass) {
        const int ids = DS_FIXED + N_G * h->n_groups;
        const hsize_t G = (hsize_t)h->G;
        hsize_t d2[2] = {V, S}, c2[2] = {cv, cs};
        TSR_CALL(make_dataset(h, &v[ids], "call_DS", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, 2, d2, c2, -1, &fill_nan,
                              DEFLATE_CALL, ft));
        hsize_t d3[3] = {V, S, G}, c3[3] = {cv, cs, G < 3 ? G : 3};
        TSR_CALL(make_dataset(h, &v[ids + 1], "call_GP", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, 3, d3, c3, 2,
                              &fill_nan, DEFLATE_CALL, ft));
    }
    return TSR_OK;
}

static tsr_status_t alloc_buffers(cohort_h5_t *h)
{
    for (int i = 0; i < h->n_vars; i++) {
        h5var_t *v = &h->vars[i];
        v->buf = malloc((size_t)h->rows * row_elems(v) * v->elem + 1);
        if (!v->buf)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
    }
    size_t S = (size_t)h->S;
    h->gt_stats = malloc((2 * S + 1) * sizeof *h->gt_stats);
    if (!h->gt_stats)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
    return tsr_site_stats_create(h->S, h->sheet->sample_pop, h->sheet->n_populations, &h->st);
}

/* Row r of the round's buffers from site i of call set cs (statistics as the serial cohort writer computes them). */
static tsr_status_t fill_row(cohort_h5_t *h, size_t r, const tsr_callset_t *cs, int64_t i, int32_t rid)
{
    const int S = h->S, A = h->A, n = cs->n_alleles[i];
    if (n < 1 || n > A)
        return tsr_error_set(TSR_ERR_FORMAT, "call set %s:%lld has %d alleles, outside 1..%d; it changed while %s "
                             "was written", cs->contig, (long long)cs->pos[i] + 1, n, A, h->path);
    const int8_t *gt = cs->gt + (size_t)i * (size_t)S * PLOIDY;
    for (int k = 0; k < PLOIDY * S; k++)
        h->gt_stats[k] = gt[k] < 0 ? -1 : gt[k];
    int rc = tsr_site_stats_compute(h->st, h->gt_stats, n);
    if (rc == INT32_MIN)
        return TSR_ERR_NOMEM;
    if (rc < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s:%lld: a genotype allele of sample %d is beyond the "
                             "site's %d alleles", cs->contig, (long long)cs->pos[i] + 1, -1 - rc, n);
    /* low-pass: the likelihood-based statistics, as the serial cohort writer publishes them */
    if (h->lowpass && cs->pl && tsr_site_stats_lowpass(h->st, cs, i) != 0)
        return TSR_ERR_NOMEM;
    h5var_t *v = h->vars;
    ((int32_t *)v[DS_CONTIG].buf)[r] = rid;
    ((int64_t *)v[DS_POSITION].buf)[r] = cs->pos[i] + 1;
    ((float *)v[DS_QUALITY].buf)[r] = cs->qual[i];
    int8_t *flt = (int8_t *)v[DS_FILTER].buf + r * N_FILTERS;
    flt[0] = cs->filter[i] == 0;
    for (int k = 0; k < TSR_FILTER_N; k++)
        flt[1 + k] = (cs->filter[i] & (1u << k)) != 0;
    memcpy((int8_t *)v[DS_GT].buf + r * (size_t)S * PLOIDY, gt, (size_t)S * PLOIDY);
    int32_t *gq = (int32_t *)v[DS_GQ].buf + r * (size_t)S, *dp = (int32_t *)v[DS_DP].buf + r * (size_t)S;
    int32_t *ad = (int32_t *)v[DS_AD].buf + r * (size_t)S * (size_t)A;
    const int32_t *cgq = cs->gq ? cs->gq + (size_t)i * (size_t)S : NULL;
    const int32_t *cdp = cs->dp ? cs->dp + (size_t)i * (size_t)S : NULL;
    const int32_t *cad = cs->ad ? cs->ad + cs->ad_off[i] : NULL;
    for (int j = 0; j < S; j++) {
        gq[j] = cgq ? cgq[j] : -1;
        dp[j] = cdp ? cdp[j] : -1;
        for (int a = 0; a < A; a++)
            ad[(size_t)j * A + a] = (cad && a < n) ? cad[(size_t)j * n + a] : -1;
    }
    const tsr_site_stats_t *st = h->st;
    for (int g = 0; g < h->n_groups; g++) {
        h5var_t *gv = &v[DS_FIXED + N_G * g];
        const size_t o = (size_t)g * (size_t)(n - 1);
        for (int a = 0; a < A - 1; a++) {
            int in = a < n - 1;
            size_t x = r * (size_t)(A - 1) + (size_t)a;
            ((int32_t *)gv[G_AC].buf)[x] = in ? st->ac[o + a] : -1;
            ((float *)gv[G_AF].buf)[x] = in ? st->af[o + a] : NAN;
            ((int32_t *)gv[G_NHOMALT].buf)[x] = in ? st->nhomalt[o + a] : -1;
            ((double *)gv[G_HWE].buf)[x] = in ? st->hwe[o + a] : NAN;
            ((double *)gv[G_EXCHET].buf)[x] = in ? st->exchet[o + a] : NAN;
        }
        ((int32_t *)gv[G_AN].buf)[r] = st->an[g];
        ((int32_t *)gv[G_NS].buf)[r] = st->ns[g];
        ((int32_t *)gv[G_NHET].buf)[r] = st->nhet[g];
        ((float *)gv[G_FMISSING].buf)[r] = st->f_missing[g];
        ((double *)gv[G_F].buf)[r] = st->inbreeding[g];
    }
    if (h->lowpass) {
        /* call_GP: the site's G_i = n(n+1)/2 posteriors in VCF genotype order, NaN beyond them and when absent */
        const int ids = DS_FIXED + N_G * h->n_groups, G = h->G, gi = n * (n + 1) / 2;
        float *ds = (float *)v[ids].buf + r * (size_t)S, *gp = (float *)v[ids + 1].buf + r * (size_t)S * (size_t)G;
        const float *cds = cs->ds ? cs->ds + (size_t)i * (size_t)S : NULL;
        const float *cgp = cs->gp && cs->pl_off && cs->pl_off[i + 1] - cs->pl_off[i] == (int64_t)S * gi
                               ? cs->gp + cs->pl_off[i] : NULL;
        for (int j = 0; j < S; j++) {
            ds[j] = cds ? cds[j] : NAN;
            for (int k = 0; k < G; k++)
                gp[(size_t)j * G + k] = (cgp && k < gi) ? cgp[(size_t)j * gi + k] : NAN;
        }
    }
    return TSR_OK;
}

/* Fill the next n rows of this rank's stream, reading call sets a window at a time as they are reached. */
static tsr_status_t fill_rows(cohort_h5_t *h, int64_t n)
{
    for (int64_t r = 0; r < n; r++) {
        while (!h->cur || h->i_cur == h->cur->n_sites) {
            tsr_callset_destroy(&h->cur);
            h->i_cur = 0;
            if (h->rd) {
                TSR_CALL(tsr_callset_reader_next(h->rd, tsr_callset_window_sites(h->S, h->mem_bytes / 2), &h->cur));
                if (!h->cur) {
                    tsr_callset_reader_close(&h->rd);
                    continue;
                }
                if (h->skip > 0 && h->skip >= h->cur->n_sites) { /* before this rank's rows */
                    h->skip -= h->cur->n_sites;
                    h->i_cur = h->cur->n_sites;
                    continue;
                }
                h->i_cur = h->skip;
                h->skip = 0;
                if (h->cur->n_samples != h->S)
                    return tsr_error_set(TSR_ERR_FORMAT, "%s holds %d samples, expected %d; it changed while %s "
                                         "was written", h->callsets[h->r_cur - 1], h->cur->n_samples, h->S, h->path);
                if (tsr_ref_contig_index(h->ref, h->cur->contig) < 0)
                    return tsr_error_set(TSR_ERR_INTERNAL, "call set contig '%s' of %s is not in the reference",
                                         h->cur->contig, h->callsets[h->r_cur - 1]);
                continue;
            }
            while (h->r_cur < h->r_hi && h->count[h->r_cur] == 0)
                h->r_cur++;
            if (h->r_cur >= h->r_hi)
                return tsr_error_set(TSR_ERR_INTERNAL, "ran out of call sets writing %s", h->path);
            const char *path = h->callsets[h->r_cur];
            TSR_CALL(tsr_callset_reader_open(path, &h->rd));
            if (tsr_callset_reader_n_sites(h->rd) != h->count[h->r_cur])
                return tsr_error_set(TSR_ERR_FORMAT, "%s holds %lld sites, expected %lld; it changed while %s was "
                                     "written", path, (long long)tsr_callset_reader_n_sites(h->rd),
                                     (long long)h->count[h->r_cur], h->path);
            h->r_cur++;
        }
        int32_t rid = tsr_ref_contig_index(h->ref, h->cur->contig);
        TSR_CALL(fill_row(h, (size_t)r, h->cur, h->i_cur, rid));
        h->i_cur++;
    }
    return TSR_OK;
}

/* One collective H5Dwrite per dataset: rows [row0, row0 + n) of this rank (n = 0: an empty selection). */
static tsr_status_t write_round(cohort_h5_t *h, hid_t dxpl, int64_t row0, int64_t n)
{
    tsr_status_t st = TSR_OK;
    for (int i = 0; i < h->n_vars; i++) {
        h5var_t *v = &h->vars[i];
        hsize_t start[3] = {(hsize_t)row0, 0, 0}, count[3];
        memcpy(count, v->dims, sizeof count);
        count[0] = (hsize_t)(n > 0 ? n : 1);
        hid_t fs = H5Dget_space(v->id), ms = H5Screate_simple(v->rank, count, NULL);
        herr_t e = fs < 0 || ms < 0 ? -1 : 0;
        if (e >= 0 && n > 0)
            e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        else if (e >= 0)
            e = H5Sselect_none(fs) < 0 || H5Sselect_none(ms) < 0 ? -1 : 0;
        /* Called by every rank, also after a failure, so that no rank waits alone in the collective write. */
        if (H5Dwrite(v->id, v->mem_type, ms, fs, dxpl, v->buf) < 0)
            e = -1;
        if (ms >= 0)
            H5Sclose(ms);
        if (fs >= 0)
            H5Sclose(fs);
        if (e < 0 && st == TSR_OK)
            st = h5_fail(h, "a collective write of the variants");
    }
    return st;
}

/* Rank k's rows: [row_lo(k), row_lo(k + 1)), whole chunk-rows (a chunk is compressed by one rank). */
static int64_t row_lo(const cohort_h5_t *h, int k)
{
    const int64_t nc = (h->V + (int64_t)h->cv - 1) / (int64_t)h->cv, r = (int64_t)h->cv * (nc * k / h->size);
    return r < h->V ? r : h->V;
}

static tsr_status_t write_parallel_part(cohort_h5_t *h)
{
    /* This rank's rows, from the region holding its first row (h->skip sites into it) on. */
    int64_t my_first = row_lo(h, h->rank), my_rows = row_lo(h, h->rank + 1) - my_first, rounds = 0;
    h->r_lo = h->r_cur = 0;
    h->r_hi = h->n_regions;
    while (h->r_cur < h->n_regions && h->first[h->r_cur] + h->count[h->r_cur] <= my_first)
        h->r_cur++;
    h->skip = h->r_cur < h->n_regions ? my_first - h->first[h->r_cur] : 0;
    for (int k = 0; k < h->size; k++) {
        int64_t rk = (row_lo(h, k + 1) - row_lo(h, k) + h->rows - 1) / h->rows;
        if (rk > rounds)
            rounds = rk;
    }

    tsr_status_t st = TSR_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (fapl < 0 || dxpl < 0 || H5Pset_fapl_mpio(fapl, h->comm, MPI_INFO_NULL) < 0 ||
        H5Pset_file_locking(fapl, 0, 1) < 0 || H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0)
        st = tsr_error_set(TSR_ERR_HDF5, "cannot set up parallel HDF5 (MPI-IO driver) for '%s'", h->path);
    if (st == TSR_OK && (h->file = H5Fopen(h->tmp, H5F_ACC_RDWR, fapl)) < 0)
        st = tsr_error_set(TSR_ERR_HDF5, "cannot open '%s' with the MPI-IO driver; check that the output directory "
                           "is on a file system every rank can write", h->tmp);
    if (fapl >= 0)
        H5Pclose(fapl);
    st = tsr_comm_agree(h->comm, st);
    if (st == TSR_OK)
        st = tsr_comm_agree(h->comm, create_numeric_datasets(h));
    if (st == TSR_OK)
        st = tsr_comm_agree(h->comm, alloc_buffers(h));
    for (int64_t k = 0, done = 0; st == TSR_OK && k < rounds; k++) {
        int64_t n = my_rows - done < h->rows ? my_rows - done : h->rows;
        st = tsr_comm_agree(h->comm, n > 0 ? fill_rows(h, n) : TSR_OK);
        if (st == TSR_OK)
            st = tsr_comm_agree(h->comm, write_round(h, dxpl, my_first + done, n));
        done += n;
    }
    if (dxpl >= 0)
        H5Pclose(dxpl);
    for (int i = 0; i < h->n_vars; i++)
        if (h->vars[i].id >= 0 && H5Dclose(h->vars[i].id) < 0 && st == TSR_OK)
            st = h5_fail(h, "closing a dataset");
    if (h->file >= 0 && H5Fclose(h->file) < 0 && st == TSR_OK)
        st = h5_fail(h, "the collective close");
    h->file = -1;
    return tsr_comm_agree(h->comm, st);
}

static void cohort_h5_free(cohort_h5_t *h)
{
    for (int i = 0; h->vars && i < h->n_vars; i++)
        free(h->vars[i].buf);
    free(h->vars);
    free(h->count);
    free(h->first);
    free(h->gt_stats);
    tsr_site_stats_destroy(&h->st);
    tsr_callset_destroy(&h->cur);
    tsr_callset_reader_close(&h->rd);
    if (h->str_type >= 0)
        H5Tclose(h->str_type);
    if (h->bool_type >= 0)
        H5Tclose(h->bool_type);
    if (h->comm != MPI_COMM_NULL)
        MPI_Comm_free(&h->comm);
}

static tsr_status_t cohort_h5_run(cohort_h5_t *h)
{
    tsr_status_t st = TSR_OK;
    if (h->rank == 0)
        st = tsr_output_tmpname(h->path, h->tmp, sizeof h->tmp);
    st = tsr_comm_agree(h->comm, st);
    if (st == TSR_OK)
        TSR_CALL_MPI(MPI_Bcast(h->tmp, (int)sizeof h->tmp, MPI_CHAR, 0, h->comm));
    if (st == TSR_OK)
        st = tsr_comm_agree(h->comm, make_types(h));
    if (st == TSR_OK)
        st = read_shape(h);
    if (st == TSR_OK) {
        plan_chunks(h);
        h->n_vars = DS_FIXED + N_G * h->n_groups + (h->lowpass ? 2 : 0);
        if (!(h->vars = calloc((size_t)h->n_vars, sizeof *h->vars)))
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", h->path);
        for (int i = 0; st == TSR_OK && i < h->n_vars; i++)
            h->vars[i].id = -1;
        st = tsr_comm_agree(h->comm, st);
    }
    if (st == TSR_OK)
        st = tsr_comm_agree(h->comm, h->rank == 0 ? write_serial_part(h) : TSR_OK);
    if (st == TSR_OK)
        st = write_parallel_part(h);
    tsr_status_t mine = st;
    if (st == TSR_OK && h->rank == 0 && rename(h->tmp, h->path) != 0)
        mine = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", h->tmp, h->path, strerror(errno));
    if (mine != TSR_OK && h->rank == 0 && h->tmp[0])
        unlink(h->tmp);
    return st == TSR_OK ? tsr_comm_agree(h->comm, mine) : st;
}

tsr_status_t tsr_cohort_h5_write(MPI_Comm comm, const char *path, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                 int n_regions, const char *const *callsets, int64_t mem_bytes, int64_t *n_sites)
{
    if (n_sites)
        *n_sites = 0;
    cohort_h5_t h = {.path = path, .ref = ref, .sheet = sheet, .n_regions = n_regions, .callsets = callsets,
                     .comm = MPI_COMM_NULL, .S = sheet->n_samples, .n_groups = 1 + sheet->n_populations,
                     .file = -1, .str_type = -1, .bool_type = -1, .mem_bytes = mem_bytes};
    TSR_CALL_MPI(MPI_Comm_dup(comm, &h.comm));
    int rc = MPI_Comm_set_errhandler(h.comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(h.comm, &h.rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(h.comm, &h.size);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&h.comm);
        return tsr_error_mpi(rc, __FILE__, __LINE__, "MPI_Comm_rank/size on the cohort.h5 communicator");
    }
    /* Errors reach the user as one tsr_error_set line, not HDF5's stack dump. */
    H5E_auto2_t saved_func = NULL;
    void *saved_data = NULL;
    if (H5Eget_auto2(H5E_DEFAULT, &saved_func, &saved_data) < 0)
        saved_func = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    tsr_status_t st = cohort_h5_run(&h);
    H5Eset_auto2(H5E_DEFAULT, saved_func, saved_data);
    if (st == TSR_OK && n_sites)
        *n_sites = h.V;
    cohort_h5_free(&h);
    return st;
}
