/*
 * fuzz_partition.c - libFuzzer target: the HDF5 evidence-partition reader on corrupted files.
 *
 * A mutated file would almost always fail the seal (the CRC32 in the user block) and never reach
 * HDF5, so an input that starts like a seal ('t') is resealed here: its CRC is recomputed over the
 * mutated bytes, and HDF5 itself parses the damage. Inputs that start with anything else keep their
 * bytes as they are and test the seal check. The corpus's regress-* files are inputs HDF5 1.10 is
 * known to mishandle (a huge metadata size); they carry no seal (they start with HDF5's own signature),
 * so they stay behind the seal check, as they do in a run.
 */
#include "fuzz_input.h"
#include "io/h5_store.h"
#include "io/io.h"

#include <zlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[128];
    tsr_evidence_t *ev = NULL;
    unsigned char *copy = NULL;
    if (size > TSR_H5_SEAL_BYTES && data[0] == 't') {
        copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, copy + TSR_H5_SEAL_BYTES, (uInt)(size - TSR_H5_SEAL_BYTES));
        char block[TSR_H5_SEAL_BYTES];
        memset(block, 0, sizeof block);
        snprintf(block, sizeof block, "tessera-h5-seal 1 crc32 %08x\n", (unsigned)c);
        memcpy(copy, block, sizeof block);
        data = copy;
    }
    if (tsr_partition_read(tsr_fuzz_file("part.h5", data, size, path, sizeof path), &ev) == TSR_OK)
        tsr_evidence_destroy(&ev);
    free(copy);
    return 0;
}
