// TLS for `mqtts` and `wss`: the secure context from PEM files (and its reload), the server
// options for client certificates, and what a verified client certificate tells the broker.

import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import type { PeerCertificate } from '../broker/connection.js';
import type { TlsConfig } from './listener.js';

/** Reads the PEM files named in the config; a missing or unreadable file throws, naming it. */
export async function loadSecureOptions(config: TlsConfig): Promise<SecureContextOptions> {
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new Error(`tls.${what}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const [cert, key, ca] = await Promise.all([
    read('cert', config.cert),
    read('key', config.key),
    config.ca === undefined ? undefined : read('ca', config.ca),
  ]);
  const options: SecureContextOptions = { cert, key, minVersion: config.minVersion ?? 'TLSv1.2' };
  if (ca !== undefined) options.ca = ca;
  if (config.passphrase !== undefined) options.passphrase = config.passphrase;
  if (config.ciphers !== undefined) options.ciphers = config.ciphers;
  // Builds a context once to surface a bad key, a key that does not match the certificate,
  // an unknown cipher list or a bad CA bundle here, with the files named, not at the first handshake.
  try {
    createSecureContext(options);
  } catch (err) {
    throw new Error(`tls: cannot use ${config.cert} / ${config.key}${config.ca === undefined ? '' : ` / ${config.ca}`}: ${(err as Error).message}`);
  }
  return options;
}

/** Server options: the secure context plus client-certificate policy and handshake deadline. */
export function tlsServerOptions(config: TlsConfig, secure: SecureContextOptions, handshakeTimeout: number): TlsOptions {
  const mode = config.clientCertificates ?? 'none';
  return {
    ...secure,
    requestCert: mode !== 'none',
    // 'optional' lets the handshake finish without a certificate; `acceptableCertificate`
    // then refuses one that was presented but failed verification.
    rejectUnauthorized: mode === 'required',
    // The listener's own deadline (from accept to hand-over) closes a slow handshake first;
    // Node's is only a backstop.
    handshakeTimeout: handshakeTimeout + 1000,
  };
}

/**
 * Whether a finished handshake may go on. With client certificates 'optional', a certificate
 * that was presented but failed verification (unknown CA, expired, …) is refused rather than
 * ignored: that is what OpenSSL's SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT does (Mosquitto
 * with require_certificate false, nginx with ssl_verify_client optional), and it keeps a client
 * that meant to authenticate by certificate from silently going on as anonymous, which would
 * hide an expired certificate until some authorization fails far from its cause.
 */
export function acceptableCertificate(socket: TLSSocket, config: TlsConfig): boolean {
  const mode = config.clientCertificates ?? 'none';
  if (mode === 'none' || socket.authorized) return true;
  if (mode === 'required') return false;
  return socket.getPeerX509Certificate() === undefined;
}

/** The verified client certificate of a TLS socket, or undefined (none, or not verified). */
export function verifiedCertificate(socket: TLSSocket): PeerCertificate | undefined {
  if (!socket.authorized) return undefined;
  const x509 = socket.getPeerX509Certificate();
  if (x509 === undefined) return undefined;
  const cn = socket.getPeerCertificate().subject?.CN as string | string[] | undefined;
  return {
    subject: rfc4514(x509.subject),
    // Several CNs: the last in DER order is the most specific, the first in RFC 4514 order.
    commonName: Array.isArray(cn) ? cn[cn.length - 1] : cn,
    fingerprint256: x509.fingerprint256,
  };
}

/**
 * Node prints a subject one RDN per line in DER order (most general first), values escaped as
 * RFC 2253 wants (`\,`, `\+`, …; control characters as hex), multi-valued RDNs joined by ' + '.
 * RFC 4514 puts the most specific first, RDNs joined by ',' and values of one RDN by '+'.
 */
export function rfc4514(nodeSubject: string): string {
  return nodeSubject
    .split('\n')
    .filter((rdn) => rdn.length > 0)
    .map((rdn) => rdn.replace(/ \+ (?=[A-Za-z0-9.]+=)/g, '+'))
    .reverse()
    .join(',');
}
