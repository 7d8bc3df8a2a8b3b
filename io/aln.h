/*
 * io/aln.h - aligned BAM/CRAM input: one sample's coordinate-sorted, indexed
 * alignments opened once (header, index, the reference CRAM decodes
 * against) and read region by region (io/aln_reader.c). The kernels read
 * alignments only through this interface; which reads count is theirs to
 * decide. Part of io's public interface (io/io.h includes it).
 */
#ifndef TSR_IO_ALN_H
#define TSR_IO_ALN_H

#include "io/reference.h"
#include "runtime/runtime.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bam1_t; /* htslib's record; callers that look inside include <htslib/sam.h> */

typedef struct tsr_aln_reader tsr_aln_reader_t;

/*
 * Open `path` (BAM or CRAM) with its index (.bai/.csi/.crai). `ref_path`
 * (may be NULL: the CRAM's own M5/UR then) is the FASTA that CRAM records
 * decode against. Errors name the file and say what to do (no index: run
 * `samtools index`). Not collective. Close with tsr_aln_reader_close().
 */
tsr_status_t tsr_aln_reader_open(const char *path, const char *ref_path, tsr_aln_reader_t **r) TSR_RESULT_USED;
/*
 * Read the records overlapping contig:[start, end) (0-based, half-open) from
 * now on; a reader can be queried again for another region without
 * reopening the file. TSR_ERR_FORMAT naming the file when the contig is not
 * in its header (another reference?).
 */
tsr_status_t tsr_aln_reader_query(tsr_aln_reader_t *r, const char *contig, int64_t start, int64_t end) TSR_RESULT_USED;
/*
 * 1 when the index already showed the current query to hold no record (htslib marked its iterator finished:
 * the file has nothing on that contig or in that range), so tsr_aln_reader_next() will return 0; 0 when
 * records may follow. Not collective.
 */
int tsr_aln_reader_none(const tsr_aln_reader_t *r);
/* The next record of the query into b: 1, 0 at its end, -2 on a corrupt record (message set, naming file and region). */
int tsr_aln_reader_next(tsr_aln_reader_t *r, struct bam1_t *b);
void tsr_aln_reader_close(tsr_aln_reader_t **r);

/*
 * Read depth of one aligned input over n_win windows [start, start +
 * win_len) of the named contigs, by index queries (BAM or CRAM; a CRAM is
 * decoded against ref_path): the read-weighted mean depth, sum(d^2)/sum(d)
 * over the windows' depths d (aligned span of primary, non-duplicate reads
 * / win_len), which is the depth a sequenced base sees. Empty windows
 * weigh nothing, so reads over part of the reference (one region of a
 * large reference, an exome, a panel) measure at their real depth while a
 * uniform low-pass genome measures at its own. 0 when no window has reads,
 * -1 when the file or its index cannot be read. Not collective.
 */
double tsr_aln_sampled_depth(const char *path, const char *ref_path, int n_win, const char *const *contig,
                             const int64_t *start, int64_t win_len);

/*
 * One aligned input against the reference before a run reads it: every
 * contig in contigs[0..n) (indices into `ref`) must be in the file's header
 * with the reference's length (a BAM aligned to another assembly would
 * otherwise be read at the wrong coordinates or fail deep in a task), and a
 * CRAM must name a reference that is readable here (htslib would otherwise
 * try to download it by checksum). Errors name the file and `sample` and say
 * what to do; `ref_path` is named in them. With check_sm, the header's
 * read groups must name `sample` and no other (@RG SM; a file without
 * read groups passes): a swapped path or a multi-sample BAM is refused.
 * Not collective.
 */
tsr_status_t tsr_aln_check(const char *path, const char *sample, const tsr_ref_t *ref, const char *ref_path,
                            const int *contigs, int n_contigs, int check_sm) TSR_RESULT_USED;

#ifdef __cplusplus
}
#endif
#endif /* TSR_IO_ALN_H */
