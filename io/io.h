/*
 * io.h - the formats tessera reads and writes, one header per concern:
 *   io/sheet.h      the sample sheet
 *   io/reference.h  the reference FASTA
 *   io/reads.h      read sources (FASTQ and unaligned BAM/CRAM behind one reader)
 *   io/aln.h        aligned BAM/CRAM, opened once and read region by region
 *   io/evidence.h   deep and low-pass evidence partitions (HDF5)
 *   io/callset.h    per-region call sets (HDF5)
 *   io/export.h     aggregate-only VCF/BCF and gVCF exports
 * and io/h5_store.h, the small HDF5 layer (not included here: it pulls in
 * hdf5.h). Statistics and the cohort outputs that carry them live in
 * kernels/stats/, the simulator in io/simulate/.
 *
 * Design. The evidence partition is the heart of the data flow: the call
 * kernel turns sample-major alignments into region-major evidence for one
 * (region, sample batch), and the joint kernel reads every batch of a region.
 * Its schema is documented in io/README.md. Every writer here writes to a
 * temporary name and renames on success (never a half-written file under the
 * final name). Every reader returns TSR_ERR_FORMAT with a message naming the
 * file and record on bad input.
 *
 * Layer 1: may include runtime/, htslib, HDF5, zlib. Must not include:
 * scheduler/, kernels/, io/simulate/.
 */
#ifndef TSR_IO_H
#define TSR_IO_H

#include "io/aln.h"
#include "io/callset.h"
#include "io/evidence.h"
#include "io/export.h"
#include "io/hts_index.h"
#include "io/reads.h"
#include "io/ploidy.h"
#include "io/reference.h"
#include "io/sheet.h"
#include "runtime/runtime.h"

#include <stdint.h>
#include <stdio.h>

#endif /* TSR_IO_H */
