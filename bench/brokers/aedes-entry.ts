// Runs Aedes for the benchmark in its own process: MQTT over TCP on argv[2], over WebSocket (path
// /mqtt, subprotocol mqtt) on argv[3], in-memory persistence, otherwise Aedes' defaults. TCP_NODELAY
// is set as Starling and the Mosquitto configuration do, so no broker waits on Nagle's algorithm.
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';

const tcpPort = Number(process.argv[2]);
const wsPort = Number(process.argv[3]);
const aedes = await Aedes.createBroker();

const tcp = createServer({ noDelay: true }, (socket) => aedes.handle(socket));
const http = createHttpServer();
const wss = new WebSocketServer({
  server: http,
  path: '/mqtt',
  perMessageDeflate: false,
  handleProtocols: (offered: Set<string>) => (offered.has('mqtt') ? 'mqtt' : false),
});
wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req));
// Errors of single clients are theirs; the benchmark only needs the broker to stay up.
aedes.on('clientError', () => {});
aedes.on('connectionError', () => {});

await new Promise<void>((r) => tcp.listen(tcpPort, '127.0.0.1', r));
await new Promise<void>((r) => http.listen(wsPort, '127.0.0.1', r));
process.stdout.write(`READY ${tcpPort} ${wsPort}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  tcp.close();
  wss.close();
  http.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop).resume();
