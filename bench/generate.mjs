// Deterministic synthetic ledgers for benchmarks: a realistic mix of statuses, epics with children,
// blocking edges from newer to older beads (acyclic by construction) and labels.

/** A small seeded PRNG so every run benchmarks the same ledger. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function beadId(prefix, i) {
  return `${prefix}-${i.toString(36).padStart(4, '0')}`;
}

export function generateLedger(count, { prefix = 'bench', seed = 42, openShare = 0.6 } = {}) {
  const rand = rng(seed);
  const start = Date.UTC(2026, 0, 1);
  const lines = [];
  const epics = [];
  for (let i = 0; i < count; i++) {
    const id = beadId(prefix, i);
    const r = rand();
    const status =
      r < openShare ? 'open' : r < openShare + 0.1 ? 'in_progress' : r < openShare + 0.12 ? 'blocked' : 'closed';
    const isEpic = i % 20 === 0;
    const created = new Date(start + i * 60_000).toISOString();
    const bead = {
      id,
      title: `Bench bead ${i}: ${isEpic ? 'an epic of work' : 'a unit of work'}`,
      description: `Generated for benchmarks. Bead number ${i}.\n\nSome more text to make rows realistic.`,
      status,
      priority: Math.floor(rand() * 5),
      issue_type: isEpic ? 'epic' : rand() < 0.2 ? 'bug' : 'task',
      created_at: created,
      updated_at: created,
    };
    if (status === 'closed') bead.closed_at = created;
    if (status === 'in_progress') bead.assignee = `worker-${i % 30}`;
    if (rand() < 0.3) bead.labels = [`area-${i % 7}`];
    const deps = [];
    if (isEpic) epics.push(id);
    else if (epics.length > 0 && rand() < 0.5) {
      deps.push({
        issue_id: id,
        depends_on_id: epics[epics.length - 1],
        type: 'parent-child',
        created_at: created,
        created_by: 'bench',
      });
    }
    if (i > 10 && rand() < 0.3) {
      const target = beadId(prefix, Math.floor(rand() * i));
      if (!deps.some((d) => d.depends_on_id === target))
        deps.push({ issue_id: id, depends_on_id: target, type: 'blocks', created_at: created, created_by: 'bench' });
    }
    if (deps.length > 0) bead.dependencies = deps;
    lines.push(JSON.stringify(bead));
  }
  return `${lines.join('\n')}\n`;
}
