// What packet handlers see of the broker: its state and the few operations they share.

import type { Auth } from '../auth/index.js';
import type { RetainedIndex } from '../routing/retained.js';
import type { TopicTree } from '../routing/topic-tree.js';
import type { Message } from '../session/message.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Session } from '../session/session.js';
import type { Connection } from './connection.js';
import type { DeliveryContext } from './delivery.js';
import type { ResolvedOptions } from './options.js';

export type LimitName =
  | 'maxConnections' | 'maxConnectionRate' | 'maxSessions' | 'maxPublishRate' | 'memoryBudget'
  | 'maxRetainedMessages' | 'maxRetainedBytes' | 'slowConsumer';

export interface BrokerStats {
  connectionsTotal: number;
  /** PUBLISH packets received from clients, in all and by QoS. */
  messagesReceived: number;
  receivedByQos: [number, number, number];
  /** Bytes read from and written to client sockets. */
  bytesReceived: number;
  bytesSent: number;
}

export interface BrokerContext {
  readonly options: ResolvedOptions;
  readonly registry: SessionRegistry;
  readonly tree: TopicTree<Session>;
  readonly retained: RetainedIndex<Message>;
  readonly delivery: DeliveryContext;
  readonly stats: BrokerStats;
  /** Stores it if retained, then delivers it to every matching session; returns how many matched. */
  publishMessage(message: Message, from?: Connection): number;
  /** The connection a session is attached to, if any. */
  connectionOf(session: Session): Connection | undefined;
  /** Password file, certificates, SCRAM and ACL, composed with the library's hooks. */
  readonly auth: Auth;
  /** A CONNECT was accepted (reported to whoever observes the broker). */
  clientConnected(conn: Connection, sessionPresent: boolean): void;
  /** A configured limit refused or slowed something: counted and reported. */
  limitHit(limit: LimitName): void;
  /** Notes bytes publishers brought in, so the memory budget is measured often enough. */
  noteIncoming(bytes: number): void;
  /** A CONNECT was refused for its credentials: counted against its address, and reported. */
  authFailed(conn: Connection, reasonCode: number): void;
}
