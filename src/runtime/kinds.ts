import type { BackendDeclaration } from './kind.js';
import { dockerKind } from './docker/kind.js';
import { lxcKind } from './lxc/kind.js';
import { lxdKind } from './lxd/kind.js';

/**
 * The backends rig has, by what each declares of itself (the first is a node's default). Adding one: a folder under
 * runtime/ with its NodeBackend and its kind.ts, its entry here, and its factory in compose.ts (the type checker asks).
 */
export const BACKENDS = [dockerKind, lxcKind, lxdKind] as const;

/** A backend as the rig file names it. */
export type BackendKind = (typeof BACKENDS)[number]['kind'];

export const BACKEND_KINDS: readonly BackendKind[] = BACKENDS.map((b) => b.kind);

export const DEFAULT_BACKEND: BackendKind = BACKENDS[0].kind;

export const declarationOf = (kind: BackendKind): BackendDeclaration<BackendKind> => BACKENDS.find((b) => b.kind === kind)!;
