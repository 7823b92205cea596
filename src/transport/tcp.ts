// The TCP front every listener stands on: it accepts sockets, refuses them past the
// connection limit or from sources not trusted to send a PROXY header, reads that header,
// and keeps each socket's origin (the real client's address) and a deadline until the
// protocol stage (plain, TLS, HTTP upgrade) hands the stream to the broker and claims it.

import { createServer, type AddressInfo, type BlockList, type Server, type Socket } from 'node:net';
import { isTrusted, parseProxyHeader, type ProxyHeader } from './proxy-protocol.js';

/** Where a connection really comes from. */
export interface Origin {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
}

/** Why connections were refused before reaching the broker; for logs and metrics. */
export interface ListenerStats {
  /** Streams handed to the broker. */
  accepted: number;
  rejected: {
    maxConnections: number;
    /** PROXY protocol on, source not in `trusted`. */
    untrusted: number;
    /** PROXY header malformed, too long, or the stream ended before it. */
    proxyHeader: number;
    /** No PROXY header, TLS handshake or WebSocket upgrade within the deadline. */
    timeout: number;
    /** TLS handshake failed (includes a 'required' client certificate that was not sent). */
    tls: number;
    /** A client certificate was presented and failed verification (unknown CA, expired, …). */
    clientCertificate: number;
    /** HTTP request that was no valid WebSocket upgrade on the path. */
    websocket: number;
    /** Refused by the broker-wide gate: too many connections, or too many new ones this second. */
    brokerLimit: number;
  };
}

export function newStats(): ListenerStats {
  return {
    accepted: 0,
    rejected: { maxConnections: 0, untrusted: 0, proxyHeader: 0, timeout: 0, tls: 0, clientCertificate: 0, websocket: 0, brokerLimit: 0 },
  };
}

export interface FrontOptions {
  /** Open sockets allowed at once; 0 = unlimited. */
  maxConnections: number;
  /** Sources allowed (and required) to send a PROXY header; undefined = PROXY protocol off. */
  proxy: BlockList | undefined;
  /** ms for the PROXY header to arrive. */
  headerTimeout: number;
  /** ms from accept until the stream is handed to the broker (PROXY, TLS, HTTP upgrade). */
  preambleTimeout: number;
  stats: ListenerStats;
  /** The broker-wide gate, asked for every new socket before any other work; false refuses it. */
  admit: (() => boolean) | undefined;
}

/**
 * The next stage for an accepted socket. `unshifted`: bytes were read and put back (after a
 * PROXY header) and the socket is paused: a stage reading through JS streams must resume it.
 */
export type NextStage = (socket: Socket, unshifted: boolean) => void;

interface Pending {
  readonly socket: Socket;
  origin: Origin;
  timer: NodeJS.Timeout;
}

export class TcpFront {
  readonly server: Server;
  private readonly open = new Set<Socket>();
  /**
   * Sockets not yet handed to the broker, by TCP 4-tuple. A TLS stage sees a TLSSocket, not
   * the socket accepted here, but with the same addresses: the tuple finds the entry either way.
   */
  private readonly pending = new Map<string, Pending>();
  /** The socket being handed to the next stage right now, until it claims it. */
  private handing: Socket | undefined;

  constructor(private readonly options: FrontOptions, private readonly next: NextStage) {
    const open = this.open;
    this.forget = function (this: Socket): void {
      open.delete(this);
    };
    this.server = createServer({ noDelay: true }, (socket) => this.accepted(socket));
    // accept(2) failures (EMFILE, …) would otherwise be an unhandled 'error'; the server goes on.
    this.server.on('error', () => undefined);
  }

  /** Open sockets, including those still in their PROXY/TLS/upgrade phase. */
  get connections(): number {
    return this.open.size;
  }

  listen(port: number, host: string | undefined): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const failed = (err: Error): void => reject(err);
      this.server.once('error', failed);
      this.server.listen(port, host, () => {
        this.server.off('error', failed);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting and drops sockets not yet handed on; streams the broker has stay open. */
  close(): Promise<void> {
    if (this.server.listening) this.server.close();
    for (const entry of [...this.pending.values()]) entry.socket.destroy();
    // server.close's callback waits for every accepted socket, which the broker owns: don't wait.
    return new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * The stage hands `socket` (the accepted one, or a TLSSocket over it) to the broker: the
   * deadline ends and its origin is returned (the PROXY header's client, else the socket's peer).
   */
  claim(socket: Socket): Origin {
    if (socket === this.handing) {
      // Handed on at once (plain TCP, no PROXY header): no deadline was set, nothing to find.
      this.handing = undefined;
    } else {
      const key = tupleOf(socket);
      const entry = key === undefined ? undefined : this.pending.get(key);
      if (entry !== undefined) {
        this.pending.delete(key!);
        clearTimeout(entry.timer);
        return entry.origin;
      }
    }
    return { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
  }

  private accepted(socket: Socket): void {
    const { stats, proxy, maxConnections } = this.options;
    socket.on('error', ignore);
    if (proxy !== undefined && !isTrusted(proxy, socket.remoteAddress)) {
      drop(socket, stats, 'untrusted');
      return;
    }
    if (this.options.admit !== undefined && !this.options.admit()) {
      drop(socket, stats, 'brokerLimit');
      return;
    }
    if (maxConnections > 0 && this.open.size >= maxConnections) {
      drop(socket, stats, 'maxConnections');
      return;
    }
    this.open.add(socket);
    socket.once('close', this.forget);
    if (proxy === undefined) {
      // A stage that claims the socket synchronously (plain TCP) needs no pending entry, no
      // timer and no 4-tuple (two system calls): that is most of an idle connection's cost here.
      this.handing = socket;
      this.hand(socket, false);
      const claimed = this.handing === undefined;
      this.handing = undefined;
      if (claimed || socket.destroyed) return;
    }
    const key = tupleOf(socket);
    if (key === undefined) {
      socket.destroy(); // gone already
      return;
    }
    const entry: Pending = {
      socket,
      origin: { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort },
      timer: setTimeout(() => drop(socket, stats, 'timeout'), this.options.preambleTimeout),
    };
    this.pending.set(key, entry);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      if (this.pending.get(key) === entry) this.pending.delete(key);
    });
    if (proxy !== undefined) this.readProxyHeader(socket, entry);
  }

  /** A socket closed ('close' calls it with the socket as `this`): one function for every socket. */
  private readonly forget: (this: Socket) => void;

  private hand(socket: Socket, unshifted: boolean): void {
    try {
      this.next(socket, unshifted);
    } catch {
      // A bug in a stage must cost this connection, not the process.
      socket.destroy();
    }
  }

  /**
   * Reads the PROXY header, however it is split across chunks, then puts back what followed
   * it and passes the socket on. The header comes first on the TCP stream, before TLS or HTTP.
   */
  private readProxyHeader(socket: Socket, entry: Pending): void {
    const { stats } = this.options;
    let received: Buffer = Buffer.alloc(0);
    const stop = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', stop);
    };
    const fail = (): void => {
      stop();
      drop(socket, stats, 'proxyHeader');
    };
    const onEnd = (): void => fail();
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      let header: ProxyHeader;
      let length: number;
      try {
        const parsed = parseProxyHeader(received);
        if (parsed === undefined) return; // bounded: the parser throws past a header's maximum length
        ({ header, length } = parsed);
      } catch {
        fail();
        return;
      }
      stop();
      socket.pause();
      if (header.source !== undefined) entry.origin = { remoteAddress: header.source.address, remotePort: header.source.port };
      const rest = received.subarray(length);
      if (rest.length > 0) socket.unshift(rest);
      this.hand(socket, true);
    };
    const timer = setTimeout(() => {
      stop();
      drop(socket, stats, 'timeout');
    }, this.options.headerTimeout);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.once('close', stop);
  }
}

function ignore(): void {}

/** Closes a socket not yet handed on, counting why (once: a socket already closed is not counted again). */
function drop(socket: Socket, stats: ListenerStats, reason: keyof ListenerStats['rejected']): void {
  if (socket.destroyed) return;
  stats.rejected[reason]++;
  socket.destroy();
}

/** The TCP 4-tuple of a socket (also of a TLSSocket over it), undefined once it is gone. */
function tupleOf(socket: Socket): string | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  return `${localAddress}|${localPort}|${remoteAddress}|${remotePort}`;
}
