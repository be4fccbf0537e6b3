/* tfake.c - see tfake.h. */
#include "tfake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char *reason(int st)
{
    switch (st) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* Read one request (headers, then Content-Length bytes); 0 or -1. */
static int read_request(int fd, char **buf, size_t *hdr_end, size_t *total)
{
    size_t cap = 8192, len = 0;
    char *b = malloc(cap + 1);
    if (!b)
        return -1;
    size_t need = 0;
    *hdr_end = 0;
    for (;;) {
        if (*hdr_end && len >= need)
            break;
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                return -1;
            }
            b = nb;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0) {
            free(b);
            return -1;
        }
        ssize_t r = recv(fd, b + len, cap - len, 0);
        if (r <= 0) {
            free(b);
            return -1;
        }
        len += (size_t)r;
        b[len] = 0;
        if (!*hdr_end) {
            char *e = strstr(b, "\r\n\r\n");
            if (e) {
                *hdr_end = (size_t)(e - b) + 4;
                size_t cl = 0;
                for (char *h = strchr(b, '\n'); h && h < e; h = strchr(h + 1, '\n'))
                    if (strncasecmp(h + 1, "content-length:", 15) == 0)
                        cl = (size_t)strtoul(h + 16, NULL, 10);
                need = *hdr_end + cl;
            }
        }
    }
    *buf = b;
    *total = need;
    b[need] = 0;
    return 0;
}

static void serve(tfake *f, int fd)
{
    char *b;
    size_t he, tot;
    if (read_request(fd, &b, &he, &tot) != 0)
        return;
    char *sp1 = strchr(b, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2) {
        free(b);
        return;
    }
    *sp1 = 0;
    *sp2 = 0;
    tfake_req rq = {.method = b, .target = sp1 + 1, .body = b + he, .body_len = tot - he};
    tfake_resp rs = {.status = 404};
    pthread_mutex_lock(&f->mu);
    f->requests++;
    pthread_mutex_unlock(&f->mu);
    f->h(&rq, &rs, f->ud);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nX-RateLimit-Max: 100000\r\n"
                     "X-RateLimit-Remaining: 99999\r\nX-RateLimit-Interval-Milliseconds: 10000\r\n"
                     "X-RateLimit-Limit-Daily: 100000000\r\n"
                     "X-RateLimit-Daily-Remaining: 99999999\r\n\r\n",
                     rs.status, reason(rs.status), rs.body ? rs.body_len : 0);
    if (send_all(fd, head, (size_t)n) == 0 && rs.body)
        send_all(fd, rs.body, rs.body_len);
    free(rs.body);
    free(b);
}

static void *run(void *ud)
{
    tfake *f = ud;
    while (__atomic_load_n(&f->running, __ATOMIC_ACQUIRE)) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve(f, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

int tfake_start(tfake *f, tfake_handler h, void *ud)
{
    memset(f, 0, sizeof *f);
    f->h = h;
    f->ud = ud;
    pthread_mutex_init(&f->mu, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0) {
        printf("# tfake: socket: %s\n", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(f->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(f->fd, 64) != 0 ||
        getsockname(f->fd, (struct sockaddr *)&a, &al) != 0) {
        printf("# tfake: bind/listen: %s\n", strerror(errno));
        close(f->fd);
        return -1;
    }
    f->port = ntohs(a.sin_port);
    snprintf(f->base_url, sizeof f->base_url, "http://127.0.0.1:%d", f->port);
    f->running = 1;
    if (pthread_create(&f->thr, NULL, run, f) != 0) {
        printf("# tfake: pthread_create failed\n");
        close(f->fd);
        return -1;
    }
    return 0;
}

void tfake_stop(tfake *f)
{
    if (!f->running)
        return;
    __atomic_store_n(&f->running, 0, __ATOMIC_RELEASE);
    pthread_join(f->thr, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
}

long tfake_requests(tfake *f)
{
    pthread_mutex_lock(&f->mu);
    long n = f->requests;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void tfake_set(tfake_resp *rs, int status, const char *s, size_t len)
{
    rs->status = status;
    rs->body = malloc(len + 1);
    if (rs->body) {
        memcpy(rs->body, s, len);
        rs->body[len] = 0;
    }
    rs->body_len = rs->body ? len : 0;
}

const char *tfake_query(const char *target, const char *name, char *buf, size_t len)
{
    const char *q = strchr(target, '?');
    size_t n = strlen(name);
    while (q) {
        q++;
        if (strncmp(q, name, n) == 0 && q[n] == '=') {
            const char *v = q + n + 1, *e = strchr(v, '&');
            size_t l = e ? (size_t)(e - v) : strlen(v);
            if (l >= len)
                l = len - 1;
            memcpy(buf, v, l);
            buf[l] = 0;
            return buf;
        }
        q = strchr(q, '&');
    }
    return NULL;
}
