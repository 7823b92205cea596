// The bytes of a delivery. Subscribers that see the same bytes share one encode: the variant
// (version x QoS x RETAIN flag, and the outbound topic alias) is cached on the message. Only
// what really differs per subscriber (subscription identifiers, a remaining expiry) is encoded
// for one subscriber alone.

import { preparePublish, type PreparedPublish } from '../protocol/publish-encoder.js';
import type { ProtocolVersion, PublishProperties } from '../protocol/index.js';
import { remainingExpiry, type Message } from '../session/message.js';
import type { Delivery, Outlet } from '../session/session.js';
import type { AliasLookup } from '../session/topic-aliases.js';

export interface EncodedDelivery {
  prepared: PreparedPublish;
  /** An alias assigned for this packet: to be forgotten if the packet is not sent. */
  newAlias: boolean;
}

export function encodeDelivery(d: Delivery, outlet: Outlet): EncodedDelivery {
  const m = d.message;
  if (outlet.protocolVersion !== 5) {
    // 3.1 and 3.1.1 PUBLISH are the same bytes and carry no properties.
    return { prepared: cached(m, d.qos * 2 + (d.retain ? 1 : 0), () => prepare(d, m.topic, undefined, 4)), newAlias: false };
  }
  const aliases = outlet.topicAliases;
  const alias: AliasLookup | undefined = aliases !== undefined && m.topic.length > 0 ? aliases.lookup(m.topic) : undefined;
  const newAlias = alias !== undefined && !alias.known;
  const topic = alias?.known ? '' : m.topic;
  if (d.subscriptionIds !== undefined || m.expiresAt !== 0) {
    return { prepared: prepare(d, topic, withAlias(perSubscriberProperties(d, m), alias), 5), newAlias };
  }
  const base = 6 + d.qos * 2 + (d.retain ? 1 : 0);
  if (alias === undefined) return { prepared: cached(m, base, () => prepare(d, topic, m.properties, 5)), newAlias };
  const key = (alias.alias * 2 + (alias.known ? 1 : 0)) * 12 + base;
  let prepared = m.aliasVariants?.get(key);
  if (prepared === undefined) {
    prepared = prepare(d, topic, withAlias(m.properties, alias), 5);
    (m.aliasVariants ??= new Map()).set(key, prepared);
  }
  return { prepared, newAlias };
}

function cached(m: Message, key: number, build: () => PreparedPublish): PreparedPublish {
  const variants = (m.variants ??= []);
  let prepared = variants[key];
  if (prepared === undefined) {
    prepared = build();
    variants[key] = prepared;
  }
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
