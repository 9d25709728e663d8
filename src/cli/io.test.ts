import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/errors.js';
import { decodeUtf8, firstInvalidUtf8 } from './io.js';

describe('text from outside is UTF-8 exactly, or refused', () => {
  const valid = ['', 'plain', 'é ü ß', '日本語', '🚀 rocket', 'a literal \uFFFD replacement character', '\u0000nul'];
  for (const text of valid)
    it(`decodes ${JSON.stringify(text)} byte for byte`, () => {
      const bytes = Buffer.from(text, 'utf8');
      expect(decodeUtf8(bytes, 'x')).toBe(text);
      expect(firstInvalidUtf8(bytes)).toBe(-1);
    });

  const invalid: [string, number[], number][] = [
    ['a Latin-1 é', [0x63, 0x61, 0x66, 0xe9], 3],
    ['a lone continuation byte', [0x41, 0x80, 0x42], 1],
    ['a sequence cut off at the end', [0x41, 0xe6, 0x97], 1],
    ['an overlong encoding of "/"', [0xc0, 0xaf], 0],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80], 0],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['0xFF', [0x61, 0xff], 1],
  ];
  for (const [what, bytes, at] of invalid)
    it(`refuses ${what}, naming the first bad byte`, () => {
      const buf = Uint8Array.from(bytes);
      expect(firstInvalidUtf8(buf)).toBe(at);
      expect(() => decodeUtf8(buf, 'notes.txt')).toThrow(ValidationError);
      expect(() => decodeUtf8(buf, 'notes.txt')).toThrow(`notes.txt is not valid UTF-8 (byte ${at} is the first`);
    });
});
