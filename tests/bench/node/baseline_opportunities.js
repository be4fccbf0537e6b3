// Opportunities baseline for tests/bench/opportunities.sh: what a user would write without
// ghlsync. HighLevel's official SDK pages through POST /opportunities/search
// (searchOpportunitiesAdvanced) with searchAfter, 500 per page; each page goes to PostgreSQL
// with one multi-row INSERT ... ON CONFLICT (the opportunity whole as jsonb).
// Env: HL_BASE, HL_TOKEN, HL_LOC, PG* (database with table opportunities).
const { HighLevel } = require('@gohighlevel/api-client');
const { Client } = require('pg');

async function main() {
    HighLevel.BASE_URL = process.env.HL_BASE;
    const ghl = new HighLevel({ privateIntegrationToken: process.env.HL_TOKEN, logLevel: 'error' });
    const db = new Client();
    await db.connect();
    let after = [];
    let total = 0;
    for (;;) {
        const res = await ghl.opportunities.searchOpportunitiesAdvanced({
            locationId: process.env.HL_LOC, query: '', limit: 500, page: 1, searchAfter: after,
            additionalDetails: { notes: false, tasks: false, calendarEvents: false, unReadConversations: false },
        });
        const recs = res.opportunities || [];
        if (recs.length === 0) break;
        const vals = [];
        const rows = recs.map((r, i) => {
            vals.push(r.id, r.locationId, JSON.stringify(r), r.createdAt, r.updatedAt);
            const b = i * 5;
            return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5})`;
        });
        await db.query(
            'INSERT INTO opportunities (id, location_id, data, created_at, updated_at) VALUES ' +
            rows.join(', ') +
            ' ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at',
            vals);
        total += recs.length;
        after = recs[recs.length - 1].searchAfter;
    }
    await db.end();
    console.log(`baseline: ${total} opportunities`);
}
main().catch((e) => { console.error(e && e.message ? e.message : e); process.exit(1); });
