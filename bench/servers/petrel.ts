// A Petrel broker for the end-to-end benchmarks: `node petrel.js PORT`. Prints "ready" once
// listening; stops on SIGTERM. Queue limits match the Mosquitto configuration of the run.
// PETREL_OPTIONS, when set, is a JSON object of further BrokerOptions laid over these (the v5
// group uses it for outboundTopicAliases and sharedSubscriptionStrategy). Listeners named there
// (the transport group's mqtts, ws, wss on port 0) start beside the one on PORT, and each prints
// "listening PROTOCOL PORT" before "ready".
import { Broker, startOpsServer, type BrokerOptions } from '../../src/index.js';

const port = Number(process.argv[2] ?? 1883);
const extra = process.env.PETREL_OPTIONS ? JSON.parse(process.env.PETREL_OPTIONS) as BrokerOptions : {};
const broker = new Broker({
  maxQueuedMessages: 100_000,
  maxQueuedBytes: 1 << 30,
  // The connect scenarios measure how fast connections can be served, not the default gate.
  maxConnectionRate: 0,
  ...(process.env.PETREL_BACKLOG ? { maxSocketBacklog: Number(process.env.PETREL_BACKLOG) } : {}),
  ...extra,
});
await broker.listen({ port, host: '127.0.0.1' });
if (extra.listeners !== undefined) {
  for (const l of await broker.start()) process.stdout.write(`listening ${l.config.protocol} ${l.address.port}\n`);
}
// The metrics endpoint, when PETREL_OPTIONS asks for one (the soak group reads it).
if (extra.metrics?.port !== undefined) await startOpsServer(broker, { host: '127.0.0.1', ...extra.metrics, port: extra.metrics.port });
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void broker.close().then(() => process.exit(0)); });
