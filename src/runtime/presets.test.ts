import { describe, expect, it } from 'vitest';
import { classifyPane } from '../core/pane.js';
import { paneProfile, PRESETS } from './presets.js';

/**
 * Claude Code's screens as its 2.1 release draws them (the words are the CLI's own), read with the claude
 * preset: what waits for a person is a question, what the agent only printed is not.
 */

const preset = PRESETS.claude;
if (preset === undefined) throw new Error('no claude preset');
const claude = paneProfile(preset);
const prompt =
  '\u256d\u2500\u2500\u2500\u256e\n\u2502 \u276f\u00a0 \u2502\n\u2570\u2500\u2500\u2500\u256f\n  ? for shortcuts\n';

describe('the claude preset reads Claude Code 2.1 screens', () => {
  const limits = [
    "\u23bf You've hit your usage limit \u00b7 resets 3pm (Europe/Berlin)",
    "\u23bf You've hit your weekly limit \u00b7 resets Dec 5, 3pm (Europe/Berlin)",
    "\u23bf You've hit your Opus limit \u00b7 resets 11:30am (America/New_York)",
    "\u23bf You're out of usage credits \u00b7 resets 3pm (UTC)",
    '\u23bf Claude usage limit reached. Your limit will reset at 3pm',
  ];
  for (const line of limits)
    it(`a usage limit above the prompt: ${line}`, () => {
      expect(classifyPane(`\u25cf Working on it\n${line}\n\n${prompt}`, claude)).toEqual({
        kind: 'question',
        question: 'usage-limit',
        text: line,
      });
    });

  it('its permission question, with the prompt box gone and its own key hints below', () => {
    const screen =
      '\u25cf Bash(touch x)\n  \u23bf  Waiting\u2026\n\n Bash command\n\n   touch x\n\n Do you want to proceed?\n' +
      ' \u276f 1. Yes\n   2. Yes, and always allow access to x/ from this project\n   3. No\n\n' +
      ' Esc to cancel \u00b7 Tab to amend \u00b7 ctrl+e to explain\n';
    expect(classifyPane(screen, claude)).toMatchObject({ kind: 'question', question: 'permission' });
  });

  it('the menu it may open at a limit is a question for a person (a key there can buy usage credits)', () => {
    const screen =
      "\u23bf You've hit your usage limit \u00b7 resets 3pm (Europe/Berlin)\n\n What do you want to do?\n" +
      ' \u276f 1. Stop and wait for limit to reset\n   2. Switch to usage credits\n   3. Upgrade your plan\n';
    expect(classifyPane(screen, claude)).toMatchObject({ kind: 'question', question: 'usage-limit-options' });
  });

  it('the same words in what the agent prints while it works, or above its prompt once done, are no question', () => {
    const printed = '\u25cf The menu asks "Do you want to continue?" with 1. Yes and 2. No\n';
    expect(classifyPane(`${printed}\u273b Thinking\u2026 (3s)\n${prompt}  esc to interrupt\n`, claude)).toEqual({
      kind: 'busy',
    });
    expect(classifyPane(`\u25cf Do you want to keep it?\n  1. Yes\n${prompt}`, claude)).toEqual({
      kind: 'idle',
      input: '',
    });
    const rate = '\u25cf When the rate limit reached its cap the client waited.\n\u25cf Its counter resets hourly.\n';
    expect(classifyPane(`${rate}${prompt}`, claude)).toEqual({ kind: 'idle', input: '' });
  });
});
