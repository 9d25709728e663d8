import { errorMessage, isRecord } from '../core/errors.js';
import { parseRequestPlan } from './request.js';

/**
 * The sim agent as the Mayor: at each turn it reads its inbox, and for each request from a person that no
 * convoy answers yet it files the beads the request spells out (src/sim/request.ts), each waiting for the one
 * before, bundles them in a convoy owned by whoever asked, slings them to the rig, and replies. When a convoy
 * of a request lands, it archives the request: that request is finished. It acts only through gt and bd, as
 * an AI Mayor would, and keeps nothing in memory: what is answered is read from the convoys each turn.
 */

type Run = (args: readonly string[]) => Promise<{ ok: boolean; status: number | null; stdout: string; stderr: string }>;

export type MayorTurn = {
  gt: Run;
  bd: Run;
  trace: (step: string, detail?: Record<string, unknown>) => void;
  say: (line: string) => void;
};

type InboxMail = { id: string; from: string; subject: string; read: boolean; archived: boolean };

const firstLine = (text: string): string => text.trim().split('\n')[0] ?? '';

async function json(run: Run, args: readonly string[]): Promise<unknown> {
  const r = await run([...args, '--json']);
  if (!r.ok) throw new Error(`${args.slice(0, 2).join(' ')}: ${firstLine(r.stderr)}`);
  return JSON.parse(r.stdout) as unknown;
}

const str = (v: unknown, key: string): string => {
  const value = isRecord(v) ? v[key] : undefined;
  return typeof value === 'string' ? value : '';
};

/** The entries of a JSON array, or none. */
const items = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);

function inboxOf(v: unknown): InboxMail[] {
  const list = Array.isArray(v) ? items(v) : isRecord(v) ? items(v.mail) : [];
  return list.filter(isRecord).map((m) => ({
    id: str(m, 'id'),
    from: str(m, 'from'),
    subject: str(m, 'subject'),
    read: m.read === true,
    archived: m.archived === true,
  }));
}

/** A request: mail from the overseer (the person), other than a landing notice. */
const isRequest = (m: InboxMail): boolean => m.from === 'overseer' && !m.subject.startsWith('Convoy landed');

export async function mayorTurn(t: MayorTurn): Promise<number> {
  let acted = 0;
  try {
    const inbox = inboxOf(await json(t.gt, ['mail', 'inbox']));
    const convoys = await json(t.gt, ['convoy', 'list', '--all']);
    const answered = new Map<string, string>();
    for (const c of items(convoys)) {
      const request = str(c, 'request');
      if (request !== '') answered.set(request, str(c, 'id'));
    }
    for (const m of inbox) {
      if (m.archived) continue;
      if (m.subject.startsWith('Convoy landed')) {
        await closeRequest(t, m, convoys);
        acted++;
      } else if (isRequest(m) && !answered.has(m.id)) {
        await fileRequest(t, m);
        acted++;
      }
    }
  } catch (err) {
    t.trace('mayor_error', { message: errorMessage(err) });
    t.say(`sim mayor: ${errorMessage(err)}`);
  }
  if (acted === 0) t.say('sim mayor: no request waits for me');
  return acted;
}

async function fileRequest(t: MayorTurn, m: InboxMail): Promise<void> {
  const mail = await json(t.gt, ['mail', 'read', m.id]);
  const plan = parseRequestPlan(str(mail, 'body'));
  const list = items(await json(t.gt, ['rig', 'list']));
  const rig = list.find((r) => str(r, 'name') === (plan.rig ?? (list.length === 1 ? str(list[0], 'name') : '')));
  const reply = async (text: string): Promise<void> => {
    const r = await t.gt(['mail', 'reply', m.id, '-m', text]);
    if (!r.ok) t.say(`sim mayor: could not reply to ${m.id}: ${firstLine(r.stderr)}`);
  };
  if (plan.beads.length === 0 || rig === undefined) {
    const why =
      plan.beads.length === 0
        ? 'I am the scripted sim, not AI: spell the work out as "## <title>" sections, each with a ```sh block'
        : `name the rig with a "rig: <name>" line (the rigs: ${list.map((r) => str(r, 'name')).join(', ') || 'none'})`;
    t.trace('mayor_refused', { request: m.id, why });
    await reply(`Not filed: ${why}.`);
    return;
  }
  const ids: string[] = [];
  for (const b of plan.beads) {
    const created = await json(t.bd, ['create', b.title, '-d', b.description, '--prefix', str(rig, 'prefix')]);
    ids.push(str(created, 'id'));
  }
  for (let i = 1; i < ids.length; i++) {
    const dep = await t.bd(['dep', 'add', ids[i] ?? '', ids[i - 1] ?? '']);
    if (!dep.ok) throw new Error(`bd dep add: ${firstLine(dep.stderr)}`);
  }
  const convoy = str(
    await json(t.gt, ['convoy', 'create', m.subject, ...ids, '--owner', m.from, '--request', m.id]),
    'id',
  );
  const slung = await t.gt(['sling', ...ids, str(rig, 'name'), '--json']);
  if (!slung.ok) throw new Error(`gt sling: ${firstLine(slung.stderr)}`);
  t.trace('mayor_filed', { request: m.id, beads: ids, convoy, rig: str(rig, 'name') });
  t.say(`sim mayor: filed ${ids.join(', ')} as convoy ${convoy} and slung them to ${str(rig, 'name')}`);
  await reply(
    `Filed ${ids.join(', ')} in ${str(rig, 'name')} as convoy ${convoy}${ids.length > 1 ? ', each after the one before' : ''}. You will be told when it lands.`,
  );
}

/** A landing notice: the request its convoy answered is finished, so its mail is archived, and the notice too. */
async function closeRequest(t: MayorTurn, notice: InboxMail, convoys: unknown): Promise<void> {
  const id = /\((hq-[A-Za-z0-9.-]+)\)\s*$/u.exec(notice.subject)?.[1];
  const convoy = items(convoys).find((c) => str(c, 'id') === id);
  const request = convoy === undefined ? '' : str(convoy, 'request');
  if (request !== '') await t.gt(['mail', 'archive', request]);
  await t.gt(['mail', 'archive', notice.id]);
  t.trace('mayor_landed', { convoy: id ?? null, request: request === '' ? null : request });
  t.say(`sim mayor: convoy ${id ?? '?'} landed${request === '' ? '' : `; request ${request} is finished`}`);
}
