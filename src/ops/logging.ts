// Structured logs: pino, JSON by default, human-readable on a terminal. The broker only emits
// events; this module turns them into log lines, each carrying who the client is. Nothing is
// logged per message at info.

import { pino, type Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import type { Connection } from '../broker/connection.js';
import type { LogOptions } from '../broker/options.js';
import { hexCode, reasonName } from '../protocol/reason-codes.js';

export type { Logger } from 'pino';

/** A logger writing to `destination` (stdout by default); pretty when asked, or when it is a terminal. */
export async function createLogger(options: LogOptions = {}, destination: NodeJS.WritableStream = process.stdout): Promise<Logger> {
  const level = options.level ?? 'info';
  const pretty = options.pretty ?? (destination as { isTTY?: boolean }).isTTY === true;
  if (pretty) {
    const { default: pinoPretty } = await import('pino-pretty');
    return pino({ level, base: undefined }, pinoPretty({ destination: destination as never, sync: true, ignore: 'pid,hostname' }));
  }
  return pino({ level, base: undefined }, destination as never);
}

/** What every connection-related line says about the client. */
export function clientFields(conn: Connection): Record<string, unknown> {
  return {
    clientId: conn.clientId || undefined,
    username: conn.username,
    remoteAddress: conn.remoteAddress,
    listener: conn.peer.listener,
    protocolVersion: conn.protocolVersion,
  };
}

/** Logs what an operator needs from the broker's events: connects, disconnects, auth failures, store errors. */
export function logBrokerEvents(broker: Broker, log: Logger): void {
  broker.on('clientConnect', (conn: Connection, sessionPresent: boolean) => {
    log.info({ ...clientFields(conn), sessionPresent }, 'client connected');
  });
  broker.on('connectionClosed', (conn: Connection) => {
    const why = conn.closeReason ?? { by: 'network', code: 0 };
    const fields = { ...clientFields(conn), by: why.by, reasonCode: hexCode(why.code), reason: why.reason ?? reasonName(why.code) };
    if (conn.clientId === '' && why.by !== 'client') {
      // Never got as far as a CONNECT: a port scan, a health check, or a refused client.
      log.debug(fields, 'connection closed before CONNECT');
      return;
    }
    // Server-side refusals other than a takeover or shutdown are worth a look (limits, protocol errors).
    const notable = why.by === 'server' && why.code >= 0x80 && why.code !== 0x8e && why.code !== 0x8b;
    if (notable) log.warn(fields, 'client disconnected');
    else log.info(fields, 'client disconnected');
  });
  broker.on('authFailure', (e: { clientId: string; username?: string; remoteAddress?: string; listener?: string; reasonCode: number }) => {
    log.warn({ ...e, reasonCode: hexCode(e.reasonCode) }, 'authentication failed');
  });
  broker.on('storeError', (err: unknown) => {
    log.error({ err }, 'store error: messages it concerned were not acknowledged');
  });
  broker.on('clientError', (conn: Connection, err: unknown) => {
    log.error({ ...clientFields(conn), err }, 'internal error on a connection');
  });
  // A limit under attack is hit thousands of times a second: one line per limit per 10 s.
  const quietUntil = new Map<string, { until: number; suppressed: number }>();
  broker.on('limit', (limit: string) => {
    const now = Date.now();
    const q = quietUntil.get(limit);
    if (q !== undefined && now < q.until) {
      q.suppressed++;
      return;
    }
    log.warn({ limit, sinceLastLine: q?.suppressed ?? 0 }, `limit reached: ${limit}`);
    quietUntil.set(limit, { until: now + 10_000, suppressed: 0 });
  });
  broker.on('memoryBudget', (over: boolean, used: number) => {
    if (over) log.warn({ used }, 'over the memory budget: QoS 0 deliveries are dropped and publishers slowed');
    else log.info({ used }, 'back under the memory budget');
  });
  broker.on('slowConsumer', (clientId: string) => {
    log.warn({ clientId }, 'slow consumer left behind: its QoS 0 messages are dropped until it catches up');
  });
}
