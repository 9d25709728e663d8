import { describe, expect, it } from 'vitest';
import { openSqliteBeadStore } from '../store/sqlite-bead-store.js';
import { returnedWork } from './returned.js';

describe('returnedWork', () => {
  it("reads a refinery task's request and the script its source has for the cause", async () => {
    const store = openSqliteBeadStore(':memory:', { create: true });
    try {
      const source = await store.create(
        {
          title: 'Paint it',
          description: '```sh\necho blue > c.txt\n```\n\n```sh conflict\ngit checkout --theirs -- c.txt\n```\n',
        },
        'mayor',
      );
      const mr = await store.create(
        {
          title: `Merge ${source.id}: Paint it`,
          issue_type: 'merge-request',
          metadata: { branch: 'polecat/a/x@1', target: 'main', rig: 'r', source_bead: source.id, commit: 'c0ffee' },
        },
        'mayor',
      );
      const task = { metadata: { mq_fix_for: mr.id, cause: 'conflict', branch: 'polecat/a/x@1' } };
      expect(await returnedWork(store, task)).toEqual({
        request: mr.id,
        branch: 'polecat/a/x@1',
        target: 'main',
        cause: 'conflict',
        script: 'git checkout --theirs -- c.txt\n',
      });
      // No script for another cause; not the refinery's task; a request that is gone.
      expect(
        (await returnedWork(store, { metadata: { ...task.metadata, cause: 'fix-needed' } }))?.script,
      ).toBeUndefined();
      expect(await returnedWork(store, { metadata: {} })).toBeUndefined();
      expect(await returnedWork(store, { metadata: { mq_fix_for: 'nope-123' } })).toBeUndefined();
    } finally {
      store.dispose();
    }
  });
});
