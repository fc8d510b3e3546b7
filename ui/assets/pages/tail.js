// Live tail: events and alerts as they arrive, filtered with the search syntax, pausable.
// Every message is counted and kept (the last 2,000); drawing is limited to four times a
// second and to the newest 300 rows, so a high rate never freezes the page: the header says
// how many arrived and how many were not drawn.
import { html, useState, useEffect, useRef, api, query, formatTime, formatCount, cellText, hashOf } from '../lib.js';
import { ErrorBox, Severity } from '../components.js';

const KEEP = 2000;
const DRAW = 300;
const DRAW_EVERY_MS = 250;

/** Reads a server-sent event stream from a fetch Response (EventSource cannot send the
 *  Authorization header). Calls `onMessage(type, data)` per message. */
async function readStream(response, onMessage, signal) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onMessage(type, data.join('\n'));
    }
  }
}

export function TailPage({ params }) {
  const [filter, setFilter] = useState(params.q || '');
  const [active, setActive] = useState(params.q || '');
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState(null);
  const [connected, setConnected] = useState(false);
  const [, redraw] = useState(0);
  const store = useRef({ rows: [], received: 0, drawn: 0, notDrawn: 0, missed: 0 });
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    const controller = new AbortController();
    store.current = { rows: [], received: 0, drawn: 0, notDrawn: 0, missed: 0 };
    setError(null);
    let dirty = false;
    api(`/tail${query({ q: active })}`, { raw: true, signal: controller.signal }).then((response) => {
      setConnected(true);
      return readStream(response, (type, data) => {
        const state = store.current;
        if (type === 'lagged') {
          try { state.missed += JSON.parse(data).missed_messages || 0; } catch (_) { /* ignore */ }
          dirty = true;
          return;
        }
        let item;
        try { item = JSON.parse(data); } catch (_) { return; }
        state.received += 1;
        state.rows.unshift({ type, item, seq: state.received });
        if (state.rows.length > KEEP) state.rows.length = KEEP;
        dirty = true;
      }, controller.signal);
    }).catch((err) => { if (err.name !== 'AbortError') setError(err); }).finally(() => setConnected(false));
    const timer = setInterval(() => {
      if (!dirty || pausedRef.current) return;
      dirty = false;
      const state = store.current;
      const newest = state.rows.length > 0 ? state.rows[0].seq : 0;
      // Rows that arrived since the last drawing and fell out before being drawn.
      const arrived = newest - state.drawn;
      if (arrived > DRAW) state.notDrawn += arrived - DRAW;
      state.drawn = newest;
      redraw((n) => n + 1);
    }, DRAW_EVERY_MS);
    return () => { controller.abort(); clearInterval(timer); };
  }, [active]);

  const state = store.current;
  const rows = state.rows.slice(0, DRAW);
  return html`<div class="page tail-page">
    <form class="toolbar" onSubmit=${(e) => { e.preventDefault(); setActive(filter.trim()); history.replaceState(null, '', hashOf('tail', { q: filter.trim() })); }}>
      <label for="tail-q">Filter</label>
      <input id="tail-q" type="search" value=${filter} onInput=${(e) => setFilter(e.target.value)} placeholder="verb:delete OR rule:*   (search syntax; empty: everything)" />
      <button class="button primary" type="submit">Apply</button>
      <button class="button" type="button" aria-pressed=${paused} onClick=${() => setPaused(!paused)} data-testid="pause">${paused ? 'Resume' : 'Pause'}</button>
    </form>
    <${ErrorBox} error=${error} />
    <div class="summary-line" role="status" aria-live="off">
      <span class=${connected ? 'live-dot on' : 'live-dot'} aria-hidden="true"></span><span data-testid="tail-status">${connected ? (paused ? 'Paused (still receiving)' : 'Live') : 'Not connected'}</span>
      · <span data-testid="tail-received">${formatCount(state.received)}</span> received
      · ${formatCount(state.notDrawn)} not drawn
      ${state.missed > 0 && html` · <span class="warning">${formatCount(state.missed)} missed by the server (too fast for this connection)</span>`}
    </div>
    <table class="grid tail" aria-label="Newest first">
      <thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Object</th></tr></thead>
      <tbody>${rows.map(({ type, item, seq }) => (type === 'alert'
        ? html`<tr key=${seq} class="tail-alert"><td>${formatTime(item.time)}</td><td><${Severity} severity=${item.severity} /></td><td>${cellText(item.actor)}</td>
            <td><a href=${hashOf('alerts', { alert: item.alert_id, group: 'none', from: '' })}>${item.title}</a></td><td>${item.namespace ? `${item.namespace}/` : ''}${item.name || ''}</td></tr>`
        : html`<tr key=${seq}><td>${formatTime(item.time)}</td><td>event</td><td>${cellText(item.user)}</td>
            <td>${item.verb || item.falco_rule || ''} ${item.resource || ''}${item.subresource ? `/${item.subresource}` : ''} ${item.response_code || ''}</td>
            <td>${item.namespace ? `${item.namespace}/` : ''}${item.name || item.pod_name || ''}</td></tr>`))}
      </tbody>
    </table>
    ${state.received === 0 && html`<p class="empty">Waiting for events…</p>`}
  </div>`;
}
