#!/usr/bin/env node
// The `petrel` command: starts a broker with the given flags.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Broker } from '../broker/broker.js';
import { PETREL_VERSION } from '../broker/version.js';

const HELP = `Usage: petrel [options]

Starts an MQTT 3.1 / 3.1.1 / 5.0 broker.

Options:
  --host HOST        address to listen on (default: all interfaces)
  --port PORT        TCP port for MQTT (default: 1883)
  --data-dir DIR     where the broker keeps its state, in an embedded LMDB store (default: ./data)
  --durability MODE  sync (default): a QoS 1/2 message is acknowledged once on disk;
                     batched: once handed to the store (a crash may lose the last few ms);
                     none: memory only, nothing is written
  --config FILE      configuration file (read once the config format lands)
  -h, --help         show this help
  -v, --version      show the version
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '1883' },
      'data-dir': { type: 'string', default: './data' },
      durability: { type: 'string', default: 'sync' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`petrel ${PETREL_VERSION}\n`);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: ${values.port} is not a port number`);
  if (values.config !== undefined) {
    process.stderr.write(`petrel: --config ${values.config} accepted; the configuration file format is not read yet\n`);
  }

  const durability = values.durability;
  if (durability !== 'sync' && durability !== 'batched' && durability !== 'none') {
    throw new Error(`--durability: ${durability} is not sync, batched or none`);
  }
  const dataDir = resolve(values['data-dir']);
  const started = performance.now();
  const broker = new Broker({ dataDir: durability === 'none' ? undefined : dataDir, durability });
  // A failed commit is never acknowledged to anyone; the operator hears of it here.
  broker.on('storeError', (err: unknown) => process.stderr.write(`petrel: store error: ${err instanceof Error ? err.message : String(err)}\n`));
  // Handlers first: a signal during start-up still closes the store cleanly.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`petrel: ${signal}, shutting down\n`);
    broker.close().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`petrel: error while shutting down: ${String(err)}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const address = await broker.listen({ port, host: values.host });
  const where = durability === 'none' ? 'state in memory only (--durability none)' : `data in ${dataDir} (durability ${durability})`;
  const r = broker.recovery;
  const restored = r === undefined ? '' : `; restored ${r.sessions} sessions, ${r.queued} queued and ${r.inflight} unacknowledged messages, ${r.retained} retained in ${Math.round(performance.now() - started)} ms`;
  process.stdout.write(`petrel: MQTT listening on ${address.address}:${address.port}, ${where}${restored}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`petrel: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
