import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, saveSettings } from '../src/town/town.js';
import { gtAsync, json, type RunResult } from './helpers/bd.js';
import { claudeAgentArgs, claudeAvailable, makeClaudeHome } from './helpers/claude-home.js';
import {
  allMessageTexts,
  bash,
  lastUserPrompt,
  startScriptedModel,
  toolResults,
  toolResultText,
  type ConversationRequest,
  type ReplySpec,
  type ScriptedModel,
} from './helpers/scripted-model.js';
import { eventually, sessionTown } from './helpers/session-town.js';

/**
 * The real Claude Code CLI as the Mayor, against the scripted Messages API (it proves the plumbing, not the
 * model): the overseer, a person whose git name has a space, mails it a request in plain words; the mail is
 * typed into its idle session; through its Bash tool it files two beads (the second waits for the first), makes
 * a convoy owned by the overseer, slings them and replies. Sim polecats do the work, the refinery lands it, the
 * convoy lands, and the overseer's inbox has the notice.
 */

let f: Awaited<ReturnType<typeof sessionTown>>;
let model: ScriptedModel;
let env: Record<string, string>;

const run = (...args: string[]): Promise<RunResult> => gtAsync(args, { cwd: f.town.root, env });

const REQUEST = 'add a health endpoint and a test for it';
const ENDPOINT = 'Add a health endpoint';
const TEST = 'Add a test for the health endpoint';

/** Everything the model's Bash tool printed so far in this conversation. */
const printed = (req: ConversationRequest): string => toolResults(req).map(toolResultText).join('\n');

/** The id a `bd create … --json` printed for the bead with this title. */
function created(out: string, title: string): string | undefined {
  const at = out.indexOf(`"title": "${title}"`);
  if (at < 0) return undefined;
  const ids = [...out.slice(0, at).matchAll(/"id": "(ga-[a-z0-9.]+)"/gu)];
  return ids.at(-1)?.[1];
}

/** The Mayor's part, one command per turn, read back from what it has done so far. */
function mayorScript(req: ConversationRequest): ReplySpec {
  const sh = (command: string): ReplySpec => ({ toolUses: [bash(command)] });
  const texts = allMessageTexts(req).join('\n');
  // Typed in (`[mail from …] <id>: <subject>`) or handed over at a turn boundary (`<id> from …: <subject>`).
  const mail = new RegExp(`(hq-[a-z0-9.]+)(?: from [^:\\n]*)?: ${REQUEST}`, 'u').exec(texts)?.[1];
  if (mail === undefined) return 'Nothing waits for me.';
  const out = printed(req);
  const a = created(out, ENDPOINT);
  if (a === undefined)
    return sh(
      `gt mail read ${mail} && bd create "${ENDPOINT}" --prefix ga --json -d 'GET /health answers ok.\n\`\`\`sh\nprintf "ok\\n" > health.txt\n\`\`\`'`,
    );
  const b = created(out, TEST);
  if (b === undefined)
    return sh(
      `bd create "${TEST}" --prefix ga --json -d 'tests/health.sh checks health.txt.\n\`\`\`sh\nmkdir -p tests\nprintf "test \\"\\$(cat health.txt)\\" = ok\\n" > tests/health.sh\nsh tests/health.sh\n\`\`\`'`,
    );
  const convoy = /"id": "(hq-[a-z0-9.]+)",\s*"name"/u.exec(out)?.[1];
  if (convoy === undefined)
    return sh(
      `bd dep add ${b} ${a} && gt convoy create "health endpoint" ${a} ${b} --owner overseer --request ${mail} --json`,
    );
  if (!out.includes('Filed as convoy'))
    return sh(
      `gt sling ${a} ${b} gastown && gt mail reply ${mail} -m "Filed as convoy ${convoy}: ${a}, then ${b}." && echo "Filed as convoy"`,
    );
  return `Filed ${a} and ${b} as convoy ${convoy}; I will report when it lands.`;
}

describe.skipIf(!claudeAvailable())('the real Claude Code CLI as the Mayor', () => {
  beforeAll(async () => {
    f = await sessionTown('mayor-claude');
    model = await startScriptedModel((req) => {
      // A landing notice typed in later: acknowledged in words.
      if (lastUserPrompt(req).includes('Convoy landed')) return 'The convoy landed; the overseer was told.';
      return mayorScript(req);
    });
    const home = makeClaudeHome(join(f.base, 'claude-config'), [f.town.root]);
    const claudeEnv = home.env(model.url);
    // The person at the keyboard: a git name with a space.
    const personHome = f.env.HOME ?? join(f.base, 'home');
    mkdirSync(personHome, { recursive: true });
    writeFileSync(join(personHome, '.gitconfig'), '[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n');
    env = { ...f.env, ...claudeEnv };
    const set = await run(...claudeAgentArgs(claudeEnv), '--json');
    expect(set.status, set.stderr).toBe(0);
    const s = loadSettings(f.town);
    saveSettings(f.town, {
      ...s,
      role_agents: { mayor: 'claude-test' },
      daemon: {
        ...s.daemon,
        heartbeat_seconds: 1,
        start_grace_seconds: 2,
        standing_roles: ['refinery'],
        idle_polecat_seconds: 0,
      },
    });
  }, 120_000);

  afterAll(async () => {
    await run('daemon', 'stop');
    await f.cleanup();
    await model.close();
  });

  it('turns a request in plain words into two beads, a convoy and slings; the convoy lands and the overseer is told', async () => {
    const started = await run('mayor', 'start', '--json');
    expect(started.status, started.stderr).toBe(0);
    expect((await run('daemon', 'start', '--tick', '1')).status).toBe(0);
    const sent = await run(
      'mail',
      'send',
      'mayor',
      '-s',
      REQUEST,
      '-m',
      'A GET /health that answers ok, with a test.',
      '--json',
    );
    expect(sent.status, sent.stderr).toBe(0);
    expect(json<{ from: string; from_name: string }>(sent)).toMatchObject({
      from: 'overseer',
      from_name: 'Ada Lovelace',
    });
    const store = f.store();
    const inbox = async () =>
      json<{ from: string; subject: string; body: string }[]>(await run('mail', 'inbox', '--json'));
    await eventually(
      async () => (await inbox()).some((m) => m.subject.startsWith('Convoy landed')),
      'the convoy to land and the overseer to be told',
      240_000,
    ).catch(async (err: unknown) => {
      // eslint-disable-next-line no-console -- for whoever reads the failure
      console.log(
        JSON.stringify(
          {
            requests: model.conversationRequests().map((r) => ({
              last: allMessageTexts(r)
                .slice(-2)
                .map((t) => t.slice(0, 600)),
            })),
            sent: json<unknown>(sent),
            labels: (await store.show([json<{ id: string }>(sent).id]))[0]?.labels,
            events: (await store.events({ issueId: json<{ id: string }>(sent).id, limit: 0 })).map((e) => [
              e.event_type,
              e.actor,
              e.created_at,
              e.new_value,
            ]),
            mayor_screen: (await run('peek', 'mayor', '--lines', '30')).stdout,
            mail: (
              await gtAsync(['mail', 'inbox', '--all', '--json'], {
                cwd: f.town.root,
                env: { ...env, GT_ROLE: 'mayor' },
              })
            ).stdout,
            convoys: json<unknown>(await run('convoy', 'list', '--all', '--json')),
            mayor: json<{ address: string }[]>(await run('agents', '--json')).find((a) => a.address === 'mayor'),
            log: json<{ log: unknown[] }>(await run('daemon', 'status', '--lines', '60', '--json')).log,
            errors: model.errors,
          },
          null,
          1,
        ),
      );
      throw err;
    });
    const beads = (await store.list({ statuses: ['open', 'hooked', 'in_progress', 'closed'], limit: 0 })).filter(
      (b) => b.title === ENDPOINT || b.title === TEST,
    );
    expect(beads.map((b) => [b.title, b.status]).sort()).toEqual([
      [ENDPOINT, 'closed'],
      [TEST, 'closed'],
    ]);
    const endpoint = beads.find((b) => b.title === ENDPOINT);
    const test = beads.find((b) => b.title === TEST);
    // The second waited for the first: it was closed after it.
    expect(Date.parse(test?.closed_at ?? '')).toBeGreaterThanOrEqual(Date.parse(endpoint?.closed_at ?? ''));
    const [convoy] = json<{ id: string; status: string; owner: string; request: string }[]>(
      await run('convoy', 'list', '--all', '--json'),
    );
    expect(convoy).toMatchObject({ status: 'landed', owner: 'overseer' });
    const notices = (await inbox()).filter((m) => m.subject.startsWith('Convoy landed'));
    expect(notices).toHaveLength(1);
    expect(notices[0]?.subject).toContain(convoy?.id ?? '?');
    // The overseer also had the Mayor's reply.
    expect((await inbox()).some((m) => m.from === 'mayor')).toBe(true);
    expect(model.errors).toEqual([]);
  }, 360_000);
});
