import { afterAll, describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureDir, leftovers, rig, uniqueName } from './helpers.js';

/**
 * A Docker engine that goes away in the middle of an `up`: a Unix socket that passes everything on to the real
 * engine until the first container is made (the sidecar), then cuts every connection and stops answering, as a
 * dockerd that stops or restarts does.
 */
function engineThatStops(path: string): { server: Server; stopped: () => boolean } {
  const sockets = new Set<Socket>();
  let cut = false;
  const stop = () => (cut = true);
  const server = createServer((client) => {
    const engine = connect('/var/run/docker.sock');
    sockets.add(client).add(engine);
    client.on('data', (chunk: Buffer) => {
      engine.write(chunk);
      if (/^POST (\/v[\d.]+)?\/containers\/create/m.test(chunk.toString('latin1'))) {
        setTimeout(() => {
          server.close();
          for (const s of sockets) s.destroy();
          stop();
        }, 300);
      }
    });
    engine.pipe(client);
    for (const s of [client, engine]) s.on('error', () => {}).on('close', () => (client.destroy(), engine.destroy()));
  });
  server.listen(path);
  return { server, stopped: () => cut };
}

describe('the Docker engine stopping under rig up', () => {
  const name = uniqueName('gone');
  const fixture = fixtureDir(`name: ${name}\ndomain: g.test\nnetwork: { internal: true }\nconfigs: []\nnodes:\n  a.g.test:\n  b.g.test:\n`);
  const socket = join(tmpdir(), `rig-engine-${process.pid}.sock`);
  afterAll(async () => {
    rmSync(socket, { force: true });
    await rig(['down', '--name', name]); // with the real engine: what the up could not remove
    fixture.cleanup();
    expect(await leftovers(name)).toEqual([]);
  });

  it('says the engine stopped answering, exit 1, not an internal error of rig', async () => {
    const { server, stopped } = engineThatStops(socket);
    const up = await rig(['up', 'rig.yaml'], { cwd: fixture.dir, env: { DOCKER_HOST: `unix://${socket}` } });
    server.close(); // if the up never made a container, the engine never stopped: the checks below say so
    expect(stopped()).toBe(true);
    expect(up.exitCode, up.all).toBe(1);
    expect(up.stderr).toContain('The Docker engine stopped answering');
    expect(up.stderr).toContain(`rig down --name ${name}`);
    expect(up.all).not.toMatch(/internal error|This is a bug in rig/);
  });
});
