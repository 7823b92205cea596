// A Petrel broker for the end-to-end benchmarks: `node petrel.js PORT`. Prints "ready" once
// listening; stops on SIGTERM. Queue limits match the Mosquitto configuration of the run.
// PETREL_OPTIONS, when set, is a JSON object of further BrokerOptions laid over these (the v5
// group uses it for outboundTopicAliases and sharedSubscriptionStrategy).
import { Broker, type BrokerOptions } from '../../src/index.js';

const port = Number(process.argv[2] ?? 1883);
const extra = process.env.PETREL_OPTIONS ? JSON.parse(process.env.PETREL_OPTIONS) as BrokerOptions : {};
const broker = new Broker({
  maxQueuedMessages: 100_000,
  maxQueuedBytes: 1 << 30,
  ...(process.env.PETREL_BACKLOG ? { maxSocketBacklog: Number(process.env.PETREL_BACKLOG) } : {}),
  ...extra,
});
await broker.listen({ port, host: '127.0.0.1' });
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void broker.close().then(() => process.exit(0)); });
