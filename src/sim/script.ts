/**
 * What the sim agent reads from a bead: the first fenced ```sh (or ```bash / ```shell) block of its
 * description is the work. Pure.
 */
export function firstShellBlock(description: string): string | undefined {
  const m = /^[ \t]*(`{3,}|~{3,})[ \t]*(?:sh|bash|shell)[ \t]*\r?\n([\s\S]*?)^[ \t]*\1[ \t]*$/mu.exec(description);
  if (m === null) return undefined;
  const body = m[2] ?? '';
  return body.trim() === '' ? undefined : body;
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
