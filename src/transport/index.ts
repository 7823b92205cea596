// Listeners: TCP, TLS, WebSocket, secure WebSocket, PROXY protocol. Each hands the broker a
// duplex stream and peer info (`broker.handle(stream, peer)`); none knows MQTT.

export {
  checkListenerConfig, startListener,
  type Accept, type ListenerConfig, type ListenerProtocol, type RunningListener, type TlsConfig,
} from './listener.js';
export type { ListenerStats } from './tcp.js';
export { parseProxyHeader, ProxyProtocolError, type ProxyHeader, type ProxyParse } from './proxy-protocol.js';
