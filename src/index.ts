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
