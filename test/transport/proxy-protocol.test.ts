// The PROXY protocol parser on its own: v1 and v2 headers, every split point, bounds, and
// hostile input; and the trusted-source list.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv6, isTrusted, parseProxyHeader, ProxyProtocolError, trustedSources, V1_MAX_LENGTH } from '../../src/transport/proxy-protocol.js';
import { proxyV1, proxyV2 } from './helpers.js';

const MQTT_CONNECT_START = Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54]);

/** Feeds `bytes` as the listener would, cut at `cut`; returns the parse from the first complete prefix. */
function parseSplit(bytes: Buffer, cut: number): ReturnType<typeof parseProxyHeader> {
  assert.equal(parseProxyHeader(bytes.subarray(0, cut)), undefined, `a prefix of ${cut} bytes must ask for more`);
  return parseProxyHeader(bytes);
}

const valid: { name: string; bytes: Buffer; source?: { address: string; port: number }; local?: boolean; version: 1 | 2 }[] = [
  { name: 'v1 TCP4', bytes: proxyV1('TCP4', '203.0.113.7', '10.0.0.1', 51000, 1883), source: { address: '203.0.113.7', port: 51000 }, version: 1 },
  { name: 'v1 TCP6', bytes: proxyV1('TCP6', '2001:db8::7', '2001:db8::1', 65535, 8883), source: { address: '2001:db8::7', port: 65535 }, version: 1 },
  { name: 'v1 TCP6 longest', bytes: proxyV1('TCP6', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535, 65535), source: { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 }, version: 1 },
  { name: 'v1 UNKNOWN', bytes: Buffer.from('PROXY UNKNOWN\r\n'), local: true, version: 1 },
  { name: 'v1 UNKNOWN with addresses', bytes: Buffer.from('PROXY UNKNOWN ffff:: 1:: 1 2\r\n'), local: true, version: 1 },
  { name: 'v2 INET', bytes: proxyV2({ src: '198.51.100.20', dst: '10.1.2.3', srcPort: 40000, dstPort: 1883 }), source: { address: '198.51.100.20', port: 40000 }, version: 2 },
  { name: 'v2 INET6', bytes: proxyV2({ family: 'INET6', src: '2001:db8:0:0:1:0:0:1', dst: '::1', srcPort: 1, dstPort: 2 }), source: { address: '2001:db8::1:0:0:1', port: 1 }, version: 2 },
  {
    name: 'v2 INET with TLVs (skipped)',
    bytes: proxyV2({ src: '192.0.2.1', dst: '192.0.2.2', srcPort: 7, dstPort: 8, tlvs: Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x05, 0x00, 0x03, 0x61, 0x62, 0x63]) }),
    source: { address: '192.0.2.1', port: 7 }, version: 2,
  },
  { name: 'v2 LOCAL', bytes: proxyV2({ command: 'LOCAL', family: 'UNSPEC' }), local: true, version: 2 },
  { name: 'v2 LOCAL with an address block (ignored)', bytes: proxyV2({ command: 'LOCAL', src: '1.2.3.4', dst: '5.6.7.8' }), local: true, version: 2 },
  { name: 'v2 PROXY AF_UNSPEC', bytes: proxyV2({ family: 'UNSPEC' }), local: false, version: 2 },
];

for (const c of valid) {
  test(`PROXY ${c.name}: parsed whole and at every split point, bytes after it untouched`, () => {
    const withData = Buffer.concat([c.bytes, MQTT_CONNECT_START]);
    const whole = parseProxyHeader(withData);
    assert.ok(whole !== undefined);
    assert.equal(whole.length, c.bytes.length);
    assert.equal(whole.header.version, c.version);
    assert.deepEqual(whole.header.source, c.source);
    assert.equal(whole.header.local, c.local ?? false);
    assert.deepEqual(withData.subarray(whole.length), MQTT_CONNECT_START);
    for (let cut = 1; cut < c.bytes.length; cut++) {
      const parsed = parseSplit(c.bytes, cut);
      assert.equal(parsed?.length, c.bytes.length, `cut at ${cut}`);
    }
  });
}

const invalid: { name: string; bytes: Buffer }[] = [
  { name: 'an MQTT CONNECT', bytes: MQTT_CONNECT_START },
  { name: 'an HTTP request', bytes: Buffer.from('GET /mqtt HTTP/1.1\r\n\r\n') },
  { name: 'a TLS ClientHello', bytes: Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]) },
  { name: 'lower-case proxy', bytes: Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n') },
  { name: 'v1 without CRLF within 107 bytes', bytes: Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`) },
  { name: 'v1 of 108 bytes', bytes: Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 16 + 1)}\r\n`) },
  { name: 'v1 LF only', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n') },
  { name: 'v1 CR without LF', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX') },
  { name: 'v1 TCP5', bytes: Buffer.from('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n') },
  { name: 'v1 TCP4 with IPv6 address', bytes: Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n') },
  { name: 'v1 TCP6 with IPv4 address', bytes: Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n') },
  { name: 'v1 bad IPv4', bytes: Buffer.from('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n') },
  { name: 'v1 port too large', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n') },
  { name: 'v1 port with leading zero', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n') },
  { name: 'v1 negative port', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n') },
  { name: 'v1 missing field', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n') },
  { name: 'v1 extra field', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n') },
  { name: 'v1 double space', bytes: Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n') },
  { name: 'v1 non-ASCII', bytes: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\u00e9\r\n') },
  { name: 'v1 NUL', bytes: Buffer.from('PROXY TCP4 1.2.3.4\u0000 5.6.7.8 1 2\r\n') },
  { name: 'v2 version 1', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x11, 0x11, 0, 0])]) },
  { name: 'v2 command 2', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x22, 0x11, 0, 12]), Buffer.alloc(12)]) },
  { name: 'v2 family 4', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x41, 0, 0])]) },
  { name: 'v2 DGRAM', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x12, 0, 12]), Buffer.alloc(12)]) },
  { name: 'v2 INET block too short', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x11, 0, 8]), Buffer.alloc(8)]) },
  { name: 'v2 INET6 block too short', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x21, 0, 12]), Buffer.alloc(12)]) },
  { name: 'v2 UNIX block too short', bytes: Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x31, 0, 12]), Buffer.alloc(12)]) },
  { name: 'v2 broken signature', bytes: Buffer.from('0d0a0d0a000d0a515549540b21110000', 'hex') },
];

for (const c of invalid) {
  test(`PROXY refuses ${c.name}`, () => {
    assert.throws(() => parseProxyHeader(c.bytes), ProxyProtocolError);
  });
}

test('PROXY v1: a header that stops short waits for more, but never past 107 bytes', () => {
  assert.equal(parseProxyHeader(Buffer.from('PROX')), undefined);
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')), undefined);
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r')), undefined);
  assert.equal(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(V1_MAX_LENGTH - 7)}`)), undefined);
  assert.throws(() => parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(V1_MAX_LENGTH - 6)}`)), ProxyProtocolError);
  assert.throws(() => parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(V1_MAX_LENGTH - 7)}\r`)), ProxyProtocolError);
});

test('PROXY v2: waits for the declared length and no more; a large TLV block is skipped whole', () => {
  const header = proxyV2({ src: '10.0.0.9', dst: '10.0.0.1', srcPort: 1234, dstPort: 1883, tlvs: Buffer.alloc(3000, 0xee) });
  assert.equal(parseProxyHeader(header.subarray(0, header.length - 1)), undefined);
  const parsed = parseProxyHeader(Buffer.concat([header, Buffer.from([0x10])]));
  assert.equal(parsed?.length, header.length);
  assert.equal(parsed?.header.source?.address, '10.0.0.9');
});

test('PROXY: empty input asks for more', () => {
  assert.equal(parseProxyHeader(Buffer.alloc(0)), undefined);
});

test('PROXY: random bytes never crash the parser (only a result, a wait or a ProxyProtocolError)', () => {
  let seed = 12345;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const starts = [Buffer.from('PROXY '), Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.alloc(0)];
  for (let i = 0; i < 3000; i++) {
    const tail = Buffer.from(Array.from({ length: Math.floor(rand() * 120) }, () => Math.floor(rand() * 256)));
    const bytes = Buffer.concat([starts[i % 3], tail]);
    try {
      const parsed = parseProxyHeader(bytes);
      if (parsed !== undefined) assert.ok(parsed.length <= bytes.length);
    } catch (err) {
      assert.ok(err instanceof ProxyProtocolError, String(err));
    }
  }
});

test('IPv6 text from bytes follows RFC 5952', () => {
  const b = (hex: string): Buffer => Buffer.from(hex, 'hex');
  assert.equal(ipv6(b('00000000000000000000000000000001'), 0), '::1');
  assert.equal(ipv6(b('00000000000000000000000000000000'), 0), '::');
  assert.equal(ipv6(b('20010db8000000000000000000000001'), 0), '2001:db8::1');
  assert.equal(ipv6(b('20010db8000000010000000000000001'), 0), '2001:db8:0:1::1');
  assert.equal(ipv6(b('20010db8000000000001000000000001'), 0), '2001:db8::1:0:0:1');
  assert.equal(ipv6(b('20010db8000100010001000100010001'), 0), '2001:db8:1:1:1:1:1:1');
  assert.equal(ipv6(b('20010db8000001230000000000000001'), 0), '2001:db8:0:123::1');
  assert.equal(ipv6(b('00000000000000000000ffffc0000201'), 0), '::ffff:192.0.2.1');
});

test('trusted sources: addresses and CIDRs, IPv4 and IPv6; IPv4 rules match IPv4-mapped addresses', () => {
  const list = trustedSources(['10.0.0.0/8', '192.168.1.5', '2001:db8::/32', '::1']);
  assert.ok(isTrusted(list, '10.20.30.40'));
  assert.ok(isTrusted(list, '::ffff:10.20.30.40'));
  assert.ok(isTrusted(list, '192.168.1.5'));
  assert.ok(!isTrusted(list, '192.168.1.6'));
  assert.ok(isTrusted(list, '2001:db8:ffff::1'));
  assert.ok(!isTrusted(list, '2001:db9::1'));
  assert.ok(isTrusted(list, '::1'));
  assert.ok(!isTrusted(list, '127.0.0.1'));
  assert.ok(!isTrusted(list, undefined));
  assert.ok(!isTrusted(trustedSources([]), '10.0.0.1'));
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'localhost', '10.0.0.0/', '10.0.0.0/8/8', '1.2.3.4/-1', '']) {
    assert.throws(() => trustedSources([bad]), /proxyProtocol\.trusted/, bad);
  }
});
