import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import {
  MAIL_BEAD_PRIORITY,
  MAIL_PRIORITIES,
  mailPriorityOf,
  parseMailPriority,
  parseMailRef,
  replySubject,
  splitRecipients,
} from './mail.js';

describe('mail priorities', () => {
  it.each(MAIL_PRIORITIES)('%s is kept as a bead priority and read back', (p) => {
    expect(mailPriorityOf(MAIL_BEAD_PRIORITY[p])).toBe(p);
    expect(parseMailPriority(` ${p.toUpperCase()} `)).toBe(p);
  });

  it('reads P4 as low and refuses an unknown priority in one line', () => {
    expect(mailPriorityOf(4)).toBe('low');
    expect(() => parseMailPriority('asap')).toThrow(
      /^unknown mail priority "asap": expected urgent, high, normal, low$/,
    );
  });
});

describe('replies and references', () => {
  it.each([
    ['Add /health', 'Re: Add /health'],
    ['Re: Add /health', 'Re: Add /health'],
    ['RE: x', 'RE: x'],
    ['Regarding x', 'Re: Regarding x'],
  ])('the reply to %j is %j', (subject, reply) => {
    expect(replySubject(subject)).toBe(reply);
  });

  it.each([
    ['1', { kind: 'index', index: 1 }],
    ['12', { kind: 'index', index: 12 }],
    ['hq-x1', { kind: 'id', id: 'hq-x1' }],
    [' hq-mail-1 ', { kind: 'id', id: 'hq-mail-1' }],
  ])('%j names %j', (ref, expected) => {
    expect(parseMailRef(ref)).toEqual(expected);
  });

  it('refuses 0 and nothing', () => {
    expect(() => parseMailRef('0')).toThrow(/starts at 1/);
    expect(() => parseMailRef(' ')).toThrow(ValidationError);
  });

  it('splits recipient lists, once each, in order', () => {
    expect(splitRecipients(['mayor,deacon', ' @witnesses ', 'mayor', ''])).toEqual(['mayor', 'deacon', '@witnesses']);
  });
});
