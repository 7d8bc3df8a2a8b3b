/*
 * align_scan.c - the align kernel's index step: where every chunk of
 * --align-chunk read pairs starts in a sample's input, written to
 * aln/G/S.chunks.tsv for the map tasks (and read back by them and by the
 * merge). With one map task there is nothing to find and the input is not
 * read; with K > 1 the sample's lanes are read once (decompressed and split
 * into records, nothing mapped) and each chunk start is recorded as an
 * uncompressed offset, then located (BGZF: block offset + offset inside the
 * block; CRAM: the container) so a map task can seek instead of reading up
 * to its first chunk.
 */
#include "kernels/align_internal.h"
#include "io/io.h"

#include <htslib/kstring.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The chunks file when the sample has one map task: it takes every chunk
 * from the files' start, so there is nothing to find and the FASTQ is not
 * read here. One chunk at offset 0, pairs -1 (unknown): the map task counts
 * them and refuses an empty file.
 */
tsr_status_t tsr_align_chunks_write_whole(const tsr_sample_t *smp, int64_t per, const char *path, const char *rel)
{
    char text[512];
    int n = snprintf(text, sizeof text,
                     "#tessera-chunks\t2\tpairs_per_chunk\t%lld\tchunks\t1\tpairs\t-1\tsegments\t0\n"
                     "0\t0\t-1\t0\t0\t0\t0\t-1\t0\t0\t0\n",
                     (long long)per);
    TSR_CALL(tsr_align_write_text(path, text, (size_t)n));
    tsr_log_info("sample %s: one map task reads the whole input from its start; not scanned -> %s", smp->id, rel);
    return TSR_OK;
}

tsr_status_t tsr_align_chunks_scan(const tsr_sample_t *smp, int64_t per, const char *path, const char *rel)
{
    double t0 = tsr_now();
    tsr_reader_t *rd = NULL;
    TSR_CALL(tsr_reader_open_lanes(smp->n_lanes, smp->lanes, &rd));
    tsr_align_chunks_t ch = {per, 0, 0, tsr_reader_segments(rd), NULL};
    int cap = 0;
    tsr_status_t s = TSR_OK;
    for (;;) {
        tsr_stream_pos_t here;
        if (ch.n_pairs % per == 0)
            tsr_reader_tell_stream(rd, &here);
        tsr_read_t r1, r2;
        int rc = tsr_reader_next(rd, &r1, &r2);
        if (rc == 0)
            break;
        if (rc < 0) {
            s = TSR_ERR_FORMAT;
            break;
        }
        if (ch.n_pairs % per == 0) {
            if (ch.n == cap) {
                cap = cap ? cap * 2 : 64;
                void *v = realloc(ch.pos, (size_t)cap * sizeof *ch.pos);
                if (!v) {
                    s = tsr_error_set(TSR_ERR_NOMEM, "out of memory indexing %s", smp->fastq1);
                    break;
                }
                ch.pos = v;
            }
            ch.pos[ch.n++] = here;
        }
        ch.n_pairs++;
    }
    tsr_reader_close(&rd);
    if (s == TSR_OK && ch.n_pairs == 0)
        s = tsr_error_set(TSR_ERR_FORMAT,
                          "%s (sample %s) holds no reads; a sample is never dropped silently: fix the file or "
                          "remove the sample from the sheet",
                          smp->fastq1, smp->id);
    int n_direct = 0;
    if (s == TSR_OK)
        s = tsr_reader_locate_lanes(smp->n_lanes, smp->lanes, ch.n, ch.pos, &n_direct);
    kstring_t ks = KS_INITIALIZE;
    if (s == TSR_OK) {
        ksprintf(&ks, "#tessera-chunks\t2\tpairs_per_chunk\t%lld\tchunks\t%d\tpairs\t%lld\tsegments\t%d\n",
                 (long long)per, ch.n, (long long)ch.n_pairs, ch.n_seg);
        for (int j = 0; j < ch.n; j++) {
            ksprintf(&ks, "%lld", (long long)ch.pos[j].lane);
            for (int k = 0; k < 2; k++) {
                const tsr_read_pos_t *p = &ch.pos[j].file[k];
                ksprintf(&ks, "\t%lld\t%lld\t%lld\t%lld\t%lld", (long long)p->uoff, (long long)p->coff,
                         (long long)p->within, (long long)p->rec, (long long)p->line);
            }
            kputc('\n', &ks);
        }
        s = tsr_align_write_text(path, ks.s, ks.l);
        tsr_log_info("sample %s: %lld read pairs in %d chunks of %lld (%s) indexed in %.2f s -> %s", smp->id,
                     (long long)ch.n_pairs, ch.n, (long long)per,
                     n_direct == ch.n ? "each starts at its block or container"
                                      : "some skip by decompressing (plain gzip or text)",
                     tsr_now() - t0, rel);
    }
    free(ks.s);
    free(ch.pos);
    return s;
}

tsr_status_t tsr_align_chunks_read(const char *path, tsr_align_chunks_t *ch)
{
    memset(ch, 0, sizeof *ch);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot read '%s': %s; rerun to rebuild it", path, strerror(errno));
    long long per, pairs;
    int n, seg;
    tsr_status_t s = TSR_OK;
    if (fscanf(fp, "#tessera-chunks\t2\tpairs_per_chunk\t%lld\tchunks\t%d\tpairs\t%lld\tsegments\t%d", &per, &n,
               &pairs, &seg) != 4 || n < 1 || per < 1) {
        s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is not a tessera chunk index; delete it and rerun", path);
    } else if (!(ch->pos = calloc((size_t)n, sizeof *ch->pos))) {
        s = tsr_error_set(TSR_ERR_NOMEM, "out of memory");
    }
    ch->pairs_per_chunk = s == TSR_OK ? per : 0;
    ch->n_pairs = s == TSR_OK ? pairs : 0;
    ch->n = s == TSR_OK ? n : 0;
    ch->n_seg = s == TSR_OK ? seg : 0;
    for (int j = 0; j < ch->n && s == TSR_OK; j++) {
        long long lane;
        if (fscanf(fp, "%lld", &lane) != 1 || lane < 0)
            s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short at chunk %d; delete it and rerun", path, j);
        ch->pos[j].lane = lane;
        for (int k = 0; k < 2 && s == TSR_OK; k++) {
            long long v[5];
            tsr_read_pos_t *p = &ch->pos[j].file[k];
            if (fscanf(fp, "%lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5)
                s = tsr_error_set(TSR_ERR_FORMAT, "'%s' is cut short at chunk %d; delete it and rerun", path, j);
            *p = (tsr_read_pos_t){v[0], v[1], v[2], v[3], v[4]};
        }
    }
    fclose(fp);
    if (s != TSR_OK) {
        free(ch->pos);
        ch->pos = NULL;
    }
    return s;
}
