/*
 * compare_fill_tags.c - compare a `tessera stats` stats.tsv with a BCF that
 * bcftools +fill-tags annotated (-t AC,AN,HWE,ExcHet, optionally with -S
 * populations): record by record, AC and AN exactly, HWE and ExcHet within a
 * relative 1e-6 (bcftools stores them as floats, whose rounding is 6e-8).
 * Usage: compare_fill_tags ANNOTATED.bcf stats.tsv POP... ; prints the number
 * of values compared and exits 1 on the first difference.
 */
#include <htslib/vcf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_COLS = 4096 };

static int split(char *s, char **f)
{
    int n = 0;
    for (char *t = strtok(s, "\t\n"); t && n < MAX_COLS; t = strtok(NULL, "\t\n"))
        f[n++] = t;
    return n;
}

static int col(char **hdr, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(hdr[i], name))
            return i;
    fprintf(stderr, "compare: stats.tsv has no column %s\n", name);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: compare_fill_tags ANNOTATED.bcf stats.tsv [POP...]\n");
        return 2;
    }
    htsFile *fp = hts_open(argv[1], "r");
    bcf_hdr_t *h = fp ? bcf_hdr_read(fp) : NULL;
    FILE *tsv = fopen(argv[2], "r");
    if (!h || !tsv) {
        fprintf(stderr, "compare: cannot open inputs\n");
        return 1;
    }
    static char hline[1 << 16], line[1 << 20];
    char *hdr[MAX_COLS], *f[MAX_COLS];
    if (!fgets(hline, sizeof hline, tsv))
        return 1;
    int nh = split(hline, hdr);
    bcf1_t *r = bcf_init();
    int32_t *iv = NULL;
    float *fv = NULL;
    int niv = 0, nfv = 0;
    long n_cmp = 0, n_rec = 0;
    while (bcf_read(fp, h, r) == 0) {
        if (!fgets(line, sizeof line, tsv)) {
            fprintf(stderr, "compare: stats.tsv ends before record %ld\n", n_rec + 1);
            return 1;
        }
        int nf = split(line, f);
        if (nf != nh || atol(f[1]) != r->pos + 1) {
            fprintf(stderr, "compare: record %ld: stats.tsv line is for POS %s, BCF for %lld\n", n_rec + 1, f[1],
                    (long long)r->pos + 1);
            return 1;
        }
        n_rec++;
        for (int g = 2; g < argc; g++) {
            char suf[256] = "";
            if (g > 2)
                snprintf(suf, sizeof suf, "_%s", argv[g]);
            static const char *const keys[4] = {"AC", "AN", "HWE", "ExcHet"};
            for (int k = 0; k < 4; k++) {
                char key[300];
                snprintf(key, sizeof key, "%s%s", keys[k], suf);
                char *v = f[col(hdr, nh, key)], *end;
                int n = k < 2 ? bcf_get_info_int32(h, r, key, &iv, &niv) : bcf_get_info_float(h, r, key, &fv, &nfv);
                for (int a = 0; a < n; a++) {
                    double mine = strtod(v, &end);
                    v = *end == ',' ? end + 1 : end;
                    double theirs = k < 2 ? iv[a] : fv[a];
                    int same = k < 2 ? mine == theirs : fabs(mine - theirs) <= 1e-6 * fabs(theirs) + 1e-300;
                    if (!same) {
                        fprintf(stderr, "compare: POS %lld %s[%d]: tessera %.10g, bcftools %.10g\n",
                                (long long)r->pos + 1, key, a, mine, theirs);
                        return 1;
                    }
                    n_cmp++;
                }
            }
        }
    }
    if (fgets(line, sizeof line, tsv)) {
        fprintf(stderr, "compare: stats.tsv has more lines than the BCF has records\n");
        return 1;
    }
    printf("compare: %ld records, %ld values equal (AC, AN exactly; HWE, ExcHet within 1e-6)\n", n_rec, n_cmp);
    free(iv);
    free(fv);
    bcf_destroy(r);
    bcf_hdr_destroy(h);
    hts_close(fp);
    fclose(tsv);
    return 0;
}
