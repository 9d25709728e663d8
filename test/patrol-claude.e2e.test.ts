import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { gtAsync, json, type RunResult } from './helpers/bd.js';
import { claudeAgentArgs, claudeAvailable, makeClaudeHome } from './helpers/claude-home.js';
import {
  allMessageTexts,
  bash,
  lastToolResults,
  toolResultText,
  startScriptedModel,
  type ScriptedModel,
} from './helpers/scripted-model.js';
import { eventually, sessionTown } from './helpers/session-town.js';

/**
 * The real Claude Code CLI as a rig's witness, against the scripted Messages API (it proves the plumbing, not
 * the model): a stalled polecat wakes it, it runs gt patrol scan, nudges the polecat and reports its decision.
 * With nothing wrong, no patrol session asks the model anything.
 */

let f: Awaited<ReturnType<typeof sessionTown>>;
let model: ScriptedModel;
let env: Record<string, string>;

const run = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: f.town.root, env });

/** The conversation requests of the witness's session (its cwd is the witness directory). */
const witnessRequests = (): number =>
  model.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/messages')).length;

describe.skipIf(!claudeAvailable())('the real Claude Code CLI as the witness', () => {
  beforeAll(async () => {
    f = await sessionTown('patrol-claude');
    model = await startScriptedModel((req) => {
      const results = lastToolResults(req);
      const texts = allMessageTexts(req).join('\n');
      if (results.length > 0) {
        const out = results.map(toolResultText).join('\n');
        // The scan's JSON: nudge the stalled polecat and report it, in one command.
        const id = /"id":\s*(\d+),\s*"kind":\s*"stalled"/u.exec(out)?.[1];
        if (id !== undefined)
          return {
            toolUses: [
              bash(
                `gt nudge gastown/polecats/toast "Witness here: you have not moved for a while. Stuck?" && gt patrol report ${id} --action nudge --reason "quiet busy pane; asked it first"`,
              ),
            ],
          };
        return 'Reported. Nothing else to do until woken.';
      }
      if (texts.includes('gt patrol scan')) return { toolUses: [bash('gt patrol scan --json')] };
      return 'ok';
    });
    const home = makeClaudeHome(join(f.base, 'claude-config'), []);
    const claudeEnv = home.env(model.url);
    env = { ...f.env, ...claudeEnv };
    const set = await run(...claudeAgentArgs(claudeEnv), '--json');
    expect(set.status, set.stderr).toBe(0);
    const s = loadSettings(f.town);
    saveSettings(f.town, {
      ...s,
      role_agents: { witness: 'claude-test' },
      daemon: {
        ...s.daemon,
        heartbeat_seconds: 1,
        stalled_after_seconds: 3,
        start_grace_seconds: 2,
        standing_roles: [],
        idle_polecat_seconds: 0,
      },
      patrol: { ...s.patrol, recheck_seconds: 3600, respond_seconds: 120 },
    });
  }, 120_000);

  afterAll(async () => {
    await run('daemon', 'stop');
    await f.cleanup();
    await model.close();
  });

  it('a stalled polecat wakes it; it scans, nudges the polecat and reports the decision', async () => {
    const store = f.store();
    const bead = await store.create({ title: 'hangs', description: '```sh\nsleep 600\n```' }, 'mayor');
    expect((await run('sling', bead.id, 'gastown/polecats/toast')).status).toBe(0);
    await eventually(() => f.trace('ga-toast').some((t) => t.step === 'running'), 'the work to start');
    expect((await run('daemon', 'start', '--tick', '1')).status).toBe(0);
    await eventually(
      async () => (await store.decisions({ limit: 0 })).some((d) => d.actor === 'gastown/witness'),
      'the witness to report its decision',
      120_000,
    ).catch(async (err: unknown) => {
      // eslint-disable-next-line no-console -- for whoever reads the failure
      console.log(
        JSON.stringify(
          {
            requests: model.conversationRequests().map((r) => ({
              last: allMessageTexts(r)
                .slice(-2)
                .map((t) => t.slice(0, 600)),
              results: lastToolResults(r).map((b) => toolResultText(b).slice(0, 600)),
            })),
            log: json<{ log: unknown[] }>(await run('daemon', 'status', '--lines', '60', '--json')).log,
            problems: await store.problems({}),
            errors: model.errors,
          },
          null,
          1,
        ),
      );
      throw err;
    });
    const [decision] = await store.decisions({ limit: 0 });
    expect(decision).toMatchObject({ kind: 'stalled', subject: 'gastown/polecats/toast', action: 'nudge' });
    expect(decision?.evidence).toMatchObject({ hook: bead.id });
    // The scan ran through the model's Bash tool, and the nudge is on its way to the busy polecat.
    expect(model.conversationRequests().some((r) => allMessageTexts(r).join('\n').includes('"kind": "stalled"'))).toBe(
      true,
    );
    const queued = await store.pendingNudges('gastown/polecats/toast');
    expect(queued.map((n) => [n.sender, n.body])).toEqual([
      ['gastown/witness', 'Witness here: you have not moved for a while. Stuck?'],
    ]);
    expect(model.errors).toEqual([]);
  }, 240_000);

  it('with nothing wrong for two minutes, no patrol session sends the model a request', async () => {
    // Nothing wrong any more: the hung work is taken back and the polecat stopped; the witness stays up, idle.
    await run('daemon', 'stop');
    await run('session', 'stop', 'gastown/polecats/toast');
    await run('unsling', 'gastown/polecats/toast', '--force');
    await run('daemon', 'start', '--tick', '1');
    await eventually(
      async () => json<{ problems: unknown[] }>(await run('patrol', 'scan', '--all', '--json')).problems.length === 0,
      'every problem to resolve',
      60_000,
    );
    // Let the last turn's side requests (a session title) land, then count.
    await new Promise((r) => setTimeout(r, 10_000));
    const before = witnessRequests();
    await new Promise((r) => setTimeout(r, 120_000));
    expect(witnessRequests()).toBe(before);
    expect((await f.provider.list()).includes('ga-witness')).toBe(true);
  }, 240_000);
});
