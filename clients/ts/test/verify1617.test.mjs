// Uploads with a wrong file shape (plain JavaScript has no type checks)
// are refused before anything is sent, instead of uploading
// "[object Object]" or "undefined" as the file's content.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LimpClient } from '../dist/index.js';

class SilentWS {
  constructor() {
    this.listeners = { message: [], close: [], error: [] };
    this.sent = [];
    setTimeout(() => { for (const f of this.listeners.message) f({ data: JSON.stringify({ status: 200, msg: 'Connection ready', args: { code: 'CORE_CONN_READY' } }) }); }, 1);
  }
  addEventListener(type, f) { this.listeners[type].push(f); }
  send(d) { this.sent.push(d); }
  close() { for (const f of this.listeners.close) f({ code: 1000, reason: '' }); }
}

test('upload and uploadHTTP refuse a file without data', async () => {
  const limp = await LimpClient.connect('ws://127.0.0.1:1/ws', { WebSocket: SilentWS, heartbeatInterval: 0 });
  let fetched = 0;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async () => { fetched++; throw new Error('fetch called'); };
  try {
    for (const bad of [{ name: 'a.png', type: 'image/png', content: new Uint8Array([1]) }, { name: 'a', type: 't', data: 'text' }]) {
      await assert.rejects(limp.uploadHTTP('blog', 'cover', bad), TypeError);
      await assert.rejects(limp.upload('cover', 0, bad), TypeError);
    }
    assert.equal(fetched, 0);
  } finally {
    globalThis.fetch = realFetch;
    limp.close();
  }
});
