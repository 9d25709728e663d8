import type { QueueStats } from '../../src/core/merge-queue-stats.js';
import type { AgentRow, TownView } from '../../src/views/model.js';

/** A town view for the dashboard's unit tests, with `hostile` text wherever the town's own text goes. */
export function viewFixture(hostile = '<b>bold</b>', at = '2026-05-01T10:00:00.000Z'): TownView {
  const stats: QueueStats = {
    queued: 1,
    testing: 1,
    returned: 0,
    escalated: 0,
    oldest_wait_ms: 120_000,
    window_hours: 10,
    landed: 3,
    merges_per_hour: 0.3,
    queue_ms_p50: 60_000,
    queue_ms_p95: 300_000,
    gate_runs_per_landed: 1.5,
    batches: 2,
    batch_size_mean: 1.5,
    isolation_rounds_per_red: null,
    returns: { conflict: 1 },
    flakes: 0,
  };
  const agent: AgentRow = {
    address: 'gastown/polecats/toast',
    role: 'polecat',
    rig: 'gastown',
    session: 'ga-toast',
    state: 'needs-input',
    since: '2026-05-01T09:58:00.000Z',
    cli: 'claude',
    model: 'claude-sonnet',
    bead: { id: 'ga-abc', title: `fix ${hostile}`, status: 'hooked' },
    branch: 'polecat/toast',
    activity: '2026-05-01T09:59:00.000Z',
    question: `Allow ${hostile}?`,
    tokens: 1500,
    usage: {
      input_tokens: 1000,
      output_tokens: 200,
      cache_read_tokens: 250,
      cache_write_tokens: 50,
      usd: null,
      model: 'claude-sonnet',
    },
  };
  return {
    at,
    town: { name: 'demo', root: '/tmp/demo' },
    rig: null,
    rigs: [{ name: 'gastown', prefix: 'ga', default_branch: 'main' }],
    daemon: { running: true, pid: 42 },
    down: false,
    needs: [
      {
        kind: 'escalation',
        id: 'hq-esc1',
        severity: 'high',
        subject: 'tester',
        summary: `disk full ${hostile}`,
        since: '2026-05-01T09:00:00.000Z',
        state: 'open',
        owner: null,
        agent: null,
      },
      {
        kind: 'agent',
        id: agent.address,
        severity: 'high',
        subject: agent.address,
        summary: `Allow ${hostile}?`,
        since: '2026-05-01T09:58:00.000Z',
        state: 'needs-input',
        owner: null,
        agent: agent.address,
      },
    ],
    agents: [agent, { ...agent, address: 'mayor', role: 'mayor', rig: null, bead: null, question: null, usage: null }],
    work: { open: 3, ready: 1, in_progress: 1, hooked: 1, blocked: 0 },
    queue: [
      {
        rig: 'gastown',
        stats,
        rows: [
          {
            id: 'ga-mr1',
            title: `Merge ${hostile}`,
            source: 'ga-abc',
            state: 'testing',
            cause: null,
            position: 1,
            age_ms: 30_000,
            attempts: 1,
          },
        ],
      },
    ],
    convoys: [
      {
        id: 'hq-cv1',
        name: `convoy ${hostile}`,
        status: 'open',
        owner: 'mayor',
        request: null,
        landed_at: null,
        progress: { total: 2, merged: 1, closed: 0, working: 1, queued: 0, ready: 0, blocked: 0 },
        beads: [{ id: 'ga-abc', title: `fix ${hostile}`, state: 'working', assignee: agent.address }],
      },
    ],
    landed: {
      since: '2026-05-01T00:00:00.000Z',
      count: 1,
      recent: [
        {
          id: 'ga-mr0',
          title: `Merge ${hostile}`,
          rig: 'gastown',
          source: 'ga-x',
          landed_in: 'abcdef1234567',
          landed_at: '2026-05-01T08:00:00.000Z',
        },
      ],
    },
    costs: null,
    events: [
      {
        id: 7,
        at: '2026-05-01T09:59:30.000Z',
        actor: 'daemon',
        subject: 'ga-abc',
        type: 'created',
        text: `ga-abc filed "${hostile}"`,
        tone: 'info',
      },
    ],
    cursor: 9,
  };
}
