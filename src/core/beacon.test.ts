import { describe, expect, it } from 'vitest';
import { formatBeacon } from './beacon.js';

describe('formatBeacon', () => {
  const at = Date.UTC(2026, 10, 24, 9, 5, 30);
  it('names recipient, sender, time and topic on one line, then says to prime', () => {
    const b = formatBeacon({
      recipient: { role: 'polecat', rig: 'gastown', name: 'toast' },
      sender: 'gastown/witness',
      atMs: at,
      topic: 'assigned',
      bead: 'ga-abc',
    });
    expect(b).toBe(
      '[GAS TOWN] polecat toast (rig: gastown) <- gastown/witness • 2026-11-24T09:05Z • assigned:ga-abc — Run `gt prime --hook` and begin the work on your hook now.',
    );
    expect(b).not.toContain('\n');
  });

  it('describes every kind of recipient', () => {
    const of = (recipient: Parameters<typeof formatBeacon>[0]['recipient']): string =>
      formatBeacon({ recipient, sender: 'daemon', atMs: at, topic: 'patrol' }).split(' <- ')[0] ?? '';
    expect(of({ role: 'mayor' })).toBe('[GAS TOWN] mayor');
    expect(of({ role: 'boot' })).toBe('[GAS TOWN] boot');
    expect(of({ role: 'witness', rig: 'gastown' })).toBe('[GAS TOWN] witness (rig: gastown)');
    expect(of({ role: 'crew', rig: 'gastown', name: 'ana' })).toBe('[GAS TOWN] crew ana (rig: gastown)');
    expect(formatBeacon({ recipient: { role: 'deacon' }, sender: 'daemon', atMs: at, topic: 'patrol' })).toContain(
      '• patrol — Run `gt prime --hook` to load your context',
    );
  });
});
