// Rules: the running rules with their severity, ATT&CK ids, source file and alert counts
// over a time range; a rule's panel shows its rationale and YAML.
import { html, useState, useEffect, useCallback, api, query, navigate, formatCount, hashOf, SEVERITIES } from '../lib.js';
import { ErrorBox, Loading, Panel, Severity, TimePicker } from '../components.js';

export function RulesPage({ params }) {
  const from = params.from === undefined ? '30d' : params.from;
  const set = useCallback((changes) => navigate('rules', { ...params, from, ...changes }), [params, from]);
  const [rules, setRules] = useState(null);
  const [hits, setHits] = useState(new Map());
  const [error, setError] = useState(null);
  const [filter, setFilter] = useState(params.filter || '');
  useEffect(() => { api('/rules').then((answer) => setRules(answer.rules), setError); }, []);
  useEffect(() => {
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
    ${rules && html`<p class="summary-line"><strong data-testid="rule-count">${rules.length}</strong> rules loaded; ${hits.size} raised ${formatCount(total)} alerts in the range. Check a pack's inline tests and blind spots with <code>kubetrail rules test</code> and <code>kubetrail rules coverage AUDIT.log</code>.</p>`}
    <table class="grid" aria-label="Rules">
      <thead><tr><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Title</th><th scope="col">ATT&CK</th><th scope="col">Alerts</th><th scope="col">Source</th></tr></thead>
      <tbody>${shown
        .slice()
        .sort((a, b) => SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) || a.id.localeCompare(b.id))
        .map((rule) => html`<tr onClick=${() => set({ rule: rule.id })} class=${params.rule === rule.id ? 'selected' : ''}>
          <td><${Severity} severity=${rule.severity} /></td><td><code>${rule.id}</code></td><td>${rule.title}</td>
          <td>${(rule.attack || []).join(', ')}</td>
          <td>${hits.has(rule.id) ? html`<a href=${hashOf('alerts', { rule_id: rule.id, group: 'none', from })} onClick=${(e) => e.stopPropagation()}>${formatCount(hits.get(rule.id).count)}</a>` : '0'}</td>
          <td>${rule.origin}</td></tr>`)}
      </tbody>
    </table>
    ${open && html`<${Panel} title=${open.title} onClose=${() => set({ rule: undefined })} testid="rule-panel">
      <p><${Severity} severity=${open.severity} /> <code>${open.id}</code> · ${open.source}</p>
      <p>${open.description}</p>
      ${open.attack && open.attack.length > 0 && html`<p>ATT&CK: ${open.attack.join(', ')}</p>`}
      <h3>Definition</h3><pre class="code">${open.definition}</pre>
    </${Panel}>`}
  </div>`;
}
