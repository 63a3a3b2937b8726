// MQTT.js over a TCP socket bound to a chosen loopback address (127.0.0.2, ...), so one test can be
// several client addresses. MQTT.js's own TCP builder has no localAddress option; its streamBuilder does.
import { connect as tcpConnect } from 'node:net';
import { MqttClient, type IClientOptions } from 'mqtt';
import { whenConnected } from './mqttjs.js';

/** Resolves on CONNACK; rejects when the broker closes first (e.g. an admission refusal). */
export function connectFrom(port: number, localAddress: string, options: IClientOptions = {}, timeoutMs = 3000): Promise<MqttClient> {
  const client = new MqttClient(() => tcpConnect({ host: '127.0.0.1', port, localAddress }), { reconnectPeriod: 0, connectTimeout: timeoutMs, ...options });
  return whenConnected(client, `127.0.0.1:${port} from ${localAddress}`, timeoutMs);
}
