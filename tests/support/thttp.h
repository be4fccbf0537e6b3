/*
 * thttp.h - a tiny libcurl (easy interface) HTTP client for tests only.
 *
 * Every call is independent (no shared handle, no global state besides curl's own one-time
 * init). The response body and raw headers are malloc'd into thttp_resp; free with
 * thttp_resp_free.
 */
#ifndef GHLSYNC_THTTP_H
#define GHLSYNC_THTTP_H

#include <stddef.h>

typedef struct thttp_resp {
    long status;
    char *body;
    size_t body_len;
    char *headers;
    int curl_code;
} thttp_resp;

/* headers: NULL-terminated array of "Name: value" strings. body may be NULL. Returns 0 if a
 * response arrived, -1 on transport error (curl_code set). Times out after 30 s. */
int thttp_do(const char *method, const char *url, const char *const *headers, const char *body,
             thttp_resp *out);
/* Same with a total timeout in milliseconds. */
int thttp_do_timeout(const char *method, const char *url, const char *const *headers,
                     const char *body, long timeout_ms, thttp_resp *out);
void thttp_resp_free(thttp_resp *r);
/* Case-insensitive response header lookup into buf; NULL if absent. */
const char *thttp_header(const thttp_resp *r, const char *name, char *buf, size_t len);

#endif
