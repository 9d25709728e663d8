import { realpathSync } from 'node:fs';
import type { Agent, AgentStore, QueuedNudge } from '../core/agent-store.js';
import { describeRecipient } from '../core/beacon.js';
import type { BeadStore } from '../core/bead-store.js';
import { STATUSES } from '../core/bead.js';
import { isRecord, NotFoundError } from '../core/errors.js';
import { OVERSEER, parseAddress, type Role } from '../core/identity.js';
import type { UsageStore } from '../core/usage-store.js';
import { agentCli } from '../runtime/launch.js';
import { loadRigSettings } from '../town/rig.js';
import { loadSettings, type Town } from '../town/town.js';
import { inbox, markAnnounced, senderLabel, takeHandoffNote, turnBoundaryNotice, type Mail } from './mail.js';
import { viewMolecule, type MoleculeStatus, type MoleculeView } from './molecule.js';
import { formatQueuedNudges } from './nudge.js';

/**
 * `gt prime`: tells an agent who it is, where it works and what is on its hook, and hands it the nudges that
 * waited for it. Run by the agent CLI's start-up hook (`--hook`: reads the hook's JSON from stdin and records
 * the CLI's own session id), after compaction, or by hand.
 */

export type Stores = AgentStore & BeadStore & Pick<UsageStore, 'recordUsageSource'>;

/** The hook payload an agent CLI passes on stdin (Claude Code: session_id, source, hook_event_name, …). */
export type HookInput = {
  session_id?: string;
  source?: string;
  hook_event_name?: string;
  stop_hook_active?: boolean;
  prompt?: string;
  /** Where the CLI writes this session's transcript (Claude Code's SessionStart hook says). */
  transcript_path?: string;
};

export function parseHookInput(text: string): HookInput {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return {};
  }
  if (!isRecord(v)) return {};
  const out: HookInput = {};
  if (typeof v.session_id === 'string') out.session_id = v.session_id;
  if (typeof v.source === 'string') out.source = v.source;
  if (typeof v.hook_event_name === 'string') out.hook_event_name = v.hook_event_name;
  if (typeof v.stop_hook_active === 'boolean') out.stop_hook_active = v.stop_hook_active;
  if (typeof v.prompt === 'string') out.prompt = v.prompt;
  if (typeof v.transcript_path === 'string') out.transcript_path = v.transcript_path;
  return out;
}

/** The agent asking: `GT_ROLE` when its session set it, else the agent whose sandbox holds `cwd`. */
export async function whoAmI(
  store: AgentStore,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<Agent> {
  const agent = await agentHere(store, env, cwd);
  if (agent === undefined)
    throw new NotFoundError('this is not an agent sandbox and GT_ROLE is not set', {
      hint: 'run it inside an agent session, or cd into a sandbox',
    });
  return agent;
}

/** `GT_ROLE`'s agent when it is set, else the agent whose sandbox holds `cwd`, else undefined. */
async function agentHere(
  store: AgentStore,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<Agent | undefined> {
  const role = env.GT_ROLE;
  if (role !== undefined && role !== '') return store.agent(role);
  let here = cwd;
  try {
    here = realpathSync(cwd);
  } catch {
    // keep cwd as given
  }
  const agents = await store.agents({});
  return agents
    .filter((a) => here === a.sandbox_path || here.startsWith(`${a.sandbox_path}/`))
    .sort((a, b) => b.sandbox_path.length - a.sandbox_path.length)[0];
}

/**
 * Who is asking, for mail (whose inbox, who sends): the agent, by GT_ROLE or by the sandbox `cwd` is in; else,
 * in a town, the overseer (the person at the keyboard). Commands that need an agent use whoAmI.
 */
export async function whoAsks(
  store: AgentStore,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<{ address: string; agent: Agent | null }> {
  const agent = await agentHere(store, env, cwd);
  return agent === undefined ? { address: OVERSEER, agent: null } : { address: agent.address, agent };
}

export type PrimeReport = {
  address: string;
  role: Role;
  town: string;
  sandbox: string;
  branch: string | null;
  session: string;
  session_id: string | null;
  runtime_session_id: string | null;
  source: string;
  hook: { id: string; title: string; status: string; description: string; args: string | null } | null;
  /** The molecule on the hooked bead (a formula attached to it), where it stands. */
  molecule: MoleculeStatus | null;
  nudges: QueuedNudge[];
  /** The note the previous session left (gt handoff), handed over once. */
  handoff: Mail | null;
  unread_mail: Mail[];
  text: string;
};

const ROLE_DUTY: Readonly<Record<Role, string>> = {
  mayor: 'You coordinate the town: turn requests into beads, sling them to workers, and keep the humans informed.',
  deacon: 'You patrol the town: what crosses rigs, what witnesses escalate, the witnesses themselves, mass deaths.',
  boot: 'You triage the deacon when it does not respond (nothing, nudge or restart), then you are done.',
  witness: "You patrol this rig's polecats and refinery: judge the problems the daemon records, act, report.",
  refinery: 'You merge finished work into the default branch, one branch at a time, keeping it green.',
  polecat: 'You are a worker: do the bead on your hook in this sandbox, commit it, and finish with `gt done`.',
  crew: 'You are a long-lived worker beside a human: take work from your hook or from them.',
};

/** What to do when the hook is empty, by role. */
const NEXT_WITHOUT_WORK: Readonly<Record<Role, string>> = {
  mayor: "Your work is the overseer's requests: your mail, and the town as it stands, below.",
  deacon: 'Your work is your open problems: run `gt patrol scan`, as your patrol formula below says.',
  boot: 'Your work is the deacon: run `gt patrol scan`, as your patrol formula below says.',
  witness: 'Your work is your open problems: run `gt patrol scan`, as your patrol formula below says.',
  refinery: 'Check for merge requests: `bd list --type merge-request`.',
  polecat: 'You are finished: there is no work for you. Stop here; do not look for other work.',
  crew: 'Check `bd ready` for work, or ask the human you work with.',
};

/**
 * The transcript the agent CLI's start-up hook named, kept as the record of the agent's usage to read (gt costs,
 * the daemon's budgets) when its preset writes Claude-form transcripts. Never fails the prime: a start-up hook
 * must not stop the agent over its bookkeeping.
 */
async function recordTranscript(
  store: Stores,
  town: Town,
  agent: Agent,
  path: string,
  runtime: string | undefined,
  runtimeSessionId: string | undefined,
): Promise<void> {
  if (!path.startsWith('/') || !path.endsWith('.jsonl') || path.length > 4096) return;
  try {
    const resolved = agentCli(loadSettings(town), agent, runtime);
    if (resolved.preset.usage !== 'claude') return;
    await store.recordUsageSource({
      path,
      agent: agent.address,
      runtime: resolved.name,
      format: 'claude',
      runtime_session_id: runtimeSessionId ?? null,
    });
  } catch {
    // unknown agent CLI, unreadable settings: its usage goes unread, the agent goes on
  }
}

/** Whether the agent's rig has merge gates (a settings file that does not parse counts as none). */
function hasGates(town: Town, agent: Agent): boolean {
  if (agent.rig === null) return false;
  try {
    return loadRigSettings(town.root, agent.rig).refinery.gates.length > 0;
  } catch {
    return false;
  }
}

export async function prime(
  store: Stores,
  town: Town,
  agent: Agent,
  options: { hook: boolean; input: HookInput; runtimeSessionId?: string; runtime?: string; actor: string },
): Promise<PrimeReport> {
  let session = await store.openSession(agent.address);
  const runtimeId = options.input.session_id ?? options.runtimeSessionId;
  const validId =
    runtimeId !== undefined && /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(runtimeId) ? runtimeId : undefined;
  if (options.hook && session === null) {
    // An agent CLI started by hand, not by gt: its session joins the chain all the same.
    session = await store.startSession(
      {
        agent: agent.address,
        runtime: options.runtime ?? agent.runtime ?? 'unknown',
        bead_id: agent.hook_bead,
        runtime_session_id: validId ?? null,
      },
      options.actor,
    );
  } else if (options.hook && session !== null && validId !== undefined) {
    session = await store.setRuntimeSessionId(session.session_id, validId, options.actor);
  }
  if (options.hook && options.input.transcript_path !== undefined)
    await recordTranscript(store, town, agent, options.input.transcript_path, options.runtime, validId);
  const bead = agent.hook_bead === null ? undefined : (await store.show([agent.hook_bead]))[0];
  const molecule = bead === undefined ? undefined : await viewMolecule(store, bead);
  const steps =
    bead === undefined || molecule !== undefined
      ? []
      : await store.list({ parent: bead.id, statuses: STATUSES, sort: 'oldest', limit: 0 });
  const nudges = await store.takeNudges(agent.address, 'prime');
  const note = (await takeHandoffNote(store, agent.address)) ?? null;
  const unread = (await inbox(store, agent.address)).filter((m) => !m.read && !m.handoff);
  // Listed here, at its session's start: announced, so no turn boundary tells it again (a person's `gt prime`
  // looks without telling the agent anything).
  if (options.hook)
    await markAnnounced(
      store,
      unread.map((m) => m.id),
      'prime',
    );
  const source = options.input.source ?? (options.hook ? 'startup' : 'manual');
  const id = parseAddress(agent.address);
  const hook =
    bead === undefined
      ? null
      : {
          id: bead.id,
          title: bead.title,
          status: bead.status,
          description: bead.description,
          args: typeof bead.metadata.gt_args === 'string' ? bead.metadata.gt_args : null,
        };

  const lines = [
    [
      '[GAS TOWN]',
      `role:${agent.address}`,
      `session:${agent.session_name}`,
      ...(typeof session?.runtime_session_id === 'string' ? [`runtime-session:${session.runtime_session_id}`] : []),
      `source:${source}`,
    ].join(' '),
    '',
  ];
  if (source === 'compact' || source === 'resume') {
    lines.push(
      `Recovery: your context was ${source === 'compact' ? 'compacted' : 'resumed'}. You are ${describeRecipient(id)} (${agent.address}). Continue your current task.`,
    );
  } else {
    lines.push(`You are ${describeRecipient(id)}, address ${agent.address}, in the Gas Town workspace "${town.name}".`);
    lines.push(ROLE_DUTY[agent.role]);
    lines.push(
      `Your sandbox is ${agent.sandbox_path}${agent.branch !== null ? ` (branch ${agent.branch})` : ''}. Work only there.`,
    );
  }
  lines.push('');
  if (note !== null) {
    lines.push(
      '## Note from your previous session',
      '',
      `${note.subject}${note.body.trim() !== '' ? `\n${note.body.trim()}` : ''}`,
      '',
    );
  }
  if (hook !== null) {
    lines.push('## Your hook', '', `${hook.id}: ${hook.title} [${hook.status}]`, '');
    if (hook.description.trim() !== '') lines.push(hook.description.trim(), '');
    if (hook.args !== null) lines.push(`Instructions for this assignment: ${hook.args}`, '');
    if (steps.length > 0) {
      lines.push(
        'Steps (child beads; close each with `bd close <id>` as you finish it):',
        ...steps.map((st, i) => `  ${i + 1}. [${st.status === 'closed' ? 'x' : ' '}] ${st.id}: ${st.title}`),
        '',
      );
    }
    if (molecule !== undefined) lines.push(...moleculeLines(molecule, agent.role), '');
    lines.push('Work is on your hook: begin now, without asking for confirmation.');
    if (agent.role === 'polecat' && molecule === undefined)
      lines.push(
        hasGates(town, agent)
          ? "When it is done and committed, run `gt gates` (the rig's merge gates, on your commit: when they pass, the refinery need not run them again), then `gt done`."
          : 'When it is done and committed, run `gt done`.',
      );
  } else {
    lines.push('## Your hook', '', 'Nothing is on your hook.');
    lines.push(NEXT_WITHOUT_WORK[agent.role]);
  }
  if (unread.length > 0) {
    lines.push(
      '',
      `## Mail (${unread.length} unread)`,
      '',
      ...unread.map(
        (m) => `${m.id} from ${senderLabel(m)}: ${m.subject}${m.priority === 'normal' ? '' : ` [${m.priority}]`}`,
      ),
      '',
      'Read with `gt mail read <id>`; answer with `gt mail reply <id> -m "<text>"`; archive with `gt mail archive <id>`.',
    );
  }
  if (nudges.length > 0) lines.push('', formatQueuedNudges(nudges));
  return {
    address: agent.address,
    role: agent.role,
    town: town.name,
    sandbox: agent.sandbox_path,
    branch: agent.branch,
    session: agent.session_name,
    session_id: session?.session_id ?? null,
    runtime_session_id: session?.runtime_session_id ?? null,
    source,
    hook,
    molecule: molecule?.status ?? null,
    nudges,
    handoff: note,
    unread_mail: unread,
    text: `${lines.join('\n')}\n`,
  };
}

/** The molecule on the hook: what is done, the current step in full (its text has the variables filled in), what follows. */
function moleculeLines(view: MoleculeView, role: Role): string[] {
  const s = view.status;
  const ids = (status: string): string[] => s.steps.filter((st) => st.status === status).map((st) => st.id);
  const lines = [`## Molecule: ${s.formula} v${s.version} (${s.done} of ${s.total} steps done)`, ''];
  const done = ids('done');
  if (done.length > 0) lines.push(`Done: ${done.join(', ')}.`);
  const current = s.steps.find((st) => st.status === 'current');
  if (current === undefined) {
    lines.push(
      s.done === s.total
        ? `Every step is done.${role === 'polecat' ? ' Hand the work in: `gt done`.' : ''}`
        : 'No step is ready: the open ones wait on others (`gt mol status`).',
    );
    return lines;
  }
  lines.push('', `Current step: ${current.id} (${current.bead}): ${current.title}`, '');
  const text = view.stepBeads.get(current.bead)?.description.trim() ?? '';
  if (text !== '') lines.push(text, '');
  const rest = s.steps.filter((st) => st.status === 'ready' || st.status === 'waiting').map((st) => st.id);
  if (rest.length > 0) lines.push(`After it: ${rest.join(', ')}.`);
  lines.push(
    `Do the current step only. When it is done, run \`gt mol step done ${current.id}\`: it closes the step and names the next (run again, it changes nothing).`,
    'Your place is kept in the store: a new session continues at the same step.',
  );
  return lines;
}

/**
 * Stop: nudges that arrived during the turn keep the agent going (`decision: block` with them as the reason);
 * a polecat whose hooked bead is still open is reminded once to finish with `gt done`. Empty: let it stop.
 */
export async function onStop(
  store: Stores,
  agent: Agent,
  options: { stopHookActive: boolean; remindDone: boolean },
): Promise<string> {
  // The end of a turn is a turn boundary too: what arrived while the agent was busy is handed over now, since
  // an agent that goes idle has no next turn of its own to hear it at.
  const waiting = await turnBoundaryNotice(store, agent.address, 'stop', { wakingOnly: true });
  if (waiting !== '') return JSON.stringify({ decision: 'block', reason: waiting });
  if (options.remindDone && !options.stopHookActive && agent.hook_bead !== null) {
    const [bead] = await store.show([agent.hook_bead]);
    if (bead !== undefined && bead.status !== 'closed') {
      return JSON.stringify({
        decision: 'block',
        reason: `${bead.id} is still on your hook. If the work is finished, commit it and run \`gt done\`; if you are stuck, say what blocks you.`,
      });
    }
  }
  return '';
}
