import { describe, expect, it } from 'vitest';
import {
  parseDependencyType,
  parseIssueType,
  parsePriority,
  parseStatus,
  validateLabel,
  validateTitle,
} from './bead.js';
import { ValidationError } from './errors.js';

describe('input validation', () => {
  it.each([
    ['0', 0],
    ['4', 4],
    ['P1', 1],
    ['p3', 3],
    [2, 2],
  ] as const)('priority %j → %i', (input, n) => {
    expect(parsePriority(input)).toBe(n);
  });
  it.each(['5', '-1', 'P9', 'high', '1.5', ''])('rejects priority %j', (input) => {
    expect(() => parsePriority(input)).toThrow(ValidationError);
  });

  it('accepts built-in statuses, in-progress spellings and configured custom ones', () => {
    expect(parseStatus('in-progress')).toBe('in_progress');
    expect(parseStatus('HOOKED')).toBe('hooked');
    expect(parseStatus('review', ['review'])).toBe('review');
    expect(() => parseStatus('done')).toThrow(/invalid status "done"/);
  });

  it('accepts Gas Town types and aliases, rejects unknown types unless configured', () => {
    expect(parseIssueType('merge-request')).toBe('merge-request');
    expect(parseIssueType('convoy')).toBe('convoy');
    expect(parseIssueType('feat')).toBe('feature');
    expect(() => parseIssueType('spaceship')).toThrow(ValidationError);
    expect(parseIssueType('spaceship', ['spaceship'])).toBe('spaceship');
  });

  it('validates dependency types, titles and labels', () => {
    expect(parseDependencyType('parent-child')).toBe('parent-child');
    expect(() => parseDependencyType('likes')).toThrow(ValidationError);
    expect(() => validateTitle('   ')).toThrow('title cannot be empty');
    expect(validateTitle(' keep spaces ')).toBe(' keep spaces ');
    expect(() => validateLabel('two words')).toThrow(ValidationError);
    expect(() => validateLabel('a,b')).toThrow(ValidationError);
    expect(validateLabel('area:cli')).toBe('area:cli');
  });
});
