// The client against an in-process fake server (options.WebSocket): watch
// iteration and stop, multiplexing order, session switching and closing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { LimpClient, LimpError, LimpClosedError, LimpWatchOverflowError, WATCH_BUFFER, ANON_SESSION_ID, DEFAULT_ANON_TOKEN } from '../dist/index.js';

function fakeServer(handle) {
  const state = { key: DEFAULT_ANON_TOKEN, sockets: [], calls: [] };
  class FakeWS {
    constructor(url) {
      this.url = url;
      this.listeners = { message: [], close: [], error: [] };
      state.sockets.push(this);
      setTimeout(() => this.emit({ status: 200, msg: 'Connection ready', args: { code: 'CORE_CONN_READY' } }), 1);
    }
    addEventListener(type, f) { this.listeners[type].push(f); }
    emit(msg) { for (const f of this.listeners.message) f({ data: JSON.stringify(msg) }); }
    send(data) {
      const { token, call_id } = JSON.parse(data);
      const [h, p, s] = token.split('.');
      const want = createHmac('sha256', state.key).update(h + '.' + p).digest('base64url');
      const claims = JSON.parse(Buffer.from(p, 'base64url'));
      if (s !== want) {
        this.emit({ status: 403, msg: 'bad signature', args: { code: 'CORE_CONN_INVALID_TOKEN', call_id } });
        return;
      }
      assert.equal(claims.call_id, call_id);
      state.calls.push(claims);
      handle(claims, (msg) => setTimeout(() => this.emit({ ...msg, args: { ...msg.args, call_id } }), 1), state);
    }
    close() {
      if (this.closed) return;
      this.closed = true;
      for (const f of this.listeners.close) f({ code: 1000, reason: '' });
    }
  }
  return { FakeWS, state };
}

test('calls are multiplexed by call_id, answered out of order', async () => {
  const { FakeWS } = fakeServer((cl, reply) => {
    const n = cl.doc.n;
    setTimeout(() => reply({ status: 200, msg: 'ok', args: { n } }), (10 - n) * 3);
  });
  const c = await LimpClient.connect('ws://fake/ws', { WebSocket: FakeWS, heartbeatInterval: 0 });
  const got = await Promise.all(Array.from({ length: 10 }, (_, n) => c.call('x/y', [], { n })));
  assert.deepEqual(got.map((r) => r.args.n), [...Array(10).keys()]);
  c.close();
});

test('auth switches the signing key; errors carry codes', async () => {
  const { FakeWS, state } = fakeServer((cl, reply, st) => {
    if (cl.endpoint === 'session/auth') {
      if (cl.doc.hash.length < 10) return reply({ status: 403, msg: 'Wrong auth credentials.', args: { code: 'CORE_SESSION_INVALID_CREDS' } });
      st.key = 'sess-token';
      return reply({ status: 200, msg: 'You were successfully authed.', args: { session: { _id: 's1', token: 'sess-token', user: { _id: 'u1' } } } });
    }
    if (cl.endpoint === 'session/signout') {
      st.key = DEFAULT_ANON_TOKEN;
      return reply({ status: 200, msg: 'Signed out', args: { session: { _id: ANON_SESSION_ID } } });
    }
    reply({ status: 200, msg: 'ok', args: { sid: cl.sid } });
  });
  const c = await LimpClient.connect('ws://fake/ws', { WebSocket: FakeWS, heartbeatInterval: 0 });
  await assert.rejects(c.authHash('email', 'a@b.c', 'short'), (e) => e instanceof LimpError && e.code === 'CORE_SESSION_INVALID_CREDS' && e.status === 403);
  const s = await c.auth('email', 'a@b.c', 'pw');
  assert.equal(s._id, 's1');
  assert.equal(c.session._id, 's1');
  assert.deepEqual(c.authHeaders(), { 'X-Auth-Bearer': 'u1', 'X-Auth-Token': 'sess-token' });
  assert.equal((await c.call('x/y')).args.sid, 's1'); // signed with the session token, or the fake refuses it
  await c.signout();
  assert.equal(c.session, null);
  assert.equal((await c.call('x/y')).args.sid, ANON_SESSION_ID);
  assert.equal(state.calls.at(-2).query[0]._id, 's1');
  c.close();
});

test('watch: events are async-iterated on the call_id; break stops it with watch/delete', async () => {
  let watchId;
  const { FakeWS, state } = fakeServer((cl, reply) => {
    if (cl.endpoint === 'blog/watch') {
      watchId = cl.call_id;
      reply({ status: 200, msg: 'Created watch task.', args: { code: 'CORE_WATCH_OK', watch: cl.call_id } });
      for (let i = 0; i < 3; i++) {
        reply({ status: 200, msg: 'Detected 1 docs.', args: { count: 1, oper: 'create', docs: [{ _id: 'd' + i }], watch: cl.call_id } });
      }
      return;
    }
    if (cl.endpoint === 'watch/delete') return reply({ status: 200, msg: 'Watch task deleted.', args: { watch: [cl.query[0].watch] } });
  });
  const c = await LimpClient.connect('ws://fake/ws', { WebSocket: FakeWS, heartbeatInterval: 0 });
  const w = await c.watch('blog/watch', [{ status: 'published' }]);
  assert.equal(w.id, watchId);
  assert.equal(w.created.args.code, 'CORE_WATCH_OK');
  const seen = [];
  for await (const ev of w) {
    seen.push(ev.args.docs[0]._id);
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, ['d0', 'd1']);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(state.calls.at(-1).endpoint, 'watch/delete');
  assert.deepEqual(state.calls.at(-1).query, [{ watch: watchId }]);
  c.close();
});

test('watch: a refused watch rejects; closing ends open watches and calls', async () => {
  const { FakeWS, state } = fakeServer((cl, reply) => {
    if (cl.endpoint === 'blog/nope') return reply({ status: 404, msg: 'Endpoint not found.', args: { code: 'CORE_REQ_NO_ENDPOINT' } });
    if (cl.endpoint === 'blog/watch') return reply({ status: 200, msg: 'Created watch task.', args: { watch: cl.call_id } });
    // x/slow is never answered.
  });
  const c = await LimpClient.connect('ws://fake/ws', { WebSocket: FakeWS, heartbeatInterval: 0 });
  await assert.rejects(c.watch('blog/nope'), (e) => e instanceof LimpError && e.code === 'CORE_REQ_NO_ENDPOINT');
  const w = await c.watch('blog/watch');
  const next = w.next();
  const slow = c.call('x/slow');
  state.sockets[0].close();
  await assert.rejects(next, LimpClosedError);
  await assert.rejects(slow, LimpClosedError);
  await assert.rejects(c.call('x/y'), LimpClosedError);
  assert.equal(c.closed, true);
});

test('fileURL and the HTTP base follow the ws URL', async () => {
  const { FakeWS } = fakeServer(() => {});
  const c = await LimpClient.connect('wss://example.com:8443/ws', { WebSocket: FakeWS, heartbeatInterval: 0 });
  assert.equal(c.httpURL, 'https://example.com:8443');
  assert.equal(c.fileURL('blog', 'abc', 'cover', 'a b.png'), 'https://example.com:8443/blog/retrieve_file/abc/cover/a%20b.png');
  assert.equal(c.fileURL('blog', 'abc', 'cover', 'a.png', { width: 64, height: 32 }), 'https://example.com:8443/blog/retrieve_file/abc/cover/64x32/a.png');
  c.close();
  const r = await LimpClient.connect('ws://h/ws/realm1', { WebSocket: FakeWS, heartbeatInterval: 0 });
  assert.equal(r.httpURL, 'http://h/realm1');
  r.close();
});

test('connect fails clearly without a greeting', async () => {
  class Silent { addEventListener() {} send() {} close() {} }
  await assert.rejects(LimpClient.connect('ws://x/ws', { WebSocket: Silent, connectTimeout: 50 }), /no greeting within 50 ms/);
});

test('watch: an error reply from the server (it ended the watch) is yielded, then the iterator ends', async () => {
  const { FakeWS } = fakeServer((cl, reply) => {
    if (cl.endpoint === 'blog/watch') {
      reply({ status: 200, msg: 'Created watch task.', args: { code: 'CORE_WATCH_OK', watch: cl.call_id } });
      reply({ status: 200, msg: 'Detected 1 docs.', args: { count: 1, oper: 'create', docs: [{ _id: 'd0' }], watch: cl.call_id, seq: 1 } });
      reply({ status: 503, msg: 'Watch fell behind the changes and was ended.', args: { code: 'CORE_WATCH_OVERFLOW' } });
    }
  });
  const c = await LimpClient.connect('ws://fake/ws', { WebSocket: FakeWS, heartbeatInterval: 0 });
  const w = await c.watch('blog/watch', []);
  const seen = [];
  const done = (async () => {
    for await (const ev of w) seen.push(ev.status === 200 ? ev.args.docs[0]._id : ev.args.code);
  })();
  await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error(`the iterator did not end (got ${seen})`)), 2000))]);
  assert.deepEqual(seen, ['d0', 'CORE_WATCH_OVERFLOW']);
  c.close();
});

test('watch: a consumer more than WATCH_BUFFER events behind ends the watch with watch/delete and LimpWatchOverflowError', async () => {
  const { FakeWS, state } = fakeServer((cl, reply) => {
    if (cl.endpoint === 'blog/watch') {
      reply({ status: 200, msg: 'Created watch task.', args: { code: 'CORE_WATCH_OK', watch: cl.call_id } });
      for (let i = 1; i <= WATCH_BUFFER + 50; i++) {
        reply({ status: 200, msg: 'Detected 1 docs.', args: { count: 1, oper: 'create', docs: [{ _id: 'd' + i }], watch: cl.call_id, seq: i } });
      }
      return;
    }
    if (cl.endpoint === 'watch/delete') return reply({ status: 200, msg: 'Watch task deleted.', args: { watch: [cl.query[0].watch] } });
  });
  const c = await LimpClient.connect('ws://fake/ws', { WebSocket: FakeWS, heartbeatInterval: 0 });
  const w = await c.watch('blog/watch', []);
  // The consumer takes nothing while the events arrive.
  await new Promise((r) => setTimeout(r, 200));
  const deletes = state.calls.filter((cl) => cl.endpoint === 'watch/delete');
  assert.equal(deletes.length, 1, 'one watch/delete sent to the server');
  assert.deepEqual(deletes[0].query, [{ watch: w.id }]);
  let n = 0;
  await assert.rejects(
    (async () => {
      for await (const ev of w) {
        n++;
        assert.equal(ev.args.seq, n);
      }
    })(),
    (e) => e instanceof LimpWatchOverflowError && e.watch === w.id,
  );
  assert.equal(n, WATCH_BUFFER, 'the events held are delivered first');
  // Stopping it afterwards sends nothing more.
  await w.stop();
  assert.equal(state.calls.filter((cl) => cl.endpoint === 'watch/delete').length, 1);
  c.close();
});
