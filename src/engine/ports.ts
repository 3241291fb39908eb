import type { Plan } from '../plan/plan.js';
import { nodeWiring } from '../runtime/veth.js';
import type { GuardedPort } from '../runtime/port-guard.js';

/** Each node's port as port security knows it: its veth's host end, its planned MAC, and the address dnsmasq pins to it. */
export const guardedPorts = (plan: Plan, addresses: Map<string, string>): GuardedPort[] =>
  plan.nodes.map((n) => ({
    hostInterface: nodeWiring(plan.name, n.spec.name).hostInterface,
    mac: n.mac,
    address: addresses.get(n.spec.name)!,
  }));
