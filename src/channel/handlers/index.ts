// The dispatch table: one handler per packet type, checked by the compiler for completeness.
import type { Packet, PacketOf } from '../../protocol/packets.js';
import type { Channel } from '../channel.js';
import { handleConnect } from './connect.js';
import { handlePublish } from './publish.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './acks.js';
import { handleSubscribe, handleUnsubscribe } from './subscribe.js';
import { handleDisconnect, handlePingreq, handleServerOnly } from './session-control.js';
import { handleAuth } from './auth.js';
import type { MaybePromise } from '../../protocol/maybe-promise.js';

type Handlers = { [T in Packet['type']]: (ch: Channel, packet: PacketOf<T>) => MaybePromise<void> };

export const handlers: Handlers = {
  connect: handleConnect,
  connack: handleServerOnly,
  publish: handlePublish,
  puback: handlePuback,
  pubrec: handlePubrec,
  pubrel: handlePubrel,
  pubcomp: handlePubcomp,
  subscribe: handleSubscribe,
  suback: handleServerOnly,
  unsubscribe: handleUnsubscribe,
  unsuback: handleServerOnly,
  pingreq: handlePingreq,
  pingresp: handleServerOnly,
  disconnect: handleDisconnect,
  auth: handleAuth,
};
