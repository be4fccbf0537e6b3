/*
 * bench_pgasync - PostgreSQL on the loop (pgasync: non-blocking libpq + uv_poll) against the
 * alternative the design left open: a worker thread per connection (uv_queue_work running a
 * blocking PQexecParams). Same server, same statement, one connection each, statements issued
 * back to back; prints statements/s and CPU per statement, with the worker-thread variant as
 * the ratio against the loop baseline.
 *
 *   bench_pgasync [N]      (needs PGHOST etc., as tests/bench/run.sh provides)
 */
#include "loop.h"
#include "pgasync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct {
    int left, done, errors;
    pga_conn *c;
} lctx;

static void next_loop(lctx *x);

static void on_res(pga_conn *c, PGresult *const *res, int nres, const pga_error *err, void *ud)
{
    (void)c;
    (void)res;
    (void)nres;
    lctx *x = ud;
    x->done++;
    if (err)
        x->errors++;
    next_loop(x);
}

static void next_loop(lctx *x)
{
    if (x->left == 0) {
        pga_close(x->c);
        return;
    }
    x->left--;
    char v[16];
    snprintf(v, sizeof v, "%d", x->left);
    const char *vals[1] = {v};
    gs_err e;
    pga_query(x->c, "select $1::int + 1", 1, vals, on_res, x, &e);
}

typedef struct {
    uv_work_t w;
    PGconn *pg;
    int left, done, errors;
    int val;
    int ok;
} tctx;

static void work(uv_work_t *w)
{
    tctx *x = w->data;
    char v[16];
    snprintf(v, sizeof v, "%d", x->val);
    const char *vals[1] = {v};
    PGresult *r = PQexecParams(x->pg, "select $1::int + 1", 1, NULL, vals, NULL, NULL, 0);
    x->ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
}

static void after(uv_work_t *w, int status)
{
    tctx *x = w->data;
    (void)status;
    x->done++;
    if (!x->ok)
        x->errors++;
    if (x->left-- > 0) {
        x->val = x->left;
        uv_queue_work(w->loop, &x->w, work, after);
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    gs_loop L;
    gs_err e = {0};
    if (gs_loop_init(&L, NULL, NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    /* loop variant */
    lctx lx = {.left = n};
    if (pga_open(&L, "dbname=postgres", &lx.c, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double t0 = now_s(), c0 = cpu_s();
    next_loop(&lx);
    gs_loop_run(&L);
    double t_loop = now_s() - t0, c_loop = cpu_s() - c0;

    /* loop variant with a transaction set-up (what the engine runs: the origin marker and
     * lock_timeout per transaction, pipelined before each statement's Sync) */
    lctx ls = {.left = n};
    if (pga_open(&L, "dbname=postgres", &ls.c, &e) != 0 ||
        pga_set_tx_setup(ls.c, "SELECT set_config('ghlsync.origin', 'engine', true), "
                               "set_config('lock_timeout', '10000ms', true)") != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    t0 = now_s();
    c0 = cpu_s();
    next_loop(&ls);
    gs_loop_run(&L);
    double t_set = now_s() - t0, c_set = cpu_s() - c0;

    /* worker-thread variant */
    tctx tx = {.left = n - 1};
    tx.pg = PQconnectdb("dbname=postgres");
    if (PQstatus(tx.pg) != CONNECTION_OK) {
        fprintf(stderr, "%s", PQerrorMessage(tx.pg));
        return 1;
    }
    tx.w.data = &tx;
    t0 = now_s();
    c0 = cpu_s();
    tx.val = n;
    uv_queue_work(&L.uv, &tx.w, work, after);
    gs_loop_run(&L);
    double t_thr = now_s() - t0, c_thr = cpu_s() - c0;
    PQfinish(tx.pg);
    gs_loop_close(&L);

    printf("pgasync: %d statements each, one connection, back to back\n", n);
    printf("  loop (non-blocking libpq + uv_poll): %8.0f stmt/s  %6.1f us CPU/stmt  errors %d  "
           "(baseline 1.00)\n",
           lx.done / t_loop, c_loop / lx.done * 1e6, lx.errors);
    printf("  loop + transaction set-up:           %8.0f stmt/s  %6.1f us CPU/stmt  errors %d  "
           "(throughput ratio %.2f, CPU ratio %.2f)\n",
           ls.done / t_set, c_set / ls.done * 1e6, ls.errors,
           (ls.done / t_set) / (lx.done / t_loop), (c_set / ls.done) / (c_loop / lx.done));
    printf("  worker thread (uv_queue_work):       %8.0f stmt/s  %6.1f us CPU/stmt  errors %d  "
           "(throughput ratio %.2f, CPU ratio %.2f)\n",
           tx.done / t_thr, c_thr / tx.done * 1e6, tx.errors,
           (tx.done / t_thr) / (lx.done / t_loop), (c_thr / tx.done) / (c_loop / lx.done));
    return lx.errors || ls.errors || tx.errors;
}
