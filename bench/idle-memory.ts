// Heap and RSS per idle connection, measured in one broker process after a full GC:
// `node --expose-gc dist/bench/idle-memory.js [N]` (default 5,000). The broker runs in this
// process; a child opens N raw MQTT 3.1.1 connections (CONNECT, wait for CONNACK, stay idle).
// Prints the growth per connection of RSS, heap in use, heap reserved and external memory.

import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Broker } from '../src/index.js';

const N = Number(process.argv[process.argv[2] === 'client' ? 4 : 2] ?? 5000);

async function openClients(port: number): Promise<void> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < N; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        const id = Buffer.from(`idle-${i}`);
        // CONNECT, MQTT 3.1.1, clean session, keep alive 60 s.
        const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, id.length]), id]);
        s.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
      });
      s.once('data', () => resolve());
      s.once('error', reject);
      sockets.push(s);
    });
  }
  process.send!('ready');
  process.on('message', () => process.exit(0));
}

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const broker = new Broker({ maxConnectionRate: 0, sysInterval: 0 });
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  const measure = (): NodeJS.MemoryUsage => { gc(); gc(); return process.memoryUsage(); };
  const before = measure();
  const child = fork(fileURLToPath(import.meta.url), ['client', String(port), String(N)]);
  await new Promise((resolve) => child.once('message', resolve));
  const after = measure();
  const per = (k: keyof NodeJS.MemoryUsage): string => ((after[k] - before[k]) / N).toFixed(0).padStart(6);
  process.stdout.write(`${N} idle connections, per connection (bytes): rss ${per('rss')}  heap used ${per('heapUsed')}  ` +
    `heap total ${per('heapTotal')}  external ${per('external')}\n`);
  child.send('done');
  await broker.close();
  process.exit(0);
}

if (process.argv[2] === 'client') await openClients(Number(process.argv[3]));
else await main();
