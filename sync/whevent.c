/* whevent.c - see whevent.h. */
#include "whevent.h"

#include "pullstore.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? strdup(v->valuestring) : NULL;
}

static bool prefixed(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

void wh_event_free(wh_event *ev)
{
    free(ev->type);
    free(ev->webhook_id);
    free(ev->location_id);
    free(ev->object_key);
    free(ev->record_id);
    free(ev->detail);
    memset(ev, 0, sizeof *ev);
}

int wh_event_parse(const char *body, size_t len, wh_event *ev, const char **why)
{
    memset(ev, 0, sizeof *ev);
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        *why = "not a JSON object";
        return -1;
    }
    int rc = -1;
    ev->type = str_of(j, "type");
    ev->webhook_id = str_of(j, "webhookId");
    ev->location_id = str_of(j, "locationId");
    ev->record_id = str_of(j, "id");
    ev->ts_ms = ps_time_ms(cJSON_GetObjectItemCaseSensitive(j, "timestamp"));
    if (!ev->type) {
        *why = "no type";
        goto out;
    }
    if (!ev->webhook_id) {
        *why = "no webhookId";
        goto out;
    }
    if (ev->ts_ms == PS_NO_TIME) {
        *why = "no timestamp";
        goto out;
    }
    if (!ev->location_id) {
        *why = "no locationId";
        goto out;
    }
    const char *t = ev->type;
    size_t tl = strlen(t);
    ev->is_delete = tl > 6 && strcmp(t + tl - 6, "Delete") == 0;
    if (prefixed(t, "Contact")) {
        ev->kind = WH_K_CONTACT;
        ev->object_key = strdup("contact");
    } else if (prefixed(t, "Opportunity")) {
        ev->kind = WH_K_OPPORTUNITY;
        ev->object_key = strdup("opportunity");
    } else if (prefixed(t, "Record")) {
        ev->kind = WH_K_RECORD;
        ev->object_key = str_of(j, "objectKey");
        if (!ev->object_key)
            ev->object_key = str_of(j, "schemaKey");
    } else if (prefixed(t, "Relation")) {
        ev->kind = WH_K_RELATION;
        cJSON *d = cJSON_CreateObject();
        static const char *const keys[] = {"id",
                                           "associationId",
                                           "firstObjectKey",
                                           "firstRecordId",
                                           "secondObjectKey",
                                           "secondRecordId",
                                           NULL};
        for (int i = 0; d && keys[i]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
            if (cJSON_IsString(v))
                cJSON_AddStringToObject(d, keys[i], v->valuestring);
        }
        ev->detail = d ? cJSON_PrintUnformatted(d) : NULL;
        cJSON_Delete(d);
        if (!ev->detail) {
            *why = "out of memory";
            goto out;
        }
    } else if (prefixed(t, "Association")) {
        ev->kind = WH_K_ASSOCIATION;
    } else {
        ev->kind = WH_K_OTHER;
    }
    if (ev->kind != WH_K_OTHER && !ev->record_id) {
        *why = "no id";
        goto out;
    }
    if ((ev->kind == WH_K_CONTACT || ev->kind == WH_K_OPPORTUNITY) && !ev->object_key) {
        *why = "out of memory";
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc)
        wh_event_free(ev);
    return rc;
}
