import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gtAsync, json, type RunResult } from './helpers/bd.js';
import { CLAUDE_BIN, claudeAgentArgs, claudeAvailable, makeClaudeHome } from './helpers/claude-home.js';
import {
  allMessageTexts,
  bash,
  firstUserText,
  lastToolResults,
  lastUserPrompt,
  startScriptedModel,
  systemMessageTexts,
  toolResultText,
  type ScriptedModel,
} from './helpers/scripted-model.js';
import { eventually, sessionTown } from './helpers/session-town.js';

/**
 * The real Claude Code CLI, started by gt in the town's tmux, against the scripted Messages API: the beacon is
 * its first user message, `gt prime --hook` reaches the model through SessionStart, `gt nudge` arrives as a
 * user message, a nudge sent while it works is handed over at its turn boundary, and a tool call from the
 * model runs in the agent's sandbox. Its folder is not trusted beforehand: gt answers the trust dialog.
 */

const TOAST = 'gastown/polecats/toast';
let f: Awaited<ReturnType<typeof sessionTown>>;
let model: ScriptedModel;
let env: Record<string, string>;
let xdg: string;

/** gt without blocking: the scripted model answers from this process. */
const run = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: f.town.root, env });

describe.skipIf(!claudeAvailable())('the real Claude Code CLI in a gt session', () => {
  beforeAll(async () => {
    f = await sessionTown('claude-e2e');
    model = await startScriptedModel((req) => {
      const prompt = lastUserPrompt(req);
      // Slung work: read the hooked bead from what prime printed, do it with Bash, hand it in with gt done.
      if (prompt.includes('• assigned:')) {
        if (lastToolResults(req).length > 0) return 'handed in';
        const hooked = /## Your hook\n\n(\S+): /u.exec(systemMessageTexts(req).join('\n'))?.[1];
        if (hooked === undefined) return 'I see no work on my hook';
        return {
          toolUses: [
            bash(
              `printf 'written by claude\\n' > claude.txt && git add -A && git commit -qm "${hooked}: the work" && gt done`,
            ),
          ],
        };
      }
      if (lastToolResults(req).length > 0) return 'the file is there';
      if (prompt.includes('RUN-TOOL')) return { toolUses: [bash('touch created-by-tool')] };
      if (prompt.includes('ASK-PERMISSION')) return { toolUses: [bash('touch asked-permission')] };
      if (prompt.includes('SEANCE')) return 'I was making created-by-tool for the mayor';
      if (prompt.includes('SLOW')) return { text: 'thought about it slowly', delayMs: 5_000 };
      return 'ok';
    });
    const home = makeClaudeHome(join(f.base, 'claude-config'), []);
    const claudeEnv = home.env(model.url);
    xdg = claudeEnv.XDG_DATA_HOME ?? '';
    env = { ...f.env, ...claudeEnv };
    // The CLI as a custom agent on the claude preset (it is not on PATH here), which keeps the preset's
    // --dangerously-skip-permissions; XDG_DATA_HOME keeps its desktop-link file inside the test's directory.
    const set = await run(...claudeAgentArgs(claudeEnv), '--json');
    expect(set.status, set.stderr).toBe(0);
    expect(json<{ argv: string[] }>(set).argv).toEqual([CLAUDE_BIN, '--dangerously-skip-permissions']);
  }, 120_000);

  afterAll(async () => {
    await f.cleanup();
    await model.close();
  });

  it('starts claude through its trust dialog with the beacon as the first user message and the prime output in its context', async () => {
    const started = json<{ ready: { ready: boolean; dialogs: string[] }; session_id: string }>(
      await run('session', 'start', TOAST, '--agent', 'claude-test', '--json'),
    );
    expect(started.ready.ready).toBe(true);
    expect(started.ready.dialogs).toContain('folder-trust');

    const first = await model.waitForConversation((r) => firstUserText(r).startsWith('[GAS TOWN]'), 30_000);
    expect(firstUserText(first)).toMatch(
      /^\[GAS TOWN\] polecat toast \(rig: gastown\) <- \S+ • .* • start — Run `gt prime --hook`/,
    );
    const hookOutput = systemMessageTexts(first).join('\n');
    expect(hookOutput).toContain(
      'SessionStart:startup hook success: [GAS TOWN] role:gastown/polecats/toast session:ga-toast',
    );
    expect(hookOutput).toContain('Nothing is on your hook.');

    // The SessionStart hook recorded Claude's own session id in the sessions chain.
    await eventually(
      async () =>
        json<{ runtime_session_id: string | null }>(await run('session', 'status', TOAST, '--json'))
          .runtime_session_id !== null,
      'the runtime session id',
    );
    const status = json<{ runtime_session_id: string; liveness: string }>(
      await run('session', 'status', TOAST, '--json'),
    );
    expect(status.runtime_session_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(status.liveness).toBe('alive');
  }, 90_000);

  it('delivers a nudge as a user message, and the tool call it leads to runs in the sandbox', async () => {
    await eventually(
      async () => json<{ pane: string }>(await run('session', 'status', TOAST, '--json')).pane === 'idle',
      'claude to be idle',
      30_000,
    );
    const r = json<{ result: string; verified: boolean }>(
      await run('nudge', TOAST, 'RUN-TOOL please', '--from', 'mayor', '--json'),
    );
    expect(r).toMatchObject({ result: 'delivered', verified: true });
    await model.waitForConversation((req) => lastUserPrompt(req) === '[from mayor] RUN-TOOL please', 30_000);
    const sandbox = join(f.town.root, 'gastown', 'polecats', 'toast');
    await eventually(() => existsSync(join(sandbox, 'created-by-tool')), 'the tool call to create its file', 30_000);
    await model.waitForConversation((req) => lastToolResults(req).length > 0, 30_000);
  }, 90_000);

  it('queues a nudge sent while claude works and hands it over at the end of the turn, typing nothing into its work', async () => {
    await eventually(
      async () => json<{ pane: string }>(await run('session', 'status', TOAST, '--json')).pane === 'idle',
      'claude to be idle',
      30_000,
    );
    expect(
      json<{ result: string }>(await run('nudge', TOAST, 'SLOW question', '--from', 'mayor', '--json')).result,
    ).toBe('delivered');
    await eventually(
      async () => json<{ pane: string }>(await run('session', 'status', TOAST, '--json')).pane === 'busy',
      'claude to be busy',
      10_000,
    );
    const queued = json<{ result: string; reason: string }>(
      await run('nudge', TOAST, 'marker-while-busy', '--from', 'witness', '--wait', '0', '--json'),
    );
    expect(queued).toMatchObject({ result: 'queued', reason: 'busy' });
    const handed = await model.waitForConversation(
      (req) => allMessageTexts(req).some((t) => t.includes('marker-while-busy')),
      40_000,
    );
    const text = allMessageTexts(handed).filter((t) => t.includes('marker-while-busy'));
    expect(text.join('\n')).toContain('[from witness] marker-while-busy');
    // Handed over by the Stop hook, formatted by gt, never typed into the pane.
    expect(text).toEqual([
      expect.stringMatching(
        /^Stop hook feedback:\n<system-reminder>\nQueued nudges \(1\), sent while you were busy:\n {2}\[from witness\] marker-while-busy\n/,
      ),
    ]);
    const events = await f.store().events({ issueId: TOAST, eventType: 'nudges_delivered' });
    expect(events.map((e) => e.new_value)).toContain('1 by stop');
    expect(await f.store().pendingNudges(TOAST)).toEqual([]);
    expect(model.errors).toEqual([]);
  }, 90_000);

  it('resumes the previous Claude session from the sessions chain: the conversation continues', async () => {
    const before = json<{ runtime_session_id: string }>(
      await run('session', 'status', TOAST, '--json'),
    ).runtime_session_id;
    expect((await run('session', 'stop', TOAST)).status).toBe(0);
    const resumed = json<{ ready: { ready: boolean } }>(await run('session', 'start', TOAST, '--resume', '--json'));
    expect(resumed.ready.ready).toBe(true);
    const next = await model.waitForConversation((req) => lastUserPrompt(req).includes('• resume —'), 30_000);
    // The earlier turns are in the resumed conversation.
    expect(allMessageTexts(next).some((t) => t.includes('[from mayor] RUN-TOOL please'))).toBe(true);
    const chain = await f.store().sessions(TOAST);
    expect(chain[1]?.runtime_session_id).toBe(before);
    // gt session restart --resume does the same in one step: the new session continues the conversation.
    const restarted = json<{ ready: { ready: boolean }; stopped: { was_running: boolean } }>(
      await run('session', 'restart', TOAST, '--resume', '--json'),
    );
    expect(restarted).toMatchObject({ ready: { ready: true }, stopped: { was_running: true } });
    const again = await model.waitForConversation(
      (req) => req.seq > next.seq && lastUserPrompt(req).includes('• resume —'),
      30_000,
    );
    expect(allMessageTexts(again).some((t) => t.includes('[from mayor] RUN-TOOL please'))).toBe(true);
    expect(await f.store().sessions(TOAST)).toHaveLength(3);
  }, 120_000);

  it('runs the loop: slung work is read from prime, done through the Bash tool, and handed in with gt done', async () => {
    const s = f.store();
    const bead = await s.create(
      { title: 'claude writes a file', description: 'Write claude.txt, commit, hand in.' },
      'mayor',
    );
    const slung = json<{ agent: string; action: string }[]>(
      await run('sling', bead.id, 'gastown', '--agent', 'claude-test', '--json'),
    );
    expect(slung[0]?.action).toBe('started');
    const address = slung[0]?.agent ?? '';
    await eventually(
      async () => (await s.show([bead.id]))[0]?.status === 'in_progress',
      'the bead to be handed in',
      60_000,
    );
    const [after] = await s.show([bead.id]);
    const mr = after?.metadata.gt_merge_request;
    expect(typeof mr).toBe('string');
    expect((await s.show([String(mr)]))[0]).toMatchObject({
      issue_type: 'merge-request',
      metadata: { source_bead: bead.id, worker: address },
    });
    const agent = await s.agent(address);
    expect(agent.hook_bead).toBeNull();
    expect(readFileSync(join(agent.sandbox_path, 'claude.txt'), 'utf8')).toBe('written by claude\n');
    // The tool call ran gt from the agent's PATH, as the agent (its commit is signed with the polecat's name).
    const handedIn = await model.waitForConversation(
      (r) => lastToolResults(r).some((t) => toolResultText(t).includes(`${bead.id} submitted`)),
      30_000,
    );
    expect(lastToolResults(handedIn).map(toolResultText).join('\n')).toMatch(
      /merge request ga-mr[0-9a-f]{12}; your hook is empty/,
    );
  }, 120_000);

  it('seance: lists the chain and asks a past session a question without disturbing it', async () => {
    const list = json<{ session_id: string; agent: string; runtime_session_id: string | null }[]>(
      await run('seance', '--agent', TOAST, '--json'),
    );
    expect(list.length).toBeGreaterThanOrEqual(2);
    const past = list.find((x) => x.runtime_session_id !== null && list.indexOf(x) > 0);
    expect(past).toBeDefined();
    const r = json<{ answer: string }>(
      await run('seance', '--talk', past?.session_id ?? '', '-p', 'SEANCE what were you doing?', '--json'),
    );
    expect(r.answer).toBe('I was making created-by-tool for the mayor');
    const asked = await model.waitForConversation((req) => lastUserPrompt(req) === 'SEANCE what were you doing?');
    expect(allMessageTexts(asked).some((t) => t.includes('[from mayor] RUN-TOOL please'))).toBe(true);
    expect((await run('seance', '--talk', 'no-such-session', '-p', 'hello')).status).toBe(3);
  }, 90_000);

  it('without bypass permissions it stops at a tool permission question: needs-input, with the question, in every view', async () => {
    const WITNESS = 'gastown/witness';
    const set = await run(
      'config',
      'agent',
      'set',
      'claude-asks',
      '--preset',
      'claude',
      '--command',
      CLAUDE_BIN,
      '--replace-args',
      '--env',
      `XDG_DATA_HOME=${xdg}`,
      '--json',
    );
    expect(json<{ argv: string[] }>(set).argv).toEqual([CLAUDE_BIN]);
    const started = json<{ ready: { ready: boolean } }>(
      await run('session', 'start', WITNESS, '--agent', 'claude-asks', '--json'),
    );
    expect(started.ready.ready).toBe(true);
    await eventually(
      async () => json<{ pane: string }>(await run('session', 'status', WITNESS, '--json')).pane === 'idle',
      'claude to be idle',
      30_000,
    );
    await run('nudge', WITNESS, 'ASK-PERMISSION please', '--from', 'mayor');
    await model.waitForConversation((req) => lastUserPrompt(req) === '[from mayor] ASK-PERMISSION please', 30_000);
    type Row = { address: string; state: string; question: string | null };
    const find = (rows: Row[]): Row | undefined => rows.find((a) => a.address === WITNESS);
    await eventually(
      async () => find(json<Row[]>(await run('agents', '--json')))?.state === 'needs-input',
      'claude to wait at the question',
      30_000,
    );
    const agent = find(json<Row[]>(await run('agents', '--json')));
    expect(agent?.question).toContain('Do you want to proceed?');
    expect(find(json<{ agents: Row[] }>(await run('status', '--json')).agents)).toMatchObject({
      state: 'needs-input',
      question: agent?.question,
    });
    expect(find(json<{ sessions: Row[] }>(await run('session', 'list', '--json')).sessions)).toMatchObject({
      state: 'needs-input',
      question: agent?.question,
    });
    expect(find(json<{ agents: Row[] }>(await run('town', '--json')).agents)?.state).toBe('needs-input');
    // Asked, not done: nothing ran.
    expect(existsSync(join(f.town.root, 'gastown', 'witness', 'asked-permission'))).toBe(false);
    expect((await run('session', 'stop', WITNESS)).status).toBe(0);
  }, 120_000);
});
