import { it } from 'vitest';
import { renderFeed } from './feed-render.js';
import { initialUi } from './feed-keys.js';
import { agentRow, need, townView, NOW, ago, convoy, stats } from '../../test/helpers/feed-views.js';
it('shows', () => {
  const v = townView({
    needs: [need('gastown/polecats/toast'), need('hq-esc1', { kind: 'escalation', severity: 'critical', subject: 'tester', summary: 'the disk is full', agent: null, state: 'open' }), need('#3', { kind: 'problem', subject: 'gastown/polecats/nux', summary: 'stalled: no progress for 31m', state: 'handling', owner: 'gastown/witness', agent: 'gastown/polecats/nux' })],
    agents: [agentRow('mayor', { state: 'idle' }), agentRow('gastown/witness', { state: 'idle' }), agentRow('gastown/polecats/toast', { state: 'stalled', bead: { id: 'ga-abc', title: 'Add a health endpoint', status: 'hooked' }, branch: 'polecat/toast-ga-abc', usage: { input_tokens: 12000, output_tokens: 3400, cache_read_tokens: 100000, cache_write_tokens: 0, usd: null, model: 'x' }, tokens: 115400 })],
    queue: [{ rig: 'gastown', stats: stats({ queued: 2, testing: 1, landed: 4, oldest_wait_ms: 600000 }), rows: [{ id: 'ga-mr1', title: 'Merge: Add a thing', source: 'polecat/toast', state: 'testing', cause: null, position: 1, age_ms: 300000, attempts: 1 }] }],
    convoys: [convoy('hq-cv1', 'health endpoint', 2, 5)],
    events: [{ id: 1, at: ago(60), actor: 'mayor', subject: 'ga-abc', type: 'created', text: 'ga-abc filed "Add a health endpoint"', tone: 'info' }, { id: 2, at: ago(30), actor: 'gastown/polecats/toast', subject: 'gastown/polecats/toast', type: 'session_ended', text: 'gastown/polecats/toast session ended (crashed)', tone: 'bad' }],
  });
  process.stdout.write(renderFeed(v, initialUi(null, ['gastown']), { width: 120, height: 30, nowMs: NOW, color: false }).map((l) => `|${l}|`).join('\n') + '\n');
  process.stdout.write(renderFeed(v, initialUi(null, ['gastown']), { width: 60, height: 14, nowMs: NOW, color: false }).map((l) => `|${l}|`).join('\n') + '\n');
});
