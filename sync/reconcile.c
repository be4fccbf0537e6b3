/* reconcile.c - see reconcile.h. */
#include "reconcile.h"

#include <stdio.h>
#include <string.h>

void rc_finish_stmts(const ps_model *m, int64_t gen, int64_t started_ms, bool soft, rc_stmts *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->gen, sizeof out->gen, "%lld", (long long)gen);
    ps_time_iso(started_ms, out->started, sizeof out->started);
    out->sql[0] = soft ? m->sweep : m->hsweep;
    out->nparams[0] = 3;
    out->params[0][0] = m->location_id;
    out->params[0][1] = out->gen;
    out->params[0][2] = out->started;
    out->sql[1] = ps_sql_scan_done;
    out->nparams[1] = 3;
    out->params[1][0] = m->location_id;
    out->params[1][1] = m->object_key;
    out->params[1][2] = out->gen;
    out->n = 2;
}
