// Starts a real `kubetrail serve` on loopback over generated audit traffic, with tokens of
// each role and a namespace-restricted one, and launches Debian's Chromium through
// playwright-core. Used by the browser tests (node --test).
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, mkdirSync, appendFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..');
export const BIN = process.env.KUBETRAIL_BIN
  || join(process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target'), 'debug', 'kubetrail');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const RESTRICTED_NAMESPACE = 'shop';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const token = (name) => `kt_${name}_${randomBytes(16).toString('hex')}`;

export async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function waitFor(check, what, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) { last = error; }
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** An audit event line of our own, `minutesAgo` before now. */
export function auditLine({ user = 'ui-test@example.com', verb = 'get', resource = 'configmaps', namespace = RESTRICTED_NAMESPACE, name = 'probe', code = 200, secondsAgo = 0 } = {}) {
  const time = new Date(Date.now() - secondsAgo * 1000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const path = namespace ? `/api/v1/namespaces/${namespace}/${resource}/${name}` : `/api/v1/${resource}/${name}`;
  return `${JSON.stringify({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: randomBytes(16).toString('hex'),
    stage: 'ResponseComplete', requestURI: path, verb,
    user: { username: user, groups: ['system:authenticated'] }, sourceIPs: ['10.20.30.40'], userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc',
    objectRef: { resource, namespace, name, apiVersion: 'v1' }, responseStatus: { metadata: {}, code },
    requestReceivedTimestamp: time, stageTimestamp: time,
  })}\n`;
}

/** A create logged at RequestResponse level with its body, our own fixture. */
function createLine(resource, namespace, body, { user = 'platform-admin@example.com', group = '', version = 'v1' } = {}) {
  const time = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const prefix = group ? `/apis/${group}/${version}` : '/api/v1';
  const path = namespace ? `${prefix}/namespaces/${namespace}/${resource}` : `${prefix}/${resource}`;
  return `${JSON.stringify({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: randomBytes(16).toString('hex'),
    stage: 'ResponseComplete', requestURI: path, verb: 'create',
    user: { username: user, groups: ['system:authenticated'] }, sourceIPs: ['10.20.30.41'], userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc',
    objectRef: { resource, namespace, name: body.metadata.name, apiGroup: group || undefined, apiVersion: version },
    responseStatus: { metadata: {}, code: 201 }, requestObject: body, responseObject: body,
    requestReceivedTimestamp: time, stageTimestamp: time,
  })}\n`;
}

const psaLabels = (level) => ({ 'pod-security.kubernetes.io/enforce': level, 'pod-security.kubernetes.io/enforce-version': 'latest' });

/** A namespace hardened to the guide: restricted Pod Security, default-deny ingress and
 *  egress, DNS-only egress, the default service account without token automount. */
export function hardenedNamespaceLines(namespace) {
  return [
    createLine('namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: psaLabels('restricted') } }),
    createLine('networkpolicies', namespace, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'default-deny', namespace }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } }, { group: 'networking.k8s.io' }),
    createLine('networkpolicies', namespace, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'dns-only', namespace }, spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }] } }, { group: 'networking.k8s.io' }),
    createLine('serviceaccounts', namespace, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace }, automountServiceAccountToken: false }),
  ];
}

/** A namespace that fails the guide: privileged Pod Security, no policies, a service account
 *  that automounts its token, a privileged pod from an image pinned by tag only. */
export function openNamespaceLines(namespace) {
  return [
    createLine('namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: psaLabels('privileged') } }),
    createLine('serviceaccounts', namespace, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } }),
    createLine('pods', namespace, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug-tools', namespace }, spec: { hostNetwork: true, containers: [{ name: 'shell', image: 'docker.io/library/ubuntu:24.04', securityContext: { privileged: true } }] } }),
  ];
}

/** A running server with its tokens: `{ base, tokens, logs, stop() }`. */
export async function startServer({ events = 20000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-ui-'));
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const start = new Date(Date.now() - 20 * 60 * 1000).toISOString();
  execFileSync(BIN, ['generate', '--events', String(events), '--seed', '11', '--attacks', '--start', start, '--out', join(logs, 'audit.log')], { stdio: 'ignore' });
  const tokens = { viewer: token('viewer'), analyst: token('analyst'), admin: token('admin'), restricted: token('restricted') };
  const port = await freePort();
  const config = join(dir, 'kubetrail.toml');
  writeFileSync(config, `
[ingest]
poll_interval_ms = 100
batch_max_wait_ms = 50
[[ingest.files]]
paths = ["${logs}/audit.log"]
cluster = "ui-test"
[store]
data_dir = "${join(dir, 'data')}"
[pipeline]
commit_interval_ms = 300
[api]
listen = "127.0.0.1:${port}"
rate_limit_per_second = 1000
rate_limit_burst = 2000
[[api.tokens]]
name = "viewer"
sha256 = "${sha256(tokens.viewer)}"
role = "viewer"
[[api.tokens]]
name = "analyst"
sha256 = "${sha256(tokens.analyst)}"
role = "analyst"
[[api.tokens]]
name = "admin"
sha256 = "${sha256(tokens.admin)}"
role = "admin"
[[api.tokens]]
name = "restricted"
sha256 = "${sha256(tokens.restricted)}"
role = "analyst"
namespaces = ["${RESTRICTED_NAMESPACE}"]
`);
  const log = join(dir, 'serve.log');
  const child = spawn(BIN, ['serve', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (chunk) => appendFileSync(log, chunk));
  const base = `http://127.0.0.1:${port}`;
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await fetch(`${base}/readyz`)).ok, 'serve to be ready');
    // Every generated event stored and indexed.
    await waitFor(async () => {
      const answer = await (await fetch(`${base}/api/v1/search?q=*&limit=1&from=2h`, { headers: { Authorization: `Bearer ${tokens.admin}` } })).json();
      return answer.total >= events;
    }, 'the generated events to be searchable');
  } catch (error) {
    let text = '';
    try { text = readFileSync(log, 'utf8').slice(-4000); } catch (_) { /* no log */ }
    stop();
    throw new Error(`${error.message}\n${text}`);
  }
  return { base, tokens, logs, dir, append: (line) => appendFileSync(join(logs, 'audit.log'), line), stop };
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page signed in with `tokenValue` through the sign-in form. Console errors, page errors
 *  and CSP violations are collected in `page.problems`. */
export async function signedIn(browser, base, tokenValue, { colorScheme = 'light', bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 820 }, colorScheme, bypassCSP, acceptDownloads: true });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (message) => { if (message.type() === 'error') page.problems.push(`console: ${message.text()}`); });
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  await page.goto(`${base}/`);
  await page.getByLabel('API token').fill(tokenValue);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).waitFor();
  return page;
}

export const AXE = join(ROOT, 'ui', 'node_modules', 'axe-core', 'axe.min.js');

/** axe-core's violations on the page (the page's context must bypass CSP to inject it). */
export async function axeViolations(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((violation) => `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes.slice(0, 3).map((node) => node.target.join(' ')).join('; ')}`);
  });
}
