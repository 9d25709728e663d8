import { describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from './errors.js';
import {
  actingActor,
  isPatrolActor,
  PATROL_FORBIDDEN,
  patrolRefusal,
  refusalError,
  refusePatrol,
  releaseRefusal,
  sessionChangeRefusal,
  shellRefusal,
  shellRefusalText,
  type ReleaseInput,
  type SandboxFacts,
  type SessionChangeInput,
  type ShellRule,
} from './guard.js';

const WITNESS = 'gastown/witness';
const TOAST = 'gastown/polecats/toast';
const CLEAN: SandboxFacts = { kind: 'git', uncommitted: 0, unpushed: 0 };

describe('who is a patrol actor', () => {
  it.each<[string | undefined, boolean]>([
    ['gastown/witness', true],
    ['deacon', true],
    ['deacon/boot', true],
    [' gastown/witness ', true],
    ['mayor', false],
    ['gastown/refinery', false],
    ['gastown/polecats/toast', false],
    ['gastown/crew/ana', false],
    ['daemon', false],
    ['tester', false],
    ['ana@example.com', false],
    ['witness', false],
    ['gastown/witness/x', false],
    ['', false],
    [undefined, false],
  ])('%j → %s', (actor, patrol) => {
    expect(isPatrolActor(actor)).toBe(patrol);
  });

  it.each<[string, string | undefined, string]>([
    ['tester', undefined, 'tester'],
    ['tester', 'gastown/witness', 'gastown/witness'], // --actor cannot lift a patrol session's guardrails
    ['gastown/witness', 'gastown/witness', 'gastown/witness'],
    ['tester', 'gastown/polecats/toast', 'tester'], // other sessions keep their resolved actor
    ['tester', 'nonsense', 'tester'],
  ])('acting actor of %j with GT_ROLE %j is %j', (resolved, role, acting) => {
    expect(actingActor(resolved, role)).toBe(acting);
  });
});

describe('operations patrol actors may never run', () => {
  it.each(Object.keys(PATROL_FORBIDDEN) as (keyof typeof PATROL_FORBIDDEN)[])(
    '%s: refused to every patrol role, allowed to everyone else',
    (op) => {
      for (const actor of [WITNESS, 'deacon', 'deacon/boot']) {
        const r = patrolRefusal(actor, op);
        expect(r?.kind).toBe('forbidden');
        expect(r?.message).toContain(PATROL_FORBIDDEN[op].command);
        expect(r?.message).toContain(actor);
        expect(r?.hint).toMatch(/gt escalate/);
        expect(() => refusePatrol(actor, op)).toThrow(ValidationError);
      }
      for (const actor of ['mayor', 'tester', TOAST, 'gastown/refinery', 'daemon'])
        expect(patrolRefusal(actor, op)).toBeNull();
    },
  );

  it('says why and what to do instead', () => {
    expect(patrolRefusal(WITNESS, 'polecat-remove')).toEqual({
      kind: 'forbidden',
      message: 'patrol agents cannot remove sandboxes (gt polecat remove, asked by gastown/witness)',
      hint: 'escalate it to a person with gt escalate "<what and why>"',
    });
  });

  it('throws forbidden as validation and work loss as conflict', () => {
    expect(refusalError({ kind: 'forbidden', message: 'm', hint: 'h' })).toBeInstanceOf(ValidationError);
    const c = refusalError({ kind: 'work-loss', message: 'm', hint: 'h' });
    expect(c).toBeInstanceOf(ConflictError);
    expect(c.hint).toBe('h');
  });
});

describe('releasing another agent’s work', () => {
  const base: ReleaseInput = {
    actor: 'tester',
    holder: TOAST,
    bead: 'ga-1',
    force: false,
    sessionAlive: false,
    sandbox: CLEAN,
  };
  it.each<[string, Partial<ReleaseInput>, 'ok' | 'forbidden' | 'work-loss', RegExp?]>([
    ['a stopped holder with a clean sandbox', {}, 'ok'],
    ['no git sandbox', { sandbox: { kind: 'none' } }, 'ok'],
    [
      'one’s own hook, whatever it holds',
      { actor: TOAST, sessionAlive: true, sandbox: { kind: 'git', uncommitted: 3, unpushed: 1 } },
      'ok',
    ],
    [
      'a live claim',
      { sessionAlive: true },
      'work-loss',
      /gastown\/polecats\/toast is running and holds ga-1 \(a live claim\)/,
    ],
    [
      'uncommitted files',
      { sandbox: { kind: 'git', uncommitted: 2, unpushed: 0 } },
      'work-loss',
      /2 uncommitted file\(s\)/,
    ],
    [
      'unpushed commits',
      { sandbox: { kind: 'git', uncommitted: 0, unpushed: 1 } },
      'work-loss',
      /1 unpushed commit\(s\)/,
    ],
    [
      'both',
      { sandbox: { kind: 'git', uncommitted: 1, unpushed: 4 } },
      'work-loss',
      /1 uncommitted file\(s\) and 4 unpushed commit\(s\)/,
    ],
    [
      'an unreadable sandbox',
      { sandbox: { kind: 'unreadable', detail: 'not a git repository' } },
      'work-loss',
      /cannot be read \(not a git repository\)/,
    ],
    [
      'a person forcing it',
      { force: true, sessionAlive: true, sandbox: { kind: 'git', uncommitted: 1, unpushed: 1 } },
      'ok',
    ],
    ['a patrol agent, clean and stopped', { actor: WITNESS }, 'ok'],
    [
      'a patrol agent, unpushed',
      { actor: WITNESS, sandbox: { kind: 'git', uncommitted: 0, unpushed: 1 } },
      'work-loss',
    ],
    ['a patrol agent forcing it', { actor: WITNESS, force: true }, 'forbidden', /cannot force work off another agent/],
  ])('%s', (_what, change, expected, message) => {
    const r = releaseRefusal({ ...base, ...change });
    expect(r?.kind ?? 'ok').toBe(expected);
    if (message !== undefined) expect(r?.message).toMatch(message);
  });

  it('offers --force to people only', () => {
    const dirty: Partial<ReleaseInput> = { sandbox: { kind: 'git', uncommitted: 0, unpushed: 1 } };
    expect(releaseRefusal({ ...base, ...dirty })?.hint).toMatch(/--force/);
    const patrol = releaseRefusal({ ...base, ...dirty, actor: WITNESS })?.hint;
    expect(patrol).not.toMatch(/--force/);
    expect(patrol).toMatch(/gt session restart gastown\/polecats\/toast.*gt escalate/);
  });
});

describe('stopping and restarting another agent', () => {
  const base: SessionChangeInput = {
    actor: WITNESS,
    change: 'stop',
    target: TOAST,
    targetRole: 'polecat',
    sandbox: CLEAN,
  };
  const dirty: SandboxFacts = { kind: 'git', uncommitted: 2, unpushed: 0 };
  it.each<[string, Partial<SessionChangeInput>, 'ok' | 'forbidden' | 'work-loss']>([
    ['a clean polecat', {}, 'ok'],
    [
      'a polecat with unpushed commits only (its files are all committed)',
      { sandbox: { kind: 'git', uncommitted: 0, unpushed: 2 } },
      'ok',
    ],
    ['a polecat with uncommitted files', { sandbox: dirty }, 'work-loss'],
    ['restarting it in its sandbox', { change: 'restart', sandbox: dirty }, 'ok'],
    ['an unreadable sandbox', { sandbox: { kind: 'unreadable', detail: 'x' } }, 'work-loss'],
    ['the refinery', { target: 'gastown/refinery', targetRole: 'refinery' }, 'ok'],
    [
      'the deacon restarting a witness',
      { actor: 'deacon', target: WITNESS, targetRole: 'witness', sandbox: { kind: 'none' } },
      'ok',
    ],
    ['a crew member', { target: 'gastown/crew/ana', targetRole: 'crew' }, 'forbidden'],
    ['restarting a crew member', { change: 'restart', target: 'gastown/crew/ana', targetRole: 'crew' }, 'forbidden'],
    ['the mayor', { target: 'mayor', targetRole: 'mayor', sandbox: { kind: 'none' } }, 'forbidden'],
    ['itself (a handoff)', { target: WITNESS, targetRole: 'witness', change: 'restart' }, 'ok'],
    ['a person stopping a dirty polecat', { actor: 'tester', sandbox: dirty }, 'ok'],
    ['a person stopping crew', { actor: 'tester', target: 'gastown/crew/ana', targetRole: 'crew' }, 'ok'],
    ['the daemon', { actor: 'daemon', sandbox: dirty }, 'ok'],
  ])('%s', (_what, change, expected) => {
    expect(sessionChangeRefusal({ ...base, ...change })?.kind ?? 'ok').toBe(expected);
  });

  it('points a refused stop at a restart in the same sandbox', () => {
    const r = sessionChangeRefusal({ ...base, sandbox: dirty });
    expect(r?.message).toBe('not stopping gastown/polecats/toast: its sandbox has 2 uncommitted file(s)');
    expect(r?.hint).toMatch(/^restart it in the same sandbox instead \("gt session restart gastown\/polecats\/toast"/);
  });
});

describe('shell commands patrol agents may not run', () => {
  it.each<[string, ShellRule | null]>([
    // allowed: reading, and git that changes nothing of anyone's
    ['git status', null],
    ['git log --oneline -5 && git diff', null],
    ['git -C /town/gastown/polecats/toast status --porcelain', null],
    ['git fetch origin', null],
    ['git merge-base HEAD origin/main', null],
    ['git branch -a', null],
    ['git branch --list', null],
    ['git worktree list', null],
    ['git reset --soft HEAD~1', null],
    ['git clean -n', null],
    ['rm -f /tmp/x.log', null],
    ['gt patrol scan --json', null],
    ['gt session restart gastown/polecats/toast', null],
    [`git commit -m 'do not git push yet'`, null],
    ['echo "git push"', null],
    ['grep -r "rm -rf" .', null],
    // push and merge
    ['git push', 'push'],
    ['git push origin HEAD:main', 'push'],
    ['git push --delete origin polecat/toast', 'push'],
    ['git -C ../toast push', 'push'],
    ['git -c push.default=current push', 'push'],
    ['git --git-dir=/x/.git push', 'push'],
    ['/usr/bin/git push', 'push'],
    ['git merge origin/polecat/toast', 'merge'],
    ['git merge --abort', 'merge'],
    // branches, worktrees, changes
    ['git branch -d polecat/toast', 'delete-branch'],
    ['git branch -D polecat/toast', 'delete-branch'],
    ['git branch --delete x', 'delete-branch'],
    ['git branch -vD x', 'delete-branch'],
    ['git update-ref -d refs/heads/x', 'delete-branch'],
    ['git worktree remove --force ../toast', 'remove-worktree'],
    ['git reset --hard origin/main', 'discard-changes'],
    ['git clean -fdx', 'discard-changes'],
    ['git clean --force', 'discard-changes'],
    ['rm -rf gastown/polecats/toast', 'remove-files'],
    ['rm -fr x', 'remove-files'],
    ['rm -r -f x', 'remove-files'],
    ['rm -R x', 'remove-files'],
    ['rm --recursive x', 'remove-files'],
    ['/bin/rm -rf x', 'remove-files'],
    // wherever it hides in the line
    ['git status && git push', 'push'],
    ['git status; git push', 'push'],
    ['cd ../toast && git push 2>&1 | tail -1', 'push'],
    ['echo "$(git push)"', 'push'],
    ['echo `git push`', 'push'],
    ['(cd x; git push)', 'push'],
    ['GIT_TRACE=1 git push', 'push'],
    ['env -i PATH=/bin git push', 'push'],
    ['sudo -u ana git push', 'push'],
    ['timeout 10 git push', 'push'],
    ['nice -n 5 git push', 'push'],
    ['command git push', 'push'],
    ['echo x | xargs git branch -D', 'delete-branch'],
    ['bash -c "git push"', 'push'],
    [`sh -lc 'cd x && rm -rf y'`, 'remove-files'],
    ['eval git push', 'push'],
    ['find . -name "*.tmp" -delete', 'remove-files'],
    ['find . -type d -exec rm -rf {} \\;', 'remove-files'],
    ['if true; then git push; fi', 'push'],
    ['g"i"t pu\'sh\'', 'push'],
  ])('%j → %s', (command, rule) => {
    expect(shellRefusal(command)?.rule ?? null).toBe(rule);
  });

  it.each([
    ['git commit -am "add health"', 'patrol', null],
    ['git commit -am "add health"', 'mayor', 'commit'],
    ['cd ../gastown/refinery/rig && git cherry-pick abc', 'mayor', 'commit'],
    ['git -C x revert HEAD', 'mayor', 'commit'],
    ['git commit -m x; git push', 'patrol', 'push'],
    ['git push', 'mayor', 'push'],
    ['bd create "x" && gt sling gastown-1 gastown', 'mayor', null],
    ['git log --oneline && git status', 'mayor', null],
  ] as const)('%j as %s → %s', (command, who, rule) => {
    expect(shellRefusal(command, who)?.rule ?? null).toBe(rule);
  });

  it('tells the Mayor its own way instead', () => {
    const r = shellRefusal('git commit -m "health"', 'mayor');
    if (r === null) throw new Error('not refused');
    expect(shellRefusalText(r, 'mayor')).toEqual({
      kind: 'forbidden',
      message: 'the Mayor cannot commit: blocked "git commit -m health"',
      hint: 'the Mayor plans and polecats write the code: file a bead with bd create and gt sling it to a rig',
    });
  });

  it('names the command it blocked, and what to do instead', () => {
    const r = shellRefusal('git status && git push origin main');
    expect(r).toEqual({ rule: 'push', command: 'git push origin main' });
    if (r === null) return;
    expect(shellRefusalText(r)).toEqual({
      kind: 'forbidden',
      message: 'patrol agents cannot push: blocked "git push origin main"',
      hint: 'a polecat pushes its own work with gt done; or escalate it to a person with gt escalate "<what and why>"',
    });
  });
});
