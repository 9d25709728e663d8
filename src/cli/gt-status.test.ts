import { describe, expect, it } from 'vitest';
import { overseerMailLine } from './gt-status.js';

describe("gt status: the overseer's mail", () => {
  it('says nothing when all is read', () => {
    expect(overseerMailLine({ unread: 0, newest: [] })).toBeNull();
  });

  it('counts the unread and names the newest, with who wrote and how urgent', () => {
    const at = '2026-12-01T00:00:00Z';
    expect(
      overseerMailLine({
        unread: 4,
        newest: [
          { id: 'hq-3', from: 'mayor', from_name: null, subject: 'Convoy landed', priority: 'normal', sent_at: at },
          {
            id: 'hq-2',
            from: 'overseer',
            from_name: 'Ada',
            subject: 'note\u001b[2J\nnext',
            priority: 'urgent',
            sent_at: at,
          },
        ],
      }),
    ).toBe(
      'Mail for you (overseer): 4 unread · newest: hq-3 "Convoy landed" from mayor; hq-2 "note\\x1b[2J next" from overseer (Ada) [urgent] · gt mail inbox',
    );
  });
});
