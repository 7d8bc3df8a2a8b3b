/*
 * fuzz_partition.c - libFuzzer target: the evidence-partition reader on damaged files.
 *
 * Every partition file carries a seal (the CRC32 of its bytes in the user block), checked before HDF5
 * parses anything, so a damaged file is refused by tessera, not parsed by the library. The target feeds
 * mutated files as they are: the seal check must refuse them in one error, without a crash.
 *
 * An earlier version resealed mutated inputs (recomputed the CRC) so that HDF5 1.10 itself parsed the
 * damage. Once the seed was a current (format 3) file, it found memory errors inside the library that
 * no caller can prevent: an attribute message read past its buffer in H5O__msg_iterate_real, and a
 * shuffle + deflate chunk whose declared element width disagreed with its data copied past the chunk.
 * Both inputs are in the corpus (regress-hdf5-*-resealed: their seals are stale, so they stay behind the
 * check, as any damaged file does in a run). The reader keeps its own checks of a sealed file's contents
 * (schema, type class and width, compact sizes, shapes, offsets); the unit tests in tests/io/partition/
 * cover the seal and the schema on hand-made files.
 */
#include "fuzz_input.h"
#include "io/h5_store.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[128];
    tsr_evidence_t *ev = NULL;
    if (tsr_partition_read(tsr_fuzz_file("part.h5", data, size, path, sizeof path), &ev) == TSR_OK)
        tsr_evidence_destroy(&ev);
    return 0;
}
