import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import type { ProblemDraft, ProblemKind } from '../core/problem.js';
import type { TownStore } from '../core/town-store.js';

/** The conformance suite of the problems port; `make` gives a fresh, empty store and a clock to move. */
export type ProblemStoreFactory = () => { store: TownStore; advance: (ms: number) => void; cleanup: () => void };

const WITNESS: readonly ProblemKind[] = ['stalled', 'needs-input', 'dead-with-work', 'zombie'];
const MINUTE = 60_000;

function stalled(name: string, evidence: Record<string, unknown> = {}, summary = `no progress on ${name}`) {
  return {
    kind: 'stalled',
    subject: `rig1/polecats/${name}`,
    subject_type: 'agent',
    rig: 'rig1',
    owner: 'rig1/witness',
    summary,
    evidence,
  } satisfies ProblemDraft;
}

export function runProblemStoreContract(name: string, make: ProblemStoreFactory): void {
  const withStore = async (fn: (s: TownStore, advance: (ms: number) => void) => Promise<void>): Promise<void> => {
    const { store, advance, cleanup } = make();
    try {
      await fn(store, advance);
    } finally {
      cleanup();
    }
  };
  const sync = (s: TownStore, drafts: ProblemDraft[], extra: { resolveReasons?: Record<number, string> } = {}) =>
    s.syncProblems(drafts, { scope: WITNESS, recurWithinMs: 10 * MINUTE, ...extra }, 'daemon');

  describe(`${name} satisfies ProblemStore`, () => {
    it('keeps one live problem per subject and kind, however often it is seen', () =>
      withStore(async (s, advance) => {
        const first = await sync(s, [stalled('toast', { hook: 'rig1-abc' }), stalled('nux')]);
        expect(first.opened).toMatchObject([
          { kind: 'stalled', subject: 'rig1/polecats/toast', state: 'open', owner: 'rig1/witness', rig: 'rig1' },
          { subject: 'rig1/polecats/nux', state: 'open', woken_at: null, resolved_at: null, escalation: null },
        ]);
        expect(first.resolved).toEqual([]);
        const [toast] = first.opened;
        expect(toast?.first_seen).toBe(toast?.last_seen);
        advance(1000);
        const second = await sync(s, [stalled('toast', { hook: 'rig1-abc' }), stalled('nux')]);
        expect(second).toEqual({ opened: [], resolved: [] });
        // Two drafts of one subject and kind in a pass: one problem, the later draft's facts.
        await sync(s, [stalled('toast', { hook: 'rig1-abc' }), stalled('nux'), stalled('nux', { n: 2 }, 'later')]);
        const all = await s.problems();
        expect(all.map((p) => p.subject)).toEqual(['rig1/polecats/toast', 'rig1/polecats/nux']);
        expect(all[1]).toMatchObject({ summary: 'later', evidence: { n: 2 } });
        // Another kind of the same subject is its own problem.
        await sync(s, [stalled('toast', { hook: 'rig1-abc' }), stalled('nux', { n: 2 }, 'later'), zombie('toast')]);
        expect((await s.problems({ subject: 'rig1/polecats/toast' })).map((p) => p.kind)).toEqual([
          'stalled',
          'zombie',
        ]);
        const id = toast?.id ?? 0;
        expect((await s.events({ issueId: `problem:${id}` })).map((e) => e.event_type)).toEqual(['problem_opened']);
      }));

    it('refreshes summary and evidence, and writes nothing for a pass that saw nothing new', () =>
      withStore(async (s, advance) => {
        const { opened } = await sync(s, [stalled('toast', { pane: 'a' })]);
        const id = opened[0]?.id ?? 0;
        const seen = opened[0]?.last_seen;
        advance(5_000);
        await sync(s, [stalled('toast', { pane: 'a' })]);
        expect((await s.problem(id)).last_seen).toBe(seen);
        // Changed evidence is written at once, a new summary too (with an event).
        await sync(s, [stalled('toast', { pane: 'b' })]);
        const changed = await s.problem(id);
        expect(changed.evidence).toEqual({ pane: 'b' });
        expect(changed.last_seen > (seen ?? '')).toBe(true);
        await sync(s, [stalled('toast', { pane: 'b' }, 'no progress for 40 min')]);
        const renamed = await s.problem(id);
        expect(renamed.summary).toBe('no progress for 40 min');
        expect(renamed.first_seen).toBe(opened[0]?.first_seen);
        // Unchanged but last seen 5 min ago or more: last_seen moves.
        advance(60_000);
        await sync(s, [stalled('toast', { pane: 'b' }, 'no progress for 40 min')]);
        expect((await s.problem(id)).last_seen).toBe(renamed.last_seen);
        advance(300_000);
        await sync(s, [stalled('toast', { pane: 'b' }, 'no progress for 40 min')]);
        expect((await s.problem(id)).last_seen > renamed.last_seen).toBe(true);
        expect((await s.events({ issueId: `problem:${id}` })).map((e) => e.event_type)).toEqual([
          'problem_opened',
          'problem_updated',
        ]);
      }));

    it('resolves a problem no longer seen, with the reason, and settles its pending decisions as recovered', () =>
      withStore(async (s) => {
        const { opened } = await sync(s, [stalled('toast'), stalled('nux'), stalled('cedar')]);
        const [toast, nux, cedar] = opened.map((p) => p.id);
        const nudged = await s.decide(toast ?? 0, { action: 'nudge', reason: 'asked if it is stuck' }, 'rig1/witness');
        expect(nudged.decision.outcome).toBe('pending');
        const escalated = await s.decide(nux ?? 0, { action: 'escalate', reason: 'lost' }, 'rig1/witness');
        expect(escalated.decision).toMatchObject({ outcome: 'escalated', outcome_at: escalated.decision.decided_at });
        const { resolved, opened: none } = await sync(s, [stalled('cedar')], {
          resolveReasons: { [toast ?? 0]: 'made progress again' },
        });
        expect(none).toEqual([]);
        expect(resolved).toMatchObject([
          { id: toast, state: 'resolved', resolution: 'made progress again' },
          { id: nux, state: 'resolved', resolution: 'no longer seen' },
        ]);
        expect(resolved[0]?.resolved_at).not.toBeNull();
        const decisions = await s.decisions();
        expect(decisions.map((d) => [d.problem_id, d.outcome])).toEqual([
          [nux, 'escalated'],
          [toast, 'recovered'],
        ]);
        expect(decisions[1]?.outcome_at).toBe(resolved[0]?.resolved_at);
        expect((await s.problem(cedar ?? 0)).state).toBe('open');
        expect((await s.events({ issueId: `problem:${toast}`, eventType: 'problem_resolved' }))[0]).toMatchObject({
          new_value: 'made progress again',
        });
        // A resolved problem seen again is a new problem.
        const again = await sync(s, [stalled('cedar'), stalled('toast')]);
        expect(again.opened.map((p) => p.id)).not.toContain(toast);
        expect(again.opened).toHaveLength(1);
      }));

    it('leaves problems outside the scope alone, and refuses drafts outside it', () =>
      withStore(async (s) => {
        await s.syncProblems([refineryDown('rig1')], { scope: ['refinery-down'], recurWithinMs: 0 }, 'daemon');
        const { resolved } = await sync(s, []);
        expect(resolved).toEqual([]);
        expect(await s.problems({ states: ['open'] })).toMatchObject([{ kind: 'refinery-down', subject: 'rig1' }]);
        await expect(sync(s, [stalled('toast'), refineryDown('rig2')])).rejects.toThrow(ValidationError);
        // Refused whole: the valid draft beside it was not opened either.
        expect(await s.problems({ kinds: ['stalled'] })).toEqual([]);
        await s.syncProblems([], { scope: ['refinery-down'], recurWithinMs: 0 }, 'daemon');
        expect((await s.problems())[0]).toMatchObject({ state: 'resolved', resolution: 'no longer seen' });
      }));

    it('refuses malformed drafts and options, writing nothing', () =>
      withStore(async (s) => {
        const bad: unknown[] = [
          { ...stalled('toast'), kind: 'haunted' },
          { ...stalled('toast'), subject: '' },
          { ...stalled('toast'), subject_type: 'ghost' },
          { ...stalled('toast'), owner: ' ' },
          { ...stalled('toast'), summary: '' },
          { ...stalled('toast'), evidence: ['not', 'an', 'object'] },
          { ...stalled('toast'), evidence: { pane: 'x'.repeat(70_000) } },
        ];
        for (const draft of bad) {
          await expect(sync(s, [stalled('nux'), draft as ProblemDraft])).rejects.toThrow(ValidationError);
        }
        await expect(s.syncProblems([stalled('nux')], { scope: WITNESS, recurWithinMs: -1 }, 'daemon')).rejects.toThrow(
          ValidationError,
        );
        expect(await s.problems()).toEqual([]);
      }));

    it('marks recovered decisions recurred when the problem comes back within the window, not after it', () =>
      withStore(async (s, advance) => {
        const first = (await sync(s, [stalled('toast')])).opened[0]?.id ?? 0;
        await s.decide(first, { action: 'nudge', reason: 'asked' }, 'rig1/witness');
        await s.decide(first, { action: 'escalate', reason: 'told the overseer' }, 'rig1/witness');
        await sync(s, []);
        expect((await s.decisions({ problem: first })).map((d) => d.outcome)).toEqual(['escalated', 'recovered']);
        advance(5 * MINUTE);
        const second = (await sync(s, [stalled('toast')])).opened[0]?.id ?? 0;
        expect(second).not.toBe(first);
        expect((await s.decisions({ problem: first })).map((d) => d.outcome)).toEqual(['escalated', 'recurred']);
        expect((await s.events({ issueId: `problem:${first}`, eventType: 'problem_recurred' }))[0]).toMatchObject({
          new_value: `problem:${second}`,
        });
        // The second one recovers, and comes back only after the window: a real recovery.
        await s.decide(second, { action: 'restart', reason: 'restarted in its sandbox' }, 'rig1/witness');
        await sync(s, []);
        advance(11 * MINUTE);
        await sync(s, [stalled('toast')]);
        expect((await s.decisions({ problem: second })).map((d) => d.outcome)).toEqual(['recovered']);
        expect((await s.decisions({ problem: first })).map((d) => d.outcome)).toEqual(['escalated', 'recurred']);
      }));

    it('records decisions with the evidence they were made on, and moves the problem', () =>
      withStore(async (s) => {
        const { opened } = await sync(s, [stalled('toast', { pane: 'before' }), stalled('nux'), stalled('cedar')]);
        const [toast, nux, cedar] = opened.map((p) => p.id ?? 0) as [number, number, number];
        const { problem, decision } = await s.decide(
          toast,
          { action: 'nudge', reason: 'asked whether it is stuck' },
          'rig1/witness',
        );
        expect(problem).toMatchObject({ id: toast, state: 'handling' });
        expect(decision).toMatchObject({
          problem_id: toast,
          kind: 'stalled',
          subject: 'rig1/polecats/toast',
          actor: 'rig1/witness',
          action: 'nudge',
          reason: 'asked whether it is stuck',
          evidence: { pane: 'before' },
          outcome: 'pending',
          outcome_at: null,
        });
        // Later evidence changes the problem, not the decision.
        await sync(s, [stalled('toast', { pane: 'after' }), stalled('nux'), stalled('cedar')]);
        expect((await s.decisions({ problem: toast }))[0]?.evidence).toEqual({ pane: 'before' });
        // Escalate: escalated, with the escalation bead.
        const esc = await s.decide(
          nux,
          { action: 'escalate', reason: 'needs a person', escalation: 'hq-e1' },
          'deacon',
        );
        expect(esc.problem).toMatchObject({ state: 'escalated', escalation: 'hq-e1' });
        // A named state wins over the action's default.
        const waited = await s.decide(cedar, { action: 'wait', reason: 'long build', state: 'open' }, 'rig1/witness');
        expect(waited.problem.state).toBe('open');
        // Dismiss keeps it live (handling); a state named resolved resolves it, settled as recovered.
        const dismissed = await s.decide(cedar, { action: 'dismiss', reason: 'it is compiling' }, 'rig1/witness');
        expect(dismissed.problem).toMatchObject({ state: 'handling' });
        const closed = await s.decide(cedar, { action: 'dismiss', reason: 'done', state: 'resolved' }, 'rig1/witness');
        expect(closed.problem).toMatchObject({ state: 'resolved' });
        expect(closed.problem.resolution).toMatch(/dismiss by rig1\/witness: done/);
        expect((await s.decisions({ problem: cedar })).map((d) => [d.action, d.outcome])).toEqual([
          ['dismiss', 'recovered'],
          ['dismiss', 'recovered'],
          ['wait', 'recovered'],
        ]);
        expect((await s.events({ issueId: `problem:${cedar}` })).map((e) => e.event_type)).toEqual([
          'problem_opened',
          'problem_decided',
          'problem_decided',
          'problem_decided',
          'problem_resolved',
        ]);
      }));

    it('refuses bad decisions with what to do next, writing nothing', () =>
      withStore(async (s) => {
        const id = (await sync(s, [stalled('toast')])).opened[0]?.id ?? 0;
        const bad = s.decide(id, { action: 'pray' as 'nudge', reason: 'x' }, 'rig1/witness');
        await expect(bad).rejects.toThrow(ValidationError);
        await expect(bad).rejects.toMatchObject({ hint: expect.stringContaining('nudge, wait') as unknown });
        const empty = s.decide(id, { action: 'nudge', reason: '  ' }, 'rig1/witness');
        await expect(empty).rejects.toThrow(ValidationError);
        await expect(empty).rejects.toMatchObject({ hint: expect.stringContaining('--reason') as unknown });
        await expect(s.decide(id, { action: 'nudge', reason: 'x'.repeat(5000) }, 'w')).rejects.toThrow(ValidationError);
        await expect(
          s.decide(id, { action: 'nudge', reason: 'r', state: 'lost' as 'open' }, 'rig1/witness'),
        ).rejects.toThrow(ValidationError);
        await expect(s.decide(id + 100, { action: 'nudge', reason: 'r' }, 'rig1/witness')).rejects.toThrow(
          NotFoundError,
        );
        expect(await s.decisions()).toEqual([]);
        expect((await s.problem(id)).state).toBe('open');
        await sync(s, []);
        const late = s.decide(id, { action: 'nudge', reason: 'r' }, 'rig1/witness');
        await expect(late).rejects.toThrow(ConflictError);
        await expect(late).rejects.toThrow(`problem ${id} is resolved (no longer seen)`);
        expect(await s.decisions()).toEqual([]);
      }));

    it('resolves a live problem by hand, once', () =>
      withStore(async (s) => {
        const id = (await sync(s, [stalled('toast')])).opened[0]?.id ?? 0;
        await s.decide(id, { action: 'restart', reason: 'hung' }, 'rig1/witness');
        const p = await s.resolveProblem(id, 'the polecat finished', 'rig1/witness');
        expect(p).toMatchObject({ state: 'resolved', resolution: 'the polecat finished' });
        expect((await s.decisions({ problem: id }))[0]?.outcome).toBe('recovered');
        await expect(s.resolveProblem(id, 'again', 'w')).rejects.toThrow(ConflictError);
        await expect(s.resolveProblem(id + 1, 'x', 'w')).rejects.toThrow(NotFoundError);
        const other = (await sync(s, [stalled('nux')])).opened[0]?.id ?? 0;
        await expect(s.resolveProblem(other, '', 'w')).rejects.toThrow(ValidationError);
        expect((await s.problem(other)).state).toBe('open');
      }));

    it('finds problems by state, owner, rig, kind, subject and id; oldest first, or the newest few', () =>
      withStore(async (s) => {
        await sync(s, [stalled('toast'), stalled('nux'), zombie('cedar')]);
        await s.syncProblems(
          [refineryDown('rig2'), { ...refineryDown('rig1'), owner: 'deacon' }],
          { scope: ['refinery-down'], recurWithinMs: 0 },
          'daemon',
        );
        const all = await s.problems();
        expect(all.map((p) => p.id)).toEqual([...all.map((p) => p.id)].sort((a, b) => a - b));
        expect(all).toHaveLength(5);
        const ids = all.map((p) => p.id);
        await s.decide(ids[1] ?? 0, { action: 'nudge', reason: 'r' }, 'rig1/witness');
        await s.resolveProblem(ids[2] ?? 0, 'gone', 'rig1/witness');
        const subjects = (q: Parameters<TownStore['problems']>[0]) =>
          s.problems(q).then((ps) => ps.map((p) => p.subject));
        expect(await subjects({ owner: 'rig1/witness', states: ['open', 'handling', 'escalated'] })).toEqual([
          'rig1/polecats/toast',
          'rig1/polecats/nux',
        ]);
        expect(await subjects({ states: ['handling'] })).toEqual(['rig1/polecats/nux']);
        expect(await subjects({ rig: 'rig2' })).toEqual(['rig2']);
        expect(await subjects({ kinds: ['refinery-down', 'zombie'] })).toEqual(['rig1/polecats/cedar', 'rig2', 'rig1']);
        expect(await subjects({ subject: 'rig1', owner: 'deacon' })).toEqual(['rig1']);
        expect(await subjects({ ids: [ids[4] ?? 0, ids[0] ?? 0] })).toEqual(['rig1/polecats/toast', 'rig1']);
        expect(await subjects({ limit: 2 })).toEqual(['rig1', 'rig2']);
        expect(await subjects({ states: [] })).toEqual([]);
        await expect(s.problem(999)).rejects.toThrow(NotFoundError);
        await expect(s.problems({ limit: -1 })).rejects.toThrow(ValidationError);
      }));

    it('marks the owner woken for problems, refusing unknown ones', () =>
      withStore(async (s) => {
        const [a, b] = (await sync(s, [stalled('toast'), stalled('nux')])).opened.map((p) => p.id ?? 0);
        await s.markWoken([a ?? 0], 'daemon');
        const woken = await s.problem(a ?? 0);
        expect(woken.woken_at).not.toBeNull();
        expect((await s.problem(b ?? 0)).woken_at).toBeNull();
        await expect(s.markWoken([b ?? 0, 999], 'daemon')).rejects.toThrow(NotFoundError);
        expect((await s.problem(b ?? 0)).woken_at).toBeNull();
        await s.markWoken([], 'daemon');
        expect((await s.events({ eventType: 'problem_woken' })).map((e) => e.issue_id)).toEqual([`problem:${a}`]);
      }));

    it('keeps evidence as JSON, exactly', () =>
      withStore(async (s) => {
        const evidence = {
          hook: 'rig1-abc',
          pane: 'line one\nline "two" \u2014 caf\u00e9 \u{1F600}',
          session_alive: true,
          sandbox: { uncommitted: 0, unpushed: 1, files: ['a.ts', 'b/c.ts'] },
          reset_at: null,
          ratio: 0.25,
          deaths: [1, 2, 3],
        };
        const id = (await sync(s, [stalled('toast', evidence)])).opened[0]?.id ?? 0;
        expect((await s.problem(id)).evidence).toEqual(evidence);
        const { decision } = await s.decide(id, { action: 'wait', reason: 'building' }, 'rig1/witness');
        expect(decision.evidence).toEqual(evidence);
        expect((await s.problems({ ids: [id] }))[0]?.evidence).toEqual(evidence);
      }));

    it('lists decisions newest first: all, of one problem, since a time, or the latest few', () =>
      withStore(async (s, advance) => {
        const [a, b] = (await sync(s, [stalled('toast'), stalled('nux')])).opened.map((p) => p.id ?? 0);
        await s.decide(a ?? 0, { action: 'nudge', reason: 'one' }, 'rig1/witness');
        advance(MINUTE);
        const mid = (await s.decide(b ?? 0, { action: 'wait', reason: 'two' }, 'rig1/witness')).decision.decided_at;
        advance(MINUTE);
        await s.decide(a ?? 0, { action: 'restart', reason: 'three' }, 'rig1/witness');
        const reasons = (q?: Parameters<TownStore['decisions']>[0]) =>
          s.decisions(q).then((ds) => ds.map((d) => d.reason));
        expect(await reasons()).toEqual(['three', 'two', 'one']);
        expect(await reasons({ problem: a ?? 0 })).toEqual(['three', 'one']);
        expect(await reasons({ since: mid })).toEqual(['three', 'two']);
        // An offset or a second-precision time compares as the instant it names.
        expect(await reasons({ since: mid.replace(/\.\d+Z$/, 'Z') })).toEqual(['three', 'two']);
        expect(await reasons({ limit: 1 })).toEqual(['three']);
        await expect(s.decisions({ since: 'yesterday' })).rejects.toThrow(ValidationError);
      }));
  });
}

function zombie(name: string): ProblemDraft {
  return { ...stalled(name), kind: 'zombie', summary: `session of ${name} has no agent` };
}

function refineryDown(rig: string): ProblemDraft {
  return {
    kind: 'refinery-down',
    subject: rig,
    subject_type: 'rig',
    rig,
    owner: `${rig}/witness`,
    summary: `the refinery of ${rig} is not running`,
    evidence: { waiting: 2 },
  };
}
