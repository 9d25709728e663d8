import { describe, expect, it } from 'vitest';
import { ago, agentRow, convoy, need, NOW, stats, townView } from '../../test/helpers/feed-views.js';
import { graphemes, termWidth } from '../core/term-width.js';
import type { FeedEvent } from './events.js';
import { feedKey, initialUi, type FeedUi } from './feed-keys.js';
import { age, cut, fit, HELP_LINES, KEYS_LINE, money, paint, renderFeed, tokens, windowOf } from './feed-render.js';
import type { TownView, UsageTotals } from './model.js';

const TOAST = 'gastown/polecats/toast';

const usage = (usd: number | null): UsageTotals => ({
  input_tokens: 12_000,
  output_tokens: 3_400,
  cache_read_tokens: 100_000,
  cache_write_tokens: 0,
  usd,
  model: 'claude-x',
});

const event = (id: number, text: string, tone: FeedEvent['tone'] = 'info', actor = 'mayor'): FeedEvent => ({
  id,
  at: ago(100 - id),
  actor,
  subject: 'ga-1',
  type: 'created',
  text,
  tone,
});

const busy: TownView = townView({
  needs: [
    need('hq-e1', {
      kind: 'escalation',
      severity: 'critical',
      subject: 'tester',
      summary: 'the disk is full',
      since: ago(600),
      agent: null,
      state: 'open',
    }),
    need('#3', {
      kind: 'problem',
      subject: TOAST,
      summary: 'stalled: no progress for 31m',
      state: 'handling',
      owner: 'gastown/witness',
      agent: TOAST,
    }),
  ],
  agents: [
    agentRow('mayor', { state: 'idle' }),
    agentRow(TOAST, {
      state: 'stalled',
      since: ago(90),
      bead: { id: 'ga-abc', title: 'Add a health endpoint', status: 'hooked' },
      branch: 'polecat/toast-ga-abc',
      usage: usage(null),
      tokens: 115_400,
    }),
    agentRow('gastown/polecats/nux', { state: 'dead-with-work', usage: usage(1.234), tokens: 115_400 }),
  ],
  queue: [
    {
      rig: 'gastown',
      stats: stats({ queued: 2, testing: 1, returned: 1, landed: 4, oldest_wait_ms: 600_000 }),
      rows: [
        {
          id: 'ga-mr1',
          title: 'Merge ga-abc: Add a thing',
          source: 'polecat/toast',
          state: 'testing',
          cause: null,
          position: 1,
          age_ms: 300_000,
          attempts: 1,
        },
        {
          id: 'ga-mr2',
          title: 'Merge ga-def: Fix it',
          source: 'polecat/nux',
          state: 'returned',
          cause: 'conflict',
          position: null,
          age_ms: 60_000,
          attempts: 2,
        },
      ],
    },
  ],
  convoys: [convoy('hq-cv1', 'health endpoint', 2, 5)],
  events: [
    event(1, 'ga-abc filed "Add a health endpoint"'),
    event(2, 'gastown/polecats/nux session ended (crashed)', 'bad', 'gastown/polecats/nux'),
  ],
});

const plain = (v: TownView | undefined, ui: FeedUi = initialUi(), w = 120, h = 30): string[] =>
  renderFeed(v, ui, { width: w, height: h, nowMs: NOW, color: false, time: (iso) => iso.slice(11, 19) });

// eslint-disable-next-line no-control-regex
const visible = (line: string): string => line.replace(/\u001b\[[\d;?]*[A-Za-z]/gu, '');

describe('the feed: rendering pieces', () => {
  it.each([
    [0, '0s'],
    [119_000, '119s'],
    [120_000, '2m'],
    [7_199_000, '119m'],
    [7_200_000, '2h'],
    [172_800_000, '2d'],
    [-5_000, '0s'],
  ])('age %i ms reads %s', (ms, text) => expect(age(ms)).toBe(text));

  it.each([
    [950, '950'],
    [1_234, '1.2k'],
    [12_345, '12k'],
    [4_500_000, '4.5M'],
    [45_000_000, '45M'],
  ])('%i tokens read %s', (n, text) => expect(tokens(n)).toBe(text));

  it('money is dollars, and unpriced (never 0) without a price', () => {
    expect([money(0), money(1.234), money(12.6), money(null)]).toEqual(['$0.00', '$1.23', '$13', 'unpriced']);
  });

  it('cuts and fits by columns: a wide character is two, and is never split', () => {
    const cjk = '\u4e2d\u6587\u6807\u9898'; // four ideographs
    expect(cut(cjk, 8)).toBe(cjk);
    expect(cut(cjk, 7)).toBe('\u4e2d\u6587\u6807\u2026');
    expect(cut(cjk, 6)).toBe('\u4e2d\u6587\u2026 ');
    const line = { segs: [{ text: cjk }, { text: 'x', tone: 'bad' as const }] };
    // Exactly full with more to come: the last column is the ellipsis, and the ideograph it displaces leaves a space.
    expect(paint(fit(line, 8), false)).toBe('\u4e2d\u6587\u6807\u2026 ');
    expect(paint(fit(line, 9), false)).toBe(`${cjk}x`);
    expect(paint(fit({ ...line, selected: true }, 12), false)).toBe(`${cjk}x   `);
  });

  it('cuts with an ellipsis, fits segments to the width, pads a selected line', () => {
    expect(cut('abcdef', 4)).toBe('abc…');
    expect(cut('abc', 4)).toBe('abc');
    expect(cut('abc', 0)).toBe('');
    const line = { segs: [{ text: 'abc' }, { text: 'def', tone: 'bad' as const }] };
    expect(paint(fit(line, 5), false)).toBe('abcd…');
    expect(paint(fit(line, 3), false)).toBe('ab…');
    expect(paint(fit(line, 6), false)).toBe('abcdef');
    expect(paint(fit({ ...line, selected: true }, 8), false)).toBe('abcdef  ');
    expect(paint(fit(line, 6), true)).toBe('abc\u001b[31mdef\u001b[0m');
    expect(paint(fit({ ...line, selected: true }, 6), true)).toBe('\u001b[7mabc\u001b[0m\u001b[7;31mdef\u001b[0m');
  });

  it('a window of rows keeps the selected one in sight', () => {
    const rows = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    expect(windowOf(rows, 20, 3)).toEqual({ rows, from: 0 });
    expect(windowOf(rows, 3, -1).rows).toEqual([0, 1, 2]);
    expect(windowOf(rows, 3, 5).rows).toEqual([4, 5, 6]);
    expect(windowOf(rows, 3, 9).rows).toEqual([7, 8, 9]);
    expect(windowOf(rows, 0, 9).rows).toEqual([]);
  });
});

describe('the feed: the screen', () => {
  it.each([
    [120, 30],
    [80, 24],
    [60, 14],
    [40, 8],
    [200, 60],
    [20, 3],
    [10, 1],
  ])('at %i×%i: exactly that many lines, none wider', (w, h) => {
    for (const color of [false, true]) {
      const lines = renderFeed(busy, initialUi(), { width: w, height: h, nowMs: NOW, color });
      expect(lines).toHaveLength(h);
      for (const l of lines) expect([...visible(l)].length).toBeLessThanOrEqual(w);
      if (!color) expect(lines.join('')).not.toContain('\u001b');
    }
  });

  describe('with wide characters (CJK, emoji, flags, a ZWJ family)', () => {
    const CJK_TITLE = '\u4fee\u590d\u767b\u5f55\u9875\u9762\u7684\u5e03\u5c40\u95ee\u9898'; // 11 ideographs
    const ROCKET = '\u{1f680}';
    const FAMILY = '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}';
    const FLAG = '\u{1f1eb}\u{1f1f7}';
    const ACCENT = 'e\u0301';
    const FULLWIDTH = '\uff27\uff41\uff53'; // fullwidth "Gas"
    const NUX = 'gastown/polecats/nux';
    const title = `${CJK_TITLE} ${ROCKET} ship ${FAMILY}${FLAG} caf${ACCENT}`;
    const wide: TownView = townView({
      needs: [
        need('hq-e1', {
          kind: 'escalation',
          severity: 'high',
          subject: `${FULLWIDTH}${CJK_TITLE}`,
          summary: `${FLAG}${FAMILY}${ROCKET} ${CJK_TITLE} ${CJK_TITLE}`,
          agent: null,
          state: 'open',
        }),
      ],
      agents: [
        agentRow(TOAST, {
          bead: { id: 'ga-abc', title, status: 'hooked' },
          branch: 'polecat/toast-ga-abc',
          usage: usage(1.5),
          tokens: 1_000,
        }),
        agentRow(NUX, {
          bead: {
            id: 'ga-def',
            title: 'an ASCII title long enough to be cut as well, and then some',
            status: 'hooked',
          },
          branch: 'polecat/nux-ga-def',
        }),
      ],
      queue: [
        {
          rig: 'gastown',
          stats: stats({ queued: 1 }),
          rows: [
            {
              id: 'ga-mr1',
              title: `Merge ga-abc: ${title}`,
              source: 'polecat/toast',
              state: 'queued',
              cause: null,
              position: 1,
              age_ms: 60_000,
              attempts: 0,
            },
          ],
        },
      ],
      convoys: [convoy('hq-cv1', `${CJK_TITLE}${FAMILY}`, 1, 3)],
      events: [
        event(1, `ga-abc filed "${title}"`),
        event(
          2,
          `${FAMILY}${FLAG}${ROCKET}${FAMILY}${FLAG}${ROCKET}${FAMILY}${FLAG}${ROCKET}${FAMILY}${FLAG}${ROCKET}`,
        ),
        event(3, `${CJK_TITLE}${ACCENT}${CJK_TITLE}${ACCENT}${CJK_TITLE}${ACCENT}${CJK_TITLE}`),
      ],
    });
    /** Every character a line may show: those of the view's texts and of the screen's own words, whole. */
    const whole = new Set(
      [title, CJK_TITLE, FULLWIDTH, FLAG, FAMILY, ROCKET, KEYS_LINE, ...HELP_LINES, ACCENT, '\u2026 \u00b7'].flatMap(
        (t) => graphemes(t),
      ),
    );

    it.each([
      [200, 40],
      [160, 30],
      [120, 30],
      [100, 24],
      [80, 24],
      [61, 14],
      [40, 10],
      [23, 6],
      [9, 3],
    ])('at %i×%i: no line is wider than the screen, a selected one is exactly as wide', (w, h) => {
      for (const color of [false, true]) {
        const lines = renderFeed(wide, initialUi(), { width: w, height: h, nowMs: NOW, color });
        expect(lines).toHaveLength(h);
        for (const l of lines) expect(termWidth(visible(l))).toBeLessThanOrEqual(w);
        const selected = lines.map(visible).filter((l) => l.startsWith('> '));
        // (A screen this low has no rows left for what needs you, where the selection starts.)
        if (h >= 14) expect(selected).toHaveLength(1);
        for (const l of selected) expect(termWidth(l)).toBe(w);
      }
    });

    it('at every width from 8 to 200, no character is split: each one shown is one of the text’s, whole', () => {
      for (let w = 8; w <= 200; w++) {
        const split = plain(wide, initialUi(), w, 24)
          .flatMap((l) => graphemes(l))
          .filter((g) => !/^[\u0020-\u007e]$/u.test(g) && !whole.has(g));
        expect({ w, split }).toEqual({ w, split: [] });
      }
    });

    it('the agents’ columns line up whatever the bead’s title is written in', () => {
      for (const w of [120, 160, 200]) {
        const lines = plain(wide, initialUi(), w, 30);
        const branchAt = (agent: string): number => {
          const l = lines.find((x) => x.includes(`${agent} `) && x.includes('polecat/')) ?? '';
          return termWidth(l.slice(0, l.indexOf('polecat/')));
        };
        expect(branchAt(TOAST)).toBeGreaterThan(0);
        expect(branchAt(TOAST)).toBe(branchAt(NUX));
      }
    });
  });

  it('shows, top to bottom: the header, what needs you, the agents, the merge queue, the convoys, the events, then the keys', () => {
    const lines = plain(busy);
    const order = ['Gas Town "test"', 'NEEDS YOU', 'AGENTS', 'MERGE QUEUE', 'CONVOYS', 'EVENTS'].map((h) =>
      lines.findIndex((l) => l.startsWith(h)),
    );
    expect(order[0]).toBe(0);
    expect(order.every((n, i) => n >= 0 && (i === 0 || n > (order[i - 1] ?? 0)))).toBe(true);
    expect(lines.at(-1)).toMatch(/^↑↓\/jk select · a attach · p peek · n nudge .* q quit$/u);
    expect(lines[0]).toMatch(
      /rig all · daemon 4242 · 3 agents \(1 idle, 1 stalled, 1 dead-with-work\) · landed today 0/u,
    );
  });

  it('needs: severity, age, kind, subject, summary, and who is on it; the top one selected', () => {
    const lines = plain(busy);
    expect(lines).toContain(`NEEDS YOU  2, most severe and oldest first`);
    const esc = lines.find((l) => l.includes('the disk is full')) ?? '';
    expect(esc).toMatch(/^> critical\s+10m escalation\s+tester\s+the disk is full\s*$/u);
    expect(lines.find((l) => l.includes('stalled: no progress'))).toMatch(
      new RegExp(
        `^  medium\\s+2m problem\\s+${TOAST} stalled: no progress for 31m \\(handling, gastown/witness\\)$`,
        'u',
      ),
    );
    expect(plain(townView())).toContain('NEEDS YOU  nothing');
  });

  it('agents: address, state and for how long, bead, branch, activity, tokens, and cost or unpriced', () => {
    const lines = plain(busy, initialUi(), 160);
    const toast = lines.find((l) => l.includes(`${TOAST} `) && l.includes('ga-abc')) ?? '';
    expect(toast).toMatch(
      new RegExp(
        `^  ${TOAST} stalled\\s+90s ga-abc Add a health endpoint\\s+polecat/toast-ga-abc\\s+5s\\s+115k unpriced`,
        'u',
      ),
    );
    expect(lines.find((l) => l.includes('gastown/polecats/nux') && l.includes('dead-with-work'))).toMatch(
      /115k \$1\.23\s*$/u,
    );
    // No usage known anywhere (no costs source): no usage columns at all.
    const bare = plain(townView({ agents: [agentRow('mayor', { state: 'idle' })] }));
    expect(bare.find((l) => l.includes('mayor') && l.includes('idle'))).toMatch(/^> mayor\s+idle\s+5m -\s+-\s+5s\s*$/u);
  });

  it('the merge queue: per rig its numbers, then the next requests; convoys with their progress', () => {
    const lines = plain(busy);
    expect(lines).toContain('  gastown        2 queued · 1 testing · 1 returned · landed today 4 · oldest waits 10m');
    expect(lines).toContain('     1. ga-mr1       testing    5m Add a thing polecat/toast');
    expect(lines).toContain('        ga-mr2       returned  60s Fix it (conflict) polecat/nux');
    expect(lines).toContain('  hq-cv1       health endpoint [####......] 2/5 merged · 3 working');
    expect(plain(townView({ convoys: [convoy('hq-cv2', 'done', 3, 3, { landed_at: ago(60) })] }))).toContain(
      '  hq-cv2       done     [##########] 3/3 merged · landed',
    );
  });

  it('events: newest at the bottom, the actor left out when the text names it', () => {
    const lines = plain(busy);
    const at = lines.findIndex((l) => l.startsWith('EVENTS'));
    expect(lines.slice(at + 1, at + 3)).toEqual([
      '11:58:21 mayor ga-abc filed "Add a health endpoint"',
      '11:58:22 gastown/polecats/nux session ended (crashed)',
    ]);
    // Too many for the screen: the newest are kept.
    const many = townView({ events: Array.from({ length: 100 }, (_, i) => event(i + 1, `event ${i + 1}`)) });
    const shown = plain(many, initialUi(), 80, 20).filter((l) => l.includes('mayor event'));
    expect(shown.at(-1)).toMatch(/mayor event 100$/u);
    expect(shown.length).toBeGreaterThan(5);
  });

  it('a small screen gives the lower sections fewer rows first, and says how many are shown', () => {
    const crowd = townView({
      ...busy,
      agents: Array.from({ length: 30 }, (_, i) => agentRow(`gastown/polecats/p${String(i).padStart(2, '0')}`)),
    });
    const lines = plain(crowd, initialUi(), 100, 24);
    expect(lines.find((l) => l.startsWith('AGENTS'))).toMatch(/AGENTS {2}30 {2}\(\d+ of 30 rows shown\)/u);
    expect(lines.some((l) => l.startsWith('EVENTS'))).toBe(true);
    // The selection stays in sight when it moves past the rows shown.
    let ui = initialUi();
    for (let i = 0; i < 25; i++) ui = feedKey(ui, { name: 'down' }, crowd).ui;
    expect(plain(crowd, ui, 100, 24).some((l) => l.startsWith('> gastown/polecats/p23'))).toBe(true);
  });

  it('colours by tone and state only when asked: red for a death, inverse for the selection', () => {
    const lines = renderFeed(busy, initialUi(), { width: 120, height: 30, nowMs: NOW, color: true });
    expect(lines.find((l) => l.includes('gastown/polecats/nux'))).toContain('\u001b[31mdead-with-work');
    expect(lines.find((l) => l.includes('the disk is full'))).toContain('\u001b[7;1;31mcritical');
    expect(lines.find((l) => l.includes('session ended (crashed)'))).toContain(
      '\u001b[31mgastown/polecats/nux session ended',
    );
  });

  it('text from the town cannot move the cursor or change colours', () => {
    const evil = townView({
      agents: [agentRow(TOAST, { bead: { id: 'ga-1', title: 'x\u001b[2J\u001b[31my\nz', status: 'hooked' } })],
    });
    const screen = plain(evil).join('\n');
    expect(screen).not.toContain('\u001b');
    expect(screen).toContain('x?[2J?[31my z');
  });

  it('the bottom lines: the prompt being typed, the question asked, the last result', () => {
    const onToast = feedKey(initialUi(), { name: 'down' }, busy).ui;
    const typing = { ...onToast, mode: { kind: 'prompt' as const, agent: TOAST, text: 'look up' } };
    expect(plain(busy, typing).at(-1)).toBe(`nudge ${TOAST}: look up_  (Enter sends, Esc cancels)`);
    const asking = { ...onToast, mode: { kind: 'confirm' as const, action: 'restart' as const, agent: TOAST } };
    expect(plain(busy, asking).at(-1)).toBe(`restart the session of ${TOAST}? y/n`);
    const done = { ...onToast, status: { text: `queued for ${TOAST} (busy)`, tone: 'good' as const } };
    expect(plain(busy, done).at(-2)).toBe(`queued for ${TOAST} (busy)`);
  });

  it('the bottom panel shows a peeked pane (its last lines) or the help instead of the events', () => {
    const pane = Array.from({ length: 40 }, (_, i) => `pane line ${i + 1}`).join('\n');
    const peeking = { ...initialUi(), peek: { agent: TOAST, text: pane } };
    const lines = plain(busy, peeking);
    expect(lines.some((l) => l.startsWith(`PEEK ${TOAST}`))).toBe(true);
    expect(lines.some((l) => l.startsWith('EVENTS'))).toBe(false);
    expect(lines.filter((l) => l.startsWith('pane line')).at(-1)).toBe('pane line 40');
    const help = plain(busy, { ...initialUi(), help: true });
    expect(help.some((l) => l.startsWith('KEYS'))).toBe(true);
    expect(help.some((l) => l.startsWith('n: nudge'))).toBe(true);
  });

  it('before the first view: a line saying it is reading the town', () => {
    const lines = plain(undefined, initialUi(), 80, 10);
    expect(lines[0]).toBe('Gas Town feed · reading the town…');
    expect(lines).toHaveLength(10);
  });

  it('the header names the rig shown, a town that is down, a daemon not running, and today’s costs', () => {
    const v = townView({
      down: true,
      daemon: { running: false, pid: null },
      costs: { since: ago(3600), totals: usage(null), agents: 2 },
    });
    expect(plain(v, initialUi('gastown', ['gastown']), 200)[0]).toMatch(
      /rig gastown · daemon not running · DOWN \(gt up starts it\) · 0 agents · landed today 0 · today 115k tokens unpriced/u,
    );
  });
});
