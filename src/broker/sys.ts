// `$SYS/broker/...` topics: the broker's own counters, published as retained QoS 0 messages at
// an interval (only those whose value changed), under the names Mosquitto users know.

import type { Message } from '../session/message.js';

export interface SysSnapshot {
  version: string;
  uptimeSeconds: number;
  clientsConnected: number;
  sessions: number;
  messagesReceived: number;
  messagesSent: number;
  messagesDropped: number;
  bytesReceived: number;
  bytesSent: number;
  subscriptions: number;
  retained: number;
}

/** Topic and payload of every `$SYS` value. */
export function sysTopics(s: SysSnapshot): [string, string][] {
  return [
    ['$SYS/broker/version', `petrel ${s.version}`],
    ['$SYS/broker/uptime', `${s.uptimeSeconds} seconds`],
    ['$SYS/broker/clients/connected', String(s.clientsConnected)],
    ['$SYS/broker/clients/disconnected', String(Math.max(0, s.sessions - s.clientsConnected))],
    ['$SYS/broker/clients/total', String(Math.max(s.sessions, s.clientsConnected))],
    ['$SYS/broker/messages/received', String(s.messagesReceived)],
    ['$SYS/broker/messages/sent', String(s.messagesSent)],
    ['$SYS/broker/messages/dropped', String(s.messagesDropped)],
    ['$SYS/broker/bytes/received', String(s.bytesReceived)],
    ['$SYS/broker/bytes/sent', String(s.bytesSent)],
    ['$SYS/broker/subscriptions/count', String(s.subscriptions)],
    ['$SYS/broker/retained messages/count', String(s.retained)],
  ];
}

export interface SysHost {
  sysSnapshot(): SysSnapshot;
  publishMessage(message: Message): number;
}

/** Publishes the `$SYS` values every `intervalSeconds`; `stop()` ends it. */
export class SysPublisher {
  private readonly last = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly host: SysHost, private readonly make: (topic: string, payload: string) => Message) {}

  start(intervalSeconds: number): void {
    this.publish();
    this.timer = setInterval(() => this.publish(), intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Publishes every value that changed since the last time. */
  publish(): void {
    for (const [topic, value] of sysTopics(this.host.sysSnapshot())) {
      if (this.last.get(topic) === value) continue;
      this.last.set(topic, value);
      this.host.publishMessage(this.make(topic, value));
    }
  }
}
