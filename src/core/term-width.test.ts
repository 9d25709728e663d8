import { describe, expect, it } from 'vitest';
import { clusterWidth, codePointWidth, graphemes, termWidth, truncate } from './term-width.js';

// Written as escapes so that the source stays ASCII; the comments say what each one is.
const CJK = '\u4e2d\u6587'; // two ideographs
const HANGUL = '\ud55c\uad6d\uc5b4'; // three precomposed syllables
const HANGUL_JAMO = '\u1112\u1161\u11ab'; // one syllable from its leading, vowel and final jamo
const KANA = '\u3072\u3089\u304c\u306a'; // hiragana
const KANA_DECOMPOSED = '\u304b\u3099'; // ka with a combining voiced mark
const HALFWIDTH_KANA = '\uff76\uff9e'; // halfwidth ka and its (spacing) voiced mark
const FULLWIDTH = '\uff21\uff22\uff23'; // fullwidth A, B, C
const ROCKET = '\u{1f680}';
const THUMBS_TONED = '\u{1f44d}\u{1f3fd}'; // with a skin tone
const FAMILY = '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}'; // man ZWJ woman ZWJ girl
const RAINBOW_FLAG = '\u{1f3f3}\ufe0f\u200d\u{1f308}'; // white flag VS16 ZWJ rainbow
const FLAG_FR = '\u{1f1eb}\u{1f1f7}'; // two regional indicators
const HEART = '\u2764'; // a pictograph with text presentation by default
const HEART_EMOJI = '\u2764\ufe0f';
const KEYCAP = '1\ufe0f\u20e3';
const E_ACUTE = 'e\u0301'; // e and a combining acute accent
const ZALGO = 'a\u0301\u0302\u0303\u0304';
const DEVANAGARI = '\u0915\u093f'; // ka with the (spacing) vowel sign i

describe('terminal width of text', () => {
  it.each([
    ['empty', '', 0],
    ['ASCII', 'Add a health endpoint', 21],
    ['Latin-1 and punctuation', 'caf\u00e9 \u00b7 na\u00efve\u2026 \u2191\u2193', 16],
    ['CJK ideographs', CJK, 4],
    ['CJK in ASCII', `fix ${CJK} bug`, 12],
    ['Hangul syllables', HANGUL, 6],
    ['a Hangul syllable from jamo', HANGUL_JAMO, 2],
    ['hiragana', KANA, 8],
    ['kana with a combining voiced mark', KANA_DECOMPOSED, 2],
    ['halfwidth kana and its voiced mark', HALFWIDTH_KANA, 2],
    ['fullwidth letters', FULLWIDTH, 6],
    ['ideographic space and comma', '\u3000\u3001', 4],
    ['an emoji with emoji presentation', ROCKET, 2],
    ['an emoji in ASCII', `ship it ${ROCKET}!`, 11],
    ['an emoji with a skin tone', THUMBS_TONED, 2],
    ['a ZWJ family', FAMILY, 2],
    ['a ZWJ flag whose first part asks for emoji presentation', RAINBOW_FLAG, 2],
    ['a flag (two regional indicators)', FLAG_FR, 2],
    ['two flags', FLAG_FR + FLAG_FR, 4],
    ['a pictograph with text presentation', HEART, 1],
    ['the same asking for emoji presentation', HEART_EMOJI, 2],
    ['a keycap', KEYCAP, 2],
    ['a digit and a keycap mark without the selector', '1\u20e3', 1],
    ['a combining accent', E_ACUTE, 1],
    ['stacked combining accents', ZALGO, 1],
    ['a combining accent with nothing to combine with', '\u0301x', 1],
    ['a spacing vowel sign', DEVANAGARI, 2],
    ['zero-width space, joiners, word joiner, BOM', 'a\u200b\u200c\u200d\u2060\ufeffb', 2],
    ['variation selectors', 'a\ufe00\ufe0eb\udb40\udd00', 2],
    ['a soft hyphen', 'soft\u00adware', 8],
    ['control characters', 'a\u0000\u0007\u001b\u007f\u0085b', 2],
    ['CR LF', 'a\r\nb', 2],
    ['a tab', 'a\tb', 2],
    ['an ideograph of plane 2', '\u{20000}', 2],
    ['a lone surrogate', '\ud800', 1],
  ])('%s', (_name, text, width) => {
    expect(termWidth(text)).toBe(width);
  });

  it('measures code points alone', () => {
    expect([0x41, 0x4e2d, 0xff21, 0x1f680, 0x0301, 0x200b, 0x0007, 0x1161, 0x3099].map(codePointWidth)).toEqual([
      1, 2, 2, 2, 0, 0, 0, 0, 0,
    ]);
  });

  it('reads clusters as a person sees characters', () => {
    expect(graphemes(`a${E_ACUTE}${FAMILY}${FLAG_FR}${CJK}`)).toEqual([
      'a',
      E_ACUTE,
      FAMILY,
      FLAG_FR,
      '\u4e2d',
      '\u6587',
    ]);
    expect(graphemes('abc')).toEqual(['a', 'b', 'c']);
    expect([FAMILY, RAINBOW_FLAG, KEYCAP, ZALGO].map(clusterWidth)).toEqual([2, 2, 2, 1]);
  });
});

describe('truncating to columns', () => {
  it.each([
    ['fits', 'abc', 4, 'abc'],
    ['fits exactly', 'abcd', 4, 'abcd'],
    ['cut with an ellipsis', 'abcdef', 4, 'abc\u2026'],
    ['nothing', 'abc', 0, ''],
    ['one column', 'abc', 1, '\u2026'],
    ['CJK fits exactly', CJK, 4, CJK],
    ['CJK cut on a character', `${CJK}${CJK}`, 5, `${CJK}\u2026`],
    ['CJK cut inside a character: a space fills the column', `${CJK}${CJK}`, 4, '\u4e2d\u2026 '],
    ['a wide character never fits one column', '\u4e2d', 1, '\u2026'],
    ['an emoji is not split', `ab${ROCKET}cd`, 4, 'ab\u2026 '],
    ['a ZWJ family is kept whole', `${FAMILY}${FAMILY}`, 3, `${FAMILY}\u2026`],
    ['a ZWJ family is dropped whole', `a${FAMILY}b`, 3, 'a\u2026 '],
    ['a flag is kept whole', `${FLAG_FR}${FLAG_FR}xy`, 5, `${FLAG_FR}${FLAG_FR}\u2026`],
    ['a flag is dropped whole', `x${FLAG_FR}yz`, 3, 'x\u2026 '],
    ['an accent stays with its letter', `${E_ACUTE}${E_ACUTE}${E_ACUTE}`, 2, `${E_ACUTE}\u2026`],
    ['zero-width characters do not count', `a\u200bb\u200bc`, 3, 'a\u200bb\u200bc'],
  ])('%s', (_name, text, n, out) => {
    expect(truncate(text, n)).toBe(out);
    expect(termWidth(truncate(text, n))).toBeLessThanOrEqual(n);
  });

  it('a cut text takes exactly the columns given, and is a prefix of the text', () => {
    const texts = [`fix ${CJK} in the ${ROCKET} launcher ${FAMILY} ${FLAG_FR} ${HANGUL} ${FULLWIDTH} ${E_ACUTE}`];
    for (const text of texts)
      for (let n = 1; n < termWidth(text); n++) {
        const t = truncate(text, n);
        expect(termWidth(t)).toBe(n);
        const kept = t.replace(/\u2026 ?$/u, '');
        expect(text.startsWith(kept)).toBe(true);
        expect(graphemes(text).slice(0, graphemes(kept).length).join('')).toBe(kept);
      }
  });

  it('takes another ellipsis, or none when it does not fit', () => {
    expect(truncate('abcdef', 4, '...')).toBe('a...');
    expect(truncate('abcdef', 2, '...')).toBe('ab');
    expect(truncate(`${CJK}${CJK}`, 5, '..')).toBe('\u4e2d.. ');
  });
});
