// The deadline wheel behind CONNECT timeouts and keep alive: an item is never asked before its
// deadline and not much after, it can ask to be asked again, and the timer stops when empty.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineWheel, type Expiring } from '../../src/broker/deadlines.js';

class Item implements Expiring {
  readonly calls: number[] = [];
  constructor(private deadlines: number[]) {}
  expire(now: number): number {
    this.calls.push(now);
    return this.deadlines.shift() ?? 0;
  }
}

function settled(items: Item[], wanted: number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error('items not asked in time')), 3000);
    const poll = setInterval(() => {
      if (items.every((it, i) => it.calls.length === wanted[i])) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve();
      }
    }, 20);
  });
}

test('items are asked at their deadline, never before and within two slots after; a returned deadline asks again', async () => {
  const wheel = new DeadlineWheel<Item>();
  const t0 = performance.now();
  const once = new Item([]);
  const twice = new Item([t0 + 450]);
  const late = new Item([]);
  wheel.schedule(once, t0 + 120);
  wheel.schedule(twice, t0 + 250);
  wheel.schedule(late, t0 + 600);
  await settled([once, twice, late], [1, 2, 1]);
  const check = (at: number, due: number, what: string): void => {
    assert.ok(at >= due, `${what} asked ${(due - at).toFixed(0)} ms early`);
    assert.ok(at <= due + 400, `${what} asked ${(at - due).toFixed(0)} ms late`);
  };
  check(once.calls[0], t0 + 120, 'once');
  check(twice.calls[0], t0 + 250, 'twice, first');
  check(twice.calls[1], t0 + 450, 'twice, again');
  check(late.calls[0], t0 + 600, 'late');
  // Nothing left: the timer is gone (it would otherwise keep a test process alive, being unref'd or not).
  assert.equal((wheel as unknown as { timer: unknown }).timer, undefined);
  wheel.stop();
});

test('a deadline already past is asked at the next slot, not lost', async () => {
  const wheel = new DeadlineWheel<Item>();
  const overdue = new Item([]);
  wheel.schedule(overdue, performance.now() - 10_000);
  await settled([overdue], [1]);
  wheel.stop();
});
