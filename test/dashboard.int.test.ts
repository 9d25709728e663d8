import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  mkdirSync,
  constants,
  existsSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { describe, expect, it } from 'vitest';
import { GT_BIN, gtAsync, json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';

/**
 * `gt dashboard` as a person uses it: the real command (the built binary) serving a session town whose
 * daemon runs, opened in a real headless Chromium (Debian's package, driven by puppeteer-core, which
 * downloads no browser). The page must follow the town without a reload, act through the town's own calls
 * once the browser has opened the address with the token that gt dashboard printed (and only then), and
 * refuse what does not come from its own page; many tabs of one browser share one stream (a browser
 * opens at most six connections to a host, so a stream per tab would stall the seventh tab), and follow the
 * town across a restart of the dashboard. Waits are generous: how fast a page follows is the benchmark's
 * business (the figures measured are printed).
 */

const fixture = useSessionTowns();

/** Debian's chromium (CI installs it), or undefined: then the browser test is skipped, and says so. */
function findChromium(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const file = join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const CHROMIUM = findChromium();
if (CHROMIUM === undefined)
  // eslint-disable-next-line no-console -- says why the browser test did not run
  console.warn('dashboard.int.test.ts: no chromium on PATH, the browser test is skipped (apt-get install chromium)');

type Running = {
  /** The address it printed (with the token, when it offers actions). */
  url: string;
  /** The same without the token. */
  base: string;
  pid: number;
  read_only: boolean;
  proc: ChildProcess;
  stderr: () => string;
};

/** `gt dashboard --port <port> --json …` in the background (port 0 picks one), once it has said where it listens. */
async function startDashboard(
  f: SessionTown,
  args: string[] = [],
  port = 0,
  env: Record<string, string | undefined> = f.env,
): Promise<Running> {
  const proc = spawn(process.execPath, [GT_BIN, 'dashboard', '--port', String(port), '--json', ...args], {
    cwd: f.town.root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  let told: Omit<Running, 'proc' | 'stderr' | 'base'> | undefined;
  await eventually(() => {
    if (proc.exitCode !== null) throw new Error(`gt dashboard exited ${proc.exitCode}: ${err}`);
    try {
      told = JSON.parse(out) as Omit<Running, 'proc' | 'stderr' | 'base'>;
      return true;
    } catch {
      return false;
    }
  }, 'gt dashboard to print its address');
  if (told === undefined) throw new Error('no address');
  return { ...told, base: new URL('/', told.url).href, proc, stderr: () => err };
}

/** The session cookie a response sets, as a Cookie header sends it back (`name=value`). */
function cookieOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const set = headers['set-cookie'];
  const first = Array.isArray(set) ? set[0] : set;
  return first?.split(';')[0];
}

/** SIGTERM, as Ctrl-C would; it must close by itself, cleanly. Killed if it does not. */
async function stopDashboard(d: Running): Promise<number | null> {
  if (d.proc.exitCode !== null) return d.proc.exitCode;
  const exited = new Promise<number | null>((resolve) => d.proc.once('exit', (code) => resolve(code)));
  d.proc.kill('SIGTERM');
  const timer = setTimeout(() => d.proc.kill('SIGKILL'), 10_000);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A raw HTTP request with headers fetch would not let a test set (Host). */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An element's text (or an attribute), read in the page; null when there is no such element. */
async function textOf(page: Page, selector: string, attribute?: string): Promise<string | null> {
  const sel = JSON.stringify(selector);
  const v: unknown = await page.evaluate(
    attribute === undefined
      ? `document.querySelector(${sel})?.textContent ?? null`
      : `document.querySelector(${sel})?.getAttribute(${JSON.stringify(attribute)}) ?? null`,
  );
  return typeof v === 'string' ? v : null;
}

async function launch(f: SessionTown): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // A step that hangs fails in seconds, not after the default three minutes.
    protocolTimeout: 30_000,
    // Starting the browser on a busy machine can take a while.
    timeout: 90_000,
    userDataDir: join(f.base, 'chromium-profile'),
    args: [
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
    ],
  });
}

/** The page is loaded and its stream is connected. `withoutSharedWorker`: as a browser that has none. */
async function open(browser: Browser | BrowserContext, url: string, withoutSharedWorker = false): Promise<Page> {
  const page = await browser.newPage();
  if (withoutSharedWorker) await page.evaluateOnNewDocument('delete window.SharedWorker');
  await page.setViewport({ width: 1400, height: 900 });
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  await page.waitForSelector('#live.on', { timeout: 15_000 });
  return page;
}

/** How many streams the dashboard feeds now. */
async function streams(url: string): Promise<number> {
  const r = (await (await fetch(`${url}healthz`)).json()) as { ok: boolean; streams: number };
  expect(r.ok).toBe(true);
  return r.streams;
}

/** Every page shows what `shown` (an expression) tests for, without a reload; how long the slowest took. */
async function allShow(pages: readonly Page[], shown: string, timeout = 15_000): Promise<number> {
  const t0 = Date.now();
  await Promise.all(pages.map((p) => p.waitForFunction(shown, { timeout, polling: 'mutation' })));
  return Date.now() - t0;
}

describe('gt dashboard', () => {
  it.skipIf(CHROMIUM === undefined)(
    'follows the town in a real browser without a reload, acts from a browser that opened the printed address, and refuses the rest',
    async () => {
      const f = await fixture('dashboard');
      const s = f.store();
      const bead = await s.create({ title: 'runs long', description: '```sh\nsleep 600\n```' }, 'mayor');
      expect(f.run('sling', bead.id, 'gastown/polecats/toast').status).toBe(0);
      await eventually(() => f.trace('ga-toast').some((t) => t.step === 'running'), 'the work to start', 30_000);
      // A second polecat with nothing to do sits idle at its prompt: a nudge is typed at once.
      expect(f.run('polecat', 'add', 'gastown', 'nux').status).toBe(0);
      const nux = f.run('session', 'start', 'gastown/polecats/nux');
      expect(nux.status, nux.stderr).toBe(0);
      expect(f.run('daemon', 'start', '--tick', '1').status).toBe(0);

      // The browser opener `--open` runs: a stand-in that notes what it was handed.
      const bin = join(f.base, 'bin');
      mkdirSync(bin);
      const opened = join(f.base, 'opened.txt');
      writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`);
      chmodSync(join(bin, 'xdg-open'), 0o755);
      const withOpener = { ...f.env, PATH: `${bin}${delimiter}${f.env.PATH ?? ''}` };

      let d = await startDashboard(f, ['--open'], 0, withOpener);
      let browser: Browser | undefined;
      try {
        expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/u);
        const token = new URL(d.url).searchParams.get('token') ?? '';
        expect(d.read_only).toBe(false);
        browser = await launch(f);

        // The printed address: the browser lands on the page without the token, holding the session.
        const home = await open(browser, d.url);
        expect(home.url()).toBe(d.base);
        await home.waitForSelector('tr[data-agent="gastown/polecats/toast"] button[data-action="restart"]');
        expect(await textOf(home, 'header nav')).toContain('Merge queue');
        expect(await home.content()).not.toContain(token);
        expect(await textOf(home, '.readonly')).toBeNull();
        const [session] = await browser.cookies();
        expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/', session: true });
        expect(session?.value).not.toBe(token);
        // The page: what needs you, the agents, the events; the agent's own page with its sessions.
        const agentPage = await open(browser, `${d.base}agent?address=${encodeURIComponent('gastown/polecats/toast')}`);
        const before = await s.openSession('gastown/polecats/toast');
        if (before === null) throw new Error('toast has no open session');
        await agentPage.waitForSelector(`tr[data-session="${before.session_id}"]`);
        expect(await textOf(agentPage, '[data-frag="agent-pane"]')).not.toBe('');
        await agentPage.evaluate('window.notReloaded = true');

        // Ten tabs of the overview in the same browser, and the agent's page: they all load and are live
        // (the seventh would not, were every tab to hold a connection of its own), on one stream.
        const tabs = [home];
        for (let i = 1; i < 10; i++) tabs.push(await open(browser, d.base));
        for (const t of tabs) await t.evaluate('window.notReloaded = true');
        await eventually(async () => (await streams(d.base)) === 1, 'eleven tabs to share one stream', 15_000);
        // A tab of a browser without shared workers holds its own stream, and still loads.
        const alone = await open(browser, d.base, true);
        await eventually(async () => (await streams(d.base)) === 2, 'a second stream, of that tab', 15_000);

        // The agent is killed: the daemon records its death (a store write the watcher sees) and restarts it.
        const killedAt = Date.now();
        await f.killAgent('ga-toast');
        const row = `tr[data-session="${before.session_id}"]`;
        await agentPage.waitForFunction(
          `document.querySelector('${row}') !== null && document.querySelector('${row} td.end-open') === null`,
          { timeout: 30_000, polling: 'mutation' },
        );
        const shownAt = Date.now();
        const ended = (await s.sessions('gastown/polecats/toast', 5)).find((x) => x.session_id === before.session_id);
        expect(ended?.ended_at).not.toBeNull();
        const recordedAt = Date.parse(ended?.ended_at ?? '');
        const fromRecord = shownAt - recordedAt;
        // eslint-disable-next-line no-console -- the measured time, for the benchmark notes
        console.log(
          `dashboard: the death of ga-toast shown ${fromRecord} ms after the store recorded it, ${shownAt - killedAt} ms after the kill`,
        );
        expect(await agentPage.evaluate('window.notReloaded === true')).toBe(true);
        // The overview follows too, in every tab: the event stream shows the session that ended.
        await allShow(
          [...tabs, alone],
          `[...document.querySelectorAll('#events tr')].some((r) => r.textContent.includes('gastown/polecats/toast session ended'))`,
        );
        await alone.close();
        // And the restarted session joins the chain of sessions on the agent's page.
        await agentPage.waitForFunction(
          `[...document.querySelectorAll('tr[data-session]')].some((r) => r.getAttribute('data-session') !== '${before.session_id}' && r.querySelector('td.end-open') !== null)`,
          { timeout: 30_000, polling: 'mutation' },
        );

        // A nudge typed into the page's form arrives in the idle agent's pane.
        await home.bringToFront();
        await home.evaluate(`document.querySelector('#nudge input[name="agent"]').value = ''`);
        await home.type('#nudge input[name="agent"]', 'gastown/polecats/nux');
        await home.type('#nudge input[name="text"]', 'hello from the dashboard <b>page</b>');
        await home.click('#nudge button[type="submit"]');
        await home.waitForFunction(`document.querySelector('#result.ok')?.textContent.startsWith('nudged')`, {
          timeout: 30_000,
        });
        expect(await textOf(home, '#result')).toBe('nudged gastown/polecats/nux');
        await eventually(
          () =>
            f
              .trace('ga-nux')
              .some((t) => t.step === 'message' && (t.text ?? '').includes('hello from the dashboard <b>page</b>')),
          'the nudge to reach the agent',
          30_000,
        );
        // A refused action shows its one-line error on the page.
        await home.evaluate(`document.querySelector('#nudge input[name="agent"]').value = ''`);
        await home.type('#nudge input[name="agent"]', 'gastown/polecats/nobody');
        await home.type('#nudge input[name="text"]', 'anyone?');
        await home.click('#nudge button[type="submit"]');
        await home.waitForSelector('#result.bad', { timeout: 15_000 });
        expect(await textOf(home, '#result')).toMatch(/^error: .*nobody/u);

        // Anyone else on the machine can read the page, but not act: a POST without the session is refused.
        const action = JSON.stringify({ kind: 'nudge', agent: 'gastown/polecats/nux', text: 'not from the page' });
        const port = new URL(d.base).port;
        const post = (headers: Record<string, string>) =>
          raw(`${d.base}api/action`, { method: 'POST', headers, body: action });
        const asPage = { 'Content-Type': 'application/json', 'X-GT-Action': '1' };
        const noCookie = await post(asPage);
        expect(noCookie.status).toBe(403);
        expect((JSON.parse(noCookie.body) as { error: string }).error).toContain('no session');
        const bare = await raw(d.base, {});
        expect(bare.status).toBe(200);
        expect(bare.headers['set-cookie']).toBeUndefined();
        expect(bare.body).toContain('open the address gt dashboard printed');
        expect(bare.body).not.toContain(token);
        expect(bare.body).not.toContain('<button');
        expect(bare.body).not.toContain('id="nudge"');
        // A wrong token buys no session; the right one does (and the page it leads to holds no secret).
        const wrong = await raw(`${d.base}queue?token=${token.slice(1)}`, {});
        expect(wrong.status).toBe(303);
        expect(wrong.headers.location).toBe('/queue');
        expect(wrong.headers['set-cookie']).toBeUndefined();
        const right = await raw(`${d.base}queue?token=${token}`, {});
        expect(right.status).toBe(303);
        expect(right.headers.location).toBe('/queue');
        const cookie = cookieOf(right.headers) ?? '';
        expect(cookie).toMatch(new RegExp(`^gt-dashboard-${port}=[\\w-]{43}$`, 'u'));
        expect(String(right.headers['set-cookie'])).toContain('HttpOnly; SameSite=Strict; Path=/');
        expect(cookie).not.toContain(token);
        const mine = await raw(`${d.base}queue`, { headers: { Cookie: cookie } });
        expect(mine.body).toContain('id="nudge"');
        expect(mine.body).not.toContain(token);
        expect(mine.body).not.toContain(cookie.split('=')[1]);
        // Even with the session: not from another origin, not without the action header, not as a form.
        expect((await post({ ...asPage, Cookie: cookie, Origin: 'http://evil.example' })).status).toBe(403);
        expect((await post({ 'Content-Type': 'application/json', Cookie: cookie })).status).toBe(403);
        expect((await post({ ...asPage, 'Content-Type': 'text/plain', Cookie: cookie })).status).toBe(415);
        // The token itself is not the session.
        expect((await post({ ...asPage, Cookie: `gt-dashboard-${port}=${token}` })).status).toBe(403);
        expect(f.trace('ga-nux').some((t) => (t.text ?? '').includes('not from the page'))).toBe(false);

        // A browser that only knows the bare address gets a read-only page, and its page's POST is refused.
        const stranger = await browser.createBrowserContext();
        const theirs = await open(stranger, d.base);
        expect(await textOf(theirs, '.readonly')).toContain('open the address gt dashboard printed');
        expect(await textOf(theirs, '#nudge')).toBeNull();
        expect(await theirs.evaluate(`document.querySelectorAll('button[data-action]').length`)).toBe(0);
        const refused: unknown = await theirs.evaluate(
          `fetch('/api/action', { method: 'POST', headers: ${JSON.stringify(asPage)}, body: ${JSON.stringify(action)} }).then((r) => r.status)`,
        );
        expect(refused).toBe(403);
        expect(f.trace('ga-nux').some((t) => (t.text ?? '').includes('not from the page'))).toBe(false);

        // What \`--open\` handed the browser: a file only this user can read; the token is in no command line.
        const handed = readFileSync(opened, 'utf8');
        expect(handed).toMatch(/^file:\/\/\/.+\/open\.html$/u);
        expect(handed).not.toContain(token);
        const file = fileURLToPath(handed);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        // Opened from that file (a navigation no page of the dashboard started), it still lands with the session.
        const opener = await browser.createBrowserContext();
        const fromFile = await opener.newPage();
        await fromFile.goto(handed, { waitUntil: 'domcontentloaded', timeout: 30_000 });
        await fromFile.waitForFunction(
          `location.href === ${JSON.stringify(d.base)} && document.querySelector('#live.on') !== null`,
          { timeout: 30_000 },
        );
        expect(await textOf(fromFile, '#nudge button')).toBe('send');
        await opener.close();

        // With the session, from its own origin, the same call acts: an escalation acknowledged.
        const esc = json<{ id: string }>(
          await gtAsync(['escalate', 'the build box is down', '-s', 'high', '--json'], {
            cwd: f.town.root,
            env: f.env,
          }),
        );
        // Every tab shows it: in what needs you, and in the event stream.
        const tookMs = await allShow(
          tabs,
          `document.querySelector('button[data-action="ack"][data-escalation="${esc.id}"]') !== null && ` +
            `[...document.querySelectorAll('#events tr')].some((r) => r.textContent.includes('escalation ${esc.id} filed'))`,
        );
        // eslint-disable-next-line no-console -- the measured time, for the benchmark notes
        console.log(`dashboard: an escalation shown in all ten tabs ${tookMs} ms after gt escalate returned`);
        // The read-only page shows it too, but without the buttons its stream's sections carry.
        await allShow([theirs], `document.querySelector('[data-frag="needs"]').textContent.includes('${esc.id}')`);
        expect(await theirs.evaluate(`document.querySelectorAll('button[data-action]').length`)).toBe(0);
        await stranger.close();
        await eventually(async () => (await streams(d.base)) === 1, 'the other browser to leave', 15_000);
        await home.click(`button[data-action="ack"][data-escalation="${esc.id}"]`);
        await home.waitForFunction(`document.querySelector('#result.ok')?.textContent === 'acknowledged ${esc.id}'`, {
          timeout: 15_000,
        });

        const shot = join(f.base, 'dashboard.png');
        await home.screenshot({ path: shot, fullPage: true });
        // eslint-disable-next-line no-console -- where the screenshot is
        console.log(`dashboard: screenshot saved at ${shot} (${statSync(shot).size} bytes)`);
        expect(statSync(shot).size).toBeGreaterThan(1000);

        // The dashboard restarts on the same port: the shared stream reconnects, and every tab follows on.
        expect(await stopDashboard(d), d.stderr()).toBe(0);
        expect(d.stderr()).toBe('');
        d = await startDashboard(f, [], Number(new URL(d.url).port));
        // Stopped, it removed the file it had handed the browser.
        expect(existsSync(file)).toBe(false);
        const after = json<{ id: string }>(
          await gtAsync(['escalate', 'the build box is down again', '-s', 'high', '--json'], {
            cwd: f.town.root,
            env: f.env,
          }),
        );
        await allShow(
          tabs,
          `[...document.querySelectorAll('#events tr')].some((r) => r.textContent.includes('escalation ${after.id} filed'))`,
        );
        await eventually(async () => (await streams(d.base)) === 1, 'the tabs to share one stream again', 15_000);
        for (const t of [...tabs, agentPage]) expect(await t.evaluate('window.notReloaded === true')).toBe(true);
      } finally {
        await browser?.close();
        expect(await stopDashboard(d), d.stderr()).toBe(0);
      }
      expect(d.stderr()).toBe('');
    },
    240_000,
  );

  it('bound to another address it is read-only, answers only to its own host names, and sets strict headers', async () => {
    const f = await fixture('dashboard-read-only');
    const ro = await startDashboard(f, ['--bind', '0.0.0.0']);
    try {
      expect(ro.read_only).toBe(true);
      // No token to print: it has no sessions to give, and a token in the query buys none.
      expect(ro.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/u);
      const tried = await raw(`${ro.url}?token=anything`, {});
      expect(tried.status).toBe(200);
      expect(tried.headers['set-cookie']).toBeUndefined();
      const page = await fetch(ro.url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      const html = await page.text();
      expect(html).toContain('Read-only');
      expect(html).not.toContain('gt-token');
      expect(html).not.toContain('<button');
      expect(html).toContain('gastown/polecats/toast');
      const post = await fetch(`${ro.url}api/action`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ kind: 'restart', agent: 'gastown/polecats/toast' }),
      });
      expect(post.status).toBe(403);
      expect(((await post.json()) as { error: string }).error).toContain('read-only');
      // A name another site could point at this machine (DNS rebinding) is not its own.
      const rebound = await raw(ro.url, { headers: { Host: 'evil.example' } });
      expect(rebound.status).toBe(421);
      // Its stream: the view's sections as server-sent events, with an id to resume from.
      const stop = new AbortController();
      const stream = await fetch(`${ro.url}events`, { signal: stop.signal });
      expect(stream.headers.get('content-type')).toContain('text/event-stream');
      const reader = stream.body?.getReader();
      let text = '';
      while (reader !== undefined && !text.includes('\n\n', text.indexOf('event: view'))) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += Buffer.from(chunk.value as Uint8Array).toString('utf8');
      }
      stop.abort();
      expect(text).toMatch(/^retry: 1000\n\nid: \d+\.\d+\nevent: view\ndata: \{"seq":\d+,"frags":\{"summary":/u);
      expect(text).not.toContain('data-action');
    } finally {
      expect(await stopDashboard(ro)).toBe(0);
    }
    const rw = await startDashboard(f, ['--bind', '0.0.0.0', '--allow-remote-actions']);
    try {
      // With the option, actions as on loopback: only with the session the printed address gives.
      expect(rw.read_only).toBe(false);
      expect(rw.url).toMatch(/\/\?token=[\w-]{43}$/u);
      const action = JSON.stringify({ kind: 'nudge', agent: 'gastown/polecats/nobody', text: 'anyone?' });
      const asPage = { 'Content-Type': 'application/json', 'X-GT-Action': '1' };
      const bare = await raw(rw.base, {});
      expect(bare.body).toContain('open the address gt dashboard printed');
      expect(bare.body).not.toContain('<button');
      const refused = await raw(`${rw.base}api/action`, { method: 'POST', headers: asPage, body: action });
      expect(refused.status).toBe(403);
      const cookie = cookieOf((await raw(rw.url, {})).headers) ?? '';
      expect(cookie).not.toBe('');
      const page = await raw(rw.base, { headers: { Cookie: cookie } });
      expect(page.body).toContain('id="nudge"');
      expect(page.body).not.toContain(new URL(rw.url).searchParams.get('token'));
      // Past every check, the action itself is judged: there is no such agent.
      const acted = await raw(`${rw.base}api/action`, {
        method: 'POST',
        headers: { ...asPage, Cookie: cookie },
        body: action,
      });
      expect(acted.status, acted.body).not.toBe(403);
      expect(acted.body).toContain('nobody');
    } finally {
      expect(await stopDashboard(rw)).toBe(0);
    }
  }, 90_000);
});
