// SCRAM (RFC 5802) with SHA-256 (RFC 7677) and SHA-512, as an MQTT 5 enhanced authentication
// (section 4.12): the server side of the exchange, plugged into the `enhancedAuth` hook.
//
//   CONNECT  method=SCRAM-SHA-256  data=client-first  (n,,n=user,r=cnonce)
//   AUTH 0x18 (server)             data=server-first  (r=cnonce+snonce,s=salt,i=iterations)
//   AUTH 0x18 (client)             data=client-final  (c=biws,r=cnonce+snonce,p=proof)
//   CONNACK 0x00                   data=server-final  (v=server signature)
//
// Re-authentication (4.12.1) is the same exchange started by an AUTH 0x19, answered at the end
// by AUTH 0x00 instead of CONNACK; the broker resets `ctx.state` and `ctx.step` for it.
//
// Reason codes, decided from the MQTT 5 spec:
// - [MQTT-4.12.0-4] the server may reject at any point with a CONNACK reason code 0x80 or above.
// - Unknown user, wrong proof, or a name that does not match the CONNECT's User Name (or the
//   identity being re-authenticated): 0x86 Bad User Name or Password at CONNECT time. During
//   re-authentication the refusal is a DISCONNECT ([MQTT-4.12.1-2]), which cannot carry 0x86, so
//   0x87 Not authorized. An authzid naming another user (acting for someone else): 0x87.
// - A SCRAM message that breaks RFC 5802 (syntax, attribute order, saslname escaping, encoding,
//   channel binding asked for, mandatory extension): 0x80 Unspecified error. The MQTT packet itself
//   is well formed, so neither 0x81 Malformed Packet nor 0x82 Protocol Error (which speak of this
//   specification's rules) fit; the reason string carries RFC 5802's server-error value.
// - Any other method is refused by the broker with 0x8C before this code runs [MQTT-4.12.0-1].

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EnhancedAuthContext, EnhancedAuthResult, MaybePromise } from '../broker/hooks.js';

export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number];

/** What the server keeps for one user and mechanism: enough to verify, never the password. */
export interface ScramCredentials {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export type ScramLookup = (username: string, mechanism: ScramMechanism) => MaybePromise<ScramCredentials | undefined>;

export interface ScramAuthenticatorOptions {
  /**
   * Iterations and salt length announced for an unknown user. They should look like the real
   * ones (the defaults match what `makeScramCredentials` writes), or the answer reveals the user.
   */
  fakeIterations?: number; // 4096
  fakeSaltLength?: number; // 16
  /** Key for the fake salts; random per process by default. Give a fixed one to keep them stable across restarts. */
  secret?: Buffer;
  /** Only for replaying published test vectors: the server part of the nonce. Leave unset. */
  serverNonce?: () => string;
}

const DIGEST: Record<ScramMechanism, 'sha256' | 'sha512'> = { 'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512' };
const HASH_LENGTH: Record<ScramMechanism, number> = { 'SCRAM-SHA-256': 32, 'SCRAM-SHA-512': 64 };

/** The digest name Node's crypto uses for a mechanism, and its output length in bytes. */
export function scramDigest(mechanism: ScramMechanism): { digest: 'sha256' | 'sha512'; length: number } {
  return { digest: DIGEST[mechanism], length: HASH_LENGTH[mechanism] };
}

export function isScramMechanism(method: string): method is ScramMechanism {
  return (SCRAM_MECHANISMS as readonly string[]).includes(method);
}

/** StoredKey and ServerKey from SaltedPassword (RFC 5802 section 3). */
export function scramKeys(mechanism: ScramMechanism, saltedPassword: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  const digest = DIGEST[mechanism];
  const clientKey = createHmac(digest, saltedPassword).update('Client Key').digest();
  return {
    storedKey: createHash(digest).update(clientKey).digest(),
    serverKey: createHmac(digest, saltedPassword).update('Server Key').digest(),
  };
}

/** Authentication data larger than this is refused before parsing; real messages are ~100 bytes. */
const MAX_MESSAGE = 4096;
const SERVER_NONCE_BYTES = 18;
const PROCESS_SECRET = randomBytes(32);

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// printable = %x21-2B / %x2D-7E: visible ASCII without ','.
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A SCRAM-level refusal: the client broke RFC 5802. */
class ScramSyntaxError extends Error {}

interface Exchange {
  readonly mechanism: ScramMechanism;
  readonly username: string;
  readonly gs2Header: string;
  readonly clientFirstBare: string;
  readonly serverFirst: string;
  readonly nonce: string;
  readonly credentials: ScramCredentials;
  /** True when the user does not exist: the exchange runs to the end and then fails. */
  readonly unknown: boolean;
}

const STATE_KEY = 'scram';

/** The `enhancedAuth` hook for SCRAM-SHA-256 and SCRAM-SHA-512. */
export function createScramAuthenticator(
  lookup: ScramLookup,
  options: ScramAuthenticatorOptions = {},
): (ctx: EnhancedAuthContext) => MaybePromise<EnhancedAuthResult> {
  const fakeIterations = options.fakeIterations ?? 4096;
  const fakeSaltLength = options.fakeSaltLength ?? 16;
  const secret = options.secret ?? PROCESS_SECRET;
  const serverNonce = options.serverNonce ?? ((): string => randomBytes(SERVER_NONCE_BYTES).toString('base64'));

  // Deterministic per user name, so probing the same name twice shows the same salt, as a real
  // user's would; keys are random, so no proof can match.
  const fakeCredentials = (mechanism: ScramMechanism, username: string): ScramCredentials => {
    const salt = createHmac('sha256', secret).update(`${mechanism}\0${username}`).digest().subarray(0, fakeSaltLength);
    const length = HASH_LENGTH[mechanism];
    return { salt, iterations: fakeIterations, storedKey: randomBytes(length), serverKey: randomBytes(length) };
  };

  return (ctx) => {
    const mechanism = ctx.method;
    if (!isScramMechanism(mechanism)) return { outcome: 'fail', reasonCode: 0x8c, reasonString: `${mechanism} is not a SCRAM mechanism` };
    try {
      if (ctx.step === 0) {
        const first = parseClientFirst(messageText(ctx.data));
        const refusal = checkIdentity(ctx, first.username, first.authzid);
        if (refusal !== undefined) return refusal;
        const start = (found: ScramCredentials | undefined): EnhancedAuthResult => {
          const credentials = found ?? fakeCredentials(mechanism, first.username);
          const nonce = first.nonce + serverNonce();
          const serverFirst = `r=${nonce},s=${credentials.salt.toString('base64')},i=${credentials.iterations}`;
          const exchange: Exchange = {
            mechanism, username: first.username, gs2Header: first.gs2Header, clientFirstBare: first.bare,
            serverFirst, nonce, credentials, unknown: found === undefined,
          };
          ctx.state[STATE_KEY] = exchange;
          return { outcome: 'continue', data: Buffer.from(serverFirst) };
        };
        const found = lookup(first.username, mechanism);
        return isThenable(found) ? found.then(start) : start(found);
      }
      const exchange = ctx.state[STATE_KEY] as Exchange | undefined;
      // The broker calls step 1 only after our own 'continue'; anything else is a misuse.
      if (ctx.step !== 1 || exchange === undefined || exchange.mechanism !== mechanism) {
        return { outcome: 'fail', reasonCode: 0x80, reasonString: 'SCRAM: unexpected authentication step' };
      }
      ctx.state[STATE_KEY] = undefined;
      return finish(ctx, exchange, messageText(ctx.data));
    } catch (err) {
      if (err instanceof ScramSyntaxError) return { outcome: 'fail', reasonCode: 0x80, reasonString: `SCRAM: ${err.message}` };
      throw err;
    }
  };
}

function isThenable<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/** The refusal for bad credentials: 0x86 in a CONNACK, 0x87 in the DISCONNECT ending a re-authentication. */
function badCredentials(ctx: EnhancedAuthContext): EnhancedAuthResult {
  // RFC 5802's "invalid-proof" for an unknown user too: the answer must not tell them apart.
  return { outcome: 'fail', reasonCode: ctx.reauthenticate ? 0x87 : 0x86, reasonString: 'SCRAM: invalid-proof' };
}

/**
 * The SCRAM user must be the one the connection claims: the CONNECT's User Name when it has
 * one, or the identity already authenticated when re-authenticating (a connection does not
 * change user midway; its session and permissions were granted to the first). An authzid
 * naming someone else would ask to act for them, which we do not offer.
 */
function checkIdentity(ctx: EnhancedAuthContext, username: string, authzid: string | undefined): EnhancedAuthResult | undefined {
  if (authzid !== undefined && authzid !== username) {
    return { outcome: 'fail', reasonCode: 0x87, reasonString: 'SCRAM: other-error (authzid names another user)' };
  }
  const claimed = ctx.client.username;
  if (claimed !== undefined && claimed !== username) {
    return { outcome: 'fail', reasonCode: ctx.reauthenticate ? 0x87 : 0x86, reasonString: 'SCRAM: user name differs from the connection\'s' };
  }
  return undefined;
}

function finish(ctx: EnhancedAuthContext, x: Exchange, text: string): EnhancedAuthResult {
  const final = parseClientFinal(text);
  // c= carries the gs2 header the client sent first, so a downgrade of it is noticed.
  if (final.channelBinding !== Buffer.from(x.gs2Header).toString('base64')) throw new ScramSyntaxError('channel-bindings-dont-match');
  // The nonce must be exactly the one the server announced (client part + server part).
  if (final.nonce !== x.nonce) throw new ScramSyntaxError('other-error (nonce mismatch)');
  const { digest, length } = scramDigest(x.mechanism);
  if (final.proof.length !== length) throw new ScramSyntaxError('invalid-encoding (proof length)');

  const authMessage = `${x.clientFirstBare},${x.serverFirst},${final.withoutProof}`;
  const clientSignature = createHmac(digest, x.credentials.storedKey).update(authMessage).digest();
  const clientKey = Buffer.alloc(length);
  for (let i = 0; i < length; i++) clientKey[i] = final.proof[i] ^ clientSignature[i];
  const candidate = createHash(digest).update(clientKey).digest();
  // Constant time, and computed for unknown users too, so the timing says nothing.
  const match = timingSafeEqual(candidate, x.credentials.storedKey);
  if (!match || x.unknown) return badCredentials(ctx);
  const serverSignature = createHmac(digest, x.credentials.serverKey).update(authMessage).digest();
  return { outcome: 'success', data: Buffer.from(`v=${serverSignature.toString('base64')}`), username: x.username };
}

function messageText(data: Buffer | undefined): string {
  if (data === undefined || data.length === 0) throw new ScramSyntaxError('other-error (no Authentication Data)');
  if (data.length > MAX_MESSAGE) throw new ScramSyntaxError('other-error (message too long)');
  try {
    return UTF8.decode(data);
  } catch {
    throw new ScramSyntaxError('invalid-encoding (not UTF-8)');
  }
}

/** Decodes a saslname: `=2C` is ',', `=3D` is '='; any other '=' (and NUL) is refused. */
export function decodeSaslName(value: string): string {
  if (value.length === 0 || value.includes('\0') || /=(?!2C|3D)/.test(value)) {
    throw new ScramSyntaxError('invalid-username-encoding');
  }
  return value.replace(/=2C|=3D/g, (m) => (m === '=2C' ? ',' : '='));
}

/** One `x=value` attribute in its expected place. */
function attribute(part: string | undefined, name: string, what: string): string {
  if (part === undefined || !part.startsWith(`${name}=`)) throw new ScramSyntaxError(`invalid-encoding (expected ${what} as ${name}=)`);
  return part.slice(2);
}

/** Optional extensions (RFC 5802 section 7): `attr-val` with a letter for attr; ignored. */
function checkExtensions(parts: string[]): void {
  for (const part of parts) {
    if (!/^[A-Za-z]=[^\0]*$/.test(part)) throw new ScramSyntaxError('invalid-encoding (extension)');
  }
}

function base64(value: string, what: string): Buffer {
  if (!BASE64.test(value)) throw new ScramSyntaxError(`invalid-encoding (${what} is not base64)`);
  return Buffer.from(value, 'base64');
}

export interface ClientFirst {
  readonly gs2Header: string;
  readonly authzid: string | undefined;
  readonly bare: string;
  readonly username: string;
  readonly nonce: string;
}

/**
 * client-first-message = gs2-header client-first-message-bare
 * gs2-header = gs2-cbind-flag "," [ authzid ] ","
 * client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
 */
export function parseClientFirst(text: string): ClientFirst {
  const flagEnd = text.indexOf(',');
  const authzEnd = flagEnd < 0 ? -1 : text.indexOf(',', flagEnd + 1);
  if (authzEnd < 0) throw new ScramSyntaxError('invalid-encoding (no gs2 header)');
  const flag = text.slice(0, flagEnd);
  // 'n': the client does not do channel binding; 'y': it does, but thinks we do not, which is
  // true (we offer no -PLUS mechanism), so it is accepted [RFC 5802 section 6]. 'p=' asks for
  // channel binding, which only a -PLUS mechanism may do.
  if (flag.startsWith('p=')) throw new ScramSyntaxError('channel-binding-not-supported');
  if (flag !== 'n' && flag !== 'y') throw new ScramSyntaxError('invalid-encoding (gs2-cbind-flag)');
  const authz = text.slice(flagEnd + 1, authzEnd);
  const authzid = authz === '' ? undefined : decodeSaslName(attribute(authz, 'a', 'authzid'));
  const bare = text.slice(authzEnd + 1);
  const parts = bare.split(',');
  if (parts[0]?.startsWith('m=')) throw new ScramSyntaxError('extensions-not-supported');
  const username = decodeSaslName(attribute(parts[0], 'n', 'the user name'));
  const nonce = attribute(parts[1], 'r', 'the nonce');
  if (!PRINTABLE.test(nonce)) throw new ScramSyntaxError('invalid-encoding (nonce)');
  checkExtensions(parts.slice(2));
  return { gs2Header: text.slice(0, authzEnd + 1), authzid, bare, username, nonce };
}

export interface ClientFinal {
  readonly channelBinding: string;
  readonly nonce: string;
  readonly proof: Buffer;
  readonly withoutProof: string;
}

/**
 * client-final-message = channel-binding "," nonce ["," extensions] "," proof
 * channel-binding = "c=" base64;  nonce = "r=" c-nonce s-nonce;  proof = "p=" base64
 */
export function parseClientFinal(text: string): ClientFinal {
  const proofAt = text.lastIndexOf(',p=');
  if (proofAt < 0) throw new ScramSyntaxError('invalid-encoding (no proof)');
  const withoutProof = text.slice(0, proofAt);
  const parts = withoutProof.split(',');
  const channelBinding = attribute(parts[0], 'c', 'the channel binding');
  base64(channelBinding, 'the channel binding');
  const nonce = attribute(parts[1], 'r', 'the nonce');
  checkExtensions(parts.slice(2));
  const proof = base64(text.slice(proofAt + 3), 'the proof');
  return { channelBinding, nonce, proof, withoutProof };
}
