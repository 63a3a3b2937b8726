// Authentication against the application's own user table, and per-user topics.
//   node examples/custom-auth.mjs       then: mqtt://127.0.0.1:1884 as alice / wonderland
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createBroker } from 'starling-mqtt';

const scryptAsync = promisify(scrypt);

/** The application's users: salted scrypt hashes, and a flag the app's admins can set. */
export async function makeUserTable(entries) {
  const users = new Map();
  for (const [name, password, disabled = false] of entries) {
    const salt = randomBytes(16);
    users.set(name, { salt, hash: await scryptAsync(password, salt, 32), disabled });
  }
  return users;
}

export async function start({ port = 1884, users, logLevel = 'warn' } = {}) {
  users ??= await makeUserTable([['alice', 'wonderland'], ['bob', 'builder', true]]);
  const broker = await createBroker({
    mqttListeners: [`mqtt://127.0.0.1:${port}`],
    persistence: 'memory',
    logLevel,
    hooks: {
      async authenticate(client, { username, password }) {
        const user = users.get(username ?? '');
        if (!user || !password) return false; // 0x86 Bad user name or password
        const hash = await scryptAsync(password, user.salt, 32);
        if (!timingSafeEqual(hash, user.hash)) return false;
        if (user.disabled) return { reasonCode: 0x8a }; // Banned
        return true;
      },
      // Each user writes only below users/<name>/ and may read everything else.
      authorizePublish: (client, message) =>
        message.topic.startsWith(`users/${client.username}/`) || { reasonCode: 0x87, reasonString: `publish only below users/${client.username}/` },
    },
  });
  const [listener] = await broker.listen();
  return { url: `mqtt://127.0.0.1:${listener.port}`, broker, close: () => broker.close() };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await start({ port: Number(process.env.PORT ?? 1884), logLevel: 'info' });
  console.log(`MQTT at ${running.url}: alice/wonderland may connect, bob is disabled`);
  process.once('SIGINT', () => void running.close());
  process.once('SIGTERM', () => void running.close());
}
