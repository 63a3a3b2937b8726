// starling-mqtt: the public API, the only module an application imports. What is exported here is
// covered by semver (docs/library.md); everything else in the package is internal.
export { createBroker } from './api/broker.js';
export { ConfigError } from './config/errors.js';
export type {
  AttachOptions,
  AuthenticateResult,
  AuthorizePublishResult,
  AuthorizeSubscribeResult,
  Awaitable,
  Broker,
  BrokerOptions,
  Client,
  ClientSummary,
  Credentials,
  DisconnectReason,
  DropReason,
  DroppedMessage,
  Hooks,
  Listener,
  Message,
  MessageHandler,
  MessageProperties,
  PublishOptions,
  QoS,
  Refusal,
  RetainedMessage,
  SessionSummary,
  Settings,
  StreamInfo,
  Subscription,
  SubscriptionSummary,
} from './api/types.js';
