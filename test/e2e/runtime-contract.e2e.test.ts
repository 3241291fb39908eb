import { runtimeContract } from '../contract/runtime.contract.js';
import { createEngine } from '../../src/cli/engine.js';
import { leftovers, uniqueName } from './helpers.js';

// The same contract as the fake's (test/unit/runtime-contract.test.ts), against the Docker engine and this host.
runtimeContract('the Docker engine', uniqueName('contract'), async () => ({ engine: await createEngine(), leftovers }));
