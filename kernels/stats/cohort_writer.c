/*
 * cohort_writer.c - the serial cohort outputs: DIR/cohort.bcf (+ .csi) and
 * DIR/stats.tsv. (DIR/cohort.h5 is written collectively by every rank
 * afterwards: kernels/stats/cohort_h5.c.)
 *
 * Design. Call sets arrive one region at a time in genome order. For each
 * site the writer computes AC/AN/AF cohort-wide and per population from the
 * genotypes once, then hands the same numbers to the BCF record, the stats
 * line. Everything is written under "DIR/.tmp.<name>.<pid>" and renamed
 * by close(commit=1) after the CSI index is built on the closed temporary BCF;
 * close(commit=0) or any failure removes the temporary files. The headers
 * carry no version, date or command line, so the bytes depend only on the
 * input (schema and formats: io/cohort_schema.md). Every site also goes into
 * a cohort-wide accumulator (kernels/stats/cohort_reduce.c); commit writes its
 * statistics.json, sample_qc.tsv and report.html before the renames.
 * Low-pass call sets (DS present): the per-site numbers are replaced by the
 * likelihood-based ones (tsr_site_stats_lowpass; the hard-call AC stays as
 * AC_Hard), their header lines say so, and every site also goes into the
 * likelihood accumulator (kernels/stats/lowpass_stats.c: SFS, 2D SFS, F_ST,
 * heterozygosity), whose result statistics.json, sample_qc.tsv and the report
 * publish in place of the hard-call SFS and F_ST.
 */
#include "kernels/stats/stats_internal.h"

#include <errno.h>
#include <htslib/bgzf.h>
#include <htslib/hts.h>
#include <htslib/vcf.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OUT_BCF, OUT_CSI, OUT_TSV, N_OUT };

/* The per-group INFO fields, bcftools +fill-tags names (InbreedingCoeff as GATK names it). */
enum { K_AC, K_AN, K_AF, K_NS, K_AC_HET, K_AC_HOM, K_NHOMALT, K_F_MISSING, K_HWE, K_EXCHET, K_F, N_KEYS };
static const struct {
    const char *id, *number, *type, *desc;
} info_keys[N_KEYS] = {
    {"AC", "A", "Integer", "Allele count in called genotypes, per ALT allele"},
    {"AN", "1", "Integer", "Number of alleles in called genotypes"},
    {"AF", "A", "Float", "Allele frequency, AC/AN"},
    {"NS", "1", "Integer", "Number of samples with a called genotype"},
    {"AC_Het", "A", "Integer", "Allele counts in heterozygous diploid genotypes"},
    {"AC_Hom", "A", "Integer", "Allele counts in homozygous diploid genotypes"},
    {"nhomalt", "A", "Integer", "Number of samples homozygous for the ALT allele"},
    {"F_MISSING", "1", "Float", "Fraction of samples without a called genotype"},
    {"HWE", "A", "Float", "Hardy-Weinberg exact test p-value (PMID:15789306), ALT versus the other alleles"},
    {"ExcHet", "A", "Float", "Excess heterozygosity p-value, ALT versus the other alleles"},
    {"InbreedingCoeff", "1", "Float", "Inbreeding coefficient F = 1 - observed/expected heterozygous diploid calls"},
};
static const char *const out_names[N_OUT] = {"cohort.bcf", "cohort.bcf.csi", "stats.tsv"};
/* A part writes OUT_CSI's slot as its reductions' counts file (tsr_cohort_acc_counts_write). */
static const char *const part_ext[N_OUT] = {".bcf", ".acc", ".tsv"};
/* what the writer makes: the whole genome (the serial task), one part, or the final file from the parts */
enum { MODE_WHOLE, MODE_PART, MODE_CONCAT };
/* the empty BGZF block that ends a BGZF file (SAM/BAM specification, 4.1.2) */
static const unsigned char bgzf_eof[28] = {0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 'B', 'C',
                                           2, 0, 0x1b, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0};

struct tsr_cohort_writer {
    char *final[N_OUT], *tmp[N_OUT];
    htsFile *bcf;
    bcf_hdr_t *hdr;
    bcf1_t *rec;
    FILE *tsv;
    int n_samples, n_pops;
    char **keys; /* per statistics group (cohort, then populations): the INFO keys of info_keys[] + suffix */
    int pass_id, filter_id[TSR_FILTER_N];
    int failed;
    int hdr_written, lowpass; /* the header goes out with the first call set: DS/GP/AF_EM lines when it is low-pass */
    int last_rid;
    int64_t last_pos, n_sites;
    /* per-site scratch, grown as needed */
    int32_t *gt32, *fmt, *gt_stats;
    size_t fmt_cap;
    tsr_site_stats_t *st;
    float *fbuf;
    int fbuf_cap;
    tsr_str_t alleles, line;
    const char **allele_ptr;
    int allele_cap;
    tsr_cohort_acc_t *acc;
    tsr_lp_acc_t *lp_acc;   /* low-pass: the likelihood statistics */
    int32_t *ac_hard;       /* low-pass: the hard-call AC per group x ALT of the current site */
    int ac_hard_cap;
    char *outdir;
    int n_facts;
    char **fact_key, **fact_value;
    int mode;      /* MODE_* */
    FILE *raw;     /* MODE_CONCAT: the BCF being assembled from the parts' BGZF blocks */
    int n_parts;   /* MODE_CONCAT: parts appended so far */
};

static void writer_free(tsr_cohort_writer_t *w)
{
    if (w->rec)
        bcf_destroy(w->rec);
    if (w->hdr)
        bcf_hdr_destroy(w->hdr);
    for (int i = 0; i < N_OUT; i++) {
        free(w->final[i]);
        free(w->tmp[i]);
    }
    for (int i = 0; w->keys && i < N_KEYS * (w->n_pops + 1); i++)
        free(w->keys[i]);
    free(w->keys);
    free(w->gt32);
    free(w->fmt);
    free(w->gt_stats);
    free(w->fbuf);
    tsr_site_stats_destroy(&w->st);
    free(w->allele_ptr);
    tsr_str_free(&w->alleles);
    tsr_str_free(&w->line);
    tsr_cohort_acc_destroy(&w->acc);
    tsr_lp_acc_destroy(&w->lp_acc);
    free(w->ac_hard);
    for (int k = 0; k < w->n_facts; k++) {
        free(w->fact_key[k]);
        free(w->fact_value[k]);
    }
    free(w->fact_key);
    free(w->fact_value);
    free(w->outdir);
    free(w);
}

static tsr_status_t hdr_add(tsr_cohort_writer_t *w, const char *line)
{
    if (bcf_hdr_append(w->hdr, line) != 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot add header line '%s' to %s", line, w->final[OUT_BCF]);
    return TSR_OK;
}

static tsr_status_t build_header(tsr_cohort_writer_t *w, const tsr_ref_t *ref, const tsr_sheet_t *sheet)
{
    char line[1024];
    if (!(w->hdr = bcf_hdr_init("w")) || bcf_hdr_set_version(w->hdr, "VCFv4.3") != 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the header of %s", w->final[OUT_BCF]);
    TSR_CALL(hdr_add(w, "##source=tessera"));
    for (int i = 0; i < tsr_ref_n_contigs(ref); i++) {
        if (snprintf(line, sizeof line, "##contig=<ID=%s,length=%" PRId64 ">", tsr_ref_contig_name(ref, i),
                     tsr_ref_contig_length(ref, i)) >= (int)sizeof line)
            return tsr_error_set(TSR_ERR_FORMAT, "contig name '%s' is too long for the BCF header",
                                 tsr_ref_contig_name(ref, i));
        TSR_CALL(hdr_add(w, line));
    }
    for (int k = 0; k < TSR_FILTER_N; k++) {
        snprintf(line, sizeof line, "##FILTER=<ID=%s,Description=\"%s\">", tsr_filter_name(k),
                 tsr_filter_description(k));
        TSR_CALL(hdr_add(w, line));
    }
    for (int g = 0; g <= sheet->n_populations; g++)
        for (int k = 0; k < N_KEYS; k++) {
            const char *pop = g ? sheet->populations[g - 1] : "";
            int n = snprintf(line, sizeof line, "##INFO=<ID=%s,Number=%s,Type=%s,Description=\"%s%s%s\">",
                             w->keys[N_KEYS * g + k], info_keys[k].number, info_keys[k].type, info_keys[k].desc,
                             g ? " in population " : "", pop);
            if (n >= (int)sizeof line)
                return tsr_error_set(TSR_ERR_FORMAT, "population name '%s' is too long for the BCF header", pop);
            TSR_CALL(hdr_add(w, line));
        }
    TSR_CALL(hdr_add(w, "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">"));
    TSR_CALL(hdr_add(w, "##FORMAT=<ID=GQ,Number=1,Type=Integer,Description=\"Genotype quality\">"));
    TSR_CALL(hdr_add(w, "##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Read depth\">"));
    TSR_CALL(hdr_add(w, "##FORMAT=<ID=AD,Number=R,Type=Integer,Description=\"Read depth per allele\">"));
    TSR_CALL(hdr_add(w, "##FORMAT=<ID=PL,Number=G,Type=Integer,Description=\"Phred-scaled genotype "
                        "likelihoods\">"));
    for (int i = 0; i < sheet->n_samples; i++)
        if (bcf_hdr_add_sample(w->hdr, sheet->samples[i].id) != 0)
            return tsr_error_set(TSR_ERR_FORMAT, "cannot add sample '%s' to the header of %s",
                                 sheet->samples[i].id, w->final[OUT_BCF]);
    if (bcf_hdr_sync(w->hdr) != 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the header of %s", w->final[OUT_BCF]);
    w->pass_id = bcf_hdr_id2int(w->hdr, BCF_DT_ID, "PASS");
    for (int k = 0; k < TSR_FILTER_N; k++)
        w->filter_id[k] = bcf_hdr_id2int(w->hdr, BCF_DT_ID, tsr_filter_name(k));
    return TSR_OK;
}

static tsr_status_t write_tsv_header(tsr_cohort_writer_t *w, const tsr_sheet_t *sheet)
{
    tsr_str_t *s = &w->line;
    s->l = 0;
    const char *fixed = "CHROM\tPOS\tREF\tALT\tQUAL\tFILTER";
    if (tsr_str_putn(s, fixed, strlen(fixed)) != 0 ||
        tsr_site_stats_tsv_header(s, sheet->n_populations, sheet->populations) != 0 || tsr_str_putn(s, "\n", 1) != 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->final[OUT_TSV]);
    int e = fwrite(s->s, 1, s->l, w->tsv) != s->l;
    return e ? tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", w->tmp[OUT_TSV], strerror(errno)) : TSR_OK;
}

static void remove_tmp(tsr_cohort_writer_t *w)
{
    for (int i = 0; i < N_OUT; i++)
        if (w->tmp[i])
            unlink(w->tmp[i]);
}

static tsr_status_t open_outputs(tsr_cohort_writer_t *w, const char *outdir, const char *const names[N_OUT],
                                 const tsr_ref_t *ref, const tsr_sheet_t *sheet)
{
    for (int i = 0; i < N_OUT; i++) {
        if (!(w->final[i] = tsr_path_join(outdir, names[i])))
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening the cohort outputs in %s", outdir);
        size_t len = strlen(w->final[i]) + 64;
        if (!(w->tmp[i] = malloc(len)))
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening the cohort outputs in %s", outdir);
        TSR_CALL(tsr_output_tmpname(w->final[i], w->tmp[i], len));
    }
    w->n_samples = sheet->n_samples;
    w->n_pops = sheet->n_populations;
    TSR_CALL(tsr_site_stats_create(w->n_samples, sheet->sample_pop, w->n_pops, &w->st));
    const char **ids = malloc(((size_t)w->n_samples + 1) * sizeof *ids);
    if (!ids || !(w->outdir = strdup(outdir))) {
        free(ids);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening the cohort outputs in %s", outdir);
    }
    for (int j = 0; j < w->n_samples; j++)
        ids[j] = sheet->samples[j].id;
    tsr_status_t acc_st = tsr_cohort_acc_create(w->n_samples, ids, sheet->sample_pop, w->n_pops,
                                                (const char *const *)sheet->populations, &w->acc);
    free(ids);
    TSR_CALL(acc_st);
    TSR_CALL(tsr_lp_acc_create(w->n_samples, sheet->sample_pop, w->n_pops, 0, &w->lp_acc));
    if (!(w->keys = calloc((size_t)N_KEYS * (size_t)(w->n_pops + 1), sizeof *w->keys)))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", w->final[OUT_BCF]);
    for (int g = 0; g <= w->n_pops; g++) {
        const char *pop = g ? sheet->populations[g - 1] : "";
        for (int k = 0; k < N_KEYS; k++) {
            size_t len = strlen(info_keys[k].id) + strlen(pop) + 2;
            if (!(w->keys[N_KEYS * g + k] = malloc(len)))
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", w->final[OUT_BCF]);
            snprintf(w->keys[N_KEYS * g + k], len, "%s%s%s", info_keys[k].id, g ? "_" : "", pop);
        }
    }
    TSR_CALL(build_header(w, ref, sheet));
    if (!(w->rec = bcf_init()))
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", w->final[OUT_BCF]);
    if (w->mode == MODE_CONCAT ? !(w->raw = fopen(w->tmp[OUT_BCF], "wb")) : !(w->bcf = hts_open(w->tmp[OUT_BCF], "wb")))
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", w->tmp[OUT_BCF], strerror(errno));
    if (!(w->tsv = fopen(w->tmp[OUT_TSV], "w")))
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", w->tmp[OUT_TSV], strerror(errno));
    return w->mode == MODE_PART ? TSR_OK : write_tsv_header(w, sheet); /* the final file has the one header line */
}

/* Close every stream; returns the first error. Temporary files stay. */
static tsr_status_t close_streams(tsr_cohort_writer_t *w)
{
    tsr_status_t st = TSR_OK;
    if (w->bcf && hts_close(w->bcf) != 0 && st == TSR_OK)
        st = tsr_error_set(TSR_ERR_IO, "cannot finish '%s'; check free space", w->tmp[OUT_BCF]);
    w->bcf = NULL;
    if (w->raw && fclose(w->raw) != 0 && st == TSR_OK)
        st = tsr_error_set(TSR_ERR_IO, "cannot finish '%s': %s", w->tmp[OUT_BCF], strerror(errno));
    w->raw = NULL;
    if (w->tsv && fclose(w->tsv) != 0 && st == TSR_OK)
        st = tsr_error_set(TSR_ERR_IO, "cannot finish '%s': %s", w->tmp[OUT_TSV], strerror(errno));
    w->tsv = NULL;
    return st;
}

static tsr_status_t writer_open(const char *outdir, int mode, const char *const names[N_OUT], const tsr_ref_t *ref,
                                const tsr_sheet_t *sheet, tsr_cohort_writer_t **out)
{
    *out = NULL;
    TSR_CALL(tsr_mkdir_p(outdir));
    if (mode == MODE_PART) { /* the part's folder: names[0]'s */
        char *dir = tsr_path_join(outdir, names[0]);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash)
            *slash = '\0';
        tsr_status_t ds = dir ? tsr_mkdir_p(dir) : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
        free(dir);
        TSR_CALL(ds);
    }
    tsr_cohort_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening the cohort outputs in %s", outdir);
    w->last_rid = -1;
    w->last_pos = -1;
    w->mode = mode;
    tsr_status_t st = open_outputs(w, outdir, names, ref, sheet);
    if (st != TSR_OK) {
        if (close_streams(w) != TSR_OK)
            tsr_log_debug("closing the cohort outputs in %s after an error failed too", outdir);
        remove_tmp(w);
        writer_free(w);
        return st;
    }
    *out = w;
    return TSR_OK;
}

tsr_status_t tsr_cohort_writer_open(const char *outdir, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                    tsr_cohort_writer_t **out)
{
    return writer_open(outdir, MODE_WHOLE, out_names, ref, sheet, out);
}

/* cohort_parts/gGGGGG/pNNNNN.EXT, GGGGG = part / TSR_COHORT_PART_FANOUT: at most 3,000 files a folder. */
static void part_name(int part, int out, char *buf, size_t len)
{
    snprintf(buf, len, "%s/g%05d/p%05d%s", TSR_COHORT_PART_DIR, part / TSR_COHORT_PART_FANOUT, part, part_ext[out]);
}

void tsr_cohort_part_path(int part, int kind, char *buf, size_t len)
{
    part_name(part, kind == 0 ? OUT_BCF : kind == 1 ? OUT_TSV : OUT_CSI, buf, len);
}

tsr_status_t tsr_cohort_writer_open_part(const char *outdir, int part, const tsr_ref_t *ref,
                                         const tsr_sheet_t *sheet, tsr_cohort_writer_t **out)
{
    char names[N_OUT][64];
    const char *np[N_OUT];
    for (int i = 0; i < N_OUT; i++) {
        part_name(part, i, names[i], sizeof names[i]);
        np[i] = names[i];
    }
    return writer_open(outdir, MODE_PART, np, ref, sheet, out);
}

tsr_status_t tsr_cohort_writer_open_concat(const char *outdir, const tsr_ref_t *ref, const tsr_sheet_t *sheet,
                                           tsr_cohort_writer_t **out)
{
    return writer_open(outdir, MODE_CONCAT, out_names, ref, sheet, out);
}

/* Copy bytes [from, to) of fp (named name) to out (named oname). */
static tsr_status_t copy_range(FILE *fp, const char *name, int64_t from, int64_t to, FILE *out, const char *oname,
                               int64_t *n_lines)
{
    char buf[1 << 16];
    if (fseeko(fp, (off_t)from, SEEK_SET) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", name, strerror(errno));
    for (int64_t left = to - from; left > 0;) {
        size_t m = left < (int64_t)sizeof buf ? (size_t)left : sizeof buf;
        if (fread(buf, 1, m, fp) != m)
            return tsr_error_set(TSR_ERR_FORMAT, "'%s' is shorter than it was a moment ago; re-run its cohort task",
                                 name);
        for (size_t k = 0; n_lines && k < m; k++)
            *n_lines += buf[k] == '\n';
        if (fwrite(buf, 1, m, out) != m)
            return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", oname, tsr_write_failure_reason(oname, errno));
        left -= (int64_t)m;
    }
    return TSR_OK;
}

/*
 * The BGZF bytes of a part's records: the header ends a BGZF block
 * (write_header flushes it in a part), so [*from, *to) is whole blocks, the header's
 * (part 0) or not, and never the EOF block.
 */
static tsr_status_t part_bcf_span(const char *path, int with_header, int64_t *from, int64_t *to)
{
    htsFile *in = hts_open(path, "r");
    bcf_hdr_t *h = in && in->format.format == bcf && in->format.compression == bgzf ? bcf_hdr_read(in) : NULL;
    int64_t voff = h ? bgzf_tell(in->fp.bgzf) : -1;
    if (h)
        bcf_hdr_destroy(h);
    if (in)
        hts_close(in);
    if (voff < 0)
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a BGZF BCF with a header; re-run its cohort task (remove "
                             "it and run again)", path);
    if (voff & 0xffff)
        return tsr_error_set(TSR_ERR_FORMAT, "the header of '%s' does not end a BGZF block; its records cannot be "
                             "copied as blocks", path);
    FILE *fp = fopen(path, "rb");
    unsigned char tail[28];
    int ok = fp && fseeko(fp, -28, SEEK_END) == 0 && fread(tail, 1, 28, fp) == 28 && !memcmp(tail, bgzf_eof, 28);
    int64_t size = ok ? (int64_t)ftello(fp) : -1;
    if (fp)
        fclose(fp);
    if (!ok || size - 28 < (voff >> 16))
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' does not end with the BGZF EOF block (a part cut short); re-run "
                             "its cohort task", path);
    *from = with_header ? 0 : voff >> 16;
    *to = size - 28;
    return TSR_OK;
}

tsr_status_t tsr_cohort_writer_add_part(tsr_cohort_writer_t *w, int part)
{
    if (w->mode != MODE_CONCAT || w->failed)
        return tsr_error_set(TSR_ERR_STATE, "the cohort writer for %s takes no parts%s", w->final[OUT_BCF],
                             w->failed ? " (an earlier write failed)" : "");
    char rel[3][64], *path[3] = {NULL, NULL, NULL};
    tsr_status_t st = TSR_OK;
    for (int k = 0; k < 3 && st == TSR_OK; k++) {
        tsr_cohort_part_path(part, k, rel[k], sizeof rel[k]);
        if (!(path[k] = tsr_path_join(w->outdir, rel[k])))
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    int64_t from = 0, to = 0, lines = 0;
    if (st == TSR_OK)
        st = part_bcf_span(path[0], w->n_parts == 0, &from, &to);
    for (int k = 0; k < 3 && st == TSR_OK; k++) {
        FILE *fp = fopen(path[k], "rb");
        if (!fp) {
            st = tsr_error_set(TSR_ERR_IO, "cannot open '%s': %s; re-run its cohort task", path[k], strerror(errno));
            break;
        }
        if (k == 0) {
            st = copy_range(fp, path[k], from, to, w->raw, w->tmp[OUT_BCF], NULL);
        } else if (k == 1) {
            int64_t size = fseeko(fp, 0, SEEK_END) == 0 ? (int64_t)ftello(fp) : -1;
            st = size < 0 ? tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s", path[k], strerror(errno))
                          : copy_range(fp, path[k], 0, size, w->tsv, w->tmp[OUT_TSV], &lines);
        } else {
            st = tsr_cohort_acc_counts_add(w->acc, fp, path[k]);
        }
        fclose(fp);
    }
    for (int k = 0; k < 3; k++)
        free(path[k]);
    if (st != TSR_OK) {
        w->failed = 1;
        return st;
    }
    w->n_parts++;
    w->n_sites += lines; /* one stats.tsv line a site */
    return TSR_OK;
}

void tsr_cohort_writer_set_lp_power(tsr_cohort_writer_t *w, tsr_lp_power_fn fn)
{
    if (w && w->lp_acc)
        tsr_lp_acc_set_power(w->lp_acc, fn);
}

int64_t tsr_cohort_writer_n_sites(const tsr_cohort_writer_t *w) { return w->n_sites; }

static tsr_status_t reserve_scratch(tsr_cohort_writer_t *w, int n_alleles)
{
    size_t G = (size_t)n_alleles * (size_t)(n_alleles + 1) / 2;
    size_t need = (size_t)w->n_samples * (G > 2 ? G : 2);
    if (need > w->fmt_cap) {
        free(w->fmt);
        free(w->gt32);
        free(w->gt_stats);
        w->fmt = malloc(need * sizeof *w->fmt);
        w->gt32 = malloc(need * sizeof *w->gt32);
        w->gt_stats = malloc(need * sizeof *w->gt_stats);
        if (!w->fmt || !w->gt32 || !w->gt_stats) {
            w->fmt_cap = 0;
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->final[OUT_BCF]);
        }
        w->fmt_cap = need;
    }
    if (n_alleles > w->fbuf_cap) {
        float *f = realloc(w->fbuf, (size_t)n_alleles * sizeof *f);
        if (!f)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->final[OUT_BCF]);
        w->fbuf = f;
        w->fbuf_cap = n_alleles;
    }
    if (n_alleles > w->allele_cap) {
        const char **p = realloc(w->allele_ptr, (size_t)n_alleles * sizeof *p);
        if (!p)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->final[OUT_BCF]);
        w->allele_ptr = p;
        w->allele_cap = n_alleles;
    }
    return TSR_OK;
}

/* Check one site of `cs` against the contract in io.h and split its alleles. */
static tsr_status_t check_site(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i, int rid)
{
    int n = cs->n_alleles[i];
    int64_t a0 = cs->allele_off[i], a1 = cs->allele_off[i + 1];
    if (n < 1 || a1 <= a0)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s site %" PRId64 ": no alleles", cs->contig, i);
    if (rid < w->last_rid || (rid == w->last_rid && cs->pos[i] < w->last_pos))
        return tsr_error_set(TSR_ERR_INTERNAL,
                             "call set %s:%" PRId64 " reached the cohort writer out of genome order (after "
                             "position %" PRId64 ")",
                             cs->contig, cs->pos[i] + 1, w->last_pos + 1);
    if (cs->filter[i] >> TSR_FILTER_N)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s:%" PRId64 ": unknown filter bits 0x%x", cs->contig,
                             cs->pos[i] + 1, cs->filter[i]);
    TSR_CALL(reserve_scratch(w, n));
    w->alleles.l = 0;
    if (tsr_str_putn(&w->alleles, cs->allele_blob + a0, (size_t)(a1 - a0)) != 0)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->final[OUT_BCF]);
    int k = 0;
    char *p = w->alleles.s;
    w->allele_ptr[k++] = p;
    for (; *p; p++) {
        if (*p != ',')
            continue;
        *p = '\0';
        if (k == n)
            break;
        w->allele_ptr[k++] = p + 1;
    }
    if (k != n || *p)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s:%" PRId64 ": n_alleles is %d but the alleles are '%.*s'",
                             cs->contig, cs->pos[i] + 1, n, (int)(a1 - a0), cs->allele_blob + a0);
    size_t G = (size_t)n * (size_t)(n + 1) / 2, S = (size_t)w->n_samples;
    if (cs->ad && (size_t)(cs->ad_off[i + 1] - cs->ad_off[i]) != S * (size_t)n)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s:%" PRId64 ": AD holds %" PRId64 " values, not %zu",
                             cs->contig, cs->pos[i] + 1, cs->ad_off[i + 1] - cs->ad_off[i], S * (size_t)n);
    if (cs->pl && (size_t)(cs->pl_off[i + 1] - cs->pl_off[i]) != S * G)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s:%" PRId64 ": PL holds %" PRId64 " values, not %zu",
                             cs->contig, cs->pos[i] + 1, cs->pl_off[i + 1] - cs->pl_off[i], S * G);
    return TSR_OK;
}

/* Every per-site statistic for the cohort (group 0) and each population (group 1+p). */
static tsr_status_t site_stats(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i)
{
    const int8_t *gt = cs->gt + (size_t)i * (size_t)w->n_samples * 2;
    for (int k = 0; k < 2 * w->n_samples; k++) /* -2: a haploid call's absent second allele (sample QC counts it called) */
        w->gt_stats[k] = gt[k] == -2 ? -2 : gt[k] < 0 ? -1 : gt[k];
    int rc = tsr_site_stats_compute(w->st, w->gt_stats, cs->n_alleles[i]);
    if (rc == INT32_MIN)
        return TSR_ERR_NOMEM;
    if (rc < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s:%" PRId64 ": a genotype allele of sample %d is beyond "
                             "the site's %d alleles", cs->contig, cs->pos[i] + 1, -1 - rc, cs->n_alleles[i]);
    return TSR_OK;
}

static tsr_status_t put_info_f(tsr_cohort_writer_t *w, const char *key, const float *fv, const double *dv, int n)
{
    for (int a = 0; a < n; a++) {
        w->fbuf[a] = fv ? fv[a] : (float)dv[a];
        if (isnan(w->fbuf[a]))
            bcf_float_set_missing(w->fbuf[a]);
    }
    if (bcf_update_info_float(w->hdr, w->rec, key, w->fbuf, n) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set INFO %s in %s", key, w->final[OUT_BCF]);
    return TSR_OK;
}

static tsr_status_t put_info_i(tsr_cohort_writer_t *w, const char *key, const int32_t *v, int n)
{
    if (bcf_update_info_int32(w->hdr, w->rec, key, v, n) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set INFO %s in %s", key, w->final[OUT_BCF]);
    return TSR_OK;
}

/* The INFO fields of statistics group g. */
static tsr_status_t set_info(tsr_cohort_writer_t *w, int g, int n_alt)
{
    const tsr_site_stats_t *st = w->st;
    char *const *key = w->keys + (size_t)N_KEYS * g;
    const size_t o = (size_t)g * (size_t)n_alt;
    TSR_CALL(put_info_i(w, key[K_AN], &st->an[g], 1));
    TSR_CALL(put_info_i(w, key[K_NS], &st->ns[g], 1));
    TSR_CALL(put_info_f(w, key[K_F_MISSING], &st->f_missing[g], NULL, 1));
    TSR_CALL(put_info_f(w, key[K_F], NULL, &st->inbreeding[g], 1));
    if (n_alt == 0)
        return TSR_OK;
    TSR_CALL(put_info_i(w, key[K_AC], st->ac + o, n_alt));
    if (w->lowpass) {
        char hk[512];
        snprintf(hk, sizeof hk, "AC_Hard%s%s", g ? "_" : "", g ? key[K_AC] + strlen("AC_") : "");
        TSR_CALL(put_info_i(w, hk, w->ac_hard + o, n_alt));
    }
    TSR_CALL(put_info_f(w, key[K_AF], st->af + o, NULL, n_alt));
    TSR_CALL(put_info_i(w, key[K_AC_HET], st->ac_het + o, n_alt));
    TSR_CALL(put_info_i(w, key[K_AC_HOM], st->ac_hom + o, n_alt));
    TSR_CALL(put_info_i(w, key[K_NHOMALT], st->nhomalt + o, n_alt));
    TSR_CALL(put_info_f(w, key[K_HWE], NULL, st->hwe + o, n_alt));
    TSR_CALL(put_info_f(w, key[K_EXCHET], NULL, st->exchet + o, n_alt));
    return TSR_OK;
}

static tsr_status_t set_format(tsr_cohort_writer_t *w, const char *key, const int32_t *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        w->fmt[k] = v[k] < 0 ? bcf_int32_missing : v[k];
    if (bcf_update_format_int32(w->hdr, w->rec, key, w->fmt, (int)n) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set FORMAT %s in %s", key, w->final[OUT_BCF]);
    return TSR_OK;
}

static tsr_status_t set_lowpass(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i);

/* Index of the homozygous genotype a/a among the diploid genotypes, VCF order. */
static inline int hom_index(int a) { return a * (a + 1) / 2 + a; }

/*
 * FORMAT PL: a diploid sample's G values; a haploid one's (GT a/-2 in the call
 * set) n values, its homozygous genotypes' PL less their least, then vector end.
 */
static tsr_status_t set_pl(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i)
{
    const size_t S = (size_t)w->n_samples, G = (size_t)(cs->pl_off[i + 1] - cs->pl_off[i]) / (S ? S : 1);
    const int n = cs->n_alleles[i];
    const int8_t *gt = cs->gt + (size_t)i * S * 2;
    const int32_t *pl = cs->pl + cs->pl_off[i];
    for (size_t j = 0; j < S; j++) {
        const int32_t *p = pl + j * G;
        int32_t *o = w->fmt + j * G;
        if (gt[2 * j + 1] != -2) {
            for (size_t g = 0; g < G; g++)
                o[g] = p[g] < 0 ? bcf_int32_missing : p[g];
            continue;
        }
        int32_t least = INT32_MAX;
        for (int a = 0; a < n; a++)
            if (p[hom_index(a)] >= 0 && p[hom_index(a)] < least)
                least = p[hom_index(a)];
        for (size_t g = 0; g < G; g++) {
            int32_t v = (int)g < n ? p[hom_index((int)g)] : -2;
            o[g] = v == -2 || (g > 0 && gt[2 * j] < 0) ? bcf_int32_vector_end /* missing or ploidy 0: one `.` */
                   : v < 0                            ? bcf_int32_missing
                                                      : v - least;
        }
    }
    if (bcf_update_format_int32(w->hdr, w->rec, "PL", w->fmt, (int)(S * G)) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set FORMAT PL in %s", w->final[OUT_BCF]);
    return TSR_OK;
}

static tsr_status_t write_bcf_record(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i, int rid)
{
    const int n = cs->n_alleles[i], S = w->n_samples;
    bcf1_t *rec = w->rec;
    bcf_clear(rec);
    rec->rid = rid;
    rec->pos = cs->pos[i];
    if (bcf_update_alleles(w->hdr, rec, w->allele_ptr, n) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set alleles in %s", w->final[OUT_BCF]);
    if (isnan(cs->qual[i]))
        bcf_float_set_missing(rec->qual);
    else
        rec->qual = cs->qual[i];
    int fid[TSR_FILTER_N], nf = 0;
    for (int k = 0; k < TSR_FILTER_N; k++)
        if (cs->filter[i] & (1u << k))
            fid[nf++] = w->filter_id[k];
    if (nf == 0)
        fid[nf++] = w->pass_id;
    if (bcf_update_filter(w->hdr, rec, fid, nf) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set FILTER in %s", w->final[OUT_BCF]);
    for (int g = 0; g <= w->n_pops; g++)
        TSR_CALL(set_info(w, g, n - 1));
    const int8_t *gt = cs->gt + (size_t)i * (size_t)S * 2;
    for (int k = 0; k < 2 * S; k++)
        w->gt32[k] = gt[k] == -2 ? bcf_int32_vector_end : gt[k] < 0 ? bcf_gt_missing : bcf_gt_unphased(gt[k]);
    if (bcf_update_genotypes(w->hdr, rec, w->gt32, 2 * S) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set FORMAT GT in %s", w->final[OUT_BCF]);
    if (cs->gq)
        TSR_CALL(set_format(w, "GQ", cs->gq + (size_t)i * S, (size_t)S));
    if (cs->dp)
        TSR_CALL(set_format(w, "DP", cs->dp + (size_t)i * S, (size_t)S));
    if (cs->ad)
        TSR_CALL(set_format(w, "AD", cs->ad + cs->ad_off[i], (size_t)S * (size_t)n));
    if (cs->pl)
        TSR_CALL(set_pl(w, cs, i));
    if (w->lowpass && cs->ds)
        TSR_CALL(set_lowpass(w, cs, i));
    if (bcf_write(w->bcf, w->hdr, rec) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': check free space", w->tmp[OUT_BCF]);
    return TSR_OK;
}

static int put_float(tsr_str_t *s, float f)
{
    char b[32];
    int n = isnan(f) ? snprintf(b, sizeof b, ".") : snprintf(b, sizeof b, "%g", (double)f);
    return tsr_str_putn(s, b, (size_t)n);
}

static int put_int(tsr_str_t *s, int64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    return tsr_str_putn(s, b, (size_t)n);
}

static tsr_status_t write_tsv_line(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i)
{
    const int n = cs->n_alleles[i];
    tsr_str_t *s = &w->line;
    s->l = 0;
    int e = tsr_str_putn(s, cs->contig, strlen(cs->contig)) | tsr_str_putn(s, "\t", 1) |
            put_int(s, cs->pos[i] + 1) | tsr_str_putn(s, "\t", 1) |
            tsr_str_putn(s, w->allele_ptr[0], strlen(w->allele_ptr[0])) | tsr_str_putn(s, "\t", 1);
    for (int a = 1; a < n; a++)
        e |= (a > 1 ? tsr_str_putn(s, ",", 1) : 0) | tsr_str_putn(s, w->allele_ptr[a], strlen(w->allele_ptr[a]));
    if (n == 1)
        e |= tsr_str_putn(s, ".", 1);
    e |= tsr_str_putn(s, "\t", 1) | put_float(s, cs->qual[i]) | tsr_str_putn(s, "\t", 1);
    if (cs->filter[i] == 0)
        e |= tsr_str_putn(s, "PASS", 4);
    for (int k = 0, nf = 0; k < TSR_FILTER_N; k++)
        if (cs->filter[i] & (1u << k))
            e |= (nf++ ? tsr_str_putn(s, ";", 1) : 0) | tsr_str_putn(s, tsr_filter_name(k), strlen(tsr_filter_name(k)));
    e |= tsr_site_stats_tsv_values(s, w->st);
    e |= tsr_str_putn(s, "\n", 1);
    if (e)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->final[OUT_TSV]);
    if (fwrite(s->s, 1, s->l, w->tsv) != s->l)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", w->tmp[OUT_TSV], strerror(errno));
    return TSR_OK;
}

/*
 * Low-pass: keep the hard-call AC (AC_Hard), replace the published per-site
 * statistics by the likelihood-based ones and add the site to the
 * likelihood accumulator (SFS, F_ST, heterozygosity).
 */
static tsr_status_t lowpass_stats(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i)
{
    const int n_alt = cs->n_alleles[i] - 1, need = (w->n_pops + 1) * (n_alt > 0 ? n_alt : 1);
    if (need > w->ac_hard_cap) {
        int32_t *p = realloc(w->ac_hard, (size_t)need * sizeof *p);
        if (!p)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory writing %s", w->final[OUT_BCF]);
        w->ac_hard = p;
        w->ac_hard_cap = need;
    }
    memcpy(w->ac_hard, w->st->ac, (size_t)(w->n_pops + 1) * (size_t)n_alt * sizeof *w->ac_hard);
    if (!cs->pl || tsr_site_stats_lowpass(w->st, cs, i) != 0)
        return cs->pl ? TSR_ERR_NOMEM
                      : tsr_error_set(TSR_ERR_INTERNAL, "low-pass call set %s has no PL", cs->contig);
    int bisnv = cs->n_alleles[i] == 2 && strlen(w->allele_ptr[0]) == 1 && strlen(w->allele_ptr[1]) == 1;
    char snv[4] = {bisnv ? w->allele_ptr[0][0] : 0, ',', bisnv ? w->allele_ptr[1][0] : 0, 0};
    return tsr_lp_acc_add_site(w->lp_acc, cs, i, snv, bisnv);
}

static tsr_status_t add_callset(tsr_cohort_writer_t *w, const tsr_callset_t *cs)
{
    if (cs->n_sites == 0)
        return TSR_OK;
    if (cs->n_samples != w->n_samples)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set %s has %d samples but the sheet has %d", cs->contig,
                             cs->n_samples, w->n_samples);
    int rid = bcf_hdr_name2id(w->hdr, cs->contig);
    if (rid < 0)
        return tsr_error_set(TSR_ERR_INTERNAL, "call set contig '%s' is not in the reference", cs->contig);
    for (int64_t i = 0; i < cs->n_sites; i++) {
        TSR_CALL(check_site(w, cs, i, rid));
        TSR_CALL(site_stats(w, cs, i));
        if (w->lowpass)
            TSR_CALL(lowpass_stats(w, cs, i));
        TSR_CALL(write_bcf_record(w, cs, i, rid));
        TSR_CALL(write_tsv_line(w, cs, i));
        TSR_CALL(tsr_cohort_acc_add_site_af(w->acc, w->allele_ptr, cs->n_alleles[i], w->gt_stats,
                                            cs->dp ? cs->dp + (size_t)i * (size_t)w->n_samples : NULL,
                                            w->lowpass ? w->st->af : NULL));
        w->last_rid = rid;
        w->last_pos = cs->pos[i];
        w->n_sites++;
    }
    return TSR_OK;
}

/*
 * Low-pass INFO definitions: the same keys carry likelihood-based values, so
 * their header lines are replaced by ones that say how each was estimated,
 * and AC_Hard keeps the hard-call count.
 */
static const struct {
    int key;
    const char *type, *desc;
} lowpass_keys[] = {
    {K_AC, "Integer", "Expected ALT allele count, round(AF x AN), AF the EM estimate from genotype likelihoods"},
    {K_AN, "Integer", "Number of alleles of the samples with reads at the site (2 x NS)"},
    {K_AF, "Float", "Allele frequency by EM over genotype likelihoods (samples with reads)"},
    {K_NS, "Integer", "Number of samples with reads at the site"},
    {K_AC_HET, "Integer", "Expected ALT count in heterozygous genotypes: EM genotype frequency (no HWE "
                          "constraint, from genotype likelihoods) x NS, rounded"},
    {K_AC_HOM, "Integer", "Expected ALT count in homozygous genotypes: 2 x nhomalt"},
    {K_NHOMALT, "Integer", "Expected samples homozygous for the ALT: EM genotype frequency (no HWE constraint, "
                           "from genotype likelihoods) x NS, rounded"},
    {K_F_MISSING, "Float", "Fraction of samples without reads at the site"},
    {K_HWE, "Float", "Hardy-Weinberg p-value from genotype likelihoods: score test of F = 0 at the EM allele "
                     "frequency, its null distribution given each sample's read count (saddlepoint), two-sided, ALT "
                     "versus the other alleles; 1 where the samples' reads show one allele only"},
    {K_EXCHET, "Float", "Excess heterozygosity p-value, the same score test one-sided (F < 0)"},
    {K_F, "Float", "Inbreeding coefficient F = 1 - g_het / (2p(1-p)) from EM genotype frequencies over genotype "
                   "likelihoods (first ALT)"},
};

static tsr_status_t lowpass_header(tsr_cohort_writer_t *w)
{
    char line[1024];
    for (int g = 0; g <= w->n_pops; g++) {
        const char *pop = g ? w->keys[N_KEYS * g + K_AC] + strlen("AC_") : "";
        for (size_t k = 0; k < sizeof lowpass_keys / sizeof *lowpass_keys; k++) {
            const int key = lowpass_keys[k].key;
            bcf_hdr_remove(w->hdr, BCF_HL_INFO, w->keys[N_KEYS * g + key]);
            int n = snprintf(line, sizeof line, "##INFO=<ID=%s,Number=%s,Type=%s,Description=\"%s%s%s\">",
                             w->keys[N_KEYS * g + key], info_keys[key].number, lowpass_keys[k].type,
                             lowpass_keys[k].desc, g ? " in population " : "", pop);
            if (n >= (int)sizeof line)
                return tsr_error_set(TSR_ERR_FORMAT, "population name '%s' is too long for the BCF header", pop);
            TSR_CALL(hdr_add(w, line));
        }
        int n = snprintf(line, sizeof line, "##INFO=<ID=AC_Hard%s%s,Number=A,Type=Integer,Description=\"Allele "
                         "count in hard genotype calls (GT, posterior mode), per ALT allele%s%s\">", g ? "_" : "",
                         pop, g ? " in population " : "", pop);
        if (n >= (int)sizeof line)
            return tsr_error_set(TSR_ERR_FORMAT, "population name '%s' is too long for the BCF header", pop);
        TSR_CALL(hdr_add(w, line));
    }
    return TSR_OK;
}

/*
 * Write the BCF header, once: low-pass call sets (ds present) add FORMAT
 * DS and GP and INFO AF_EM (cohort and per population, the EM frequencies).
 */
static tsr_status_t write_header(tsr_cohort_writer_t *w, int lowpass)
{
    if (w->hdr_written)
        return TSR_OK;
    w->lowpass = lowpass;
    if (lowpass) {
        char line[1024];
        TSR_CALL(lowpass_header(w));
        TSR_CALL(hdr_add(w, "##FORMAT=<ID=DS,Number=1,Type=Float,Description=\"Expected ALT dosage (posterior "
                            "mean of ALT copies, summed over ALTs)\">"));
        TSR_CALL(hdr_add(w, "##FORMAT=<ID=GP,Number=G,Type=Float,Description=\"Genotype posterior probabilities "
                            "(population allele frequency as prior)\">"));
        for (int g = 0; g <= w->n_pops; g++) {
            const char *key = w->keys[N_KEYS * g + K_AF], *pop = g ? key + strlen("AF_") : "";
            int n = snprintf(line, sizeof line, "##INFO=<ID=AF_EM%s%s,Number=A,Type=Float,Description=\"Allele "
                             "frequency by EM over genotype likelihoods%s%s\">", g ? "_" : "", pop,
                             g ? " in population " : "", pop);
            if (n >= (int)sizeof line)
                return tsr_error_set(TSR_ERR_FORMAT, "population name '%s' is too long for the BCF header", pop);
            TSR_CALL(hdr_add(w, line));
        }
        if (bcf_hdr_sync(w->hdr) != 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the header of %s", w->final[OUT_BCF]);
        /* low-pass writes cohort.bcf in one serial task (DS, GP, PL of every sample): BGZF at level 1 takes
           a fifth of the CPU of the default level for 16 % more bytes (20,000 samples x 240 sites: 1.34 ->
           0.27 CPU s, 8.4 -> 9.8 MB); nothing has been written yet, so every block has the one level */
        if (w->bcf && hts_set_opt(w->bcf, HTS_OPT_COMPRESSION_LEVEL, 1) != 0)
            return tsr_error_set(TSR_ERR_IO, "cannot set the compression level of '%s'", w->tmp[OUT_BCF]);
    }
    if (bcf_hdr_write(w->bcf, w->hdr) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot write the header of '%s': %s", w->tmp[OUT_BCF], strerror(errno));
    /* a part's records start a BGZF block, so the final task copies them as blocks without its header */
    if (w->mode == MODE_PART && bgzf_flush(w->bcf->fp.bgzf) != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot write the header of '%s': %s", w->tmp[OUT_BCF],
                             tsr_write_failure_reason(w->tmp[OUT_BCF], errno));
    w->hdr_written = 1;
    return TSR_OK;
}

/* The low-pass fields of site i: INFO AF_EM (cohort, populations), FORMAT DS and GP. */
static tsr_status_t set_lowpass(tsr_cohort_writer_t *w, const tsr_callset_t *cs, int64_t i)
{
    const int n = cs->n_alleles[i], S = w->n_samples;
    char key[512];
    for (int g = 0; g <= w->n_pops && n > 1; g++) {
        const float *f = g == 0 ? cs->af + cs->af_off[i]
                                : cs->pop_af ? cs->pop_af + cs->af_off[i] * cs->n_pops + (int64_t)(g - 1) * n : NULL;
        if (!f || (g > 0 && g > cs->n_pops))
            continue;
        snprintf(key, sizeof key, "AF_EM%s%s", g ? "_" : "", g ? w->keys[N_KEYS * g + K_AF] + strlen("AF_") : "");
        TSR_CALL(put_info_f(w, key, f + 1, NULL, n - 1));
    }
    if (bcf_update_format_float(w->hdr, w->rec, "DS", cs->ds + (size_t)i * S, S) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set FORMAT DS in %s", w->final[OUT_BCF]);
    if (cs->gp && bcf_update_format_float(w->hdr, w->rec, "GP", cs->gp + cs->pl_off[i],
                                          (int)(cs->pl_off[i + 1] - cs->pl_off[i])) < 0)
        return tsr_error_set(TSR_ERR_NOMEM, "cannot set FORMAT GP in %s", w->final[OUT_BCF]);
    return TSR_OK;
}

tsr_status_t tsr_cohort_writer_add(tsr_cohort_writer_t *w, const tsr_callset_t *cs)
{
    if (w->failed)
        return tsr_error_set(TSR_ERR_STATE, "the cohort writer for %s already failed; close it", w->final[OUT_BCF]);
    if (w->mode == MODE_CONCAT || (w->mode == MODE_PART && cs->ds)) /* low-pass statistics do not merge from files */
        return tsr_error_set(TSR_ERR_STATE, "%s takes %s", w->final[OUT_BCF],
                             w->mode == MODE_CONCAT ? "parts, not call sets" : "deep call sets only");
    tsr_status_t st = write_header(w, cs->ds != NULL);
    if (st == TSR_OK && (cs->ds != NULL) != w->lowpass)
        st = tsr_error_set(TSR_ERR_STATE, "call set %s:%lld-%lld is %s but the cohort is %s: do not mix modes",
                           cs->contig, (long long)cs->start + 1, (long long)cs->end, cs->ds ? "low-pass" : "deep",
                           w->lowpass ? "low-pass" : "deep");
    if (st == TSR_OK)
        st = add_callset(w, cs);
    if (st != TSR_OK)
        w->failed = 1;
    return st;
}

tsr_status_t tsr_cohort_writer_set_facts(tsr_cohort_writer_t *w, const tsr_report_facts_t *facts)
{
    for (int k = 0; k < w->n_facts; k++) {
        free(w->fact_key[k]);
        free(w->fact_value[k]);
    }
    free(w->fact_key);
    free(w->fact_value);
    w->n_facts = 0;
    w->fact_key = calloc((size_t)facts->n + 1, sizeof *w->fact_key);
    w->fact_value = calloc((size_t)facts->n + 1, sizeof *w->fact_value);
    if (!w->fact_key || !w->fact_value)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory keeping the run facts for the report");
    for (; w->n_facts < facts->n; w->n_facts++) {
        w->fact_key[w->n_facts] = strdup(facts->key[w->n_facts]);
        w->fact_value[w->n_facts] = strdup(facts->value[w->n_facts]);
        if (!w->fact_key[w->n_facts] || !w->fact_value[w->n_facts]) {
            w->n_facts++;
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory keeping the run facts for the report");
        }
    }
    return TSR_OK;
}

/* DIR/statistics.json (the "statistics" object), DIR/sample_qc.tsv and DIR/report.html. */
static tsr_status_t write_reductions(tsr_cohort_writer_t *w)
{
    tsr_cohort_result_t *r = NULL;
    tsr_lp_result_t *lp = NULL;
    TSR_CALL(tsr_cohort_acc_result(w->acc, &r));
    if (w->lowpass) {
        tsr_status_t lst = tsr_lp_acc_result(w->lp_acc, &lp);
        if (lst != TSR_OK) {
            tsr_cohort_result_destroy(&r);
            return lst;
        }
        r->lp = lp;
    }
    char *json = tsr_path_join(w->outdir, "statistics.json"), *qc = tsr_path_join(w->outdir, "sample_qc.tsv"),
         *html = tsr_path_join(w->outdir, "report.html");
    char tmp[4200];
    tsr_status_t st = json && qc && html ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory writing the report");
    if (st == TSR_OK)
        st = tsr_output_tmpname(json, tmp, sizeof tmp);
    if (st == TSR_OK) {
        FILE *fp = fopen(tmp, "w");
        if (!fp)
            st = tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        else {
            st = tsr_cohort_result_write_json(r, fp, "");
            fputc('\n', fp);
            if ((fclose(fp) != 0 || rename(tmp, json) != 0) && st == TSR_OK)
                st = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", json, strerror(errno));
            if (st != TSR_OK)
                unlink(tmp);
        }
    }
    if (st == TSR_OK)
        st = tsr_cohort_result_write_sample_qc(r, qc);
    tsr_report_facts_t facts = {w->n_facts, (const char *const *)w->fact_key, (const char *const *)w->fact_value};
    if (st == TSR_OK)
        st = tsr_report_write(html, r, "tessera cohort report", &facts);
    free(json);
    free(qc);
    free(html);
    tsr_cohort_result_destroy(&r);
    tsr_lp_result_destroy(&lp);
    return st;
}

/* A part's reductions: its counts, summed by the final task (integers: any order gives the same totals). */
static tsr_status_t write_part_counts(tsr_cohort_writer_t *w)
{
    FILE *fp = fopen(w->tmp[OUT_CSI], "wb");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s", w->tmp[OUT_CSI], strerror(errno));
    tsr_status_t st = tsr_cohort_acc_counts_write(w->acc, fp, w->tmp[OUT_CSI]);
    if (fclose(fp) != 0 && st == TSR_OK)
        st = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", w->tmp[OUT_CSI],
                           tsr_write_failure_reason(w->tmp[OUT_CSI], errno));
    return st;
}

static tsr_status_t commit_outputs(tsr_cohort_writer_t *w)
{
    if (w->mode == MODE_PART) {
        TSR_CALL(write_part_counts(w));
        for (int i = 0; i < N_OUT; i++)
            if (rename(w->tmp[i], w->final[i]) != 0)
                return tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", w->tmp[i], w->final[i],
                                     strerror(errno));
        return TSR_OK;
    }
    int rc = bcf_index_build3(w->tmp[OUT_BCF], w->tmp[OUT_CSI], 14, 0);
    if (rc != 0)
        return tsr_error_set(TSR_ERR_IO, "cannot build the CSI index of '%s' (htslib code %d); check free space",
                             w->tmp[OUT_BCF], rc);
    TSR_CALL(write_reductions(w));
    static const int order[N_OUT] = {OUT_TSV, OUT_CSI, OUT_BCF};
    for (int k = 0; k < N_OUT; k++) {
        int i = order[k];
        if (rename(w->tmp[i], w->final[i]) != 0)
            return tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", w->tmp[i], w->final[i],
                                 strerror(errno));
    }
    return TSR_OK;
}

tsr_status_t tsr_cohort_writer_close(tsr_cohort_writer_t **wp, int commit)
{
    if (!wp || !*wp)
        return TSR_OK;
    tsr_cohort_writer_t *w = *wp;
    *wp = NULL;
    int keep = commit && !w->failed;
    tsr_status_t st = keep && w->bcf ? write_header(w, 0) : TSR_OK;
    if (st == TSR_OK && keep && w->raw && fwrite(bgzf_eof, 1, sizeof bgzf_eof, w->raw) != sizeof bgzf_eof)
        st = tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", w->tmp[OUT_BCF],
                           tsr_write_failure_reason(w->tmp[OUT_BCF], errno));
    if (st == TSR_OK && keep && w->mode == MODE_CONCAT && w->n_parts == 0)
        st = tsr_error_set(TSR_ERR_STATE, "%s: no part was appended", w->final[OUT_BCF]);
    if (st != TSR_OK)
        keep = 0;
    tsr_status_t cst = close_streams(w);
    if (st == TSR_OK)
        st = cst;
    if (st == TSR_OK && keep)
        st = commit_outputs(w);
    else if (st == TSR_OK && commit)
        st = tsr_error_set(TSR_ERR_STATE, "the cohort outputs in %s were not committed: an earlier write failed",
                           w->final[OUT_BCF]);
    remove_tmp(w);
    writer_free(w);
    return st;
}
