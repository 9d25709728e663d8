import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, gtAsync, requireBuild, type RunResult } from './helpers/bd.js';
import { CLAUDE_BIN, claudeAvailable, makeClaudeHome } from './helpers/claude-home.js';
import { lastUserPrompt, startScriptedModel, type ScriptedModel } from './helpers/scripted-model.js';
import { tempDir } from './helpers/tmp.js';

/**
 * `gt patrol eval` with the real Claude Code CLI against the scripted Messages API: the plumbing, not the model.
 * The script answers one case right, one with a forbidden action, one with prose instead of JSON; the eval
 * grades each, and counts the tokens and cost the CLI reported. Outside any town, with `claude` on PATH.
 */

type Report = {
  total: number;
  passed: number;
  harmful: number;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  cases: {
    id: string;
    got: string | null;
    pass: boolean;
    harmful: boolean;
    tokens_in: number;
    tokens_out: number;
    cost_usd: number;
    ms: number;
    model: string | null;
    agent: string;
    error: string | null;
  }[];
};

let t: ReturnType<typeof tempDir>;
let env: Record<string, string>;
const run = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: t.dir, env });

beforeAll(() => {
  requireBuild();
  t = tempDir('patrol-eval');
  env = cleanEnv(join(t.dir, 'home'));
});
afterAll(() => t.cleanup());

describe('gt patrol eval with the sim policy', () => {
  it('passes every case, printing a row per case and the totals; --json carries the same', async () => {
    const text = await run('patrol', 'eval', '--agent', 'sim', '--role', 'boot');
    expect(text.status, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CASE\s+ROLE\s+KIND\s+EXPECTED\s+GOT\s+PASS\s+TOKENS IN\/OUT\s+MS\s+COST$/);
    expect(lines[1]).toMatch(
      /^boot-deacon-dead\s+boot\s+patrol-unresponsive\s+start\|restart\s+start\s+pass\s+0\/0\s+\d+\s+\$0\.0000$/,
    );
    expect(lines.at(-2)).toMatch(/^Passed (\d+)\/\1 \(100\.0%\) with sim$/);
    const r = JSON.parse((await run('patrol', 'eval', '--agent', 'sim', '--json')).stdout) as Report;
    expect(r.total).toBeGreaterThanOrEqual(40);
    expect(r.passed).toBe(r.total);
  });

  it('refuses an agent it cannot run, a role that is not one, and a case that does not exist', async () => {
    const codex = await run('patrol', 'eval', '--agent', 'codex');
    expect(codex.status).toBe(2);
    expect(codex.stderr).toMatch(/it runs claude \(or a custom agent on the claude preset\) and sim/);
    expect((await run('patrol', 'eval', '--role', 'mayor')).stderr).toMatch(
      /unknown role "mayor" — use one of witness, deacon, boot/,
    );
    const missing = await run('patrol', 'eval', '--agent', 'sim', '--case', 'no-such-case', '--json');
    expect(missing.status).toBe(3);
    expect(JSON.parse(missing.stderr)).toMatchObject({ code: 'not_found', error: 'no eval case no-such-case' });
  });
});

describe.skipIf(!claudeAvailable())('gt patrol eval with the real Claude Code CLI', () => {
  let model: ScriptedModel;

  beforeAll(async () => {
    model = await startScriptedModel((req) => {
      const prompt = lastUserPrompt(req);
      if (prompt.includes('5-hour limit reached ∙ resets 1pm'))
        return '{"action": "wait", "reason": "the limit resets at 1pm"}';
      if (prompt.includes('no progress on shop-a1 for 43 min'))
        return 'Give it to someone else:\n```json\n{"action": "release", "reason": "nudged and silent"}\n```';
      if (prompt.includes('session ga-nux has no agent process')) return 'I would leave it alone.';
      return 'unexpected prompt';
    });
    const home = makeClaudeHome(join(t.dir, 'claude-config'), []);
    const bin = join(t.dir, 'bin');
    mkdirSync(bin);
    symlinkSync(CLAUDE_BIN, join(bin, 'claude'));
    env = { ...cleanEnv(join(t.dir, 'home')), ...home.env(model.url) };
    env.PATH = `${bin}:${env.PATH ?? ''}`;
  });

  afterAll(async () => {
    await model.close();
  });

  it('asks claude once per case and grades each answer, counting its tokens and cost', async () => {
    const cases = ['usage-limit-reset-ahead', 'stalled-after-nudge', 'zombie'];
    const r = await run(
      'patrol',
      'eval',
      '--agent',
      'claude',
      '--model',
      'claude-haiku-4-5',
      '--case',
      cases.join(','),
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.cases.map((c) => [c.id, c.got, c.pass, c.harmful])).toEqual([
      ['stalled-after-nudge', 'release', false, true],
      ['usage-limit-reset-ahead', 'wait', true, false],
      ['zombie', null, false, false],
    ]);
    expect(report.cases[2]?.error).toMatch(/no JSON object with an "action" in the answer: "I would leave it alone\."/);
    expect(report).toMatchObject({ total: 3, passed: 1, harmful: 1 });
    for (const c of report.cases) {
      expect(c).toMatchObject({ agent: 'claude', model: 'claude-haiku-4-5' });
      expect(c.tokens_in).toBeGreaterThan(0);
      expect(c.tokens_out).toBeGreaterThan(0);
      expect(c.cost_usd).toBeGreaterThan(0);
    }
    expect(report.tokens_in).toBe(report.cases.reduce((n, c) => n + c.tokens_in, 0));

    // One conversation per case, on the model asked for, each given the role's formula and the facts.
    const asked = model.conversationRequests();
    expect(asked).toHaveLength(3);
    for (const req of asked) {
      expect(req.body.model).toBe('claude-haiku-4-5');
      expect(lastUserPrompt(req)).toContain('# Patrol formula: witness of shop (shop/witness)');
      expect(lastUserPrompt(req)).toContain(
        'Answer with one JSON object {"action": ..., "reason": ...} and nothing else; do not run commands.',
      );
    }
    expect(model.errors).toEqual([]);
  }, 120_000);
});
