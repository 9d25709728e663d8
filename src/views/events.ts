import type { BeadEvent } from '../core/bead.js';
import { readPassFacts } from '../core/merge-queue-stats.js';

/**
 * The town's event stream as people read it: one line per event of the store's append-only events table
 * (beads changing, hooks, sessions starting and ending, problems, slings, the refinery's passes). Pure: the
 * caller looks up the beads the events name (their type and title), so that mail reads as mail and a merge
 * request as one.
 */

/** How an event reads at a glance: something went wrong, something finished, or plain news. */
export type EventTone = 'bad' | 'good' | 'info';

export type FeedEvent = {
  /** The store's event id: a follower's cursor (ids only grow). */
  id: number;
  at: string;
  actor: string;
  /** What it is about: a bead id, an agent address, `problem:<n>`, a rig, `town`. */
  subject: string;
  type: string;
  text: string;
  tone: EventTone;
};

/** What the stream needs to know of a bead an event names. */
export type EventBead = { issue_type: string; title: string };

const clip = (text: string | null, n = 80): string => {
  const one = (text ?? '').replace(/\s+/gu, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};

const BAD_ENDS = new Set(['crashed', 'killed', 'lost']);

function kindOf(bead: EventBead | undefined): string {
  if (bead === undefined) return '';
  switch (bead.issue_type) {
    case 'message':
      return 'mail';
    case 'merge-request':
      return 'merge request';
    case 'convoy':
      return 'convoy';
    case 'escalation':
      return 'escalation';
    default:
      return '';
  }
}

function beadText(e: BeadEvent, bead: EventBead | undefined): { text: string; tone: EventTone } | undefined {
  const kind = kindOf(bead);
  const named = `${kind === '' ? '' : `${kind} `}${e.issue_id}`;
  const title = bead === undefined ? '' : ` "${clip(bead.title, 60)}"`;
  switch (e.event_type) {
    case 'created':
      return {
        text: `${named} filed${bead === undefined ? ` "${clip(e.new_value, 60)}"` : title}`,
        tone: kind === 'escalation' ? 'bad' : 'info',
      };
    case 'closed':
      // The new value is the status ("closed"); the reason is in the bead's record.
      return { text: `${named}${title} closed`, tone: 'good' };
    case 'reopened':
      return { text: `${named}${title} reopened`, tone: 'info' };
    case 'status_changed':
      return { text: `${named}${title} ${e.old_value ?? '?'} → ${e.new_value ?? '?'}`, tone: 'info' };
    case 'claimed':
      return {
        text:
          e.new_value === null || e.new_value === ''
            ? `${named}${title} released by ${e.old_value ?? '?'}`
            : `${named}${title} claimed by ${e.new_value}`,
        tone: 'info',
      };
    case 'updated':
      return {
        text: `${named} ${e.field ?? 'field'}: ${clip(e.old_value, 30) || '-'} → ${clip(e.new_value, 40) || '-'}`,
        tone: 'info',
      };
    case 'commented':
      return { text: `${named}${title}: comment "${clip(e.new_value, 60)}"`, tone: 'info' };
    case 'dependency_added':
      return { text: `${named} ${e.field ?? 'depends on'} ${e.new_value ?? '?'}`, tone: 'info' };
    case 'dependency_removed':
      return { text: `${named} no longer ${e.field ?? 'depends on'} ${e.old_value ?? '?'}`, tone: 'info' };
    case 'label_added':
      return { text: `${named} labelled ${e.new_value ?? '?'}`, tone: 'info' };
    case 'label_removed':
      return { text: `${named} unlabelled ${e.old_value ?? '?'}`, tone: 'info' };
    case 'deleted':
      return { text: `${e.issue_id} "${clip(e.old_value, 60)}" deleted`, tone: 'info' };
    default:
      return undefined;
  }
}

function activityText(e: BeadEvent): { text: string; tone: EventTone } {
  const s = e.issue_id;
  switch (e.event_type) {
    case 'hooked':
      return { text: `${s} hooked ${e.new_value ?? '?'}`, tone: 'info' };
    case 'unhooked':
      return { text: `${s} unhooked ${e.old_value ?? '?'}`, tone: 'info' };
    case 'session_started':
      return { text: `${s} session started`, tone: 'info' };
    case 'session_ended':
      return {
        text: `${s} session ended (${e.new_value ?? '?'})`,
        tone: BAD_ENDS.has(e.new_value ?? '') ? 'bad' : 'info',
      };
    case 'agent_updated':
      return {
        text: `${s} ${e.field ?? 'field'}: ${clip(e.old_value, 30) || '-'} → ${clip(e.new_value, 40) || '-'}`,
        tone: 'info',
      };
    case 'agent_removed':
      return { text: `${s} removed`, tone: 'info' };
    case 'nudge_queued':
      return { text: `${s} has a nudge waiting (from ${e.actor})`, tone: 'info' };
    case 'nudges_delivered':
      return { text: `${s} got ${e.new_value ?? 'its nudges'}`, tone: 'info' };
    case 'problem_opened':
      return { text: `${s.replace('problem:', 'problem #')} opened: ${clip(e.new_value)}`, tone: 'bad' };
    case 'problem_resolved':
      return { text: `${s.replace('problem:', 'problem #')} resolved: ${clip(e.new_value)}`, tone: 'good' };
    case 'problem_recurred':
      return { text: `${s.replace('problem:', 'problem #')} came back`, tone: 'bad' };
    case 'problem_woken':
      return { text: `${s.replace('problem:', 'problem #')}: its patrol agent was woken`, tone: 'info' };
    case 'problem_escalation':
      return {
        text: `${s.replace('problem:', 'problem #')} escalated to a person (${e.new_value ?? '?'})`,
        tone: 'bad',
      };
    case 'sling_queued':
      return { text: `${s} queued for ${e.new_value ?? 'capacity'}`, tone: 'info' };
    case 'sling_claimed':
      return { text: `${s} dispatching`, tone: 'info' };
    case 'sling_released':
      return { text: `${s} dispatch released${e.new_value === null ? '' : `: ${clip(e.new_value)}`}`, tone: 'info' };
    case 'sling_cancelled':
      return { text: `${s} taken out of the queue`, tone: 'info' };
    case 'scheduler_paused':
      return { text: 'dispatch paused', tone: 'bad' };
    case 'scheduler_resumed':
      return { text: 'dispatch resumed', tone: 'good' };
    case 'town_down':
      return { text: 'town stopped (gt down)', tone: 'info' };
    case 'town_up':
      return { text: 'town started (gt up)', tone: 'info' };
    case 'rig_registered':
      return { text: `rig ${s} added (beads ${e.new_value ?? '?'}-)`, tone: 'info' };
    case 'rig_unregistered':
      return { text: `rig ${s} removed`, tone: 'info' };
    case 'mq_pass': {
      const p = readPassFacts(e.new_value, Date.parse(e.created_at));
      if (p === undefined) return { text: `${s} pass`, tone: 'info' };
      const parts = [
        p.batch > 0 ? `tested a batch of ${p.batch}` : '',
        p.landed > 0 ? `landed ${p.landed}` : '',
        p.returned.length > 0 ? `sent back ${p.returned.length} (${p.returned.join(', ')})` : '',
      ].filter((x) => x !== '');
      return {
        text: `${s} ${parts.length === 0 ? 'looked, nothing to do' : parts.join(', ')}`,
        tone: p.returned.length > 0 ? 'bad' : p.landed > 0 ? 'good' : 'info',
      };
    }
    case 'gates_run': {
      let ok: boolean | undefined;
      try {
        const raw: unknown = JSON.parse(e.new_value ?? '');
        if (typeof raw === 'object' && raw !== null && 'ok' in raw) ok = raw.ok === true;
      } catch {
        // An unreadable record reads as a plain run.
      }
      return {
        text: `${s} ran the gates${ok === undefined ? '' : ok ? ': green' : ': red'}`,
        tone: ok === false ? 'bad' : 'info',
      };
    }
    default:
      return {
        text: `${s} ${e.event_type.replace(/_/gu, ' ')}${e.new_value === null ? '' : `: ${clip(e.new_value, 60)}`}`,
        tone: 'info',
      };
  }
}

/** One event as a line of the stream. `beads` has the beads the events name, by id, where they still exist. */
export function describeEvent(e: BeadEvent, beads: ReadonlyMap<string, EventBead>): FeedEvent {
  const described = beadText(e, beads.get(e.issue_id)) ?? activityText(e);
  return {
    id: e.event_id,
    at: e.created_at,
    actor: e.actor,
    subject: e.issue_id,
    type: e.event_type,
    text: described.text,
    tone: described.tone,
  };
}

/** Events that are plumbing, not news: a bead's every field edit stays in `bd show`, not in the stream. */
const QUIET = new Set(['label_added', 'label_removed', 'nudges_delivered', 'imported']);
const QUIET_FIELDS = new Set([
  'metadata',
  'description',
  'notes',
  'started_at',
  'closed_at',
  'close_reason',
  'updated_at',
]);

/** Whether the stream shows this event (updates of mail and molecule plumbing are left out). */
export function isNews(e: BeadEvent, beads: ReadonlyMap<string, EventBead>): boolean {
  if (QUIET.has(e.event_type)) return false;
  const bead = beads.get(e.issue_id);
  // Mail's read/archived marks and the like are updates of a message's labels or metadata.
  if (bead?.issue_type === 'message' && e.event_type !== 'created') return false;
  // Fields that move with a status change, or that only the bead's own record needs (bd show has them).
  if (e.event_type === 'updated' && QUIET_FIELDS.has(e.field ?? '')) return false;
  return true;
}
