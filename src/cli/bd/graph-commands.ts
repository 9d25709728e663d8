import type { Command } from 'commander';
import type { Direction, LabelChange } from '../../core/bead-store.js';
import { UsageError } from '../../core/errors.js';
import { readTextArg, type Io } from '../io.js';
import { emitJson, globals, intOption, resolveActor, withStore } from './context.js';
import { commentText, line, listLine, treeJson, treeText, viewJson } from './render.js';

type Opts = Record<string, unknown>;

function direction(value: unknown): Direction {
  if (value === undefined || value === 'down') return 'down';
  if (value === 'up') return 'up';
  throw new UsageError(
    `invalid direction "${typeof value === 'string' ? value : typeof value}": expected down (what it depends on) or up (what depends on it)`,
  );
}

export function registerGraphCommands(program: Command, io: Io, wants: (name: string) => boolean): void {
  if (wants('dep')) {
    const dep = program.command('dep').description('dependencies between beads: "A depends on B" means B blocks A');

    dep
      .command('add')
      .description('make <issue> depend on <depends-on>')
      .argument('<issue>', 'the dependent bead')
      .argument('<depends-on>', 'the bead it waits for')
      .option(
        '-t, --type <type>',
        'blocks, parent-child, related, discovered-from, caused-by, supersedes, tracks, waits-for, …',
        'blocks',
      )
      .action(async (issue: string, target: string, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const change = await store.addDependency(
            issue,
            target,
            typeof o.type === 'string' ? o.type : 'blocks',
            await resolveActor(io, g),
          );
          if (g.json) emitJson(io, change);
          else if (change.status === 'unchanged') io.out(`${issue} already depends on ${target} (${change.type})\n`);
          else io.out(`✓ Added dependency: ${issue} depends on ${target} (${change.type})\n`);
        });
      });

    dep
      .command('remove')
      .alias('rm')
      .description('remove the dependency of <issue> on <depends-on>')
      .argument('<issue>')
      .argument('<depends-on>')
      .action(async (issue: string, target: string, _o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const change = await store.removeDependency(issue, target, await resolveActor(io, g));
          if (g.json) emitJson(io, change);
          else io.out(`✓ Removed dependency: ${issue} no longer depends on ${target} (${change.type})\n`);
        });
      });

    dep
      .command('list')
      .description('what a bead depends on (down) or what depends on it (up)')
      .argument('<id>')
      .option('--direction <dir>', 'down or up', 'down')
      .action(async (id: string, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const views = await store.dependencies(id, direction(o.direction));
          if (g.json) emitJson(io, views.map(viewJson));
          else if (views.length === 0)
            io.out(`${id} has no ${direction(o.direction) === 'down' ? 'dependencies' : 'dependents'}.\n`);
          else for (const v of views) io.out(listLine(v, ` (${v.dependency_type})`));
        });
      });

    dep
      .command('tree')
      .description('the dependency tree below (or above) a bead')
      .argument('<id>')
      .option('--direction <dir>', 'down or up', 'down')
      .option('-d, --max-depth <n>', 'how deep to go', '50')
      .action(async (id: string, o: Opts, cmd: Command) => {
        const g = globals(cmd);
        const depth = intOption(typeof o.maxDepth === 'string' ? o.maxDepth : '50', '--max-depth');
        await withStore(io, g, async (store) => {
          const nodes = await store.dependencyTree(id, direction(o.direction), depth);
          if (g.json) emitJson(io, treeJson(nodes));
          else io.out(treeText(nodes));
        });
      });
  }

  if (wants('label')) {
    const label = program.command('label').description('labels on beads');
    for (const verb of ['add', 'remove'] as const) {
      const sub = label
        .command(verb)
        .description(`${verb} a label: bd label ${verb} <id...> <label>`)
        .argument('<ids-and-label...>');
      if (verb === 'remove') sub.alias('rm');
      sub.action(async (args: string[], _o: Opts, cmd: Command) => {
        const { ids, labelName } = idsAndLabel(args);
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const actor = await resolveActor(io, g);
          const changes =
            verb === 'add'
              ? await store.addLabels(ids, [labelName], actor)
              : await store.removeLabels(ids, [labelName], actor);
          if (g.json) emitJson(io, changes);
          else for (const c of changes) io.out(`${labelChangeText(c)}\n`);
        });
      });
    }
    label
      .command('list')
      .description("a bead's labels, or every label in use when no id is given")
      .argument('[id]')
      .action(async (id: string | undefined, _o: Opts, cmd: Command) => {
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          if (id === undefined) {
            const all = await store.allLabels();
            if (g.json) emitJson(io, all);
            else for (const l of all) io.out(`${line(l.label)} (${l.count})\n`);
          } else {
            const labels = await store.labels(id);
            if (g.json) emitJson(io, labels);
            else io.out(labels.length === 0 ? `${id} has no labels.\n` : `${labels.map(line).join('\n')}\n`);
          }
        });
      });
  }

  const addComment = async (id: string, textArg: string | undefined, o: Opts, cmd: Command): Promise<void> => {
    const g = globals(cmd);
    const file = typeof o.file === 'string' ? o.file : undefined;
    if ((textArg === undefined) === (file === undefined))
      throw new UsageError('give the comment text as an argument or with --file <path|->, not both');
    const text = textArg ?? readTextArg(io, file ?? '-');
    await withStore(io, g, async (store) => {
      const comment = await store.addComment(id, text, await resolveActor(io, g));
      if (g.json) emitJson(io, comment);
      else io.out(`✓ Comment added to ${id}\n`);
    });
  };

  if (wants('comment')) {
    const comment = program.command('comment').description('comments on beads');
    addCommentCommand(comment, addComment);
  }

  if (wants('comments')) {
    const comments = program
      .command('comments')
      .description("a bead's comments (or: bd comments add <id> <text>)")
      .argument('[id]')
      .action(async (id: string | undefined, _o: Opts, cmd: Command) => {
        if (id === undefined) throw new UsageError('which bead? bd comments <id>');
        const g = globals(cmd);
        await withStore(io, g, async (store) => {
          const list = await store.comments(id);
          if (g.json) emitJson(io, list);
          else io.out(list.length === 0 ? `${id} has no comments.\n` : `${list.map(commentText).join('\n')}\n`);
        });
      });
    addCommentCommand(comments, addComment);
  }
}

/** `add <id> [text]` under `comment` and under `comments` (beads has both spellings). */
function addCommentCommand(
  parent: Command,
  action: (id: string, text: string | undefined, o: Opts, cmd: Command) => Promise<void>,
): void {
  parent
    .command('add')
    .description('add a comment to a bead')
    .argument('<id>')
    .argument('[text]')
    .option('-f, --file <path>', 'read the text from a file, or - for stdin')
    .action(action);
}

function idsAndLabel(args: readonly string[]): { ids: string[]; labelName: string } {
  if (args.length < 2) throw new UsageError('expected one or more bead ids followed by a label');
  return { ids: args.slice(0, -1), labelName: args[args.length - 1] ?? '' };
}

function labelChangeText(c: LabelChange): string {
  const label = line(c.label);
  switch (c.status) {
    case 'added':
      return `✓ Added label '${label}' to ${c.issue_id}`;
    case 'removed':
      return `✓ Removed label '${label}' from ${c.issue_id}`;
    case 'unchanged':
      return `${c.issue_id}: label '${label}' unchanged`;
  }
}
