import { ValidationError } from './errors.js';
import { parseAddress, validateName, type AgentIdentity } from './identity.js';

/** Where `gt sling` sends work: a rig (a polecat of its choosing) or one agent by address. */
export type SlingTarget = { kind: 'rig'; rig: string } | { kind: 'agent'; address: string; identity: AgentIdentity };

export function parseSlingTarget(text: string): SlingTarget {
  const t = text.trim().replace(/\/+$/u, '');
  if (t === '')
    throw new ValidationError('a sling needs a target', {
      hint: 'a rig, or an agent address such as <rig>/polecats/<name>, <rig>/crew/<name>, mayor',
    });
  if (!t.includes('/') && t !== 'mayor' && t !== 'deacon') {
    validateName('rig', t);
    return { kind: 'rig', rig: t };
  }
  const identity = parseAddress(t);
  return { kind: 'agent', address: t, identity };
}
