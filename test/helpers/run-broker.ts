// Entry point for tests that need Starling in its own process (crash tests): starts a server from
// config flags given as JSON in argv[2] and prints its listeners on one `READY` line.
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/server/server.js';

const flags = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
const server = await startServer(loadConfig({ env: {}, flags }), log);
process.stdout.write(`READY ${JSON.stringify(server.listeners)}\n`);
const stop = (): void => {
  server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
