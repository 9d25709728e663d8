/**
 * The conflicting regions of a file as git's merge writes it (with <<<<<<< ======= >>>>>>> markers), for the
 * task that sends a conflict back: each region with `context` lines around it, at most `maxLines` lines in all
 * (then a line saying how many were left out). Pure text; an empty string when the file has no markers.
 */
export function conflictHunks(text: string, options: { context?: number; maxLines?: number } = {}): string {
  const context = options.context ?? 2;
  const maxLines = options.maxLines ?? 40;
  const lines = text.split('\n');
  const regions: [number, number][] = [];
  let start = -1;
  for (const [i, line] of lines.entries()) {
    if (line.startsWith('<<<<<<< ') || line === '<<<<<<<') start = i;
    else if ((line.startsWith('>>>>>>> ') || line === '>>>>>>>') && start >= 0) {
      const from = Math.max(0, start - context);
      const to = Math.min(lines.length - 1, i + context);
      const last = regions.at(-1);
      if (last !== undefined && from <= last[1] + 1) last[1] = to;
      else regions.push([from, to]);
      start = -1;
    }
  }
  const out: string[] = [];
  let left = 0;
  for (const [from, to] of regions) {
    const block = [`@@ line ${from + 1} @@`, ...lines.slice(from, to + 1)];
    if (out.length + block.length > maxLines) {
      left += block.length - 1;
      continue;
    }
    out.push(...block);
  }
  if (left > 0) out.push(`… ${left} more line(s) of conflicts not shown`);
  return out.join('\n');
}
