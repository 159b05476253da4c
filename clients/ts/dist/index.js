/**
 * @limp-go/client: a framework-agnostic TypeScript client for LIMP servers
 * (limp-go and LIMP v6). ESM, no dependencies; runs in browsers and in
 * Node >= 20 (Node 20 needs `--experimental-websocket` or a WebSocket
 * implementation passed as `options.WebSocket`; Node >= 22 has one built in).
 *
 * Every websocket call is an HS256 JWT signed with Web Crypto
 * (globalThis.crypto.subtle) with the connection's key: the anon token until
 * session/auth or session/reauth succeeds, then the session token (spec §3).
 * Calls are multiplexed by call_id and answered with promises; watches are
 * async iterators (spec §6.12).
 */
/** LIMP's default anon token (Config.anon_token). */
export const DEFAULT_ANON_TOKEN = '__ANON_TOKEN_f00000000000000000000012';
/** The _id of the ANON session (spec §4.7). */
export const ANON_SESSION_ID = 'f00000000000000000000012';
/** ng-limp's file chunk size in bytes (spec §9.1). */
export const DEFAULT_CHUNK_SIZE = 512000;
/** A response whose status is not 200. `code` is args.code, e.g. CORE_SESSION_INVALID_CREDS. */
export class LimpError extends Error {
    status;
    code;
    response;
    constructor(status, msg, code = '', response) {
        super(code ? `limp error ${status} ${code}: ${msg}` : `limp error ${status}: ${msg}`);
        this.name = 'LimpError';
        this.status = status;
        this.code = code;
        this.response = response;
    }
}
/** The connection closed (or could not be opened). */
export class LimpClosedError extends Error {
    constructor(why) {
        super(`limp client: connection closed: ${why}`);
        this.name = 'LimpClosedError';
    }
}
/** The number of undelivered events a {@link LimpWatch} holds (as the Go client's WatchBuffer). */
export const WATCH_BUFFER = 1024;
/**
 * A watch's consumer fell more than {@link WATCH_BUFFER} events behind:
 * the client ended the watch and asked the server to end it too
 * (watch/delete). The iterator yields the events it holds, then throws
 * this error. Watch again for a fresh view.
 */
export class LimpWatchOverflowError extends Error {
    /** The watch's id (the first call's id). */
    watch;
    constructor(watch) {
        super(`limp client: watch ${watch}: more than ${WATCH_BUFFER} undelivered events; the watch was ended`);
        this.name = 'LimpWatchOverflowError';
        this.watch = watch;
    }
}
const enc = new TextEncoder();
function b64url(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
        s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
/**
 * jsonString encodes s as a JSON string. With ascii it escapes everything
 * outside ' '..'~' as lower-case \uXXXX, like Python's json.dumps with
 * ensure_ascii (what the LIMP server uses for the ADMIN hash); without, it
 * is JSON.stringify (ng-limp). Lone surrogates become U+FFFD, as in the Go
 * client.
 */
function jsonString(s, ascii) {
    const u4 = (c) => '\\u' + c.toString(16).padStart(4, '0');
    let out = '"';
    for (const ch of s) {
        let c = ch.codePointAt(0);
        if (c >= 0xd800 && c <= 0xdfff)
            c = 0xfffd;
        switch (c) {
            case 0x22:
                out += '\\"';
                continue;
            case 0x5c:
                out += '\\\\';
                continue;
            case 0x08:
                out += '\\b';
                continue;
            case 0x0c:
                out += '\\f';
                continue;
            case 0x0a:
                out += '\\n';
                continue;
            case 0x0d:
                out += '\\r';
                continue;
            case 0x09:
                out += '\\t';
                continue;
        }
        if (c < 0x20)
            out += u4(c);
        else if (!ascii || c < 0x7f)
            out += String.fromCodePoint(c);
        else if (c <= 0xffff)
            out += u4(c);
        else {
            const r = c - 0x10000;
            out += u4(0xd800 + (r >> 10)) + u4(0xdc00 + (r & 0x3ff));
        }
    }
    return out + '"';
}
function hashOf(level, parts, anonToken, ascii) {
    if (level === '5.6')
        parts = [...parts, anonToken];
    else if (level !== '5.0')
        throw new Error(`auth hash: unknown hash level ${JSON.stringify(level)} (want "5.0" or "5.6")`);
    return b64url(enc.encode('{"hash":[' + parts.map((p) => jsonString(p, ascii)).join(',') + ']}'));
}
/**
 * LIMP's client-side auth hash (spec §4.2): base64url (unpadded) of the
 * compact JSON {"hash": [authVar, authVal, password(, anonToken)]}, the
 * payload segment of ng-limp's generateAuthHash JWT. Level '5.6' appends
 * anonToken. Encoded as the server encodes the ADMIN hash (non-ASCII
 * escaped); equal to ng-limp's for ASCII input (see {@link hashNGLimp}).
 * The result is password-equivalent: never log it.
 */
export function hash(level, authVar, authVal, password, anonToken = DEFAULT_ANON_TOKEN) {
    return hashOf(level, [authVar, authVal, password], anonToken, true);
}
/** {@link hash} with ng-limp's JSON.stringify encoding (non-ASCII left as UTF-8). */
export function hashNGLimp(level, authVar, authVal, password, anonToken = DEFAULT_ANON_TOKEN) {
    return hashOf(level, [authVar, authVal, password], anonToken, false);
}
/** The session/reauth hash of a session token (spec §4.5): base64url of {"token": token}. */
export function reauthHash(token) {
    return b64url(enc.encode('{"token":' + jsonString(token, true) + '}'));
}
const keyCache = new Map();
function hmacKey(secret) {
    let k = keyCache.get(secret);
    if (!k) {
        const subtle = globalThis.crypto?.subtle;
        if (!subtle)
            throw new Error('limp client: Web Crypto (globalThis.crypto.subtle) is not available; browsers expose it only on https:// and localhost');
        k = subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
        if (keyCache.size > 16)
            keyCache.clear();
        keyCache.set(secret, k);
    }
    return k;
}
const jwtHeader = b64url(enc.encode('{"alg":"HS256","typ":"JWT"}'));
/**
 * signJWT returns the compact HS256 JWS of claims, keyed by the UTF-8
 * bytes of key (spec §3.2).
 */
export async function signJWT(claims, key) {
    const input = jwtHeader + '.' + b64url(enc.encode(JSON.stringify(claims)));
    const sig = await globalThis.crypto.subtle.sign('HMAC', await hmacKey(key), enc.encode(input));
    return input + '.' + b64url(new Uint8Array(sig));
}
/**
 * A watch (spec §6.12): the events a watch method sends after "Created
 * watch task." on the call's call_id, each with args.watch. Iterate it
 * with `for await`; leaving the loop (break, return, throw) stops the
 * watch. Events with a status other than 200 are yielded too: check
 * `status`; the server ended the watch with such an event, so the
 * iterator ends after it. The iterator also ends when the watch is
 * stopped or the connection closes (then it throws {@link LimpClosedError}),
 * and when its consumer falls more than {@link WATCH_BUFFER} events behind
 * (it then sends watch/delete and throws {@link LimpWatchOverflowError}
 * after the events it holds).
 */
export class LimpWatch {
    /** The watch id (args.watch, equal to the call id) of the first call; {@link callId} is the current one. */
    id;
    /** The server's first reply ("Created watch task."). */
    created;
    /** args.seq of the last event delivered (0 before any, and after a snapshot). */
    seq = 0;
    /** The current call's id: {@link id} until a reconnect resumed the watch. */
    callId;
    /** @internal */ token = '';
    /** @internal */ resuming = '';
    /** @internal */ endpoint;
    /** @internal */ query;
    /** @internal */ doc;
    queue = [];
    waiters = [];
    ended; // undefined: live; null: stopped; Error: closed
    client;
    /** @internal */
    constructor(client, id, endpoint = '', query, doc) {
        this.client = client;
        this.id = id;
        this.callId = id;
        this.endpoint = endpoint;
        this.query = query;
        this.doc = doc;
    }
    /** @internal */
    get live() {
        return this.ended === undefined;
    }
    /** @internal */
    push(r) {
        if (this.ended !== undefined)
            return;
        if (this.resuming && r.args.call_id === this.resuming) {
            this.resuming = '';
            if (r.status !== 200) {
                this.deliver(r);
                this.client.forgetWatch(this);
                this.end(new LimpError(r.status, r.msg, r.args.code ?? '', r));
                return;
            }
            if (typeof r.args.resume === 'string')
                this.token = r.args.resume;
            if (r.args.resumed === true)
                return;
            this.seq = 0; // a fresh watch: its snapshot is delivered
        }
        else if (r.status !== 200) {
            // A limp-go server ends a watch with its error reply (overflow,
            // permissions, an on-watch hook's error) and sends nothing more on
            // it: the error is yielded, then the iterator ends.
            this.deliver(r);
            this.client.forgetWatch(this);
            this.end(null);
            return;
        }
        else if (typeof r.args.seq === 'number') {
            if (r.args.seq <= this.seq)
                return; // delivered before the reconnect
            this.seq = r.args.seq;
        }
        this.deliver(r);
    }
    deliver(r) {
        const w = this.waiters.shift();
        if (w)
            w.resolve({ value: r, done: false });
        else if (this.queue.length < WATCH_BUFFER)
            this.queue.push(r);
        else
            this.overflow();
    }
    /**
     * The consumer fell behind: the watch ends with a
     * {@link LimpWatchOverflowError} (after the events it holds) and the
     * server is asked to stop sending (watch/delete), as the Go client does.
     */
    overflow() {
        const live = this.ended === undefined;
        this.client.forgetWatch(this);
        this.end(new LimpWatchOverflowError(this.id));
        if (live && !this.client.closed) {
            this.client.call('watch/delete', [{ watch: this.callId }]).catch(() => undefined);
        }
    }
    /** @internal */
    end(err) {
        if (this.ended !== undefined)
            return;
        this.ended = err;
        for (const w of this.waiters.splice(0)) {
            if (err)
                w.reject(err);
            else
                w.resolve({ value: undefined, done: true });
        }
    }
    next() {
        const r = this.queue.shift();
        if (r)
            return Promise.resolve({ value: r, done: false });
        if (this.ended === null)
            return Promise.resolve({ value: undefined, done: true });
        if (this.ended)
            return Promise.reject(this.ended);
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
    async return() {
        await this.stop().catch(() => undefined);
        return { value: undefined, done: true };
    }
    [Symbol.asyncIterator]() {
        return this;
    }
    /** Stops the watch locally and with watch/delete (query [{watch: callId}]). */
    async stop() {
        const live = this.ended === undefined;
        this.client.forgetWatch(this);
        this.end(null);
        if (live && !this.client.closed) {
            await this.client.call('watch/delete', [{ watch: this.callId }]);
        }
    }
}
/**
 * A LIMP websocket connection. Create it with {@link LimpClient.connect};
 * pass the `Endpoints` type written by `--generate-ts` as E to type calls.
 */
export class LimpClient {
    url;
    httpURL;
    ws;
    down = null; // reconnecting
    closing = false;
    failures = 0;
    redialTimer;
    opts;
    key;
    sid = ANON_SESSION_ID;
    current = null;
    nextId = 0;
    pending = new Map();
    watches = new Map();
    heartbeat;
    closeErr = null;
    /** Resolves with the reason once the connection has closed. */
    done;
    resolveDone;
    constructor(url, ws, opts) {
        this.url = url;
        this.ws = ws;
        this.opts = { anonToken: DEFAULT_ANON_TOKEN, hashLevel: '5.6', tokenLifetime: 86400, chunkSize: DEFAULT_CHUNK_SIZE, ...opts };
        this.key = this.opts.anonToken;
        this.httpURL = (opts.httpURL ?? httpBase(url)).replace(/\/+$/, '');
        this.done = new Promise((r) => (this.resolveDone = r));
    }
    /**
     * Connects to the websocket endpoint (ws[s]://host[:port]/ws), waits
     * for the CORE_CONN_READY greeting and, with options.appId, calls
     * conn/verify. Rejects with LimpClosedError or LimpError.
     */
    static connect(url, options = {}) {
        const WS = options.WebSocket ?? globalThis.WebSocket;
        if (!WS) {
            return Promise.reject(new Error('limp client: no WebSocket implementation: use Node >= 22, run Node 20 with --experimental-websocket, or pass options.WebSocket'));
        }
        const ws = new WS(url);
        const c = new LimpClient(url, ws, options);
        const timeout = options.connectTimeout ?? 10000;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                c.shutdown(new LimpClosedError(`no greeting within ${timeout} ms`));
                reject(c.closeErr);
            }, timeout);
            c.greeted = () => {
                clearTimeout(timer);
                resolve(c);
            };
            c.done.then((e) => {
                clearTimeout(timer);
                reject(e);
            });
            c.attach(ws);
        }).then(async (client) => {
            if (options.appId) {
                try {
                    await client.call('conn/verify', [], { app: options.appId });
                }
                catch (e) {
                    client.shutdown(new LimpClosedError('conn/verify failed'));
                    throw e;
                }
            }
            const every = options.heartbeatInterval ?? 30000;
            if (every > 0) {
                client.heartbeat = setInterval(() => {
                    client.call('heart/beat').catch(() => undefined);
                }, every);
                client.heartbeat.unref?.();
            }
            return client;
        });
    }
    greeted = null;
    attach(ws) {
        ws.addEventListener('message', (ev) => {
            if (ws !== this.ws || typeof ev.data !== 'string')
                return;
            let res;
            try {
                res = JSON.parse(ev.data);
            }
            catch {
                return;
            }
            if (!res || typeof res.status !== 'number')
                return;
            res.args ??= {};
            this.dispatch(res);
        });
        ws.addEventListener('close', (ev) => {
            if (ws === this.ws)
                this.lost(new LimpClosedError(`websocket closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`));
        });
        ws.addEventListener('error', () => {
            if (ws === this.ws)
                this.lost(new LimpClosedError('websocket error'));
        });
    }
    /** The websocket failed: close, or (options.reconnect) redial. */
    lost(err) {
        const r = this.opts.reconnect;
        if (!r || this.closing || this.closeErr || this.greeted) {
            this.shutdown(err);
            return;
        }
        if (!this.down) {
            this.down = err;
            for (const p of this.pending.values())
                p.reject(err);
            this.pending.clear();
        }
        try {
            this.ws.close();
        }
        catch {
            /* already closed */
        }
        const attempts = r.maxAttempts ?? 0;
        if (attempts > 0 && this.failures >= attempts) {
            this.shutdown(err);
            return;
        }
        const min = r.minDelay ?? 100;
        const delay = Math.min(r.maxDelay ?? 10000, min * 2 ** Math.min(this.failures, 16));
        this.failures++;
        this.redialTimer = setTimeout(() => this.redial(), delay / 2 + Math.random() * (delay / 2));
    }
    redial() {
        this.redialTimer = undefined;
        if (this.closeErr || this.closing)
            return;
        const WS = this.opts.WebSocket ?? globalThis.WebSocket;
        let ws;
        try {
            ws = new WS(this.url);
        }
        catch {
            this.lost(this.down ?? new LimpClosedError('redial failed'));
            return;
        }
        this.ws = ws;
        this.regreet = () => {
            this.restore(ws).then(() => {
                if (ws !== this.ws)
                    return;
                this.down = null;
                this.failures = 0;
            }, () => {
                if (ws === this.ws) {
                    try {
                        ws.close();
                    }
                    catch {
                        /* closed */
                    }
                }
            });
        };
        this.attach(ws);
    }
    regreet = null;
    /** conn/verify, session/reauth and the watches' resume on a new websocket. */
    async restore(ws) {
        const sess = this.current;
        this.key = this.opts.anonToken;
        this.sid = ANON_SESSION_ID;
        this.current = null;
        if (this.opts.appId)
            await this.request('conn/verify', [], { app: this.opts.appId }, true);
        if (sess) {
            const query = [{ _id: sess._id, hash: reauthHash(sess.token) }];
            if (sess.groups?.length)
                query.push({ groups: sess.groups });
            try {
                await this.request('session/reauth', query, {}, true);
            }
            catch (e) {
                if (!(e instanceof LimpError))
                    throw e; // refused: go on anonymous
            }
        }
        // Open to the app's calls before the watches resume: an event of a
        // resumed watch must never meet a client still refusing calls. A write
        // made before a watch's resume frame is no loss: the resume returns
        // every event after the watch's last seq.
        if (ws === this.ws)
            this.down = null;
        for (const w of new Set(this.watches.values())) {
            if (!w.live)
                continue;
            if (!w.token || (w.query !== undefined && !Array.isArray(w.query))) {
                this.forgetWatch(w);
                w.end(new LimpClosedError(`watch ${w.id}: not resumable after a reconnect`));
                continue;
            }
            const query = [...(w.query ?? []), { $resume: { watch: w.token, seq: w.seq } }];
            const { id, data } = await this.frame(w.endpoint, query, w.doc);
            if (ws !== this.ws)
                throw new LimpClosedError('lost again');
            this.watches.delete(w.callId);
            this.watches.set(id, w);
            w.callId = id;
            w.resuming = id;
            ws.send(data);
        }
    }
    dispatch(res) {
        if (this.greeted && res.args.code === 'CORE_CONN_READY') {
            const g = this.greeted;
            this.greeted = null;
            g();
            return;
        }
        if (this.regreet && res.args.code === 'CORE_CONN_READY') {
            const g = this.regreet;
            this.regreet = null;
            g();
            return;
        }
        this.switchSession(res);
        const id = typeof res.args.call_id === 'string' ? res.args.call_id : '';
        const p = this.pending.get(id);
        if (p) {
            this.pending.delete(id);
            p.resolve(res);
            return;
        }
        const w = this.watches.get(id);
        if (w) {
            w.push(res);
            return;
        }
        this.opts.onMessage?.(res);
    }
    /** Follows the server's session switch (spec §2.5). */
    switchSession(res) {
        const s = res.args.session;
        if (!s || typeof s !== 'object' || typeof s._id !== 'string' || !s._id)
            return;
        if (s._id === ANON_SESSION_ID) {
            this.key = this.opts.anonToken;
            this.sid = ANON_SESSION_ID;
            this.current = null;
        }
        else if (typeof s.token === 'string' && s.token) {
            this.key = s.token;
            this.sid = s._id;
            this.current = s;
        }
    }
    shutdown(err) {
        if (this.closeErr)
            return;
        this.closeErr = err;
        if (this.heartbeat !== undefined)
            clearInterval(this.heartbeat);
        if (this.redialTimer !== undefined)
            clearTimeout(this.redialTimer);
        for (const p of this.pending.values())
            p.reject(err);
        this.pending.clear();
        for (const w of this.watches.values())
            w.end(err);
        this.watches.clear();
        try {
            this.ws.close();
        }
        catch {
            /* already closed */
        }
        this.opts.onClose?.(err);
        this.resolveDone(err);
    }
    /** True once the connection has closed. */
    get closed() {
        return this.closeErr !== null;
    }
    /** The current session, or null while anonymous. Its token is a bearer credential. */
    get session() {
        return this.current;
    }
    async frame(endpoint, query, doc) {
        const id = (++this.nextId).toString(36);
        const key = this.key;
        const iat = Math.floor(Date.now() / 1000);
        const claims = { call_id: id, endpoint, sid: this.sid, query: query ?? [], doc: doc ?? {}, iat, exp: iat + this.opts.tokenLifetime };
        const token = await signJWT(claims, key);
        return { id, data: JSON.stringify({ token, call_id: id }) };
    }
    /**
     * Sends one call to endpoint ("module/method") and resolves with its
     * response; a status other than 200 rejects with {@link LimpError}
     * (its `code` is args.code). query defaults to [], doc to {}.
     */
    async call(endpoint, query, doc) {
        return (await this.request(endpoint, query, doc, false));
    }
    /** call; restoring calls go out while reconnecting. */
    async request(endpoint, query, doc, restoring) {
        if (this.closeErr)
            throw this.closeErr;
        if (this.down && !restoring)
            throw new LimpClosedError(`reconnecting: ${this.down.message}`);
        const { id, data } = await this.frame(endpoint, query, doc);
        if (this.closeErr)
            throw this.closeErr;
        const res = await new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            try {
                this.ws.send(data);
            }
            catch (e) {
                this.pending.delete(id);
                reject(e instanceof Error ? e : new Error(String(e)));
            }
        });
        if (res.status !== 200)
            throw new LimpError(res.status, res.msg, res.args.code ?? '', res);
        return res;
    }
    /**
     * Calls a watch method and resolves, once the server acknowledged it
     * with args.watch, with the event stream (spec §6.12).
     */
    async watch(endpoint, query, doc) {
        if (this.closeErr)
            throw this.closeErr;
        if (this.down)
            throw new LimpClosedError(`reconnecting: ${this.down.message}`);
        const { id, data } = await this.frame(endpoint, query, doc);
        if (this.closeErr)
            throw this.closeErr;
        const w = new LimpWatch(this, id, endpoint, query, doc);
        this.watches.set(id, w);
        this.ws.send(data);
        let first;
        try {
            first = await w.next();
        }
        catch (e) {
            this.forgetWatch(w);
            throw e;
        }
        const r = first.value;
        if (first.done || r.status !== 200 || r.args.watch === undefined) {
            this.forgetWatch(w);
            w.end(null);
            if (r && r.status !== 200)
                throw new LimpError(r.status, r.msg, r.args.code ?? '', r);
            throw new LimpError(r?.status ?? 0, `watch ${endpoint}: response has no args.watch`, '', r);
        }
        w.created = r;
        if (typeof r.args.resume === 'string')
            w.token = r.args.resume;
        return w;
    }
    /** @internal */
    forgetWatch(w) {
        for (const [id, x] of this.watches)
            if (x === w)
                this.watches.delete(id);
    }
    /**
     * Signs in with session/auth (spec §4.3): computes the auth hash of
     * password and sends {[authVar]: authVal, hash, groups?}. On success
     * later calls are signed with the session token.
     */
    async auth(authVar, authVal, password, groups) {
        return this.authHash(authVar, authVal, hash(this.opts.hashLevel, authVar, authVal, password, this.opts.anonToken), groups);
    }
    /** {@link auth} with a precomputed hash. */
    async authHash(authVar, authVal, h, groups) {
        const doc = { [authVar]: authVal, hash: h };
        if (groups?.length)
            doc.groups = groups;
        const res = await this.call('session/auth', [], doc);
        return sessionOf(res);
    }
    /**
     * Resumes a session cached from an earlier connection with
     * session/reauth (spec §4.5); only on an anonymous connection.
     */
    async reauth(sid, token, groups) {
        const query = [{ _id: sid, hash: reauthHash(token) }];
        if (groups?.length)
            query.push({ groups });
        const res = await this.call('session/reauth', query);
        return sessionOf(res);
    }
    /** Ends the session with session/signout (spec §4.6); the connection becomes anonymous. */
    async signout() {
        await this.call('session/signout', [{ _id: this.sid }]);
    }
    /** The auth hash of these credentials with this connection's level and anon token (e.g. for sign-up). */
    hash(authVar, authVal, password) {
        return hash(this.opts.hashLevel, authVar, authVal, password, this.opts.anonToken);
    }
    /**
     * Uploads a file over the websocket in file/upload chunks (spec §9.1),
     * waiting for each chunk's acknowledgement. The server holds it until
     * the next call whose doc has the top-level key attr, e.g.
     * `call('blog/create', [], {..., cover: []})`.
     */
    async upload(attr, index, file) {
        const f = toUploadFile(file);
        const bytes = await toBytes(f.data);
        const size = this.opts.chunkSize;
        const total = Math.max(1, Math.ceil(bytes.length / size));
        const lastModified = f.lastModified ?? Date.now();
        for (let chunk = 1; chunk <= total; chunk++) {
            const part = bytes.subarray((chunk - 1) * size, chunk * size);
            await this.call('file/upload', [], {
                attr, index: String(index), chunk, total,
                file: { name: f.name, size: bytes.length, type: f.type, lastModified, content: part.join(',') },
            });
        }
    }
    /** X-Auth headers of the session (spec §4.10), or none while anonymous. */
    authHeaders() {
        const s = this.current;
        return s ? { 'X-Auth-Bearer': String(s.user._id), 'X-Auth-Token': s.token } : {};
    }
    /**
     * Uploads a file with a multipart POST /file/create (fields __module,
     * __attr, name, type, lastModified, then file), as this session. Resolves
     * with the upload id; send it as `{[attr]: {__file: id}}` in the doc of a
     * later call (e.g. blog/create).
     */
    async uploadHTTP(module, attr, file) {
        const f = toUploadFile(file);
        const form = new FormData();
        form.append('__module', module);
        form.append('__attr', attr);
        form.append('name', f.name);
        form.append('type', f.type);
        form.append('lastModified', String(f.lastModified ?? Date.now()));
        const blob = f.data instanceof Blob ? f.data : new Blob([f.data], { type: f.type });
        form.append('file', blob, f.name);
        const resp = await fetch(this.httpURL + '/file/create', { method: 'POST', body: form, headers: this.authHeaders() });
        const res = (await resp.json());
        if (res.status !== 200)
            throw new LimpError(res.status, res.msg, res.args?.code ?? '', res);
        const id = res.args.docs?.[0]?._id;
        if (typeof id !== 'string')
            throw new LimpError(res.status, 'file/create: reply has no docs[0]._id', '', res);
        return id;
    }
    /**
     * The URL of a stored file (spec §9.4):
     * {httpURL}/{module}/retrieve_file/{id}/{attr}[/{WxH}]/{name}. Files the
     * ANON session may not read need the X-Auth headers: use {@link download}.
     */
    fileURL(module, id, attr, name, thumb) {
        const seg = [module, 'retrieve_file', id, attr];
        if (thumb)
            seg.push(`${Math.trunc(thumb.width)}x${Math.trunc(thumb.height)}`);
        seg.push(name);
        return this.httpURL + '/' + seg.map(encodeURIComponent).join('/');
    }
    /** Fetches a stored file with the session's X-Auth headers; rejects with LimpError on an error reply. */
    async download(module, id, attr, name, thumb) {
        const resp = await fetch(this.fileURL(module, id, attr, name, thumb), { headers: this.authHeaders() });
        if (!resp.ok) {
            let res;
            try {
                res = (await resp.json());
            }
            catch {
                /* not JSON */
            }
            throw new LimpError(res?.status ?? resp.status, res?.msg ?? resp.statusText, res?.args?.code ?? '', res);
        }
        return resp.blob();
    }
    /** Sends conn/close (best effort) and closes the websocket; pending calls reject. */
    close() {
        if (this.closeErr)
            return;
        this.closing = true;
        if (this.down) {
            this.shutdown(new LimpClosedError('closed by client'));
            return;
        }
        this.frame('conn/close', [], {})
            .then(({ data }) => {
            if (!this.closeErr)
                this.ws.send(data);
        })
            .catch(() => undefined)
            .finally(() => this.shutdown(new LimpClosedError('closed by client')));
    }
}
function sessionOf(res) {
    const s = res.args.session;
    if (!s || typeof s !== 'object')
        throw new LimpError(res.status, 'response has no args.session', '', res);
    return s;
}
function toUploadFile(file) {
    // Checked at run time too: from plain JavaScript a wrong shape (e.g.
    // {content: bytes}) would otherwise upload the text "[object Object]".
    const d = file.data;
    if (d !== undefined && d !== null) {
        if (!(d instanceof Blob || d instanceof Uint8Array || d instanceof ArrayBuffer)) {
            throw new TypeError('upload: file.data must be a Blob, Uint8Array or ArrayBuffer');
        }
        return file;
    }
    if (!(file instanceof Blob))
        throw new TypeError('upload: file must be a File/Blob or {name, type, data}');
    return { name: file.name, type: file.type, lastModified: file.lastModified, data: file };
}
async function toBytes(d) {
    if (d instanceof Uint8Array)
        return d;
    if (d instanceof ArrayBuffer)
        return new Uint8Array(d);
    return new Uint8Array(await d.arrayBuffer());
}
/** ws://host/ws → http://host; wss://host/ws/realm → https://host/realm. */
function httpBase(url) {
    const u = new URL(url);
    u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
    const realm = u.pathname.replace(/^\/ws\/?/, '');
    u.pathname = realm ? '/' + realm : '';
    u.search = '';
    u.hash = '';
    return u.toString().replace(/\/+$/, '');
}
