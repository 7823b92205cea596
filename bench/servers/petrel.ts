// A Petrel broker for the end-to-end benchmark: `node petrel.js PORT`. Prints "ready" once
// listening; stops on SIGTERM. Queue limits match the Mosquitto configuration of the run.
import { Broker } from '../../src/index.js';

const port = Number(process.argv[2] ?? 1883);
const broker = new Broker({ maxQueuedMessages: 100_000, maxQueuedBytes: 1 << 30, ...(process.env.PETREL_BACKLOG ? { maxSocketBacklog: Number(process.env.PETREL_BACKLOG) } : {}) });
await broker.listen({ port, host: '127.0.0.1' });
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void broker.close().then(() => process.exit(0)); });
