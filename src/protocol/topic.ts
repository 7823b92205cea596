// Topic Name and Topic Filter rules (section 4.7) and shared subscription syntax (4.8.2).
// Strings here are already valid MQTT UTF-8; these checks are about levels and wildcards.

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

export const SHARE_PREFIX = '$share/';

/**
 * Why a Topic Name is invalid, or undefined when it is valid: non-empty [MQTT-4.7.3-1] and
 * without wildcards [MQTT-3.3.2-2] [MQTT-4.7.0-1].
 */
export function topicNameError(topic: string): string | undefined {
  if (topic.length === 0) return 'topic name is empty';
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH) return 'topic name contains a wildcard';
  }
  return undefined;
}

/**
 * Why a Topic Filter is invalid, or undefined: non-empty [MQTT-4.7.3-1]; `#` alone or after
 * `/` and last [MQTT-4.7.1-2]; `+` alone in its level [MQTT-4.7.1-3]; a `$share/` filter has a
 * ShareName without `/`, `+`, `#` and a filter after it [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
export function topicFilterError(filter: string): string | undefined {
  if (filter.length === 0) return 'topic filter is empty';
  if (filter.startsWith(SHARE_PREFIX)) {
    const shared = parseSharedFilter(filter);
    if (typeof shared === 'string') return shared;
    return wildcardError(shared.filter);
  }
  return wildcardError(filter);
}

function wildcardError(filter: string): string | undefined {
  const n = filter.length;
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === HASH) {
      if (i !== n - 1) return "'#' is not the last character";
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return "'#' does not follow '/'";
    } else if (c === PLUS) {
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return "'+' does not occupy a whole level";
      if (i < n - 1 && filter.charCodeAt(i + 1) !== SLASH) return "'+' does not occupy a whole level";
    }
  }
  return undefined;
}

export interface SharedFilter {
  group: string;
  filter: string;
}

/** Splits `$share/{ShareName}/{filter}`; returns the reason when the syntax is wrong. */
export function parseSharedFilter(filter: string): SharedFilter | string {
  const groupEnd = filter.indexOf('/', SHARE_PREFIX.length);
  if (groupEnd === -1) return 'shared subscription has no topic filter';
  const group = filter.slice(SHARE_PREFIX.length, groupEnd);
  if (group.length === 0) return 'shared subscription has an empty ShareName';
  if (group.includes('+') || group.includes('#')) return "ShareName contains '+' or '#'";
  const inner = filter.slice(groupEnd + 1);
  if (inner.length === 0) return 'shared subscription has an empty topic filter';
  return { group, filter: inner };
}

export function isSharedFilter(filter: string): boolean {
  return filter.startsWith(SHARE_PREFIX);
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/** Number of levels in a topic name or filter. */
export function topicLevels(topic: string): number {
  let n = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === SLASH) n++;
  return n;
}

/** UTF-8 length of a topic above `max`; the byte length is computed only when it could matter. */
export function topicTooLong(topic: string, max: number): boolean {
  return topic.length * 3 > max && Buffer.byteLength(topic) > max;
}

/** What is wrong with a topic name or filter under the broker's limits, or undefined when nothing. */
export function topicLimitError(topic: string, maxLevels: number, maxLength: number): string | undefined {
  if (topicLevels(topic) > maxLevels) return 'has too many levels';
  if (topicTooLong(topic, maxLength)) return 'is too long';
  return undefined;
}
