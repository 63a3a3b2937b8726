// The connection's protocol state as one value, and the only transitions between its values. The
// Channel owns the value; handlers ask it for a transition (Channel.enter), which refuses one this
// table does not allow.
import type { ConnectPacket } from '../protocol/packets.js';

/** What CONNECT settled that the steps after authentication need (held by the channel until CONNACK). */
export interface PendingConnect {
  packet: ConnectPacket;
  assignedClientId: boolean;
  keepalive: number;
  serverKeepAlive?: number;
}

/** The connection's lifecycle, as the server and the broker see it. */
export type ChannelState =
  /** Transport open, no CONNECT yet; only CONNECT is allowed [MQTT-3.1.0-1]. */
  | 'awaitingConnect'
  /** CONNECT received, authentication and session set-up in progress. */
  | 'connecting'
  /** CONNACK sent with success. */
  | 'connected'
  /** Ending or ended; nothing more is read or processed. */
  | 'closed';

/**
 * The state the channel holds: the lifecycle, with re-authentication as a state of its own. A
 * re-authenticating connection is connected (every other packet flows on [MQTT-4.12.1]); only AUTH
 * reads the difference.
 */
export type ChannelPhase = ChannelState | 'reauthenticating';

export type ChannelEvent =
  /** CONNECT arrived; there is only one [MQTT-3.1.0-2]. */
  | 'connect'
  /** CONNACK with success was sent. */
  | 'connack'
  /** AUTH 0x19 Re-authenticate: a new conversation (one in progress is replaced) [MQTT-4.12.1-1]. */
  | 'reauthenticate'
  /** The re-authentication succeeded (AUTH 0x00 sent). */
  | 'reauthenticated'
  /** The connection ends, however. */
  | 'close';

/** From → to, per event; a phase not listed cannot take the event. */
const TRANSITIONS: { readonly [E in ChannelEvent]: Partial<Readonly<Record<ChannelPhase, ChannelPhase>>> } = {
  connect: { awaitingConnect: 'connecting' },
  connack: { connecting: 'connected' },
  reauthenticate: { connected: 'reauthenticating', reauthenticating: 'reauthenticating' },
  reauthenticated: { reauthenticating: 'connected' },
  close: { awaitingConnect: 'closed', connecting: 'closed', connected: 'closed', reauthenticating: 'closed' },
};

/** The phase `event` leads to from `from`, or undefined when it may not happen there. */
export function transition(from: ChannelPhase, event: ChannelEvent): ChannelPhase | undefined {
  return TRANSITIONS[event][from];
}

/** The lifecycle a phase belongs to. */
export function lifecycle(phase: ChannelPhase): ChannelState {
  return phase === 'reauthenticating' ? 'connected' : phase;
}
