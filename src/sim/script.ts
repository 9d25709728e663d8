/**
 * What the sim agent reads from a bead: the first fenced ```sh (or ```bash / ```shell) block of its
 * description is the work. A block with a word after the language (```sh conflict, ```sh fix-needed) is not the
 * work: it is what to run when the refinery sends the work back for that cause. Pure.
 */
function shellBlock(description: string, tag: string): string | undefined {
  const after = tag === '' ? '' : `[ \\t]+${tag.replace(/[^a-z0-9-]/gu, '')}`;
  const fence = new RegExp(
    `^[ \\t]*(\`{3,}|~{3,})[ \\t]*(?:sh|bash|shell)${after}[ \\t]*\\r?\\n([\\s\\S]*?)^[ \\t]*\\1[ \\t]*$`,
    'mu',
  );
  const m = fence.exec(description);
  if (m === null) return undefined;
  const body = m[2] ?? '';
  return body.trim() === '' ? undefined : body;
}

export function firstShellBlock(description: string): string | undefined {
  return shellBlock(description, '');
}

/** The ```sh <cause> block: the script for work the refinery returned for `cause` (conflict, fix-needed). */
export function returnShellBlock(description: string, cause: string): string | undefined {
  return cause === '' ? undefined : shellBlock(description, cause);
}

/** The steps the sim goes through; fault knobs name them (`--crash-at run`, `--hang-at commit`). */
export const SIM_STEPS = ['start', 'prime', 'message', 'run', 'commit', 'report'] as const;
export type SimStep = (typeof SIM_STEPS)[number];

export function isSimStep(value: string): value is SimStep {
  return (SIM_STEPS as readonly string[]).includes(value);
}

export const SIM_DIALOGS = ['trust', 'bypass'] as const;
export type SimDialog = (typeof SIM_DIALOGS)[number];

export function isSimDialog(value: string): value is SimDialog {
  return (SIM_DIALOGS as readonly string[]).includes(value);
}
