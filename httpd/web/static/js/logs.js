// logs.js: a job's log, live. It starts from the tail (tail_bytes), follows
// the WebSocket from the byte offset it has (resuming after a drop), loads
// earlier chunks on demand and never renders more than WINDOW lines.
import { html, useState, useEffect, useRef, enc, TERMINAL, ErrorBox } from './ui.js';
import { AnsiUp } from '../vendor/ansi_up.js';
import * as api from './api.js';

const TAIL = 256 << 10;    // bytes of the first read and of each "load earlier"
const WINDOW = 1000;       // lines in the DOM at most
const HOLD = 60000;        // lines held in memory while following

// ClassAnsi renders ANSI colours as classes only (a strict CSP forbids style
// attributes); 24-bit colours fall back to the nearest of the 16 basic ones.
class ClassAnsi extends AnsiUp {
  transform_to_html(fr) {
    const txt = this.escape_txt_for_html(fr.text);
    if (!txt) return txt;
    const cls = [];
    if (fr.bold) cls.push('ansi-bold');
    if (fr.faint) cls.push('ansi-faint');
    if (fr.italic) cls.push('ansi-italic');
    if (fr.underline) cls.push('ansi-underline');
    if (fr.fg) cls.push(this.nearest(fr.fg) + '-fg');
    if (fr.bg) cls.push(this.nearest(fr.bg) + '-bg');
    return cls.length ? `<span class="${cls.join(' ')}">${txt}</span>` : txt;
  }
  nearest(c) {
    if (c.class_name !== 'truecolor') return c.class_name;
    let best = null, bd = Infinity;
    for (const pal of this.ansi_colors) for (const p of pal) {
      const dd = (p.rgb[0] - c.rgb[0]) ** 2 + (p.rgb[1] - c.rgb[1]) ** 2 + (p.rgb[2] - c.rgb[2]) ** 2;
      if (dd < bd) { bd = dd; best = p.class_name; }
    }
    return best;
  }
}
const ansi = new ClassAnsi();
ansi.use_classes = true;

const utf8 = new TextEncoder();
const hhmmss = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

// clock formats a stamp's local time of day, once per distinct second.
let clockKey = '', clockVal = '';
function clock(ts) {
  const k = ts.slice(0, 19);
  if (k !== clockKey) {
    const d = new Date(ts);
    clockKey = k;
    clockVal = isNaN(d) ? '' : hhmmss.format(d);
  }
  return clockVal;
}

function parse(text, want) {
  const out = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    let l;
    try { l = JSON.parse(raw); } catch (_) { continue; }
    if (want && l.step !== want) continue;
    out.push(l);
  }
  return out;
}

// serverProblem tells a server event that reports a problem (failure,
// timeout, cancel, skip, waiting for a worker…) from a lifecycle one
// (created, started, finished): the server writes problems to stderr and
// lifecycle events to stdout. Logs written before that distinction have
// every server event on stderr, so lifecycle texts are recognised too.
const LIFECYCLE = /^(Job created|Step '.*' started|Job \w+ in |\[scheduler\] Catch-up)/;
export function serverProblem(l) { return l.step === '_server' && l.stream === 'stderr' && !LIFECYCLE.test(l.line); }

export function isError(l) {
  if (l.step === '_server') return serverProblem(l) && !/cancel|skipped/i.test(l.line);
  return l.stream === 'stderr';
}

/** LogView shows the job's log (all steps or one), live while the job runs. */
export function LogView({ job, compact }) {
  const id = job.job_id;
  const [step, setStep] = useState('');
  const [search, setSearch] = useState('');
  const [follow, setFollow] = useState(true);
  const [, setVersion] = useState(0);
  const [msg, setMsg] = useState(null);
  const [err, setErr] = useState(null);
  const st = useRef(null);
  const box = useRef(null);
  const redraw = useRef(null);

  // (re)start whenever the job or the step filter changes
  useEffect(() => {
    const s = { lines: [], first: 0, next: 0, done: false, live: false, mode: 'end', top: 0, hit: -1, closed: false, ws: null, retry: 500, loadingEarlier: false };
    st.current = s;
    const bump = () => {
      if (redraw.current) return;
      // a timer, not requestAnimationFrame: it batches a burst of frames and
      // still runs in a background tab
      redraw.current = setTimeout(() => { redraw.current = null; setVersion(v => v + 1); }, 40);
    };
    const base = step ? `/api/jobs/${enc(id)}/steps/${enc(step)}/logs` : `/api/jobs/${enc(id)}/logs`;
    const extra = step === '_server' ? '&all=true' : '';
    const connect = () => {
      if (s.closed || s.done) return;
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const tok = api.accessToken();
      const ws = new WebSocket(`${proto}//${location.host}/api/jobs/${enc(id)}/logs/stream?offset=${s.next}${tok ? '&token=' + enc(tok) : ''}`);
      s.ws = ws;
      ws.onopen = () => { s.live = true; s.retry = 500; setMsg(null); bump(); };
      ws.onmessage = ev => {
        const data = typeof ev.data === 'string' ? ev.data : '';
        s.next += utf8.encode(data).length;
        const add = parse(data, step);
        if (!add.length) return;
        for (const l of add) s.lines.push(l);
        if (s.mode === 'end' && s.lines.length > HOLD) { const drop = s.lines.length - HOLD; s.lines.splice(0, drop); s.first = -1; }
        bump();
      };
      ws.onclose = ev => {
        s.live = false;
        s.ws = null;
        if (s.closed) return;
        if (ev.code === 1000) { s.done = true; bump(); return; }
        setMsg('Log stream interrupted — reconnecting…');
        setTimeout(connect, s.retry);
        s.retry = Math.min(s.retry * 2, 8000);
      };
      ws.onerror = () => { /* onclose follows and reconnects */ };
    };
    (async () => {
      try {
        const r = await api.get(`${base}?tail_bytes=${TAIL}${extra}`);
        if (s.closed) return;
        s.lines = parse(r.logs, step);
        s.first = r.start_offset === undefined ? 0 : r.start_offset;
        s.next = r.next_offset;
        bump();
        connect();
      } catch (e) { setErr(e); }
    })();
    return () => { s.closed = true; if (s.ws) s.ws.close(); };
  }, [id, step]);

  // keep the newest line in view while following
  useEffect(() => {
    const s = st.current, el = box.current;
    if (!s || !el) return;
    if (s.hit >= 0) {
      const h = el.querySelector('.ln.hit');
      if (h) { h.scrollIntoView({ block: 'center' }); }
      return;
    }
    if (s.mode === 'end' && follow) el.scrollTop = el.scrollHeight;
  });

  const s = st.current;
  if (!s) return null;
  const q = search.toLowerCase();
  const all = q ? s.lines.filter(l => l.line.toLowerCase().includes(q) || (l.step || '').toLowerCase().includes(q)) : s.lines;
  const from = s.mode === 'end' ? Math.max(0, all.length - WINDOW) : Math.min(s.top, Math.max(0, all.length - 1));
  const shown = all.slice(from, from + WINDOW);
  const atStart = s.first === 0;
  const hitLine = s.hit >= 0 ? s.lines[s.hit] : null;

  const earlier = async () => {
    if (from > 0) { s.mode = 'top'; s.top = Math.max(0, from - WINDOW / 2); s.hit = -1; setVersion(v => v + 1); return; }
    if (atStart || s.first < 0 || s.loadingEarlier) return;
    s.loadingEarlier = true;
    try {
      const r = await api.get(`${step ? `/api/jobs/${enc(id)}/steps/${enc(step)}/logs` : `/api/jobs/${enc(id)}/logs`}?tail_bytes=${TAIL}&before=${s.first}${step === '_server' ? '&all=true' : ''}`);
      const add = parse(r.logs, step);
      s.lines = add.concat(s.lines);
      s.first = r.start_offset === undefined ? 0 : r.start_offset;
      s.mode = 'top'; s.top = 0; s.hit = -1;
    } catch (e) { setErr(e); } finally { s.loadingEarlier = false; setVersion(v => v + 1); }
  };
  const later = () => {
    s.top = from + WINDOW / 2; s.hit = -1;
    if (s.top + WINDOW >= all.length) s.mode = 'end';
    setVersion(v => v + 1);
  };
  const toEnd = () => { s.mode = 'end'; s.hit = -1; setFollow(true); setVersion(v => v + 1); };
  const firstError = () => {
    const i = s.lines.findIndex(isError);
    if (i < 0) { setMsg(atStart ? 'No error lines in this log.' : 'No error in the loaded part of the log: load earlier lines to look further.'); return; }
    setSearch('');
    setMsg(null);
    s.hit = i; s.mode = 'top'; s.top = Math.max(0, i - 20);
    setFollow(false);
    setVersion(v => v + 1);
  };
  const download = async () => {
    setMsg('Preparing the download…');
    try {
      const parts = [];
      let off = 0;
      for (;;) {
        const r = await api.get(`/api/jobs/${enc(id)}/logs?offset=${off}`);
        if (!r.logs) break;
        for (const l of parse(r.logs, step)) parts.push(`${l.ts} [${l.step}] ${l.stream === 'stderr' ? '! ' : ''}${l.line}\n`);
        if (r.next_offset === off) break;
        off = r.next_offset;
      }
      const url = URL.createObjectURL(new Blob(parts, { type: 'text/plain' }));
      const a = document.createElement('a');
      a.href = url; a.download = `${job.task_name}-${id.slice(0, 8)}${step ? '-' + step : ''}.log`;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setMsg(null);
    } catch (e) { setErr(e); setMsg(null); }
  };

  const stepNames = job.steps.map(x => x.step_name);
  const state = s.done ? 'complete' : s.live ? 'live' : TERMINAL.has(job.status) ? 'loading' : 'connecting';
  return html`<div class="logbox">
    ${!compact && html`<h2>Logs</h2>`}
    <div class="logbar">
      <label>Step <select value=${step} onChange=${e => setStep(e.target.value)}>
        <option value="">All steps</option>${stepNames.map(n => html`<option value=${n}>${n}</option>`)}<option value="_server">Server events</option></select></label>
      <label>Search log <input type="search" value=${search} onInput=${e => { s.hit = -1; setSearch(e.target.value); }}/></label>
      <label><input type="checkbox" checked=${follow} onChange=${e => { setFollow(e.target.checked); if (e.target.checked) toEnd(); }}/> Follow</label>
      <button class="small" onClick=${firstError}>Jump to first error</button>
      <button class="small" onClick=${download}>Download</button>
      <span class="muted" role="status" aria-live="polite" data-log-state=${state}>${state === 'live' ? '● live' : state === 'complete' ? 'complete' : state}${q ? ` · ${all.length} matching lines` : ` · ${s.lines.length.toLocaleString()} lines loaded`}</span>
    </div>
    ${msg && html`<p class="note" role="status">${msg}</p>`}
    <${ErrorBox} error=${err} what="Log"/>
    <div class=${'log' + (compact ? ' compact' : '')} ref=${box} tabindex="0" role="log" aria-label=${'Log of ' + job.task_name + (step ? ', step ' + step : '')}>
      ${(from > 0 || (!atStart && s.first >= 0)) && html`<div class="more"><button class="small" onClick=${earlier}>Load earlier lines</button></div>`}
      ${!q && atStart && from === 0 && s.lines.length > 0 && html`<div class="end">— start of log —</div>`}
      ${shown.map(l => html`<${Line} l=${l} hit=${l === hitLine}/>`)}
      ${s.lines.length === 0 && html`<div class="end">${s.done ? 'No log lines.' : 'Waiting for output…'}</div>`}
      ${from + WINDOW < all.length && html`<div class="more"><button class="small" onClick=${later}>Show later lines</button> <button class="small" onClick=${toEnd}>Jump to end</button></div>`}
    </div></div>`;
}

function Line({ l, hit }) {
  const server = l.step === '_server';
  const cls = 'ln ' + (server ? 'server' + (serverProblem(l) ? ' problem' : '') : l.stream) + (hit ? ' hit' : '');
  const t = l.ts ? clock(l.ts) : '';
  const tx = l.line.includes('\x1b')
    ? html`<span class="tx" dangerouslySetInnerHTML=${{ __html: l.h || (l.h = ansi.ansi_to_html(l.line)) }}></span>`
    : html`<span class="tx">${l.line}</span>`;
  return html`<div class=${cls}><span class="no" title=${l.ts}>${t}</span><span class="stp">${server ? 'server' : l.step}</span>${tx}</div>`;
}
