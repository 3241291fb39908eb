import { ExitCode, RigError } from '../errors.js';
import { FactStore, newRootPassword, nodePassword } from '../facts/store.js';
import { NODE_IMAGES, type ImageName } from '../images/images.js';
import { Label } from '../labels.js';
import { printable, printableLines } from '../printable.js';
import type { Plan, PlannedLink, PlannedNode } from '../plan/plan.js';
import { tail } from '../runtime/docker/containers.js';
import { createRigNetwork, type RigNetwork } from '../runtime/docker/network.js';
import { etcdUrl, startSidecar } from '../sidecars/sidecars.js';
import type { Engine, Step } from './context.js';
import { agentEnv } from './agent-env.js';
import { destroyRig } from './down.js';
import { checkLinks, makeLinks } from './links.js';

export interface UpOptions {
  timeoutMs: number; // for every node to be ready
  keepOnFailure: boolean;
  wait: boolean; // false: return once every node is started, without waiting for ready
  owner: string; // host:pid of this process, on the network, for rig gc
}

/** Node stages in order; the agent in each node writes the ones after `created`. */
export const STAGES = ['created', 'addressed', 'facts', 'ready'] as const;

/**
 * The steps of `rig up`. Nothing is created before the checks pass; if a later step fails, everything made so
 * far is removed (unless keepOnFailure) and the error goes on up.
 */
export function upSteps(
  engine: Engine,
  plan: Plan,
  options: UpOptions,
): { steps: Step[]; cleanup: () => Promise<void>; madeAnything: () => boolean; facts: () => FactStore | undefined } {
  const { docker, images } = engine;
  let linksToMake: PlannedLink[] = [];
  let network: RigNetwork | undefined;
  let facts: FactStore | undefined;
  const imageNames = [
    ...new Set<ImageName>(['sidecar', 'tools', ...plan.nodes.map((n) => (n.spec.image?.startsWith('rig:') ? (n.spec.image.slice(4) as ImageName) : 'base'))]),
  ];
  let missingImages: ImageName[] = [];
  const etcdRootPassword = newRootPassword();
  let madeAnything = false; // until the network exists, a failure has nothing of ours to remove (the name may be another rig's)

  const steps: Step[] = [
    {
      title: 'Check the rig',
      run: async () => {
        linksToMake = checkLinks(plan.links, plan.spec.file);
        for (const kind of new Set(plan.nodes.map((n) => n.spec.backend))) {
          if (!engine.backends[kind]) throw new RigError(`The ${kind} backend is not available.`, 'use backend: docker', ExitCode.badInput);
          await engine.backends[kind]!.check?.();
        }
        const running = await docker.listNetworks({ filters: { label: [`${Label.rig}=${plan.name}`] } });
        if (running.length) {
          throw new RigError(`A rig named ${plan.name} is already up.`, `bring it down first (rig down --name ${plan.name}), or give this one another name with --name`, ExitCode.badInput);
        }
        await checkNodeImages(engine, plan);
        missingImages = await images.missing(imageNames);
      },
    },
    {
      title: 'Build images',
      skip: () => missingImages.length === 0,
      concurrent: () => [
        {
          title: `Build ${missingImages.map((n) => images.ref(n)).join(', ')}`,
          run: async (report) => {
            for (const name of missingImages) {
              report(`building ${images.ref(name)}`);
              await images.build(name, report);
            }
          },
        },
      ],
    },
    {
      title: 'Create the rig network',
      run: async (report) => {
        network = await createRigNetwork(docker, {
          name: plan.network,
          subnet: plan.spec.network.subnet,
          pool: plan.spec.network.pool,
          internal: plan.spec.network.internal,
          labels: {
            [Label.rig]: plan.name,
            [Label.rigFile]: plan.spec.file,
            [Label.domain]: plan.spec.domain,
            [Label.owner]: options.owner,
            [Label.links]: JSON.stringify(linksToMake.map(({ path, target }) => ({ path, target }))),
          },
        });
        madeAnything = true;
        report(`${network.name}: ${network.addresses.subnet} on ${network.bridge}${network.internal ? ' (internal)' : ''}`);
      },
    },
    {
      title: 'Link live node configs',
      skip: () => linksToMake.length === 0,
      run: async (report) => {
        const made = makeLinks(linksToMake);
        report(`${made.length} symlinks made`);
      },
    },
    {
      // Node containers are created while the sidecar starts, and started once it runs (the engine starts one
      // container at a time or so: the sidecar is what every node waits for). A node is wired to the bridge,
      // which sets its agent going, only once dnsmasq and etcd answer.
      title: `Start dnsmasq, etcd and ${plan.nodes.length} node${plan.nodes.length > 1 ? 's' : ''}`,
      concurrent: () => {
        const sidecar = deferred<FactStore>();
        const sidecarStarted = deferred<void>();
        const sidecarStep: Step = {
          title: 'dnsmasq and etcd',
          run: async (report) => {
            try {
              // etcd3 is the heaviest module (0.2 s of this thread): it loads while etcd starts and the engine
              // starts the nodes, once the sidecar is wired; earlier it would hold up the engine requests.
              const wired = () => void import('etcd3');
              await Promise.all([
                startSidecar(docker, plan, network!, images.ref('sidecar'), etcdRootPassword, sidecarStarted.resolve, wired),
                engine.prepare([...new Set(plan.nodes.map((n) => n.spec.backend))]),
              ]);
              // Auth goes on before any node is wired: from its first write, a node can write only its own keys.
              const open = await FactStore.connect({ url: etcdUrl(network!) });
              await open.lockDown(plan.name, etcdRootPassword, plan.nodes.map((n) => n.spec.name)).finally(() => open.close());
              facts = await FactStore.connect({ url: etcdUrl(network!), rootPassword: etcdRootPassword });
              // Which made-up node stands for which live node, so nodes can find "the node that mirrors straleb".
              const mirrored = plan.nodes.filter((n) => n.spec.mirrors);
              await Promise.all(mirrored.map((n) => facts!.setMark(plan.name, `mirrors/${n.spec.mirrors}`, n.spec.name)));
              sidecar.resolve(facts);
            } catch (err) {
              sidecarStarted.resolve();
              sidecar.reject(err as Error);
              throw err;
            }
            report(`DNS and DHCP at ${network!.addresses.dnsmasq}, etcd at ${etcdUrl(network!)}`);
          },
        };
        return [sidecarStep, ...nodeSteps(engine, plan, network!, sidecarStarted.promise, sidecar.promise, { ...options, etcdRootPassword })];
      },
    },
  ];

  const cleanup = async () => {
    facts?.close();
    if (madeAnything && !options.keepOnFailure) await destroyRig(engine, plan.name);
  };
  return { steps, cleanup, madeAnything: () => madeAnything, facts: () => facts };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // whoever awaits it handles the failure
  return { promise, resolve, reject };
}

/** A node's image: rig's base by default, `rig:<name>` for an image rig builds (rig:puppet), else the user's own. */
function nodeImage(engine: Engine, image: string | undefined): string {
  if (!image) return engine.images.ref('base');
  return image.startsWith('rig:') ? engine.images.ref(image.slice(4) as ImageName) : image;
}

async function checkNodeImages(engine: Engine, plan: Plan): Promise<void> {
  const unknown = plan.nodes.map((n) => n.spec.image).filter((i) => i?.startsWith('rig:') && !NODE_IMAGES.includes(i.slice(4) as ImageName));
  if (unknown.length) {
    throw new RigError(`${plan.spec.file}: rig builds no image ${unknown[0]}.`, `rig's node images: ${NODE_IMAGES.map((n) => `rig:${n}`).join(', ')}`, ExitCode.badInput);
  }
  const named = [...new Set(plan.nodes.map((n) => n.spec.image).filter((i): i is string => !!i && !i.startsWith('rig:')))];
  const missing: string[] = [];
  await Promise.all(named.map((image) => engine.docker.getImage(image).inspect().catch(() => missing.push(image))));
  if (missing.length) {
    throw new RigError(
      `${plan.spec.file}: node image${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in the Docker engine, and no registry is used.`,
      'build or load the image first (docker build / docker load / docker import), or remove image: to use rig\'s own Debian base',
      ExitCode.badInput,
    );
  }
}

/** One step per node: launch it, then follow the stages it publishes itself until it is ready or dies. */
function nodeSteps(
  engine: Engine,
  plan: Plan,
  network: RigNetwork,
  sidecarStarted: Promise<void>,
  sidecar: Promise<FactStore>,
  options: UpOptions & { etcdRootPassword: string },
): Step[] {
  const waiters = new Map<string, Waiter>();
  let stopWatching: Promise<() => Promise<void>> | undefined;
  let stopEvents: (() => void) | undefined;
  let remaining = plan.nodes.length;
  const finished = () => {
    if (--remaining > 0) return;
    void stopWatching?.then((stop) => stop()).catch(() => {});
    stopEvents?.();
  };

  // Subscribe before any node is wired to the bridge, so no stage and no death is missed.
  const subscribed = (async () => {
    const facts = await sidecar;
    stopWatching = facts.watchStages(plan.name, (node, stage) => waiters.get(node)?.stage(stage));
    await stopWatching;
    const events = await engine.docker.getEvents({ filters: { label: [`${Label.rig}=${plan.name}`], event: ['die'], type: ['container'] } });
    events.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const event = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
        const node = event.Actor?.Attributes?.[Label.node];
        if (node) waiters.get(node)?.fail(new Error('stopped'));
      }
    });
    stopEvents = () => (events as unknown as { destroy(): void }).destroy();
  })();

  return plan.nodes.map((node) => ({
    title: node.spec.name,
    run: async (report) => {
      const backend = engine.backends[node.spec.backend]!;
      const ready = waitReady(node, report, waiters, options.timeoutMs);
      // The backend wires the node to the bridge once this resolves: the sidecar serves, watches are on, stage recorded.
      const wired = subscribed.then(async () => (await sidecar).setStage(plan.name, node.spec.name, 'created'));
      wired.catch(() => {}); // a sidecar failure is reported by its own step
      try {
        try {
          await backend.launch({
            rig: plan.name,
            node,
            network,
            image: nodeImage(engine, node.spec.image),
            env: agentEnv(plan, node, { url: etcdUrl(network), password: nodePassword(options.etcdRootPassword, node.spec.name) }, Math.ceil(options.timeoutMs / 1000)),
            repoDir: plan.spec.dir,
            mayStart: sidecarStarted,
            networkReady: wired,
          });
        } catch (err) {
          if (await wired.then(() => false, () => true)) throw new RigError(`${node.spec.name} not started: the sidecar failed`);
          throw new RigError(`${node.spec.name} could not start (${node.spec.backend} ${node.container}): ${(err as Error).message}`, 'check the node\'s image and backend settings in the rig file');
        }
        if (!options.wait) return;
        await ready.promise.catch(async (err: Error) => {
          const log = await backend.logs({ rig: plan.name, node: node.spec.name, backend: node.spec.backend, name: node.container, running: false, validate: [] }).catch(() => '');
          const why = err.message === 'stopped' ? 'stopped before it was ready' : err.message;
          // A wait of the node's own that ran out is a timeout too (exit 4), like a node that never got ready.
          const timedOut = err instanceof RigError ? err.exitCode === ExitCode.timeout : /timed out after/.test(err.message + log);
          throw new RigError(`${node.spec.name} ${why}${log ? `; its log ends:\n${printableLines(tail(log))}` : ''}`, `see the whole log with: rig logs ${node.spec.name}`, timedOut ? ExitCode.timeout : ExitCode.failed);
        });
      } finally {
        ready.cancel();
        waiters.delete(node.spec.name);
        finished();
      }
    },
  }));
}

const SILENCE_GRACE_MS = 10_000;

interface Waiter {
  stage: (stage: string) => void;
  fail: (err: Error) => void;
}

/** A node's way to ready, driven by the stages it publishes (etcd watch) and its death (Docker events). */
function waitReady(node: PlannedNode, report: (line: string) => void, waiters: Map<string, Waiter>, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve, reject) => {
    let last = 'created';
    // A node's own waits end at timeoutMs and report exactly what they waited for; the host gives up on a node
    // that says nothing a little later, so that the node's precise message comes first.
    const limit = timeoutMs + SILENCE_GRACE_MS;
    timer = setTimeout(() => reject(new RigError(`not ready after ${limit / 1000} s (last stage: ${last})`, undefined, ExitCode.timeout)), limit);
    waiters.set(node.spec.name, {
      stage: (stage) => {
        last = stage;
        report(printable(stage));
        if (stage === 'ready') resolve();
        else if (stage.startsWith('failed')) reject(new Error(printable(stage)));
      },
      fail: reject,
    });
  });
  promise.catch(() => {}); // a node that never launched has nobody waiting on it
  return { promise, cancel: () => clearTimeout(timer) };
}
