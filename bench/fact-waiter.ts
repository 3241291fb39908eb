// A fact waiter for the bench (facts.ts), in its own process as a waiting node would be: it watches one etcd key
// and, for every put, prints "<value> <monotonic ns>" with the clock read first thing in the event handler.
// CLOCK_MONOTONIC (process.hrtime) is one clock for every process on the host, so the publisher can subtract.
//   node dist-bench/fact-waiter.js ETCD_URL KEY      prints "watching" once the watch is in place; stops when stdin closes
import { EtcdClient } from '../dist/facts/etcd.js';

const [url, key] = process.argv.slice(2);
if (!url || !key) {
  process.stderr.write('usage: node dist-bench/fact-waiter.js ETCD_URL KEY\n');
  process.exit(2);
}
const password = process.env.RIG_ETCD_ROOT_PASSWORD; // a rig's etcd has auth on; the host is its root
const client = new EtcdClient(url, password ? { name: 'root', password } : undefined, process.env.RIG_ETCD_SOCKET);
await client
  .watch(key, (event) => {
    const now = process.hrtime.bigint();
    if (event.type === 'put') process.stdout.write(`${event.value} ${now}\n`);
  })
  .catch((err: Error) => {
    process.stderr.write(`fact-waiter: ${err.message}\n`);
    process.exit(1);
  });
process.stdout.write('watching\n');
process.stdin.on('end', () => {
  client.close();
  process.exit(0);
});
process.stdin.resume();
