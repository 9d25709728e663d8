import { describe, expect, it } from 'vitest';
import { movingSubject, stallReport, stalledSubject } from './snapshot.js';

/** What a view that did not watch the panes takes from the daemon's reports about a stall. */
describe('stallReport', () => {
  const A = 'gastown/polecats/toast';
  const cases: [string, [string, number][], number | null][] = [
    ['no report', [], null],
    ['reported stalled', [[stalledSubject(A, 'ga-1'), 100]], 100],
    ['reported on another bead', [[stalledSubject(A, 'ga-2'), 100]], null],
    [
      'said to move again after the report: the stall is over',
      [
        [stalledSubject(A, 'ga-1'), 100],
        [movingSubject(A, 'ga-1'), 200],
      ],
      null,
    ],
    [
      'stalled again after moving again',
      [
        [stalledSubject(A, 'ga-1'), 300],
        [movingSubject(A, 'ga-1'), 200],
      ],
      300,
    ],
  ];
  for (const [what, reports, expected] of cases)
    it(what, () => {
      expect(stallReport(new Map(reports), A, 'ga-1')).toBe(expected);
    });
});
