import { classifyPane, type PaneProfile, type PaneState } from '../core/pane.js';
import type { AgentLiveness, SessionProvider } from './provider.js';

/** What one look at an agent's session shows: its agent process, its pane, and when it last did anything. */
export type SessionLook = { liveness: AgentLiveness; pane: PaneState['kind'] | null; activityMs: number | null };

/** Looks at a session the caller knows exists (`alive`); a missing one is dead with nothing to show. */
export async function lookAtSession(
  provider: SessionProvider,
  name: string,
  alive: boolean,
  processNames: readonly string[],
  profile: PaneProfile,
): Promise<SessionLook> {
  if (!alive) return { liveness: 'dead', pane: null, activityMs: null };
  return {
    liveness: await provider.agentLiveness(name, processNames),
    pane: classifyPane(await provider.capture(name).catch(() => ''), profile).kind,
    activityMs: await provider.lastActivity(name).catch(() => null),
  };
}
