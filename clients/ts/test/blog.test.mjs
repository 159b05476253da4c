// The client against examples/blog, started by the test (see server.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LimpClient, LimpError } from '../dist/index.js';
import { startBlog, blogBinary } from './server.mjs';

const ADMIN = ['email', 'ADMIN@LIMP.MASAAR.COM', '__ADMIN'];
// A 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

let srv;
const clients = [];
async function connect(opts = {}) {
  const c = await LimpClient.connect(srv.ws, { heartbeatInterval: 0, ...opts });
  clients.push(c);
  return c;
}

before(async () => {
  srv = await startBlog();
});
after(async () => {
  for (const c of clients) c.close();
  await srv?.stop();
});

test('admin creates a blog_cat and reads it back; anon reads it too', async () => {
  const admin = await connect();
  const s = await admin.auth(...ADMIN);
  assert.match(s._id, /^[0-9a-f]{24}$/);
  const created = await admin.call('blog_cat/create', [], { title: { ar_AE: 'تقنية', en_AE: 'Tech' } });
  const id = created.args.docs[0]._id;
  const read = await admin.call('blog_cat/read', [{ _id: id }]);
  assert.equal(read.args.count, 1);
  assert.deepEqual(read.args.docs[0].title, { ar_AE: 'تقنية', en_AE: 'Tech' });
  const anon = await connect();
  const r2 = await anon.call('blog_cat/read', [{ _id: id }]);
  assert.equal(r2.args.docs[0]._id, id);
  // ANON may not create: a LimpError with the server's status and code.
  await assert.rejects(anon.call('blog_cat/create', [], { title: { en_AE: 'x' } }), (e) => e instanceof LimpError && e.status === 403 && /^CORE_/.test(e.code));
});

test('wrong password: CORE_SESSION_INVALID_CREDS; the connection keeps working', async () => {
  const c = await connect();
  await assert.rejects(c.auth('email', 'ADMIN@LIMP.MASAAR.COM', 'wrong'), (e) => e instanceof LimpError && e.code === 'CORE_SESSION_INVALID_CREDS');
  assert.equal((await c.call('blog_cat/read')).status, 200);
});

test('sign up, sign in, list documents, reauth on a new connection, sign out', async () => {
  const anon = await connect();
  const email = `reader${Date.now()}@example.com`;
  await anon.call('user/create', [], { name: { ar_AE: 'قارئ' }, email, email_hash: anon.hash('email', email, 's3cret') });
  const c = await connect();
  const s = await c.auth('email', email, 's3cret');
  assert.equal(s.user.email, email);
  const post = await c.call('blog/create', [], { title: { ar_AE: 'مرحبا' }, content: { ar_AE: '...' }, permalink: 'p-' + Date.now(), cat: '5e1d2e3f4a5b6c7d8e9f0a1b' });
  const mine = await c.call('blog/read', [{ $limit: 10 }]);
  assert.ok(mine.args.docs.some((d) => d._id === post.args.docs[0]._id), 'the author reads their draft');
  const again = await connect();
  const s2 = await again.reauth(s._id, s.token);
  assert.equal(s2._id, s._id);
  assert.equal(again.session._id, s._id);
  assert.equal((await again.call('blog/read', [{ _id: post.args.docs[0]._id }])).args.count, 1);
  await again.signout();
  assert.equal(again.session, null);
  assert.equal((await again.call('blog/read', [{ _id: post.args.docs[0]._id }])).args.count, 0, 'ANON sees only published posts');
});

test('50 concurrent calls on one connection resolve to their own replies', async () => {
  const c = await connect();
  await c.auth(...ADMIN); // a session of its own: the quota of authed sessions is 100 calls a minute
  const titles = Array.from({ length: 50 }, (_, i) => 'c' + i);
  const res = await Promise.all(titles.map((t) => c.call('blog_cat/create', [], { title: { ar_AE: t, en_AE: t } })));
  const back = await Promise.all(res.map((r) => c.call('blog_cat/read', [{ _id: r.args.docs[0]._id }]).catch((e) => e)));
  for (const [i, r] of res.entries()) {
    assert.equal(r.status, 200);
    if (back[i] instanceof Error) continue; // past the quota
    assert.equal(back[i].args.docs[0].title.en_AE, titles[i]);
  }
});

test('chunked upload over the websocket, then download with X-Auth headers', async () => {
  const c = await connect({ chunkSize: 16 });
  await c.auth(...ADMIN);
  await c.upload('cover', 0, { name: 'dot.png', type: 'image/png', lastModified: 1578220000000, data: new Uint8Array(PNG) });
  const post = await c.call('blog/create', [], { title: { ar_AE: 't' }, content: { ar_AE: 'c' }, permalink: 'up-' + Date.now(), cat: '5e1d2e3f4a5b6c7d8e9f0a1b', cover: [] });
  const id = post.args.docs[0]._id;
  const read = await c.call('blog/read', [{ _id: id }]);
  const cover = read.args.docs[0].cover;
  assert.equal(cover.name, 'dot.png');
  assert.equal(cover.size, PNG.length);
  const blob = await c.download('blog', id, 'cover', 'dot.png');
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), PNG);
  assert.equal(c.fileURL('blog', id, 'cover', 'dot.png'), `${srv.http}/blog/retrieve_file/${id}/cover/dot.png`);
});

test('multipart POST /file/create, then attach with {__file: id}', async () => {
  const c = await connect();
  await c.auth(...ADMIN);
  const fid = await c.uploadHTTP('blog', 'cover', { name: 'h.png', type: 'image/png', data: new Blob([PNG], { type: 'image/png' }) });
  const post = await c.call('blog/create', [], { title: { ar_AE: 't' }, content: { ar_AE: 'c' }, permalink: 'http-' + Date.now(), cat: '5e1d2e3f4a5b6c7d8e9f0a1b', cover: { __file: fid } });
  const read = await c.call('blog/read', [{ _id: post.args.docs[0]._id }]);
  assert.equal(read.args.docs[0].cover.name, 'h.png');
  // A refused upload: ANON may not write blog.
  const anon = await connect();
  await assert.rejects(anon.uploadHTTP('blog', 'cover', { name: 'x.png', type: 'image/png', data: new Uint8Array(PNG) }), (e) => e instanceof LimpError && e.status === 403);
});

test('a watch on blog follows creates (blog/watch, spec §6.12)', async () => {
  const admin = await connect();
  await admin.auth(...ADMIN);
  const w = await admin.watch('blog/watch', []);
  assert.equal(w.created.args.code, 'CORE_WATCH_OK');
  const it = w[Symbol.asyncIterator]();
  const created = await admin.call('blog/create', [], { title: { ar_AE: 'w' }, content: { ar_AE: 'c' }, permalink: 'watch-' + Date.now(), cat: '5e1d2e3f4a5b6c7d8e9f0a1b' });
  const ev = await Promise.race([it.next(), new Promise((_, rej) => setTimeout(() => rej(new Error('no watch event within 10 s')), 10_000))]);
  assert.equal(ev.value.args.watch, w.id);
  assert.equal(ev.value.args.oper, 'create');
  assert.equal(ev.value.args.docs[0]._id, created.args.docs[0]._id);
  await w.stop();
});

test('a watch resumes by itself after a reconnect: no gap, no duplicate (reconnect option)', async () => {
  const admin = await connect({ reconnect: { minDelay: 20, maxDelay: 200 } });
  await admin.auth(...ADMIN);
  const w = await admin.watch('blog/watch', [{ $attrs: ['permalink'] }]);
  assert.equal(typeof w.created.args.resume, 'string');
  const writer = await connect();
  await writer.auth(...ADMIN);
  const stamp = Date.now();
  const mk = (p) => writer.call('blog/create', [], { title: { ar_AE: p }, content: { ar_AE: 'c' }, permalink: `${p}-${stamp}`, cat: '5e1d2e3f4a5b6c7d8e9f0a1b' });
  const it = w[Symbol.asyncIterator]();
  const got = [];
  const next = async () => {
    const ev = await Promise.race([it.next(), new Promise((_, rej) => setTimeout(() => rej(new Error(`no watch event within 10 s (got ${got})`)), 10_000))]);
    got.push(`${ev.value.args.seq}:${ev.value.args.docs[0].permalink}`);
  };
  await mk('a');
  await next();
  for (let round = 0; round < 2; round++) {
    admin.ws.close(); // the socket goes away under the client (a private field)
    for (let i = 0; i < 3; i++) await mk(`r${round}-${i}`);
    for (let i = 0; i < 3; i++) await next();
  }
  await mk('z');
  await next();
  const want = [`1:a-${stamp}`, `2:r0-0-${stamp}`, `3:r0-1-${stamp}`, `4:r0-2-${stamp}`, `5:r1-0-${stamp}`, `6:r1-1-${stamp}`, `7:r1-2-${stamp}`, `8:z-${stamp}`];
  assert.deepEqual(got, want);
  assert.notEqual(w.callId, w.id);
  assert.equal(w.seq, 8);
  // The client signed in again: the admin reads again.
  assert.equal((await admin.call('blog/read', [{ permalink: `z-${stamp}` }])).args.count, 1);
  await w.stop();
});

test('--generate-ts writes types that type-check a typed client', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  {
    execFileSync(blogBinary(), ['--generate-ts', join(here, 'gen')], { stdio: 'pipe' });
    const src = readFileSync(join(here, 'gen', 'limp-api.ts'), 'utf8');
    // The root package's golden file (every attr shape) must compile too.
    copyFileSync(join(here, '..', '..', '..', 'testdata', 'generate_ts.golden'), join(here, 'gen', 'kitchen.ts'));
    assert.match(src, /export interface BlogCat \{/);
    assert.match(src, /"blog_cat\/create": \{ query: BlogCatQuery; doc: BlogCatCreate; docs: BlogCat \}/);
    const tsc = join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc');
    // typed.ts must compile; typed-errors.ts must not (wrong doc types are caught).
    execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json')], { stdio: 'pipe' });
    let failed = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.errors.json')], { stdio: 'pipe' });
    } catch (e) {
      failed = String(e.stdout);
    }
    assert.match(failed, /typed-errors\.ts.*error TS/s, 'wrong types were not caught');
    for (const want of ["'titel' does not exist", 'typed-errors.ts(8,']) assert.ok(failed.includes(want), `no error ${want}:\n${failed}`);
  }
});
