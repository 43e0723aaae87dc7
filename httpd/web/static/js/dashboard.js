// dashboard.js: what is running, what failed, what is broken, what runs next.
import { html, useEffect, useAsync, throttle, Status, Time, ErrorBox, Loading, duration, shortId, enc } from './ui.js';
import * as api from './api.js';

export function JobTable({ jobs, empty, showTask = true, compact = false }) {
  if (!jobs.length) return html`<p class="empty">${empty}</p>`;
  const extra = compact ? 'hidden' : 'hide-narrow';
  return html`<div class="table-wrap"><table>
    <thead><tr><th>Job</th>${showTask && html`<th>Task</th>`}<th>Status</th><th>Created</th><th class=${extra}>Duration</th><th class=${extra}>Source</th></tr></thead>
    <tbody>${jobs.map(j => html`<tr key=${j.job_id}>
      <td><a href=${'/jobs/' + j.job_id} class="mono" aria-label=${`Job ${shortId(j.job_id)} of ${j.task_name}`}>${shortId(j.job_id)}</a></td>
      ${showTask && html`<td><a href=${`/tasks/${enc(j.workspace)}/${enc(j.task_name)}`}>${j.task_name}</a> <span class="muted">${j.workspace}</span></td>`}
      <td><${Status} status=${j.status}/></td>
      <td><${Time} t=${j.created_at} rel/></td>
      <td class=${extra}>${j.started_at ? duration(j.started_at, j.completed_at) : '—'}</td>
      <td class=${extra}>${j.source_type}${j.parent_job_id ? html` · <a href=${'/jobs/' + j.parent_job_id}>parent</a>` : ''}</td>
    </tr>`)}</tbody></table></div>`;
}

async function loadDashboard() {
  const [running, queued, failed, workspaces, workers] = await Promise.all([
    api.get('/api/jobs?status=running&limit=20'),
    api.get('/api/jobs?status=pending&limit=20'),
    api.get('/api/jobs?status=failed&limit=8'),
    api.get('/api/workspaces'),
    api.get('/api/workers?limit=100').catch(e => ({ error: e })),
  ]);
  const per = await Promise.all(workspaces.map(w => Promise.all([
    api.get(`/api/workspaces/${enc(w.name)}/triggers`).catch(() => []),
    api.get(`/api/workspaces/${enc(w.name)}/tasks`).catch(() => []),
  ])));
  const next = [];
  const tasks = [];
  per.forEach(([trs, ts], i) => {
    for (const t of trs) if (t.enabled && t.next_runs && t.next_runs.length) next.push({ ws: workspaces[i].name, ...t, at: t.next_runs[0] });
    for (const t of ts) tasks.push(t);
  });
  next.sort((a, b) => new Date(a.at) - new Date(b.at));
  return { running, queued, failed, workspaces, workers, next: next.slice(0, 8), tasks };
}

export function Dashboard() {
  const d = useAsync(loadDashboard, []);
  useEffect(() => {
    const reload = throttle(() => d.reload(), 1000);
    return api.subscribe(ev => { if (['job', 'workspace', 'worker', 'tick', 'resync'].includes(ev.type)) reload(); });
  }, []);
  const v = d.data;
  return html`<div class="page-head"><div><h1>Dashboard</h1><div class="sub">Live: updates as jobs run.</div></div>
    <a class="button primary" href="/tasks">Run a task…</a></div>
    <${ErrorBox} error=${d.error} what="Could not load the dashboard"/>
    ${!v ? html`<${Loading} what="dashboard"/>` : html`
    ${v.workspaces.filter(w => w.error).map(w => html`<div class="alert" role="alert"><strong>Workspace ${w.name} failed to load</strong> (the previous revision stays in use). <a href="/workspaces">Details</a><div class="errlines">${w.error}</div></div>`)}
    <div class="grid">
      <section class="card" aria-labelledby="h-running"><h2 id="h-running">Running (${v.running.length})</h2><${JobTable} compact jobs=${v.running} empty="Nothing is running."/></section>
      <section class="card" aria-labelledby="h-queued"><h2 id="h-queued">Queued (${v.queued.length})</h2><${JobTable} compact jobs=${v.queued} empty="The queue is empty."/></section>
      <section class="card" aria-labelledby="h-failed"><h2 id="h-failed">Recent failures</h2><${JobTable} compact jobs=${v.failed} empty="No failed jobs."/>
        <p><a href="/jobs?status=failed">All failed jobs</a></p></section>
      <section class="card" aria-labelledby="h-tasks"><h2 id="h-tasks">Tasks</h2>
        ${v.tasks.length === 0 ? html`<p class="empty">No tasks loaded.</p>` : html`<div>${v.tasks.slice(0, 8).map(t => html`<div class="task-row">
          <a href=${`/tasks/${enc(t.workspace)}/${enc(t.name)}`}>${t.name}</a><span class="desc">${t.description || ''}</span>
          <a class="button small" href=${`/tasks/${enc(t.workspace)}/${enc(t.name)}/run`} aria-label=${'Run ' + t.name}>Run</a></div>`)}</div>
          ${v.tasks.length > 8 && html`<p><a href="/tasks">All ${v.tasks.length} tasks</a></p>`}`}</section>
      <section class="card" aria-labelledby="h-next"><h2 id="h-next">Next scheduled runs</h2>
        ${v.next.length === 0 ? html`<p class="empty">No scheduled triggers.</p>` : html`<table><thead><tr><th>When</th><th>Task</th><th>Trigger</th></tr></thead><tbody>
          ${v.next.map(t => html`<tr><td><${Time} t=${t.at} rel/></td><td><a href=${`/tasks/${enc(t.ws)}/${enc(t.task)}`}>${t.task}</a></td><td class="mono">${t.name}</td></tr>`)}</tbody></table>`}</section>
      <section class="card" aria-labelledby="h-workers"><h2 id="h-workers">Workers</h2>
        ${v.workers.error ? html`<${ErrorBox} error=${v.workers.error}/>` : html`<p>${summary(v.workers)}</p><p><a href="/workers">All workers</a></p>`}</section>
      <section class="card" aria-labelledby="h-ws"><h2 id="h-ws">Workspaces</h2>
        <table><thead><tr><th>Name</th><th>Revision</th><th>State</th></tr></thead><tbody>
        ${v.workspaces.map(w => html`<tr><td><a href="/workspaces">${w.name}</a></td><td class="mono">${(w.revision || '—').slice(0, 12)}</td>
          <td>${w.error ? html`<${Status} status="error"/>` : html`<${Status} status="ok"/>`}</td></tr>`)}</tbody></table></section>
    </div>`}`;
}

function summary(workers) {
  const by = {};
  for (const w of workers) by[w.status] = (by[w.status] || 0) + 1;
  const parts = Object.entries(by).map(([s, n]) => `${n} ${s}`);
  return `${workers.length} worker${workers.length === 1 ? '' : 's'}${parts.length ? ': ' + parts.join(', ') : ''}.`;
}
