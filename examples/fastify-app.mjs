// A Fastify app whose routes and MQTT over WebSocket share one port.
//   node examples/fastify-app.mjs       then: MQTT over WebSocket at ws://127.0.0.1:3001/mqtt
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { createBroker } from 'starling-mqtt';

export async function start({ port = 3001, host = '127.0.0.1', logLevel = 'warn' } = {}) {
  const broker = await createBroker({ mqttListeners: [], persistence: 'memory', logLevel });
  const app = Fastify();

  app.get('/api/retained', async () => broker.retained('#').map((m) => ({ topic: m.topic, payload: m.payload.toString() })));
  app.put('/api/state/:device', async (request, reply) => {
    // Retained: a client that subscribes later still gets the last state.
    await broker.publish(`state/${request.params.device}`, JSON.stringify(request.body), { qos: 1, retain: true });
    reply.code(204);
  });

  // Fastify's HTTP server exists before listen(); the MQTT endpoint joins it.
  broker.attachWebSocket(app.server, { path: '/mqtt' });
  await app.listen({ port, host });
  const url = `http://${host}:${app.server.address().port}`;
  return {
    url,
    mqttUrl: `${url.replace('http', 'ws')}/mqtt`,
    broker,
    async close() {
      await broker.close();
      await app.close();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start({ port: Number(process.env.PORT ?? 3001), logLevel: 'info' });
  console.log(`Fastify routes at ${running.url}/api/retained, MQTT over WebSocket at ${running.mqttUrl}`);
  process.once('SIGINT', () => void running.close());
  process.once('SIGTERM', () => void running.close());
}
