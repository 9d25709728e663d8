import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { daemonPaths } from '../src/daemon/daemon.js';
import { gtAsync, json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';

/**
 * OpenTelemetry export from a real town: the daemon, the sim agent and the refinery do one bead's path, and an
 * OTLP collector stand-in (a local HTTP receiver, bodies as JSON) receives it as one trace, and the metrics.
 * The batch and metric intervals are a minute, so what arrives was sent by the daemon's flush at gt down.
 */
const fixture = useSessionTowns();

type Received = { path: string; headers: IncomingHttpHeaders; body: unknown };

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function collector(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text) as unknown });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

type AnyValue = { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };
type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes: KeyValue[];
  status?: { code?: number };
};
type Resource = { attributes: KeyValue[] };
type TracesBody = { resourceSpans: { resource: Resource; scopeSpans: { spans: OtlpSpan[] }[] }[] };
type DataPoint = { attributes: KeyValue[]; asInt?: string | number; asDouble?: number; count?: string | number };
type OtlpMetric = {
  name: string;
  gauge?: { dataPoints: DataPoint[] };
  sum?: { dataPoints: DataPoint[] };
  histogram?: { dataPoints: DataPoint[] };
};
type MetricsBody = { resourceMetrics: { resource: Resource; scopeMetrics: { metrics: OtlpMetric[] }[] }[] };

const attrs = (kv: readonly KeyValue[]): Record<string, unknown> =>
  Object.fromEntries(kv.map((a) => [a.key, a.value.stringValue ?? a.value.boolValue ?? a.value.intValue]));
const value = (p: DataPoint): number => Number(p.asInt ?? p.asDouble ?? p.count ?? NaN);

function spansOf(received: readonly Received[]): { resource: Record<string, unknown>; span: OtlpSpan }[] {
  return received
    .filter((r) => r.path === '/v1/traces')
    .flatMap((r) =>
      (r.body as TracesBody).resourceSpans.flatMap((rs) =>
        rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ resource: attrs(rs.resource.attributes), span }))),
      ),
    );
}

function metricsOf(received: readonly Received[]): Map<string, OtlpMetric[]> {
  const out = new Map<string, OtlpMetric[]>();
  for (const r of received.filter((x) => x.path === '/v1/metrics'))
    for (const rm of (r.body as MetricsBody).resourceMetrics)
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) out.set(m.name, [...(out.get(m.name) ?? []), m]);
  return out;
}

function daemonLog(f: SessionTown): Record<string, unknown>[] {
  return readFileSync(daemonPaths(f.town).log, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Slings one bead to the rig and waits until the refinery has landed it (its request closed too). */
async function landOne(f: SessionTown, env: Record<string, string>): Promise<{ bead: string; mr: string }> {
  const s = f.store();
  const bead = await s.create({ title: 'part', description: '```sh\nprintf "part\\n" > part.txt\n```' }, 'mayor');
  const slung = await gtAsync(['sling', bead.id, 'gastown'], { cwd: f.town.root, env });
  expect(slung.status, slung.stderr).toBe(0);
  await eventually(async () => (await s.show([bead.id]))[0]?.status === 'closed', 'the bead to land', 90_000);
  const mr = (await s.show([bead.id]))[0]?.metadata.gt_merge_request;
  if (typeof mr !== 'string') throw new Error('no merge request');
  await eventually(async () => (await s.show([mr]))[0]?.status === 'closed', 'the request to close', 30_000);
  return { bead: bead.id, mr };
}

describe('OpenTelemetry export', () => {
  it("sends one bead's path as one trace, and the town's metrics, to an OTLP collector", async () => {
    const c = await collector();
    const f = await fixture('otel-export');
    const env = {
      ...f.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: c.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-token=s3cret-t0ken',
      OTEL_SERVICE_NAME: 'town-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
    };
    const up = await gtAsync(['up', '--json'], { cwd: f.town.root, env });
    expect(up.status, up.stderr).toBe(0);
    const { bead, mr } = await landOne(f, env);
    const down = await gtAsync(['down', '--json'], { cwd: f.town.root, env });
    expect(json<{ daemon_stopped: boolean }>(down)).toMatchObject({ daemon_stopped: true });

    // The path, in one trace: the bead's span the root, each stage below the one it belongs to.
    const all = spansOf(c.received);
    const path = all.filter(({ span }) => attrs(span.attributes)['gt.bead.id'] === bead);
    const root = path.find(({ span }) => span.name === 'gt.bead')?.span;
    if (root === undefined) throw new Error(`no gt.bead span; got ${all.map((s) => s.span.name).join(', ')}`);
    const trace = all.filter(({ span }) => span.traceId === root.traceId).map(({ span }) => span);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const parentName = (s: OtlpSpan): string | null =>
      s.parentSpanId === undefined || s.parentSpanId === '' ? null : (byId.get(s.parentSpanId)?.name ?? 'missing');
    expect(trace.map((s) => [s.name, parentName(s)]).sort()).toEqual(
      [
        ['gt.bead', null],
        ['gt.done', 'gt.hook'],
        ['gt.hook', 'gt.bead'],
        ['gt.merge', 'gt.merge_request'],
        ['gt.merge_request', 'gt.bead'],
        ['gt.session', 'gt.hook'],
        ['gt.sling', 'gt.bead'],
      ].sort(),
    );
    expect(attrs(root.attributes)).toMatchObject({
      'gt.bead.id': bead,
      'gt.rig': 'gastown',
      'gt.agent': 'gastown/polecats/toast',
      'gt.merge_request.id': mr,
      'gt.outcome': 'landed',
    });
    const merge = trace.find((s) => s.name === 'gt.merge');
    expect(attrs(merge?.attributes ?? [])).toMatchObject({ 'gt.merge_request.id': mr, 'gt.outcome': 'landed' });
    // Times are the recorded ones: every stage within the bead's span.
    for (const s of trace) {
      expect(BigInt(s.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(root.startTimeUnixNano));
      expect(BigInt(s.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(root.endTimeUnixNano));
      expect(BigInt(s.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(s.startTimeUnixNano));
    }
    expect(path[0]?.resource).toMatchObject({ 'service.name': 'town-under-test', 'gt.town': f.town.name });
    // Exported once, and not again by the next daemon.
    expect(all.filter(({ span }) => span.name === 'gt.bead').length).toBe(1);
    expect((await gtAsync(['up'], { cwd: f.town.root, env })).status).toBe(0);
    expect((await gtAsync(['down'], { cwd: f.town.root, env })).status).toBe(0);
    expect(spansOf(c.received).filter(({ span }) => span.name === 'gt.bead').length).toBe(1);

    // Metrics: the agents the daemon saw, by state; the landing and its wait in the queue.
    const metrics = metricsOf(c.received);
    const agents = (metrics.get('gt.agents') ?? []).flatMap((m) => m.gauge?.dataPoints ?? []);
    expect(agents.some((p) => attrs(p.attributes)['gt.role'] === 'refinery' && value(p) === 1)).toBe(true);
    const merges = (metrics.get('gt.merges') ?? []).flatMap((m) => m.sum?.dataPoints ?? []);
    expect(merges.map((p) => [attrs(p.attributes), value(p)])).toEqual([
      [{ 'gt.outcome': 'landed', 'gt.rig': 'gastown' }, 1],
    ]);
    const waits = (metrics.get('gt.merge_queue.wait') ?? []).flatMap((m) => m.histogram?.dataPoints ?? []);
    expect(waits.map(value)).toEqual([1]);

    // The headers reach the collector, and never the daemon's log.
    const posts = c.received.filter((r) => r.path === '/v1/traces' || r.path === '/v1/metrics');
    expect(posts.every((r) => r.headers['x-collector-token'] === 's3cret-t0ken')).toBe(true);
    const log = readFileSync(daemonPaths(f.town).log, 'utf8');
    expect(log).not.toContain('s3cret');
    expect(daemonLog(f).find((e) => e.event === 'telemetry')).toMatchObject({
      service: 'town-under-test',
      traces: { endpoint: `${c.url}/v1/traces`, protocol: 'http/json' },
    });
  }, 180_000);

  it('with the collector unreachable, the town works on and says so once per kind', async () => {
    // A port nothing listens on any more.
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((r) => gone.close(r));
    const f = await fixture('otel-unreachable');
    const env = {
      ...f.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
    };
    expect((await gtAsync(['up'], { cwd: f.town.root, env })).status).toBe(0);
    await landOne(f, env);
    // Several metric exports have failed by now (one every 300 ms); the log says it once.
    await eventually(
      () => daemonLog(f).some((e) => e.event === 'telemetry-error' && e.signal === 'metrics'),
      'the first failed export',
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const down = await gtAsync(['down', '--json'], { cwd: f.town.root, env });
    expect(json<{ daemon_stopped: boolean }>(down)).toMatchObject({ daemon_stopped: true });
    const errors = daemonLog(f).filter((e) => e.event === 'telemetry-error');
    const kinds = errors.map((e) => `${String(e.signal)} ${String(e.kind)}`);
    expect(new Set(kinds).size).toBe(kinds.length);
    expect(kinds).toContain('metrics Error:ECONNREFUSED');
    expect(daemonLog(f).some((e) => e.event === 'stopped')).toBe(true);
  }, 180_000);
});
