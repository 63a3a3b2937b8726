import { ReasonCode } from './reason-codes.js';

/**
 * A protocol error that carries the MQTT 5 reason code it should produce. Handlers throw it; the
 * channel turns it into a CONNACK/DISCONNECT with that code (MQTT 5) or a plain close (MQTT 3.x).
 */
export class MqttError extends Error {
  readonly reasonCode: number;
  constructor(reasonCode: number, message: string) {
    super(message);
    this.name = 'MqttError';
    this.reasonCode = reasonCode;
  }
}

export const malformed = (message: string): MqttError => new MqttError(ReasonCode.MalformedPacket, message);
export const protocolError = (message: string): MqttError => new MqttError(ReasonCode.ProtocolError, message);
