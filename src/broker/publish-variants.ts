// The bytes of a delivery. Subscribers that see the same bytes share one encode: the variant
// (version x QoS x RETAIN flag, and the outbound topic alias) is cached on the message. Only
// what really differs per subscriber (subscription identifiers, a remaining expiry) is encoded
// for one subscriber alone.

import { preparePublish, type PreparedPublish } from '../protocol/publish-encoder.js';
import type { ProtocolVersion, PublishProperties } from '../protocol/index.js';
import { remainingExpiry, type Message } from '../session/message.js';
import type { Delivery, Outlet } from '../session/session.js';
import type { AliasLookup } from '../session/topic-aliases.js';

/**
 * The bytes of `d` for this outlet, or undefined when the packet would exceed the client's
 * Maximum Packet Size (an alias assigned for it is then forgotten). Called once per delivery:
 * it allocates nothing when the variant is cached.
 */
export function encodeDelivery(d: Delivery, outlet: Outlet): PreparedPublish | undefined {
  const m = d.message;
  if (outlet.protocolVersion !== 5) {
    // 3.1 and 3.1.1 PUBLISH are the same bytes and carry no properties.
    const key = d.qos * 2 + (d.retain ? 1 : 0);
    const prepared = m.variants?.[key] ?? cache(m, key, prepare(d, m.topic, undefined, 4));
    return prepared.size > outlet.maxPacketSize ? undefined : prepared;
  }
  const aliases = outlet.topicAliases;
  const alias: AliasLookup | undefined = aliases !== undefined && m.topic.length > 0 ? aliases.lookup(m.topic) : undefined;
  const topic = alias?.known ? '' : m.topic;
  let prepared: PreparedPublish | undefined;
  const base = 6 + d.qos * 2 + (d.retain ? 1 : 0);
  if (d.subscriptionIds !== undefined || m.expiresAt !== 0) {
    prepared = prepare(d, topic, withAlias(perSubscriberProperties(d, m), alias), 5);
  } else if (alias === undefined) {
    prepared = m.variants?.[base] ?? cache(m, base, prepare(d, topic, m.properties, 5));
  } else {
    const key = (alias.alias * 2 + (alias.known ? 1 : 0)) * 12 + base;
    prepared = m.aliasVariants?.get(key);
    if (prepared === undefined) {
      prepared = prepare(d, topic, withAlias(m.properties, alias), 5);
      (m.aliasVariants ??= new Map()).set(key, prepared);
    }
  }
  if (prepared.size <= outlet.maxPacketSize) return prepared;
  // Not sent: an alias assigned for this packet must not be taken as known by the next one.
  if (alias !== undefined && !alias.known) aliases!.forget(m.topic);
  return undefined;
}

function cache(m: Message, key: number, prepared: PreparedPublish): PreparedPublish {
  (m.variants ??= [])[key] = prepared;
  return prepared;
}

function prepare(d: Delivery, topic: string, properties: PublishProperties | undefined, version: ProtocolVersion): PreparedPublish {
  return preparePublish({ topic, payload: d.message.payload, qos: d.qos, retain: d.retain, properties }, version);
}

function withAlias(props: PublishProperties | undefined, alias: AliasLookup | undefined): PublishProperties | undefined {
  return alias === undefined ? props : { ...props, topicAlias: alias.alias };
}

/** The remaining Message Expiry Interval (3.3.2.3.3) and this subscriber's subscription ids. */
function perSubscriberProperties(d: Delivery, m: Message): PublishProperties | undefined {
  const expiry = remainingExpiry(m, Date.now());
  if (expiry === undefined && d.subscriptionIds === undefined) return m.properties;
  const props: PublishProperties = { ...m.properties };
  if (expiry !== undefined) props.messageExpiryInterval = expiry;
  if (d.subscriptionIds !== undefined) props.subscriptionIdentifiers = d.subscriptionIds;
  return props;
}
