/* killtest.c - kill -9 ghlsync backfill at random points, resume, compare with the simulator.
 *
 *   killtest [RUNS [RECORDS]]     (defaults 20 runs, 500 records per object, 2 locations)
 *
 * Each run: a fresh simulator (its own seed) and a fresh database; `ghlsync backfill` is started
 * and SIGKILLed after a random delay 1 to 4 times, then run to completion; the tables must equal
 * the simulator's dump (tpull_compare) and hold no duplicate. Needs the environment of
 * tests/run.sh (PGHOST..., HLSIM_BIN, GHLSYNC_BIN, GHLSYNC_TOP): see tests/tools/killtest.sh. */
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 20;
    const char *records = argc > 2 ? argv[2] : "500";
    if (!tpg_available() || !getenv("GHLSYNC_BIN") || !getenv("HLSIM_BIN")) {
        fprintf(stderr, "killtest: run through tests/tools/killtest.sh\n");
        return 2;
    }
    srand((unsigned)getpid());
    int ok = 0, kills = 0;
    for (int r = 0; r < runs; r++) {
        char seed[16];
        snprintf(seed, sizeof seed, "%d", 100 + r);
        const char *args[] = {"--locations", "2",  "--seed-records", records, "--burst", "0",
                              "--seed",      seed, "--latency-ms",   "3",     NULL};
        tsim s;
        if (tsim_start(&s, args) != 0)
            return 1;
        char ci[512], cfg[512], tag[32];
        snprintf(tag, sizeof tag, "kill%d", r);
        PGconn *c = tpg_fresh_db(tag, ci, sizeof ci);
        if (!c || !tpull_config(&s, ci, "[pull]\npage_size = 25\n", cfg, sizeof cfg))
            return 1;
        const char *a[] = {"backfill", NULL};
        int k = 1 + rand() % 4, done_early = 0;
        for (int i = 0; i < k; i++) {
            pid_t p = tpull_spawn(cfg, a, "/dev/null");
            usleep((useconds_t)(50000 + rand() % 700000));
            if (kill(p, SIGKILL) == 0)
                kills++;
            if (tpull_wait(p, 10000) == 0)
                done_early++;
        }
        char *saved = tpg_scalar(c, "SELECT coalesce(sum(fetched),0) FROM ghlsync.pull_state");
        int rc = tpull_run(cfg, a, "/dev/null", 120000);
        int diffs = tpull_compare(&s, c, "ghl");
        char *dup = tpg_scalar(c, "SELECT count(*) - count(DISTINCT (location_id, id)) FROM "
                                  "ghl.pet");
        bool good = rc == 0 && diffs == 0 && dup && strcmp(dup, "0") == 0;
        ok += good;
        printf("run %2d: %d kill(s), %s records saved before the final resume, exit %d, %d "
               "difference(s), %s duplicate(s): %s\n",
               r + 1, k, saved ? saved : "?", rc, diffs, dup ? dup : "?", good ? "ok" : "FAIL");
        fflush(stdout);
        free(saved);
        free(dup);
        PQfinish(c);
        tsim_stop(&s);
    }
    printf("killtest: %d/%d runs equal to the simulator after %d kill -9\n", ok, runs, kills);
    return ok == runs ? 0 : 1;
}
