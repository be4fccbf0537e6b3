/*
 * whevent.h - a verified webhook body -> the hint it carries (highlevel-crm.md 5.1).
 *
 *   Contact*      (ContactCreate/Update/Delete/TagUpdate/DndUpdate)   object "contact", id
 *   Opportunity*  (Create/Update/Delete/StageUpdate/StatusUpdate/...) object "opportunity", id
 *   Record*       (RecordCreate/Update/Delete: custom objects, business) id; the documented
 *                 payload has no object key, so objectKey / schemaKey are used when present and
 *                 the key is otherwise found when the hint is applied (whapply.h)
 *   Relation*     (RelationCreate/Delete) the relation's fields, kept as `detail`
 *   Association*  (AssociationCreate/Update/Delete) id: the association, re-read when applied
 *   anything else (notes, tasks, apps, ...): WH_K_OTHER, not a record hint
 * Every body must carry `webhookId` and `timestamp` (ISO-8601 or epoch ms): they are what
 * replay protection checks. Values of the record itself (a contact's fields, properties as
 * strings) are ignored on purpose: the record is re-fetched, the payload only says which.
 *
 * Memory: every string of a wh_event is malloc'd and freed by wh_event_free.
 */
#ifndef GHLSYNC_WHEVENT_H
#define GHLSYNC_WHEVENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wh_kind {
    WH_K_CONTACT,
    WH_K_OPPORTUNITY,
    WH_K_RECORD,
    WH_K_RELATION,
    WH_K_ASSOCIATION,
    WH_K_OTHER
};

typedef struct wh_event {
    enum wh_kind kind;
    char *type;        /* "ContactUpdate" */
    char *webhook_id;  /* webhookId */
    char *location_id; /* locationId */
    char *object_key;  /* NULL when the payload does not say (Record*) */
    char *record_id;   /* id (Relation*: the relation's id) */
    bool is_delete;    /* *Delete */
    int64_t ts_ms;     /* timestamp */
    char *detail;      /* Relation*: JSON text of the relation's fields; else NULL */
} wh_event;

/* 0, or -1 with *why a constant reason ("not JSON", "no webhookId", ...). */
int wh_event_parse(const char *body, size_t len, wh_event *ev, const char **why);
void wh_event_free(wh_event *ev);
#endif
