import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gt, json } from './helpers/bd.js';
import { useSessionTowns } from './helpers/session-town.js';
import { git } from './helpers/town-fixture.js';

/**
 * A push the remote refuses at gt done: the hook and the branch stay (as before), and the failure is where
 * people look — a comment on the bead with the remote's words, every view, and the witness after three.
 */
const fixture = useSessionTowns();
const TOAST = 'gastown/polecats/toast';

describe('gt done when the remote refuses the push', () => {
  it('records it on the bead, shows it in the views, tells the witness after three, and clears on success', async () => {
    const f = await fixture('push-refused');
    const s = f.store();
    const bead = await s.create({ title: 'work the remote will refuse' }, 'mayor');
    await s.hook(TOAST, bead.id, 'mayor');
    const sandbox = (await s.agent(TOAST)).sandbox_path;
    git(sandbox, 'commit', '--allow-empty', '-q', '-m', 'work');
    const hook = join(f.base, 'remote.git', 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "refused by policy: branch is frozen" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    const env = { ...f.env, GT_ROLE: TOAST, BD_ACTOR: TOAST };

    for (let i = 1; i <= 3; i++) {
      const r = gt(['done'], { cwd: sandbox, env });
      expect(r.status, r.stderr).toBe(8);
    }
    expect((await s.agent(TOAST)).hook_bead).toBe(bead.id);
    const comments = (await s.comments(bead.id)).map((c) => c.text).filter((t) => t.startsWith('Push of'));
    expect(comments).toHaveLength(3);
    expect(comments[2]).toMatch(/refused by the remote \(3 in a row\): .*remote: refused by policy: branch is frozen/);
    const agents = json<{ address: string; hook: { push_refused: string | null } | null }[]>(f.run('agents', '--json'));
    expect(agents.find((a) => a.address === TOAST)?.hook?.push_refused).toMatch(/branch is frozen/);
    expect(f.run('status').stdout).toMatch(/gastown\/polecats\/toast .* push refused: .*branch is frozen/);
    expect(f.run('polecat', 'list').stdout).toMatch(/push refused: .*branch is frozen/);
    const witness = json<{ subject: string }[]>(
      gt(['mail', 'inbox', '--json'], { cwd: f.town.root, env: { ...f.env, GT_ROLE: 'gastown/witness' } }),
    );
    expect(witness.map((m) => m.subject)).toEqual([`Push refused 3 times: ${TOAST} on ${bead.id}`]);

    // The remote lets it through: the hand-in completes and the record of refusals is gone.
    rmSync(hook);
    const ok = gt(['done', '--json'], { cwd: sandbox, env });
    expect(ok.status, ok.stderr).toBe(0);
    const [after] = await s.show([bead.id]);
    expect(after?.metadata.gt_push_failures ?? null).toBeNull();
    expect(after?.metadata.gt_push_refused ?? null).toBeNull();
    expect(
      json<{ address: string; hook: unknown }[]>(f.run('agents', '--json')).find((a) => a.address === TOAST)?.hook,
    ).toBeNull();
  });
});
