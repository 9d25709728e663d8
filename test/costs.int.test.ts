import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { json } from './helpers/bd.js';
import { eventually, useSessionTowns, type SessionTown } from './helpers/session-town.js';

/**
 * Costs with real tmux, the store, the daemon and the sim agent: the sim's turns are written as a Claude-form
 * transcript its start-up hook names, `gt costs` reads exactly what it wrote, and a daily budget reached holds
 * new work (a sling queues, saying why; one escalation is filed) until the budget is raised.
 */

const fixture = useSessionTowns();

type CostRow = {
  agent?: string | null;
  role?: string | null;
  bead?: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  usd: number | null;
  messages: number;
};
type Costs = {
  rows: CostRow[];
  total: CostRow;
  read: { sources: number; added: number } | null;
  read_by: string | null;
};
type SlingResult = { bead: string; agent: string; action: string; queue_reason: string | null };

const TOAST = 'gastown/polecats/toast';
const script = (file: string): string => `Write ${file}.\n\n\`\`\`sh\nprintf '%s\\n' '${file}' > ${file}\n\`\`\`\n`;

/** What the sim wrote in its transcripts, summed: each message's usage once. */
function simTranscripts(f: SessionTown): {
  messages: number;
  input: number;
  output: number;
  read: number;
  write: number;
} {
  const dir = join(f.town.root, '.runtime', 'sim', 'transcripts');
  const sum = { messages: 0, input: 0, output: 0, read: 0, write: 0 };
  if (!existsSync(dir)) return sum;
  for (const name of readdirSync(dir))
    for (const line of readFileSync(join(dir, name), 'utf8')
      .split('\n')
      .filter((l) => l !== '')) {
      const u = (JSON.parse(line) as { message: { usage: Record<string, number> } }).message.usage;
      sum.messages++;
      sum.input += u.input_tokens ?? 0;
      sum.output += u.output_tokens ?? 0;
      sum.read += u.cache_read_input_tokens ?? 0;
      sum.write += u.cache_creation_input_tokens ?? 0;
    }
  return sum;
}

describe('costs and budgets in a sim town', () => {
  it("counts the sim's tokens exactly; a budget reached queues new work and escalates once; raising it lets the work go", async () => {
    const f = await fixture('costs-budget');
    const s0 = loadSettings(f.town);
    saveSettings(f.town, { ...s0, daemon: { ...s0.daemon, standing_roles: [], heartbeat_seconds: 1 } });
    const s = f.store();
    const first = await s.create({ title: 'first', description: script('first.txt') }, 'mayor');
    expect(json<SlingResult[]>(f.run('sling', first.id, TOAST, '--json'))[0]).toMatchObject({ action: 'started' });
    await eventually(
      () => f.trace('ga-toast').some((t) => t.step === 'report' && t.bead === first.id),
      'the first bead to be handed in',
      60_000,
    );
    // What gt costs reads is what the sim wrote, exactly (its turn may still be writing: they agree once it ends).
    let costs = json<Costs>(f.run('costs', '--json'));
    let wrote = simTranscripts(f);
    await eventually(() => {
      costs = json<Costs>(f.run('costs', '--json'));
      wrote = simTranscripts(f);
      return wrote.messages > 0 && costs.total.messages === wrote.messages;
    }, 'gt costs to read what the sim wrote');
    expect(costs).toMatchObject({ read: { sources: 1 }, read_by: 'gt costs' });
    expect(costs.rows).toEqual([
      {
        agent: TOAST,
        input_tokens: wrote.input,
        output_tokens: wrote.output,
        cache_read_tokens: wrote.read,
        cache_write_tokens: wrote.write,
        usd: null,
        unpriced_models: ['sim'],
        messages: wrote.messages,
      },
    ]);
    expect(costs.total).toMatchObject({ input_tokens: wrote.input, messages: wrote.messages });
    // Read again: nothing counts twice. By bead: the work it was on.
    expect(json<Costs>(f.run('costs', '--json')).total.input_tokens).toBe(wrote.input);
    expect(json<Costs>(f.run('costs', '--by', 'bead', '--json')).rows.map((r) => r.bead)).toEqual([first.id]);
    const table = f.run('costs', '--by', 'role');
    expect(table.stdout).toMatch(/^ROLE\s+INPUT\s+OUTPUT\s+CACHE READ\s+CACHE WRITE\s+MSGS\s+USD$/m);
    expect(table.stdout).toMatch(new RegExp(`^polecat\\s+${wrote.input}\\s+${wrote.output}\\s.*unpriced$`, 'm'));
    expect(table.stdout).toContain('Unpriced: sim');

    // A budget below what was used today: the next sling to a polecat queues, and says why.
    const used = wrote.input + wrote.output + wrote.read + wrote.write;
    const s1 = loadSettings(f.town);
    saveSettings(f.town, { ...s1, budgets: { daily_tokens: used, daily_usd: null, roles: {} } });
    const second = await s.create({ title: 'second', description: script('second.txt') }, 'mayor');
    const [queued] = json<SlingResult[]>(f.run('sling', second.id, TOAST, '--json'));
    expect(queued).toMatchObject({ action: 'queued' });
    expect(queued?.queue_reason).toBe(
      `the town's daily token budget (${used}) is reached: ${used} used today; no new work goes out until the day turns (or the budget in settings.json is raised)`,
    );
    expect(f.run('status').stdout).toContain(`Dispatch held: the town's daily token budget (${used}) is reached`);
    expect(f.run('scheduler', 'status').stdout).toContain('Held by a daily budget:');

    // The daemon holds it, and tells a person once.
    expect(f.run('daemon', 'start', '--tick', '1').status).toBe(0);
    await eventually(
      async () => (await s.list({ types: ['escalation'], limit: 0 })).length > 0,
      'the budget to be escalated',
    );
    const daemonLog = () =>
      json<{ log: { event: string; budget?: string }[] }>(f.run('daemon', 'status', '--lines', '400', '--json')).log;
    await eventually(() => daemonLog().some((l) => l.event === 'budget-reached'), 'the daemon to log it');
    // Several passes later: still held, still one escalation.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await s.agent(TOAST)).hook_bead).toBeNull();
    const escalations = await s.list({ types: ['escalation'], limit: 0 });
    expect(escalations.map((e) => e.title)).toEqual([
      expect.stringMatching(/^Daily budget reached: the town's token budget on \d{4}-\d{2}-\d{2}$/),
    ]);
    expect(daemonLog().filter((l) => l.event === 'budget-reached')).toHaveLength(1);
    // While the daemon runs it reads the records: gt costs reports the store, unless told to read.
    expect(json<Costs>(f.run('costs', '--json'))).toMatchObject({ read: null, read_by: 'daemon' });
    expect(json<Costs>(f.run('costs', '--read', '--json'))).toMatchObject({
      read: { sources: 1 },
      read_by: 'gt costs',
    });
    expect(json<Costs>(f.run('costs', '--no-read', '--json'))).toMatchObject({ read: null, read_by: null });

    // Raised: the queued sling goes at the next pass.
    const s2 = loadSettings(f.town);
    saveSettings(f.town, { ...s2, budgets: { ...s2.budgets, daily_tokens: used * 100 } });
    await eventually(
      () => f.trace('ga-toast').some((t) => t.step === 'report' && t.bead === second.id),
      'the queued bead to be done',
      60_000,
    );
    expect(daemonLog().some((l) => l.event === 'budget-released')).toBe(true);
    expect(f.run('status').stdout).not.toContain('Dispatch held');
  }, 180_000);
});
