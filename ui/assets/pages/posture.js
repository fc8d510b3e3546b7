// Posture: the hardening checklist per cluster and namespace, derived from the object bodies
// the audit stream has shown (`GET /api/v1/posture`). Each cell says pass, fail or unknown;
// opening it shows why, the offending objects, the evidence events and, when unknown, what
// to change in the audit policy.
import { html, useState, useEffect, useCallback, api, query, navigate, hashOf, formatCount, formatTime } from '../lib.js';
import { ErrorBox, Loading, Panel, TimePicker, NamespaceLink } from '../components.js';

export const CHECK_TITLES = {
  pod_security_enforce: 'Pod Security enforced',
  default_deny_ingress: 'Default-deny ingress',
  default_deny_egress: 'Default-deny egress',
  dns_only_egress: 'DNS-only egress',
  service_account_automount: 'SA token automount off',
  workload_automount: 'Workloads without token automount',
  privileged_workloads: 'No privileged / host-namespace workloads',
  sensitive_host_paths: 'No sensitive hostPath',
  unpinned_images: 'Images pinned by digest',
  untrusted_registries: 'Trusted registries only',
  wildcard_roles: 'No wildcard roles',
  cluster_admin_bindings: 'No cluster-admin bindings',
  anonymous_bindings: 'No bindings to anonymous or all users',
};
const STATUS_TEXT = { pass: 'pass', fail: 'fail', unknown: 'unknown' };

function evidenceSearch(ids) {
  return hashOf('search', { q: ids.map((id) => `event_id:${id}`).join(' OR '), from: '' });
}

function CheckDetail({ check, scope, onClose }) {
  return html`<${Panel} title=${`${CHECK_TITLES[check.id] || check.id} · ${scope}`} onClose=${onClose} testid="posture-detail">
    <p><span class=${`status status-${check.status}`}>${STATUS_TEXT[check.status]}</span> ${check.summary}</p>
    ${check.hint && html`<p class="warning">${check.hint}</p>`}
    ${check.objects.length > 0 && html`<h3>Objects</h3><table class="grid"><thead><tr><th scope="col">Resource</th><th scope="col">Object</th><th scope="col">Why</th></tr></thead>
      <tbody>${check.objects.map((object) => html`<tr><td>${object.resource}</td>
        <td><a href=${hashOf('history', { resource: object.resource, namespace: object.namespace || undefined, name: object.name })}>${object.namespace ? `${object.namespace}/` : ''}${object.name}</a></td><td>${object.reason}</td></tr>`)}</tbody></table>`}
    ${check.event_ids.length > 0
      ? html`<p><a class="button" href=${evidenceSearch(check.event_ids)}>Show the ${check.event_ids.length} evidence events</a></p>`
      : html`<p class="muted">No event decided this check.</p>`}
  </${Panel}>`;
}

function Cell({ check, onOpen }) {
  if (!check) return html`<td class="posture-cell">—</td>`;
  return html`<td class=${`posture-cell ${check.status}`}>
    <button type="button" class=${`status status-${check.status}`} title=${check.summary} onClick=${onOpen}
      aria-label=${`${CHECK_TITLES[check.id] || check.id}: ${check.status}`}>${STATUS_TEXT[check.status]}</button>
  </td>`;
}

export function PosturePage({ params }) {
  const from = params.from || '';
  const set = useCallback((changes) => navigate('posture', { ...params, ...changes }), [params]);
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);
  useEffect(() => {
    // A report up to a minute old comes at once; while it is stale, ask again until the newer
    // one is made.
    let live = true;
    let timer;
    const load = (attempt) => {
      api(`/posture${query({ from, cluster: params.cluster, max_age_secs: from ? undefined : 60 })}`).then((answer) => {
        if (!live) return;
        setData(answer);
        setLoading(Boolean(answer.stale));
        if (answer.stale && attempt < 60) timer = setTimeout(() => load(attempt + 1), 1000);
      }, (err) => { if (live) { setError(err); setLoading(false); } });
    };
    setLoading(true);
    setError(null);
    load(0);
    return () => { live = false; clearTimeout(timer); };
  }, [from, params.cluster]);
  const open = params.check ? params.check.split('|') : null; // cluster|namespace|check
  let detail = null;
  if (open && data) {
    const [clusterName, namespace, id] = open;
    const cluster = data.clusters.find((c) => c.cluster === clusterName);
    const checks = cluster && (namespace ? (cluster.namespaces.find((n) => n.namespace === namespace) || {}).checks : cluster.checks);
    const check = checks && checks.find((c) => c.id === id);
    if (check) detail = html`<${CheckDetail} check=${check} scope=${namespace ? `${clusterName}/${namespace}` : clusterName} onClose=${() => set({ check: undefined })} />`;
  }
  const namespaceChecks = data && data.clusters.length > 0 && data.clusters[0].namespaces.length > 0 ? data.clusters[0].namespaces[0].checks.map((check) => check.id) : [];
  return html`<div class="page posture-page" data-testid="posture" aria-busy=${loading}>
    <div class="toolbar">
      <p class="muted">The hardening checklist, from the object bodies the audit stream has shown. <strong>unknown</strong> means the audit level never showed the body: the cell says what to log.</p>
      <span class="spacer"></span>
      <span>Events read:</span><${TimePicker} from=${from} to="" onChange=${(f) => set({ from: f })} />
    </div>
    <${ErrorBox} error=${error} /><${Loading} when=${loading} />
    ${data && html`<p class="summary-line">${formatCount(data.objects)} objects known from ${formatCount(data.writes_read)} writes (${formatCount(data.unknown_objects)} without a body), as of ${formatTime(data.as_of)} UTC, answered in ${data.took_ms.toFixed(0)} ms</p>`}
    ${data && data.clusters.length === 0 && html`<p class="empty">No writes to namespaces, policies, service accounts, RBAC or workloads in the range.</p>`}
    ${data && data.clusters.map((cluster) => html`<section class="posture-cluster" aria-label=${`Cluster ${cluster.cluster}`}>
      <h2>Cluster <code>${cluster.cluster}</code></h2>
      ${cluster.checks && html`<table class="grid posture-table" aria-label=${`Cluster-wide checks of ${cluster.cluster}`}>
        <thead><tr>${cluster.checks.map((check) => html`<th scope="col">${CHECK_TITLES[check.id] || check.id}</th>`)}</tr></thead>
        <tbody><tr>${cluster.checks.map((check) => html`<${Cell} check=${check} onOpen=${() => set({ check: `${cluster.cluster}||${check.id}` })} />`)}</tr></tbody>
      </table>`}
      <div class="scroll-x"><table class="grid posture-table" aria-label=${`Namespaces of ${cluster.cluster}`}>
        <thead><tr><th scope="col">Namespace</th><th scope="col">Pod Security</th>${namespaceChecks.filter((id) => id !== 'pod_security_enforce').map((id) => html`<th scope="col">${CHECK_TITLES[id] || id}</th>`)}</tr></thead>
        <tbody>${cluster.namespaces.map((ns) => {
          const byId = new Map(ns.checks.map((check) => [check.id, check]));
          const psa = byId.get('pod_security_enforce');
          return html`<tr data-namespace=${ns.namespace}>
            <th scope="row"><${NamespaceLink} namespace=${ns.namespace} /></th>
            <td class=${`posture-cell ${psa ? psa.status : ''}`}>${psa && html`<button type="button" class=${`status status-${psa.status}`} title=${psa.summary}
              aria-label=${`Pod Security of ${ns.namespace}: ${ns.pod_security.enforce || psa.status}`}
              onClick=${() => set({ check: `${cluster.cluster}|${ns.namespace}|pod_security_enforce` })}>${ns.pod_security.enforce || psa.status}</button>`}</td>
            ${namespaceChecks.filter((id) => id !== 'pod_security_enforce').map((id) => html`<${Cell} check=${byId.get(id)} onOpen=${() => set({ check: `${cluster.cluster}|${ns.namespace}|${id}` })} />`)}
          </tr>`;
        })}</tbody>
      </table></div>
    </section>`)}
    ${detail}
  </div>`;
}
