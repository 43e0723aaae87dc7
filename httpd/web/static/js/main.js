// main.js: boots the app, signs in, draws the frame and routes pages.
import { render } from '../vendor/htm-preact-standalone.js';
import { html, useState, useEffect, onRoute, navigate } from './ui.js';
import * as api from './api.js';
import { Dashboard } from './dashboard.js';
import { TasksPage, TaskPage, RunPage } from './tasks.js';
import { JobsPage, JobPage } from './jobs.js';
import { WorkspacesPage, WorkersPage, WorkerPage, UsersPage, KeysPage } from './admin.js';

const routes = [
  [/^\/$/, Dashboard, 'Dashboard'],
  [/^\/workspaces$/, WorkspacesPage, 'Workspaces'],
  [/^\/tasks$/, TasksPage, 'Tasks'],
  [/^\/tasks\/([^/]+)\/([^/]+)$/, TaskPage, 'Task'],
  [/^\/tasks\/([^/]+)\/([^/]+)\/run$/, RunPage, 'Run'],
  [/^\/jobs$/, JobsPage, 'Jobs'],
  [/^\/jobs\/([^/]+)$/, JobPage, 'Job'],
  [/^\/workers$/, WorkersPage, 'Workers'],
  [/^\/workers\/([^/]+)$/, WorkerPage, 'Worker'],
  [/^\/users$/, UsersPage, 'Users'],
  [/^\/keys$/, KeysPage, 'API keys'],
];

const nav = [
  ['/', 'Dashboard'], ['/jobs', 'Jobs'], ['/tasks', 'Tasks'], ['/workspaces', 'Workspaces'],
  ['/workers', 'Workers'], ['/users', 'Users'], ['/keys', 'API keys'],
];

function match(path) {
  for (const [re, Page, title] of routes) {
    const m = path.match(re);
    if (m) return { Page, title, params: m.slice(1).map(decodeURIComponent) };
  }
  return { Page: NotFound, title: 'Not found', params: [] };
}

function NotFound() {
  return html`<div class="page-head"><h1>Page not found</h1></div>
    <p>Nothing lives at <code>${location.pathname}</code>. <a href="/">Go to the dashboard</a>.</p>`;
}

function Login({ onDone }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async e => {
    e.preventDefault();
    setBusy(true); setErr(null);
    try { await api.signIn(email, password); onDone(); } catch (x) { setErr(x); } finally { setBusy(false); }
  };
  return html`<main class="login" id="main">
    <div class="brand"><img src="/assets/favicon.svg" alt=""/> runnel</div>
    <form class="card" onSubmit=${submit} aria-labelledby="signin-h">
      <h1 id="signin-h">Sign in</h1>
      <p class="muted">This server requires an account.</p>
      ${err && html`<div class="alert" role="alert">${err.status === 401 ? 'Wrong email or password.' : api.describe(err)}</div>`}
      <div class="field"><label for="email">Email</label>
        <input id="email" type="email" autocomplete="username" required value=${email} onInput=${e => setEmail(e.target.value)}/></div>
      <div class="field"><label for="password">Password</label>
        <input id="password" type="password" autocomplete="current-password" required value=${password} onInput=${e => setPassword(e.target.value)}/></div>
      <button class="primary" type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form></main>`;
}

function App() {
  const [, setTick] = useState(0);
  const [online, setOnline] = useState(true);
  const [bootErr, setBootErr] = useState(null);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const offRoute = onRoute(() => setTick(t => t + 1));
    const offApi = api.on(m => {
      if (m.type === 'connection') setOnline(m.online);
      if (m.type === 'auth') setTick(t => t + 1);
    });
    api.boot().then(() => setReady(true), e => setBootErr(e));
    return () => { offRoute(); offApi(); };
  }, []);
  const banner = !online && html`<div class="banner" role="alert">Connection to the server lost — reconnecting…</div>`;
  if (bootErr) return html`${banner}<main id="main"><h1>runnel</h1><div class="alert" role="alert">Cannot load the server's configuration: ${api.describe(bootErr)}</div><button onClick=${() => location.reload()}>Retry</button></main>`;
  if (!ready) return html`<p class="boot" role="status">Loading runnel…</p>`;
  if (!api.session.signedIn) { document.title = 'Sign in · runnel'; return html`${banner}<${Login} onDone=${() => setTick(t => t + 1)}/>`; }
  const path = location.pathname;
  const { Page, title, params } = match(path);
  document.title = `${title} · runnel`;
  const me = api.session.me;
  const current = href => (href === '/' ? path === '/' : path === href || path.startsWith(href + '/'));
  return html`${banner}<div class="layout">
    <a class="skip-link" href="#main">Skip to content</a>
    <header class="sidebar">
      <a class="brand" href="/"><img src="/assets/favicon.svg" alt=""/> runnel</a>
      <nav class="nav" aria-label="Main">
        ${nav.map(([href, text]) => html`<a href=${href} aria-current=${current(href) ? 'page' : undefined}>${text}</a>`)}
      </nav>
      <div class="foot">
        ${api.session.authRequired && me && html`<span title=${me.email}>${me.name || me.email}${me.is_admin ? ' (admin)' : ''}</span>
          <button class="small" onClick=${async () => { await api.signOut(); navigate('/', true); }}>Sign out</button>`}
        <span class="hide-narrow">runnel ${api.session.config.version}</span>
      </div>
    </header>
    <main id="main" tabindex="-1"><${Page} key=${path} params=${params}/></main>
  </div>`;
}

render(html`<${App}/>`, document.getElementById('app'));
