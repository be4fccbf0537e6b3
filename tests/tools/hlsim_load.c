/*
 * hlsim_load - throughput of the simulator's search endpoint: several keep-alive connections
 * (libcurl multi) each read a collection page after page with searchAfter, restarting at the end,
 * for a fixed time; prints pages/s and records/s.
 *
 *   hlsim_load --url http://127.0.0.1:PORT --token T --location L [--object custom_objects.pet]
 *              [--conns 4] [--seconds 10] [--limit 100] [--sort createdAt|updatedAt]
 *   --object contact: POST /contacts/search, --sort dateAdded|dateUpdated, --limit up to 500
 *   --object opportunity: POST /opportunities/search, --sort date_added|date_updated
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct conn {
    CURL *h;
    struct curl_slist *hdrs;
    char *buf;
    size_t n, cap;
    char body[512];
    char cursor[128];
    long pages, records;
} conn;

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
    conn *c = ud;
    size_t n = sz * nm;
    if (c->n + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 262144;
        while (cap < c->n + n + 1)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b)
            return 0;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->n, p, n);
    c->n += n;
    c->buf[c->n] = 0;
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *opt(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return dflt;
}

/* limit_key: the opportunities search names its page size "limit", the others "pageLimit" */
static void prepare(conn *c, const char *loc, const char *limit_key, int limit, const char *sort)
{
    snprintf(c->body, sizeof c->body,
             "{\"locationId\":\"%s\",\"%s\":%d,\"searchAfter\":[%s],"
             "\"sort\":[{\"field\":\"%s\",\"direction\":\"asc\"}]}",
             loc, limit_key, limit, c->cursor, sort);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
    c->n = 0;
}

/* The last record's searchAfter is the next cursor; count records by their "searchAfter" keys. */
static int next_cursor(conn *c)
{
    int recs = 0;
    const char *last = NULL;
    for (const char *p = c->buf; (p = strstr(p, "\"searchAfter\":[")) != NULL; p += 15) {
        last = p + 15;
        recs++;
    }
    if (last) {
        const char *end = strchr(last, ']');
        size_t n = end ? (size_t)(end - last) : 0;
        if (n >= sizeof c->cursor)
            n = 0;
        memcpy(c->cursor, last, n);
        c->cursor[n] = 0;
    }
    return recs;
}

int main(int argc, char **argv)
{
    const char *url = opt(argc, argv, "--url", NULL);
    const char *token = opt(argc, argv, "--token", NULL);
    const char *loc = opt(argc, argv, "--location", NULL);
    const char *object = opt(argc, argv, "--object", "custom_objects.pet");
    const char *sort = opt(argc, argv, "--sort", "createdAt");
    int nconn = atoi(opt(argc, argv, "--conns", "4"));
    double secs = atof(opt(argc, argv, "--seconds", "10"));
    int limit = atoi(opt(argc, argv, "--limit", "100"));
    if (!url || !token || !loc || nconn < 1 || nconn > 64) {
        fprintf(stderr, "usage: hlsim_load --url U --token T --location L [--object K] [--conns N]"
                        " [--seconds S] [--limit N] [--sort createdAt|updatedAt]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char full[512], auth[512];
    /* --object contact reads POST /contacts/search (sort dateAdded or dateUpdated) */
    const char *limit_key = "pageLimit";
    if (!strcmp(object, "contact")) {
        snprintf(full, sizeof full, "%s/contacts/search", url);
    } else if (!strcmp(object, "opportunity")) {
        snprintf(full, sizeof full, "%s/opportunities/search", url);
        limit_key = "limit";
    } else
        snprintf(full, sizeof full, "%s/objects/%s/records/search", url, object);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    CURLM *m = curl_multi_init();
    conn *cs = calloc((size_t)nconn, sizeof *cs);
    for (int i = 0; i < nconn; i++) {
        conn *c = &cs[i];
        c->h = curl_easy_init();
        c->hdrs = curl_slist_append(NULL, auth);
        c->hdrs = curl_slist_append(c->hdrs, "Version: 2021-07-28");
        c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/json");
        curl_easy_setopt(c->h, CURLOPT_URL, full);
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
        prepare(c, loc, limit_key, limit, sort);
        curl_multi_add_handle(m, c->h);
    }
    double t0 = now_s(), end = t0 + secs;
    long errors = 0, wraps = 0;
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            conn *c;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            long st = 0;
            curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
            curl_multi_remove_handle(m, c->h);
            if (msg->data.result != CURLE_OK || st != 200) {
                errors++;
            } else {
                int recs = next_cursor(c);
                c->pages++;
                c->records += recs;
                if (recs < limit) {
                    c->cursor[0] = 0; /* end of the collection: start over */
                    wraps++;
                }
            }
            if (now_s() < end) {
                prepare(c, loc, limit_key, limit, sort);
                curl_multi_add_handle(m, c->h);
                running = 1;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double el = now_s() - t0;
    long pages = 0, records = 0;
    for (int i = 0; i < nconn; i++) {
        pages += cs[i].pages;
        records += cs[i].records;
        curl_easy_cleanup(cs[i].h);
        curl_slist_free_all(cs[i].hdrs);
        free(cs[i].buf);
    }
    printf("object=%s conns=%d limit=%d seconds=%.2f pages=%ld records=%ld errors=%ld wraps=%ld "
           "pages_per_s=%.0f records_per_s=%.0f\n",
           object, nconn, limit, el, pages, records, errors, wraps, pages / el, records / el);
    free(cs);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return errors ? 1 : 0;
}
