// A server-side rule: every Celsius reading is republished, converted, as Fahrenheit.
//   node examples/republish-rule.mjs    then publish 21.5 to sensors/kitchen/celsius on mqtt://127.0.0.1:1885
import { pathToFileURL } from 'node:url';
import { createBroker } from 'starling-mqtt';

export async function start({ port = 1885, logLevel = 'warn' } = {}) {
  const broker = await createBroker({ mqttListeners: [`mqtt://127.0.0.1:${port}`], persistence: 'memory', logLevel });

  // An in-process subscription: no ACL, called for each message in order.
  broker.subscribe('sensors/+/celsius', async (message) => {
    const celsius = Number(message.payload.toString());
    if (!Number.isFinite(celsius)) return; // not a reading: nothing to convert
    const sensor = message.topic.split('/')[1];
    const fahrenheit = Math.round((celsius * 1.8 + 32) * 10) / 10;
    await broker.publish(`sensors/${sensor}/fahrenheit`, String(fahrenheit), {
      qos: message.qos,
      retain: message.retain,
      properties: { contentType: 'text/plain', userProperties: [['converted-from', message.topic]] },
    });
  });

  const [listener] = await broker.listen();
  return { url: `mqtt://127.0.0.1:${listener.port}`, broker, close: () => broker.close() };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start({ port: Number(process.env.PORT ?? 1885), logLevel: 'info' });
  console.log(`MQTT at ${running.url}: publish to sensors/<name>/celsius, subscribe to sensors/+/fahrenheit`);
  process.once('SIGINT', () => void running.close());
  process.once('SIGTERM', () => void running.close());
}
