// jobs.js: the jobs list and a job's page (steps, graph, live logs, what changed).
import { html, useState, useEffect, useRef, useAsync, throttle, navigate, qs, Status, Time, ErrorBox, Loading, Dag, Json, Tabs, duration, shortId, enc, TERMINAL } from './ui.js';
import * as api from './api.js';
import { JobTable } from './dashboard.js';
import { LogView } from './logs.js';
import { ApprovalForm, ApprovalRecord } from './approval.js';

const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'];
const SOURCES = ['api', 'user', 'trigger', 'webhook', 'hook', 'task'];
const PAGE = 50;

export function JobsPage() {
  const p = new URLSearchParams(location.search);
  const f = { workspace: p.get('workspace') || '', task: p.get('task') || '', status: p.get('status') || '', source: p.get('source') || '' };
  const page = Math.max(1, parseInt(p.get('page') || '1', 10) || 1);
  const key = JSON.stringify([f, page]);
  const wss = useAsync(() => api.get('/api/workspaces'), []);
  const d = useAsync(async () => {
    const r = await api.request('/api/jobs' + qs({ workspace: f.workspace, task_name: f.workspace ? f.task : '', status: f.status, source_type: f.source, limit: PAGE, offset: (page - 1) * PAGE }));
    const total = r.headers.get('X-Total-Count');
    return { jobs: r.data, total: total === null ? null : parseInt(total, 10) };
  }, [key]);
  useEffect(() => {
    const reload = throttle(() => d.reload(), 1000);
    return api.subscribe(ev => { if (ev.type === 'job' || ev.type === 'tick' || ev.type === 'resync') reload(); });
  }, [key]);
  const go = (patch) => {
    const n = { ...f, page: undefined, ...patch };
    if (!n.workspace) n.task = '';
    navigate('/jobs' + qs(n), true);
  };
  const total = d.data && d.data.total;
  const pages = total !== null && total !== undefined ? Math.max(1, Math.ceil(total / PAGE)) : null;
  const from = (page - 1) * PAGE;
  return html`<div class="page-head"><div><h1>Jobs</h1><div class="sub">Newest first · live</div></div></div>
    <form class="filters" role="search" aria-label="Filter jobs" onSubmit=${e => e.preventDefault()}>
      <label>Workspace<select value=${f.workspace} onChange=${e => go({ workspace: e.target.value })}>
        <option value="">All</option>${(wss.data || []).map(w => html`<option value=${w.name}>${w.name}</option>`)}</select></label>
      <label>Task<input type="search" value=${f.task} disabled=${!f.workspace} title=${f.workspace ? '' : 'Choose a workspace first'} placeholder=${f.workspace ? 'task name' : 'choose a workspace'} onChange=${e => go({ task: e.target.value.trim() })}/></label>
      <label>Status<select value=${f.status} onChange=${e => go({ status: e.target.value })}><option value="">All</option>${STATUSES.map(s => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Source<select value=${f.source} onChange=${e => go({ source: e.target.value })}><option value="">All</option>${SOURCES.map(s => html`<option value=${s}>${s}</option>`)}</select></label>
      ${(f.workspace || f.status || f.source) && html`<button type="button" onClick=${() => navigate('/jobs', true)}>Clear filters</button>`}
    </form>
    <${ErrorBox} error=${d.error} what="Could not load jobs"/>
    <section class="card">${!d.data ? d.loading && html`<${Loading} what="jobs"/>` : html`
      <${JobTable} jobs=${d.data.jobs} empty="No job matches these filters."/>
      <nav class="pager" aria-label="Pages">
        <span class="muted">${d.data.jobs.length ? `${(from + 1).toLocaleString()}–${(from + d.data.jobs.length).toLocaleString()}` : '0'}${total !== null ? ` of ${total.toLocaleString()}` : ''}</span>
        <button disabled=${page <= 1} onClick=${() => go({ ...f, page: 1 })}>First</button>
        <button disabled=${page <= 1} onClick=${() => go({ ...f, page: page - 1 })}>Previous</button>
        <span>Page ${page}${pages ? ` of ${pages.toLocaleString()}` : ''}</span>
        <button disabled=${pages ? page >= pages : d.data.jobs.length < PAGE} onClick=${() => go({ ...f, page: page + 1 })}>Next</button>
        ${pages && html`<button disabled=${page >= pages} onClick=${() => go({ ...f, page: pages })}>Last</button>`}
      </nav>`}</section>`;
}

async function loadJob(id) {
  const [job, wss] = await Promise.all([api.get('/api/jobs/' + enc(id)), api.get('/api/workspaces').catch(() => [])]);
  const ws = wss.find(w => w.name === job.workspace);
  const commit = ws && ws.commit && ws.revision === job.revision ? ws.commit : null;
  let hooks = [];
  if (TERMINAL.has(job.status)) {
    hooks = await api.get(`/api/jobs?workspace=${enc(job.workspace)}&source_type=hook&limit=100`).then(js => js.filter(h => h.source_id === id)).catch(() => []);
  }
  return { job, hooks, commit };
}

export function JobPage({ params: [id] }) {
  const d = useAsync(() => loadJob(id), [id]);
  const [tab, setTab] = useState('steps');
  const [view, setView] = useState('graph');
  const [cancelErr, setCancelErr] = useState(null);
  const [cancelling, setCancelling] = useState(false);
  const [again, setAgain] = useState({ busy: false, error: null, what: '' });
  useEffect(() => {
    const reload = throttle(() => d.reload(), 500);
    return api.subscribe(ev => {
      if (ev.type === 'step' && ev.data.job_id === id) {
        d.setData(v => v && { ...v, job: { ...v.job, steps: v.job.steps.map(s => s.step_name === ev.data.step_name ? { ...s, ...ev.data } : s) } });
        reload();
      } else if (ev.type === 'job' && ev.data.job_id === id) {
        d.setData(v => v && { ...v, job: { ...v.job, ...ev.data } });
        reload();
      } else if (ev.type === 'tick' || ev.type === 'resync') reload();
    });
  }, [id]);
  // The event stream carries every change; while the job runs, a slow
  // re-read besides it makes sure a missed event cannot leave the page stale.
  const live = d.data && !TERMINAL.has(d.data.job.status);
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => d.reload(), 5000);
    return () => clearInterval(t);
  }, [id, live]);
  const j = d.data && d.data.job;
  const cancel = async () => {
    setCancelling(true); setCancelErr(null);
    try { await api.post(`/api/jobs/${enc(id)}/cancel`); d.reload(); } catch (x) { setCancelErr(x); } finally { setCancelling(false); }
  };
  // Re-run and restart create a new job and open it.
  const secondChance = async (kind, body, what) => {
    setAgain({ busy: true, error: null, what });
    try {
      const r = await api.post(`/api/jobs/${enc(id)}/${kind}`, body);
      setAgain({ busy: false, error: null, what });
      navigate('/jobs/' + r.job_id);
    } catch (x) { setAgain({ busy: false, error: x, what }); }
  };
  if (!j) return html`<div class="page-head"><div><div class="crumbs"><a href="/jobs">Jobs</a></div><h1>Job ${shortId(id)}</h1></div></div>
    <${ErrorBox} error=${d.error} what="Could not load the job"/>${d.loading && html`<${Loading} what="job"/>`}`;
  const running = !TERMINAL.has(j.status);
  const runnable = !j.task_name.startsWith('_');
  const children = j.steps.filter(s => s.child_job_id);
  const restartable = runnable && (j.status === 'failed' || j.status === 'cancelled');
  return html`<div class="page-head"><div><div class="crumbs"><a href="/jobs">Jobs</a> / <a href=${`/tasks/${enc(j.workspace)}/${enc(j.task_name)}`}>${j.task_name}</a></div>
      <h1>${j.task_name} <${Status} status=${j.status}/></h1><div class="sub mono">${j.job_id}</div></div>
    <div class="row">
      ${running && html`<button class="danger" onClick=${cancel} disabled=${cancelling}>${cancelling ? 'Cancelling…' : 'Cancel job'}</button>`}
      ${!running && runnable && html`<button onClick=${() => secondChance('rerun', {}, 'Re-run failed')} disabled=${again.busy}
        title="A new job of this task on the same revision, with the same input">${again.busy ? 'Starting…' : 'Re-run'}</button>`}
      ${runnable && html`<a class="button" href=${`/tasks/${enc(j.workspace)}/${enc(j.task_name)}/run?from=${enc(j.job_id)}`}>Run again with these inputs</a>`}
    </div></div>
    <${ErrorBox} error=${cancelErr} what="Cancel failed"/>
    <${ErrorBox} error=${again.error} what=${again.what}/>
    <${ErrorBox} error=${d.error} what="Could not refresh the job"/>
    <div class="grid">
      <section class="card" aria-labelledby="h-overview"><h2 id="h-overview">Overview</h2><dl class="kv">
        <dt>Status</dt><dd><span role="status" aria-live="polite" id="job-status">${j.status}</span></dd>
        <dt>Created</dt><dd><${Time} t=${j.created_at}/></dd>
        <dt>Started</dt><dd><${Time} t=${j.started_at}/></dd>
        <dt>Finished</dt><dd><${Time} t=${j.completed_at}/></dd>
        <dt>Duration</dt><dd>${j.started_at ? duration(j.started_at, j.completed_at) + (running ? ' (running)' : '') : '—'}</dd>
        <dt>Workspace</dt><dd>${j.workspace}</dd>
        <dt>Revision</dt><dd><span class="mono">${j.revision ? j.revision.slice(0, 12) : '—'}</span>
          ${d.data.commit && html` ${d.data.commit.message.split('\n')[0]} <span class="muted">— ${d.data.commit.author.replace(/\s*<.*>$/, '')}</span>`}
          ${j.revision && html` · <button class="small" onClick=${() => setTab('changes')}>What changed?</button>`}</dd>
        <dt>Source</dt><dd>${source(j)}</dd>
        ${j.rerun_of && html`<dt>Re-run of</dt><dd><a href=${'/jobs/' + j.rerun_of}>job ${shortId(j.rerun_of)}</a></dd>`}
        ${j.restart_of && html`<dt>Restart of</dt><dd><a href=${'/jobs/' + j.restart_of}>job ${shortId(j.restart_of)}</a> from step <span class="mono">${j.restart_from}</span></dd>`}
        ${children.length > 0 && html`<dt>Child jobs</dt><dd>${children.map((s, i) => html`${i ? ', ' : ''}<a href=${'/jobs/' + s.child_job_id}>${s.step_name} → ${shortId(s.child_job_id)}</a>`)}</dd>`}
        ${d.data.hooks.length > 0 && html`<dt>Hook jobs</dt><dd>${d.data.hooks.map((h, i) => html`${i ? ', ' : ''}<a href=${'/jobs/' + h.job_id}>${h.hook_event || h.task_name} (${h.status})</a>`)}</dd>`}
      </dl></section>
      <section class="card" aria-labelledby="h-io"><h2 id="h-io">Input and output</h2>
        <h3>Input</h3><${Json} value=${j.input} label="Job input"/>
        <h3>Output</h3>${j.output === null || j.output === undefined ? html`<p class="muted">${running ? 'Not finished yet.' : 'No output.'}</p>` : html`<${Json} value=${j.output} label="Job output"/>`}</section>
    </div>
    ${j.steps.filter(s => s.status === 'waiting' && s.approval).map(s => html`<${ApprovalForm} key=${s.step_name} job=${j} step=${s} onDone=${() => d.reload()}/>`)}
    <${Tabs} label="Job views" value=${tab} onChange=${setTab} tabs=${[['steps', 'Steps'], ['logs', 'Logs'], ['changes', 'What changed']]}/>
    <div role="tabpanel" aria-labelledby=${'tab-' + tab}>
    ${tab === 'steps' && html`<section class="card">
      <div class="row"><h2>Steps</h2><span class="spacer"></span>
        <div role="group" aria-label="Steps view" class="row"><button aria-pressed=${view === 'graph' ? 'true' : 'false'} class="small" onClick=${() => setView('graph')}>Graph</button>
        <button aria-pressed=${view === 'timeline' ? 'true' : 'false'} class="small" onClick=${() => setView('timeline')}>Timeline</button></div></div>
      ${view === 'graph' ? html`<${Dag} label=${'Steps of job ' + shortId(j.job_id)} nodes=${graphNodes(j.steps)}/>` : html`<${Timeline} job=${j}/>`}
      <${StepList} job=${j} onLogs=${() => setTab('logs')} busy=${again.busy}
        onRestart=${restartable ? (step => secondChance('restart', { from_step: step }, 'Restart failed')) : null}/></section>`}
    ${tab === 'logs' && html`<section class="card"><${LogView} job=${j}/></section>`}
    ${tab === 'changes' && html`<section class="card"><${Changes} id=${j.job_id}/></section>`}
    </div>
    ${tab !== 'logs' && html`<section class="card" aria-labelledby="h-recent-log"><h2 id="h-recent-log">Log</h2><${LogView} job=${j} compact/></section>`}`;
}

function source(j) {
  const parts = [j.source_type];
  if (j.source_type === 'hook' && j.source_id) return html`hook ${j.hook_event || ''} of job <a href=${'/jobs/' + j.source_id}>${shortId(j.source_id)}</a>`;
  if (j.parent_job_id) return html`task step ${j.parent_step_name || ''} of job <a href=${'/jobs/' + j.parent_job_id}>${shortId(j.parent_job_id)}</a>`;
  if (j.source_id) parts.push(j.source_id);
  return parts.join(' · ');
}

// A for_each loop's instances are steps named "<loop>[<i>]" ('[' is
// reserved for them). The graph shows the loop once, with how many of its
// instances have ended; the list, timeline and logs show every instance.
const INSTANCE = /\[\d+\]$/;
const STEP_ENDED = new Set(['completed', 'failed', 'skipped', 'cancelled']);

function graphNodes(steps) {
  const insts = {};
  for (const s of steps) if (INSTANCE.test(s.step_name)) (insts[s.step_name.replace(INSTANCE, '')] ||= []).push(s);
  return steps.filter(s => !INSTANCE.test(s.step_name)).map(s => {
    const i = insts[s.step_name];
    return { id: s.step_name, deps: s.depends_on, status: s.status, note: i && `${i.filter(x => STEP_ENDED.has(x.status)).length}/${i.length} instances` };
  });
}

function Timeline({ job }) {
  const steps = job.steps;
  const t0 = Math.min(...steps.filter(s => s.started_at).map(s => +new Date(s.started_at)), job.started_at ? +new Date(job.started_at) : Infinity);
  const tEnd = Math.max(...steps.map(s => s.completed_at ? +new Date(s.completed_at) : s.started_at ? Date.now() : 0), job.completed_at ? +new Date(job.completed_at) : 0);
  const span = Math.max(1, tEnd - t0);
  return html`<div class="timeline" role="list" aria-label="Step timeline">${steps.map(s => {
    const a = s.started_at ? (+new Date(s.started_at) - t0) / span * 1000 : 0;
    const b = s.started_at ? ((s.completed_at ? +new Date(s.completed_at) : Date.now()) - t0) / span * 1000 : 0;
    return html`<div class="tl-row" role="listitem"><span class="mono">${s.step_name}</span>
      <svg viewBox="0 0 1000 14" preserveAspectRatio="none" class=${'st-' + s.status} aria-hidden="true"><rect class="track" x="0" y="2" width="1000" height="10" rx="3"/>
        ${s.started_at && html`<rect class="bar" x=${a.toFixed(1)} y="2" width=${Math.max(4, b - a).toFixed(1)} height="10" rx="3"/>`}</svg>
      <span><${Status} status=${s.status}/> ${s.started_at ? duration(s.started_at, s.completed_at) : ''}</span></div>`;
  })}</div>`;
}

// StepList: with onRestart (a failed or cancelled job), every step offers
// "Restart from here": it and everything downstream run again in a new job,
// the other completed steps are carried over.
function StepList({ job, onRestart, busy }) {
  return html`<div class="table-wrap steps-list"><table><thead><tr><th>Step</th><th>Status</th><th class="hide-narrow">Action</th><th>Duration</th><th class="hide-narrow">Worker</th></tr></thead><tbody>
    ${job.steps.map(s => html`<tr key=${s.step_name}><td><span class="mono">${s.step_name}</span>
        ${s.skip_reason && html`<div class="skip">Skipped: ${s.skip_reason}</div>`}
        ${s.error_message && html`<div class="stepmsg">${s.error_message}</div>`}
        ${s.status === 'waiting' && s.approval && html`<div class="skip">Waiting for approval: ${s.approval.message}</div>`}
        <${ApprovalRecord} ap=${s.approval}/>
        ${s.child_job_id && html`<div><a href=${'/jobs/' + s.child_job_id}>child job ${shortId(s.child_job_id)}</a></div>`}
        ${s.carried_over && html`<div class="muted">Carried over from job <a href=${'/jobs/' + s.carried_from}>${shortId(s.carried_from)}</a></div>`}
        ${onRestart && html`<div><button class="small" disabled=${busy} aria-label=${'Restart from ' + s.step_name} onClick=${() => onRestart(s.step_name)}
          title="A new job in which this step and everything downstream of it run again; the other completed steps are carried over">Restart from here</button></div>`}</td>
      <td><${Status} status=${s.status}/></td><td class="hide-narrow">${s.action_name || '—'} <span class="muted">${s.action_type}</span></td>
      <td>${s.started_at ? duration(s.started_at, s.completed_at) : '—'}</td>
      <td class="hide-narrow">${s.worker_id ? html`<a href=${'/workers/' + s.worker_id} class="mono">${shortId(s.worker_id)}</a>` : '—'}</td></tr>`)}
  </tbody></table></div>`;
}

function Changes({ id }) {
  const d = useAsync(() => api.get(`/api/jobs/${enc(id)}/changes`), [id]);
  if (d.loading) return html`<${Loading} what="changes"/>`;
  if (d.error) return d.error.status === 404 && d.error.message === 'Not found'
    ? html`<p class="note">This server does not report changes between revisions.</p>` : html`<${ErrorBox} error=${d.error} what="Could not load the changes"/>`;
  const c = d.data;
  return html`<h2>What changed</h2>
    <dl class="kv">
      <dt>This run's commit</dt><dd>${c.commit ? html`<span class="mono">${c.commit.hash.slice(0, 12)}</span> ${c.commit.message.split('\n')[0]} <span class="muted">— ${c.commit.author}, <${Time} t=${c.commit.time}/></span>` : html`<span class="mono">${(c.revision || '').slice(0, 12) || '—'}</span>`}</dd>
      <dt>Compared with</dt><dd>${c.base ? html`last successful run <a href=${'/jobs/' + c.base.job_id}>${shortId(c.base.job_id)}</a> (revision <span class="mono">${(c.base.revision || '').slice(0, 12)}</span>, <${Time} t=${c.base.completed_at}/>)` : 'no earlier successful run'}</dd>
    </dl>
    ${c.note && html`<p class="note">${c.note}</p>`}
    ${c.base && c.files.length === 0 && !c.note && html`<p class="note">No file changed since the last successful run.</p>`}
    ${c.files.map(f => html`<h3><span class="mono">${f.path}</span> <span class="muted">${f.status}</span></h3>
      ${f.diff ? html`<div class="diff" tabindex="0" aria-label=${'Diff of ' + f.path}>${f.diff.split('\n').map(l => html`<div class=${l.startsWith('@@') ? 'hunk' : l.startsWith('+') && !l.startsWith('+++') ? 'add' : l.startsWith('-') && !l.startsWith('---') ? 'del' : ''}>${l || ' '}</div>`)}</div>` : html`<p class="muted">No text diff (binary or large file).</p>`}`)}`;
}
