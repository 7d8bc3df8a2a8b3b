/*
 * cmd_verify.c - `tessera verify DIR [--expect sha256:HEX] [--pubkey PUB]`:
 * the audit of an output directory. The scheduler's audit (scheduler/audit.c)
 * walks the journal line by line (checksums, the hash chain), checks that
 * every task of tasks.tsv has a valid record, recomputes every output's
 * digest and the head, and requires the journal to end with that head; the
 * pipeline's part rehashes the inputs DIR/audit_inputs.sha256 lists. Each
 * problem is one line on stderr; any problem exits 1. Verify writes nothing;
 * its shared lock makes a directory a run is writing into be refused rather
 * than reported as damaged.
 */
#include "kernels/cli/cli.h"
#include "kernels/pipeline/pipeline.h"
#include "scheduler/scheduler.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tsr_verify_usage(FILE *fp)
{
    fprintf(fp, "Usage: tessera verify DIR [--expect sha256:HEX] [--pubkey PUB.pem]\n\n"
                "Audits DIR against its journal's SHA-256 hash chain: every journal line's\n"
                "checksum and link to the line before it; every task of DIR/tasks.tsv has a\n"
                "valid record; every output recorded (alignments, evidence partitions, joint\n"
                "call sets, cohort.bcf, cohort.h5 by content, stats.tsv) still has its SHA-256;\n"
                "every input in DIR/audit_inputs.sha256 still has its SHA-256; the journal ends\n"
                "with the head its records give. Prints one line per problem on stderr, then\n"
                "'verify: N files of M tasks checked, K bad' and 'verify: audit sha256:<hex>'.\n\n"
                "  --expect sha256:HEX  the head published when the run finished (tessera run's\n"
                "                       'audit' line, summary.json's audit_head): without it an\n"
                "                       editor who rewrites the journal consistently is not caught\n"
                "  --pubkey PUB.pem     check DIR/audit.sig (tessera run --sign-key) with this\n"
                "                       Ed25519 public key (tessera keygen)\n\n"
                "Not run under mpirun; refused while a run holds DIR.\n\n"
                "Exit codes: 0 no problem; 1 a problem (changed, missing, unjournaled, chain\n"
                "broken, head or signature wrong), or DIR has no readable journal; 2 usage.\n");
}

static void tsr_verify_problem(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "tessera verify: %s\n", line);
}

int tsr_cmd_verify(int argc, char **argv)
{
    static const struct option lopts[] = {{"expect", required_argument, 0, 'e'},
                                          {"pubkey", required_argument, 0, 'p'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *expect = NULL, *pubkey = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        switch (c) {
        case 'h': tsr_verify_usage(stdout); return TSR_EXIT_OK;
        case 'e': expect = optarg; break;
        case 'p': pubkey = optarg; break;
        default: return tsr_cli_usage_error("verify", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return tsr_cli_usage_error("verify", "expected exactly one output directory");
    if (expect && (strncmp(expect, "sha256:", 7) != 0 || strlen(expect) != 7 + TSR_SHA256_HEX))
        return tsr_cli_usage_error("verify", "--expect takes sha256:<64 hex digits>, not '%s'", expect);
    const char *dir = argv[optind];
    tsr_audit_opts_t ao = {0};
    ao.rehash = 1;
    ao.need_head_record = 1;
    ao.content = tsr_pipeline_audit_content;
    ao.problem = tsr_verify_problem;
    tsr_audit_result_t r;
    tsr_status_t s = tsr_audit_check(dir, &ao, &r);
    if (s != TSR_OK)
        return tsr_cli_fail("verify", s);
    int bad = r.n_problems, n_inputs = 0, bad_inputs = 0;
    /* `tessera stats` directories hash no inputs (a run's manifest is journaled under its own key) */
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/%s", dir, TSR_AUDIT_INPUTS_FILE);
    if (access(manifest, F_OK) == 0) { /* when it is journaled and gone, the audit said so */
        s = tsr_pipeline_audit_inputs_check(dir, tsr_verify_problem, NULL, &n_inputs, &bad_inputs);
        if (s != TSR_OK)
            return tsr_cli_fail("verify", s);
        bad += bad_inputs;
    }
    if (expect && strcmp(expect, r.head) != 0) {
        fprintf(stderr, "tessera verify: the head of %s is %s, not the expected %s\n", dir, r.head, expect);
        bad++;
    }
    if (pubkey) {
        char sig[4200];
        snprintf(sig, sizeof sig, "%s/%s", dir, TSR_AUDIT_SIG_FILE);
        if (tsr_audit_sig_check(pubkey, r.head, sig) != TSR_OK) {
            fprintf(stderr, "tessera verify: %s\n", tsr_error_msg());
            tsr_error_clear();
            bad++;
        }
    }
    printf("verify: %d files of %d tasks checked, %d inputs, %d bad\n", r.n_files, r.n_tasks, n_inputs, bad);
    printf("verify: audit %s\n", r.head);
    return bad ? TSR_EXIT_FAIL : TSR_EXIT_OK;
}
