// What Docker and dnsmasq recorded while one `rig up` ran, read after it returned (outside the timed part).
import type { Lease, Trace } from './phases.js';
import { run } from './process.js';
import { lines } from './util.js';

interface DockerEvent {
  Action?: string;
  timeNano: number;
  Actor?: { Attributes?: Record<string, string> };
}

/** Container create/start events of the rig (docker events --since/--until), by node name or sidecar role. */
async function containerEvents(name: string, wallStart: number, wallEnd: number): Promise<Trace['containers']> {
  const since = (wallStart / 1000 - 0.5).toFixed(3);
  const until = (wallEnd / 1000 + 0.5).toFixed(3);
  const ev = await run('docker', [
    'events',
    '--since',
    since,
    '--until',
    until,
    '--filter',
    `label=io.rig.rig=${name}`,
    '--filter',
    'type=container',
    '--format',
    '{{json .}}',
  ]);
  const containers: Trace['containers'] = {};
  for (const line of lines(ev.stdout)) {
    const e = JSON.parse(line) as DockerEvent;
    const a = e.Actor?.Attributes ?? {};
    const who = a['io.rig.role'] === 'node' ? a['io.rig.node'] : a['io.rig.role'];
    if (!who || (e.Action !== 'create' && e.Action !== 'start')) continue;
    (containers[who] ??= {})[e.Action] ??= e.timeNano / 1e6;
  }
  return containers;
}

/** The DHCP exchange of each node, from dnsmasq's log with Docker's nanosecond timestamps, by host name. */
export function dhcpLog(log: string): Trace['dhcp'] {
  const byMac: Record<string, Lease> = {};
  for (const line of lines(log)) {
    const m = /^(\S+) dnsmasq-dhcp\[\d+\]: \d+ (DHCPDISCOVER|DHCPACK)\(\S+\) (?:(\d+\.\d+\.\d+\.\d+) )?([0-9a-f:]{17})(?: (\S+))?/.exec(
      line,
    );
    if (!m) continue;
    const [, stamp, kind, , mac, host] = m;
    const at = Date.parse(stamp) + Number(`0.${stamp.split('.')[1]?.replace('Z', '').slice(3) || '0'}`); // keep sub-ms
    const d = (byMac[mac] ??= { discovers: 0 });
    if (kind === 'DHCPDISCOVER') {
      d.discovers++;
      d.discover ??= at;
    } else {
      d.ack ??= at;
      if (host) d.host = host;
    }
  }
  return Object.fromEntries(
    Object.values(byMac)
      .filter((d) => d.host)
      .map((d) => [d.host, d]),
  );
}

/**
 * What Docker and dnsmasq recorded while one `rig up` ran: container create/start events of the rig and the DHCP
 * exchange of each node. All clocks are the host's wall clock.
 */
export async function rigTrace(name: string, wallStart: number, wallEnd: number): Promise<Trace> {
  const containers = await containerEvents(name, wallStart, wallEnd);
  const log = await run('docker', ['logs', '--timestamps', `rig-${name}.sidecar`]);
  return { containers, dhcp: dhcpLog(`${log.stdout}\n${log.stderr}`) };
}
