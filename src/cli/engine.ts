import type { Engine } from '../engine/context.js';
import { composeEngine, settings } from '../compose.js';
import { outputSettings, verbose, warn } from './output.js';

export { settings } from '../compose.js';

/** The engine for a command: with --verbose, every engine call and host command is told as it ends. */
export const createEngine = (): Promise<Engine> =>
  composeEngine(settings(), outputSettings().verbose ? verbose : undefined, (message) => warn(message));
