import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** Whether `command` is an executable on `path` (or an executable path itself); no process is started. */
export function onPath(command: string, path: string | undefined): boolean {
  const candidates = command.includes('/')
    ? [isAbsolute(command) ? command : resolve(command)]
    : (path ?? '')
        .split(delimiter)
        .filter((d) => d !== '')
        .map((d) => join(d, command));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}
