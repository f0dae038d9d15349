// The web catalog (issue 15) in a real headless Chromium, against the worker under wrangler dev:
// pushes the repositories of fixtures.mjs through the registry API, then reads the rendered DOM
// of every page (the DOM contract of the README's "Web catalog") and checks it against what was
// pushed; logs in and out through the forms; checks that hostile annotations and labels are
// shown as text and that no script ran; saves a screenshot of every page at desktop and phone
// widths.
//
// Usage: REGISTRY_URL=http://127.0.0.1:PORT node tests/web/catalog.mjs
// (scripts/test runs it on a worker of its own, tests/web/run too; the worker must run with the
// users and private namespaces of tests/access.env, and with its queue, for scanning.)
//   ARTIFACTS  where screenshots go (default: target/test-artifacts/web)
//   CHROMIUM   the browser (default: /usr/bin/chromium, Debian's, from tests/web/setup)
//   COSIGN     cosign (default: tests/.tools/bin/cosign, from tests/clients/setup)
// Prints one line per check and `N passed, N failed`; exits non-zero if any check failed.
// Loopback only: the browser may request nothing but the worker (and the one cross-site page
// this test serves itself on another loopback origin), and is stopped on exit.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { FINDINGS, HOSTILE, MULTIARCH_ANNOTATIONS, NAMES, pushAll } from './fixtures.mjs';
import { CYCLONEDX, Registry, SCAN_REPORT } from './registry.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const origin = new URL(process.env.REGISTRY_URL ?? fail('REGISTRY_URL=http://127.0.0.1:PORT is required')).origin;
if (new URL(origin).hostname !== '127.0.0.1') fail(`${origin}: loopback (127.0.0.1) only`);
const artifacts = path.resolve(process.env.ARTIFACTS ?? path.join(root, 'target/test-artifacts/web'));
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const cosign = process.env.COSIGN ?? path.join(root, 'tests/.tools/bin/cosign');
// tests/access.env: each user's password is "<name>-password"; reader may pull private/*.
const ADMIN = ['admin', 'admin-password'];
const READER = ['reader', 'reader-password'];
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const CSP_DIRECTIVES = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
  "base-uri 'none'", "form-action 'self'"];
// The whole run, pushes and scans included, ends in this time or fails.
const TIME_LIMIT_MS = 6 * 60_000;

function fail(message) {
  console.error(`catalog.mjs: ${message}`);
  process.exit(2);
}

let passed = 0;
let failed = 0;
/// Runs one named check; a failure is reported and counted, and the checks after it still run.
async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`  ok  ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL  ${name}\n        ${String(error?.message ?? error).split('\n').join('\n        ')}`);
  }
}

const watchdog = setTimeout(() => fail(`not done after ${TIME_LIMIT_MS / 1000} s`), TIME_LIMIT_MS);
const runStarted = Date.now();

console.log(`pushing the test repositories to ${origin}`);
const admin = new Registry(origin, ...ADMIN);
const pushed = await pushAll(admin, cosign);
console.log(`  pushed in ${Math.round((Date.now() - runStarted) / 1000)} s`);

// The cross-site page: another loopback origin (localhost is another site than 127.0.0.1)
// whose form posts a login to the worker, as a forged request would.
const crossSite = http.createServer((request, response) => {
  response.setHeader('Content-Type', 'text/html; charset=utf-8');
  response.end(`<!doctype html><title>elsewhere</title><form id=forged method=post action="${origin}/login">
<input name=username value="${READER[0]}"><input name=password value="${READER[1]}"><input name=csrf value=forged>
<button type=submit>log in</button></form>`);
});
await new Promise((resolve) => crossSite.listen(0, '127.0.0.1', resolve));
const crossOrigin = `http://localhost:${crossSite.address().port}`;

fs.mkdirSync(artifacts, { recursive: true });
// Screenshots of an earlier run would pass for this one's.
for (const file of fs.readdirSync(artifacts)) {
  if (/-(desktop|phone)\.png$/.test(file)) fs.rmSync(path.join(artifacts, file));
}
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'web-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync'],
  viewport: DESKTOP,
  timeout: 60_000,
});
const screenshots = [];
try {
  await run();
} finally {
  await context.close();
  crossSite.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
console.log(`screenshots (${screenshots.length}) in ${artifacts}:`);
for (const file of screenshots) console.log(`  ${file}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

async function run() {
  // What must never happen, recorded over the whole run and asserted at its end.
  const dialogs = [];
  const violations = [];
  const pageErrors = [];
  const foreign = [];
  await context.exposeBinding('__cspViolation', (_source, violation) => violations.push(violation));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolation(`${location.pathname}: ${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
    });
  });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.origin === crossOrigin || url.protocol === 'data:') return route.continue();
    foreign.push(url.href);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.setDefaultNavigationTimeout(30_000);
  page.on('dialog', (dialog) => {
    dialogs.push(`${page.url()}: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      violations.push(`${page.url()}: ${message.text()}`);
    }
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });

  const ui = pageTools(page);

  // The home page, anonymous.
  let response = await page.goto(`${origin}/`);
  await check('home: 200, landmarks, the login link, CSP and public caching', async () => {
    assert.equal(response.status(), 200);
    await ui.frame(null);
    ui.anonymousHeaders(response);
  });
  await check('home: lists the public repositories with their latest tag, count and push time', async () => {
    const items = await ui.homeItems();
    const names = items.map((item) => item.name);
    for (const name of [NAMES.multiarch, NAMES.signed, NAMES.scanned, NAMES.hostile]) {
      assert.ok(names.includes(name), `${name} is not listed: ${names}`);
    }
    const multiarch = items.find((item) => item.name === NAMES.multiarch);
    assert.deepEqual(
      { href: multiarch.href, latest: multiarch.latest, count: multiarch.count },
      { href: `/r/${NAMES.multiarch}`, latest: '1.0', count: '2' },
    );
    ui.recent(multiarch.pushed, `${NAMES.multiarch}'s push time`);
    const scanned = items.find((item) => item.name === NAMES.scanned);
    assert.deepEqual({ latest: scanned.latest, count: scanned.count }, { latest: 'bookworm', count: '1' });
  });
  await check('home: the private repository is absent when anonymous', async () => {
    assert.ok(!(await ui.homeItems()).some((item) => item.name === NAMES.private));
    assert.equal(await page.locator(`[data-repository="${NAMES.private}"]`).count(), 0);
  });
  await check('home: a labelled search box in a search landmark', async () => {
    assert.equal(await page.locator('form#search[role=search] input#q[name=q]').count(), 1);
    assert.equal(await page.locator('label[for=q]').count(), 1);
  });
  await ui.screenshots('home');

  // Search.
  await check('search: typing "multi" and Enter lists web/multiarch only', async () => {
    await page.fill('#q', 'multi');
    await Promise.all([page.waitForURL(/[?&]q=multi(&|$)/), page.press('#q', 'Enter')]);
    assert.deepEqual((await ui.homeItems()).map((item) => item.name), [NAMES.multiarch]);
    assert.equal(await page.inputValue('#q'), 'multi');
  });
  await ui.screenshots('search');
  response = await page.goto(`${origin}/?q=${encodeURIComponent(HOSTILE.attribute)}`);
  await check('search: a hostile query is shown back as the input\'s value and finds nothing', async () => {
    assert.equal(response.status(), 200);
    assert.equal(await page.inputValue('#q'), HOSTILE.attribute);
    assert.deepEqual(await ui.homeItems(), []);
    await ui.noInjectedMarkup();
  });

  // The multi-arch repository.
  const { old, index } = pushed.multiarch;
  response = await page.goto(`${origin}/r/${NAMES.multiarch}`);
  await check('repository web/multiarch: 200, landmarks, heading, CSP and public caching', async () => {
    assert.equal(response.status(), 200);
    await ui.frame(null);
    ui.anonymousHeaders(response);
    assert.equal(await ui.text('h1'), NAMES.multiarch);
  });
  await check('repository web/multiarch: description and links from the OCI annotations', async () => {
    assert.equal(await ui.text('#description'), MULTIARCH_ANNOTATIONS['org.opencontainers.image.description']);
    const links = await ui.text('ul#links');
    for (const value of ['Apache-2.0', '1.0.0']) assert.ok(links.includes(value), `#links lacks ${value}: ${links}`);
    const source = MULTIARCH_ANNOTATIONS['org.opencontainers.image.source'];
    assert.equal(await page.locator(`ul#links a[href="${source}"]`).count(), 1, `no link to ${source}`);
  });
  const pull = `docker pull ${new URL(origin).host}/${NAMES.multiarch}:1.0`;
  await check('repository web/multiarch: the docker pull line of the newest tag, and its copy button', async () => {
    assert.equal(await ui.text('code#pull'), pull);
    const button = page.locator(`button.copy[data-copy="${pull}"]`);
    assert.equal(await button.count(), 1, `no button.copy[data-copy="${pull}"]`);
    await page.evaluate(() => navigator.clipboard.writeText(''));
    await button.click();
    await page.waitForFunction(async (want) => (await navigator.clipboard.readText()) === want, pull);
  });
  await check('repository web/multiarch: tags newest first, with digests, sizes and platforms as pushed', async () => {
    const rows = await ui.tagRows();
    assert.deepEqual(rows.map((row) => row.tag), ['1.0', '0.9']);
    ui.tagRow(rows[0], NAMES.multiarch, { digest: index.digest, bytes: index.bytes, platforms: index.platforms });
    ui.tagRow(rows[1], NAMES.multiarch, { digest: old.digest, bytes: old.bytes, platforms: [old.platform] });
    for (const row of rows) assert.ok(!row.badges.includes('signed'), `${row.tag} is not signed: ${row.badges}`);
  });
  await ui.screenshots('repository-multiarch');

  // The signed repository.
  response = await page.goto(`${origin}/r/${NAMES.signed}`);
  await check('repository web/signed: the cosign-signed tag has the signed badge', async () => {
    assert.equal(response.status(), 200);
    const row = (await ui.tagRows()).find((r) => r.tag === 'v1');
    assert.ok(row, 'no row for v1');
    ui.tagRow(row, NAMES.signed, { digest: pushed.signed.digest, bytes: pushed.signed.bytes, platforms: ['linux/amd64'] });
    assert.ok(row.badges.includes('signed'), `badges: ${row.badges}`);
  });
  await ui.screenshots('repository-signed');

  // The scanned repository.
  const scanned = pushed.scanned;
  response = await page.goto(`${origin}/r/${NAMES.scanned}`);
  await check('repository web/scanned: SBOM and vulnerability badges with counts by severity', async () => {
    assert.equal(response.status(), 200);
    const [row] = await ui.tagRows();
    ui.tagRow(row, NAMES.scanned, { digest: scanned.digest, bytes: scanned.bytes, platforms: ['linux/amd64'] });
    assert.ok(row.badges.includes('sbom'), `badges: ${row.badges}`);
    assert.ok(row.badges.includes('vulnerabilities'), `badges: ${row.badges}`);
    assert.ok(!row.badges.includes('signed'), `badges: ${row.badges}`);
    const counts = {};
    for (const [, severity] of FINDINGS) counts[severity] = (counts[severity] ?? 0) + 1;
    assert.deepEqual(row.severities, counts);
  });
  await ui.screenshots('repository-scanned');

  // Tag and digest pages.
  response = await page.goto(`${origin}/r/${NAMES.multiarch}/-/tag/1.0`);
  await check('tag web/multiarch:1.0: one section per platform with its layers and config', async () => {
    assert.equal(response.status(), 200);
    await ui.frame(null);
    ui.anonymousHeaders(response);
    assert.equal(await ui.text('h1'), `${NAMES.multiarch}:1.0`);
    const sections = await ui.platformSections();
    assert.deepEqual(sections.map((s) => s.platform).sort(), [...index.platforms].sort());
    for (const image of index.images) ui.platformSection(sections.find((s) => s.platform === image.platform), image);
  });
  await ui.screenshots('tag-multiarch');
  const arm64 = index.images.find((image) => image.platform === 'linux/arm64/v8');
  response = await page.goto(`${origin}/r/${NAMES.multiarch}/-/digest/${arm64.digest}`);
  await check('digest page of the arm64 image: its one platform, layers and config', async () => {
    assert.equal(response.status(), 200);
    const sections = await ui.platformSections();
    assert.deepEqual(sections.map((s) => s.platform), ['linux/arm64/v8']);
    ui.platformSection(sections[0], arm64);
  });
  await ui.screenshots('digest-arm64');
  response = await page.goto(`${origin}/r/${NAMES.scanned}/-/tag/bookworm`);
  await check('tag web/scanned:bookworm: the SBOM and scan report among the referrers', async () => {
    assert.equal(response.status(), 200);
    const referrers = await page.$$eval('table#referrers tr[data-digest]', (rows) =>
      rows.map((row) => `${row.dataset.artifactType} ${row.dataset.digest}`));
    assert.ok(referrers.includes(`${CYCLONEDX} ${scanned.report.sbom_digest}`), `referrers: ${referrers}`);
    assert.ok(referrers.includes(`${SCAN_REPORT} ${scanned.report.report_digest}`), `referrers: ${referrers}`);
  });
  await check('tag web/scanned:bookworm: the vulnerability list (on the page, or linked from it)', async () => {
    if ((await page.locator('table#vulnerabilities').count()) === 0) {
      const link = page.locator('main a[href*="vulnerabilit"]').first();
      assert.equal(await link.count(), 1, 'no table#vulnerabilities and no link to one');
      await Promise.all([page.waitForLoadState('load'), link.click()]);
      await ui.screenshots('vulnerabilities');
    }
    const rows = await page.$$eval('table#vulnerabilities tr[data-id]', (trs) =>
      trs.map((tr) => [tr.dataset.id, tr.dataset.severity]));
    assert.deepEqual(rows.sort(), [...FINDINGS].sort());
  });
  await page.goto(`${origin}/r/${NAMES.scanned}/-/tag/bookworm`);
  await ui.screenshots('tag-scanned');

  // Hostile annotations and labels.
  response = await page.goto(`${origin}/r/${NAMES.hostile}`);
  await check('repository web/hostile: annotations shown as text, only http(s) links, nothing injected', async () => {
    assert.equal(response.status(), 200);
    const description = await ui.text('#description');
    assert.ok(description.includes(HOSTILE.script) && description.includes(HOSTILE.attribute), description);
    const links = await ui.text('ul#links');
    for (const value of [HOSTILE.javascriptUrl, HOSTILE.attribute, HOSTILE.table, HOSTILE.single]) {
      assert.ok(links.includes(value), `#links lacks ${value}: ${links}`);
    }
    const hrefs = await page.$$eval('ul#links a', (as) => as.map((a) => a.getAttribute('href')));
    for (const href of hrefs) assert.match(href ?? '', /^https?:\/\//i, `a link that is not http(s): ${href}`);
    const [row] = await ui.tagRows();
    ui.tagRow(row, NAMES.hostile, { digest: pushed.hostile.digest, bytes: pushed.hostile.bytes, platforms: [pushed.hostile.platform] });
    await ui.noInjectedMarkup();
  });
  await ui.screenshots('repository-hostile');
  response = await page.goto(`${origin}/r/${NAMES.hostile}/-/tag/latest`);
  await check('tag web/hostile:latest: labels, env, cmd, history and platform shown as text, nothing injected', async () => {
    assert.equal(response.status(), 200);
    const sections = await ui.platformSections();
    assert.deepEqual(sections.map((s) => s.platform), [pushed.hostile.platform]);
    const [section] = sections;
    for (const value of [HOSTILE.script, `EVIL=${HOSTILE.attribute}`, HOSTILE.single, HOSTILE.table]) {
      assert.ok(section.configText.includes(value), `dl.config lacks ${value}: ${section.configText}`);
    }
    assert.ok(section.config.Labels?.includes(HOSTILE.attribute), `the hostile label key: ${section.config.Labels}`);
    assert.equal(section.history.length, 1, `ol.history: ${section.history}`);
    assert.ok(section.history[0].includes(HOSTILE.attribute), `ol.history: ${section.history}`);
    await ui.noInjectedMarkup();
  });
  await ui.screenshots('tag-hostile');

  // Missing and invisible pages.
  for (const [what, route] of [
    ['a missing repository', '/r/web/nothing-here'],
    ['a missing tag', `/r/${NAMES.multiarch}/-/tag/nope`],
    ['a missing digest', `/r/${NAMES.multiarch}/-/digest/sha256:${'0'.repeat(64)}`],
    ['the private repository, anonymous', `/r/${NAMES.private}`],
    ['the private repository\'s tag, anonymous', `/r/${NAMES.private}/-/tag/v1`],
  ]) {
    response = await page.goto(origin + route);
    await check(`${what} (${route}): a 404 page`, async () => {
      assert.equal(response.status(), 404);
      assert.equal(await ui.text('h1'), 'Not found');
      await ui.frame(null);
      assert.ok(!(await page.content()).includes(pushed.private.digest), 'the page names the private image');
    });
  }
  await ui.screenshots('not-found');

  // Logging in.
  response = await page.goto(`${origin}/login`);
  await check('login page: the form, labelled, with a csrf field', async () => {
    assert.equal(response.status(), 200);
    await ui.frame(null);
    assert.equal(await page.locator('form#login[method=post][action="/login"]').count(), 1);
    assert.equal(await page.locator('form#login input#username[name=username]').count(), 1);
    assert.equal(await page.locator('form#login input#password[name=password][type=password]').count(), 1);
    assert.equal(await page.locator('label[for=username]').count(), 1);
    assert.equal(await page.locator('label[for=password]').count(), 1);
    assert.ok(await page.locator('form#login input[name=csrf]').inputValue(), 'an empty csrf field');
    assert.equal(await page.locator('form#login button[type=submit]').count(), 1);
  });
  await ui.screenshots('login');
  await check('a wrong password: 401, p#login-error, no session cookie', async () => {
    await page.fill('#username', READER[0]);
    await page.fill('#password', 'wrong-password');
    const [answer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'),
      page.click('form#login button[type=submit]'),
    ]);
    assert.equal(answer.status(), 401);
    await page.waitForSelector('p#login-error');
    assert.equal(await ui.sessionCookie(), undefined);
  });
  await ui.screenshots('login-failed');
  await check('a login form posted from another site does not log in', async () => {
    await page.goto(`${crossOrigin}/`);
    await Promise.all([page.waitForURL((url) => url.origin === origin), page.click('form#forged button')]);
    assert.equal(await ui.sessionCookie(), undefined);
    await page.goto(`${origin}/`);
    await ui.frame(null);
  });
  await check('logging in as reader through form#login', async () => {
    await page.goto(`${origin}/login`);
    await page.fill('#username', READER[0]);
    await page.fill('#password', READER[1]);
    await Promise.all([page.waitForSelector('#user', { state: 'attached' }), page.click('form#login button[type=submit]')]);
  });
  await check('logged in: an HttpOnly, Secure, SameSite=Strict session cookie for an hour', async () => {
    const cookie = await ui.sessionCookie();
    assert.ok(cookie, 'no session cookie');
    assert.deepEqual(
      { httpOnly: cookie.httpOnly, secure: cookie.secure, sameSite: cookie.sameSite, path: cookie.path },
      { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' },
    );
    const lifetime = cookie.expires - Date.now() / 1000;
    assert.ok(lifetime > 3500 && lifetime <= 3600, `expires in ${lifetime} s`);
  });
  response = await page.goto(`${origin}/`);
  await check('logged in: the home page names the user and lists the private repository, not cached publicly', async () => {
    await ui.frame(READER[0]);
    ui.privateHeaders(response);
    assert.ok((await ui.homeItems()).some((item) => item.name === NAMES.private));
  });
  await ui.screenshots('home-logged-in');
  response = await page.goto(`${origin}/r/${NAMES.private}`);
  await check('logged in: the private repository\'s page and its tag', async () => {
    assert.equal(response.status(), 200);
    ui.privateHeaders(response);
    const [row] = await ui.tagRows();
    ui.tagRow(row, NAMES.private, { digest: pushed.private.digest, bytes: pushed.private.bytes, platforms: ['linux/amd64'] });
  });
  await ui.screenshots('repository-private');
  response = await page.goto(`${origin}/r/${NAMES.private}/-/tag/v1`);
  await check('logged in: the private tag page', async () => {
    assert.equal(response.status(), 200);
    ui.privateHeaders(response);
    const sections = await ui.platformSections();
    assert.equal(sections.length, 1);
    ui.platformSection(sections[0], pushed.private);
  });

  // Logging out.
  await check('logging out through form#logout', async () => {
    await Promise.all([page.waitForSelector('a#login-link', { state: 'attached' }), page.click('form#logout button')]);
  });
  await check('logged out: no session cookie, the private repository gone from the list and its page 404', async () => {
    assert.equal(await ui.sessionCookie(), undefined);
    await page.goto(`${origin}/`);
    await ui.frame(null);
    assert.ok(!(await ui.homeItems()).some((item) => item.name === NAMES.private));
    response = await page.goto(`${origin}/r/${NAMES.private}`);
    assert.equal(response.status(), 404);
  });

  await check('no dialog opened (no script ran)', () => assert.deepEqual(dialogs, []));
  await check('no Content-Security-Policy violation', () => assert.deepEqual(violations, []));
  await check('no script error', () => assert.deepEqual(pageErrors, []));
  await check('no request left the worker\'s origin', () => assert.deepEqual(foreign, []));
}

/// Reading the DOM contract off `page`, and the assertions the pages share.
function pageTools(page) {
  const text = async (selector) => (await page.locator(selector).first().textContent({ timeout: 5_000 }))?.trim();
  return {
    text,

    /// Landmarks, and the header's login link (anonymous, `user` null) or user and logout form.
    async frame(user) {
      for (const landmark of ['header', 'main', 'footer']) {
        assert.equal(await page.locator(landmark).count(), 1, `one <${landmark}>`);
      }
      assert.ok((await page.locator('header a[href="/"]').count()) >= 1, 'the site name links to /');
      if (user === null) {
        assert.equal(await page.locator('header a#login-link[href="/login"]').count(), 1, 'a#login-link');
        assert.equal(await page.locator('#user').count(), 0, 'no #user when anonymous');
      } else {
        assert.equal(await text('#user'), user);
        assert.equal(await page.locator('form#logout button').count(), 1, 'form#logout with a button');
        assert.equal(await page.locator('form#logout input[name=csrf]').count(), 1, 'form#logout carries csrf');
      }
    },

    anonymousHeaders(response) {
      const headers = response.headers();
      assertCsp(headers);
      assert.match(headers['cache-control'] ?? '', /\bpublic\b/, `Cache-Control: ${headers['cache-control']}`);
      assert.match(headers['cache-control'] ?? '', /\bmax-age=30\b/, `Cache-Control: ${headers['cache-control']}`);
      assert.match(headers.vary ?? '', /\bcookie\b/i, `Vary: ${headers.vary}`);
    },

    privateHeaders(response) {
      const headers = response.headers();
      assertCsp(headers);
      assert.match(headers['cache-control'] ?? '', /\bprivate\b/, `Cache-Control: ${headers['cache-control']}`);
      assert.match(headers['cache-control'] ?? '', /\bno-store\b/, `Cache-Control: ${headers['cache-control']}`);
    },

    recent(datetime, what) {
      const at = Date.parse(datetime ?? '');
      assert.ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(datetime ?? '') && !Number.isNaN(at), `${what}: ${datetime}`);
      // Whole seconds either way, and the worker shares this machine's clock.
      assert.ok(at >= runStarted - 60_000 && at <= Date.now() + 60_000, `${what} is not of this run: ${datetime}`);
    },

    async homeItems() {
      return page.$$eval('#repositories li[data-repository]', (items) => items.map((li) => ({
        name: li.dataset.repository,
        href: li.querySelector('a')?.getAttribute('href'),
        latest: li.querySelector('.latest-tag')?.textContent.trim(),
        count: li.querySelector('.tag-count')?.textContent.trim(),
        pushed: li.querySelector('time.pushed')?.getAttribute('datetime'),
      })));
    },

    async tagRows() {
      return page.$$eval('table#tags tr[data-tag]', (rows) => rows.map((tr) => ({
        tag: tr.dataset.tag,
        digest: tr.dataset.digest,
        links: [...tr.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
        shortDigest: tr.querySelector('.digest')?.textContent,
        digestTitles: [...tr.querySelectorAll('.digest[title], .digest [title]')].map((e) => e.getAttribute('title')),
        bytes: tr.querySelector('.size')?.dataset.bytes,
        platforms: [...tr.querySelectorAll('ul.platforms > li')].map((li) => li.textContent.trim()),
        pushed: tr.querySelector('time.pushed')?.getAttribute('datetime'),
        badges: [...tr.querySelectorAll('span.badge[data-badge]')].map((b) => b.dataset.badge),
        severities: Object.fromEntries([...tr.querySelectorAll('span.badge[data-badge=vulnerabilities] [data-severity]')]
          .map((e) => [e.dataset.severity, Number.parseInt(e.textContent.trim(), 10)])),
      })));
    },

    /// A tag row against what was pushed: digest, short digest, size, platforms, push time, link.
    tagRow(row, name, { digest, bytes, platforms }) {
      assert.ok(row, `no row for ${name}`);
      assert.equal(row.digest, digest, `${name}:${row.tag} data-digest`);
      assert.equal(row.bytes, String(bytes), `${name}:${row.tag} .size[data-bytes]`);
      assert.deepEqual([...row.platforms].sort(), [...platforms].sort(), `${name}:${row.tag} platforms`);
      const hex = digest.slice('sha256:'.length);
      assert.ok(row.shortDigest?.includes(hex.slice(0, 12)), `${name}:${row.tag} .digest: ${row.shortDigest}`);
      assert.ok(!row.shortDigest?.includes(hex), `${name}:${row.tag} .digest shows the full digest`);
      assert.ok(row.digestTitles.some((title) => title.includes(digest)), `${name}:${row.tag} the full digest in a title`);
      assert.ok(row.links.includes(`/r/${name}/-/tag/${row.tag}`), `${name}:${row.tag} links: ${row.links}`);
      this.recent(row.pushed, `${name}:${row.tag} time.pushed`);
    },

    async platformSections() {
      return page.$$eval('section.platform', (sections) => sections.map((section) => {
        const config = {};
        let key = null;
        for (const child of section.querySelector('dl.config')?.children ?? []) {
          if (child.tagName === 'DT') key = child.textContent.trim();
          else if (child.tagName === 'DD' && key !== null) {
            const times = [...child.querySelectorAll('time[datetime]')].map((t) => t.getAttribute('datetime'));
            config[key] = [config[key], child.textContent.trim(), ...times].filter(Boolean).join(' ');
          }
        }
        return {
          platform: section.getAttribute('data-platform'),
          layers: [...section.querySelectorAll('table.layers tr[data-digest]')].map((tr) => ({
            digest: tr.dataset.digest,
            size: Number(tr.dataset.bytes),
            mediaType: tr.querySelector('.media-type')?.textContent.trim(),
          })),
          config,
          configText: section.querySelector('dl.config')?.textContent ?? '',
          history: [...section.querySelectorAll('ol.history > li')].map((li) => li.textContent.trim()),
        };
      }));
    },

    /// A platform's section against the image pushed for it.
    platformSection(section, image) {
      assert.ok(section, `no section.platform for ${image.platform}`);
      assert.deepEqual(section.layers, image.layers, `${image.platform}: table.layers`);
      const settings = image.config.config;
      const expected = {
        Entrypoint: settings.Entrypoint,
        Cmd: settings.Cmd,
        Env: settings.Env,
        'Exposed ports': Object.keys(settings.ExposedPorts),
        Labels: Object.entries(settings.Labels).flat(),
        Created: [image.config.created.slice(0, 10)],
      };
      for (const [key, values] of Object.entries(expected)) {
        assert.ok(key in section.config, `${image.platform}: dl.config lacks ${key}: ${Object.keys(section.config)}`);
        for (const value of values) {
          assert.ok(section.config[key].includes(value), `${image.platform}: ${key} lacks ${value}: ${section.config[key]}`);
        }
      }
      assert.equal(section.history.length, image.config.history.length, `${image.platform}: ol.history`);
      assert.ok(section.history[0].includes(image.config.history[0].created_by), `${image.platform}: ${section.history}`);
    },

    /// Nothing that hostile text could have made: no element of its markup, no inline handler,
    /// no script but the worker's own static ones.
    async noInjectedMarkup() {
      const found = await page.evaluate(() => ({
        images: document.querySelectorAll('img[src="x"], svg[onload]').length,
        handlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
        scripts: [...document.scripts]
          .filter((s) => !s.src || new URL(s.src).origin !== location.origin || !new URL(s.src).pathname.startsWith('/_static/'))
          .map((s) => s.outerHTML),
      }));
      assert.deepEqual(found, { images: 0, handlers: 0, scripts: [] });
    },

    async sessionCookie() {
      const cookies = await page.context().cookies(origin);
      return cookies.find((cookie) => cookie.name === 'session' && cookie.value !== '');
    },

    /// Saves the page at desktop and phone widths; at phone width, nothing may scroll sideways.
    async screenshots(name) {
      for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
        await page.setViewportSize(size);
        const file = path.join(artifacts, `${name}-${label}.png`);
        await page.screenshot({ path: file, fullPage: true });
        screenshots.push(file);
      }
      await check(`${name}: no sideways scrolling at phone width`, async () => {
        const { width, culprits } = await page.evaluate(() => {
          // The innermost elements reaching past the window's right edge: what to wrap.
          const past = [...document.body.querySelectorAll('*')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5);
          const innermost = past.filter((e) => !past.some((other) => other !== e && e.contains(other)));
          const describe = (e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${[...e.classList].map((c) => `.${c}`).join('')}`
            + ` in ${e.parentElement?.tagName.toLowerCase()}: ${e.textContent.trim().slice(0, 60)}`;
          return { width: document.documentElement.scrollWidth, culprits: innermost.slice(0, 3).map(describe) };
        });
        assert.ok(width <= PHONE.width, `${width} px wide; too wide: ${culprits.join('; ')}`);
      });
      await page.setViewportSize(DESKTOP);
    },
  };
}

function assertCsp(headers) {
  const csp = headers['content-security-policy'] ?? '';
  for (const directive of CSP_DIRECTIVES) assert.ok(csp.includes(directive), `Content-Security-Policy lacks ${directive}: ${csp}`);
  assert.ok(!csp.includes('unsafe-'), `Content-Security-Policy: ${csp}`);
}
