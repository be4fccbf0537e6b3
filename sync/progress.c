/* progress.c - see progress.h. */
#include "progress.h"

#include <stdlib.h>
#include <string.h>

struct bar {
    char *label;
    char note[96]; /* shown instead of the ETA while set (e.g. waiting for the API) */
    long long done, total, base;
    uint64_t start_ms, end_ms;
    bool ended, ok;
};

struct progress {
    FILE *out;
    struct bar *bars;
    int n;
    int drawn; /* lines drawn last time (to move the cursor back up) */
    uint64_t last_ms;
};

progress *progress_new(FILE *out)
{
    progress *p = calloc(1, sizeof *p);
    if (p)
        p->out = out;
    return p;
}

void progress_free(progress *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        free(p->bars[i].label);
    free(p->bars);
    free(p);
}

int progress_add(progress *p, const char *label)
{
    struct bar *b = realloc(p->bars, (size_t)(p->n + 1) * sizeof *b);
    if (!b)
        return -1;
    p->bars = b;
    memset(&b[p->n], 0, sizeof *b);
    b[p->n].label = strdup(label);
    b[p->n].total = -1;
    b[p->n].base = -1;
    return p->n++;
}

void progress_note(progress *p, int bar, const char *note, uint64_t now_ms)
{
    if (!p || bar < 0 || bar >= p->n)
        return;
    snprintf(p->bars[bar].note, sizeof p->bars[bar].note, "%s", note ? note : "");
    progress_draw(p, now_ms);
}

void progress_fmt_count(long long n, char *buf, size_t len)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", n < 0 ? -n : n);
    size_t l = strlen(raw), o = 0;
    if (n < 0 && o + 1 < len)
        buf[o++] = '-';
    for (size_t i = 0; i < l && o + 2 < len; i++) {
        if (i && (l - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
}

void progress_set(progress *p, int bar, long long done, long long total, uint64_t now_ms)
{
    if (bar < 0 || bar >= p->n)
        return;
    struct bar *b = &p->bars[bar];
    if (b->base < 0) {
        b->base = done; /* a resumed run: the rate counts this run's records only */
        b->start_ms = now_ms;
    }
    b->done = done;
    if (total >= 0)
        b->total = total;
    if (now_ms - p->last_ms >= 100)
        progress_draw(p, now_ms);
}

void progress_end(progress *p, int bar, bool ok, uint64_t now_ms)
{
    if (bar < 0 || bar >= p->n)
        return;
    p->bars[bar].ended = true;
    p->bars[bar].ok = ok;
    p->bars[bar].end_ms = now_ms;
    if (ok && p->bars[bar].total < p->bars[bar].done)
        p->bars[bar].total = p->bars[bar].done;
    progress_draw(p, now_ms);
}

void progress_draw(progress *p, uint64_t now_ms)
{
    p->last_ms = now_ms;
    if (p->drawn)
        fprintf(p->out, "\033[%dA", p->drawn);
    for (int i = 0; i < p->n; i++) {
        struct bar *b = &p->bars[i];
        char d[32], t[32], r[32], eta[32] = "";
        progress_fmt_count(b->done, d, sizeof d);
        if (b->total >= 0)
            progress_fmt_count(b->total, t, sizeof t);
        else
            snprintf(t, sizeof t, "?");
        uint64_t end = b->ended ? b->end_ms : now_ms;
        double secs = b->base >= 0 && end > b->start_ms ? (double)(end - b->start_ms) / 1000.0 : 0;
        double rate = secs > 0 ? (double)(b->done - b->base) / secs : 0;
        progress_fmt_count((long long)rate, r, sizeof r);
        char bar[24];
        int w = 20, fill = 0;
        if (b->total > 0)
            fill = (int)((double)w * (double)(b->done > b->total ? b->total : b->done) /
                         (double)b->total);
        else if (b->ended && b->ok)
            fill = w;
        for (int k = 0; k < w; k++)
            bar[k] = k < fill ? '#' : '.';
        bar[w] = '\0';
        if (b->ended) {
            snprintf(eta, sizeof eta, "%s", b->ok ? "done" : "FAILED");
        } else if (b->note[0]) {
            snprintf(eta, sizeof eta, "%.31s", b->note);
        } else if (rate > 0 && b->total > b->done) {
            long s = (long)((double)(b->total - b->done) / rate);
            snprintf(eta, sizeof eta, "ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        }
        fprintf(p->out, "\r\033[K%-40.40s [%s] %s / %s  %s/s  %s\n", b->label, bar, d, t, r, eta);
    }
    p->drawn = p->n;
    fflush(p->out);
}
