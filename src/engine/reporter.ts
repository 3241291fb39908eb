import { ExitCode, RigError } from '../errors.js';
import type { Step } from './context.js';

/** What an interrupted operation says last (exit 130): "Interrupted; <what>." */
export const interruptedError = (what: string) => new RigError(`Interrupted; ${what}.`, undefined, ExitCode.interrupted);

/**
 * Interrupts of an operation at work (up, a reconcile), as its caller catches them: the first calls the listeners
 * (which stop what is going on and clean up). `release` hands them back to the caller.
 */
export interface Interrupts {
  readonly signal?: NodeJS.Signals;
  on(listener: (signal: NodeJS.Signals) => void): void;
  release(): void;
}

/**
 * What the engine's long operations tell their caller and take from it: the CLI shows progress, notes and warnings,
 * and catches SIGINT and SIGTERM; rig as a library runs its steps quietly.
 */
export interface Reporter {
  runSteps(steps: Step[]): Promise<void>;
  note(message: string): void;
  warn(message: string): void;
  /** Interrupts caught while an operation works, until it releases them. */
  interrupts(): Interrupts;
}

/**
 * SIGINT and SIGTERM of this process, caught while `up` or `run` works: the first calls the listeners; a second
 * leaves at once (exit 130), and the reaper, still armed, finishes. For a caller to pass in a Reporter: the engine
 * never catches signals of its own accord.
 */
export class ProcessInterrupts implements Interrupts {
  private listeners: Array<(signal: NodeJS.Signals) => void> = [];
  signal?: NodeJS.Signals;

  constructor() {
    process.on('SIGINT', this.handle);
    process.on('SIGTERM', this.handle);
  }

  private handle = (signal: NodeJS.Signals) => {
    if (this.signal) process.exit(ExitCode.interrupted);
    this.signal = signal;
    for (const listener of this.listeners) listener(signal);
  };

  on(listener: (signal: NodeJS.Signals) => void): void {
    this.listeners.push(listener);
    if (this.signal) listener(this.signal);
  }

  release(): void {
    process.off('SIGINT', this.handle);
    process.off('SIGTERM', this.handle);
  }
}
