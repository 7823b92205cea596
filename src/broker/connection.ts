// One network link: the decode loop (packets handled strictly in order, pausing the socket
// while a hook is awaited), the CONNECT timeout, keep alive, write batching per event-loop turn,
// and the one place where an error becomes CONNACK or DISCONNECT and a close.

import type { Duplex } from 'node:stream';
import {
  Decoder, encode, isValidReasonCode, MAX_PACKET_SIZE, PacketType, ProtocolError, v3ConnackCode,
  type Packet, type ProtocolVersion, type Will,
} from '../protocol/index.js';
import type { DeadlineWheel, Expiring } from './deadlines.js';
import type { TokenBucket } from './token-bucket.js';
import type { Outlet, Session } from '../session/session.js';
import type { OutboundAliases } from '../session/topic-aliases.js';
import type { ClientInfo } from './hooks.js';

export type ConnectionState = 'connecting' | 'authenticating' | 'connected' | 'closed';

/** What a connection needs from the broker that owns it. */
export interface ConnectionHost {
  readonly connectTimeout: number;
  readonly maxConnectPacketSize: number;
  /** Maximum unsent bytes before the link counts as congested. */
  readonly maxSocketBacklog: number;
  dispatch(conn: Connection, packet: Packet): void | Promise<void>;
  /** Uncork this connection at the end of the current event-loop turn. */
  scheduleFlush(conn: Connection): void;
  /** The socket drained below its budget: queued messages may move. */
  drained(conn: Connection): void;
  /** CONNECT timeouts and keep alive, for every connection. */
  readonly deadlines: DeadlineWheel<Connection>;
  /** The link is gone; called once. */
  closed(conn: Connection): void;
  /** Counters of bytes in and out, shared by every connection. */
  readonly stats: { bytesReceived: number; bytesSent: number };
  /** A bug, not a protocol error: for the log. */
  internalError(conn: Connection, err: unknown): void;
}

/** Why a link ended, for logs and metrics. */
export interface CloseReason {
  /** Who ended it: the client (DISCONNECT), the server (a reason code), or the network. */
  by: 'client' | 'server' | 'network';
  /** The DISCONNECT or refusal reason code; 0 when the network ended it. */
  code: number;
  reason?: string | undefined;
}

export interface PeerInfo {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  /** Which listener accepted it, for logs and metrics. */
  listener?: string | undefined;
  /** The TLS client certificate the peer presented and we verified, if any. */
  certificate?: PeerCertificate | undefined;
  /** Per-listener limits; when absent the broker's options apply. */
  connectTimeout?: number | undefined;
  maxPacketSize?: number | undefined;
}

/** What a verified TLS client certificate tells about its holder. */
export interface PeerCertificate {
  /** The subject as one string, e.g. 'CN=sensor-1,O=Acme,C=DE' (RFC 4514 order). */
  readonly subject: string;
  /** The subject's Common Name, if it has one. */
  readonly commonName: string | undefined;
  /** SHA-256 fingerprint, colon-separated hex, as Node prints it. */
  readonly fingerprint256: string;
}

export class Connection implements Outlet, ClientInfo, Expiring {
  state: ConnectionState = 'connecting';
  protocolVersion: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  /** The will to publish if this link ends without a normal DISCONNECT. */
  will: Will | undefined;
  readonly decoder: Decoder;
  readonly remoteAddress: string | undefined;
  /** Set when the link ends. */
  closeReason: CloseReason | undefined;
  /** Per-client publish rate limits, when configured. */
  publishRate: TokenBucket | undefined;
  publishBytesRate: TokenBucket | undefined;

  // Outlet: limits the client set on what we send it.
  sendQuota = 65535;
  maxPacketSize = MAX_PACKET_SIZE;
  topicAliases: OutboundAliases | undefined;
  /** v5 Request Problem Information: reason strings only when the client wants them. */
  problemInformation = true;
  /** v5 inbound Topic Alias mappings (alias to topic name); per connection [MQTT-3.3.2-7]. */
  inboundAliases: Map<number, string> | undefined;
  /** The Session Expiry Interval the CONNECT asked for (before any cap): DISCONNECT rules use it. */
  requestedExpiry = 0;
  /** QoS 1/2 PUBLISH received whose PUBACK / PUBREC waits for a commit (acknowledgements go in order). */
  pendingAcks = 0;
  /** QoS 1 PUBLISH whose PUBACK is not sent yet (a hook or a commit): they count against Receive Maximum. */
  pendingQos1 = 0;
  /** v5 enhanced authentication in progress or done: its method and the hook's scratch state. */
  authMethod: string | undefined;
  authState: Record<string, unknown> | undefined;
  authStep = 0;
  /** Set while an enhanced authentication at CONNECT is under way: accepts the connection. */
  completeConnect: ((result: { data?: Buffer | undefined }) => void | Promise<void>) | undefined;

  private pending: Promise<void> | undefined;
  /** What this turn wrote: one write when the turn ends, or sooner once past maxSocketBacklog. */
  private pendingChunks: Buffer[] = [];
  private pendingBytes = 0;
  /** Large payloads among pendingChunks, which go out as they are rather than copied. */
  private pendingTails = 0;
  /** Reasons reading is paused (a hook being awaited, subscribers that cannot keep up). */
  private readPauses = 0;
  private keepAliveMs = 0;
  private processing = false;
  private lastPacketAt = 0;
  /** The first bytes received, kept until CONNECT is decoded (see connectIsV5). */
  private firstBytes = NO_BYTES;
  /** When the deadline wheel is to ask this connection next (performance.now() time). */
  private wakeAt: number;

  constructor(private readonly host: ConnectionHost, readonly socket: Duplex, readonly peer: PeerInfo) {
    this.remoteAddress = peer.remoteAddress;
    // Until CONNECT has been accepted, only the CONNECT limit applies.
    this.decoder = new Decoder({ maxPacketSize: host.maxConnectPacketSize, maxConnectPacketSize: host.maxConnectPacketSize });
    // Listeners shared by every connection (the socket leads back to its Connection): five
    // closures per connection were a tenth of an idle connection's heap.
    (socket as LinkedSocket)[CONNECTION] = this;
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketGone);
    socket.on('end', onSocketGone);
    socket.on('close', onSocketGone);
    this.wakeAt = performance.now() + (peer.connectTimeout ?? host.connectTimeout);
    host.deadlines.schedule(this, this.wakeAt);
  }

  /** @internal The socket's 'data'. */
  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.host.stats.bytesReceived += chunk.length;
    if (this.decoder.protocolVersion === undefined) {
      if (this.firstBytes.length < 16) this.firstBytes = Buffer.concat([this.firstBytes, chunk.subarray(0, 16)]);
    } else if (this.firstBytes.length > 0) {
      this.firstBytes = NO_BYTES; // CONNECT is decoded: its version is known
    }
    this.decoder.push(chunk);
    if (this.pending === undefined) this.process();
  }

  /**
   * Handles buffered packets in order until one needs to wait for a hook, or reading is paused
   * (a publisher slowed down must not get the rest of a 64 KiB chunk handled at once).
   */
  private process(): void {
    if (this.processing) return; // resumed from within a dispatch: the running loop goes on
    this.processing = true;
    try {
      this.processBuffered();
    } finally {
      this.processing = false;
    }
  }

  private processBuffered(): void {
    let decoded = false;
    while (this.state !== 'closed' && this.pending === undefined && this.readPauses === 0) {
      let packet: Packet | undefined;
      let result: void | Promise<void>;
      try {
        packet = this.decoder.next();
        if (packet === undefined) break;
        decoded = true;
        result = this.host.dispatch(this, packet);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (result !== undefined) this.wait(result);
    }
    // Keep alive counts from the last complete packet [MQTT-3.1.2-24] (v5) / [MQTT-3.1.2-24] (3.1.1).
    if (decoded) this.lastPacketAt = performance.now();
  }

  private wait(result: Promise<void>): void {
    this.pending = result;
    this.pauseReading();
    result.then(() => {
      this.pending = undefined;
      this.resumeReading();
      if (this.state !== 'closed') this.process();
    }, (err: unknown) => {
      this.pending = undefined;
      this.resumeReading();
      this.fail(err);
    });
  }

  pauseReading(): void {
    if (this.readPauses++ === 0) this.socket.pause();
  }

  resumeReading(): void {
    if (--this.readPauses === 0 && this.state !== 'closed') {
      this.socket.resume();
      // Packets already read and left undecoded while paused.
      if (this.pending === undefined) this.process();
    }
  }

  /**
   * Outlet: queues bytes for this turn's write. A turn's packets go to the socket as one
   * write at the end of the turn, not as one stream write each. `tail` is a large payload the
   * encoder kept out of the head so that it is never copied: flush keeps it that way.
   */
  write(head: Buffer, tail?: Buffer): void {
    if (this.state === 'closed') return;
    if (this.pendingBytes === 0) this.host.scheduleFlush(this);
    this.pendingChunks.push(head);
    this.pendingBytes += head.length;
    if (tail !== undefined) {
      this.pendingChunks.push(tail);
      this.pendingBytes += tail.length;
      this.pendingTails++;
    }
    // A turn can read megabytes from fast publishers (libuv reads a socket up to 32 times per
    // wakeup). Past the backlog, hand what we have to the network now instead of holding it to
    // the end of the turn: holding it would count as congestion and pause publishers that the
    // network keeps up with. 'drain' still follows if the socket asks us to wait.
    if (this.pendingBytes >= this.host.maxSocketBacklog) this.writeOut();
  }

  send(packet: Packet): void {
    this.write(encode(packet, this.protocolVersion));
  }

  /** End of turn: writes what the turn queued; a socket that took it all can take more. */
  flush(): void {
    if (this.pendingChunks.length === 0) return;
    // A write the socket took without going over its high-water mark emits no 'drain' later:
    // tell the broker now, so publishers paused for this subscriber go on.
    if (this.writeOut() && this.state !== 'closed') this.host.drained(this);
  }

  /** Writes the pending chunks as one write (or one writev); false if the socket asked to wait for 'drain'. */
  private writeOut(): boolean {
    const chunks = this.pendingChunks;
    const n = chunks.length;
    this.host.stats.bytesSent += this.pendingBytes;
    let taken: boolean;
    if (n === 1) taken = this.socket.write(chunks[0]);
    else if (this.pendingTails === 0) taken = this.socket.write(Buffer.concat(chunks, this.pendingBytes));
    else taken = writeRuns(this.socket, chunks);
    // The array is kept for the next turn: one fewer allocation per connection per turn.
    chunks.length = 0;
    this.pendingBytes = 0;
    this.pendingTails = 0;
    return taken;
  }

  /** @internal The socket's 'drain': queued messages may move. */
  drained(): void {
    this.host.drained(this);
  }

  /** Bytes written to this link and not yet taken by the network. */
  get unsentBytes(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  /** Stops reading for `ms` (a client over its publish rate): TCP then slows it down. */
  pauseFor(ms: number): void {
    this.pauseReading();
    setTimeout(() => this.resumeReading(), ms).unref();
  }

  congested(): boolean {
    return this.socket.writableLength + this.pendingBytes > this.host.maxSocketBacklog;
  }

  /**
   * Back well under the backlog: publishers paused for this link may go on. The gap between
   * congested and relaxed is what keeps them from being paused and resumed on every read.
   */
  relaxed(): boolean {
    return (this.socket.writableLength + this.pendingBytes) * 4 <= this.host.maxSocketBacklog;
  }

  /** CONNECT accepted: packets may now be as large as the broker allows; keep alive starts. */
  accepted(maxPacketSize: number, keepAliveSeconds: number): void {
    this.state = 'connected';
    this.decoder.maxPacketSize = maxPacketSize;
    this.keepAliveMs = keepAliveSeconds * 1500; // 1.5 x Keep Alive [MQTT-3.1.2-24]
    this.lastPacketAt = performance.now();
    // The wheel still holds the CONNECT deadline; keep alive comes sooner only if it is shorter.
    const at = this.lastPacketAt + this.keepAliveMs;
    if (this.keepAliveMs > 0 && at < this.wakeAt) {
      this.wakeAt = at;
      this.host.deadlines.schedule(this, at);
    }
  }

  /** @internal The deadline wheel: the CONNECT timeout or keep alive is due. Returns the next deadline, or 0. */
  expire(now: number): number {
    // A copy left in the wheel by an earlier deadline than the current one: the current one's will come.
    if (this.state === 'closed' || now < this.wakeAt) return 0;
    if (this.state !== 'connected') {
      this.close(); // no CONNECT (or no end to enhanced authentication) in time
      return 0;
    }
    if (this.keepAliveMs === 0) return 0;
    // While we are not reading it (slowed down), its silence is ours, not the client's.
    const reading = this.readPauses === 0;
    if (reading && now - this.lastPacketAt >= this.keepAliveMs) {
      this.disconnect(0x8d, 'keep alive timeout');
      return 0;
    }
    this.wakeAt = (reading ? this.lastPacketAt : now) + this.keepAliveMs;
    return this.wakeAt;
  }

  /**
   * Ends the link for a reason: a v5 client gets CONNACK (before CONNECT was accepted) or
   * DISCONNECT [MQTT-4.13.1-1] with the reason code; a 3.x client gets the CONNACK return code
   * that stands for it, if any, else the connection just closes [MQTT-4.8.0-1].
   */
  disconnect(reasonCode: number, reason?: string): void {
    if (this.state === 'closed') return;
    this.closeReason ??= { by: 'server', code: reasonCode, reason };
    const connecting = this.state !== 'connected';
    // A CONNECT refused from its fixed header alone (too large) has not told the decoder its
    // version: read the level from its first bytes, so a v5 client gets CONNACK 0x95 (3.2.2.2).
    const version = connecting ? this.decoder.protocolVersion ?? (connectIsV5(this.firstBytes) ? 5 : undefined) : this.protocolVersion;
    try {
      if (version === 5) {
        const reasonString = this.problemInformation && reason !== undefined ? reason : undefined;
        const properties = reasonString !== undefined ? { reasonString } : undefined;
        if (connecting) {
          // [MQTT-3.14.0-1] No DISCONNECT before CONNACK: refuse with CONNACK instead.
          const code = isValidReasonCode(PacketType.CONNACK, reasonCode) ? reasonCode : 0x80;
          this.protocolVersion = 5;
          this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: code, properties });
        } else {
          const code = isValidReasonCode(PacketType.DISCONNECT, reasonCode) ? reasonCode : 0x80;
          this.send({ type: PacketType.DISCONNECT, reasonCode: code, properties });
        }
      } else if (connecting && version !== undefined) {
        const code = v3ConnackCode(reasonCode);
        if (code !== undefined && code !== 0) {
          this.protocolVersion = version;
          this.send({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: code });
        }
      }
    } catch (err) {
      this.host.internalError(this, err);
    }
    this.close();
  }

  /** Turns whatever a handler threw into the right goodbye. */
  fail(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.disconnect(err.reasonCode, err.message);
    } else {
      this.host.internalError(this, err);
      this.disconnect(0x83, 'internal error');
    }
  }

  /** Closes the link now (idempotent): flushes what is written, then ends the socket. */
  close(): void {
    if (this.state === 'closed') return;
    this.closeReason ??= { by: 'network', code: 0 };
    this.state = 'closed';
    try {
      this.flush();
    } catch (err) {
      this.host.internalError(this, err);
    }
    this.socket.end();
    // A peer that does not read must not keep the socket open.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.host.closed(this);
  }
}

const NO_BYTES = Buffer.alloc(0);
const CONNECTION = Symbol('connection');
type LinkedSocket = Duplex & { [CONNECTION]: Connection };

function onSocketData(this: Duplex, chunk: Buffer): void {
  (this as LinkedSocket)[CONNECTION].onData(chunk);
}

function onSocketDrain(this: Duplex): void {
  (this as LinkedSocket)[CONNECTION].drained();
}

function onSocketGone(this: Duplex): void {
  (this as LinkedSocket)[CONNECTION].close();
}

/**
 * Writes a turn's chunks as one corked batch (a single writev): runs of small chunks are joined
 * into one buffer, large payload tails are handed over as they are, so no payload byte is copied
 * in user space. Returns false if the socket asked us to wait for 'drain'.
 */
function writeRuns(socket: Duplex, chunks: Buffer[]): boolean {
  socket.cork();
  let taken = true;
  let runStart = 0;
  let runBytes = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i];
    if (c.length < LARGE_CHUNK) {
      runBytes += c.length;
      continue;
    }
    if (i > runStart) taken = writeRun(socket, chunks, runStart, i, runBytes) && taken;
    taken = socket.write(c) && taken;
    runStart = i + 1;
    runBytes = 0;
  }
  if (chunks.length > runStart) taken = writeRun(socket, chunks, runStart, chunks.length, runBytes) && taken;
  socket.uncork();
  return taken;
}

function writeRun(socket: Duplex, chunks: Buffer[], from: number, to: number, bytes: number): boolean {
  return socket.write(to - from === 1 ? chunks[from] : Buffer.concat(chunks.slice(from, to), bytes));
}

/** Chunks at least this large are written as they are; smaller ones are joined (a copy is cheaper than an iovec). */
const LARGE_CHUNK = 1024;

/** Whether these first bytes of a stream are a CONNECT with protocol name MQTT and level 5. */
function connectIsV5(b: Buffer): boolean {
  if (b.length < 2 || b[0] !== 0x10) return false;
  let i = 1;
  while (i < 4 && i < b.length && (b[i] & 0x80) !== 0) i++;
  i++; // past the last Remaining Length byte
  return b.length > i + 6 && b.readUInt16BE(i) === 4 && b.toString('latin1', i + 2, i + 6) === 'MQTT' && b[i + 6] === 5;
}
