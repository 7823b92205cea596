// Listeners: the configuration of one, and `startListener`, which binds it and hands the
// broker a duplex stream and peer info for every client. Knows nothing of MQTT or sessions.
//
// Every protocol stands on the same TCP front (tcp.ts: connection limit, PROXY protocol,
// deadline), then: mqtt hands the socket on; mqtts runs it through a tls.Server; ws/wss
// through an http/https server and `ws`. Those servers never listen themselves: the front
// gives them sockets with `emit('connection')`, after the PROXY header if there is one.

import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { PeerCertificate, PeerInfo } from '../broker/connection.js';
import { trustedSources } from './proxy-protocol.js';
import { newStats, TcpFront, type ListenerStats, type NextStage, type Origin } from './tcp.js';
import { acceptableCertificate, loadSecureOptions, tlsServerOptions, verifiedCertificate } from './tls.js';
import { attachWebSocket } from './websocket.js';

export type ListenerProtocol = 'mqtt' | 'mqtts' | 'ws' | 'wss';

export interface TlsConfig {
  /** File paths (PEM). */
  cert: string;
  key: string;
  /** CA bundle for client certificates; required when clientCertificates is not 'none'. */
  ca?: string;
  passphrase?: string;
  /** Default TLSv1.2. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list (TLS 1.2 and below); default Node's. */
  ciphers?: string;
  /** Default 'none'. 'optional': a certificate presented but not verified closes the connection. */
  clientCertificates?: 'none' | 'optional' | 'required';
}

export interface ListenerConfig {
  /** For logs and metrics; default `${protocol}:${port}` (the bound port when port is 0). */
  name?: string;
  protocol: ListenerProtocol;
  host?: string;
  /** 0 = ephemeral. */
  port: number;
  /** ws/wss only; default '/mqtt'. */
  path?: string;
  /** Required for mqtts/wss. */
  tls?: TlsConfig;
  /** PROXY v1/v2 expected (and required) only from these addresses/CIDRs; others are closed. Absent = off. */
  proxyProtocol?: { trusted: string[] };
  /** Open connections at once; default 0 = unlimited. */
  maxConnections?: number;
  /** ms; passed in PeerInfo for the CONNECT wait; also bounds PROXY header (default 5 s) and TLS/upgrade (default 10 s). */
  connectTimeout?: number;
  /** Passed in PeerInfo; for ws/wss also the largest WebSocket message accepted. */
  maxPacketSize?: number;
}

export interface RunningListener {
  readonly config: ListenerConfig;
  readonly name: string;
  readonly address: AddressInfo;
  /** Open now (including connections still in their PROXY/TLS/upgrade phase). */
  readonly connections: number;
  /** Connections handed to the broker and refused before it, by reason. */
  readonly stats: Readonly<ListenerStats>;
  /** Re-reads cert/key/ca: new handshakes use them, open connections stay. A failure throws and keeps the old context. */
  reloadTls(): Promise<void>;
  /** Stops accepting (streams handed to the broker stay open: the broker closes them). */
  close(): Promise<void>;
}

export type Accept = (stream: Duplex, peer: PeerInfo) => void;

const DEFAULT_HEADER_TIMEOUT = 5_000;
const DEFAULT_PREAMBLE_TIMEOUT = 10_000;

/**
 * Binds the listener. `admit`, when given, is asked for each new socket before any PROXY, TLS
 * or HTTP work (the broker's global connection limits); false closes the socket at once.
 */
export async function startListener(config: ListenerConfig, accept: Accept, admit?: () => boolean): Promise<RunningListener> {
  checkListenerConfig(config);
  const { protocol } = config;
  // Named after the bound port once listening (so an ephemeral port 0 gets its real number).
  let name = config.name ?? `${protocol}:${config.port}`;
  const stats = newStats();
  const preambleTimeout = config.connectTimeout ?? DEFAULT_PREAMBLE_TIMEOUT;
  const tlsConfig = config.tls;
  const secure: SecureContextOptions | undefined = tlsConfig === undefined ? undefined : await loadSecureOptions(tlsConfig);

  const handOff = (stream: Duplex, socket: Socket, certificate: PeerCertificate | undefined): void => {
    if (stream.destroyed) return; // refused by an earlier listener (guardTls), or gone
    const origin: Origin = front.claim(socket);
    stats.accepted++;
    const peer: PeerInfo = { remoteAddress: origin.remoteAddress, remotePort: origin.remotePort, listener: name };
    if (certificate !== undefined) peer.certificate = certificate;
    if (config.connectTimeout !== undefined) peer.connectTimeout = config.connectTimeout;
    if (config.maxPacketSize !== undefined) peer.maxPacketSize = config.maxPacketSize;
    try {
      accept(stream, peer);
    } catch {
      stream.destroy(); // a throwing accept costs this connection, not the process
    }
  };

  let tlsServer: TlsServer | undefined;
  let next: NextStage;
  let stopStage = (): void => undefined;
  if (protocol === 'mqtt') {
    next = (socket, unshifted) => {
      if (unshifted) socket.resume();
      handOff(socket, socket, undefined);
    };
  } else if (protocol === 'mqtts') {
    const server = createTlsServer(tlsServerOptions(tlsConfig!, secure!, preambleTimeout));
    guardTls(server, tlsConfig!, stats);
    server.on('secureConnection', (socket: TLSSocket) => handOff(socket, socket, verifiedCertificate(socket)));
    tlsServer = server;
    // TLS takes over the socket's handle and first reads what was put back: no resume.
    next = (socket) => server.emit('connection', socket);
  } else {
    const server = protocol === 'wss' ? createHttpsServer(tlsServerOptions(tlsConfig!, secure!, preambleTimeout)) : createHttpServer();
    if (protocol === 'wss') {
      tlsServer = server as TlsServer;
      guardTls(tlsServer, tlsConfig!, stats);
    }
    stopStage = attachWebSocket(server, { path: config.path ?? '/mqtt', maxPayload: config.maxPacketSize, stats }, (stream, req) => {
      const socket = req.socket;
      handOff(stream, socket, protocol === 'wss' ? verifiedCertificate(socket as TLSSocket) : undefined);
    });
    next = (socket, unshifted) => {
      server.emit('connection', socket);
      // Plain HTTP reads the socket's stream (then its handle): put-back bytes need a resume.
      // TLS (wss) has taken the handle over and read them already: resuming would break it.
      if (unshifted && protocol === 'ws') socket.resume();
    };
  }

  const front = new TcpFront({
    maxConnections: config.maxConnections ?? 0,
    proxy: config.proxyProtocol === undefined ? undefined : trustedSources(config.proxyProtocol.trusted),
    headerTimeout: config.connectTimeout ?? DEFAULT_HEADER_TIMEOUT,
    preambleTimeout,
    stats,
    admit,
  }, next);
  const address = await front.listen(config.port, config.host);
  name = config.name ?? `${protocol}:${address.port}`;

  let closed = false;
  return {
    config,
    name,
    address,
    stats,
    get connections() {
      return front.connections;
    },
    async reloadTls() {
      if (tlsServer === undefined || tlsConfig === undefined) return;
      // Reads and checks everything before touching the server: a failure keeps the old context.
      const fresh = await loadSecureOptions(tlsConfig);
      tlsServer.setSecureContext(fresh);
    },
    async close() {
      if (closed) return;
      closed = true;
      stopStage();
      await front.close();
    },
  };
}

/**
 * TLS refusals: a failed handshake closes the socket (as Node does without a listener) and is
 * counted; an 'optional' client certificate that was presented but failed verification closes
 * the connection before anything reads from it (see acceptableCertificate).
 */
function guardTls(server: TlsServer, config: TlsConfig, stats: ListenerStats): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    // 'required' and a certificate that failed verification: Node closed it (authorizationError
    // says why). Else a reset mid-handshake is the peer leaving, or our own deadline (counted
    // as a timeout); anything else is a failed handshake.
    if (socket.authorizationError !== undefined && socket.authorizationError !== null) stats.rejected.clientCertificate++;
    else if (err.code !== 'ECONNRESET') stats.rejected.tls++;
    socket.destroy();
  });
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    if (acceptableCertificate(socket, config)) return;
    stats.rejected.clientCertificate++;
    socket.destroy();
  });
}

/** Throws on a configuration startListener cannot serve (the full schema lives in ops/). */
export function checkListenerConfig(config: ListenerConfig): void {
  const where = `listener ${config.name ?? `${String(config.protocol)}:${String(config.port)}`}`;
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  if (!['mqtt', 'mqtts', 'ws', 'wss'].includes(config.protocol)) fail(`unknown protocol ${JSON.stringify(config.protocol)}`);
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) fail('port must be an integer 0..65535');
  const secure = config.protocol === 'mqtts' || config.protocol === 'wss';
  if (secure && config.tls === undefined) fail(`${config.protocol} needs tls (cert and key)`);
  if (!secure && config.tls !== undefined) fail(`tls is for mqtts and wss, not ${config.protocol}`);
  if (config.tls !== undefined && (config.tls.clientCertificates ?? 'none') !== 'none' && config.tls.ca === undefined) {
    // Without a CA of our own, Node would verify client certificates against the public roots.
    fail('tls.clientCertificates needs tls.ca');
  }
  if (config.path !== undefined) {
    if (config.protocol !== 'ws' && config.protocol !== 'wss') fail('path is for ws and wss');
    if (!config.path.startsWith('/')) fail('path must start with /');
  }
  if (config.maxConnections !== undefined && (!Number.isInteger(config.maxConnections) || config.maxConnections < 0)) {
    fail('maxConnections must be an integer >= 0');
  }
  for (const [key, value] of [['connectTimeout', config.connectTimeout], ['maxPacketSize', config.maxPacketSize]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) fail(`${key} must be a positive integer`);
  }
  if (config.proxyProtocol !== undefined) trustedSources(config.proxyProtocol.trusted);
}
