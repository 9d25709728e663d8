import type { QueueStats } from '../../src/core/merge-queue-stats.js';
import type { AgentRow, ConvoyRow, Need, QueueView, TownView } from '../../src/views/model.js';

/** Views for the feed's unit tests, built from the parts a test cares about. */

export const NOW = Date.parse('2026-12-01T12:00:00Z');
export const ago = (s: number): string => new Date(NOW - s * 1000).toISOString();

export function agentRow(address: string, over: Partial<AgentRow> = {}): AgentRow {
  return {
    address,
    role: address.includes('/polecats/') ? 'polecat' : address.endsWith('/witness') ? 'witness' : 'mayor',
    rig: address.includes('/') ? (address.split('/')[0] ?? null) : null,
    session: `s-${address.split('/').at(-1) ?? address}`,
    state: 'working',
    since: ago(300),
    cli: 'claude',
    model: null,
    bead: null,
    branch: null,
    activity: ago(5),
    question: null,
    tokens: null,
    usage: null,
    ...over,
  };
}

export function need(id: string, over: Partial<Need> = {}): Need {
  return {
    kind: 'agent',
    id,
    severity: 'medium',
    subject: id,
    summary: 'stalled on ga-1',
    since: ago(120),
    state: 'stalled',
    owner: null,
    agent: id,
    ...over,
  };
}

export function stats(over: Partial<QueueStats> = {}): QueueStats {
  return {
    queued: 0,
    testing: 0,
    returned: 0,
    escalated: 0,
    oldest_wait_ms: null,
    window_hours: 12,
    landed: 0,
    merges_per_hour: 0,
    queue_ms_p50: null,
    queue_ms_p95: null,
    gate_runs_per_landed: null,
    batches: 0,
    batch_size_mean: null,
    isolation_rounds_per_red: null,
    returns: {},
    flakes: 0,
    ...over,
  };
}

export function convoy(
  id: string,
  name: string,
  merged: number,
  total: number,
  over: Partial<ConvoyRow> = {},
): ConvoyRow {
  return {
    id,
    name,
    status: 'open',
    owner: 'mayor',
    request: null,
    landed_at: null,
    progress: { total, merged, closed: merged, working: total - merged, queued: 0, ready: 0, blocked: 0 },
    beads: [],
    ...over,
  };
}

export function townView(over: Partial<TownView> = {}): TownView {
  const queue: QueueView[] = [{ rig: 'gastown', stats: stats(), rows: [] }];
  return {
    at: new Date(NOW).toISOString(),
    town: { name: 'test', root: '/town' },
    rig: null,
    rigs: [{ name: 'gastown', prefix: 'ga', default_branch: 'main' }],
    daemon: { running: true, pid: 4242 },
    down: false,
    needs: [],
    agents: [],
    work: { open: 0, ready: 0, in_progress: 0, hooked: 0, blocked: 0 },
    queue,
    convoys: [],
    landed: { since: ago(3600), count: 0, recent: [] },
    costs: null,
    events: [],
    cursor: 0,
    ...over,
  };
}
