import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/errors.js';
import { defaultTownSettings, parseTownSettings } from '../core/settings.js';
import { buildLaunch, resolveAgent } from './launch.js';
import { PRESETS } from './presets.js';

const BEACON = `[GAS TOWN] gastown/polecats/toast <- mayor · 2026-11-23T12:00Z · gt-abc "fix 'login'" · run: gt prime`;
const base = {
  identity: { role: 'polecat', rig: 'gastown', name: 'toast' } as const,
  sessionName: 'ga-toast',
  townRoot: '/town',
  sandboxPath: '/town/gastown/polecats/toast',
  beacon: BEACON,
};

describe('presets', () => {
  it('cover every CLI the issue names, each complete', () => {
    expect(Object.keys(PRESETS).sort()).toEqual([
      'amp',
      'claude',
      'codex',
      'copilot',
      'cursor',
      'gemini',
      'opencode',
      'pi',
      'refinery',
      'sim',
    ]);
    for (const p of Object.values(PRESETS)) {
      expect(p.command).not.toBe('');
      expect(p.processNames.length).toBeGreaterThan(0);
      for (const a of p.args) expect(a).not.toMatch(/\s/);
    }
  });
});

describe('resolveAgent', () => {
  it('uses the role override, else the town default, else an explicit choice', () => {
    const settings = parseTownSettings({ default_agent: 'codex', role_agents: { witness: 'claude' } });
    expect(resolveAgent(settings, 'polecat').name).toBe('codex');
    expect(resolveAgent(settings, 'witness').name).toBe('claude');
    expect(resolveAgent(settings, 'witness', 'sim').name).toBe('sim');
    expect(() => resolveAgent(settings, 'polecat', 'nonsense')).toThrow(ValidationError);
  });

  it('lets a custom agent extend a preset with its own command, args and environment', () => {
    const settings = parseTownSettings({
      agents: {
        fast: { preset: 'claude', command: '/opt/claude-wrapper', args: ['--model', 'haiku'], env: { MODE: 'fast' } },
      },
    });
    const fast = resolveAgent(settings, 'polecat', 'fast');
    expect(fast.preset).toMatchObject({
      name: 'fast',
      command: '/opt/claude-wrapper',
      // The preset's autonomy flag stays: without it Claude Code stops at every tool's permission question.
      args: ['--dangerously-skip-permissions', '--model', 'haiku'],
      hooks: 'claude',
      prompt: { kind: 'positional' },
    });
    expect(fast.preset.env).toEqual({ MODE: 'fast' });
  });

  it("replaces the preset's arguments only when told to, and does not repeat the ones given again", () => {
    const settings = parseTownSettings({
      agents: {
        asks: { preset: 'claude', command: 'claude', args: ['--model', 'haiku'], replace_args: true },
        again: { preset: 'claude', command: 'claude', args: ['--dangerously-skip-permissions', '--model', 'haiku'] },
      },
    });
    expect(resolveAgent(settings, 'polecat', 'asks').preset.args).toEqual(['--model', 'haiku']);
    expect(resolveAgent(settings, 'polecat', 'again').preset.args).toEqual([
      '--dangerously-skip-permissions',
      '--model',
      'haiku',
    ]);
    expect(() => parseTownSettings({ agents: { x: { command: 'c', replace_args: 'yes' } } })).toThrow(
      'agents.x.replace_args must be true or false',
    );
  });
});

describe('buildLaunch', () => {
  it('claude: autonomy flag, settings file, the beacon as one argument, identity in the environment', () => {
    const spec = buildLaunch({
      ...base,
      agent: resolveAgent(defaultTownSettings(), 'polecat'),
      settingsFile: '/town/.runtime/claude/ga-toast.json',
      passthrough: { ANTHROPIC_AUTH_TOKEN: 'secret' },
    });
    expect(spec.argv).toEqual([
      'claude',
      '--dangerously-skip-permissions',
      '--settings',
      '/town/.runtime/claude/ga-toast.json',
      BEACON,
    ]);
    expect(spec.cwd).toBe('/town/gastown/polecats/toast');
    expect(spec.typedPrompt).toBeUndefined();
    expect(spec.env).toMatchObject({
      GT_ROLE: 'gastown/polecats/toast',
      BD_ACTOR: 'gastown/polecats/toast',
      GT_RIG: 'gastown',
      GT_POLECAT: 'toast',
      GT_SESSION: 'ga-toast',
      GT_AGENT: 'claude',
      GIT_CEILING_DIRECTORIES: '/town',
      NODE_OPTIONS: '',
      CLAUDECODE: '',
      ANTHROPIC_AUTH_TOKEN: 'secret',
    });
  });

  it('codex takes its first prompt typed; gemini after -i; identity variables win over passthrough', () => {
    const codex = buildLaunch({ ...base, agent: resolveAgent(defaultTownSettings(), 'polecat', 'codex') });
    expect(codex.argv).toEqual(['codex', '--dangerously-bypass-approvals-and-sandbox']);
    expect(codex.typedPrompt).toBe(BEACON);
    const gemini = buildLaunch({
      ...base,
      agent: resolveAgent(defaultTownSettings(), 'polecat', 'gemini'),
      passthrough: { GT_ROLE: 'spoofed' },
    });
    expect(gemini.argv.slice(-2)).toEqual(['-i', BEACON]);
    expect(gemini.env.GT_ROLE).toBe('gastown/polecats/toast');
  });

  it('runs the sim preset through this gt', () => {
    const sim = buildLaunch({
      ...base,
      agent: resolveAgent(defaultTownSettings(), 'polecat', 'sim'),
      gtCommand: ['/usr/bin/node', '/pkg/dist/gt.cjs'],
    });
    expect(sim.argv).toEqual(['/usr/bin/node', '/pkg/dist/gt.cjs', 'agent', 'sim', BEACON]);
  });

  it('gives town agents no rig variables', () => {
    const mayor = buildLaunch({
      ...base,
      identity: { role: 'mayor' },
      sessionName: 'hq-mayor',
      sandboxPath: '/town/mayor',
      agent: resolveAgent(defaultTownSettings(), 'mayor'),
    });
    expect(mayor.env.GT_ROLE).toBe('mayor');
    expect(mayor.env.GT_RIG).toBeUndefined();
    expect(mayor.env.GT_POLECAT).toBeUndefined();
  });

  it('resumes a previous session where the CLI can: a flag for claude, a subcommand for codex, refused for others', () => {
    const claude = buildLaunch({
      ...base,
      agent: resolveAgent(defaultTownSettings(), 'polecat'),
      resume: '0b7c3a52-1f0e-4a8e-9d6c-2c0f3e1a9b11',
    });
    expect(claude.argv.slice(0, 4)).toEqual([
      'claude',
      '--dangerously-skip-permissions',
      '--resume',
      '0b7c3a52-1f0e-4a8e-9d6c-2c0f3e1a9b11',
    ]);
    const codex = buildLaunch({
      ...base,
      agent: resolveAgent(defaultTownSettings(), 'polecat', 'codex'),
      resume: 'abc',
    });
    expect(codex.argv.slice(0, 4)).toEqual(['codex', 'resume', 'abc', '--dangerously-bypass-approvals-and-sandbox']);
    expect(() =>
      buildLaunch({ ...base, agent: resolveAgent(defaultTownSettings(), 'polecat', 'amp'), resume: 'abc' }),
    ).toThrow(/cannot resume/);
    expect(() =>
      buildLaunch({ ...base, agent: resolveAgent(defaultTownSettings(), 'polecat'), resume: '--evil' }),
    ).toThrow(/invalid session id/);
  });
});
