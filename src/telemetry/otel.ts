import { createRequire } from 'node:module';
import type * as Api from '@opentelemetry/api';
import type * as MetricsHttp from '@opentelemetry/exporter-metrics-otlp-http';
import type * as MetricsProto from '@opentelemetry/exporter-metrics-otlp-proto';
import type * as TraceHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as TraceProto from '@opentelemetry/exporter-trace-otlp-proto';
import type * as Resources from '@opentelemetry/resources';
import type * as SdkMetrics from '@opentelemetry/sdk-metrics';
import type * as SdkTrace from '@opentelemetry/sdk-trace-base';
import type { SpanPlan } from '../core/bead-trace.js';
import { errorMessage, isRecord } from '../core/errors.js';
import type { TelemetryConfig } from './config.js';

/**
 * The OpenTelemetry SDK, loaded only when export is enabled (its packages are not in gt's bundle: gt starts
 * without them). No global provider is registered: spans and instruments come from the providers made here,
 * so nothing else in the process is instrumented by accident.
 *
 * An exporter that fails (collector down, refused, slow) never reaches the daemon: each kind of failure is
 * logged once, and the SDK drops what it could not send.
 */

export type Meter = Api.Meter;

export type Otel = {
  /** Exports one trace (a no-op when traces are not exported). */
  emitTrace(plan: SpanPlan): void;
  /** The meter, or null when metrics are not exported. */
  meter: Meter | null;
  /** Sends what is buffered and stops, within `timeoutMs` (what is still unsent by then is dropped). */
  shutdown(timeoutMs: number): Promise<void>;
};

export type OtelLog = (entry: Record<string, unknown>) => void;

// eslint-disable-next-line @typescript-eslint/no-unsafe-type-assertion -- require() is untyped; each call names its module.
const load = <T>(name: string): T => createRequire(import.meta.url)(name) as T;

export function startOtel(config: TelemetryConfig, options: { version: string; log: OtelLog }): Otel {
  const api = load<typeof Api>('@opentelemetry/api');
  const { resourceFromAttributes } = load<typeof Resources>('@opentelemetry/resources');
  const resource = resourceFromAttributes({ 'service.version': options.version, ...config.resource });
  const failures = onceEach(options.log);
  const stops: (() => Promise<void>)[] = [];

  let tracer: Api.Tracer | null = null;
  if (config.traces !== null) {
    const sdk = load<typeof SdkTrace>('@opentelemetry/sdk-trace-base');
    const { OTLPTraceExporter } =
      config.traces.protocol === 'http/json'
        ? load<typeof TraceHttp>('@opentelemetry/exporter-trace-otlp-http')
        : load<typeof TraceProto>('@opentelemetry/exporter-trace-otlp-proto');
    const exporter = watchedSpanExporter(new OTLPTraceExporter({ url: config.traces.url }), failures);
    const provider = new sdk.BasicTracerProvider({ resource, spanProcessors: [new sdk.BatchSpanProcessor(exporter)] });
    tracer = provider.getTracer('gt', options.version);
    stops.push(() => provider.shutdown());
  }

  let meter: Meter | null = null;
  if (config.metrics !== null) {
    const sdk = load<typeof SdkMetrics>('@opentelemetry/sdk-metrics');
    const { OTLPMetricExporter } =
      config.metrics.protocol === 'http/json'
        ? load<typeof MetricsHttp>('@opentelemetry/exporter-metrics-otlp-http')
        : load<typeof MetricsProto>('@opentelemetry/exporter-metrics-otlp-proto');
    const exporter = watchedMetricExporter(new OTLPMetricExporter({ url: config.metrics.url }), failures);
    const reader = new sdk.PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: config.metrics.intervalMs,
      exportTimeoutMillis: config.metrics.timeoutMs,
    });
    const provider = new sdk.MeterProvider({ resource, readers: [reader] });
    meter = provider.getMeter('gt', options.version);
    stops.push(() => provider.shutdown());
  }

  return {
    meter,
    emitTrace(plan) {
      if (tracer !== null) emitSpan(api, tracer, plan, api.ROOT_CONTEXT);
    },
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), timeoutMs);
      });
      const settled = Promise.allSettled(stops.map((s) => s())).then(() => 'done' as const);
      if ((await Promise.race([settled, late])) === 'late')
        options.log({
          event: 'telemetry-error',
          signal: 'all',
          kind: 'shutdown',
          message: `not all sent within ${timeoutMs} ms`,
        });
      clearTimeout(timer);
    },
  };
}

function emitSpan(api: typeof Api, tracer: Api.Tracer, plan: SpanPlan, parent: Api.Context): void {
  const span = tracer.startSpan(
    plan.name,
    { startTime: new Date(plan.startMs), attributes: plan.attributes, kind: api.SpanKind.INTERNAL },
    parent,
  );
  if (plan.error) span.setStatus({ code: api.SpanStatusCode.ERROR });
  const context = api.trace.setSpan(parent, span);
  for (const child of plan.children) emitSpan(api, tracer, child, context);
  span.end(new Date(plan.endMs));
}

/** Logs a failure the first time its kind (error name and code) is seen on a signal, never again. */
function onceEach(log: OtelLog): (signal: string, error: unknown) => void {
  const seen = new Set<string>();
  return (signal, error) => {
    const code =
      isRecord(error) && (typeof error.code === 'string' || typeof error.code === 'number') ? error.code : '';
    const name = error instanceof Error ? error.name : 'Error';
    const kind = `${name}${code === '' ? '' : `:${code}`}`;
    if (seen.has(`${signal} ${kind}`)) return;
    seen.add(`${signal} ${kind}`);
    log({
      event: 'telemetry-error',
      signal,
      kind,
      // (A URL in a message loses any user and password it carries.)
      message: `export failed: ${errorMessage(error).replace(/\/\/[^/@\s]*@/gu, '//')} (said once per kind)`,
    });
  };
}

type ExportResult = { code: number; error?: Error };
/** ExportResultCode.SUCCESS in @opentelemetry/core. */
const SUCCESS = 0;

function watchedSpanExporter(
  inner: SdkTrace.SpanExporter,
  failed: (signal: string, error: unknown) => void,
): SdkTrace.SpanExporter {
  return {
    export(spans, done) {
      inner.export(spans, (result: ExportResult) => {
        if (result.code !== SUCCESS) failed('traces', result.error ?? new Error('unknown'));
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

function watchedMetricExporter(
  inner: SdkMetrics.PushMetricExporter,
  failed: (signal: string, error: unknown) => void,
): SdkMetrics.PushMetricExporter {
  const out: SdkMetrics.PushMetricExporter = {
    export(metrics, done) {
      inner.export(metrics, (result: ExportResult) => {
        if (result.code !== SUCCESS) failed('metrics', result.error ?? new Error('unknown'));
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush(),
  };
  // The temporality and aggregation the exporter chose (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
  if (inner.selectAggregationTemporality !== undefined)
    out.selectAggregationTemporality = inner.selectAggregationTemporality.bind(inner);
  if (inner.selectAggregation !== undefined) out.selectAggregation = inner.selectAggregation.bind(inner);
  return out;
}
