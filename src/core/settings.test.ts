import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/errors.js';
import {
  DEFAULT_DAEMON_THRESHOLDS,
  defaultRigSettings,
  defaultTownSettings,
  parseRigSettings,
  rigSettingsFile,
  parseTownSettings,
} from './settings.js';

describe('town settings', () => {
  it('fills every field with its default', () => {
    expect(parseTownSettings({})).toEqual(defaultTownSettings());
    expect(defaultTownSettings().daemon).toEqual(DEFAULT_DAEMON_THRESHOLDS);
  });

  it("keeps the mayor, the deacon and each rig's witness and refinery running by default; an explicit list replaces it", () => {
    expect(parseTownSettings({}).daemon.standing_roles).toEqual(['mayor', 'deacon', 'witness', 'refinery']);
    expect(parseTownSettings({ daemon: { standing_roles: [] } }).daemon.standing_roles).toEqual([]);
    expect(parseTownSettings({ daemon: { standing_roles: ['witness'] } }).daemon.standing_roles).toEqual(['witness']);
    // The default is a copy: changing one town's settings never changes the next one's.
    defaultTownSettings().daemon.standing_roles.push('deacon');
    expect(defaultTownSettings().daemon.standing_roles).toEqual(['mayor', 'deacon', 'witness', 'refinery']);
  });

  it('accepts every default threshold written out explicitly', () => {
    expect(parseTownSettings({ daemon: { ...DEFAULT_DAEMON_THRESHOLDS } }).daemon).toEqual(DEFAULT_DAEMON_THRESHOLDS);
  });

  it('reads presets, role overrides and thresholds', () => {
    const s = parseTownSettings({
      version: 1,
      default_agent: 'codex',
      agents: { mine: { command: 'my-agent', args: ['--fast'], env: { MY_MODE: 'x' } } },
      role_agents: { witness: 'claude', polecat: 'mine' },
      daemon: { heartbeat_seconds: 60, start_grace_seconds: 5 },
    });
    expect(s.default_agent).toBe('codex');
    expect(s.agents.mine).toEqual({ command: 'my-agent', args: ['--fast'], env: { MY_MODE: 'x' } });
    expect(s.role_agents).toEqual({ witness: 'claude', polecat: 'mine' });
    expect(s.daemon).toEqual({ ...DEFAULT_DAEMON_THRESHOLDS, heartbeat_seconds: 60, start_grace_seconds: 5 });
  });

  it.each([
    [[], /the file must be an object/],
    [{ colour: 'red' }, /colour is not a known setting/],
    [{ version: 2 }, /version must be 1/],
    [{ default_agent: 'Bad Name' }, /default_agent has an invalid value/],
    [{ agents: { x: { command: '' } } }, /agents\.x\.command must be a non-empty string/],
    [{ agents: { x: { command: 'a', args: [1] } } }, /agents\.x\.args\[0\] must be a string/],
    [
      { agents: { x: { command: 'a', env: { 'BAD-NAME': 'v' } } } },
      /agents\.x\.env\.BAD-NAME is not a valid variable name/,
    ],
    [{ agents: { x: { command: 'a', shell: 'sh' } } }, /agents\.x\.shell is not a known setting/],
    [{ role_agents: { janitor: 'claude' } }, /role_agents\.janitor is not a role/],
    [{ daemon: { heartbeat_seconds: 'often' } }, /daemon\.heartbeat_seconds must be a positive whole number/],
    [{ daemon: { heartbeat_seconds: 0 } }, /daemon\.heartbeat_seconds must be a positive whole number/],
    [{ daemon: { start_grace_seconds: -1 } }, /daemon\.start_grace_seconds must be a positive whole number/],
    [{ daemon: { restart_backoff_initial_seconds: 900 } }, /must not exceed daemon\.restart_backoff_max_seconds/],
  ])('rejects %j naming the field', (json, message) => {
    expect(() => parseTownSettings(json, 'settings.json')).toThrow(ValidationError);
    expect(() => parseTownSettings(json, 'settings.json')).toThrow(message);
  });
});

describe('scheduler.max_polecats (town and rig)', () => {
  it('is no limit when absent or null, and a whole number of polecats otherwise', () => {
    expect(defaultTownSettings().scheduler).toEqual({ max_polecats: null });
    expect(parseTownSettings({ scheduler: {} }).scheduler).toEqual({ max_polecats: null });
    expect(parseTownSettings({ scheduler: { max_polecats: null } }).scheduler).toEqual({ max_polecats: null });
    expect(parseTownSettings({ scheduler: { max_polecats: 8 } }).scheduler).toEqual({ max_polecats: 8 });
    expect(parseRigSettings({}).scheduler).toEqual({ max_polecats: null });
    expect(parseRigSettings({ scheduler: { max_polecats: 3 } }).scheduler).toEqual({ max_polecats: 3 });
    // A town's settings written out whole read back the same.
    const town = parseTownSettings({ scheduler: { max_polecats: 2 } });
    expect(parseTownSettings(JSON.parse(JSON.stringify(town)))).toEqual(town);
    // A rig's file carries the cap only when there is one.
    expect(rigSettingsFile(defaultRigSettings())).not.toHaveProperty('scheduler');
    const capped = parseRigSettings({ scheduler: { max_polecats: 4 } });
    expect(parseRigSettings(JSON.parse(JSON.stringify(rigSettingsFile(capped))))).toEqual(capped);
  });

  it.each([
    [{ scheduler: { max_polecats: 0 } }],
    [{ scheduler: { max_polecats: -2 } }],
    [{ scheduler: { max_polecats: 2.5 } }],
    [{ scheduler: { max_polecats: '8' } }],
  ])('rejects %j in one line naming the field', (json) => {
    for (const parse of [parseTownSettings, parseRigSettings]) {
      const err: unknown = (() => {
        try {
          parse(json, 'settings.json');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ValidationError);
      const message = err instanceof Error ? err.message : '';
      expect(message).toBe(
        'settings.json: scheduler.max_polecats must be a whole number of polecats, 1 or more (null or absent: no limit)',
      );
    }
  });

  it('rejects unknown scheduler fields and a scheduler that is not an object', () => {
    expect(() => parseTownSettings({ scheduler: { max: 3 } })).toThrow(/scheduler\.max is not a known setting/);
    expect(() => parseRigSettings({ scheduler: 3 })).toThrow(/scheduler must be an object/);
  });
});

describe('costs and budgets', () => {
  it('has no prices of its own and no budgets by default, and reads both back whole', () => {
    expect(defaultTownSettings().costs).toEqual({ prices: {} });
    expect(defaultTownSettings().budgets).toEqual({ daily_tokens: null, daily_usd: null, roles: {} });
    const s = parseTownSettings({
      costs: { prices: { 'gpt-5-codex': { input: 1.25, output: 10, cache_read: 0.125, cache_write: 0 } } },
      budgets: {
        daily_tokens: 50_000_000,
        roles: { polecat: { daily_usd: 40 }, mayor: { daily_tokens: 2_000_000, daily_usd: null } },
      },
    });
    expect(s.costs.prices['gpt-5-codex']).toEqual({ input: 1.25, output: 10, cache_read: 0.125, cache_write: 0 });
    expect(s.budgets).toEqual({
      daily_tokens: 50_000_000,
      daily_usd: null,
      roles: { polecat: { daily_tokens: null, daily_usd: 40 }, mayor: { daily_tokens: 2_000_000, daily_usd: null } },
    });
    expect(parseTownSettings(JSON.parse(JSON.stringify(s)))).toEqual(s);
  });

  it.each([
    [{ costs: { rates: {} } }, 'costs.rates is not a known setting'],
    [{ costs: { prices: { 'bad model': {} } } }, 'costs.prices.bad model is not a model name'],
    [
      { costs: { prices: { sim: { input: 1, output: 1, cache_read: 0 } } } },
      'costs.prices.sim.cache_write must be a price in US dollars per million tokens, 0 or more',
    ],
    [
      { costs: { prices: { sim: { input: -1, output: 1, cache_read: 0, cache_write: 0 } } } },
      'costs.prices.sim.input must be a price',
    ],
    [{ budgets: { daily_tokens: 0 } }, 'budgets.daily_tokens must be a whole number of tokens, 1 or more'],
    [{ budgets: { daily_tokens: 1.5 } }, 'budgets.daily_tokens must be a whole number'],
    [{ budgets: { daily_usd: '10' } }, 'budgets.daily_usd must be an amount of US dollars above 0'],
    [{ budgets: { weekly_usd: 10 } }, 'budgets.weekly_usd is not a known setting'],
    [{ budgets: { roles: { janitor: {} } } }, 'budgets.roles.janitor is not a role'],
    [{ budgets: { roles: { polecat: { daily_usd: 0 } } } }, 'budgets.roles.polecat.daily_usd must be an amount'],
    [{ budgets: { roles: { polecat: { roles: {} } } } }, 'budgets.roles.polecat.roles is not a known setting'],
  ])('rejects %j naming the field', (json, message) => {
    expect(() => parseTownSettings(json, 'settings.json')).toThrow(ValidationError);
    expect(() => parseTownSettings(json, 'settings.json')).toThrow(`settings.json: ${message}`);
  });
});

describe('escalation settings', () => {
  it('routes low to the bead only, the rest to the mayor too, critical and high to the overseer too; raises after 4h, at most twice', () => {
    expect(parseTownSettings({}).escalation).toEqual({
      routes: {
        critical: ['bead', 'mail:mayor', 'mail:overseer'],
        high: ['bead', 'mail:mayor', 'mail:overseer'],
        medium: ['bead', 'mail:mayor'],
        low: ['bead'],
      },
      stale_after: 14_400,
      max_raises: 2,
    });
    // The default is a copy.
    defaultTownSettings().escalation.routes.low.push('mail:mayor');
    expect(defaultTownSettings().escalation.routes.low).toEqual(['bead']);
  });

  it.each([
    [{ stale_after: '30m' }, { stale_after: 1800 }],
    [{ stale_after: '90s' }, { stale_after: 90 }],
    [{ stale_after: '1h30m' }, { stale_after: 5400 }],
    [{ stale_after: 60 }, { stale_after: 60 }],
    [{ max_raises: 0 }, { max_raises: 0 }],
    [{ max_raises: 5 }, { max_raises: 5 }],
  ])('reads %j', (escalation, expected) => {
    expect(parseTownSettings({ escalation }).escalation).toMatchObject(expected);
  });

  it('takes the overseer and groups as mail routes', () => {
    const routes = { low: ['bead', 'mail:overseer', 'mail:@witnesses'] };
    expect(parseTownSettings({ escalation: { routes } }).escalation.routes.low).toEqual(routes.low);
  });

  it('reads routes given for some severities and keeps the defaults of the others', () => {
    const s = parseTownSettings({
      escalation: {
        routes: {
          critical: ['bead', 'mail:gastown/witness', { command: ['notify-send', 'Gas Town'] }],
          low: [],
        },
      },
    });
    expect(s.escalation.routes).toEqual({
      critical: ['bead', 'mail:gastown/witness', { command: ['notify-send', 'Gas Town'] }],
      high: ['bead', 'mail:mayor', 'mail:overseer'],
      medium: ['bead', 'mail:mayor'],
      low: [],
    });
    // Written out whole, it reads back the same.
    expect(parseTownSettings(JSON.parse(JSON.stringify(s)))).toEqual(s);
  });

  it.each([
    [{ escalation: [] }, /escalation must be an object/],
    [{ escalation: { stale: '4h' } }, /escalation\.stale is not a known setting/],
    [{ escalation: { routes: { urgent: ['bead'] } } }, /escalation\.routes\.urgent is not a known setting/],
    [{ escalation: { routes: { high: 'bead' } } }, /escalation\.routes\.high must be a list of routes/],
    [
      { escalation: { routes: { high: ['sms'] } } },
      /escalation\.routes\.high\[0\] must be "bead", "mail:<address>" or/,
    ],
    [{ escalation: { routes: { high: [7] } } }, /escalation\.routes\.high\[0\] must be "bead"/],
    [
      { escalation: { routes: { low: ['bead', 'mail:nobody here'] } } },
      /escalation\.routes\.low\[1\] does not name an address to mail \(invalid agent address/,
    ],
    [{ escalation: { routes: { low: ['mail:'] } } }, /escalation\.routes\.low\[0\] does not name an address/],
    [
      { escalation: { routes: { low: ['mail:@everyone'] } } },
      /escalation\.routes\.low\[0\] does not name an address to mail \(unknown mail group "@everyone"/,
    ],
    [
      { escalation: { routes: { low: [{ command: 'notify-send hi' }] } } },
      /escalation\.routes\.low\[0\]\.command must be an array of strings/,
    ],
    [
      { escalation: { routes: { low: [{ command: [] }] } } },
      /escalation\.routes\.low\[0\]\.command must name a program/,
    ],
    [
      { escalation: { routes: { low: [{ command: [''] }] } } },
      /escalation\.routes\.low\[0\]\.command must name a program/,
    ],
    [
      { escalation: { routes: { low: [{ command: ['x'], shell: true }] } } },
      /escalation\.routes\.low\[0\]\.shell is not a known setting/,
    ],
    [{ escalation: { stale_after: '4 hours' } }, /escalation\.stale_after must be a duration such as "4h"/],
    [{ escalation: { stale_after: 0 } }, /escalation\.stale_after must be a duration/],
    [{ escalation: { stale_after: 1.5 } }, /escalation\.stale_after must be a duration/],
    [{ escalation: { stale_after: true } }, /escalation\.stale_after must be a duration/],
    [{ escalation: { max_raises: -1 } }, /escalation\.max_raises must be a whole number of raises/],
    [{ escalation: { max_raises: '2' } }, /escalation\.max_raises must be a whole number of raises/],
  ])('rejects %j naming the field', (json, message) => {
    expect(() => parseTownSettings(json, 'settings.json')).toThrow(ValidationError);
    expect(() => parseTownSettings(json, 'settings.json')).toThrow(message);
  });
});

describe('rig settings', () => {
  it('defaults to the default name theme and reads a custom list', () => {
    expect(parseRigSettings({})).toEqual(defaultRigSettings());
    expect(parseRigSettings({ polecat_names: ['toast', 'nux'] }).polecat_names).toEqual(['toast', 'nux']);
  });

  it.each([
    [{ polecat_names: 'toast' }, /polecat_names must be an array of strings/],
    [{ polecat_names: ['toast', '../x'] }, /polecat_names\[1\] is not a usable name/],
    [{ polecat_names: ['witness'] }, /polecat_names\[0\] is not a usable name/],
    [{ polecat_names: ['a', 'a'] }, /lists a name twice/],
    [{ names: [] }, /names is not a known setting/],
    [{ refinery: { gates: { test: 'npm test' } } }, /refinery.gates.test must be an array of strings/],
    [{ refinery: { gates: { test: [] } } }, /refinery.gates.test must name a program/],
    [{ refinery: { gates: { 'a b': ['x'] } } }, /refinery.gates.a b is not a usable gate name/],
    [{ refinery: { batch_min: 4, batch_max: 2 } }, /batch_min must not exceed/],
    [{ refinery: { parallel: 0 } }, /refinery.parallel must be a positive whole number/],
    [{ refinery: { age_boost_per_hour: -1 } }, /age_boost_per_hour must be a number/],
    [{ refinery: { gate: {} } }, /refinery.gate is not a known setting/],
  ])('rejects %j naming the field', (json, message) => {
    expect(() => parseRigSettings(json, 'settings.json')).toThrow(message);
  });

  it("reads the refinery's gates in order, and its numbers", () => {
    const s = parseRigSettings({
      refinery: { gates: { build: ['npm', 'run', 'build'], test: ['sh', 'test.sh'] }, batch_max: 2, parallel: 1 },
    });
    expect(s.refinery.gates).toEqual([
      { name: 'build', argv: ['npm', 'run', 'build'] },
      { name: 'test', argv: ['sh', 'test.sh'] },
    ]);
    // A batch_max below the default floor of 4 brings the floor down with it.
    expect(s.refinery).toMatchObject({ batch_min: 2, batch_max: 2, parallel: 1, max_attempts: 3 });
    expect(defaultRigSettings().refinery.gates).toEqual([]);
    // What is written to the file reads back the same.
    expect(parseRigSettings(JSON.parse(JSON.stringify(rigSettingsFile(s))))).toEqual(s);
  });
});

describe('patrol settings', () => {
  it('defaults, overrides and names a bad field', () => {
    expect(defaultTownSettings().patrol).toMatchObject({ enabled: true, respond_seconds: 300, mass_death_count: 3 });
    const s = parseTownSettings({ patrol: { enabled: false, recheck_seconds: 5 } });
    expect(s.patrol).toMatchObject({ enabled: false, recheck_seconds: 5, respond_seconds: 300 });
    expect(() => parseTownSettings({ patrol: { enabled: 'yes' } })).toThrow(/patrol\.enabled must be true or false/);
    expect(() => parseTownSettings({ patrol: { respond_seconds: 0 } })).toThrow(
      /patrol\.respond_seconds must be a positive/,
    );
    expect(() => parseTownSettings({ patrol: { nope: 1 } })).toThrow(/patrol\.nope is not a known setting/);
  });
});
