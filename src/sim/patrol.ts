import { isRecord } from '../core/errors.js';
import { simPatrolDecisions } from '../core/patrol-policy.js';
import { parsePatrolScan, type PatrolScan } from '../core/patrol-scan.js';

/**
 * The sim agent as a patrol agent (witness, deacon or boot): at each turn it reads `gt patrol scan --json`,
 * applies the fixed rules of core/patrol-policy.ts, runs the gt command each decision names, and reports the
 * decision with `gt patrol report`. No AI: the demo and the tests run the whole patrol loop with it.
 */

type GtRun = (
  args: readonly string[],
) => Promise<{ ok: boolean; status: number | null; stdout: string; stderr: string }>;

export type PatrolTurn = {
  gt: GtRun;
  trace: (step: string, detail?: Record<string, unknown>) => void;
  say: (line: string) => void;
  now: () => number;
};

const firstLine = (text: string): string => text.trim().split('\n')[0] ?? '';

export async function patrolTurn(t: PatrolTurn): Promise<number> {
  const scan = await t.gt(['patrol', 'scan', '--json']);
  let parsed: PatrolScan;
  try {
    if (!scan.ok) throw new Error(firstLine(scan.stderr));
    parsed = parsePatrolScan(JSON.parse(scan.stdout));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    t.trace('patrol_error', { reading: 'scan', message });
    t.say(`sim patrol: could not read gt patrol scan: ${message}`);
    return 0;
  }
  const steps = simPatrolDecisions(parsed, t.now());
  t.trace('patrol_scan', { problems: parsed.problems.length, steps: steps.length });
  if (steps.length === 0) t.say(`sim patrol: ${parsed.problems.length} open problem(s), nothing new to decide`);
  for (const step of steps) {
    let escalation: string | null = step.escalation ?? null;
    let ran: { exit: number | null; out: string } | null = null;
    const act = async (): Promise<void> => {
      if (step.argv === null) return;
      const escalating = step.argv[0] === 'escalate';
      const r = await t.gt(escalating ? [...step.argv, '--json'] : step.argv);
      ran = { exit: r.status, out: firstLine(r.ok ? r.stdout : r.stderr).slice(0, 300) };
      if (escalating && r.ok) {
        try {
          const v: unknown = JSON.parse(r.stdout);
          if (isRecord(v) && typeof v.id === 'string') escalation = v.id;
        } catch {
          // no id: reported without one
        }
      }
    };
    const report = async (): Promise<{ ok: boolean; stderr: string }> =>
      t.gt([
        'patrol',
        'report',
        String(step.problem),
        '--action',
        step.action,
        '--reason',
        step.reason,
        ...(escalation === null ? [] : ['--escalation', escalation]),
      ]);
    // Decided, recorded, then done: what it does (a restart) may end the problem before a report after it
    // could land. An escalation is filed first, so that the report can name it.
    let reported: { ok: boolean; stderr: string };
    if (step.argv !== null && step.argv[0] === 'escalate') {
      await act();
      reported = await report();
    } else {
      reported = await report();
      if (reported.ok) await act();
    }
    const done = ran as { exit: number | null; out: string } | null;
    t.trace('patrol_decision', {
      problem: step.problem,
      action: step.action,
      reason: step.reason,
      argv: step.argv,
      ran: done,
      reported: reported.ok,
      error: reported.ok ? null : firstLine(reported.stderr),
    });
    t.say(
      `sim patrol: #${step.problem} ${step.action}: ${step.reason}${done !== null && done.exit !== 0 ? ` (the command failed: ${done.out})` : ''}${reported.ok ? '' : ` (not recorded: ${firstLine(reported.stderr)})`}`,
    );
  }
  return steps.length;
}
