/*
 * gvcf_export.c - `tessera export --gvcf SAMPLE`: one sample's gVCF from the
 * evidence partitions of a run (DIR/evidence/gGGGGG/<unit>/bNNNNN.h5, a
 * packed unit's file holding a member per region), for users
 * who feed other joint callers.
 *
 * Convention (bcftools' gVCF, the symbolic allele `<*>` that the partitions
 * already carry, with GATK's END and MIN_DP names): every candidate site the
 * sample has reads at is a record with the partition's alleles
 * "REF,ALT...,<*>", GT (the genotype of PL 0, no population prior), AD, DP
 * and PL; every reference-confidence block is a record with the reference
 * base at its start, ALT `<*>`, INFO/END, GT 0/0, DP = MIN_DP = the block's
 * minimum depth and PL from that depth (every read REF with error 0.01, the
 * joint kernel's block model). Positions with neither are not covered: a
 * joint caller must read them as missing. An SNV and an indel record at one
 * position are written as one record (write_site_pair). Units are visited in name order
 * (genome order by construction), members in order; the sample's batch file is found in the
 * first unit and must hold it in every unit.
 */
#include "io/io.h"

#include <htslib/bgzf.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TSR_GVCF_BLOCK_ERROR 0.01

/* Growing text buffer flushed to the BGZF stream. */
typedef struct gvcf_out {
    BGZF *fp;
    const char *path;
    tsr_status_t status;
} gvcf_out_t;

static void out_printf(gvcf_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(gvcf_out_t *o, const char *fmt, ...)
{
    if (o->status != TSR_OK)
        return;
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *big = NULL;
    if (n >= (int)sizeof buf) {
        big = malloc((size_t)n + 1);
        if (!big) {
            o->status = tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", o->path);
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    if (n < 0 || bgzf_write(o->fp, big ? big : buf, (size_t)n) != n)
        o->status = tsr_error_set(TSR_ERR_IO, "cannot write %s: %s", o->path, strerror(errno));
    free(big);
}

static int dir_filter(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Sorted entries of a directory (names only); *n = -1 when it cannot be read. */
static struct dirent **list_dir(const char *path, int *n)
{
    struct dirent **ents = NULL;
    *n = tsr_evidence_scandir(path, &ents, dir_filter); /* evidence containers' partitions too */
    return ents;
}

static void free_list(struct dirent **e, int n)
{
    for (int i = 0; i < n; i++)
        free(e[i]);
    free(e);
}

static int sample_index(const tsr_evidence_t *ev, const char *sample)
{
    for (int j = 0; j < ev->n_samples; j++)
        if (strcmp(ev->sample_ids[j], sample) == 0)
            return j;
    return -1;
}

static void write_site(gvcf_out_t *o, const tsr_evidence_t *ev, int64_t i, int j)
{
    int na = ev->n_alleles[i], G = na * (na + 1) / 2;
    int32_t dp = ev->dp[i * ev->n_samples + j];
    if (dp <= 0)
        return;
    const char *al = ev->allele_blob + ev->allele_off[i];
    int64_t len = ev->allele_off[i + 1] - ev->allele_off[i];
    const char *comma = memchr(al, ',', (size_t)len);
    int rl = (int)(comma - al);
    const int32_t *pl = ev->pl + ev->pl_off[i] + (int64_t)j * G;
    const int32_t *ad = ev->ad + ev->ad_off[i] + (int64_t)j * na;
    int ga = 0, gb = 0, best = INT32_MAX;
    for (int b = 0; b < na; b++)
        for (int a = 0; a <= b; a++)
            if (pl[b * (b + 1) / 2 + a] < best) {
                best = pl[b * (b + 1) / 2 + a];
                ga = a;
                gb = b;
            }
    out_printf(o, "%s\t%lld\t.\t%.*s\t%.*s\t.\t.\t.\tGT:AD:DP:PL\t%d/%d:", ev->contig, (long long)ev->pos[i] + 1, rl,
               al, (int)(len - rl - 1), comma + 1, ga, gb);
    for (int a = 0; a < na; a++)
        out_printf(o, "%s%d", a ? "," : "", ad[a]);
    out_printf(o, ":%d:", dp);
    for (int g = 0; g < G; g++)
        out_printf(o, "%s%d", g ? "," : "", pl[g]);
    out_printf(o, "\n");
}

/*
 * An SNV record i and an indel record k of one position, for one sample, as
 * one record (a gVCF has one record per position): REF the indel's (the
 * longer), the SNV's ALTs re-padded to it, then the indel's ALTs, then <*>.
 * As the joint kernel does, each record's likelihoods are mapped onto the
 * union (an allele a record did not list takes its <*>, except where its
 * kind cannot tell it from REF: an SNV record does not see an indel, an
 * indel record does not see a substitution; there REF's) and summed; AD
 * and DP are the larger of the two.
 */
static void write_site_pair(gvcf_out_t *o, const tsr_evidence_t *ev, int64_t i, int64_t k, int j)
{
    int32_t dps = ev->dp[i * ev->n_samples + j], dpi = ev->dp[k * ev->n_samples + j];
    if (dps <= 0 || dpi <= 0) {
        write_site(o, ev, i, j);
        write_site(o, ev, k, j);
        return;
    }
    int ns = ev->n_alleles[i], ni = ev->n_alleles[k];
    int n = ns + ni - 2, G = n * (n + 1) / 2; /* REF, SNV ALTs, indel ALTs, <*> */
    int ms[256], mi[256];
    if (n > 255) {
        write_site(o, ev, i, j);
        write_site(o, ev, k, j);
        return;
    }
    for (int u = 0; u < n; u++) {
        int snv_alt = u >= 1 && u < ns - 1, ind_alt = u >= ns - 1 && u < n - 1;
        ms[u] = u == 0 ? 0 : snv_alt ? u : ind_alt ? 0 : ns - 1;
        mi[u] = u == 0 ? 0 : snv_alt ? 0 : ind_alt ? u - (ns - 2) : ni - 1;
    }
    const int32_t *pls = ev->pl + ev->pl_off[i] + (int64_t)j * (ns * (ns + 1) / 2);
    const int32_t *pli = ev->pl + ev->pl_off[k] + (int64_t)j * (ni * (ni + 1) / 2);
    const int32_t *ads = ev->ad + ev->ad_off[i] + (int64_t)j * ns, *adi = ev->ad + ev->ad_off[k] + (int64_t)j * ni;
    int32_t pl[256 * 257 / 2], best = INT32_MAX;
    int ga = 0, gb = 0;
    for (int b = 0; b < n; b++)
        for (int a = 0; a <= b; a++) {
            int sa = ms[a] < ms[b] ? ms[a] : ms[b], sb = ms[a] < ms[b] ? ms[b] : ms[a];
            int ia = mi[a] < mi[b] ? mi[a] : mi[b], ib = mi[a] < mi[b] ? mi[b] : mi[a];
            int32_t v = pls[sb * (sb + 1) / 2 + sa] + pli[ib * (ib + 1) / 2 + ia];
            pl[b * (b + 1) / 2 + a] = v;
            if (v < best) {
                best = v;
                ga = a;
                gb = b;
            }
        }
    const char *als = ev->allele_blob + ev->allele_off[i], *ali = ev->allele_blob + ev->allele_off[k];
    int64_t lens = ev->allele_off[i + 1] - ev->allele_off[i], leni = ev->allele_off[k + 1] - ev->allele_off[k];
    const char *ci = memchr(ali, ',', (size_t)leni);
    int rl = (int)(ci - ali); /* the indel's REF: the SNV's REF base and the tail */
    out_printf(o, "%s\t%lld\t.\t%.*s\t", ev->contig, (long long)ev->pos[i] + 1, rl, ali);
    /* the SNV's ALTs (between its first comma and ",<*>"), each with the tail */
    const char *p = memchr(als, ',', (size_t)lens) + 1, *end = als + lens - 4;
    while (p < end) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        if (!q)
            q = end;
        out_printf(o, "%.*s%.*s,", (int)(q - p), p, rl - 1, ali + 1);
        p = q + 1;
    }
    out_printf(o, "%.*s\t.\t.\t.\tGT:AD:DP:PL\t%d/%d:", (int)(leni - rl - 1), ci + 1, ga, gb);
    for (int u = 0; u < n; u++) {
        int32_t a = u == 0 ? (ads[0] > adi[0] ? ads[0] : adi[0])
                    : u < ns - 1 ? ads[u]
                    : u < n - 1  ? adi[u - (ns - 2)]
                                 : (ads[ns - 1] > adi[ni - 1] ? ads[ns - 1] : adi[ni - 1]);
        out_printf(o, "%s%d", u ? "," : "", a);
    }
    out_printf(o, ":%d:", dps > dpi ? dps : dpi);
    for (int g = 0; g < G; g++)
        out_printf(o, "%s%d", g ? "," : "", pl[g] - best);
    out_printf(o, "\n");
}

static void write_block(gvcf_out_t *o, const tsr_evidence_t *ev, int64_t b, const char *ref_seq)
{
    int32_t d = ev->block_min_dp[b];
    double e = TSR_GVCF_BLOCK_ERROR, l2 = log10(1 - e), l1 = log10(0.5), l0 = log10(e);
    out_printf(o, "%s\t%lld\t.\t%c\t<*>\t.\t.\tEND=%lld\tGT:DP:MIN_DP:PL\t0/0:%d:%d:0,%ld,%ld\n", ev->contig,
               (long long)ev->block_start[b] + 1, ref_seq[ev->block_start[b] - ev->start],
               (long long)ev->block_end[b], d, d, lround(-10.0 * d * (l1 - l2)), lround(-10.0 * d * (l0 - l2)));
}

/* The sample's records of one partition, sites and blocks merged by position. */
static tsr_status_t write_partition(gvcf_out_t *o, const tsr_evidence_t *ev, int j, tsr_ref_t *ref)
{
    char *seq = NULL;
    int64_t len = 0;
    TSR_CALL(tsr_ref_fetch(ref, ev->contig, ev->start, ev->end, &seq, &len));
    if (len < ev->end - ev->start) {
        free(seq);
        return tsr_error_set(TSR_ERR_FORMAT, "gvcf: %s:%lld-%lld is beyond the reference (another reference?)",
                             ev->contig, (long long)ev->start + 1, (long long)ev->end);
    }
    int64_t b = 0, i = 0;
    while (b < ev->n_blocks && ev->block_sample[b] < j)
        b++;
    while (o->status == TSR_OK) {
        int have_b = b < ev->n_blocks && ev->block_sample[b] == j;
        if (!have_b && i >= ev->n_sites)
            break;
        if (have_b && (i >= ev->n_sites || ev->block_start[b] < ev->pos[i])) {
            write_block(o, ev, b++, seq);
        } else if (i + 1 < ev->n_sites && ev->pos[i + 1] == ev->pos[i] && ev->kind[i] == TSR_SITE_SNV &&
                   ev->kind[i + 1] == TSR_SITE_INDEL) {
            write_site_pair(o, ev, i, i + 1, j);
            i += 2;
        } else {
            write_site(o, ev, i++, j);
        }
    }
    free(seq);
    return o->status;
}

static tsr_status_t write_header(gvcf_out_t *o, tsr_ref_t *ref, const char *sample)
{
    out_printf(o, "##fileformat=VCFv4.2\n##FILTER=<ID=PASS,Description=\"All filters passed\">\n"
                  "##ALT=<ID=*,Description=\"Any allele not listed (gVCF, bcftools convention)\">\n"
                  "##INFO=<ID=END,Number=1,Type=Integer,Description=\"End position of the reference block\">\n"
                  "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype (PL 0, no population prior)\">\n"
                  "##FORMAT=<ID=AD,Number=R,Type=Integer,Description=\"Reads supporting each allele\">\n"
                  "##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Reads counted at the site\">\n"
                  "##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description=\"Minimum depth in the block\">\n"
                  "##FORMAT=<ID=PL,Number=G,Type=Integer,Description=\"Phred-scaled genotype likelihoods\">\n");
    for (int c = 0; c < tsr_ref_n_contigs(ref); c++)
        out_printf(o, "##contig=<ID=%s,length=%lld>\n", tsr_ref_contig_name(ref, c),
                   (long long)tsr_ref_contig_length(ref, c));
    out_printf(o, "##source=tessera export --gvcf\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t%s\n",
               sample);
    return o->status;
}

/*
 * The sample's records from one unit's directory udir: its batch file (found in the first unit and then
 * named `batch`), every member of a packed file in member (= genome) order.
 */
static tsr_status_t write_unit(gvcf_out_t *o, const tsr_gvcf_opts_t *opt, tsr_ref_t *ref, const char *udir,
                               char *batch, size_t batch_len, int64_t *n_parts)
{
    char path[8192], member[8300];
    tsr_status_t s = TSR_OK;
    if (!batch[0]) {
        int nf = 0, j = -1;
        struct dirent **files = list_dir(udir, &nf);
        for (int f = 0; f < nf && s == TSR_OK && j < 0; f++) {
            size_t l = strlen(files[f]->d_name);
            if (l < 4 || strcmp(files[f]->d_name + l - 3, ".h5") != 0)
                continue;
            int nm = 0;
            tsr_evidence_t *ev = NULL;
            snprintf(member, sizeof member, "%s/%s", udir, files[f]->d_name);
            tsr_evidence_resolve(member, path, sizeof path); /* in a container: its location */
            s = tsr_partition_members(path, &nm);
            snprintf(member, sizeof member, nm > 0 ? "%s#0" : "%s", path);
            if (s == TSR_OK)
                s = tsr_partition_read(member, &ev);
            if (s == TSR_OK && (j = sample_index(ev, opt->sample)) >= 0)
                snprintf(batch, batch_len, "%s", files[f]->d_name);
            tsr_evidence_destroy(&ev);
        }
        if (nf > 0)
            free_list(files, nf);
        if (s == TSR_OK && j < 0)
            s = tsr_error_set(TSR_ERR_USAGE, "sample %s is in no evidence partition of %s", opt->sample, udir);
    }
    int nm = 0;
    snprintf(member, sizeof member, "%s/%s", udir, batch);
    tsr_evidence_resolve(member, path, sizeof path); /* in a container: its location */
    if (s == TSR_OK)
        s = tsr_partition_members(path, &nm);
    for (int k = 0; k < (nm > 0 ? nm : 1) && s == TSR_OK; k++) {
        tsr_evidence_t *ev = NULL;
        int j = -1;
        if (nm > 0)
            snprintf(member, sizeof member, "%s#%d", path, k);
        else
            snprintf(member, sizeof member, "%s", path);
        s = tsr_partition_read(member, &ev);
        if (s == TSR_OK && (j = sample_index(ev, opt->sample)) < 0)
            s = tsr_error_set(TSR_ERR_FORMAT, "%s does not hold sample %s (partitions from another run?)", member,
                              opt->sample);
        if (s == TSR_OK) {
            s = write_partition(o, ev, j, ref);
            (*n_parts)++;
        }
        tsr_evidence_destroy(&ev);
    }
    return s;
}

/*
 * Every partition of the sample's batch, in genome order: evidence/gGGGGG/U/ directories in name order
 * (fixed-width numbers, so name order is genome order), then a packed file's members in order.
 */
static tsr_status_t write_body(gvcf_out_t *o, const tsr_gvcf_opts_t *opt, tsr_ref_t *ref, int64_t *n_parts)
{
    char path[4096], batch[256] = "";
    snprintf(path, sizeof path, "%s/evidence", opt->dir);
    int ng = 0;
    struct dirent **groups = list_dir(path, &ng);
    if (ng < 0)
        return tsr_error_set(TSR_ERR_IO, "%s: cannot read the evidence partitions (%s); is %s a finished run?", path,
                             strerror(errno), opt->dir);
    tsr_status_t s = TSR_OK;
    for (int g = 0; g < ng && s == TSR_OK; g++) {
        char gdir[4400];
        snprintf(gdir, sizeof gdir, "%s/evidence/%s", opt->dir, groups[g]->d_name);
        int nu = 0;
        struct dirent **units = list_dir(gdir, &nu);
        if (nu < 0)
            s = tsr_error_set(TSR_ERR_IO, "%s: cannot read: %s", gdir, strerror(errno));
        for (int u = 0; u < nu && s == TSR_OK; u++) {
            char udir[4700];
            snprintf(udir, sizeof udir, "%s/%s", gdir, units[u]->d_name);
            s = write_unit(o, opt, ref, udir, batch, sizeof batch, n_parts);
        }
        if (nu > 0)
            free_list(units, nu);
    }
    free_list(groups, ng);
    return s;
}

tsr_status_t tsr_gvcf_export(const tsr_gvcf_opts_t *opt, int64_t *n_parts)
{
    *n_parts = 0;
    if (!opt->dir || !opt->sample || !opt->ref || !opt->out)
        return tsr_error_set(TSR_ERR_USAGE, "gvcf export needs the run directory, a sample, --ref and an output");
    size_t l = strlen(opt->out);
    if (l < 7 || strcmp(opt->out + l - 7, ".vcf.gz") != 0)
        return tsr_error_set(TSR_ERR_USAGE, "gvcf output %s must end in .vcf.gz (bgzipped, indexed with .tbi, "
                             "or .csi past 2^29 bases)", opt->out);
    tsr_ref_t *ref = NULL;
    TSR_CALL(tsr_ref_open(opt->ref, &ref));
    int64_t max_len = 0;
    for (int c = 0; c < tsr_ref_n_contigs(ref); c++)
        if (tsr_ref_contig_length(ref, c) > max_len)
            max_len = tsr_ref_contig_length(ref, c);
    const char *ext = tsr_hts_index_ext(TSR_INDEX_VCF_GZ, max_len);
    char tmp[4200], tmp_tbi[4300], tbi[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld.vcf.gz", opt->out, (long)getpid());
    snprintf(tmp_tbi, sizeof tmp_tbi, "%s.%s", tmp, ext);
    snprintf(tbi, sizeof tbi, "%s.%s", opt->out, ext);
    gvcf_out_t o = {bgzf_open(tmp, "w"), tmp, TSR_OK};
    tsr_status_t s = TSR_OK;
    if (!o.fp)
        s = tsr_error_set(TSR_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (s == TSR_OK)
        s = write_header(&o, ref, opt->sample);
    if (s == TSR_OK)
        s = write_body(&o, opt, ref, n_parts);
    if (o.fp && bgzf_close(o.fp) != 0 && s == TSR_OK)
        s = tsr_error_set(TSR_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (s == TSR_OK)
        s = tsr_hts_index_build(tmp, TSR_INDEX_VCF_GZ, max_len, &ext);
    if (s == TSR_OK && (rename(tmp_tbi, tbi) != 0 || rename(tmp, opt->out) != 0))
        s = tsr_error_set(TSR_ERR_IO, "cannot rename %s to %s: %s", tmp, opt->out, strerror(errno));
    if (s != TSR_OK) {
        unlink(tmp);
        unlink(tmp_tbi);
    }
    tsr_ref_close(&ref);
    return s;
}
