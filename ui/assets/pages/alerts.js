// Alerts: newest first or grouped (repeats folded), filtered by severity, rule, namespace,
// actor and state; a panel with the contributing events, the rule (YAML, ATT&CK, rationale),
// acknowledgement with a note, and a link to search around the alert.
import { html, useState, useEffect, useRef, useCallback, api, query, navigate, formatTime, formatCount, useKeys, SEVERITIES, hashOf, useFetchEffect } from '../lib.js';
import { TimePicker, ErrorBox, Loading, Panel, Severity, TimelineLink, HistoryLink, NamespaceLink } from '../components.js';

let rulesCache = null;
export function loadRules() {
  if (!rulesCache) rulesCache = api('/rules').then((answer) => new Map(answer.rules.map((rule) => [rule.id, rule])), (error) => { rulesCache = null; throw error; });
  return rulesCache;
}

function shiftTime(time, minutes) {
  return new Date(Date.parse(time) + minutes * 60000).toISOString();
}

function AlertPanel({ alertId, alert, me, onClose, onAcked }) {
  const [current, setCurrent] = useState(alert);
  const [events, setEvents] = useState([]);
  const [rule, setRule] = useState(null);
  const [note, setNote] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { setCurrent(alert); }, [alert, alertId]);
  useEffect(() => {
    if (!current) return;
    let live = true;
    Promise.all(current.event_ids.slice(0, 20).map((id) => api(`/events/${encodeURIComponent(id)}`).catch(() => ({ event_id: id, missing: true }))))
      .then((list) => live && setEvents(list));
    loadRules().then((rules) => live && setRule(rules.get(current.rule_id) || null), () => {});
    return () => { live = false; };
  }, [current && current.alert_id]);
  if (!current) return html`<${Panel} title="Alert" onClose=${onClose} testid="alert-panel"><p>Alert ${alertId} is not on this page.</p></${Panel}>`;
  const ack = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api(`/alerts/${encodeURIComponent(current.alert_id)}/ack`, { method: 'POST', body: note ? { note } : {} });
      setCurrent({ ...current, ack: answer });
      onAcked(current.alert_id, answer);
    } catch (err) { setError(err); }
    setBusy(false);
  };
  const around = { q: current.actor ? `user:"${current.actor}"` : '*', from: shiftTime(current.time, -15), to: shiftTime(current.time, 15) };
  return html`<${Panel} title=${current.title} onClose=${onClose} testid="alert-panel">
    <p class="alert-summary"><${Severity} severity=${current.severity} /> ${current.summary}</p>
    <dl class="fields">
      <dt>time</dt><dd>${formatTime(current.time)}</dd>
      <dt>rule</dt><dd><code>${current.rule_id}</code></dd>
      <dt>cluster</dt><dd>${current.cluster}</dd>
      ${current.actor && html`<dt>actor</dt><dd><${TimelineLink} actor=${current.actor} /></dd>`}
      ${current.namespace && html`<dt>namespace</dt><dd><${NamespaceLink} namespace=${current.namespace} /></dd>`}
      ${current.name && html`<dt>object</dt><dd>${current.resource} <${HistoryLink} resource=${current.resource} namespace=${current.namespace} name=${current.name} cluster=${current.cluster} /></dd>`}
      ${current.attack && current.attack.length > 0 && html`<dt>ATT&CK</dt><dd>${current.attack.join(', ')}</dd>`}
      ${Object.entries(current.fields || {}).map(([key, value]) => html`<dt>${key}</dt><dd>${Array.isArray(value) ? value.join(', ') : String(value)}</dd>`)}
    </dl>
    <p><a class="button" href=${hashOf('search', around)}>Search 15 minutes around it</a></p>
    <section aria-label="Acknowledgement">
      ${current.ack
        ? html`<p class="acked" data-testid="acked">Acknowledged by <strong>${current.ack.by}</strong> at ${formatTime(current.ack.at)}${current.ack.note ? html`: “${current.ack.note}”` : ''}</p>`
        : me && me.can.ack
          ? html`<form class="ack-form" onSubmit=${ack}>
              <label for="ack-note">Note</label>
              <input id="ack-note" type="text" value=${note} onInput=${(e) => setNote(e.target.value)} placeholder="What you found, ticket id…" />
              <button class="button primary" type="submit" disabled=${busy}>Acknowledge</button>
            </form>`
          : html`<p class="muted">Open. Your role cannot acknowledge alerts.</p>`}
      <${ErrorBox} error=${error} />
    </section>
    <h3>Contributing events (${current.event_ids.length})</h3>
    <ul class="event-list">
      ${events.map((event) => html`<li><a href=${hashOf('search', { q: `event_id:${event.event_id}`, from: '', event: event.event_id })}>${event.missing ? event.event_id : `${formatTime(event.time)} ${event.raw && event.raw.verb || ''} ${event.raw && event.raw.objectRef ? `${event.raw.objectRef.resource || ''} ${event.raw.objectRef.namespace ? `${event.raw.objectRef.namespace}/` : ''}${event.raw.objectRef.name || ''}` : event.raw && event.raw.rule || ''}`}</a></li>`)}
    </ul>
    ${rule && html`<h3>Rule</h3>
      <p>${rule.description}</p>
      <p class="muted">Defined in ${rule.origin}</p>
      <details><summary>YAML</summary><pre class="code">${rule.definition}</pre></details>`}
  </${Panel}>`;
}

export function AlertsPage({ params, me }) {
  const from = params.from === undefined ? '7d' : params.from;
  const to = params.to || '';
  const grouped = params.group !== 'none';
  const set = useCallback((changes, options) => navigate('alerts', { ...params, from, to, ...changes }, options), [params, from, to]);
  const [rows, setRows] = useState({ alerts: [], groups: [], total: 0, next: null });
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState(-1);
  const [panelAlert, setPanelAlert] = useState(null);
  const filters = { from, to, min_severity: params.min_severity, rule_id: params.rule_id, namespace: params.namespace, actor: params.actor, acked: params.acked };
  const key = JSON.stringify(filters) + grouped;
  const generation = useRef(0);
  const lastKey = useRef(null);
  // A range that ends now refreshes every few seconds, so new alerts appear as they fire.
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (to) return undefined;
    const timer = setInterval(() => { if (document.visibilityState === 'visible') setTick((n) => n + 1); }, 5000);
    return () => clearInterval(timer);
  }, [to]);

  useFetchEffect(() => {
    const mine = ++generation.current;
    setLoading(true);
    setError(null);
    if (lastKey.current !== key) setSelected(-1);
    lastKey.current = key;
    api(`/alerts${query({ ...filters, group_by: grouped ? 'rule_id,severity' : undefined, limit: 200 })}`).then((answer) => {
      if (mine !== generation.current) return;
      const groups = (answer.groups || []).slice().sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || b.count - a.count);
      setRows({ alerts: answer.alerts || [], groups, total: answer.total || 0, next: answer.next_cursor, key });
      setLoading(false);
    }, (err) => { if (mine === generation.current) { setError(err); setLoading(false); } });
  }, [key, tick]);

  useEffect(() => {
    if (!params.alert) { setPanelAlert(null); return; }
    const found = rows.alerts.find((alert) => alert.alert_id === params.alert);
    if (found) { setPanelAlert(found); return; }
    // Opened from a group's sample or a link: find it by id among the recent alerts.
    api(`/alerts${query({ from: '', limit: 1000, rule_id: params.rule_id })}`).then((answer) => {
      setPanelAlert((answer.alerts || []).find((alert) => alert.alert_id === params.alert) || null);
    }, setError);
  }, [params.alert, rows]);

  const more = () => {
    api(`/alerts${query({ ...filters, limit: 200, cursor: rows.next })}`).then((answer) => {
      setRows((old) => ({ ...old, alerts: old.alerts.concat(answer.alerts || []), next: answer.next_cursor }));
    }, setError);
  };
  const list = grouped ? rows.groups : rows.alerts;
  const open = (index) => {
    const row = list[index];
    if (!row) return;
    if (grouped) set({ group: 'none', rule_id: row.rule_id, min_severity: undefined });
    else set({ alert: row.alert_id });
  };
  useKeys({
    j: () => setSelected((index) => Math.min(index + 1, list.length - 1)),
    k: () => setSelected((index) => Math.max(index - 1, 0)),
    Enter: () => selected >= 0 && open(selected),
    Escape: () => params.alert && set({ alert: undefined }),
  }, [list, selected, params.alert, grouped]);
  const onAcked = (id, ack) => setRows((old) => ({ ...old, alerts: old.alerts.map((alert) => (alert.alert_id === id ? { ...alert, ack } : alert)) }));

  return html`<div class="page alerts-page">
    <form class="toolbar filters" onSubmit=${(e) => e.preventDefault()} aria-label="Alert filters">
      <label>Severity at least
        <select value=${params.min_severity || ''} onChange=${(e) => set({ min_severity: e.target.value || undefined, alert: undefined })}>
          <option value="">any</option>
          ${SEVERITIES.map((severity) => html`<option value=${severity}>${severity}</option>`)}
        </select>
      </label>
      <label>Rule <input type="text" value=${params.rule_id || ''} placeholder="k8s.cluster_admin_binding" onChange=${(e) => set({ rule_id: e.target.value || undefined, alert: undefined })} /></label>
      <label>Namespace <input type="text" value=${params.namespace || ''} onChange=${(e) => set({ namespace: e.target.value || undefined, alert: undefined })} /></label>
      <label>Actor <input type="text" value=${params.actor || ''} onChange=${(e) => set({ actor: e.target.value || undefined, alert: undefined })} /></label>
      <label>State
        <select value=${params.acked || ''} onChange=${(e) => set({ acked: e.target.value || undefined, alert: undefined })}>
          <option value="">all</option><option value="false">open</option><option value="true">acknowledged</option>
        </select>
      </label>
      <label class="check"><input type="checkbox" checked=${grouped} onChange=${(e) => set({ group: e.target.checked ? undefined : 'none', alert: undefined })} /> Group repeats</label>
      <${TimePicker} from=${from} to=${to} onChange=${(f, t) => set({ from: f, to: t, alert: undefined })} />
    </form>
    <${ErrorBox} error=${error} />
    <div class="summary-line"><span data-testid="alert-total"><strong>${formatCount(grouped ? rows.groups.reduce((sum, group) => sum + group.count, 0) : rows.total)}</strong> alerts${grouped ? html` in ${rows.groups.length} groups` : ''}</span> <${Loading} when=${loading} /></div>
    <table class="grid" aria-label=${grouped ? 'Alert groups' : 'Alerts, newest first'} aria-busy=${loading} data-loaded=${rows.key}>
      <thead><tr>${grouped
        ? html`<th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Count</th><th scope="col">First</th><th scope="col">Last</th>`
        : html`<th scope="col">Time</th><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Summary</th><th scope="col">State</th>`}</tr></thead>
      <tbody>
        ${grouped
          ? rows.groups.map((group, index) => html`<tr data-index=${index} class=${index === selected ? 'selected' : ''} aria-selected=${index === selected} onClick=${() => open(index)}>
              <td><${Severity} severity=${group.severity} /></td><td><code>${group.rule_id}</code></td><td>${formatCount(group.count)}</td>
              <td>${formatTime(group.first_time)}</td><td>${formatTime(group.last_time)}</td></tr>`)
          : rows.alerts.map((alert, index) => html`<tr data-index=${index} data-alert-id=${alert.alert_id} class=${index === selected ? 'selected' : ''} aria-selected=${index === selected} onClick=${() => { setSelected(index); open(index); }}>
              <td>${formatTime(alert.time)}</td><td><${Severity} severity=${alert.severity} /></td><td><code>${alert.rule_id}</code></td>
              <td class="summary">${alert.summary}</td><td>${alert.ack ? 'acknowledged' : 'open'}</td></tr>`)}
      </tbody>
    </table>
    ${!loading && list.length === 0 && !error && html`<p class="empty">No alerts match these filters.</p>`}
    ${!grouped && rows.next && html`<button type="button" class="button" onClick=${more}>Load more</button>`}
    ${params.alert && html`<${AlertPanel} alertId=${params.alert} alert=${panelAlert} me=${me} onClose=${() => set({ alert: undefined })} onAcked=${onAcked} />`}
  </div>`;
}
