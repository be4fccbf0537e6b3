/* thttp.c - see thttp.h. */
#include "thttp.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct grow {
    char *d;
    size_t n;
} grow;

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
    grow *g = ud;
    size_t n = sz * nm;
    char *d = realloc(g->d, g->n + n + 1);
    if (!d)
        return 0;
    memcpy(d + g->n, p, n);
    g->n += n;
    d[g->n] = 0;
    g->d = d;
    return n;
}

int thttp_do_timeout(const char *method, const char *url, const char *const *headers,
                     const char *body, long timeout_ms, thttp_resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *h = curl_easy_init();
    if (!h) {
        out->curl_code = CURLE_FAILED_INIT;
        return -1;
    }
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    grow b = {0}, hd = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    out->curl_code = (int)rc;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = b.d;
    out->body_len = b.n;
    out->headers = hd.d;
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? 0 : -1;
}

int thttp_do(const char *method, const char *url, const char *const *headers, const char *body,
             thttp_resp *out)
{
    return thttp_do_timeout(method, url, headers, body, 30000, out);
}

void thttp_resp_free(thttp_resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

const char *thttp_header(const thttp_resp *r, const char *name, char *buf, size_t len)
{
    if (!r->headers || !len)
        return NULL;
    size_t nl = strlen(name);
    const char *p = r->headers;
    const char *found = NULL;
    /* the last occurrence wins (headers of a redirect or 100-continue come first) */
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            found = p + nl + 1;
        p = eol ? eol + 1 : NULL;
    }
    if (!found)
        return NULL;
    while (*found == ' ' || *found == '\t')
        found++;
    size_t n = strcspn(found, "\r\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, found, n);
    buf[n] = 0;
    return buf;
}
