import { noBudgets, type Budget, type Budgets, type ModelPrice } from './costs.js';
import { DEFAULT_ESCALATION_ROUTES, SEVERITIES, type EscalationRoute, type Severity } from './escalation.js';
import { errorMessage, ValidationError, isRecord } from './errors.js';
import { isRole, parseRecipient, validateName, type Role } from './identity.js';
import { durationSeconds } from './time.js';

/**
 * Town settings (`<town>/settings.json`): which agent CLI runs each role, and the daemon's thresholds.
 * Validated field by field with errors that name the field, and completed with defaults, so a hand-edited
 * file either loads whole or says exactly what is wrong. (A schema library costs ~70 ms of start-up per `gt`
 * call; this file is read on most of them.)
 */

export const SETTINGS_VERSION = 1;

export type AgentPreset = {
  /** The built-in preset this agent extends (prompt delivery, hooks, readiness); default: its own name. */
  preset?: string;
  /** The executable, looked up on PATH. */
  command: string;
  /** Appended to the preset's arguments (its autonomy flags), or instead of them with `replace_args`. */
  args: string[];
  /** The preset's own arguments are dropped: `args` is the whole argument list. */
  replace_args?: boolean;
  env: Record<string, string>;
};

export type DaemonThresholds = {
  /** How often the daemon ticks when no event wakes it. */
  heartbeat_seconds: number;
  restart_backoff_initial_seconds: number;
  restart_backoff_max_seconds: number;
  /** Restarts within the window after which an agent is quarantined and escalated instead of restarted. */
  quarantine_after_restarts: number;
  quarantine_window_seconds: number;
  /** Hooked work with no progress for this long is reported to the witness. */
  stalled_after_seconds: number;
  /** Idle polecat sessions are ended after this long (sandboxes stay); 0 never. */
  idle_polecat_seconds: number;
  /** Roles the daemon keeps running (deacon, witness, refinery): by default each rig's refinery. */
  standing_roles: Role[];
  /** A hooked agent or a session record this young with no tmux session yet is a start in flight, not a death. */
  start_grace_seconds: number;
};

/** How many polecats may be busy at once (`scheduler` in the town's and each rig's settings.json). */
export type SchedulerSettings = {
  /** Busy polecats (work on their hook) at most; null: no limit. A sling beyond it is queued. */
  max_polecats: number | null;
};

/** Where escalations go, and when one nobody acknowledged is raised (`escalation` in the town's settings.json). */
export type EscalationSettings = {
  /** Per severity, in order: "bead", "mail:<address>", {"command": [argv...]} (given the escalation on stdin). */
  routes: Record<Severity, EscalationRoute[]>;
  /** An unacknowledged escalation is raised a level after this many seconds ("4h", "30m", "90s" in the file). */
  stale_after: number;
  /** Raised at most this many times (0: never). */
  max_raises: number;
};

export const DEFAULT_STALE_AFTER_SECONDS = 4 * 3600;

export function defaultEscalationSettings(): EscalationSettings {
  return {
    routes: {
      critical: [...DEFAULT_ESCALATION_ROUTES.critical],
      high: [...DEFAULT_ESCALATION_ROUTES.high],
      medium: [...DEFAULT_ESCALATION_ROUTES.medium],
      low: [...DEFAULT_ESCALATION_ROUTES.low],
    },
    stale_after: DEFAULT_STALE_AFTER_SECONDS,
    max_raises: 2,
  };
}
/**
 * The patrol (`patrol` in the town's settings.json): when problems wake the patrol agents, and the thresholds of
 * the facts the daemon records for them.
 */
export type PatrolSettings = {
  /** Problems are recorded and the patrol agents woken for them; false: the daemon records none and wakes nobody. */
  enabled: boolean;
  /** A patrol agent woken for a problem that has not reported on it in this long does not respond. */
  respond_seconds: number;
  /** A problem still there this long after its owner decided wakes the owner again. */
  recheck_seconds: number;
  /** Kinds the daemon repairs itself wake the owner only if they outlast this. */
  mechanical_grace_seconds: number;
  /** Boot has this long to bring a dead deacon back before the daemon restarts it itself. */
  boot_timeout_seconds: number;
  /** Deaths of this many agents within the window are a mass death: restarts pause. */
  mass_death_count: number;
  mass_death_window_seconds: number;
  mass_death_pause_seconds: number;
  /** A refinery that runs while its queue has not moved in this long is stuck. */
  refinery_stuck_seconds: number;
  /** A problem that comes back within this long after it went away counts against the decision. */
  recur_window_seconds: number;
};

export const DEFAULT_PATROL_SETTINGS: PatrolSettings = {
  enabled: true,
  respond_seconds: 300,
  recheck_seconds: 600,
  mechanical_grace_seconds: 120,
  boot_timeout_seconds: 180,
  mass_death_count: 3,
  mass_death_window_seconds: 30,
  mass_death_pause_seconds: 60,
  refinery_stuck_seconds: 3600,
  recur_window_seconds: 3600,
};

/**
 * What usage costs (`costs` in the town's settings.json). `prices` are the town's own, by model name (USD per
 * million tokens of each count); they override or add to the ones gt ships (core/costs.ts DEFAULT_PRICES).
 */
export type CostSettings = { prices: Record<string, ModelPrice> };

export type TownSettings = {
  version: number;
  /** Runtime preset used by roles without an override. */
  default_agent: string;
  /** Custom presets, by name, in addition to the built-in ones. */
  agents: Record<string, AgentPreset>;
  /** Per-role preset overrides. */
  role_agents: Partial<Record<Role, string>>;
  daemon: DaemonThresholds;
  /** The town-wide cap on busy polecats, over all rigs together. */
  scheduler: SchedulerSettings;
  escalation: EscalationSettings;
  patrol: PatrolSettings;
  costs: CostSettings;
  /** Daily limits for the town and per role: reached, no new work is dispatched and a person is told. */
  budgets: Budgets;
};

export const DEFAULT_DAEMON_THRESHOLDS: DaemonThresholds = {
  heartbeat_seconds: 30,
  restart_backoff_initial_seconds: 10,
  restart_backoff_max_seconds: 600,
  quarantine_after_restarts: 5,
  quarantine_window_seconds: 900,
  stalled_after_seconds: 1800,
  idle_polecat_seconds: 3600,
  standing_roles: ['mayor', 'deacon', 'witness', 'refinery'],
  start_grace_seconds: 15,
};

export function defaultTownSettings(): TownSettings {
  return {
    version: SETTINGS_VERSION,
    default_agent: 'claude',
    agents: {},
    role_agents: {},
    daemon: { ...DEFAULT_DAEMON_THRESHOLDS, standing_roles: [...DEFAULT_DAEMON_THRESHOLDS.standing_roles] },
    scheduler: { max_polecats: null },
    escalation: defaultEscalationSettings(),
    patrol: { ...DEFAULT_PATROL_SETTINGS },
    costs: { prices: {} },
    budgets: noBudgets(),
  };
}

const PRESET_NAME = /^[a-z][a-z0-9_-]{0,39}$/;
/** A model's name as agent CLIs record it ("claude-sonnet-4-5-20250929", "gpt-5-codex", "sim"). */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class Reader {
  constructor(private readonly file: string) {}

  fail(path: string, message: string): never {
    throw new ValidationError(`${this.file}: ${path} ${message}`, {
      hint: 'fix the file, or delete the field to use its default',
    });
  }

  object(value: unknown, path: string): Record<string, unknown> {
    return isRecord(value) ? value : this.fail(path, 'must be an object');
  }

  string(value: unknown, path: string, pattern?: RegExp): string {
    if (typeof value !== 'string' || value === '') return this.fail(path, 'must be a non-empty string');
    if (pattern !== undefined && !pattern.test(value))
      return this.fail(path, `has an invalid value ${JSON.stringify(value)}`);
    return value;
  }

  positiveInteger(value: unknown, path: string): number {
    return typeof value === 'number' && Number.isInteger(value) && value > 0
      ? value
      : this.fail(path, 'must be a positive whole number');
  }

  stringArray(value: unknown, path: string): string[] {
    if (!Array.isArray(value)) return this.fail(path, 'must be an array of strings');
    return value.map((v, i) => (typeof v === 'string' ? v : this.fail(`${path}[${i}]`, 'must be a string')));
  }

  /** `scheduler` (town or rig): max_polecats a whole number from 1, or null/absent for no limit. */
  scheduler(value: unknown): SchedulerSettings {
    const obj = this.object(value, 'scheduler');
    this.unknownKeys(obj, ['max_polecats'], 'scheduler');
    const max = obj.max_polecats;
    if (max === undefined || max === null) return { max_polecats: null };
    return typeof max === 'number' && Number.isInteger(max) && max > 0
      ? { max_polecats: max }
      : this.fail('scheduler.max_polecats', 'must be a whole number of polecats, 1 or more (null or absent: no limit)');
  }

  /** `escalation`: routes per severity, stale_after (a duration or seconds), max_raises. */
  escalation(value: unknown): EscalationSettings {
    const obj = this.object(value, 'escalation');
    this.unknownKeys(obj, ['routes', 'stale_after', 'max_raises'], 'escalation');
    const out = defaultEscalationSettings();
    if (obj.routes !== undefined) {
      const routes = this.object(obj.routes, 'escalation.routes');
      this.unknownKeys(routes, SEVERITIES, 'escalation.routes');
      for (const severity of SEVERITIES) {
        const list = routes[severity];
        if (list === undefined) continue;
        const path = `escalation.routes.${severity}`;
        if (!Array.isArray(list))
          this.fail(path, 'must be a list of routes ("bead", "mail:<address>", {"command": [...]})');
        out.routes[severity] = list.map((item, i) => this.route(item, `${path}[${i}]`));
      }
    }
    if (obj.stale_after !== undefined) {
      const v = obj.stale_after;
      const seconds =
        typeof v === 'number'
          ? Number.isInteger(v) && v > 0
            ? v
            : undefined
          : typeof v === 'string'
            ? durationSeconds(v)
            : undefined;
      out.stale_after =
        seconds ??
        this.fail(
          'escalation.stale_after',
          'must be a duration such as "4h", "30m" or "90s", or a whole number of seconds',
        );
    }
    if (obj.max_raises !== undefined) {
      const v = obj.max_raises;
      out.max_raises =
        typeof v === 'number' && Number.isInteger(v) && v >= 0
          ? v
          : this.fail('escalation.max_raises', 'must be a whole number of raises (0: never raise)');
    }
    return out;
  }

  route(item: unknown, path: string): EscalationRoute {
    if (item === 'bead') return 'bead';
    if (typeof item === 'string' && item.startsWith('mail:')) {
      const to = item.slice('mail:'.length);
      try {
        parseRecipient(to);
      } catch (err) {
        this.fail(path, `does not name an address to mail (${errorMessage(err)})`);
      }
      return `mail:${to}`;
    }
    if (isRecord(item)) {
      this.unknownKeys(item, ['command'], path);
      const argv = this.stringArray(item.command, `${path}.command`);
      if (argv.length === 0 || argv[0] === '')
        this.fail(`${path}.command`, 'must name a program: ["notify-send", "gt"], not a shell string');
      return { command: argv };
    }
    return this.fail(path, 'must be "bead", "mail:<address>" or {"command": ["program", "arg", ...]}');
  }

  /** `costs`: prices by model name, each with all four rates (USD per million tokens, 0 or more). */
  costs(value: unknown): CostSettings {
    const obj = this.object(value, 'costs');
    this.unknownKeys(obj, ['prices'], 'costs');
    const prices: Record<string, ModelPrice> = {};
    if (obj.prices !== undefined) {
      for (const [model, raw] of Object.entries(this.object(obj.prices, 'costs.prices'))) {
        const path = `costs.prices.${model}`;
        if (!MODEL_NAME.test(model)) this.fail(path, 'is not a model name (letters, digits and "._:@/-")');
        const rates = this.object(raw, path);
        const keys = ['input', 'output', 'cache_read', 'cache_write'] as const;
        this.unknownKeys(rates, keys, path);
        const rate = (k: (typeof keys)[number]): number => {
          const v = rates[k];
          return typeof v === 'number' && Number.isFinite(v) && v >= 0
            ? v
            : this.fail(`${path}.${k}`, 'must be a price in US dollars per million tokens, 0 or more');
        };
        prices[model] = {
          input: rate('input'),
          output: rate('output'),
          cache_read: rate('cache_read'),
          cache_write: rate('cache_write'),
        };
      }
    }
    return { prices };
  }

  /** One daily budget: daily_tokens a whole number from 1, daily_usd a positive amount; null or absent: none. */
  budget(value: unknown, path: string, extra: readonly string[] = []): Budget {
    const obj = this.object(value, path);
    this.unknownKeys(obj, ['daily_tokens', 'daily_usd', ...extra], path);
    const at = (k: string): string => (path === 'budgets' ? `budgets.${k}` : `${path}.${k}`);
    const tokens = obj.daily_tokens;
    const usd = obj.daily_usd;
    return {
      daily_tokens:
        tokens === undefined || tokens === null
          ? null
          : typeof tokens === 'number' && Number.isInteger(tokens) && tokens > 0
            ? tokens
            : this.fail(at('daily_tokens'), 'must be a whole number of tokens, 1 or more (null or absent: no limit)'),
      daily_usd:
        usd === undefined || usd === null
          ? null
          : typeof usd === 'number' && Number.isFinite(usd) && usd > 0
            ? usd
            : this.fail(at('daily_usd'), 'must be an amount of US dollars above 0 (null or absent: no limit)'),
    };
  }

  /** `budgets`: the town's daily limits, and each role's under `roles`. */
  budgets(value: unknown): Budgets {
    const own = this.budget(value, 'budgets', ['roles']);
    const roles: Budgets['roles'] = {};
    const raw = this.object(value, 'budgets').roles;
    if (raw !== undefined) {
      for (const [role, budget] of Object.entries(this.object(raw, 'budgets.roles'))) {
        if (!isRole(role))
          this.fail(`budgets.roles.${role}`, 'is not a role (mayor, deacon, boot, witness, refinery, polecat, crew)');
        roles[role] = this.budget(budget, `budgets.roles.${role}`);
      }
    }
    return { ...own, roles };
  }

  unknownKeys(obj: Record<string, unknown>, known: readonly string[], path: string): void {
    const extra = Object.keys(obj).filter((k) => !known.includes(k));
    if (extra.length > 0)
      this.fail(path === '' ? extra.join(', ') : `${path}.${extra[0] ?? ''}`, 'is not a known setting');
  }
}

/** Parses settings JSON (already decoded), filling in defaults; throws a ValidationError naming the field. */
export function parseTownSettings(json: unknown, file = 'settings.json'): TownSettings {
  // An explicit type lets control flow see that r.fail() never returns.
  const r: Reader = new Reader(file);
  const root = r.object(json, 'the file');
  r.unknownKeys(
    root,
    [
      'version',
      'default_agent',
      'agents',
      'role_agents',
      'daemon',
      'scheduler',
      'patrol',
      'escalation',
      'costs',
      'budgets',
    ],
    '',
  );
  const settings = defaultTownSettings();
  if (root.costs !== undefined) settings.costs = r.costs(root.costs);
  if (root.budgets !== undefined) settings.budgets = r.budgets(root.budgets);
  if (root.patrol !== undefined) settings.patrol = parsePatrol(r, root.patrol);
  if (root.scheduler !== undefined) settings.scheduler = r.scheduler(root.scheduler);
  if (root.escalation !== undefined) settings.escalation = r.escalation(root.escalation);
  if (root.version !== undefined && root.version !== SETTINGS_VERSION)
    r.fail('version', `must be ${SETTINGS_VERSION} (this gt reads version ${SETTINGS_VERSION})`);
  if (root.default_agent !== undefined)
    settings.default_agent = r.string(root.default_agent, 'default_agent', PRESET_NAME);
  if (root.agents !== undefined) {
    for (const [name, raw] of Object.entries(r.object(root.agents, 'agents'))) {
      const path = `agents.${name}`;
      if (!PRESET_NAME.test(name)) r.fail(path, 'is not a valid preset name (a-z, 0-9, "_", "-")');
      const preset = r.object(raw, path);
      r.unknownKeys(preset, ['preset', 'command', 'args', 'replace_args', 'env'], path);
      if (preset.replace_args !== undefined && typeof preset.replace_args !== 'boolean')
        r.fail(`${path}.replace_args`, 'must be true or false');
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(preset.env === undefined ? {} : r.object(preset.env, `${path}.env`))) {
        if (!ENV_NAME.test(k)) r.fail(`${path}.env.${k}`, 'is not a valid variable name');
        env[k] = typeof v === 'string' ? v : r.fail(`${path}.env.${k}`, 'must be a string');
      }
      settings.agents[name] = {
        ...(preset.preset === undefined ? {} : { preset: r.string(preset.preset, `${path}.preset`, PRESET_NAME) }),
        command: r.string(preset.command, `${path}.command`),
        args: preset.args === undefined ? [] : r.stringArray(preset.args, `${path}.args`),
        ...(preset.replace_args === true ? { replace_args: true } : {}),
        env,
      };
    }
  }
  if (root.role_agents !== undefined) {
    for (const [role, preset] of Object.entries(r.object(root.role_agents, 'role_agents'))) {
      if (!isRole(role))
        r.fail(`role_agents.${role}`, 'is not a role (mayor, deacon, boot, witness, refinery, polecat, crew)');
      settings.role_agents[role] = r.string(preset, `role_agents.${role}`, PRESET_NAME);
    }
  }
  if (root.daemon !== undefined) {
    const daemon = r.object(root.daemon, 'daemon');
    const keys: readonly Exclude<keyof DaemonThresholds, 'standing_roles' | 'idle_polecat_seconds'>[] = [
      'heartbeat_seconds',
      'restart_backoff_initial_seconds',
      'restart_backoff_max_seconds',
      'quarantine_after_restarts',
      'quarantine_window_seconds',
      'stalled_after_seconds',
      'start_grace_seconds',
    ];
    r.unknownKeys(daemon, [...keys, 'idle_polecat_seconds', 'standing_roles'], 'daemon');
    for (const key of keys) {
      if (daemon[key] !== undefined) settings.daemon[key] = r.positiveInteger(daemon[key], `daemon.${key}`);
    }
    if (daemon.idle_polecat_seconds !== undefined) {
      const v = daemon.idle_polecat_seconds;
      settings.daemon.idle_polecat_seconds =
        typeof v === 'number' && Number.isInteger(v) && v >= 0
          ? v
          : r.fail('daemon.idle_polecat_seconds', 'must be a whole number of seconds (0: never)');
    }
    if (daemon.standing_roles !== undefined) {
      settings.daemon.standing_roles = r
        .stringArray(daemon.standing_roles, 'daemon.standing_roles')
        .map((role, i) =>
          role === 'deacon' || role === 'witness' || role === 'refinery' || role === 'boot' || role === 'mayor'
            ? role
            : r.fail(`daemon.standing_roles[${i}]`, 'must be deacon, witness, refinery, boot or mayor'),
        );
    }
    if (settings.daemon.restart_backoff_initial_seconds > settings.daemon.restart_backoff_max_seconds) {
      r.fail('daemon.restart_backoff_initial_seconds', 'must not exceed daemon.restart_backoff_max_seconds');
    }
  }
  return settings;
}

function parsePatrol(r: Reader, raw: unknown): PatrolSettings {
  const obj = r.object(raw, 'patrol');
  const numbers = [
    'respond_seconds',
    'recheck_seconds',
    'mechanical_grace_seconds',
    'boot_timeout_seconds',
    'mass_death_count',
    'mass_death_window_seconds',
    'mass_death_pause_seconds',
    'refinery_stuck_seconds',
    'recur_window_seconds',
  ] as const;
  r.unknownKeys(obj, ['enabled', ...numbers], 'patrol');
  const out: PatrolSettings = { ...DEFAULT_PATROL_SETTINGS };
  if (obj.enabled !== undefined) {
    if (typeof obj.enabled !== 'boolean') r.fail('patrol.enabled', 'must be true or false');
    out.enabled = obj.enabled;
  }
  for (const key of numbers) if (obj[key] !== undefined) out[key] = r.positiveInteger(obj[key], `patrol.${key}`);
  return out;
}

/** The rig's merge queue (`refinery` in `<rig>/settings.json`). */
export type RefinerySettings = {
  /** Gates, run in order on a batch's commit: name → argv (never a shell string). None: a clean merge lands. */
  gates: { name: string; argv: string[] }[];
  /** A gate running longer than this fails (its whole process group is killed). */
  gate_timeout_seconds: number;
  /** Requests tested together: the batch size adapts between these (grows after green, halves after red). */
  batch_min: number;
  batch_max: number;
  /** Gate runs at once (prefixes of a batch tested side by side); capped by the machine's cores. */
  parallel: number;
  /** Returns (conflict or fix needed) after which a request is escalated instead of returned again. */
  max_attempts: number;
  /** Priority levels a waiting request gains per hour, so that nothing starves. */
  age_boost_per_hour: number;
};

/** Rig settings (`<rig>/settings.json`). */
export type RigSettings = {
  version: number;
  /** The rig's own polecat names; empty means the default theme. */
  polecat_names: string[];
  refinery: RefinerySettings;
  /** The rig's own cap on busy polecats (the town's applies too). */
  scheduler: SchedulerSettings;
};

export const DEFAULT_REFINERY_SETTINGS: RefinerySettings = {
  gates: [],
  gate_timeout_seconds: 1800,
  batch_min: 4,
  batch_max: 16,
  parallel: 2,
  max_attempts: 3,
  age_boost_per_hour: 1,
};

export function defaultRigSettings(): RigSettings {
  return {
    version: SETTINGS_VERSION,
    polecat_names: [],
    refinery: { ...DEFAULT_REFINERY_SETTINGS, gates: [] },
    scheduler: { max_polecats: null },
  };
}

/** The file form of rig settings (gates as an object of name → argv, in order), for writing settings.json. */
export function rigSettingsFile(s: RigSettings): Record<string, unknown> {
  const { gates, ...numbers } = s.refinery;
  return {
    version: s.version,
    polecat_names: s.polecat_names,
    refinery: { gates: Object.fromEntries(gates.map((g) => [g.name, g.argv])), ...numbers },
    // No cap is the default: only a cap is written out.
    ...(s.scheduler.max_polecats === null ? {} : { scheduler: { max_polecats: s.scheduler.max_polecats } }),
  };
}

const GATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/;

function parseRefinery(r: Reader, raw: unknown): RefinerySettings {
  const obj = r.object(raw, 'refinery');
  const numbers = ['gate_timeout_seconds', 'batch_min', 'batch_max', 'parallel', 'max_attempts'] as const;
  r.unknownKeys(obj, ['gates', ...numbers, 'age_boost_per_hour'], 'refinery');
  const out: RefinerySettings = { ...DEFAULT_REFINERY_SETTINGS, gates: [] };
  if (obj.gates !== undefined) {
    for (const [name, argv] of Object.entries(r.object(obj.gates, 'refinery.gates'))) {
      if (!GATE_NAME.test(name)) r.fail(`refinery.gates.${name}`, 'is not a usable gate name (letters, digits, "_.-")');
      const args = r.stringArray(argv, `refinery.gates.${name}`);
      if (args.length === 0 || args[0] === '')
        r.fail(`refinery.gates.${name}`, 'must name a program: ["npm", "test"], not a shell string');
      out.gates.push({ name, argv: args });
    }
  }
  for (const key of numbers) if (obj[key] !== undefined) out[key] = r.positiveInteger(obj[key], `refinery.${key}`);
  if (obj.age_boost_per_hour !== undefined) {
    const v = obj.age_boost_per_hour;
    out.age_boost_per_hour =
      typeof v === 'number' && Number.isFinite(v) && v >= 0
        ? v
        : r.fail('refinery.age_boost_per_hour', 'must be a number of priority levels, 0 or more');
  }
  // A batch_max below the default floor lowers the floor with it, unless the floor was set too.
  if (obj.batch_min === undefined) out.batch_min = Math.min(out.batch_min, out.batch_max);
  if (out.batch_min > out.batch_max) r.fail('refinery.batch_min', 'must not exceed refinery.batch_max');
  return out;
}

export function parseRigSettings(json: unknown, file = 'settings.json'): RigSettings {
  const r: Reader = new Reader(file);
  const root = r.object(json, 'the file');
  r.unknownKeys(root, ['version', 'polecat_names', 'refinery', 'scheduler'], '');
  const settings = defaultRigSettings();
  if (root.scheduler !== undefined) settings.scheduler = r.scheduler(root.scheduler);
  if (root.refinery !== undefined) settings.refinery = parseRefinery(r, root.refinery);
  if (root.version !== undefined && root.version !== SETTINGS_VERSION) r.fail('version', `must be ${SETTINGS_VERSION}`);
  if (root.polecat_names !== undefined) {
    const names = r.stringArray(root.polecat_names, 'polecat_names');
    names.forEach((n, i) => {
      try {
        validateName('polecat', n);
      } catch (err) {
        r.fail(`polecat_names[${i}]`, `is not a usable name (${errorMessage(err)})`);
      }
    });
    if (new Set(names).size !== names.length) r.fail('polecat_names', 'lists a name twice');
    settings.polecat_names = names;
  }
  return settings;
}
