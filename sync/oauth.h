/*
 * oauth.h - the access token of one location, and its refresh with a rotating refresh token.
 *
 * HighLevel's POST /oauth/token (form-urlencoded, grant_type=refresh_token) returns a new access
 * token AND a new refresh token; the old refresh token stops working at once. So the pair is
 * written to ghlsync.oauth_tokens in a committed transaction BEFORE the new access token is used:
 * a crash after the refresh but before the save would otherwise lose the only valid refresh token.
 * If that save fails the new pair is kept in memory (not used) and the next refresh attempt
 * retries the save instead of calling the API again.
 *
 * One refresh is in flight per location at a time: every request that saw a 401 with the current
 * token joins it (oa_refresh) and is woken when it ends. A 401 on a request sent with an older
 * token generation (oa_gen) is simply retried with the current token, without a new refresh.
 * Static tokens (private integration tokens) have no refresh token: oa_can_refresh is false and
 * a 401 is final (hlapi reports HL_AUTH).
 *
 * The refresh call goes through the location's rate budget at RL_PRIO_AUTH (ahead of push).
 *
 * The refresh token file (sync.toml refresh_token_file, oa_token_set_file): the operator's copy
 * of the pair is rewritten after every rotation, once the database has committed it and before
 * the new access token is used, so a restored or fresh database with the same configuration
 * still holds a working token. The write is atomic (a temporary file in the same directory,
 * mode 0600, fsync, rename over the old one, fsync of the directory) and runs on libuv's thread
 * pool so the loop never waits on a disk. A failed file write is logged as an error but does not
 * stop the rotation: the database copy is the one the running engine needs.
 * When the file and the database disagree at start, the caller picks the newer as the token and
 * passes the other as `alt_refresh`: if the chosen one is refused (400/401, e.g. invalid_grant)
 * the other is tried once before the refresh fails, so a wrong guess (clock skew between mtime
 * and the database's updated_at) never strands a location.
 *
 * Several processes sharing one pair (the same configuration and database, on one host or
 * many: the agency's company token, which every process uses; a location token whose lease
 * moved to another process) coordinate through its row in ghlsync.oauth_tokens, by re-reading
 * it rather than by locking it:
 *  - before a refresh the row is read: an access token stored there that this process does not
 *    use yet and that is still valid by the database's clock (now() against expires_at) is
 *    adopted, with its refresh token, and nothing is sent;
 *  - when a refresh is refused (400/401, e.g. invalid_grant: the token was spent by another
 *    process a moment ago), the row is re-read up to REREADS times a short delay apart (the
 *    winner needs its answer and its commit): a pair whose refresh token is not the refused one
 *    is adopted (or, if its access token is stale too, refreshed with); only when the stored
 *    refresh token is the refused one after every re-read is the refusal real (an agency
 *    location is then re-minted). The start-up fallback (alt_refresh) is tried first, as in
 *    a single process.
 * Why not a lock (SELECT ... FOR UPDATE, or a transaction-scoped advisory lock held across the
 * HTTP call): it would keep a transaction, and so a server connection, open during a call to
 * the API (seconds, or the whole timeout), which pgbouncer in transaction mode and the
 * connection budget pay for; a process killed mid-call would hold it until the server notices;
 * and it only narrows the race, since every refusal must still be survived. The re-read needs no
 * transaction, works through pgbouncer in any mode, and costs a loser one refused request.
 * An adopted pair is not saved again (it is the stored one) but the refresh token file follows
 * it, as after a rotation.
 *
 * A refresh answered with an access token but no refresh token did not rotate it: the refresh
 * token sent is kept (the docs never state that it is single-use). A mint answered that way
 * (decisions.md, agency OAuth) has no refresh token at all: the access token is saved with
 * refresh_token NULL before it is used, and its expiry or a 401 mints again from the company
 * token. Only a token with a minter may end up without one.
 *
 * Ownership: strings passed in are copied; the token, the queue and the budget reference
 * (`budget`, owned by the scheduler) stay valid until oa_token_free. `db` is borrowed (may be NULL:
 * then rotation is kept in memory only and logged as a warning - for tools and benchmarks).
 * Every token is registered with the logger as a secret. Loop thread only; waiter callbacks run
 * from the loop, never inside oa_refresh.
 */
#ifndef GHLSYNC_OAUTH_H
#define GHLSYNC_OAUTH_H

#include "loop.h"
#include "pgasync.h"
#include "ratelimit.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct oa_token oa_token;

typedef struct oa_opts {
    const char *token_url;     /* e.g. https://services.leadconnectorhq.com/oauth/token */
    const char *client_id;     /* required to refresh */
    const char *client_secret; /* required to refresh; never logged */
    const char *version;       /* Version header; default 2021-07-28 */
    const char *user_type;     /* default "Location" */
} oa_opts;

typedef struct oa_waiter oa_waiter;
struct oa_waiter {
    oa_waiter *next;
    /* ok: a new access token is installed (retry with oa_access); else `msg` says why not */
    void (*done)(oa_waiter *w, bool ok, const char *msg);
};

/* `access` may be NULL (refresh before first use); `refresh` NULL = static token.
 * `expires_at_ms` is UTC ms (0 = unknown). Returns NULL on OOM. */
oa_token *oa_token_new(gs_loop *L, rl_loc *budget, const char *location_id, const char *access,
                       const char *refresh, int64_t expires_at_ms, pga_conn *db, const oa_opts *o);
/* The app credentials this location's refresh uses (each location, or agency, may be installed
 * through its own app); replaces the client-wide ones given to oa_token_new. Copied. 0 or
 * GS_ENOMEM. */
int oa_token_set_client(oa_token *t, const char *client_id, const char *client_secret);
/* Rewrite `path` (NULL: none) with the refresh token after every rotation; `alt_refresh` (may be
 * NULL) is the second candidate described above. Both copied. 0 or GS_ENOMEM. */
int oa_token_set_file(oa_token *t, const char *path, const char *alt_refresh);
/* The user_type of the refresh call ("Location" by default; "Company" for the agency's own
 * pair). 0 or GS_ENOMEM. */
int oa_token_set_user_type(oa_token *t, const char *user_type);
/* Agency locations: when there is no pair yet, or the refresh token is refused (400/401, e.g.
 * invalid_grant), a new pair is minted with POST `mint_url` (form companyId, locationId) and
 * the company's current access token as bearer (`company` is borrowed and must outlive `t`;
 * it is refreshed first when expired, and once more on a 401). The minted pair goes through
 * the same path as a rotation: saved to ghlsync.oauth_tokens before it is used. The company
 * token is only ever sent to `mint_url`. 0 or GS_ENOMEM. */
int oa_token_set_minter(oa_token *t, oa_token *company, const char *mint_url,
                        const char *company_id);
/* Write `token` + "\n" to `path` atomically (see above; blocking: worker threads and tools
 * only). 0, or GS_EIO with a message naming the step and the file. */
int oa_write_token_file(const char *path, const char *token, gs_err *e);
/* Waiters still queued are woken with ok=false. */
void oa_token_free(oa_token *t);

const char *oa_access(const oa_token *t); /* NULL when none yet */
unsigned oa_gen(const oa_token *t);       /* changes each time a new access token is installed */
bool oa_can_refresh(const oa_token *t);
bool oa_expired(const oa_token *t, int64_t wall_ms); /* known to expire within 30 s */
long oa_refresh_count(const oa_token *t);            /* successful refresh calls */
long oa_mint_count(const oa_token *t);               /* successful mints (agency) */
long oa_adopt_count(const oa_token *t); /* pairs taken from the stored row (another process's) */

/* Start a refresh, or join the one in flight. `w` is caller memory, valid until woken. */
void oa_refresh(oa_token *t, oa_waiter *w);

/* Read the stored pair from ghlsync.oauth_tokens (it supersedes the configured one, since it
 * may have rotated); `cb(found, err)` runs from the loop. */
typedef void (*oa_load_cb)(oa_token *t, bool found, const char *err, void *ud);
int oa_load(oa_token *t, oa_load_cb cb, void *ud, gs_err *e);

#endif
