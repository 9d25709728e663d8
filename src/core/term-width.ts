/**
 * How many columns text takes in a terminal, and how to cut it to a number of columns without splitting a
 * character. Text is read as grapheme clusters (what a person sees as one character: a letter with its
 * accents, a flag, an emoji family), and each cluster is measured the way terminals draw it:
 *
 * - an emoji (a pictograph with emoji presentation by default, or asked for with U+FE0F, or with a skin tone;
 *   a flag; a keycap) takes 2 columns, and a sequence joined by U+200D takes what its first part takes;
 * - any other cluster takes the sum of its code points: 2 for East Asian Wide and Fullwidth characters (CJK
 *   ideographs, kana, Hangul, fullwidth forms), 0 for controls, non-spacing and enclosing marks, Hangul
 *   vowel and final jamo, and default-ignorable characters (zero-width space and joiners, U+2060, U+FEFF,
 *   variation selectors, soft hyphen), and 1 for the rest, spacing marks and ambiguous-width characters
 *   included (as wcwidth counts them, so that a line never comes out wider than measured in a terminal
 *   that counts code points).
 */

// East Asian Width W or F, as of Unicode 16, without the emoji (matched by \p{Emoji_Presentation}) and the
// ideographs added since (matched by \p{Ideographic}); unassigned code points of the CJK blocks and of planes
// 2 and 3 are wide by default, as UAX #11 says. Sorted, not overlapping: [first, last] pairs.
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2329, 0x232a],
  [0x2630, 0x2637],
  [0x268a, 0x268f],
  [0x2e80, 0x2e99],
  [0x2e9b, 0x2ef3],
  [0x2f00, 0x2fd5],
  [0x2ff0, 0x303e],
  [0x3041, 0x3096],
  [0x3099, 0x30ff],
  [0x3105, 0x312f],
  [0x3131, 0x318e],
  [0x3190, 0x31e3],
  [0x31ef, 0x321e],
  [0x3220, 0x3247],
  [0x3250, 0xa48c],
  [0xa490, 0xa4c6],
  [0xa960, 0xa97c],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe52],
  [0xfe54, 0xfe66],
  [0xfe68, 0xfe6b],
  [0xff01, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x16ff0, 0x16ff1],
  [0x17000, 0x187f7],
  [0x18800, 0x18cd5],
  [0x18d00, 0x18d08],
  [0x1aff0, 0x1aff3],
  [0x1aff5, 0x1affb],
  [0x1affd, 0x1affe],
  [0x1b000, 0x1b122],
  [0x1b150, 0x1b152],
  [0x1b164, 0x1b167],
  [0x1b170, 0x1b2fb],
  [0x1d300, 0x1d356],
  [0x1d360, 0x1d376],
  [0x1f200, 0x1f200],
  [0x1f202, 0x1f202],
  [0x1f210, 0x1f219],
  [0x1f21b, 0x1f22e],
  [0x1f230, 0x1f231],
  [0x1f237, 0x1f237],
  [0x1f23b, 0x1f23b],
  [0x1f240, 0x1f248],
  [0x1f260, 0x1f265],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function inWide(cp: number): boolean {
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last] = WIDE[mid] ?? [0, -1];
    if (cp < first) hi = mid - 1;
    else if (cp > last) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Text every code point of which takes one column and starts a cluster of its own (most text in a town). */
const NARROW = /^[\u0020-\u007e\u00a0-\u00ac\u00ae-\u02ff\u2010-\u2027\u2030-\u205e\u2190-\u21ff]*$/u;
const MARK = /^[\p{Mn}\p{Me}]$/u;
const CONTROL = /^\p{Cc}$/u;
const IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u;
const WIDE_PROPERTY = /^[\p{Emoji_Presentation}\p{Ideographic}]$/u;
/** The start of a cluster drawn as an emoji when its presentation says so. */
const EMOJI_BASE = /^(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|[#*0-9](?=\uFE0F|\u20E3))/u;
/** What makes a cluster's base an emoji: its default presentation (flags' halves included), U+FE0F, a skin tone. */
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}|\uFE0F|\p{Emoji_Modifier}/u;

/** Columns one code point takes on its own (see the module's comment). */
export function codePointWidth(cp: number): number {
  const c = String.fromCodePoint(cp);
  if (CONTROL.test(c) || MARK.test(c)) return 0;
  if (inWide(cp) || WIDE_PROPERTY.test(c)) return 2;
  // Hangul vowel and final jamo join the leading consonant's two columns.
  if ((cp >= 0x1160 && cp <= 0x11ff) || (cp >= 0xd7b0 && cp <= 0xd7ff)) return 0;
  if (IGNORABLE.test(c)) return 0;
  return 1;
}

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** The grapheme clusters of `text`, in order. */
export function graphemes(text: string): string[] {
  if (NARROW.test(text)) return text.split('');
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

/** Columns one grapheme cluster takes. */
export function clusterWidth(cluster: string): number {
  if (EMOJI_BASE.test(cluster)) {
    const first = cluster.split('\u200d')[0] ?? '';
    if (EMOJI_PRESENTATION.test(first)) return 2;
    return codePointWidth(first.codePointAt(0) ?? 0);
  }
  let n = 0;
  for (const c of cluster) n += codePointWidth(c.codePointAt(0) ?? 0);
  return n;
}

/** Columns `text` takes in a terminal. */
export function termWidth(text: string): number {
  if (NARROW.test(text)) return text.length;
  let n = 0;
  for (const g of graphemes(text)) n += clusterWidth(g);
  return n;
}

/**
 * `text` in at most `n` columns: whole if it fits; otherwise cut after the last whole cluster that leaves room
 * for `ellipsis`, which follows it, padded with a space when a wide character did not fit, so that a cut text
 * takes exactly `n` columns.
 */
export function truncate(text: string, n: number, ellipsis = '\u2026'): string {
  if (n <= 0) return '';
  if (NARROW.test(text) && NARROW.test(ellipsis)) {
    if (text.length <= n) return text;
    if (ellipsis.length > n) return text.slice(0, n);
    return text.slice(0, n - ellipsis.length) + ellipsis;
  }
  const clusters = graphemes(text);
  const widths = clusters.map(clusterWidth);
  if (widths.reduce((m, w) => m + w, 0) <= n) return text;
  const mark = termWidth(ellipsis) <= n ? ellipsis : '';
  const room = n - termWidth(mark);
  let out = '';
  let used = 0;
  for (const [i, g] of clusters.entries()) {
    const w = widths[i] ?? 0;
    if (used + w > room) break;
    out += g;
    used += w;
  }
  return out + mark + ' '.repeat(room - used);
}
