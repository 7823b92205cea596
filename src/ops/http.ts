// The operator's HTTP endpoint: /metrics (Prometheus text format), /healthz (the process
// answers) and /readyz (store restored, listeners bound, not shutting down). Off unless a port is
// configured, and on loopback unless told otherwise: metrics say a lot about the clients.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Broker } from '../broker/broker.js';
import type { MetricsOptions } from '../broker/options.js';
import { createMetrics, type BrokerMetrics } from './metrics.js';

export interface OpsServer {
  readonly address: AddressInfo;
  readonly metrics: BrokerMetrics;
  close(): Promise<void>;
}

export async function startOpsServer(broker: Broker, options: MetricsOptions & { port: number }): Promise<OpsServer> {
  const metrics = createMetrics(broker);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      }, (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`);
      });
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = broker.isReady;
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    metrics,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
