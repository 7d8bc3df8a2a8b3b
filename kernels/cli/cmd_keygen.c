/* cmd_keygen.c - `tessera keygen KEY`: an Ed25519 key pair for `tessera run --sign-key` (scheduler/audit_sign.c). */
#include "kernels/cli/cli.h"
#include "scheduler/scheduler.h"

#include <getopt.h>
#include <stdio.h>

static void tsr_keygen_usage(FILE *fp)
{
    fprintf(fp, "Usage: tessera keygen KEY\n\n"
                "Makes an Ed25519 key pair for signing audit heads: KEY (the private key, PEM\n"
                "PKCS#8, mode 0600) and KEY.pub (the public key, PEM). Existing files are never\n"
                "overwritten. Sign a run with `tessera run ... --sign-key KEY`; check it with\n"
                "`tessera verify DIR --pubkey KEY.pub`.\n\n"
                "Exit codes: 0 written; 1 failed; 2 usage.\n");
}

int tsr_cmd_keygen(int argc, char **argv)
{
    static const struct option lopts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        if (c == 'h') {
            tsr_keygen_usage(stdout);
            return TSR_EXIT_OK;
        }
        return tsr_cli_usage_error("keygen", "unknown option");
    }
    if (optind + 1 != argc)
        return tsr_cli_usage_error("keygen", "expected exactly one key file name");
    const char *key = argv[optind];
    char pub[4200];
    snprintf(pub, sizeof pub, "%s.pub", key);
    tsr_status_t s = tsr_audit_keygen(key, pub);
    if (s != TSR_OK)
        return tsr_cli_fail("keygen", s);
    printf("tessera keygen: private key %s (owner only), public key %s\n", key, pub);
    return TSR_EXIT_OK;
}
