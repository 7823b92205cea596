// An Aedes broker (the Node.js broker people use today) for the end-to-end benchmark.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2] ?? 1883);
const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => { server.close(); aedes.close(() => process.exit(0)); });
