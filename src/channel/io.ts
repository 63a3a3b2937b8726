// What a channel needs from its connection: a place to write bytes and a way to end. The channel
// itself does no I/O, so tests drive it with a recorder that implements this.
import type { ListenerInfo, PeerIdentity } from '../transport/transport.js';

export interface ChannelIO {
  readonly remoteAddress: string;
  readonly listener: ListenerInfo;
  readonly peer?: PeerIdentity;
  /** Bytes written and not yet taken by the network (the slow-consumer measure). */
  readonly bufferedBytes: number;
  /** Bytes of a packet received in part (counted in the connection's memory budget). */
  readonly partialBytes: number;
  /** Writes one encoded packet. */
  write(bytes: Buffer): void;
  /** Ends the connection once written bytes are flushed. */
  close(): void;
  /** Starts the keepalive watchdog: no packet for 1.5 × seconds closes the connection [MQTT-3.1.2-24]. */
  setKeepalive(seconds: number): void;
  /** Backpressure from the channel: stop / start reading while packets wait for the store. */
  pause(): void;
  resume(): void;
}
