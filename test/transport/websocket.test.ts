// The `ws` and `wss` listeners end to end: MQTT.js over WebSocket, subprotocols, paths, MQTT
// packets split across and packed into frames, text frames, message size, back-pressure, and
// PROXY protocol in front of HTTP and of TLS.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import type { IClientOptions } from 'mqtt';
import { PacketType } from '../../src/protocol/index.js';
import { startListener, type ListenerConfig, type TlsConfig } from '../../src/transport/index.js';
import { makeCerts, type CertFiles } from './certs.js';
import {
  clientFrame, closesSilently, connectMqtt, connectPacket, endAllClients, PacketReader, proxyV1, proxyV2, publishPacket,
  readHttpResponse, roundTrip, send, serve, ServerFrames, subscribePacket, tcpConnect, upgradeRequest, using, within,
} from './helpers.js';

const T = { timeout: 20_000 };
const certs = makeCerts();

after(async () => {
  await endAllClients();
  certs.cleanup();
});

const ws = (extra: Partial<ListenerConfig> = {}): ListenerConfig => ({ protocol: 'ws', host: '127.0.0.1', port: 0, ...extra });
const wss = (tls: Partial<TlsConfig> = {}, extra: Partial<ListenerConfig> = {}): ListenerConfig => ({
  protocol: 'wss', host: '127.0.0.1', port: 0, tls: { cert: certs.serverA.cert, key: certs.serverA.key, ca: certs.caA.cert, ...tls }, ...extra,
});

function clientTls(client?: CertFiles): IClientOptions {
  return {
    ca: certs.read(certs.caA.cert),
    rejectUnauthorized: true,
    ...(client === undefined ? {} : { cert: certs.read(client.cert), key: certs.read(client.key) }),
  };
}

/** A `ws` client, open; rejects on a refused upgrade. */
function openWs(url: string, protocols: string[] = ['mqtt'], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return within(new Promise<WebSocket>((resolve, reject) => {
    const socket = new WebSocket(url, protocols, options);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  }), `a WebSocket to ${url}`);
}

/** Packets the broker sends on a `ws` client. */
function readerOf(socket: WebSocket): PacketReader {
  const reader = new PacketReader();
  socket.on('message', (data: Buffer) => reader.push(data));
  return reader;
}

function closeCode(socket: WebSocket): Promise<number> {
  return within(new Promise<number>((resolve) => socket.once('close', (code: number) => resolve(code))), 'the WebSocket to close');
}

test('ws: MQTT.js 3.1, 3.1.1 and 5 connect, subscribe, publish, receive; X-Forwarded-For is not trusted', T, () =>
  using(serve(ws()), async ({ port, peer, listener }) => {
    const url = `ws://127.0.0.1:${port}/mqtt`;
    const v311 = await connectMqtt(url, { wsOptions: { headers: { 'X-Forwarded-For': '6.6.6.6' } } } as IClientOptions);
    const v5 = await connectMqtt(url, { protocolVersion: 5 });
    const v31 = await connectMqtt(url, { protocolVersion: 3, protocolId: 'MQIsdp' }); // offers subprotocol mqttv3.1
    await roundTrip(v311, v5);
    await roundTrip(v31, v311);
    await roundTrip(v5, v31);
    const p = await peer(0);
    assert.equal(p.remoteAddress, '127.0.0.1');
    assert.equal(p.listener, `ws:${port}`);
    assert.equal(listener.connections, 3);
  }));

test('wss: MQTT.js with a required client certificate; the subject reaches the broker; none is refused', T, () =>
  using(serve(wss({ clientCertificates: 'required' })), async ({ port, peer, peers }) => {
    const url = `wss://127.0.0.1:${port}/mqtt`;
    const a = await connectMqtt(url, clientTls(certs.client));
    const b = await connectMqtt(url, { ...clientTls(certs.client), protocolVersion: 5 });
    await roundTrip(a, b);
    const p = await peer(0);
    assert.equal(p.listener, `wss:${port}`);
    assert.equal(p.certificate?.subject, 'CN=sensor-1,O=Acme\\, Inc.,C=DE');
    await assert.rejects(connectMqtt(url, clientTls()));
    await assert.rejects(connectMqtt(url, clientTls(certs.clientExpired)));
    assert.equal(peers.length, 2);
  }));

test('wss: optional client certificates; one from another CA is refused; reloadTls applies', T, () =>
  using(serve(wss({ clientCertificates: 'optional' })), async ({ port, peer, listener }) => {
    const url = `wss://127.0.0.1:${port}/mqtt`;
    await connectMqtt(url, clientTls());
    assert.equal((await peer(0)).certificate, undefined);
    await assert.rejects(connectMqtt(url, clientTls(certs.clientOtherCa)));
    assert.equal(listener.stats.rejected.clientCertificate, 1);
    await listener.reloadTls();
    await connectMqtt(url, clientTls(certs.client));
    assert.equal((await peer(1)).certificate?.commonName, 'sensor-1');
  }));

test('ws: only the configured path upgrades; others get 404 and are closed; plain HTTP is refused', T, () =>
  using(serve(ws({ path: '/custom' })), async ({ port, peers, listener }) => {
    await roundTrip(await connectMqtt(`ws://127.0.0.1:${port}/custom?x=1`));
    await assert.rejects(connectMqtt(`ws://127.0.0.1:${port}/mqtt`));
    for (const [request, status] of [
      [upgradeRequest('/other', 'mqtt'), 404],
      [upgradeRequest('/custom/', 'mqtt'), 404],
      ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 404],
      ['GET /custom HTTP/1.1\r\nHost: x\r\n\r\n', 426],
      ['BREW /custom HTCPCP/1.0\r\n\r\n', 400],
      [upgradeRequest('/custom', 'mqtt').replace('Version: 13', 'Version: 12'), 400],
    ] as const) {
      const socket = await tcpConnect(port);
      const closedPromise = once(socket, 'close');
      socket.write(request);
      assert.equal((await readHttpResponse(socket)).status, status, request.split('\r\n')[0]);
      await within(closedPromise, 'the connection to close after the refusal');
    }
    assert.equal(peers.length, 1);
    assert.equal(listener.stats.rejected.websocket, 7);
  }));

test('ws subprotocols: mqtt and mqttv3.1 are chosen, none offered is fine, only unknown ones are refused', T, () =>
  using(serve(ws()), async ({ port }) => {
    const url = `ws://127.0.0.1:${port}/mqtt`;
    for (const [offered, chosen] of [[['mqtt'], 'mqtt'], [['mqttv3.1'], 'mqttv3.1'], [['foo', 'mqtt'], 'mqtt'], [['mqttv3.1', 'mqtt'], 'mqtt'], [[], '']] as const) {
      const socket = await openWs(url, [...offered]);
      assert.equal(socket.protocol, chosen, `offered ${offered.join(',')}`);
      const reader = readerOf(socket);
      socket.send(connectPacket(`sp-${chosen}`));
      assert.equal((await reader.next(PacketType.CONNACK)).reasonCode, 0);
      socket.terminate();
    }
    await assert.rejects(openWs(url, ['foo']), /400/);
  }));

test('ws frames: a packet split across frames, a fragmented message, several packets in one frame', T, () =>
  using(serve(ws()), async ({ port }) => {
    const socket = await openWs(`ws://127.0.0.1:${port}/mqtt`);
    const reader = readerOf(socket);
    const connect = connectPacket('frames');
    // CONNECT cut at odd places into three binary messages.
    socket.send(connect.subarray(0, 1));
    socket.send(connect.subarray(1, 7));
    socket.send(connect.subarray(7));
    assert.equal((await reader.next(PacketType.CONNACK)).reasonCode, 0);
    // SUBSCRIBE and a PUBLISH, with the start of the next PUBLISH, in one frame; its rest in the next.
    const second = publishPacket('f/t', 'second');
    socket.send(Buffer.concat([subscribePacket('f/t'), publishPacket('f/t', 'first'), second.subarray(0, 3)]));
    socket.send(second.subarray(3));
    await reader.next(PacketType.SUBACK);
    assert.equal((await reader.next(PacketType.PUBLISH)).payload.toString(), 'first');
    assert.equal((await reader.next(PacketType.PUBLISH)).payload.toString(), 'second');
    // One message in continuation frames (FIN clear, then set).
    const third = publishPacket('f/t', 'third, fragmented');
    socket.send(third.subarray(0, 5), { binary: true, fin: false });
    socket.send(third.subarray(5, 9), { binary: true, fin: false });
    socket.send(third.subarray(9), { binary: true, fin: true });
    assert.equal((await reader.next(PacketType.PUBLISH)).payload.toString(), 'third, fragmented');
    socket.terminate();
  }));

test('ws by hand: the upgrade request and a masked CONNECT frame in one TCP write', T, () =>
  using(serve(ws()), async ({ port }) => {
    const socket = await tcpConnect(port);
    socket.write(Buffer.concat([Buffer.from(upgradeRequest('/mqtt', 'mqtt')), clientFrame(2, connectPacket('by-hand'))]));
    const response = await readHttpResponse(socket);
    assert.equal(response.status, 101);
    assert.match(response.head, /Sec-WebSocket-Protocol: mqtt/i);
    const frames = new ServerFrames();
    const reader = new PacketReader();
    const feed = (chunk: Buffer): void => {
      const before = frames.frames.length;
      frames.push(chunk);
      for (const f of frames.frames.slice(before)) {
        assert.equal(f.opcode, 2, 'MQTT goes in binary frames');
        reader.push(f.payload);
      }
    };
    socket.on('data', feed);
    feed(response.rest);
    assert.equal((await reader.next(PacketType.CONNACK)).reasonCode, 0);
    socket.destroy();
  }));

test('ws: a text frame closes the connection before the broker sees it', T, () =>
  using(serve(ws()), async ({ port }) => {
    const socket = await openWs(`ws://127.0.0.1:${port}/mqtt`);
    const received: Buffer[] = [];
    socket.on('message', (d: Buffer) => received.push(d));
    const code = closeCode(socket);
    // A valid CONNECT, but as text (its bytes are ASCII, so valid UTF-8).
    socket.send(connectPacket('as-text').toString('latin1'));
    assert.ok([1003, 1006].includes(await code), `close code ${await code}`);
    assert.deepEqual(received, []);
  }));

test('ws: a message larger than maxPacketSize closes with 1009', T, () =>
  using(serve(ws({ maxPacketSize: 256 })), async ({ port, peer }) => {
    const socket = await openWs(`ws://127.0.0.1:${port}/mqtt`);
    assert.equal((await peer(0)).maxPacketSize, 256);
    const code = closeCode(socket);
    socket.send(Buffer.alloc(1000));
    assert.equal(await code, 1009);
  }));

test('ws back-pressure: write() returns false while the client does not read, drain follows when it does', T, async () => {
  const streams: Duplex[] = [];
  let wake: (() => void) | undefined;
  const listener = await startListener(ws(), (stream) => {
    streams.push(stream);
    wake?.();
  });
  try {
    const socket = await openWs(`ws://127.0.0.1:${listener.address.port}/mqtt`);
    let received = 0;
    socket.on('message', (d: Buffer) => { received += d.length; });
    socket.pause();
    if (streams.length === 0) await within(new Promise<void>((resolve) => { wake = resolve; }), 'the stream');
    const stream = streams[0];
    const chunk = Buffer.alloc(256 * 1024, 0x55);
    let written = 0;
    let blocked = false;
    while (written < 128 * 1024 * 1024) {
      written += chunk.length;
      if (stream.write(chunk)) continue;
      // Blocked for good once no 'drain' comes for a while: kernel buffers are full.
      const drained = await Promise.race([
        once(stream, 'drain').then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300)),
      ]);
      if (!drained) {
        blocked = true;
        break;
      }
    }
    assert.ok(blocked, `write() never blocked (${written} bytes written to a client that does not read)`);
    const drain = within(once(stream, 'drain'), "'drain' after the client reads");
    socket.resume();
    await drain;
    const deadline = Date.now() + 5000;
    while (received < written) {
      assert.ok(Date.now() < deadline, `received ${received} of ${written} bytes`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(received, written);
    socket.terminate();
  } finally {
    await listener.close();
    for (const s of streams) s.destroy();
  }
});

test('ws: no upgrade within connectTimeout closes the socket', T, () =>
  using(serve(ws({ connectTimeout: 300 })), async ({ port, listener }) => {
    const socket = await tcpConnect(port);
    socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n');
    await closesSilently(socket);
    assert.equal(listener.stats.rejected.timeout, 1);
    assert.equal(listener.stats.rejected.websocket, 0);
  }));

test('ws maxConnections: past the limit a connection is closed before any HTTP', T, () =>
  using(serve(ws({ maxConnections: 1 })), async ({ port, listener }) => {
    await connectMqtt(`ws://127.0.0.1:${port}/mqtt`);
    await assert.rejects(openWs(`ws://127.0.0.1:${port}/mqtt`));
    assert.equal(listener.stats.rejected.maxConnections, 1);
  }));

test('PROXY v1, upgrade request and a CONNECT frame in one TCP write: the proxied address reaches the broker', T, () =>
  using(serve(ws({ proxyProtocol: { trusted: ['127.0.0.1'] } })), async ({ port, peer }) => {
    const socket = await tcpConnect(port);
    socket.write(Buffer.concat([
      proxyV1('TCP4', '192.0.2.99', '10.0.0.1', 5555, 80),
      Buffer.from(upgradeRequest('/mqtt', 'mqtt', 'X-Forwarded-For: 6.6.6.6\r\n')),
      clientFrame(2, connectPacket('proxied-ws')),
    ]));
    const response = await readHttpResponse(socket);
    assert.equal(response.status, 101);
    const p = await peer(0);
    assert.equal(p.remoteAddress, '192.0.2.99');
    assert.equal(p.remotePort, 5555);
    const frames = new ServerFrames();
    frames.push(response.rest);
    if (frames.frames.length === 0) {
      await within(new Promise<void>((resolve) => socket.on('data', (d: Buffer) => {
        frames.push(d);
        if (frames.frames.length > 0) resolve();
      })), 'the CONNACK frame');
    }
    assert.deepEqual([...frames.frames[0].payload.subarray(0, 4)], [0x20, 0x02, 0x00, 0x00]);
    socket.destroy();
  }));

test('PROXY v2 in front of wss: header on TCP, then TLS, then the upgrade; certificate and address both reported', T, () =>
  using(serve(wss({ clientCertificates: 'required' }, { proxyProtocol: { trusted: ['127.0.0.0/8'] } })), async ({ port, peer }) => {
    const tcp = await tcpConnect(port);
    await send(tcp, proxyV2({ family: 'INET6', src: '2001:db8::abc', dst: '2001:db8::1', srcPort: 9999, dstPort: 443 }));
    const socket = await openWs(`wss://localhost:${port}/mqtt`, ['mqtt'], {
      createConnection: () => tlsConnect({
        socket: tcp, servername: 'localhost', ca: certs.read(certs.caA.cert),
        cert: certs.read(certs.client.cert), key: certs.read(certs.client.key),
      }),
    });
    const reader = readerOf(socket);
    socket.send(connectPacket('proxied-wss'));
    assert.equal((await reader.next(PacketType.CONNACK)).reasonCode, 0);
    const p = await peer(0);
    assert.equal(p.remoteAddress, '2001:db8::abc');
    assert.equal(p.remotePort, 9999);
    assert.equal(p.certificate?.commonName, 'sensor-1');
    socket.terminate();
  }));

test('PROXY on a ws listener: an untrusted source is closed before HTTP', T, () =>
  using(serve(ws({ proxyProtocol: { trusted: ['10.0.0.0/8'] } })), async ({ port, listener }) => {
    await assert.rejects(openWs(`ws://127.0.0.1:${port}/mqtt`));
    assert.equal(listener.stats.rejected.untrusted, 1);
  }));
