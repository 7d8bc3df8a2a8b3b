/*
 * report_html.c - DIR/report.html: one self-contained page people can open
 * anywhere (no script, no network, no external font), the plots drawn here
 * as inline SVG from the cohort-wide statistics (kernels/stats/cohort_reduce.c).
 *
 * Design. Every plot is an <svg> with a stable id (sfs-<k>, af-hist,
 * qc-scatter, fst-heatmap) so tests and users can find it; numbers shown
 * are the same ones summary.json holds. Text from the data (sample and
 * population names, facts) is HTML-escaped. Written to a temporary name and
 * renamed when complete.
 */
#include "kernels/stats/stats_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { W = 540, H = 280, ML = 64, MR = 14, MT = 14, MB = 46 };

static void esc(FILE *fp, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

static void fmt_num(char *b, size_t n, double x)
{
    if (isnan(x))
        snprintf(b, n, "n/a");
    else
        snprintf(b, n, "%.4g", x);
}

/* Axes, y ticks at 0, 1/4 .. 1 of ymax and the axis labels. */
static void axes(FILE *fp, double ymin, double ymax, const char *xlabel, const char *ylabel)
{
    const int pw = W - ML - MR, ph = H - MT - MB;
    fprintf(fp, "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", ML, MT + ph, ML + pw, MT + ph);
    fprintf(fp, "<line class=\"ax\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", ML, MT, ML, MT + ph);
    for (int k = 0; k <= 4; k++) {
        double v = ymin + (ymax - ymin) * k / 4.0;
        double y = MT + ph - ph * k / 4.0;
        char b[32];
        fmt_num(b, sizeof b, v);
        fprintf(fp, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", ML, y, ML + pw, y);
        fprintf(fp, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>", ML - 4, y + 4, b);
    }
    fprintf(fp, "<text class=\"lab\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ML + pw / 2, H - 6);
    esc(fp, xlabel);
    fprintf(fp, "</text><text class=\"lab\" transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">",
            MT + ph / 2);
    esc(fp, ylabel);
    fputs("</text>", fp);
}

/*
 * A bar chart of v[0..n), bar k labelled x0 + k; tick labels every `step`
 * bars (or the `labels` strings when given).
 */
static void bar_chart(FILE *fp, const char *id, const int64_t *v, int n, int x0, const char *const *labels,
                      const char *xlabel, const char *ylabel)
{
    const int pw = W - ML - MR, ph = H - MT - MB;
    double ymax = 0;
    for (int k = 0; k < n; k++)
        ymax = (double)v[k] > ymax ? (double)v[k] : ymax;
    if (ymax <= 0)
        ymax = 1;
    fprintf(fp, "<svg id=\"%s\" class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">", id, W, H, W, H);
    axes(fp, 0, ymax, xlabel, ylabel);
    double bw = n > 0 ? (double)pw / n : pw;
    int step = n > 20 ? (n + 9) / 10 : 1;
    for (int k = 0; k < n; k++) {
        double h = ph * (double)v[k] / ymax, x = ML + k * bw;
        fprintf(fp, "<rect class=\"bar\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"><title>%d: %" PRId64
                    "</title></rect>",
                x + bw * 0.08, MT + ph - h, bw * 0.84, h, x0 + k, v[k]);
        if (labels && labels[k])
            fprintf(fp, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", x, MT + ph + 14,
                    labels[k]);
        else if (!labels && k % step == 0)
            fprintf(fp, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>", x + bw / 2,
                    MT + ph + 14, x0 + k);
    }
    fputs("</svg>\n", fp);
}

static void counts_table(FILE *fp, const tsr_cohort_result_t *r)
{
    char b[32];
    fmt_num(b, sizeof b, r->ti_tv);
    fprintf(fp, "<table class=\"kv\" id=\"counts\"><tr><th>sites</th><td>%" PRId64 "</td></tr>"
                "<tr><th>SNV sites (all alleles one base)</th><td>%" PRId64 "</td></tr>"
                "<tr><th>biallelic SNVs</th><td>%" PRId64 "</td></tr>"
                "<tr><th>indel sites</th><td>%" PRId64 "</td></tr>"
                "<tr><th>multi-allelic sites</th><td>%" PRId64 "</td></tr>"
                "<tr><th>other sites (MNP, symbolic)</th><td>%" PRId64 "</td></tr>"
                "<tr><th>sites without ALT</th><td>%" PRId64 "</td></tr>"
                "<tr><th>transitions / transversions</th><td>%" PRId64 " / %" PRId64 "</td></tr>"
                "<tr><th>Ti/Tv (biallelic SNVs)</th><td>%s</td></tr>"
                "<tr><th>samples / populations</th><td>%d / %d</td></tr></table>\n",
            r->sites, r->snv_sites, r->biallelic_snvs, r->indel_sites, r->multiallelic_sites, r->other_sites,
            r->no_alt_sites, r->transitions, r->transversions, b, r->n_samples, r->n_pops);
}

/* Low-pass: the likelihood SFS (expected site counts, rounded for the bars). */
static void sfs_section_lowpass(FILE *fp, const tsr_cohort_result_t *r)
{
    fputs("<section><h2>Site-frequency spectrum per population (likelihood-based)</h2><p class=\"note\">Low-pass "
          "mode: each site's sample-allele-frequency likelihoods (the realSFS method), computed from the genotype "
          "likelihoods, not from hard genotype calls, times a prior around the other populations' frequency (or "
          "the population's maximum-likelihood SFS by EM), posteriors summed; expected numbers of "
          "biallelic SNVs by ALT allele count (REF taken as ancestral); each site reported without LowQual counts "
          "1 / P(discovery reports it | its cohort ALT count), the power from the run's discovery rule on "
          "synthetic pileups of its depths and read qualities, so rare variants that discovery misses are counted "
          "(statistics.json's sfs_discovered is the spectrum of the reported sites alone); with one population "
          "there is no other population's frequency, and the prior over the ALT count k is k^-alpha, alpha fitted "
          "to the reported sites (statistics.json's prior_exponent), and the variants discovery missed are counted "
          "by the prior's shape: below ~8 copies the reads do not identify the spectrum's shape, which there is "
          "the prior's; classes 1 .. 2N-1 "
          "shown. The hard-call "
          "SFS is in statistics.json as sfs_hard_calls.</p>\n", fp);
    for (int p = 0; p < r->n_pops; p++) {
        const tsr_lp_sfs_t *s = &r->lp->sfs[p];
        char id[32];
        snprintf(id, sizeof id, "sfs-%d", p);
        fputs("<figure><figcaption>", fp);
        esc(fp, r->pop_names[p]);
        fprintf(fp, ": %d chromosomes, %" PRId64 " sites (%d in the EM), likelihood-based</figcaption>", s->n_chrom,
                s->sites, s->sampled);
        int n = s->n_chrom > 1 ? s->n_chrom - 1 : 0;
        int64_t *v = malloc(((size_t)n + 1) * sizeof *v);
        if (v) {
            for (int k = 0; k < n; k++)
                v[k] = llround(s->unfolded[k + 1]);
            bar_chart(fp, id, v, n, 1, NULL, "derived allele count", "sites (expected)");
            free(v);
        }
        fputs("</figure>\n", fp);
    }
    fputs("</section>\n", fp);
}

static void sfs_section(FILE *fp, const tsr_cohort_result_t *r)
{
    if (r->lp) {
        sfs_section_lowpass(fp, r);
        return;
    }
    fputs("<section><h2>Site-frequency spectrum per population</h2><p class=\"note\">Unfolded: biallelic SNVs "
          "fully called in the population, by ALT allele count (REF taken as ancestral, ALT as derived); "
          "classes 1 .. 2N-1 shown (0 and 2N, monomorphic in the population, are in summary.json).</p>\n",
          fp);
    for (int p = 0; p < r->n_pops; p++) {
        const tsr_cohort_sfs_t *s = &r->sfs[p];
        char id[32];
        snprintf(id, sizeof id, "sfs-%d", p);
        fputs("<figure><figcaption>", fp);
        esc(fp, r->pop_names[p]);
        fprintf(fp, ": %d chromosomes, %" PRId64 " sites (%" PRId64 " not fully called)</figcaption>", s->n_chrom,
                s->sites, s->skipped);
        int n = s->n_chrom > 1 ? s->n_chrom - 1 : 0;
        bar_chart(fp, id, s->unfolded + 1, n, 1, NULL, "derived allele count", "sites");
        fputs("</figure>\n", fp);
    }
    fputs("</section>\n", fp);
}

static void af_section(FILE *fp, const tsr_cohort_result_t *r)
{
    static const char *const lab[TSR_COHORT_AF_BINS] = {"0", NULL, NULL, NULL, NULL, "0.25", NULL, NULL, NULL, NULL,
                                                        "0.5", NULL, NULL, NULL, NULL, "0.75", NULL, NULL, NULL, NULL};
    if (r->lp)
        fputs("<section><h2>Allele-frequency distribution (likelihood-based)</h2><p class=\"note\">Every ALT "
              "allele by cohort AF, the EM estimate from genotype likelihoods (low-pass mode), bins of 0.05 (AF = 1 "
              "in the last).</p><figure>", fp);
    else
        fputs("<section><h2>Allele-frequency distribution</h2><p class=\"note\">Every ALT allele by cohort AF = "
              "AC/AN, bins of 0.05 (AF = 1 in the last).</p><figure>", fp);
    bar_chart(fp, "af-hist", r->af_hist, TSR_COHORT_AF_BINS, 0, lab, "cohort allele frequency", "ALT alleles");
    fputs("</figure></section>\n", fp);
}

static void qc_section(FILE *fp, const tsr_cohort_result_t *r)
{
    const int pw = W - ML - MR, ph = H - MT - MB;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int shown = 0;
    for (int j = 0; j < r->n_samples; j++) {
        const tsr_cohort_sample_t *s = &r->samples[j];
        if (isnan(s->call_rate) || isnan(s->het_hom))
            continue;
        shown++;
        x0 = fmin(x0, s->call_rate);
        x1 = fmax(x1, s->call_rate);
        y0 = fmin(y0, s->het_hom);
        y1 = fmax(y1, s->het_hom);
    }
    if (!shown)
        x0 = y0 = 0, x1 = y1 = 1;
    double dx = x1 - x0 > 0 ? x1 - x0 : 0.01, dy = y1 - y0 > 0 ? y1 - y0 : 0.1;
    x0 -= dx * 0.05, x1 += dx * 0.05, y0 -= dy * 0.05, y1 += dy * 0.05;
    fprintf(fp, "<section><h2>Per-sample QC</h2><p class=\"note\">Het/hom-alt ratio against call rate; "
                "%d of %d samples plotted (the others have no hom-alt call). Outliers (red): more than 4 median "
                "absolute deviations (the mean absolute deviation where the MAD is 0) from the median in call "
                "rate, het/hom-alt ratio, singletons, mean depth or Ti/Tv; all metrics per sample in "
                "sample_qc.tsv.</p><figure>",
            shown, r->n_samples);
    fprintf(fp, "<svg id=\"qc-scatter\" class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">", W, H, W, H);
    axes(fp, y0, y1, "call rate", "het / hom-alt ratio");
    for (int k = 0; k <= 4; k++) {
        char b[32];
        fmt_num(b, sizeof b, x0 + (x1 - x0) * k / 4.0);
        fprintf(fp, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", ML + pw * k / 4.0,
                MT + ph + 14, b);
    }
    for (int pass = 0; pass < 2; pass++) /* outliers drawn last, on top */
        for (int j = 0; j < r->n_samples; j++) {
            const tsr_cohort_sample_t *s = &r->samples[j];
            if (isnan(s->call_rate) || isnan(s->het_hom) || (s->outlier != 0) != pass)
                continue;
            fprintf(fp, "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"%d\"><title>", pass ? "out" : "pt",
                    ML + pw * (s->call_rate - x0) / (x1 - x0), MT + ph - ph * (s->het_hom - y0) / (y1 - y0),
                    pass ? 5 : 4);
            esc(fp, r->sample_ids[j]);
            fputs("</title></circle>", fp);
        }
    fputs("</svg></figure>\n", fp);
    fprintf(fp, "<table class=\"grid\" id=\"outliers\"><tr><th>sample</th><th>population</th><th>call rate</th>"
                "<th>het/hom-alt</th><th>singletons</th><th>mean DP</th><th>Ti/Tv</th><th>flagged metrics</th></tr>");
    for (int j = 0; j < r->n_samples; j++) {
        const tsr_cohort_sample_t *s = &r->samples[j];
        if (!s->outlier)
            continue;
        char a[32], b[32], c[32], d[32];
        fmt_num(a, sizeof a, s->call_rate);
        fmt_num(b, sizeof b, s->het_hom);
        fmt_num(c, sizeof c, s->mean_dp);
        fmt_num(d, sizeof d, s->ti_tv);
        fputs("<tr><td>", fp);
        esc(fp, r->sample_ids[j]);
        fputs("</td><td>", fp);
        esc(fp, r->sample_pop[j] >= 0 ? r->pop_names[r->sample_pop[j]] : "-");
        fprintf(fp, "</td><td>%s</td><td>%s</td><td>%" PRId64 "</td><td>%s</td><td>%s</td><td>", a, b, s->singletons,
                c, d);
        for (int m = 0, first = 1; m < TSR_QC_N_METRICS; m++)
            if (s->outlier & (1u << m)) {
                fprintf(fp, "%s%s", first ? "" : ", ", tsr_cohort_qc_metric_name(1u << m));
                first = 0;
            }
        fputs("</td></tr>", fp);
    }
    if (r->n_outliers == 0)
        fputs("<tr><td colspan=\"8\">no outliers</td></tr>", fp);
    fputs("</table></section>\n", fp);
}

static void fst_section(FILE *fp, const tsr_cohort_result_t *r)
{
    if (r->lp)
        fputs("<section><h2>Hudson F<sub>ST</sub> between populations (likelihood-based)</h2><p class=\"note\">"
              "Bhatia et al. (2013) estimator from the 2D site-frequency spectrum of each pair (EM over the per-site "
              "sample allele frequency likelihoods, computed from the genotype likelihoods in low-pass mode): "
              "posterior expectations of the per-site numerators and denominators, ratio of their sums.</p>", fp);
    else
        fputs("<section><h2>Hudson F<sub>ST</sub> between populations</h2><p class=\"note\">Bhatia et al. (2013) "
              "estimator over biallelic SNVs, ratio of the sums of the per-site numerators and denominators.</p>",
              fp);
    tsr_cohort_fst_t *lpf = r->lp ? malloc(((size_t)r->lp->n_pairs + 1) * sizeof *lpf) : NULL;
    const tsr_cohort_fst_t *fst = r->fst;
    if (lpf) {
        for (int k = 0; k < r->lp->n_pairs; k++)
            lpf[k] = (tsr_cohort_fst_t){r->lp->sfs2d[k].pop_a, r->lp->sfs2d[k].pop_b, r->lp->sfs2d[k].sites_in_em,
                                        0, 0, r->lp->sfs2d[k].fst};
        fst = lpf;
    }
    const int P = r->n_pops;
    if (P < 2) {
        fputs("<p>One population only: no pair to compare.</p></section>\n", fp);
        free(lpf);
        return;
    }
    double mx = 0;
    for (int k = 0; k < r->n_pairs; k++)
        if (!isnan(fst[k].fst))
            mx = fmax(mx, fst[k].fst);
    const int cell = P <= 8 ? 64 : 480 / P, lab = 110, w = lab + cell * P + 10, h = lab + cell * P + 10;
    fprintf(fp, "<figure><svg id=\"fst-heatmap\" class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">", w, h, w, h);
    for (int i = 0; i < P; i++) {
        fprintf(fp, "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", lab - 6, lab + cell * i + cell / 2 + 4);
        esc(fp, r->pop_names[i]);
        fprintf(fp, "</text><text class=\"tick\" transform=\"translate(%d,%d) rotate(-45)\">", lab + cell * i + cell / 2,
                lab - 6);
        esc(fp, r->pop_names[i]);
        fputs("</text>", fp);
    }
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++) {
            double v = 0;
            if (i != j) {
                int a = i < j ? i : j, b = i < j ? j : i;
                int k = a * P - a * (a + 1) / 2 + (b - a - 1);
                v = fst[k].fst;
            }
            double t = isnan(v) || mx <= 0 ? 0 : fmax(0, v) / mx;
            int R = 255 - (int)(t * (255 - 178)), G = 255 - (int)(t * (255 - 24)), B = 255 - (int)(t * (255 - 43));
            char b[32];
            fmt_num(b, sizeof b, v);
            char fill[48];
            if (i == j)
                snprintf(fill, sizeof fill, "#eeeeee");
            else
                snprintf(fill, sizeof fill, "rgb(%d,%d,%d)", R, G, B);
            fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"#888\"/>"
                        "<text class=\"cell\" x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%s</text>",
                    lab + cell * j, lab + cell * i, cell, cell, fill, lab + cell * j + cell / 2,
                    lab + cell * i + cell / 2 + 4, t > 0.6 ? "#fff" : "#222", i == j ? "" : b);
        }
    fputs("</svg></figure><table class=\"grid\" id=\"fst-table\"><tr><th>pop1</th><th>pop2</th><th>sites</th>"
          "<th>F<sub>ST</sub></th></tr>", fp);
    for (int k = 0; k < r->n_pairs; k++) {
        char b[32];
        fmt_num(b, sizeof b, fst[k].fst);
        fputs("<tr><td>", fp);
        esc(fp, r->pop_names[fst[k].pop_a]);
        fputs("</td><td>", fp);
        esc(fp, r->pop_names[fst[k].pop_b]);
        fprintf(fp, "</td><td>%" PRId64 "</td><td>%s</td></tr>", fst[k].sites, b);
    }
    fputs("</table></section>\n", fp);
    free(lpf);
}

static void facts_section(FILE *fp, const tsr_report_facts_t *facts)
{
    fputs("<section><h2>Run facts</h2><table class=\"kv\" id=\"facts\">", fp);
    for (int k = 0; facts && k < facts->n; k++) {
        fputs("<tr><th>", fp);
        esc(fp, facts->key[k]);
        fputs("</th><td>", fp);
        esc(fp, facts->value[k]);
        fputs("</td></tr>", fp);
    }
    fputs("</table></section>\n", fp);
}

static const char css[] =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1160px}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}"
    "figure{display:inline-block;margin:6px 12px 6px 0}figcaption{font-size:13px;margin-bottom:2px}"
    ".note{font-size:13px;color:#555}table{border-collapse:collapse;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}.kv th{background:#f4f4f4}"
    ".grid th{background:#f4f4f4}.plot{background:#fff;border:1px solid #ddd}"
    ".ax{stroke:#333;stroke-width:1}.grid line,line.grid{stroke:#e4e4e4}.bar{fill:#3b6ea8}"
    ".tick{font-size:11px;fill:#333}.lab{font-size:12px;fill:#222}.cell{font-size:12px}"
    ".pt{fill:#3b6ea8;fill-opacity:.75}.out{fill:#d7301f;stroke:#000;stroke-width:.8}";

tsr_status_t tsr_report_write(const char *path, const tsr_cohort_result_t *r, const char *title,
                              const tsr_report_facts_t *facts)
{
    char tmp[4200];
    TSR_CALL(tsr_output_tmpname(path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", fp);
    esc(fp, title);
    fprintf(fp, "</title><style>%s</style></head>\n<body><h1>", css);
    esc(fp, title);
    fputs("</h1>\n", fp);
    if (r->lp)
        fputs("<p class=\"note\" id=\"lowpass-note\">Low-pass mode: allele frequencies, HWE, F, the SFS and "
              "F<sub>ST</sub> are likelihood-based (computed from the genotype likelihoods); the per-sample QC "
              "counts below come from hard genotype calls.</p>\n", fp);
    fputs("<section><h2>Sites and Ti/Tv</h2>", fp);
    counts_table(fp, r);
    fputs("</section>\n", fp);
    sfs_section(fp, r);
    af_section(fp, r);
    if (r->samples) /* a merge's result has no per-sample QC */
        qc_section(fp, r);
    fst_section(fp, r);
    facts_section(fp, facts);
    fputs("</body></html>\n", fp);
    return tsr_output_commit(fp, tmp, path);
}
