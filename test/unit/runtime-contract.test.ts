import { runtimeContract } from '../contract/runtime.contract.js';
import { FakeRuntime } from './fake-runtime.js';

const fake = new FakeRuntime();
runtimeContract('the in-memory fake', 'contract', async () => ({
  engine: fake.engine(),
  leftovers: async (rig) => [
    ...fake.nets.filter((n) => n.labels['io.rig.rig'] === rig).map((n) => n.name),
    ...fake.boxes.filter((c) => c.labels['io.rig.rig'] === rig).map((c) => c.name),
    ...[...fake.guards.keys()].filter((key) => key.startsWith(`${rig}/`)),
  ],
}));
