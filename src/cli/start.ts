// `petrel start`: runs the broker from a config file and flags, until SIGINT/SIGTERM;
// SIGHUP reloads what can change without dropping connections.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Broker } from '../broker/broker.js';
import { DEFAULT_LISTENERS, type BrokerOptions } from '../broker/options.js';
import { loadConfigFile } from '../ops/config.js';
import { startOpsServer, type OpsServer } from '../ops/http.js';
import { createLogger, logBrokerEvents, type Logger } from '../ops/logging.js';

export const START_HELP = `Usage: petrel [start] [options]

Runs the MQTT broker. Settings come from the config file, then the flags below (a flag wins).

Options:
  -c, --config FILE  YAML configuration file (see docs/configuration.md)
  --host HOST        address of the first listener (default: all interfaces)
  --port PORT        port of the first listener (default: 1883)
  --data-dir DIR     where the broker keeps its state, in an embedded LMDB store (default: ./data)
  --durability MODE  sync (default): a QoS 1/2 message is acknowledged once on disk;
                     batched: once handed to the store (a crash may lose the last few ms);
                     none: memory only, nothing is written
  --log-level LEVEL  fatal, error, warn, info (default), debug, trace or silent
  --log-pretty       human-readable log lines (the default on a terminal; JSON otherwise)
  -h, --help         show this help

Signals: SIGTERM/SIGINT shut down cleanly; SIGHUP reloads the password file, ACL and certificates.
`;

/** Resolves once the broker runs (-1: keep the process alive), or with an exit code. */
export async function runStart(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      durability: { type: 'string' },
      'log-level': { type: 'string' },
      'log-pretty': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(START_HELP);
    return 0;
  }
  const options: BrokerOptions = values.config === undefined ? {} : await loadConfigFile(values.config);
  applyFlags(options, values);
  const started = performance.now();
  const broker = new Broker(options);
  const logger = await createLogger(broker.options.log);
  const log = (line: string): void => logger.info(line);
  logBrokerEvents(broker, logger);
  const opsHolder: { server?: OpsServer } = {};
  const config = values.config;
  const rereadConfig = config === undefined ? undefined : async (): Promise<BrokerOptions> => {
    const next = await loadConfigFile(config);
    applyFlags(next, values);
    return next;
  };
  installSignals(broker, logger, opsHolder, rereadConfig);

  // Up before the listeners: /readyz answers "not ready" while the store is restored.
  const m = broker.options.metrics;
  if (m.port !== undefined) {
    opsHolder.server = await startOpsServer(broker, { ...m, port: m.port });
    const a = opsHolder.server.address;
    log(`metrics and health on http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`);
  }
  const listeners = await broker.start();
  const durability = broker.options.durability;
  const where = broker.options.dataDir === undefined ? 'state in memory only' : `data in ${broker.options.dataDir} (durability ${durability})`;
  const r = broker.recovery;
  const restored = r === undefined ? '' : `; restored ${r.sessions} sessions, ${r.queued} queued and ${r.inflight} unacknowledged messages, ${r.retained} retained in ${Math.round(performance.now() - started)} ms`;
  // One line per listener; the first also says where the state is (scripts wait for this line).
  listeners.forEach((l, i) => {
    log(`MQTT listening on ${l.address.address}:${l.address.port} (${l.name})${i === 0 ? `, ${where}${restored}` : ''}`);
  });
  for (const warning of broker.auth.warnings()) logger.warn(warning);
  if (broker.auth.allowsAnonymous && listeners.some((l) => !isLoopback(l.address.address))) {
    logger.warn('anonymous clients are accepted from the network; set auth.passwordFile or auth.allowAnonymous: false');
  }
  return -1;
}

interface Flags {
  host?: string;
  port?: string;
  'data-dir'?: string;
  durability?: string;
  'log-level'?: string;
  'log-pretty'?: boolean;
}

function applyFlags(options: BrokerOptions, values: Flags): void {
  if (values['log-level'] !== undefined || values['log-pretty'] !== undefined) {
    options.log = { ...options.log };
    if (values['log-level'] !== undefined) options.log.level = values['log-level'] as NonNullable<BrokerOptions['log']>['level'];
    if (values['log-pretty'] !== undefined) options.log.pretty = values['log-pretty'];
  }
  if (values.host !== undefined || values.port !== undefined) {
    const listeners = [...(options.listeners ?? DEFAULT_LISTENERS)];
    const first = { ...listeners[0] };
    if (values.host !== undefined) first.host = values.host;
    if (values.port !== undefined) {
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: ${values.port} is not a port number`);
      first.port = port;
    }
    listeners[0] = first;
    options.listeners = listeners;
  }
  if (values.durability !== undefined) {
    const d = values.durability;
    if (d !== 'sync' && d !== 'batched' && d !== 'none') throw new Error(`--durability: ${d} is not sync, batched or none`);
    options.durability = d;
  }
  if (values['data-dir'] !== undefined) options.dataDir = resolve(values['data-dir']);
  else if (options.dataDir === undefined) options.dataDir = resolve('./data');
  // Memory only: no directory is opened, so none is locked or created.
  if (options.durability === 'none') delete options.dataDir;
}

function installSignals(broker: Broker, logger: Logger, ops: { server?: OpsServer }, rereadConfig?: () => Promise<BrokerOptions>): void {
  const log = (line: string): void => logger.info(line);
  // Installed before listening: a signal during start-up still closes the store cleanly.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${signal}, shutting down`);
    // Bounded: a peer that never reads cannot hold the process; LMDB is safe to leave mid-way.
    const timeout = broker.options.shutdownTimeout;
    if (timeout > 0) {
      setTimeout(() => {
        logger.warn({ timeout }, 'shutdown took longer than shutdownTimeout; exiting now');
        process.exit(1);
      }, timeout).unref();
    }
    broker.close().then(() => ops.server?.close()).then(() => process.exit(0), (err: unknown) => {
      logger.error({ err }, 'error while shutting down');
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    reloadAll(broker, logger, rereadConfig).then((report) => {
      for (const line of report) log(`reload: ${line}`);
    }, (err: unknown) => logger.error({ err }, 'reload failed'));
  });
}

/**
 * SIGHUP: the config file again (limits and log level apply now; what needs a restart is said),
 * then the password file, ACL and certificates. A config file that no longer parses changes nothing.
 */
async function reloadAll(broker: Broker, logger: Logger, rereadConfig: (() => Promise<BrokerOptions>) | undefined): Promise<string[]> {
  const report: string[] = [];
  if (rereadConfig !== undefined) {
    try {
      const options = await rereadConfig();
      report.push(...broker.reconfigure(options));
      const level = options.log?.level ?? 'info';
      if (level !== logger.level) {
        report.push(`log.level: ${logger.level} -> ${level}`);
        logger.level = level;
      }
    } catch (err) {
      report.push(`config file not reloaded, nothing changed: ${err instanceof Error ? err.message : String(err)}`);
      return report;
    }
  }
  report.push(...await broker.reload());
  return report;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}
