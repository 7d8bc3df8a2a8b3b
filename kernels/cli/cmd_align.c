/*
 * cmd_align.c - `tessera align`: the align stage alone (FASTQ -> per-sample
 * sorted BAM/CRAM + index + QC) under mpirun/srun. It runs the align tasks of
 * the same plan `tessera run` builds, through the same journal: the tasks keep
 * their keys and outputs, so `tessera run` on the same --out afterwards skips
 * them and goes on with calling.
 */
#include "kernels/cli/cli.h"

#include <stdio.h>

static void tsr_align_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: mpirun -n N tessera align --ref REF.fa --samples SHEET.tsv --out DIR [options]\n\n"
            "Runs the align stage alone: each FASTQ sample is mapped with libminimap2 (sr) in fixed\n"
            "read-pair chunks, duplicates are marked, and DIR/aln/G/S.bam + .bai (or S.cram + .crai) and\n"
            "DIR/aln/G/S.qc.json are written; summary.json lists every sample's alignment QC. Samples given\n"
            "as BAM/CRAM are already aligned and are skipped. Running the same command again resumes\n"
            "from DIR/journal.tsv; a later 'tessera run' with the same options reuses the alignments and\n"
            "goes on with calling. Every option of 'tessera run' is accepted (--regions, --shard-size,\n"
            "--batch-size, ... shape the plan that run must match); these are the ones the stage uses.\n\n");
    tsr_run_opts_help(fp, TSR_RUN_OPT_ALIGN);
    fprintf(fp, "  --log-level L         off|error|warn|info|debug|trace [info]\n"
                "  -h, --help            this help\n\n"
                "Exit codes: 0 done; 1 failed (one error line says why); 2 usage;\n"
                "75 interrupted by a signal, journal flushed: rerun the same command to resume.\n");
}

int tsr_cmd_align(int argc, char **argv)
{
    return tsr_cli_pipeline(argc, argv, "align", 1, tsr_align_usage);
}
