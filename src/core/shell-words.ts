/**
 * A reading of a shell command line into its simple commands, each as argv words with the quoting taken off.
 * Not a shell: no expansion, no aliases, no functions. It is made for guards, so it errs towards finding a
 * command: the commands inside `$(…)`, backquotes, `(…)` and process substitutions are listed too, every line
 * of a here-document body is read as a command, and text it cannot make sense of is still split into words.
 *
 *   shellCommands('cd a && git push 2>&1 | tee log')  →  [['cd', 'a'], ['git', 'push'], ['tee', 'log']]
 */
export function shellCommands(text: string): string[][] {
  const out: string[][] = [];
  new Reader(text, out).read(0, null);
  return out;
}

type Closer = ')' | '`' | null;

class Reader {
  readonly #text: string;
  readonly #out: string[][];

  constructor(text: string, out: string[][]) {
    this.#text = text;
    this.#out = out;
  }

  /** Reads commands from `start` up to the closer (or the end); returns the index after the closer. */
  read(start: number, closer: Closer): number {
    const t = this.#text;
    let words: string[] = [];
    let word: string | null = null;
    // The word after a redirection is its target (a file), not an argument.
    let target = false;
    const endWord = (): void => {
      if (word === null) return;
      if (target) target = false;
      else words.push(word);
      word = null;
    };
    const endCommand = (): void => {
      endWord();
      target = false;
      if (words.length > 0) this.#out.push(words);
      words = [];
    };
    let i = start;
    while (i < t.length) {
      const c = t[i] ?? '';
      if (c === closer) {
        endCommand();
        return i + 1;
      }
      if (c === ' ' || c === '\t') {
        endWord();
        i++;
      } else if (c === '\n' || c === ';' || c === '|') {
        endCommand();
        i++;
      } else if (c === '&') {
        if (t[i + 1] === '>') {
          // &> and &>>: both streams to a file
          endWord();
          i += t[i + 2] === '>' ? 3 : 2;
          target = true;
        } else {
          endCommand();
          i++;
        }
      } else if (c === '(') {
        endCommand();
        i = this.read(i + 1, ')');
      } else if (c === ')') {
        endCommand(); // a stray closer
        i++;
      } else if (c === '#' && word === null) {
        while (i < t.length && t[i] !== '\n') i++;
      } else if (c === '<' || c === '>') {
        if (word !== null && /^[0-9]+$/.test(word)) word = null; // the descriptor of `2>file`
        endWord();
        while (t[i] === '<' || t[i] === '>') i++;
        if (t[i] === '(') {
          i = this.read(i + 1, ')'); // <(…) and >(…)
        } else if (t[i] === '&') {
          i++;
          while (i < t.length && /[0-9-]/.test(t[i] ?? '')) i++; // 2>&1, <&-
        } else if (t[i] === '|') {
          i++;
          target = true;
        } else target = true;
      } else if (c === '\\') {
        if (t[i + 1] === '\n') i += 2;
        else {
          word = (word ?? '') + (t[i + 1] ?? '');
          i += 2;
        }
      } else if (c === "'") {
        const end = t.indexOf("'", i + 1);
        const stop = end === -1 ? t.length : end;
        word = (word ?? '') + t.slice(i + 1, stop);
        i = stop + 1;
      } else if (c === '"') {
        const r = this.#doubleQuoted(i + 1);
        word = (word ?? '') + r.text;
        i = r.next;
      } else if (c === '$' && t[i + 1] === '(') {
        word = word ?? '';
        i = this.read(i + 2, ')');
      } else if (c === '`') {
        word = word ?? '';
        i = this.read(i + 1, '`');
      } else {
        word = (word ?? '') + c;
        i++;
      }
    }
    endCommand();
    return i;
  }

  /** A double-quoted string from `start` (after the quote): its text, and the index after the closing quote. */
  #doubleQuoted(start: number): { text: string; next: number } {
    const t = this.#text;
    let text = '';
    let i = start;
    while (i < t.length) {
      const c = t[i] ?? '';
      if (c === '"') return { text, next: i + 1 };
      if (c === '\\' && '$`"\\\n'.includes(t[i + 1] ?? '')) {
        if (t[i + 1] !== '\n') text += t[i + 1] ?? '';
        i += 2;
      } else if (c === '$' && t[i + 1] === '(') {
        i = this.read(i + 2, ')');
      } else if (c === '`') {
        i = this.read(i + 1, '`');
      } else {
        text += c;
        i++;
      }
    }
    return { text, next: i };
  }
}
