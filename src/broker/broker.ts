// The Broker: composition root and library API. It owns the subscription tree, the retained
// index, the session registry and the connections; every transport hands it a duplex stream
// through `handle`, so it knows nothing of TCP, TLS or WebSocket.

import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAuth, type Auth } from '../auth/index.js';
import type { Packet, PublishProperties, QoS, Will } from '../protocol/index.js';
import { RetainedIndex } from '../routing/retained.js';
import { TopicTree } from '../routing/topic-tree.js';
import { createMessage, detach, type Message } from '../session/message.js';
import { SessionRegistry } from '../session/registry.js';
import { clearQueue, type Session } from '../session/session.js';
import { Connection, type ConnectionHost, type PeerInfo } from './connection.js';
import { DeadlineWheel } from './deadlines.js';
import { WriteBatch } from './write-batch.js';
import type { BrokerContext, BrokerStats, LimitName } from './context.js';
import { newDeliveryCounters, pump, type DeliveryContext } from './delivery.js';
import { Fanout } from './fanout.js';
import { dispatch } from './handlers/index.js';
import { isPromise, refusalCode } from './hooks.js';
import { DEFAULT_OPTIONS, resolveOptions, type BrokerOptions, type ResolvedOptions } from './options.js';
import { BrokerLimits } from './limits.js';
import { handOffShared } from './shared-handoff.js';
import { openPersistence, type Persistence } from './persistence.js';
import { recover, type RecoveryReport } from './recovery.js';
import { SysPublisher, type SysSnapshot } from './sys.js';
import { PETREL_VERSION } from './version.js';
import { startListener, type ListenerConfig, type RunningListener } from '../transport/listener.js';

/** One listener; `protocol` defaults to mqtt and `port` to 1883. */
export type ListenOptions = Partial<ListenerConfig>;

/** Options `reconfigure` applies to a running broker; the others need a restart. */
const RELOADABLE = new Set([
  'maxConnections', 'maxConnectionRate', 'maxSessions', 'memoryBudget', 'maxPublishRate', 'maxPublishBytesRate',
  'maxTopicLength', 'maxTopicLevels', 'maxRetainedMessages', 'maxRetainedBytes', 'slowConsumerPolicy', 'slowConsumerTimeout',
  'shutdownTimeout', 'maxQueuedMessages', 'maxQueuedBytes', 'queueQos0', 'maxSubscriptionsPerSession', 'maxSocketBacklog',
  'connectTimeout', 'maxClientIdLength', 'maxSessionExpiryInterval', 'maxAwaitingRelease',
]);

/** For how many slowConsumerTimeouts a subscriber left behind stays left behind. */
const ISOLATION_MEMORY = 10;

export interface PublishInput {
  topic: string;
  payload: Buffer | string;
  qos?: QoS;
  retain?: boolean;
  properties?: PublishProperties;
}

export class Broker extends EventEmitter implements BrokerContext, ConnectionHost {
  readonly options: ResolvedOptions;
  readonly tree: TopicTree<Session>;
  readonly retained: RetainedIndex<Message>;
  readonly registry: SessionRegistry;
  readonly delivery: DeliveryContext;
  readonly stats: BrokerStats = { connectionsTotal: 0, messagesReceived: 0, receivedByQos: [0, 0, 0], bytesReceived: 0, bytesSent: 0 };
  private readonly startedAt = Date.now();
  private readonly sys: SysPublisher;
  private readonly fanout: Fanout;
  private readonly connections = new Set<Connection>();
  readonly deadlines = new DeadlineWheel<Connection>();
  private readonly running: RunningListener[] = [];
  readonly auth: Auth;
  /** The connection whose PUBLISH is being fanned out, to slow it down if a subscriber cannot keep up. */
  private publisher: Connection | undefined;
  private readonly writes = new WriteBatch<Connection>();
  private closing = false;
  /** The store bridge; undefined when the broker keeps everything in memory only. */
  private readonly persist: Persistence | undefined;
  /** Resolves once the state in the store (if any) has been restored. */
  readonly ready: Promise<void>;
  /** What the last start restored from the store. */
  recovery: RecoveryReport | undefined;
  private restored = false;
  private readonly limits: BrokerLimits;

  constructor(options: BrokerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.auth = createAuth(this.options.auth, this.options.hooks);
    // Handlers call the composed hooks: the files' checks first, then the library's own.
    this.options.hooks = this.auth.hooks;
    this.tree = new TopicTree<Session>();
    this.persist = openPersistence(this.options, (err) => this.emit('storeError', err), (seconds) => this.emit('storeCommit', seconds));
    this.retained = new RetainedIndex<Message>({
      sizeOf: (message) => message.payload.length,
      onSet: (_topic, message, previous) => this.persist?.retainedSet(message, previous),
      onDelete: (_topic, previous) => this.persist?.retainedDeleted(previous),
    });
    const canReceive = this.auth.canReceive;
    this.delivery = {
      limits: { maxMessages: this.options.maxQueuedMessages, maxBytes: this.options.maxQueuedBytes },
      queueQos0: this.options.queueQos0,
      counters: newDeliveryCounters(),
      backpressure: (session) => this.backpressure(session),
      relieve: (session) => this.relieve(session),
      persist: this.persist,
      canReceive: canReceive === undefined ? undefined : (outlet, topic) => canReceive(outlet as Connection, topic),
      memory: { over: false },
      holdPublisher: () => this.limits.hold(this.publisher),
    };
    this.fanout = new Fanout(this.tree, this.delivery, this.options.sharedSubscriptionStrategy);
    this.sys = new SysPublisher(this, (topic, payload) => createMessage({ topic, payload: Buffer.from(payload), qos: 0, retain: true }, Date.now()));
    this.registry = new SessionRegistry({
      onSessionEnd: (session) => this.sessionEnded(session),
      publishWill: (session, will) => this.publishWill(session, will),
    });
    this.ready = Promise.all([this.restore(), this.auth.load()]).then(() => {
      this.restored = true;
    });
    // Start `$SYS` once restored, so restored retained values are not overwritten unseen.
    this.ready.then(() => {
      if (this.options.sysInterval > 0 && !this.closing) this.sys.start(this.options.sysInterval);
    }, () => undefined);
    this.limits = new BrokerLimits({
      options: this.options, registry: this.registry, retained: this.retained, memory: this.delivery.memory,
      connections: this.connections, closing: () => this.closing, emit: (event, ...args) => this.emit(event, ...args),
    });
  }

  /** Puts back what the store holds: sessions, queues, windows, retained messages. */
  private async restore(): Promise<void> {
    if (this.persist === undefined) return;
    const state = await this.persist.store.load();
    this.recovery = recover(this, this.persist, state);
    await this.persist.commit();
  }

  // ConnectionHost: what each connection asks of the broker.
  get connectTimeout(): number {
    return this.options.connectTimeout;
  }

  get maxConnectPacketSize(): number {
    return this.options.maxConnectPacketSize;
  }

  get maxSocketBacklog(): number {
    return this.options.maxSocketBacklog;
  }

  /** Connected clients. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Every open connection, connected or still before CONNECT. */
  openConnections(): IterableIterator<Connection> {
    return this.connections.values();
  }

  /** Ready to serve: the store's state restored, listeners bound, not shutting down. */
  get isReady(): boolean {
    return this.restored && this.running.length > 0 && !this.closing;
  }

  /** Serves one client over any duplex stream (TCP socket, TLS socket, WebSocket stream). */
  handle(socket: Duplex, peer: PeerInfo = {}): Connection {
    const conn = new Connection(this, socket, peer);
    if (this.closing) {
      conn.close();
      return conn;
    }
    this.connections.add(conn);
    this.stats.connectionsTotal++;
    this.emit('connectionOpened', conn);
    return conn;
  }

  /**
   * Starts every listener of the options (one mqtt listener on 1883 by default) once the
   * store's state and the auth files are loaded. If one cannot bind, those started are closed.
   */
  async start(): Promise<RunningListener[]> {
    await this.ready;
    const started: RunningListener[] = [];
    try {
      for (const config of this.options.listeners) started.push(await this.startOne(config));
    } catch (err) {
      await Promise.all(started.map((l) => l.close()));
      throw err;
    }
    return started;
  }

  /** Starts one more listener (MQTT over TCP on 1883 unless told otherwise); resolves with the bound address. */
  async listen(options: ListenOptions = {}): Promise<AddressInfo> {
    await this.ready;
    const running = await this.startOne({ ...options, protocol: options.protocol ?? 'mqtt', port: options.port ?? 1883 });
    return running.address;
  }

  private async startOne(config: ListenerConfig): Promise<RunningListener> {
    if (this.closing) throw new Error('the broker is closing');
    // WebSocket frames are bounded by the packet size too (ws would otherwise buffer 100 MiB).
    const withLimits = { ...config, maxPacketSize: config.maxPacketSize ?? this.options.maxPacketSize };
    const running = await startListener(withLimits, (stream, peer) => this.handle(stream, peer), this.limits.admit);
    this.running.push(running);
    return running;
  }

  /** The listeners running now. */
  get runningListeners(): readonly RunningListener[] {
    return this.running;
  }

  /**
   * Re-reads the password file, the ACL and the certificates (SIGHUP), keeping every connection.
   * Returns one line per thing reloaded; what fails to load is kept as it was and reported.
   */
  async reload(): Promise<string[]> {
    const report: string[] = [];
    try {
      report.push(...await this.auth.reload());
    } catch (err) {
      report.push(`auth files not reloaded, the old ones stay: ${err instanceof Error ? err.message : String(err)}`);
    }
    for (const l of this.running) {
      if (l.config.tls === undefined) continue;
      try {
        await l.reloadTls();
        report.push(`${l.name}: certificates reloaded`);
      } catch (err) {
        report.push(`${l.name}: certificates not reloaded, the old ones stay: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return report;
  }

  clientConnected(conn: Connection, sessionPresent: boolean): void {
    this.emit('clientConnect', conn, sessionPresent);
  }

  /**
   * Applies changed options to the running broker (a config file re-read on SIGHUP). Limits
   * take effect at once (per-connection rates for new connections); options that shape state
   * already built (listeners, store, auth files, protocol features) need a restart and are only
   * reported. Returns one line per key that changed.
   */
  reconfigure(options: BrokerOptions): string[] {
    const next = resolveOptions({ ...options, hooks: undefined, store: undefined });
    const report: string[] = [];
    const current = this.options as unknown as Record<string, unknown>;
    const wanted = next as unknown as Record<string, unknown>;
    for (const key of Object.keys(DEFAULT_OPTIONS)) {
      if (current[key] === wanted[key]) continue;
      if (RELOADABLE.has(key)) {
        report.push(`${key}: ${String(current[key])} -> ${String(wanted[key])}`);
        current[key] = wanted[key];
      } else {
        report.push(`${key}: changed in the file; takes effect at the next start`);
      }
    }
    for (const key of ['listeners', 'dataDir', 'auth', 'metrics'] as const) {
      if (JSON.stringify(current[key] ?? null) !== JSON.stringify(wanted[key] ?? null)) {
        report.push(`${key}: changed in the file; takes effect at the next start${key === 'auth' ? ' (the files it names are reloaded now)' : ''}`);
      }
    }
    (this.delivery as { queueQos0: boolean }).queueQos0 = this.options.queueQos0;
    const limits = this.delivery.limits as { maxMessages: number; maxBytes: number };
    limits.maxMessages = this.options.maxQueuedMessages;
    limits.maxBytes = this.options.maxQueuedBytes;
    this.limits.restart();
    return report;
  }

  /** Limits hit since start, by limit. */
  get limitHits(): Readonly<Record<LimitName, number>> {
    return this.limits.hits;
  }

  /** Queued and unsent bytes across all clients, as last measured for the memory budget. */
  get memoryUsed(): number {
    return this.limits.memoryUsed;
  }

  limitHit(limit: LimitName): void {
    this.limits.hit(limit);
  }

  noteIncoming(bytes: number): void {
    this.limits.noteIncoming(bytes);
  }

  authFailed(conn: Connection, reasonCode: number): void {
    this.auth.failures.record(conn.remoteAddress);
    this.emit('authFailure', {
      clientId: conn.clientId, username: conn.username, remoteAddress: conn.remoteAddress, listener: conn.peer.listener, reasonCode,
    });
  }

  /** Stops listening, tells v5 clients the server is shutting down (0x8B), closes every link. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.sys.stop();
    this.limits.stop();
    const stopped = this.running.map((l) => l.close());
    for (const conn of [...this.connections]) conn.disconnect(0x8b, 'server shutting down');
    this.deadlines.stop();
    this.registry.close();
    await Promise.all(stopped);
    // Writes still pending (the goodbyes above detached sessions) are committed, then the store closes.
    await this.ready.catch(() => undefined);
    await this.persist?.store.close();
  }

  /** Publishes a message as the broker itself (no client origin, no authorization). */
  publish(input: PublishInput): number {
    const payload = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload;
    return this.publishMessage(createMessage({
      topic: input.topic, payload, qos: input.qos ?? 0, retain: input.retain ?? false, properties: input.properties,
    }, Date.now()));
  }

  /** `from`: the connection it came from, paused if a subscriber cannot keep up. */
  publishMessage(message: Message, from?: Connection): number {
    if (message.retain) {
      // [MQTT-3.3.1-10] [MQTT-3.3.1-11]: an empty retained payload clears the topic's retained message.
      if (message.payload.length === 0) this.retained.delete(message.topic);
      else if (this.limits.retainedRoomFor(message)) {
        detach(message);
        // [MQTT-3.3.1-5]: it replaces any earlier retained message for the topic.
        this.retained.set(message.topic, message);
      }
    }
    this.publisher = from;
    try {
      return this.fanout.publish(message);
    } finally {
      this.publisher = undefined;
    }
  }

  /**
   * A session cannot keep up: pause the publisher feeding it until it catches up, unless it has
   * been behind for longer than slowConsumerTimeout, in which case it is left behind instead.
   */
  private backpressure(session: Session): boolean {
    const publisher = this.publisher;
    if (publisher === undefined || publisher.session === session) return false;
    const now = performance.now();
    // Left behind not long ago: it does not get to slow publishers down again so soon, or a
    // subscriber that catches up now and then would stall them for slowConsumerTimeout each time.
    if (session.isolatedAt !== 0 && now - session.isolatedAt < ISOLATION_MEMORY * this.options.slowConsumerTimeout) return false;
    if (session.congestedSince === 0) session.congestedSince = now;
    else if (now - session.congestedSince > this.options.slowConsumerTimeout) {
      // Isolated: nobody waits for it any more, until it catches up (relieve).
      this.isolate(session);
      return false;
    }
    const blocked = (session.blockedPublishers ??= new Set());
    if (!blocked.has(publisher)) {
      if (blocked.size === 0) {
        // The timeout must also run out when nothing more comes for this session (its only
        // publishers are the paused ones): else a subscriber that never reads stalls them forever.
        setTimeout(() => {
          if (session.blockedPublishers === blocked) this.isolate(session);
        }, this.options.slowConsumerTimeout - (now - session.congestedSince) + 1).unref();
      }
      blocked.add(publisher);
      publisher.pauseReading();
    }
    return true;
  }

  /** Leaves a slow subscriber behind: its publishers go on; said once per episode. */
  private isolate(session: Session): void {
    session.isolatedAt = performance.now();
    if (session.blockedPublishers !== undefined) {
      this.limits.hit('slowConsumer');
      this.emit('slowConsumer', session.clientId);
      // 'disconnect': it goes now (v5 DISCONNECT 0x97); its session keeps QoS 1/2 for later.
      if (this.options.slowConsumerPolicy === 'disconnect') this.connectionOf(session)?.disconnect(0x97, 'slow consumer');
    }
    this.releasePublishers(session);
  }

  private relieve(session: Session): void {
    session.congestedSince = 0;
    this.releasePublishers(session);
  }

  private releasePublishers(session: Session): void {
    const blocked = session.blockedPublishers;
    if (blocked === undefined) return;
    session.blockedPublishers = undefined;
    for (const publisher of blocked) publisher.resumeReading();
  }

  connectionOf(session: Session): Connection | undefined {
    return session.outlet as Connection | undefined;
  }

  dispatch(conn: Connection, packet: Packet): void | Promise<void> {
    return dispatch(this, conn, packet);
  }

  scheduleFlush(conn: Connection): void {
    this.writes.add(conn);
  }

  drained(conn: Connection): void {
    if (conn.session !== undefined && conn.session.outlet === conn) pump(this.delivery, conn.session);
  }

  closed(conn: Connection): void {
    this.connections.delete(conn);
    this.limits.released(conn);
    this.emit('connectionClosed', conn);
    const session = conn.session;
    if (session !== undefined && session.outlet === conn) {
      this.relieve(session);
      this.registry.detach(session, conn.will);
      if (this.registry.get(session.clientId) === session) {
        this.persist?.sessionUpdated(session, { expiresAt: session.expiresAt, will: session.will, willAt: session.willAt });
      }
      // A session that goes on gives its shared-subscription messages not yet sent, and QoS 1
      // ones not yet acknowledged, to other members (v5 4.8.2); QoS 2 waits for it to come back.
      if (this.registry.get(session.clientId) === session) {
        handOffShared(this.delivery, this.tree, session, { inflightQos1: true, inflightQos2: false, sessionContinues: true });
      }
      this.emit('clientDisconnect', conn);
    }
  }

  internalError(conn: Connection, err: unknown): void {
    if (this.listenerCount('clientError') > 0) this.emit('clientError', conn, err);
    else process.emitWarning(`petrel: internal error on a connection of ${conn.clientId || 'unknown client'}: ${String(err)}`);
  }

  sysSnapshot(): SysSnapshot {
    let connected = 0;
    for (const c of this.connections) if (c.state === 'connected') connected++;
    return {
      version: PETREL_VERSION,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      clientsConnected: connected,
      sessions: this.registry.size,
      messagesReceived: this.stats.messagesReceived,
      messagesSent: this.delivery.counters.sent,
      messagesDropped: this.delivery.counters.dropped,
      bytesReceived: this.stats.bytesReceived,
      bytesSent: this.stats.bytesSent,
      subscriptions: this.tree.subscriptions,
      retained: this.retained.size,
    };
  }

  private publishWill(session: Session, will: Will): void {
    // A delayed will leaves the stored session record once it is sent.
    if (session.outlet === undefined && this.registry.get(session.clientId) === session) {
      this.persist?.sessionUpdated(session, { expiresAt: session.expiresAt, willAt: 0 });
    }
    const message = createMessage({
      topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
      properties: willProperties(will), origin: session.clientId,
    }, Date.now());
    const authorize = this.options.hooks.authorizePublish;
    if (authorize === undefined) {
      this.publishMessage(message);
      return;
    }
    const client = { clientId: session.clientId, username: undefined, protocolVersion: session.protocolVersion, remoteAddress: undefined };
    const decision = authorize({ client, topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: message.properties });
    const go = (d: Parameters<typeof refusalCode>[0]): void => {
      if (refusalCode(d, 0x87) === undefined) this.publishMessage(message);
    };
    if (isPromise(decision)) decision.then(go, () => undefined);
    else go(decision);
  }

  private sessionEnded(session: Session): void {
    this.persist?.sessionEnded(session);
    for (const filter of session.subscriptions.keys()) this.tree.remove(session, filter);
    session.subscriptions.clear();
    // What the session's shared subscriptions gave it and it never completed goes to other members,
    // except QoS 2 already sent: [MQTT-4.8.2-5] it MUST NOT go to any other client of the group.
    handOffShared(this.delivery, this.tree, session, { inflightQos1: true, inflightQos2: false, sessionContinues: false });
    clearQueue(session);
    session.inflight.clear();
    session.awaitingRelease.clear();
  }
}

/** A will's properties as a message's: all but the Will Delay Interval. */
function willProperties(will: Will): PublishProperties | undefined {
  if (will.properties === undefined) return undefined;
  const { willDelayInterval: _delay, ...rest } = will.properties;
  return Object.keys(rest).length > 0 ? rest : undefined;
}
