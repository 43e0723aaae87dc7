// ui.js: shared components and helpers (status, times, errors, JSON, the DAG graph).
import { html, useState, useEffect, useRef, useMemo } from '../vendor/htm-preact-standalone.js';
import { layout as dagreLayout, graphlib } from '../vendor/dagre.esm.js';
import { describe } from './api.js';

export { html, useState, useEffect, useRef, useMemo };

// ---- routing ----
const routeSubs = new Set();
/** navigate(url) changes the page without a reload (History API). */
export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  window.scrollTo(0, 0);
  for (const fn of routeSubs) fn();
}
export function onRoute(fn) { routeSubs.add(fn); return () => routeSubs.delete(fn); }
window.addEventListener('popstate', () => { for (const fn of routeSubs) fn(); });
document.addEventListener('click', e => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

export const enc = encodeURIComponent;
export function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? '?' + s : '';
}

// ---- data loading ----
/** useAsync(fn, deps) → {data, error, loading, reload, setData}. */
export function useAsync(fn, deps) {
  const [st, setSt] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const run = () => {
    const n = ++seq.current;
    return fn().then(data => { if (n === seq.current) setSt({ data, error: null, loading: false }); },
      error => { if (n === seq.current) setSt(s => ({ data: s.data, error, loading: false })); });
  };
  useEffect(() => { setSt({ data: null, error: null, loading: true }); run(); }, deps);
  // setData (a live event) also drops the answers of loads already in
  // flight: they were asked before the event and would undo it.
  const setData = d => { seq.current++; setSt(s => ({ ...s, data: typeof d === 'function' ? d(s.data) : d, loading: false })); };
  return { ...st, reload: run, setData };
}

/** throttle(fn, ms): at most one call per ms, the last one always runs. */
export function throttle(fn, ms) {
  let t = null, pending = false;
  return () => {
    if (t) { pending = true; return; }
    fn();
    t = setTimeout(function again() { t = null; if (pending) { pending = false; fn(); t = setTimeout(again, ms); } }, ms);
  };
}

// ---- display ----
export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export function Status({ status, label }) {
  const s = status || 'unknown';
  return html`<span class=${'badge st-' + s} title=${label || ''}>${s}</span>`;
}

const fmtLocal = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
/** Time shows a time in the viewer's zone with UTC in the title. */
export function Time({ t, rel }) {
  if (!t) return html`<span class="muted">—</span>`;
  const d = new Date(t);
  if (isNaN(d)) return html`<span>${t}</span>`;
  return html`<time datetime=${d.toISOString()} title=${d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace('Z', ' UTC')}>${rel ? ago(d) : fmtLocal.format(d)}</time>`;
}
export function ago(d) {
  const s = (Date.now() - d.getTime()) / 1000;
  const abs = Math.abs(s);
  const f = abs < 60 ? [Math.round(abs), 's'] : abs < 3600 ? [Math.round(abs / 60), 'm'] : abs < 86400 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), 'd'];
  return s >= 0 ? `${f[0]}${f[1]} ago` : `in ${f[0]}${f[1]}`;
}
/** duration(a, b) words the time between two stamps (b defaults to now). */
export function duration(a, b) {
  if (!a) return '—';
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  if (ms < 0) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (h) return `${h} h ${m % 60} m`;
  return `${m} m ${Math.round(s % 60)} s`;
}
export function shortId(id) { return id ? id.slice(0, 8) : ''; }

export function ErrorBox({ error, what }) {
  if (!error) return null;
  return html`<div class="alert" role="alert">${what ? what + ': ' : ''}${describe(error)}</div>`;
}
export function Loading({ what }) { return html`<p class="muted" role="status">Loading ${what || ''}…</p>`; }
export function Json({ value, label }) {
  const text = JSON.stringify(value, null, 2);
  return html`<pre class="json" aria-label=${label || 'JSON'} tabindex="0">${text === undefined ? 'null' : text}</pre>`;
}

// ---- the DAG graph (dagre layout, SVG) ----
/**
 * Dag draws nodes [{id, label, status, note}] with edges from node.deps; node
 * colours follow status (and the status word is printed in the node).
 */
export function Dag({ nodes, label }) {
  const lay = useMemo(() => {
    const g = new graphlib.Graph();
    g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 46, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of nodes) g.setNode(n.id, { width: Math.max(120, Math.min(260, Math.max(n.id.length * 7.6, n.note ? (n.status.length + n.note.length + 3) * 6.2 : 0) + 28)), height: 44 });
    for (const n of nodes) for (const d of n.deps || []) if (g.hasNode(d)) g.setEdge(d, n.id);
    dagreLayout(g);
    const gr = g.graph();
    return { w: Math.ceil(gr.width || 0), h: Math.ceil(gr.height || 0), pos: Object.fromEntries(g.nodes().map(id => [id, g.node(id)])), edges: g.edges().map(e => g.edge(e).points) };
  }, [nodes.map(n => n.id + ':' + (n.deps || []).join(',') + (n.note ? ':' + n.note.length : '')).join('|')]);
  if (!nodes.length) return html`<p class="empty">No steps.</p>`;
  const byId = Object.fromEntries(nodes.map(n => [n.id, n]));
  return html`<div class="dag"><svg role="img" aria-label=${label || 'Step graph'} width=${lay.w} height=${lay.h} viewBox=${`0 0 ${lay.w} ${lay.h}`}>
    <defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path class="arrow" d="M0,0 L10,5 L0,10 z"/></marker></defs>
    ${lay.edges.map(pts => html`<path class="edge" marker-end="url(#arr)" d=${'M' + pts.map(p => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' L')}/>`)}
    ${Object.entries(lay.pos).map(([id, p]) => {
      const n = byId[id];
      const st = n.status || 'none';
      return html`<g class=${'node st-' + st} data-step=${id} data-status=${st} transform=${`translate(${(p.x - p.width / 2).toFixed(1)},${(p.y - p.height / 2).toFixed(1)})`}>
        <title>${id}${n.status ? ': ' + n.status : ''}</title>
        <rect width=${p.width} height=${p.height} rx="6"/>
        <text x="10" y=${n.status ? 18 : 27}>${id.length > 32 ? id.slice(0, 31) + '…' : id}</text>
        ${n.status && html`<text class="state" x="10" y="34">${n.status}${n.note ? ' · ' + n.note : ''}</text>`}
      </g>`;
    })}
  </svg></div>`;
}

/** Tabs: a labelled tab list; content decided by the caller. */
export function Tabs({ tabs, value, onChange, label }) {
  return html`<div class="tabs" role="tablist" aria-label=${label}>${tabs.map(([id, text]) =>
    html`<button role="tab" id=${'tab-' + id} aria-selected=${value === id ? 'true' : 'false'} onClick=${() => onChange(id)}>${text}</button>`)}</div>`;
}
