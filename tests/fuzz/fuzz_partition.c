/* fuzz_partition.c - libFuzzer target: the HDF5 evidence-partition reader on corrupted files. */
#include "fuzz_input.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[128];
    tsr_evidence_t *ev = NULL;
    if (tsr_partition_read(tsr_fuzz_file("part.h5", data, size, path, sizeof path), &ev) == TSR_OK)
        tsr_evidence_destroy(&ev);
    return 0;
}
