/* tcontacts.c - see tcontacts.h. */
#include "tcontacts.h"

#include "pullstore.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *admin_contacts(const tsim *s, int loc)
{
    char path[200], *resp = NULL;
    snprintf(path, sizeof path, "/_admin/contacts?locationId=%s", s->loc[loc].id);
    if (tsim_admin(s, "GET", path, NULL, &resp) != 200) {
        free(resp);
        return NULL;
    }
    cJSON *j = cJSON_Parse(resp);
    free(resp);
    return j;
}

int tcontacts_count(const tsim *s, int loc)
{
    cJSON *j = admin_contacts(s, loc);
    int n = j ? cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "contacts")) : -1;
    cJSON_Delete(j);
    return n;
}

char *tcontacts_get(const tsim *s, int loc, const char *id)
{
    cJSON *j = admin_contacts(s, loc);
    char *out = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "contacts"))
    {
        const char *cid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
        if (cid && !strcmp(cid, id))
            out = cJSON_PrintUnformatted(it);
    }
    cJSON_Delete(j);
    return out;
}

/* null, absent and (for lists) [] / {} all mean "no value" */
static bool empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) || ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child) ||
           (cJSON_IsString(v) && !*v->valuestring);
}

static bool same(const cJSON *a, const cJSON *b)
{
    if (empty(a) || empty(b))
        return empty(a) && empty(b);
    if (cJSON_IsNumber(a) && cJSON_IsString(b))
        return a->valuedouble == strtod(b->valuestring, NULL);
    if (cJSON_IsString(a) && cJSON_IsNumber(b))
        return same(b, a);
    return cJSON_Compare(a, b, true);
}

static int differ(int *nd, const char *id, const char *what, const cJSON *want, const cJSON *got)
{
    if (++*nd <= 10) {
        char *a = want ? cJSON_PrintUnformatted(want) : NULL;
        char *b = got ? cJSON_PrintUnformatted(got) : NULL;
        printf("# contact %s %s: want %.200s got %.200s\n", id, what, a ? a : "(absent)",
               b ? b : "(absent)");
        free(a);
        free(b);
    }
    return 0;
}

static const struct {
    const char *col, *key;
} std_keys[] = {
    {"email", "email"},
    {"phone", "phone"},
    {"company_name", "companyName"},
    {"business_id", "businessId"},
    {"source", "source"},
    {"type", "type"},
    {"dnd", "dnd"},
    {"dnd_settings", "dndSettings"},
    {"tags", "tags"},
    {"assigned_to", "assignedTo"},
    {"followers", "followers"},
    {"address1", "address1"},
    {"city", "city"},
    {"state", "state"},
    {"postal_code", "postalCode"},
    {"country", "country"},
    {"website", "website"},
    {"timezone", "timezone"},
    {"additional_emails", "additionalEmails"},
};

int tcontacts_compare(const tsim *s, int loc, PGconn *c, bool names)
{
    int nd = 0;
    cJSON *dump = admin_contacts(s, loc);
    if (!dump) {
        printf("# cannot read the simulator's contacts\n");
        return 1;
    }
    const char *p[1] = {s->loc[loc].id};
    PGresult *r = PQexecParams(c,
                               "SELECT id, to_jsonb(t)::text FROM ghl.contacts t WHERE "
                               "location_id = $1 AND _deleted_at IS NULL",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        printf("# query failed: %s", PQerrorMessage(c));
        PQclear(r);
        cJSON_Delete(dump);
        return 1;
    }
    cJSON *rows = cJSON_CreateObject();
    for (int i = 0; i < PQntuples(r); i++)
        cJSON_AddItemToObject(rows, PQgetvalue(r, i, 0), cJSON_Parse(PQgetvalue(r, i, 1)));
    const cJSON *defs = cJSON_GetObjectItemCaseSensitive(dump, "customFields");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(dump, "contacts");
    if (cJSON_GetArraySize(list) != PQntuples(r)) {
        nd++;
        printf("# %d contacts in the simulator, %d live rows\n", cJSON_GetArraySize(list),
               PQntuples(r));
    }
    const cJSON *ct;
    cJSON_ArrayForEach(ct, list)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ct, "id"));
        const cJSON *row = cJSON_GetObjectItemCaseSensitive(rows, id ? id : "");
        if (!row) {
            differ(&nd, id ? id : "?", "row", ct, NULL);
            continue;
        }
        for (size_t i = 0; i < sizeof std_keys / sizeof *std_keys; i++) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(ct, std_keys[i].key);
            const cJSON *got = cJSON_GetObjectItemCaseSensitive(row, std_keys[i].col);
            if (!same(want, got))
                differ(&nd, id, std_keys[i].col, want, got);
        }
        const char *nk[2][2] = {{"firstName", "firstNameLowerCase"},
                                {"lastName", "lastNameLowerCase"}};
        const char *nc[2] = {"first_name", "last_name"};
        for (int i = 0; i < 2; i++) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(ct, nk[i][names ? 0 : 1]);
            const cJSON *got = cJSON_GetObjectItemCaseSensitive(row, nc[i]);
            if (!same(want, got))
                differ(&nd, id, nc[i], want, got);
        }
        const cJSON *dob = cJSON_GetObjectItemCaseSensitive(ct, "dateOfBirth");
        const cJSON *gdob = cJSON_GetObjectItemCaseSensitive(row, "date_of_birth");
        if (cJSON_IsString(dob)
                ? !cJSON_IsString(gdob) || strncmp(dob->valuestring, gdob->valuestring, 10)
                : !empty(gdob))
            differ(&nd, id, "date_of_birth", dob, gdob);
        const char *tk[2][2] = {{"dateAdded", "created_at"}, {"dateUpdated", "updated_at"}};
        for (int i = 0; i < 2; i++) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(ct, tk[i][0]);
            const cJSON *got = cJSON_GetObjectItemCaseSensitive(row, tk[i][1]);
            if (ps_time_ms(want) != ps_time_ms(got))
                differ(&nd, id, tk[i][1], want, got);
        }
        const cJSON *d;
        cJSON_ArrayForEach(d, defs)
        {
            const char *fid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
            const char *fk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "fieldKey"));
            const char *dt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "dataType"));
            if (!fid || !fk || !dt)
                continue;
            /* the column ghlsync chose (a name a standard column has gets a suffix) */
            const char *fp[2] = {s->loc[loc].id, fk};
            PGresult *fr = PQexecParams(c,
                                        "SELECT column_name FROM ghlsync.fields WHERE "
                                        "location_id = $1 AND object_key = 'contact' AND "
                                        "field_key = $2",
                                        2, NULL, fp, NULL, NULL, 0);
            char colbuf[128];
            snprintf(colbuf, sizeof colbuf, "%s",
                     PQresultStatus(fr) == PGRES_TUPLES_OK && PQntuples(fr) == 1
                         ? PQgetvalue(fr, 0, 0)
                         : (strrchr(fk, '.') ? strrchr(fk, '.') + 1 : fk));
            PQclear(fr);
            const char *col = colbuf;
            const cJSON *want = NULL, *it;
            cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ct, "customFields"))
            {
                const char *iid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
                if (iid && !strcmp(iid, fid))
                    want = cJSON_GetObjectItemCaseSensitive(it, "value");
            }
            const cJSON *got = cJSON_GetObjectItemCaseSensitive(row, col);
            if (!cJSON_GetObjectItemCaseSensitive(row, col)) {
                differ(&nd, id, col, want, NULL); /* no column at all */
                continue;
            }
            bool ok = !strcmp(dt, "DATE") && cJSON_IsString(want) && cJSON_IsString(got)
                          ? !strncmp(want->valuestring, got->valuestring, 10)
                          : same(want, got);
            if (!ok)
                differ(&nd, id, col, want, got);
        }
    }
    cJSON_Delete(rows);
    PQclear(r);
    cJSON_Delete(dump);
    return nd;
}
