// CONNECT: client id rules, session start or resume, keep alive, authentication (plain or v5
// enhanced through AUTH), takeover of an existing connection, and the CONNACK.

import { randomBytes } from 'node:crypto';
import {
  PacketType, ProtocolError, topicLimitError, type ConnackProperties, type ConnectPacket,
} from '../../protocol/index.js';
import { NEVER_EXPIRES } from '../../session/registry.js';
import { OutboundAliases } from '../../session/topic-aliases.js';
import type { Connection } from '../connection.js';
import type { BrokerContext } from '../context.js';
import { TokenBucket } from '../token-bucket.js';
import { resume } from '../delivery.js';
import { isPromise, refusalCode, type Decision, type EnhancedAuthResult } from '../hooks.js';

/** What CONNECT negotiated, carried from the checks to the CONNACK. */
interface Negotiated {
  packet: ConnectPacket;
  clean: boolean;
  expiryInterval: number;
  keepAlive: number;
  connack: ConnackProperties;
}

/** Assigned client ids draw from a pool of random bytes: one syscall per 256 ids, not one each. */
let idPool = Buffer.alloc(0);
let idAt = 0;
function randomId(): string {
  if (idAt + 9 > idPool.length) {
    idPool = randomBytes(9 * 256);
    idAt = 0;
  }
  idAt += 9;
  return idPool.toString('base64url', idAt - 9, idAt);
}

export function handleConnect(b: BrokerContext, conn: Connection, p: ConnectPacket): void | Promise<void> {
  const o = b.options;
  const v5 = p.protocolVersion === 5;
  conn.protocolVersion = p.protocolVersion;
  const connack: ConnackProperties = {};

  let clientId = p.clientId;
  if (clientId.length === 0) {
    // 3.1 requires 1 to 23 characters; 3.1.1 allows an empty id only with a clean session
    // [MQTT-3.1.3-7] [MQTT-3.1.3-8]; v5 assigns one [MQTT-3.1.3-6].
    if (p.protocolVersion === 3 || (p.protocolVersion === 4 && !p.clean) || !o.allowEmptyClientId) {
      throw new ProtocolError(0x85, 'empty client identifier');
    }
    clientId = `petrel-${randomId()}`;
    if (v5) connack.assignedClientIdentifier = clientId;
  }
  if (Buffer.byteLength(clientId) > o.maxClientIdLength) throw new ProtocolError(0x85, 'client identifier too long');
  conn.clientId = clientId;
  conn.username = p.username;
  // A verified client certificate names the user when configured so (it replaces the CONNECT's).
  const certificate = conn.peer.certificate;
  const certificateUsername = o.auth.certificateUsername ?? 'none';
  if (certificate !== undefined && certificateUsername !== 'none') {
    conn.username = certificateUsername === 'cn' ? certificate.commonName ?? certificate.subject : certificate.subject;
  }
  // An address that failed too often this minute is refused before any password work.
  if (b.auth.failures.blocked(conn.remoteAddress)) {
    throw new ProtocolError(0x9f, 'too many failed authentications from this address');
  }

  const props = p.properties;
  conn.sendQuota = Math.min(props?.receiveMaximum ?? 65535, o.maxInflight);
  if (props?.maximumPacketSize !== undefined) conn.maxPacketSize = props.maximumPacketSize;
  if (props?.requestProblemInformation === false) conn.problemInformation = false;
  const aliasMaximum = props?.topicAliasMaximum ?? 0;
  // [MQTT-3.3.2-9] Never more aliases than the client's Topic Alias Maximum (0 or absent: none).
  if (aliasMaximum > 0 && o.outboundTopicAliases) conn.topicAliases = new OutboundAliases(aliasMaximum);
  // 3.1.2.11.6 / 3.2.2.3.15: Response Information only when the client asks for it.
  if (props?.requestResponseInformation === true && o.responseInformation !== '') {
    connack.responseInformation = `${o.responseInformation}${clientId}`;
  }

  // Session lifetime: v5 Session Expiry Interval (absent: 0); 3.x Clean Session 0 means "never".
  let expiryInterval = v5 ? props?.sessionExpiryInterval ?? 0 : p.clean ? 0 : NEVER_EXPIRES;
  conn.requestedExpiry = expiryInterval;
  if (expiryInterval > o.maxSessionExpiryInterval) {
    expiryInterval = o.maxSessionExpiryInterval;
    if (v5) connack.sessionExpiryInterval = expiryInterval; // 3.2.2.3.2
  }

  let keepAlive = p.keepAlive;
  if (keepAlive > o.maxKeepAlive || (v5 && keepAlive === 0 && o.maxKeepAlive < 65535)) {
    keepAlive = o.maxKeepAlive;
    if (v5) connack.serverKeepAlive = keepAlive; // [MQTT-3.2.2-21]
  }

  if (p.will !== undefined) {
    // [MQTT-3.2.2-12] A will above the Maximum QoS, [MQTT-3.2.2-13] a retained will without Retain Available.
    if (p.will.qos > o.maximumQoS) throw new ProtocolError(0x9b, 'will QoS above the maximum');
    if (p.will.retain && !o.retainAvailable) throw new ProtocolError(0x9a, 'retained will not supported');
    const overLimit = topicLimitError(p.will.topic, o.maxTopicLevels, o.maxTopicLength);
    if (overLimit !== undefined) throw new ProtocolError(0x90, `will topic ${overLimit}`);
  }

  const n: Negotiated = { packet: p, clean: p.clean, expiryInterval, keepAlive, connack };
  const method = props?.authenticationMethod;
  if (method !== undefined) return startEnhancedAuth(b, conn, n, method, props?.authenticationData);

  const authenticate = o.hooks.authenticate;
  if (authenticate === undefined) return authorizeWill(b, conn, n);
  const decision = authenticate({
    clientId, username: conn.username, password: p.password, protocolVersion: p.protocolVersion, remoteAddress: conn.remoteAddress,
    certificate, listener: conn.peer.listener,
  });
  conn.state = 'authenticating';
  const finish = (d: Decision): void | Promise<void> => {
    const code = refusalCode(d, 0x86);
    if (code !== undefined) {
      b.authFailed(conn, code);
      throw new ProtocolError(code, 'authentication refused');
    }
    return authorizeWill(b, conn, n);
  };
  return isPromise(decision) ? decision.then(finish) : finish(decision);
}

function startEnhancedAuth(b: BrokerContext, conn: Connection, n: Negotiated, method: string, data: Buffer | undefined): void | Promise<void> {
  const hook = b.options.hooks.enhancedAuth;
  // 4.12: an Authentication Method the server does not support: CONNACK 0x8C.
  if (hook === undefined) throw new ProtocolError(0x8c, `authentication method ${method} is not supported`);
  conn.state = 'authenticating';
  conn.authMethod = method;
  conn.authState = {};
  conn.authStep = 0;
  conn.completeConnect = (r) => {
    n.connack.authenticationMethod = method;
    if (r.data !== undefined) n.connack.authenticationData = r.data;
    return authorizeWill(b, conn, n);
  };
  return runAuthStep(b, conn, data, false);
}

/** One step of an enhanced authentication, at CONNECT or for an AUTH packet. */
export function runAuthStep(b: BrokerContext, conn: Connection, data: Buffer | undefined, reauthenticate: boolean): void | Promise<void> {
  const hook = b.options.hooks.enhancedAuth!;
  const result = hook({
    client: conn, method: conn.authMethod!, data, step: conn.authStep++, reauthenticate, state: conn.authState!,
  });
  const finish = (r: EnhancedAuthResult): void | Promise<void> => {
    const method = conn.authMethod!;
    if (r.outcome === 'continue') {
      // 4.12: the server continues with AUTH 0x18 carrying the same method.
      conn.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: r.data } });
      return;
    }
    if (r.outcome === 'fail') {
      const code = r.reasonCode !== undefined && r.reasonCode >= 0x80 ? r.reasonCode : 0x87;
      b.authFailed(conn, code);
      throw new ProtocolError(code, r.reasonString ?? 'authentication failed');
    }
    if (r.username !== undefined) conn.username = r.username;
    if (reauthenticate) {
      conn.send({ type: PacketType.AUTH, reasonCode: 0x00, properties: { authenticationMethod: method, authenticationData: r.data } });
      return;
    }
    const complete = conn.completeConnect!;
    conn.completeConnect = undefined;
    return complete(r);
  };
  return isPromise(result) ? result.then(finish) : finish(result);
}

/**
 * A will must be one the client may publish: checked now, while who the client is is known,
 * rather than when it is published (perhaps after a restart). Refused: CONNACK 0x87.
 */
function authorizeWill(b: BrokerContext, conn: Connection, n: Negotiated): void | Promise<void> {
  const will = n.packet.will;
  const authorize = b.options.hooks.authorizePublish;
  if (will === undefined || authorize === undefined) return accept(b, conn, n);
  const decision = authorize({
    client: conn, topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: undefined,
  });
  const finish = (d: Decision): void => {
    const code = refusalCode(d, 0x87);
    if (code !== undefined) throw new ProtocolError(code, 'not authorized to publish the will');
    accept(b, conn, n);
  };
  return isPromise(decision) ? decision.then(finish) : finish(decision);
}

/** Takes the session over, answers CONNACK, and resumes delivery. */
function accept(b: BrokerContext, conn: Connection, n: Negotiated): void {
  const o = b.options;
  const p = n.packet;
  const existing = b.registry.get(conn.clientId);
  if (existing !== undefined) {
    const previous = b.connectionOf(existing);
    // [MQTT-3.1.4-3] (v5) / [MQTT-3.1.4-2] (3.1.1): the existing connection is closed, v5 with 0x8E.
    if (previous !== undefined && previous !== conn) previous.disconnect(0x8e, 'session taken over');
  }
  if (existing === undefined && o.maxSessions > 0 && b.registry.size >= o.maxSessions) {
    b.limitHit('maxSessions');
    throw new ProtocolError(0x97, 'the broker holds as many sessions as it may');
  }
  const { session, present } = b.registry.open(conn.clientId, p.protocolVersion, n.clean, n.expiryInterval);
  if (o.maxPublishRate > 0) conn.publishRate = new TokenBucket(o.maxPublishRate);
  if (o.maxPublishBytesRate > 0) conn.publishBytesRate = new TokenBucket(o.maxPublishBytesRate);
  session.outlet = conn;
  conn.session = session;
  conn.will = p.will;
  // Stored with this connection's will: if the broker stops without a DISCONNECT, the will is
  // still sent when it starts again.
  b.delivery.persist?.sessionAttached(session, { expiresAt: 0, will: p.will, willAt: 0 });

  const connack = n.connack;
  const maxPacketSize = conn.peer.maxPacketSize ?? o.maxPacketSize;
  if (p.protocolVersion === 5) {
    if (o.receiveMaximum !== 65535) connack.receiveMaximum = o.receiveMaximum;
    if (o.maximumQoS < 2) connack.maximumQoS = o.maximumQoS as 0 | 1;
    connack.retainAvailable = o.retainAvailable;
    connack.maximumPacketSize = maxPacketSize;
    if (o.topicAliasMaximum > 0) connack.topicAliasMaximum = o.topicAliasMaximum;
    connack.wildcardSubscriptionAvailable = o.wildcardSubscriptionAvailable;
    connack.subscriptionIdentifiersAvailable = o.subscriptionIdentifiersAvailable;
    connack.sharedSubscriptionAvailable = o.sharedSubscriptionAvailable;
  }
  conn.accepted(maxPacketSize, n.keepAlive);
  conn.send({
    type: PacketType.CONNACK,
    // [MQTT-3.2.2-2] / [MQTT-3.2.2-3]: Session Present says whether the session was resumed.
    sessionPresent: present,
    reasonCode: 0,
    properties: p.protocolVersion === 5 ? connack : undefined,
  });
  b.clientConnected(conn, present);
  resume(b.delivery, session);
}
