/*
 * io_internal.h - private to io/: the read-source back-end table and small
 * helpers shared by the io sources. Nothing outside io/ may include this header.
 */
#ifndef TSR_IO_INTERNAL_H
#define TSR_IO_INTERNAL_H

#include "io/io.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A read-source back end (htslib hFILE_backend spirit). The front end in
 * io/read_source.c owns a tsr_reader_t, reads a sample's lanes one after the
 * other and calls through this table; `state` is the back end's private
 * handle for one lane.
 *   open:     open path1 (and path2 when paired, else NULL) into *state; the
 *             source's segment count must be known when it returns.
 *   segments: 2 when next fills r2, else 1.
 *   next:     tsr_reader_next() semantics: 1 record, 0 end (again on every
 *             later call), -2 error (message set).
 *   tell:     tsr_reader_tell(): where the next record starts (pos[1] zeroed
 *             when the source is one file).
 *   seek:     continue at positions from tell (located or not).
 *   locate:   tsr_reader_locate() for one file of this back end's format;
 *             *direct = 1 when every position got coff >= 0.
 *   close:    release state (accepts NULL).
 * Every call that can fail returns a status or -2 with tsr_error_set() done.
 */
typedef struct tsr_reader_backend {
    const char *name;
    tsr_status_t (*open)(const char *path1, const char *path2, void **state);
    int (*segments)(const void *state);
    int (*next)(void *state, tsr_read_t *r1, tsr_read_t *r2);
    void (*tell)(const void *state, tsr_read_pos_t pos[2]);
    tsr_status_t (*seek)(void *state, const tsr_read_pos_t pos[2]);
    tsr_status_t (*locate)(const char *path, int n, tsr_read_pos_t *pos, int *direct);
    void (*close)(void *state);
} tsr_reader_backend_t;

/* The FASTQ back end (plain, gzip, BGZF), defined in io/read_source.c. */
extern const tsr_reader_backend_t tsr_fastq_backend;
/* The unaligned BAM/CRAM back end, defined in io/read_hts.c. */
extern const tsr_reader_backend_t tsr_hts_backend;

/*
 * A read name as the reader hands it out: cut in place at the first space or
 * tab, then a trailing "/1" or "/2" removed.
 */
static inline void tsr_read_name_trim(char *name)
{
    size_t n = strcspn(name, " \t");
    name[n] = '\0';
    if (n >= 2 && name[n - 2] == '/' && (name[n - 1] == '1' || name[n - 1] == '2'))
        name[n - 2] = '\0';
}

#endif /* TSR_IO_INTERNAL_H */
