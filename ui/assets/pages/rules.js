// Rules: the running rules with their severity, ATT&CK ids, source file and alert counts
// over a time range; a rule's panel shows its rationale and YAML.
import { html, useState, useCallback, api, query, navigate, formatCount, hashOf, SEVERITIES, useFetchEffect } from '../lib.js';
import { ErrorBox, Loading, Panel, Severity, TimePicker } from '../components.js';

function testCell(status, id) {
  if (!status) return '…';
  const tests = status.tests[id];
  if (!tests) return html`<span class="muted">none</span>`;
  return tests.failed > 0
    ? html`<span class="status status-fail">${tests.failed} failing</span>`
    : html`<span class="status status-pass" title=${`${tests.passed} inline tests pass`}>${tests.passed} pass</span>`;
}

const COVERAGE_CLASS = { ok: 'pass', partial: 'unknown', blind: 'fail', no_events: 'unknown', no_source: 'unknown' };

function coverageCell(status, id) {
  if (!status) return '…';
  const line = status.coverage.get(id);
  if (!line) return '';
  return html`<span class=${`status status-${COVERAGE_CLASS[line.status] || 'unknown'}`} title=${line.message}>${line.status.replace('_', ' ')}</span>`;
}

export function RulesPage({ params }) {
  const from = params.from === undefined ? '30d' : params.from;
  const set = useCallback((changes) => navigate('rules', { ...params, from, ...changes }), [params, from]);
  const [rules, setRules] = useState(null);
  const [hits, setHits] = useState(new Map());
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const [filter, setFilter] = useState(params.filter || '');
  useFetchEffect(() => { api('/rules').then((answer) => setRules(answer.rules), setError); }, []);
  useFetchEffect(() => {
    setStatus(null);
    api(`/rules/status${query({ from: from || '3650d' })}`).then((answer) => setStatus({
      tests: answer.tests,
      coverage: new Map(answer.coverage.map((line) => [line.rule_id, line])),
      events: answer.coverage_events,
    }), setError);
    api(`/alerts${query({ from, group_by: 'rule_id', limit: 1000 })}`).then(
      (answer) => setHits(new Map((answer.groups || []).map((group) => [group.rule_id, group]))),
      setError,
    );
  }, [from]);
  const needle = filter.toLowerCase();
  const shown = (rules || []).filter((rule) => !needle || `${rule.id} ${rule.title} ${(rule.attack || []).join(' ')}`.toLowerCase().includes(needle));
  const open = params.rule && rules ? rules.find((rule) => rule.id === params.rule) : null;
  const total = [...hits.values()].reduce((sum, group) => sum + group.count, 0);
  return html`<div class="page rules-page">
    <div class="toolbar">
      <label for="rule-filter">Filter</label>
      <input id="rule-filter" type="search" value=${filter} placeholder="id, title or ATT&CK id" onInput=${(e) => setFilter(e.target.value)} />
      <span>Alert counts over</span> <${TimePicker} from=${from} to="" onChange=${(f) => set({ from: f })} />
    </div>
    <${ErrorBox} error=${error} /><${Loading} when=${!rules && !error} />
    ${rules && html`<p class="summary-line"><strong data-testid="rule-count">${rules.length}</strong> rules loaded; ${hits.size} raised ${formatCount(total)} alerts in the range.
      ${status ? html` Inline tests: <strong data-testid="tests-failed">${Object.values(status.tests).reduce((n, t) => n + t.failed, 0)}</strong> failing of ${Object.values(status.tests).reduce((n, t) => n + t.passed + t.failed, 0)}.
        Coverage over the latest ${formatCount(status.events)} events: <strong data-testid="blind-count">${[...status.coverage.values()].filter((line) => line.status === 'blind').length}</strong> rules blind at your audit level, ${[...status.coverage.values()].filter((line) => line.status === 'partial').length} partly.` : html` <${Loading} when=${true} />`}</p>`}
    <table class="grid" aria-label="Rules">
      <thead><tr><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Title</th><th scope="col">ATT&CK</th><th scope="col">Alerts</th><th scope="col">Tests</th><th scope="col">Coverage</th><th scope="col">Source</th></tr></thead>
      <tbody>${shown
        .slice()
        .sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.id.localeCompare(b.id))
        .map((rule) => html`<tr onClick=${() => set({ rule: rule.id })} class=${params.rule === rule.id ? 'selected' : ''}>
          <td><${Severity} severity=${rule.severity} /></td><td><code>${rule.id}</code></td><td>${rule.title}</td>
          <td>${(rule.attack || []).join(', ')}</td>
          <td>${hits.has(rule.id) ? html`<a href=${hashOf('alerts', { rule_id: rule.id, group: 'none', from })} onClick=${(e) => e.stopPropagation()}>${formatCount(hits.get(rule.id).count)}</a>` : '0'}</td>
          <td>${testCell(status, rule.id)}</td>
          <td>${coverageCell(status, rule.id)}</td>
          <td>${rule.origin}</td></tr>`)}
      </tbody>
    </table>
    ${open && html`<${Panel} title=${open.title} onClose=${() => set({ rule: undefined })} testid="rule-panel">
      <p><${Severity} severity=${open.severity} /> <code>${open.id}</code> · ${open.source}</p>
      <p>${open.description}</p>
      ${open.attack && open.attack.length > 0 && html`<p>ATT&CK: ${open.attack.join(', ')}</p>`}
      ${status && status.coverage.has(open.id) && html`<p>Coverage: <strong>${status.coverage.get(open.id).status}</strong> (needs ${status.coverage.get(open.id).needs} level): ${status.coverage.get(open.id).message}</p>`}
      ${status && status.tests[open.id] && status.tests[open.id].failures.map((failure) => html`<p class="error">Inline test “${failure.name}” expected ${failure.expected} alerts, got ${failure.got ?? failure.error}</p>`)}
      <h3>Definition</h3><pre class="code">${open.definition}</pre>
    </${Panel}>`}
  </div>`;
}
