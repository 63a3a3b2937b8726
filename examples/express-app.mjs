// An Express app whose routes and MQTT over WebSocket share one port.
//   node examples/express-app.mjs       then: browser MQTT clients connect to ws://127.0.0.1:3000/mqtt
// Run directly it listens on PORT (default 3000); the test suite calls start() with port 0.
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { createBroker } from 'starling-mqtt';

export async function start({ port = 3000, host = '127.0.0.1', logLevel = 'warn' } = {}) {
  // No listeners of its own: the broker serves what the app hands it.
  const broker = await createBroker({ mqttListeners: [], persistence: 'memory', logLevel });

  const app = express();
  app.use(express.json());
  // The app's own routes, next to the broker.
  app.get('/api/clients', (req, res) => res.json(broker.clients().map((c) => c.clientId)));
  app.post('/api/rooms/:room/messages', async (req, res, next) => {
    try {
      // Published as a trusted local client; resolves once routed.
      await broker.publish(`rooms/${req.params.room}`, JSON.stringify(req.body), { qos: 1 });
      res.status(202).json({ published: true });
    } catch (err) {
      next(err);
    }
  });

  const server = app.listen(port, host);
  await once(server, 'listening');
  broker.attachWebSocket(server, { path: '/mqtt' });
  const url = `http://${host}:${server.address().port}`;
  return {
    url,
    mqttUrl: `${url.replace('http', 'ws')}/mqtt`,
    broker,
    async close() {
      await broker.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start({ port: Number(process.env.PORT ?? 3000), logLevel: 'info' });
  console.log(`Express routes at ${running.url}/api/clients, MQTT over WebSocket at ${running.mqttUrl}`);
  process.once('SIGINT', () => void running.close());
  process.once('SIGTERM', () => void running.close());
}
