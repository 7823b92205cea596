// The key schema, in one place for every store. Per-session records are keyed by client id,
// U+0000, then their own key: MQTT strings never contain U+0000 [MQTT-1.5.4-2], so the
// separator is unambiguous and "everything of one session" is one key range. Numbers are
// fixed-width hex so that key order is numeric order (queue order).

const SEP = '\u0000';

export function sessionKey(clientId: string, rest: string): string {
  return clientId + SEP + rest;
}

/** The key range holding every record of one session: [start, end). */
export function sessionRange(clientId: string): { start: string; end: string } {
  return { start: clientId + SEP, end: clientId + '\u0001' };
}

export function numberKey(n: number): string {
  return n.toString(16).padStart(12, '0');
}

export function subscriptionKey(clientId: string, filter: string): string {
  return sessionKey(clientId, filter);
}

export function queueKey(clientId: string, seq: number): string {
  return sessionKey(clientId, numberKey(seq));
}

export function packetKey(clientId: string, packetId: number): string {
  return sessionKey(clientId, numberKey(packetId));
}

/** Splits a per-session key into client id and the rest. */
export function splitKey(key: string): [clientId: string, rest: string] {
  const i = key.indexOf(SEP);
  return [key.slice(0, i), key.slice(i + 1)];
}

export function parseNumberKey(s: string): number {
  return parseInt(s, 16);
}

/** The named databases of the LMDB environment (and the maps of the memory store). */
export const TABLES = ['sessions', 'subscriptions', 'queue', 'inflight', 'awaitingRelease', 'messages', 'retained'] as const;
export type Table = (typeof TABLES)[number];

/** Tables whose keys start with a client id: a session's deletion clears its range in each. */
export const SESSION_TABLES: readonly Table[] = ['subscriptions', 'queue', 'inflight', 'awaitingRelease'];
