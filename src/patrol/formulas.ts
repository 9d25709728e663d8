import { ValidationError } from '../core/errors.js';
import { resolveVars, substitute, type Formula } from '../core/formula.js';
import { loadFormula, type FormulaPlaces } from '../work/formula.js';

/**
 * The patrol formulas: the text each patrol role runs by (the witness of a rig, the deacon, boot). Facts come
 * from the daemon as problems; the formula says how to read them, look closer, decide, act through gt and
 * record the decision. It never asks the agent to poll: a patrol agent is woken when there is something for it,
 * and an idle town costs no model calls.
 *
 * The texts are formula files (`patrol-<role>.formula.toml`, shipped in formulas/, and changeable per town or
 * rig like any formula); their sections are rendered in order, as one text, into the agent's prime.
 */

export type PatrolRole = 'witness' | 'deacon' | 'boot';
export const PATROL_ROLES: readonly PatrolRole[] = ['witness', 'deacon', 'boot'];

export function isPatrolRole(v: string): v is PatrolRole {
  return (PATROL_ROLES as readonly string[]).includes(v);
}

export type FormulaVars = { address: string; rig?: string };

/** The formula of a patrol role. */
export function patrolFormulaName(role: PatrolRole): string {
  return `patrol-${role}`;
}

/** A formula as one text: its title as the heading, its description, then each step as a section. */
export function renderFormulaText(formula: Formula, values: Readonly<Record<string, string>>): string {
  const parts = [`# ${substitute(formula.title, values)}`];
  if (formula.description.trim() !== '') parts.push(substitute(formula.description.trim(), values));
  for (const step of formula.steps)
    parts.push(`## ${substitute(step.title, values)}\n\n${substitute(step.description.trim(), values)}`);
  return `${parts.join('\n\n')}\n`;
}

/** The patrol formula of `role` for the agent at `vars.address`, read where `places` say (default: shipped). */
export function patrolFormula(role: PatrolRole, vars: FormulaVars, places: FormulaPlaces = {}): string {
  const values: Record<string, string> = { address: vars.address };
  if (role === 'witness') {
    const rig = vars.rig ?? vars.address.split('/')[0] ?? '';
    if (rig === '' || !vars.address.includes('/'))
      throw new ValidationError(`a witness's address names its rig (<rig>/witness), not "${vars.address}"`);
    values.rig = rig;
  }
  const { formula } = loadFormula(patrolFormulaName(role), places);
  return renderFormulaText(formula, resolveVars(formula, values));
}
