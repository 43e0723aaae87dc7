// tasks.js: tasks by folder, a task's detail and its generated run form.
import { html, useState, useEffect, useAsync, throttle, navigate, Status, Time, ErrorBox, Loading, Dag, Json, duration, enc } from './ui.js';
import * as api from './api.js';
import { JobTable } from './dashboard.js';

async function allTasks() {
  const wss = await api.get('/api/workspaces');
  const lists = await Promise.all(wss.map(w => api.get(`/api/workspaces/${enc(w.name)}/tasks`).then(ts => ts.map(t => ({ ...t, workspace: t.workspace || w.name })))));
  return lists.flat();
}

export function TasksPage() {
  const d = useAsync(allTasks, []);
  const [q, setQ] = useState(new URLSearchParams(location.search).get('q') || '');
  const set = v => { setQ(v); history.replaceState(null, '', v ? '?q=' + enc(v) : location.pathname); };
  const ql = q.toLowerCase();
  const shown = (d.data || []).filter(t => !ql || [t.name, t.folder, t.description, t.display_name, t.workspace].some(x => x && x.toLowerCase().includes(ql)));
  const groups = {};
  for (const t of shown) (groups[`${t.workspace}/${t.folder || ''}`] ||= []).push(t);
  const keys = Object.keys(groups).sort();
  return html`<div class="page-head"><div><h1>Tasks</h1><div class="sub">${d.data ? `${d.data.length} tasks` : ''}</div></div></div>
    <div class="filters"><label>Search tasks<input type="search" class="wide" value=${q} onInput=${e => set(e.target.value)} placeholder="name, folder or description"/></label></div>
    <${ErrorBox} error=${d.error} what="Could not load tasks"/>
    ${d.loading && html`<${Loading} what="tasks"/>`}
    ${d.data && !shown.length && html`<p class="empty">No task matches “${q}”.</p>`}
    ${keys.map(k => {
      const [ws, folder] = [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)];
      return html`<section class="card task-group" aria-label=${`${ws} ${folder || '(no folder)'}`}>
        <h2>${folder || 'No folder'} <span class="muted">· ${ws}</span></h2>
        ${groups[k].sort((a, b) => a.name.localeCompare(b.name)).map(t => html`<div class="task-row">
          <a href=${`/tasks/${enc(t.workspace)}/${enc(t.name)}`}><strong>${t.display_name || t.name}</strong></a>
          ${t.display_name && html`<span class="mono muted">${t.name}</span>`}
          ${t.has_triggers && html`<span class="muted" title="Has enabled triggers">⏱ triggers</span>`}
          <span class="desc">${t.description || ''}</span>
          <a class="button small" href=${`/tasks/${enc(t.workspace)}/${enc(t.name)}/run`} aria-label=${'Run ' + t.name}>Run</a>
        </div>`)}</section>`;
    })}`;
}

async function loadTask(ws, name) {
  const [task, jobs] = await Promise.all([
    api.get(`/api/workspaces/${enc(ws)}/tasks/${enc(name)}`),
    api.get(`/api/jobs?workspace=${enc(ws)}&task_name=${enc(name)}&limit=15`),
  ]);
  return { task, jobs };
}

export function TaskPage({ params: [ws, name] }) {
  const d = useAsync(() => loadTask(ws, name), [ws, name]);
  useEffect(() => {
    const reload = throttle(() => d.reload(), 1000);
    return api.subscribe(ev => { if ((ev.type === 'job' && ev.data.task_name === name) || ev.type === 'tick' || ev.type === 'resync' || ev.type === 'workspace') reload(); });
  }, [ws, name]);
  const t = d.data && d.data.task;
  const inputs = t ? Object.entries(t.input || {}) : [];
  return html`<div class="page-head"><div><div class="crumbs"><a href="/tasks">Tasks</a> / ${ws}</div>
      <h1>${t ? t.display_name || t.name : name}</h1>${t && t.description && html`<div class="sub">${t.description}</div>`}</div>
    <a class="button primary" href=${`/tasks/${enc(ws)}/${enc(name)}/run`}>Run ${name}…</a></div>
    <${ErrorBox} error=${d.error} what="Could not load the task"/>
    ${!t ? d.loading && html`<${Loading} what="task"/>` : html`
    <div class="grid">
      <section class="card" aria-labelledby="h-inputs"><h2 id="h-inputs">Inputs</h2>
        ${inputs.length === 0 ? html`<p class="empty">This task takes no input.</p>` : html`<table><thead><tr><th>Name</th><th>Type</th><th>Default</th></tr></thead><tbody>
        ${inputs.map(([k, f]) => html`<tr><td class="mono">${k}${f.required && html`<span class="req" title="required"> *</span>`}<div class="muted">${f.description || ''}</div></td>
          <td>${f.secret ? 'secret' : f.type}</td><td class="mono">${f.default === undefined ? '—' : JSON.stringify(f.default)}</td></tr>`)}</tbody></table>`}
        <dl class="kv"><dt>Mode</dt><dd>${t.mode}</dd>${t.timeout_secs && html`<dt>Timeout</dt><dd>${t.timeout_secs} s</dd>`}</dl></section>
      <section class="card" aria-labelledby="h-triggers"><h2 id="h-triggers">Triggers</h2>
        ${(t.triggers || []).length === 0 ? html`<p class="empty">No trigger runs this task.</p>` : (t.triggers || []).map(tr => html`<div class="task-row">
          <strong class="mono">${tr.name}</strong><span>${tr.type}${tr.cron ? html` <code>${tr.cron}</code>` : ''}${tr.path ? html` <code>${tr.path}</code>` : ''}</span>
          ${!tr.enabled && html`<span class="badge st-cancelled">disabled</span>`}
          ${tr.next_runs && tr.next_runs.length > 0 && html`<span class="desc">next: ${tr.next_runs.slice(0, 3).map((r, i) => html`${i ? ', ' : ''}<${Time} t=${r}/>`)}</span>`}</div>`)}</section>
    </div>
    <section class="card" aria-labelledby="h-flow"><h2 id="h-flow">Steps</h2>
      <${Dag} label=${'Steps of ' + name} nodes=${Object.entries(t.flow || {}).map(([id, s]) => ({ id, deps: s.depends_on }))}/></section>
    <section class="card" aria-labelledby="h-runs"><h2 id="h-runs">Recent runs</h2><${JobTable} jobs=${d.data.jobs} showTask=${false} empty="This task has not run yet."/>
      <p><a href=${`/jobs?workspace=${enc(ws)}&task=${enc(name)}`}>All runs</a></p></section>`}`;
}

// ---- run form ----

/** parseInputErrors splits the server's "Input validation failed: …" into per-field messages. */
export function parseInputErrors(msg) {
  const out = { fields: {}, rest: [] };
  const body = msg.replace(/^Input validation failed:\s*/, '');
  if (body === msg) { out.rest.push(msg); return out; }
  for (const part of body.split(/;\s*/)) {
    const m = part.match(/field '([^']+)'/);
    if (m) (out.fields[m[1]] ||= []).push(part.replace(/^missing required field '[^']+'$/, 'This field is required.'));
    else if (part) out.rest.push(part);
  }
  return out;
}

export function initial(f, prev) {
  const v = prev !== undefined ? prev : f.default;
  if (f.type === 'boolean') return v === true;
  if (v === undefined || v === null) return '';
  if (f.type === 'array' || f.type === 'object') return JSON.stringify(v, null, 2);
  return String(v);
}

export function RunPage({ params: [ws, name] }) {
  const from = new URLSearchParams(location.search).get('from');
  const d = useAsync(async () => {
    const [task, prev] = await Promise.all([api.get(`/api/workspaces/${enc(ws)}/tasks/${enc(name)}`), from ? api.get(`/api/jobs/${enc(from)}`) : null]);
    return { task, prev };
  }, [ws, name, from]);
  const [vals, setVals] = useState(null);
  const [errs, setErrs] = useState({ fields: {}, rest: [] });
  const [busy, setBusy] = useState(false);
  const t = d.data && d.data.task;
  // required fields first, then by name
  const fields = t ? Object.entries(t.input || {}).sort(([a, fa], [b, fb]) => (fb.required - fa.required) || a.localeCompare(b)) : [];
  useEffect(() => {
    if (!t) return;
    const prev = (d.data.prev && d.data.prev.input) || {};
    setVals(Object.fromEntries(fields.map(([k, f]) => [k, initial(f, prev[k])])));
  }, [t]);
  const submit = async e => {
    e.preventDefault();
    const { input, local } = collect(fields, vals);
    if (Object.keys(local).length) { setErrs({ fields: local, rest: [] }); return; }
    setBusy(true);
    setErrs({ fields: {}, rest: [] });
    try {
      const r = await api.post(`/api/workspaces/${enc(ws)}/tasks/${enc(name)}/execute`, { input });
      navigate('/jobs/' + r.job_id);
    } catch (x) {
      setErrs(x.status === 400 ? parseInputErrors(x.message) : { fields: {}, rest: [api.describe(x)] });
      setBusy(false);
    }
  };
  return html`<div class="page-head"><div><div class="crumbs"><a href="/tasks">Tasks</a> / <a href=${`/tasks/${enc(ws)}/${enc(name)}`}>${name}</a></div>
    <h1>Run ${name}</h1>${from && html`<div class="sub">With the inputs of job <a href=${'/jobs/' + from}>${from.slice(0, 8)}</a></div>`}</div></div>
    <${ErrorBox} error=${d.error} what="Could not load the task"/>
    ${!t || !vals ? d.loading && html`<${Loading} what="form"/>` : html`
    <form class="card" onSubmit=${submit} novalidate aria-label=${'Run ' + name}>
      ${t.description && html`<p class="muted">${t.description}</p>`}
      ${errs.rest.length > 0 && html`<div class="alert" role="alert">${errs.rest.join('\n')}</div>`}
      ${fields.length === 0 && html`<p class="muted">This task takes no input.</p>`}
      ${fields.map(([k, f]) => html`<${Field} key=${k} id=${k} f=${f} value=${vals[k]} errors=${errs.fields[k]} onChange=${v => setVals(s => ({ ...s, [k]: v }))}/>`)}
      ${Object.keys(errs.fields).filter(k => !(t.input || {})[k]).map(k => html`<div class="alert" role="alert">${errs.fields[k].join('\n')}</div>`)}
      <div class="row"><button class="primary" type="submit" disabled=${busy}>${busy ? 'Starting…' : 'Run'}</button>
        <a class="button" href=${`/tasks/${enc(ws)}/${enc(name)}`}>Cancel</a></div>
    </form>`}`;
}

/** collect turns form values into typed input ({input, local}: local are
 * the fields' own errors, such as invalid JSON). */
export function collect(fields, vals) {
  const input = {};
  const local = {};
  for (const [k, f] of fields) {
    const v = vals[k];
    if (f.type === 'boolean') { input[k] = v; continue; }
    if (v === '') continue; // the server applies defaults and reports missing required fields
    if (f.type === 'number' || f.type === 'integer') {
      const n = Number(v);
      input[k] = isNaN(n) ? v : n;
    } else if (f.type === 'array' || f.type === 'object') {
      try { input[k] = JSON.parse(v); } catch (x) { local[k] = [`Not valid JSON: ${x.message}`]; }
    } else input[k] = v;
  }
  return { input, local };
}

export function Field({ id, f, value, errors, onChange, prefix = 'in-' }) {
  const fid = prefix + id;
  const errId = fid + '-err';
  const helpId = fid + '-help';
  const describedBy = errors ? helpId + ' ' + errId : helpId;
  const common = { id: fid, name: id, 'aria-invalid': errors ? 'true' : undefined, 'aria-describedby': describedBy, 'aria-required': f.required ? 'true' : undefined };
  let control;
  if (f.type === 'boolean') control = html`<input ...${common} type="checkbox" checked=${value} onChange=${e => onChange(e.target.checked)}/>`;
  else if (f.type === 'array' || f.type === 'object') control = html`<textarea ...${common} spellcheck="false" value=${value} onInput=${e => onChange(e.target.value)}></textarea>`;
  else if (f.type === 'number' || f.type === 'integer') control = html`<input ...${common} type="number" step=${f.type === 'integer' ? '1' : 'any'} value=${value} onInput=${e => onChange(e.target.value)}/>`;
  else control = html`<input ...${common} type=${f.secret ? 'password' : 'text'} autocomplete=${f.secret ? 'off' : undefined} value=${value} onInput=${e => onChange(e.target.value)}/>`;
  return html`<div class="field">
    <label for=${fid}>${id}${f.required && html`<span class="req" aria-hidden="true"> *</span><span class="sr-only"> (required)</span>`}</label>
    ${control}
    <span class="help" id=${helpId}>${f.name && f.name !== id ? f.name + ' · ' : ''}${f.secret ? 'secret · ' : ''}${f.type}${f.type === 'array' || f.type === 'object' ? ' (JSON)' : ''}${f.default !== undefined ? ` · default ${JSON.stringify(f.default)}` : ''}${f.description ? ' · ' + f.description : ''}</span>
    ${errors && html`<span class="err" id=${errId} role="alert">${errors.join(' ')}</span>`}
  </div>`;
}
