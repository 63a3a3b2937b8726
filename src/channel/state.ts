// The connection's protocol state as one value.
export type ChannelState =
  /** Transport open, no CONNECT yet; only CONNECT is allowed [MQTT-3.1.0-1]. */
  | 'awaitingConnect'
  /** CONNECT received, authentication and session set-up in progress. */
  | 'connecting'
  /** CONNACK sent with success. */
  | 'connected'
  /** Ending or ended; nothing more is read or processed. */
  | 'closed';
