/*
 * io/reads.h - the reader front end over read sources: FASTQ and unaligned
 * BAM/CRAM back ends, lanes read as one stream, positions for mid-stream
 * starts (io/read_source.c, io/read_hts.c). Part of io's public interface.
 */
#ifndef TSR_IO_READS_H
#define TSR_IO_READS_H

#include "runtime/runtime.h"
#include "io/sheet.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------- read sources */

/* One read (or one end of a pair). Buffers are owned by the reader and valid until its next call. */
typedef struct tsr_read {
    const char *name; /* without /1 /2 suffix */
    const char *seq;  /* ACGTN, in sequencing orientation */
    const char *qual; /* phred+33 */
    int len;
    int lane;         /* the lane it came from: index into tsr_reader_open_lanes()'s lanes (else 0) */
} tsr_read_t;

typedef struct tsr_reader tsr_reader_t;

/*
 * The reader front end over one or more lanes, each read by a back end
 * chosen by content (io/README.md): FASTQ (plain, gzip, BGZF; path2 the
 * mates or NULL) or unaligned BAM/CRAM (path1 only: mates are consecutive
 * records flagged read 1 / read 2, single-end when unpaired).
 * Open a single-end (path2 NULL) or paired source as one lane. Not
 * collective. Close with tsr_reader_close().
 */
tsr_status_t tsr_reader_open(const char *path1, const char *path2, tsr_reader_t **r) TSR_RESULT_USED;
/*
 * Open a sample's lanes (fastq1/fastq2 of each; read_group and library are
 * not used) as one stream read in lane order; tsr_read_t.lane says where each
 * read came from. Every lane must have the same number of segments (all
 * paired or all single-end): TSR_ERR_FORMAT naming the lane's file otherwise.
 * Not collective. Close with tsr_reader_close().
 */
tsr_status_t tsr_reader_open_lanes(int n_lanes, const tsr_lane_t *lanes, tsr_reader_t **r) TSR_RESULT_USED;
/* 2 when the source is paired (r2 is filled by tsr_reader_next), 1 when single-end. */
int tsr_reader_segments(const tsr_reader_t *r);
/*
 * Read the next record (pair), htslib style: returns 1 and fills r1 (and r2 if
 * paired), 0 at the end, or -2 on error with the message (file, record number,
 * what to do) recorded through tsr_error_set(). Mismatched pair names are an error.
 */
int tsr_reader_next(tsr_reader_t *r, tsr_read_t *r1, tsr_read_t *r2);
void tsr_reader_close(tsr_reader_t **r);

/*
 * Where a record starts in one file of a source, so a later reader can start
 * there (fixed read-pair chunks of the align stage). rec and line are the
 * records and lines before it in that file, for messages and CRAM.
 *   FASTQ: uoff is the uncompressed byte offset; for BGZF, coff is the
 *     compressed offset of the block holding it and within the offset inside
 *     that block's data (a BGZF virtual offset), else coff is -1 and a reader
 *     skips to uoff by decompressing (plain gzip) or seeking (plain text).
 *   BAM: coff/within are the BGZF virtual offset (bgzf_tell) of the record,
 *     uoff its uncompressed offset; exact from tell, locate keeps them.
 *   CRAM: uoff = rec (records before it); locate sets coff to the byte offset
 *     of the container holding it and within to the records before it in that
 *     container; with coff -1 a reader skips rec records from the start.
 */
typedef struct tsr_read_pos {
    int64_t uoff, coff, within, rec, line;
} tsr_read_pos_t;

/* A position in a lane stream: the lane, and where in that lane's file(s) (file[1] zeroed for one file). */
typedef struct tsr_stream_pos {
    int64_t lane;
    tsr_read_pos_t file[2];
} tsr_stream_pos_t;

/*
 * The position of the next record of each file of the current lane (pos[1] is
 * zeroed when the lane is one file: single-end FASTQ or BAM/CRAM). Not collective.
 */
void tsr_reader_tell(const tsr_reader_t *r, tsr_read_pos_t pos[2]);
/* The position of the next record in the stream (the current lane and tsr_reader_tell()). */
void tsr_reader_tell_stream(const tsr_reader_t *r, tsr_stream_pos_t *pos);
/*
 * Complete n positions of one file, given by tell (ascending): FASTQ fills
 * coff/within from uoff by walking its BGZF block headers (no decompression;
 * coff stays -1 and *is_bgzf is 0 when the file is not BGZF throughout); BAM
 * keeps them (*is_bgzf 1); CRAM fills coff/within from rec by walking its
 * container headers (*is_bgzf 1 when every position was placed).
 */
tsr_status_t tsr_reader_locate(const char *path, int n, tsr_read_pos_t *pos, int *is_bgzf) TSR_RESULT_USED;
/*
 * tsr_reader_locate() for n stream positions (ascending) of a sample's lanes:
 * each file of each lane is walked once. *n_direct counts the positions that
 * start directly at their block or container (the others skip by reading).
 */
tsr_status_t tsr_reader_locate_lanes(int n_lanes, const tsr_lane_t *lanes, int n, tsr_stream_pos_t *pos,
                                     int *n_direct) TSR_RESULT_USED;
/* tsr_reader_open(), then start at pos[0] (and pos[1] when paired). Close with tsr_reader_close(). */
tsr_status_t tsr_reader_open_at(const char *path1, const char *path2, const tsr_read_pos_t pos[2],
                                tsr_reader_t **r) TSR_RESULT_USED;
/* tsr_reader_open_lanes(), then start at `pos` (from tell_stream, located or not). Close with tsr_reader_close(). */
tsr_status_t tsr_reader_open_lanes_at(int n_lanes, const tsr_lane_t *lanes, const tsr_stream_pos_t *pos,
                                      tsr_reader_t **r) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_READS_H */
