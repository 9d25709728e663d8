import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gtAsync, json, type RunResult } from './helpers/bd.js';
import { claudeAgentArgs, claudeAvailable, makeClaudeHome } from './helpers/claude-home.js';
import {
  bash,
  lastToolResults,
  lastUserPrompt,
  startScriptedModel,
  type ScriptedModel,
} from './helpers/scripted-model.js';
import { eventually, sessionTown } from './helpers/session-town.js';

/**
 * `gt costs` on the transcript the real Claude Code CLI writes, run by gt as a polecat against the scripted
 * Messages API: the transcript is found through the SessionStart hook's transcript_path, each API message is
 * counted once although the CLI writes it as several lines, and the counts are exactly the usage the scripted
 * server reported, attributed to the agent and the bead on its hook.
 */

const TOAST = 'gastown/polecats/toast';
let f: Awaited<ReturnType<typeof sessionTown>>;
let model: ScriptedModel;
let env: Record<string, string>;

const run = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: f.town.root, env });

type Row = {
  agent?: string;
  bead?: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  usd: number | null;
  messages: number;
};
type Costs = { rows: Row[]; total: Row };

describe.skipIf(!claudeAvailable())('gt costs on the real Claude Code CLI', () => {
  beforeAll(async () => {
    f = await sessionTown('costs-claude');
    model = await startScriptedModel(
      (req) => {
        if (!lastUserPrompt(req).includes('• assigned:')) return 'ok';
        // Text and a tool call in one message (the CLI writes it as two lines), then a last word.
        if (lastToolResults(req).length > 0) return 'Done looking.';
        return { text: 'Let me look at the sandbox first.', toolUses: [bash('ls -a >/dev/null')] };
      },
      { cacheUsage: true },
    );
    const home = makeClaudeHome(join(f.base, 'claude-config'), []);
    const claudeEnv = home.env(model.url);
    env = { ...f.env, ...claudeEnv };
    const set = await run(...claudeAgentArgs(claudeEnv), '--json');
    expect(set.status, set.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await f.cleanup();
    await model.close();
  });

  it('matches exactly the usage the scripted server sent, for the agent and its bead', async () => {
    const store = f.store();
    const bead = await store.create({ title: 'look around' }, 'mayor');
    const slung = await run('sling', bead.id, TOAST, '--agent', 'claude-test', '--json');
    expect(slung.status, slung.stderr).toBe(0);
    await model.waitForConversation((r) => lastToolResults(r).length > 0, 90_000);
    // The transcript was named by the CLI's SessionStart hook.
    const sources = await store.usageSources();
    expect(sources).toEqual([expect.objectContaining({ agent: TOAST, format: 'claude', runtime: 'claude-test' })]);
    expect(sources[0]?.path.startsWith(join(f.base, 'claude-config', 'projects'))).toBe(true);

    // What the server reported for the requests the CLI keeps in its transcript (the conversation's).
    const sent = () => {
      const kept = model.sent.filter((m) => m.complete && (m.kind === 'conversation' || m.kind === 'compact'));
      const sum = (k: keyof (typeof kept)[number]['usage']) => kept.reduce((n, m) => n + m.usage[k], 0);
      return {
        messages: kept.length,
        input_tokens: sum('input_tokens'),
        output_tokens: sum('output_tokens'),
        cache_read_tokens: sum('cache_read_input_tokens'),
        cache_write_tokens: sum('cache_creation_input_tokens'),
      };
    };
    let costs: Costs | undefined;
    // The CLI writes each message once its stream ends: the two agree once the turn is over.
    const settled = (what: string) =>
      eventually(
        async () => {
          costs = json<Costs>(await run('costs', '--agent', TOAST, '--json'));
          return sent().messages >= 2 && costs.total.messages === sent().messages;
        },
        what,
        60_000,
      ).catch(async (err: unknown) => {
        // eslint-disable-next-line no-console -- for whoever reads the failure
        console.log(JSON.stringify({ sent: model.sent, costs, entries: await store.usageEntries() }, null, 1));
        throw err;
      });
    await settled('gt costs to read the whole turn');
    // The agent may go on (its Stop hook reminds a polecat of the bead still on its hook): once it has been
    // quiet for a while, with every response written, stop it, so that what is compared stays put.
    for (let seen = -1; seen !== model.sent.length || !model.sent.every((m) => m.complete);) {
      seen = model.sent.length;
      await new Promise((r) => setTimeout(r, 2_000));
    }
    await settled('gt costs to read what the agent sent');
    expect((await run('session', 'stop', TOAST)).status).toBe(0);
    await settled('gt costs to read everything the stopped agent sent');
    const expected = sent();
    expect(costs?.rows).toEqual([
      {
        agent: TOAST,
        ...expected,
        usd: expect.any(Number) as number,
        unpriced_models: [],
      },
    ]);
    // One entry per API message (the message with text and a tool call was written on two lines).
    const entries = await store.usageEntries({ agent: TOAST });
    const ids = model.sent.filter((m) => m.kind === 'conversation' && m.complete).map((m) => `claude:${m.id}`);
    expect(entries.map((e) => e.key).sort()).toEqual(ids.sort());
    expect(new Set(entries.map((e) => e.bead))).toEqual(new Set([bead.id]));
    const byBead = json<Costs>(await run('costs', '--by', 'bead', '--json'));
    expect(byBead.rows.map((r) => [r.bead, r.input_tokens])).toEqual([[bead.id, expected.input_tokens]]);
    expect(model.errors).toEqual([]);
  }, 180_000);
});
