// The Reason String and User Properties an acknowledgement carries (MQTT 5), from the broker's own
// reason or an authorization hook's Verdict.
import type { Properties } from '../protocol/packets.js';
import type { Verdict } from '../hooks/hooks.js';
import type { Channel } from './channel.js';

/**
 * Properties for a PUBACK, PUBREC or SUBACK: none in MQTT 3.x, none when the client set Request
 * Problem Information to 0 [MQTT-3.1.2-29]. (Channel.send drops them again if they would make the
 * packet larger than the client's Maximum Packet Size [MQTT-3.4.2-2, MQTT-3.4.2-3].)
 */
export function ackProperties(ch: Channel, words: Verdict | undefined, reason?: string): Properties | undefined {
  if (ch.version !== 5 || !ch.problemInformation) return undefined;
  const reasonString = words?.reasonString ?? reason;
  const userProperties = words?.userProperties;
  if (reasonString === undefined && (userProperties === undefined || userProperties.length === 0)) return undefined;
  const p: Properties = {};
  if (reasonString !== undefined) p.reasonString = reasonString;
  if (userProperties !== undefined && userProperties.length > 0) p.userProperties = userProperties;
  return p;
}
