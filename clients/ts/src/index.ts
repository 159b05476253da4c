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

/** Auth hash level (spec §4.2): '5.6' appends the anon token, '5.0' does not. */
export type HashLevel = '5.0' | '5.6';

/** Any JSON object. */
export type Doc = { [attr: string]: unknown };
/** A LIMP v6 query (spec §7.1): a list of steps (AND) and nested lists (OR). */
export type Query = Array<Doc | Query>;

/** The types of one endpoint, as written by `--generate-ts` (Endpoints). */
export interface EndpointSpec { query: unknown; doc: unknown; docs: unknown }
/** Untyped endpoints: any "module/method" with any query and doc. */
export type AnyEndpoints = { [endpoint: string]: { query: Query; doc: Doc; docs: Doc } };

/** A session (spec §4.4) as returned by session/auth and session/reauth. */
export interface Session {
  _id: string;
  /** The session token: the HMAC key of the session's calls. A bearer credential: store it as a secret. */
  token: string;
  user: Doc & { _id: string };
  groups?: string[];
  host_add?: string;
  user_agent?: string;
  expiry?: string;
  create_time?: string;
  [k: string]: unknown;
}

/** The args of a response (spec §3.3, §7.8). */
export interface ResponseArgs<D = Doc> {
  call_id?: string;
  code?: string;
  docs?: D[];
  count?: number;
  total?: number;
  groups?: unknown;
  session?: Session;
  watch?: string | string[];
  oper?: 'create' | 'update' | 'delete' | string;
  /** A watch event's sequence (limp-go: 1, 2, … per watch). */
  seq?: number;
  /** A watch's resume token (limp-go, "Created watch task."). */
  resume?: string;
  /** Whether a $resume was honoured (limp-go). */
  resumed?: boolean;
  /** A fresh watch's created reply carries the documents matching now (limp-go). */
  snapshot?: boolean;
  [k: string]: unknown;
}

/** One server message: {status, msg, args} (spec §3.3). */
export interface LimpResponse<D = Doc> {
  status: number;
  msg: string;
  args: ResponseArgs<D>;
}

/** A response whose status is not 200. `code` is args.code, e.g. CORE_SESSION_INVALID_CREDS. */
export class LimpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly response: LimpResponse | undefined;
  constructor(status: number, msg: string, code = '', response?: LimpResponse) {
    super(code ? `limp error ${status} ${code}: ${msg}` : `limp error ${status}: ${msg}`);
    this.name = 'LimpError';
    this.status = status;
    this.code = code;
    this.response = response;
  }
}

/** The connection closed (or could not be opened). */
export class LimpClosedError extends Error {
  constructor(why: string) {
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
  readonly watch: string;
  constructor(watch: string) {
    super(`limp client: watch ${watch}: more than ${WATCH_BUFFER} undelivered events; the watch was ended`);
    this.name = 'LimpWatchOverflowError';
    this.watch = watch;
  }
}

/** A WebSocket constructor: the browser's, Node's, or e.g. the `ws` package's. */
export type WebSocketCtor = new (url: string) => WebSocket;

/** Options of {@link LimpClient.connect}. */
export interface ClientOptions {
  /** Config.anon_token of the server. Default {@link DEFAULT_ANON_TOKEN}. */
  anonToken?: string;
  /** When set, conn/verify is called with doc {app: appId} (spec §2.3). */
  appId?: string;
  /** Auth hash level; default '5.6'. */
  hashLevel?: HashLevel;
  /** heart/beat interval in ms; 0 disables. Default 30000 (ng-limp). */
  heartbeatInterval?: number;
  /** JWT lifetime (exp − iat) in seconds; default 86400 (ng-limp). */
  tokenLifetime?: number;
  /** file/upload chunk size in bytes; default {@link DEFAULT_CHUNK_SIZE}. */
  chunkSize?: number;
  /** Bound on the greeting and conn/verify, in ms; default 10000. */
  connectTimeout?: number;
  /** Base URL of the HTTP interface (uploads, file URLs); default derived from the ws URL. */
  httpURL?: string;
  /** WebSocket implementation; default globalThis.WebSocket. */
  WebSocket?: WebSocketCtor;
  /** Receives server messages that answer no pending call or watch. */
  onMessage?: (res: LimpResponse) => void;
  /** Called once when the connection closes (for good, with reconnect). */
  onClose?: (err: LimpClosedError) => void;
  /**
   * Redial a lost connection (not one closed by {@link LimpClient.close})
   * instead of closing: see {@link ReconnectOptions}. Default off.
   */
  reconnect?: ReconnectOptions;
}

/**
 * Automatic reconnect. When the connection is lost, pending calls reject
 * with {@link LimpClosedError}, and so do calls made while reconnecting;
 * open watches stay open. The client redials with exponential backoff
 * (with jitter) and, once greeted: calls conn/verify (appId), signs in
 * again with session/reauth when it had a session, and resumes every
 * watch with a `{"$resume": {"watch": <args.resume>, "seq": <last args.seq>}}`
 * step: the events missed meanwhile arrive with no gap and no duplicate,
 * or, when the server could not resume, its new "Created watch task."
 * reply with args.resumed false, args.snapshot true and the documents
 * matching now (replace the view with them).
 */
export interface ReconnectOptions {
  /** Wait before the first redial, in ms, doubling after each failure. Default 100. */
  minDelay?: number;
  /** Longest wait between redials, in ms. Default 10000. */
  maxDelay?: number;
  /** Failed redials in a row before closing for good; 0 (default): until close(). */
  maxAttempts?: number;
}

/** A file to upload: a Blob (File in browsers) or bytes with their metadata. */
export interface UploadFile {
  name: string;
  type: string;
  /** ms since 1970; default now. */
  lastModified?: number;
  data: Blob | Uint8Array | ArrayBuffer;
}

const enc = new TextEncoder();

function b64url(bytes: Uint8Array): string {
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
function jsonString(s: string, ascii: boolean): string {
  const u4 = (c: number) => '\\u' + c.toString(16).padStart(4, '0');
  let out = '"';
  for (const ch of s) {
    let c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    switch (c) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += '\\\\'; continue;
      case 0x08: out += '\\b'; continue;
      case 0x0c: out += '\\f'; continue;
      case 0x0a: out += '\\n'; continue;
      case 0x0d: out += '\\r'; continue;
      case 0x09: out += '\\t'; continue;
    }
    if (c < 0x20) out += u4(c);
    else if (!ascii || c < 0x7f) out += String.fromCodePoint(c);
    else if (c <= 0xffff) out += u4(c);
    else {
      const r = c - 0x10000;
      out += u4(0xd800 + (r >> 10)) + u4(0xdc00 + (r & 0x3ff));
    }
  }
  return out + '"';
}

function hashOf(level: HashLevel, parts: string[], anonToken: string, ascii: boolean): string {
  if (level === '5.6') parts = [...parts, anonToken];
  else if (level !== '5.0') throw new Error(`auth hash: unknown hash level ${JSON.stringify(level)} (want "5.0" or "5.6")`);
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
export function hash(level: HashLevel, authVar: string, authVal: string, password: string, anonToken = DEFAULT_ANON_TOKEN): string {
  return hashOf(level, [authVar, authVal, password], anonToken, true);
}

/** {@link hash} with ng-limp's JSON.stringify encoding (non-ASCII left as UTF-8). */
export function hashNGLimp(level: HashLevel, authVar: string, authVal: string, password: string, anonToken = DEFAULT_ANON_TOKEN): string {
  return hashOf(level, [authVar, authVal, password], anonToken, false);
}

/** The session/reauth hash of a session token (spec §4.5): base64url of {"token": token}. */
export function reauthHash(token: string): string {
  return b64url(enc.encode('{"token":' + jsonString(token, true) + '}'));
}

const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keyCache.get(secret);
  if (!k) {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) throw new Error('limp client: Web Crypto (globalThis.crypto.subtle) is not available; browsers expose it only on https:// and localhost');
    k = subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    if (keyCache.size > 16) keyCache.clear();
    keyCache.set(secret, k);
  }
  return k;
}

const jwtHeader = b64url(enc.encode('{"alg":"HS256","typ":"JWT"}'));

/**
 * signJWT returns the compact HS256 JWS of claims, keyed by the UTF-8
 * bytes of key (spec §3.2).
 */
export async function signJWT(claims: object, key: string): Promise<string> {
  const input = jwtHeader + '.' + b64url(enc.encode(JSON.stringify(claims)));
  const sig = await globalThis.crypto.subtle.sign('HMAC', await hmacKey(key), enc.encode(input));
  return input + '.' + b64url(new Uint8Array(sig));
}

interface Pending { resolve: (r: LimpResponse) => void; reject: (e: Error) => void }

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
export class LimpWatch<D = Doc> implements AsyncIterableIterator<LimpResponse<D>> {
  /** The watch id (args.watch, equal to the call id) of the first call; {@link callId} is the current one. */
  readonly id: string;
  /** The server's first reply ("Created watch task."). */
  created!: LimpResponse<D>;
  /** args.seq of the last event delivered (0 before any, and after a snapshot). */
  seq = 0;
  /** The current call's id: {@link id} until a reconnect resumed the watch. */
  callId: string;
  /** @internal */ token = '';
  /** @internal */ resuming = '';
  /** @internal */ readonly endpoint: string;
  /** @internal */ readonly query: unknown;
  /** @internal */ readonly doc: unknown;
  private queue: LimpResponse<D>[] = [];
  private waiters: Array<{ resolve: (r: IteratorResult<LimpResponse<D>>) => void; reject: (e: Error) => void }> = [];
  private ended: Error | null | undefined; // undefined: live; null: stopped; Error: closed
  private readonly client: LimpClient<any>;

  /** @internal */
  constructor(client: LimpClient<any>, id: string, endpoint = '', query?: unknown, doc?: unknown) {
    this.client = client;
    this.id = id;
    this.callId = id;
    this.endpoint = endpoint;
    this.query = query;
    this.doc = doc;
  }

  /** @internal */
  get live(): boolean {
    return this.ended === undefined;
  }

  /** @internal */
  push(r: LimpResponse<D>): void {
    if (this.ended !== undefined) return;
    if (this.resuming && r.args.call_id === this.resuming) {
      this.resuming = '';
      if (r.status !== 200) {
        this.deliver(r);
        this.client.forgetWatch(this);
        this.end(new LimpError(r.status, r.msg, r.args.code ?? '', r as LimpResponse));
        return;
      }
      if (typeof r.args.resume === 'string') this.token = r.args.resume;
      if (r.args.resumed === true) return;
      this.seq = 0; // a fresh watch: its snapshot is delivered
    } else if (r.status !== 200) {
      // A limp-go server ends a watch with its error reply (overflow,
      // permissions, an on-watch hook's error) and sends nothing more on
      // it: the error is yielded, then the iterator ends.
      this.deliver(r);
      this.client.forgetWatch(this);
      this.end(null);
      return;
    } else if (typeof r.args.seq === 'number') {
      if (r.args.seq <= this.seq) return; // delivered before the reconnect
      this.seq = r.args.seq;
    }
    this.deliver(r);
  }

  private deliver(r: LimpResponse<D>): void {
    const w = this.waiters.shift();
    if (w) w.resolve({ value: r, done: false });
    else if (this.queue.length < WATCH_BUFFER) this.queue.push(r);
    else this.overflow();
  }

  /**
   * The consumer fell behind: the watch ends with a
   * {@link LimpWatchOverflowError} (after the events it holds) and the
   * server is asked to stop sending (watch/delete), as the Go client does.
   */
  private overflow(): void {
    const live = this.ended === undefined;
    this.client.forgetWatch(this);
    this.end(new LimpWatchOverflowError(this.id));
    if (live && !this.client.closed) {
      this.client.call('watch/delete' as any, [{ watch: this.callId }] as any).catch(() => undefined);
    }
  }

  /** @internal */
  end(err: Error | null): void {
    if (this.ended !== undefined) return;
    this.ended = err;
    for (const w of this.waiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<LimpResponse<D>>> {
    const r = this.queue.shift();
    if (r) return Promise.resolve({ value: r, done: false });
    if (this.ended === null) return Promise.resolve({ value: undefined, done: true });
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async return(): Promise<IteratorResult<LimpResponse<D>>> {
    await this.stop().catch(() => undefined);
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops the watch locally and with watch/delete (query [{watch: callId}]). */
  async stop(): Promise<void> {
    const live = this.ended === undefined;
    this.client.forgetWatch(this);
    this.end(null);
    if (live && !this.client.closed) {
      await this.client.call('watch/delete' as any, [{ watch: this.callId }] as any);
    }
  }
}

/**
 * A LIMP websocket connection. Create it with {@link LimpClient.connect};
 * pass the `Endpoints` type written by `--generate-ts` as E to type calls.
 */
export class LimpClient<E extends { [K in keyof E]: EndpointSpec } = AnyEndpoints> {
  readonly url: string;
  readonly httpURL: string;
  private ws: WebSocket;
  private down: LimpClosedError | null = null; // reconnecting
  private closing = false;
  private failures = 0;
  private redialTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly opts: Required<Pick<ClientOptions, 'anonToken' | 'hashLevel' | 'tokenLifetime' | 'chunkSize'>> & ClientOptions;
  private key: string;
  private sid = ANON_SESSION_ID;
  private current: Session | null = null;
  private nextId = 0;
  private pending = new Map<string, Pending>();
  private watches = new Map<string, LimpWatch<any>>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private closeErr: LimpClosedError | null = null;
  /** Resolves with the reason once the connection has closed. */
  readonly done: Promise<LimpClosedError>;
  private resolveDone!: (e: LimpClosedError) => void;

  private constructor(url: string, ws: WebSocket, opts: ClientOptions) {
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
  static connect<E extends { [K in keyof E]: EndpointSpec } = AnyEndpoints>(url: string, options: ClientOptions = {}): Promise<LimpClient<E>> {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!WS) {
      return Promise.reject(new Error('limp client: no WebSocket implementation: use Node >= 22, run Node 20 with --experimental-websocket, or pass options.WebSocket'));
    }
    const ws = new WS(url);
    const c = new LimpClient<E>(url, ws, options);
    const timeout = options.connectTimeout ?? 10000;
    return new Promise<LimpClient<E>>((resolve, reject) => {
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
          await client.call('conn/verify' as any, [] as any, { app: options.appId } as any);
        } catch (e) {
          client.shutdown(new LimpClosedError('conn/verify failed'));
          throw e;
        }
      }
      const every = options.heartbeatInterval ?? 30000;
      if (every > 0) {
        client.heartbeat = setInterval(() => {
          client.call('heart/beat' as any).catch(() => undefined);
        }, every);
        (client.heartbeat as { unref?: () => void }).unref?.();
      }
      return client;
    });
  }

  private greeted: (() => void) | null = null;

  private attach(ws: WebSocket): void {
    ws.addEventListener('message', (ev: MessageEvent) => {
      if (ws !== this.ws || typeof ev.data !== 'string') return;
      let res: LimpResponse;
      try {
        res = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!res || typeof res.status !== 'number') return;
      res.args ??= {};
      this.dispatch(res);
    });
    ws.addEventListener('close', (ev: CloseEvent) => {
      if (ws === this.ws) this.lost(new LimpClosedError(`websocket closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`));
    });
    ws.addEventListener('error', () => {
      if (ws === this.ws) this.lost(new LimpClosedError('websocket error'));
    });
  }

  /** The websocket failed: close, or (options.reconnect) redial. */
  private lost(err: LimpClosedError): void {
    const r = this.opts.reconnect;
    if (!r || this.closing || this.closeErr || this.greeted) {
      this.shutdown(err);
      return;
    }
    if (!this.down) {
      this.down = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    }
    try {
      this.ws.close();
    } catch {
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

  private redial(): void {
    this.redialTimer = undefined;
    if (this.closeErr || this.closing) return;
    const WS = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket!;
    let ws: WebSocket;
    try {
      ws = new WS(this.url);
    } catch {
      this.lost(this.down ?? new LimpClosedError('redial failed'));
      return;
    }
    this.ws = ws;
    this.regreet = () => {
      this.restore(ws).then(
        () => {
          if (ws !== this.ws) return;
          this.down = null;
          this.failures = 0;
        },
        () => {
          if (ws === this.ws) {
            try {
              ws.close();
            } catch {
              /* closed */
            }
          }
        },
      );
    };
    this.attach(ws);
  }

  private regreet: (() => void) | null = null;

  /** conn/verify, session/reauth and the watches' resume on a new websocket. */
  private async restore(ws: WebSocket): Promise<void> {
    const sess = this.current;
    this.key = this.opts.anonToken;
    this.sid = ANON_SESSION_ID;
    this.current = null;
    if (this.opts.appId) await this.request('conn/verify', [], { app: this.opts.appId }, true);
    if (sess) {
      const query: Query = [{ _id: sess._id, hash: reauthHash(sess.token) }];
      if (sess.groups?.length) query.push({ groups: sess.groups });
      try {
        await this.request('session/reauth', query, {}, true);
      } catch (e) {
        if (!(e instanceof LimpError)) throw e; // refused: go on anonymous
      }
    }
    // Open to the app's calls before the watches resume: an event of a
    // resumed watch must never meet a client still refusing calls. A write
    // made before a watch's resume frame is no loss: the resume returns
    // every event after the watch's last seq.
    if (ws === this.ws) this.down = null;
    for (const w of new Set(this.watches.values())) {
      if (!w.live) continue;
      if (!w.token || (w.query !== undefined && !Array.isArray(w.query))) {
        this.forgetWatch(w);
        w.end(new LimpClosedError(`watch ${w.id}: not resumable after a reconnect`));
        continue;
      }
      const query = [...((w.query as unknown[] | undefined) ?? []), { $resume: { watch: w.token, seq: w.seq } }];
      const { id, data } = await this.frame(w.endpoint, query, w.doc);
      if (ws !== this.ws) throw new LimpClosedError('lost again');
      this.watches.delete(w.callId);
      this.watches.set(id, w);
      w.callId = id;
      w.resuming = id;
      ws.send(data);
    }
  }

  private dispatch(res: LimpResponse): void {
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
  private switchSession(res: LimpResponse): void {
    const s = res.args.session;
    if (!s || typeof s !== 'object' || typeof s._id !== 'string' || !s._id) return;
    if (s._id === ANON_SESSION_ID) {
      this.key = this.opts.anonToken;
      this.sid = ANON_SESSION_ID;
      this.current = null;
    } else if (typeof s.token === 'string' && s.token) {
      this.key = s.token;
      this.sid = s._id;
      this.current = s;
    }
  }

  private shutdown(err: LimpClosedError): void {
    if (this.closeErr) return;
    this.closeErr = err;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    if (this.redialTimer !== undefined) clearTimeout(this.redialTimer);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const w of this.watches.values()) w.end(err);
    this.watches.clear();
    try {
      this.ws.close();
    } catch {
      /* already closed */
    }
    this.opts.onClose?.(err);
    this.resolveDone(err);
  }

  /** True once the connection has closed. */
  get closed(): boolean {
    return this.closeErr !== null;
  }

  /** The current session, or null while anonymous. Its token is a bearer credential. */
  get session(): Session | null {
    return this.current;
  }

  private async frame(endpoint: string, query: unknown, doc: unknown): Promise<{ id: string; data: string }> {
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
  async call<K extends keyof E & string>(endpoint: K, query?: E[K]['query'], doc?: E[K]['doc']): Promise<LimpResponse<E[K]['docs']>> {
    return (await this.request(endpoint, query, doc, false)) as LimpResponse<E[K]['docs']>;
  }

  /** call; restoring calls go out while reconnecting. */
  private async request(endpoint: string, query: unknown, doc: unknown, restoring: boolean): Promise<LimpResponse> {
    if (this.closeErr) throw this.closeErr;
    if (this.down && !restoring) throw new LimpClosedError(`reconnecting: ${this.down.message}`);
    const { id, data } = await this.frame(endpoint, query, doc);
    if (this.closeErr) throw this.closeErr;
    const res = await new Promise<LimpResponse>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.ws.send(data);
      } catch (e) {
        this.pending.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    if (res.status !== 200) throw new LimpError(res.status, res.msg, res.args.code ?? '', res);
    return res;
  }

  /**
   * Calls a watch method and resolves, once the server acknowledged it
   * with args.watch, with the event stream (spec §6.12).
   */
  async watch<K extends keyof E & string>(endpoint: K, query?: E[K]['query'], doc?: E[K]['doc']): Promise<LimpWatch<E[K]['docs']>> {
    if (this.closeErr) throw this.closeErr;
    if (this.down) throw new LimpClosedError(`reconnecting: ${this.down.message}`);
    const { id, data } = await this.frame(endpoint, query, doc);
    if (this.closeErr) throw this.closeErr;
    const w = new LimpWatch<E[K]['docs']>(this, id, endpoint, query, doc);
    this.watches.set(id, w);
    this.ws.send(data);
    let first: IteratorResult<LimpResponse<E[K]['docs']>>;
    try {
      first = await w.next();
    } catch (e) {
      this.forgetWatch(w);
      throw e;
    }
    const r = first.value as LimpResponse<E[K]['docs']>;
    if (first.done || r.status !== 200 || r.args.watch === undefined) {
      this.forgetWatch(w);
      w.end(null);
      if (r && r.status !== 200) throw new LimpError(r.status, r.msg, r.args.code ?? '', r as LimpResponse);
      throw new LimpError(r?.status ?? 0, `watch ${endpoint}: response has no args.watch`, '', r as LimpResponse);
    }
    w.created = r;
    if (typeof r.args.resume === 'string') w.token = r.args.resume;
    return w;
  }

  /** @internal */
  forgetWatch(w: LimpWatch<any>): void {
    for (const [id, x] of this.watches) if (x === w) this.watches.delete(id);
  }

  /**
   * Signs in with session/auth (spec §4.3): computes the auth hash of
   * password and sends {[authVar]: authVal, hash, groups?}. On success
   * later calls are signed with the session token.
   */
  async auth(authVar: string, authVal: string, password: string, groups?: string[]): Promise<Session> {
    return this.authHash(authVar, authVal, hash(this.opts.hashLevel, authVar, authVal, password, this.opts.anonToken), groups);
  }

  /** {@link auth} with a precomputed hash. */
  async authHash(authVar: string, authVal: string, h: string, groups?: string[]): Promise<Session> {
    const doc: Doc = { [authVar]: authVal, hash: h };
    if (groups?.length) doc.groups = groups;
    const res = await this.call('session/auth' as any, [] as any, doc as any);
    return sessionOf(res);
  }

  /**
   * Resumes a session cached from an earlier connection with
   * session/reauth (spec §4.5); only on an anonymous connection.
   */
  async reauth(sid: string, token: string, groups?: string[]): Promise<Session> {
    const query: Query = [{ _id: sid, hash: reauthHash(token) }];
    if (groups?.length) query.push({ groups });
    const res = await this.call('session/reauth' as any, query as any);
    return sessionOf(res);
  }

  /** Ends the session with session/signout (spec §4.6); the connection becomes anonymous. */
  async signout(): Promise<void> {
    await this.call('session/signout' as any, [{ _id: this.sid }] as any);
  }

  /** The auth hash of these credentials with this connection's level and anon token (e.g. for sign-up). */
  hash(authVar: string, authVal: string, password: string): string {
    return hash(this.opts.hashLevel, authVar, authVal, password, this.opts.anonToken);
  }

  /**
   * Uploads a file over the websocket in file/upload chunks (spec §9.1),
   * waiting for each chunk's acknowledgement. The server holds it until
   * the next call whose doc has the top-level key attr, e.g.
   * `call('blog/create', [], {..., cover: []})`.
   */
  async upload(attr: string, index: number, file: UploadFile | File): Promise<void> {
    const f = toUploadFile(file);
    const bytes = await toBytes(f.data);
    const size = this.opts.chunkSize;
    const total = Math.max(1, Math.ceil(bytes.length / size));
    const lastModified = f.lastModified ?? Date.now();
    for (let chunk = 1; chunk <= total; chunk++) {
      const part = bytes.subarray((chunk - 1) * size, chunk * size);
      await this.call('file/upload' as any, [] as any, {
        attr, index: String(index), chunk, total,
        file: { name: f.name, size: bytes.length, type: f.type, lastModified, content: part.join(',') },
      } as any);
    }
  }

  /** X-Auth headers of the session (spec §4.10), or none while anonymous. */
  authHeaders(): Record<string, string> {
    const s = this.current;
    return s ? { 'X-Auth-Bearer': String(s.user._id), 'X-Auth-Token': s.token } : {};
  }

  /**
   * Uploads a file with a multipart POST /file/create (fields __module,
   * __attr, name, type, lastModified, then file), as this session. Resolves
   * with the upload id; send it as `{[attr]: {__file: id}}` in the doc of a
   * later call (e.g. blog/create).
   */
  async uploadHTTP(module: string, attr: string, file: UploadFile | File): Promise<string> {
    const f = toUploadFile(file);
    const form = new FormData();
    form.append('__module', module);
    form.append('__attr', attr);
    form.append('name', f.name);
    form.append('type', f.type);
    form.append('lastModified', String(f.lastModified ?? Date.now()));
    const blob = f.data instanceof Blob ? f.data : new Blob([f.data as BlobPart], { type: f.type });
    form.append('file', blob, f.name);
    const resp = await fetch(this.httpURL + '/file/create', { method: 'POST', body: form, headers: this.authHeaders() });
    const res = (await resp.json()) as LimpResponse;
    if (res.status !== 200) throw new LimpError(res.status, res.msg, res.args?.code ?? '', res);
    const id = res.args.docs?.[0]?._id;
    if (typeof id !== 'string') throw new LimpError(res.status, 'file/create: reply has no docs[0]._id', '', res);
    return id;
  }

  /**
   * The URL of a stored file (spec §9.4):
   * {httpURL}/{module}/retrieve_file/{id}/{attr}[/{WxH}]/{name}. Files the
   * ANON session may not read need the X-Auth headers: use {@link download}.
   */
  fileURL(module: string, id: string, attr: string, name: string, thumb?: { width: number; height: number }): string {
    const seg = [module, 'retrieve_file', id, attr];
    if (thumb) seg.push(`${Math.trunc(thumb.width)}x${Math.trunc(thumb.height)}`);
    seg.push(name);
    return this.httpURL + '/' + seg.map(encodeURIComponent).join('/');
  }

  /** Fetches a stored file with the session's X-Auth headers; rejects with LimpError on an error reply. */
  async download(module: string, id: string, attr: string, name: string, thumb?: { width: number; height: number }): Promise<Blob> {
    const resp = await fetch(this.fileURL(module, id, attr, name, thumb), { headers: this.authHeaders() });
    if (!resp.ok) {
      let res: LimpResponse | undefined;
      try {
        res = (await resp.json()) as LimpResponse;
      } catch {
        /* not JSON */
      }
      throw new LimpError(res?.status ?? resp.status, res?.msg ?? resp.statusText, res?.args?.code ?? '', res);
    }
    return resp.blob();
  }

  /** Sends conn/close (best effort) and closes the websocket; pending calls reject. */
  close(): void {
    if (this.closeErr) return;
    this.closing = true;
    if (this.down) {
      this.shutdown(new LimpClosedError('closed by client'));
      return;
    }
    this.frame('conn/close', [], {})
      .then(({ data }) => {
        if (!this.closeErr) this.ws.send(data);
      })
      .catch(() => undefined)
      .finally(() => this.shutdown(new LimpClosedError('closed by client')));
  }
}

function sessionOf(res: LimpResponse<unknown>): Session {
  const s = res.args.session;
  if (!s || typeof s !== 'object') throw new LimpError(res.status, 'response has no args.session', '', res as LimpResponse);
  return s;
}

function toUploadFile(file: UploadFile | File): UploadFile {
  // Checked at run time too: from plain JavaScript a wrong shape (e.g.
  // {content: bytes}) would otherwise upload the text "[object Object]".
  const d = (file as Partial<UploadFile>).data;
  if (d !== undefined && d !== null) {
    if (!(d instanceof Blob || d instanceof Uint8Array || d instanceof ArrayBuffer)) {
      throw new TypeError('upload: file.data must be a Blob, Uint8Array or ArrayBuffer');
    }
    return file as UploadFile;
  }
  if (!(file instanceof Blob)) throw new TypeError('upload: file must be a File/Blob or {name, type, data}');
  return { name: file.name, type: file.type, lastModified: file.lastModified, data: file };
}

async function toBytes(d: Blob | Uint8Array | ArrayBuffer): Promise<Uint8Array> {
  if (d instanceof Uint8Array) return d;
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  return new Uint8Array(await d.arrayBuffer());
}

/** ws://host/ws → http://host; wss://host/ws/realm → https://host/realm. */
function httpBase(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  const realm = u.pathname.replace(/^\/ws\/?/, '');
  u.pathname = realm ? '/' + realm : '';
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '');
}
