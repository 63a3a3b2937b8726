// One message on its way to one subscriber: what routing decided (the QoS, the RETAIN flag and the
// subscription identifiers of this subscription) and, once it is in a session's window, the packet
// identifier and DUP flag. The broker builds it, Session.enqueue keeps its fields in an Outgoing
// entry, and SessionOutlet.deliver (the channel) writes it as one PUBLISH.
import type { QoS } from '../protocol/constants.js';
import type { StoredMessage } from '../store/ports.js';

export interface Delivery {
  readonly message: StoredMessage;
  /** The lower of the published and the granted QoS. */
  readonly qos: QoS;
  /** The RETAIN flag as delivered (kept only for Retain As Published, or a retained copy [MQTT-3.3.1-12]). */
  readonly retain: boolean;
  readonly subscriptionIds?: number[];
  /** Present exactly for QoS 1/2: the session's window gave it. */
  readonly packetId?: number;
  /** A PUBLISH that went out on an earlier connection [MQTT-3.3.1-1]. */
  readonly dup?: boolean;
}
