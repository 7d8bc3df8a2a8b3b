/*
 * h5_digest.c - a SHA-256 of an HDF5 file's content rather than its bytes.
 *
 * cohort.h5 is written collectively: chunks are placed in the order ranks
 * reach them, so the same content has different bytes at 1, 2 or 3 ranks.
 * The audit chain needs a digest that depends on content only. This one
 * visits every object in name order (H5Ovisit, H5_INDEX_NAME, increasing)
 * and hashes, for each: its path and kind; for a dataset its type class,
 * size and sign, shape and values (read as the native type, 4096 rows at a
 * time along the first dimension, variable-length strings as their bytes);
 * for every object its attributes the same way, in name order. Layout,
 * chunking, compression, object addresses and free space are not hashed.
 */
#include "io/h5_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

typedef struct tsr_h5_dig {
    EVP_MD_CTX *md;
    hid_t file;
    const char *path;
    int failed;
    char what[512];
} tsr_h5_dig_t;

static void dig_put(tsr_h5_dig_t *d, const void *p, size_t n)
{
    if (EVP_DigestUpdate(d->md, p, n) != 1)
        d->failed = 1;
}

static void dig_str(tsr_h5_dig_t *d, const char *s) { dig_put(d, s, strlen(s) + 1); }

/* The type's description and the memory type to read it as (close with H5Tclose); -1 on failure. */
static hid_t dig_type(tsr_h5_dig_t *d, hid_t ftype, int *vlen_str)
{
    char desc[96];
    H5T_class_t cls = H5Tget_class(ftype);
    *vlen_str = H5Tis_variable_str(ftype) > 0;
    hid_t mtype;
    if (*vlen_str) {
        mtype = H5Tcopy(H5T_C_S1);
        if (mtype >= 0 && (H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0)) {
            H5Tclose(mtype);
            mtype = -1;
        }
    } else if (cls == H5T_STRING) {
        mtype = H5Tcopy(ftype);
    } else {
        mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    }
    int sgn = cls == H5T_INTEGER ? (int)H5Tget_sign(ftype) : -1;
    snprintf(desc, sizeof desc, "type %d %zu %d %d", (int)cls, *vlen_str ? (size_t)0 : H5Tget_size(ftype), sgn,
             *vlen_str);
    dig_str(d, desc);
    return mtype;
}

/* Hash `n` elements of a read buffer (variable-length strings by their bytes, then reclaimed). */
static void dig_values(tsr_h5_dig_t *d, void *buf, size_t n, size_t esize, int vlen_str)
{
    if (!vlen_str) {
        dig_put(d, buf, n * esize);
        return;
    }
    char **s = buf;
    for (size_t i = 0; i < n; i++) {
        dig_str(d, s[i] ? s[i] : "");
        free(s[i]); /* HDF5 allocates them with the default (malloc) allocator */
    }
}

static herr_t dig_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    (void)info;
    tsr_h5_dig_t *d = op;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    herr_t rc = -1;
    if (a >= 0 && ft >= 0 && sp >= 0) {
        dig_str(d, "attribute");
        dig_str(d, name);
        int vs = 0;
        hid_t mt = dig_type(d, ft, &vs);
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        size_t es = vs ? sizeof(char *) : (mt >= 0 ? H5Tget_size(mt) : 0);
        void *buf = n >= 0 && mt >= 0 ? calloc((size_t)n + 1, es ? es : 1) : NULL;
        if (buf && H5Aread(a, mt, buf) >= 0) {
            dig_put(d, &n, sizeof n);
            dig_values(d, buf, (size_t)n, es, vs);
            rc = 0;
        }
        free(buf);
        if (mt >= 0)
            H5Tclose(mt);
    }
    if (rc < 0)
        snprintf(d->what, sizeof d->what, "attribute '%s'", name);
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

#define DIG_BLOCK_BYTES ((hsize_t)8 << 20)

/* A dataset's shape and values, read in blocks of rows along the first dimension. */
static int dig_dataset(tsr_h5_dig_t *d, hid_t ds)
{
    hid_t ft = H5Dget_type(ds), sp = H5Dget_space(ds);
    int ok = 0;
    if (ft >= 0 && sp >= 0) {
        int vs = 0;
        hid_t mt = dig_type(d, ft, &vs);
        int rank = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[32] = {0};
        if (mt >= 0 && rank >= 0 && rank <= 32 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0) {
            dig_put(d, &rank, sizeof rank);
            dig_put(d, dims, (size_t)rank * sizeof *dims);
            size_t es = vs ? sizeof(char *) : H5Tget_size(mt);
            hsize_t row = 1;
            for (int i = 1; i < rank; i++)
                row *= dims[i];
            /*
             * Rows per read: a bounded block (DIG_BLOCK_BYTES), not a fixed row count (4096 rows of
             * cohort.h5's call_GP are 96 MiB at 2,000 samples: the digest was a rank's peak memory),
             * rounded to whole chunk-rows so no chunk is decompressed twice. The digest is of the value
             * stream, so it does not depend on the block.
             */
            hsize_t total = rank == 0 ? 1 : dims[0], step = DIG_BLOCK_BYTES / (row * (es ? es : 1) + 1), c0 = 0;
            hid_t dcpl = H5Dget_create_plist(ds);
            if (dcpl >= 0 && rank > 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
                hsize_t cd[32] = {0};
                if (H5Pget_chunk(dcpl, 32, cd) == rank)
                    c0 = cd[0];
            }
            if (dcpl >= 0)
                H5Pclose(dcpl);
            if (c0 > 0)
                step = step < c0 ? c0 : step / c0 * c0;
            if (step < 1)
                step = 1;
            void *buf = malloc((size_t)(step * row + 1) * (es ? es : 1));
            ok = buf != NULL;
            for (hsize_t at = 0; ok && at < total; at += step) {
                hsize_t cnt = total - at < step ? total - at : step;
                hid_t msp = -1;
                herr_t rc;
                if (rank == 0) {
                    rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
                } else {
                    hsize_t start[32] = {0}, count[32];
                    memcpy(count, dims, (size_t)rank * sizeof *dims);
                    start[0] = at;
                    count[0] = cnt;
                    msp = H5Screate_simple(rank, count, NULL);
                    rc = msp < 0 || H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL) < 0
                             ? -1
                             : H5Dread(ds, mt, msp, sp, H5P_DEFAULT, buf);
                }
                if (msp >= 0)
                    H5Sclose(msp);
                if (rc < 0)
                    ok = 0;
                else
                    dig_values(d, buf, (size_t)(cnt * row), es, vs);
                if (row == 0)
                    break;
            }
            free(buf);
        }
        if (mt >= 0)
            H5Tclose(mt);
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    return ok;
}

static herr_t dig_object(hid_t root, const char *name, const H5O_info_t *info, void *op)
{
    tsr_h5_dig_t *d = op;
    dig_str(d, info->type == H5O_TYPE_DATASET ? "dataset" : info->type == H5O_TYPE_GROUP ? "group" : "other");
    dig_str(d, name);
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    if (o < 0) {
        snprintf(d->what, sizeof d->what, "object '%s'", name);
        return -1;
    }
    hsize_t idx = 0;
    int ok = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, dig_attr, d) >= 0;
    if (ok && info->type == H5O_TYPE_DATASET && !dig_dataset(d, o)) {
        snprintf(d->what, sizeof d->what, "dataset '%s'", name);
        ok = 0;
    }
    H5Oclose(o);
    return ok ? 0 : -1;
}

tsr_status_t tsr_h5_content_sha256(const char *path, unsigned char sha[32])
{
    H5E_auto2_t func;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    tsr_h5_dig_t d = {0};
    d.path = path;
    d.md = EVP_MD_CTX_new();
    hid_t fapl = tsr_h5_fapl();
    d.file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl != H5P_DEFAULT)
        H5Pclose(fapl);
    tsr_status_t s = TSR_OK;
    if (d.file < 0)
        s = tsr_error_set(TSR_ERR_FORMAT, "cannot open '%s' as HDF5", path);
    else if (!d.md || EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) != 1)
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to start for '%s'", path);
    if (s == TSR_OK) {
        dig_str(&d, "tessera-h5-content\t1");
        if (H5Ovisit(d.file, H5_INDEX_NAME, H5_ITER_INC, dig_object, &d) < 0 || d.failed)
            s = tsr_error_set(TSR_ERR_FORMAT, "cannot read %s of '%s' for its content digest",
                              d.what[0] ? d.what : "the objects", path);
    }
    unsigned int n = 0;
    if (s == TSR_OK && (EVP_DigestFinal_ex(d.md, sha, &n) != 1 || n != 32))
        s = tsr_error_set(TSR_ERR_INTERNAL, "SHA-256 (OpenSSL) failed to finish for '%s'", path);
    if (d.file >= 0)
        H5Fclose(d.file);
    EVP_MD_CTX_free(d.md);
    H5Eset_auto2(H5E_DEFAULT, func, data);
    return s;
}
