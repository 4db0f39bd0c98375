// shoal.d.ts: TypeScript declarations of shoal.js, the browser and Node client of the Shoal
// pub/sub gateway (subprotocol shoal.v1). Served beside it as /shoal.d.ts.

/** The WebSocket subprotocol the client requests: "shoal.v1". */
export declare const SUBPROTOCOL: "shoal.v1";

/** Error codes the server sends (README "Pub/sub protocol"). */
export type ShoalServerErrorCode =
  | "bad_json" | "bad_message" | "bad_topic" | "too_many_topics" | "not_subscribed"
  | "message_too_big" | "unauthorized" | "rate_limited" | "overloaded" | "unavailable" | "internal";

/** Error codes of the client itself. */
export type ShoalClientErrorCode =
  /** No answer within the request timeout. */
  | "timeout"
  /** The connection dropped before the answer: the request may or may not have been carried out. */
  | "connection_lost"
  /** The client is closed (close(), or it gave up). */
  | "closed"
  /** Queuing this publish while not connected would exceed maxQueuedBytes. */
  | "queue_full"
  /** A second subscribe() of a topic asked for `since` (it applies to the first one only). */
  | "already_subscribed"
  /** getToken() threw or rejected. */
  | "token_failed"
  /** The server closed with 4001 and there is no getToken() to renew the token. */
  | "token_expired"
  /** The server did not choose the shoal.v1 subprotocol. */
  | "bad_protocol"
  /** A server message that is not JSON. */
  | "bad_answer"
  | "invalid_argument";

export type ShoalErrorCode = ShoalServerErrorCode | ShoalClientErrorCode;

/** Every error of the client, and every error answer of the server. */
export declare class ShoalError extends Error {
  constructor(code: ShoalErrorCode | string, message: string, details?: { topic?: string; cause?: unknown });
  readonly name: "ShoalError";
  /** A ShoalErrorCode (a string, so codes added by newer servers pass through). */
  readonly code: ShoalErrorCode | (string & {});
  /** The topic of the request, when there is one. */
  readonly topic?: string;
}

export type ShoalState = "connecting" | "open" | "reconnecting" | "closed";

/** A WebSocket constructor: the browser's, or the ws package's in Node. The client uses
 *  `protocol`, `bufferedAmount`, the `onopen`/`onmessage`/`onclose`/`onerror` handlers, `send`,
 *  `close`, and `terminate` where it exists (ws: drop without a closing handshake). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WebSocketConstructor = new (url: string, protocols: string, ...rest: any[]) => any;

export interface ReconnectOptions {
  /** First retry's upper bound, ms. Default 250. */
  minDelay?: number;
  /** Largest delay, ms. Default 10000. */
  maxDelay?: number;
  /** Full jitter: delay = random(0, min(maxDelay, minDelay * 2^attempt)). false: that bound
   *  itself (every client retries at the same instants: for measurement only). Default true. */
  jitter?: boolean;
  /** A connection open at least this long (ms) restarts the backoff from attempt 0 when it is
   *  lost; one lost sooner continues it, so a flapping server is not hammered. Default 5000. */
  stableAfter?: number;
}

export interface HeartbeatOptions {
  /** After this long (ms) without receiving anything, send a probe. Default 15000. */
  interval?: number;
  /** Nothing received this long (ms) after a probe: the connection is dead and is replaced. Default 10000. */
  timeout?: number;
}

export interface ShoalOptions {
  /** The WebSocket constructor; default globalThis.WebSocket (required in Node 20: the ws package's). */
  WebSocket?: WebSocketConstructor;
  /** Passed as the third constructor argument (Node's ws: headers, localAddress, agent...). */
  webSocketOptions?: unknown;
  /** A JWT sent as the first message `{"op":"auth","token":...}` of every connection. */
  token?: string;
  /** Called before every connection and before the token's `exp`; its token is sent as the
   *  first message. Resolve with null/undefined to connect without a token. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Refresh in band this long (ms) before `exp` (at most a fifth of the token's remaining
   *  life); 0 = never (the server's 4001 close then triggers a reconnect). Default 30000. */
  refreshBeforeExpiry?: number;
  /** Consecutive refused tokens after which the client stops (state closed). Default 3. */
  maxAuthFailures?: number;
  reconnect?: ReconnectOptions;
  /** false disables the heartbeat. */
  heartbeat?: HeartbeatOptions | false;
  /** Time for the server to answer a request once sent, ms. Default 10000. */
  requestTimeout?: number;
  /** Time for the WebSocket to open, ms. Default 10000. */
  connectTimeout?: number;
  /** Bytes of publishes held while not open; past it publish() rejects with "queue_full". Default 1 MiB. */
  maxQueuedBytes?: number;
  /** Connect in the constructor. Default true; false: call connect(). */
  autoConnect?: boolean;
  /** Source of numbers in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
}

/** A delivery. */
export interface ShoalMessage<T = unknown> {
  topic: string;
  /** The topic's sequence number: one total order per topic, from 1. */
  seq: number;
  /** The published JSON value. */
  data: T;
}

export interface SubscribeOptions {
  /** Deliver every message with a seq above this that history still holds; else a "reset". */
  since?: number;
  /** Time for the server's answer, ms; default requestTimeout. */
  timeout?: number;
}

export interface PublishOptions {
  /** Time for the ack once sent, ms; default requestTimeout. */
  timeout?: number;
}

export interface CloseInfo {
  /** The WebSocket close code: 1000/1001 (server closing or draining), 1006 (dropped),
   *  1008 (policy: refused token, rate limit, slow consumer), 4001 (token expired),
   *  4000 (dropped by this client: heartbeat, connect or request timeout, refused token). */
  code: number;
  reason: string;
  wasClean: boolean;
}

export interface RetryInfo {
  /** 0 for the first retry after a stable connection. */
  attempt: number;
  /** ms until the next attempt. */
  delay: number;
  /** Close code of the connection that ended (0: getToken failed). */
  code: number;
  reason: string;
}

export interface GapEvent {
  topic: string;
  /** Messages from..to (inclusive) will not be delivered. */
  from: number;
  to: number;
  /** true: the server's gap notice (this client was too slow); false: a jump in sequence
   *  numbers no notice explained (reported, never hidden). */
  announced: boolean;
}

export interface ResetEvent {
  topic: string;
  /** The position the client asked to resume from. */
  since: number;
  /** The oldest message history still holds. */
  oldest: number;
  /** The topic's last seq: delivery goes on live from here. Reload the app's state. */
  seq: number;
}

export interface AuthedEvent {
  /** The token's expiry, Unix seconds (0: none). */
  exp: number;
  /** The token's subject. */
  sub?: string;
}

export interface UnsubscribedEvent {
  topic: string;
  /** Why the server ended or refused the subscription. */
  error: ShoalError;
}

export interface ShoalEvents {
  state: (state: ShoalState, previous: ShoalState) => void;
  /** Authenticated and every subscription re-established, each resume's outcome known (any
   *  "reset" comes before); queued publishes have been sent. */
  open: (info: { reconnected: boolean }) => void;
  /** A connection ended, also one that never opened (1006: refused, unreachable). */
  close: (info: CloseInfo) => void;
  retry: (info: RetryInfo) => void;
  error: (error: ShoalError) => void;
  gap: (event: GapEvent) => void;
  reset: (event: ResetEvent) => void;
  authed: (event: AuthedEvent) => void;
  unsubscribed: (event: UnsubscribedEvent) => void;
}

export interface ShoalStats {
  /** Messages delivered to handlers. */
  messages: number;
  /** Messages dropped because their seq was not above the position. */
  duplicates: number;
  gaps: number;
  resets: number;
  /** Connections opened after the first. */
  reconnects: number;
}

export declare class Subscription<T = unknown> {
  readonly topic: string;
  /** The last seq delivered, or skipped by a gap or reset; a reconnection resumes from it.
   *  null before the subscription is established. */
  readonly seq: number | null;
  /** false once unsubscribed or ended by the server. */
  readonly active: boolean;
  /** Stops this handler at once; the topic's last one also tells the server. Never rejects. */
  unsubscribe(): Promise<void>;
  /** @internal */
  private constructor();
  /** @internal phantom: ties the subscription to its message type. */
  private readonly __data?: T;
}

/**
 * A Shoal client: one WebSocket, kept open across failures. Messages arrive in order and each
 * once, across reconnections. Publishes are at most once: a publish whose ack did not arrive
 * before its connection dropped rejects with "connection_lost" and is never resent.
 */
export declare class ShoalClient {
  constructor(url: string, options?: ShoalOptions);
  readonly url: string;
  readonly state: ShoalState;
  /** Bytes of publishes queued while not open, plus the socket's bufferedAmount. */
  readonly bufferedAmount: number;
  readonly stats: Readonly<ShoalStats>;

  subscribe<T = unknown>(topic: string, handler: (msg: ShoalMessage<T>) => void,
                         options?: SubscribeOptions): Promise<Subscription<T>>;
  /** Resolves with the seq the server gave the message. */
  publish(topic: string, data: unknown, options?: PublishOptions): Promise<number>;

  on<E extends keyof ShoalEvents>(event: E, listener: ShoalEvents[E]): this;
  once<E extends keyof ShoalEvents>(event: E, listener: ShoalEvents[E]): this;
  off<E extends keyof ShoalEvents>(event: E, listener: ShoalEvents[E]): this;

  /** Starts connecting (autoConnect does it in the constructor); reopens a closed client. */
  connect(): void;
  /** Resolves when open (now or next); rejects with "closed" if the client closes first. */
  ready(): Promise<void>;
  /** While waiting to reconnect, try at once (e.g. on the browser's "online" event). */
  reconnect(): void;
  /** Closes and stops reconnecting; in-flight requests and queued publishes reject with
   *  "closed"; subscriptions are kept for connect(). Resolves once the socket closed. */
  close(code?: number, reason?: string): Promise<void>;
}

/** The reconnect delay before attempt `attempt` (0-based), ms. */
export declare function backoffDelay(
  attempt: number, cfg: { minDelay: number; maxDelay: number; jitter?: boolean }, random?: () => number): number;
