// admin.js: workspaces, workers, users and API keys.
import { html, useState, useEffect, useAsync, throttle, Status, Time, ErrorBox, Loading, shortId, enc } from './ui.js';
import * as api from './api.js';
import { JobTable } from './dashboard.js';

export function WorkspacesPage() {
  const d = useAsync(() => api.get('/api/workspaces'), []);
  useEffect(() => {
    const reload = throttle(() => d.reload(), 1000);
    return api.subscribe(ev => { if (['workspace', 'tick', 'resync'].includes(ev.type)) reload(); });
  }, []);
  return html`<div class="page-head"><div><h1>Workspaces</h1><div class="sub">Where tasks come from, and the revision each runs.</div></div></div>
    <${ErrorBox} error=${d.error} what="Could not load workspaces"/>
    ${d.loading && !d.data && html`<${Loading} what="workspaces"/>`}
    ${(d.data || []).map(w => html`<${Workspace} key=${w.name} w=${w} onRefreshed=${d.reload}/>`)}`;
}

function Workspace({ w, onRefreshed }) {
  const [busy, setBusy] = useState(false);
  const [res, setRes] = useState(null);
  const [err, setErr] = useState(null);
  const refresh = async () => {
    setBusy(true); setErr(null); setRes(null);
    try { setRes(await api.post(`/api/workspaces/${enc(w.name)}/refresh`)); onRefreshed(); } catch (x) { setErr(x); } finally { setBusy(false); }
  };
  const src = w.source;
  return html`<section class="card" aria-labelledby=${'ws-' + w.name}>
    <div class="row"><h2 id=${'ws-' + w.name}>${w.name}</h2>${w.error ? html`<${Status} status="error" label="the newest revision was rejected"/>` : html`<${Status} status="ok"/>`}
      <span class="spacer"></span><button onClick=${refresh} disabled=${busy} aria-label=${'Refresh ' + w.name}>${busy ? 'Refreshing…' : 'Refresh'}</button></div>
    ${res && html`<p class="note" role="status">${res.changed ? `Loaded revision ${String(res.revision).slice(0, 12)}.` : 'Already up to date.'}</p>`}
    <${ErrorBox} error=${err} what="Refresh failed"/>
    <dl class="kv">
      <dt>Source</dt><dd>${!src ? html`<span class="muted">—</span>` : src.type === 'git' ? html`git <code>${src.url}</code>${src.ref ? html` at <code>${src.ref}</code>` : ''}` : html`folder <code>${src.path}</code>`}</dd>
      <dt>Revision</dt><dd class="mono">${w.revision || '—'}</dd>
      ${w.commit && html`<dt>Commit</dt><dd><strong>${w.commit.message.split('\n')[0]}</strong><div class="muted">${w.commit.author} · <${Time} t=${w.commit.time}/></div></dd>`}
      <dt>Contents</dt><dd>${w.tasks_count} tasks · ${w.actions_count} actions · ${w.triggers_count} triggers · <a href=${'/tasks?q=' + enc(w.name)}>tasks</a></dd>
    </dl>
    ${w.error && html`<h3>The newest revision was rejected${w.error_revision ? html` (<span class="mono">${String(w.error_revision).slice(0, 12)}</span>)` : ''}</h3>
      <p class="muted">Jobs keep running on the revision above until this is fixed.</p>
      <div class="errlines" role="alert" aria-label=${'Load error of ' + w.name}>${w.error}</div>`}
  </section>`;
}

export function WorkersPage() {
  const d = useAsync(() => api.get('/api/workers?limit=500'), []);
  useEffect(() => {
    const reload = throttle(() => d.reload(), 1000);
    return api.subscribe(ev => { if (['worker', 'tick', 'resync'].includes(ev.type)) reload(); });
  }, []);
  return html`<div class="page-head"><div><h1>Workers</h1><div class="sub">Built-in workers run inside the server; remote ones register over HTTP.</div></div></div>
    <${ErrorBox} error=${d.error} what="Could not load workers"/>
    ${d.loading && !d.data && html`<${Loading} what="workers"/>`}
    ${d.data && html`<section class="card"><div class="table-wrap"><table><thead><tr><th>Name</th><th>Kind</th><th>State</th><th>Tags</th><th>Last heartbeat</th><th class="hide-narrow">Version</th></tr></thead><tbody>
      ${d.data.length === 0 && html`<tr><td colspan="6" class="empty">No workers.</td></tr>`}
      ${d.data.map(w => html`<tr><td><a href=${'/workers/' + w.worker_id}>${w.name || shortId(w.worker_id)}</a></td><td>${w.builtin ? 'built-in' : 'remote'}</td>
        <td><${Status} status=${w.status}/></td><td>${w.tags.length ? w.tags.map(t => html`<code>${t}</code> `) : html`<span class="muted">none</span>`}</td>
        <td><${Time} t=${w.last_heartbeat} rel/></td><td class="hide-narrow">${w.version || '—'}</td></tr>`)}</tbody></table></div></section>`}`;
}

export function WorkerPage({ params: [id] }) {
  const d = useAsync(() => api.get('/api/workers/' + enc(id)), [id]);
  const w = d.data;
  return html`<div class="page-head"><div><div class="crumbs"><a href="/workers">Workers</a></div><h1>${w ? w.name || shortId(w.worker_id) : 'Worker'}</h1></div></div>
    <${ErrorBox} error=${d.error} what="Could not load the worker"/>
    ${w && html`<section class="card"><dl class="kv"><dt>State</dt><dd><${Status} status=${w.status}/></dd><dt>Kind</dt><dd>${w.builtin ? 'built-in' : 'remote'}</dd>
      <dt>Tags</dt><dd>${w.tags.join(', ') || 'none'}</dd><dt>Last heartbeat</dt><dd><${Time} t=${w.last_heartbeat}/></dd><dt>Registered</dt><dd><${Time} t=${w.registered_at}/></dd>
      <dt>ID</dt><dd class="mono">${w.worker_id}</dd></dl></section>
      <section class="card"><h2>Recent jobs</h2><${JobTable} jobs=${w.jobs || []} empty="This worker has run no job yet."/></section>`}`;
}

export function UsersPage() {
  const d = useAsync(() => api.get('/api/users?limit=500'), []);
  const [form, setForm] = useState({ email: '', name: '', password: '', is_admin: false });
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const admin = !api.session.authRequired || (api.session.me && api.session.me.is_admin);
  const create = async e => {
    e.preventDefault(); setBusy(true); setErr(null);
    try { await api.post('/api/users', { ...form, password: form.password || null }); setForm({ email: '', name: '', password: '', is_admin: false }); d.reload(); } catch (x) { setErr(x); } finally { setBusy(false); }
  };
  const remove = async u => {
    if (!confirm(`Delete user ${u.email}?`)) return;
    try { await api.del('/api/users/' + enc(u.user_id)); d.reload(); } catch (x) { setErr(x); }
  };
  const set = k => e => setForm(f => ({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value }));
  return html`<div class="page-head"><div><h1>Users</h1><div class="sub">${api.session.authRequired ? 'Accounts that can sign in.' : 'Authentication is off on this server: anyone who reaches it can use it.'}</div></div></div>
    ${d.error && d.error.status === 403 ? html`<div class="alert" role="alert">Admin only: managing users needs an administrator account.</div>` : html`<${ErrorBox} error=${d.error} what="Could not load users"/>`}
    ${d.data && html`<section class="card"><div class="table-wrap"><table><thead><tr><th>Email</th><th>Name</th><th>Role</th><th class="hide-narrow">Last sign-in</th><th><span class="sr-only">Actions</span></th></tr></thead><tbody>
      ${d.data.length === 0 && html`<tr><td colspan="5" class="empty">No users.</td></tr>`}
      ${d.data.map(u => html`<tr><td>${u.email}</td><td>${u.name}</td><td>${u.is_admin ? 'admin' : 'user'}</td><td class="hide-narrow"><${Time} t=${u.last_login_at} rel/></td>
        <td>${api.session.authRequired && admin && html`<button class="small danger" onClick=${() => remove(u)} aria-label=${'Delete ' + u.email}>Delete</button>`}</td></tr>`)}</tbody></table></div></section>`}
    ${api.session.authRequired && admin && !d.error && html`<form class="card" onSubmit=${create} aria-labelledby="h-newuser"><h2 id="h-newuser">Add a user</h2>
      <${ErrorBox} error=${err}/>
      <div class="field"><label for="nu-email">Email</label><input id="nu-email" type="email" required value=${form.email} onInput=${set('email')}/></div>
      <div class="field"><label for="nu-name">Name</label><input id="nu-name" value=${form.name} onInput=${set('name')}/></div>
      <div class="field"><label for="nu-pass">Password</label><input id="nu-pass" type="password" autocomplete="new-password" value=${form.password} onInput=${set('password')}/></div>
      <div class="field"><label><input type="checkbox" checked=${form.is_admin} onChange=${set('is_admin')}/> Administrator</label></div>
      <button class="primary" type="submit" disabled=${busy}>Add user</button></form>`}`;
}

export function KeysPage() {
  const off = !api.session.authRequired;
  const d = useAsync(() => off ? Promise.resolve([]) : api.get('/api/auth/api-keys'), []);
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [created, setCreated] = useState(null);
  const [err, setErr] = useState(null);
  if (off) return html`<div class="page-head"><h1>API keys</h1></div><p class="note">Authentication is off on this server, so API keys are not needed (and not accepted).</p>`;
  const create = async e => {
    e.preventDefault(); setErr(null);
    try { setCreated(await api.post('/api/auth/api-keys', { name, expires_in_days: days ? parseInt(days, 10) : null })); setName(''); setDays(''); d.reload(); } catch (x) { setErr(x); }
  };
  const remove = async k => {
    if (!confirm(`Delete API key ${k.name}?`)) return;
    try { await api.del('/api/auth/api-keys/' + enc(k.prefix)); d.reload(); } catch (x) { setErr(x); }
  };
  return html`<div class="page-head"><div><h1>API keys</h1><div class="sub">Your keys for scripts and the CLI (<code>Authorization: Bearer …</code>).</div></div></div>
    <${ErrorBox} error=${d.error} what="Could not load your keys"/>
    ${created && html`<div class="card" role="status"><h2>New key “${created.name}”</h2><p>Copy it now: it is shown only once.</p><div class="secret-once" aria-label="New API key">${created.key}</div></div>`}
    ${d.data && html`<section class="card"><div class="table-wrap"><table><thead><tr><th>Name</th><th>Prefix</th><th>Created</th><th>Expires</th><th class="hide-narrow">Last used</th><th><span class="sr-only">Actions</span></th></tr></thead><tbody>
      ${d.data.length === 0 && html`<tr><td colspan="6" class="empty">You have no API keys.</td></tr>`}
      ${d.data.map(k => html`<tr><td>${k.name}</td><td class="mono">${k.prefix}</td><td><${Time} t=${k.created_at} rel/></td><td><${Time} t=${k.expires_at}/></td><td class="hide-narrow"><${Time} t=${k.last_used_at} rel/></td>
        <td><button class="small danger" onClick=${() => remove(k)} aria-label=${'Delete key ' + k.name}>Delete</button></td></tr>`)}</tbody></table></div></section>`}
    <form class="card" onSubmit=${create} aria-labelledby="h-newkey"><h2 id="h-newkey">Create a key</h2><${ErrorBox} error=${err}/>
      <div class="field"><label for="k-name">Key name</label><input id="k-name" required value=${name} onInput=${e => setName(e.target.value)}/></div>
      <div class="field"><label for="k-days">Expires in days (empty: never)</label><input id="k-days" type="number" min="1" step="1" value=${days} onInput=${e => setDays(e.target.value)}/></div>
      <button class="primary" type="submit">Create key</button></form>`;
}
