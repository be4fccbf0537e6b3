/*
 * hlsim.h - the HighLevel API 2.0 simulator: shared types of every hlsim module.
 *
 * One hs_ctx holds the whole simulator state (locations, schemas, records, tokens, rate-limit
 * windows, faults, switches, counters); it is created by main, passed to libmicrohttpd as the
 * handler closure and to the background "another user" thread. Every mutable field of it is
 * protected by ctx->mu except where noted. Nothing lives in C globals.
 *
 * Ownership: a location owns its objects; an object owns its fields (cJSON, API shape), its
 * records and the two ordered indexes over them (arrays of borrowed pointers); a record owns its
 * property/owner/followers JSON texts. All strings returned by hs_* builders are malloc'd and
 * owned by the caller unless stated.
 */
#ifndef HLSIM_H
#define HLSIM_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- growable buffer ---------------------------------------------------------------------- */
typedef struct hs_buf {
    char *d;
    size_t n, cap;
} hs_buf;
void hs_buf_add(hs_buf *b, const char *s, size_t n);
void hs_buf_puts(hs_buf *b, const char *s);
void hs_buf_printf(hs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hs_buf_json_str(hs_buf *b, const char *s); /* quoted, escaped */
char *hs_buf_steal(hs_buf *b);                  /* never NULL */

/* ---- small helpers ------------------------------------------------------------------------ */
typedef struct hs_rng {
    uint64_t s;
} hs_rng;
uint64_t hs_rng_next(hs_rng *r);
double hs_rng_unit(hs_rng *r); /* [0,1) */
int64_t hs_now_ms(void);
void hs_iso_ms(int64_t ms, char out[32]);         /* 2024-07-29T15:51:28.071Z */
bool hs_parse_iso_ms(const char *s, int64_t *ms); /* ISO-8601 with Z or offset, or digits */
void hs_hex_id(hs_rng *r, int64_t ms, char out[25]);
void hs_alnum_id(hs_rng *r, char out[21]);
bool hs_is_hex24(const char *s);
bool hs_valid_date(const char *s); /* YYYY-MM-DD, a real calendar day */
void hs_sleep_ms(int64_t ms, const volatile int *stop);
void hs_fold(char *s); /* lower case, ASCII and Latin-1 letters, in place */
bool hs_ci_contains(const char *hay, const char *needle, bool whole); /* folded */

/* ---- data types of fields ----------------------------------------------------------------- */
enum hs_dtype {
    DT_TEXT,
    DT_LARGE_TEXT,
    DT_NUMERICAL,
    DT_PHONE,
    DT_MONETORY,
    DT_CHECKBOX,
    DT_SINGLE_OPTIONS,
    DT_MULTIPLE_OPTIONS,
    DT_DATE,
    DT_TEXTBOX_LIST,
    DT_FILE_UPLOAD,
    DT_RADIO,
    DT__COUNT,
    DT_UNKNOWN = -1
};
const char *hs_dtype_name(int dt);
int hs_dtype_parse(const char *s); /* accepts MONETARY too; DT_UNKNOWN otherwise */

/* ---- records and objects ------------------------------------------------------------------ */
enum { SRC_API = 0, SRC_WEB = 1 };

typedef struct hs_rec {
    char id[25];
    int64_t created, updated; /* epoch ms */
    char *props;              /* JSON object text, TEXTBOX_LIST stored as flat dotted keys */
    char *owner;              /* JSON array text */
    char *followers;          /* JSON array text */
    uint8_t created_src, updated_src;
    uint8_t deleted; /* contacts: a pending delete (the snapshot of a removed contact) */
} hs_rec;

/* id -> record, open addressing; (hs_rec *)1 marks a deleted slot */
typedef struct hs_map {
    hs_rec **slots;
    size_t cap, used, n; /* used: non-empty slots incl. tombstones; n: live entries */
} hs_map;
void hs_map_put(hs_map *m, hs_rec *r); /* replaces an entry with the same id */
hs_rec *hs_map_find(const hs_map *m, const char *id);
void hs_map_del(hs_map *m, const hs_rec *r);
void hs_map_free(hs_map *m);

typedef struct hs_index {
    hs_rec **v; /* sorted by (ms, id) ascending */
    size_t n, cap;
} hs_index;

typedef struct hs_object {
    char id[25];
    char *key; /* custom_objects.pet, business, contact, opportunity */
    bool standard;
    bool records_supported; /* false for contact/opportunity */
    cJSON *labels;          /* {"singular","plural"} */
    char *description;      /* may be NULL */
    char *primary;          /* primaryDisplayProperty (field key) */
    cJSON *searchable;      /* array of field keys */
    char folder_id[21];
    int64_t date_added, date_updated;
    cJSON *fields; /* array of field objects in API shape (ICustomField) */
    /* records (for contact: the contacts as the search index sees them, see hs_cstore) */
    hs_map map;
    hs_index by_created, by_updated;
    uint64_t version;     /* bumped on every record write */
    struct hs_cstore *cs; /* contact only: lag queue, current versions, duplicates */
    struct hs_loc *loc;   /* the location it belongs to (webhook payloads) */
    struct hs_ctx *ctx;
    cJSON *extra; /* opportunity only: {"pipelines": [...], "lostReasons": [...]} */
} hs_object;

typedef struct hs_token {
    char value[80];
    bool refresh; /* refresh token (else access token) */
    bool revoked;
    int64_t expires_ms; /* access tokens; 0 = never */
    struct hs_loc *loc; /* NULL for the company's tokens */
    bool company;       /* the agency (company) token pair (hs_agency.c) */
} hs_token;

typedef struct hs_rate {
    int64_t *ring; /* times of the last `burst` admitted requests */
    int cap, head, count;
    int64_t day; /* UTC day number of `daily_used` */
    long daily_used;
} hs_rate;

typedef struct hs_loc {
    char id[64];
    hs_object **objs;
    int n_objs;
    char access[80];  /* current access token */
    char refresh[80]; /* current refresh token */
    hs_rate rate;
    bool uninstalled; /* the app was uninstalled from it (hs_agency.c): its tokens stop working */
} hs_loc;

/* ---- faults and switches ------------------------------------------------------------------ */
enum hs_fault_kind {
    FK_LATENCY,
    FK_ERROR,
    FK_RESET,
    FK_RESET_AFTER,
    FK_TRUNCATE,
    FK_CUTOFF,
    FK_MALFORMED,
    FK_STALL,
    FK_RATE429,
    FK_EXPIRE_TOKEN,
    FK__COUNT
};
const char *hs_fault_name(int k);

typedef struct hs_fault {
    int id;
    int kind;
    char method[16];    /* "" = any */
    char path[128];     /* substring of the path; "" = any */
    char location[64];  /* "" = any */
    double rate;        /* probability per matching request */
    long count;         /* remaining hits; -1 = unlimited */
    long skip;          /* matching requests to let through first */
    long ms, jitter_ms; /* latency / stall */
    int status;         /* error: 500/502/503/504, 0 = random among them */
    long hits;
} hs_fault;

enum { FILTERS_ON = 0, FILTERS_IGNORE = 1, FILTERS_REJECT = 2 };

typedef struct hs_switches {
    int filters;
    bool sort_off;
    int page_cap; /* 0 = none */
    bool omit_total;
    bool search_names; /* contacts search also sends firstName/lastName */
    long index_lag_ms; /* contacts: a write reaches search this much later */
    bool opp_post_401; /* POST /opportunities/search answers 401 (IAM Service) */
    /* POST /oauth/token keeps the refresh token (valid, not returned): the docs never say it
     * is single-use (highlevel-crm.md 4.1) */
    bool keep_refresh;
    /* POST /oauth/locationToken answers an access token only, no refresh_token (decisions.md:
     * the engine must then mint again when it expires) */
    bool mint_no_refresh;
} hs_switches;

/* ---- counters ----------------------------------------------------------------------------- */
enum hs_route {
    R_NONE,
    R_OBJECTS_LIST,
    R_OBJECTS_CREATE,
    R_OBJECT_GET,
    R_OBJECT_PUT,
    R_RECORD_CREATE,
    R_RECORD_GET,
    R_RECORD_PUT,
    R_RECORD_DELETE,
    R_RECORD_SEARCH,
    R_CF_LIST,
    R_CF_CREATE,
    R_CF_GET,
    R_CF_PUT,
    R_CF_DELETE,
    R_CONTACT_SEARCH,
    R_CONTACT_CREATE,
    R_CONTACT_UPSERT,
    R_CONTACT_GET,
    R_CONTACT_PUT,
    R_CONTACT_DELETE,
    R_CONTACT_TAGS_ADD,
    R_CONTACT_TAGS_DEL,
    R_CONTACT_DUP,
    R_CONTACT_FOLLOWERS_ADD,
    R_CONTACT_FOLLOWERS_DEL,
    R_LOC_CF_LIST,
    R_OPP_GSEARCH,
    R_OPP_PSEARCH,
    R_OPP_PIPELINES,
    R_OPP_LOST,
    R_OPP_CREATE,
    R_OPP_GET,
    R_OPP_PUT,
    R_OPP_DELETE,
    R_OPP_FOLLOWERS_ADD,
    R_OPP_FOLLOWERS_DEL,
    R_OPP_STATUS,
    R_ASSOC_LIST,
    R_ASSOC_CREATE,
    R_ASSOC_GET,
    R_ASSOC_DELETE,
    R_REL_LIST,
    R_REL_CREATE,
    R_REL_DELETE,
    R_OAUTH_TOKEN,
    R_OAUTH_LOCTOKEN,
    R_OAUTH_INSTALLED,
    R_ADMIN,
    R__COUNT
};
const char *hs_route_name(int r);

typedef struct hs_counters {
    long by_route[R__COUNT];
    long by_status[600];
    long by_route_status[R__COUNT][6]; /* status / 100 */
    long served_429;
    long faults_injected;
    long web_creates, web_edits, web_deletes;
} hs_counters;

/* ---- the context -------------------------------------------------------------------------- */
typedef struct hs_ctx {
    pthread_mutex_t mu;
    hs_rng rng;
    hs_loc **locs;
    int n_locs;
    hs_token *tokens;
    size_t n_tokens, cap_tokens;
    /* tokens by value (hs_auth.c): index + 1 into tokens, open addressing; every request looks
     * its bearer token up, and an agency has thousands of locations */
    size_t *tok_idx;
    size_t tok_idx_cap;
    char admin_token[128];
    char client_id[64], client_secret[64];
    long token_ttl_s;
    /* the agency (hs_agency.c): company id, app id, current company token pair */
    char company_id[32], app_id[32];
    char company_access[80], company_refresh[80];
    /* company refreshes answered with a new pair, and refused (a spent or revoked token) */
    long company_refreshes, company_refused;
    long mints; /* location tokens minted (POST /oauth/locationToken answered 200) */
    int burst;  /* 0 = unlimited */
    long window_ms;
    long daily; /* 0 = unlimited */
    hs_switches sw;
    hs_fault *faults;
    int n_faults, cap_faults, next_fault_id;
    hs_counters ctr;
    /* background "another user" */
    double web_rate; /* operations per second, 0 = off */
    char web_location[64];
    char web_object[128];
    pthread_t web_thread;
    bool web_started;
    volatile int stop;  /* set once at shutdown, read without the lock */
    uint64_t trace_seq; /* atomic */
    bool quiet;
    struct hs_wh *wh;   /* webhook sender (hs_webhook.c), its own lock */
    long seed_contacts; /* contacts per location at start-up */
    long seed_opps;     /* opportunities per location at start-up */
    long seed_rels;     /* relations per seeded association at start-up; -1 = no associations */
    struct hs_assoc_store *assoc; /* associations and relations (hs_assoc.c) */
} hs_ctx;

/* ---- store (hs_store.c) ------------------------------------------------------------------- */
hs_loc *hs_loc_new(hs_ctx *c, const char *id);
void hs_loc_free(hs_loc *l);
hs_loc *hs_loc_find(hs_ctx *c, const char *id);
void hs_loc_clear_objects(hs_loc *l);
hs_object *hs_obj_new(hs_ctx *c, hs_loc *l, const char *key, const char *singular,
                      const char *plural, bool standard);
void hs_obj_free(hs_object *o);
hs_object *hs_obj_find(hs_loc *l, const char *key_or_id);
cJSON *hs_obj_json(const hs_loc *l, const hs_object *o, bool admin);
cJSON *hs_field_add(hs_ctx *c, hs_loc *l, hs_object *o, const char *short_key, const char *name,
                    int dtype, const char *const *options); /* options: key,label,... NULL */
cJSON *hs_field_find(const hs_object *o, const char *key);  /* short key, fieldKey or id */
const char *hs_field_short(const cJSON *f);
int hs_field_dtype(const cJSON *f);
bool hs_field_has_option(const cJSON *f, const char *key);
void hs_obj_strip_property(hs_object *o, const char *short_key);

hs_rec *hs_rec_find(hs_object *o, const char *id);
/* Insert a new record (indexes + map). The record must have a fresh unique id. */
void hs_rec_insert(hs_object *o, hs_rec *r);
void hs_rec_remove(hs_object *o, hs_rec *r); /* and frees it */
void hs_rec_touch(hs_object *o, hs_rec *r, int64_t new_updated);
void hs_rec_free(hs_rec *r);
void hs_index_sort_all(hs_object *o); /* after bulk appends with hs_rec_append */
void hs_rec_append(hs_object *o, hs_rec *r);
/* first position in ix whose (ms, id) >= (ms, id) */
size_t hs_ix_lower(const hs_object *o, const hs_index *ix, int64_t ms, const char *id);
void hs_new_record_id(hs_ctx *c, hs_object *o, int64_t ms, char out[25]);

/* Validate `in` (properties JSON) against o's fields, merged over `base` (may be NULL) into a
 * new flat object. Errors are appended to `errs` (array of strings). Returns NULL on errors. */
cJSON *hs_props_apply(const hs_object *o, const cJSON *base, const cJSON *in, cJSON *errs);
/* Validate owner / followers. Returns malloc'd JSON array text or NULL (errors appended). */
char *hs_people_apply(const hs_object *o, const char *name, const cJSON *v, int max, cJSON *errs);

/* Render one record. search=true: search shape (createdAt/updatedAt, searchAfter). */
void hs_rec_render(hs_buf *b, const hs_ctx *c, const hs_loc *l, const hs_object *o, const hs_rec *r,
                   bool search, const char *sort_after_json);

/* ---- contacts (hs_cstore.c store + render, hs_cwrite.c writes, hs_csearch.c search) -------- */
/*
 * Contacts live in the location's standard `contact` object: its map and two indexes hold the
 * contacts *as search sees them*. A write makes a new version (a whole hs_rec snapshot); with an
 * index lag it waits in a FIFO and in `cur` (so GET sees it at once) until it is due, then
 * replaces the indexed version. A contact's data is one JSON object in hs_rec.props (standard
 * keys of the API plus "customFields": {fieldId: value}); owner/followers are unused.
 * The contact object's `fields` hold the custom field definitions in the shape of
 * GET /locations/{id}/customFields (model "contact"); the standard fields are a fixed table.
 */
typedef struct hs_pend {
    int64_t due;  /* epoch ms when search sees it */
    hs_rec *snap; /* owned; deleted=1 for a delete */
} hs_pend;

typedef struct hs_dupe {
    char *key;
    char id[25];
    struct hs_dupe *next;
} hs_dupe;

typedef struct hs_duptab {
    hs_dupe **b;
    size_t cap, n;
} hs_duptab;

typedef struct hs_cstore {
    hs_map cur; /* id -> newest version not yet indexed (borrowed from its queue entry) */
    hs_pend *q; /* ring buffer */
    size_t qhead, qn, qcap;
    bool dup_built; /* by_email / by_phone are built on first use, then kept current */
    hs_duptab by_email, by_phone;
    int rule[2]; /* duplicate rule: CDUP_EMAIL / CDUP_PHONE in priority order */
    int n_rule;  /* 0 = duplicates allowed (the default) */
} hs_cstore;

enum { CDUP_EMAIL = 0, CDUP_PHONE = 1 };
enum { CW_CREATE, CW_UPDATE, CW_UPSERT, CW_ADMIN };

hs_cstore *hs_cstore_new(void);
void hs_cstore_free(hs_cstore *cs);
/* the location's contact object with its store (created when missing) */
hs_object *hs_contacts_obj(hs_ctx *c, hs_loc *l);
bool hs_is_contacts(const hs_object *o);
void hs_contacts_settle(hs_ctx *c, hs_object *o);     /* due versions -> index */
hs_rec *hs_contact_get(hs_object *o, const char *id); /* current version, NULL if none */
/* snap (owned) becomes the current version of its contact; deleted=1 removes it */
void hs_contact_commit(hs_ctx *c, hs_object *o, hs_rec *snap);
hs_rec *hs_rec_clone(const hs_rec *r);
/* id of a current contact whose email / phone equals value (normalised), or NULL */
const char *hs_contact_dup_find(hs_object *o, int which, const char *value, const char *not_id);
void hs_contact_norm_phone(const char *in, char *out, size_t len);
enum { CV_GET, CV_SEARCH };
void hs_contact_render(hs_buf *b, const hs_ctx *c, const hs_loc *l, const hs_object *o,
                       const hs_rec *r, int view, const char *search_after);
/* every current contact, dateAdded then id order (admin dump) */
void hs_contacts_dump(hs_buf *b, hs_ctx *c, hs_loc *l, hs_object *o);

/* custom field definitions (locations shape) */
cJSON *hs_cfield_add(hs_ctx *c, hs_loc *l, hs_object *o, const char *short_key, const char *name,
                     int dtype, const char *const *options);          /* options: NULL-terminated */
cJSON *hs_cfield_find(const hs_object *o, const char *id_or_key);     /* id, contact.x or x */
void hs_cfield_remove(hs_ctx *c, hs_object *o, cJSON *f);             /* and its values */
cJSON *hs_cfields_objects_shape(const hs_loc *l, const hs_object *o); /* std + custom */

/* Validate a write body (mode CW_*) over base (stored data object or NULL) into new data;
 * NULL with errors appended. */
cJSON *hs_contact_apply(const hs_object *o, const cJSON *base, const cJSON *body, int mode,
                        cJSON *errs);
/* a new contact version from data (admin/web/API) */
hs_rec *hs_contact_new(hs_ctx *c, hs_object *o, cJSON *data, int64_t created, int src);
void hs_contact_set_data(hs_rec *r, const cJSON *data);
enum { HS_FAM_CONTACTS, HS_FAM_OPPORTUNITIES };
int hs_family_search(hs_ctx *c, hs_loc *l, hs_object *o, int family, const cJSON *body, hs_buf *out,
                     cJSON *errs);
void hs_seed_contacts(hs_ctx *c, hs_loc *l, hs_object *o, long n);
char *hs_seed_contact_json(hs_ctx *c, hs_object *o, long i); /* stored data of a new contact */
void hs_seed_cf_value(hs_rng *r, const cJSON *f, hs_buf *b); /* a read-shape value */
void hs_seed_contact_fields(hs_ctx *c, hs_loc *l, hs_object *o);
void hs_web_contact_step(hs_ctx *c, hs_object *o);
/* the public contacts endpoints and GET /locations/{id}/customFields (hs_capi.c) */
struct hs_call;
void hs_contacts_dispatch(struct hs_call *k);
cJSON *hs_contacts_state_json(hs_ctx *c, hs_loc *l, hs_object *o); /* {customFields, contacts} */
bool hs_contacts_load(hs_ctx *c, hs_loc *l, hs_object *o, const cJSON *fields,
                      const cJSON *contacts, cJSON *errs);

/* ---- opportunities and pipelines (hs_opp.c, hs_oapi.c) ------------------------------------ */
/* Opportunities live in the standard `opportunity` object like contacts (map + indexes, data
 * in hs_rec.props, no lag); its `fields` hold the opportunity custom field definitions and its
 * `extra` the pipelines (with stages) and lost reasons. */
enum { OV_GET, OV_POST_SEARCH };
hs_object *hs_opps_obj(hs_ctx *c, hs_loc *l);
bool hs_is_opps(const hs_object *o);
void hs_opp_render(hs_buf *b, const hs_ctx *c, const hs_loc *l, const hs_object *o, const hs_rec *r,
                   int view, const char *search_after);
struct hs_call;
void hs_opps_dispatch(struct hs_call *k);
void hs_seed_opportunities(hs_ctx *c, hs_loc *l, long n);
void hs_web_opp_step(hs_ctx *c, hs_object *o);
int hs_opps_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const char *qloc,
                  const cJSON *body, char **out);
cJSON *hs_opps_state_json(hs_ctx *c, hs_loc *l,
                          hs_object *o); /* {opportunities, pipelines, lostReasons} */
bool hs_opps_load(hs_ctx *c, hs_loc *l, hs_object *o, const cJSON *entry, cJSON *errs);
void hs_cfields_apply(const hs_object *o, const cJSON *v, bool admin, cJSON *out, cJSON *errs);
cJSON *hs_pipeline_add(hs_ctx *c, hs_loc *l, hs_object *o, const char *name,
                       const char *const *stages); /* stages: NULL-terminated names */
cJSON *hs_pipeline_find(const hs_object *o, const char *id);
/* OW_LOAD: as OW_ADMIN, but references (pipeline, stage, contact, lost reason) are not checked:
 * a dump may name a contact deleted since */
enum { OW_CREATE, OW_UPDATE, OW_ADMIN, OW_LOAD };
/* Validate an opportunity write over base; NULL with errs (422) or ref_err (400) set. */
cJSON *hs_opp_apply(hs_object *co, hs_object *o, const cJSON *base, const cJSON *body, int mode,
                    int64_t now, cJSON *errs, char *ref_err, size_t ref_len);
bool hs_parse_day(const char *s, char out[11]);

/* ---- associations and relations (hs_assoc.c) ---------------------------------------------- */
struct hs_assoc_store;
void hs_assoc_free(hs_ctx *c);
/* a record (any object, contacts and opportunities too) was deleted: so are its relations */
void hs_rel_forget_record(hs_ctx *c, const char *record_id);
/* a USER_DEFINED association from a POST /associations/ body; NULL with err set */
cJSON *hs_assoc_create(hs_ctx *c, hs_loc *l, const cJSON *body, char *err, size_t errlen);
void hs_assoc_dispatch(struct hs_call *k);
int hs_assoc_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const char *qloc,
                   const cJSON *body, char **out);
/* the associations pet_owner (pet -> contact) and vaccination_pet (vaccination -> pet), and n
 * random relations of each */
void hs_seed_relations(hs_ctx *c, hs_loc *l, long n);

/* seeding (hs_seed.c) */
void hs_seed_location(hs_ctx *c, hs_loc *l, long n_records);
void hs_seed_value(hs_ctx *c, const cJSON *field, hs_buf *props, bool *first);
hs_rec *hs_seed_record(hs_ctx *c, hs_object *o, int64_t created, int64_t updated, int src);

/* tokens (hs_auth.c) */
hs_token *hs_token_issue(hs_ctx *c, hs_loc *l, bool refresh);
hs_token *hs_token_find(hs_ctx *c, const char *value);
/* hs_token_issue with a given value (a loaded state's tokens); NULL value: a new random one. */
hs_token *hs_token_issue_as(hs_ctx *c, struct hs_loc *l, bool refresh, const char *value);
void hs_loc_issue_pair(hs_ctx *c, hs_loc *l);
void hs_loc_expire_access(hs_ctx *c, hs_loc *l);

/* search (hs_search.c): returns HTTP status, *out body (without traceId wrapping) */
int hs_search(hs_ctx *c, hs_loc *l, hs_object *o, const cJSON *body, hs_buf *out, cJSON *errs);

/* state dump / load (hs_state.c) */
/* {"locations":[...]} of one location (l) or all (NULL), malloc'd JSON text */
char *hs_state_dump(hs_ctx *c, hs_loc *l);
int hs_state_load(hs_ctx *c, const cJSON *root, cJSON *errs);

/* faults (hs_fault.c) */
int hs_fault_from_json(const cJSON *j, hs_fault *f, char *err, size_t errlen);
int hs_fault_from_spec(const char *spec, hs_fault *f, char *err, size_t errlen);
cJSON *hs_fault_json(const hs_fault *f);
void hs_fault_add(hs_ctx *c, const hs_fault *f);

/* another user (hs_webuser.c) */
void hs_web_step(hs_ctx *c);
void *hs_web_thread(void *arg);

/* public endpoints (hs_api.c): one call, run with ctx->mu held */
typedef struct hs_call {
    hs_ctx *c;
    hs_loc *loc; /* the token's location; NULL for oauth */
    int route;
    char key[256];                    /* {key} / {schemaKey} / {objectKey} / custom field {id} */
    char id[128];                     /* record {id} */
    const char *q_location, *q_fetch; /* query arguments or NULL */
    const char *q_model;              /* ?model= of /locations/{id}/customFields */
    cJSON *q_all;                     /* every query argument (opportunity routes), or NULL */
    const char *body;
    size_t body_len;
    int status;
    hs_buf out;
} hs_call;
void hs_api_dispatch(hs_call *k);
void hs_oauth_token(hs_call *k);
/* agency OAuth (hs_agency.c): the company pair at start-up, POST /oauth/locationToken, GET
 * /oauth/installedLocations, a company refresh through POST /oauth/token, /_admin/agency */
void hs_agency_init(hs_ctx *c);
bool hs_agency_route(int route);
void hs_agency_dispatch(hs_call *k);
void hs_agency_refresh(hs_call *k, hs_token *t);
int hs_agency_admin(hs_ctx *c, const char *method, const char *sub, const cJSON *body, char **out);
/* {"statusCode":s,"message":[...],"error":"Unprocessable Entity"} for a 422 with errs */
void hs_err_body(hs_buf *out, int status, const char *message, cJSON *list);

/* http (hs_http.c) */
struct MHD_Daemon;
struct MHD_Daemon *hs_http_start(hs_ctx *c, int port, int *bound_port);

/* admin (hs_admin.c): returns status; *out is the JSON body */
/* contacts admin calls (hs_cadmin.c): status, or 0 when the path is not one of them */
int hs_contacts_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const char *qloc,
                      const cJSON *body, char **out);
int hs_admin(hs_ctx *c, const char *method, const char *path, const char *query_loc,
             const char *body, size_t body_len, char **out);

/* ---- webhooks (hs_webhook.c) --------------------------------------------------------------
 * Every change (API writes, admin edits, "another user") is sent as a signed webhook to the
 * configured URL by a sender thread: callers only queue (under ctx->mu, never blocking on the
 * network). The sender has its own lock; see tests/hlsim/README.md "Webhooks". */
struct hs_wh;
/* Key pair and sender thread; url may be NULL (set later by the admin call). */
struct hs_wh *hs_wh_new(const char *url, long retry_ms, bool legacy);
void hs_wh_start(struct hs_wh *w); /* after seeding: changes before are not sent */
void hs_wh_free(struct hs_wh *w);
const char *hs_wh_public_key(const struct hs_wh *w); /* base64 SPKI, one line */
enum { HS_WH_CREATE, HS_WH_UPDATE, HS_WH_DELETE };
/* a record of o changed (custom objects, business, opportunities), with ctx->mu held */
void hs_wh_record(hs_object *o, const hs_rec *r, int op);
/* a contact version became current (snap->deleted: removed), with ctx->mu held */
void hs_wh_contact(hs_object *o, const hs_rec *snap, bool existed);
/* a relation was created or deleted (del), with ctx->mu held; object keys may be NULL */
void hs_wh_relation(struct hs_wh *w, const char *loc, const char *id, const char *assoc,
                    const char *first_key, const char *first, const char *second_key,
                    const char *second, bool del);
/* an association was created or deleted, with ctx->mu held */
void hs_wh_association(struct hs_wh *w, const char *loc, const cJSON *a, bool created);
/* /_admin/webhooks[...]: status, *out JSON body (called without ctx->mu) */
int hs_wh_admin(hs_ctx *c, const char *method, char seg[][256], int nseg, const cJSON *body,
                char **out);

#endif
