// HighLevel's official JS SDK (@gohighlevel/api-client) against our simulator.
//
// The simulator is only worth what its fidelity is worth: this drives it with the SDK that
// HighLevel publishes and that works against the live API, so a request shape or a response
// shape the real service accepts and the simulator refuses (or the reverse) shows up here.
//
//   node sdk_check.js BASE_URL ADMIN_TOKEN LOCATION_ID ACCESS_TOKEN REFRESH_TOKEN OTHER_LOC_TOKEN
//
// Prints "ok - name" / "not ok - name: why" per check and a final "N passed, M failed".
'use strict';
const { HighLevel } = require('@gohighlevel/api-client');

const [base, adminToken, loc, token, refresh, otherToken] = process.argv.slice(2);
HighLevel.BASE_URL = base;

let passed = 0, failed = 0;
function report(name, ok, why) {
  if (ok) { passed++; console.log(`ok - ${name}`); }
  else { failed++; console.log(`not ok - ${name}: ${why}`); }
}
async function check(name, fn) {
  try { const why = await fn(); report(name, !why, why); }
  catch (e) {
    const st = e.statusCode || (e.response && e.response.status);
    report(name, false, `threw ${st || ''} ${e.message}`);
  }
}
async function expectError(fn, status) {
  try { await fn(); return `expected HTTP ${status}, got success`; }
  catch (e) {
    const st = e.statusCode || (e.response && e.response.status);
    return st === status ? null : `expected HTTP ${status}, got ${st} ${e.message}`;
  }
}
async function admin(method, path, body) {
  const r = await fetch(base + path, {
    method, headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return r.json();
}
const quiet = { logLevel: 'none' };
const ghl = new HighLevel({ privateIntegrationToken: token, ...quiet });
const PET = 'custom_objects.pet';

(async () => {
  await check('list objects', async () => {
    const r = await ghl.objects.getObjectByLocationId({ locationId: loc });
    const keys = r.objects.map(o => o.key);
    for (const k of [PET, 'business', 'contact', 'opportunity'])
      if (!keys.includes(k)) return `missing ${k} in ${keys}`;
  });

  await check('schema with fields, every data type', async () => {
    const r = await ghl.objects.getObjectSchemaByKey({ key: PET, locationId: loc, fetchProperties: 'true' });
    const types = new Set(r.fields.map(f => f.dataType));
    for (const t of ['TEXT', 'LARGE_TEXT', 'NUMERICAL', 'PHONE', 'MONETORY', 'CHECKBOX', 'SINGLE_OPTIONS',
                     'MULTIPLE_OPTIONS', 'DATE', 'TEXTBOX_LIST', 'FILE_UPLOAD', 'RADIO'])
      if (!types.has(t)) return `no ${t} field`;
    if (r.object.key !== PET) return `object.key ${r.object.key}`;
  });

  await check('search pages with searchAfter cover every record once', async () => {
    const seen = new Set();
    let after = [], total = null;
    for (let i = 0; i < 100; i++) {
      const p = await ghl.objects.searchObjectRecords({ schemaKey: PET },
        { locationId: loc, page: 1, pageLimit: 7, query: '', searchAfter: after });
      total = p.total;
      if (p.records.length === 0) break;
      for (const r of p.records) {
        if (seen.has(r.id)) return `record ${r.id} seen twice`;
        seen.add(r.id);
      }
      after = p.records[p.records.length - 1].searchAfter;
    }
    if (seen.size !== total) return `saw ${seen.size} records, total says ${total}`;
  });

  let id;
  await check('create, get, update (merge), delete a record', async () => {
    const c = await ghl.objects.createObjectRecord({ schemaKey: PET },
      { locationId: loc, properties: { name: 'Rex', age: 3, price: { currency: 'default', value: 12.5 } } });
    id = c.record.id;
    if (!/^[0-9a-f]{24}$/.test(id)) return `odd id ${id}`;
    const g = await ghl.objects.getRecordById({ schemaKey: PET, id });
    if (g.record.properties.name !== 'Rex') return `get: ${JSON.stringify(g.record.properties)}`;
    const u = await ghl.objects.updateObjectRecord({ schemaKey: PET, id, locationId: loc },
      { properties: { name: 'Rex II' } });
    if (u.record.properties.name !== 'Rex II' || u.record.properties.age !== 3)
      return `update did not merge: ${JSON.stringify(u.record.properties)}`;
    const d = await ghl.objects.deleteObjectRecord({ schemaKey: PET, id });
    if (d.success !== true) return `delete: ${JSON.stringify(d)}`;
    return expectError(() => ghl.objects.getRecordById({ schemaKey: PET, id }), 404);
  });

  await check('invalid option is a 422 naming the field', async () => {
    try {
      await ghl.objects.createObjectRecord({ schemaKey: PET },
        { locationId: loc, properties: { name: 'x', species: 'no-such-option' } });
      return 'accepted an unknown option';
    } catch (e) {
      const st = e.statusCode || (e.response && e.response.status);
      if (st !== 422) return `status ${st}`;
      if (!/species/.test(e.message)) return `message does not name the field: ${e.message}`;
    }
  });

  await check('business records through the records endpoints', async () => {
    const p = await ghl.objects.searchObjectRecords({ schemaKey: 'business' },
      { locationId: loc, page: 1, pageLimit: 5, query: '', searchAfter: [] });
    if (!Array.isArray(p.records) || p.records.length === 0) return 'no business records';
  });

  await check('custom field create (parentId required, as the spec says), update label, delete', async () => {
    const before = await ghl.customFields.getCustomFieldsByObjectKey({ objectKey: PET, locationId: loc });
    const parentId = before.fields[0].parentId;
    const missing = await expectError(() => ghl.customFields.createCustomField({
      locationId: loc, name: 'Colour', dataType: 'TEXT', fieldKey: `${PET}.colour`,
      objectKey: PET, showInForms: true }), 422);
    if (missing) return `without parentId: ${missing}`;
    const c = await ghl.customFields.createCustomField({
      locationId: loc, name: 'Colour', dataType: 'TEXT', fieldKey: `${PET}.colour`,
      objectKey: PET, showInForms: true, description: 'coat colour', parentId });
    const f = c.field || c;
    if (!f.id) return `no field id in ${JSON.stringify(c)}`;
    await ghl.customFields.updateCustomField({ id: f.id }, { locationId: loc, name: 'Coat colour', showInForms: true });
    const list = await ghl.customFields.getCustomFieldsByObjectKey({ objectKey: PET, locationId: loc });
    const got = list.fields.find(x => x.id === f.id);
    if (!got || got.name !== 'Coat colour') return `label not updated: ${JSON.stringify(got)}`;
    await ghl.customFields.deleteCustomField({ id: f.id });
    const after = await ghl.customFields.getCustomFieldsByObjectKey({ objectKey: PET, locationId: loc });
    if (after.fields.find(x => x.id === f.id)) return 'field still listed after delete';
  });

  // ---- contacts ------------------------------------------------------------------------------
  const cfs = await (async () => {
    try { return (await ghl.locations.getCustomFields({ locationId: loc, model: 'contact' })).customFields; }
    catch (e) { return []; }
  })();
  const cfId = key => (cfs.find(f => f.fieldKey === `contact.${key}`) || {}).id;

  await check('contact custom field definitions: every data type, same ids in the schema', async () => {
    const types = new Set(cfs.map(f => f.dataType));
    for (const t of ['TEXT', 'LARGE_TEXT', 'NUMERICAL', 'MONETORY', 'SINGLE_OPTIONS', 'MULTIPLE_OPTIONS',
                     'CHECKBOX', 'RADIO', 'DATE', 'PHONE', 'TEXTBOX_LIST', 'FILE_UPLOAD'])
      if (!types.has(t)) return `no contact ${t} field`;
    const s = await ghl.objects.getObjectSchemaByKey({ key: 'contact', locationId: loc, fetchProperties: 'true' });
    for (const f of cfs)
      if (!s.fields.find(g => g.id === f.id && g.fieldKey === f.fieldKey)) return `${f.fieldKey} not in the schema`;
  });

  await check('searchContactsAdvanced pages with searchAfter cover every contact once', async () => {
    const seen = new Set();
    let after = null, total = null;
    for (let i = 0; i < 200; i++) {
      const body = { locationId: loc, pageLimit: 9,
        sort: [{ field: 'dateUpdated', direction: 'asc' }],
        filters: [{ field: 'dateUpdated', operator: 'range', value: { gte: '2024-01-01T00:00:00.000Z' } }] };
      if (after) body.searchAfter = after;
      const p = await ghl.contacts.searchContactsAdvanced(body);
      total = p.total;
      if (p.contacts.length === 0) break;
      for (const c of p.contacts) {
        if (seen.has(c.id)) return `contact ${c.id} seen twice`;
        if ('firstName' in c) return 'search sent firstName (the docs say only the LowerCase forms)';
        seen.add(c.id);
      }
      after = p.contacts[p.contacts.length - 1].searchAfter;
    }
    if (!(total > 0) || seen.size !== total) return `saw ${seen.size} contacts, total says ${total}`;
  });

  await check('searchContactsAdvanced refuses an unknown key and a deep page (422)', async () => {
    const e1 = await expectError(() => ghl.contacts.searchContactsAdvanced({ locationId: loc, pageLimit: 5, limit: 5 }), 422);
    if (e1) return `unknown key: ${e1}`;
    return expectError(() => ghl.contacts.searchContactsAdvanced({ locationId: loc, pageLimit: 500, page: 21 }), 422);
  });

  await check('createContact, getContact, updateContact, addTags, removeTags, deleteContact', async () => {
    const c = await ghl.contacts.createContact({ locationId: loc, firstName: 'Ada', lastName: 'Lovelace',
      email: 'ada@example.com', phone: '+1 555 010 2030', tags: ['math'],
      customFields: [{ id: cfId('plan'), field_value: 'Pro' }, { key: 'score', field_value: 42 }] });
    const id = c.contact && c.contact.id;
    if (!id) return `create: ${JSON.stringify(c)}`;
    const g = await ghl.contacts.getContact({ contactId: id });
    if (g.contact.firstName !== 'Ada') return `get: ${JSON.stringify(g.contact)}`;
    const plan = (g.contact.customFields || []).find(x => x.id === cfId('plan'));
    if (!plan || plan.value !== 'Pro') return `custom field read shape: ${JSON.stringify(g.contact.customFields)}`;
    const u = await ghl.contacts.updateContact({ contactId: id }, { city: 'London' });
    if (u.succeded !== true || u.contact.city !== 'London' || u.contact.firstName !== 'Ada')
      return `update: ${JSON.stringify(u)}`;
    const a = await ghl.contacts.addTags({ contactId: id }, { tags: ['engine'] });
    if (!a.tags || !a.tags.includes('math') || !a.tags.includes('engine')) return `addTags: ${JSON.stringify(a)}`;
    const r = await ghl.contacts.removeTags({ contactId: id }, { tags: ['math'] });
    if (!r.tags || r.tags.join() !== 'engine') return `removeTags: ${JSON.stringify(r)}`;
    const up = await ghl.contacts.upsertContact({ locationId: loc, email: 'ada@example.com', state: 'CA' });
    if (up.new !== false || up.contact.id !== id) return `upsert: ${JSON.stringify(up)}`;
    const d = await ghl.contacts.deleteContact({ contactId: id });
    if (d.succeded !== true) return `delete: ${JSON.stringify(d)}`;
    return expectError(() => ghl.contacts.getContact({ contactId: id }), 404);
  });

  await check('additionalEmails is not writable (422), a bad option is a 422 naming the field', async () => {
    const e1 = await expectError(() => ghl.contacts.createContact({ locationId: loc, additionalEmails: ['x@example.com'] }), 422);
    if (e1) return e1;
    try {
      await ghl.contacts.createContact({ locationId: loc, customFields: [{ id: cfId('plan'), field_value: 'Gold' }] });
      return 'accepted an unknown option';
    } catch (e) {
      const st = e.statusCode || (e.response && e.response.status);
      if (st !== 422) return `status ${st}`;
    }
  });

  await check('duplicate rule: createContact answers 400 with meta.contactId', async () => {
    const c = await ghl.contacts.createContact({ locationId: loc, firstName: 'Dup', email: 'dup@example.com' });
    await admin('PUT', `/_admin/contact-settings?locationId=${loc}`, { duplicates: ['email'] });
    let why = 'second create succeeded';
    try { await ghl.contacts.createContact({ locationId: loc, email: 'DUP@example.com' }); }
    catch (e) {
      const st = e.statusCode || (e.response && e.response.status);
      // the SDK's GHLError carries the response body as e.response
      const body = (e.response && e.response.data) || e.response || {};
      const meta = body.meta || {};
      why = st === 400 && meta.contactId === c.contact.id && meta.matchingField === 'email' &&
        body.message === 'This location does not allow duplicated contacts.'
        ? null : `status ${st}, ${JSON.stringify(body).slice(0, 300)}`;
    }
    await admin('PUT', `/_admin/contact-settings?locationId=${loc}`, { duplicates: [] });
    await ghl.contacts.deleteContact({ contactId: c.contact.id });
    return why;
  });

  // ---- opportunities and pipelines -------------------------------------------------------------
  let pipes = [];
  await check('getPipelines: pipelines with stages {id, name, position}', async () => {
    pipes = (await ghl.opportunities.getPipelines({ locationId: loc })).pipelines;
    if (!pipes.length) return 'no pipelines';
    for (const p of pipes)
      for (const s of p.stages)
        if (!s.id || !s.name || typeof s.position !== 'number') return `stage ${JSON.stringify(s)}`;
  });

  await check('searchOpportunity pages by meta.startAfter/startAfterId, never nextPageUrl', async () => {
    const seen = new Set();
    let startAfter, startAfterId, total = null;
    for (let i = 0; i < 100; i++) {
      const p = await ghl.opportunities.searchOpportunity({ locationId: loc, limit: 11, startAfter, startAfterId });
      total = p.meta.total;
      for (const o of p.opportunities) {
        if (seen.has(o.id)) return `opportunity ${o.id} seen twice`;
        seen.add(o.id);
      }
      if (p.meta.nextPageUrl && !p.meta.nextPageUrl.startsWith('http://localhost:5066/')) return `nextPageUrl ${p.meta.nextPageUrl}`;
      if (!p.meta.nextPageUrl) break;
      startAfter = String(p.meta.startAfter);
      startAfterId = p.meta.startAfterId;
    }
    if (!(total > 0) || seen.size !== total) return `saw ${seen.size}, total says ${total}`;
  });

  await check('searchOpportunitiesAdvanced pages with searchAfter; 401 when switched off', async () => {
    const seen = new Set();
    let after = [], total = null;
    for (let i = 0; i < 100; i++) {
      const p = await ghl.opportunities.searchOpportunitiesAdvanced({ locationId: loc, query: '', limit: 13, page: 1,
        searchAfter: after, additionalDetails: { notes: false, tasks: false, calendarEvents: false, unReadConversations: false } });
      total = p.total;
      if (!p.opportunities.length) break;
      for (const o of p.opportunities) seen.add(o.id);
      after = p.opportunities[p.opportunities.length - 1].searchAfter;
    }
    if (seen.size !== total) return `saw ${seen.size}, total says ${total}`;
    await admin('PUT', '/_admin/switches', { oppPostSearch: '401' });
    const e = await expectError(() => ghl.opportunities.searchOpportunitiesAdvanced({ locationId: loc, limit: 5 }), 401);
    await admin('PUT', '/_admin/switches', { oppPostSearch: 'on' });
    return e;
  });

  await check('createOpportunity, getOpportunity, updateOpportunity (stage), updateOpportunityStatus, deleteOpportunity', async () => {
    const p = pipes[0];
    const contact = (await ghl.contacts.searchContactsAdvanced({ locationId: loc, pageLimit: 1 })).contacts[0];
    const c = await ghl.opportunities.createOpportunity({ locationId: loc, pipelineId: p.id, name: 'SDK deal',
      status: 'open', contactId: contact.id, monetaryValue: 250 });
    const id = c.opportunity && c.opportunity.id;
    if (!id || c.opportunity.pipelineStageId !== p.stages[0].id) return `create: ${JSON.stringify(c).slice(0, 300)}`;
    const u = await ghl.opportunities.updateOpportunity({ id }, { pipelineStageId: p.stages[1].id });
    if (u.opportunity.pipelineStageId !== p.stages[1].id) return `update: ${JSON.stringify(u).slice(0, 300)}`;
    const bad = await expectError(() => ghl.opportunities.updateOpportunity({ id }, { pipelineStageId: pipes[1].stages[0].id }), 400);
    if (bad) return `stage of another pipeline: ${bad}`;
    const lr = (await ghl.opportunities.getLostReason({ locationId: loc })).lostReasons[0];
    const s = await ghl.opportunities.updateOpportunityStatus({ id }, { status: 'lost', lostReasonId: lr.id });
    if (s.succeded !== true) return `status: ${JSON.stringify(s)}`;
    const g = await ghl.opportunities.getOpportunity({ id });
    if (g.opportunity.status !== 'lost' || g.opportunity.lostReasonId !== lr.id) return `get: ${JSON.stringify(g).slice(0, 300)}`;
    const d = await ghl.opportunities.deleteOpportunity({ id });
    if (d.succeded !== true) return `delete: ${JSON.stringify(d)}`;
    return expectError(() => ghl.opportunities.getOpportunity({ id }), 404);
  });

  await check('bad token is 401, other location is 403', async () => {
    const bad = new HighLevel({ privateIntegrationToken: 'nope-not-a-token', ...quiet });
    const e1 = await expectError(() => bad.objects.getObjectByLocationId({ locationId: loc }), 401);
    if (e1) return e1;
    const other = new HighLevel({ privateIntegrationToken: otherToken, ...quiet });
    return expectError(() => other.objects.getObjectByLocationId({ locationId: loc }), 403);
  });

  await check('OAuth refresh rotates the refresh token', async () => {
    // hlsim's default client credentials (tests/hlsim/README.md).
    const [clientId, clientSecret] = ['hlsim-client', 'hlsim-secret'];
    const t1 = await ghl.oauth.refreshToken(refresh, clientId, clientSecret, 'refresh_token', 'Location');
    if (!t1.access_token || !t1.refresh_token || t1.refresh_token === refresh)
      return `no rotated pair: ${JSON.stringify(t1)}`;
    const reuse = await expectError(
      () => ghl.oauth.refreshToken(refresh, clientId, clientSecret, 'refresh_token', 'Location'), 400);
    if (reuse) return `the used refresh token: ${reuse}`;
    const fresh = new HighLevel({ privateIntegrationToken: t1.access_token, ...quiet });
    await fresh.objects.getObjectByLocationId({ locationId: loc });
  });

  await check('burst 429 carries the headers the SDK waits on, and the SDK recovers', async () => {
    await admin('PUT', '/_admin/ratelimit', { burst: 5, windowMs: 1000, daily: 0 });
    const sdk = new HighLevel({ privateIntegrationToken: token, rateLimitRetry: { maxRetries: 5 }, ...quiet });
    const calls = [];
    for (let i = 0; i < 12; i++) calls.push(sdk.objects.getObjectByLocationId({ locationId: loc }));
    const res = await Promise.allSettled(calls);
    const bad = res.filter(r => r.status !== 'fulfilled');
    const counters = await admin('GET', '/_admin/counters');
    await admin('PUT', '/_admin/ratelimit', { burst: 100, windowMs: 10000, daily: 200000 });
    if (bad.length) return `${bad.length} calls failed: ${bad[0].reason && bad[0].reason.message}`;
    if (!(counters.served429 > 0)) return 'the burst never hit a 429 (limit not enforced?)';
  });

  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
