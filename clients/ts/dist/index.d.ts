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
export declare const DEFAULT_ANON_TOKEN = "__ANON_TOKEN_f00000000000000000000012";
/** The _id of the ANON session (spec §4.7). */
export declare const ANON_SESSION_ID = "f00000000000000000000012";
/** ng-limp's file chunk size in bytes (spec §9.1). */
export declare const DEFAULT_CHUNK_SIZE = 512000;
/** Auth hash level (spec §4.2): '5.6' appends the anon token, '5.0' does not. */
export type HashLevel = '5.0' | '5.6';
/** Any JSON object. */
export type Doc = {
    [attr: string]: unknown;
};
/** A LIMP v6 query (spec §7.1): a list of steps (AND) and nested lists (OR). */
export type Query = Array<Doc | Query>;
/** The types of one endpoint, as written by `--generate-ts` (Endpoints). */
export interface EndpointSpec {
    query: unknown;
    doc: unknown;
    docs: unknown;
}
/** Untyped endpoints: any "module/method" with any query and doc. */
export type AnyEndpoints = {
    [endpoint: string]: {
        query: Query;
        doc: Doc;
        docs: Doc;
    };
};
/** A session (spec §4.4) as returned by session/auth and session/reauth. */
export interface Session {
    _id: string;
    /** The session token: the HMAC key of the session's calls. A bearer credential: store it as a secret. */
    token: string;
    user: Doc & {
        _id: string;
    };
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
export declare class LimpError extends Error {
    readonly status: number;
    readonly code: string;
    readonly response: LimpResponse | undefined;
    constructor(status: number, msg: string, code?: string, response?: LimpResponse);
}
/** The connection closed (or could not be opened). */
export declare class LimpClosedError extends Error {
    constructor(why: string);
}
/** The number of undelivered events a {@link LimpWatch} holds (as the Go client's WatchBuffer). */
export declare const WATCH_BUFFER = 1024;
/**
 * A watch's consumer fell more than {@link WATCH_BUFFER} events behind:
 * the client ended the watch and asked the server to end it too
 * (watch/delete). The iterator yields the events it holds, then throws
 * this error. Watch again for a fresh view.
 */
export declare class LimpWatchOverflowError extends Error {
    /** The watch's id (the first call's id). */
    readonly watch: string;
    constructor(watch: string);
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
/**
 * LIMP's client-side auth hash (spec §4.2): base64url (unpadded) of the
 * compact JSON {"hash": [authVar, authVal, password(, anonToken)]}, the
 * payload segment of ng-limp's generateAuthHash JWT. Level '5.6' appends
 * anonToken. Encoded as the server encodes the ADMIN hash (non-ASCII
 * escaped); equal to ng-limp's for ASCII input (see {@link hashNGLimp}).
 * The result is password-equivalent: never log it.
 */
export declare function hash(level: HashLevel, authVar: string, authVal: string, password: string, anonToken?: string): string;
/** {@link hash} with ng-limp's JSON.stringify encoding (non-ASCII left as UTF-8). */
export declare function hashNGLimp(level: HashLevel, authVar: string, authVal: string, password: string, anonToken?: string): string;
/** The session/reauth hash of a session token (spec §4.5): base64url of {"token": token}. */
export declare function reauthHash(token: string): string;
/**
 * signJWT returns the compact HS256 JWS of claims, keyed by the UTF-8
 * bytes of key (spec §3.2).
 */
export declare function signJWT(claims: object, key: string): Promise<string>;
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
export declare class LimpWatch<D = Doc> implements AsyncIterableIterator<LimpResponse<D>> {
    /** The watch id (args.watch, equal to the call id) of the first call; {@link callId} is the current one. */
    readonly id: string;
    /** The server's first reply ("Created watch task."). */
    created: LimpResponse<D>;
    /** args.seq of the last event delivered (0 before any, and after a snapshot). */
    seq: number;
    /** The current call's id: {@link id} until a reconnect resumed the watch. */
    callId: string;
    /** @internal */ token: string;
    /** @internal */ resuming: string;
    /** @internal */ readonly endpoint: string;
    /** @internal */ readonly query: unknown;
    /** @internal */ readonly doc: unknown;
    private queue;
    private waiters;
    private ended;
    private readonly client;
    /** @internal */
    constructor(client: LimpClient<any>, id: string, endpoint?: string, query?: unknown, doc?: unknown);
    /** @internal */
    get live(): boolean;
    /** @internal */
    push(r: LimpResponse<D>): void;
    private deliver;
    /**
     * The consumer fell behind: the watch ends with a
     * {@link LimpWatchOverflowError} (after the events it holds) and the
     * server is asked to stop sending (watch/delete), as the Go client does.
     */
    private overflow;
    /** @internal */
    end(err: Error | null): void;
    next(): Promise<IteratorResult<LimpResponse<D>>>;
    return(): Promise<IteratorResult<LimpResponse<D>>>;
    [Symbol.asyncIterator](): this;
    /** Stops the watch locally and with watch/delete (query [{watch: callId}]). */
    stop(): Promise<void>;
}
/**
 * A LIMP websocket connection. Create it with {@link LimpClient.connect};
 * pass the `Endpoints` type written by `--generate-ts` as E to type calls.
 */
export declare class LimpClient<E extends {
    [K in keyof E]: EndpointSpec;
} = AnyEndpoints> {
    readonly url: string;
    readonly httpURL: string;
    private ws;
    private down;
    private closing;
    private failures;
    private redialTimer;
    private readonly opts;
    private key;
    private sid;
    private current;
    private nextId;
    private pending;
    private watches;
    private heartbeat;
    private closeErr;
    /** Resolves with the reason once the connection has closed. */
    readonly done: Promise<LimpClosedError>;
    private resolveDone;
    private constructor();
    /**
     * Connects to the websocket endpoint (ws[s]://host[:port]/ws), waits
     * for the CORE_CONN_READY greeting and, with options.appId, calls
     * conn/verify. Rejects with LimpClosedError or LimpError.
     */
    static connect<E extends {
        [K in keyof E]: EndpointSpec;
    } = AnyEndpoints>(url: string, options?: ClientOptions): Promise<LimpClient<E>>;
    private greeted;
    private attach;
    /** The websocket failed: close, or (options.reconnect) redial. */
    private lost;
    private redial;
    private regreet;
    /** conn/verify, session/reauth and the watches' resume on a new websocket. */
    private restore;
    private dispatch;
    /** Follows the server's session switch (spec §2.5). */
    private switchSession;
    private shutdown;
    /** True once the connection has closed. */
    get closed(): boolean;
    /** The current session, or null while anonymous. Its token is a bearer credential. */
    get session(): Session | null;
    private frame;
    /**
     * Sends one call to endpoint ("module/method") and resolves with its
     * response; a status other than 200 rejects with {@link LimpError}
     * (its `code` is args.code). query defaults to [], doc to {}.
     */
    call<K extends keyof E & string>(endpoint: K, query?: E[K]['query'], doc?: E[K]['doc']): Promise<LimpResponse<E[K]['docs']>>;
    /** call; restoring calls go out while reconnecting. */
    private request;
    /**
     * Calls a watch method and resolves, once the server acknowledged it
     * with args.watch, with the event stream (spec §6.12).
     */
    watch<K extends keyof E & string>(endpoint: K, query?: E[K]['query'], doc?: E[K]['doc']): Promise<LimpWatch<E[K]['docs']>>;
    /** @internal */
    forgetWatch(w: LimpWatch<any>): void;
    /**
     * Signs in with session/auth (spec §4.3): computes the auth hash of
     * password and sends {[authVar]: authVal, hash, groups?}. On success
     * later calls are signed with the session token.
     */
    auth(authVar: string, authVal: string, password: string, groups?: string[]): Promise<Session>;
    /** {@link auth} with a precomputed hash. */
    authHash(authVar: string, authVal: string, h: string, groups?: string[]): Promise<Session>;
    /**
     * Resumes a session cached from an earlier connection with
     * session/reauth (spec §4.5); only on an anonymous connection.
     */
    reauth(sid: string, token: string, groups?: string[]): Promise<Session>;
    /** Ends the session with session/signout (spec §4.6); the connection becomes anonymous. */
    signout(): Promise<void>;
    /** The auth hash of these credentials with this connection's level and anon token (e.g. for sign-up). */
    hash(authVar: string, authVal: string, password: string): string;
    /**
     * Uploads a file over the websocket in file/upload chunks (spec §9.1),
     * waiting for each chunk's acknowledgement. The server holds it until
     * the next call whose doc has the top-level key attr, e.g.
     * `call('blog/create', [], {..., cover: []})`.
     */
    upload(attr: string, index: number, file: UploadFile | File): Promise<void>;
    /** X-Auth headers of the session (spec §4.10), or none while anonymous. */
    authHeaders(): Record<string, string>;
    /**
     * Uploads a file with a multipart POST /file/create (fields __module,
     * __attr, name, type, lastModified, then file), as this session. Resolves
     * with the upload id; send it as `{[attr]: {__file: id}}` in the doc of a
     * later call (e.g. blog/create).
     */
    uploadHTTP(module: string, attr: string, file: UploadFile | File): Promise<string>;
    /**
     * The URL of a stored file (spec §9.4):
     * {httpURL}/{module}/retrieve_file/{id}/{attr}[/{WxH}]/{name}. Files the
     * ANON session may not read need the X-Auth headers: use {@link download}.
     */
    fileURL(module: string, id: string, attr: string, name: string, thumb?: {
        width: number;
        height: number;
    }): string;
    /** Fetches a stored file with the session's X-Auth headers; rejects with LimpError on an error reply. */
    download(module: string, id: string, attr: string, name: string, thumb?: {
        width: number;
        height: number;
    }): Promise<Blob>;
    /** Sends conn/close (best effort) and closes the websocket; pending calls reject. */
    close(): void;
}
