/**
 * How the sim, standing in for the Mayor, reads a request. It is not AI and cannot split plain words into
 * work, so the request spells its plan out: each `## <title>` heading of the body starts one bead, and the
 * text under it (with the ```sh block the sim polecat will run) is that bead's description. Each bead waits
 * for the one before it, in order. A `rig: <name>` line before the first heading names the rig; without one
 * the town's only rig is meant. Pure.
 */

export type PlannedBead = { title: string; description: string };

export type RequestPlan = { rig: string | null; beads: PlannedBead[] };

export function parseRequestPlan(body: string): RequestPlan {
  const lines = body.replace(/\r\n/gu, '\n').split('\n');
  let rig: string | null = null;
  const beads: PlannedBead[] = [];
  let current: { title: string; lines: string[] } | null = null;
  let fence: string | null = null;
  const flush = (): void => {
    if (current !== null && current.title !== '')
      beads.push({ title: current.title, description: current.lines.join('\n').trim() });
  };
  for (const line of lines) {
    // A heading inside a fenced block is part of the script, not a new bead.
    const marker = /^[ \t]*(`{3,}|~{3,})/u.exec(line)?.[1];
    if (marker !== undefined) {
      if (fence === null) fence = marker;
      else if (marker.startsWith(fence)) fence = null;
    }
    const heading = fence === null ? /^##[ \t]+(.+?)[ \t]*$/u.exec(line) : null;
    if (heading !== null) {
      flush();
      current = { title: heading[1] ?? '', lines: [] };
      continue;
    }
    if (current !== null) {
      current.lines.push(line);
      continue;
    }
    const named = /^[ \t]*rig:[ \t]*([A-Za-z0-9][A-Za-z0-9_-]*)[ \t]*$/iu.exec(line);
    if (named !== null) rig = named[1] ?? null;
  }
  flush();
  return { rig, beads };
}
