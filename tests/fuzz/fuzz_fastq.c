/* fuzz_fastq.c - libFuzzer target: the FASTQ reader (plain or gzip/BGZF bytes), single and paired. */
#include "fuzz_input.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char p1[128], p2[128];
    tsr_fuzz_file("r_1.fq", data, size, p1, sizeof p1);
    /* The second mate: the same bytes from the middle on, so pairs both match and mismatch. */
    tsr_fuzz_file("r_2.fq", data + size / 2, size - size / 2, p2, sizeof p2);
    for (int paired = 0; paired < 2; paired++) {
        tsr_reader_t *rd = NULL;
        if (tsr_reader_open(p1, paired ? p2 : NULL, &rd) != TSR_OK)
            continue;
        tsr_read_t r1, r2;
        size_t bases = 0;
        for (int n = 0; n < 100000 && tsr_reader_next(rd, &r1, &r2) == 1; n++)
            bases += (size_t)r1.len + strlen(r1.name) + strlen(r1.qual);
        (void)bases;
        tsr_reader_close(&rd);
    }
    return 0;
}
