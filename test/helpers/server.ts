// Starts a real Starling server in-process on OS-chosen ports, for integration tests.
import { loadConfig } from '../../src/config/load.js';
import { startServer, type RunningServer, type ServerExtras } from '../../src/server/server.js';
import type { ListenerScheme } from '../../src/transport/transport.js';
import { clientUrl } from '../../src/transport/kinds.js';
import type { Logger } from 'pino';
import { silentLog } from './channel.js';
import { ScramSha256Authenticator, scramCredentials } from '../../src/hooks/scram.js';

export interface TestServer {
  server: RunningServer;
  /** URL a client connects to, e.g. `mqtt://127.0.0.1:41234` or `ws://127.0.0.1:41235/mqtt`. */
  url(scheme?: ListenerScheme): string;
  port(scheme?: ListenerScheme): number;
  close(): Promise<void>;
}

/**
 * Config keys are given as they would be written in the config file; the defaults here are a
 * throwaway in-memory broker with one TCP and one WebSocket listener.
 */
/** `log`: where the server logs (silent unless given; test/transport/helpers.ts captureLog collects lines). */
export async function startTestServer(flags: Record<string, string> = {}, extras: ServerExtras = {}, log: Logger = silentLog): Promise<TestServer> {
  const config = loadConfig({
    env: {},
    flags: { mqttListeners: 'mqtt://127.0.0.1:0,ws://127.0.0.1:0', persistence: 'memory', ...flags },
  });
  const server = await startServer(config, log, extras);
  const find = (scheme: ListenerScheme) => {
    const l = server.listeners.find((x) => x.scheme === scheme);
    if (!l) throw new Error(`no ${scheme} listener`);
    return l;
  };
  return {
    server,
    port: (scheme = 'mqtt') => find(scheme).port,
    url: (scheme = 'mqtt') => {
      const l = find(scheme);
      return clientUrl({ ...l, host: '127.0.0.1' }, '/mqtt');
    },
    close: () => server.close(),
  };
}

/** A test server whose enhanced authentication method is SCRAM-SHA-256, for these users (name → password). */
export function startScramServer(passwords: Record<string, string>): Promise<TestServer> {
  const users = new Map(Object.entries(passwords).map(([user, password]) => [user, scramCredentials(password)]));
  return startTestServer({}, { hooks: { authenticators: [new ScramSha256Authenticator((u) => users.get(u))] } });
}
