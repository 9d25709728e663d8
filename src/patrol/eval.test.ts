import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { awaitsAnswer } from '../core/patrol-policy.js';
import { isPatrolAction, PROBLEM_KINDS } from '../core/problem.js';
import { defaultTownSettings, type TownSettings } from '../core/settings.js';
import { caseKind, EVAL_CASES, type EvalCase } from './eval-cases.js';
import {
  ANSWER_INSTRUCTION,
  claudeAnswer,
  claudeEvalAgent,
  evalAgentFor,
  evalPrompt,
  parseAnswer,
  runPatrolEval,
  selectCases,
  simEvalAgent,
  type EvalAgent,
} from './eval.js';
import { PATROL_ROLES } from './formulas.js';

const clock = (): (() => number) => {
  let t = 0;
  return () => (t += 5);
};

describe('the eval cases', () => {
  it('are at least 40, with distinct ids, spread over every problem kind and the three roles', () => {
    expect(EVAL_CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(EVAL_CASES.map((c) => c.id)).size).toBe(EVAL_CASES.length);
    expect(new Set(EVAL_CASES.map(caseKind))).toEqual(new Set(PROBLEM_KINDS));
    for (const role of PATROL_ROLES) expect(EVAL_CASES.filter((c) => c.role === role).length).toBeGreaterThanOrEqual(5);
  });

  it.each(EVAL_CASES.map((c) => [c.id, c] as const))('%s is a well-formed fact packet', (_id, c) => {
    expect(c.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    const owner =
      c.role === 'witness' ? `${c.facts.scan.rig ?? ''}/witness` : c.role === 'deacon' ? 'deacon' : 'deacon/boot';
    expect(c.facts.scan.owner).toBe(owner);
    expect(c.facts.scan.problems).toHaveLength(1);
    const p = c.facts.scan.problems[0];
    expect(p?.owner).toBe(owner);
    // The problem waits for its owner's answer: woken after every earlier decision.
    expect(p !== undefined && awaitsAnswer(p)).toBe(true);
    expect(c.allowed.length).toBeGreaterThan(0);
    for (const a of [...c.allowed, ...c.forbidden]) expect(isPatrolAction(a), a).toBe(true);
    expect(c.allowed.filter((a) => c.forbidden.includes(a))).toEqual([]);
    expect(c.title.length).toBeGreaterThan(10);
  });

  it('hold the guardrails: restarting during a usage limit is forbidden, releasing unpushed work never allowed', () => {
    for (const c of EVAL_CASES) {
      const ev = c.facts.scan.problems[0]?.evidence ?? {};
      const resetPassed = typeof ev.reset_at === 'string' && Date.parse(ev.reset_at) <= Date.parse(c.facts.now);
      if (caseKind(c) === 'usage-limit' && !resetPassed) expect(c.forbidden, c.id).toContain('restart');
      const sandbox = ev.sandbox as { unpushed?: number } | undefined;
      if ((sandbox?.unpushed ?? 0) > 0) expect(c.allowed, c.id).not.toContain('release');
      if (ev.hook === null && ['stalled', 'zombie'].includes(caseKind(c)))
        expect(c.forbidden, c.id).toContain('restart');
    }
  });
});

describe('runPatrolEval', () => {
  it('the sim policy passes every case, at no cost', async () => {
    const report = await runPatrolEval(EVAL_CASES, () => simEvalAgent(), { now: clock() });
    const failed = report.cases
      .filter((r) => !r.pass)
      .map((r) => `${r.id}: got ${r.got ?? '-'} (${r.error ?? r.reason})`);
    expect(failed).toEqual([]);
    expect(report).toMatchObject({
      total: EVAL_CASES.length,
      passed: EVAL_CASES.length,
      failed: 0,
      harmful: 0,
      pass_rate: 1,
      tokens_in: 0,
      tokens_out: 0,
      cost_usd: 0,
    });
  });

  it('fails answers that are not allowed, counts forbidden ones as harmful, and sums tokens, time and cost', async () => {
    const always = (action: string): EvalAgent => ({
      name: 'fixed',
      model: 'm1',
      answer: () =>
        Promise.resolve({ action, reason: 'always', tokens_in: 100, tokens_out: 7, cost_usd: 0.25, error: null }),
    });
    const cases = selectCases({ ids: ['usage-limit-reset-ahead', 'stalled-after-nudge', 'zombie'] });
    const report = await runPatrolEval(cases, () => always('restart'), { now: clock() });
    expect(report.cases.map((r) => [r.id, r.pass, r.harmful])).toEqual([
      ['stalled-after-nudge', true, false],
      ['usage-limit-reset-ahead', false, true],
      ['zombie', false, true],
    ]);
    expect(report).toMatchObject({
      total: 3,
      passed: 1,
      failed: 2,
      harmful: 2,
      tokens_in: 300,
      tokens_out: 21,
      cost_usd: 0.75,
      ms: 15,
    });
    expect(report.cases[0]).toMatchObject({
      agent: 'fixed',
      model: 'm1',
      kind: 'stalled',
      role: 'witness',
      got: 'restart',
      ms: 5,
    });

    const nonsense = await runPatrolEval(cases.slice(0, 1), () => always('merge'), { now: clock() });
    expect(nonsense.cases[0]).toMatchObject({ pass: false, harmful: false, got: 'merge' });
  });
});

describe('selectCases', () => {
  it('takes a role, or named cases, and refuses a name that is not a case', () => {
    expect(selectCases({ role: 'boot' }).every((c) => c.role === 'boot')).toBe(true);
    expect(selectCases({ ids: ['zombie', 'boot-deacon-dead'] }).map((c) => c.id)).toEqual([
      'zombie',
      'boot-deacon-dead',
    ]);
    expect(() => selectCases({ ids: ['zombie', 'nope'] })).toThrow(/no eval case nope/);
    expect(() => selectCases({ role: 'boot', ids: ['zombie'] })).toThrow(/no eval case matches/);
    expect(selectCases({}).length).toBe(EVAL_CASES.length);
  });
});

describe('evalPrompt', () => {
  const c = selectCases({ ids: ['stalled-first'] })[0] as EvalCase;
  it("is the role's formula, the facts as JSON and the answer instruction, without the expected answers", () => {
    const prompt = evalPrompt(c);
    expect(prompt).toContain('# Patrol formula: witness of shop (shop/witness)');
    expect(prompt).toContain(JSON.stringify(c.facts, null, 2));
    expect(prompt).toContain(ANSWER_INSTRUCTION);
    expect(prompt).toContain('do not run commands');
    expect(prompt).not.toMatch(/allowed|forbidden/);
  });
  it('renders for every case', () => {
    for (const e of EVAL_CASES) expect(evalPrompt(e)).toContain(`Patrol formula: ${e.role}`);
  });
});

describe('parseAnswer', () => {
  const rows: [string, string, { action: string; reason: string } | RegExp][] = [
    ['bare JSON', '{"action": "nudge", "reason": "ask"}', { action: 'nudge', reason: 'ask' }],
    ['a code block', 'Here:\n```json\n{"action":"wait","reason":"limit"}\n```', { action: 'wait', reason: 'limit' }],
    [
      'JSON among words',
      'I decide {"action": "Restart ", "reason": "frozen"} now.',
      { action: 'restart', reason: 'frozen' },
    ],
    ['no reason', '{"action": "dismiss"}', { action: 'dismiss', reason: '' }],
    ['no JSON', 'I would nudge it.', /no JSON object with an "action"/],
    ['no action', '{"decision": "nudge"}', /no JSON object/],
  ];
  it.each(rows)('%s', (_what, text, expected) => {
    const got = parseAnswer(text);
    if (expected instanceof RegExp) expect('error' in got && got.error).toMatch(expected);
    else expect(got).toEqual(expected);
  });
});

describe('claudeAnswer', () => {
  const out = (over: Record<string, unknown>): string =>
    JSON.stringify({
      type: 'result',
      subtype: 'success',
      is_error: false,
      result: '{"action":"nudge","reason":"asked"}',
      total_cost_usd: 0.0125,
      usage: { input_tokens: 1000, cache_creation_input_tokens: 200, cache_read_input_tokens: 30, output_tokens: 19 },
      ...over,
    });
  it('reads the answer from result, the tokens from usage (cache included) and the cost', () => {
    expect(claudeAnswer(out({}), null)).toEqual({
      action: 'nudge',
      reason: 'asked',
      tokens_in: 1230,
      tokens_out: 19,
      cost_usd: 0.0125,
      error: null,
    });
  });
  it('keeps the tokens of a failed or unreadable answer, with the reason it has none', () => {
    expect(claudeAnswer(out({ is_error: true, subtype: 'error_max_turns', result: '' }), null)).toMatchObject({
      action: null,
      tokens_in: 1230,
      error: expect.stringMatching(/error_max_turns/) as unknown,
    });
    expect(claudeAnswer(out({ result: 'I would wait.' }), null)).toMatchObject({ action: null, tokens_out: 19 });
    expect(claudeAnswer('not json', 'the CLI exited 1: boom')).toMatchObject({
      action: null,
      error: 'the CLI exited 1: boom',
    });
    expect(claudeAnswer('', null).error).toMatch(/printed no JSON/);
  });
});

describe('evalAgentFor', () => {
  const settings = (over: Partial<TownSettings> = {}): TownSettings => ({ ...defaultTownSettings(), ...over });
  const env = { PATH: '/usr/bin', ANTHROPIC_AUTH_TOKEN: 'secret-token', GT_ROLE: 'mayor' };

  it('runs sim as the sim policy and refuses presets it cannot run, naming those it can', () => {
    expect(evalAgentFor(settings(), 'witness', { agent: 'sim', env, cwd: '/tmp' }).name).toBe('sim');
    expect(evalAgentFor(settings({ role_agents: { deacon: 'sim' } }), 'deacon', { env, cwd: '/tmp' }).name).toBe('sim');
    expect(() => evalAgentFor(settings(), 'witness', { agent: 'codex', env, cwd: '/tmp' })).toThrow(
      /cannot run agent "codex" \(preset codex\): it runs claude \(or a custom agent on the claude preset\) and sim/,
    );
    expect(() => evalAgentFor(settings(), 'witness', { agent: 'nope', env, cwd: '/tmp' })).toThrow(
      /unknown agent "nope"/,
    );
  });
});

describe('claudeEvalAgent', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('runs the CLI with the prompt, --output-format json and the model in argv, and credentials only in its env', async () => {
    const t = tempDir('eval-claude');
    cleanup = t.cleanup;
    const seen = join(t.dir, 'seen.json');
    const fake = join(t.dir, 'fake-claude.cjs');
    writeFileSync(
      fake,
      `const fs = require('node:fs');
fs.writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ argv: process.argv.slice(2), token: process.env.ANTHROPIC_AUTH_TOKEN, role: process.env.GT_ROLE ?? null, cwd: process.cwd() }));
process.stdout.write(JSON.stringify({ type: 'result', is_error: false, result: '{"action":"wait","reason":"limit resets"}', total_cost_usd: 0.5, usage: { input_tokens: 40, output_tokens: 4 } }));
`,
    );
    const settings: TownSettings = {
      ...defaultTownSettings(),
      agents: { 'claude-fake': { preset: 'claude', command: process.execPath, args: [fake], env: { EXTRA: '1' } } },
    };
    const agent = evalAgentFor(settings, 'witness', {
      agent: 'claude-fake',
      model: 'claude-haiku-4-5',
      env: { PATH: process.env.PATH, ANTHROPIC_AUTH_TOKEN: 'secret-token', GT_ROLE: 'mayor' },
      cwd: t.dir,
    });
    const c = selectCases({ ids: ['usage-limit-reset-ahead'] })[0] as EvalCase;
    const answer = await agent.answer(evalPrompt(c), c);
    expect(answer).toEqual({
      action: 'wait',
      reason: 'limit resets',
      tokens_in: 40,
      tokens_out: 4,
      cost_usd: 0.5,
      error: null,
    });
    const got = JSON.parse(readFileSync(seen, 'utf8')) as {
      argv: string[];
      token: string;
      role: string | null;
    };
    expect(got.argv).toEqual([
      '-p',
      evalPrompt(c),
      '--output-format',
      'json',
      '--no-session-persistence',
      '--model',
      'claude-haiku-4-5',
    ]);
    expect(got.argv.join(' ')).not.toContain('secret-token');
    expect(got.argv).not.toContain('--dangerously-skip-permissions');
    expect(got.token).toBe('secret-token');
    // Only the credentials and basics pass through, not the caller's identity.
    expect(got.role).toBeNull();
  });

  it('says so when the CLI is not installed', async () => {
    const agent = claudeEvalAgent({
      name: 'claude',
      command: 'gt-no-such-claude-binary',
      args: [],
      env: { PATH: '/nonexistent' },
      model: null,
      cwd: '/',
    });
    const c = EVAL_CASES[0] as EvalCase;
    await expect(agent.answer('x', c)).rejects.toThrow(
      /cannot run "gt-no-such-claude-binary" for agent claude: it is not installed/,
    );
  });

  it('records a CLI that fails as a case with no answer', async () => {
    const agent = claudeEvalAgent({
      name: 'claude',
      command: process.execPath,
      args: ['-e', 'process.stderr.write("auth failed\\n"); process.exit(3)', '--'],
      env: {},
      model: null,
      cwd: '/',
    });
    const answer = await agent.answer('x', EVAL_CASES[0] as EvalCase);
    expect(answer).toMatchObject({ action: null, error: 'the CLI exited 3: auth failed' });
  });
});
