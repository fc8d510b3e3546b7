// The history of one object: every change, who made it, and what changed between versions.
import { html, useState, useEffect, useCallback, api, query, navigate, formatTime, hashOf, useFetchEffect } from '../lib.js';
import { TimePicker, ErrorBox, Loading, JsonTree, TimelineLink, Disclosure } from '../components.js';

function short(value) {
  if (value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

/** Changes per request. */
const PAGE = 100;

export function HistoryPage({ params }) {
  const { resource = '', namespace = '', name = '', cluster = '' } = params;
  const from = params.from || '';
  const to = params.to || '';
  const set = useCallback((changes) => navigate('history', { ...params, ...changes }), [params]);
  const [form, setForm] = useState({ resource, namespace, name });
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  useEffect(() => setForm({ resource, namespace, name }), [resource, namespace, name]);
  // The newest changes first; older ones a page at a time, put before them.
  const load = (before) => api(`/objects/history${query({ resource, namespace, name, cluster, from, to: before || to, subresources: params.subresources, limit: PAGE })}`);
  useFetchEffect(() => {
    if (!resource || !name) return;
    setLoading(true);
    setError(null);
    load().then(
      (answer) => { setData(answer); setLoading(false); },
      (err) => { setError(err); setLoading(false); },
    );
  }, [resource, namespace, name, cluster, from, to, params.subresources]);
  const older = () => {
    setLoading(true);
    load(data.next_to).then(
      (answer) => { setData({ ...answer, changes: [...answer.changes, ...data.changes] }); setLoading(false); },
      (err) => { setError(err); setLoading(false); },
    );
  };
  return html`<div class="page history-page">
    <form class="toolbar" onSubmit=${(e) => { e.preventDefault(); set(form); }}>
      <label>Resource <input type="text" value=${form.resource} placeholder="deployments" onInput=${(e) => setForm({ ...form, resource: e.target.value.trim() })} /></label>
      <label>Namespace <input type="text" value=${form.namespace} placeholder="(cluster-scoped: empty)" onInput=${(e) => setForm({ ...form, namespace: e.target.value.trim() })} /></label>
      <label>Name <input type="text" value=${form.name} onInput=${(e) => setForm({ ...form, name: e.target.value.trim() })} /></label>
      <button class="button primary" type="submit">Show history</button>
      <label class="check"><input type="checkbox" checked=${params.subresources === 'true'} onChange=${(e) => set({ subresources: e.target.checked ? 'true' : undefined })} /> with status and scale writes</label>
      <${TimePicker} from=${from} to=${to} onChange=${(f, t) => set({ from: f, to: t })} />
    </form>
    <${ErrorBox} error=${error} /><${Loading} when=${loading} />
    ${!resource && html`<p class="empty">Name an object, or follow an object link from an event, an alert or a timeline.</p>`}
    ${data && html`<div>
      <h2 class="page-title">History of ${data.resource} <code>${data.namespace ? `${data.namespace}/` : ''}${data.name}</code></h2>
      ${data.changes.length === 0 && html`<p class="empty">No writes to this object in the range.</p>`}
      ${data.truncated && html`<p><button type="button" class="button" onClick=${older} disabled=${loading}>Show older changes</button> <span class="muted">${data.changes.length} newest changes shown</span></p>`}
      <ol class="changes" data-testid="changes">
        ${data.changes.map((change) => html`<li class=${`change ${change.applied ? '' : 'refused'}`}>
          <header>
            <strong>${change.verb}${change.subresource ? `/${change.subresource}` : ''}</strong> by <${TimelineLink} actor=${change.user} />
            at <a href=${hashOf('search', { q: `event_id:${change.event_id}`, from: '', event: change.event_id })}>${formatTime(change.time)}</a>
            ${!change.applied && html`<span class="flag flag-denied">not applied (${change.response_code})</span>`}
          </header>
          ${change.note && html`<p class="muted">${change.note}</p>`}
          ${change.diff && change.diff.length > 0 && html`<table class="diff" aria-label="Changes from the previous version">
            <thead><tr><th scope="col">Change</th><th scope="col">Path</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
            <tbody>${change.diff.map((op) => html`<tr class=${`op-${op.op}`}><td>${op.op}</td><td><code>${op.path}</code></td><td><code>${short(op.old)}</code></td><td><code>${short(op.value)}</code></td></tr>`)}</tbody>
          </table>`}
          ${change.diff && change.diff.length === 0 && html`<p class="muted">No change to the object's content.</p>`}
          ${change.object && html`<${Disclosure} summary="Object at this version">${() => html`<div class="json"><${JsonTree} value=${change.object} /></div>`}<//>`}
          ${change.patch !== undefined && change.patch !== null && html`<${Disclosure} summary="Patch sent">${() => html`<div class="json"><${JsonTree} value=${change.patch} /></div>`}<//>`}
        </li>`)}
      </ol>
    </div>`}
  </div>`;
}
