// The timeline of one identity: every request it made (or was impersonated in), newest
// first, with exec sessions, impersonation, denials and alerts flagged.
import { html, useState, useEffect, useRef, useCallback, api, query, navigate, formatTime, formatCount, cellText, useKeys, useFetchEffect } from '../lib.js';
import { TimePicker, Histogram, ErrorBox, Loading, HistoryLink, NamespaceLink } from '../components.js';
import { EventPanel } from './search.js';

const FLAG_TEXT = { impersonation: 'impersonation', exec_session: 'exec', denied: 'denied', alert: 'alert' };

export function TimelinePage({ params }) {
  const actor = params.actor || '';
  const from = params.from === undefined ? '7d' : params.from;
  const to = params.to || '';
  const set = useCallback((changes) => navigate('timeline', { ...params, actor, from, to, ...changes }), [params, actor, from, to]);
  const [data, setData] = useState(null);
  const [entries, setEntries] = useState([]);
  const [next, setNext] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState(-1);
  const [input, setInput] = useState(actor);
  const generation = useRef(0);
  useEffect(() => setInput(actor), [actor]);
  useFetchEffect(() => {
    if (!actor) return;
    const mine = ++generation.current;
    setLoading(true);
    setError(null);
    api(`/timeline${query({ actor, from, to, limit: 200 })}`).then((answer) => {
      if (mine !== generation.current) return;
      setData(answer);
      setEntries(answer.entries);
      setNext(answer.next_cursor);
      setLoading(false);
    }, (err) => { if (mine === generation.current) { setError(err); setLoading(false); } });
  }, [actor, from, to]);
  const more = () => api(`/timeline${query({ actor, from, to, limit: 200, cursor: next })}`).then((answer) => {
    setEntries((old) => old.concat(answer.entries));
    setNext(answer.next_cursor);
  }, setError);
  useKeys({
    j: () => setSelected((index) => Math.min(index + 1, entries.length - 1)),
    k: () => setSelected((index) => Math.max(index - 1, 0)),
    Enter: () => selected >= 0 && entries[selected] && set({ event: entries[selected].event_id }),
    Escape: () => params.event && set({ event: undefined }),
  }, [entries, selected, params.event]);
  const open = params.event ? entries.find((entry) => entry.event_id === params.event) : null;
  return html`<div class="page timeline-page">
    <form class="toolbar" onSubmit=${(e) => { e.preventDefault(); set({ actor: input.trim(), event: undefined }); }}>
      <label for="actor">Identity</label>
      <input id="actor" type="text" value=${input} onInput=${(e) => setInput(e.target.value)} placeholder="alice@example.com or system:serviceaccount:ns:name" />
      <button class="button primary" type="submit">Show timeline</button>
      <${TimePicker} from=${from} to=${to} onChange=${(f, t) => set({ from: f, to: t })} />
    </form>
    <${ErrorBox} error=${error} />
    ${!actor && html`<p class="empty">Type a user or service account, or follow a user link from an event or alert.</p>`}
    ${data && html`<div>
      <h2 class="page-title">Timeline of <code>${data.actor}</code></h2>
      <div class="summary-line"><strong data-testid="timeline-total">${formatCount(data.total)}</strong> requests <${Loading} when=${loading} />
        ${data.flagged_on_page && Object.entries(data.flagged_on_page).map(([flag, count]) => html` <span class=${`flag flag-${flag}`}>${FLAG_TEXT[flag] || flag}: ${count}</span>`)}
      </div>
      <${Histogram} buckets=${data.histogram} onSelect=${(f, t) => set({ from: f, to: t })} label="Requests over time" />
      <table class="grid" aria-label="Requests, newest first">
        <thead><tr><th scope="col">Time</th><th scope="col">Flags</th><th scope="col">Verb</th><th scope="col">Resource</th><th scope="col">Namespace</th><th scope="col">Name</th><th scope="col">Code</th><th scope="col">Source IPs</th></tr></thead>
        <tbody>${entries.map((entry, index) => html`<tr data-index=${index} class=${index === selected ? 'selected' : ''} aria-selected=${index === selected} onClick=${() => { setSelected(index); set({ event: entry.event_id }); }}>
          <td>${formatTime(entry.time)}</td>
          <td>${entry.flags.map((flag) => html`<span class=${`flag flag-${flag}`}>${FLAG_TEXT[flag] || flag}</span> `)}</td>
          <td>${entry.verb}</td><td>${cellText(entry.resource)}${entry.subresource ? `/${entry.subresource}` : ''}</td>
          <td><${NamespaceLink} namespace=${entry.namespace} /></td>
          <td onClick=${(e) => e.stopPropagation()}><${HistoryLink} resource=${entry.resource} namespace=${entry.namespace} name=${entry.name} cluster=${entry.cluster} /></td>
          <td>${cellText(entry.response_code)}</td><td>${cellText(entry.source_ips)}</td></tr>`)}
        </tbody>
      </table>
      ${next && html`<button type="button" class="button" onClick=${more}>Load more</button>`}
    </div>`}
    ${params.event && html`<${EventPanel} eventId=${params.event} hit=${open} onClose=${() => set({ event: undefined })} />`}
  </div>`;
}
