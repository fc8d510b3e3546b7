// The kubetrail web UI: sign-in, then one page per job (search, alerts, timeline, history,
// live tail, SQL, posture, rules), routed by the address's fragment so every state can be
// shared, bookmarked and reached with the back button. It talks only to /api/v1.
import { html, render, useState, useEffect, api, session, onUnauthorized, parseHash, hashOf } from './lib.js';
import { SignInPage, exchangeCode } from './pages/signin.js';
import { SearchPage } from './pages/search.js';
import { AlertsPage } from './pages/alerts.js';
import { TimelinePage } from './pages/timeline.js';
import { HistoryPage } from './pages/history.js';
import { TailPage } from './pages/tail.js';
import { SqlPage } from './pages/sql.js';
import { PosturePage } from './pages/posture.js';
import { RulesPage } from './pages/rules.js';

const PAGES = {
  search: { title: 'Search', component: SearchPage },
  alerts: { title: 'Alerts', component: AlertsPage },
  timeline: { title: 'Timeline', component: TimelinePage },
  history: { title: 'History', component: HistoryPage },
  tail: { title: 'Live tail', component: TailPage },
  sql: { title: 'SQL', component: SqlPage, needs: 'sql' },
  posture: { title: 'Posture', component: PosturePage },
  rules: { title: 'Rules', component: RulesPage },
};
const NAV = ['search', 'alerts', 'timeline', 'history', 'tail', 'sql', 'posture', 'rules'];
const THEME_KEY = 'kubetrail.theme';

function applyTheme(theme) {
  const chosen = theme || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = chosen;
  return chosen;
}

function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const update = () => setRoute(parseHash());
    window.addEventListener('hashchange', update);
    window.addEventListener('popstate', update);
    return () => { window.removeEventListener('hashchange', update); window.removeEventListener('popstate', update); };
  }, []);
  return route;
}

function Shell({ me, onSignOut }) {
  const route = useRoute();
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  const page = PAGES[route.page] && (!PAGES[route.page].needs || me.can[PAGES[route.page].needs]) ? route.page : 'search';
  const Page = PAGES[page].component;
  useEffect(() => { document.title = `${PAGES[page].title} · kubetrail`; }, [page]);
  const toggleTheme = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, next);
    setTheme(applyTheme(next));
  };
  const scope = [me.namespaces && `namespaces ${me.namespaces.join(', ')}`, me.clusters && `clusters ${me.clusters.join(', ')}`].filter(Boolean).join('; ');
  return html`<div class="shell">
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
    <header class="topbar">
      <a class="brand" href="#/search" aria-label="kubetrail home"><img src="/assets/icon.svg" alt="" width="22" height="22" /> kubetrail</a>
      <nav aria-label="Pages">
        <ul>${NAV.filter((name) => !PAGES[name].needs || me.can[PAGES[name].needs]).map((name) => html`<li>
          <a href=${hashOf(name)} aria-current=${name === page ? 'page' : undefined} class=${name === page ? 'current' : ''}>${PAGES[name].title}</a></li>`)}
        </ul>
      </nav>
      <span class="spacer"></span>
      <span class="who" title=${scope || 'all namespaces and clusters'} data-testid="who">${me.name} · ${me.role}${scope ? html` · <span class="scope">${scope}</span>` : ''}</span>
      <button type="button" class="button" onClick=${toggleTheme} aria-label=${`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>${theme === 'dark' ? '☀' : '☾'}</button>
      <button type="button" class="button" onClick=${onSignOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">
      <h1 class="sr-only">${PAGES[page].title}</h1>
      <${Page} params=${route.params} me=${me} key=${page} />
    </main>
  </div>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [state, setState] = useState('loading');
  const [message, setMessage] = useState('');
  useEffect(() => {
    const stop = onUnauthorized((reason) => {
      session.clear();
      setMe(null);
      setMessage(`Signed out: ${reason}`);
      setState('signin');
    });
    (async () => {
      const fragment = location.hash.match(/^#signin=([A-Za-z0-9_]+)$/);
      if (fragment) {
        // The code leaves the address bar (and history) before anything else happens.
        history.replaceState(null, '', '#/alerts');
        try {
          await exchangeCode(fragment[1]);
        } catch (error) {
          setMessage(error.message);
        }
      }
      if (!session.token()) { setState('signin'); return; }
      try {
        setMe(await api('/me'));
        setState('ready');
      } catch (error) {
        if (error.status !== 401) { setMessage(error.message); setState('signin'); }
      }
    })();
    return stop;
  }, []);
  if (state === 'loading') return html`<p class="boot" role="status">Loading kubetrail…</p>`;
  if (state === 'signin' || !me) {
    return html`<${SignInPage} message=${message} onSignedIn=${(who) => { setMe(who); setMessage(''); setState('ready'); if (!location.hash.startsWith('#/')) location.hash = '#/search'; }} />`;
  }
  return html`<${Shell} me=${me} onSignOut=${() => { session.clear(); setMe(null); setMessage('Signed out.'); setState('signin'); }} />`;
}

applyTheme(localStorage.getItem(THEME_KEY));
render(html`<${App} />`, document.getElementById('app'));
