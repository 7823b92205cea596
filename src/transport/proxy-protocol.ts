// PROXY protocol v1 (text) and v2 (binary), as HAProxy specifies them
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt): the header a load balancer
// puts in front of a TCP stream to say who the client really is. Pure functions on Buffers;
// the listener feeds bytes until a header is complete, then hands the rest of the stream on.

import { BlockList, isIP, isIPv4, isIPv6 } from 'node:net';

/** What a PROXY header said. `source` absent: use the socket's own address (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX). */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /** v2 LOCAL (a health check of the proxy itself) or v1 UNKNOWN: no client address is carried. */
  readonly local: boolean;
  readonly source?: { readonly address: string; readonly port: number } | undefined;
  readonly destination?: { readonly address: string; readonly port: number } | undefined;
}

/** A parsed header and how many bytes of the input it took. */
export interface ProxyParse {
  readonly header: ProxyHeader;
  readonly length: number;
}

export class ProxyProtocolError extends Error {
  override readonly name = 'ProxyProtocolError';
}

/** v1: "PROXY " + the longest line (TCP6 with two full addresses and ports) + CRLF is 107 bytes. */
export const V1_MAX_LENGTH = 107;
/** v2: 16 bytes of fixed header + up to 65535 bytes of addresses and TLVs. */
export const V2_MAX_LENGTH = 16 + 0xffff;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/**
 * Parses a PROXY header at the start of `buf`. Returns undefined when more bytes are needed
 * (the header may arrive split across chunks; call again with everything received so far),
 * throws ProxyProtocolError when the bytes cannot be a valid header. Never reads past the
 * length the header declares, and never waits for more than a header's maximum length.
 */
export function parseProxyHeader(buf: Buffer): ProxyParse | undefined {
  if (buf.length === 0) return undefined;
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < 16 ? undefined : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? undefined : parseV1(buf);
  throw new ProxyProtocolError('not a PROXY protocol header');
}

/** Whether the first bytes of `buf` agree with `prefix` (as far as either goes). */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.compare(prefix, 0, n, 0, n) === 0;
}

function parseV1(buf: Buffer): ProxyParse | undefined {
  const window = buf.subarray(0, V1_MAX_LENGTH);
  const cr = window.indexOf(0x0d);
  if (cr === -1 || cr === window.length - 1) {
    // A lone LF, or no CR within the limit: it can never become valid.
    if (window.indexOf(0x0a) !== -1 || buf.length >= V1_MAX_LENGTH) throw new ProxyProtocolError('PROXY v1 header without CRLF within 107 bytes');
    return undefined;
  }
  if (window[cr + 1] !== 0x0a) throw new ProxyProtocolError('PROXY v1 header: CR not followed by LF');
  const line = window.toString('latin1', 0, cr);
  if (!/^[\x20-\x7e]*$/.test(line)) throw new ProxyProtocolError('PROXY v1 header: not printable ASCII');
  const parts = line.split(' ');
  const length = cr + 2;
  // "PROXY UNKNOWN" may be followed by anything up to the CRLF, which the receiver ignores.
  if (parts[1] === 'UNKNOWN') return { header: { version: 1, local: true }, length };
  if (parts.length !== 6) throw new ProxyProtocolError('PROXY v1 header: wrong number of fields');
  const [, family, srcAddress, dstAddress, srcPort, dstPort] = parts;
  const valid = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  if (valid === undefined) throw new ProxyProtocolError(`PROXY v1 header: unknown protocol ${JSON.stringify(family)}`);
  if (!valid(srcAddress) || !valid(dstAddress)) throw new ProxyProtocolError(`PROXY v1 header: bad ${family} address`);
  return {
    header: {
      version: 1, local: false,
      source: { address: srcAddress, port: v1Port(srcPort) },
      destination: { address: dstAddress, port: v1Port(dstPort) },
    },
    length,
  };
}

function v1Port(text: string): number {
  // Decimal, no leading zeros, 0..65535.
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) throw new ProxyProtocolError('PROXY v1 header: bad port');
  const port = Number(text);
  if (port > 0xffff) throw new ProxyProtocolError('PROXY v1 header: port out of range');
  return port;
}

function parseV2(buf: Buffer): ProxyParse | undefined {
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) throw new ProxyProtocolError('PROXY v2 header: unsupported version');
  const command = verCmd & 0x0f;
  if (command > 1) throw new ProxyProtocolError('PROXY v2 header: unknown command');
  const famProto = buf[13];
  const bodyLength = buf.readUInt16BE(14);
  const length = 16 + bodyLength;
  if (buf.length < length) return undefined;
  // LOCAL: the proxy speaks for itself (health checks); the address block is ignored.
  if (command === 0) return { header: { version: 2, local: true }, length };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (family > 3 || transport > 2) throw new ProxyProtocolError('PROXY v2 header: unknown address family or protocol');
  if (transport === 2) throw new ProxyProtocolError('PROXY v2 header: DGRAM on a stream listener');
  const body = buf.subarray(16, length);
  if (family === 1) {
    if (body.length < 12) throw new ProxyProtocolError('PROXY v2 header: AF_INET block too short');
    return {
      header: {
        version: 2, local: false,
        source: { address: ipv4(body, 0), port: body.readUInt16BE(8) },
        destination: { address: ipv4(body, 4), port: body.readUInt16BE(10) },
      },
      length,
    };
  }
  if (family === 2) {
    if (body.length < 36) throw new ProxyProtocolError('PROXY v2 header: AF_INET6 block too short');
    return {
      header: {
        version: 2, local: false,
        source: { address: ipv6(body, 0), port: body.readUInt16BE(32) },
        destination: { address: ipv6(body, 16), port: body.readUInt16BE(34) },
      },
      length,
    };
  }
  if (family === 3 && body.length < 216) throw new ProxyProtocolError('PROXY v2 header: AF_UNIX block too short');
  // AF_UNSPEC, AF_UNIX: no IP address to report; the TLVs after the addresses are skipped.
  return { header: { version: 2, local: false }, length };
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text of 16 bytes: lower case, longest run (2+) of zero groups as '::'; v4-mapped as ::ffff:a.b.c.d. */
export function ipv6(b: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(at + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(b, at + 12)}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * A BlockList holding the sources allowed to send PROXY headers: addresses and CIDRs, IPv4
 * and IPv6. (An IPv4 rule also matches its IPv4-mapped IPv6 form, e.g. ::ffff:10.0.0.1.)
 * Throws on an entry that is neither.
 */
export function trustedSources(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const version = isIP(address);
    if (version === 0) throw new Error(`proxyProtocol.trusted: ${JSON.stringify(entry)} is not an IP address or CIDR`);
    const type = version === 4 ? 'ipv4' : 'ipv6';
    if (slash === -1) {
      list.addAddress(address, type);
      continue;
    }
    const prefixText = entry.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!/^[0-9]{1,3}$/.test(prefixText) || prefix > (version === 4 ? 32 : 128)) {
      throw new Error(`proxyProtocol.trusted: ${JSON.stringify(entry)} has a bad prefix length`);
    }
    list.addSubnet(address, prefix, type);
  }
  return list;
}

/** Whether a socket's remote address is in the list (either family). */
export function isTrusted(list: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false;
  const version = isIP(address);
  if (version === 0) return false;
  return list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}
