// SUBSCRIBE [MQTT-3.8] and UNSUBSCRIBE [MQTT-3.10].
import type { SubscribePacket, UnsubscribePacket } from '../../protocol/packets.js';
import { protocolError } from '../../protocol/errors.js';
import { ReasonCode } from '../../protocol/reason-codes.js';
import { parseSharedFilter } from '../../protocol/topic.js';
import type { QoS } from '../../protocol/constants.js';
import type { SubscriptionRecord } from '../../store/ports.js';
import type { Channel } from '../channel.js';
import { withinTopicLimits } from '../limits.js';
import { codeOf, type Verdict } from '../../hooks/hooks.js';
import { ackProperties } from '../ack-properties.js';
import { andThen, type MaybePromise } from '../../protocol/maybe-promise.js';
import { textBytes } from '../../session/state-budget.js';

/** The highest QoS the broker grants. */
const MAX_QOS: QoS = 2;

export function handleSubscribe(ch: Channel, packet: SubscribePacket): MaybePromise<void> {
  if (ch.state !== 'connected' || !ch.session) throw protocolError('SUBSCRIBE before CONNACK');
  const session = ch.session;
  const subscriptionId = packet.properties?.subscriptionIdentifiers?.[0];
  const codes: number[] = [];
  const accepted: SubscriptionRecord[] = [];
  const limits = ch.broker.options;
  let held = session.subscriptions.size;
  /** Filter bytes this packet's new subscriptions add to the session's state (maxSessionBytesTotal). */
  let adding = 0;
  let words: Verdict | undefined;
  // MQTT 3.1.1 has one failure code, 0x80 [MQTT-3.9.3-2]; MQTT 5 says why.
  const refuse = (code: number): void => void codes.push(ch.version === 5 ? code : 0x80);
  const requests = packet.subscriptions;
  /** Takes the hook's answer for one filter. */
  const decided = (req: (typeof requests)[number], isNew: boolean, verdict: number | Verdict): void => {
    const decision = codeOf(verdict);
    // A hook's Reason String and User Properties go on the SUBACK, whatever it decided.
    if (typeof verdict !== 'number') words = mergeWords(words, verdict);
    if (decision !== ReasonCode.Success) return refuse(decision);
    if (isNew) {
      held++;
      adding += textBytes(req.filter);
    }
    const asked = (req.qos < MAX_QOS ? req.qos : MAX_QOS) as QoS;
    // A hook may grant less than was asked, never more.
    const qos = typeof verdict !== 'number' && verdict.qos !== undefined && verdict.qos < asked ? verdict.qos : asked;
    const sub: SubscriptionRecord = {
      filter: req.filter,
      qos,
      noLocal: req.noLocal,
      retainAsPublished: req.retainAsPublished,
      retainHandling: req.retainHandling,
    };
    if (subscriptionId !== undefined) sub.subscriptionId = subscriptionId;
    accepted.push(sub);
    codes.push(qos);
  };
  /** Judges the filters from `from` on, in order; a hook that answers later holds the rest. */
  const judge = (from: number): MaybePromise<void> => {
    for (let i = from; i < requests.length; i++) {
      const req = requests[i];
      // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
      if (req.noLocal && parseSharedFilter(req.filter)) throw protocolError('No Local on a shared subscription');
      if (!withinTopicLimits(req.filter, limits)) {
        ch.broker.stats.limitHit('subscribeTopicLimit');
        refuse(ReasonCode.TopicFilterInvalid);
        continue;
      }
      const isNew = !session.subscriptions.has(req.filter);
      if (isNew && limits.maxSubscriptionsPerClient > 0 && held >= limits.maxSubscriptionsPerClient) {
        ch.broker.stats.limitHit('maxSubscriptions');
        refuse(ReasonCode.QuotaExceeded);
        continue;
      }
      // Every session's filters, client ids and wills together past maxSessionBytesTotal: refused
      // here, never taken from what any session holds.
      if (isNew && session.stateWouldOverflow(adding + textBytes(req.filter))) {
        ch.broker.stats.limitHit('maxSessionBytesTotal');
        refuse(ReasonCode.QuotaExceeded);
        continue;
      }
      const verdict = ch.broker.hooks.authorizeSubscribe(ch.info, req.filter, req.qos);
      // Not andThen: answers given now continue this loop, and only a late one resumes it from the
      // next filter, so a SUBSCRIBE of many filters never nests a call per filter.
      if (verdict instanceof Promise) {
        return verdict.then((v) => {
          if (ch.state !== 'connected') return;
          decided(req, isNew, v);
          return judge(i + 1);
        });
      }
      decided(req, isNew, verdict);
    }
    return store();
  };
  const finish = (isNew: boolean[]): void => {
    // SUBACK first, then the retained messages of each new subscription [MQTT-3.8.4-4].
    const refused = codes.some((c) => c >= 0x80);
    const properties = ackProperties(ch, words, refused ? 'some subscriptions were refused; see the reason codes' : undefined);
    ch.send({ type: 'suback', packetId: packet.packetId, reasonCodes: codes, ...(properties ? { properties } : {}) });
    accepted.forEach((sub, i) => ch.broker.deliverRetained(session, sub, isNew[i]));
    if (accepted.length > 0) ch.broker.hooks.notify?.subscribed?.(ch.info, accepted);
  };
  const store = (): MaybePromise<void> => {
    if (accepted.length === 0) return finish([]);
    return andThen(ch.broker.subscribe(session, accepted), finish);
  };
  return judge(0);
}

/** One SUBACK answers every filter: the first Reason String, and every User Property in filter order. */
function mergeWords(acc: Verdict | undefined, v: Verdict): Verdict {
  const merged: Verdict = { code: v.code, userProperties: [...(acc?.userProperties ?? []), ...(v.userProperties ?? [])] };
  const reasonString = acc?.reasonString ?? v.reasonString;
  if (reasonString !== undefined) merged.reasonString = reasonString;
  return merged;
}

export function handleUnsubscribe(ch: Channel, packet: UnsubscribePacket): MaybePromise<void> {
  if (ch.state !== 'connected' || !ch.session) throw protocolError('UNSUBSCRIBE before CONNACK');
  const finish = (existed: boolean[]): void => {
    const gone = packet.filters.filter((_, i) => existed[i]);
    if (gone.length > 0) ch.broker.hooks.notify?.unsubscribed?.(ch.info, gone);
    // MQTT 5 reports per filter whether a subscription existed [MQTT-3.11.3-1]; 3.x has no codes.
    if (ch.version === 5) {
      const reasonCodes = existed.map((e) => (e ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted));
      ch.send({ type: 'unsuback', packetId: packet.packetId, reasonCodes });
    } else ch.send({ type: 'unsuback', packetId: packet.packetId });
  };
  return andThen(ch.broker.unsubscribe(ch.session, packet.filters), finish);
}
