import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `gt demo` works on: a generated project ("widgets") with a real test suite, and the beads of work the
 * scripted agent does on it. Each bead's description carries its script (the sim runs its first ```sh block),
 * and, where the refinery will send the work back, the script for that (```sh fix-needed, ```sh conflict).
 */

/** The project's test suite, the refinery's gate: every tests/*.sh in its own shell. */
const TEST_SH = `# The test suite: each tests/*.sh in its own shell; it fails when any of them fails.
failed=0
for t in tests/*.sh; do
  if sh "$t"; then echo "ok   $t"; else echo "FAIL $t"; failed=$((failed + 1)); fi
done
if [ "$failed" -gt 0 ]; then echo "$failed test(s) failed"; exit 1; fi
echo "all tests pass"
`;

const PARTS_TEST = `# Each part says its own number: parts/p7.txt holds "part 7".
for f in parts/p*.txt; do
  [ -e "$f" ] || continue
  n=\${f#parts/p}
  n=\${n%.txt}
  said=$(cat "$f")
  if [ "$said" != "part $n" ]; then echo "$f says \\"$said\\", not \\"part $n\\""; exit 1; fi
done
`;

const COLOURS_TEST = `# widgets.conf has one colours line: "colours:" and lower-case colour names.
if [ "$(grep -c '^colours:' widgets.conf)" != 1 ]; then echo "widgets.conf needs one colours: line"; exit 1; fi
grep -Eq '^colours:( [a-z]+)+$' widgets.conf || { echo "bad colours line: $(grep '^colours:' widgets.conf)"; exit 1; }
`;

/** Writes the project's files into `dir` (an empty git repository). */
export function writeDemoProject(dir: string): void {
  writeFileSync(
    join(dir, 'README.md'),
    '# widgets\n\nParts live in parts/ (parts/pN.txt says "part N"), their colours in widgets.conf.\n' +
      '`sh test.sh` runs the tests in tests/.\n',
  );
  writeFileSync(join(dir, 'test.sh'), TEST_SH);
  mkdirSync(join(dir, 'tests'));
  writeFileSync(join(dir, 'tests', 'parts.sh'), PARTS_TEST);
  writeFileSync(join(dir, 'tests', 'colours.sh'), COLOURS_TEST);
  writeFileSync(join(dir, 'widgets.conf'), 'colours: red\n');
}

/** The gate the demo rig's refinery runs on every batch: the project's test suite. */
export const DEMO_GATES = [{ name: 'test', argv: ['sh', 'test.sh'] }];

export type DemoBead = {
  title: string;
  description: string;
  priority: number;
  /** Indexes (into the list) of the beads it waits for. */
  after: number[];
  /** The demo kills its agent in the middle of it. */
  victim: boolean;
  /** Its first try hangs: the witness notices, nudges, then restarts its agent, whose second try finishes. */
  hangs: boolean;
};

const block = (tag: string, lines: readonly string[]): string[] => ['```' + tag, ...lines, '```'];

/** How a painter adds its colour to the colours line (the same line the other painter changes). */
const addColour = (colour: string): string =>
  `sed 's/^colours:.*/& ${colour}/' widgets.conf > widgets.conf.new && mv widgets.conf.new widgets.conf`;

/**
 * Twelve beads: two painters that change the same line (the second to land is returned as a conflict, and its
 * agent resolves it), ten parts — one of which breaks a test (its agent skipped the tests: the refinery's gate
 * finds it, bisection blames it, its agent fixes it), one whose agent the demo kills mid-work (`victimWait`
 * holds its work until the demo says go), one whose first try hangs (`hangOnce`: the rig's witness notices the
 * frozen screen, nudges, then restarts its agent in the same sandbox), and the last three wait for parts 1-3.
 */
export function demoBeads(victimWait: string, hangOnce: string): DemoBead[] {
  const paint = (colour: string): DemoBead => ({
    title: `Paint the widgets ${colour}`,
    description: [
      `Add ${colour} to the colours line of widgets.conf and keep the tests green.`,
      '',
      ...block('sh', ['sleep 1', addColour(colour), 'sh test.sh']),
      '',
      'If the refinery returns it as a conflict (someone changed the colours line meanwhile): keep theirs, add ours.',
      '',
      ...block('sh conflict', ['git checkout --theirs -- widgets.conf', addColour(colour), 'sh test.sh']),
      '',
    ].join('\n'),
    priority: 1,
    after: [],
    victim: false,
    hangs: false,
  });
  const part = (n: number): DemoBead => {
    const broken = n === 5;
    const victim = n === 6;
    const hangs = n === 7;
    return {
      title: `Make part ${n}`,
      description: [
        broken
          ? `Add parts/p${n}.txt. (Its author skips the tests: the refinery's gate will find what it breaks.)`
          : `Add parts/p${n}.txt and keep the tests green.`,
        '',
        ...block('sh', [
          victim ? victimWait : hangs ? hangOnce : 'sleep 2',
          'mkdir -p parts',
          broken ? `printf 'part five\\n' > parts/p${n}.txt` : `printf 'part ${n}\\n' > parts/p${n}.txt`,
          ...(broken ? [] : ['sh test.sh']),
        ]),
        '',
        ...(broken
          ? [
              'If the refinery returns it (a test fails): the part must say its number.',
              '',
              ...block('sh fix-needed', [`printf 'part ${n}\\n' > parts/p${n}.txt`, 'sh test.sh']),
              '',
            ]
          : []),
      ].join('\n'),
      priority: 2,
      // Parts 8-10 wait for parts 1-3 (beads 2-4: the painters come first).
      after: n >= 8 ? [n - 8 + 2] : [],
      victim,
      hangs,
    };
  };
  return [paint('blue'), paint('green'), ...Array.from({ length: 10 }, (_, i) => part(i + 1))];
}

/**
 * What the person at the keyboard asks the Mayor for, by mail. The demo's Mayor is the scripted sim, which
 * cannot split plain words into work, so under the words the request spells out its plan (src/sim/request.ts):
 * one bead per "## " heading, each with the script its polecat runs; the second waits for the first.
 */
export function demoRequest(rig: string): { subject: string; body: string } {
  return {
    subject: 'Add a health endpoint and a test for it',
    body: [
      'Please add a health endpoint to widgets, and a test that keeps it answering.',
      '',
      `rig: ${rig}`,
      '',
      '## Add a health endpoint',
      'health.txt answers "ok".',
      '',
      ...block('sh', ['sleep 1', "printf 'ok\\n' > health.txt", 'sh test.sh']),
      '',
      '## Add a test for the health endpoint',
      'tests/health.sh fails unless health.txt answers "ok".',
      '',
      ...block('sh', [
        'mkdir -p tests',
        `printf '%s\\n' '# The health endpoint answers ok.' 'test "$(cat health.txt)" = ok || { echo "health.txt does not answer ok"; exit 1; }' > tests/health.sh`,
        'sh test.sh',
      ]),
      '',
    ].join('\n'),
  };
}
