/* fuzz_sample_sheet.c - libFuzzer target: the TSV sample-sheet parser. */
#include "fuzz_input.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[128];
    tsr_sheet_t *sh = NULL;
    if (tsr_sheet_create_from_file(tsr_fuzz_file("samples.tsv", data, size, path, sizeof path), &sh) == TSR_OK)
        tsr_sheet_destroy(&sh);
    return 0;
}
