import { describe, expect, it } from 'vitest';
import { MAX_QUEUED_NUDGES, type AgentStore } from '../core/agent-store.js';
import type { BeadStore } from '../core/bead-store.js';
import { ConflictError, NotFoundError, TownDownError, ValidationError } from '../core/errors.js';

/** The conformance suite every AgentStore must pass; `make` gives a fresh, empty store and a way to move time. */
export type AgentStoreFactory = () => {
  store: AgentStore & BeadStore;
  advance: (ms: number) => void;
  cleanup: () => void;
};

export function runAgentStoreContract(name: string, make: AgentStoreFactory): void {
  const withStore = async (
    fn: (s: AgentStore & BeadStore, advance: (ms: number) => void) => Promise<void>,
  ): Promise<void> => {
    const { store, advance, cleanup } = make();
    try {
      await fn(store, advance);
    } finally {
      cleanup();
    }
  };
  const toast = {
    identity: { role: 'polecat', rig: 'gastown', name: 'toast' } as const,
    session_name: 'gt-toast',
    sandbox_path: '/town/gastown/polecats/toast',
    runtime: 'claude',
  };

  describe(`${name} satisfies AgentStore`, () => {
    it('registers town and rig agents under their addresses, idle, with no hook', () =>
      withStore(async (s) => {
        await s.registerAgent(
          { identity: { role: 'mayor' }, session_name: 'hq-mayor', sandbox_path: '/town/mayor' },
          'gt',
        );
        await s.registerAgent(
          {
            identity: { role: 'witness', rig: 'gastown' },
            session_name: 'gt-witness',
            sandbox_path: '/town/gastown/witness',
          },
          'gt',
        );
        const polecat = await s.registerAgent(toast, 'gt');
        expect(polecat).toMatchObject({
          address: 'gastown/polecats/toast',
          role: 'polecat',
          rig: 'gastown',
          name: 'toast',
          hook_bead: null,
          agent_state: 'idle',
          runtime: 'claude',
        });
        expect((await s.agents({})).map((a) => a.address)).toEqual([
          'gastown/polecats/toast',
          'gastown/witness',
          'mayor',
        ]);
        expect((await s.agents({ rig: 'gastown', role: 'witness' })).map((a) => a.address)).toEqual([
          'gastown/witness',
        ]);
        expect((await s.events({ eventType: 'agent_registered' })).map((e) => e.issue_id).sort()).toEqual([
          'gastown/polecats/toast',
          'gastown/witness',
          'mayor',
        ]);
      }));

    it('is idempotent for the same registration and refuses a different one', () =>
      withStore(async (s) => {
        const first = await s.registerAgent(toast, 'gt');
        expect(await s.registerAgent(toast, 'gt')).toEqual(first);
        await expect(s.registerAgent({ ...toast, sandbox_path: '/elsewhere' }, 'gt')).rejects.toThrow(ConflictError);
        await expect(
          s.registerAgent({ ...toast, identity: { role: 'polecat', rig: 'gastown', name: 'nux' } }, 'gt'),
        ).rejects.toThrow(/already uses/);
      }));

    it('with fresh, refuses an agent that exists: of concurrent registrations of one name exactly one wins', () =>
      withStore(async (s) => {
        const results = await Promise.allSettled(
          [1, 2, 3].map(() => s.registerAgent({ ...toast, agent_state: 'spawning' }, 'gt', { fresh: true })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect((await s.agent('gastown/polecats/toast')).agent_state).toBe('spawning');
        await expect(s.registerAgent(toast, 'gt', { fresh: true })).rejects.toThrow(/already exists/);
        await expect(s.registerAgent({ ...toast, agent_state: 'asleep' as never }, 'gt')).rejects.toThrow(
          /invalid agent state/,
        );
      }));

    it('refuses hostile names and bad paths, creating nothing', () =>
      withStore(async (s) => {
        for (const bad of ['../x', 'a;b', '-rf', 'two words', 'x'.repeat(300)]) {
          await expect(
            s.registerAgent({ ...toast, identity: { role: 'polecat', rig: 'gastown', name: bad } }, 'gt'),
          ).rejects.toThrow(ValidationError);
          await expect(s.registerAgent({ ...toast, identity: { role: 'witness', rig: bad } }, 'gt')).rejects.toThrow(
            ValidationError,
          );
        }
        await expect(s.registerAgent({ ...toast, sandbox_path: 'relative/path' }, 'gt')).rejects.toThrow(
          ValidationError,
        );
        await expect(s.registerAgent({ ...toast, session_name: 'gt toast' }, 'gt')).rejects.toThrow(ValidationError);
        await expect(s.registerAgent({ ...toast, runtime: 'claude; rm -rf /' }, 'gt')).rejects.toThrow(ValidationError);
        expect(await s.agents({})).toEqual([]);
        expect(await s.events({})).toEqual([]);
      }));

    it('records what an agent reports about itself, field by field, and nothing for no-ops', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        const working = await s.updateAgent(
          'gastown/polecats/toast',
          { agent_state: 'working', branch: 'polecat/toast@x' },
          'gastown/polecats/toast',
        );
        expect(working).toMatchObject({ agent_state: 'working', branch: 'polecat/toast@x' });
        expect(working.last_activity).not.toBeNull();
        await s.updateAgent('gastown/polecats/toast', { agent_state: 'working' }, 'x');
        const updates = await s.events({ eventType: 'agent_updated' });
        expect(updates.map((e) => [e.field, e.old_value, e.new_value])).toEqual([
          ['agent_state', 'idle', 'working'],
          ['branch', null, 'polecat/toast@x'],
        ]);
        await expect(s.updateAgent('gastown/polecats/toast', { agent_state: 'asleep' as never }, 'x')).rejects.toThrow(
          ValidationError,
        );
        await expect(s.updateAgent('gastown/polecats/nobody', { agent_state: 'idle' }, 'x')).rejects.toThrow(
          NotFoundError,
        );
      }));

    it('keeps a chain of sessions: one open at a time, newest first, first ending wins', () =>
      withStore(async (s, advance) => {
        await s.registerAgent(toast, 'gt');
        const bead = await s.create({ title: 'work' }, 'gt');
        const one = await s.startSession(
          { agent: 'gastown/polecats/toast', runtime: 'claude', bead_id: bead.id, runtime_session_id: 'abc-123' },
          'gt',
        );
        expect(one).toMatchObject({
          agent: 'gastown/polecats/toast',
          bead_id: bead.id,
          runtime_session_id: 'abc-123',
          ended_at: null,
          end_reason: null,
        });
        await expect(s.startSession({ agent: 'gastown/polecats/toast', runtime: 'claude' }, 'gt')).rejects.toThrow(
          ConflictError,
        );
        const ended = await s.endSession(one.session_id, 'handoff', 'gt');
        expect(ended.end_reason).toBe('handoff');
        expect((await s.endSession(one.session_id, 'crashed', 'gt')).end_reason).toBe('handoff');
        advance(1000);
        const two = await s.startSession({ agent: 'gastown/polecats/toast', runtime: 'codex' }, 'gt');
        expect(two.session_id).not.toBe(one.session_id);
        expect((await s.sessions('gastown/polecats/toast')).map((x) => x.session_id)).toEqual([
          two.session_id,
          one.session_id,
        ]);
        expect(await s.sessions('gastown/polecats/toast', 1)).toHaveLength(1);
        await expect(s.endSession(two.session_id, 'vanished' as never, 'gt')).rejects.toThrow(ValidationError);
        await expect(s.endSession('s-none', 'exited', 'gt')).rejects.toThrow(NotFoundError);
        await expect(s.startSession({ agent: 'gastown/polecats/nobody', runtime: 'claude' }, 'gt')).rejects.toThrow(
          NotFoundError,
        );
      }));

    it('holds the town down until it is up again: no session opens meanwhile, and an open one may not run', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        expect(await s.townHold()).toBeNull();
        const before = await s.startSession({ agent: 'gastown/polecats/toast', runtime: 'claude' }, 'gt');
        expect(await s.sessionMayRun(before.session_id)).toBe(true);
        const hold = await s.setTownDown(true, 'mayor');
        expect(hold).toMatchObject({ by: 'mayor' });
        // Down again keeps the first hold.
        expect(await s.setTownDown(true, 'deacon')).toEqual(hold);
        expect(await s.townHold()).toEqual(hold);
        // A session recorded before the hold may not go on; none can be recorded now.
        expect(await s.sessionMayRun(before.session_id)).toBe(false);
        await s.endSession(before.session_id, 'killed', 'gt');
        await expect(s.startSession({ agent: 'gastown/polecats/toast', runtime: 'claude' }, 'gt')).rejects.toThrow(
          TownDownError,
        );
        expect(await s.openSession('gastown/polecats/toast')).toBeNull();
        expect(await s.setTownDown(false, 'mayor')).toBeNull();
        expect(await s.townHold()).toBeNull();
        const after = await s.startSession({ agent: 'gastown/polecats/toast', runtime: 'claude' }, 'gt');
        expect(await s.sessionMayRun(after.session_id)).toBe(true);
        await s.endSession(after.session_id, 'exited', 'gt');
        expect(await s.sessionMayRun(after.session_id)).toBe(false);
        expect((await s.events({ issueId: 'town' })).map((e) => [e.event_type, e.actor])).toEqual([
          ['town_down', 'mayor'],
          ['town_up', 'mayor'],
        ]);
      }));

    it('records an activity as an event of its subject, and refuses a bad one', () =>
      withStore(async (s) => {
        await s.recordActivity('gastown/refinery', 'mq_pass', '{"landed":2}', 'gastown/refinery');
        const [e] = await s.events({ issueId: 'gastown/refinery', eventType: 'mq_pass' });
        expect(e).toMatchObject({ event_type: 'mq_pass', actor: 'gastown/refinery', new_value: '{"landed":2}' });
        await expect(s.recordActivity('x', 'closed', '{}', 'a')).rejects.toThrow(/invalid activity type/);
        await expect(s.recordActivity('x', 'Bad Type', '{}', 'a')).rejects.toThrow(/invalid activity type/);
        await expect(s.recordActivity('x', 'mq_pass', 'x'.repeat(20_000), 'a')).rejects.toThrow(/over 16 KB/);
      }));

    it('removes an agent only when no session is open, taking its sessions along', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        const open = await s.startSession({ agent: 'gastown/polecats/toast', runtime: 'claude' }, 'gt');
        await expect(s.removeAgent('gastown/polecats/toast', 'gt')).rejects.toThrow(/open session/);
        await s.endSession(open.session_id, 'exited', 'gt');
        await s.removeAgent('gastown/polecats/toast', 'gt');
        await expect(s.agent('gastown/polecats/toast')).rejects.toThrow(NotFoundError);
        await expect(s.removeAgent('gastown/polecats/toast', 'gt')).rejects.toThrow(NotFoundError);
        // The name is free again, and the audit trail still remembers the old one.
        await s.registerAgent(toast, 'gt');
        expect(await s.sessions('gastown/polecats/toast')).toEqual([]);
        expect((await s.events({ issueId: 'gastown/polecats/toast' })).map((e) => e.event_type)).toContain(
          'agent_removed',
        );
      }));
    it('knows the open session and records the runtime session id once it is learned', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        expect(await s.openSession('gastown/polecats/toast')).toBeNull();
        const open = await s.startSession({ agent: 'gastown/polecats/toast', runtime: 'claude' }, 'gt');
        expect((await s.openSession('gastown/polecats/toast'))?.session_id).toBe(open.session_id);
        const named = await s.setRuntimeSessionId(open.session_id, '0b7c3a52-1f0e-4a8e-9d6c-2c0f3e1a9b11', 'gt');
        expect(named.runtime_session_id).toBe('0b7c3a52-1f0e-4a8e-9d6c-2c0f3e1a9b11');
        await expect(s.setRuntimeSessionId(open.session_id, 'bad id; rm -rf', 'gt')).rejects.toThrow(ValidationError);
        await s.endSession(open.session_id, 'exited', 'gt');
        expect(await s.openSession('gastown/polecats/toast')).toBeNull();
        await expect(s.setRuntimeSessionId(open.session_id, 'other', 'gt')).rejects.toThrow(ConflictError);
      }));

    it('hooks a bead onto an agent in one write: bead hooked and assigned, agent pointing at it', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        await s.registerAgent(
          {
            ...toast,
            identity: { role: 'polecat', rig: 'gastown', name: 'nux' },
            session_name: 'gt-nux',
            sandbox_path: '/town/gastown/polecats/nux',
          },
          'gt',
        );
        const a = await s.create({ title: 'work a' }, 'mayor');
        const b = await s.create({ title: 'work b' }, 'mayor');
        const hooked = await s.hook('gastown/polecats/toast', a.id, 'mayor');
        expect(hooked.hook_bead).toBe(a.id);
        expect((await s.show([a.id]))[0]).toMatchObject({ status: 'hooked', assignee: 'gastown/polecats/toast' });
        expect(await s.hook('gastown/polecats/toast', a.id, 'mayor')).toEqual(hooked);
        await expect(s.hook('gastown/polecats/toast', b.id, 'mayor')).rejects.toThrow(/already has/);
        await expect(s.hook('gastown/polecats/nux', a.id, 'mayor')).rejects.toThrow(ConflictError);
        expect((await s.show([b.id]))[0]?.status).toBe('open');
        await s.close([b.id], {}, 'mayor');
        await expect(s.hook('gastown/polecats/nux', b.id, 'mayor')).rejects.toThrow(ValidationError);
        const unhooked = await s.unhook('gastown/polecats/toast', 'mayor');
        expect(unhooked.hook_bead).toBeNull();
        expect((await s.show([a.id]))[0]).toMatchObject({ status: 'open', assignee: null });
        await expect(s.removeAgent('gastown/polecats/nux', 'gt')).resolves.toBeUndefined();
      }));

    it('releases a hooked bead nobody holds, and only that', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        const held = await s.create({ title: 'held' }, 'mayor');
        await s.hook('gastown/polecats/toast', held.id, 'mayor');
        expect(await s.releaseUnheldHook(held.id, 'gastown/polecats/toast', 'daemon')).toBe(false);
        const orphan = await s.create({ title: 'orphan' }, 'mayor');
        await s.update([orphan.id], { status: 'hooked', assignee: 'gastown/polecats/gone' }, 'mayor');
        expect(await s.releaseUnheldHook(orphan.id, 'gastown/polecats/other', 'daemon')).toBe(false); // not as observed
        expect(await s.releaseUnheldHook(orphan.id, 'gastown/polecats/gone', 'daemon')).toBe(true);
        expect((await s.show([orphan.id]))[0]).toMatchObject({ status: 'open', assignee: null });
        expect(await s.releaseUnheldHook(orphan.id, 'gastown/polecats/gone', 'daemon')).toBe(false);
        expect((await s.show([held.id]))[0]).toMatchObject({ status: 'hooked', assignee: 'gastown/polecats/toast' });
      }));

    it('hooks with fresh: true only when the bead is not on that hook yet (one of many concurrent slings wins)', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        const bead = await s.create({ title: 'contested' }, 'mayor');
        await s.hook('gastown/polecats/toast', bead.id, 'mayor', { fresh: true });
        await expect(s.hook('gastown/polecats/toast', bead.id, 'mayor', { fresh: true })).rejects.toThrow(
          ConflictError,
        );
        // Without it, hooking it again is the no-op it always was.
        expect((await s.hook('gastown/polecats/toast', bead.id, 'mayor')).hook_bead).toBe(bead.id);
      }));

    it('deletes a hooked bead only when forced, and records that the hook was cleared', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        const held = await s.create({ title: 'held' }, 'mayor');
        await s.hook('gastown/polecats/toast', held.id, 'mayor');
        await expect(s.delete(held.id, {}, 'x')).rejects.toThrow(/on gastown\/polecats\/toast's hook/);
        expect((await s.agent('gastown/polecats/toast')).hook_bead).toBe(held.id);
        expect((await s.delete(held.id, { force: true }, 'x')).deleted).toBe(true);
        expect((await s.agent('gastown/polecats/toast')).hook_bead).toBeNull();
        const events = await s.events({ issueId: 'gastown/polecats/toast', eventType: 'unhooked' });
        expect(events.map((e) => [e.actor, e.old_value])).toEqual([['x', held.id]]);
      }));

    it('takes a bead over from its holder only when asked, and registers-and-hooks atomically', () =>
      withStore(async (s) => {
        await s.registerAgent(toast, 'gt');
        const a = await s.create({ title: 'work a' }, 'mayor');
        await s.hook('gastown/polecats/toast', a.id, 'mayor', { args: 'use the staging db' });
        const nux = {
          ...toast,
          identity: { role: 'polecat', rig: 'gastown', name: 'nux' } as const,
          session_name: 'gt-nux',
          sandbox_path: '/town/gastown/polecats/nux',
        };
        // Losing the race registers nothing.
        await expect(s.registerAndHook(nux, a.id, 'mayor')).rejects.toThrow(
          /already on gastown\/polecats\/toast's hook/,
        );
        await expect(s.agent('gastown/polecats/nux')).rejects.toThrow(NotFoundError);
        const taken = await s.registerAndHook(nux, a.id, 'mayor', { takeOver: true });
        expect(taken.hook_bead).toBe(a.id);
        expect((await s.agent('gastown/polecats/toast')).hook_bead).toBeNull();
        const [bead] = await s.show([a.id]);
        expect(bead).toMatchObject({
          status: 'hooked',
          assignee: 'gastown/polecats/nux',
          metadata: { gt_args: 'use the staging db' },
        });
        const hooked = await s.events({ issueId: a.id, eventType: 'hooked' });
        expect(hooked.map((e) => [e.old_value, e.new_value])).toEqual([
          [null, 'gastown/polecats/toast'],
          ['gastown/polecats/toast', 'gastown/polecats/nux'],
        ]);
      }));

    it('queues nudges and hands each one out exactly once, urgent first', () =>
      withStore(async (s, advance) => {
        await s.registerAgent(toast, 'gt');
        await s.queueNudge({ recipient: 'gastown/polecats/toast', sender: 'mayor', body: 'first' }, 'mayor');
        advance(1000);
        await s.queueNudge(
          { recipient: 'gastown/polecats/toast', sender: 'gastown/witness', body: 'second' },
          'gastown/witness',
        );
        await s.queueNudge(
          { recipient: 'gastown/polecats/toast', sender: 'deacon', body: 'fire', urgent: true },
          'deacon',
        );
        expect((await s.pendingNudges('gastown/polecats/toast')).map((n) => n.body)).toEqual([
          'fire',
          'first',
          'second',
        ]);
        const taken = await s.takeNudges('gastown/polecats/toast', 'prompt-submit');
        expect(taken.map((n) => [n.body, n.sender, n.delivered_by])).toEqual([
          ['fire', 'deacon', 'prompt-submit'],
          ['first', 'mayor', 'prompt-submit'],
          ['second', 'gastown/witness', 'prompt-submit'],
        ]);
        expect(await s.takeNudges('gastown/polecats/toast', 'stop')).toEqual([]);
        expect(await s.pendingNudges('gastown/polecats/toast')).toEqual([]);
        await expect(
          s.queueNudge({ recipient: 'gastown/polecats/toast', sender: 'mayor', body: '   ' }, 'mayor'),
        ).rejects.toThrow(ValidationError);
        await expect(
          s.queueNudge({ recipient: 'gastown/polecats/nobody', sender: 'mayor', body: 'hi' }, 'mayor'),
        ).rejects.toThrow(NotFoundError);
        for (let i = 0; i < MAX_QUEUED_NUDGES; i++)
          await s.queueNudge({ recipient: 'gastown/polecats/toast', sender: 'mayor', body: `n${i}` }, 'mayor');
        await expect(
          s.queueNudge({ recipient: 'gastown/polecats/toast', sender: 'mayor', body: 'one too many' }, 'mayor'),
        ).rejects.toThrow(ConflictError);
        expect(await s.pendingNudges('gastown/polecats/toast')).toHaveLength(MAX_QUEUED_NUDGES);
      }));
  });
}
