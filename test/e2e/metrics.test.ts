// The operator's HTTP endpoint: /readyz false until the listeners are up, /healthz, and metrics
// scraped over HTTP that match what the test did.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import { startOpsServer } from '../../src/ops/http.js';
import { connectClient, drainUntilMarker, within } from './harness.js';

async function get(port: number, path: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await within(fetch(`http://127.0.0.1:${port}${path}`), `GET ${path}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

/** The value of one sample, e.g. `petrel_messages_received_total{qos="1"}`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

test('/readyz is 503 until the listeners are up; /healthz is 200; metrics follow what clients did', async () => {
  const broker = new Broker({
    listeners: [{ name: 'plain', protocol: 'mqtt', host: '127.0.0.1', port: 0 }],
    auth: { acl: [{ pattern: true, access: 'readwrite', topic: 'm/#' }, { pattern: true, access: 'readwrite', topic: 'zz-marker/#' }, { pattern: true, access: 'deny', topic: 'm/hidden' }] },
  });
  const ops = await startOpsServer(broker, { port: 0, host: '127.0.0.1' });
  try {
    assert.equal((await get(ops.address.port, '/readyz')).status, 503);
    assert.equal((await get(ops.address.port, '/healthz')).status, 200);
    const [listener] = await broker.start();
    assert.equal((await get(ops.address.port, '/readyz')).status, 200);

    const url = `mqtt://127.0.0.1:${listener.address.port}`;
    const sub = await connectClient(url, 5, { clientId: 'metrics-sub' });
    const pub = await connectClient(url, 4, { clientId: 'metrics-pub' });
    await sub.client.subscribeAsync('m/#', { qos: 1 });
    await sub.client.subscribeAsync('$share/g/m/shared', { qos: 1 });
    for (let i = 0; i < 5; i++) await pub.client.publishAsync('m/a', 'x', { qos: 1 });
    for (let i = 0; i < 3; i++) await pub.client.publishAsync('m/a', 'x', { qos: 0 });
    // Its own messages skip the publish check, so the ACL stops this one at delivery.
    broker.publish({ topic: 'm/hidden', payload: 'no', qos: 1 });
    await pub.client.publishAsync('m/retained', '12345', { qos: 0, retain: true });
    await drainUntilMarker(sub);

    const { status, body, type } = await get(ops.address.port, '/metrics');
    assert.equal(status, 200);
    assert.match(type ?? '', /text\/plain/);
    assert.equal(sample(body, 'petrel_messages_received_total', { qos: '1' }), 5);
    assert.equal(sample(body, 'petrel_messages_received_total', { qos: '0' }), 4 + 1, 'three, the retained one, and the marker');
    assert.ok((sample(body, 'petrel_messages_sent_total', { qos: '1' }) ?? 0) >= 5);
    assert.equal(sample(body, 'petrel_messages_dropped_total', { reason: 'not_authorized' }), 1);
    assert.equal(sample(body, 'petrel_connections', { listener: 'plain', protocol_version: '5' }), 1);
    assert.equal(sample(body, 'petrel_connections', { listener: 'plain', protocol_version: '4' }), 1);
    assert.equal(sample(body, 'petrel_client_connects_total', { listener: 'plain', protocol_version: '4' }), 1);
    assert.equal(sample(body, 'petrel_sessions', { state: 'online' }), 2);
    assert.equal(sample(body, 'petrel_subscriptions'), 3, 'm/#, the shared one, the marker');
    assert.equal(sample(body, 'petrel_shared_groups'), 1);
    assert.ok((sample(body, 'petrel_retained_messages') ?? 0) >= 1);
    assert.ok((sample(body, 'petrel_retained_bytes') ?? 0) >= 5);
    assert.ok((sample(body, 'petrel_received_bytes_total') ?? 0) > 0);
    assert.ok(sample(body, 'petrel_nodejs_eventloop_lag_seconds') !== undefined, 'event-loop lag');
    assert.ok(sample(body, 'petrel_nodejs_heap_size_used_bytes') !== undefined, 'heap');

    await pub.end();
    const after = (await get(ops.address.port, '/metrics')).body;
    assert.equal(sample(after, 'petrel_disconnects_total', { by: 'client', reason_code: '0x00' }), 1);
    assert.equal(sample(after, 'petrel_sessions', { state: 'online' }), 1);
    await sub.end();
  } finally {
    await broker.close();
    assert.equal((await get(ops.address.port, '/readyz')).status, 503, 'not ready once shutting down');
    await ops.close();
  }
});

test('petrel_store_commit_seconds counts the store\'s commits', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dataDir = mkdtempSync(join(tmpdir(), 'petrel-metrics-store-'));
  const broker = new Broker({ dataDir, listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: 0 }], sysInterval: 0 });
  const ops = await startOpsServer(broker, { port: 0, host: '127.0.0.1' });
  try {
    const [listener] = await broker.start();
    const c = await connectClient(`mqtt://127.0.0.1:${listener.address.port}`, 5, { clientId: 'stored', clean: false, properties: { sessionExpiryInterval: 60 } });
    await c.client.subscribeAsync('s/t', { qos: 1 });
    for (let i = 0; i < 3; i++) await c.client.publishAsync('s/t', 'x', { qos: 1 });
    await c.end();
    const body = (await get(ops.address.port, '/metrics')).body;
    assert.ok((sample(body, 'petrel_store_commit_seconds_count') ?? 0) >= 3, 'commits observed');
  } finally {
    await broker.close();
    await ops.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
