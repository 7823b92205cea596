// A protocol error is a value that carries the reason code the peer will see.

import { reasonName } from './reason-codes.js';

export class ProtocolError extends Error {
  /** The v5 reason code sent in CONNACK or DISCONNECT (3.x peers are told via the mapping table). */
  readonly reasonCode: number;

  constructor(reasonCode: number, message: string) {
    super(`${reasonName(reasonCode)}: ${message}`);
    this.name = 'ProtocolError';
    this.reasonCode = reasonCode;
  }
}

export function malformed(message: string): ProtocolError {
  return new ProtocolError(0x81, message);
}

export function protocolError(message: string): ProtocolError {
  return new ProtocolError(0x82, message);
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}
