import type { AgentIdentity } from './identity.js';

/**
 * The beacon: the first prompt every session receives. One line (it may be typed into a TUI), naming the
 * recipient, the sender, the time and the topic, then the instruction to prime. It doubles as a marker for
 * finding the session later (searching transcripts for "[GAS TOWN] polecat toast").
 */

export type BeaconInput = {
  recipient: AgentIdentity;
  sender: string;
  atMs: number;
  /** Why the session starts: assigned, patrol, handoff, restart, cold-start, … */
  topic: string;
  /** The bead on the recipient's hook, if any. */
  bead?: string | null;
};

export function describeRecipient(id: AgentIdentity): string {
  switch (id.role) {
    case 'mayor':
    case 'deacon':
    case 'boot':
      return id.role;
    case 'witness':
    case 'refinery':
      return `${id.role} (rig: ${id.rig})`;
    case 'polecat':
    case 'crew':
      return `${id.role} ${id.name} (rig: ${id.rig})`;
  }
}

export const BEACON_MARK = '[GAS TOWN]';

export function formatBeacon(input: BeaconInput): string {
  const at = new Date(input.atMs).toISOString().slice(0, 16) + 'Z';
  const topic = input.bead !== undefined && input.bead !== null ? `${input.topic}:${input.bead}` : input.topic;
  const next =
    input.bead !== undefined && input.bead !== null
      ? 'Run `gt prime --hook` and begin the work on your hook now.'
      : 'Run `gt prime --hook` to load your context, then check your hook.';
  return `${BEACON_MARK} ${describeRecipient(input.recipient)} <- ${input.sender} • ${at} • ${topic} — ${next}`;
}
