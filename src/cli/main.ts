#!/usr/bin/env node
// The `petrel` command: starts a broker with the given flags.

import { parseArgs } from 'node:util';
import { Broker } from '../broker/broker.js';
import { PETREL_VERSION } from '../broker/version.js';

const HELP = `Usage: petrel [options]

Starts an MQTT 3.1 / 3.1.1 / 5.0 broker.

Options:
  --host HOST        address to listen on (default: all interfaces)
  --port PORT        TCP port for MQTT (default: 1883)
  --data-dir DIR     where the broker keeps its state (default: ./data; used once the store lands)
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

  const broker = new Broker();
  const address = await broker.listen({ port, host: values.host });
  process.stdout.write(`petrel: MQTT listening on ${address.address}:${address.port} (data directory ${values['data-dir']}, not used yet: sessions live in memory)\n`);

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
}

main().catch((err: unknown) => {
  process.stderr.write(`petrel: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
