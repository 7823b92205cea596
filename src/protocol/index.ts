// The MQTT codec: packet types, decoder, encoder, validation. Pure functions on Buffers.

export * from './constants.js';
export * from './packets.js';
export * from './reason-codes.js';
export { ProtocolError, isProtocolError } from './errors.js';
export { Decoder, DEFAULT_MAX_CONNECT_PACKET_SIZE, DEFAULT_MAX_PACKET_SIZE, type DecoderOptions } from './decoder.js';
export { encode } from './encoder.js';
export { preparePublish, publishHead, INLINE_PAYLOAD_LIMIT, type PreparedPublish, type PublishContent } from './publish-encoder.js';
export { PropertyId, PROPERTY_DEFS } from './properties.js';
export { topicNameError, topicFilterError, topicLevels, topicLimitError, parseSharedFilter, isSharedFilter, hasWildcard, type SharedFilter } from './topic.js';
export { isValidMqttString } from './utf8.js';
