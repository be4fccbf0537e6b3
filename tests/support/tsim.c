/* tsim.c - see tsim.h. */
#include "tsim.h"

#include "thttp.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sim_path(char *out, size_t len)
{
    const char *bin = getenv("HLSIM_BIN");
    const char *top = getenv("GHLSYNC_TOP");
    if (bin && *bin)
        snprintf(out, len, "%s", bin);
    else if (top && *top)
        snprintf(out, len, "%s/build/san/hlsim", top);
    else
        snprintf(out, len, "build/san/hlsim");
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int tsim_start(tsim *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    char bin[1024];
    sim_path(bin, sizeof bin);
    if (access(bin, X_OK) != 0) {
        printf("# tsim: simulator binary %s not found (set HLSIM_BIN)\n", bin);
        return -1;
    }
    const char *argv[80];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    for (int i = 0; extra && extra[i] && n < 78; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int fd[2];
    if (pipe(fd) != 0) {
        printf("# tsim: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("# tsim: fork: %s\n", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    s->pid = pid;
    /* one line per location: grows with --locations */
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    long deadline = now_ms() + 60000; /* seeding a large data set under ASan takes a while */
    int ok = 0;
    while (!ok && buf) {
        if (cap - len < 4096) {
            char *g = realloc(buf, cap * 2);
            if (!g)
                break;
            buf = g;
            cap *= 2;
        }
        long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {fd[0], POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(fd[0], buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = 0;
        if (strstr(buf, "admin-token ") && buf[len - 1] == '\n')
            ok = 1;
    }
    close(fd[0]);
    if (!ok) {
        printf("# tsim: simulator did not start (output so far: %.300s)\n", len ? buf : "(none)");
        free(buf);
        tsim_stop(s);
        return -1;
    }
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "listening on 127.0.0.1:%d", &s->port) == 1)
            continue;
        if (strncmp(line, "location ", 9) == 0 && s->n_loc < TSIM_MAX_LOC) {
            tsim_loc *l = &s->loc[s->n_loc];
            int k = sscanf(line, "location %63s token %255s refresh %255s", l->id, l->token,
                           l->refresh);
            if (k >= 2)
                s->n_loc++;
        } else if (strncmp(line, "webhook-key ", 12) == 0) {
            snprintf(s->webhook_key, sizeof s->webhook_key, "%s", line + 12);
        } else if (strncmp(line, "admin-token ", 12) == 0) {
            snprintf(s->admin_token, sizeof s->admin_token, "%s", line + 12);
        }
    }
    free(buf);
    if (!s->port || !s->n_loc || !s->admin_token[0]) {
        printf("# tsim: could not parse the simulator's start-up lines\n");
        tsim_stop(s);
        return -1;
    }
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%d", s->port);
    return 0;
}

void tsim_stop(tsim *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    long deadline = now_ms() + 5000;
    int st;
    while (now_ms() < deadline) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid || r < 0) {
            s->pid = -1;
            return;
        }
        usleep(20000);
    }
    printf("# tsim: simulator did not exit on SIGTERM, killing it\n");
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = -1;
}

long tsim_admin(const tsim *s, const char *method, const char *path, const char *body, char **resp)
{
    char url[2048], auth[200];
    snprintf(url, sizeof url, "%s%s%s", s->base_url, path[0] == '/' ? "" : "/", path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->admin_token);
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    thttp_resp r;
    if (resp)
        *resp = NULL;
    if (thttp_do(method, url, h, body, &r) != 0) {
        thttp_resp_free(&r);
        return -1;
    }
    if (resp) {
        *resp = r.body;
        r.body = NULL;
    }
    long st = r.status;
    thttp_resp_free(&r);
    return st;
}

long tsim_api(const tsim *s, int loc, const char *method, const char *path, const char *body,
              char **resp)
{
    char url[2048], auth[300];
    snprintf(url, sizeof url, "%s%s", s->base_url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->loc[loc].token);
    const char *h[] = {auth, "Version: 2021-07-28", "Content-Type: application/json",
                       "Accept: application/json", NULL};
    thttp_resp r;
    if (resp)
        *resp = NULL;
    if (thttp_do(method, url, h, body, &r) != 0) {
        thttp_resp_free(&r);
        return -1;
    }
    if (resp) {
        *resp = r.body;
        r.body = NULL;
    }
    long st = r.status;
    thttp_resp_free(&r);
    return st;
}
