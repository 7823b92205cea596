// An application message as the broker holds it: one immutable object shared by every queue
// and inflight window it sits in; per-subscriber facts live in the delivery, not here.

import type { PreparedPublish } from '../protocol/publish-encoder.js';
import type { PublishProperties, QoS } from '../protocol/index.js';

export interface Message {
  readonly topic: string;
  /** May be a view into a socket chunk until `detach` copies it. */
  payload: Buffer;
  readonly qos: QoS;
  /** The RETAIN flag as published. */
  readonly retain: boolean;
  /** Properties forwarded to subscribers: never a Topic Alias or Subscription Identifier. */
  readonly properties: PublishProperties | undefined;
  /** Epoch ms when the message expires (v5 Message Expiry Interval); 0: never. */
  readonly expiresAt: number;
  /** Client id of the publisher, for No Local; undefined for the broker's own messages. */
  readonly origin: string | undefined;
  /** Encoded variants, filled as subscribers need them; only for messages without expiry. */
  variants: (PreparedPublish | undefined)[] | undefined;
  /** Variants with an outbound topic alias, by alias number, known-ness, version, QoS and RETAIN. */
  aliasVariants: Map<number, PreparedPublish> | undefined;
  detached: boolean;
  /** Its id in the store while something durable holds it; 0 when not stored. */
  storeId: number;
}

export interface MessageInput {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: PublishProperties | undefined;
  origin?: string | undefined;
}

/** Builds the shared message from what a publisher sent, stripping per-link properties. */
export function createMessage(input: MessageInput, now: number): Message {
  let properties = input.properties;
  let expiresAt = 0;
  if (properties !== undefined) {
    if (properties.topicAlias !== undefined || properties.subscriptionIdentifiers !== undefined) {
      // Topic Alias is per connection [MQTT-3.3.2-7]; Subscription Identifiers are per subscriber.
      const { topicAlias: _a, subscriptionIdentifiers: _s, ...rest } = properties;
      properties = Object.keys(rest).length > 0 ? rest : undefined;
    }
    const expiry = properties?.messageExpiryInterval;
    if (expiry !== undefined) expiresAt = now + expiry * 1000;
  }
  return {
    topic: input.topic,
    payload: input.payload,
    qos: input.qos,
    retain: input.retain,
    properties,
    expiresAt,
    origin: input.origin,
    variants: undefined,
    aliasVariants: undefined,
    detached: false,
    storeId: 0,
  };
}

/** A message read back from the store: its expiry stays the absolute time it was given. */
export function restoredMessage(id: number, m: {
  topic: string; payload: Buffer; qos: QoS; retain: boolean; properties?: PublishProperties; expiresAt: number; origin?: string;
}): Message {
  return {
    topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, properties: m.properties, expiresAt: m.expiresAt,
    origin: m.origin, variants: undefined, aliasVariants: undefined, detached: true, storeId: id,
  };
}

/**
 * Copies the payload out of the socket chunk it may be a view of, before the message is held
 * for longer than one turn (queued, retained), so it does not pin the whole chunk in memory.
 */
export function detach(message: Message): void {
  if (message.detached) return;
  message.detached = true;
  const p = message.payload;
  if (p.byteOffset !== 0 || p.buffer.byteLength !== p.length) message.payload = Buffer.from(p);
}

/** What messageCost adds to a message's payload and topic. */
export const MESSAGE_COST_BASE = 64;

/** Bytes a message costs in a queue: its payload and topic, roughly. */
export function messageCost(message: Message): number {
  return message.payload.length + message.topic.length + MESSAGE_COST_BASE;
}

/** Seconds left before expiry, rounded up; undefined for a message that never expires. */
export function remainingExpiry(message: Message, now: number): number | undefined {
  if (message.expiresAt === 0) return undefined;
  return Math.max(0, Math.ceil((message.expiresAt - now) / 1000));
}
