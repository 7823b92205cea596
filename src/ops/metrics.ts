// Prometheus metrics (prom-client). Counters the hot path already keeps (stats, delivery
// counters) are read at scrape time, so metrics add no work per message; totals that need a
// walk (queues, retained bytes) are computed per scrape too. Names follow Prometheus
// conventions: `petrel_` prefix, `_total` for counters, base units. docs/metrics.md lists them.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Broker } from '../broker/broker.js';
import type { Connection } from '../broker/connection.js';
import { hexCode } from '../protocol/reason-codes.js';

export interface BrokerMetrics {
  readonly registry: Registry;
  /** Store commit latency, observed by whoever times commits. */
  readonly commitSeconds: Histogram;
}

export function createMetrics(broker: Broker): BrokerMetrics {
  const registry = new Registry();
  // Heap, event-loop lag, GC, CPU, file descriptors, under the same prefix.
  collectDefaultMetrics({ register: registry, prefix: 'petrel_' });

  const connectionsTotal = new Counter({
    name: 'petrel_connections_total', help: 'Connections accepted, by listener.', labelNames: ['listener'], registers: [registry],
  });
  broker.on('connectionOpened', (conn: Connection) => connectionsTotal.inc({ listener: conn.peer.listener ?? 'direct' }));
  const connectsTotal = new Counter({
    name: 'petrel_client_connects_total', help: 'CONNECTs accepted, by listener and protocol version.',
    labelNames: ['listener', 'protocol_version'], registers: [registry],
  });
  broker.on('clientConnect', (conn: Connection) => connectsTotal.inc({ listener: conn.peer.listener ?? 'direct', protocol_version: String(conn.protocolVersion) }));
  const authFailures = new Counter({ name: 'petrel_auth_failures_total', help: 'Refused authentications.', labelNames: ['reason_code'], registers: [registry] });
  broker.on('authFailure', (e: { reasonCode: number }) => authFailures.inc({ reason_code: `0x${e.reasonCode.toString(16)}` }));
  const disconnects = new Counter({
    name: 'petrel_disconnects_total', help: 'Connections ended, by who ended them and the reason code.',
    labelNames: ['by', 'reason_code'], registers: [registry],
  });
  broker.on('connectionClosed', (conn: Connection) => {
    const why = conn.closeReason ?? { by: 'network', code: 0 };
    disconnects.inc({ by: why.by, reason_code: hexCode(why.code) });
  });
  const slowConsumers = new Counter({ name: 'petrel_slow_consumers_total', help: 'Subscribers left behind for not keeping up.', registers: [registry] });
  broker.on('slowConsumer', () => slowConsumers.inc());

  new Gauge({
    name: 'petrel_connections', help: 'Open connections, by listener and protocol version (0: before CONNECT).',
    labelNames: ['listener', 'protocol_version'], registers: [registry],
    collect() {
      this.reset();
      for (const c of broker.openConnections()) {
        this.inc({ listener: c.peer.listener ?? 'direct', protocol_version: c.state === 'connected' ? String(c.protocolVersion) : '0' });
      }
    },
  });
  new Gauge({
    name: 'petrel_sessions', help: 'Sessions, by whether a client is attached.', labelNames: ['state'], registers: [registry],
    collect() {
      let online = 0;
      let total = 0;
      for (const s of broker.registry.values()) {
        total++;
        if (s.outlet !== undefined) online++;
      }
      this.set({ state: 'online' }, online);
      this.set({ state: 'offline' }, total - online);
    },
  });
  gauge(registry, 'petrel_subscriptions', 'Subscriptions, shared ones included.', () => broker.tree.subscriptions);
  gauge(registry, 'petrel_shared_groups', 'Shared-subscription groups with members.', () => broker.tree.sharedGroups);
  gauge(registry, 'petrel_retained_messages', 'Retained messages.', () => broker.retained.size);
  gauge(registry, 'petrel_retained_bytes', 'Payload bytes of the retained messages.', () => broker.retained.bytes);
  gauge(registry, 'petrel_memory_used_bytes', 'Queued and unsent message bytes across all clients, as last measured for the memory budget (0 without a budget).', () => broker.memoryUsed);
  gauge(registry, 'petrel_memory_budget_bytes', 'The memory budget (0: none).', () => broker.options.memoryBudget);
  mirror(registry, 'petrel_limit_hits_total', 'Times a configured limit refused or slowed something, by limit.', ['limit'],
    () => Object.entries(broker.limitHits).map(([limit, n]): Sample => [{ limit }, n]));
  gauge(registry, 'petrel_queued_messages', 'Messages waiting in session queues.', () => {
    let n = 0;
    for (const s of broker.registry.values()) n += s.queue.length - s.queueHead;
    return n;
  });
  gauge(registry, 'petrel_inflight_messages', 'QoS 1/2 messages sent and not yet acknowledged.', () => {
    let n = 0;
    for (const s of broker.registry.values()) n += s.inflight.size;
    return n;
  });
  gauge(registry, 'petrel_ready', '1 when the store is restored and the listeners are bound.', () => (broker.isReady ? 1 : 0));

  const stats = broker.stats;
  const counters = broker.delivery.counters;
  mirror(registry, 'petrel_messages_received_total', 'PUBLISH packets received from clients, by QoS.', ['qos'],
    () => stats.receivedByQos.map((n, qos) => [{ qos: String(qos) }, n]));
  mirror(registry, 'petrel_messages_sent_total', 'PUBLISH packets sent to clients, by QoS.', ['qos'],
    () => counters.sentByQos.map((n, qos) => [{ qos: String(qos) }, n]));
  const DROP_LABELS = {
    queueFull: 'queue_full', expired: 'expired', tooLarge: 'too_large_for_client', notAuthorized: 'not_authorized', slowConsumer: 'slow_consumer',
    memoryBudget: 'memory_budget',
  } as const;
  mirror(registry, 'petrel_messages_dropped_total', 'Messages a subscriber did not get, by reason.', ['reason'], () => [
    ...Object.entries(DROP_LABELS).map(([key, reason]): Sample => [{ reason }, counters.droppedBy[key as keyof typeof DROP_LABELS]]),
    [{ reason: 'no_subscriber_left' }, counters.droppedUnrouted],
  ]);
  mirror(registry, 'petrel_received_bytes_total', 'Bytes read from client connections.', [], () => [[{}, stats.bytesReceived]]);
  mirror(registry, 'petrel_sent_bytes_total', 'Bytes written to client connections.', [], () => [[{}, stats.bytesSent]]);

  new Gauge({
    name: 'petrel_listener_connections', help: 'Open sockets per listener, those still in PROXY, TLS or WebSocket set-up included.',
    labelNames: ['listener'], registers: [registry],
    collect() {
      this.reset();
      for (const l of broker.runningListeners) this.set({ listener: l.name }, l.connections);
    },
  });
  mirror(registry, 'petrel_listener_rejected_total', 'Connections a listener refused before they reached the broker, by reason.', ['listener', 'reason'],
    () => broker.runningListeners.flatMap((l) => Object.entries(l.stats.rejected).map(([reason, n]): Sample => [{ listener: l.name, reason }, n])));

  const commitSeconds = new Histogram({
    name: 'petrel_store_commit_seconds', help: 'Time from a store batch being handed over to it being durable.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry],
  });
  broker.on('storeCommit', (seconds: number) => commitSeconds.observe(seconds));
  return { registry, commitSeconds };
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}

type Sample = [Record<string, string>, number];

/** A counter whose running total the broker keeps (no work per message here): copied at each scrape. */
function mirror(registry: Registry, name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const [labels, n] of read()) this.inc(labels, n);
    },
  });
}
