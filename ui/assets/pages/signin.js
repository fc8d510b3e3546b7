// Sign-in: an API token typed or pasted once per browser tab (kept in sessionStorage, never in
// a URL), or a one-time link from `kubetrail demo` (`/#signin=<code>`), whose code is
// exchanged for the token and then useless.
import { html, useState, api, session } from '../lib.js';
import { ErrorBox } from '../components.js';

export async function exchangeCode(code) {
  const answer = await api('/signin', { method: 'POST', body: { code } });
  session.set(answer.token);
  return answer;
}

export function SignInPage({ onSignedIn, message }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    session.set(token.trim());
    try {
      const me = await api('/me');
      onSignedIn(me);
    } catch (err) {
      session.clear();
      setError(err.status === 401 ? new Error('That token is not known to this kubetrail (or was revoked).') : err);
    }
    setBusy(false);
  };
  return html`<main class="signin" id="main">
    <form class="card" onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title"><img src="/assets/icon.svg" alt="" width="28" height="28" /> kubetrail</h1>
      <p>Sign in with an API token. <code>kubetrail token create</code> makes one; <code>kubetrail demo</code> prints a sign-in link.</p>
      ${message && html`<p class="warning" role="status">${message}</p>`}
      <label for="token">API token</label>
      <input id="token" type="password" autocomplete="current-password" value=${token} onInput=${(e) => setToken(e.target.value)} required />
      <button class="button primary" type="submit" disabled=${busy || !token.trim()}>Sign in</button>
      <p class="muted">The token stays in this tab only and is sent to this server alone.</p>
      <${ErrorBox} error=${error} />
    </form>
  </main>`;
}
