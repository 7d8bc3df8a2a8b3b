/*
 * partition_store.c - the HDF5 evidence partition (one file per region x
 * sample batch; schema in io/partition_schema.md) and the small HDF5 layer
 * it shares with the call-set store (io/h5_store_internal.h).
 */
#include "io/h5_store.h"
#include "io/io.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define TSR_H5_CHUNK 65536
/* A packed member's datasets up to this size are compact (HDF5 allows up to 64 KiB per object header). */
#define TSR_H5_COMPACT_BYTES 16384

/* ------------------------------------------------------------ HDF5 layer */

static void h5_silence(tsr_h5_file_t *f)
{
    if (H5Eget_auto2(H5E_DEFAULT, &f->saved_func, &f->saved_data) < 0) {
        f->saved_func = NULL;
        f->saved_data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_restore(tsr_h5_file_t *f) { H5Eset_auto2(H5E_DEFAULT, f->saved_func, f->saved_data); }

static tsr_status_t h5_set_path(tsr_h5_file_t *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->id = f->file = H5I_INVALID_HID;
    f->member = -1;
    if (strlen(path) >= sizeof f->path)
        return tsr_error_set(TSR_ERR_IO, "%s: path too long", path);
    strcpy(f->path, path);
    return TSR_OK;
}

/*
 * "FILE#K" or "FILE#K/N" (a packed file's member, see h5_store.h): the file into base, K and N (0 when
 * absent). 0 when `path` has no such suffix.
 */
static int h5_member_split(const char *path, char *base, size_t len, int *k, int *n)
{
    const char *hash = strrchr(path, '#');
    if (!hash || hash == path || (size_t)(hash - path) >= len)
        return 0;
    char *end = NULL;
    long kk = strtol(hash + 1, &end, 10), nn = 0;
    if (end == hash + 1 || kk < 0 || kk > 9999999)
        return 0;
    if (*end == '/') {
        const char *p = end + 1;
        nn = strtol(p, &end, 10);
        if (end == p || nn <= kk)
            return 0;
    }
    if (*end)
        return 0;
    memcpy(base, path, (size_t)(hash - path));
    base[hash - path] = '\0';
    *k = (int)kk;
    *n = (int)nn;
    return 1;
}

/* Names inside a member are relative to its group. */
static const char *h5_name(const tsr_h5_file_t *f, const char *name)
{
    return f->file >= 0 && name[0] == '/' && name[1] ? name + 1 : name;
}

/* Enter member k of an open file: create (writing) or open its group /mKKKKK. */
static tsr_status_t h5_member_enter(tsr_h5_file_t *f, int k, int create)
{
    char g[32];
    snprintf(g, sizeof g, "/m%05d", k);
    hid_t gid = H5I_INVALID_HID;
    if (create) {
        hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
        if (gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0)
            gid = H5Gcreate2(f->id, g, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        if (gcpl >= 0)
            H5Pclose(gcpl);
    } else {
        gid = H5Gopen2(f->id, g, H5P_DEFAULT);
    }
    if (gid < 0)
        return tsr_error_set(create ? TSR_ERR_HDF5 : TSR_ERR_FORMAT, "%s: %s member %d (group %s)", f->path,
                             create ? "cannot create" : "holds no", k, g);
    f->file = f->id;
    f->id = gid;
    f->member = k;
    return TSR_OK;
}

hid_t tsr_h5_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return H5P_DEFAULT;
    if (H5Pset_file_locking(fapl, 0, 1) < 0) {
        H5Pclose(fapl);
        return H5P_DEFAULT;
    }
    return fapl;
}

static void tsr_h5_fapl_close(hid_t fapl)
{
    if (fapl != H5P_DEFAULT)
        H5Pclose(fapl);
}

/*
 * A packed file's access list: tsr_h5_fapl() with the 1.10 object formats (H5F_LIBVER_LATEST), used by its
 * every writer (the members after the first reopen it with the same list). A packed file holds hundreds of
 * small members; the 1.8 formats gave each group a symbol-table B-tree and local heap and each chunked
 * dataset a v1 B-tree of about 2 KiB (20 KiB of metadata for an empty member), the 1.10 ones keep a
 * group's links in its header and index a dataset's chunks with a fixed or extensible array. Files stay
 * readable by HDF5 1.10 and later; unpacked files keep the default formats (and their bytes).
 */
static hid_t h5_fapl_packed(void)
{
    hid_t fapl = tsr_h5_fapl();
    if (fapl != H5P_DEFAULT && H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl == H5P_DEFAULT ? H5I_INVALID_HID : fapl;
}

/*
 * Packed files kept open between members (see h5_store.h). A written file's id is taken by the next
 * member's writer (members are written in order by one writer) and closed when the last member is
 * finished or a member fails. A read file is shared by the readers of its members (a count of readers; an
 * unused one is closed when its slot is wanted). Ids still kept at exit are closed by the HDF5 library.
 */
#define TSR_H5_KEPT 16
static struct {
    hid_t id; /* 0: a free slot */
    int writing, users;
    char path[4096]; /* the temporary name when writing */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    unsigned long long used; /* for choosing the least recently used slot */
    unsigned char *empty;    /* writing: the members' empty flags so far; reading: the file's member table */
    int n_empty;             /* reading: entries in empty; -1 before the table was looked for */
} h5_kept[TSR_H5_KEPT];
static unsigned long long h5_kept_clock;
static pthread_mutex_t h5_kept_lock = PTHREAD_MUTEX_INITIALIZER;

/* A free slot, closing the least recently used unused file when none is free; -1 when all are in use. */
static int h5_kept_slot(void)
{
    int best = -1;
    for (int i = 0; i < TSR_H5_KEPT; i++) {
        if (h5_kept[i].id <= 0) {
            best = i;
            break;
        }
        if (h5_kept[i].users == 0 && (best < 0 || h5_kept[i].used < h5_kept[best].used))
            best = i;
    }
    if (best >= 0 && h5_kept[best].id > 0) {
        H5Fclose(h5_kept[best].id);
        h5_kept[best].id = 0;
    }
    if (best >= 0) { /* a closed file's member table or flags */
        free(h5_kept[best].empty);
        h5_kept[best].empty = NULL;
    }
    return best;
}

/* The written file kept under `tmp` (its id and member flags, now the caller's), or H5I_INVALID_HID. */
static hid_t h5_kept_take(const char *tmp, unsigned char **empty)
{
    hid_t id = H5I_INVALID_HID;
    *empty = NULL;
    pthread_mutex_lock(&h5_kept_lock);
    for (int i = 0; i < TSR_H5_KEPT; i++)
        if (h5_kept[i].id > 0 && h5_kept[i].writing && strcmp(h5_kept[i].path, tmp) == 0) {
            id = h5_kept[i].id;
            h5_kept[i].id = 0;
            free(*empty);
            *empty = h5_kept[i].empty;
            h5_kept[i].empty = NULL;
        }
    pthread_mutex_unlock(&h5_kept_lock);
    return id;
}

/* Keep the written file `id` (named tmp) and its member flags for the next member; 0 when no slot is free. */
static int h5_kept_put(const char *tmp, hid_t id, unsigned char *empty)
{
    pthread_mutex_lock(&h5_kept_lock);
    int i = strlen(tmp) < sizeof h5_kept[0].path ? h5_kept_slot() : -1;
    if (i >= 0) {
        memset(&h5_kept[i], 0, sizeof h5_kept[i]);
        h5_kept[i].id = id;
        h5_kept[i].empty = empty;
        h5_kept[i].writing = 1;
        strcpy(h5_kept[i].path, tmp);
        h5_kept[i].used = ++h5_kept_clock;
    }
    pthread_mutex_unlock(&h5_kept_lock);
    return i >= 0;
}

/* The read file kept for `path` as it is now (st), its reader count raised; else H5I_INVALID_HID. */
static hid_t h5_kept_get(const char *path, const struct stat *st)
{
    hid_t id = H5I_INVALID_HID;
    pthread_mutex_lock(&h5_kept_lock);
    for (int i = 0; i < TSR_H5_KEPT && id < 0; i++)
        if (h5_kept[i].id > 0 && !h5_kept[i].writing && h5_kept[i].ino == st->st_ino &&
            h5_kept[i].dev == st->st_dev && h5_kept[i].size == st->st_size &&
            h5_kept[i].mtime.tv_sec == st->st_mtim.tv_sec && h5_kept[i].mtime.tv_nsec == st->st_mtim.tv_nsec &&
            strcmp(h5_kept[i].path, path) == 0) {
            id = h5_kept[i].id;
            h5_kept[i].users++;
            h5_kept[i].used = ++h5_kept_clock;
        }
    pthread_mutex_unlock(&h5_kept_lock);
    return id;
}

/* Share the read file `id` just opened for `path` (st); 0 when no slot is free (the caller keeps it alone). */
static int h5_kept_add(const char *path, const struct stat *st, hid_t id)
{
    pthread_mutex_lock(&h5_kept_lock);
    int i = strlen(path) < sizeof h5_kept[0].path ? h5_kept_slot() : -1;
    if (i >= 0) {
        memset(&h5_kept[i], 0, sizeof h5_kept[i]);
        h5_kept[i].id = id;
        h5_kept[i].n_empty = -1;
        h5_kept[i].users = 1;
        strcpy(h5_kept[i].path, path);
        h5_kept[i].dev = st->st_dev;
        h5_kept[i].ino = st->st_ino;
        h5_kept[i].size = st->st_size;
        h5_kept[i].mtime = st->st_mtim;
        h5_kept[i].used = ++h5_kept_clock;
    }
    pthread_mutex_unlock(&h5_kept_lock);
    return i >= 0;
}

/* A reader of the kept read file `id` is done with it. */
static void h5_kept_release(hid_t id)
{
    pthread_mutex_lock(&h5_kept_lock);
    for (int i = 0; i < TSR_H5_KEPT; i++)
        if (h5_kept[i].id == id && !h5_kept[i].writing && h5_kept[i].users > 0)
            h5_kept[i].users--;
    pthread_mutex_unlock(&h5_kept_lock);
}

static tsr_status_t h5_create_file(const char *path, tsr_h5_file_t *f, int packed);

tsr_status_t tsr_h5_create(const char *path, tsr_h5_file_t *f)
{
    return h5_create_file(path, f, 0);
}

/* packed: `path` is a packed file (member 0 creates it with h5_fapl_packed()) */
static tsr_status_t h5_create_file(const char *path, tsr_h5_file_t *f, int packed)
{
    char base[4096];
    int k = 0, n = 0;
    if (!packed && h5_member_split(path, base, sizeof base, &k, &n) && n > 0) {
        TSR_CALL(h5_set_path(f, base));
        TSR_CALL(tsr_output_tmpname(base, f->tmp, sizeof f->tmp));
        f->n_members = n;
        unsigned char *empty = NULL;
        hid_t kept = h5_kept_take(f->tmp, &empty); /* left open by the member before (before 0: a stale one) */
        if (k == 0 && kept >= 0)
            H5Fclose(kept);
        if (k == 0 || !empty) {
            free(empty);
            empty = calloc((size_t)n, 1);
        }
        if (k > 0) { /* members after the first add to the temporary file member 0 created */
            h5_silence(f);
            hid_t fapl = kept >= 0 ? H5I_INVALID_HID : h5_fapl_packed();
            f->id = kept >= 0 ? kept : fapl < 0 ? H5I_INVALID_HID : H5Fopen(f->tmp, H5F_ACC_RDWR, fapl);
            if (fapl >= 0)
                H5Pclose(fapl);
            if (f->id < 0) {
                free(empty);
                h5_restore(f);
                f->tmp[0] = '\0'; /* not ours to remove: its writer failed or never started */
                return tsr_error_set(TSR_ERR_IO, "%s: cannot reopen %s to add member %d (members are written in "
                                     "order)", base, f->tmp, k);
            }
        }
        tsr_status_t s = k == 0 ? h5_create_file(base, f, 1) : TSR_OK;
        if (s != TSR_OK) {
            free(empty);
            return s;
        }
        f->n_members = n;
        f->empty = empty;
        if (!empty)
            tsr_log_debug("%s: no memory for the member table; readers open every member", base);
        s = h5_member_enter(f, k, 1);
        if (s != TSR_OK && tsr_h5_finish(f, 0) != TSR_OK)
            tsr_log_warn("%s: closing after a failed open", f->path);
        return s;
    }
    TSR_CALL(h5_set_path(f, path));
    TSR_CALL(tsr_output_tmpname(path, f->tmp, sizeof f->tmp));
    h5_silence(f);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0 && (H5Pset_obj_track_times(fcpl, 0) < 0 || H5Pset_userblock(fcpl, TSR_H5_SEAL_BYTES) < 0)) {
        H5Pclose(fcpl);
        fcpl = H5I_INVALID_HID;
    }
    hid_t fapl = packed ? h5_fapl_packed() : tsr_h5_fapl();
    f->id = fcpl < 0 || fapl < 0 ? H5I_INVALID_HID : H5Fcreate(f->tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0)
        tsr_h5_fapl_close(fapl);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (f->id < 0) {
        h5_restore(f);
        return tsr_error_set(TSR_ERR_IO, "%s: cannot create HDF5 file %s (directory missing or not writable?)",
                             path, f->tmp);
    }
    return TSR_OK;
}

/*
 * Packed files are read a member at a time (a unit's regions, the cohort's every region), and the seal
 * covers the whole file: checking it at every member's open made reading N members O(N x file). The
 * process remembers the last packed files it checked, by inode, size and modification time (a file
 * rewritten since has another), and checks each once. A cache, not state: a miss only costs a check.
 */
#define TSR_H5_SEAL_SEEN 64
static struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} h5_seal_seen[TSR_H5_SEAL_SEEN];
static int h5_seal_seen_next;
static pthread_mutex_t h5_seal_seen_lock = PTHREAD_MUTEX_INITIALIZER;

static int h5_seal_seen_find(const struct stat *st)
{
    for (int i = 0; i < TSR_H5_SEAL_SEEN; i++)
        if (h5_seal_seen[i].ino == st->st_ino && h5_seal_seen[i].dev == st->st_dev &&
            h5_seal_seen[i].size == st->st_size && h5_seal_seen[i].mtime.tv_sec == st->st_mtim.tv_sec &&
            h5_seal_seen[i].mtime.tv_nsec == st->st_mtim.tv_nsec && h5_seal_seen[i].ino != 0)
            return 1;
    return 0;
}

/* st: the file's stat, taken by the caller */
static tsr_status_t h5_seal_check_once(const char *path, const struct stat *st_now)
{
    const struct stat st = *st_now;
    pthread_mutex_lock(&h5_seal_seen_lock);
    int seen = h5_seal_seen_find(&st);
    pthread_mutex_unlock(&h5_seal_seen_lock);
    if (seen)
        return TSR_OK;
    TSR_CALL(tsr_h5_seal_check(path));
    pthread_mutex_lock(&h5_seal_seen_lock);
    int i = h5_seal_seen_next;
    h5_seal_seen_next = (i + 1) % TSR_H5_SEAL_SEEN;
    h5_seal_seen[i].dev = st.st_dev;
    h5_seal_seen[i].ino = st.st_ino;
    h5_seal_seen[i].size = st.st_size;
    h5_seal_seen[i].mtime = st.st_mtim;
    pthread_mutex_unlock(&h5_seal_seen_lock);
    return TSR_OK;
}

static tsr_status_t h5_open_file(const char *path, tsr_h5_file_t *f, int member);

tsr_status_t tsr_h5_open(const char *path, tsr_h5_file_t *f)
{
    return h5_open_file(path, f, 0);
}

/* member: 1 when `path` is a packed file whose member is opened next (its seal checked once per process);
   2 for a whole file named like a member (FILE#K with no FILE) */
static tsr_status_t h5_open_file(const char *path, tsr_h5_file_t *f, int member)
{
    char base[4096];
    int k = 0, n = 0;
    /* "FILE#K" is member K of FILE; only where FILE cannot be read and a file is named "FILE#K" itself is that
       file opened whole (asking first cost a failed access() per member open: thousands per stage) */
    if (!member && h5_member_split(path, base, sizeof base, &k, &n) && n == 0) {
        tsr_status_t s = h5_open_file(base, f, 1);
        if (s == TSR_ERR_IO && f->id < 0 && access(path, F_OK) == 0) {
            tsr_error_clear();
            return h5_open_file(path, f, 2);
        }
        TSR_CALL(s);
        s = h5_member_enter(f, k, 0);
        if (s != TSR_OK && tsr_h5_finish(f, 0) != TSR_OK)
            tsr_log_warn("%s: closing after a failed open", f->path);
        return s;
    }
    TSR_CALL(h5_set_path(f, path));
    /* a member: one stat serves the seal's check-once and the kept file's identity (a packed file is opened
       once per member, thousands of times per stage for a decoy reference); an unreadable file fails at the
       seal check's open */
    struct stat st;
    member = member == 1; /* 2: a whole file whose name looks like a member's */
    /* an image in an evidence container (h5_window.c): the container's identity, the window's place and length
       stand for the file's (the bytes of a journaled window never change: containers are append-only) */
    char cont[4096];
    int64_t w_off = 0, w_len = 0;
    int window = tsr_location_parse(path, cont, sizeof cont, &w_off, &w_len);
    if (window) {
        if (stat(cont, &st) != 0)
            return tsr_error_set(TSR_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        if (st.st_size < w_off + w_len)
            return tsr_error_set(TSR_ERR_IO, "%s: the container is shorter than this image (%lld bytes); rerun to "
                                 "recompute it", path, (long long)st.st_size);
        st.st_size = (off_t)w_len;
        st.st_mtim.tv_sec = (time_t)w_off;
        st.st_mtim.tv_nsec = 0;
    } else if (member ? stat(path, &st) != 0 : access(path, R_OK) != 0) {
        return tsr_error_set(TSR_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    TSR_CALL(member ? h5_seal_check_once(path, &st) : tsr_h5_seal_check(path));
    h5_silence(f);
    f->id = member ? h5_kept_get(path, &st) : H5I_INVALID_HID;
    if (f->id >= 0) {
        f->kept = 1;
        return TSR_OK;
    }
    hid_t fapl = window ? tsr_h5_window_fapl() : tsr_h5_fapl();
    f->id = fapl < 0 ? H5I_INVALID_HID : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0)
        tsr_h5_fapl_close(fapl);
    if (f->id < 0) {
        h5_restore(f);
        return tsr_error_set(TSR_ERR_HDF5, "%s: not an HDF5 file, or truncated", path);
    }
    f->kept = member && h5_kept_add(path, &st, f->id);
    return TSR_OK;
}

/*
 * The seal: the file's first TSR_H5_SEAL_BYTES are an HDF5 user block (HDF5
 * skips it) holding "tessera-h5-seal 1 crc32 XXXXXXXX\n", the CRC32 of every
 * byte after the block. Readers check it before HDF5 parses anything: fuzzing
 * showed HDF5 1.10.8 itself crashing (SIGFPE in H5D__chunk_set_info) on some
 * corrupted layouts, so a damaged file must be stopped before the library sees it.
 */
#define TSR_H5_SEAL_MAGIC "tessera-h5-seal 1 crc32 "

/* CRC32 of the bytes after the user block: to the file's end, or of an image at `base` to base + len (len > 0) */
static tsr_status_t h5_seal_crc_at(FILE *fp, const char *path, int64_t base, int64_t len, uint32_t *crc)
{
    unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    size_t n;
    int64_t left = len > 0 ? len - TSR_H5_SEAL_BYTES : INT64_MAX;
    if (left < 0 || fseeko(fp, (off_t)(base + TSR_H5_SEAL_BYTES), SEEK_SET) != 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: too short to be a tessera HDF5 file", path);
    while (left > 0 && (n = fread(buf, 1, left < (int64_t)sizeof buf ? (size_t)left : sizeof buf, fp)) > 0) {
        c = crc32(c, buf, (uInt)n);
        left -= (int64_t)n;
    }
    if (len > 0 && left > 0 && !ferror(fp))
        return tsr_error_set(TSR_ERR_FORMAT, "%s: the container ends inside this image; rerun to recompute it", path);
    if (ferror(fp))
        return tsr_error_set(TSR_ERR_IO, "%s: read error: %s", path, strerror(errno));
    *crc = (uint32_t)c;
    return TSR_OK;
}

static tsr_status_t h5_seal_crc(FILE *fp, const char *path, uint32_t *crc)
{
    return h5_seal_crc_at(fp, path, 0, 0, crc);
}

static tsr_status_t h5_seal_write(const char *tmp, const char *path)
{
    FILE *fp = fopen(tmp, "r+b");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "%s: cannot reopen %s to seal it: %s", path, tmp, strerror(errno));
    uint32_t crc = 0;
    tsr_status_t s = h5_seal_crc(fp, path, &crc);
    char block[TSR_H5_SEAL_BYTES];
    memset(block, 0, sizeof block);
    snprintf(block, sizeof block, TSR_H5_SEAL_MAGIC "%08x\n", crc);
    if (s == TSR_OK && (fseeko(fp, 0, SEEK_SET) != 0 || fwrite(block, 1, sizeof block, fp) != sizeof block))
        s = tsr_error_set(TSR_ERR_IO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
    if (fclose(fp) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "%s: cannot write %s (disk full?)", path, tmp);
    return s;
}

tsr_status_t tsr_h5_seal_check(const char *path)
{
    char cont[4096];
    int64_t base = 0, len = 0;
    int window = tsr_location_parse(path, cont, sizeof cont, &base, &len);
    FILE *fp = fopen(window ? cont : path, "rb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    char block[TSR_H5_SEAL_BYTES];
    size_t n = fseeko(fp, (off_t)base, SEEK_SET) == 0 ? fread(block, 1, sizeof block, fp) : 0;
    const size_t m = sizeof TSR_H5_SEAL_MAGIC - 1;
    unsigned want = 0;
    tsr_status_t s = TSR_OK;
    if (n != sizeof block || memcmp(block, TSR_H5_SEAL_MAGIC, m) != 0 || sscanf(block + m, "%8x", &want) != 1)
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: not a tessera HDF5 file or its header is damaged; delete it and "
                          "rerun to recompute it", path);
    uint32_t got = 0;
    if (s == TSR_OK)
        s = h5_seal_crc_at(fp, path, base, len, &got);
    if (s == TSR_OK && got != (uint32_t)want)
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: damaged (checksum %08x, sealed as %08x); delete it and rerun to "
                          "recompute it", path, got, want);
    fclose(fp);
    return s;
}

static tsr_status_t dataset_write(tsr_h5_file_t *f, const char *name, hid_t mem_type, hid_t file_type, int64_t n,
                                  const void *data, int ext);

tsr_status_t tsr_h5_finish(tsr_h5_file_t *f, int commit)
{
    tsr_status_t s = TSR_OK;
    if (f->empty && f->member >= 0 && f->member < f->n_members)
        f->empty[f->member] = (unsigned char)(f->marked_empty != 0);
    if (f->file >= 0) { /* a member: its group, then the file */
        if (f->id >= 0 && H5Gclose(f->id) < 0 && commit)
            s = tsr_error_set(TSR_ERR_HDF5, "%s: closing member %d failed", f->path, f->member);
        f->id = f->file;
        f->file = H5I_INVALID_HID;
    }
    if (f->id >= 0 && f->kept) { /* a read file shared with the readers of its other members */
        h5_kept_release(f->id);
        f->id = H5I_INVALID_HID;
    }
    /* a member before the last: the file stays open and temporary until the last is written */
    int more = f->tmp[0] && commit && s == TSR_OK && f->n_members > 0 && f->member < f->n_members - 1;
    if (f->id >= 0 && more && h5_kept_put(f->tmp, f->id, f->empty)) {
        f->id = H5I_INVALID_HID;
        f->empty = NULL; /* the next member's */
    }
    /* the last member: the member table, so readers skip empty members without opening them */
    if (f->id >= 0 && f->tmp[0] && commit && s == TSR_OK && f->empty && f->n_members > 0 &&
        f->member == f->n_members - 1)
        s = dataset_write(f, "/member_empty", H5T_NATIVE_UINT8, H5T_NATIVE_UINT8, f->n_members, f->empty, 0);
    free(f->empty);
    f->empty = NULL;
    if (f->id >= 0 && H5Fclose(f->id) < 0 && commit)
        s = tsr_error_set(TSR_ERR_HDF5, "%s: closing the HDF5 file failed", f->path);
    f->id = H5I_INVALID_HID;
    h5_restore(f);
    if (more && s == TSR_OK) {
        f->tmp[0] = '\0';
        return TSR_OK;
    }
    if (f->tmp[0] && commit && s == TSR_OK)
        s = h5_seal_write(f->tmp, f->path);
    if (f->tmp[0]) {
        if (commit && s == TSR_OK && rename(f->tmp, f->path) != 0)
            s = tsr_error_set(TSR_ERR_IO, "%s: cannot rename %s into place: %s", f->path, f->tmp,
                              strerror(errno));
        if (!commit || s != TSR_OK)
            unlink(f->tmp);
        f->tmp[0] = '\0';
    }
    return s;
}

tsr_status_t tsr_h5_group(tsr_h5_file_t *f, const char *name)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0) {
        if (gcpl >= 0)
            H5Pclose(gcpl);
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot create group %s", f->path, name);
    }
    hid_t g = H5Gcreate2(f->id, h5_name(f, name), H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0)
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot create group %s", f->path, name);
    H5Gclose(g);
    return TSR_OK;
}

static tsr_status_t attr_write(tsr_h5_file_t *f, const char *name, hid_t type, const void *val)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? H5I_INVALID_HID : H5Acreate2(f->id, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t w = a < 0 ? -1 : H5Awrite(a, type, val);
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    if (w < 0)
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot write attribute %s", f->path, name);
    return TSR_OK;
}

tsr_status_t tsr_h5_attr_write_str(tsr_h5_file_t *f, const char *name, const char *val)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    size_t len = strlen(val);
    if (t < 0 || H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        if (t >= 0)
            H5Tclose(t);
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot write attribute %s", f->path, name);
    }
    tsr_status_t s = attr_write(f, name, t, len ? val : "");
    H5Tclose(t);
    return s;
}

tsr_status_t tsr_h5_attr_write_i64(tsr_h5_file_t *f, const char *name, int64_t val)
{
    return attr_write(f, name, H5T_NATIVE_INT64, &val);
}

tsr_status_t tsr_h5_attr_read_str(tsr_h5_file_t *f, const char *name, char **val)
{
    *val = NULL;
    hid_t a = H5Aopen(f->id, name, H5P_DEFAULT);
    if (a < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: attribute %s is missing (not a tessera file?)", f->path, name);
    hid_t ft = H5Aget_type(a);
    tsr_status_t s = TSR_OK;
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) != 0) {
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: attribute %s is not a fixed-length string", f->path, name);
    } else {
        size_t len = H5Tget_size(ft);
        char *buf = calloc(len + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        if (!buf || mt < 0) {
            s = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", f->path);
        } else if (H5Tset_size(mt, len) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 || H5Aread(a, mt, buf) < 0) {
            s = tsr_error_set(TSR_ERR_HDF5, "%s: cannot read attribute %s", f->path, name);
        }
        if (mt >= 0)
            H5Tclose(mt);
        if (s == TSR_OK)
            *val = buf;
        else
            free(buf);
    }
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    return s;
}

tsr_status_t tsr_h5_attr_read_i64(tsr_h5_file_t *f, const char *name, int64_t *val)
{
    hid_t a = H5Aopen(f->id, name, H5P_DEFAULT);
    if (a < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: attribute %s is missing (not a tessera file?)", f->path, name);
    hid_t ft = H5Aget_type(a);
    int ok = ft >= 0 && H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT64, val) >= 0;
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    if (!ok)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: attribute %s is not a readable integer", f->path, name);
    return TSR_OK;
}

/* A 1-D dataset of n elements (ext: extendible, chunks of TSR_H5_CHUNK), written from data when n > 0. */
static tsr_status_t dataset_write(tsr_h5_file_t *f, const char *name, hid_t mem_type, hid_t file_type, int64_t n,
                                  const void *data, int ext)
{
    hsize_t dims[1] = {(hsize_t)n}, maxd[1] = {ext ? H5S_UNLIMITED : (hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    herr_t rc = (sp < 0 || dcpl < 0) ? -1 : H5Pset_obj_track_times(dcpl, 0);
    /* a packed file's small dataset: stored in its object header (compact), neither chunked nor compressed */
    int compact = !ext && f->file >= 0 && n > 0 && (size_t)n * H5Tget_size(file_type) <= TSR_H5_COMPACT_BYTES;
    if (rc >= 0 && compact && H5Pset_layout(dcpl, H5D_COMPACT) < 0)
        rc = -1;
    if (rc >= 0 && !compact && (n > 0 || ext)) {
        /* a chunk is compressed whole however little of it is written: small files get small chunks */
        hsize_t chunk[1] = {(hsize_t)(ext ? (f->ext_chunk > 0 ? f->ext_chunk : TSR_H5_CHUNK)
                                          : n >= TSR_H5_CHUNK ? TSR_H5_CHUNK : n)};
        if (H5Pset_chunk(dcpl, 1, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 1) < 0)
            rc = -1;
    }
    hid_t d = rc < 0 ? H5I_INVALID_HID : H5Dcreate2(f->id, h5_name(f, name), file_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0)
        rc = -1;
    else if (n > 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = -1;
    if (d >= 0)
        H5Dclose(d);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (rc < 0)
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot write dataset %s", f->path, name);
    return TSR_OK;
}

tsr_status_t tsr_h5_write(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t n, const void *data)
{
    return dataset_write(f, name, mem_type, mem_type, n, data, 0);
}

int tsr_h5_is_empty(tsr_h5_file_t *f) { return H5Aexists(f->id, "empty") > 0; }

tsr_status_t tsr_h5_mark_empty(tsr_h5_file_t *f)
{
    f->marked_empty = 1;
    return tsr_h5_attr_write_i64(f, "empty", 1);
}

int tsr_h5_member_empty(const char *path)
{
    char base[4096];
    int k = 0, n = 0;
    if (!h5_member_split(path, base, sizeof base, &k, &n) || n != 0)
        return 0;
    tsr_h5_file_t f;
    if (h5_open_file(base, &f, 1) != TSR_OK) { /* the reader's own open says why */
        tsr_error_clear();
        return 0;
    }
    int slot = -1, r = 0;
    pthread_mutex_lock(&h5_kept_lock);
    for (int i = 0; f.kept && i < TSR_H5_KEPT && slot < 0; i++)
        if (h5_kept[i].id == f.id && !h5_kept[i].writing)
            slot = i;
    int look = slot >= 0 && h5_kept[slot].n_empty < 0;
    pthread_mutex_unlock(&h5_kept_lock);
    if (look) { /* read the table once per kept file (readers of one file are one thread's tasks) */
        unsigned char *t = NULL;
        int64_t m = 0;
        int ok = H5Lexists(f.id, "member_empty", H5P_DEFAULT) > 0 &&
                 tsr_h5_read(&f, "/member_empty", H5T_NATIVE_UINT8, -1, &m, (void **)&t) == TSR_OK;
        if (!ok)
            tsr_error_clear();
        pthread_mutex_lock(&h5_kept_lock);
        if (h5_kept[slot].id == f.id && h5_kept[slot].n_empty < 0) {
            h5_kept[slot].empty = ok ? t : NULL;
            h5_kept[slot].n_empty = ok ? (int)m : 0;
            t = NULL;
        }
        pthread_mutex_unlock(&h5_kept_lock);
        free(t);
    }
    pthread_mutex_lock(&h5_kept_lock);
    if (slot >= 0 && h5_kept[slot].id == f.id && k < h5_kept[slot].n_empty)
        r = h5_kept[slot].empty[k] == 1;
    pthread_mutex_unlock(&h5_kept_lock);
    if (tsr_h5_finish(&f, 0) != TSR_OK)
        tsr_error_clear();
    return r;
}

/*
 * Whether dataset d's storage agrees with its n elements of `width` bytes where HDF5 does not check it: a
 * compact dataset (small members, io/partition_schema.md) holds its values in its object header, and
 * HDF5 1.10 copies as many bytes as the shape asks from however many the header holds (a fuzzed file
 * made it read past its buffer). Other layouts: 1.
 */
static int compact_size_consistent(hid_t d, hsize_t n, size_t width)
{
    hid_t pl = H5Dget_create_plist(d);
    if (pl < 0)
        return 0;
    H5D_layout_t layout = H5Pget_layout(pl);
    H5Pclose(pl);
    if (layout != H5D_COMPACT)
        return layout >= 0;
    return H5Dget_storage_size(d) == (hsize_t)n * width;
}

/*
 * Open a 1-D dataset, check its type class, its element width (when `width` > 0: tessera writes numbers
 * in the width it reads them, and HDF5 1.10 does not check a filtered chunk's unfiltered size against
 * the width its type declares, so a damaged type made it copy past the chunk: found by fuzz_partition)
 * and its size. In an empty member (tsr_h5_is_empty) an absent
 * dataset wanted with any or no elements is *d = H5I_INVALID_HID with *n = 0.
 */
static tsr_status_t dataset_open(tsr_h5_file_t *f, const char *name, H5T_class_t cls, size_t width, int64_t expect,
                                 hid_t *d, int64_t *n)
{
    *d = H5Dopen2(f->id, h5_name(f, name), H5P_DEFAULT);
    if (*d < 0 && (expect == -1 || expect == 0) && tsr_h5_is_empty(f)) { /* an empty member: no datasets */
        *n = 0;
        return TSR_OK;
    }
    if (*d < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s is missing", f->path, name);
    hid_t ft = H5Dget_type(*d);
    hid_t sp = H5Dget_space(*d);
    hsize_t dims[1] = {0};
    int ok_type = ft >= 0 && H5Tget_class(ft) == cls && (width == 0 || H5Tget_size(ft) == width);
    int ok_rank = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, dims, NULL) == 1;
    size_t ft_width = ft >= 0 ? H5Tget_size(ft) : 0;
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    tsr_status_t s = TSR_OK;
    if (!ok_type || !ok_rank)
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s has the wrong type or shape", f->path, name);
    else if (!compact_size_consistent(*d, dims[0], ft_width))
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s stores a size other than its %llu elements need (a "
                          "damaged file); delete it and rerun the task that wrote it", f->path, name,
                          (unsigned long long)dims[0]);
    else if (expect >= 0 && (int64_t)dims[0] != expect)
        s = tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s has %lld elements, expected %lld", f->path, name,
                          (long long)dims[0], (long long)expect);
    if (s != TSR_OK) {
        H5Dclose(*d);
        *d = H5I_INVALID_HID;
        return s;
    }
    *n = (int64_t)dims[0];
    return TSR_OK;
}

/* Elements [off, off + n) of the open dataset d into a new malloc'ed array (never NULL); d stays open. */
static tsr_status_t dataset_read_kept(tsr_h5_file_t *f, const char *name, hid_t d, hid_t mem_type, int64_t off,
                                      int64_t n, void **data)
{
    void *buf = calloc(n ? (size_t)n : 1u, H5Tget_size(mem_type));
    if (!buf)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s from %s", name, f->path);
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    hsize_t start[1] = {(hsize_t)off}, count[1] = {(hsize_t)n};
    herr_t rc = 0;
    if (n > 0 && (d < 0 || (fs = H5Dget_space(d)) < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                  (ms = H5Screate_simple(1, count, NULL)) < 0 || H5Dread(d, mem_type, ms, fs, H5P_DEFAULT, buf) < 0))
        rc = -1;
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    if (rc < 0) {
        free(buf);
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot read dataset %s (corrupt or truncated file?)", f->path,
                             name);
    }
    *data = buf;
    return TSR_OK;
}

/* As dataset_read_kept, and closes d. */
static tsr_status_t dataset_read(tsr_h5_file_t *f, const char *name, hid_t d, hid_t mem_type, int64_t off, int64_t n,
                                 void **data)
{
    tsr_status_t s = dataset_read_kept(f, name, d, mem_type, off, n, data);
    if (d >= 0)
        H5Dclose(d);
    return s;
}

tsr_status_t tsr_h5_read(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t expect, int64_t *n,
                         void **data)
{
    *data = NULL;
    hid_t d;
    int64_t cnt = 0;
    TSR_CALL(dataset_open(f, name, H5Tget_class(mem_type), H5Tget_size(mem_type), expect, &d, &cnt));
    TSR_CALL(dataset_read(f, name, d, mem_type, 0, cnt, data));
    if (n)
        *n = cnt;
    return TSR_OK;
}

tsr_status_t tsr_h5_create_ext(tsr_h5_file_t *f, const char *name, hid_t mem_type)
{
    return dataset_write(f, name, mem_type, mem_type, 0, NULL, 1);
}

tsr_status_t tsr_h5_append(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t n, const void *data)
{
    if (n <= 0)
        return TSR_OK;
    hid_t d = H5Dopen2(f->id, h5_name(f, name), H5P_DEFAULT);
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    hsize_t dims[1] = {0}, count[1] = {(hsize_t)n};
    herr_t rc = d < 0 ? -1 : 0;
    if (rc >= 0 && ((fs = H5Dget_space(d)) < 0 || H5Sget_simple_extent_dims(fs, dims, NULL) != 1))
        rc = -1;
    hsize_t start[1] = {dims[0]}, grown[1] = {dims[0] + (hsize_t)n};
    if (fs >= 0)
        H5Sclose(fs);
    fs = H5I_INVALID_HID;
    if (rc >= 0 && (H5Dset_extent(d, grown) < 0 || (fs = H5Dget_space(d)) < 0 ||
                    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                    (ms = H5Screate_simple(1, count, NULL)) < 0 ||
                    H5Dwrite(d, mem_type, ms, fs, H5P_DEFAULT, data) < 0))
        rc = -1;
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    if (d >= 0)
        H5Dclose(d);
    if (rc < 0)
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot append to dataset %s", f->path, name);
    return TSR_OK;
}

tsr_status_t tsr_h5_length(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t *n)
{
    hid_t d;
    TSR_CALL(dataset_open(f, name, H5Tget_class(mem_type), H5Tget_size(mem_type), -1, &d, n));
    if (d >= 0)
        H5Dclose(d);
    return TSR_OK;
}

tsr_status_t tsr_h5_read_offsets(tsr_h5_file_t *f, const char *name, int64_t i0, int64_t i1, int64_t **off,
                                 int64_t *base)
{
    TSR_CALL(tsr_h5_read_range(f, name, H5T_NATIVE_INT64, i0, i1 - i0 + 1, (void **)off));
    *base = (*off)[0];
    for (int64_t i = 0; i <= i1 - i0; i++) {
        (*off)[i] -= *base;
        if ((*off)[i] < 0 || (i > 0 && (*off)[i] < (*off)[i - 1]))
            return tsr_error_set(TSR_ERR_FORMAT, "%s: %s decreases at entry %lld", f->path, name,
                                 (long long)(i0 + i));
    }
    return TSR_OK;
}

tsr_status_t tsr_h5_read_range(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t off, int64_t n,
                               void **data)
{
    *data = NULL;
    hid_t d;
    int64_t cnt = 0;
    TSR_CALL(dataset_open(f, name, H5Tget_class(mem_type), H5Tget_size(mem_type), -1, &d, &cnt));
    if (off < 0 || n < 0 || off > cnt || n > cnt - off) {
        if (d >= 0)
            H5Dclose(d);
        return tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s has %lld elements, elements [%lld, %lld) were wanted",
                             f->path, name, (long long)cnt, (long long)off, (long long)(off + n));
    }
    return dataset_read(f, name, d, mem_type, off, n, data);
}

tsr_status_t tsr_h5_range_open(tsr_h5_file_t *f, const char *name, hid_t mem_type, int64_t max_cache,
                               tsr_h5_range_t *r, int64_t *used)
{
    memset(r, 0, sizeof *r);
    r->d = H5I_INVALID_HID;
    *used = 0;
    hid_t d;
    TSR_CALL(dataset_open(f, name, H5Tget_class(mem_type), H5Tget_size(mem_type), -1, &d, &r->n));
    r->open = 1;
    if (d < 0) /* absent from an empty member: nothing to read */
        return TSR_OK;
    /* one chunk's bytes (the stored width is the memory type's: dataset_open checked it) */
    size_t chunk_bytes = 0;
    hid_t dcpl = H5Dget_create_plist(d);
    hsize_t chunk[1] = {0};
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 1, chunk) == 1)
        chunk_bytes = (size_t)chunk[0] * H5Tget_size(mem_type);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    H5Dclose(d);
    /* reopened with its own cache: one chunk, or none (the file's default would keep up to 1 MiB per dataset) */
    size_t cache = chunk_bytes > 0 && (int64_t)chunk_bytes <= max_cache ? chunk_bytes : 0;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0 && H5Pset_chunk_cache(dapl, cache ? 7 : 0, cache, 1.0) >= 0)
        r->d = H5Dopen2(f->id, h5_name(f, name), dapl);
    if (dapl >= 0)
        H5Pclose(dapl);
    if (r->d < 0)
        return tsr_error_set(TSR_ERR_HDF5, "%s: cannot open dataset %s", f->path, name);
    *used = (int64_t)cache;
    return TSR_OK;
}

tsr_status_t tsr_h5_range_read(tsr_h5_file_t *f, tsr_h5_range_t *r, const char *name, hid_t mem_type,
                               int64_t off, int64_t n, void **data)
{
    *data = NULL;
    if (off < 0 || n < 0 || off > r->n || n > r->n - off)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s has %lld elements, elements [%lld, %lld) were wanted",
                             f->path, name, (long long)r->n, (long long)off, (long long)(off + n));
    return dataset_read_kept(f, name, r->d, mem_type, off, n, data);
}

void tsr_h5_range_close(tsr_h5_range_t *r)
{
    if (r && r->open && r->d >= 0)
        H5Dclose(r->d);
    if (r) {
        r->open = 0;
        r->d = H5I_INVALID_HID;
    }
}

tsr_status_t tsr_h5_write_strings(tsr_h5_file_t *f, const char *name, int64_t n, const char *const *s)
{
    size_t w = 1;
    for (int64_t i = 0; i < n; i++)
        if (strlen(s[i]) > w)
            w = strlen(s[i]);
    char *buf = calloc(n ? (size_t)n : 1u, w);
    hid_t t = H5Tcopy(H5T_C_S1);
    tsr_status_t st = TSR_OK;
    if (!buf || t < 0) {
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", f->path);
    } else if (H5Tset_size(t, w) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        st = tsr_error_set(TSR_ERR_HDF5, "%s: cannot write dataset %s", f->path, name);
    } else {
        for (int64_t i = 0; i < n; i++)
            memcpy(buf + (size_t)i * w, s[i], strlen(s[i]));
        st = dataset_write(f, name, t, t, n, buf, 0);
    }
    if (t >= 0)
        H5Tclose(t);
    free(buf);
    return st;
}

tsr_status_t tsr_h5_read_strings(tsr_h5_file_t *f, const char *name, int64_t expect, char ***out)
{
    *out = NULL;
    hid_t d;
    int64_t n = 0;
    TSR_CALL(dataset_open(f, name, H5T_STRING, 0, expect, &d, &n));
    if (d < 0) /* absent from an empty member */
        return tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s is missing", f->path, name);
    hid_t ft = H5Dget_type(d);
    size_t w = ft < 0 ? 0 : H5Tget_size(ft);
    int var = ft < 0 ? 1 : H5Tis_variable_str(ft) != 0;
    if (ft >= 0)
        H5Tclose(ft);
    if (var || w == 0) {
        H5Dclose(d);
        return tsr_error_set(TSR_ERR_FORMAT, "%s: dataset %s is not a fixed-length string array", f->path, name);
    }
    char *buf = calloc(n ? (size_t)n : 1u, w);
    char **s = calloc(n ? (size_t)n : 1u, sizeof *s);
    hid_t mt = H5Tcopy(H5T_C_S1);
    tsr_status_t st = TSR_OK;
    if (!buf || !s || mt < 0)
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", f->path);
    else if (H5Tset_size(mt, w) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 ||
             (n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0))
        st = tsr_error_set(TSR_ERR_HDF5, "%s: cannot read dataset %s", f->path, name);
    for (int64_t i = 0; st == TSR_OK && i < n; i++) {
        s[i] = strndup(buf + (size_t)i * w, w);
        if (!s[i])
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory reading %s", f->path);
    }
    if (mt >= 0)
        H5Tclose(mt);
    H5Dclose(d);
    free(buf);
    if (st != TSR_OK) {
        for (int64_t i = 0; s && i < n; i++)
            free(s[i]);
        free(s);
        return st;
    }
    *out = s;
    return TSR_OK;
}

tsr_status_t tsr_h5_check_offsets(const tsr_h5_file_t *f, const char *what, const int64_t *off, int64_t n,
                                  int64_t total)
{
    if (off[0] != 0)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: %s does not start at 0", f->path, what);
    for (int64_t i = 0; i < n; i++)
        if (off[i + 1] < off[i])
            return tsr_error_set(TSR_ERR_FORMAT, "%s: %s decreases at record %lld", f->path, what, (long long)i);
    if (off[n] != total)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: %s ends at %lld but the data holds %lld values", f->path, what,
                             (long long)off[n], (long long)total);
    return TSR_OK;
}

int32_t tsr_h5_count_alleles(const char *blob, int64_t a, int64_t b)
{
    if (b <= a)
        return 0;
    int32_t n = 1;
    for (int64_t i = a; i < b; i++)
        n += blob[i] == ',';
    return n;
}

/* ----------------------------------------------------- evidence partition */

static tsr_status_t partition_write_body(tsr_h5_file_t *f, const tsr_evidence_t *ev)
{
    int64_t n = ev->n_sites, nb = ev->n_blocks;
    if (n > 0 && !ev->strand)
        return tsr_error_set(TSR_ERR_INTERNAL, "%s: evidence without strand counts", f->path);
    TSR_CALL(tsr_h5_attr_write_str(f, "schema", TSR_PARTITION_SCHEMA));
    TSR_CALL(tsr_h5_attr_write_i64(f, "schema_version", TSR_PARTITION_VERSION));
    TSR_CALL(tsr_h5_attr_write_str(f, "contig", ev->contig ? ev->contig : ""));
    TSR_CALL(tsr_h5_attr_write_i64(f, "start", ev->start));
    TSR_CALL(tsr_h5_attr_write_i64(f, "end", ev->end));
    TSR_CALL(tsr_h5_attr_write_i64(f, "n_samples", ev->n_samples));
    TSR_CALL(tsr_h5_write_strings(f, "/sample_id", ev->n_samples, (const char *const *)ev->sample_ids));
    if (f->file >= 0 && n == 0 && nb == 0) /* a packed file's member without records: no other dataset */
        return tsr_h5_mark_empty(f);
    TSR_CALL(tsr_h5_group(f, "/site"));
    TSR_CALL(tsr_h5_group(f, "/call"));
    TSR_CALL(tsr_h5_group(f, "/refblock"));
    int64_t zero = 0;
    const int64_t *aoff = n ? ev->allele_off : &zero, *poff = n ? ev->pl_off : &zero,
                  *doff = n ? ev->ad_off : &zero;
    TSR_CALL(tsr_h5_write(f, "/site/position", H5T_NATIVE_INT64, n, ev->pos));
    TSR_CALL(tsr_h5_write(f, "/site/kind", H5T_NATIVE_UINT8, n, ev->kind));
    TSR_CALL(tsr_h5_write(f, "/site/n_alleles", H5T_NATIVE_INT32, n, ev->n_alleles));
    TSR_CALL(tsr_h5_write(f, "/site/allele_offset", H5T_NATIVE_INT64, n + 1, aoff));
    TSR_CALL(tsr_h5_write(f, "/site/alleles", H5T_NATIVE_UINT8, aoff[n], ev->allele_blob));
    TSR_CALL(tsr_h5_write(f, "/call/pl_offset", H5T_NATIVE_INT64, n + 1, poff));
    TSR_CALL(tsr_h5_write(f, "/call/pl", H5T_NATIVE_INT32, poff[n], ev->pl));
    TSR_CALL(tsr_h5_write(f, "/call/ad_offset", H5T_NATIVE_INT64, n + 1, doff));
    TSR_CALL(tsr_h5_write(f, "/call/ad", H5T_NATIVE_INT32, doff[n], ev->ad));
    TSR_CALL(tsr_h5_write(f, "/call/dp", H5T_NATIVE_INT32, n * ev->n_samples, ev->dp));
    TSR_CALL(tsr_h5_write(f, "/call/strand", H5T_NATIVE_INT32, 2 * doff[n], ev->strand));
    TSR_CALL(tsr_h5_write(f, "/refblock/sample", H5T_NATIVE_INT32, nb, ev->block_sample));
    TSR_CALL(tsr_h5_write(f, "/refblock/start", H5T_NATIVE_INT64, nb, ev->block_start));
    TSR_CALL(tsr_h5_write(f, "/refblock/end", H5T_NATIVE_INT64, nb, ev->block_end));
    TSR_CALL(tsr_h5_write(f, "/refblock/min_dp", H5T_NATIVE_INT32, nb, ev->block_min_dp));
    return TSR_OK;
}

tsr_status_t tsr_partition_write(const char *path, const tsr_evidence_t *ev)
{
    tsr_h5_file_t f;
    TSR_CALL(tsr_h5_create(path, &f));
    tsr_status_t s = partition_write_body(&f, ev);
    tsr_status_t c = tsr_h5_finish(&f, s == TSR_OK);
    return s != TSR_OK ? s : c;
}

tsr_status_t tsr_partition_members(const char *path, int *n)
{
    *n = 0;
    tsr_h5_file_t f;
    TSR_CALL(tsr_h5_open(path, &f));
    H5G_info_t info;
    tsr_status_t s = TSR_OK;
    if (H5Aexists(f.id, "schema") <= 0) {
        if (H5Gget_info(f.id, &info) < 0 || info.nlinks > 10000000)
            s = tsr_error_set(TSR_ERR_FORMAT, "%s: neither a partition nor a packed file of partitions", path);
        else /* the groups /m00000.. and, written since issue 18's member table, /member_empty */
            *n = (int)info.nlinks - (H5Lexists(f.id, "member_empty", H5P_DEFAULT) > 0);
    }
    tsr_status_t c = tsr_h5_finish(&f, 0);
    return s != TSR_OK ? s : c;
}

tsr_status_t tsr_partition_read_head(tsr_h5_file_t *f, tsr_evidence_t *ev)
{
    char *schema = NULL;
    TSR_CALL(tsr_h5_attr_read_str(f, "schema", &schema));
    int bad = strcmp(schema, TSR_PARTITION_SCHEMA) != 0;
    free(schema);
    if (bad)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: not a tessera evidence partition (schema attribute)", f->path);
    int64_t v, ns;
    TSR_CALL(tsr_h5_attr_read_i64(f, "schema_version", &v));
    if (v != TSR_PARTITION_VERSION)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: evidence schema version %lld, this tessera reads %d", f->path,
                             (long long)v, TSR_PARTITION_VERSION);
    TSR_CALL(tsr_h5_attr_read_str(f, "contig", &ev->contig));
    TSR_CALL(tsr_h5_attr_read_i64(f, "start", &ev->start));
    TSR_CALL(tsr_h5_attr_read_i64(f, "end", &ev->end));
    TSR_CALL(tsr_h5_attr_read_i64(f, "n_samples", &ns));
    if (ns < 0 || ns > INT32_MAX || ev->end < ev->start)
        return tsr_error_set(TSR_ERR_FORMAT, "%s: bad region or sample count in the attributes", f->path);
    ev->n_samples = (int32_t)ns;
    TSR_CALL(tsr_h5_read_strings(f, "/sample_id", ns, &ev->sample_ids));
    return TSR_OK;
}

tsr_status_t tsr_partition_check_sites(const tsr_h5_file_t *f, const tsr_evidence_t *ev, int64_t first)
{
    const int64_t ns = ev->n_samples;
    for (int64_t i = 0; i < ev->n_sites; i++) {
        int64_t na = ev->n_alleles[i];
        if (ev->kind[i] > TSR_SITE_INDEL || na < 2 ||
            tsr_h5_count_alleles(ev->allele_blob, ev->allele_off[i], ev->allele_off[i + 1]) != na ||
            ev->pl_off[i + 1] - ev->pl_off[i] != ns * (na * (na + 1) / 2) ||
            ev->ad_off[i + 1] - ev->ad_off[i] != ns * na)
            return tsr_error_set(TSR_ERR_FORMAT, "%s: site %lld (position %lld) has inconsistent alleles or sizes",
                                 f->path, (long long)(first + i), (long long)ev->pos[i]);
    }
    return TSR_OK;
}

tsr_status_t tsr_partition_sites_empty(tsr_evidence_t *ev)
{
    ev->n_sites = 0;
    TSR_ALLOC(ev->pos, 1);
    TSR_ALLOC(ev->kind, 1);
    TSR_ALLOC(ev->n_alleles, 1);
    TSR_ALLOC(ev->allele_off, 1);
    TSR_ALLOC(ev->allele_blob, 1);
    TSR_ALLOC(ev->pl_off, 1);
    TSR_ALLOC(ev->pl, 1);
    TSR_ALLOC(ev->ad_off, 1);
    TSR_ALLOC(ev->ad, 1);
    TSR_ALLOC(ev->dp, 1);
    TSR_ALLOC(ev->strand, 1);
    return TSR_OK;
}

/* No sites and no blocks: every array allocated (as tsr_h5_read gives them), offsets {0}. */
static tsr_status_t partition_empty(tsr_evidence_t *ev)
{
    ev->n_blocks = 0;
    TSR_CALL(tsr_partition_sites_empty(ev));
    TSR_ALLOC(ev->block_sample, 1);
    TSR_ALLOC(ev->block_start, 1);
    TSR_ALLOC(ev->block_end, 1);
    TSR_ALLOC(ev->block_min_dp, 1);
    return TSR_OK;
}

static tsr_status_t partition_read_body(tsr_h5_file_t *f, tsr_evidence_t *ev)
{
    TSR_CALL(tsr_partition_read_head(f, ev));
    const int64_t ns = ev->n_samples;
    if (tsr_h5_is_empty(f)) /* a member without records */
        return partition_empty(ev);

    int64_t n, m;
    TSR_CALL(tsr_h5_read(f, "/site/position", H5T_NATIVE_INT64, -1, &n, (void **)&ev->pos));
    ev->n_sites = n;
    TSR_CALL(tsr_h5_read(f, "/site/kind", H5T_NATIVE_UINT8, n, NULL, (void **)&ev->kind));
    TSR_CALL(tsr_h5_read(f, "/site/n_alleles", H5T_NATIVE_INT32, n, NULL, (void **)&ev->n_alleles));
    TSR_CALL(tsr_h5_read(f, "/site/allele_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&ev->allele_off));
    TSR_CALL(tsr_h5_read(f, "/site/alleles", H5T_NATIVE_UINT8, -1, &m, (void **)&ev->allele_blob));
    TSR_CALL(tsr_h5_check_offsets(f, "/site/allele_offset", ev->allele_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/call/pl_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&ev->pl_off));
    TSR_CALL(tsr_h5_read(f, "/call/pl", H5T_NATIVE_INT32, -1, &m, (void **)&ev->pl));
    TSR_CALL(tsr_h5_check_offsets(f, "/call/pl_offset", ev->pl_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/call/ad_offset", H5T_NATIVE_INT64, n + 1, NULL, (void **)&ev->ad_off));
    TSR_CALL(tsr_h5_read(f, "/call/ad", H5T_NATIVE_INT32, -1, &m, (void **)&ev->ad));
    TSR_CALL(tsr_h5_check_offsets(f, "/call/ad_offset", ev->ad_off, n, m));
    TSR_CALL(tsr_h5_read(f, "/call/dp", H5T_NATIVE_INT32, n * ns, NULL, (void **)&ev->dp));
    TSR_CALL(tsr_h5_read(f, "/call/strand", H5T_NATIVE_INT32, 2 * ev->ad_off[n], NULL, (void **)&ev->strand));
    TSR_CALL(tsr_partition_check_sites(f, ev, 0));

    TSR_CALL(tsr_h5_read(f, "/refblock/sample", H5T_NATIVE_INT32, -1, &m, (void **)&ev->block_sample));
    ev->n_blocks = m;
    TSR_CALL(tsr_h5_read(f, "/refblock/start", H5T_NATIVE_INT64, m, NULL, (void **)&ev->block_start));
    TSR_CALL(tsr_h5_read(f, "/refblock/end", H5T_NATIVE_INT64, m, NULL, (void **)&ev->block_end));
    TSR_CALL(tsr_h5_read(f, "/refblock/min_dp", H5T_NATIVE_INT32, m, NULL, (void **)&ev->block_min_dp));
    for (int64_t i = 0; i < m; i++)
        if (ev->block_sample[i] < 0 || ev->block_sample[i] >= ns || ev->block_end[i] <= ev->block_start[i])
            return tsr_error_set(TSR_ERR_FORMAT, "%s: reference block %lld is invalid", f->path, (long long)i);
    /* the call kernel writes blocks by position (io/partition_reader.c); tsr_evidence_t holds them by sample */
    return tsr_evidence_blocks_by_sample(ev);
}

tsr_status_t tsr_partition_read(const char *path, tsr_evidence_t **ev)
{
    *ev = NULL;
    tsr_evidence_t *e;
    TSR_CALL(tsr_evidence_create(&e));
    tsr_h5_file_t f;
    tsr_status_t s = tsr_h5_open(path, &f);
    if (s != TSR_OK) {
        tsr_evidence_destroy(&e);
        return s;
    }
    s = partition_read_body(&f, e);
    tsr_status_t c = tsr_h5_finish(&f, 0);
    if (s == TSR_OK)
        s = c;
    if (s != TSR_OK) {
        tsr_evidence_destroy(&e);
        return s;
    }
    *ev = e;
    return TSR_OK;
}
