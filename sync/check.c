/* check.c - see check.h. */
#include "check.h"

#include "sbuf.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

static int set_redacted(gs_err *err, int code, const gs_log *lg, const char *msg)
{
    char buf[sizeof err->msg];
    log_redact(lg, msg, buf, sizeof buf);
    buf[strcspn(buf, "\n")] = '\0';
    return gs_err_set(err, code, "%s", buf);
}

int chk_database(const struct cfg *c, const gs_log *lg, char *detail, size_t len, gs_err *err)
{
    PGconn *conn = PQconnectdb(c->database.url);
    if (!conn)
        return gs_err_set(err, GS_ENOMEM, "out of memory");
    int rc = 0;
    if (PQstatus(conn) != CONNECTION_OK) {
        sbuf b = SBUF_INIT;
        sbuf_printf(&b, "cannot connect: %s", PQerrorMessage(conn));
        rc = set_redacted(err, GS_EDB, lg, sbuf_str(&b));
        sbuf_free(&b);
    } else {
        PGresult *r = PQexec(conn, "SELECT 1");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = set_redacted(err, GS_EDB, lg, PQresultErrorMessage(r));
        } else {
            int v = PQserverVersion(conn);
            snprintf(detail, len, "PostgreSQL %d.%d", v / 10000, v % 10000);
        }
        PQclear(r);
    }
    PQfinish(conn);
    return rc;
}

/* The body is not needed, only the status; still cap it so that a hostile server cannot make
 * the check read forever. */
struct sink {
    size_t seen;
    size_t max;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    struct sink *s = ud;
    s->seen += size * n;
    return s->seen > s->max ? 0 : size * n;
}

int chk_api(const struct cfg *c, const struct cfg_location *loc, const gs_log *lg,
            long *http_status, gs_err *err)
{
    *http_status = 0;
    if (!loc->token)
        return gs_err_set(err, GS_ESTATE, "no static token (OAuth): not checked");
    CURL *h = curl_easy_init();
    if (!h)
        return gs_err_set(err, GS_ENOMEM, "cannot create a libcurl handle");
    sbuf url = SBUF_INIT, auth = SBUF_INIT, ver = SBUF_INIT;
    /* Location ids are validated to [A-Za-z0-9_-] by the config loader: no escaping needed. */
    sbuf_printf(&url, "%s/objects/?locationId=%s", c->api.base_url, loc->id);
    sbuf_printf(&auth, "Authorization: Bearer %s", loc->token);
    sbuf_printf(&ver, "Version: %s", c->api.version);
    struct curl_slist *hdr = NULL, *t;
    const char *lines[] = {sbuf_str(&auth), sbuf_str(&ver), "Accept: application/json"};
    int rc = 0;
    for (size_t i = 0; i < 3; i++) {
        t = curl_slist_append(hdr, lines[i]);
        if (!t) {
            rc = gs_err_set(err, GS_ENOMEM, "out of memory");
            goto out;
        }
        hdr = t;
    }
    struct sink sink = {0, (size_t)c->api.max_response_bytes};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, sbuf_str(&url));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->api.insecure_http ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->api.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->api.request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)((c->api.stall_timeout_ms + 999) / 1000));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ghlsync/" GHLSYNC_VERSION);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK && cc != CURLE_WRITE_ERROR) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s: %s", sbuf_str(&url), ebuf[0] ? ebuf : curl_easy_strerror(cc));
        rc = set_redacted(err, GS_EHTTP, lg, m);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http_status);
    if (*http_status >= 200 && *http_status < 300)
        rc = 0;
    else if (*http_status == 401)
        rc = gs_err_set(err, GS_EHTTP, "token rejected (HTTP 401)");
    else if (*http_status == 403)
        rc = gs_err_set(err, GS_EHTTP, "token not allowed for this location (HTTP 403)");
    else
        rc = gs_err_set(err, GS_EHTTP, "the API answered HTTP %ld", *http_status);
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    /* The Authorization header held the token: wipe our copy. */
    if (auth.data)
        memset(auth.data, 0, auth.len);
    sbuf_free(&url);
    sbuf_free(&auth);
    sbuf_free(&ver);
    return rc;
}
