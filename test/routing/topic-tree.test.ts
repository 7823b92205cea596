// The subscription tree and the retained index, table-driven: filters against topics.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetainedIndex } from '../../src/routing/retained.js';
import { TopicTree } from '../../src/routing/topic-tree.js';

/** [filter, topic, matches] per [MQTT-4.7.1-1..3] and [MQTT-4.7.2-1]. */
const TABLE: [string, string, boolean][] = [
  ['sport/tennis/player1/#', 'sport/tennis/player1', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
  ['sport/#', 'sport', true],
  ['#', 'anything/at/all', true],
  ['#', '/', true],
  ['sport/tennis/+', 'sport/tennis/player1', true],
  ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
  ['sport/+', 'sport', false],
  ['sport/+', 'sport/', true],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['+', '/finance', false],
  ['+/tennis/#', 'sport/tennis', true],
  ['a/b', 'a/b', true],
  ['a/b', 'a/b/c', false],
  ['a/b', 'A/b', false],
  ['a//b', 'a//b', true],
  ['a/+/b', 'a//b', true],
  ['#', '$SYS/uptime', false],
  ['+/uptime', '$SYS/uptime', false],
  ['$SYS/#', '$SYS/uptime', true],
  ['$SYS/+', '$SYS/uptime', true],
  ['+/monitor/Clients', '$SYS/monitor/Clients', false],
  ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
  ['a/$x', 'a/$x', true],
  ['a/#', 'a/$x', true],
];

for (const [filter, topic, expected] of TABLE) {
  test(`tree: '${filter}' ${expected ? 'matches' : 'does not match'} '${topic}'`, () => {
    const tree = new TopicTree<string>();
    tree.add('s', filter, null);
    const seen: string[] = [];
    tree.match(topic, (e) => seen.push(e.filter));
    assert.deepEqual(seen, expected ? [filter] : []);
  });
  test(`retained: '${filter}' ${expected ? 'finds' : 'does not find'} '${topic}'`, () => {
    const index = new RetainedIndex<string>();
    index.set(topic, 'm');
    const seen: string[] = [];
    index.match(filter, (t) => seen.push(t));
    assert.deepEqual(seen, expected ? [topic] : []);
  });
}

test('tree: overlapping filters of one subscriber are visited once per filter', () => {
  const tree = new TopicTree<string>();
  tree.add('s', 'a/+', 1);
  tree.add('s', 'a/#', 2);
  tree.add('t', 'a/b', 3);
  const seen: [string, unknown][] = [];
  tree.match('a/b', (e) => seen.push([e.subscriber, e.options]));
  assert.deepEqual(seen.sort(), [['s', 1], ['s', 2], ['t', 3]].sort());
});

test('tree: add replaces options, remove prunes, counts and filter events follow', () => {
  const added: string[] = [];
  const removed: string[] = [];
  const tree = new TopicTree<string>({ onFilterAdded: (f) => added.push(f), onFilterRemoved: (f) => removed.push(f) });
  assert.equal(tree.add('s', 'x/y', 1), true);
  assert.equal(tree.add('s', 'x/y', 2), false);
  assert.equal(tree.add('t', 'x/y', 3), true);
  assert.deepEqual(added, ['x/y']);
  assert.equal(tree.subscriptions, 2);
  const seen: unknown[] = [];
  tree.match('x/y', (e) => seen.push(e.options));
  assert.deepEqual(seen.sort(), [2, 3]);
  assert.equal(tree.remove('s', 'x/y'), true);
  assert.equal(tree.remove('s', 'x/y'), false);
  assert.deepEqual(removed, []);
  assert.equal(tree.remove('t', 'x/y'), true);
  assert.deepEqual(removed, ['x/y']);
  assert.equal(tree.filters, 0);
  assert.equal(tree.subscriptions, 0);
});

test('tree: a shared group delivers each message to one member, round robin', () => {
  const tree = new TopicTree<string>();
  for (const m of ['a', 'b', 'c']) tree.add(m, '$share/g/t/+', null);
  tree.add('d', '$share/h/t/+', null);
  const got: string[] = [];
  for (let i = 0; i < 6; i++) tree.match('t/x', (e) => got.push(e.subscriber));
  const g = got.filter((s) => s !== 'd');
  assert.deepEqual(g, ['a', 'b', 'c', 'a', 'b', 'c']);
  assert.equal(got.filter((s) => s === 'd').length, 6);
  tree.remove('b', '$share/g/t/+');
  const after: string[] = [];
  for (let i = 0; i < 4; i++) tree.match('t/x', (e) => { if (e.subscriber !== 'd') after.push(e.subscriber); });
  assert.deepEqual([...new Set(after)].sort(), ['a', 'c']);
});

test('tree: a deep filter does not overflow the stack when matched', () => {
  const tree = new TopicTree<string>();
  const deep = Array.from({ length: 5000 }, () => 'x').join('/');
  tree.add('s', deep, null);
  let n = 0;
  tree.match(deep, () => n++);
  assert.equal(n, 1);
});

test('retained: set replaces, delete clears and prunes, entries lists all', () => {
  const index = new RetainedIndex<string>();
  index.set('a/b', '1');
  index.set('a/b', '2');
  index.set('a/c', '3');
  index.set('$SYS/x', '4');
  assert.equal(index.size, 3);
  assert.equal(index.get('a/b'), '2');
  assert.deepEqual(index.entries().sort(), [['$SYS/x', '4'], ['a/b', '2'], ['a/c', '3']]);
  assert.equal(index.delete('a/b'), true);
  assert.equal(index.delete('a/b'), false);
  assert.equal(index.get('a/b'), undefined);
  assert.equal(index.size, 2);
  const all: string[] = [];
  index.match('#', (t) => all.push(t));
  assert.deepEqual(all, ['a/c']);
});
