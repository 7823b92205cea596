// MQTT over WebSocket (`ws`, `wss`): an HTTP(S) server that is never listened on itself (the
// TCP front hands it sockets), upgrading only on the configured path with subprotocol `mqtt`
// (or `mqttv3.1`, or none offered), turning each WebSocket into a byte stream for the broker.
// MQTT packets are binary frames; a packet may span frames and a frame may hold several
// packets: the stream carries bytes, the broker's decoder finds the packets.

import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { ListenerStats } from './tcp.js';

/** Subprotocols we speak, in order of preference: MQTT 3.1.1/5.0 ('mqtt'), MQTT 3.1 ('mqttv3.1'). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

/** RFC 6455 close code 1003: the endpoint cannot accept this type of data (text). */
const UNSUPPORTED_DATA = 1003;

export interface WebSocketStageOptions {
  path: string;
  /** Largest WebSocket message (frame or fragmented frames) accepted; past it ws closes with 1009. */
  maxPayload: number | undefined;
  stats: ListenerStats;
}

/**
 * Serves WebSocket upgrades on `server`. `onStream` gets each MQTT byte stream with the
 * upgrade request (its `socket` is the TCP or TLS socket underneath). Returns a function
 * that stops the WebSocket server.
 *
 * The remote address comes from the TCP socket or a PROXY header, never from
 * `X-Forwarded-For` / `Forwarded`: any client can write those headers, so trusting them would
 * let it choose the address that logs, limits and authorization see.
 */
export function attachWebSocket(
  server: HttpServer | HttpsServer,
  options: WebSocketStageOptions,
  onStream: (stream: Duplex, req: IncomingMessage) => void,
): () => void {
  const { path, stats } = options;
  const wss = new WebSocketServer({
    noServer: true,
    // The broker owns the streams; the server keeps no list of clients.
    clientTracking: false,
    perMessageDeflate: false,
    ...(options.maxPayload !== undefined ? { maxPayload: options.maxPayload } : {}),
    handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  });

  // An upgrade `ws` finds invalid (bad key or version, …): 400.
  wss.on('wsClientError', (_err, socket) => {
    stats.rejected.websocket++;
    refuse(socket, 400, 'Bad Request');
  });

  // Plain HTTP requests: nothing here but the upgrade.
  server.on('request', (req, res) => {
    stats.rejected.websocket++;
    const onPath = pathOf(req.url) === path;
    res.writeHead(onPath ? 426 : 404, onPath ? { Connection: 'close', Upgrade: 'websocket' } : { Connection: 'close' });
    res.end();
  });

  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // A malformed request gets 400; a reset is just the peer leaving.
    if (err.code !== 'ECONNRESET') stats.rejected.websocket++;
    refuse(socket, 400, 'Bad Request');
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    if (pathOf(req.url) !== path) {
      stats.rejected.websocket++;
      refuse(socket, 404, 'Not Found');
      return;
    }
    // A client that offers subprotocols but none of ours would fail the connection itself when
    // none is selected (RFC 6455 4.1): say so now. Offering none at all is fine.
    const offered = offeredProtocols(req.headers['sec-websocket-protocol']);
    if (offered.length > 0 && !offered.some((p) => SUBPROTOCOLS.includes(p))) {
      stats.rejected.websocket++;
      refuse(socket, 400, 'Bad Request');
      return;
    }
    try {
      wss.handleUpgrade(req, socket, head, (ws) => {
        let stream: Duplex | undefined;
        // Registered before the stream's own listener, so a text frame never reaches the broker.
        ws.on('message', (_data, isBinary) => {
          if (isBinary) return;
          ws.close(UNSUPPORTED_DATA, 'MQTT needs binary frames');
          stream?.destroy();
        });
        // Back-pressure both ways: the stream's write() returns false while frames wait for the
        // TCP socket ('drain' follows), and a full read buffer pauses the socket.
        stream = createWebSocketStream(ws);
        onStream(stream, req);
      });
    } catch {
      socket.destroy();
    }
  });

  return () => wss.close();
}

function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function offeredProtocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

/** Answers an upgrade we will not do, then closes the socket. */
function refuse(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
