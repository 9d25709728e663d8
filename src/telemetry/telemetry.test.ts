import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventFilter } from '../core/bead-store.js';
import type { TownStore } from '../core/town-store.js';
import { openTownStore } from '../store/open.js';
import { startTelemetry, type Telemetry, type TelemetryOptions } from './telemetry.js';

const stores: TownStore[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) s.dispose();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function store(): TownStore {
  const s = openTownStore(':memory:');
  stores.push(s);
  return s;
}

const loadedOtel = (): string[] =>
  Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@opentelemetry'));

type Point = {
  attributes: { key: string; value: { stringValue?: string } }[];
  asInt?: string | number;
  asDouble?: number;
};
type Span = { name: string; attributes: { key: string; value: { stringValue?: string; boolValue?: boolean } }[] };
type Body = {
  resourceMetrics?: { scopeMetrics: { metrics: { name: string; sum?: { dataPoints: Point[] } }[] }[] }[];
  resourceSpans?: { scopeSpans: { spans: Span[] }[] }[];
};

async function collector(): Promise<{ url: string; bodies: Body[] }> {
  const bodies: Body[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString('utf8')));
    req.on('end', () => {
      bodies.push(JSON.parse(text) as Body);
      res.end('{}');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

/** The spans received, each with its attributes as a record. */
function spans(bodies: readonly Body[]): { name: string; attrs: Record<string, string | boolean | undefined> }[] {
  return bodies
    .flatMap((b) => b.resourceSpans ?? [])
    .flatMap((rs) => rs.scopeSpans)
    .flatMap((ss) => ss.spans)
    .map((sp) => ({
      name: sp.name,
      attrs: Object.fromEntries(sp.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.boolValue])),
    }));
}

function sums(bodies: readonly Body[], name: string): [Record<string, string | undefined>, number][] {
  return bodies
    .flatMap((b) => b.resourceMetrics ?? [])
    .flatMap((rm) => rm.scopeMetrics)
    .flatMap((sm) => sm.metrics)
    .filter((m) => m.name === name)
    .flatMap((m) => m.sum?.dataPoints ?? [])
    .map((p) => [
      Object.fromEntries(p.attributes.map((a) => [a.key, a.value.stringValue])),
      Number(p.asInt ?? p.asDouble),
    ]);
}

describe('startTelemetry', () => {
  it('does nothing and loads nothing when the environment does not ask for export', async () => {
    const log: unknown[] = [];
    const t = await startTelemetry({
      store: store(),
      town: 't',
      env: { PATH: '/bin' },
      now: () => 0,
      log: (e) => log.push(e),
    });
    expect(t).toBeUndefined();
    expect(log).toEqual([]);
    expect(loadedOtel()).toEqual([]);
    // Asked for, but nothing it can do: it says why, and still loads nothing.
    const grpc = await startTelemetry({
      store: store(),
      town: 't',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      now: () => 0,
      log: (e) => log.push(e),
    });
    expect(grpc).toBeUndefined();
    expect(log).toHaveLength(2);
    expect(loadedOtel()).toEqual([]);
  });

  it('counts tokens by agent, model and type, restarts and problems, and flushes them on stop', async () => {
    const c = await collector();
    const t = await startTelemetry({
      store: store(),
      town: 't',
      env: {
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${c.url}/v1/metrics`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
      now: () => Date.now(),
      log: () => undefined,
    });
    if (t === undefined) throw new Error('telemetry did not start');
    t.recordTokens([
      {
        agent: 'gastown/polecats/toast',
        model: 'claude-sonnet',
        input_tokens: 100,
        output_tokens: 20,
        cache_read_tokens: 5000,
        cache_write_tokens: 0,
      },
      {
        agent: 'gastown/polecats/toast',
        model: 'claude-sonnet',
        input_tokens: 1,
        output_tokens: 2,
        cache_read_tokens: 0,
        cache_write_tokens: 300,
      },
    ]);
    t.afterPass({
      agents: [{ state: 'working', role: 'polecat', rig: 'gastown' }],
      restarts: ['gastown/polecats/toast', 'deacon'],
      problemsOpened: ['stalled', 'stalled', 'gupp'],
    });
    await t.stop();
    const agent = { 'gt.agent': 'gastown/polecats/toast', 'gt.model': 'claude-sonnet' };
    expect(sums(c.bodies, 'gt.tokens')).toEqual([
      [{ ...agent, 'gt.token.type': 'input' }, 101],
      [{ ...agent, 'gt.token.type': 'output' }, 22],
      [{ ...agent, 'gt.token.type': 'cache_read' }, 5000],
      [{ ...agent, 'gt.token.type': 'cache_write' }, 300],
    ]);
    expect(sums(c.bodies, 'gastown.daemon.agent_restarts.total')).toEqual([
      [{ 'gt.agent': 'gastown/polecats/toast', 'gt.role': 'polecat', 'gt.rig': 'gastown' }, 1],
      [{ 'gt.agent': 'deacon', 'gt.role': 'deacon' }, 1],
    ]);
    expect(sums(c.bodies, 'gt.problems.opened')).toEqual([
      [{ 'gt.kind': 'stalled' }, 2],
      [{ 'gt.kind': 'gupp' }, 1],
    ]);
    // (The probe of the first test sees the SDK once it is loaded.)
    expect(loadedOtel().length).toBeGreaterThan(0);
  });
});

const TOAST = 'gastown/polecats/toast';

/**
 * A town's store with one polecat, seen through a counter of the reads telemetry makes: `reads` has the subject
 * of each events() call ('*' for the follower's read of everything), and each read moves the clock by `tick`.
 */
async function town(): Promise<{
  s: TownStore;
  counted: TownStore;
  reads: string[];
  clock: { now: number; tick: number };
}> {
  const s = store();
  await s.registerAgent(
    {
      identity: { role: 'polecat', rig: 'gastown', name: 'toast' },
      session_name: 'ga-toast',
      sandbox_path: '/nowhere',
    },
    'test',
  );
  const reads: string[] = [];
  const clock = { now: 1_000_000, tick: 0 };
  const counted = new Proxy(s, {
    get(target, prop) {
      if (prop === 'events')
        return (filter: EventFilter) => {
          reads.push(filter.issueId ?? '*');
          clock.now += clock.tick;
          return target.events(filter);
        };
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { s, counted, reads, clock };
}

/** A task toast worked on and closed, with its merge request filed and still open. */
async function closedWithRequest(s: TownStore, title: string): Promise<{ bead: string; mr: string }> {
  const bead = await s.create({ title }, 'mayor');
  await s.hook(TOAST, bead.id, 'mayor');
  const mr = await s.create({ title: `merge ${bead.id}`, issue_type: 'merge-request' }, TOAST);
  await s.update([bead.id], { metadata: { gt_merge_request: mr.id } }, TOAST);
  await s.close([bead.id], { reason: 'done' }, TOAST);
  await s.unhook(TOAST, TOAST);
  return { bead: bead.id, mr: mr.id };
}

async function exporting(
  counted: TownStore,
  clock: { now: number },
  options: TelemetryOptions,
  log: Record<string, unknown>[] = [],
): Promise<{ t: Telemetry; bodies: Body[] }> {
  const c = await collector();
  const t = await startTelemetry(
    {
      store: counted,
      town: 't',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${c.url}/v1/traces`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      now: () => clock.now,
      log: (e) => log.push(e),
    },
    { followMs: 3_600_000, ...options },
  );
  if (t === undefined) throw new Error('telemetry did not start');
  return { t, bodies: c.bodies };
}

const subjects = (reads: string[]): string[] => reads.splice(0).filter((r) => r !== '*');

describe('following the paths', () => {
  it('reads only work beads, and a bead waiting for its request again only when the request moves', async () => {
    const { s, counted, reads, clock } = await town();
    const { t, bodies } = await exporting(counted, clock, {});
    // Mail closed, a request closed, a task closed and deleted since: none is a path to read.
    const note = await s.create({ title: 'note', issue_type: 'message' }, 'mayor');
    await s.close([note.id], {}, 'mayor');
    const other = await s.create({ title: 'merge x', issue_type: 'merge-request' }, 'mayor');
    await s.close([other.id], {}, 'mayor');
    const { bead, mr } = await closedWithRequest(s, 'part');
    const gone = await s.create({ title: 'gone' }, 'mayor');
    await s.close([gone.id], {}, 'mayor');
    await s.delete(gone.id, { force: true }, 'mayor');
    // (Its holder is read only when the path goes.)
    await t.follow();
    expect(subjects(reads)).toEqual([bead, mr]);
    // Waiting for its request: other work in the town reads nothing of it.
    const busy = await s.create({ title: 'busy' }, 'mayor');
    await s.update([busy.id], { priority: 1 }, 'mayor');
    await t.follow();
    await t.follow();
    expect(subjects(reads)).toEqual([]);
    // The request closes: the path is read once more and sent, with the request closed.
    await s.close([mr], { reason: 'landed' }, 'refinery');
    await t.follow();
    expect(subjects(reads)).toEqual([bead, mr, TOAST]);
    await t.follow();
    expect(subjects(reads)).toEqual([]);
    await t.stop();
    expect(spans(bodies).filter((sp) => sp.name === 'gt.bead')).toHaveLength(1);
    const request = spans(bodies).find((sp) => sp.name === 'gt.merge_request');
    expect(request?.attrs).toMatchObject({ 'gt.merge_request.id': mr });
    expect(request?.attrs['gt.merge_request.open']).toBeUndefined();
  });

  it('sends a waiting path when its grace runs out, without reading it before', async () => {
    const { s, counted, reads, clock } = await town();
    const { t, bodies } = await exporting(counted, clock, { graceMs: 60_000 });
    const { bead, mr } = await closedWithRequest(s, 'part');
    await t.follow();
    expect(subjects(reads)).toEqual([bead, mr]);
    clock.now += 59_999;
    await t.follow();
    expect(subjects(reads)).toEqual([]);
    clock.now += 1;
    await t.follow();
    expect(subjects(reads)).toEqual([bead, mr, TOAST]);
    await t.stop();
    expect(subjects(reads)).toEqual([]);
    expect(spans(bodies).filter((sp) => sp.name === 'gt.bead')).toHaveLength(1);
    expect(spans(bodies).find((sp) => sp.name === 'gt.merge_request')?.attrs).toMatchObject({
      'gt.merge_request.id': mr,
      'gt.merge_request.open': true,
    });
  });

  it('stops following at its deadline, however quickly the store answers', async () => {
    const { s, counted, reads, clock } = await town();
    const { t, bodies } = await exporting(counted, clock, { stopBudgetMs: 3_000 });
    const paths: { bead: string; mr: string }[] = [];
    for (let i = 0; i < 30; i++) paths.push(await closedWithRequest(s, `part ${i}`));
    await t.follow();
    reads.splice(0);
    // Every read now takes 400 ms by the clock: half the budget (1.5 s) is the follower's read and one path.
    clock.tick = 400;
    await t.stop();
    expect(reads).toEqual(['*', paths[0]?.bead, paths[0]?.mr, TOAST]);
    expect(spans(bodies).filter((sp) => sp.name === 'gt.bead')).toHaveLength(1);
  });

  it('says once when the most kept are waiting, and sends the paths closed after at once', async () => {
    const { s, counted, reads, clock } = await town();
    const log: Record<string, unknown>[] = [];
    const { t, bodies } = await exporting(counted, clock, { maxWaiting: 1 }, log);
    await closedWithRequest(s, 'first');
    await t.follow();
    const second = await closedWithRequest(s, 'second');
    const third = await closedWithRequest(s, 'third');
    await t.follow();
    expect(log.filter((e) => e.event === 'telemetry-error')).toEqual([
      {
        event: 'telemetry-error',
        signal: 'traces',
        kind: 'waiting-full',
        message:
          '1 beads wait for their merge requests to close, the most kept; beads closed from now on are ' +
          'exported without waiting for theirs (said once)',
      },
    ]);
    // Already sent: their requests closing reads nothing.
    reads.splice(0);
    await s.close([second.mr, third.mr], {}, 'refinery');
    await t.follow();
    expect(subjects(reads)).toEqual([]);
    await t.stop();
    expect(spans(bodies).filter((sp) => sp.name === 'gt.bead')).toHaveLength(3);
  });
});
