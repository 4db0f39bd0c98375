// shoal.js: the JavaScript client of the Shoal pub/sub gateway (subprotocol `shoal.v1`, README
// "Pub/sub protocol" and "Browser and Node client"). One dependency-free ES module for browsers
// and Node >= 20 (pass the `ws` package's WebSocket as `options.WebSocket` there). It reconnects
// with exponential backoff and full jitter, resubscribes every topic from the last sequence
// number it delivered, never hands the app a duplicate or out-of-order message, reports gaps
// and resets, authenticates and refreshes JWTs in-band, finds dead connections by silence, and
// queues publishes within a byte bound while it is not connected.
//
// Publishes are at most once: a publish sent but not acknowledged when its connection drops
// may or may not have been accepted, so its promise is rejected with ShoalError code
// "connection_lost" and it is never sent again (a resend could duplicate it).

/** The WebSocket subprotocol this client speaks. */
export const SUBPROTOCOL = "shoal.v1";

const DEFAULTS = Object.freeze({
  reconnect: Object.freeze({ minDelay: 250, maxDelay: 10000, jitter: true, stableAfter: 5000 }),
  heartbeat: Object.freeze({ interval: 15000, timeout: 10000 }),
  requestTimeout: 10000,
  connectTimeout: 10000,
  maxQueuedBytes: 1024 * 1024,
  maxAuthFailures: 3,
  refreshBeforeExpiry: 30000,
});

// Close code this client uses when it drops a connection itself (heartbeat, connect or
// handshake timeout, refused token): in the 4000-4999 range RFC 6455 §7.4.2 leaves to apps.
const CLOSE_BY_CLIENT = 4000;
// The server's close for a token that reached `exp` unrefreshed (README "Security").
const CLOSE_TOKEN_EXPIRED = 4001;

// Errors the server may answer a resubscription with that say "not now" rather than "never":
// the subscription is kept and asked again after a backoff delay.
const TRANSIENT = new Set(["unavailable", "overloaded", "rate_limited", "internal"]);

/**
 * An error of this client or of the server. `code` is one of the server's error codes
 * (`bad_json`, `bad_message`, `bad_topic`, `too_many_topics`, `not_subscribed`,
 * `message_too_big`, `unauthorized`, `rate_limited`, `overloaded`, `unavailable`, `internal`)
 * or one of the client's: `timeout` (no answer within the request timeout), `connection_lost`
 * (the connection dropped before the answer: the request may or may not have been carried out),
 * `closed` (the client is closed), `queue_full` (the publish would exceed `maxQueuedBytes`),
 * `already_subscribed` (a second `subscribe` of a topic asked for `since`), `token_failed`
 * (`getToken` threw), `token_expired` (closed with 4001 and no `getToken` to renew the token),
 * `bad_protocol` (the server did not choose `shoal.v1`), `bad_answer` (a server message that is
 * not JSON), `invalid_argument`.
 */
export class ShoalError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{topic?: string, cause?: unknown}} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ShoalError";
    /** @type {string} */
    this.code = code;
    if (details.topic !== undefined) /** @type {string|undefined} */ this.topic = details.topic;
  }
}

/**
 * The reconnect delay before attempt `attempt` (0 for the first retry): with jitter ("full
 * jitter"), a uniformly random value in [0, min(maxDelay, minDelay * 2^attempt)); without, that
 * bound itself. Full jitter spreads a crowd of clients that lost their server at the same
 * instant over the whole window instead of bringing them back together.
 * @param {number} attempt
 * @param {{minDelay: number, maxDelay: number, jitter?: boolean}} cfg
 * @param {() => number} [random] a source of numbers in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, cfg, random = Math.random) {
  const cap = Math.min(cfg.maxDelay, cfg.minDelay * 2 ** Math.min(attempt, 52));
  return cfg.jitter === false ? cap : random() * cap;
}

// UTF-8 length of a string without encoding it.
function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2;  // the pair is 4 bytes for 2 UTF-16 units
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

function isSeq(n) {
  return Number.isSafeInteger(n) && n >= 0;
}

function fromAnswer(answer, fallbackTopic) {
  const topic = typeof answer.topic === "string" ? answer.topic : fallbackTopic;
  return new ShoalError(String(answer.code ?? "internal"), String(answer.message ?? "error from server"),
                        topic === undefined ? {} : { topic });
}

function later(fn) {
  // A listener or handler that throws must not break the client: report it as an uncaught
  // error, as EventTarget does, and go on with the others.
  return (...args) => {
    try {
      fn(...args);
    } catch (err) {
      queueMicrotask(() => { throw err; });
    }
  };
}

/**
 * A subscription to one topic, handed out by {@link ShoalClient#subscribe}. Several
 * subscriptions of one client to one topic share one server subscription.
 */
export class Subscription {
  /** @internal */
  constructor(client, entry, handler) {
    this._client = client;
    this._entry = entry;
    this._handler = handler;
    this._active = true;
    /** The topic. */
    this.topic = entry.topic;
  }

  /** The sequence number of the last message delivered (or skipped by a gap or reset) on the
   *  topic, from which a reconnection resumes; `null` before the subscription is established. */
  get seq() {
    return this._entry.seq;
  }

  /** False once unsubscribed or ended by the server. */
  get active() {
    return this._active;
  }

  /** Stops this subscription's deliveries at once; the last one of the topic also tells the
   *  server. Resolves when the server has answered (or the connection is gone); never rejects. */
  unsubscribe() {
    return this._client._unsubscribe(this);
  }
}

/**
 * A Shoal client: one WebSocket to `/ws`, kept open across failures.
 *
 * States: `connecting` (before the first open), `open` (authenticated and every subscription
 * re-established, each resume's outcome known: any `reset` comes first), `reconnecting` (a
 * connection was lost; waiting or trying again), `closed` (not connected: before `connect()`
 * with `autoConnect: false`, after `close()`, or after a fatal error such as refused tokens).
 *
 * Events (`on`, `off`, `once`): `state` (state, previous), `open` ({reconnected}), `close`
 * ({code, reason, wasClean}: each connection that ends, also one that never opened (1006);
 * 4000 = dropped by this client), `retry` ({attempt, delay, code, reason}), `error`
 * (ShoalError), `gap` ({topic, from, to, announced}), `reset` ({topic, since, oldest, seq}),
 * `authed` ({exp, sub}), `unsubscribed` ({topic, error}: the server ended a subscription, e.g.
 * a refreshed token no longer covers it).
 */
export class ShoalClient {
  /**
   * @param {string} url e.g. "wss://host/ws"
   * @param {object} [options] see shoal.d.ts (ShoalOptions) for every option and its default
   */
  constructor(url, options = {}) {
    this.url = url;
    const WS = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WS !== "function")
      throw new TypeError("no WebSocket: pass options.WebSocket (in Node, the ws package's WebSocket)");
    this._WS = WS;
    this._wsOptions = options.webSocketOptions;
    this._token = options.token;
    this._getToken = options.getToken;
    this._reconnect = { ...DEFAULTS.reconnect, ...(options.reconnect ?? {}) };
    this._heartbeat = options.heartbeat === false ? null
                                                  : { ...DEFAULTS.heartbeat, ...(options.heartbeat ?? {}) };
    this._requestTimeout = options.requestTimeout ?? DEFAULTS.requestTimeout;
    this._connectTimeout = options.connectTimeout ?? DEFAULTS.connectTimeout;
    this._maxQueuedBytes = options.maxQueuedBytes ?? DEFAULTS.maxQueuedBytes;
    this._maxAuthFailures = options.maxAuthFailures ?? DEFAULTS.maxAuthFailures;
    this._refreshBeforeExpiry = options.refreshBeforeExpiry ?? DEFAULTS.refreshBeforeExpiry;
    this._random = options.random ?? Math.random;

    this._listeners = new Map();   // event -> Set of listeners
    this._state = "closed";
    this._phase = null;            // null | token | socket | auth | resubscribe | open
    this._wanted = false;          // connect() called and not closed since
    this._everOpened = false;
    this._finished = false;        // close() or a fatal error: subscribe() is refused
    this._gen = 0;                 // bumps per connection attempt; stale callbacks check it
    this._ws = null;
    this._attempt = 0;             // reconnect attempts since the last stable connection
    this._authFailures = 0;
    this._authRefused = false;
    this._openedAt = 0;
    this._retryTimer = null;
    this._connectTimer = null;
    this._heartbeatTimer = null;
    this._refreshTimer = null;
    this._lastRx = 0;
    this._probeAt = 0;
    this._nextId = 1;
    this._pending = new Map();     // id -> {onAnswer, onFail, timer}
    this._topics = new Map();      // topic -> entry
    this._queue = [];              // publishes waiting for an open connection
    this._queuedBytes = 0;
    this._tokenExp = 0;
    this._readyWaiters = [];
    /** Counters: `messages` delivered, `duplicates` dropped, `gaps` and `resets` seen,
     *  `reconnects` (connections opened after the first). */
    this.stats = { messages: 0, duplicates: 0, gaps: 0, resets: 0, reconnects: 0 };

    if (options.autoConnect !== false) this.connect();
  }

  /** @returns {"connecting"|"open"|"reconnecting"|"closed"} */
  get state() {
    return this._state;
  }

  /** Bytes of publishes queued while not open, plus the socket's own `bufferedAmount`. */
  get bufferedAmount() {
    return this._queuedBytes + (this._ws?.bufferedAmount ?? 0);
  }

  // ---- events -------------------------------------------------------------------------------

  /** Adds a listener; returns this. */
  on(event, listener) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  /** Removes a listener added with `on` or `once`; returns this. */
  off(event, listener) {
    const set = this._listeners.get(event);
    if (set) {
      set.delete(listener);
      for (const l of set) if (l._shoalOnce === listener) set.delete(l);
    }
    return this;
  }

  /** Adds a listener called at most once; returns this. */
  once(event, listener) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      listener(...args);
    };
    wrapper._shoalOnce = listener;
    return this.on(event, wrapper);
  }

  _emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const l of [...set]) later(l)(...args);
  }

  _setState(state) {
    if (state === this._state) return;
    const previous = this._state;
    this._state = state;
    this._emit("state", state, previous);
  }

  // ---- connection life ----------------------------------------------------------------------

  /** Starts connecting (done by the constructor unless `autoConnect: false`). Also reopens a
   *  closed client: its subscriptions resume where they stopped. */
  connect() {
    if (this._wanted) return;
    this._wanted = true;
    this._finished = false;
    this._attempt = 0;
    this._authFailures = 0;
    this._setState(this._everOpened ? "reconnecting" : "connecting");
    this._startAttempt();
  }

  /** Resolves when the client is (or next becomes) open; rejects if it closes first. */
  ready() {
    if (this._state === "open") return Promise.resolve();
    if (!this._wanted) return Promise.reject(new ShoalError("closed", "the client is closed"));
    return new Promise((resolve, reject) => this._readyWaiters.push({ resolve, reject }));
  }

  /** While waiting to reconnect, tries at once (e.g. when a browser comes back online). */
  reconnect() {
    if (!this._wanted || this._retryTimer === null) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._startAttempt();
  }

  /**
   * Closes the connection and stops reconnecting. Requests in flight and queued publishes are
   * rejected with code "closed"; subscriptions are kept, and resume if `connect()` is called.
   * @returns {Promise<void>} resolved once the socket has closed (at most ~1 s)
   */
  close(code = 1000, reason = "") {
    const ws = this._ws;
    this._finish(new ShoalError("closed", "the client was closed"), false, false, { code, reason });
    if (!ws) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (typeof ws.terminate === "function") ws.terminate();
        resolve();
      }, 1000);
      ws.onclose = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        ws.close(code, reason);
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  // Stops for good (until connect()): by close(), or a fatal error (emitted). Closes the socket
  // unless the caller does.
  _finish(error, emitError, closeSocket = true, closed = { code: 1000, reason: "" }) {
    const ws = this._ws;
    this._wanted = false;
    this._finished = true;
    this._gen++;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (ws) {
      this._detach(ws);
      if (closeSocket) {
        try {
          ws.close(1000);
        } catch {
          // already closing
        }
      }
    }
    this._ws = null;
    this._endConnection();
    this._failPending(error);
    for (const p of this._queue) p.reject(error);
    this._queue = [];
    this._queuedBytes = 0;
    for (const entry of [...this._topics.values()]) {
      clearTimeout(entry.retryTimer);
      clearTimeout(entry.resumeTimer);
      entry.retryTimer = entry.resumeTimer = entry.onResumeKnown = null;
      entry.state = "idle";
      if (entry.seq === null && entry.waiters.length > 0) {
        // Never established: its subscribe() calls fail rather than wait for a connect().
        this._topics.delete(entry.topic);
        for (const w of entry.waiters) {
          w.sub._active = false;
          w.reject(error);
        }
      } else {
        for (const w of entry.waiters) {
          entry.subs.delete(w.sub);
          w.sub._active = false;
          w.reject(error);
        }
        entry.waiters = [];
        if (entry.subs.size === 0) this._topics.delete(entry.topic);
      }
    }
    for (const w of this._readyWaiters) w.reject(error);
    this._readyWaiters = [];
    if (emitError) this._emit("error", error);
    if (ws && !emitError) this._emit("close", { code: closed.code, reason: closed.reason, wasClean: true });
    this._setState("closed");
  }

  async _startAttempt() {
    const gen = ++this._gen;
    this._retryTimer = null;
    this._authRefused = false;
    let token = this._token;
    if (this._getToken) {
      this._phase = "token";
      let timer;
      try {
        // Bounded like the connection itself: a token service that hangs is retried later.
        token = await Promise.race([this._getToken(), new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no token within ${this._connectTimeout} ms`)), this._connectTimeout);
        })]);
      } catch (err) {
        if (gen !== this._gen) return;
        // Not counted as a refusal: the token service may be as unreachable as the gateway.
        this._emit("error", new ShoalError("token_failed", `getToken failed: ${err?.message ?? err}`, { cause: err }));
        this._lost({ code: 0, reason: "getToken failed", wasClean: false });
        return;
      } finally {
        clearTimeout(timer);
      }
      if (gen !== this._gen) return;
    }
    this._phase = "socket";
    let ws;
    try {
      ws = this._wsOptions === undefined ? new this._WS(this.url, SUBPROTOCOL)
                                         : new this._WS(this.url, SUBPROTOCOL, this._wsOptions);
    } catch (err) {
      // A malformed URL, or a browser refusing the port: no retry can help.
      this._finish(new ShoalError("invalid_argument", `cannot open ${this.url}: ${err?.message ?? err}`, { cause: err }), true);
      return;
    }
    this._ws = ws;
    ws.onerror = () => {};  // the close event follows with the code
    ws.onclose = (ev) => {
      if (gen === this._gen) this._lost({ code: ev.code, reason: ev.reason ?? "", wasClean: !!ev.wasClean });
    };
    ws.onmessage = (ev) => {
      if (gen === this._gen) this._onMessage(ev.data);
    };
    ws.onopen = () => {
      if (gen === this._gen) this._onOpen(gen, token);
    };
    this._connectTimer = setTimeout(() => {
      if (gen === this._gen) this._drop("connect timeout");
    }, this._connectTimeout);
  }

  _onOpen(gen, token) {
    clearTimeout(this._connectTimer);
    this._connectTimer = null;
    if (this._ws.protocol !== SUBPROTOCOL) {
      this._finish(new ShoalError("bad_protocol", `the server chose subprotocol "${this._ws.protocol}", not ${SUBPROTOCOL}`), true);
      return;
    }
    this._lastRx = performance.now();
    this._probeAt = 0;
    this._armHeartbeat(gen);
    if (token === undefined || token === null || token === "") {
      this._resubscribe(gen);
      return;
    }
    this._phase = "auth";
    this._request({ op: "auth", token: String(token) }, this._requestTimeout,
      (answer) => {
        if (answer.op === "authed") {
          this._authFailures = 0;
          this._onAuthed(gen, answer);
          this._resubscribe(gen);
          return;
        }
        const err = fromAnswer(answer);
        this._emit("error", err);
        this._authRefused = err.code === "unauthorized";
        this._drop(`token refused: ${err.message}`);
      },
      () => this._drop("no answer to auth within the request timeout"));
  }

  _onAuthed(gen, answer) {
    this._tokenExp = isSeq(answer.exp) ? answer.exp : 0;
    this._emit("authed", { exp: answer.exp, sub: answer.sub });
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    if (!this._getToken || !this._tokenExp || this._refreshBeforeExpiry <= 0) return;
    const left = this._tokenExp * 1000 - Date.now();
    const margin = Math.min(this._refreshBeforeExpiry, left / 5);
    this._scheduleRefresh(gen, Date.now() + Math.max(0, left - margin));
  }

  // setTimeout fires at once past 2^31-1 ms (24.8 days): long lifetimes wait in steps.
  _scheduleRefresh(gen, at) {
    const wait = at - Date.now();
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = null;
      if (gen !== this._gen) return;
      if (Date.now() < at) this._scheduleRefresh(gen, at);
      else this._refresh(gen);
    }, Math.max(0, Math.min(wait, 2 ** 31 - 1)));
  }

  // In-band refresh before `exp`; a failure is reported and left to the server's 4001 close,
  // after which the reconnection asks getToken again.
  async _refresh(gen) {
    let token;
    try {
      token = await this._getToken();
    } catch (err) {
      if (gen === this._gen)
        this._emit("error", new ShoalError("token_failed", `getToken failed: ${err?.message ?? err}`, { cause: err }));
      return;
    }
    if (gen !== this._gen || this._phase !== "open" || !token) return;
    this._request({ op: "auth", token: String(token) }, this._requestTimeout,
      (answer) => {
        if (answer.op === "authed") this._onAuthed(gen, answer);
        else this._emit("error", fromAnswer(answer));
      },
      (err) => this._emit("error", err));
  }

  // Subscribes every topic again (resuming from its position), then flushes queued publishes
  // and becomes open. Waiting for the answers makes `open` mean "subscriptions are live".
  // The state becomes open synchronously with the last answer, so code that awaited a
  // subscribe() already sees it open.
  _resubscribe(gen) {
    this._phase = "resubscribe";
    const entries = [...this._topics.values()];
    let waiting = entries.length;
    const settled = () => {
      if (--waiting === 0 && gen === this._gen && this._phase === "resubscribe") this._becomeOpen();
    };
    for (const entry of entries) this._sendSub(entry, true, settled);
    if (entries.length === 0) this._becomeOpen();
  }

  _becomeOpen() {
    this._phase = "open";
    this._openedAt = performance.now();
    const reconnected = this._everOpened;
    if (reconnected) this.stats.reconnects++;
    this._everOpened = true;
    const queue = this._queue;
    this._queue = [];
    this._queuedBytes = 0;
    for (const p of queue) this._sendPublish(p);
    this._setState("open");
    this._emit("open", { reconnected });
    const waiters = this._readyWaiters;
    this._readyWaiters = [];
    for (const w of waiters) w.resolve();
  }

  // Drops the current socket without waiting for a closing handshake (a dead peer never
  // answers one) and goes on as for a lost connection.
  _drop(reason) {
    const ws = this._ws;
    if (!ws) return;
    this._detach(ws);
    try {
      if (typeof ws.terminate === "function") ws.terminate();
      else ws.close(CLOSE_BY_CLIENT, reason.slice(0, 120));
    } catch {
      // already closing
    }
    this._lost({ code: CLOSE_BY_CLIENT, reason, wasClean: false });
  }

  _detach(ws) {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = () => {};
  }

  _endConnection() {
    clearTimeout(this._connectTimer);
    clearTimeout(this._heartbeatTimer);
    clearTimeout(this._refreshTimer);
    this._connectTimer = this._heartbeatTimer = this._refreshTimer = null;
    this._phase = null;
  }

  _failPending(error) {
    const pending = this._pending;
    this._pending = new Map();
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.onFail(error);
    }
  }

  // A connection ended (closed by the server, failed, or dropped by us): fail what waited on
  // it, and schedule the next attempt.
  _lost(info) {
    if (this._ws) this._detach(this._ws);
    this._ws = null;
    const wasOpenFor = this._openedAt ? performance.now() - this._openedAt : 0;
    this._openedAt = 0;
    this._endConnection();
    this._gen++;  // answers and timers of this connection are stale from here
    this._failPending(new ShoalError("connection_lost", `the connection was lost (${info.code} ${info.reason})`.trim()));
    for (const entry of this._topics.values()) {
      clearTimeout(entry.retryTimer);
      clearTimeout(entry.resumeTimer);
      entry.retryTimer = entry.resumeTimer = entry.onResumeKnown = null;
      entry.state = "idle";
    }
    if (info.code !== 0) this._emit("close", info);
    if (!this._wanted) return;

    if (info.code === CLOSE_TOKEN_EXPIRED && !this._getToken) {
      this._finish(new ShoalError("token_expired", "the token expired (close 4001) and there is no getToken to renew it"), true);
      return;
    }
    if (this._authRefused && ++this._authFailures >= this._maxAuthFailures) {
      this._finish(new ShoalError("unauthorized", `gave up after ${this._authFailures} refused tokens`), true);
      return;
    }
    if (wasOpenFor >= this._reconnect.stableAfter) this._attempt = 0;
    const delay = backoffDelay(this._attempt, this._reconnect, this._random);
    const attempt = this._attempt++;
    this._setState(this._everOpened ? "reconnecting" : "connecting");
    this._emit("retry", { attempt, delay, code: info.code, reason: info.reason });
    this._retryTimer = setTimeout(() => this._startAttempt(), delay);
  }

  // ---- heartbeat ----------------------------------------------------------------------------

  // Browsers answer the server's pings without telling the page, so liveness is judged by
  // silence: when nothing has arrived for `interval`, a probe `{"op":"ping","id":N}` goes out
  // (shoal.v1 has no ping op; the server answers every request, this one with error
  // "bad_message", and any answer will do); when nothing at all arrives within `timeout` of it,
  // the connection is dead and is dropped.
  _armHeartbeat(gen) {
    if (!this._heartbeat) return;
    const { interval, timeout } = this._heartbeat;
    const check = () => {
      if (gen !== this._gen) return;
      const now = performance.now();
      if (this._probeAt && this._lastRx < this._probeAt) {
        if (now - this._probeAt >= timeout) {
          this._drop("heartbeat timeout: nothing received");
          return;
        }
        this._heartbeatTimer = setTimeout(check, this._probeAt + timeout - now);
        return;
      }
      this._probeAt = 0;
      const idle = now - this._lastRx;
      if (idle >= interval) {
        this._probeAt = now;
        this._request({ op: "ping" }, 0, () => {}, () => {});
        this._heartbeatTimer = setTimeout(check, timeout);
        return;
      }
      this._heartbeatTimer = setTimeout(check, interval - idle);
    };
    this._heartbeatTimer = setTimeout(check, interval);
  }

  // ---- requests -----------------------------------------------------------------------------

  // Sends `msg` with a fresh id; onAnswer(answer) gets the server's answer with that id,
  // onFail(error) a timeout (timeoutMs > 0) or the connection's loss.
  _request(msg, timeoutMs, onAnswer, onFail) {
    const id = this._nextId++;
    if (this._nextId > Number.MAX_SAFE_INTEGER) this._nextId = 1;
    msg.id = id;
    this._sendText(JSON.stringify(msg), id, timeoutMs, onAnswer, onFail);
    return id;
  }

  _sendText(text, id, timeoutMs, onAnswer, onFail) {
    const p = { onAnswer, onFail, timer: null };
    if (timeoutMs > 0) {
      p.timer = setTimeout(() => {
        if (this._pending.get(id) !== p) return;
        this._pending.delete(id);
        onFail(new ShoalError("timeout", `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    }
    this._pending.set(id, p);
    this._ws.send(text);
  }

  // ---- subscriptions ------------------------------------------------------------------------

  /**
   * Subscribes `handler` to `topic`. Resolves with a Subscription once the server has
   * confirmed it (`subscribed`); made while not connected, it waits for the connection.
   * `since`: deliver every message with a sequence number above it that history still holds
   * (else a `reset` event). Messages arrive in order, each once, across reconnections.
   * @param {string} topic
   * @param {(msg: {topic: string, seq: number, data: unknown}) => void} handler
   * @param {{since?: number, timeout?: number}} [options]
   * @returns {Promise<Subscription>}
   */
  subscribe(topic, handler, options = {}) {
    if (typeof topic !== "string" || topic.length === 0)
      return Promise.reject(new ShoalError("invalid_argument", "topic must be a non-empty string"));
    if (typeof handler !== "function")
      return Promise.reject(new ShoalError("invalid_argument", "handler must be a function", { topic }));
    const since = options.since;
    if (since !== undefined && !isSeq(since))
      return Promise.reject(new ShoalError("invalid_argument", "since must be a non-negative integer", { topic }));
    if (this._finished) return Promise.reject(new ShoalError("closed", "the client is closed", { topic }));
    let entry = this._topics.get(topic);
    if (entry && since !== undefined)
      return Promise.reject(new ShoalError("already_subscribed",
                                           "this client is already subscribed to the topic; since applies to the first subscription only",
                                           { topic }));
    const fresh = !entry;
    if (fresh) {
      entry = { topic, subs: new Set(), waiters: [], state: "idle", seq: since ?? null, serverSeq: 0,
                retryTimer: null, retries: 0, timeout: options.timeout ?? this._requestTimeout,
                onResumeKnown: null, resumeTimer: null };
      this._topics.set(topic, entry);
    }
    const sub = new Subscription(this, entry, handler);
    entry.subs.add(sub);
    if (entry.state === "active") return Promise.resolve(sub);
    const promise = new Promise((resolve, reject) => entry.waiters.push({ sub, resolve, reject }));
    if (fresh && (this._phase === "resubscribe" || this._phase === "open")) this._sendSub(entry, false, () => {});
    return promise;
  }

  // Sends `sub` for `entry`; `settled()` is called once its answer (or failure) has been
  // handled on this connection.
  _sendSub(entry, resubscribing, settled) {
    const gen = this._gen;
    entry.state = "pending";
    clearTimeout(entry.retryTimer);
    entry.retryTimer = null;
    entry.onResumeKnown = null;
    const msg = { op: "sub", topic: entry.topic };
    if (entry.seq !== null) msg.since = entry.seq;
    this._request(msg, entry.timeout,
      (answer) => {
        if (this._topics.get(entry.topic) !== entry) {  // unsubscribed meanwhile
          settled();
          return;
        }
        if (answer.op !== "subscribed") {
          this._subscribeRefused(entry, fromAnswer(answer, entry.topic), resubscribing, gen);
          settled();
          return;
        }
        this._subscribed(entry, answer);
        // A resume from another position than the topic's last seq is followed at once by
        // too_old or by the replay (the server queues them with the answer): settled by that
        // frame, so that `open` comes after any `reset`.
        if (msg.since !== undefined && msg.since !== entry.serverSeq) {
          entry.onResumeKnown = settled;
          // Should that frame never come, the connection still opens.
          entry.resumeTimer = setTimeout(() => this._resumeKnown(entry), entry.timeout);
        } else {
          settled();
        }
      },
      (err) => {
        if (err.code !== "timeout" || gen !== this._gen) return;  // lost: resent on reconnect
        if (this._phase !== "open" || resubscribing) {
          this._drop(`no answer to a subscription within ${entry.timeout} ms`);
          return;
        }
        if (this._topics.get(entry.topic) !== entry) return;
        this._endEntry(entry, err);
        // The answer may still come: ask the server to forget the subscription either way.
        this._request({ op: "unsub", topic: entry.topic }, 0, () => {}, () => {});
      });
  }

  _subscribed(entry, answer) {
    entry.state = "active";
    entry.retries = 0;
    entry.serverSeq = isSeq(answer.seq) ? answer.seq : 0;
    // Without a position, start at the topic's last message; with one, the server replays
    // what follows it (or answers too_old next, which moves it to serverSeq).
    if (entry.seq === null) entry.seq = entry.serverSeq;
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const w of waiters) w.resolve(w.sub);
  }

  _subscribeRefused(entry, err, resubscribing, gen) {
    if (resubscribing && entry.seq !== null && TRANSIENT.has(err.code)) {
      // An established subscription the server cannot take back just now: ask again later.
      entry.state = "idle";
      const delay = backoffDelay(entry.retries++, this._reconnect, this._random);
      this._emit("error", err);
      entry.retryTimer = setTimeout(() => {
        entry.retryTimer = null;
        if (gen === this._gen && this._topics.get(entry.topic) === entry) this._sendSub(entry, true, () => {});
      }, delay);
      return;
    }
    this._endEntry(entry, err);
  }

  // The first frame after a resume's answer (too_old, a replayed message or a gap) settles it.
  _resumeKnown(entry) {
    const settled = entry.onResumeKnown;
    if (!settled) return;
    entry.onResumeKnown = null;
    clearTimeout(entry.resumeTimer);
    settled();
  }

  // Ends a subscription the server refused or ended: waiting subscribe() calls are rejected;
  // established Subscriptions become inactive and an `unsubscribed` event says why.
  _endEntry(entry, err) {
    this._topics.delete(entry.topic);
    clearTimeout(entry.retryTimer);
    this._resumeKnown(entry);
    const waiting = new Set(entry.waiters.map((w) => w.sub));
    for (const w of entry.waiters) {
      w.sub._active = false;
      w.reject(err);
    }
    entry.waiters = [];
    let established = false;
    for (const sub of entry.subs) {
      sub._active = false;
      if (!waiting.has(sub)) established = true;
    }
    entry.subs.clear();
    if (established) {
      this._emit("unsubscribed", { topic: entry.topic, error: err });
      if (err) this._emit("error", err);
    }
  }

  _unsubscribe(sub) {
    const entry = sub._entry;
    if (!sub._active || !entry.subs.delete(sub)) return Promise.resolve();
    sub._active = false;
    if (entry.subs.size > 0 || this._topics.get(entry.topic) !== entry) return Promise.resolve();
    this._topics.delete(entry.topic);
    clearTimeout(entry.retryTimer);
    this._resumeKnown(entry);
    const sent = entry.state !== "idle";
    entry.state = "idle";
    if (!sent || !this._ws || (this._phase !== "resubscribe" && this._phase !== "open")) return Promise.resolve();
    return new Promise((resolve) => {
      this._request({ op: "unsub", topic: entry.topic }, this._requestTimeout, () => resolve(), () => resolve());
    });
  }

  // ---- publishing ---------------------------------------------------------------------------

  /**
   * Publishes `data` (any JSON value) on `topic`. Resolves with the sequence number the server
   * gave it (its `ack`). Made while not open, it is queued (within `maxQueuedBytes`, else
   * rejected with "queue_full") and sent, in order, once the connection is open again. At most
   * once: if the connection drops after it was sent and before its ack, the promise rejects
   * with "connection_lost" and the publish is not sent again (it may or may not have been
   * accepted). `timeout` (default `requestTimeout`) counts from when it is sent.
   * @param {string} topic
   * @param {unknown} data
   * @param {{timeout?: number}} [options]
   * @returns {Promise<number>}
   */
  publish(topic, data, options = {}) {
    if (typeof topic !== "string" || topic.length === 0)
      return Promise.reject(new ShoalError("invalid_argument", "topic must be a non-empty string"));
    let body;
    try {
      body = JSON.stringify(data);
    } catch (err) {
      return Promise.reject(new ShoalError("invalid_argument", `data is not JSON: ${err.message}`, { topic, cause: err }));
    }
    if (body === undefined)
      return Promise.reject(new ShoalError("invalid_argument", "data must be a JSON value", { topic }));
    if (!this._wanted) return Promise.reject(new ShoalError("closed", "the client is closed", { topic }));
    const text = `{"op":"pub","topic":${JSON.stringify(topic)},"data":${body},"id":`;
    return new Promise((resolve, reject) => {
      const p = { topic, text, resolve, reject, timeout: options.timeout ?? this._requestTimeout, bytes: 0 };
      if (this._phase === "open") {
        this._sendPublish(p);
        return;
      }
      p.bytes = utf8Length(text) + 17;  // + the id and the closing brace
      if (this._queuedBytes + p.bytes > this._maxQueuedBytes) {
        reject(new ShoalError("queue_full",
                              `not connected, and queuing this publish (${p.bytes} B) would exceed maxQueuedBytes ` +
                              `(${this._queuedBytes} of ${this._maxQueuedBytes} B queued)`, { topic }));
        return;
      }
      this._queuedBytes += p.bytes;
      this._queue.push(p);
    });
  }

  _sendPublish(p) {
    const id = this._nextId++;
    this._sendText(`${p.text}${id}}`, id, p.timeout,
      (answer) => {
        if (answer.op === "ack" && isSeq(answer.seq)) p.resolve(answer.seq);
        else p.reject(fromAnswer(answer, p.topic));
      },
      (err) => p.reject(err.code === "timeout" ? new ShoalError("timeout", err.message, { topic: p.topic }) : err));
  }

  // ---- inbound ------------------------------------------------------------------------------

  _onMessage(data) {
    this._lastRx = performance.now();
    if (typeof data !== "string") return;  // shoal.v1 is text only
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      this._emit("error", new ShoalError("bad_answer", "a server message is not JSON"));
      return;
    }
    if (m === null || typeof m !== "object") return;
    switch (m.op) {
      case "msg":
        this._onDelivery(m);
        return;
      case "gap": {
        const entry = this._topics.get(m.topic);
        if (entry && entry.state === "active" && isSeq(m.from) && isSeq(m.to)) {
          this._skip(entry, m.from, m.to, true);
          this._resumeKnown(entry);
        }
        return;
      }
      case "too_old": {
        const entry = this._topics.get(m.topic);
        if (!entry || entry.state !== "active") return;
        this.stats.resets++;
        entry.seq = entry.serverSeq;
        this._emit("reset", { topic: m.topic, since: m.since, oldest: m.oldest, seq: entry.serverSeq });
        this._resumeKnown(entry);
        return;
      }
    }
    if (m.id !== undefined) {
      const p = this._pending.get(m.id);
      if (!p) return;  // timed out earlier: already settled
      this._pending.delete(m.id);
      clearTimeout(p.timer);
      p.onAnswer(m);
      return;
    }
    if (m.op === "unsubscribed") {  // without an id: the server ended it (a refreshed token)
      const entry = this._topics.get(m.topic);
      if (entry) this._endEntry(entry, new ShoalError("unauthorized", "the server ended this subscription", { topic: m.topic }));
      return;
    }
    if (m.op === "error") this._emit("error", fromAnswer(m));
  }

  _onDelivery(m) {
    const entry = this._topics.get(m.topic);
    // Before `subscribed` (a previous subscription's tail) or after unsubscribe: not ours.
    if (!entry || entry.state !== "active" || !isSeq(m.seq)) return;
    this._resumeKnown(entry);
    if (m.seq <= entry.seq) {
      this.stats.duplicates++;
      return;
    }
    if (m.seq > entry.seq + 1) this._skip(entry, entry.seq + 1, m.seq - 1, false);
    entry.seq = m.seq;
    this.stats.messages++;
    const msg = { topic: m.topic, seq: m.seq, data: m.data };
    for (const sub of entry.subs) {
      if (!sub._active) continue;
      try {
        sub._handler(msg);
      } catch (err) {
        queueMicrotask(() => { throw err; });
      }
    }
  }

  // Messages from..to will not be delivered: move past them and say so. `announced`: by the
  // server's gap notice; false for a jump in sequence numbers no notice explained (which the
  // server's guarantees exclude, so it is reported rather than hidden).
  _skip(entry, from, to, announced) {
    const first = Math.max(from, entry.seq + 1);
    if (first > to) return;
    entry.seq = to;
    this.stats.gaps++;
    this._emit("gap", { topic: entry.topic, from: first, to, announced });
  }
}
