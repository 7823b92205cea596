// The `mqtt` listener end to end with the real broker and MQTT.js; PROXY protocol v1/v2 in
// front of it; connection limit; close.

import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, test } from 'node:test';
import { PacketType } from '../../src/protocol/index.js';
import { startListener } from '../../src/transport/index.js';
import {
  closed, closesSilently, connectMqtt, connectPacket, endAllClients, endClient, PacketReader, proxyV1, proxyV2, publishPacket,
  roundTrip, send, serve, subscribePacket, tcpConnect, using, within, type Served,
} from './helpers.js';

const T = { timeout: 15_000 };

after(() => endAllClients());

/** Sends `bytes` on a fresh TCP connection and expects CONNACK 0 back; returns the reader. */
async function connectRaw(port: number, ...chunks: Buffer[]): Promise<{ reader: PacketReader; end: () => void }> {
  const socket = await tcpConnect(port);
  const reader = new PacketReader(socket);
  for (const chunk of chunks) await send(socket, chunk);
  const connack = await reader.next(PacketType.CONNACK);
  assert.equal(connack.reasonCode, 0);
  return { reader, end: () => socket.destroy() };
}

test('mqtt: connect, subscribe, publish, receive; PeerInfo carries address, listener name and limits', T, () =>
  using(serve({ protocol: 'mqtt', host: '127.0.0.1', port: 0, connectTimeout: 2500, maxPacketSize: 4096 }), async ({ port, peer, listener }) => {
    const subscriber = await connectMqtt(`mqtt://127.0.0.1:${port}`);
    const publisher = await connectMqtt(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5 });
    await roundTrip(subscriber, publisher);
    const p = await peer(0);
    assert.equal(p.remoteAddress, '127.0.0.1');
    assert.equal(typeof p.remotePort, 'number');
    assert.equal(p.listener, `mqtt:${port}`);
    assert.equal(listener.name, `mqtt:${port}`);
    assert.equal(p.connectTimeout, 2500);
    assert.equal(p.maxPacketSize, 4096);
    assert.equal(p.certificate, undefined);
    assert.equal(listener.connections, 2);
    assert.equal(listener.stats.accepted, 2);
  }));

test('mqtt: a configured name is used; limits not configured are absent from PeerInfo', T, () =>
  using(serve({ name: 'plain', protocol: 'mqtt', host: '127.0.0.1', port: 0 }), async ({ port, peer }) => {
    await connectMqtt(`mqtt://127.0.0.1:${port}`);
    const p = await peer(0);
    assert.equal(p.listener, 'plain');
    assert.ok(!('connectTimeout' in p) && !('maxPacketSize' in p));
  }));

test('maxConnections: past the limit a new connection is closed at once; a freed slot is usable again', T, () =>
  using(serve({ protocol: 'mqtt', host: '127.0.0.1', port: 0, maxConnections: 2 }), async ({ port, listener }) => {
    const a = await connectMqtt(`mqtt://127.0.0.1:${port}`);
    const b = await connectMqtt(`mqtt://127.0.0.1:${port}`);
    const third = await tcpConnect(port);
    await closesSilently(third, 'the third connection to be refused');
    assert.equal(listener.stats.rejected.maxConnections, 1);
    assert.equal(listener.connections, 2);
    await roundTrip(a, b);
    await endClient(a);
    // The count drops when the broker's side of the socket has closed.
    const deadline = Date.now() + 3000;
    while (listener.connections > 1) {
      assert.ok(Date.now() < deadline, 'the connection count never dropped');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const c = await connectMqtt(`mqtt://127.0.0.1:${port}`);
    await roundTrip(c, b);
  }));

test('close: stops accepting; connections already handed to the broker go on', T, async () => {
  const served = await serve({ protocol: 'mqtt', host: '127.0.0.1', port: 0 });
  await using(served, async ({ port, listener }) => {
    const a = await connectMqtt(`mqtt://127.0.0.1:${port}`);
    await listener.close();
    await listener.close(); // idempotent
    await assert.rejects(within(new Promise((resolve, reject) => {
      const s = netConnect({ port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    }), 'a refused connection'), /ECONNREFUSED/);
    await roundTrip(a);
  });
});

test('startListener refuses configurations it cannot serve', T, async () => {
  const accept = (): void => undefined;
  await assert.rejects(startListener({ protocol: 'mqtts', port: 0 }, accept), /needs tls/);
  await assert.rejects(startListener({ protocol: 'mqtt', port: 0, tls: { cert: 'x', key: 'y' } }, accept), /tls is for mqtts and wss/);
  await assert.rejects(startListener({ protocol: 'mqtt', port: 70000 }, accept), /port/);
  await assert.rejects(startListener({ protocol: 'ws', port: 0, path: 'mqtt' }, accept), /path must start with/);
  await assert.rejects(startListener({ protocol: 'mqtt', port: 0, proxyProtocol: { trusted: ['10.0.0.0/40'] } }, accept), /prefix/);
  await assert.rejects(startListener({ protocol: 'mqtts', port: 0, tls: { cert: '/nonexistent.pem', key: '/nonexistent.key' } }, accept), /cannot read \/nonexistent\./);
  await assert.rejects(startListener({ protocol: 'mqtts', port: 0, tls: { cert: 'a', key: 'b', clientCertificates: 'required' } }, accept), /needs tls\.ca/);
  await assert.rejects(startListener({ protocol: 'mqtt', port: 0, connectTimeout: 0 }, accept), /connectTimeout/);
  // A port in use: the listen error comes back.
  const first = await startListener({ protocol: 'mqtt', host: '127.0.0.1', port: 0 }, accept);
  try {
    await assert.rejects(startListener({ protocol: 'mqtt', host: '127.0.0.1', port: first.address.port }, accept), /EADDRINUSE/);
  } finally {
    await first.close();
  }
});

// PROXY protocol.

const PROXIED = { protocol: 'mqtt' as const, host: '127.0.0.1', port: 0, proxyProtocol: { trusted: ['127.0.0.0/8', '::1'] } };

test('PROXY v1 TCP4: header and CONNECT in one chunk; PeerInfo has the proxied address', T, () =>
  using(serve(PROXIED), async ({ port, peer }) => {
    const { end } = await connectRaw(port, Buffer.concat([proxyV1('TCP4', '203.0.113.7', '10.0.0.1', 51000, 1883), connectPacket('v1-4')]));
    assert.deepEqual({ ...(await peer(0)) }, { remoteAddress: '203.0.113.7', remotePort: 51000, listener: `mqtt:${port}` });
    end();
  }));

test('PROXY v1 TCP6 and UNKNOWN (the socket address is kept)', T, () =>
  using(serve(PROXIED), async ({ port, peer }) => {
    (await connectRaw(port, proxyV1('TCP6', '2001:db8::42', '2001:db8::1', 4242, 1883), connectPacket('v1-6'))).end();
    const p0 = await peer(0);
    assert.equal(p0.remoteAddress, '2001:db8::42');
    assert.equal(p0.remotePort, 4242);
    (await connectRaw(port, Buffer.from('PROXY UNKNOWN\r\n'), connectPacket('v1-unknown'))).end();
    assert.equal((await peer(1)).remoteAddress, '127.0.0.1');
  }));

test('PROXY v2 TCP4 with TLVs, TCP6, LOCAL; the session works through the header', T, () =>
  using(serve(PROXIED), async ({ port, peer }) => {
    const tlvs = Buffer.from([0x02, 0x00, 0x09, ...Buffer.from('broker.io')]); // PP2_TYPE_AUTHORITY
    const c = await connectRaw(port, Buffer.concat([proxyV2({ src: '198.51.100.9', dst: '10.0.0.1', srcPort: 60000, dstPort: 1883, tlvs }), connectPacket('v2-4')]));
    assert.equal((await peer(0)).remoteAddress, '198.51.100.9');
    assert.equal((await peer(0)).remotePort, 60000);
    c.end();
    (await connectRaw(port, proxyV2({ family: 'INET6', src: '2001:db8:0:0:0:0:0:99', dst: '::1', srcPort: 5, dstPort: 1883 }), connectPacket('v2-6'))).end();
    assert.equal((await peer(1)).remoteAddress, '2001:db8::99');
    (await connectRaw(port, Buffer.concat([proxyV2({ command: 'LOCAL', family: 'UNSPEC' }), connectPacket('v2-local')]))).end();
    assert.equal((await peer(2)).remoteAddress, '127.0.0.1');
  }));

test('PROXY: a header split across many writes, then packets; nothing after the header is lost', T, () =>
  using(serve(PROXIED), async ({ port, peer }) => {
    const socket = await tcpConnect(port);
    const reader = new PacketReader(socket);
    const header = proxyV2({ src: '192.0.2.55', dst: '10.0.0.1', srcPort: 1111, dstPort: 1883 });
    const bytes = Buffer.concat([header, connectPacket('split'), subscribePacket('split/t'), publishPacket('split/t', 'through')]);
    // Odd cuts: inside the signature, inside the addresses, across header and CONNECT.
    const cuts = [0, 3, 11, 15, 20, header.length + 2, header.length + 9, bytes.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      await send(socket, bytes.subarray(cuts[i], cuts[i + 1]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal((await reader.next(PacketType.CONNACK)).reasonCode, 0);
    await reader.next(PacketType.SUBACK);
    const message = await reader.next(PacketType.PUBLISH);
    assert.equal(message.payload.toString(), 'through');
    assert.equal((await peer(0)).remoteAddress, '192.0.2.55');
    socket.destroy();
  }));

test('PROXY: a source not in trusted is closed without a byte read', T, () =>
  using(serve({ protocol: 'mqtt', host: '127.0.0.1', port: 0, proxyProtocol: { trusted: ['10.0.0.0/8', '2001:db8::/32'] } }), async ({ port, listener, peers }) => {
    const socket = await tcpConnect(port);
    socket.write(Buffer.concat([proxyV1('TCP4', '1.2.3.4', '10.0.0.1', 1, 1883), connectPacket('untrusted')]));
    await closesSilently(socket);
    assert.equal(listener.stats.rejected.untrusted, 1);
    assert.equal(peers.length, 0);
  }));

test('PROXY: IPv6 sources are checked too', T, async (t) => {
  let served: Served;
  try {
    served = await serve({ protocol: 'mqtt', host: '::1', port: 0, proxyProtocol: { trusted: ['::1/128'] } });
  } catch {
    t.skip('no IPv6 loopback');
    return;
  }
  await using(served, async ({ port, peer }) => {
    const socket = await tcpConnect(port, '::1');
    const reader = new PacketReader(socket);
    await send(socket, Buffer.concat([proxyV1('TCP6', '2001:db8::5', '::1', 7, 1883), connectPacket('v6')]));
    await reader.next(PacketType.CONNACK);
    assert.equal((await peer(0)).remoteAddress, '2001:db8::5');
    socket.destroy();
  });
});

for (const [name, bytes] of [
  ['a CONNECT without header', connectPacket('no-header')],
  ['an HTTP request', Buffer.from('GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n')],
  ['a v1 header longer than 107 bytes', Buffer.from(`PROXY TCP4 ${'9'.repeat(200)}`)],
  ['a v1 header with a bad address', Buffer.from('PROXY TCP4 1.2.3 10.0.0.1 1 2\r\n')],
  ['a v2 header with an unknown command', Buffer.concat([proxyV2({}).subarray(0, 12), Buffer.from([0x2f, 0x11, 0, 12]), Buffer.alloc(12)])],
] as const) {
  test(`PROXY: ${name} from a trusted source is closed`, T, () =>
    using(serve(PROXIED), async ({ port, listener, peers }) => {
      const socket = await tcpConnect(port);
      socket.write(bytes);
      await closesSilently(socket);
      assert.equal(listener.stats.rejected.proxyHeader, 1);
      assert.equal(peers.length, 0);
    }));
}

test('PROXY: no header within connectTimeout is closed; an incomplete one too', T, () =>
  using(serve({ ...PROXIED, connectTimeout: 300 }), async ({ port, listener }) => {
    const silent = await tcpConnect(port);
    const partial = await tcpConnect(port);
    partial.write('PROXY TCP4 1.2.3.4');
    const started = Date.now();
    await Promise.all([closesSilently(silent), closesSilently(partial)]);
    assert.ok(Date.now() - started >= 250, 'closed before the deadline');
    assert.equal(listener.stats.rejected.timeout, 2);
  }));

test('PROXY: a peer that ends mid-header is dropped without crashing', T, () =>
  using(serve(PROXIED), async ({ port, listener }) => {
    const socket = await tcpConnect(port);
    socket.end(proxyV2({}).subarray(0, 10));
    await closed(socket);
    const deadline = Date.now() + 3000;
    while (listener.connections > 0) {
      assert.ok(Date.now() < deadline, 'the socket was never released');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(listener.stats.rejected.proxyHeader, 1);
  }));

test('PROXY: many hostile connections at once leave the listener serving', T, () =>
  using(serve(PROXIED), async ({ port }) => {
    const junk = [Buffer.from('PROXY '), Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00]), Buffer.from('\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff'), Buffer.alloc(300, 0x41)];
    await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      const s = await tcpConnect(port);
      s.on('error', () => undefined);
      s.write(junk[i % junk.length]);
      if (i % 2 === 0) s.destroy();
      else s.end();
    }));
    (await connectRaw(port, proxyV1('TCP4', '203.0.113.1', '10.0.0.1', 1, 2), connectPacket('after-junk'))).end();
  }));
