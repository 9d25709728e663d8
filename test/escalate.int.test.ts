import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, gt, json, requireBuild, type RunResult } from './helpers/bd.js';
import { eventually } from './helpers/session-town.js';
import { tempDir } from './helpers/tmp.js';
import { openSqliteBeadStore } from '../src/store/sqlite-bead-store.js';
import { installTown, type Town } from '../src/town/town.js';

/**
 * `gt escalate` through the built gt: routes by severity (a command given the escalation as JSON on stdin,
 * mail to an agent's inbox, a failing route recorded and not fatal), list/show/ack/close, raising what nobody
 * acknowledged (by hand and by the daemon, which wakes for it), and bad input.
 */

type RouteResult = { route: string; severity: string; ok: boolean; detail: string; at: string };
type Escalation = {
  id: string;
  title: string;
  description: string;
  severity: string;
  original_severity: string;
  priority: number;
  source: string;
  related: string | null;
  status: string;
  created_at: string;
  raised_count: number;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  close_reason: string | null;
  routes: RouteResult[];
  comments?: { author: string; text: string }[];
  already?: boolean;
};
type Stale = {
  raised: { id: string; from: string; to: string; raised_count: number; routes: RouteResult[] }[];
  next_due_at: string | null;
};
type Mail = { id: string; from: string; subject: string; body: string };

type Fixture = { town: Town; env: Record<string, string>; dir: string; cleanup: () => void };
const made: Fixture[] = [];
afterEach(() => {
  for (const f of made.splice(0)) {
    gt(['daemon', 'stop'], { cwd: f.town.root, env: f.env });
    f.cleanup();
  }
});
beforeAll(() => requireBuild());

async function fixture(label: string): Promise<Fixture> {
  const t = tempDir(label);
  const dir = realpathSync(t.dir);
  const town = (
    await installTown(join(dir, 'town'), { owner: 'o@example.com', actor: 'tester', nowIso: new Date().toISOString() })
  ).town;
  // A route that appends what it is given on stdin to a file, and one that fails saying why.
  writeFileSync(
    join(dir, 'route.cjs'),
    "const fs = require('fs');\nfs.appendFileSync(process.argv[2], fs.readFileSync(0, 'utf8'));\n",
  );
  writeFileSync(join(dir, 'fail.cjs'), "process.stderr.write('pager unreachable\\n');\nprocess.exit(3);\n");
  const f = { town, env: cleanEnv(join(dir, 'home'), { BD_ACTOR: 'tester' }), dir, cleanup: t.cleanup };
  made.push(f);
  return f;
}

/** Writes the town's escalation settings (as a person would, in the file's own form); nothing standing runs. */
function settle(f: Fixture, escalation: Record<string, unknown>): void {
  const file = join(f.town.root, 'settings.json');
  const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...s, escalation, daemon: { standing_roles: [] } }, null, 2));
}

const run = (f: Fixture, ...args: string[]): RunResult => gt(args, { cwd: f.town.root, env: f.env });
const routeTo = (f: Fixture): { command: string[] } => ({
  command: [process.execPath, join(f.dir, 'route.cjs'), join(f.dir, 'received.jsonl')],
});
const received = (f: Fixture): Record<string, unknown>[] => {
  const file = join(f.dir, 'received.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
};
const inbox = (f: Fixture, who: string): Mail[] =>
  json<Mail[]>(gt(['mail', 'inbox', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: who } }));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('gt escalate', () => {
  it('routes by severity: a command gets the escalation as JSON on stdin, mail lands in the inbox, a failing route is recorded and not fatal', async () => {
    const f = await fixture('esc-routes');
    settle(f, {
      routes: {
        critical: ['bead', 'mail:deacon', routeTo(f), { command: [process.execPath, join(f.dir, 'fail.cjs')] }],
      },
    });
    const store = openSqliteBeadStore(f.town.dbPath);
    const disk = await store.create({ title: 'disk of the build box' }, 'tester');
    store.dispose();

    const e = json<Escalation>(
      run(
        f,
        'escalate',
        'the disk is full',
        '-s',
        'critical',
        '--source',
        'plugin:disk',
        '--related',
        disk.id,
        '-m',
        'df says 100%',
        '--json',
      ),
    );
    expect(e).toMatchObject({
      title: 'the disk is full',
      description: 'df says 100%',
      severity: 'critical',
      original_severity: 'critical',
      priority: 0,
      source: 'plugin:disk',
      related: disk.id,
      status: 'open',
      raised_count: 0,
    });
    expect(e.id).toMatch(/^hq-/);
    expect(e.routes.map((r) => [r.route, r.ok])).toEqual([
      ['bead', true],
      ['mail:deacon', true],
      ['command:' + process.execPath, true],
      ['command:' + process.execPath, false],
    ]);
    expect(e.routes[3]?.detail).toBe('exit 3: pager unreachable');

    // The command was given the escalation on stdin, as JSON.
    expect(received(f)).toEqual([
      {
        id: e.id,
        title: 'the disk is full',
        description: 'df says 100%',
        severity: 'critical',
        original_severity: 'critical',
        source: 'plugin:disk',
        related: disk.id,
        created_at: e.created_at,
        raised_count: 0,
        town: f.town.name,
      },
    ]);
    // The mail is in the deacon's inbox, saying what and how to acknowledge it.
    const mail = inbox(f, 'deacon');
    expect(mail).toHaveLength(1);
    expect(mail[0]?.id).toBe(e.routes[1]?.detail);
    expect(mail[0]?.subject).toBe(`Escalation ${e.id} (critical): the disk is full`);
    expect(mail[0]?.body).toContain(`gt escalate ack ${e.id}`);
    expect(mail[0]?.body).toContain(`About ${disk.id}.`);
    // The failure is on the bead for whoever looks.
    const shown = json<Escalation>(run(f, 'escalate', 'show', e.id, '--json'));
    expect(shown.comments?.map((c) => c.text)).toEqual([
      `Route command:${process.execPath} failed (critical): exit 3: pager unreachable`,
    ]);
    const s = openSqliteBeadStore(f.town.dbPath);
    const [bead] = await s.show([e.id]);
    s.dispose();
    expect(bead).toMatchObject({ issue_type: 'escalation', priority: 0 });
    expect(bead?.labels.sort()).toEqual(['gt:escalation', 'severity:critical']);

    // Without -s: medium, which goes to the mayor by default.
    const plain = json<Escalation>(run(f, 'escalate', 'the', 'nightly', 'build', 'is', 'red', '--json'));
    expect(plain).toMatchObject({ title: 'the nightly build is red', severity: 'medium', source: 'tester' });
    expect(plain.routes.map((r) => r.route)).toEqual(['bead', 'mail:mayor']);
    expect(inbox(f, 'mayor').map((m) => m.subject)).toEqual([
      `Escalation ${plain.id} (medium): the nightly build is red`,
    ]);
    // A route to an agent that does not exist fails on its own; the escalation stands.
    settle(f, { routes: { low: ['bead', 'mail:gastown/witness'] } });
    const lost = run(f, 'escalate', 'nobody hears this', '-s', 'low', '--json');
    expect(lost.status, lost.stderr).toBe(0);
    expect((JSON.parse(lost.stdout) as Escalation).routes.map((r) => r.ok)).toEqual([true, false]);
  }, 60_000);

  it('lists open escalations by severity then age; show, ack (once), close with a reason; gt status opens with them', async () => {
    const f = await fixture('esc-list');
    settle(f, {});
    const file = (what: string, severity: string): Escalation =>
      json<Escalation>(run(f, 'escalate', what, '-s', severity, '--json'));
    const low = file('low one', 'low');
    const high = file('high one', 'high');
    const medium = file('medium one', 'medium');
    const ids = (r: RunResult): string[] => json<Escalation[]>(r).map((e) => e.id);

    expect(ids(run(f, 'escalate', 'list', '--json'))).toEqual([high.id, medium.id, low.id]);
    const text = run(f, 'escalate', 'list');
    expect(text.stdout.split('\n')[0]).toMatch(new RegExp(`^${high.id}\\s+high\\s+\\d+s\\s+high one$`));

    const acked = json<Escalation>(run(f, 'escalate', 'ack', high.id, '--json'));
    expect(acked).toMatchObject({ id: high.id, acknowledged_by: 'tester', already: false, status: 'open' });
    expect(json<Escalation>(run(f, 'escalate', 'ack', high.id, '--json'))).toMatchObject({
      already: true,
      acknowledged_at: acked.acknowledged_at,
    });
    const closed = json<Escalation>(run(f, 'escalate', 'close', medium.id, '--reason', 'rebuilt the box', '--json'));
    expect(closed).toMatchObject({ status: 'closed', close_reason: 'rebuilt the box', already: false });
    expect(json<Escalation>(run(f, 'escalate', 'close', medium.id, '--json'))).toMatchObject({
      already: true,
      close_reason: 'rebuilt the box',
    });
    expect(run(f, 'escalate', 'ack', medium.id).status).toBe(4);

    expect(ids(run(f, 'escalate', 'list', '--json'))).toEqual([high.id, low.id]);
    expect(ids(run(f, 'escalate', 'list', '--all', '--json'))).toEqual([high.id, low.id, medium.id]);
    const shown = json<Escalation>(run(f, 'escalate', 'show', high.id, '--json'));
    expect(shown).toMatchObject({ id: high.id, severity: 'high', acknowledged_by: 'tester' });
    expect(shown.comments?.map((c) => c.text)).toEqual(['Acknowledged by tester: it is not raised any more.']);
    expect(run(f, 'escalate', 'show', high.id).stdout).toContain('Acknowledged');

    // What needs a person comes first in gt status, in the same order.
    const status = run(f, 'status');
    expect(status.stdout.split('\n').slice(0, 3)).toEqual([
      expect.stringMatching(/^Needs a person: 2 open escalation\(s\)/),
      expect.stringContaining(`${high.id}`),
      expect.stringContaining(`${low.id}`),
    ]);
    const statusJson = json<{ needs_person: { escalations: Escalation[] } }>(run(f, 'status', '--json'));
    expect(statusJson.needs_person.escalations.map((e) => e.id)).toEqual([high.id, low.id]);
    run(f, 'escalate', 'close', high.id);
    run(f, 'escalate', 'close', low.id);
    expect(run(f, 'status').stdout).toMatch(/^Town "/);

    // Not an escalation, or none at all.
    const s = openSqliteBeadStore(f.town.dbPath);
    const task = await s.create({ title: 'a task' }, 'tester');
    s.dispose();
    expect(run(f, 'escalate', 'show', task.id).status).toBe(3);
    expect(run(f, 'escalate', 'ack', 'hq-zzzzz').status).toBe(3);
  }, 60_000);

  it('refuses bad input in one line, filing nothing', async () => {
    const f = await fixture('esc-bad');
    settle(f, {});
    const bad = (args: string[], status: number, message: RegExp): void => {
      const r = run(f, ...args);
      expect(r.status, r.stdout).toBe(status);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    };
    bad(['escalate'], 2, /an escalation needs a text saying what needs a person/);
    bad(['escalate', '   '], 2, /an escalation needs a text/);
    bad(['escalate', 'x', '-s', 'urgent'], 2, /unknown severity "urgent": expected critical, high, medium or low/);
    bad(['escalate', 'x', '--related', 'hq-nope'], 3, /--related hq-nope: no such bead/);
    expect(json<Escalation[]>(run(f, 'escalate', 'list', '--all', '--json'))).toEqual([]);
    // A route in settings.json that is not one: the field is named.
    settle(f, { routes: { high: ['bead', 'sms:human'] } });
    bad(['escalate', 'x', '-s', 'high'], 2, /escalation\.routes\.high\[1\] must be "bead", "mail:<address>" or/);
  }, 60_000);

  it('raises what nobody acknowledged one level after stale_after, once per stale_after, at most max_raises times', async () => {
    const f = await fixture('esc-stale');
    const routes = { low: ['bead', routeTo(f)], medium: ['bead', routeTo(f)], high: ['bead', routeTo(f)] };
    settle(f, { routes, stale_after: '1s', max_raises: 2 });
    const e = json<Escalation>(run(f, 'escalate', 'flaky runner', '-s', 'low', '--json'));
    const seen = json<Escalation>(run(f, 'escalate', 'someone is on it', '-s', 'low', '--json'));
    run(f, 'escalate', 'ack', seen.id);
    await sleep(1_100);

    const first = json<Stale>(run(f, 'escalate', 'stale', '--json'));
    expect(first.raised).toEqual([expect.objectContaining({ id: e.id, from: 'low', to: 'medium', raised_count: 1 })]);
    expect(first.raised[0]?.routes.map((r) => [r.route, r.severity, r.ok])).toEqual([
      ['bead', 'medium', true],
      ['command:' + process.execPath, 'medium', true],
    ]);
    expect(first.next_due_at).not.toBeNull();
    // The command heard of it again, at its new severity.
    expect(received(f).map((r) => [r.id, r.severity, r.original_severity, r.raised_count])).toEqual([
      [e.id, 'low', 'low', 0],
      [seen.id, 'low', 'low', 0],
      [e.id, 'medium', 'low', 1],
    ]);

    // Raised once: not again until stale_after has passed since the raise.
    settle(f, { routes, stale_after: '1h', max_raises: 2 });
    const none = json<Stale>(run(f, 'escalate', 'stale', '--json'));
    expect(none.raised).toEqual([]);
    expect(none.next_due_at).not.toBeNull();

    settle(f, { routes, stale_after: '1s', max_raises: 2 });
    await sleep(1_100);
    const second = json<Stale>(run(f, 'escalate', 'stale', '--json'));
    expect(second.raised.map((r) => [r.id, r.from, r.to, r.raised_count])).toEqual([[e.id, 'medium', 'high', 2]]);
    expect(second.next_due_at).toBeNull();
    await sleep(1_100);
    expect(json<Stale>(run(f, 'escalate', 'stale', '--json')).raised).toEqual([]);

    const shown = json<Escalation>(run(f, 'escalate', 'show', e.id, '--json'));
    expect(shown).toMatchObject({ severity: 'high', original_severity: 'low', raised_count: 2, priority: 1 });
    expect(shown.comments?.filter((c) => c.text.startsWith('Raised from')).map((c) => c.text.slice(0, 30))).toEqual([
      'Raised from low to medium: not',
      'Raised from medium to high: no',
    ]);
    expect(json<Escalation>(run(f, 'escalate', 'show', seen.id, '--json'))).toMatchObject({
      severity: 'low',
      raised_count: 0,
    });
    expect(received(f)).toHaveLength(4);
  }, 60_000);

  it('the daemon raises stale escalations as they fall due, waking for them between its ticks', async () => {
    const f = await fixture('esc-daemon');
    settle(f, { routes: { low: ['bead'], medium: ['bead'], high: ['bead'] }, stale_after: '2s', max_raises: 2 });
    const e = json<Escalation>(run(f, 'escalate', 'left alone', '-s', 'low', '--json'));
    // A tick of ten minutes: only the wake-up for the next raise can bring the second one.
    const started = run(f, 'daemon', 'start', '--tick', '600');
    expect(started.status, started.stderr).toBe(0);
    const show = (): Escalation => json<Escalation>(run(f, 'escalate', 'show', e.id, '--json'));
    await eventually(() => show().raised_count === 2, 'the daemon to raise it twice', 30_000);
    expect(show()).toMatchObject({ severity: 'high', original_severity: 'low' });
    const log = readFileSync(join(f.town.root, '.runtime', 'daemon.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"escalation-raised"'))
      .map((l) => (JSON.parse(l) as { to: string }).to);
    expect(log).toEqual(['medium', 'high']);
  }, 60_000);
});
