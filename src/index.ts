// The public library API of Petrel.

export { Broker, type ListenOptions, type PublishInput } from './broker/broker.js';
export type { BrokerOptions } from './broker/options.js';
export { DEFAULT_OPTIONS } from './broker/options.js';
export type {
  AuthenticateContext, ClientInfo, Decision, EnhancedAuthContext, EnhancedAuthResult, Hooks, PublishContext,
  SubscribeContext,
} from './broker/hooks.js';
export type { PeerCertificate, PeerInfo } from './broker/connection.js';
export * as protocol from './protocol/index.js';
export { startOpsServer, type OpsServer } from './ops/http.js';
export { createMetrics, type BrokerMetrics } from './ops/metrics.js';
export { loadConfigFile, parseConfig, ConfigError } from './ops/config.js';
export type { ListenerConfig, RunningListener, TlsConfig } from './transport/listener.js';
