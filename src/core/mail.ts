import { ValidationError } from './errors.js';

/**
 * The decisions about mail that need no store: priorities and the bead priority they are kept as, the subject
 * of a reply, and what a reference on the command line names (a place in the inbox listing, or an id).
 */

export const MAIL_PRIORITIES = ['urgent', 'high', 'normal', 'low'] as const;
export type MailPriority = (typeof MAIL_PRIORITIES)[number];

export function isMailPriority(value: string): value is MailPriority {
  return (MAIL_PRIORITIES as readonly string[]).includes(value);
}

export function parseMailPriority(value: string): MailPriority {
  const v = value.trim().toLowerCase();
  if (isMailPriority(v)) return v;
  throw new ValidationError(`unknown mail priority "${value}": expected ${MAIL_PRIORITIES.join(', ')}`, {
    hint: 'e.g. gt mail send mayor -s "<subject>" --priority high (or --urgent)',
  });
}

/** A mail priority as a bead priority: urgent P0, high P1, normal P2, low P3. */
export const MAIL_BEAD_PRIORITY: Readonly<Record<MailPriority, number>> = { urgent: 0, high: 1, normal: 2, low: 3 };

/** The mail priority a bead priority stands for; P4 counts as low. */
export function mailPriorityOf(beadPriority: number): MailPriority {
  return MAIL_PRIORITIES[Math.max(0, Math.min(3, Math.trunc(beadPriority)))] ?? 'low';
}

/** The subject of a reply: `Re: <subject>`, never `Re: Re: …`. */
export function replySubject(subject: string): string {
  const s = subject.trim();
  return /^re:\s/iu.test(s) || s.toLowerCase() === 're:' ? s : `Re: ${s}`;
}

/**
 * What a mail reference names: a whole number is a place in the inbox listing as printed (1 is the first),
 * anything else is a mail id.
 */
export type MailRef = { kind: 'index'; index: number } | { kind: 'id'; id: string };

export function parseMailRef(ref: string): MailRef {
  const r = ref.trim();
  if (r === '') throw new ValidationError('which mail? give its id or its number in "gt mail inbox"');
  if (/^[0-9]+$/u.test(r)) {
    const index = Number(r);
    if (index < 1) throw new ValidationError(`mail number ${r}: the inbox listing starts at 1`);
    return { kind: 'index', index };
  }
  return { kind: 'id', id: r };
}

/** A list of recipients given as `a,b c`: trimmed, empties dropped, duplicates removed, in order. */
export function splitRecipients(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values)
    for (const part of v.split(/[,\s]+/u)) {
      const p = part.trim();
      if (p !== '' && !out.includes(p)) out.push(p);
    }
  return out;
}
