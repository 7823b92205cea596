// Extension hooks: plain functions in the options, each taking one context object (so fields
// can be added without breaking anyone). A hook may answer with a value or a promise; when it
// answers synchronously the hot path stays synchronous.

import type { ProtocolVersion, PublishProperties, QoS } from '../protocol/index.js';
import type { PeerCertificate } from './connection.js';

/** Who is on the other end of a connection. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string | undefined;
}

/**
 * A decision: true allows, false refuses with the hook's default code (0x86 for
 * authentication, 0x87 otherwise), an object refuses with the code the client will see.
 */
export type Decision = boolean | { reasonCode: number; reasonString?: string };

export type MaybePromise<T> = T | Promise<T>;

export interface AuthenticateContext {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string | undefined;
  /** The verified TLS client certificate, if the client presented one. */
  readonly certificate: PeerCertificate | undefined;
  /** The listener the client came in on. */
  readonly listener: string | undefined;
}

export interface PublishContext {
  readonly client: ClientInfo;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: PublishProperties | undefined;
}

export interface SubscribeContext {
  readonly client: ClientInfo;
  readonly filter: string;
  readonly qos: QoS;
}

export interface EnhancedAuthContext {
  readonly client: ClientInfo;
  readonly method: string;
  readonly data: Buffer | undefined;
  /** 0 for the CONNECT (or the AUTH starting a re-authentication), then 1, 2, … */
  readonly step: number;
  readonly reauthenticate: boolean;
  /** Scratch space kept across the steps of one exchange. */
  readonly state: Record<string, unknown>;
}

export type EnhancedAuthResult =
  | { outcome: 'continue'; data?: Buffer }
  | { outcome: 'success'; data?: Buffer; username?: string }
  | { outcome: 'fail'; reasonCode?: number; reasonString?: string };

export interface Hooks {
  /** Checks the user name and password of a CONNECT without an Authentication Method. */
  authenticate?: (ctx: AuthenticateContext) => MaybePromise<Decision>;
  /** Runs one step of a v5 enhanced authentication (CONNECT or AUTH with an Authentication Method). */
  enhancedAuth?: (ctx: EnhancedAuthContext) => MaybePromise<EnhancedAuthResult>;
  /** May this client publish this message? */
  authorizePublish?: (ctx: PublishContext) => MaybePromise<Decision>;
  /** May this client subscribe to this filter? */
  authorizeSubscribe?: (ctx: SubscribeContext) => MaybePromise<Decision>;
}

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/** The reason code a refusal carries, or undefined when the decision allows. */
export function refusalCode(decision: Decision, fallback: number): number | undefined {
  if (decision === true) return undefined;
  if (decision === false) return fallback;
  return decision.reasonCode < 0x80 ? fallback : decision.reasonCode;
}
