// The public library API of Petrel.
export * as protocol from './protocol/index.js';
