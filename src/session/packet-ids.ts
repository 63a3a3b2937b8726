// Packet identifier allocation for one session's outgoing QoS 1/2 messages.
import { MAX_PACKET_ID } from '../protocol/constants.js';

/**
 * Hands out identifiers 1..65535 in rotation, skipping those still in use, so an identifier is
 * reused only after its exchange completed [MQTT-2.3.1-4] (MQTT 5 [MQTT-2.2.1-4]). Returns
 * undefined when all are in use.
 */
export class PacketIdAllocator {
  private next = 1;

  allocate(inUse: ReadonlyMap<number, unknown>): number | undefined {
    if (inUse.size >= MAX_PACKET_ID) return undefined;
    for (let tries = 0; tries < MAX_PACKET_ID; tries++) {
      const id = this.next;
      this.next = id === MAX_PACKET_ID ? 1 : id + 1;
      if (!inUse.has(id)) return id;
    }
    return undefined;
  }

  /** After recovery, continue past the identifiers already in flight. */
  resumeAfter(id: number): void {
    this.next = id >= MAX_PACKET_ID ? 1 : id + 1;
  }
}
