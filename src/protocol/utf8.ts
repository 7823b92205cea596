// UTF-8 Encoded String rules of [MQTT-1.5.4-1] (well-formed, no surrogates) and
// [MQTT-1.5.4-2] (no U+0000). Pure functions over byte ranges of a Buffer.

import { isUtf8 } from 'node:buffer';

/** Node's Buffer has these slicers (what toString dispatches to); calling them saves the dispatch. */
interface Slicers {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/**
 * Decodes bytes [start, end) of buf as an MQTT UTF-8 string, or returns undefined when they
 * break [MQTT-1.5.4-1] (ill-formed UTF-8 or UTF-16 surrogates encoded in it) or
 * [MQTT-1.5.4-2] (U+0000). ASCII, the common case for topics, is checked by a byte loop.
 */
export function decodeUtf8(buf: Buffer, start: number, end: number): string | undefined {
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0) return undefined;
    if (b >= 0x80) return decodeNonAscii(buf, start, end);
  }
  return (buf as unknown as Slicers).latin1Slice(start, end);
}

function decodeNonAscii(buf: Buffer, start: number, end: number): string | undefined {
  const view = buf.subarray(start, end);
  // isUtf8 rejects overlong forms, encoded surrogates (U+D800..U+DFFF) and code points past U+10FFFF.
  if (!isUtf8(view)) return undefined;
  if (view.indexOf(0) !== -1) return undefined;
  return (buf as unknown as Slicers).utf8Slice(start, end);
}

/**
 * Whether a JavaScript string can be sent as an MQTT UTF-8 string: no U+0000 and no lone
 * surrogate (which Buffer.write would silently replace). Pairs of surrogates are fine.
 */
export function isValidMqttString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return false;
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c >= 0xdc00) return false;
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}
