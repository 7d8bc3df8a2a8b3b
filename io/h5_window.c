/*
 * h5_window.c - a read-only HDF5 virtual file driver that opens one HDF5
 * file image stored inside a larger file (an evidence container,
 * evidence/rRRRRR.sSSSS.pack) without reading it whole.
 *
 * The file name HDF5 is given is a location, "CONTAINER@OFFSET+LENGTH": the
 * driver opens CONTAINER and maps HDF5 address a onto container byte
 * OFFSET + a, with the end of file at LENGTH. Reads go straight to pread(2),
 * so a reader holds only what HDF5 itself caches (no mapping, no copy of the
 * image: the deep joint opens every batch of a unit, one after another).
 * Writing is refused. Why a driver rather than mmap + H5LTopen_file_image:
 * mapped pages count in a rank's resident memory and a joint task touches
 * every batch's image; pread keeps the footprint at HDF5's chunk cache.
 *
 * HDF5 1.10's H5FD_class_t (H5FDpublic.h); registered once per process.
 */
#include "io/h5_store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct h5w_file {
    H5FD_t pub; /* must be first */
    int fd;
    haddr_t base, eof, eoa;
    dev_t dev;
    ino_t ino;
} h5w_file_t;

static hid_t h5w_driver_id = H5I_INVALID_HID;
static pthread_once_t h5w_once = PTHREAD_ONCE_INIT;

static H5FD_t *h5w_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    (void)fapl;
    (void)maxaddr;
    char cont[4096];
    int64_t off = 0, len = 0;
    if ((flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT)) ||
        !tsr_location_parse(name, cont, sizeof cont, &off, &len))
        return NULL;
    int fd = open(cont, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < off + len) {
        close(fd);
        return NULL;
    }
    h5w_file_t *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->base = (haddr_t)off;
    f->eof = (haddr_t)len;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return &f->pub;
}

static herr_t h5w_close(H5FD_t *file)
{
    h5w_file_t *f = (h5w_file_t *)file;
    int rc = close(f->fd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int h5w_cmp(const H5FD_t *a, const H5FD_t *b)
{
    const h5w_file_t *x = (const h5w_file_t *)a, *y = (const h5w_file_t *)b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    if (x->base != y->base)
        return x->base < y->base ? -1 : 1;
    return 0;
}

static herr_t h5w_query(const H5FD_t *file, unsigned long *flags)
{
    (void)file;
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
             H5FD_FEAT_AGGREGATE_SMALLDATA;
    return 0;
}

static haddr_t h5w_get_eoa(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const h5w_file_t *)file)->eoa;
}

static herr_t h5w_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr)
{
    (void)type;
    ((h5w_file_t *)file)->eoa = addr;
    return 0;
}

static haddr_t h5w_get_eof(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const h5w_file_t *)file)->eof;
}

static herr_t h5w_get_handle(H5FD_t *file, hid_t fapl, void **handle)
{
    (void)fapl;
    *handle = &((h5w_file_t *)file)->fd;
    return 0;
}

/* Bytes past the image's end read as zeros (as HDF5's sec2 driver does past a file's end). */
static herr_t h5w_read(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size, void *buf)
{
    (void)type;
    (void)dxpl;
    h5w_file_t *f = (h5w_file_t *)file;
    unsigned char *p = buf;
    if (addr == HADDR_UNDEF || addr + size < addr)
        return -1;
    size_t inside = addr >= f->eof ? 0 : (addr + size > f->eof ? (size_t)(f->eof - addr) : size);
    size_t done = 0;
    while (done < inside) {
        ssize_t n = pread(f->fd, p + done, inside - done, (off_t)(f->base + addr + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    if (size > inside)
        memset(p + inside, 0, size - inside);
    return 0;
}

static herr_t h5w_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size, const void *buf)
{
    (void)file, (void)type, (void)dxpl, (void)addr, (void)size, (void)buf;
    return -1; /* read-only: an image in a container is sealed */
}

static const H5FD_class_t h5w_class = {
    .name = "tsr_window",
    .maxaddr = ((haddr_t)1 << 62),
    .fc_degree = H5F_CLOSE_WEAK,
    .open = h5w_open,
    .close = h5w_close,
    .cmp = h5w_cmp,
    .query = h5w_query,
    .get_eoa = h5w_get_eoa,
    .set_eoa = h5w_set_eoa,
    .get_eof = h5w_get_eof,
    .get_handle = h5w_get_handle,
    .read = h5w_read,
    .write = h5w_write,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

static void h5w_register(void)
{
    h5w_driver_id = H5FDregister(&h5w_class);
}

hid_t tsr_h5_window_fapl(void)
{
    pthread_once(&h5w_once, h5w_register);
    if (h5w_driver_id < 0)
        return H5I_INVALID_HID;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return H5I_INVALID_HID;
    if (H5Pset_file_locking(fapl, 0, 1) < 0 || H5Pset_driver(fapl, h5w_driver_id, NULL) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}
