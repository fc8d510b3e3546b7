// The web UI driven in headless Chromium against a real `kubetrail serve` with generated
// traffic: each page's job done as an analyst would, roles and namespace restrictions, the
// security headers, keyboard use, accessibility (axe-core) and no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, signedIn, axeViolations, auditLine, hardenedNamespaceLines, openNamespaceLines, RESTRICTED_NAMESPACE } from './harness.mjs';

let server;
let browser;
const SHOTS = process.env.KUBETRAIL_SCREENSHOTS;

before(async () => {
  server = await startServer();
  browser = await launch();
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
});

/** Opens the search page and waits until the results of exactly this query are shown. */
async function search(page, { q = '*', from = '2h', to = '' } = {}) {
  await page.goto(`${server.base}/#/search?${new URLSearchParams({ q, from, ...(to ? { to } : {}) })}`);
  await page.locator(`table[data-loaded="${`${q}|${from}|${to}`.replace(/"/g, '\\"')}"]`).waitFor();
}

const hashParams = (page) => Object.fromEntries(new URLSearchParams(new URL(page.url()).hash.split('?')[1] || ''));

test('every UI response carries a strict CSP and the security headers; no asset path escapes', async () => {
  for (const path of ['/', '/assets/app.js', '/assets/style.css', '/assets/vendor/preact.mjs', '/assets/nope.js']) {
    const response = await fetch(`${server.base}${path}`);
    const csp = response.headers.get('content-security-policy');
    assert.ok(csp, `${path}: no CSP`);
    assert.match(csp, /script-src 'self'(;|$)/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer', path);
  }
  for (const path of ['/assets/../Cargo.toml', '/assets/%2e%2e/%2e%2e/Cargo.toml', '/assets/..%2f..%2fCargo.toml', '/assets//etc/passwd']) {
    const response = await fetch(`${server.base}${path}`);
    assert.equal(response.status, 404, path);
  }
  const index = await (await fetch(`${server.base}/`)).text();
  assert.doesNotMatch(index, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page');
  // The UI serves no data: without a token the API answers 401.
  assert.equal((await fetch(`${server.base}/api/v1/search?q=*`)).status, 401);
});

test('sign in, search, drag the histogram, use facets, open an event, follow links', async () => {
  const page = await signedIn(browser, server.base, server.tokens.analyst);
  await search(page);
  const total = page.getByTestId('total');
  const all = Number((await total.innerText()).replace(/\D/g, ''));
  assert.ok(all >= 20000, `total ${all}`);

  // A query typed in the bar; `/` focuses it.
  await page.locator('body').click({ position: { x: 5, y: 500 } });
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'q');
  await page.keyboard.type('verb:delete');
  await page.keyboard.press('Enter');
  await page.locator('table[data-loaded^="verb:delete|"] tbody tr').first().waitFor();
  const verbs = await page.locator('tbody td.col-verb').allInnerTexts();
  assert.ok(verbs.length > 0 && verbs.every((verb) => verb === 'delete'), `verbs: ${verbs.slice(0, 5)}`);
  const deletes = Number((await total.innerText()).replace(/\D/g, ''));
  assert.ok(deletes > 0 && deletes < all);

  // Completion offers fields, then values from the facets.
  await page.locator('#q').fill('');
  await page.locator('#q').pressSequentially('names');
  await page.getByRole('option', { name: 'namespace:' }).waitFor();
  await page.keyboard.press('Tab');
  await page.getByRole('option').first().waitFor();
  assert.equal(await page.locator('#q').inputValue(), 'namespace:');

  // The histogram: dragging across zooms into an absolute range, kept in the URL.
  await search(page);
  const over = page.locator('.histogram .u-over');
  await over.waitFor();
  const box = await over.boundingBox();
  assert.ok(box && box.width > 100, `histogram box ${JSON.stringify(box)}`);
  await page.mouse.move(box.x + box.width * 0.55, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => /to=\d{4}-/.test(decodeURIComponent(location.hash)));
  const zoomed = hashParams(page);
  assert.ok(Date.parse(zoomed.from) < Date.parse(zoomed.to), JSON.stringify(zoomed));
  await page.waitForFunction((before) => {
    const text = document.querySelector('[data-testid=total]').innerText.replace(/\D/g, '');
    return Number(text) < before;
  }, all);
  // Back returns to the range before the zoom.
  await page.goBack();
  await page.waitForFunction(() => !location.hash.includes('to='));

  // A facet click adds a filter; the exclude button removes a value.
  await search(page);
  const verbFacet = page.locator('[data-facet=verb]');
  await verbFacet.locator('.facet-value').first().waitFor();
  const firstVerb = await verbFacet.locator('.facet-value .value').first().innerText();
  await verbFacet.locator('.facet-value').first().click();
  await page.waitForFunction((verb) => new URLSearchParams(location.hash.split('?')[1]).get('q') === `verb:${verb}`, firstVerb);
  await page.locator(`table[data-loaded^="verb:${firstVerb}|"] tbody tr`).first().waitFor();
  const filtered = await page.locator('tbody td.col-verb').allInnerTexts();
  assert.ok(filtered.every((verb) => verb === firstVerb));
  await search(page);
  await page.locator('[data-facet=verb] .facet-exclude').first().click();
  await page.waitForFunction((verb) => (new URLSearchParams(location.hash.split('?')[1]).get('q') || '').includes(`NOT verb:${verb}`), firstVerb);
  await page.locator(`table[data-loaded^="* NOT verb:${firstVerb}|"] tbody tr`).first().waitFor();
  assert.ok(!(await page.locator('tbody td.col-verb').allInnerTexts()).includes(firstVerb));

  // Keyboard: j moves, Enter opens the event panel with the raw JSON tree, Esc closes.
  await search(page, { q: 'resource:deployments verb:create' });
  await page.locator('body').click({ position: { x: 5, y: 500 } });
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  assert.equal(await page.locator('tbody tr.selected').getAttribute('data-index'), '1');
  await page.keyboard.press('k');
  await page.keyboard.press('Enter');
  const panel = page.getByTestId('event-panel');
  await panel.waitFor();
  await panel.getByTestId('raw-json').getByText('objectRef').first().waitFor();
  assert.ok(hashParams(page).event, 'the open event is in the URL');
  // Follow the object to its history.
  const objectLink = panel.locator('dd a[href^="#/history"]');
  const name = await objectLink.innerText();
  await objectLink.click();
  await page.getByTestId('changes').waitFor();
  assert.match(await page.locator('.page-title').innerText(), new RegExp(name));
  await page.locator('.change').first().waitFor();

  // Follow the user to the timeline.
  await page.goBack();
  await page.getByTestId('event-panel').waitFor();
  const userLink = page.getByTestId('event-panel').locator('dd a[href^="#/timeline"]').first();
  const user = await userLink.innerText();
  await userLink.click();
  await page.getByTestId('timeline-total').waitFor();
  assert.match(await page.locator('.page-title').innerText(), new RegExp(user.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.ok(Number((await page.getByTestId('timeline-total').innerText()).replace(/\D/g, '')) > 0);
  await page.keyboard.press('Escape');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('history shows the newest 100 changes and pages in older ones without gaps or repeats', async () => {
  const writes = 130;
  for (let i = 0; i < writes; i += 1) {
    server.append(auditLine({ verb: 'patch', name: 'history-probe', user: `editor-${i}@example.com`, secondsAgo: writes - i }));
  }
  const q = encodeURIComponent('name:history-probe AND verb:patch');
  const deadline = Date.now() + 20000;
  for (;;) {
    const answer = await (await fetch(`${server.base}/api/v1/search?q=${q}&from=1h&limit=1`, { headers: { Authorization: `Bearer ${server.tokens.admin}` } })).json();
    if (answer.total >= writes) break;
    assert.ok(Date.now() < deadline, `fixture events not stored: ${JSON.stringify(answer).slice(0, 200)}`);
    await new Promise((done) => setTimeout(done, 200));
  }
  const page = await signedIn(browser, server.base, server.tokens.analyst);
  await page.goto(`${server.base}/#/history?${new URLSearchParams({ resource: 'configmaps', namespace: 'shop', name: 'history-probe', from: '1h' })}`);
  const changes = page.locator('.change');
  await changes.first().waitFor();
  assert.equal(await changes.count(), 100);
  // textContent: changes out of view are not laid out (content-visibility), so they have no innerText.
  const editors = async () => (await page.locator('.change header a[href^="#/timeline"]').allTextContents());
  // Oldest first within the page: the newest 100 are editors 30 to 129.
  const newest = await editors();
  assert.equal(newest[0], 'editor-30@example.com');
  assert.equal(newest[99], 'editor-129@example.com');
  await page.getByText('100 newest changes shown').waitFor();
  await page.getByRole('button', { name: 'Show older changes' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('.change').length === n, writes);
  const all = await editors();
  assert.deepEqual(all, Array.from({ length: writes }, (_, i) => `editor-${i}@example.com`));
  assert.equal(await page.getByRole('button', { name: 'Show older changes' }).count(), 0, 'nothing older is left');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('alerts: grouped, filtered, opened, acknowledged with a note', async () => {
  const page = await signedIn(browser, server.base, server.tokens.analyst);
  await page.goto(`${server.base}/#/alerts?from=`);
  await page.locator('tbody tr').first().waitFor();
  const groups = await page.locator('tbody tr').count();
  assert.ok(groups > 0);
  await page.getByLabel('Severity at least').selectOption('high');
  await page.waitForFunction(() => location.hash.includes('min_severity=high'));
  await page.locator('table[data-loaded*="\\"min_severity\\":\\"high\\""] tbody tr').first().waitFor();
  const severities = await page.locator('tbody .severity').allInnerTexts();
  assert.ok(severities.every((severity) => ['high', 'critical'].includes(severity)), severities.join());
  // A group opens as the list of its alerts; an alert opens its panel.
  await page.locator('tbody tr').first().click();
  await page.waitForFunction(() => location.hash.includes('group=none') && location.hash.includes('rule_id='));
  await page.locator('tbody tr[data-alert-id]').first().click();
  const panel = page.getByTestId('alert-panel');
  await panel.waitFor();
  await panel.getByText('Contributing events').waitFor();
  await panel.locator('.event-list li').first().waitFor();
  await panel.locator('summary', { hasText: 'YAML' }).click();
  await panel.locator('pre.code').getByText('condition:').waitFor();
  await panel.getByLabel('Note').fill('checked with the platform team, ticket SEC-42');
  await panel.getByRole('button', { name: 'Acknowledge' }).click();
  await panel.getByTestId('acked').getByText('SEC-42').waitFor();
  assert.match(await panel.getByTestId('acked').innerText(), /analyst/);
  // The acknowledgement is stored: the API says so.
  const alertId = hashParams(page).alert;
  const answer = await page.evaluate(async (id) => {
    const response = await fetch(`/api/v1/alerts?acked=true&from=&limit=1000`, { headers: { Authorization: `Bearer ${sessionStorage.getItem('kubetrail.token')}` } });
    return (await response.json()).alerts.filter((alert) => alert.alert_id === id).length;
  }, alertId);
  assert.equal(answer, 1);
  // Search around it.
  await panel.getByRole('link', { name: /Search 15 minutes around it/ }).click();
  await page.waitForFunction(() => location.hash.startsWith('#/search') && location.hash.includes('to='));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('SQL console: an example compliance query runs and exports CSV', async () => {
  const page = await signedIn(browser, server.base, server.tokens.analyst);
  await page.goto(`${server.base}/#/sql`);
  await page.getByLabel('Examples').selectOption('Alerts per rule');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.getByTestId('sql-rows').waitFor();
  assert.ok(Number(await page.getByTestId('sql-rows').innerText()) > 0);
  for (const example of ['Who read secrets in a namespace (90 days)', 'Every cluster-admin binding ever created', 'All exec sessions by people', 'Pods created privileged or with host namespaces']) {
    await page.getByLabel('Examples').selectOption(example);
    const runs = Number(await page.locator('.sql-page').getAttribute('data-runs'));
    await page.getByRole('button', { name: 'Run' }).click();
    await page.locator(`.sql-page[data-runs="${runs + 1}"]`).waitFor();
    assert.equal(await page.locator('.error').count(), 0, `${example}: ${await page.locator('.error').allInnerTexts()}`);
  }
  await page.locator('#sql').fill("SELECT verb, count(*) AS n FROM events GROUP BY verb ORDER BY n DESC");
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.match(csv.split('\n')[0], /^verb,n/);
  assert.ok(csv.split('\n').length > 3);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('live tail shows a new event as it arrives, and pausing stops drawing, not counting', async () => {
  const page = await signedIn(browser, server.base, server.tokens.analyst);
  await page.goto(`${server.base}/#/tail`);
  await page.getByTestId('tail-status').getByText('Live', { exact: true }).waitFor();
  server.append(auditLine({ name: 'ui-tail-probe', user: 'tail-probe@example.com' }));
  await page.locator('table.tail').getByText('ui-tail-probe').waitFor({ timeout: 20000 });
  await page.getByTestId('pause').click();
  const before = Number((await page.getByTestId('tail-received').innerText()).replace(/\D/g, ''));
  server.append(auditLine({ name: 'ui-tail-probe-paused', user: 'tail-probe@example.com' }));
  await page.waitForTimeout(2500);
  assert.equal(await page.locator('table.tail').getByText('ui-tail-probe-paused').count(), 0, 'drawn while paused');
  await page.getByTestId('pause').click();
  await page.locator('table.tail').getByText('ui-tail-probe-paused').waitFor({ timeout: 20000 });
  assert.ok(Number((await page.getByTestId('tail-received').innerText()).replace(/\D/g, '')) > before);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('posture shows the known state of a hardened and an open namespace, with evidence', async () => {
  for (const line of hardenedNamespaceLines('ui-hardened')) server.append(line);
  for (const line of openNamespaceLines('ui-open')) server.append(line);
  // Stored and committed before the page asks.
  const deadline = Date.now() + 20000;
  for (;;) {
    const answer = await (await fetch(`${server.base}/api/v1/search?q=${encodeURIComponent('namespace:ui-open OR name:ui-open OR namespace:ui-hardened OR name:ui-hardened')}&from=1h&limit=1`, { headers: { Authorization: `Bearer ${server.tokens.admin}` } })).json();
    if (answer.total >= 7) break;
    assert.ok(Date.now() < deadline, `fixture events not stored: ${JSON.stringify(answer).slice(0, 200)}`);
    await new Promise((done) => setTimeout(done, 200));
  }
  const page = await signedIn(browser, server.base, server.tokens.viewer);
  await page.goto(`${server.base}/#/posture`);
  const hardened = page.locator('tr[data-namespace="ui-hardened"]');
  await hardened.waitFor({ timeout: 20000 });
  const cell = (row, label) => row.getByRole('button', { name: new RegExp(`^${label}`) });
  assert.equal(await cell(hardened, 'Pod Security of ui-hardened').innerText(), 'restricted');
  for (const label of ['Default-deny ingress', 'Default-deny egress', 'DNS-only egress', 'SA token automount off']) {
    assert.equal(await cell(hardened, label).innerText(), 'pass', `ui-hardened ${label}`);
  }
  const open = page.locator('tr[data-namespace="ui-open"]');
  assert.equal(await cell(open, 'Pod Security of ui-open').innerText(), 'privileged');
  for (const label of ['Default-deny ingress', 'Default-deny egress', 'SA token automount off', 'No privileged / host-namespace workloads', 'Images pinned by digest']) {
    assert.equal(await cell(open, label).innerText(), 'fail', `ui-open ${label}`);
  }
  // A failing cell names its offender and links to the evidence.
  await cell(open, 'No privileged / host-namespace workloads').click();
  const detail = page.getByTestId('posture-detail');
  await detail.getByRole('link', { name: 'ui-open/debug-tools' }).first().waitFor();
  await detail.getByRole('link', { name: /evidence events/ }).click();
  await page.getByTestId('total').getByText(/^[1-9]/).waitFor();
  assert.ok(Number((await page.getByTestId('total').innerText()).replace(/\D/g, '')) >= 1);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('rules: the running rules with alert counts, inline tests and coverage at the audit level', async () => {
  const page = await signedIn(browser, server.base, server.tokens.viewer);
  await page.goto(`${server.base}/#/rules?from=`);
  await page.getByTestId('tests-failed').waitFor({ timeout: 60000 });
  assert.ok(Number(await page.getByTestId('rule-count').innerText()) >= 100);
  assert.equal(await page.getByTestId('tests-failed').innerText(), '0');
  assert.ok(Number(await page.getByTestId('blind-count').innerText()) >= 0);
  // A rule with alerts links to them; its panel shows coverage and the YAML.
  const row = page.locator('tbody tr', { has: page.locator('a[href^="#/alerts"]') }).first();
  await row.click();
  const panel = page.getByTestId('rule-panel');
  await panel.getByText(/^Coverage:/).waitFor();
  await panel.locator('pre.code').getByText('condition:').waitFor();
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a viewer token is not offered SQL or acknowledgement', async () => {
  const page = await signedIn(browser, server.base, server.tokens.viewer);
  const nav = page.getByRole('navigation', { name: 'Pages' });
  assert.equal(await nav.getByRole('link', { name: 'SQL' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Export CSV' }).count(), 0);
  await page.goto(`${server.base}/#/sql`);
  await page.getByTestId('total').waitFor();
  assert.match(page.url(), /#\/sql/, 'the URL stays');
  await page.goto(`${server.base}/#/alerts?from=&group=none`);
  await page.locator('tbody tr[data-alert-id]').first().click();
  await page.getByTestId('alert-panel').getByText('Your role cannot acknowledge alerts').waitFor();
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a namespace-restricted token sees only its namespace everywhere', async () => {
  const page = await signedIn(browser, server.base, server.tokens.restricted);
  assert.match(await page.getByTestId('who').innerText(), new RegExp(`namespaces ${RESTRICTED_NAMESPACE}`));
  await page.goto(`${server.base}/#/search?from=2h&q=*&cols=time,namespace,name`);
  await page.locator('tbody tr').first().waitFor();
  const namespaces = new Set(await page.locator('tbody td.col-namespace').allInnerTexts());
  assert.deepEqual([...namespaces], [RESTRICTED_NAMESPACE]);
  const facetValues = await page.locator('[data-facet=namespace] .facet-value .value').allInnerTexts();
  assert.deepEqual([...new Set(facetValues)], [RESTRICTED_NAMESPACE]);
  await page.goto(`${server.base}/#/alerts?from=&group=none`);
  await page.waitForTimeout(1000);
  for (const row of await page.locator('tbody tr[data-alert-id]').all()) {
    await row.click();
    const namespace = await page.getByTestId('alert-panel').locator('dt:text-is("namespace") + dd').innerText();
    assert.equal(namespace, RESTRICTED_NAMESPACE);
    await page.keyboard.press('Escape');
    break;
  }
  await page.goto(`${server.base}/#/sql`);
  await page.locator('#sql').fill('SELECT DISTINCT namespace FROM events');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.getByTestId('sql-rows').waitFor();
  const cells = await page.locator('table[aria-label="Query results"] tbody td').allInnerTexts();
  assert.deepEqual([...new Set(cells)], [RESTRICTED_NAMESPACE]);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('every page passes axe-core in light and dark themes, and screenshots are taken', async () => {
  for (const colorScheme of ['light', 'dark']) {
    const page = await signedIn(browser, server.base, server.tokens.admin, { colorScheme, bypassCSP: true });
    for (const [name, route, ready] of [
      ['search', '#/search?from=2h&q=*', 'tbody tr'],
      ['alerts', '#/alerts?from=', 'tbody tr'],
      ['timeline', '#/timeline?from=&actor=kubernetes-admin', 'tbody tr'],
      ['tail', '#/tail', 'table.tail'],
      ['sql', '#/sql', '#sql'],
      ['posture', '#/posture', '[data-testid=posture]'],
      ['rules', '#/rules', 'tbody tr'],
      ['event', '#/search?from=2h&q=verb%3Acreate%20resource%3Adeployments', 'tbody tr'],
    ]) {
      await page.goto(`${server.base}/${route}`);
      await page.locator(ready).first().waitFor();
      if (name === 'event') {
        await page.locator('tbody tr').first().click();
        await page.getByTestId('raw-json').waitFor();
      }
      await page.waitForTimeout(300);
      const violations = await axeViolations(page);
      assert.deepEqual(violations, [], `${name} (${colorScheme})`);
      if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}-${colorScheme}.png`) });
    }
    assert.deepEqual(page.problems, []);
    await page.context().close();
  }
});
