// SQL console: read-only SQL over the `events` and `alerts` tables, a results table, CSV
// export and example compliance queries.
import { html, useState, useEffect, useRef, api, download, formatCount, cellText } from '../lib.js';
import { ErrorBox, Loading } from '../components.js';

export const EXAMPLES = [
  ['Who read secrets in a namespace (90 days)', `SELECT "user", name, verb, count(*) AS reads, max(time) AS last_read
FROM events
WHERE resource = 'secrets' AND verb IN ('get', 'list', 'watch')
  AND namespace = 'kube-system' AND response_code < 400
  AND time > now() - INTERVAL '90 days'
GROUP BY "user", name, verb
ORDER BY reads DESC
LIMIT 200`],
  ['Every cluster-admin binding ever created', `SELECT time, "user", verb, resource, namespace, name, response_code
FROM events
WHERE resource IN ('clusterrolebindings', 'rolebindings')
  AND verb IN ('create', 'update', 'patch')
  AND raw LIKE '%"roleRef":%"name":"cluster-admin"%'
ORDER BY time DESC
LIMIT 500`],
  ['All exec sessions by people', `SELECT time, "user", namespace, name AS pod, array_to_string(exec_command, ' ') AS command, source_ips
FROM events
WHERE subresource IN ('exec', 'attach') AND actor_kind = 'human'
  AND (stage IS NULL OR stage = 'ResponseComplete' OR stage = 'ResponseStarted')
ORDER BY time DESC
LIMIT 500`],
  ['Pods created privileged or with host namespaces', `SELECT time, "user", namespace, name, response_code,
  raw LIKE '%"privileged":true%' AS privileged,
  raw LIKE '%"hostNetwork":true%' OR raw LIKE '%"hostPID":true%' OR raw LIKE '%"hostIPC":true%' AS host_namespaces
FROM events
WHERE resource = 'pods' AND verb = 'create' AND subresource IS NULL
  AND (raw LIKE '%"privileged":true%' OR raw LIKE '%"hostNetwork":true%'
       OR raw LIKE '%"hostPID":true%' OR raw LIKE '%"hostIPC":true%')
ORDER BY time DESC
LIMIT 500`],
  ['Alerts per rule', `SELECT rule_id, severity, count(*) AS alerts, max(time) AS last
FROM alerts
GROUP BY rule_id, severity
ORDER BY alerts DESC`],
];

const STORE_KEY = 'kubetrail.sql';

export function SqlPage({ me }) {
  const [sql, setSql] = useState(sessionStorage.getItem(STORE_KEY) || EXAMPLES[4][1]);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [runs, setRuns] = useState(0);
  const editor = useRef(null);
  useEffect(() => { sessionStorage.setItem(STORE_KEY, sql); }, [sql]);
  if (me && !me.can.sql) {
    return html`<div class="page"><p class="empty">Your token's role (${me.role}) cannot run SQL; ask for an analyst token.</p></div>`;
  }
  const run = async (event) => {
    if (event) event.preventDefault();
    setLoading(true);
    setError(null);
    try {
      setResult(await api('/sql', { method: 'POST', body: { sql } }));
    } catch (err) { setError(err); setResult(null); }
    setLoading(false);
    setRuns((n) => n + 1);
  };
  const exportCsv = async () => {
    setError(null);
    try {
      const response = await api('/sql', { method: 'POST', body: { sql, format: 'csv' }, raw: true });
      download('kubetrail-query.csv', await response.text());
    } catch (err) { setError(err); }
  };
  return html`<div class="page sql-page" aria-busy=${loading} data-runs=${runs}>
    <form onSubmit=${run} class="sql-form">
      <label for="sql">SQL over the tables <code>events</code> and <code>alerts</code> (read-only; <kbd>Ctrl</kbd>+<kbd>Enter</kbd> runs)</label>
      <textarea id="sql" ref=${editor} rows="9" spellcheck="false" value=${sql} onInput=${(e) => setSql(e.target.value)}
        onKeyDown=${(e) => { if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') run(e); }}></textarea>
      <div class="toolbar">
        <button class="button primary" type="submit" disabled=${loading}>Run</button>
        <button class="button" type="button" onClick=${exportCsv} disabled=${loading}>Export CSV</button>
        <${Loading} when=${loading} />
        <label for="examples">Examples</label>
        <select id="examples" onChange=${(e) => { const found = EXAMPLES.find(([title]) => title === e.target.value); if (found) setSql(found[1]); e.target.value = ''; }}>
          <option value="">Compliance queries…</option>
          ${EXAMPLES.map(([title]) => html`<option value=${title}>${title}</option>`)}
        </select>
      </div>
    </form>
    <${ErrorBox} error=${error} />
    ${result && html`<div>
      <p class="summary-line"><strong data-testid="sql-rows">${formatCount(result.row_count)}</strong> rows in ${result.took_ms.toFixed(1)} ms${result.truncated ? ' (truncated: export CSV for all rows)' : ''}</p>
      <div class="scroll-x"><table class="grid" aria-label="Query results">
        <thead><tr>${result.columns.map((column) => html`<th scope="col" title=${column.type}>${column.name}</th>`)}</tr></thead>
        <tbody>${result.rows.map((row) => html`<tr>${result.columns.map((column) => html`<td>${cellText(row[column.name])}</td>`)}</tr>`)}</tbody>
      </table></div>
    </div>`}
  </div>`;
}
