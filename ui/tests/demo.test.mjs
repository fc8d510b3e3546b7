// `kubetrail demo` as a new user meets it: it prints a one-time sign-in link; the link signs
// the browser in, leaves the address bar, and the alerts page fills while you watch; the same
// link a second time is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, freePort, launch } from './harness.mjs';

test('demo prints a one-time sign-in link that works once, and alerts arrive live', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubetrail-demo-ui-'));
  const port = await freePort();
  const demo = spawn(BIN, ['demo', '--dir', dir, '--listen', `127.0.0.1:${port}`, '--rate', '300', '--duration-secs', '300'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let output = '';
  demo.stdout.on('data', (chunk) => { output += chunk; });
  const browser = await launch();
  try {
    const deadline = Date.now() + 120000;
    let link;
    while (!(link = (output.match(/http:\/\/127\.0\.0\.1:\d+\/#signin=[A-Za-z0-9_]+/) || [])[0])) {
      assert.ok(Date.now() < deadline, `no sign-in link in the demo's output:\n${output}`);
      await new Promise((done) => setTimeout(done, 200));
    }
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
    await page.goto(link);
    await page.getByTestId('who').getByText('demo · admin').waitFor();
    assert.doesNotMatch(page.url(), /signin=/, 'the code left the address bar');
    assert.match(page.url(), /#\/alerts/);
    assert.equal(await page.evaluate(() => history.length <= 2 && !location.href.includes('signin')), true);
    // Alerts fill in while the demo runs.
    await page.locator('tbody tr').first().waitFor({ timeout: 90000 });
    assert.deepEqual(problems, []);
    await context.close();

    const again = await browser.newContext();
    const second = await again.newPage();
    await second.goto(link);
    await second.getByText(/already used or has expired/).waitFor();
    await second.getByLabel('API token').waitFor();
    await again.close();
  } finally {
    await browser.close();
    demo.kill('SIGINT');
    await new Promise((done) => { demo.on('exit', done); setTimeout(done, 10000); });
    rmSync(dir, { recursive: true, force: true });
  }
});
