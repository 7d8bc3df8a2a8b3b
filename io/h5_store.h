/*
 * h5_store.h - io's small HDF5 layer, defined in io/partition_store.c and
 * used by the evidence and call-set stores and by the statistics module's
 * cohort.h5 writer (kernels/stats/cohort_h5.c), which reads call sets'
 * allele blobs through it. Not included by io/io.h (it pulls in hdf5.h). Files use the default (serial) driver,
 * are written under a temporary name and renamed on success, and carry no
 * object timestamps, so the same content gives the same bytes. While a file
 * is open, HDF5's own error printing is silenced; every failure becomes one
 * tsr_error_set() line naming the file and the object.
 */
#ifndef TSR_IO_H5_STORE_H
#define TSR_IO_H5_STORE_H

#include "runtime/runtime.h"

#include <hdf5.h>
#include <stdint.h>

/* The evidence partition's schema (io/partition_store.c writes it, io/partition_reader.c reads it too). */
#define TSR_PARTITION_SCHEMA "tessera-evidence"
#define TSR_PARTITION_VERSION 3 /* 3: empty members, packed files in the 1.10 formats */

typedef struct tsr_h5_file {
    hid_t id;        /* the file, or a packed file's member group (see "Packed files" below) */
    hid_t file;      /* a member's file (H5I_INVALID_HID when the whole file is open) */
    int member, n_members; /* a member's index and, when writing, the file's member count */
    int64_t ext_chunk; /* elements per chunk of extendible datasets (tsr_h5_create_ext); 0 = 65,536 */
    int kept;        /* the file is shared through the process's table of open packed files (see below) */
    int marked_empty; /* writing: this member was marked empty (tsr_h5_mark_empty) */
    unsigned char *empty; /* writing a packed file: per member, 1 = empty (its /member_empty table at the seal) */
    char path[4096]; /* the final path (what error messages name) */
    char tmp[4096];  /* the temporary name while writing, "" when reading */
    H5E_auto2_t saved_func;
    void *saved_data;
} tsr_h5_file_t;

/*
 * Packed files (issue 18): a work unit that packs several intervals writes
 * one file whose members are groups /m00000, /m00001, ... each laid out like
 * a whole file (the same attributes and datasets, names relative to the
 * group). A member is named by a path suffix: "FILE#K/N" creates member K of
 * N (members are written in order 0..N-1 by one writer; member 0 creates the
 * temporary file, the others reopen it, and finishing member N-1 seals and
 * renames it), "FILE#K" opens member K for reading. Every function below
 * takes absolute names ("/site/pos") and resolves them inside the member.
 * A path without the suffix is a whole file (so is "FILE#K" where FILE does
 * not exist and a file of that very name does), so files of unpacked units
 * are byte-identical to before.
 * Members are read and written one after another, so the process keeps a
 * few packed files open between them: one being written, by its temporary
 * name, until its last member; ones being read, by path, inode, size and
 * modification time (a file rewritten since is opened anew). Once members
 * were small (empty members, compact datasets), opening and closing the file
 * per member cost more than the member's own data.
 */

/* Create `path`'s temporary file (or member) for writing. Finish with tsr_h5_finish(). */
tsr_status_t tsr_h5_create(const char *path, tsr_h5_file_t *f) TSR_RESULT_USED;
/* Bytes of the HDF5 user block that carries the file's seal (see tsr_h5_seal_check). */
#define TSR_H5_SEAL_BYTES 512
/*
 * Check the seal tsr_h5_finish() wrote: the CRC32 of everything after the
 * user block. TSR_ERR_FORMAT naming the file when it is damaged; called by
 * tsr_h5_open() before HDF5 parses the file.
 */
tsr_status_t tsr_h5_seal_check(const char *path) TSR_RESULT_USED;
/*
 * A file-access property list with HDF5's file locking off: tessera's journal
 * lock already guarantees one writer per output directory, and flock() is
 * missing on some parallel file systems (HDF5 then refuses to open files).
 * Close with H5Pclose(); H5P_DEFAULT if the list cannot be made.
 */
hid_t tsr_h5_fapl(void);
/*
 * Evidence containers (issue 18, io/h5_window.c): a location "CONTAINER@OFFSET+LENGTH" names a sealed HDF5
 * file image stored at that byte range of CONTAINER. tsr_h5_open() and every reader built on it accept a
 * location wherever they accept a path (and "LOCATION#K" for a packed file's member); the image is read in
 * place through a read-only virtual file driver, never copied or mapped whole.
 * A location is parsed by tsr_location_parse (runtime.h).
 * tsr_h5_window_fapl: the driver's access list for H5Fopen(location, H5F_ACC_RDONLY, fapl); close with
 * H5Pclose(); H5I_INVALID_HID when it cannot be made. Not collective.
 */
hid_t tsr_h5_window_fapl(void);
/* Open `path` read-only. Finish with tsr_h5_finish(f, 0). */
tsr_status_t tsr_h5_open(const char *path, tsr_h5_file_t *f) TSR_RESULT_USED;
/*
 * Close the file and restore HDF5 error printing. A written file is renamed
 * to its final path when `commit` is 1, removed otherwise. Returns an error
 * only when closing or renaming a committed file fails.
 */
tsr_status_t tsr_h5_finish(tsr_h5_file_t *f, int commit) TSR_RESULT_USED;

/*
 * SHA-256 of an HDF5 file's content (io/h5_digest.c): every object in name
 * order with its attributes, types, shapes and values, not its layout or
 * bytes, so a file written collectively in another chunk order gives the
 * same digest. TSR_ERR_FORMAT when the file or an object cannot be read.
 */
tsr_status_t tsr_h5_content_sha256(const char *path, unsigned char sha[32]) TSR_RESULT_USED;

/*
 * An empty member: a packed file's member whose region holds no records carries the root attribute
 * `empty` = 1 and, besides its attributes (and the evidence's /sample_id), no dataset or group. Mark the
 * member being written empty / whether the member or file read is. Reading an absent dataset of an empty
 * member with any or no length expected (tsr_h5_read, _length, _read_range) gives zero elements; readers
 * of offset arrays (n + 1 entries) check tsr_h5_is_empty first.
 */
tsr_status_t tsr_h5_mark_empty(tsr_h5_file_t *f) TSR_RESULT_USED;
int tsr_h5_is_empty(tsr_h5_file_t *f);
/*
 * The member table: a packed file's root dataset /member_empty (uint8, one per member, 1 = an empty member),
 * written with its last member. tsr_h5_member_empty("FILE#K") is 1 when FILE lists member K as empty, so a
 * reader may skip it without opening its group; 0 otherwise (a whole file, a file written before the table,
 * one that cannot be read: the reader's own open reports that). The table is read once per kept file.
 */
int tsr_h5_member_empty(const char *path);

/* Create the groups named (e.g. "/site"), without timestamps. */
tsr_status_t tsr_h5_group(tsr_h5_file_t *f, const char *name) TSR_RESULT_USED;
/* Root attributes. */
tsr_status_t tsr_h5_attr_write_str(tsr_h5_file_t *f, const char *name, const char *val) TSR_RESULT_USED;
tsr_status_t tsr_h5_attr_write_i64(tsr_h5_file_t *f, const char *name, int64_t val) TSR_RESULT_USED;
/* Read a string attribute into a malloc'ed string (free it). */
tsr_status_t tsr_h5_attr_read_str(tsr_h5_file_t *f, const char *name, char **val) TSR_RESULT_USED;
tsr_status_t tsr_h5_attr_read_i64(tsr_h5_file_t *f, const char *name, int64_t *val) TSR_RESULT_USED;

/*
 * Write a 1-D dataset of n elements of `mem_type` (a native type, stored as
 * the same type), chunked + shuffle + deflate(1) when n > 0.
 */
tsr_status_t tsr_h5_write(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t n,
                          const void *data) TSR_RESULT_USED;
/*
 * Read a 1-D dataset into a new malloc'ed array of `mem_type` (never NULL;
 * free it). `expect` >= 0 requires exactly that many elements (else
 * TSR_ERR_FORMAT naming the file and dataset); *n receives the count.
 * The stored type class must match `mem_type`'s (integer or float).
 */
tsr_status_t tsr_h5_read(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t expect, int64_t *n,
                         void **data) TSR_RESULT_USED;
/*
 * Extendible 1-D datasets, for files written a window at a time: create one
 * of `mem_type` with 0 elements (chunked by f->ext_chunk, set it after
 * tsr_h5_create; + shuffle + deflate(1)); append n
 * elements at its end; read back its length or elements [off, off + n) into
 * a new malloc'ed array (never NULL; free it; TSR_ERR_FORMAT when the range
 * is not inside the dataset). Readers work on any 1-D dataset.
 */
tsr_status_t tsr_h5_create_ext(tsr_h5_file_t *f, const char *name, hid_t mem_type) TSR_RESULT_USED;
tsr_status_t tsr_h5_append(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t n,
                           const void *data) TSR_RESULT_USED;
tsr_status_t tsr_h5_length(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t *n) TSR_RESULT_USED;
tsr_status_t tsr_h5_read_range(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t off, int64_t n,
                               void **data) TSR_RESULT_USED;
/*
 * A 1-D dataset kept open for reading ranges front to back (a window of sites at a time, io/
 * partition_reader.c). HDF5 decompresses a whole chunk for any part of it and keeps decompressed chunks
 * only while the dataset is open, so tsr_h5_read_range on windows smaller than a chunk decompresses each
 * chunk once per window; a range handle keeps one chunk: open() gives it a chunk cache of one chunk's
 * bytes when that is <= max_cache (*used receives them; 0 and no cache otherwise, or for a compact or
 * absent dataset), after the checks of tsr_h5_read_range. read() gives elements [off, off + n) as
 * tsr_h5_read_range does (never NULL; free it); close() it before the file, and it accepts a zeroed
 * handle (never opened). Not collective.
 */
typedef struct tsr_h5_range {
    hid_t d;   /* the open dataset; H5I_INVALID_HID when absent from an empty member */
    int64_t n; /* its elements */
    int open;
} tsr_h5_range_t;
tsr_status_t tsr_h5_range_open(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t max_cache,
                               tsr_h5_range_t *r, int64_t *used) TSR_RESULT_USED;
tsr_status_t tsr_h5_range_read(tsr_h5_file_t *f, tsr_h5_range_t *r, const char *name, hid_t mem_type,
                               int64_t off, int64_t n, void **data) TSR_RESULT_USED;
void tsr_h5_range_close(tsr_h5_range_t *r);
/* An evidence partition's (or member's) schema, version, region and sample ids into ev (partition_store.c). */
struct tsr_evidence;
tsr_status_t tsr_partition_read_head(tsr_h5_file_t *f, struct tsr_evidence *ev) TSR_RESULT_USED;
/* No sites in ev: n_sites 0 and every per-site array one zeroed element (offsets {0}), as a read gives them. */
tsr_status_t tsr_partition_sites_empty(struct tsr_evidence *ev) TSR_RESULT_USED;
/*
 * Check ev's sites read from f (the whole partition, or a window whose first site is the file's site
 * `first`, which messages count from): kind, allele count against the allele string, and each site's
 * S x G PL and S x A AD values. TSR_ERR_FORMAT naming the file, site and position.
 */
tsr_status_t tsr_partition_check_sites(const tsr_h5_file_t *f, const struct tsr_evidence *ev,
                                       int64_t first) TSR_RESULT_USED;
/*
 * Entries [i0, i1] of the int64 offsets dataset `name` (a window of a file written a window at a time),
 * rebased to start at 0 and checked non-decreasing, into a new malloc'ed *off; *base receives the first.
 */
tsr_status_t tsr_h5_read_offsets(tsr_h5_file_t *f, const char *name, int64_t i0, int64_t i1, int64_t **off,
                                 int64_t *base) TSR_RESULT_USED;
/* Fixed-length string datasets (NUL-padded): write n strings / read into n malloc'ed strings. */
tsr_status_t tsr_h5_write_strings(tsr_h5_file_t *f, const char *name, int64_t n,
                                  const char *const *s) TSR_RESULT_USED;
tsr_status_t tsr_h5_read_strings(tsr_h5_file_t *f, const char *name, int64_t expect,
                                 char ***s) TSR_RESULT_USED;

/*
 * Check an offsets array of n+1 entries: off[0] == 0, non-decreasing, and
 * off[n] == total. `what` names the dataset in the message.
 */
tsr_status_t tsr_h5_check_offsets(const tsr_h5_file_t *f, const char *what, const int64_t *off, int64_t n,
                                  int64_t total) TSR_RESULT_USED;
/* The number of comma-separated alleles in blob[a, b). */
int32_t tsr_h5_count_alleles(const char *blob, int64_t a, int64_t b);

#endif /* TSR_IO_H5_STORE_H */
