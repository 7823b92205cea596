// The `mqtts` listener end to end with the real broker and MQTT.js: server certificates,
// client certificates (none / optional / required; wrong CA and expired refused), the
// PeerCertificate the broker gets, certificate reload, and PROXY protocol in front of TLS.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { after, test } from 'node:test';
import type { IClientOptions } from 'mqtt';
import { PacketType } from '../../src/protocol/index.js';
import { startListener, type ListenerConfig, type TlsConfig } from '../../src/transport/index.js';
import { makeCerts, type CertFiles } from './certs.js';
import {
  closesSilently, connectMqtt, connectPacket, endAllClients, PacketReader, proxyV1, proxyV2, roundTrip, send, serve, tcpConnect,
  using, within,
} from './helpers.js';

const T = { timeout: 20_000 };
const certs = makeCerts();

after(async () => {
  await endAllClients();
  certs.cleanup();
});

function mqtts(tls: Partial<TlsConfig> = {}, extra: Partial<ListenerConfig> = {}): ListenerConfig {
  return { protocol: 'mqtts', host: '127.0.0.1', port: 0, tls: { cert: certs.serverA.cert, key: certs.serverA.key, ca: certs.caA.cert, ...tls }, ...extra };
}

/** MQTT.js TLS options: trust `trust`, present `client` if given. */
function clientTls(client?: CertFiles, trust: CertFiles = certs.caA): IClientOptions {
  return {
    ca: certs.read(trust.cert),
    rejectUnauthorized: true,
    ...(client === undefined ? {} : { cert: certs.read(client.cert), key: certs.read(client.key) }),
  };
}

const url = (port: number): string => `mqtts://127.0.0.1:${port}`;

test('mqtts: connect, subscribe, publish, receive (3.1.1 and 5); no client certificate requested', T, () =>
  using(serve(mqtts({ ca: undefined })), async ({ port, peer }) => {
    const subscriber = await connectMqtt(url(port), clientTls());
    // A client certificate offered where none is requested is not asked for, so not reported.
    const publisher = await connectMqtt(url(port), { ...clientTls(certs.client), protocolVersion: 5 });
    await roundTrip(subscriber, publisher);
    const p = await peer(0);
    assert.equal(p.remoteAddress, '127.0.0.1');
    assert.equal(p.listener, `mqtts:${port}`);
    assert.equal(p.certificate, undefined);
    assert.equal((await peer(1)).certificate, undefined);
    // A client that does not trust the server's CA fails on its side.
    await assert.rejects(connectMqtt(url(port), clientTls(undefined, certs.caB)));
  }));

test('mqtts: minVersion TLSv1.3 refuses a TLS 1.2 client; ciphers apply to TLS 1.2', T, async () => {
  await using(serve(mqtts({ minVersion: 'TLSv1.3' })), async ({ port, listener }) => {
    await assert.rejects(connectMqtt(url(port), { ...clientTls(), maxVersion: 'TLSv1.2' } as IClientOptions));
    await connectMqtt(url(port), clientTls());
    assert.ok(listener.stats.rejected.tls >= 1);
  });
  await using(serve(mqtts({ ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })), async ({ port }) => {
    const socket = await rawTls(port, { maxVersion: 'TLSv1.2' });
    assert.equal(socket.getCipher().name, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    socket.destroy();
  });
});

test('mqtts: an encrypted key with its passphrase; a wrong passphrase fails at start', T, async () => {
  await using(serve(mqtts({ key: certs.serverAEncryptedKey, passphrase: 'petrel-secret' })), async ({ port }) => {
    await roundTrip(await connectMqtt(url(port), clientTls()));
  });
  await assert.rejects(startListener(mqtts({ key: certs.serverAEncryptedKey, passphrase: 'wrong' }), () => undefined), /tls: cannot use/);
});

test('client certificates required: the verified subject reaches the broker; none, wrong CA and expired are refused', T, () =>
  using(serve(mqtts({ clientCertificates: 'required' })), async ({ port, peer, peers, listener }) => {
    const client = await connectMqtt(url(port), clientTls(certs.client));
    await roundTrip(client);
    const p = await peer(0);
    assert.deepEqual(p.certificate, {
      subject: 'CN=sensor-1,O=Acme\\, Inc.,C=DE',
      commonName: 'sensor-1',
      fingerprint256: new X509Certificate(certs.read(certs.client.cert)).fingerprint256,
    });
    await assert.rejects(connectMqtt(url(port), clientTls()), 'no certificate');
    await assert.rejects(connectMqtt(url(port), clientTls(certs.clientOtherCa)), 'certificate from another CA');
    await assert.rejects(connectMqtt(url(port), clientTls(certs.clientExpired)), 'expired certificate');
    assert.equal(peers.length, 1);
    assert.equal(listener.stats.rejected.tls, 1);
    assert.equal(listener.stats.rejected.clientCertificate, 2);
  }));

test('client certificates optional: none is fine (no certificate), valid is reported, one that fails verification closes', T, () =>
  using(serve(mqtts({ clientCertificates: 'optional' })), async ({ port, peer, peers, listener }) => {
    const anonymous = await connectMqtt(url(port), clientTls());
    assert.equal((await peer(0)).certificate, undefined);
    const holder = await connectMqtt(url(port), clientTls(certs.client));
    assert.equal((await peer(1)).certificate?.commonName, 'sensor-1');
    await roundTrip(anonymous, holder);
    await assert.rejects(connectMqtt(url(port), clientTls(certs.clientOtherCa)), 'certificate from another CA');
    await assert.rejects(connectMqtt(url(port), clientTls(certs.clientExpired)), 'expired certificate');
    assert.equal(peers.length, 2);
    assert.equal(listener.stats.rejected.clientCertificate, 2);
  }));

test('reloadTls: open connections stay, new handshakes use the new certificate; a failed reload keeps the old one', T, async () => {
  const live = join(certs.dir, 'live');
  mkdirSync(live, { recursive: true });
  const cert = join(live, 'server.pem');
  const key = join(live, 'server.key');
  copyFileSync(certs.serverA.cert, cert);
  copyFileSync(certs.serverA.key, key);
  await using(serve(mqtts({ cert, key, ca: undefined })), async ({ port, listener }) => {
    const old = await connectMqtt(url(port), clientTls(undefined, certs.caA));

    copyFileSync(certs.serverB.cert, cert);
    copyFileSync(certs.serverB.key, key);
    await listener.reloadTls();
    await roundTrip(old);
    const fresh = await connectMqtt(url(port), clientTls(undefined, certs.caB));
    await assert.rejects(connectMqtt(url(port), clientTls(undefined, certs.caA)), 'a client trusting only the old CA');
    await roundTrip(fresh, old);

    // Garbage, a key that does not match, a missing file: each throws, B stays.
    writeFileSync(cert, 'not a certificate');
    await assert.rejects(listener.reloadTls(), /tls: cannot use/);
    copyFileSync(certs.serverA.cert, cert); // A's certificate with B's key
    await assert.rejects(listener.reloadTls(), /tls: cannot use/);
    await assert.rejects(startListener(mqtts({ cert: join(live, 'missing.pem'), key }), () => undefined), /cannot read/);
    await connectMqtt(url(port), clientTls(undefined, certs.caB));
    await assert.rejects(connectMqtt(url(port), clientTls(undefined, certs.caA)));
  });
});

test('mqtts: a client that never finishes the handshake is closed after connectTimeout', T, () =>
  using(serve(mqtts({}, { connectTimeout: 300 })), async ({ port, listener }) => {
    const silent = await tcpConnect(port);
    const partial = await tcpConnect(port);
    partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a ClientHello that stops short
    const started = Date.now();
    await Promise.all([closesSilently(silent), closesSilently(partial)]);
    assert.ok(Date.now() - started >= 250);
    assert.equal(listener.stats.rejected.timeout, 2);
    assert.equal(listener.stats.rejected.tls, 0, 'a timeout is not also a TLS failure');
    await waitFor(() => listener.connections === 0, 'the sockets to be released');
  }));

test('mqtts maxConnections: past the limit a connection is closed before any TLS', T, () =>
  using(serve(mqtts({}, { maxConnections: 1 })), async ({ port, listener }) => {
    await connectMqtt(url(port), clientTls());
    const second = await tcpConnect(port);
    await closesSilently(second);
    assert.equal(listener.stats.rejected.maxConnections, 1);
    assert.equal(listener.stats.rejected.tls, 0);
  }));

// PROXY protocol in front of TLS: the header is read on the TCP stream, then TLS starts.

const proxied = (extra: Partial<TlsConfig> = {}): ListenerConfig => mqtts({ clientCertificates: 'required', ...extra }, { proxyProtocol: { trusted: ['127.0.0.1'] } });

test('PROXY v2 then TLS with a client certificate: PeerInfo has the proxied address and the certificate', T, () =>
  using(serve(proxied()), async ({ port, peer }) => {
    const socket = await rawTls(port, { cert: certs.read(certs.client.cert), key: certs.read(certs.client.key) },
      proxyV2({ src: '198.51.100.77', dst: '10.0.0.1', srcPort: 40404, dstPort: 8883 }));
    const reader = new PacketReader(socket);
    await send(socket, connectPacket('behind-proxy'));
    assert.equal((await reader.next(PacketType.CONNACK)).reasonCode, 0);
    const p = await peer(0);
    assert.equal(p.remoteAddress, '198.51.100.77');
    assert.equal(p.remotePort, 40404);
    assert.equal(p.certificate?.commonName, 'sensor-1');
    socket.destroy();
  }));

test('PROXY v1 header and the TLS ClientHello in one TCP chunk', T, () =>
  using(serve(proxied({ clientCertificates: 'none' })), async ({ port, peer }) => {
    const socket = await rawTls(port, {}, proxyV1('TCP4', '203.0.113.200', '10.0.0.1', 33333, 8883), true);
    const reader = new PacketReader(socket);
    await send(socket, connectPacket('one-chunk'));
    assert.equal((await reader.next(PacketType.CONNACK)).reasonCode, 0);
    assert.equal((await peer(0)).remoteAddress, '203.0.113.200');
    socket.destroy();
  }));

test('PROXY in front of TLS: a TLS client without the header is closed', T, () =>
  using(serve(proxied({ clientCertificates: 'none' })), async ({ port, listener, peers }) => {
    await assert.rejects(rawTls(port, {}));
    assert.equal(listener.stats.rejected.proxyHeader, 1);
    assert.equal(peers.length, 0);
  }));

/**
 * A TLS connection trusting CA A (servername localhost). `before` is written on the TCP stream
 * first; with `oneChunk` it goes out in the same write as the ClientHello.
 */
async function rawTls(port: number, options: ConnectionOptions, before?: Buffer, oneChunk = false): Promise<TLSSocket> {
  const tcp = await tcpConnect(port);
  tcp.on('error', () => undefined);
  let carrier: Duplex = tcp;
  if (before !== undefined && !oneChunk) await send(tcp, before);
  if (before !== undefined && oneChunk) carrier = prefixed(tcp, before);
  return within(new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({ socket: carrier, ca: certs.read(certs.caA.cert), servername: 'localhost', ...options }, () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  }), 'a TLS handshake');
}

/** A stream over `socket` whose first write carries `prefix` in front, as one TCP write. */
function prefixed(socket: Duplex, prefix: Buffer): Duplex {
  let first = true;
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      const bytes = first ? Buffer.concat([prefix, chunk]) : chunk;
      first = false;
      socket.write(bytes, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  return stream;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
