// The broker-wide limits: the connection gate the listeners ask before any TLS or CONNECT work,
// the memory budget (measured on a timer and as data comes in; over it, QoS 0 is dropped and
// publishers whose messages get queued are not read), the retained-message bounds, and the
// count of every limit hit, for logs and metrics.

import type { RetainedIndex } from '../routing/retained.js';
import { MESSAGE_COST_BASE, type Message } from '../session/message.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Connection } from './connection.js';
import type { LimitName } from './context.js';
import type { ResolvedOptions } from './options.js';

/**
 * Heap a queued message costs beyond its payload and topic (message and delivery objects, the
 * queue slot, an encoded variant, allocator slack), as measured under the soak bench: the
 * budget counts it so that it bounds the process's memory, not only the payloads.
 */
const QUEUED_ENTRY_OVERHEAD = 640;

/**
 * The budget is also measured whenever this fraction of it has come in since the last sample,
 * which bounds the overshoot (1/64: 1.6 %). A sample walks sessions and connections once.
 */
const SAMPLE_FRACTION = 64;

/** How often the memory budget is measured: often enough to react, rarely enough to cost nothing. */
const MEMORY_SAMPLE_MS = 100;

export interface LimitsHost {
  readonly options: ResolvedOptions;
  readonly registry: SessionRegistry;
  readonly retained: RetainedIndex<Message>;
  /** The delivery context's flag: set while over the memory budget. */
  readonly memory: { over: boolean };
  readonly connections: ReadonlySet<Connection>;
  readonly closing: () => boolean;
  /** Reports `limit` (a LimitName) and `memoryBudget` (over, bytes used). */
  readonly emit: (event: string, ...args: unknown[]) => void;
}

export class BrokerLimits {
  /** Limits hit since start, by limit. */
  readonly hits: Record<LimitName, number> = {
    maxConnections: 0, maxConnectionRate: 0, maxSessions: 0, maxPublishRate: 0, memoryBudget: 0,
    maxRetainedMessages: 0, maxRetainedBytes: 0, slowConsumer: 0,
  };
  /** Queued and unsent bytes across all clients at the last sample (0 without a budget). */
  memoryUsed = 0;
  private memoryTimer: NodeJS.Timeout | undefined;
  /** Publishers not read while over the memory budget. */
  private readonly held = new Set<Connection>();
  private sinceSample = 0;
  private rateSecond = 0;
  private rateCount = 0;

  constructor(private readonly host: LimitsHost) {
    this.restart();
  }

  hit(limit: LimitName): void {
    this.hits[limit]++;
    this.host.emit('limit', limit);
  }

  /** The global connection limits, asked by the listeners for every new socket. */
  readonly admit = (): boolean => {
    const { options: o, connections } = this.host;
    if (this.host.closing()) return false;
    if (o.maxConnections > 0 && connections.size >= o.maxConnections) {
      this.hit('maxConnections');
      return false;
    }
    if (o.maxConnectionRate > 0) {
      const second = Math.floor(performance.now() / 1000);
      if (second !== this.rateSecond) {
        this.rateSecond = second;
        this.rateCount = 0;
      }
      if (++this.rateCount > o.maxConnectionRate) {
        this.hit('maxConnectionRate');
        return false;
      }
    }
    return true;
  };

  /**
   * A message came in (its payload and topic bytes). Sampled on a timer, and also whenever
   * what came in since would take 1/SAMPLE_FRACTION of the budget once queued: a flood cannot
   * overshoot the budget by more than that. Counted as the queue counts it (with the
   * per-entry overhead), or small messages would overshoot several times over.
   */
  noteIncoming(bytes: number): void {
    this.sinceSample += bytes + MESSAGE_COST_BASE + QUEUED_ENTRY_OVERHEAD;
    if (this.sinceSample > this.host.options.memoryBudget / SAMPLE_FRACTION) this.measure();
  }

  /**
   * Over the budget, the publisher whose message was just queued is not read until back under.
   * Only those: a client whose messages go straight out keeps its latency meanwhile.
   */
  hold(conn: Connection | undefined): void {
    if (conn === undefined || this.held.has(conn)) return;
    this.held.add(conn);
    conn.pauseReading();
    this.hit('memoryBudget');
  }

  /** A connection closed: nothing to resume for it. */
  released(conn: Connection): void {
    this.held.delete(conn);
  }

  /** Within maxRetainedMessages and maxRetainedBytes, counting the message it would replace. */
  retainedRoomFor(message: Message): boolean {
    const { options: o, retained } = this.host;
    if (o.maxRetainedMessages === 0 && o.maxRetainedBytes === 0) return true;
    const previous = retained.get(message.topic);
    if (o.maxRetainedMessages > 0 && previous === undefined && retained.size >= o.maxRetainedMessages) {
      this.hit('maxRetainedMessages');
      return false;
    }
    if (o.maxRetainedBytes > 0 && retained.bytes - (previous?.payload.length ?? 0) + message.payload.length > o.maxRetainedBytes) {
      this.hit('maxRetainedBytes');
      return false;
    }
    return true;
  }

  /** (Re)starts the memory sampling for the current memoryBudget; without one, lets everyone go. */
  restart(): void {
    this.stop();
    if (this.host.options.memoryBudget > 0) {
      this.memoryTimer = setInterval(() => this.measure(), MEMORY_SAMPLE_MS);
      this.memoryTimer.unref();
      this.measure();
    } else if (this.host.memory.over) {
      this.setOver(false, 0);
    }
  }

  stop(): void {
    clearInterval(this.memoryTimer);
    this.memoryTimer = undefined;
  }

  /** Sums what clients make the broker hold. */
  private measure(): void {
    this.sinceSample = 0;
    let used = 0;
    for (const s of this.host.registry.values()) used += s.queuedBytes + (s.queue.length - s.queueHead) * QUEUED_ENTRY_OVERHEAD;
    for (const c of this.host.connections) used += c.unsentBytes;
    this.memoryUsed = used;
    // A flood can add up to 1/SAMPLE_FRACTION between samples: acting that much early keeps
    // the count itself under the budget.
    const budget = this.host.options.memoryBudget;
    const over = used > budget - budget / SAMPLE_FRACTION;
    if (over !== this.host.memory.over) this.setOver(over, used);
  }

  private setOver(over: boolean, used: number): void {
    this.host.memory.over = over;
    this.host.emit('memoryBudget', over, used);
    if (over) return;
    // Emptied before resuming: a resumed publisher runs at once and may take the broker over
    // the budget again, and must then be held anew, not found still in the set and let go.
    const held = [...this.held];
    this.held.clear();
    for (const conn of held) conn.resumeReading();
  }
}
