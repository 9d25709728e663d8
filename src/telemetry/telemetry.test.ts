import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TownStore } from '../core/town-store.js';
import { openTownStore } from '../store/open.js';
import { startTelemetry } from './telemetry.js';

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
type Body = { resourceMetrics?: { scopeMetrics: { metrics: { name: string; sum?: { dataPoints: Point[] } }[] }[] }[] };

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
