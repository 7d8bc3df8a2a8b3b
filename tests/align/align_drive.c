/*
 * align_drive.c - `tessera run` with an align chunk size, for the align tests
 * (the command line does not take --align-chunk yet).
 * usage: mpirun -n N align_drive REF SHEET OUT CHUNK_PAIRS THREADS [bam|cram]
 */
#include "kernels/pipeline/pipeline.h"

#include <htslib/hts.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: align_drive REF SHEET OUT CHUNK_PAIRS THREADS [bam|cram]\n");
        return 2;
    }
    hts_set_log_level(HTS_LOG_OFF);
    tsr_run_opts_t o;
    tsr_run_opts_init(&o);
    o.ref = argv[1];
    o.samples = argv[2];
    o.outdir = argv[3];
    o.align_chunk_pairs = atoll(argv[4]);
    o.threads = atoi(argv[5]);
    o.aln_format = argc == 7 ? argv[6] : NULL;
    o.shard_size = 20000;
    tsr_rt_t *rt = NULL;
    tsr_status_t s = tsr_rt_create(&argc, &argv, &rt);
    if (s != TSR_OK) {
        fprintf(stderr, "align_drive: %s\n", tsr_error_msg());
        return 1;
    }
    tsr_log_configure(TSR_LOG_WARN, rt->size > 1 ? rt->rank : -1);
    tsr_run_summary_t sum;
    s = tsr_pipeline_run(rt, &o, &sum);
    if (s != TSR_OK && rt->rank == 0)
        fprintf(stderr, "align_drive: %s\n", tsr_error_msg());
    tsr_rt_destroy(&rt);
    return s == TSR_OK ? 0 : 1;
}
