// Benchmark: how long each page of the web UI takes to become interactive in headless
// Chromium against a real `kubetrail serve` over a large store (10M events by default).
//
//   node ui/bench/pages.mjs [--events 10000000] [--data DIR] [--bin PATH] [--runs 5]
//                           [--only TEXT] [--verbose]
//
// --only times the pages whose name contains TEXT; --verbose prints each page open's API
// requests with their durations (where a slow page spends its time).
//
// The store is built once with `kubetrail generate` + `kubetrail import` into DIR (kept, so a
// second run measures at once) with events ending now, so the pages' default ranges hold
// data. Each page is opened --runs times in a fresh tab of a signed-in session; a page counts
// as interactive when its own content is drawn (page-specific marker below), nothing is
// marked busy and no API request is in flight. Prints the median and worst per page.
// Not part of the test command: it needs a release build and minutes of import.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, freePort, launch, signedIn } from '../tests/harness.mjs';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    data: { type: 'string', default: '/tmp/kubetrail-ui-bench' },
    bin: { type: 'string', default: join(ROOT, 'target', 'release', 'kubetrail') },
    runs: { type: 'string', default: '5' },
    only: { type: 'string', default: '' },
    verbose: { type: 'boolean', default: false },
  },
});
const events = Number(args.events);
const runs = Number(args.runs);
const bin = resolve(args.bin);
const dir = resolve(args.data);
const dataDir = join(dir, 'data');
const EVENTS_PER_SECOND = 68; // the generator's simulated request rate

function log(message) { process.stderr.write(`${message}\n`); }

function buildStore() {
  if (existsSync(join(dir, 'built'))) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const span = events / EVENTS_PER_SECOND;
  const start = new Date(Date.now() - (span + 60) * 1000).toISOString();
  const file = join(dir, 'audit.jsonl');
  let began = Date.now();
  log(`generating ${events} events from ${start} ...`);
  execFileSync(bin, ['generate', '--events', String(events), '--seed', '5', '--attacks', '--start', start, '--out', file], { stdio: 'inherit' });
  log(`  ${((Date.now() - began) / 1000).toFixed(0)} s, ${(statSync(file).size / 1e9).toFixed(1)} GB; importing ...`);
  began = Date.now();
  execFileSync(bin, ['import', '--data-dir', dataDir, file], { stdio: 'inherit' });
  log(`  imported in ${((Date.now() - began) / 1000).toFixed(0)} s`);
  rmSync(file);
  rmSync(`${file}.labels.jsonl`, { force: true });
  writeFileSync(join(dir, 'built'), `${events}\n`);
}

async function startServe() {
  const token = `kt_bench_${randomBytes(16).toString('hex')}`;
  const port = await freePort();
  const config = join(dir, 'kubetrail.toml');
  // serve needs a source: an empty file it follows (the store is already built).
  const tailed = join(dir, 'live.log');
  writeFileSync(tailed, '');
  writeFileSync(config, `
[[ingest.files]]
paths = ["${tailed}"]
cluster = "bench"
[store]
data_dir = "${dataDir}"
[api]
listen = "127.0.0.1:${port}"
rate_limit_per_second = 10000
rate_limit_burst = 10000
[[api.tokens]]
name = "bench"
sha256 = "${createHash('sha256').update(token).digest('hex')}"
role = "admin"
`);
  const child = spawn(bin, ['serve', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  const began = Date.now();
  for (;;) {
    if (exited !== null) throw new Error(`serve exited with ${exited}`);
    try { if ((await fetch(`${base}/readyz`)).ok) break; } catch (_) { /* not listening yet */ }
    if (Date.now() - began > 600000) throw new Error('serve was not ready in 10 minutes');
    await new Promise((done) => setTimeout(done, 100));
  }
  log(`serve ready in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  // The posture state is loaded and its first report made in the background after start;
  // pages are timed once that is done (the time it took is printed on its own).
  const posture = Date.now();
  const answer = await fetch(`${base}/api/v1/posture?max_age_secs=3600`, { headers: { Authorization: `Bearer ${token}` } });
  if (!answer.ok) throw new Error(`posture: ${answer.status} ${await answer.text()}`);
  log(`posture report ready ${((Date.now() - began) / 1000).toFixed(1)} s after start (${((Date.now() - posture) / 1000).toFixed(1)} s waited)`);
  return { base, token, stop: () => child.kill('SIGKILL') };
}

async function get(base, token, path) {
  const response = await fetch(`${base}/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Pages to open, with the marker that says their own content is drawn. The timeline and
 *  history follow a busy user and object of the store, as an analyst's click would. */
async function pages(base, token) {
  const facets = await get(base, token, '/search?q=*&limit=1&from=24h&facets=user,resource');
  const user = facets.facets.user[0].value;
  const hit = (await get(base, token, '/search?q=resource:deployments AND verb:patch&limit=1&from=7d')).hits[0];
  const object = hit.event || hit;
  const history = new URLSearchParams({ resource: 'deployments', namespace: object.namespace, name: object.name }).toString();
  return [
    ['search (last 24 h, histogram, facets)', '#/search', 'table[data-loaded] tbody tr'],
    ['search with a query', `#/search?${new URLSearchParams({ q: 'verb:delete AND resource:secrets', from: '7d' })}`, 'table[data-loaded]'],
    ['alerts (grouped)', '#/alerts', 'table[data-loaded] tbody tr'],
    ['alerts (newest first)', '#/alerts?group=none', 'table[data-loaded] tbody tr'],
    [`timeline of a busy user (${user})`, `#/timeline?${new URLSearchParams({ actor: user })}`, '[data-testid="timeline-total"]'],
    ['history of a deployment', `#/history?${history}`, '.change'],
    ['live tail', '#/tail', '[data-testid="tail-status"]:has-text("Live")'],
    ['posture', '#/posture', '.posture-cluster'],
    ['rules (tests, coverage, hit counts)', '#/rules', '[data-testid="tests-failed"]'],
    ['SQL page', '#/sql', '#sql'],
  ];
}

/** Milliseconds from navigation until `marker` is visible, nothing is busy and no API call
 *  is in flight. */
async function timePage(page, base, hash, marker) {
  let pending = 0;
  const counted = (request) => request.url().includes('/api/v1/') && !request.url().includes('/api/v1/tail');
  const calls = [];
  const onRequest = (request) => { if (counted(request)) pending += 1; };
  const onDone = (request) => {
    if (!counted(request)) return;
    pending -= 1;
    const timing = request.timing();
    calls.push(`${Math.round(timing.startTime - began)}+${Math.round(timing.responseEnd)} ms ${request.url().replace(/^.*\/api\/v1/, '').slice(0, 100)}`);
  };
  page.on('request', onRequest);
  page.on('requestfinished', onDone);
  page.on('requestfailed', onDone);
  await page.goto('about:blank');
  calls.length = 0;
  const began = Date.now();
  await page.goto(`${base}/${hash}`);
  await page.locator(marker).first().waitFor({ timeout: 60000 });
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, { timeout: 60000, polling: 10 });
  while (pending > 0) await new Promise((done) => setTimeout(done, 5));
  const ready = Date.now();
  page.off('request', onRequest);
  page.off('requestfinished', onDone);
  page.off('requestfailed', onDone);
  if (args.verbose) log(`    ${ready - began} ms: ${calls.join('; ')}`);
  return ready - began;
}

async function main() {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: cargo build --release -p kubetrail`);
  buildStore();
  const server = await startServe();
  const browser = await launch();
  try {
    const stored = await get(server.base, server.token, '/search?q=*&limit=1&from=3650d');
    const page = await signedIn(browser, server.base, server.token);
    const list = await pages(server.base, server.token);
    const rows = [];
    for (const [name, hash, marker] of list.filter(([name]) => name.includes(args.only))) {
      const times = [];
      for (let run = 0; run < runs; run += 1) times.push(await timePage(page, server.base, hash, marker));
      times.sort((a, b) => a - b);
      rows.push([name, times[Math.floor(times.length / 2)], times[times.length - 1]]);
      log(`  ${name}: ${times.join(', ')} ms`);
    }
    if (page.problems.length > 0) throw new Error(`console errors: ${page.problems.join('; ')}`);
    const cpu = cpus()[0].model.trim();
    console.log(`bench ui: ${stored.total.toLocaleString('en')} stored events, ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; `
      + `Chromium headless, ${runs} opens per page (first open included), ms until interactive`);
    console.log(`| page | median ms | worst ms |\n|---|---:|---:|`);
    for (const [name, median, worst] of rows) console.log(`| ${name} | ${median} | ${worst} |`);
  } finally {
    await browser.close();
    server.stop();
  }
}

main().catch((error) => { console.error(error); process.exit(1); });
