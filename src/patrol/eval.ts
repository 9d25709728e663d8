import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRecord, NotFoundError, ValidationError } from '../core/errors.js';
import { simPatrolDecisions } from '../core/patrol-policy.js';
import { isPatrolAction, PATROL_ACTIONS, type PatrolAction, type ProblemKind } from '../core/problem.js';
import type { TownSettings } from '../core/settings.js';
import { execArgv } from '../exec/exec.js';
import { passthroughEnv, resolveAgent } from '../runtime/launch.js';
import { caseKind, EVAL_CASES, type EvalCase } from './eval-cases.js';
import { patrolFormula, type PatrolRole } from './formulas.js';

/**
 * `gt patrol eval`: the eval's cases run one by one against an agent CLI and model, each case a fact packet
 * with the actions that pass, so that users can pick the cheapest model that judges well. The agent is asked
 * for its decision only (one JSON object, no commands run); its tokens, time and cost are counted per case.
 */

export type EvalAnswer = {
  /** The action the agent answered (as it wrote it), or null when it gave no readable answer. */
  action: string | null;
  reason: string;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  /** Why there is no answer (the CLI failed, the answer was not the JSON asked for). */
  error: string | null;
};

export type Answerer = (prompt: string, c: EvalCase) => Promise<EvalAnswer>;

/** An agent that can sit the eval: the sim policy, or Claude Code run non-interactively. */
export type EvalAgent = { name: string; model: string | null; answer: Answerer };

export type EvalCaseResult = {
  id: string;
  role: PatrolRole;
  kind: ProblemKind;
  agent: string;
  model: string | null;
  expected: PatrolAction[];
  forbidden: PatrolAction[];
  got: string | null;
  reason: string;
  pass: boolean;
  /** The answer was one of the forbidden actions. */
  harmful: boolean;
  tokens_in: number;
  tokens_out: number;
  ms: number;
  cost_usd: number;
  error: string | null;
};

export type EvalReport = {
  cases: EvalCaseResult[];
  total: number;
  passed: number;
  failed: number;
  harmful: number;
  pass_rate: number;
  tokens_in: number;
  tokens_out: number;
  ms: number;
  cost_usd: number;
};

/** The cases a run covers: all, or those of a role, or those named (an unknown name is refused). */
export function selectCases(
  options: { role?: PatrolRole; ids?: readonly string[] },
  cases: readonly EvalCase[] = EVAL_CASES,
): EvalCase[] {
  let out = [...cases];
  if (options.ids !== undefined && options.ids.length > 0) {
    const unknown = options.ids.filter((id) => !cases.some((c) => c.id === id));
    if (unknown.length > 0)
      throw new NotFoundError(`no eval case ${unknown.join(', ')}`, {
        hint: 'list the cases with "gt patrol eval --agent sim"',
      });
    out = out.filter((c) => options.ids?.includes(c.id));
  }
  if (options.role !== undefined) out = out.filter((c) => c.role === options.role);
  if (out.length === 0)
    throw new ValidationError('no eval case matches', { hint: 'drop --role or --case to run them all' });
  return out;
}

export const ANSWER_INSTRUCTION =
  'Answer with one JSON object {"action": ..., "reason": ...} and nothing else; do not run commands.';

/** What the agent is given for one case: its role's formula, the facts, and how to answer. */
export function evalPrompt(c: EvalCase): string {
  const address = c.facts.scan.owner ?? (c.role === 'deacon' ? 'deacon' : 'deacon/boot');
  return [
    patrolFormula(c.role, { address, ...(c.facts.scan.rig === null ? {} : { rig: c.facts.scan.rig }) }),
    '## This wake',
    '',
    'You were woken for the problem below. These are the facts at the time "now": "scan" is what',
    '`gt patrol scan --json` prints, and "looks" holds what the commands you might run to look closer would print.',
    '',
    '```json',
    JSON.stringify(c.facts, null, 2),
    '```',
    '',
    `${ANSWER_INSTRUCTION} "action" is one of: ${PATROL_ACTIONS.join(', ')}. "reason" says why, from the facts.`,
    '',
  ].join('\n');
}

/** The decision in an agent's answer: a JSON object, alone or in a code block or among other text. */
export function parseAnswer(text: string): { action: string; reason: string } | { error: string } {
  const trimmed = text.trim();
  const candidates = [trimmed];
  const fenced = /```(?:json)?\s*([^]*?)```/u.exec(trimmed)?.[1];
  if (fenced !== undefined) candidates.push(fenced.trim());
  const open = trimmed.indexOf('{');
  const close = trimmed.lastIndexOf('}');
  if (open !== -1 && close > open) candidates.push(trimmed.slice(open, close + 1));
  for (const candidate of candidates) {
    let value: unknown;
    try {
      value = JSON.parse(candidate);
    } catch {
      continue;
    }
    if (!isRecord(value) || typeof value.action !== 'string') continue;
    return { action: value.action.trim().toLowerCase(), reason: typeof value.reason === 'string' ? value.reason : '' };
  }
  return { error: `no JSON object with an "action" in the answer: ${JSON.stringify(trimmed.slice(0, 200))}` };
}

export async function runPatrolEval(
  cases: readonly EvalCase[],
  agentFor: (c: EvalCase) => EvalAgent,
  options: { now: () => number; onCase?: (r: EvalCaseResult) => void },
): Promise<EvalReport> {
  const results: EvalCaseResult[] = [];
  for (const c of cases) {
    const agent = agentFor(c);
    const started = options.now();
    const answer = await agent.answer(evalPrompt(c), c);
    const ms = Math.max(0, options.now() - started);
    const got = answer.action;
    const result: EvalCaseResult = {
      id: c.id,
      role: c.role,
      kind: caseKind(c),
      agent: agent.name,
      model: agent.model,
      expected: [...c.allowed],
      forbidden: [...c.forbidden],
      got,
      reason: answer.reason,
      pass: got !== null && isPatrolAction(got) && c.allowed.includes(got),
      harmful: got !== null && isPatrolAction(got) && c.forbidden.includes(got),
      tokens_in: answer.tokens_in,
      tokens_out: answer.tokens_out,
      ms,
      cost_usd: answer.cost_usd,
      error: answer.error,
    };
    results.push(result);
    options.onCase?.(result);
  }
  const sum = (f: (r: EvalCaseResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  const passed = results.filter((r) => r.pass).length;
  return {
    cases: results,
    total: results.length,
    passed,
    failed: results.length - passed,
    harmful: results.filter((r) => r.harmful).length,
    pass_rate: results.length === 0 ? 0 : passed / results.length,
    tokens_in: sum((r) => r.tokens_in),
    tokens_out: sum((r) => r.tokens_out),
    ms: sum((r) => r.ms),
    cost_usd: sum((r) => r.cost_usd),
  };
}

/** The sim policy as an eval agent: no model, no tokens, no cost. */
export function simEvalAgent(name = 'sim'): EvalAgent {
  return {
    name,
    model: null,
    answer: (_prompt, c) => {
      const problem = c.facts.scan.problems[0];
      const step = simPatrolDecisions(c.facts.scan, Date.parse(c.facts.now)).find((s) => s.problem === problem?.id);
      return Promise.resolve({
        action: step?.action ?? null,
        reason: step?.reason ?? '',
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0,
        error: step === undefined ? 'the sim policy gave no step for this problem' : null,
      });
    },
  };
}

export type ClaudeEvalOptions = {
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  model: string | null;
  /** An empty directory to run in, so that no project's instructions reach the prompt. */
  cwd: string;
  timeoutMs?: number;
};

/** Claude Code run once per case: `claude -p <prompt> --output-format json [--model m]`. */
export function claudeEvalAgent(o: ClaudeEvalOptions): EvalAgent {
  return {
    name: o.name,
    model: o.model,
    answer: async (prompt) => {
      const argv = [
        ...o.args,
        '-p',
        prompt,
        '--output-format',
        'json',
        '--no-session-persistence',
        ...(o.model === null ? [] : ['--model', o.model]),
      ];
      const timeoutMs = o.timeoutMs ?? 300_000;
      const r = await execArgv(o.command, argv, { cwd: o.cwd, env: o.env, timeoutMs, input: '' });
      if (!r.ok && r.status === null && /ENOENT/u.test(r.stderr))
        throw new ValidationError(`cannot run "${o.command}" for agent ${o.name}: it is not installed or not on PATH`, {
          hint: 'install Claude Code, or point an agent at it: gt config agent set <name> --preset claude --command <path>',
        });
      return claudeAnswer(r.stdout, r.ok ? null : failure(r.stderr, r.status, timeoutMs));
    },
  };
}

function failure(stderr: string, status: number | null, timeoutMs: number): string {
  const last = stderr.trim().split('\n').slice(-2).join(' ');
  if (status === null && /timed out|SIGTERM|killed/iu.test(stderr)) return `no answer within ${timeoutMs / 1000} s`;
  return `the CLI exited ${status ?? 'on a signal'}: ${last}`;
}

/** Reads `claude -p --output-format json`: the answer in `result`, tokens in `usage`, cost in `total_cost_usd`. */
export function claudeAnswer(stdout: string, failed: string | null): EvalAnswer {
  let out: unknown;
  try {
    out = JSON.parse(stdout);
  } catch {
    out = undefined;
  }
  const usage = isRecord(out) && isRecord(out.usage) ? out.usage : {};
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const counted = {
    tokens_in: n(usage.input_tokens) + n(usage.cache_creation_input_tokens) + n(usage.cache_read_input_tokens),
    tokens_out: n(usage.output_tokens),
    cost_usd: isRecord(out) ? n(out.total_cost_usd) : 0,
  };
  const none = (error: string): EvalAnswer => ({ action: null, reason: '', ...counted, error });
  if (!isRecord(out)) return none(failed ?? `the CLI printed no JSON result: ${JSON.stringify(stdout.slice(0, 200))}`);
  const text = typeof out.result === 'string' ? out.result : '';
  if (out.is_error === true || failed !== null)
    return none(
      failed ??
        `the CLI reported an error (${typeof out.subtype === 'string' ? out.subtype : 'unknown'}): ${text.slice(0, 200)}`,
    );
  const answer = parseAnswer(text);
  if ('error' in answer) return none(answer.error);
  return { action: answer.action, reason: answer.reason, ...counted, error: null };
}

/** The presets the eval can run, for the error that names them. */
export const EVAL_PRESETS = 'claude (or a custom agent on the claude preset) and sim';

/**
 * The eval agent for a role: the one named, else the role's agent from the settings. Claude Code gets the
 * preset's and the agent's own arguments without the autonomy flag (the eval runs no tools), the agent's env
 * over the credentials passed through from `env`; secrets reach it by environment only.
 */
export function evalAgentFor(
  settings: TownSettings,
  role: PatrolRole,
  options: { agent?: string; model?: string; env: Readonly<Record<string, string | undefined>>; cwd: string },
): EvalAgent {
  const resolved = resolveAgent(settings, role, options.agent);
  const preset = resolved.preset;
  if (preset.hooks === 'sim') return simEvalAgent(resolved.name);
  if (preset.hooks !== 'claude') {
    const base = settings.agents[resolved.name]?.preset ?? resolved.name;
    throw new ValidationError(
      `gt patrol eval cannot run agent "${resolved.name}" (preset ${base}): it runs ${EVAL_PRESETS}`,
      {
        hint: 'choose one with --agent claude or --agent sim',
      },
    );
  }
  return claudeEvalAgent({
    name: resolved.name,
    command: preset.command,
    args: preset.args.filter((a) => a !== '--dangerously-skip-permissions'),
    env: { ...passthroughEnv(options.env), ...preset.env, CLAUDECODE: '', NODE_OPTIONS: '' },
    model: options.model ?? null,
    cwd: options.cwd,
  });
}

/**
 * One whole eval run as `gt patrol eval` does it: the cases chosen, each case's agent resolved once per role
 * (so a bad agent is refused before anything runs), a scratch directory for the CLI, removed afterwards.
 */
export async function patrolEval(
  settings: TownSettings,
  options: {
    role?: PatrolRole;
    ids?: readonly string[];
    agent?: string;
    model?: string;
    env: Readonly<Record<string, string | undefined>>;
    now: () => number;
    onCase?: (r: EvalCaseResult) => void;
  },
): Promise<EvalReport> {
  const cases = selectCases(options);
  const scratch = mkdtempSync(join(tmpdir(), 'gt-patrol-eval-'));
  try {
    const agents = new Map<PatrolRole, EvalAgent>();
    for (const c of cases)
      if (!agents.has(c.role)) agents.set(c.role, evalAgentFor(settings, c.role, { ...options, cwd: scratch }));
    return await runPatrolEval(
      cases,
      (c) => {
        const a = agents.get(c.role);
        if (a === undefined) throw new Error(`no eval agent for ${c.role}`);
        return a;
      },
      options,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
