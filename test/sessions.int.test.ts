import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nudgeAgent } from '../src/work/nudge.js';
import { GT_BIN, gt, json } from './helpers/bd.js';
import { TmuxSessionProvider } from '../src/session/tmux.js';
import { eventually, useSessionTowns } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';

/**
 * Agent sessions end to end with real tmux, real git, the real store and the sim agent, driven through the
 * built `gt`: start/stop/restart/status/list/peek, readiness through dialogs, the hooked bead's work, nudges.
 */

const fixture = useSessionTowns();

const TOAST = 'gastown/polecats/toast';
const SESSION = 'ga-toast';

type Status = {
  running: boolean;
  liveness: string;
  pane: string | null;
  session_id: string | null;
  runtime_session_id: string | null;
};
type Chain = { session_id: string; end_reason: string | null; runtime: string }[];

describe('gt session', () => {
  it('starts an agent by address, records the session, and stops it with its chain closed', async () => {
    const f = await fixture('sess-basic');
    const started = json<{ session: string; agent: string; session_id: string; ready: { ready: boolean } }>(
      f.run('session', 'start', TOAST, '--json'),
    );
    expect(started).toMatchObject({ session: SESSION, agent: 'sim', ready: { ready: true } });
    expect(await f.provider.list()).toEqual([SESSION]);

    // The sim primed itself through its start-up hook, which recorded the CLI's own session id.
    await eventually(() => f.trace(SESSION).some((r) => r.step === 'no_work'), 'the sim to take its first turn');
    const status = json<Status>(f.run('session', 'status', TOAST, '--json'));
    expect(status).toMatchObject({ running: true, liveness: 'alive', session_id: started.session_id });
    expect(status.runtime_session_id).toMatch(/^sim-/);
    const prime = f.trace(SESSION).find((r) => r.step === 'prime');
    expect(prime?.exit).toBe(0);

    // The beacon was the first message: recipient, sender, topic, and the instruction to prime.
    const first = f.trace(SESSION).find((r) => r.step === 'message');
    expect(first?.text).toMatch(
      /^\[GAS TOWN\] polecat toast \(rig: gastown\) <- \S+ • \d{4}-\d\d-\d\dT\d\d:\d\dZ • start — Run `gt prime --hook`/,
    );

    const list = json<{ sessions: { address: string }[]; strays: string[] }>(f.run('session', 'list', '--json'));
    expect(list.sessions.map((s) => s.address)).toEqual([TOAST]);
    expect(json<{ text: string }>(f.run('peek', TOAST, '--lines', '40', '--json')).text).toContain(
      'sim: nothing on my hook',
    );

    // Starting it again is refused while it runs.
    const again = f.run('session', 'start', TOAST);
    expect(again.status).toBe(4);
    expect(again.stderr).toMatch(/already running.*gt session restart/);

    expect(json<{ was_running: boolean }>(f.run('session', 'stop', TOAST, '--json')).was_running).toBe(true);
    expect(await f.provider.list()).toEqual([]);
    const chain = await f.store().sessions(TOAST);
    expect(chain.map((s) => [s.session_id, s.end_reason])).toEqual([[started.session_id, 'killed']]);
    expect(json<Status>(f.run('session', 'status', TOAST, '--json'))).toMatchObject({
      running: false,
      liveness: 'dead',
      session_id: null,
    });
  });

  it('restart replaces the session in the same sandbox and extends the chain', async () => {
    const f = await fixture('sess-restart');
    const first = json<{ session_id: string }>(f.run('session', 'start', TOAST, '--json'));
    const second = json<{ session_id: string; stopped: { was_running: boolean } }>(
      f.run('session', 'restart', TOAST, '--json'),
    );
    expect(second.stopped.was_running).toBe(true);
    expect(second.session_id).not.toBe(first.session_id);
    const chain: Chain = await f.store().sessions(TOAST);
    expect(chain.map((s) => [s.session_id, s.end_reason])).toEqual([
      [second.session_id, null],
      [first.session_id, 'replaced'],
    ]);
  });

  it('notices a session that died behind its back and records how it ended', async () => {
    const f = await fixture('sess-lost');
    const first = json<{ session_id: string }>(f.run('session', 'start', TOAST, '--json'));
    await f.provider.stop(SESSION); // as if the tmux session vanished without gt
    const second = json<{ session_id: string; replaced: { session_id: string; reason: string } }>(
      f.run('session', 'start', TOAST, '--json'),
    );
    expect(second.replaced).toEqual({ session_id: first.session_id, reason: 'lost' });
  });

  it("attach puts a terminal on the agent's session until it detaches; the agent keeps running", async () => {
    const f = await fixture('sess-attach');
    f.run('session', 'start', TOAST);
    // No terminal: a clear refusal, pointing at peek.
    const piped = f.run('session', 'attach', TOAST);
    expect(piped.status).toBe(2);
    expect(piped.stderr).toMatch(/needs a terminal.*gt peek gastown\/polecats\/toast/);
    expect(f.run('session', 'attach', 'gastown/polecats/nobody').status).toBe(3);

    // A person's terminal: a session on a second private tmux server, running gt session attach.
    const viewer = new TmuxSessionProvider(`gt-viewer-${process.pid}`, join(f.base, 'viewer-tmux'));
    const clients = (): string[] =>
      execFileSync('tmux', ['-L', f.town.tmuxSocket, 'list-clients', '-F', '#{client_session} #{client_readonly}'], {
        encoding: 'utf8',
      })
        .split('\n')
        .filter((l) => l !== '');
    try {
      const env = { ...f.env, GT_TOWN_ROOT: f.town.root };
      await viewer.start({
        name: 'me',
        argv: [process.execPath, GT_BIN, 'session', 'attach', TOAST],
        cwd: f.town.root,
        env,
      });
      await eventually(() => clients().includes(`${SESSION} 0`), "a client attached to the agent's session");
      expect(await viewer.capture('me')).toMatch(/Attaching to gastown\/polecats\/toast|sim/);
      // What the person types reaches the agent's prompt.
      await viewer.sendText('me', 'typed by a person');
      await eventually(
        async () => (await f.provider.capture(SESSION)).includes('typed by a person'),
        "the typing in the agent's pane",
      );
      // Detaching ends gt session attach and leaves the agent running.
      execFileSync('tmux', ['-L', f.town.tmuxSocket, 'detach-client', '-s', `=${SESSION}`]);
      await eventually(
        async () => (await viewer.programPid('me')) === undefined,
        'gt session attach to exit on detach',
      );
      expect(clients()).toEqual([]);
      expect(await f.provider.programPid(SESSION)).toBeDefined();
      // A terminal for output but /dev/null for input (a character device too) is still no terminal.
      // The shell stays (sleep) so the pane keeps its output: tmux may drop a dead pane's last lines and status.
      await viewer.start({
        name: 'nulled',
        argv: [
          '/bin/sh',
          '-c',
          '"$0" "$1" session attach "$2" </dev/null; echo "gt exited with $?"; sleep 60',
          process.execPath,
          GT_BIN,
          TOAST,
        ],
        cwd: f.town.root,
        env,
      });
      await eventually(
        async () => (await viewer.capture('nulled')).includes('gt exited with'),
        'gt session attach with stdin from /dev/null to exit',
      );
      expect(await viewer.capture('nulled')).toMatch(/needs a terminal[\s\S]*gt exited with 2/);
      expect(clients()).toEqual([]);
      // --read-only attaches a client that cannot type.
      await viewer.start({
        name: 'watcher',
        argv: [process.execPath, GT_BIN, 'session', 'attach', '--read-only', TOAST],
        cwd: f.town.root,
        env,
      });
      await eventually(() => clients().includes(`${SESSION} 1`), 'a read-only client');
    } finally {
      await viewer.killServer();
    }
  });

  it('answers start-up dialogs with the keys that accept them, after a slow start', async () => {
    const f = await fixture('sess-dialogs');
    f.simAgent('sim-dialogs', '--dialogs', 'trust,bypass', '--slow-start', '1500');
    const r = json<{ ready: { ready: boolean; dialogs: string[] } }>(
      f.run('session', 'start', TOAST, '--agent', 'sim-dialogs', '--json'),
    );
    expect(r.ready).toMatchObject({ ready: true, dialogs: ['folder-trust', 'bypass-permissions'] });
    const dialogs = f.trace(SESSION).filter((t) => t.step === 'dialog');
    // Enter alone on the bypass warning would choose "No, exit": both were accepted.
    expect(dialogs.map((d) => [d.dialog, d.accepted])).toEqual([
      ['trust', true],
      ['bypass', true],
    ]);
    await eventually(
      () => f.trace(SESSION).some((t) => t.step === 'message'),
      'the beacon to arrive after the dialogs',
    );
    expect(json<Status>(f.run('session', 'status', TOAST, '--json')).liveness).toBe('alive');
  });

  it('reports an agent that exits while starting, with its last words, and closes the record as crashed', async () => {
    const f = await fixture('sess-crash');
    f.simAgent('sim-crash', '--crash-at', 'start');
    const r = f.run('session', 'start', TOAST, '--agent', 'sim-crash');
    expect(r.status).toBe(9);
    expect(r.stderr).toMatch(/agent exited while starting/);
    expect(r.stderr).toContain('crashing at start');
    expect((await f.store().sessions(TOAST)).map((s) => s.end_reason)).toEqual(['crashed']);
  });

  it('refuses unknown addresses and agents clearly, starting nothing', async () => {
    const f = await fixture('sess-bad');
    const unknown = f.run('session', 'start', 'gastown/polecats/nobody');
    expect(unknown.status).toBe(3);
    expect(unknown.stderr).toMatch(/^Error: .*nobody/);
    const hostile = f.run('session', 'start', 'gastown/polecats/$(touch x)');
    expect(hostile.status).toBe(2);
    const badAgent = f.run('session', 'start', TOAST, '--agent', 'nonesuch');
    expect(badAgent.status).toBe(2);
    expect(badAgent.stderr).toMatch(/unknown agent "nonesuch"/);
    expect(await f.provider.list()).toEqual([]);
    expect(await f.store().sessions(TOAST)).toEqual([]);
  });

  it('keeps secrets out of every argv and out of tmux, while the agent still receives them', async () => {
    const f = await fixture('sess-secret');
    const secret = `sk-ant-test-${Math.random().toString(36).slice(2)}`;
    const r = json<{ ready: { ready: boolean } }>(
      gt(['session', 'start', TOAST, '--json'], { cwd: f.town.root, env: { ...f.env, ANTHROPIC_API_KEY: secret } }),
    );
    expect(r.ready.ready).toBe(true);
    const ps = execFileSync('ps', ['-A', '-o', 'args='], { encoding: 'utf8' });
    expect(ps).not.toContain(secret);
    const tmux = (...args: string[]): string =>
      execFileSync('tmux', ['-L', f.town.tmuxSocket, ...args], { encoding: 'utf8' });
    expect(tmux('show-environment', '-g')).not.toContain(secret);
    expect(tmux('show-environment', '-t', `=${SESSION}`)).not.toContain(secret);
    expect(tmux('list-panes', '-a', '-F', '#{pane_start_command}')).not.toContain(secret);
    // The agent has it: its process environment (readable by the same user) holds the key.
    const pid = tmux('display-message', '-p', '-t', `=${SESSION}:`, '#{pane_pid}').trim();
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain(`ANTHROPIC_API_KEY=${secret}`);
  });
});

describe('the sim agent', () => {
  it('runs the first sh block of its hooked bead in its sandbox and commits it as the polecat', async () => {
    const f = await fixture('sim-work');
    const s = f.store();
    const bead = await s.create(
      { title: 'write the greeting', description: 'Say hello.\n\n```sh\necho hello > greeting.txt\n```\n' },
      'mayor',
    );
    await s.hook(TOAST, bead.id, 'mayor');
    f.run('session', 'start', TOAST);
    await eventually(() => f.trace(SESSION).some((t) => t.step === 'report'), 'the sim to finish its work');
    const sandbox = join(f.town.root, 'gastown', 'polecats', 'toast');
    expect(readFileSync(join(sandbox, 'greeting.txt'), 'utf8')).toBe('hello\n');
    const commit = f.trace(SESSION).find((t) => t.step === 'commit');
    expect(commit?.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(git(sandbox, 'log', '-1', '--format=%H %an %s').trim()).toBe(
      `${commit?.sha ?? ''} toast ${bead.id}: write the greeting`,
    );
    expect(git(sandbox, 'status', '--porcelain')).toBe('');
    // The beacon named the work, and prime showed it.
    expect(f.trace(SESSION).find((t) => t.step === 'message')?.text).toContain(`assigned:${bead.id}`);
  });

  it('reports a bead with no sh block as stuck, and changes nothing', async () => {
    const f = await fixture('sim-stuck');
    const s = f.store();
    const bead = await s.create({ title: 'think hard', description: 'No script here.' }, 'mayor');
    await s.hook(TOAST, bead.id, 'mayor');
    f.run('session', 'start', TOAST);
    await eventually(() => f.trace(SESSION).some((t) => t.step === 'stuck'), 'the sim to report stuck');
    expect(f.trace(SESSION).find((t) => t.step === 'stuck')).toMatchObject({ bead: bead.id });
    expect(f.trace(SESSION).some((t) => t.step === 'commit')).toBe(false);
  });

  it('can hang mid-work (looking busy forever) and ignore nudges: fault knobs for the patrol tests', async () => {
    const f = await fixture('sim-hang');
    f.simAgent('sim-hang', '--hang-at', 'run');
    const s = f.store();
    const bead = await s.create({ title: 'never finishes', description: '```sh\ntrue\n```' }, 'mayor');
    await s.hook(TOAST, bead.id, 'mayor');
    f.run('session', 'start', TOAST, '--agent', 'sim-hang');
    await eventually(() => f.trace(SESSION).some((t) => t.step === 'hang'), 'the sim to hang');
    expect(json<Status>(f.run('session', 'status', TOAST, '--json'))).toMatchObject({
      liveness: 'alive',
      pane: 'busy',
    });
    expect(
      json<{ result: string; reason: string }>(f.run('nudge', TOAST, 'wake up', '--wait', '1', '--json')),
    ).toMatchObject({ result: 'queued', reason: 'busy' });
    f.run('session', 'stop', TOAST);
    await s.unhook(TOAST, 'mayor');

    f.simAgent('sim-deaf', '--ignore-nudges');
    f.run('session', 'start', TOAST, '--agent', 'sim-deaf');
    await eventually(() => json<Status>(f.run('session', 'status', TOAST, '--json')).pane === 'idle', 'idle');
    expect(json<{ result: string }>(f.run('nudge', TOAST, 'are you listening', '--json')).result).toBe('delivered');
    await eventually(
      () =>
        f.trace(SESSION).some((t) => t.step === 'ignored' && t.text === '[from root] are you listening') ||
        f.trace(SESSION).some((t) => t.step === 'ignored'),
      'the nudge to be ignored',
    );
  });

  it('can exit leaving uncommitted work (a fault knob), which stays in the sandbox', async () => {
    const f = await fixture('sim-dirty');
    f.simAgent('sim-dirty', '--dirty-exit');
    const s = f.store();
    const bead = await s.create({ title: 'edit', description: '```sh\necho edit >> app.txt\n```' }, 'mayor');
    await s.hook(TOAST, bead.id, 'mayor');
    f.run('session', 'start', TOAST, '--agent', 'sim-dirty');
    await eventually(() => f.trace(SESSION).some((t) => t.step === 'dirty_exit'), 'the sim to exit dirty');
    const sandbox = join(f.town.root, 'gastown', 'polecats', 'toast');
    await eventually(
      async () => (await f.provider.agentLiveness(SESSION, ['node'])) === 'dead',
      'the agent process to end',
    );
    expect(git(sandbox, 'status', '--porcelain').trim()).toBe('M app.txt');
  });
});

describe('gt nudge', () => {
  it('queues for an agent with no session; its next prime delivers it', async () => {
    const f = await fixture('nudge-queue');
    const r = json<{ result: string; reason: string }>(
      f.run('nudge', TOAST, 'check the build', '--from', 'mayor', '--json'),
    );
    expect(r).toMatchObject({ result: 'queued', reason: 'no-session' });
    f.run('session', 'start', TOAST);
    const s = f.store();
    await eventually(async () => (await s.pendingNudges(TOAST)).length === 0, 'the queued nudge to be taken');
    const delivered = await s.events({ issueId: TOAST, eventType: 'nudges_delivered' });
    expect(delivered.map((e) => e.new_value)).toEqual(['1 by prime']);
  });

  it('delivers 100 nudges from concurrent senders to a busy-then-idle agent: none lost, doubled or run together', async () => {
    const f = await fixture('nudge-100');
    f.simAgent('sim-busy', '--busy', '150');
    f.run('session', 'start', TOAST, '--agent', 'sim-busy');
    const s = f.store();
    const ctx = f.context(s);
    const token = (i: number): string => `msg-${String(i).padStart(3, '0')}-end`;
    const senders = 4;
    const outcomes: string[] = [];
    await Promise.all(
      Array.from({ length: senders }, async (_, k) => {
        for (let i = k; i < 100; i += senders) {
          // Most wait briefly for idle (and are queued when the agent stays busy); every fifth is queued outright.
          const r = await nudgeAgent(ctx, {
            to: TOAST,
            from: `sender${k}`,
            message: `${token(i)} please`,
            mode: i % 5 === 0 ? 'queue' : 'wait-idle',
            waitIdleMs: 300,
          });
          outcomes.push(r.result);
        }
      }),
    );
    // Whatever was queued is drained at the agent's turn boundaries (its stop hook ends the last turn).
    await eventually(async () => (await s.pendingNudges(TOAST)).length === 0, 'the queue to drain', 60_000);
    await eventually(
      () => json<Status>(f.run('session', 'status', TOAST, '--json')).pane === 'idle',
      'the agent to be idle again',
      30_000,
    );
    const trace = f.trace(SESSION);
    const seen = trace
      .filter((t) => t.step === 'message' || (t.step === 'hook_context' && t.event !== undefined))
      .flatMap((t) => (t.text ?? '').match(/msg-\d{3}-end/g) ?? []);
    const counts = new Map<string, number>();
    for (const m of seen) counts.set(m, (counts.get(m) ?? 0) + 1);
    for (let i = 0; i < 100; i++) expect(counts.get(token(i)), token(i)).toBe(1);
    // Typed messages arrive one per turn, never glued together.
    // (or, typed by the idle watcher, queued ones as one line of whole messages separated by " · ").
    const one = '\\[from sender\\d\\] msg-\\d{3}-end please';
    const whole = new RegExp(`^(${one}|\\[queued nudges\\] ${one}( · ${one})*)$`, 'u');
    for (const t of trace.filter((x) => x.step === 'message' && (x.text ?? '').includes('msg-')))
      expect(t.text).toMatch(whole);
    // Nothing was typed into the agent's work, and nothing interrupted it.
    expect(trace.filter((t) => t.step === 'typed_while_busy' || t.step === 'interrupted')).toEqual([]);
    expect(outcomes.filter((o) => o === 'delivered').length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === 'queued').length).toBeGreaterThan(0);
  }, 240_000);

  it('--flush types what is queued into an idle session as one line', async () => {
    const f = await fixture('nudge-flush');
    f.run('session', 'start', TOAST);
    await eventually(() => f.trace(SESSION).some((t) => t.step === 'no_work'), 'the first turn');
    await eventually(() => json<Status>(f.run('session', 'status', TOAST, '--json')).pane === 'idle', 'idle');
    f.run('nudge', TOAST, 'first thing', '--mode', 'queue', '--from', 'mayor');
    f.run('nudge', TOAST, 'second thing', '--mode', 'queue', '--from', 'deacon');
    expect(json<{ delivered: number; outcome: string }>(f.run('nudge', TOAST, '--flush', '--json'))).toEqual({
      to: TOAST,
      delivered: 2,
      outcome: 'delivered',
    });
    await eventually(
      () =>
        f
          .trace(SESSION)
          .some(
            (t) =>
              t.step === 'message' &&
              t.text === '[queued nudges] [from mayor] first thing · [from deacon] second thing',
          ),
      'the queued line',
    );
    expect(await f.store().pendingNudges(TOAST)).toEqual([]);
    expect(f.run('nudge', TOAST, 'extra', '--flush').status).toBe(2);
  });

  it('refuses an empty message and an unknown mode', async () => {
    const f = await fixture('nudge-bad');
    expect(f.run('nudge', TOAST, '   ').status).toBe(2);
    const mode = f.run('nudge', TOAST, 'hi', '--mode', 'shout');
    expect(mode.status).toBe(2);
    expect(mode.stderr).toMatch(/unknown --mode/);
    expect(await f.store().pendingNudges(TOAST)).toEqual([]);
  });
});

describe('gt config', () => {
  it('defines custom agents on a preset, lists them, and sets the default and per-role agents', async () => {
    const f = await fixture('config');
    const set = json<{ name: string; preset: string; args: string[]; argv: string[] }>(
      f.run(
        'config',
        'agent',
        'set',
        'claude-fast',
        '--command',
        'claude',
        '--preset',
        'claude',
        '--arg',
        '--model',
        '--arg',
        'haiku',
        '--env',
        'CLAUDE_CODE_EFFORT_LEVEL=low',
        '--json',
      ),
    );
    // --arg appends to the preset's arguments: its autonomy flag stays.
    expect(set).toMatchObject({
      name: 'claude-fast',
      preset: 'claude',
      args: ['--model', 'haiku'],
      argv: ['claude', '--dangerously-skip-permissions', '--model', 'haiku'],
    });
    const replaced = json<{ replace_args: boolean; argv: string[] }>(
      f.run(
        'config',
        'agent',
        'set',
        'claude-asks',
        '--preset',
        'claude',
        '--command',
        'claude',
        '--replace-args',
        '--json',
      ),
    );
    expect(replaced).toMatchObject({ replace_args: true, argv: ['claude'] });
    expect(
      json<{ default_agent: string }>(f.run('config', 'default-agent', 'claude-fast', '--json')).default_agent,
    ).toBe('claude-fast');
    expect(
      json<{ agent: string; override: boolean }>(f.run('config', 'role-agent', 'witness', 'codex', '--json')),
    ).toMatchObject({ agent: 'codex', override: true });
    const list = json<{
      default_agent: string;
      role_agents: Record<string, string>;
      agents: { name: string; kind: string }[];
    }>(f.run('config', 'agent', 'list', '--json'));
    expect(list.default_agent).toBe('claude-fast');
    expect(list.role_agents).toMatchObject({ witness: 'codex', polecat: 'claude-fast' });
    expect(list.agents.filter((a) => a.kind === 'custom').map((a) => a.name)).toContain('claude-fast');
    // In use: not removable. Unknown presets and agents: refused, file unchanged.
    expect(f.run('config', 'agent', 'remove', 'claude-fast').status).toBe(2);
    const before = readFileSync(join(f.town.root, 'settings.json'), 'utf8');
    expect(f.run('config', 'agent', 'set', 'x', '--command', 'x', '--preset', 'nonesuch').status).toBe(2);
    expect(f.run('config', 'default-agent', 'nonesuch').status).toBe(2);
    expect(f.run('config', 'agent', 'set', 'Bad Name', '--command', 'x').status).toBe(2);
    expect(f.run('config', 'agent', 'set', 'y', '--command', 'y', '--env', 'NOEQUALS').status).toBe(2);
    expect(readFileSync(join(f.town.root, 'settings.json'), 'utf8')).toBe(before);
    expect(existsSync(join(f.town.root, 'settings.json'))).toBe(true);
  });
});
