import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmp.js';
import { patrolFormula, PATROL_ROLES, type PatrolRole } from './formulas.js';

const VARS: Record<PatrolRole, { address: string; rig?: string }> = {
  witness: { address: 'rig1/witness', rig: 'rig1' },
  deacon: { address: 'deacon' },
  boot: { address: 'deacon/boot' },
};

/** Words that would ask for a polling loop, unless the line forbids it. */
const POLLING =
  /\b(poll\w*|sleep\w*|(?<!crash[ -])loop\w*|timers?|cron|periodic\w*|every \d+|schedul\w*|check back|interval)\b/i;
const NEGATION = /\b(never|no|not|nothing)\b/i;

describe('patrolFormula', () => {
  it.each(PATROL_ROLES)('%s: renders for its address, under 60 lines', (role) => {
    const text = patrolFormula(role, VARS[role]);
    expect(text).toContain(VARS[role].address);
    expect(text.trimEnd().split('\n').length).toBeLessThanOrEqual(60);
    expect(text).not.toMatch(/\$\{|undefined|\[object/);
  });

  it.each(PATROL_ROLES)('%s: names the commands it acts through', (role) => {
    const text = patrolFormula(role, VARS[role]);
    for (const command of [
      'gt patrol scan --json',
      'gt peek',
      'gt session status',
      'gt nudge',
      'gt session restart',
      'gt session start',
      'gt patrol report <id> --action',
      'gt handoff',
    ])
      expect(text, command).toContain(command);
    if (role !== 'boot')
      for (const command of [
        'bd show <bead>',
        'gt unsling',
        'gt sling',
        'gt escalate',
        '-s <critical|high|medium|low>',
      ])
        expect(text, command).toContain(command);
  });

  it.each(PATROL_ROLES)('%s: says it is woken by events and contains no polling instruction', (role) => {
    const text = patrolFormula(role, VARS[role]);
    expect(text).toMatch(/never poll/i);
    expect(text).toMatch(/never set timers/i);
    for (const line of text.split('\n')) if (POLLING.test(line)) expect(line, line).toMatch(NEGATION);
  });

  it('the check for polling instructions would catch one', () => {
    const bad = 'Every 5 minutes, run gt patrol scan again.';
    expect(POLLING.test(bad) && !NEGATION.test(bad)).toBe(true);
    expect(POLLING.test('Sleep 60 seconds, then loop.') && !NEGATION.test('Sleep 60 seconds, then loop.')).toBe(true);
  });

  it("states each role's rules", () => {
    const witness = patrolFormula('witness', VARS.witness);
    expect(witness).toContain('rig rig1');
    expect(witness).toMatch(/Restart first/);
    expect(witness).toMatch(/never merge, never delete branches, never remove sandboxes/);
    expect(witness).toMatch(/idle agent with no hooked work is healthy: never nudge, restart or stop it/);
    expect(witness).toMatch(/usage limit is waited out until its reset time/);
    expect(witness).toMatch(/cannot answer safely[^]*escalate it/);
    expect(witness).toMatch(/over about 70% full/);
    expect(witness).toMatch(/picks up the open problems from `gt patrol scan`, not from memory/);

    const deacon = patrolFormula('deacon', VARS.deacon);
    expect(deacon).toMatch(/what crosses rigs, what the witnesses escalated/);
    expect(deacon).toMatch(/Mass death[^]*restarts are paused[^]*Find the cause/);
    expect(deacon).toContain('--action resume');
    expect(deacon).toMatch(/over about 70% full/);

    const boot = patrolFormula('boot', VARS.boot);
    expect(boot).toMatch(/triage the deacon only/);
    expect(boot).toMatch(/nothing[^]*nudge[^]*restart/);
    expect(boot).toMatch(/Exit/);
    expect(boot).toMatch(/Touch nothing but the deacon/);
  });

  it('takes the rig from the witness address when none is given, and refuses an address without one', () => {
    expect(patrolFormula('witness', { address: 'alpha/witness' })).toContain('rig alpha');
    expect(() => patrolFormula('witness', { address: 'witness' })).toThrow(/names its rig/);
  });

  it("renders from the formula files: a town's own patrol formula replaces the shipped one", () => {
    const t = tempDir('patrol-formula');
    try {
      mkdirSync(join(t.dir, 'formulas'));
      writeFileSync(
        join(t.dir, 'formulas', 'patrol-deacon.formula.toml'),
        'name = "patrol-deacon"\ntitle = "Our deacon ({{address}})"\n[vars.address]\nrequired = true\n[[steps]]\nid = "only"\ntitle = "Only"\ndescription = "Escalate everything."\n',
      );
      expect(patrolFormula('deacon', VARS.deacon, { town: t.dir })).toBe(
        '# Our deacon (deacon)\n\n## Only\n\nEscalate everything.\n',
      );
      expect(patrolFormula('witness', VARS.witness, { town: t.dir })).toBe(patrolFormula('witness', VARS.witness));
    } finally {
      t.cleanup();
    }
  });
});
