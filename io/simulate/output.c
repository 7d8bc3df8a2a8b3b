/*
 * output.c - the simulator's front: options, DIR/ref.fa (+.fai),
 * DIR/truth.vcf.gz (+.tbi), DIR/samples.tsv, and tsr_simulate(), which runs
 * the samples on o->threads plain pthreads (each sample has its own random
 * stream and files, so the bytes do not depend on the thread count).
 * Every file is written under a temporary name and renamed when complete;
 * samples.tsv is removed first and written last, so its presence marks a
 * complete cohort.
 */
#include "io/simulate/simulate_internal.h"

#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/tbx.h>
#include <htslib/vcf.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tsr_sim_opts_init(tsr_sim_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->n_samples = 16;
    o->coverage = 20.0;
    o->seed = 1;
    o->length = 200000;
    o->populations = 1;
    o->fst = 0.0;
    o->read_length = 150;
    o->fragment_mean = 350;
    o->fragment_sd = 50;
    o->theta = 0.001;
    o->indel_fraction = 0.12;
    o->multiallelic_fraction = 0.02;
    o->error_rate = 0.002;
    o->threads = 1;
}

tsr_status_t tsr_sim_opts_check(const tsr_sim_opts_t *o)
{
    if (!o->outdir || !*o->outdir)
        return tsr_error_set(TSR_ERR_USAGE, "--out DIR is required");
    if (o->n_samples < 1 || o->n_samples > 1000000)
        return tsr_error_set(TSR_ERR_USAGE, "--samples must be in 1..1000000 (got %d)", o->n_samples);
    if (!(o->coverage > 0.0) || o->coverage > 1000.0)
        return tsr_error_set(TSR_ERR_USAGE, "--coverage must be in (0, 1000] (got %g)", o->coverage);
    if (o->region && *o->region && !(o->ref && *o->ref))
        return tsr_error_set(TSR_ERR_USAGE, "--region needs --ref FASTA");
    if (!(o->ref && *o->ref) && (o->length < 1000 || o->length > 1000000000))
        return tsr_error_set(TSR_ERR_USAGE, "--length must be in 1000..1000000000 bp (got %lld)",
                             (long long)o->length);
    if (o->populations < 1 || o->populations > o->n_samples)
        return tsr_error_set(TSR_ERR_USAGE, "--populations must be in 1..samples (%d) (got %d)", o->n_samples,
                             o->populations);
    if (!(o->fst >= 0.0 && o->fst < 1.0))
        return tsr_error_set(TSR_ERR_USAGE, "--fst must be in [0, 1) (got %g)", o->fst);
    if (o->read_length < 30 || o->read_length > 1000)
        return tsr_error_set(TSR_ERR_USAGE, "--read-length must be in 30..1000 (got %d)", o->read_length);
    if (o->fragment_mean < 1 || o->fragment_mean > 100000 || o->fragment_sd < 0 || o->fragment_sd > 100000)
        return tsr_error_set(TSR_ERR_USAGE, "--fragment-mean must be in 1..100000 and --fragment-sd in 0..100000");
    if (!(o->theta > 0.0 && o->theta <= 0.05))
        return tsr_error_set(TSR_ERR_USAGE, "--theta must be in (0, 0.05] (got %g)", o->theta);
    if (!(o->indel_fraction >= 0.0 && o->indel_fraction <= 1.0))
        return tsr_error_set(TSR_ERR_USAGE, "--indel-fraction must be in [0, 1] (got %g)", o->indel_fraction);
    if (!(o->multiallelic_fraction >= 0.0 && o->multiallelic_fraction <= 1.0))
        return tsr_error_set(TSR_ERR_USAGE, "--multiallelic-fraction must be in [0, 1] (got %g)",
                             o->multiallelic_fraction);
    if (!(o->error_rate >= 1e-4 && o->error_rate <= 0.2))
        return tsr_error_set(TSR_ERR_USAGE,
                             "--error-rate must be in [0.0001, 0.2] (got %g; qualities top out at Q41)",
                             o->error_rate);
    if (o->threads < 0 || o->threads > 4096)
        return tsr_error_set(TSR_ERR_USAGE, "--threads must be in 0..4096 (got %d)", o->threads);
    return TSR_OK;
}

static tsr_status_t sim_path(char *buf, size_t len, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
        return tsr_error_set(TSR_ERR_IO, "path '%s/%s' is too long", dir, name);
    return TSR_OK;
}

static tsr_status_t sim_rename(const char *from, const char *to)
{
    if (rename(from, to) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    return TSR_OK;
}

/* ----------------------------------------------------------- ref.fa */

static tsr_status_t sim_write_ref(const char *dir, const tsr_sim_genome_t *g)
{
    char path[4096], tmp[4096], fai[4096], tmpfai[4096];
    TSR_CALL(sim_path(path, sizeof path, dir, "ref.fa"));
    TSR_CALL(sim_path(tmp, sizeof tmp, dir, "ref.tmp.fa"));
    TSR_CALL(sim_path(fai, sizeof fai, dir, "ref.fa.fai"));
    TSR_CALL(sim_path(tmpfai, sizeof tmpfai, dir, "ref.tmp.fa.fai"));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    int bad = fprintf(fp, ">%s\n", g->name) < 0;
    for (int64_t i = 0; i < g->len && !bad; i += 60) {
        size_t n = (size_t)(g->len - i < 60 ? g->len - i : 60);
        bad = fwrite(g->seq + i, 1, n, fp) != n || fputc('\n', fp) == EOF;
    }
    if (fclose(fp) != 0 || bad) {
        remove(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s' (disk full?)", tmp);
    }
    if (fai_build(tmp) != 0) {
        remove(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot index '%s'", tmp);
    }
    TSR_CALL(sim_rename(tmpfai, fai));
    return sim_rename(tmp, path);
}

/* -------------------------------------------------------- truth.vcf.gz */

static tsr_status_t sim_truth_header(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, bcf_hdr_t *h)
{
    char line[1024];
    snprintf(line, sizeof line, "##contig=<ID=%s,length=%lld>", g->name, (long long)g->len);
    int bad = bcf_hdr_append(h, line) < 0;
    bad |= bcf_hdr_append(h, "##INFO=<ID=AC,Number=A,Type=Integer,Description=\"ALT allele count in the cohort\">") < 0;
    bad |= bcf_hdr_append(h, "##INFO=<ID=AN,Number=1,Type=Integer,Description=\"Alleles in the cohort\">") < 0;
    bad |= bcf_hdr_append(h, "##INFO=<ID=AF,Number=A,Type=Float,Description=\"ALT allele frequency in the cohort\">") < 0;
    for (int k = 0; k < o->populations && !bad; k++) {
        snprintf(line, sizeof line,
                 "##INFO=<ID=AF_pop%d,Number=A,Type=Float,Description=\"ALT allele frequency in pop%d\">", k + 1,
                 k + 1);
        bad |= bcf_hdr_append(h, line) < 0;
    }
    bad |= bcf_hdr_append(h, "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype (unphased)\">") < 0;
    for (int i = 0; i < o->n_samples && !bad; i++) {
        char id[32];
        tsr_sim_sample_id(i, o->n_samples, id, sizeof id);
        bad |= bcf_hdr_add_sample(h, id) < 0;
    }
    if (bad || bcf_hdr_sync(h) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot build the truth VCF header");
    return TSR_OK;
}

static tsr_status_t sim_truth_record(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, const tsr_sim_varset_t *vs,
                                     const tsr_sim_variant_t *v, bcf_hdr_t *h, bcf1_t *rec, int32_t *gt,
                                     int64_t *pop_count, int64_t *pop_n)
{
    int n = o->n_samples, K = o->populations, na = v->n_alt;
    char alleles[128];
    int off = snprintf(alleles, sizeof alleles, "%.*s", v->ref_len, g->seq + v->pos);
    for (int a = 0; a < na; a++)
        off += snprintf(alleles + off, sizeof alleles - (size_t)off, ",%s", v->alt[a]);
    bcf_clear(rec);
    rec->rid = 0;
    rec->pos = v->pos;
    int32_t ac[2] = {0, 0}, an = 2 * n;
    memset(pop_count, 0, (size_t)K * 2 * sizeof *pop_count);
    memset(pop_n, 0, (size_t)K * sizeof *pop_n);
    for (int i = 0; i < n; i++) {
        int a0 = v->gt[2 * i], a1 = v->gt[2 * i + 1], k = vs->sample_pop[i];
        if (a0 > a1) {
            int t = a0;
            a0 = a1;
            a1 = t;
        }
        gt[2 * i] = bcf_gt_unphased(a0);
        gt[2 * i + 1] = bcf_gt_unphased(a1);
        pop_n[k] += 2;
        if (a0)
            ac[a0 - 1]++, pop_count[2 * k + a0 - 1]++;
        if (a1)
            ac[a1 - 1]++, pop_count[2 * k + a1 - 1]++;
    }
    float af[2];
    for (int a = 0; a < na; a++)
        af[a] = (float)ac[a] / (float)an;
    int bad = bcf_update_alleles_str(h, rec, alleles) < 0;
    bad |= bcf_update_info_int32(h, rec, "AC", ac, na) < 0;
    bad |= bcf_update_info_int32(h, rec, "AN", &an, 1) < 0;
    bad |= bcf_update_info_float(h, rec, "AF", af, na) < 0;
    for (int k = 0; k < K && !bad; k++) {
        char key[32];
        float paf[2];
        for (int a = 0; a < na; a++)
            paf[a] = pop_n[k] ? (float)pop_count[2 * k + a] / (float)pop_n[k] : 0.0f;
        snprintf(key, sizeof key, "AF_pop%d", k + 1);
        bad |= bcf_update_info_float(h, rec, key, paf, na) < 0;
    }
    bad |= bcf_update_genotypes(h, rec, gt, 2 * n) < 0;
    if (bad)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot build the truth record at %s:%lld", g->name,
                             (long long)v->pos + 1);
    return TSR_OK;
}

static tsr_status_t sim_write_truth(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, const tsr_sim_varset_t *vs)
{
    char path[4096], tmp[4096], tbi[4096], tmptbi[4096];
    TSR_CALL(sim_path(path, sizeof path, o->outdir, "truth.vcf.gz"));
    TSR_CALL(sim_path(tmp, sizeof tmp, o->outdir, "truth.tmp.vcf.gz"));
    TSR_CALL(sim_path(tbi, sizeof tbi, o->outdir, "truth.vcf.gz.tbi"));
    TSR_CALL(sim_path(tmptbi, sizeof tmptbi, o->outdir, "truth.tmp.vcf.gz.tbi"));
    tsr_status_t s = TSR_OK;
    bcf_hdr_t *h = bcf_hdr_init("w");
    bcf1_t *rec = bcf_init();
    int32_t *gt = malloc((size_t)o->n_samples * 2 * sizeof *gt);
    int64_t *pop_count = malloc((size_t)o->populations * 2 * sizeof *pop_count);
    int64_t *pop_n = malloc((size_t)o->populations * sizeof *pop_n);
    htsFile *fp = NULL;
    if (!h || !rec || !gt || !pop_count || !pop_n) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory for the truth VCF");
        goto out;
    }
    s = sim_truth_header(o, g, h);
    if (s != TSR_OK)
        goto out;
    fp = hts_open(tmp, "wz");
    if (!fp || bcf_hdr_write(fp, h) < 0) {
        s = tsr_error_set(TSR_ERR_IO, "cannot write '%s'", tmp);
        goto out;
    }
    for (int64_t k = 0; k < vs->n; k++) {
        s = sim_truth_record(o, g, vs, &vs->v[k], h, rec, gt, pop_count, pop_n);
        if (s != TSR_OK)
            goto out;
        if (bcf_write(fp, h, rec) < 0) {
            s = tsr_error_set(TSR_ERR_IO, "cannot write a record to '%s'", tmp);
            goto out;
        }
    }
    int rc = hts_close(fp);
    fp = NULL;
    if (rc < 0) {
        s = tsr_error_set(TSR_ERR_IO, "cannot finish '%s'", tmp);
        goto out;
    }
    if (tbx_index_build(tmp, 0, &tbx_conf_vcf) < 0) {
        s = tsr_error_set(TSR_ERR_IO, "cannot index '%s'", tmp);
        goto out;
    }
    s = sim_rename(tmptbi, tbi);
    if (s == TSR_OK)
        s = sim_rename(tmp, path);
out:
    if (fp)
        (void)hts_close(fp);
    if (s != TSR_OK) {
        remove(tmp);
        remove(tmptbi);
    }
    bcf_destroy(rec);
    if (h)
        bcf_hdr_destroy(h);
    free(gt);
    free(pop_count);
    free(pop_n);
    return s;
}

/* ------------------------------------------------------- samples.tsv */

static tsr_status_t sim_write_sheet(const tsr_sim_opts_t *o, const tsr_sim_varset_t *vs)
{
    char path[4096], tmp[4096];
    TSR_CALL(sim_path(path, sizeof path, o->outdir, "samples.tsv"));
    TSR_CALL(sim_path(tmp, sizeof tmp, o->outdir, "samples.tmp.tsv"));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    int bad = fputs(o->bam ? "sample\tpopulation\tbam\n" : "sample\tpopulation\tfastq1\tfastq2\n", fp) == EOF;
    for (int i = 0; i < o->n_samples && !bad; i++) {
        char id[32];
        tsr_sim_sample_id(i, o->n_samples, id, sizeof id);
        int pop = vs->sample_pop[i] + 1;
        if (o->bam)
            bad = fprintf(fp, "%s\tpop%d\tbam/%s.bam\n", id, pop, id) < 0;
        else
            bad = fprintf(fp, "%s\tpop%d\treads/%s_1.fastq.gz\treads/%s_2.fastq.gz\n", id, pop, id, id) < 0;
    }
    if (fclose(fp) != 0 || bad) {
        remove(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s' (disk full?)", tmp);
    }
    return sim_rename(tmp, path);
}

/* ------------------------------------------------------------ samples */

typedef struct sim_job {
    const tsr_sim_opts_t *o;
    const tsr_sim_genome_t *g;
    const tsr_sim_varset_t *vs;
    const tsr_sim_errmodel_t *em;
    tsr_sim_sample_stats_t *stats; /* per sample */
    pthread_mutex_t lock;
    int next, failed;
    tsr_status_t status; /* first failure */
    char msg[1024];
} sim_job_t;

static void *sim_worker(void *arg)
{
    sim_job_t *job = arg;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        int i = job->failed ? job->o->n_samples : job->next++;
        pthread_mutex_unlock(&job->lock);
        if (i >= job->o->n_samples)
            return NULL;
        tsr_error_clear();
        tsr_status_t s = tsr_sim_sample_reads(job->o, job->g, job->vs, job->em, i, &job->stats[i]);
        if (s != TSR_OK) {
            pthread_mutex_lock(&job->lock);
            if (!job->failed) {
                job->failed = 1;
                job->status = s;
                snprintf(job->msg, sizeof job->msg, "%s", tsr_error_msg());
            }
            pthread_mutex_unlock(&job->lock);
        }
    }
}

static tsr_status_t sim_run_samples(const tsr_sim_opts_t *o, const tsr_sim_genome_t *g, const tsr_sim_varset_t *vs,
                                    tsr_sim_sample_stats_t *stats)
{
    tsr_sim_errmodel_t *em = NULL;
    TSR_CALL(tsr_sim_errmodel_create(o->read_length, o->error_rate, &em));
    sim_job_t job = {.o = o, .g = g, .vs = vs, .em = em, .stats = stats};
    if (pthread_mutex_init(&job.lock, NULL) != 0) {
        tsr_sim_errmodel_destroy(&em);
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot create a mutex");
    }
    int nt = o->threads > 1 ? o->threads : 1;
    if (nt > o->n_samples)
        nt = o->n_samples;
    pthread_t *tid = calloc((size_t)nt, sizeof *tid);
    if (!tid) {
        pthread_mutex_destroy(&job.lock);
        tsr_sim_errmodel_destroy(&em);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    int started = 0;
    tsr_status_t s = TSR_OK;
    for (; started < nt - 1; started++) {
        int rc = pthread_create(&tid[started], NULL, sim_worker, &job);
        if (rc != 0) {
            s = tsr_error_set(TSR_ERR_INTERNAL, "cannot start a simulation thread: %s", strerror(rc));
            break;
        }
    }
    if (s == TSR_OK) {
        /* the calling thread works too; its error message is kept in job.msg like the others' */
        sim_worker(&job);
    } else {
        pthread_mutex_lock(&job.lock);
        job.failed = 1;
        pthread_mutex_unlock(&job.lock);
    }
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    free(tid);
    pthread_mutex_destroy(&job.lock);
    tsr_sim_errmodel_destroy(&em);
    if (s != TSR_OK)
        return s;
    if (job.failed) {
        tsr_error_clear();
        return tsr_error_set(job.status, "%s", job.msg);
    }
    return TSR_OK;
}

tsr_status_t tsr_simulate(const tsr_sim_opts_t *o, tsr_sim_summary_t *sum)
{
    TSR_CALL(tsr_sim_opts_check(o));
    memset(sum, 0, sizeof *sum);
    char path[4096];
    TSR_CALL(tsr_mkdir_p(o->outdir));
    TSR_CALL(sim_path(path, sizeof path, o->outdir, o->bam ? "bam" : "reads"));
    TSR_CALL(tsr_mkdir_p(path));
    TSR_CALL(sim_path(path, sizeof path, o->outdir, "samples.tsv"));
    if (unlink(path) != 0 && errno != ENOENT)
        return tsr_error_set(TSR_ERR_IO, "cannot replace '%s': %s", path, strerror(errno));

    tsr_sim_genome_t g;
    tsr_sim_varset_t vs;
    memset(&vs, 0, sizeof vs);
    tsr_sim_sample_stats_t *stats = NULL;
    TSR_CALL(tsr_sim_genome_build(o, &g));
    tsr_status_t s = TSR_OK;
    if (g.len < 1000 || g.len < 2 * (int64_t)o->read_length || g.len > INT32_MAX) {
        s = tsr_error_set(TSR_ERR_USAGE, "the reference piece %s is %lld bp; use 1000 bp to 2 Gbp (and at least twice "
                          "the read length)", g.name, (long long)g.len);
        goto out;
    }
    s = tsr_sim_varset_build(o, &g, &vs);
    if (s != TSR_OK)
        goto out;
    s = sim_write_ref(o->outdir, &g);
    if (s != TSR_OK)
        goto out;
    s = sim_write_truth(o, &g, &vs);
    if (s != TSR_OK)
        goto out;
    stats = calloc((size_t)o->n_samples, sizeof *stats);
    if (!stats) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    s = sim_run_samples(o, &g, &vs, stats);
    if (s != TSR_OK)
        goto out;
    s = sim_write_sheet(o, &vs);
    if (s != TSR_OK)
        goto out;

    sum->ref_length = g.len;
    for (int64_t k = 0; k < vs.n; k++) {
        sum->n_variants++;
        if (vs.v[k].is_indel)
            sum->n_indel++;
        else
            sum->n_snv++;
        sum->n_multiallelic += vs.v[k].n_alt > 1;
    }
    int64_t bases = 0, errors = 0;
    double cov = 0.0;
    for (int i = 0; i < o->n_samples; i++) {
        sum->n_read_pairs += stats[i].n_pairs;
        bases += stats[i].n_bases;
        errors += stats[i].n_sub_errors;
        cov += (double)stats[i].n_bases / (double)g.len;
    }
    sum->realised_coverage = cov / o->n_samples;
    sum->realised_error_rate = bases ? (double)errors / (double)bases : 0.0;
out:
    free(stats);
    tsr_sim_varset_free(&vs);
    tsr_sim_genome_free(&g);
    return s;
}
