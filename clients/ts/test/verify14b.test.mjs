// Issue 14 verification (second tester): an anonymous TypeScript watcher
// of examples/blog's blog/watch sees published posts only: drafts never,
// a publication as create, an unpublication as delete {_id}; the admin's
// own draft edits never reach it; stop() then a second stop is harmless
// and watch/delete of the stopped id is 400 CORE_WATCH_INVALID_WATCH.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LimpClient, LimpError } from '../dist/index.js';
import { startBlog } from './server.mjs';

const ADMIN = ['email', 'ADMIN@LIMP.MASAAR.COM', '__ADMIN'];
let srv;
const clients = [];
async function connect(opts = {}) {
  const c = await LimpClient.connect(srv.ws, { heartbeatInterval: 0, ...opts });
  clients.push(c);
  return c;
}
before(async () => { srv = await startBlog(); });
after(async () => { for (const c of clients) c.close(); await srv?.stop(); });

const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: nothing within ${ms} ms`)), ms))]);

test('verify14b: anonymous blog/watch sees published posts only, enter and leave', async () => {
  const admin = await connect();
  await admin.auth(...ADMIN);
  const anon = await connect();
  const w = await anon.watch('blog/watch', [{ $attrs: ['permalink', 'status'] }]);
  assert.equal(w.created.args.code, 'CORE_WATCH_OK');
  const it = w[Symbol.asyncIterator]();
  const stamp = Date.now();
  const mk = async (p, status) => {
    const doc = { title: { ar_AE: p }, content: { ar_AE: 'c' }, permalink: `${p}-${stamp}`, cat: '5e1d2e3f4a5b6c7d8e9f0a1b' };
    if (status) doc.status = status;
    return (await admin.call('blog/create', [], doc)).args.docs[0]._id;
  };
  const draft = await mk('v14b-draft');
  await admin.call('blog/update', [{ _id: draft }], { content: { ar_AE: 'secret' } });
  const pub = await mk('v14b-pub', 'published');
  let ev = await within(it.next(), 10_000, 'published create');
  assert.equal(ev.value.args.oper, 'create');
  assert.deepEqual(ev.value.args.docs, [{ _id: pub, permalink: `v14b-pub-${stamp}`, status: 'published' }]);
  assert.equal(ev.value.args.seq, 1);
  await admin.call('blog/update', [{ _id: draft }], { status: 'published' });
  ev = await within(it.next(), 10_000, 'draft published');
  assert.equal(ev.value.args.oper, 'create');
  assert.equal(ev.value.args.docs[0]._id, draft);
  await admin.call('blog/update', [{ _id: draft }], { status: 'draft' });
  ev = await within(it.next(), 10_000, 'unpublished');
  assert.equal(ev.value.args.oper, 'delete');
  assert.deepEqual(ev.value.args.docs, [{ _id: draft }]);
  assert.equal(ev.value.args.seq, 3);
  await admin.call('blog/update', [{ _id: draft }], { content: { ar_AE: 'more secret' } });
  await admin.call('blog/delete', [{ _id: draft }]);
  await admin.call('blog/delete', [{ _id: pub }]);
  ev = await within(it.next(), 10_000, 'published deleted');
  assert.equal(ev.value.args.oper, 'delete');
  assert.deepEqual(ev.value.args.docs, [{ _id: pub }]);
  assert.equal(ev.value.args.seq, 4);
  const id = w.callId;
  await w.stop();
  await w.stop();
  await assert.rejects(anon.call('watch/delete', [{ watch: id }]), (e) => e instanceof LimpError && e.status === 400 && e.code === 'CORE_WATCH_INVALID_WATCH');
});
