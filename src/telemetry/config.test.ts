import { describe, expect, it } from 'vitest';
import { loggableUrl, telemetryConfig } from './config.js';

describe('telemetryConfig', () => {
  it('is off without an OTLP endpoint, or when the SDK is disabled', () => {
    expect(telemetryConfig({})).toBeNull();
    expect(telemetryConfig({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_HEADERS: 'a=b' })).toBeNull();
    expect(telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBeNull();
    expect(telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' })).toBeNull();
  });

  it('adds each signal path to the shared endpoint, and takes a signal endpoint as it is', () => {
    expect(telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toEqual({
      traces: { url: 'http://c:4318/v1/traces', protocol: 'http/protobuf' },
      metrics: { url: 'http://c:4318/v1/metrics', protocol: 'http/protobuf', intervalMs: 60_000, timeoutMs: 30_000 },
      resource: { 'service.name': 'gastown' },
      notes: [],
    });
    const c = telemetryConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/base',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t.example/custom',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    });
    expect(c?.traces).toEqual({ url: 'https://t.example/custom', protocol: 'http/json' });
    expect(c?.metrics).toMatchObject({ url: 'http://c:4318/base/v1/metrics', protocol: 'http/protobuf' });
  });

  it('exports only the signal that has an endpoint, or that an exporter list keeps', () => {
    const onlyMetrics = telemetryConfig({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m/v1/metrics' });
    expect(onlyMetrics?.traces).toBeNull();
    expect(onlyMetrics?.metrics?.url).toBe('http://m/v1/metrics');
    const noMetrics = telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_METRICS_EXPORTER: 'none' });
    expect(noMetrics?.metrics).toBeNull();
    expect(noMetrics?.notes).toEqual([]);
    const console = telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_TRACES_EXPORTER: 'console' });
    expect(console?.traces).toBeNull();
    expect(console?.notes).toEqual(['OTEL_TRACES_EXPORTER=console: only otlp is supported; traces are not exported']);
    expect(
      telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_TRACES_EXPORTER: 'console,otlp' })?.traces,
    ).not.toBeNull();
  });

  it('says why it cannot export: gRPC, a bad endpoint', () => {
    const grpc = telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    expect(grpc).toMatchObject({ traces: null, metrics: null });
    expect(grpc?.notes).toEqual([
      'OTLP protocol grpc is not supported (use http/protobuf or http/json); traces are not exported',
      'OTLP protocol grpc is not supported (use http/protobuf or http/json); metrics are not exported',
    ]);
    const bad = telemetryConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318' });
    expect(bad?.traces).toBeNull();
    expect(bad?.notes).toEqual(['the OTLP traces endpoint must be http or https; traces are not exported']);
    expect(telemetryConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '::' })?.notes).toEqual([
      'the OTLP traces endpoint is not a URL; traces are not exported',
    ]);
  });

  it('reads the metric interval and timeout (the timeout never above the interval)', () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' };
    expect(telemetryConfig({ ...base, OTEL_METRIC_EXPORT_INTERVAL: '1000' })?.metrics).toMatchObject({
      intervalMs: 1000,
      timeoutMs: 1000,
    });
    expect(
      telemetryConfig({ ...base, OTEL_METRIC_EXPORT_INTERVAL: '5000', OTEL_METRIC_EXPORT_TIMEOUT: '2000' })?.metrics,
    ).toMatchObject({ intervalMs: 5000, timeoutMs: 2000 });
    const bad = telemetryConfig({ ...base, OTEL_METRIC_EXPORT_INTERVAL: 'soon' });
    expect(bad?.metrics?.intervalMs).toBe(60_000);
    expect(bad?.notes).toEqual([
      'OTEL_METRIC_EXPORT_INTERVAL=soon is not a positive number of milliseconds; using 60000',
    ]);
  });

  it('names the service and adds the resource attributes given', () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' };
    expect(
      telemetryConfig({ ...base, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=dev,team=a%20b,service.name=x' })
        ?.resource,
    ).toEqual({ 'deployment.environment': 'dev', team: 'a b', 'service.name': 'x' });
    expect(
      telemetryConfig({ ...base, OTEL_SERVICE_NAME: 'town-a', OTEL_RESOURCE_ATTRIBUTES: 'service.name=x,oops' }),
    ).toMatchObject({
      resource: { 'service.name': 'town-a' },
      notes: ['OTEL_RESOURCE_ATTRIBUTES has an entry without key=value; it is ignored'],
    });
  });
});

describe('loggableUrl', () => {
  it('drops user, password and query (where a token may hide)', () => {
    expect(loggableUrl('https://user:secret@c.example:4318/v1/traces?api_key=k#x')).toBe(
      'https://c.example:4318/v1/traces',
    );
  });
});
