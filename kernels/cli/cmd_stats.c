/*
 * cmd_stats.c - `tessera stats --vcf FILE --out DIR`: per-site statistics of
 * an existing joint-called VCF/BCF, distributed by region across ranks.
 *
 * Every rank builds the same region plan (contigs x fixed windows) and takes
 * regions r with r % size == rank; each region's lines go to a temporary
 * part file; after all ranks agree that every part is written, rank 0
 * concatenates the parts in region order into DIR/stats.tsv (tmp + rename)
 * and writes DIR/summary.json. The bytes of stats.tsv do not depend on the
 * number of ranks. Each rank also accumulates the cohort-wide statistics of
 * its windows (io/cohort_reduce.c: int64 counts only); an MPI_SUM reduction
 * of the count arrays onto rank 0 is the accumulators' merge, so the
 * "statistics" object of summary.json, DIR/sample_qc.tsv and the plots of
 * DIR/report.html are identical for any number of ranks.
 */
#include "kernels/stats/stats.h"
#include "io/io.h"
#include "kernels/cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void tsr_stats_usage(FILE *fp)
{
    fprintf(fp,
            "Usage: [mpirun -n N] tessera stats --vcf COHORT.vcf.gz|bcf --out DIR [options]\n\n"
            "Per-site statistics of a joint-called VCF/BCF (bgzipped and indexed), for the whole cohort\n"
            "and each population: AC AN AF NS nhet nhomalt F_MISSING HWE ExcHet F (bcftools +fill-tags\n"
            "definitions). Writes DIR/stats.tsv (identical for any number of ranks) and DIR/summary.json.\n"
            "Cohort-wide statistics (site classes, Ti/Tv, SFS and Hudson Fst per population, per-sample\n"
            "QC with outliers) go into summary.json, DIR/sample_qc.tsv and DIR/report.html.\n\n"
            "Options:\n"
            "  --vcf FILE           the VCF/BCF (needs a .csi or .tbi index)\n"
            "  --out DIR            output directory\n"
            "  --samples SHEET.tsv  sample -> population (columns 'sample' and 'population'); without it\n"
            "                       every sample is in population 'all'\n"
            "  --window BP          region size of a work unit [1000000]\n"
            "  --log-level L        off|error|warn|info|debug|trace [warn]\n"
            "  -h, --help           this help\n");
}

static void part_name(char *buf, size_t len, const char *out, int r)
{
    snprintf(buf, len, "%s/.tmp.stats.part.%06d", out, r);
}

static tsr_status_t write_parts(tsr_vcf_stats_t *vs, const tsr_rt_t *rt, const char *out, int64_t *n_sites)
{
    char path[4096];
    for (int r = rt->rank; r < tsr_vcf_stats_n_regions(vs); r += rt->size) {
        part_name(path, sizeof path, out, r);
        FILE *fp = fopen(path, "w");
        if (!fp)
            return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
        tsr_status_t st = tsr_vcf_stats_write_region(vs, r, fp, n_sites);
        if (fclose(fp) != 0 && st == TSR_OK)
            st = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        if (st != TSR_OK)
            return st;
    }
    return TSR_OK;
}

/* Rank 0: header + every part in region order -> DIR/stats.tsv; parts removed. */
static tsr_status_t concatenate(tsr_vcf_stats_t *vs, const char *out)
{
    char final[4096], tmp[4200], path[4096];
    snprintf(final, sizeof final, "%s/stats.tsv", out);
    TSR_CALL(tsr_output_tmpname(final, tmp, sizeof tmp));
    FILE *fo = fopen(tmp, "w");
    if (!fo)
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    tsr_status_t st = tsr_vcf_stats_write_header(vs, fo);
    char buf[1 << 16];
    for (int r = 0; st == TSR_OK && r < tsr_vcf_stats_n_regions(vs); r++) {
        part_name(path, sizeof path, out, r);
        FILE *fi = fopen(path, "r");
        if (!fi) {
            st = tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
            break;
        }
        size_t n;
        while (st == TSR_OK && (n = fread(buf, 1, sizeof buf, fi)) > 0)
            if (fwrite(buf, 1, n, fo) != n)
                st = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        if (ferror(fi) && st == TSR_OK)
            st = tsr_error_set(TSR_ERR_IO, "cannot read '%s'", path);
        fclose(fi);
    }
    if (fclose(fo) != 0 && st == TSR_OK)
        st = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (st == TSR_OK && rename(tmp, final) != 0)
        st = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, final, strerror(errno));
    if (st != TSR_OK)
        unlink(tmp);
    return st;
}

static void remove_parts(const tsr_vcf_stats_t *vs, const tsr_rt_t *rt, const char *out)
{
    char path[4096];
    for (int r = rt->rank; r < tsr_vcf_stats_n_regions(vs); r += rt->size) {
        part_name(path, sizeof path, out, r);
        unlink(path);
    }
}

static tsr_status_t write_summary(const char *out, const char *vcf, const tsr_vcf_stats_t *vs, int64_t sites,
                                  int ranks, double seconds, double cpu, const tsr_cohort_result_t *res)
{
    char final[4096], tmp[4200];
    snprintf(final, sizeof final, "%s/summary.json", out);
    TSR_CALL(tsr_output_tmpname(final, tmp, sizeof tmp));
    FILE *f = fopen(tmp, "w");
    if (!f)
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    fprintf(f, "{\n  \"command\": \"stats\",\n  \"vcf\": \"");
    for (const char *p = vcf; *p; p++)
        fprintf(f, (*p == '"' || *p == '\\') ? "\\%c" : "%c", *p);
    fprintf(f, "\",\n  \"samples\": %d,\n  \"populations\": %d,\n  \"regions\": %d,\n  \"sites\": %" PRId64 ",\n"
               "  \"ranks\": %d,\n  \"seconds\": %.3f,\n  \"cpu_seconds\": %.3f,\n  \"statistics\": ",
            tsr_vcf_stats_n_samples(vs), tsr_vcf_stats_n_populations(vs), tsr_vcf_stats_n_regions(vs), sites, ranks,
            seconds, cpu);
    tsr_status_t st = tsr_cohort_result_write_json(res, f, "  ");
    fprintf(f, "\n}\n");
    int bad = ferror(f) || st != TSR_OK;
    if (fclose(f) != 0 || bad || rename(tmp, final) != 0) {
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", final, strerror(errno));
    }
    return TSR_OK;
}

/* Rank 0's accumulator becomes the sum of every rank's (MPI_SUM of int64 counts = merge). Collective. */
static tsr_status_t reduce_counts(const tsr_rt_t *rt, tsr_cohort_acc_t *acc)
{
    return tsr_comm_reduce_sum_i64(rt->comm, 0, tsr_cohort_acc_counts(acc), tsr_cohort_acc_n_counts(acc));
}

/* The report's run facts: inputs, ranks, time, CPU, peak memory, versions, date. */
static tsr_status_t write_report(const char *out, const char *vcf, const char *samples, const tsr_rt_t *rt,
                                 int64_t window, double secs, double cpu, int64_t peak_rss,
                                 const tsr_cohort_result_t *res)
{
    enum { MAXF = 24 };
    char val[MAXF][512], *vers = NULL;
    const char *key[MAXF], *value[MAXF];
    int n = 0;
#define TSR_FACT(k, ...) (key[n] = (k), snprintf(val[n], sizeof val[n], __VA_ARGS__), value[n] = val[n], n++)
    TSR_FACT("command", "tessera stats");
    TSR_FACT("VCF/BCF", "%s", vcf);
    TSR_FACT("sample sheet", "%s", samples ? samples : "(none: every sample in population 'all')");
    TSR_FACT("ranks", "%d", rt->size);
    TSR_FACT("window", "%" PRId64 " bp", window);
    TSR_FACT("wall time", "%.2f s", secs);
    TSR_FACT("CPU time (all ranks)", "%.2f s", cpu);
    TSR_FACT("peak memory (largest rank)", "%.1f MiB", (double)peak_rss / 1048576.0);
    time_t now = time(NULL);
    struct tm tmv;
    char date[64] = "unknown";
    if (gmtime_r(&now, &tmv))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tmv);
    TSR_FACT("written", "%s", date);
    size_t vlen = 0;
    FILE *vf = open_memstream(&vers, &vlen);
    if (vf) {
        tsr_cli_print_versions(vf);
        fclose(vf);
    }
    for (char *line = vers, *next; line && *line && n < MAXF; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        sp += strspn(sp + 1, " ") + 1;
        key[n] = line;
        snprintf(val[n], sizeof val[n], "%s", sp);
        value[n] = val[n];
        n++;
    }
#undef TSR_FACT
    char path[4096];
    snprintf(path, sizeof path, "%s/report.html", out);
    tsr_report_facts_t facts = {n, key, value};
    tsr_status_t st = tsr_report_write(path, res, "tessera stats report", &facts);
    free(vers);
    return st;
}


int tsr_cmd_stats(int argc, char **argv)
{
    enum { O_VCF = 256, O_OUT, O_SAMPLES, O_WINDOW, O_LOG };
    static const struct option lopts[] = {{"vcf", required_argument, 0, O_VCF},
                                          {"out", required_argument, 0, O_OUT},
                                          {"samples", required_argument, 0, O_SAMPLES},
                                          {"window", required_argument, 0, O_WINDOW},
                                          {"log-level", required_argument, 0, O_LOG},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *vcf = NULL, *out = NULL, *samples = NULL;
    int64_t window = 1000000;
    int log_level = TSR_LOG_WARN, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) >= 0) {
        switch (c) {
        case O_VCF: vcf = optarg; break;
        case O_OUT: out = optarg; break;
        case O_SAMPLES: samples = optarg; break;
        case O_WINDOW:
            window = tsr_parse_size(optarg);
            if (window <= 0)
                return tsr_cli_usage_error("stats", "--window takes a length like 1M, not '%s'", optarg);
            break;
        case O_LOG:
            log_level = tsr_log_level_parse(optarg);
            if (log_level < 0)
                return tsr_cli_usage_error("stats", "unknown --log-level '%s'", optarg);
            break;
        case 'h': tsr_stats_usage(stdout); return TSR_EXIT_OK;
        default: return tsr_cli_usage_error("stats", "unknown option");
        }
    }
    if (optind < argc)
        return tsr_cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
    if (!vcf || !out)
        return tsr_cli_usage_error("stats", "--vcf and --out are required");

    tsr_rt_t *rt = NULL;
    tsr_status_t st = tsr_rt_create(&argc, &argv, &rt);
    if (st != TSR_OK)
        return tsr_cli_fail("stats", st);
    tsr_log_configure((tsr_log_level_t)log_level, rt->rank);
    double t0 = tsr_now();
    tsr_vcf_stats_t *vs = NULL;
    int64_t n_sites = 0, total = 0;
    st = tsr_mkdir_p(out);
    if (st == TSR_OK)
        st = tsr_vcf_stats_open(vcf, samples, window, &vs);
    if (st == TSR_OK)
        st = write_parts(vs, rt, out, &n_sites);
    st = tsr_comm_agree(rt->comm, st);
    if (st == TSR_OK && MPI_Reduce(&n_sites, &total, 1, MPI_INT64_T, MPI_SUM, 0, rt->comm) != MPI_SUCCESS)
        st = tsr_error_set(TSR_ERR_MPI, "MPI_Reduce of the site counts failed");
    double cpu = tsr_cpu_seconds(), cpu_total = 0.0;
    if (st == TSR_OK && MPI_Reduce(&cpu, &cpu_total, 1, MPI_DOUBLE, MPI_SUM, 0, rt->comm) != MPI_SUCCESS)
        st = tsr_error_set(TSR_ERR_MPI, "MPI_Reduce of the CPU times failed");
    int64_t rss = tsr_peak_rss(), rss_max = 0;
    if (st == TSR_OK && MPI_Reduce(&rss, &rss_max, 1, MPI_INT64_T, MPI_MAX, 0, rt->comm) != MPI_SUCCESS)
        st = tsr_error_set(TSR_ERR_MPI, "MPI_Reduce of the peak memory failed");
    if (st == TSR_OK)
        st = reduce_counts(rt, tsr_vcf_stats_acc(vs));
    tsr_cohort_result_t *res = NULL;
    if (st == TSR_OK && rt->rank == 0)
        st = concatenate(vs, out);
    if (st == TSR_OK && rt->rank == 0)
        st = tsr_cohort_acc_result(tsr_vcf_stats_acc(vs), &res);
    if (st == TSR_OK && rt->rank == 0) {
        char qc[4096];
        snprintf(qc, sizeof qc, "%s/sample_qc.tsv", out);
        st = tsr_cohort_result_write_sample_qc(res, qc);
    }
    st = tsr_comm_agree(rt->comm, st);
    if (vs)
        remove_parts(vs, rt, out);
    if (st == TSR_OK && rt->rank == 0) {
        double secs = tsr_now() - t0;
        st = write_summary(out, vcf, vs, total, rt->size, secs, cpu_total, res);
        if (st == TSR_OK)
            st = write_report(out, vcf, samples, rt, window, secs, cpu_total, rss_max, res);
        if (st == TSR_OK)
            printf("tessera stats: %" PRId64 " sites, %d samples, %d populations, %d regions on %d ranks in %.2f s "
                   "(%.2f CPU s) -> %s/stats.tsv\n",
                   total, tsr_vcf_stats_n_samples(vs), tsr_vcf_stats_n_populations(vs), tsr_vcf_stats_n_regions(vs),
                   rt->size, secs, cpu_total, out);
    }
    int rank = rt->rank;
    tsr_cohort_result_destroy(&res);
    tsr_vcf_stats_close(&vs);
    tsr_rt_destroy(&rt);
    if (st != TSR_OK)
        return rank == 0 ? tsr_cli_fail("stats", st) : tsr_status_exit_code(st);
    return TSR_EXIT_OK;
}
