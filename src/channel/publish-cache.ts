// Fan-out writes the same PUBLISH to many subscribers. Where the bytes depend only on the message
// and a few flags (QoS 0: no packet id; no per-subscriber properties), they are encoded once and
// shared. Deliveries of one message happen in one synchronous loop, so remembering only the last
// message is enough and nothing is kept alive after it.
import type { ProtocolVersion } from '../protocol/constants.js';
import type { StoredMessage } from '../store/ports.js';

export class PublishCache {
  private message: StoredMessage | undefined;
  /** Encoded QoS 0 packets by shape: version (3/4 share bytes) × retain flag. */
  private readonly shapes: Array<Buffer | undefined> = [undefined, undefined, undefined, undefined];

  /** The cached bytes for this message and shape, if any. */
  get(message: StoredMessage, version: ProtocolVersion, retain: boolean): Buffer | undefined {
    if (message !== this.message) return undefined;
    return this.shapes[slot(version, retain)];
  }

  set(message: StoredMessage, version: ProtocolVersion, retain: boolean, bytes: Buffer): void {
    if (message !== this.message) {
      this.message = message;
      this.shapes.fill(undefined);
    }
    this.shapes[slot(version, retain)] = bytes;
  }
}

const slot = (version: ProtocolVersion, retain: boolean): number => (version === 5 ? 2 : 0) + (retain ? 1 : 0);
