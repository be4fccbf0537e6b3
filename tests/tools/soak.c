/* soak.c - the soak run behind tests/tools/soak.sh (read that first): `ghlsync run` against the
 * simulator for MINUTES with another user editing, local random edits through libpq, injected
 * faults (5xx, resets, stalls), a 30 s API outage and (SOAK_RESTART_CMD set) two PostgreSQL
 * restarts, fast then immediate. At the end it waits for quiet and checks that the tables and the
 * simulator are equal value for value (tpull_compare), with no duplicate and no stranded claim;
 * it samples the engine's RSS every 10 s and reports the growth after the warm-up.
 *
 * Output: progress lines "# ...", figures "# figure: ...", and "ok - soak" / "not ok - soak"
 * (exit 0 / 1). Environment: GHLSYNC_BIN, HLSIM_BIN, GHLSYNC_TOP, PG* (the server), and
 * SOAK_RESTART_CMD ("CMD MODE" restarts the server; empty = no restarts). */
#include "tpg.h"
#include "tpull.h"
#include "tsim.h"

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OBJ_PUSH "custom_objects.vaccination"

static tsim sim;
static char conninfo[512];

/* The engine under test is built like this program. AddressSanitizer holds freed memory in
 * its quarantine (256 MiB by default), so that build's RSS grows for a while without a leak. */
#ifdef __SANITIZE_ADDRESS__
#define RSS_NOTE                                                                                   \
    " (AddressSanitizer build: its quarantine holds freed memory; tests/tools/soak.sh with "       \
    "BUILD=build/rel gives the engine's own growth)"
#else
#define RSS_NOTE ""
#endif

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static void quiet(void *ud, const char *msg)
{
    (void)ud;
    (void)msg;
}

static PGconn *db(PGconn *c)
{
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    if (c)
        PQfinish(c);
    c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL); /* "terminating connection due to ..." */
    return c;
}

static char *scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static long scalar_l(PGconn *c, const char *sql)
{
    char *v = scalar(c, sql);
    long n = v ? atol(v) : -1;
    free(v);
    return n;
}

/* One random local write to the pushed table (errors are fine: the server may be restarting). */
static void local_edit(PGconn *c, const char *qt, long n, long *counts)
{
    char sql[800];
    int what = rand() % 10;
    if (what < 3) {
        snprintf(sql, sizeof sql, "INSERT INTO %s (vaccine, dose_ml) VALUES ('soak-ins-%ld', %ld)",
                 qt, n, n % 50);
        counts[0]++;
    } else if (what < 9) {
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET vaccine = 'soak-upd-%ld', dose_ml = %ld WHERE _local_id = (SELECT "
                 "_local_id FROM %s WHERE _deleted_at IS NULL ORDER BY random() LIMIT 1)",
                 qt, n, n % 50, qt);
        counts[1]++;
    } else {
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s WHERE _local_id = (SELECT _local_id FROM %s WHERE _deleted_at "
                 "IS NULL AND id IS NOT NULL ORDER BY random() LIMIT 1)",
                 qt, qt);
        counts[2]++;
    }
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        counts[3]++;
    PQclear(r);
}

static double now_s(void)
{
    return (double)tpull_now_ms() / 1000.0;
}

/* Add a fault rule; its id, -1 on failure. The simulator answers with every rule it holds, so
 * the new rule is the one with the highest id (ids only grow), not the first in the list. */
static long fault(const char *json)
{
    char *resp = NULL;
    long id = -1;
    if (tsim_admin(&sim, "POST", "/_admin/faults", json, &resp) == 201 && resp) {
        cJSON *j = cJSON_Parse(resp);
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "faults"))
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "id");
            if (cJSON_IsNumber(v) && (long)v->valuedouble > id)
                id = (long)v->valuedouble;
        }
        cJSON_Delete(j);
    }
    free(resp);
    return id;
}

/* Remove fault rule `id` and check that the simulator no longer holds it. */
static bool fault_remove(long id)
{
    char path[64], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/faults/%ld", id);
    if (tsim_admin(&sim, "DELETE", path, NULL, NULL) != 200 ||
        tsim_admin(&sim, "GET", "/_admin/faults", NULL, &resp) != 200 || !resp) {
        free(resp);
        return false;
    }
    cJSON *j = cJSON_Parse(resp);
    bool gone = j != NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "faults"))
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (cJSON_IsNumber(v) && (long)v->valuedouble == id)
            gone = false;
    }
    cJSON_Delete(j);
    free(resp);
    return gone;
}

static void restart_pg(const char *mode, double t0)
{
    const char *cmd = getenv("SOAK_RESTART_CMD");
    char line[1200];
    snprintf(line, sizeof line, "%s %s >/dev/null 2>&1", cmd, mode);
    int rc = system(line);
    printf("# %.0f s: PostgreSQL restart -m %s: %s\n", now_s() - t0, mode,
           rc == 0 ? "done" : "FAILED");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double minutes = argc > 1 ? atof(argv[1]) : 2.0;
    if (minutes <= 0)
        minutes = 2.0;
    const char *rc_cmd = getenv("SOAK_RESTART_CMD");
    bool restarts = rc_cmd && *rc_cmd;
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)time(NULL));
    const char *args[] = {"--locations", "1", "--seed-records", "100", "--burst", "0", NULL};
    if (tsim_start(&sim, args) != 0) {
        printf("not ok - soak (simulator)\n");
        return 1;
    }
    /* a TEXT field for external_id_field: creates whose outcome a reset hid are looked up */
    char path[300];
    snprintf(path, sizeof path, "/_admin/fields?locationId=%s", sim.loc[0].id);
    tsim_admin(&sim, "POST", path,
               "{\"objectKey\":\"" OBJ_PUSH "\",\"key\":\"ext_id\",\"dataType\":\"TEXT\","
               "\"name\":\"ghlsync id\"}",
               NULL);
    PGconn *c = tpg_fresh_db("soak", conninfo, sizeof conninfo);
    if (!c) {
        tsim_stop(&sim);
        printf("not ok - soak (database)\n");
        return 1;
    }
    char cfg[512], logp[600];
    if (!tpull_config(
            &sim, conninfo,
            "[pull]\npoll_interval = \"1s\"\noverlap = \"2s\"\nfull_scan_interval = \"10s\"\n\n"
            "[push]\nbackoff_base = \"200ms\"\nbackoff_max = \"4s\"\n"
            "max_attempts = 1000\n\n"
            "[objects.\"" OBJ_PUSH "\"]\ndirection = \"both\"\n"
            "external_id_field = \"ext_id\"\n\n",
            cfg, sizeof cfg)) {
        printf("not ok - soak (config)\n");
        return 1;
    }
    snprintf(logp, sizeof logp, "%s.log", cfg);
    printf("# engine log: %s\n", logp);
    const char *a[] = {"run", NULL};
    setenv("GHLSYNC_PUSH_SWEEP_MS", "1000", 1);
    pid_t eng = tpull_spawn(cfg, a, logp);
    bool ok = eng > 0;
    ok = ok && tpull_wait_scalar(c,
                                 "SELECT count(*) >= 3 AND bool_and(complete) FROM "
                                 "ghlsync.pull_state",
                                 "t", 120000);
    char *qt = ok ? scalar(c, "SELECT format('%I.%I', table_schema, table_name) FROM "
                              "ghlsync.tables WHERE object_key = '" OBJ_PUSH "'")
                  : NULL;
    if (!ok || !qt) {
        printf("# the engine did not complete its backfill\nnot ok - soak\n");
        if (eng > 0)
            kill(eng, SIGKILL);
        tsim_stop(&sim);
        return 1;
    }
    printf("# backfill done; soaking for %.1f minute(s), restarts %s\n", minutes,
           restarts ? "on" : "off");
    fflush(stdout);

    /* background load */
    tsim_admin(&sim, "PUT", "/_admin/another-user",
               "{\"rate\":2,\"objectKey\":\"custom_objects.pet\"}", NULL);
    fault("{\"kind\":\"error\",\"status\":0,\"rate\":0.03}");
    fault("{\"kind\":\"reset\",\"rate\":0.01}");
    fault("{\"kind\":\"reset_after\",\"rate\":0.01}");
    fault("{\"kind\":\"stall\",\"ms\":3000,\"rate\":0.01}");

    double t0 = now_s(), dur = minutes * 60.0;
    double outage_at = t0 + dur * 0.25, outage_len = dur >= 120 ? 30.0 : dur * 0.25;
    double fast_at = t0 + dur * 0.5, imm_at = t0 + dur * 0.75;
    double warm = t0 + (dur * 0.2 < 60 ? dur * 0.2 : 60);
    long outage_id = -1;
    bool outage_ok = false; /* the outage was started and ended as planned */
    bool outage_done = false, fast_done = !restarts, imm_done = !restarts;
    long counts[4] = {0}, n = 0;
    long rss0 = -1, rss_last = -1, rss_max = 0;
    int nsamples = 0;
    double next_rss = t0, next_edit = t0;
    PGconn *ed = NULL;
    while (now_s() < t0 + dur) {
        double t = now_s();
        if (t >= next_edit) {
            next_edit = t + 0.3;
            if ((ed = db(ed)))
                local_edit(ed, qt, ++n, counts);
        }
        if (!outage_done && outage_id < 0 && t >= outage_at) {
            outage_id = fault("{\"kind\":\"error\",\"status\":503,\"rate\":1}");
            outage_ok = outage_id >= 0;
            outage_done = !outage_ok; /* not again and again */
            printf("# %.0f s: API outage for %.0f s (fault %ld)\n", t - t0, outage_len, outage_id);
            fflush(stdout);
        }
        if (outage_id >= 0 && t >= outage_at + outage_len) {
            outage_ok = fault_remove(outage_id);
            outage_id = -1;
            outage_done = true;
            printf("# %.0f s: %s\n", t - t0,
                   outage_ok ? "API back" : "the outage could not be ended (simulator)");
            fflush(stdout);
        }
        if (!fast_done && t >= fast_at) {
            restart_pg("fast", t0);
            fast_done = true;
        }
        if (!imm_done && t >= imm_at) {
            restart_pg("immediate", t0);
            imm_done = true;
        }
        if (t >= next_rss) {
            next_rss = t + 10;
            long kb = rss_kb(eng);
            if (kb > 0) {
                nsamples++;
                if (t >= warm && rss0 < 0)
                    rss0 = kb;
                rss_last = kb;
                if (kb > rss_max)
                    rss_max = kb;
                printf("# %.0f s: rss %ld kB\n", t - t0, kb);
                fflush(stdout);
            }
        }
        if (kill(eng, 0) != 0) {
            printf("# the engine exited during the soak\n");
            break;
        }
        usleep(50 * 1000);
    }
    bool alive = kill(eng, 0) == 0;
    /* quiet: no more edits, faults or web user */
    tsim_admin(&sim, "DELETE", "/_admin/faults", NULL, NULL);
    tsim_admin(&sim, "PUT", "/_admin/another-user", "{\"rate\":0}", NULL);
    printf("# local edits: %ld inserts, %ld updates, %ld deletes (%ld refused or lost to a "
           "restart)\n",
           counts[0], counts[1], counts[2], counts[3]);
    c = db(c);
    int diffs = -1;
    long open = -1, dups = -1, stranded = -1, failed = -1;
    double quiet_t0 = now_s();
    char sql[800];
    while (alive && c && now_s() - quiet_t0 < 180) {
        sleep(3);
        if (!(c = db(c)))
            continue;
        open = scalar_l(c, "SELECT count(*) FROM ghlsync.changes WHERE state IN ('pending', "
                           "'retrying')");
        failed = scalar_l(c, "SELECT count(*) FROM ghlsync.changes WHERE state IN ('failed', "
                             "'unknown')");
        stranded = scalar_l(c, "SELECT count(*) FROM ghlsync.changes WHERE claim_pid IS NOT NULL "
                               "AND ghlsync.claim_live(claim_pid, claim_start)");
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM (SELECT vaccine FROM %s WHERE vaccine LIKE 'soak-%%' AND "
                 "_deleted_at IS NULL GROUP BY vaccine HAVING count(*) > 1) x",
                 qt);
        dups = scalar_l(c, sql);
        if (open != 0)
            continue;
        sleep(3); /* the last remote edits come with the next poll */
        diffs = tpull_compare(&sim, c, "ghl");
        if (diffs == 0 && stranded == 0 && dups == 0)
            break;
    }
    double quiet_s = now_s() - quiet_t0;
    kill(eng, SIGTERM);
    int st = tpull_wait(eng, 10000);
    double growth = rss0 > 0 ? 100.0 * (double)(rss_last - rss0) / (double)rss0 : 0;
    printf("# figure: soak %.1f min: tables %s the simulator (%d differences), %ld duplicate(s), "
           "%ld stranded claim(s), %ld open, %ld failed/parked, quiet after %.0f s\n",
           minutes, diffs == 0 ? "equal to" : "DIFFERENT from", diffs, dups, stranded, open, failed,
           quiet_s);
    printf("# figure: soak rss after warm-up %ld kB -> %ld kB (%+.1f %%), max %ld kB, %d "
           "samples%s\n",
           rss0, rss_last, growth, rss_max, nsamples, RSS_NOTE);
    if (!outage_ok)
        printf("# the API outage did not run as planned (started and ended)\n");
    bool pass =
        outage_ok && alive && diffs == 0 && dups == 0 && stranded == 0 && open == 0 && st == 0;
    printf("%s - soak (exit status of ghlsync run after SIGTERM: %d)\n", pass ? "ok" : "not ok",
           st);
    free(qt);
    PQfinish(ed);
    PQfinish(c);
    tsim_stop(&sim);
    return pass ? 0 : 1;
}
