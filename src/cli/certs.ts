// `starling certs`: a development CA, server and client certificate, and the config lines to use them.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_DEV_HOSTS, generateDevCertificates } from '../transport/dev-certs.js';
import type { CliIO } from './io.js';

const collect = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

export function registerCerts(program: Command, io: CliIO): void {
  program
    .command('certs')
    .description('make a development CA, server certificate and client certificate (node-forge; not for production)')
    .option('-o, --out <dir>', 'directory to write ca.crt, ca.key, server.crt, server.key, client.crt, client.key', './certs')
    .option('--host <name>', `another server certificate name or address, repeatable; ${DEFAULT_DEV_HOSTS.join(', ')} are always included`, collect, [])
    .option('--days <n>', 'validity of the server and client certificates in days', '365')
    .option('-f, --force', 'replace existing files')
    .action(async (opts: { out: string; host: string[]; days: string; force?: boolean }) => {
      const dir = resolve(opts.out);
      const days = Number(opts.days);
      if (!Number.isInteger(days) || days < 1) {
        io.err(`starling certs: --days must be a whole number of days, got "${opts.days}"\n`);
        io.exit(2);
        return;
      }
      const existing = ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'client.crt', 'client.key'].filter((f) => existsSync(join(dir, f)));
      if (existing.length > 0 && !opts.force) {
        io.err(`starling certs: ${join(dir, existing[0])} exists; use --force to replace the certificates in ${dir}\n`);
        io.exit(2);
        return;
      }
      // The loopback names stay whatever --host adds: the quickstart dials wss://127.0.0.1 even
      // after `--host localhost`, and a certificate that drops them fails exactly there.
      const hosts = [...new Set([...DEFAULT_DEV_HOSTS, ...opts.host])];
      const files = await generateDevCertificates(dir, { hosts, days });
      io.out(
        [
          `Development certificates for ${hosts.join(', ')} written to ${dir}:`,
          `  ca.crt, ca.key          the local CA (trust ca.crt in clients; keep ca.key private)`,
          `  server.crt, server.key  the broker's certificate`,
          `  client.crt, client.key  a client certificate for mutual TLS`,
          '',
          'Config lines:',
          `  mqttTlsCertificateFilePath=${files.certFile}`,
          `  mqttTlsKeyFilePath=${files.keyFile}`,
          `  mqttTlsTrustCertsFilePath=${files.caFile}`,
          '',
          'Browsers accept wss:// with these only after ca.crt is added to their (or the system) trust store.',
          '',
        ].join('\n'),
      );
    });
}
