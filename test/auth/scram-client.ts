// The client side of SCRAM (RFC 5802, section 3 and 5), written from the RFC alone so that it
// checks the server instead of mirroring it: nothing here imports from src/. Hi() is the RFC's
// own loop of HMACs rather than the PBKDF2 the server's tooling uses.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type Mechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

const ALGORITHM: Record<Mechanism, 'sha256' | 'sha512'> = { 'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512' };

const H = (alg: string, data: Buffer): Buffer => createHash(alg).update(data).digest();
const HMAC = (alg: string, key: Buffer, data: Buffer | string): Buffer => createHmac(alg, key).update(data).digest();
const XOR = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i]!));

/** Hi(str, salt, i): U1 = HMAC(str, salt + INT(1)), Ui = HMAC(str, Ui-1), result U1 XOR ... XOR Ui. */
export function hi(alg: string, str: Buffer, salt: Buffer, i: number): Buffer {
  let u = HMAC(alg, str, Buffer.concat([salt, Buffer.from([0, 0, 0, 1])]));
  const result = Buffer.from(u);
  for (let n = 1; n < i; n++) {
    u = HMAC(alg, str, u);
    for (let k = 0; k < result.length; k++) result[k]! ^= u[k]!;
  }
  return result;
}

/** saslname: ',' and '=' are written =2C and =3D. */
export function saslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export interface ClientKeys {
  saltedPassword: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export function deriveKeys(mechanism: Mechanism, password: string, salt: Buffer, iterations: number): ClientKeys {
  const alg = ALGORITHM[mechanism];
  const saltedPassword = hi(alg, Buffer.from(password, 'utf8'), salt, iterations);
  const clientKey = HMAC(alg, saltedPassword, 'Client Key');
  return { saltedPassword, clientKey, storedKey: H(alg, clientKey), serverKey: HMAC(alg, saltedPassword, 'Server Key') };
}

export interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

/** Parses `r=...,s=...,i=...` strictly in that order. */
export function parseServerFirst(text: string): ServerFirst {
  const m = /^r=([^,]+),s=([A-Za-z0-9+/=]+),i=([0-9]+)$/.exec(text);
  if (m === null) throw new Error(`not a server-first-message: ${text}`);
  return { nonce: m[1]!, salt: Buffer.from(m[2]!, 'base64'), iterations: Number(m[3]) };
}

export interface ClientOptions {
  nonce?: string;
  /** gs2 header, `n,,` unless a test wants another. */
  gs2Header?: string;
}

/** One exchange, as a client runs it: first(), then final(serverFirst), then verify(serverFinal). */
export class ScramClient {
  readonly nonce: string;
  readonly gs2Header: string;
  readonly bare: string;
  private authMessage: string | undefined;
  private keys: ClientKeys | undefined;

  constructor(readonly mechanism: Mechanism, readonly username: string, readonly password: string, opts: ClientOptions = {}) {
    this.nonce = opts.nonce ?? randomBytes(18).toString('base64');
    this.gs2Header = opts.gs2Header ?? 'n,,';
    this.bare = `n=${saslName(username)},r=${this.nonce}`;
  }

  first(): string {
    return this.gs2Header + this.bare;
  }

  /** client-final-message for this server-first; throws if the server did not extend our nonce. */
  final(serverFirstText: string, override: { nonce?: string } = {}): string {
    const sf = parseServerFirst(serverFirstText);
    if (!sf.nonce.startsWith(this.nonce) || sf.nonce.length <= this.nonce.length) throw new Error('server nonce does not extend ours');
    this.keys = deriveKeys(this.mechanism, this.password, sf.salt, sf.iterations);
    const withoutProof = `c=${Buffer.from(this.gs2Header).toString('base64')},r=${override.nonce ?? sf.nonce}`;
    this.authMessage = `${this.bare},${serverFirstText},${withoutProof}`;
    const clientSignature = HMAC(ALGORITHM[this.mechanism], this.keys.storedKey, this.authMessage);
    const proof = XOR(this.keys.clientKey, clientSignature);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** True when `v=` is the signature only a server holding our ServerKey could compute. */
  verify(serverFinalText: string): boolean {
    const m = /^v=([A-Za-z0-9+/=]+)$/.exec(serverFinalText);
    if (m === null || this.keys === undefined || this.authMessage === undefined) return false;
    const expected = HMAC(ALGORITHM[this.mechanism], this.keys.serverKey, this.authMessage);
    const got = Buffer.from(m[1]!, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  }
}
