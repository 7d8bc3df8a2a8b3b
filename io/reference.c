/*
 * reference.c - the FASTA reference through htslib's faidx.
 *
 * Contig names and 64-bit lengths are read from REF.fai once at open (htslib
 * only exposes 32-bit lengths by index), and a hash maps names to indices.
 * Fetches go through faidx_fetch_seq64; the result is upper-cased and every
 * base other than A, C, G, T (IUPAC ambiguity codes included) becomes N.
 */
#include "io/io_internal.h"

#include <ctype.h>
#include <errno.h>
#include <htslib/faidx.h>
#include <htslib/khash.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

KHASH_MAP_INIT_STR(tsr_ref_names, int)

struct tsr_ref {
    char *path;
    faidx_t *fai;
    int n;
    char **names;
    int64_t *lengths;
    khash_t(tsr_ref_names) *by_name;
};

void tsr_ref_close(tsr_ref_t **ref)
{
    if (!ref || !*ref)
        return;
    tsr_ref_t *r = *ref;
    if (r->fai)
        fai_destroy(r->fai);
    if (r->by_name)
        kh_destroy(tsr_ref_names, r->by_name);
    for (int i = 0; i < r->n; i++)
        free(r->names[i]);
    free(r->names);
    free(r->lengths);
    free(r->path);
    free(r);
    *ref = NULL;
}

/* The first non-space byte of a FASTA (plain or compressed) must be '>'. */
static tsr_status_t check_fasta(const char *path)
{
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return tsr_error_set(TSR_ERR_IO, "cannot open reference '%s': %s", path,
                             errno ? strerror(errno) : "out of memory");
    int c;
    while ((c = gzgetc(gz)) >= 0 && isspace(c))
        ;
    gzclose(gz);
    if (c != '>')
        return tsr_error_set(TSR_ERR_FORMAT,
                             "reference '%s' is not FASTA (%s); give a FASTA file, plain or bgzip-compressed",
                             path, c < 0 ? "it is empty or unreadable" : "it does not start with '>'");
    return TSR_OK;
}

static tsr_status_t read_fai(tsr_ref_t *r)
{
    char *fai_path = malloc(strlen(r->path) + 5);
    if (!fai_path)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", r->path);
    sprintf(fai_path, "%s.fai", r->path);
    FILE *fp = fopen(fai_path, "r");
    if (!fp) {
        tsr_status_t s = tsr_error_set(TSR_ERR_IO, "cannot read the reference index '%s': %s", fai_path,
                                       strerror(errno));
        free(fai_path);
        return s;
    }
    int want = faidx_nseq(r->fai);
    tsr_status_t st = TSR_OK;
    char *line = NULL;
    size_t cap = 0;
    r->names = calloc((size_t)(want > 0 ? want : 1), sizeof *r->names);
    r->lengths = calloc((size_t)(want > 0 ? want : 1), sizeof *r->lengths);
    if (!r->names || !r->lengths)
        st = tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", r->path);
    while (st == TSR_OK && r->n < want && getline(&line, &cap, fp) >= 0) {
        char *tab = strchr(line, '\t');
        char *end = NULL;
        long long len = tab ? strtoll(tab + 1, &end, 10) : -1;
        if (!tab || end == tab + 1 || len < 0) {
            st = tsr_error_set(TSR_ERR_FORMAT, "%s line %d: malformed index line; delete it and rerun to rebuild",
                               fai_path, r->n + 1);
            break;
        }
        *tab = '\0';
        if (!(r->names[r->n] = strdup(line))) {
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", r->path);
            break;
        }
        r->lengths[r->n++] = len;
    }
    if (st == TSR_OK && r->n != want)
        st = tsr_error_set(TSR_ERR_FORMAT, "%s: %d contigs but htslib loaded %d; delete it and rerun to rebuild",
                           fai_path, r->n, want);
    for (int i = 0; st == TSR_OK && i < r->n; i++) {
        int ret;
        khiter_t k = kh_put(tsr_ref_names, r->by_name, r->names[i], &ret);
        if (ret < 0)
            st = tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", r->path);
        else if (ret == 0)
            st = tsr_error_set(TSR_ERR_FORMAT, "reference '%s' has contig '%s' twice; contig names must be unique",
                               r->path, r->names[i]);
        else
            kh_val(r->by_name, k) = i;
    }
    free(line);
    fclose(fp);
    free(fai_path);
    return st;
}

/*
 * REF.fai (and REF.gzi for a bgzip-compressed FASTA) built when missing, under temporary names renamed into
 * place: every rank of a run opens the reference, and runs started together on a fresh reference each
 * build it; htslib's own FAI_CREATE writes REF.fai in place, so another process could load it half
 * written (no contigs, or some). The names carry the pid and a clock reading (ranks on other hosts).
 */
static tsr_status_t build_fai(const char *path)
{
    size_t n = strlen(path) + 64;
    char *fai = malloc(n), *gzi = malloc(n), *tfai = malloc(n), *tgzi = malloc(n);
    tsr_status_t s = fai && gzi && tfai && tgzi ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    if (s == TSR_OK) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(fai, n, "%s.fai", path);
        snprintf(gzi, n, "%s.gzi", path);
        snprintf(tfai, n, "%s.fai.tmp.%ld.%ld", path, (long)getpid(), (long)ts.tv_nsec);
        snprintf(tgzi, n, "%s.gzi.tmp.%ld.%ld", path, (long)getpid(), (long)ts.tv_nsec);
    }
    if (s == TSR_OK && access(fai, F_OK) != 0) {
        if (fai_build3(path, tfai, tgzi) != 0)
            s = tsr_error_set(TSR_ERR_FORMAT,
                              "cannot build the index of reference '%s'; it must be FASTA (plain or "
                              "bgzip-compressed, equal line lengths within a contig) in a writable directory, "
                              "or index it first with 'samtools faidx'",
                              path);
        if (s == TSR_OK && access(tgzi, F_OK) == 0 && rename(tgzi, gzi) != 0)
            s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tgzi, gzi, strerror(errno));
        if (s == TSR_OK && rename(tfai, fai) != 0)
            s = tsr_error_set(TSR_ERR_IO, "cannot rename '%s' to '%s': %s", tfai, fai, strerror(errno));
        if (s != TSR_OK) {
            unlink(tfai);
            unlink(tgzi);
        }
    }
    free(fai);
    free(gzi);
    free(tfai);
    free(tgzi);
    return s;
}

tsr_status_t tsr_ref_open(const char *path, tsr_ref_t **ref)
{
    *ref = NULL;
    TSR_CALL(check_fasta(path));
    tsr_ref_t *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path)) || !(r->by_name = kh_init(tsr_ref_names))) {
        tsr_ref_close(&r);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory opening %s", path);
    }
    tsr_status_t bs = build_fai(path);
    if (bs != TSR_OK) {
        tsr_ref_close(&r);
        return bs;
    }
    r->fai = fai_load3(path, NULL, NULL, 0);
    if (!r->fai) {
        tsr_ref_close(&r);
        return tsr_error_set(TSR_ERR_FORMAT,
                             "cannot load or build the index of reference '%s'; it must be FASTA (plain or "
                             "bgzip-compressed, equal line lengths within a contig) in a writable directory, "
                             "or index it first with 'samtools faidx'",
                             path);
    }
    tsr_status_t st = read_fai(r);
    if (st != TSR_OK) {
        tsr_ref_close(&r);
        return st;
    }
    *ref = r;
    return TSR_OK;
}

int tsr_ref_n_contigs(const tsr_ref_t *ref) { return ref->n; }

const char *tsr_ref_contig_name(const tsr_ref_t *ref, int i)
{
    return i >= 0 && i < ref->n ? ref->names[i] : NULL;
}

int64_t tsr_ref_contig_length(const tsr_ref_t *ref, int i)
{
    return i >= 0 && i < ref->n ? ref->lengths[i] : -1;
}

int tsr_ref_contig_index(const tsr_ref_t *ref, const char *name)
{
    khiter_t k = kh_get(tsr_ref_names, ref->by_name, name);
    return k == kh_end(ref->by_name) ? -1 : kh_val(ref->by_name, k);
}

tsr_status_t tsr_ref_fetch(tsr_ref_t *ref, const char *contig, int64_t start, int64_t end, char **seq,
                           int64_t *len)
{
    *seq = NULL;
    *len = 0;
    int i = tsr_ref_contig_index(ref, contig);
    if (i < 0)
        return tsr_error_set(TSR_ERR_USAGE, "contig '%s' is not in reference '%s'; check the region name",
                             contig, ref->path);
    if (start < 0 || end < start || end > ref->lengths[i])
        return tsr_error_set(TSR_ERR_USAGE,
                             "region %s:%" PRId64 "-%" PRId64 " is outside contig '%s' (length %" PRId64
                             ") of reference '%s'",
                             contig, start + 1, end, contig, ref->lengths[i], ref->path);
    if (start == end) {
        *seq = calloc(1, 1);
        return *seq ? TSR_OK : tsr_error_set(TSR_ERR_NOMEM, "out of memory fetching from %s", ref->path);
    }
    hts_pos_t got = 0;
    char *s = faidx_fetch_seq64(ref->fai, contig, start, end - 1, &got);
    if (!s || got != end - start) {
        free(s);
        return tsr_error_set(TSR_ERR_IO,
                             "cannot read %s:%" PRId64 "-%" PRId64 " from reference '%s'; the file or its .fai "
                             "index may be damaged (delete REF.fai to rebuild it)",
                             contig, start + 1, end, ref->path);
    }
    for (int64_t k = 0; k < got; k++) {
        char c = (char)toupper((unsigned char)s[k]);
        s[k] = (c == 'A' || c == 'C' || c == 'G' || c == 'T') ? c : 'N';
    }
    *seq = s;
    *len = got;
    return TSR_OK;
}
