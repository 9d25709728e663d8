/**
 * Which telemetry the daemon exports, read from the standard OpenTelemetry environment variables. Export is
 * opt-in: without an OTLP endpoint variable (or with OTEL_SDK_DISABLED=true) there is no config, and nothing
 * of OpenTelemetry is loaded. A pure function of the environment it is given.
 *
 * Headers (OTEL_EXPORTER_OTLP_HEADERS and the per-signal ones), timeouts, compression and certificates are
 * left to the exporters, which read them from the daemon's environment themselves: this module never holds
 * a header value, so nothing can log one.
 */

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export type SignalConfig = { url: string; protocol: OtlpProtocol };

export type MetricsConfig = SignalConfig & { intervalMs: number; timeoutMs: number };

export type TelemetryConfig = {
  traces: SignalConfig | null;
  metrics: MetricsConfig | null;
  /** Resource attributes: service.name (OTEL_SERVICE_NAME, default gastown) and OTEL_RESOURCE_ATTRIBUTES. */
  resource: Record<string, string>;
  /** What was asked for and cannot be done, or values ignored: one line each, with no secret in it. */
  notes: string[];
};

type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_SERVICE_NAME = 'gastown';
const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 30_000;

const SIGNAL_PATH = { TRACES: 'v1/traces', METRICS: 'v1/metrics' } as const;

const set = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());

/** The config, or null when export is not asked for (no endpoint) or is turned off (OTEL_SDK_DISABLED). */
export function telemetryConfig(env: Env): TelemetryConfig | null {
  if (set(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return null;
  const endpoint = set(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const tracesEndpoint = set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const metricsEndpoint = set(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  if (endpoint === undefined && tracesEndpoint === undefined && metricsEndpoint === undefined) return null;
  const notes: string[] = [];
  const traces = signal(env, 'TRACES', endpoint, tracesEndpoint, notes);
  const signalMetrics = signal(env, 'METRICS', endpoint, metricsEndpoint, notes);
  let metrics: MetricsConfig | null = null;
  if (signalMetrics !== null) {
    const intervalMs = millis(env, 'OTEL_METRIC_EXPORT_INTERVAL', DEFAULT_INTERVAL_MS, notes);
    // The SDK refuses a timeout longer than the interval.
    const timeoutMs = Math.min(intervalMs, millis(env, 'OTEL_METRIC_EXPORT_TIMEOUT', DEFAULT_TIMEOUT_MS, notes));
    metrics = { ...signalMetrics, intervalMs, timeoutMs };
  }
  return { traces, metrics, resource: resource(env, notes), notes };
}

function signal(
  env: Env,
  name: keyof typeof SIGNAL_PATH,
  endpoint: string | undefined,
  own: string | undefined,
  notes: string[],
): SignalConfig | null {
  const lower = name.toLowerCase();
  // OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER: a list; without otlp in it this signal is not exported.
  const exporters = set(env[`OTEL_${name}_EXPORTER`]);
  if (exporters !== undefined && !exporters.split(',').some((x) => x.trim() === 'otlp')) {
    if (!exporters.split(',').every((x) => x.trim() === 'none'))
      notes.push(`OTEL_${name}_EXPORTER=${exporters}: only otlp is supported; ${lower} are not exported`);
    return null;
  }
  // A signal's own endpoint is used as it is; the shared one gets the signal's path.
  const raw = own ?? (endpoint === undefined ? undefined : `${endpoint.replace(/\/+$/u, '')}/${SIGNAL_PATH[name]}`);
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    notes.push(`the OTLP ${lower} endpoint is not a URL; ${lower} are not exported`);
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    notes.push(`the OTLP ${lower} endpoint must be http or https; ${lower} are not exported`);
    return null;
  }
  const protocol =
    set(env[`OTEL_EXPORTER_OTLP_${name}_PROTOCOL`]) ?? set(env.OTEL_EXPORTER_OTLP_PROTOCOL) ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    notes.push(
      `OTLP protocol ${protocol} is not supported (use http/protobuf or http/json); ${lower} are not exported`,
    );
    return null;
  }
  return { url: url.href, protocol };
}

function millis(env: Env, key: string, fallback: number, notes: string[]): number {
  const raw = set(env[key]);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n > 0) return n;
  notes.push(`${key}=${raw} is not a positive number of milliseconds; using ${fallback}`);
  return fallback;
}

function resource(env: Env, notes: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = set(env.OTEL_RESOURCE_ATTRIBUTES);
  if (raw !== undefined) {
    for (const pair of raw.split(',')) {
      const at = pair.indexOf('=');
      const key = at < 0 ? '' : pair.slice(0, at).trim();
      if (key === '') {
        notes.push('OTEL_RESOURCE_ATTRIBUTES has an entry without key=value; it is ignored');
        continue;
      }
      try {
        out[decodeURIComponent(key)] = decodeURIComponent(pair.slice(at + 1).trim());
      } catch {
        notes.push('OTEL_RESOURCE_ATTRIBUTES has an entry that is not percent-encoded properly; it is ignored');
      }
    }
  }
  // OTEL_SERVICE_NAME wins over a service.name among the attributes (as the specification says).
  out['service.name'] = set(env.OTEL_SERVICE_NAME) ?? out['service.name'] ?? DEFAULT_SERVICE_NAME;
  return out;
}

/** An endpoint as it may be logged: scheme, host and path, without user, password or query. */
export function loggableUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}
