import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { json } from './helpers/bd.js';
import { eventually, useSessionTowns } from './helpers/session-town.js';

/**
 * Work that lands on main without a person: the sim agent does slung beads and hands them in with gt done, and
 * the rig's refinery — its own session, running gt refinery run --watch, no model — lands each request on the
 * remote's main as it is filed and closes the source bead.
 */
const fixture = useSessionTowns();

const script = (file: string, text: string): string =>
  `Write ${file}.\n\n\`\`\`sh\nprintf '%s\\n' '${text}' > ${file}\n\`\`\`\n`;

describe("the rig's refinery session", () => {
  it('lands what polecats hand in, by itself, and says so in gt mq list', async () => {
    const f = await fixture('refinery-session');
    const status = json<{ running: boolean; agent: string }>(f.run('refinery', 'status', 'gastown', '--json'));
    expect(status).toMatchObject({ running: false, agent: 'refinery' });
    const started = f.run('refinery', 'start', 'gastown', '--json');
    expect(started.status, started.stderr).toBe(0);
    expect(json<{ running: boolean }>(f.run('refinery', 'status', 'gastown', '--json')).running).toBe(true);

    const s = f.store();
    const beads = [];
    for (const n of [1, 2])
      beads.push(await s.create({ title: `part ${n}`, description: script(`part${n}.txt`, `part ${n}`) }, 'mayor'));
    const slung = f.run('sling', ...beads.map((b) => b.id), 'gastown', '--json');
    expect(slung.status, slung.stderr).toBe(0);

    // Each bead is done by a polecat, handed in, and landed by the refinery: the source bead closes.
    for (const b of beads)
      await eventually(async () => (await s.show([b.id]))[0]?.status === 'closed', `${b.id} to land`, 90_000);
    const remote = join(f.base, 'remote.git');
    const files = execFileSync('git', ['ls-tree', '--name-only', 'main'], { cwd: remote, encoding: 'utf8' });
    expect(files).toContain('part1.txt');
    expect(files).toContain('part2.txt');
    const all = json<{ id: string; state: string }[]>(f.run('mq', 'list', 'gastown', '--all', '--json'));
    expect(all.map((m) => m.state)).toEqual(['landed', 'landed']);
    expect(json<unknown[]>(f.run('mq', 'list', 'gastown', '--json'))).toEqual([]);

    const stopped = f.run('refinery', 'stop', 'gastown');
    expect(stopped.status, stopped.stderr).toBe(0);
    expect(json<{ running: boolean }>(f.run('refinery', 'status', 'gastown', '--json')).running).toBe(false);
  }, 180_000);
});
