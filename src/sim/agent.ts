import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage, isRecord } from '../core/errors.js';
import { execArgv } from '../exec/exec.js';
import { commitAll, mergeTargetIntoBranch } from '../git/git.js';
import { openTownStore } from '../store/open.js';
import { findTown } from '../town/town.js';
import { returnedWork, type ReturnedWork } from './returned.js';
import { isPatrolActor } from '../core/guard.js';
import { patrolTurn } from './patrol.js';
import { mayorTurn } from './mayor.js';
import { MOLECULE_KEY } from '../core/formula.js';
import { walkMolecule, type MoleculeWalk, type WalkDeps } from './molecule.js';
import { firstShellBlock, type SimDialog, type SimStep } from './script.js';

/**
 * The scripted agent (`gt agent sim`): a stand-in for an agent CLI in a tmux pane, used by the demo and the
 * tests. It is not AI and says so. Like Claude Code it shows optional start-up dialogs, a prompt, a line
 * editor in raw mode where only Enter submits, a busy marker while it works, and lifecycle hooks (`gt prime
 * --hook` at start, `gt mail check --inject` at every turn, `gt agent hook stop` at the end of one).
 * Its work: the first ```sh block of the bead on its hook, run in its sandbox, then a commit. A bead that
 * carries a molecule it walks step by step first (src/sim/molecule.ts); the last step is that same hand-in.
 * Work the refinery sent back (a task with `mq_fix_for`) it does as the task says: on the request's own branch,
 * with the target merged in, it runs the task's own ```sh block, or else the block the request's source bead
 * has for that cause (```sh conflict, ```sh fix-needed), then commits — the merge too — and runs gt done.
 * Every step goes to a JSONL trace, so tests assert on what it did rather than on the screen. Each turn is also
 * written to a transcript in Claude Code's form (one assistant message with made-up, deterministic token
 * counts, model "sim"), named to its start-up hook as Claude names its own, so that `gt costs` and the budgets
 * see sim towns use tokens.
 */

export type SimOptions = {
  /** The first prompt (the beacon), given on the command line. */
  prompt?: string;
  dialogs: readonly SimDialog[];
  slowStartMs: number;
  /** How long each turn keeps it busy before it acts. */
  busyMs: number;
  crashAt?: SimStep;
  hangAt?: SimStep;
  /** Stop responding when the molecule on the hook reaches this step (by its id), before doing it. */
  hangAtMolStep?: string;
  /** Ask a permission question at this step (as Claude Code does without bypass permissions) and wait. */
  askAt?: SimStep;
  /** Show a usage-limit screen at this step (as Claude Code does when the plan runs out) and wait there. */
  limitAt?: SimStep;
  ignoreNudges: boolean;
  dirtyExit: boolean;
  trace?: string;
};

export type SimEnv = Readonly<Record<string, string | undefined>>;

const PROMPT = 'sim> ';
const BUSY = '· sim: working (esc to interrupt)';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Key =
  | { kind: 'char'; text: string }
  | { kind: 'enter' }
  | { kind: 'backspace' }
  | { kind: 'escape' }
  | { kind: 'up' }
  | { kind: 'down' }
  | { kind: 'interrupt' }
  | { kind: 'eof' };

/** Splits raw terminal input into keys (typed text, Enter, arrows, Escape, Ctrl-C/D). */
export function parseKeys(data: string): Key[] {
  const keys: Key[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') keys.push({ kind: 'char', text });
    text = '';
  };
  for (let i = 0; i < data.length; i++) {
    const c = data[i] ?? '';
    if (c === '\u001b') {
      flush();
      const next = data[i + 1];
      const arrow = data[i + 2];
      if ((next === '[' || next === 'O') && (arrow === 'A' || arrow === 'B')) {
        keys.push({ kind: arrow === 'A' ? 'up' : 'down' });
        i += 2;
      } else if (next === '[' || next === 'O') {
        // another sequence: skip it whole
        i += 2;
        while (i < data.length && !/[@-~]/u.test(data[i] ?? '')) i++;
      } else {
        keys.push({ kind: 'escape' });
      }
    } else if (c === '\r' || c === '\n') {
      flush();
      keys.push({ kind: 'enter' });
    } else if (c === '\u007f' || c === '\b') {
      flush();
      keys.push({ kind: 'backspace' });
    } else if (c === '\u0003') {
      flush();
      keys.push({ kind: 'interrupt' });
    } else if (c === '\u0004') {
      flush();
      keys.push({ kind: 'eof' });
    } else if (c >= ' ') {
      text += c;
    }
  }
  flush();
  return keys;
}

export class SimAgent {
  readonly #opts: SimOptions;
  readonly #env: SimEnv;
  readonly #cwd: string;
  readonly #trace: string | undefined;
  readonly #transcript: string | undefined;
  /** Lines said in the current turn: its made-up output grows with them. */
  #said = 0;
  #messages = 0;
  readonly #address: string;
  readonly #gtBin: string;
  #buffer = '';
  #busy = false;
  #mode: 'starting' | 'dialog' | 'prompt' = 'starting';
  #pendingKeys: ((k: Key) => void) | undefined;
  readonly #queue: string[] = [];
  readonly #done = new Set<string>();
  /** Beads it could not do, with the help it asked for. */
  readonly #help = new Map<string, string>();
  #typedWhileBusy = false;
  #turns = 0;
  #exiting = false;
  readonly #sessionId = `sim-${process.pid}-${Date.now().toString(36)}`;

  constructor(opts: SimOptions, env: SimEnv, cwd: string) {
    this.#opts = opts;
    this.#env = env;
    this.#cwd = cwd;
    this.#address = env.GT_ROLE ?? 'unknown';
    this.#gtBin = env.GT_BIN ?? process.argv[1] ?? 'gt';
    const root = env.GT_TOWN_ROOT;
    this.#trace =
      opts.trace ??
      (root !== undefined ? join(root, '.runtime', 'sim', `${env.GT_SESSION ?? 'sim'}.jsonl`) : undefined);
    this.#transcript =
      root !== undefined ? join(root, '.runtime', 'sim', 'transcripts', `${this.#sessionId}.jsonl`) : undefined;
  }

  // ----------------------------------------------------------------------------------------------------
  // the screen

  #write(text: string): void {
    process.stdout.write(text);
  }

  #statusLine(): string {
    if (this.#mode !== 'prompt') return '';
    return this.#busy ? BUSY : `${PROMPT}${this.#buffer}`;
  }

  #redraw(): void {
    this.#write(`\r\u001b[2K${this.#statusLine()}`);
  }

  /** A line of output above the prompt. */
  say(line: string): void {
    this.#said++;
    // eslint-disable-next-line no-control-regex -- output stays on its line
    this.#write(`\r\u001b[2K${line.replace(/[\u0000-\u001f]/gu, ' ')}\r\n`);
    this.#redraw();
  }

  // ----------------------------------------------------------------------------------------------------
  // the trace

  trace(step: string, detail: Record<string, unknown> = {}): void {
    if (this.#trace === undefined) return;
    const record = {
      ts: new Date().toISOString(),
      pid: process.pid,
      session: this.#env.GT_SESSION ?? null,
      role: this.#address,
      step,
      ...detail,
    };
    try {
      mkdirSync(dirname(this.#trace), { recursive: true });
      appendFileSync(this.#trace, `${JSON.stringify(record)}\n`);
    } catch {
      // a trace that cannot be written must not stop the agent
    }
  }

  /**
   * One model response, as Claude Code would record it: the prompt's length and the turn's output make up the
   * counts; the conversation so far is read from the cache, as Claude's is. It is timed when the turn's work
   * began (`at`): a model's response comes before the tools it calls run (gt done among them).
   */
  #recordUsage(prompt: string, at: Date): void {
    if (this.#transcript === undefined) return;
    this.#messages++;
    const record = {
      type: 'assistant',
      timestamp: at.toISOString(),
      sessionId: this.#sessionId,
      cwd: this.#cwd,
      message: {
        id: `sim_${this.#sessionId}_${this.#messages}`,
        type: 'message',
        role: 'assistant',
        model: 'sim',
        usage: {
          input_tokens: 400 + Math.ceil(prompt.length / 4),
          output_tokens: 40 + 12 * this.#said,
          cache_read_input_tokens: 2_000 * (this.#messages - 1),
          cache_creation_input_tokens: this.#messages === 1 ? 1_500 : 200,
        },
      },
    };
    this.#said = 0;
    try {
      mkdirSync(dirname(this.#transcript), { recursive: true });
      appendFileSync(this.#transcript, `${JSON.stringify(record)}\n`);
    } catch {
      // a transcript that cannot be written must not stop the agent
    }
  }

  /** The fault knobs at a step; false when it asked for permission and was refused. */
  async #fault(step: SimStep): Promise<boolean> {
    if (this.#opts.crashAt === step) {
      this.trace('crash', { at: step });
      this.say(`sim: crashing at ${step} (fault knob)`);
      this.#exit(70);
    }
    if (this.#opts.askAt === step && !(await this.#ask(step))) return false;
    if (this.#opts.limitAt === step) {
      this.trace('limit', { at: step });
      this.#busy = false;
      this.#mode = 'dialog';
      this.#write('\r\u001b[2K');
      this.#write(' Claude usage limit reached · resets in 60 minutes\r\n');
      this.#notify('usage_limit');
      for (;;) await sleep(60_000);
    }
    if (this.#opts.hangAt === step) {
      this.trace('hang', { at: step });
      this.#busy = true;
      this.#redraw();
      for (;;) await sleep(60_000);
    }
    return true;
  }

  /** The Notification hook, as Claude Code runs it when it waits for someone: the daemon looks at once. */
  #notify(kind: string): void {
    void this.#gt(
      ['agent', 'hook', 'notify'],
      JSON.stringify({ session_id: this.#sessionId, hook_event_name: 'Notification', notification_type: kind }),
    );
  }

  /** A permission question, drawn like Claude Code's, answered only by a key press (1/Enter yes, 2 no). */
  async #ask(step: SimStep): Promise<boolean> {
    this.trace('asked', { at: step });
    let yes = false;
    const busy = this.#busy;
    const mode = this.#mode;
    this.#mode = 'dialog';
    this.#busy = false;
    this.#write('\r\u001b[2K');
    for (const line of [
      ' Bash command',
      `   (the script at ${step})`,
      '',
      ' Do you want to proceed?',
      ' \u276f 1. Yes',
      '   2. No, and tell sim what to do differently (esc)',
    ])
      this.#write(`${line}\r\n`);
    this.#notify('permission_prompt');
    for (;;) {
      const key = await this.#nextKey();
      if (key.kind === 'enter' || (key.kind === 'char' && (key.text === '1' || key.text === '2'))) {
        yes = !(key.kind === 'char' && key.text === '2');
        this.trace('answered', { at: step, yes });
        this.#write('\u001b[2J\u001b[H'); // the question goes, as Claude Code's does
        this.say(yes ? 'sim: permission granted' : 'sim: permission refused');
        break;
      }
    }
    this.#mode = mode;
    this.#busy = busy;
    this.#redraw();
    return yes;
  }

  #exit(code: number): never {
    this.#exiting = true;
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    // The sim is a long-running program standing in for an agent CLI: its exits are its behaviour.
    // eslint-disable-next-line no-restricted-syntax
    process.exit(code);
  }

  // ----------------------------------------------------------------------------------------------------
  // input

  #onKey(key: Key): void {
    if (key.kind === 'interrupt' || key.kind === 'eof') {
      this.trace('exit', { by: key.kind });
      this.#exit(0);
    }
    if (this.#pendingKeys !== undefined) {
      this.#pendingKeys(key);
      return;
    }
    if (this.#mode !== 'prompt') return;
    if (key.kind === 'escape') {
      // Escape cancels the agent's work: gt must never send it while the agent is busy.
      if (this.#busy) this.trace('interrupted');
      this.#buffer = '';
    } else if (key.kind === 'char') {
      if (this.#busy && !this.#typedWhileBusy) {
        this.#typedWhileBusy = true;
        this.trace('typed_while_busy', { text: key.text });
      }
      this.#buffer += key.text;
    } else if (key.kind === 'backspace') {
      this.#buffer = this.#buffer.slice(0, -1);
    } else if (key.kind === 'enter') {
      const line = this.#buffer;
      this.#buffer = '';
      if (line.trim() !== '') {
        this.#queue.push(line);
        if (!this.#busy) this.say(`${PROMPT}${line}`);
        void this.#drainQueue();
      }
    }
    this.#redraw();
  }

  #nextKey(): Promise<Key> {
    return new Promise((resolve) => {
      this.#pendingKeys = (k) => {
        this.#pendingKeys = undefined;
        resolve(k);
      };
    });
  }

  // ----------------------------------------------------------------------------------------------------
  // start-up

  async #dialog(kind: SimDialog): Promise<void> {
    this.#mode = 'dialog';
    let choice = 0;
    const options = kind === 'trust' ? ['Yes, I trust this folder', 'No, exit'] : ['No, exit', 'Yes, I accept'];
    const draw = (): void => {
      this.#write('\u001b[2J\u001b[H');
      if (kind === 'trust') {
        this.#write(
          ` Accessing workspace:\r\n ${this.#cwd}\r\n Quick safety check: Is this a project you created or one you trust?\r\n\r\n`,
        );
      } else {
        this.#write(
          ' WARNING: sim is running in Bypass Permissions mode\r\n In Bypass Permissions mode, sim runs every command without asking.\r\n\r\n',
        );
      }
      options.forEach((o, i) => this.#write(`${i === choice ? ' ❯ ' : '   '}${i + 1}. ${o}\r\n`));
      this.#write('\r\n Enter to confirm · Esc to cancel\r\n');
    };
    draw();
    for (;;) {
      const key = await this.#nextKey();
      if (key.kind === 'down' || key.kind === 'up') {
        choice = key.kind === 'down' ? Math.min(choice + 1, 1) : Math.max(choice - 1, 0);
        draw();
      } else if (key.kind === 'enter') {
        const accepted = options[choice] !== 'No, exit';
        this.trace('dialog', { dialog: kind, accepted });
        if (!accepted) {
          this.#write('\r\nsim: declined; exiting\r\n');
          this.#exit(1);
        }
        this.#write('\u001b[2J\u001b[H');
        return;
      }
    }
  }

  async run(): Promise<void> {
    this.trace('start', { cwd: this.#cwd, argv: process.argv.slice(2), options: { ...this.#opts, prompt: undefined } });
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (data: string) => {
      for (const key of parseKeys(data)) this.#onKey(key);
    });
    process.stdin.on('end', () => {
      if (!this.#exiting) this.#exit(0);
    });
    this.#write('gt sim: a scripted stand-in for an agent CLI (not AI). Ctrl-C exits.\r\n');
    await this.#fault('start');
    if (this.#opts.slowStartMs > 0) await sleep(this.#opts.slowStartMs);
    for (const d of this.#opts.dialogs) await this.#dialog(d);
    if (this.#opts.dialogs.length > 0)
      this.#write('gt sim: a scripted stand-in for an agent CLI (not AI). Ctrl-C exits.\r\n');
    this.#mode = 'prompt';
    this.#busy = true;
    this.#redraw();
    await this.#sessionStart();
    this.#busy = false;
    this.#redraw();
    if (this.#opts.prompt !== undefined && this.#opts.prompt.trim() !== '') {
      this.#queue.push(this.#opts.prompt);
      this.say(`${PROMPT}${this.#opts.prompt}`);
    }
    await this.#drainQueue();
  }

  /** The SessionStart hook, as Claude Code runs it: `gt prime --hook` with the session described on stdin. */
  async #sessionStart(): Promise<void> {
    const input = JSON.stringify({
      session_id: this.#sessionId,
      source: 'startup',
      hook_event_name: 'SessionStart',
      cwd: this.#cwd,
      ...(this.#transcript !== undefined ? { transcript_path: this.#transcript } : {}),
    });
    const r = await this.#gt(['prime', '--hook'], input);
    const first = r.stdout.split('\n').find((l) => l.trim() !== '') ?? '';
    // The step of a molecule the prime put it at, for tests of where a successor continues.
    const step = /^Current step: (\S+)/mu.exec(r.stdout)?.[1];
    this.trace('prime', {
      exit: r.status,
      first_line: first,
      bytes: r.stdout.length,
      ...(step !== undefined ? { molecule_step: step } : {}),
    });
    this.say(`  ⎿ SessionStart hook: ${r.ok ? first : `failed: ${r.stderr.trim().split('\n')[0] ?? ''}`}`);
    await this.#fault('prime');
  }

  #gt(args: readonly string[], input?: string): ReturnType<typeof execArgv> {
    const env: Record<string, string | undefined> = { ...process.env, GT_SIM_SESSION_ID: this.#sessionId };
    return execArgv(this.#gtBin, args, { cwd: this.#cwd, env, input: input ?? '', timeoutMs: 60_000 });
  }

  /** bd as the agent's session has it (on its PATH, beside gt). */
  #bd(args: readonly string[]): ReturnType<typeof execArgv> {
    return execArgv('bd', args, { cwd: this.#cwd, env: { ...process.env }, input: '', timeoutMs: 60_000 });
  }

  // ----------------------------------------------------------------------------------------------------
  // turns

  #draining = false;

  async #drainQueue(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let text = this.#queue.shift(); text !== undefined; text = this.#queue.shift()) await this.#turn(text);
    } finally {
      this.#draining = false;
    }
  }

  async #turn(text: string): Promise<void> {
    this.#busy = true;
    this.#typedWhileBusy = false;
    this.#redraw();
    this.#turns++;
    this.trace('message', { text, turn: this.#turns });
    await this.#fault('message');
    if (this.#opts.ignoreNudges && this.#turns > 1) {
      this.trace('ignored', { text });
    } else {
      const submit = await this.#gt(
        ['mail', 'check', '--inject'],
        JSON.stringify({ session_id: this.#sessionId, hook_event_name: 'UserPromptSubmit', prompt: text }),
      );
      if (submit.stdout.trim() !== '') {
        this.trace('hook_context', { event: 'prompt-submit', text: submit.stdout.trim() });
        this.say(`  ⎿ ${submit.stdout.trim().split('\n').length} line(s) of context from the prompt hook`);
      }
      if (this.#opts.busyMs > 0) await sleep(this.#opts.busyMs);
      this.#said = 0;
      const at = new Date();
      await this.#work();
      this.#recordUsage(text, at);
    }
    let stopActive = false;
    for (;;) {
      const stop = await this.#gt(
        ['agent', 'hook', 'stop', ...(this.#address.includes('/polecats/') ? ['--remind-done'] : [])],
        JSON.stringify({ session_id: this.#sessionId, hook_event_name: 'Stop', stop_hook_active: stopActive }),
      );
      const reason = blockReason(stop.stdout);
      if (reason === undefined || this.#opts.ignoreNudges) break;
      this.trace('hook_context', { event: 'stop', text: reason });
      this.say('  ⎿ the stop hook kept the turn going');
      stopActive = true;
      const at = new Date();
      await this.#work();
      this.#recordUsage(reason, at);
    }
    this.#busy = false;
    this.#redraw();
  }

  /** Runs the hooked bead's script once per bead, commits, reports; or says there is nothing to do. */
  async #work(): Promise<void> {
    if (this.#address === 'mayor') {
      // The Mayor: its work is the requests in its inbox.
      await mayorTurn({
        gt: (args) => this.#gt(args),
        bd: (args) => this.#bd(args),
        trace: (step, detail) => this.trace(step, detail),
        say: (line) => this.say(line),
      });
      return;
    }
    if (isPatrolActor(this.#address)) {
      // A patrol agent: its work is the open problems, not a hook.
      await patrolTurn({
        gt: (args) => this.#gt(args),
        trace: (step, detail) => this.trace(step, detail),
        say: (line) => this.say(line),
        now: () => Date.now(),
      });
      if (this.#address === 'deacon/boot') {
        // Boot triages and goes: the next trouble with the deacon starts a fresh one.
        this.trace('exit', { by: 'boot-triaged' });
        this.#exit(0);
      }
      return;
    }
    const bead = await this.#hookedBead();
    if (bead === undefined) {
      this.trace('no_work');
      this.say('sim: nothing on my hook');
      return;
    }
    const help = this.#help.get(bead.id);
    if (help !== undefined) {
      this.say(help); // still asking: it is the last thing on its screen
      return;
    }
    if (this.#done.has(bead.id)) {
      this.say(`sim: ${bead.id} is already done here`);
      return;
    }
    // A molecule on the bead: its steps first, up to the last, which is the hand-in below.
    const walk: MoleculeWalk =
      bead.metadata[MOLECULE_KEY] === undefined ? { kind: 'none' } : await walkMolecule(this.#walkDeps());
    if (walk.kind === 'stopped') return;
    this.#done.add(bead.id);
    const returned = await this.#returned(bead);
    const script =
      firstShellBlock(bead.description) ?? returned?.script ?? (walk.kind === 'final' && walk.ran ? '' : undefined);
    if (script === undefined) {
      const reason = 'its description has no ```sh block to run';
      this.trace('stuck', { bead: bead.id, reason });
      // A request for help that every view shows (the pane reads as needs-input), until someone answers.
      const line = `sim: needs help with ${bead.id}: ${reason}`;
      this.#help.set(bead.id, line);
      this.say(line);
      this.#notify('idle_prompt');
      return;
    }
    if (!(await this.#fault('run'))) {
      this.#done.delete(bead.id); // not done: asked again at its next turn
      return;
    }
    if (returned !== undefined) {
      // As the task says: its own branch, the target merged in; the script resolves what is left in conflict.
      let conflicts: string[];
      try {
        conflicts = await mergeTargetIntoBranch(this.#cwd, returned.branch, returned.target);
      } catch (err) {
        this.trace('stuck', { bead: bead.id, reason: `could not update ${returned.branch}: ${errorMessage(err)}` });
        this.say(`sim: stuck on ${bead.id}: ${errorMessage(err)}`);
        return;
      }
      this.trace('returned', { bead: bead.id, request: returned.request, cause: returned.cause, conflicts });
      this.say(
        `sim: ${returned.request} came back (${returned.cause}); on ${returned.branch} with origin/${returned.target} merged in` +
          (conflicts.length > 0 ? `, resolving ${conflicts.join(', ')}` : ''),
      );
    }
    this.say(`sim: running the script of ${bead.id}`);
    this.trace('running', { bead: bead.id });
    const run = await this.#runScript(script);
    const output = run.output;
    this.trace('run', { bead: bead.id, exit: run.status, output: output.slice(-2_000) });
    for (const line of output.split('\n').slice(-5)) if (line !== '') this.say(`  │ ${line}`);
    if (!run.ok) {
      this.trace('stuck', { bead: bead.id, reason: `script exited ${String(run.status)}` });
      this.say(`sim: stuck on ${bead.id}: the script failed (exit ${String(run.status)})`);
      return;
    }
    if (this.#opts.dirtyExit) {
      this.trace('dirty_exit', { bead: bead.id });
      this.say('sim: exiting without committing (fault knob)');
      this.#exit(0);
    }
    await this.#fault('commit');
    let sha: string | null = null;
    try {
      sha = await commitAll(this.#cwd, `${bead.id}: ${bead.title}`);
    } catch (err) {
      this.trace('stuck', { bead: bead.id, reason: `commit failed: ${errorMessage(err)}` });
      this.say(`sim: stuck on ${bead.id}: ${errorMessage(err)}`);
      return;
    }
    this.trace('commit', { bead: bead.id, sha });
    await this.#fault('report');
    // Hand the work in, as the prime told it to.
    const handIn = await this.#gt(['done', '--json']);
    let mr: string | null = null;
    try {
      const parsed: unknown = JSON.parse(handIn.stdout);
      if (isRecord(parsed) && typeof parsed.merge_request === 'string') mr = parsed.merge_request;
    } catch {
      // not JSON: an error, reported below
    }
    this.trace('report', {
      bead: bead.id,
      sha,
      done_exit: handIn.status,
      merge_request: mr,
      error: handIn.ok ? null : handIn.stderr.trim(),
    });
    this.say(
      handIn.ok
        ? `sim: finished ${bead.id}: ran gt done, merge request ${mr ?? '-'}`
        : `sim: gt done failed: ${handIn.stderr.trim().split('\n')[0] ?? ''}`,
    );
  }

  async #runScript(script: string): Promise<{ ok: boolean; status: number | null; output: string }> {
    const run = await execArgv('/bin/sh', ['-e', '-c', script], {
      cwd: this.#cwd,
      timeoutMs: 600_000,
      env: { ...process.env },
    });
    return { ok: run.ok, status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
  }

  #walkDeps(): WalkDeps {
    return {
      gt: (args) => this.#gt(args),
      describe: async (id) => (await this.#readStore((store) => store.show([id])))?.[0]?.description ?? '',
      run: async (script) => {
        const run = await this.#runScript(script);
        for (const line of run.output.split('\n').slice(-5)) if (line !== '') this.say(`  │ ${line}`);
        return run;
      },
      trace: (step, detail) => this.trace(step, detail),
      say: (line) => this.say(line),
      ...(this.#opts.hangAtMolStep !== undefined ? { hangAtStep: this.#opts.hangAtMolStep } : {}),
      hang: async (at) => {
        this.trace('hang', { at });
        this.#busy = true;
        this.#redraw();
        for (;;) await sleep(60_000);
      },
    };
  }

  /** Reads the town's store (and lets go of it); undefined when it cannot. */
  async #readStore<T>(read: (store: ReturnType<typeof openTownStore>) => Promise<T>): Promise<T | undefined> {
    try {
      const town = findTown({ cwd: this.#cwd, envRoot: this.#env.GT_TOWN_ROOT });
      const store = openTownStore(town.dbPath);
      try {
        return await read(store);
      } finally {
        store.dispose();
      }
    } catch (err) {
      this.trace('error', { reading: 'store', message: errorMessage(err) });
      return undefined;
    }
  }

  async #hookedBead(): Promise<HookedBead | undefined> {
    try {
      const town = findTown({ cwd: this.#cwd, envRoot: this.#env.GT_TOWN_ROOT });
      const store = openTownStore(town.dbPath);
      try {
        const agent = await store.agent(this.#address);
        if (agent.hook_bead === null) return undefined;
        const [bead] = await store.show([agent.hook_bead]);
        return bead === undefined
          ? undefined
          : { id: bead.id, title: bead.title, description: bead.description, metadata: bead.metadata };
      } finally {
        store.dispose();
      }
    } catch (err) {
      this.trace('error', { reading: 'hook', message: errorMessage(err) });
      return undefined;
    }
  }

  /** The returned request a task on its hook fixes (`mq_fix_for`), with the source's script for the cause. */
  async #returned(bead: HookedBead): Promise<ReturnedWork | undefined> {
    if (bead.metadata.mq_fix_for === undefined) return undefined;
    try {
      const town = findTown({ cwd: this.#cwd, envRoot: this.#env.GT_TOWN_ROOT });
      const store = openTownStore(town.dbPath);
      try {
        return await returnedWork(store, bead);
      } finally {
        store.dispose();
      }
    } catch (err) {
      this.trace('error', { reading: 'returned work', message: errorMessage(err) });
      return undefined;
    }
  }
}

type HookedBead = { id: string; title: string; description: string; metadata: Record<string, unknown> };

/** A Stop hook's `{"decision": "block", "reason": …}`: the reason becomes the agent's next input. */
function blockReason(stdout: string): string | undefined {
  try {
    const v: unknown = JSON.parse(stdout);
    return isRecord(v) && v.decision === 'block' && typeof v.reason === 'string' ? v.reason : undefined;
  } catch {
    return undefined;
  }
}
