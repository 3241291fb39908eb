import type { Images } from '../runtime/images.js';
import type { NodeBackend } from '../runtime/backend.js';
import type { FactAccess, Facts } from '../facts/store.js';
import type { HostWiring, RigNetworks, RigRegistry, Sidecars } from '../runtime/runtime.js';
import type { BackendKind } from '../rigfile/types.js';

/** What the engine works with, by role; built in compose.ts (the fake in test/unit) and passed in. */
export interface Engine {
  rigs: RigRegistry; // where rigs are found and marked, by their labels
  network: RigNetworks; // a rig's L2 segment and its port guard
  sidecars: Sidecars; // the rig's dnsmasq and etcd
  wiring: HostWiring; // the host ends of the veths of nodes wired by this host
  /** Connect to a rig's etcd (as root with a password; without, only to turn its auth on). */
  facts(access: FactAccess): Promise<Facts>;
  images: Images;
  /** The node backends, by kind (see runtime/kinds.ts); one that is not available here is missing. */
  backends: Partial<Record<BackendKind, NodeBackend>>;
}

/** A step of a long operation: shown as a task with progress lines, or as a group of tasks running at once. */
export interface Step {
  title: string;
  run?: (report: (line: string) => void) => Promise<void>;
  concurrent?: () => Step[]; // computed when the step starts
  skip?: () => boolean | Promise<boolean>;
}
