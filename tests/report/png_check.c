/*
 * png_check.c - is a PNG screenshot a drawn page? Decodes an 8-bit RGB/RGBA
 * (or grey) non-interlaced PNG with zlib and prints
 * "WIDTHxHEIGHT non_background=F colours=N": F is the fraction of pixels that
 * differ from the top-left pixel, N the distinct colours (counted up to
 * 64). Exit 0 when the page is not blank (F >= MIN_FRACTION, default
 * 0.005, and N >= 3), 1 when blank, 2 when the file is not such a PNG.
 * Usage: png_check FILE.png [MIN_FRACTION]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: png_check FILE.png [MIN_FRACTION]\n");
        return 2;
    }
    double min_frac = argc > 2 ? atof(argv[2]) : 0.005;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1), *idat = malloc((size_t)size + 1);
    if (!buf || !idat || fread(buf, 1, (size_t)size, f) != (size_t)size || size < 33 ||
        memcmp(buf, "\x89PNG\r\n\x1a\n", 8) != 0) {
        fprintf(stderr, "%s: not a PNG file\n", argv[1]);
        return 2;
    }
    fclose(f);
    uint32_t w = be32(buf + 16), h = be32(buf + 20);
    int depth = buf[24], ctype = buf[25], interlace = buf[28];
    int ch = ctype == 2 ? 3 : ctype == 6 ? 4 : ctype == 0 ? 1 : 0;
    if (depth != 8 || ch == 0 || interlace != 0 || w == 0 || h == 0) {
        fprintf(stderr, "%s: unsupported PNG (depth %d, colour type %d, interlace %d)\n", argv[1], depth, ctype,
                interlace);
        return 2;
    }
    size_t n_idat = 0;
    for (long off = 8; off + 12 <= size;) {
        uint32_t len = be32(buf + off);
        if (off + 12 + (long)len > size)
            break;
        if (memcmp(buf + off + 4, "IDAT", 4) == 0) {
            memcpy(idat + n_idat, buf + off + 8, len);
            n_idat += len;
        }
        off += 12 + (long)len;
    }
    size_t stride = (size_t)w * ch, raw_len = (stride + 1) * h;
    unsigned char *raw = malloc(raw_len), *img = malloc(stride * h);
    uLongf got = (uLongf)raw_len;
    if (!raw || !img || uncompress(raw, &got, idat, (uLong)n_idat) != Z_OK || got != raw_len) {
        fprintf(stderr, "%s: cannot inflate the image data\n", argv[1]);
        return 2;
    }
    for (uint32_t y = 0; y < h; y++) {
        int ft = raw[y * (stride + 1)];
        const unsigned char *src = raw + y * (stride + 1) + 1;
        unsigned char *cur = img + y * stride, *up = y ? img + (y - 1) * stride : NULL;
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)ch ? cur[x - ch] : 0, b = up ? up[x] : 0, c = up && x >= (size_t)ch ? up[x - ch] : 0;
            int v = src[x];
            switch (ft) {
            case 0: break;
            case 1: v += a; break;
            case 2: v += b; break;
            case 3: v += (a + b) / 2; break;
            case 4: v += paeth(a, b, c); break;
            default: fprintf(stderr, "%s: bad filter type %d\n", argv[1], ft); return 2;
            }
            cur[x] = (unsigned char)v;
        }
    }
    uint32_t colours[64];
    int n_col = 0;
    uint64_t differ = 0;
    for (size_t p = 0; p < (size_t)w * h; p++) {
        const unsigned char *px = img + p * ch;
        uint32_t c = 0;
        for (int k = 0; k < ch && k < 3; k++)
            c = c << 8 | px[k];
        differ += memcmp(px, img, (size_t)ch) != 0;
        int seen = 0;
        for (int k = 0; k < n_col && !seen; k++)
            seen = colours[k] == c;
        if (!seen && n_col < 64)
            colours[n_col++] = c;
    }
    double frac = (double)differ / ((double)w * h);
    printf("%ux%u non_background=%.4f colours=%d\n", w, h, frac, n_col);
    free(buf);
    free(idat);
    free(raw);
    free(img);
    return frac >= min_frac && n_col >= 3 ? 0 : 1;
}
