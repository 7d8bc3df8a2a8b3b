/*
 * test_lowpass_pretest.c - the pooled pre-test of low-pass discovery (issue 18) loses no site: one region's
 * evidence partitions (argv, in batch order) are discovered twice, with the full per-sample test at every site
 * (the old path, the reference) and with the pre-test, and every site must come out the same (position,
 * alleles, QUAL, filter, frequencies, and every sample's GT, GQ, DP, DS, PL, GP, AD). The reference's site list
 * goes to OUT.full.tsv (POS REF ALT QUAL) for the calling script to match against the truth. Fails when the
 * reference has no site or the pre-test skipped nothing (the comparison would prove nothing).
 * usage: test_lowpass_pretest OUT_PREFIX EVIDENCE.h5...
 */
#include "kernels/lowpass_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct sites {
    char *text;
    size_t len, cap;
} sites_t;

static int sites_add(sites_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t c = (t->len + n + 1) * 2;
        char *p = realloc(t->text, c);
        if (!p)
            return -1;
        t->text = p;
        t->cap = c;
    }
    memcpy(t->text + t->len, s, n);
    t->len += n;
    t->text[t->len] = '\0';
    return 0;
}

/* One line per site: what a VCF record shows, plus a CRC of each per-sample field. */
static tsr_status_t sink(void *ctx, const tsr_callset_t *w)
{
    sites_t *t = ctx;
    int64_t N = w->n_samples;
    for (int64_t i = 0; i < w->n_sites; i++) {
        char line[8192];
        int n = w->n_alleles[i], G = n * (n + 1) / 2;
        const char *al = w->allele_blob + w->allele_off[i];
        int alen = (int)(w->allele_off[i + 1] - w->allele_off[i]);
        int k = snprintf(line, sizeof line, "%lld\t%.*s\t%.9g\t%d", (long long)w->pos[i] + 1, alen, al,
                         (double)w->qual[i], w->filter[i]);
        for (int a = 0; a < n && k < (int)sizeof line - 32; a++)
            k += snprintf(line + k, sizeof line - k, "\t%.9g", (double)w->af[w->af_off[i] + a]);
        uLong c[7];
        c[0] = crc32(0, (const Bytef *)(w->gt + i * N * 2), (uInt)(N * 2));
        c[1] = crc32(0, (const Bytef *)(w->gq + i * N), (uInt)(N * sizeof *w->gq));
        c[2] = crc32(0, (const Bytef *)(w->dp + i * N), (uInt)(N * sizeof *w->dp));
        c[3] = crc32(0, (const Bytef *)(w->ds + i * N), (uInt)(N * sizeof *w->ds));
        c[4] = crc32(0, (const Bytef *)(w->pl + w->pl_off[i]), (uInt)(N * G * sizeof *w->pl));
        c[5] = crc32(0, (const Bytef *)(w->gp + w->pl_off[i]), (uInt)(N * G * sizeof *w->gp));
        c[6] = crc32(0, (const Bytef *)(w->ad + w->ad_off[i]), (uInt)(N * n * sizeof *w->ad));
        for (int j = 0; j < 7 && k < (int)sizeof line - 16; j++)
            k += snprintf(line + k, sizeof line - k, "\t%08lx", c[j]);
        if (k >= (int)sizeof line - 1)
            return tsr_error_set(TSR_ERR_INTERNAL, "site line too long");
        line[k++] = '\n';
        if (sites_add(t, line, (size_t)k) < 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    return TSR_OK;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT_PREFIX EVIDENCE.h5...\n", argv[0]);
        return 2;
    }
    int nb = argc - 2;
    tsr_lp_evidence_t **ev = calloc((size_t)nb, sizeof *ev);
    for (int b = 0; b < nb; b++)
        if (!ev || tsr_lp_partition_read(argv[2 + b], &ev[b]) != TSR_OK) {
            fprintf(stderr, "FAIL: cannot read %s: %s\n", argv[2 + b], tsr_error_msg());
            return 1;
        }
    sites_t full = {0}, fast = {0};
    int64_t cnt[2] = {0, 0}, cnt_full[2] = {0, 0};
    tsr_lp_opts_t o;
    tsr_lp_opts_init(&o);
    o.min_site_qual = 30; /* as the low-pass kernel runs it (kernels/pipeline/lowpass_kernel.c) */
    o.min_qual = 60;
    o.pretest = 0;
    if (tsr_lp_discover_region_counted(ev, nb, NULL, 0, &o, 1000, sink, &full, cnt_full) != TSR_OK) {
        fprintf(stderr, "FAIL: full discovery: %s\n", tsr_error_msg());
        return 1;
    }
    o.pretest = 1;
    if (tsr_lp_discover_region_counted(ev, nb, NULL, 0, &o, 1000, sink, &fast, cnt) != TSR_OK) {
        fprintf(stderr, "FAIL: discovery with the pre-test: %s\n", tsr_error_msg());
        return 1;
    }
    int rc = 0;
    size_t n_sites = 0;
    for (size_t i = 0; i < full.len; i++)
        n_sites += full.text && full.text[i] == '\n';
    printf("full test: %zu sites; pre-test: %lld of %lld sites skipped\n", n_sites, (long long)cnt[1],
           (long long)cnt[0]);
    if (cnt_full[0] != 0 || cnt_full[1] != 0) {
        fprintf(stderr, "FAIL: the pre-test ran with pretest = 0\n");
        rc = 1;
    }
    if (n_sites == 0) {
        fprintf(stderr, "FAIL: the full test called no site: nothing to compare\n");
        rc = 1;
    }
    if (cnt[1] == 0) {
        fprintf(stderr, "FAIL: the pre-test skipped no site: nothing tested\n");
        rc = 1;
    }
    if (full.len != fast.len || (full.len && memcmp(full.text, fast.text, full.len) != 0)) {
        /* name the first site that differs */
        const char *a = full.text ? full.text : "", *b = fast.text ? fast.text : "";
        while (*a && *a == *b) {
            a++;
            b++;
        }
        while (a > full.text && a[-1] != '\n')
            a--;
        fprintf(stderr, "FAIL: the pre-test changed the calls; first difference at full-test line: %.*s\n",
                (int)strcspn(a, "\n"), a);
        rc = 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.full.tsv", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f || (full.len && fwrite(full.text, 1, full.len, f) != full.len) || fclose(f) != 0) {
        fprintf(stderr, "FAIL: cannot write %s\n", path);
        rc = 1;
    }
    for (int b = 0; b < nb; b++)
        tsr_lp_evidence_destroy(&ev[b]);
    free(ev);
    free(full.text);
    free(fast.text);
    return rc;
}
