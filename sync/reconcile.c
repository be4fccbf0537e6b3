/* reconcile.c - see reconcile.h. */
#include "reconcile.h"

#include <stdio.h>
#include <string.h>

void rc_finish_stmts(const ps_model *m, int64_t gen, int64_t started_ms, bool soft, bool sweep,
                     rc_stmts *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->gen, sizeof out->gen, "%lld", (long long)gen);
    ps_time_iso(started_ms, out->started, sizeof out->started);
    if (sweep) {
        out->sql[0] = soft ? m->sweep : m->hsweep;
        out->nparams[0] = 3;
        out->params[0][0] = m->location_id;
        out->params[0][1] = out->gen;
        out->params[0][2] = out->started;
        out->n = 1;
    }
    int k = out->n++;
    out->sql[k] = ps_sql_scan_done;
    out->nparams[k] = 3;
    out->params[k][0] = m->location_id;
    out->params[k][1] = m->object_key;
    out->params[k][2] = out->gen;
}
