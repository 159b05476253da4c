// LIMP console: try calls against this app from the browser. Built on the
// TypeScript client (limp.js is clients/ts/dist/index.js). No inline
// scripts or styles (the page is served with a strict CSP); everything the
// server sends is rendered as text.
import { LimpClient, LimpError } from './limp.js';

const $ = (id) => document.getElementById(id);
/** The global realm (limp.GlobalRealm), where ADMIN signs in in realm mode. */
const GLOBAL_REALM = '__global';
const state = { api: null, client: null, module: null, method: null, watches: new Map(), seq: 0 };

// For the end-to-end test and the curious: the last reply and the client.
window.limpConsole = state;

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v);
  }
  for (const c of kids.flat()) {
    if (c != null) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function setStatus(text, kind) {
  const s = $('status');
  s.textContent = text;
  s.className = 'badge ' + (kind || '');
}

// typeName renders an attr type as LIMP writes it: LIST[STR], DICT{a: INT}.
function typeName(a) {
  switch (a.type) {
    case 'LIST': return 'LIST[' + (a.items || []).map(typeName).join(' | ') + ']';
    case 'UNION': return 'UNION[' + (a.items || []).map(typeName).join(' | ') + ']';
    case 'DICT':
      if (a.val) return 'DICT{*: ' + typeName(a.val) + '}';
      return 'DICT{' + (a.fields || []).map((f) => f.name + ': ' + typeName(f)).join(', ') + '}';
    case 'LITERAL': return 'LITERAL' + JSON.stringify(a.literal || []);
  }
  return a.type;
}

// sample returns a placeholder value of an attr's type for the doc editor.
function sample(a) {
  if (a.default !== undefined) return a.default;
  switch (a.type) {
    case 'INT': case 'FLOAT': return a.min ?? 0;
    case 'BOOL': return false;
    case 'LOCALE': return Object.fromEntries((state.api.locales || []).map((l) => [l, '']));
    case 'LOCALES': return state.api.locale;
    case 'LIST': return [];
    case 'DICT': return a.fields ? Object.fromEntries(a.fields.filter((f) => f.required).map((f) => [f.name, sample(f)])) : {};
    case 'DATETIME': return new Date().toISOString().slice(0, 19);
    case 'DATE': return new Date().toISOString().slice(0, 10);
    case 'TIME': return '12:00';
    case 'LITERAL': return (a.literal || [])[0] ?? null;
    case 'UNION': return sample((a.items || [{ type: 'STR' }])[0]);
    case 'ACCESS': return { anon: false, users: [], groups: [] };
    case 'GEO': return { type: 'Point', coordinates: [0, 0] };
    case 'ANY': case 'TYPE': return null;
  }
  return '';
}

function attrTable(title, attrs) {
  const rows = attrs.map((a) => h('tr', {},
    h('td', {}, h('code', {}, a.name)),
    h('td', { class: 'type' }, typeName(a)),
    h('td', {}, a.server ? 'server' : a.required ? 'yes' : 'no'),
    h('td', {}, [a.desc, a.ref && '→ ' + a.ref, a.pattern && 'pattern ' + a.pattern, a.unique && 'unique',
      a.file_types && 'types ' + a.file_types.join(', '), a.secret && 'auth hash'].filter(Boolean).join('; '))));
  return h('table', { class: 'attrs' }, h('caption', {}, title),
    h('thead', {}, h('tr', {}, h('th', {}, 'attr'), h('th', {}, 'type'), h('th', {}, 'required'), h('th', {}, 'notes'))),
    h('tbody', {}, rows));
}

function renderModules() {
  const nav = $('modules');
  nav.replaceChildren();
  for (const m of state.api.modules) {
    const list = h('ul', {}, m.methods.map((meth) => h('li', {},
      h('button', { type: 'button', class: 'method', dataset: { endpoint: m.name + '/' + meth.name }, title: 'privileges: ' + meth.permissions.join(', '),
        onclick: () => pick(m, meth) }, meth.name))));
    nav.append(h('details', { open: m.package !== 'core' ? '' : null, dataset: { module: m.name } },
      h('summary', {}, m.name, h('span', { class: 'muted' }, ' ' + m.package)), list));
  }
}

function pick(m, meth) {
  state.module = m;
  state.method = meth;
  $('endpoint').value = m.name + '/' + meth.name;
  for (const b of document.querySelectorAll('button.method')) b.classList.toggle('active', b.dataset.endpoint === $('endpoint').value);
  const info = [`privileges: ${meth.permissions.join(', ') || '(none)'}`];
  if (meth.get_method) info.push('HTTP GET');
  if (meth.post_method) info.push('HTTP POST');
  if (meth.desc) info.unshift(meth.desc);
  $('method-info').textContent = info.join(' · ');
  // Templates.
  let query = [];
  if (meth.query_args?.length) query = [Object.fromEntries(meth.query_args[0].map((a) => [a.name, sample(a)]))];
  else if (meth.name === 'read') query = [{ $limit: 10 }];
  let doc = {};
  if (meth.doc_args?.length) doc = Object.fromEntries(meth.doc_args[0].map((a) => [a.name, sample(a)]));
  else if (meth.name === 'create') doc = Object.fromEntries(m.attrs.filter((a) => a.required && !a.server).map((a) => [a.name, sample(a)]));
  $('query').value = JSON.stringify(query, null, 2);
  $('doc').value = JSON.stringify(doc, null, 2);
  // Attr types.
  const box = $('attrs');
  box.replaceChildren(attrTable(m.name + ' attrs', m.attrs));
  (meth.query_args || []).forEach((set, i) => box.append(attrTable(`query_args (set ${i + 1})`, set)));
  (meth.doc_args || []).forEach((set, i) => box.append(attrTable(`doc_args (set ${i + 1})`, set)));
  // File attrs of the module.
  const fileAttrs = m.attrs.filter((a) => a.type === 'FILE' || (a.type === 'LIST' && a.items?.[0]?.type === 'FILE'));
  $('file-attr').replaceChildren(...fileAttrs.map((a) => h('option', { value: a.name }, a.name)));
  $('upload-row').hidden = fileAttrs.length === 0;
}

function log(kind, title, body, res) {
  const status = res ? res.status : kind === 'error' ? 0 : 200;
  const code = res?.args?.code || '';
  const entry = h('div', { class: 'reply ' + kind + (status === 200 ? '' : ' failed'), dataset: { status: String(status), code, seq: String(++state.seq) } },
    h('div', { class: 'head' },
      h('span', { class: 'badge ' + (status === 200 ? 'ok' : 'err') }, String(status || 'error')),
      code && h('span', { class: 'badge code' }, code),
      h('strong', {}, title), ' ', h('span', { class: 'muted' }, res?.msg ?? '')),
    body !== undefined ? h('pre', {}, typeof body === 'string' ? body : JSON.stringify(body, null, 2)) : null);
  $('log').prepend(entry);
  return entry;
}

function parseJSON(id, what) {
  try {
    return JSON.parse($(id).value || (what === 'query' ? '[]' : '{}'));
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
}

function showError(title, e) {
  if (e instanceof LimpError) {
    state.lastReply = e.response;
    log('error', title, e.response?.args ?? {}, e.response ?? { status: e.status, msg: e.message, args: { code: e.code } });
  } else {
    log('error', title, String(e?.message ?? e));
  }
}

async function send() {
  const endpoint = $('endpoint').value.trim();
  try {
    if (!state.client) throw new Error('not connected');
    const query = parseJSON('query', 'query');
    const doc = parseJSON('doc', 'doc');
    const res = await state.client.call(endpoint, query, doc);
    state.lastReply = res;
    log('call', endpoint, res.args, res);
  } catch (e) {
    showError(endpoint, e);
  }
}

async function watch() {
  const endpoint = $('endpoint').value.trim();
  try {
    if (!state.client) throw new Error('not connected');
    const w = await state.client.watch(endpoint, parseJSON('query', 'query'), parseJSON('doc', 'doc'));
    const entry = log('watch', `${endpoint} (watch ${w.id})`, w.created.args, w.created);
    const stop = h('button', { type: 'button', onclick: () => w.stop().catch((e) => showError('watch/delete', e)) }, 'Stop watch');
    entry.querySelector('.head').append(stop);
    state.watches.set(w.id, w);
    (async () => {
      try {
        for await (const ev of w) {
          state.lastReply = ev;
          log('event', `${endpoint} event (watch ${w.id})`, ev.args, ev);
        }
        log('watch', `watch ${w.id} stopped`);
      } catch (e) {
        showError(`watch ${w.id}`, e);
      } finally {
        state.watches.delete(w.id);
        stop.disabled = true;
      }
    })();
  } catch (e) {
    showError(endpoint, e);
  }
}

async function upload() {
  const attr = $('file-attr').value;
  const file = $('file').files?.[0];
  try {
    if (!state.client) throw new Error('not connected');
    if (!attr || !file) throw new Error('pick a FILE attr and a file first');
    await state.client.upload(attr, 0, file);
    // Files attach to the next call whose doc has the attr's key (spec §9.2).
    let doc = {};
    try { doc = parseJSON('doc', 'doc'); } catch { /* replaced below */ }
    doc[attr] = [];
    $('doc').value = JSON.stringify(doc, null, 2);
    log('call', `file/upload ${file.name}`, `${file.size} bytes uploaded for attr "${attr}"; it attaches to the next call whose doc has the key "${attr}" (added to the doc).`);
  } catch (e) {
    showError('file/upload', e);
  }
}

function showSession() {
  const s = state.client?.session;
  const user = s?.user;
  $('whoami').textContent = s ? `signed in: ${user?.email ?? user?.phone ?? user?._id ?? s._id} (session ${s._id})` : 'anonymous';
  $('whoami').className = s ? 'signed-in' : 'muted';
}

async function signin() {
  try {
    if (!state.client) throw new Error('not connected');
    const s = await state.client.auth($('auth-var').value, $('auth-val').value.trim(), $('auth-pass').value);
    $('auth-pass').value = '';
    log('call', 'session/auth', { session: { _id: s._id, user: s.user, groups: s.groups, expiry: s.expiry } }, { status: 200, msg: 'Signed in.', args: {} });
  } catch (e) {
    showError('session/auth', e);
  }
  showSession();
}

async function signout() {
  try {
    await state.client.signout();
    log('call', 'session/signout', undefined, { status: 200, msg: 'Signed out.', args: {} });
  } catch (e) {
    showError('session/signout', e);
  }
  showSession();
}

async function connect() {
  if (state.client) state.client.close();
  state.client = null;
  setStatus('connecting…');
  const token = $('anon-token').value || state.api?.anon_token;
  try {
    const c = await LimpClient.connect($('ws-url').value, {
      anonToken: token || undefined,
      onMessage: (res) => log('event', 'server message', res.args, res),
      onClose: (e) => { if (state.client === c) { setStatus('closed', 'err'); log('error', 'connection', e.message); showSession(); } },
    });
    state.client = c;
    setStatus('connected', 'ok');
  } catch (e) {
    setStatus('not connected', 'err');
    showError('connect', e);
  }
  showSession();
}

async function main() {
  $('ws-url').value = location.origin.replace(/^http/, 'ws') + '/ws';
  for (const [id, f] of [['connect', connect], ['send', send], ['watch', watch], ['upload', upload], ['signin', signin], ['signout', signout]]) {
    $(id).addEventListener('click', f);
  }
  $('clear').addEventListener('click', () => $('log').replaceChildren());
  $('auth-pass').addEventListener('keydown', (e) => { if (e.key === 'Enter') signin(); });
  $('endpoint').addEventListener('keydown', (e) => { if (e.key === 'Enter') send(); });
  try {
    const resp = await fetch('api.json', { headers: { Accept: 'application/json' } });
    state.api = await resp.json();
    if (!resp.ok) throw new Error(state.api?.msg ?? resp.statusText);
  } catch (e) {
    setStatus('no api.json', 'err');
    showError('api.json', e);
    return;
  }
  const api = state.api;
  // Realm mode (spec §5.6): /ws is refused; start at the global realm
  // (ADMIN's), and edit the URL to /ws/{realm} for another.
  if (api.realm && /\/ws$/.test($('ws-url').value)) $('ws-url').value += '/' + GLOBAL_REALM;
  $('app-name').textContent = `· ${api.app} ${api.version ?? ''} (limp-go ${api.limp_go}, LIMP API ${api.api})`;
  document.title = `LIMP console · ${api.app}`;
  $('auth-var').replaceChildren(...(api.auth_attrs || ['email']).map((a) => h('option', { value: a }, a)));
  $('anon-token').hidden = !!api.anon_token;
  renderModules();
  const first = api.modules.find((m) => m.package !== 'core') ?? api.modules[0];
  if (first) pick(first, first.methods.find((x) => x.name === 'read') ?? first.methods[0]);
  if (api.anon_token) await connect();
  else setStatus('enter the anon token, then Connect', 'err');
}

main();
