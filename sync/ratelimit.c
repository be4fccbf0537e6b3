/* ratelimit.c - see ratelimit.h. */
#include "ratelimit.h"

#include "strmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS      86400000ull
#define SLOW_FACTOR 4.0

void rl_params_defaults(rl_params *p)
{
    if (p->burst <= 0)
        p->burst = 100;
    if (p->window_ms <= 0)
        p->window_ms = 10000;
    if (p->daily <= 0)
        p->daily = 200000;
    if (p->headroom <= 0)
        p->headroom = 0.02;
    if (p->daily_low <= 0)
        p->daily_low = 0.05;
    if (p->max_inflight <= 0)
        p->max_inflight = 16;
    if (p->reserve <= 0)
        p->reserve = 0.05;
}

/* ---- rings of slot expiries ---- */

static int ring_cap(const rl_ring *r)
{
    return r->m ? r->cap : RL_RING_INLINE;
}

static struct rl_mark *ring_at(rl_ring *r, int i)
{
    return &(r->m ? r->m : r->inl)[(r->head + i) & (ring_cap(r) - 1)];
}

static const struct rl_mark *ring_get(const rl_ring *r, int i)
{
    return &(r->m ? r->m : r->inl)[(r->head + i) & (ring_cap(r) - 1)];
}

static void ring_prune(rl_ring *r, uint64_t now)
{
    while (r->len > 0 && ring_get(r, 0)->until <= now) {
        r->total -= ring_get(r, 0)->n;
        r->head = (r->head + 1) & (ring_cap(r) - 1);
        r->len--;
    }
}

/* Room for one more entry: false when the ring is full (RL_RING, or no memory). */
static bool ring_room(rl_ring *r)
{
    int cap = ring_cap(r);
    if (r->len < cap)
        return true;
    if (cap >= RL_RING)
        return false;
    struct rl_mark *m = malloc((size_t)cap * 2 * sizeof *m);
    if (!m)
        return false;
    for (int i = 0; i < r->len; i++)
        m[i] = *ring_get(r, i);
    free(r->m);
    r->m = m;
    r->cap = cap * 2;
    r->head = 0;
    return true;
}

static void ring_push(rl_ring *r, uint64_t until, long n)
{
    if (n <= 0)
        return;
    if (r->len > 0) {
        struct rl_mark *last = ring_at(r, r->len - 1);
        /* keep the ring sorted: an earlier expiry (the window shrank) is held until the last */
        if (until < last->until)
            until = last->until;
        if (until == last->until || !ring_room(r)) {
            last = ring_at(r, r->len - 1); /* ring_room may have moved the entries */
            last->until = until;
            last->n += (uint32_t)n;
            r->total += n;
            return;
        }
    }
    struct rl_mark *m = ring_at(r, r->len);
    m->until = until;
    m->n = (uint32_t)n;
    r->len++;
    r->total += n;
}

/* Slots of r still held at `now`. */
static long ring_alive(const rl_ring *r, uint64_t now)
{
    long n = r->total;
    for (int i = 0; i < r->len && ring_get(r, i)->until <= now; i++)
        n -= ring_get(r, i)->n;
    return n;
}

/* ---- budget ---- */

static void recompute(rl_budget *b)
{
    b->interval_ms = (double)b->p.window_ms / b->p.burst * (1.0 + b->p.headroom);
    b->hold_ms = (uint64_t)ceil((double)b->p.window_ms * (1.0 + b->p.headroom)) + RL_MARGIN_MS;
    int r = (int)floor((double)b->p.burst * b->p.reserve);
    if (r < 1)
        r = 1;
    if (r > b->p.burst - 1)
        r = b->p.burst - 1; /* burst 1: backfill shares the only slot */
    b->reserve = r;
    b->lookahead_ms = (uint64_t)b->p.window_ms / 20;
    /* One interval: k intervals would let k+1 start together, and their slots would free
     * together one hold later, leaving the window full for about k intervals just before:
     * pushes arriving then wait that long. */
    b->tolerance_ms = b->interval_ms;
}

void rl_budget_init(rl_budget *b, const rl_params *p)
{
    memset(b, 0, sizeof *b);
    if (p)
        b->p = *p;
    rl_params_defaults(&b->p);
    recompute(b);
    b->daily_remaining = -1;
    b->daily_limit = b->p.daily;
}

void rl_budget_free(rl_budget *b)
{
    free(b->held.m);
    free(b->hi.m);
    memset(&b->held, 0, sizeof b->held);
    memset(&b->hi, 0, sizeof b->hi);
}

long rl_budget_held(const rl_budget *b, uint64_t now)
{
    return b->inflight + ring_alive(&b->held, now);
}

static bool daily_low(const rl_budget *b)
{
    return b->daily_remaining >= 0 && b->daily_limit > 0 &&
           (double)b->daily_remaining < b->p.daily_low * (double)b->daily_limit;
}

/* Earliest u >= t at which fewer than `limit` slots are held (UINT64_MAX: only a completion can
 * free one). */
static uint64_t window_free_at(const rl_budget *b, long limit, uint64_t t)
{
    long must_expire = b->inflight + ring_alive(&b->held, t) - (limit - 1);
    if (must_expire <= 0)
        return t;
    if (b->inflight >= limit)
        return UINT64_MAX;
    long got = 0;
    for (int i = 0; i < b->held.len; i++) {
        const struct rl_mark *m = ring_get(&b->held, i);
        if (m->until <= t)
            continue;
        got += m->n;
        if (got >= must_expire)
            return m->until;
    }
    return UINT64_MAX; /* unreachable: alive entries cover must_expire */
}

/* Would a backfill start at t leave enough slots for the higher priorities? A slot that frees
 * within `lookahead` of a need counts as available (a push may wait that long). Their demand
 * rate is what they started during the last H; at every moment u of the next H, the slots free
 * after this start plus those freed by u + lookahead must cover rate * (u - t) + reserve. With no
 * demand this is: reserve slots free now or within the lookahead. When the answer is no,
 * *retry gets the next time at which it may change. */
static bool leaves_room(const rl_budget *b, uint64_t t, uint64_t *retry)
{
    long n_hi = ring_alive(&b->hi, t);
    long free_after = b->p.burst - rl_budget_held(b, t) - 1;
    double rate = (double)n_hi / (double)b->hold_ms;
    uint64_t look = b->lookahead_ms;
    long freed = 0;
    uint64_t horizon = t + b->hold_ms;
    bool ok = true;
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < b->held.len; i++) {
        const struct rl_mark *m = ring_get(&b->held, i);
        if (m->until <= t)
            continue;
        uint64_t u = m->until > t + look ? m->until - look : t;
        if (u > horizon)
            break;
        if (u > t && (double)(free_after + freed) < rate * (double)(u - t) + b->reserve) {
            ok = false;
            next = u;
            break;
        }
        freed += m->n;
    }
    if (ok && free_after + freed < n_hi + b->reserve)
        ok = false;
    if (!ok) {
        /* the demand estimate falls as old starts expire */
        for (int i = 0; i < b->hi.len; i++) {
            const struct rl_mark *m = ring_get(&b->hi, i);
            if (m->until > t) {
                if (m->until < next)
                    next = m->until;
                break;
            }
        }
        if (n_hi > 0) {
            /* the demand profile moves with time: look again soon */
            uint64_t step = (uint64_t)ceil(b->interval_ms);
            if (next > t + step)
                next = t + step;
        }
        *retry = next;
    }
    return ok;
}

uint64_t rl_budget_next(const rl_budget *b, int prio, uint64_t now)
{
    uint64_t at = now;
    if (prio > RL_PRIO_PUSH && daily_low(b) && b->slow_tat > (double)at)
        at = (uint64_t)ceil(b->slow_tat);
    if (b->hold_until > at)
        at = b->hold_until;
    if (b->day_block_until > at)
        at = b->day_block_until;
    if (b->smooth && prio > RL_PRIO_PUSH) {
        double paced = b->tat - b->tolerance_ms;
        if (paced > (double)at)
            at = (uint64_t)ceil(paced);
    }
    at = window_free_at(b, b->p.burst, at);
    if (at == UINT64_MAX || prio < RL_PRIO_BACKFILL)
        return at;
    uint64_t retry = UINT64_MAX;
    if (!leaves_room(b, at, &retry))
        return retry > at ? retry : at + 1;
    return at;
}

void rl_budget_take(rl_budget *b, int prio, uint64_t now)
{
    double n = (double)now;
    ring_prune(&b->held, now);
    ring_prune(&b->hi, now);
    if (prio < RL_PRIO_BACKFILL)
        ring_push(&b->hi, now + b->hold_ms, 1);
    b->tat = (b->tat > n ? b->tat : n) + b->interval_ms;
    if (prio > RL_PRIO_PUSH && daily_low(b)) {
        double sb = b->slow_tat > n ? b->slow_tat : n;
        b->slow_tat = sb + b->interval_ms * SLOW_FACTOR;
    }
    b->inflight++;
    b->n_started++;
    if (b->daily_remaining > 0)
        b->daily_remaining--;
}

int rl_budget_done(rl_budget *b, const http_rate *rate, long status, uint64_t now, uint64_t wall)
{
    if (b->inflight > 0)
        b->inflight--;
    if (b->day_block_until && now >= b->day_block_until)
        b->day_block_until = 0;
    if (!rate) {
        /* nothing reached the server: the slot is free again, and so is its share of the pace
         * (the pacing clock never runs behind now: rl_budget_take starts from max(tat, now)) */
        b->tat -= b->interval_ms;
        return 0;
    }
    ring_prune(&b->held, now);
    bool changed = false;
    if (rate->max > 0 && rate->max != b->p.burst) {
        b->p.burst = (int)rate->max;
        changed = true;
    }
    if (rate->interval_ms > 0 && rate->interval_ms != b->p.window_ms) {
        b->p.window_ms = (int)rate->interval_ms;
        changed = true;
    }
    if (changed)
        recompute(b);
    /* the request may have reached the server (even a transport failure): hold its slot */
    ring_push(&b->held, now + b->hold_ms, 1);
    if (rate->daily_limit > 0)
        b->daily_limit = rate->daily_limit;
    if (status == 429) {
        b->n_429++;
        uint64_t wait = rate->retry_after_s >= 0 ? (uint64_t)rate->retry_after_s * 1000u
                                                 : (uint64_t)b->p.window_ms;
        if (wait == 0)
            wait = (uint64_t)ceil(b->interval_ms);
        if (now + wait > b->hold_until)
            b->hold_until = now + wait;
    } else if (rate->remaining >= 0) {
        long foreign = (b->p.burst - rate->remaining) - rl_budget_held(b, now);
        if (foreign > 0)
            ring_push(&b->held, now + b->hold_ms, foreign);
    }
    int blocked = 0;
    if (rate->daily_remaining >= 0) {
        long est = rate->daily_remaining - b->inflight;
        b->daily_remaining = est < 0 ? 0 : est;
        if (b->daily_remaining == 0 && !b->day_block_until) {
            /* resume one second into the next UTC day */
            uint64_t to_midnight = DAY_MS - wall % DAY_MS;
            b->day_block_until = now + to_midnight + 1000;
            blocked = 1;
        }
    }
    return blocked;
}

void rl_budget_set_smooth(rl_budget *b, bool on)
{
    b->smooth = on;
}

/* ---- scheduler ---- */

struct rl_queue {
    rl_queue *next_all;  /* rl_loc.queues */
    rl_queue *next_ring; /* ring of non-empty queues of this priority; NULL when idle */
    rl_loc *loc;
    char *name;
    int prio;
    rl_item *head, *tail;
    bool in_ring;
};

struct rl_loc {
    rl_loc *next_all;
    rl_sched *s;
    char *id;
    rl_budget b;
    rl_queue *queues;
    rl_queue *ring[RL_NPRIO]; /* the queue to serve next in each priority (ring cursor) */
    long pending;
    bool day_logged;
    /* on rl_sched.act or .incoming: it had something pending since the last dispatch (a
     * dispatch looks at these only, not at every location) */
    bool active;
    rl_loc *next_act;
};

struct rl_sched {
    gs_loop *L;
    uv_timer_t *timer;
    rl_loc *locs;
    strmap by_id;     /* rl_loc by id */
    rl_loc *act;      /* locations with something pending after the last dispatch */
    rl_loc *incoming; /* locations that got something pending since (see act_add) */
    rl_item *delayed;
    long pending;
    uint64_t armed_at; /* UINT64_MAX when the timer is idle */
    bool in_dispatch;
};

static void on_timer(uv_timer_t *t);
static void arm(rl_sched *s, uint64_t at);

rl_sched *rl_sched_new(gs_loop *L)
{
    rl_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->L = L;
    s->timer = malloc(sizeof *s->timer);
    if (!s->timer) {
        free(s);
        return NULL;
    }
    uv_timer_init(&L->uv, s->timer);
    s->timer->data = s;
    s->armed_at = UINT64_MAX;
    return s;
}

void rl_sched_free(rl_sched *s)
{
    if (!s)
        return;
    for (rl_loc *l = s->locs, *ln; l; l = ln) {
        ln = l->next_all;
        for (rl_queue *q = l->queues, *qn; q; q = qn) {
            qn = q->next_all;
            free(q->name);
            free(q);
        }
        rl_budget_free(&l->b);
        free(l->id);
        free(l);
    }
    strmap_free(&s->by_id);
    gs_uv_close_free((uv_handle_t *)s->timer);
    free(s);
}

rl_loc *rl_location(rl_sched *s, const char *id, const rl_params *p)
{
    rl_loc *l = strmap_get(&s->by_id, id);
    if (l)
        return l;
    l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->id = strdup(id);
    if (!l->id || strmap_put(&s->by_id, l->id, l) != 0) {
        free(l->id);
        free(l);
        return NULL;
    }
    l->s = s;
    rl_budget_init(&l->b, p);
    l->next_all = s->locs;
    s->locs = l;
    return l;
}

rl_queue *rl_queue_get(rl_loc *loc, const char *name, int prio)
{
    if (prio < 0)
        prio = 0;
    if (prio >= RL_NPRIO)
        prio = RL_NPRIO - 1;
    for (rl_queue *q = loc->queues; q; q = q->next_all)
        if (q->prio == prio && strcmp(q->name, name) == 0)
            return q;
    rl_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->name = strdup(name);
    if (!q->name) {
        free(q);
        return NULL;
    }
    q->loc = loc;
    q->prio = prio;
    q->next_all = loc->queues;
    loc->queues = q;
    return q;
}

const rl_budget *rl_loc_budget(const rl_loc *loc)
{
    return &loc->b;
}

const char *rl_loc_id(const rl_loc *loc)
{
    return loc->id;
}

void rl_loc_set_smooth(rl_loc *loc, bool on)
{
    if (loc->b.smooth == on)
        return;
    rl_budget_set_smooth(&loc->b, on);
    if (loc->pending > 0)
        arm(loc->s, gs_loop_now_ms(loc->s->L));
}

rl_loc *rl_queue_loc(const rl_queue *q)
{
    return q->loc;
}

long rl_sched_pending(const rl_sched *s)
{
    return s->pending;
}

/* Insert q into its priority ring just before the cursor, i.e. it is served last. */
static void ring_add(rl_queue *q)
{
    rl_loc *l = q->loc;
    rl_queue *cur = l->ring[q->prio];
    if (!cur) {
        q->next_ring = q;
        l->ring[q->prio] = q;
    } else {
        rl_queue *prev = cur;
        while (prev->next_ring != cur)
            prev = prev->next_ring;
        prev->next_ring = q;
        q->next_ring = cur;
    }
    q->in_ring = true;
}

static void ring_remove(rl_queue *q)
{
    rl_loc *l = q->loc;
    if (q->next_ring == q) {
        l->ring[q->prio] = NULL;
    } else {
        rl_queue *prev = q;
        while (prev->next_ring != q)
            prev = prev->next_ring;
        prev->next_ring = q->next_ring;
        if (l->ring[q->prio] == q)
            l->ring[q->prio] = q->next_ring;
    }
    q->next_ring = NULL;
    q->in_ring = false;
}

static void arm(rl_sched *s, uint64_t at)
{
    uint64_t now = gs_loop_now_ms(s->L);
    if (at == UINT64_MAX) {
        if (s->armed_at != UINT64_MAX) {
            uv_timer_stop(s->timer);
            s->armed_at = UINT64_MAX;
        }
        return;
    }
    if (s->armed_at != UINT64_MAX && s->armed_at <= at)
        return;
    s->armed_at = at;
    uv_timer_start(s->timer, on_timer, at > now ? at - now : 0, 0);
}

/* Locations leave the lists only in rl_sched_dispatch, so that its walk never loses its place
 * when a grant queues more. */
static void act_add(rl_sched *s, rl_loc *l)
{
    if (l->active)
        return;
    l->active = true;
    l->next_act = s->incoming;
    s->incoming = l;
}

static void enqueue(rl_queue *q, rl_item *it)
{
    it->next = NULL;
    it->queue = q;
    it->delayed = false;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    if (!q->in_ring)
        ring_add(q);
    q->loc->pending++;
    q->loc->s->pending++;
    act_add(q->loc->s, q->loc);
}

void rl_submit(rl_queue *q, rl_item *it)
{
    it->submitted_ms = gs_loop_now_ms(q->loc->s->L);
    enqueue(q, it);
    arm(q->loc->s, it->submitted_ms); /* dispatch from the loop, never inline */
}

void rl_submit_after(rl_queue *q, rl_item *it, uint64_t delay_ms)
{
    rl_sched *s = q->loc->s;
    uint64_t now = gs_loop_now_ms(s->L);
    it->queue = q;
    it->submitted_ms = now + delay_ms;
    it->due_ms = now + delay_ms;
    it->delayed = true;
    it->next = s->delayed;
    s->delayed = it;
    arm(s, it->due_ms);
}

bool rl_cancel(rl_item *it)
{
    rl_queue *q = it->queue;
    if (!q)
        return false;
    rl_sched *s = q->loc->s;
    if (it->delayed) {
        for (rl_item **pp = &s->delayed; *pp; pp = &(*pp)->next) {
            if (*pp == it) {
                *pp = it->next;
                it->delayed = false;
                it->queue = NULL;
                return true;
            }
        }
        return false;
    }
    rl_item *prev = NULL;
    for (rl_item *x = q->head; x; prev = x, x = x->next) {
        if (x != it)
            continue;
        if (prev)
            prev->next = x->next;
        else
            q->head = x->next;
        if (q->tail == x)
            q->tail = prev;
        if (!q->head && q->in_ring)
            ring_remove(q);
        q->loc->pending--;
        s->pending--;
        it->queue = NULL;
        return true;
    }
    return false;
}

static rl_item *pop(rl_queue *q)
{
    rl_item *it = q->head;
    q->head = it->next;
    if (!q->head)
        q->tail = NULL;
    it->next = NULL;
    q->loc->pending--;
    q->loc->s->pending--;
    return it;
}

/* Release what loc's budget allows now; returns the next time something could be released. */
static uint64_t dispatch_loc(rl_loc *l, uint64_t now, uint64_t wall)
{
    (void)wall;
    while (l->pending > 0) {
        if (l->b.inflight >= l->b.p.max_inflight)
            return UINT64_MAX; /* a completion will re-dispatch */
        int prio = 0;
        while (prio < RL_NPRIO && !l->ring[prio])
            prio++;
        if (prio == RL_NPRIO)
            return UINT64_MAX;
        uint64_t at = rl_budget_next(&l->b, prio, now);
        if (at > now)
            return at;
        if (l->day_logged && !l->b.day_block_until) {
            log_event(l->s->L->log, LOG_INFO, "rate.daily_resumed", "location", l->id, NULL);
            l->day_logged = false;
        }
        rl_queue *q = l->ring[prio];
        rl_item *it = pop(q);
        /* advance the cursor so the next request of this priority comes from the next queue */
        l->ring[prio] = q->next_ring;
        if (!q->head)
            ring_remove(q);
        rl_budget_take(&l->b, prio, now);
        it->queue = NULL;
        it->grant(it);
    }
    return UINT64_MAX;
}

uint64_t rl_sched_dispatch(rl_sched *s, uint64_t now, uint64_t wall)
{
    s->in_dispatch = true;
    uint64_t next = UINT64_MAX;
    /* s->delayed is newest first: collect the due items reversed, so that they join their
     * queues in the order they were submitted (a retry submitted earlier goes first) */
    rl_item *due = NULL;
    for (rl_item **pp = &s->delayed; *pp;) {
        rl_item *it = *pp;
        if (it->due_ms <= now) {
            *pp = it->next;
            it->next = due;
            due = it;
        } else {
            if (it->due_ms < next)
                next = it->due_ms;
            pp = &it->next;
        }
    }
    while (due) {
        rl_item *it = due;
        due = it->next;
        enqueue(it->queue, it);
    }
    /* Only the locations with something pending: an idle mirror of thousands of locations
     * dispatches on every request start and answer. Those that got something pending during
     * the walk (a grant that queues more) are walked next, as the walk of every location did. */
    rl_loc *todo = s->act;
    s->act = NULL;
    while (s->incoming) {
        rl_loc *l = s->incoming;
        s->incoming = l->next_act;
        l->next_act = todo;
        todo = l;
    }
    while (todo) {
        for (rl_loc *l = todo, *ln; l; l = ln) {
            ln = l->next_act;
            if (l->pending > 0) {
                uint64_t at = dispatch_loc(l, now, wall);
                if (at < next)
                    next = at;
            }
            if (l->pending > 0) {
                l->next_act = s->act;
                s->act = l;
            } else {
                l->active = false;
                l->next_act = NULL;
            }
        }
        todo = s->incoming;
        s->incoming = NULL;
    }
    s->in_dispatch = false;
    return next;
}

static void on_timer(uv_timer_t *t)
{
    rl_sched *s = t->data;
    s->armed_at = UINT64_MAX;
    uv_update_time(&s->L->uv);
    uint64_t next = rl_sched_dispatch(s, gs_loop_now_ms(s->L), gs_wall_ms());
    arm(s, next);
}

/* The time of a completion: never earlier than now. The loop's cached time is that of the start
 * of the current iteration; a response read later in it (curl handles other transfers' data in
 * the same call, and the process may be descheduled for tens of ms on a busy machine) may have
 * arrived at the server after that time, and a slot held from the cached time would free before
 * the server's window does (429s seen under load). Read the clock; the later of the two. */
static uint64_t completion_now(const rl_sched *s)
{
    uint64_t cached = gs_loop_now_ms(s->L);
    uint64_t fresh = uv_hrtime() / 1000000u;
    return fresh > cached ? fresh : cached;
}

void rl_complete(rl_loc *l, const http_rate *rate, long status)
{
    rl_sched *s = l->s;
    uint64_t now = completion_now(s);
    int blocked = rl_budget_done(&l->b, rate, status, now, gs_wall_ms());
    if (blocked && !l->day_logged) {
        char secs[32];
        snprintf(secs, sizeof secs, "%llu",
                 (unsigned long long)((l->b.day_block_until - now) / 1000u));
        log_event(s->L->log, LOG_WARN, "rate.daily_exhausted", "location", l->id, "resume_in_s",
                  secs, "msg",
                  "daily request budget used up; every request to this location waits for the "
                  "UTC day to roll over and resumes by itself",
                  NULL);
        l->day_logged = true;
    }
    if (status == 429)
        log_event(s->L->log, LOG_WARN, "rate.429", "location", l->id, NULL);
    if (l->pending > 0)
        arm(s, now);
}
