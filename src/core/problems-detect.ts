import type { DerivedState } from './derive.js';
import { supervisorOf, type Role } from './identity.js';
import type { Evidence, Problem, ProblemDraft } from './problem.js';

/**
 * Problem detection: a pure function of one look at the town (agents as derived, hooked work, each rig's merge
 * queue, the problems already live) that says what may need judgment now, with the evidence, and who judges it.
 * The daemon records the result with `syncProblems`: a problem not detected any more resolves itself, with the
 * reason this module gives (`resolutionOf`).
 */

export type DetectAgent = {
  address: string;
  role: Role;
  rig: string | null;
  state: DerivedState;
  hook: string | null;
  /** The hooked bead is closed. */
  hookClosed: boolean;
  /** The question on screen (state needs-input) and what kind of screen it is (permission, usage-limit, …). */
  question: string | null;
  questionKind: string | null;
  sessionAlive: boolean;
  lastProgressMs: number | null;
  /** Deaths (crashed or lost session endings), newest first. */
  deathsMs: readonly number[];
  /** Its last session died (crashed, lost, or its program exited under it), rather than being ended. */
  diedLast: boolean;
  /** A new session is being started for it (a restart in flight): what it shows now says nothing yet. */
  restarting?: boolean;

  sandbox: { uncommitted: number; unpushed: number } | null;
};

export type DetectRig = {
  name: string;
  /** Merge requests waiting to land (queued or testing). */
  waiting: number;
  /** When the oldest of them was filed. */
  oldestWaitingMs: number | null;
  /** When the queue last moved: a request landed or was returned. */
  lastMovedMs: number | null;
};

export type DetectWork = { bead: string; assignee: string | null; rig: string | null; updatedAtMs: number };

export type DetectConfig = {
  stalledAfterMs: number;
  /** Work hooked to nobody younger than this is a sling in flight. */
  inFlightMs: number;
  massDeathCount: number;
  massDeathWindowMs: number;
  /** How long a mass-death pause lasts unless the deacon lifts it sooner. */
  massDeathPauseMs: number;
  /** A queue that waits this long without moving while the refinery runs is stuck. */
  refineryStuckMs: number;
  /** A patrol agent woken for a problem that has not answered in this long does not respond. */
  respondMs: number;
  /** The roles the daemon keeps running: a standing refinery that is down is a problem. */
  standingRoles: readonly Role[];
  /** The IANA zone of the agents' clocks, for a reset time shown without one ("resets 3pm"); UTC if absent. */
  timeZone?: string;
};

export type DetectInput = {
  nowMs: number;
  agents: readonly DetectAgent[];
  /** Hooked beads that no agent holds. */
  orphans: readonly DetectWork[];
  rigs: readonly DetectRig[];
  /** Problems live now, with when their latest decision was made (null: none yet). */
  live: readonly (Problem & { decidedAtMs: number | null })[];
  /** The newest death a resolved mass-death problem covered: deaths up to then were judged already. */
  massDeathHandledMs?: number | null;
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Who judges trouble of this agent: its rig's witness; a witness's and the mayor's, the deacon; the deacon's, boot. */
export function ownerOf(agent: { role: Role; rig: string | null }): string {
  if (agent.role === 'deacon') return 'deacon/boot';
  const supervisor = supervisorOf(agent);
  return supervisor === 'mayor' ? 'deacon' : supervisor;
}

const PATROL_ROLES: ReadonlySet<Role> = new Set(['witness', 'deacon', 'boot']);

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** How far `zone`'s wall clock is ahead of UTC at `utcMs` (ms); null for a zone Intl does not know. */
function zoneOffsetMs(zone: string, utcMs: number): number | null {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    }).formatToParts(new Date(utcMs));
  } catch {
    return null;
  }
  const get = (type: string): number => Number(parts.find((x) => x.type === type)?.value ?? NaN);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Number.isFinite(wall) ? wall - Math.floor(utcMs / 1000) * 1000 : null;
}

/** The instant at which `zone`'s wall clock shows the given time (either one when a clock change repeats it). */
function wallToUtc(zone: string, y: number, mo: number, d: number, h: number, mi: number): number | null {
  const wall = Date.UTC(y, mo, d, h, mi);
  const first = zoneOffsetMs(zone, wall);
  if (first === null) return null;
  const second = zoneOffsetMs(zone, wall - first);
  return second === null ? null : wall - second;
}

/**
 * When a usage-limit screen says the limit resets, as an instant after `nowMs`: "resets 3pm", "resets at
 * 15:00", "resets 3pm (Europe/Berlin)" (Claude Code names its zone), "resets Dec 5, 3pm (UTC)", "try again in
 * 2 hours", "resets in 45 minutes". A clock time is in the zone the text names, else in `zone` (the agents'
 * own). Null when it does not say, or names a zone nobody knows.
 */
export function parseResetTime(text: string, nowMs: number, zone = 'UTC'): string | null {
  const rel = /(?:in|after)\s+(\d+)\s*(h|hr|hrs|hours?|m|min|mins|minutes?)\b/iu.exec(text);
  if (rel !== null) {
    const n = Number(rel[1]);
    const unit = (rel[2] ?? 'm').toLowerCase();
    return new Date(nowMs + n * (unit.startsWith('h') ? 3_600_000 : 60_000)).toISOString();
  }
  const at =
    /resets?\s+(?:at\s+)?(?:([a-z]{3})[a-z]*\s+(\d{1,2}),?\s+(?:(\d{4}),?\s+)?(?:at\s+)?)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?:\s*\(([^)\s]+)\))?/iu.exec(
      text,
    );
  if (at === null) return null;
  const [, monthName, dayText, yearText, hourText, minuteText, halfText, zoneText] = at;
  const half = halfText?.toLowerCase();
  let hour = Number(hourText);
  const minute = minuteText === undefined ? 0 : Number(minuteText);
  if (half === undefined && minuteText === undefined) return null; // "resets 3" says nothing certain
  if (hour > 23 || minute > 59 || (half !== undefined && (hour < 1 || hour > 12))) return null;
  if (half === 'pm' && hour < 12) hour += 12;
  if (half === 'am' && hour === 12) hour = 0;
  const tz = zoneText ?? zone;
  const offset = zoneOffsetMs(tz, nowMs);
  if (offset === null) return null;
  const today = new Date(nowMs + offset); // the zone's wall clock now, read with UTC getters
  const month = monthName === undefined ? today.getUTCMonth() : MONTHS.indexOf(monthName.toLowerCase());
  if (month < 0) return null;
  // Claude Code writes the year only when it is not this one.
  const year = yearText === undefined ? today.getUTCFullYear() : Number(yearText);
  const day = dayText === undefined ? today.getUTCDate() : Number(dayText);
  let t = wallToUtc(tz, year, month, day, hour, minute);
  // Past already: a time alone is tomorrow's, a date without its year next year's, a date with one is over.
  if (t !== null && t <= nowMs)
    t =
      yearText !== undefined
        ? null
        : monthName === undefined
          ? wallToUtc(tz, year, month, day + 1, hour, minute)
          : wallToUtc(tz, year + 1, month, day, hour, minute);
  return t === null ? null : new Date(t).toISOString();
}

/** Whether an agent program runs in its session (a tmux session may outlive its program). */
export function agentRunning(a: Pick<DetectAgent, 'sessionAlive' | 'state'>): boolean {
  return a.sessionAlive && a.state !== 'zombie' && a.state !== 'dead-with-work' && a.state !== 'stopped';
}

function agentEvidence(a: DetectAgent): Evidence {
  return {
    state: a.state,
    hook: a.hook,
    session_alive: a.sessionAlive,
    agent_running: agentRunning(a),
    last_progress: iso(a.lastProgressMs),
    sandbox: a.sandbox,
  };
}

/** Everything that may need judgment now. */
export function detectProblems(input: DetectInput, config: DetectConfig): ProblemDraft[] {
  const { nowMs } = input;
  const out: ProblemDraft[] = [];
  const add = (
    a: Pick<DetectAgent, 'address' | 'role' | 'rig'>,
    kind: ProblemDraft['kind'],
    summary: string,
    evidence: Evidence,
  ): void => {
    out.push({ kind, subject: a.address, subject_type: 'agent', rig: a.rig, owner: ownerOf(a), summary, evidence });
  };
  for (const a of input.agents) {
    if (a.role === 'crew') continue; // a person's sandbox: nobody patrols it
    if (a.restarting === true) {
      // Mid-restart: its problems stay as they were until the new session shows how it is.
      for (const p of input.live) if (p.subject === a.address && p.subject_type === 'agent') out.push(draftOf(p));
      continue;
    }
    const ev = agentEvidence(a);
    if (a.hook !== null && a.hookClosed) {
      add(a, 'closed-hooked', `${a.hook} is closed but still on ${a.address}'s hook`, ev);
    }
    if (a.state === 'needs-input' && a.question !== null) {
      if (a.questionKind === 'usage-limit') {
        const reset = parseResetTime(a.question, nowMs, config.timeZone);
        add(a, 'usage-limit', `${a.address} reached its usage limit${reset === null ? '' : ` (resets ${reset})`}`, {
          ...ev,
          question: a.question,
          reset_at: reset,
        });
      } else {
        add(a, 'needs-input', `${a.address} waits at: ${a.question}`, {
          ...ev,
          question: a.question,
          question_kind: a.questionKind,
        });
      }
    }
    if (a.state === 'stalled' && a.hook !== null) {
      add(a, 'stalled', `no progress on ${a.hook} since ${iso(a.lastProgressMs) ?? 'it started'}`, ev);
    }
    if (a.state === 'dead-with-work') {
      add(a, 'dead-with-work', `${a.hook ?? 'work'} is on ${a.address}'s hook and no agent runs`, {
        ...ev,
        deaths: a.deathsMs.slice(0, 5).map((ms) => iso(ms)),
      });
    }
    if (a.state === 'stuck' && a.deathsMs.length > 0) {
      add(a, 'crash-loop', `${a.address} died ${a.deathsMs.length} times and is quarantined`, {
        ...ev,
        deaths: a.deathsMs.slice(0, 10).map((ms) => iso(ms)),
      });
    }
    if (a.state === 'zombie') {
      add(a, 'zombie', `${a.address}'s session holds no live agent and no work`, ev);
    }
    if (a.role === 'refinery' && config.standingRoles.includes('refinery') && !a.sessionAlive) {
      const rig = input.rigs.find((r) => r.name === a.rig);
      if (rig !== undefined && rig.waiting > 0)
        out.push({
          kind: 'refinery-down',
          subject: a.address,
          subject_type: 'agent',
          rig: a.rig,
          owner: ownerOf(a),
          summary: `${a.address} is not running while ${rig.waiting} request(s) wait`,
          evidence: { ...ev, waiting: rig.waiting, oldest_waiting: iso(rig.oldestWaitingMs) },
        });
    }
    if (a.role === 'refinery' && a.sessionAlive) {
      const rig = input.rigs.find((r) => r.name === a.rig);
      const since = rig === undefined ? null : Math.max(rig.lastMovedMs ?? 0, rig.oldestWaitingMs ?? 0);
      if (rig !== undefined && rig.waiting > 0 && since !== null && since > 0 && nowMs - since > config.refineryStuckMs)
        out.push({
          kind: 'refinery-stuck',
          subject: a.address,
          subject_type: 'agent',
          rig: a.rig,
          owner: ownerOf(a),
          summary: `${a.address} runs, but its queue of ${rig.waiting} has not moved since ${iso(since) ?? '?'}`,
          evidence: {
            ...ev,
            waiting: rig.waiting,
            oldest_waiting: iso(rig.oldestWaitingMs),
            last_moved: iso(rig.lastMovedMs),
          },
        });
    }
  }
  for (const w of input.orphans) {
    if (nowMs - w.updatedAtMs < config.inFlightMs) continue;
    out.push({
      kind: 'orphan-work',
      subject: w.bead,
      subject_type: 'bead',
      rig: w.rig,
      owner: w.rig === null ? 'deacon' : `${w.rig}/witness`,
      summary:
        w.assignee === null
          ? `${w.bead} is hooked but assigned to nobody`
          : `${w.bead} is hooked to ${w.assignee}, which does not hold it`,
      evidence: { bead: w.bead, assignee: w.assignee, rig: w.rig, updated_at: iso(w.updatedAtMs) },
    });
  }
  const mass = massDeath(input, config);
  if (mass !== null) out.push(mass);
  out.push(...unresponsive(input, config));
  return out;
}

/** Several deaths within the window (or a pause still running): restarts wait, the deacon is told. */
function massDeath(input: DetectInput, config: DetectConfig): ProblemDraft | null {
  const { nowMs } = input;
  const deaths = input.agents
    .flatMap((a) => a.deathsMs.map((ms) => ({ ms, address: a.address })))
    .sort((x, y) => y.ms - x.ms);
  // The newest burst: deaths of `count` different agents within the window of each other (one agent dying
  // again and again is a crash loop, not a mass death).
  let burst: { ms: number; address: string }[] = [];
  for (const first of deaths) {
    const within = deaths.filter((d) => d.ms <= first.ms && first.ms - d.ms <= config.massDeathWindowMs);
    if (new Set(within.map((d) => d.address)).size >= config.massDeathCount) {
      burst = within;
      break;
    }
  }
  const live = input.live.find((p) => p.kind === 'mass-death');
  const handled = input.massDeathHandledMs ?? null;
  const newest = burst[0]?.ms ?? null;
  // A burst the deacon already judged (and lifted the pause of) is not news; only deaths after it are.
  if (newest !== null && handled !== null && newest <= handled && live === undefined) return null;
  if (newest === null || nowMs - newest > config.massDeathPauseMs) {
    // Still paused while a live problem's pause has not run out.
    if (live === undefined) return null;
    const last = live.evidence.last_death;
    const since = Date.parse(typeof last === 'string' ? last : live.first_seen);
    if (nowMs - since > config.massDeathPauseMs) return null;
    return { ...draftOf(live) };
  }
  return {
    kind: 'mass-death',
    subject: 'town',
    subject_type: 'town',
    rig: null,
    owner: 'deacon',
    summary: `${burst.length} agents died within ${Math.round(config.massDeathWindowMs / 1000)} s: restarts are paused`,
    evidence: {
      deaths: burst.slice(0, 20).map((d) => ({ address: d.address, at: iso(d.ms) })),
      last_death: iso(newest),
      paused_until: iso(newest + config.massDeathPauseMs),
    },
  };
}

function draftOf(p: Problem): ProblemDraft {
  return {
    kind: p.kind,
    subject: p.subject,
    subject_type: p.subject_type,
    rig: p.rig,
    owner: p.owner,
    summary: p.summary,
    evidence: p.evidence,
  };
}

/**
 * A patrol agent woken for a problem that has not answered within `respondMs`, or one that is dead while
 * problems wait for it: its own supervisor (the deacon for a witness, boot for the deacon) is told.
 */
function unresponsive(input: DetectInput, config: DetectConfig): ProblemDraft[] {
  const out: ProblemDraft[] = [];
  const byAddress = new Map(input.agents.map((a) => [a.address, a]));
  const owners = new Set(input.live.filter((p) => p.kind !== 'patrol-unresponsive').map((p) => p.owner));
  // Problems of the unresponsive kind wait for boot or the deacon; boot is started fresh, never "unresponsive".
  for (const p of input.live) if (p.kind === 'patrol-unresponsive' && p.owner !== 'deacon/boot') owners.add(p.owner);
  // The deacon died while it stands or problems wait for it: boot triages it (the daemon does not restart it
  // while boot has the time to). A deacon that was simply not started is started by the daemon's wake.
  const deacon = byAddress.get('deacon');
  if (
    deacon !== undefined &&
    deacon.diedLast &&
    !agentRunning(deacon) &&
    (config.standingRoles.includes('deacon') || owners.has('deacon'))
  ) {
    owners.delete('deacon');
    out.push({
      kind: 'patrol-unresponsive',
      subject: 'deacon',
      subject_type: 'agent',
      rig: null,
      owner: 'deacon/boot',
      summary: 'the deacon is not running',
      evidence: { ...agentEvidence(deacon), deaths: deacon.deathsMs.slice(0, 5).map((ms) => iso(ms)) },
    });
  }
  for (const owner of owners) {
    if (owner === 'deacon/boot') continue;
    const agent = byAddress.get(owner);
    if (agent === undefined || !PATROL_ROLES.has(agent.role)) continue;
    const waiting = input.live.filter(
      (p) =>
        p.owner === owner &&
        p.state !== 'escalated' &&
        p.woken_at !== null &&
        (p.decidedAtMs === null || p.decidedAtMs < Date.parse(p.woken_at)),
    );
    const overdue = waiting.filter(
      (p) => p.woken_at !== null && input.nowMs - Date.parse(p.woken_at) > config.respondMs,
    );
    if (overdue.length === 0) continue;
    const oldest = Math.min(...overdue.map((p) => Date.parse(p.woken_at ?? '')));
    out.push({
      kind: 'patrol-unresponsive',
      subject: owner,
      subject_type: 'agent',
      rig: agent.rig,
      owner: ownerOf(agent),
      summary: `${owner} was woken for ${overdue.length} problem(s) and has not answered since ${iso(oldest) ?? '?'}`,
      evidence: {
        ...agentEvidence(agent),
        waiting: overdue.map((p) => ({ id: p.id, kind: p.kind, subject: p.subject, woken_at: p.woken_at })),
      },
    });
  }
  return out;
}

/** Why a live problem that was not detected again is resolved. */
export function resolutionOf(p: Problem, input: DetectInput): string {
  const agent = input.agents.find((a) => a.address === p.subject);
  switch (p.kind) {
    case 'stalled':
      if (agent === undefined) return 'the agent is gone';
      if (agent.state === 'working') return 'it makes progress again';
      if (agent.hook === null) return 'its work was handed in (nothing on its hook)';
      return `no longer stalled (${agent.state})`;
    case 'needs-input':
    case 'usage-limit':
      return agent === undefined ? 'the agent is gone' : `the screen no longer waits (${agent.state})`;
    case 'dead-with-work':
      return agent?.sessionAlive === true
        ? 'its agent runs again'
        : `no longer dead with work (${agent?.state ?? 'gone'})`;
    case 'crash-loop':
      return 'it is no longer quarantined';
    case 'closed-hooked':
      return 'the closed bead is off its hook';
    case 'orphan-work':
      return 'the bead is held or no longer hooked';
    case 'zombie':
      return 'the zombie session is gone';
    case 'mass-death':
      return 'no deaths for the pause: restarts resume';
    case 'refinery-down':
      return agent?.sessionAlive === true ? 'the refinery runs again' : 'no request waits';
    case 'refinery-stuck':
      return 'the queue moves again';
    case 'patrol-unresponsive':
      return agent !== undefined && agentRunning(agent) ? 'it runs and answers' : 'nothing waits for it any more';
  }
}
