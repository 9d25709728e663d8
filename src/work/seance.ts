import type { AgentSession } from '../core/agent-store.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { execArgv } from '../exec/exec.js';
import { passthroughEnv, resolveAgent } from '../runtime/launch.js';
import type { TownContext } from './sessions.js';

/**
 * `gt seance`: an agent's previous sessions, from its chain; and a question put to one of them, for agent
 * CLIs that can fork a past session without disturbing it (Claude Code: `--resume <id> --fork-session -p`).
 */

export type SeanceEntry = AgentSession & { role: string };

export async function seanceList(ctx: TownContext, agentAddress?: string): Promise<SeanceEntry[]> {
  const agents = agentAddress === undefined ? await ctx.store.agents({}) : [await ctx.store.agent(agentAddress)];
  const out: SeanceEntry[] = [];
  for (const a of agents) for (const s of await ctx.store.sessions(a.address)) out.push({ ...s, role: a.role });
  return out.sort((x, y) => (x.started_at < y.started_at ? 1 : x.started_at > y.started_at ? -1 : 0));
}

export type SeanceAnswer = { session_id: string; agent: string; runtime_session_id: string; answer: string };

export async function seanceTalk(ctx: TownContext, sessionId: string, question: string): Promise<SeanceAnswer> {
  if (question.trim() === '')
    throw new ValidationError('ask something', { hint: 'gt seance --talk <session> -p "what were you working on?"' });
  const session = (await seanceList(ctx)).find((s) => s.session_id === sessionId || s.runtime_session_id === sessionId);
  if (session === undefined) throw new NotFoundError(`no session ${sessionId}`, { hint: 'list them with "gt seance"' });
  if (session.runtime_session_id === null)
    throw new ValidationError(`session ${sessionId} never told gt its own id, so it cannot be resumed`);
  const agent = await ctx.store.agent(session.agent);
  const resolved = resolveAgent(ctx.settings, agent.role, session.runtime);
  if (resolved.preset.hooks !== 'claude')
    throw new ValidationError(`${resolved.name} cannot fork a past session; only Claude Code can be asked`);
  const env: NodeJS.ProcessEnv = {
    ...passthroughEnv(ctx.env),
    ...resolved.preset.env,
    CLAUDECODE: '',
    NODE_OPTIONS: '',
  };
  const argv = [...resolved.preset.args, '--resume', session.runtime_session_id, '--fork-session', '-p', question];
  const r = await execArgv(resolved.preset.command, argv, {
    cwd: agent.sandbox_path,
    env,
    timeoutMs: 300_000,
    input: '',
  });
  if (!r.ok)
    throw new ValidationError(`${resolved.name} could not answer: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  return {
    session_id: session.session_id,
    agent: session.agent,
    runtime_session_id: session.runtime_session_id,
    answer: r.stdout.trim(),
  };
}
