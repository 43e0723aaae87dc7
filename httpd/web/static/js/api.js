// api.js: the one door to runnel's REST API, sessions and live events.
// The access token lives in this module only (never in storage); a reload
// gets a new one from the HttpOnly refresh cookie.

const listeners = new Set();
let token = null;
const HINT = 'runnel.session';
let refreshTimer = null;

export const session = { config: null, me: null, signedIn: false, authRequired: false };

/** on(fn) subscribes to app-wide notices: {type:'auth'|'connection'|'event', ...}. */
export function on(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function emit(msg) { for (const fn of [...listeners]) fn(msg); }

/** ApiError carries the HTTP status and the server's message. */
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** describe words an error for people (403 says admin only). */
export function describe(err) {
  if (!err) return '';
  if (err.status === 403) return `Admin only: ${err.message}`;
  if (err.status === 0) return `Cannot reach the server: ${err.message}`;
  return err.message || String(err);
}

let offline = false;
function setOnline(ok) {
  if (ok === !offline) return;
  offline = !ok;
  emit({ type: 'connection', online: ok });
}
export function isOnline() { return !offline; }

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

async function rawFetch(path, opts = {}) {
  const init = { method: opts.method || 'GET', headers: headers(opts.headers), credentials: 'same-origin', signal: opts.signal };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    setOnline(false);
    pollOnline();
    throw new ApiError(0, 'network error');
  }
  setOnline(true);
  return res;
}

let pollTimer = null;
function pollOnline() {
  if (pollTimer) return;
  pollTimer = setInterval(async () => {
    try { await fetch('/healthz', { cache: 'no-store' }); clearInterval(pollTimer); pollTimer = null; setOnline(true); } catch (_) { /* still offline */ }
  }, 2000);
}

/**
 * request(path, opts) → {data, headers, status}. Throws ApiError on any
 * non-2xx answer with the server's {"error"} message. A 401 with auth on
 * tries one session refresh and then signs the page out.
 */
export async function request(path, opts = {}) {
  let res = await rawFetch(path, opts);
  if (res.status === 401 && session.authRequired && !opts.noRefresh) {
    if (await refresh()) res = await rawFetch(path, opts);
    else signedOut();
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = text; }
  }
  if (!res.ok) {
    const msg = (data && data.error) || `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg);
  }
  return { data, headers: res.headers, status: res.status };
}

/** get(path) → the decoded body. */
export async function get(path, opts) { return (await request(path, opts)).data; }
export async function post(path, body, opts = {}) { return (await request(path, { ...opts, method: 'POST', body: body === undefined ? {} : body })).data; }
export async function del(path) { return (await request(path, { method: 'DELETE' })).data; }

function useToken(t) {
  token = t.access_token;
  clearTimeout(refreshTimer);
  const secs = Math.max(30, (t.expires_in || 900) - 60);
  refreshTimer = setTimeout(() => { refresh().then(ok => ok || signedOut()); }, secs * 1000);
}

let refreshing = null;
/** refresh renews the access token from the refresh cookie; true on success. */
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await rawFetch('/api/auth/session/refresh', { method: 'POST', body: {} });
        if (!res.ok) return false;
        useToken(await res.json());
        return true;
      } catch (_) {
        return false;
      } finally {
        setTimeout(() => { refreshing = null; }, 0);
      }
    })();
  }
  return refreshing;
}

function signedOut() {
  token = null;
  localStorage.removeItem(HINT);
  if (streamAbort) streamAbort.abort();
  streamState = 'idle';
  clearTimeout(refreshTimer);
  session.signedIn = false;
  session.me = null;
  emit({ type: 'auth', signedIn: false });
}

/** boot reads /api/config and, with auth on, resumes the session. */
export async function boot() {
  session.config = await get('/api/config');
  session.authRequired = !!session.config.auth_required;
  if (!session.authRequired) { session.signedIn = true; return; }
  // A hint (not a token) that this browser holds a refresh cookie: without
  // it the sign-in page opens without a refresh call that would only 401.
  if (localStorage.getItem(HINT) && await refresh()) await loadMe();
}

async function loadMe() {
  session.me = await get('/api/auth/me', { noRefresh: true });
  session.signedIn = true;
}

/** signIn starts a browser session (contract §2). */
export async function signIn(email, password) {
  const res = await rawFetch('/api/auth/session', { method: 'POST', body: { email, password } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.error || res.statusText);
  useToken(body);
  localStorage.setItem(HINT, '1');
  await loadMe();
  emit({ type: 'auth', signedIn: true });
}

export async function signOut() {
  try { await rawFetch('/api/auth/session/logout', { method: 'POST', body: {} }); } finally { signedOut(); }
}

/** accessToken is for the WebSocket URL (?token=), the only place a header cannot go. */
export function accessToken() { return token; }

// ---- live events (contract §1): one shared stream, polling as fallback ----

const eventSubs = new Set();
let streamState = 'idle'; // idle | live | polling
let streamAbort = null;

/** subscribe(fn) receives {type, data} for job/step/workspace/worker events,
 * or {type:'tick'} every few seconds when the server has no event stream,
 * and {type:'resync'} after a reconnect (refetch what you show). */
export function subscribe(fn) {
  eventSubs.add(fn);
  if (streamState === 'idle') startStream();
  return () => eventSubs.delete(fn);
}
function deliver(ev) { for (const fn of [...eventSubs]) { try { fn(ev); } catch (e) { console.warn(e); } } }
export function liveMode() { return streamState; }

async function startStream() {
  streamState = 'live';
  let delay = 500;
  let first = true;
  for (;;) {
    streamAbort = new AbortController();
    try {
      const res = await fetch('/api/events', { headers: headers({ Accept: 'text/event-stream' }), signal: streamAbort.signal, credentials: 'same-origin' });
      if (res.status === 404 || res.status === 405) { startPolling(); return; }
      if (res.status === 401 && session.authRequired) { if (!(await refresh())) { signedOut(); } await sleep(delay); continue; }
      if (!res.ok || !res.body) throw new Error('events: ' + res.status);
      setOnline(true);
      delay = 500;
      if (!first) deliver({ type: 'resync' });
      first = false;
      await readSSE(res.body);
      first = false;
    } catch (e) {
      if (e.name === 'AbortError') return;
      setOnline(false);
    }
    first = false;
    await sleep(delay);
    delay = Math.min(delay * 2, 8000);
  }
}

async function readSSE(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!data.length) continue;
      if (type === 'overflow') { deliver({ type: 'resync' }); continue; }
      try { deliver({ type, data: JSON.parse(data.join('\n')) }); } catch (_) { /* not JSON: ignore */ }
    }
  }
}

function startPolling() {
  streamState = 'polling';
  setInterval(() => { if (eventSubs.size) deliver({ type: 'tick' }); }, 3000);
}

function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }
