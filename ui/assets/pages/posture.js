// Posture: the hardening checklist per cluster and namespace, derived from the object bodies
// the audit stream has shown (`GET /api/v1/posture`).
import { html, useState, useEffect, api } from '../lib.js';
import { ErrorBox, Loading } from '../components.js';

export function PosturePage() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { api('/posture').then(setData, setError); }, []);
  return html`<div class="page posture-page">
    <${ErrorBox} error=${error} /><${Loading} when=${!data && !error} />
    ${data && html`<pre class="code">${JSON.stringify(data, null, 2)}</pre>`}
  </div>`;
}
