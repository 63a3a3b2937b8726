// The `starling` command line. bin/starling.js calls main(process.argv).
import { Command, CommanderError } from 'commander';
import { processIO, type CliIO } from './io.js';
import { registerStart } from './start.js';
import { registerCerts } from './certs.js';
import { registerConfig } from './config-cmd.js';
import { registerPub } from './pub.js';
import { registerSub } from './sub.js';
import { registerBackup } from './backup.js';
import { runPasswd } from './passwd.js';
import { starlingVersion } from './version.js';

export type { CliIO } from './io.js';

export function buildProgram(io: CliIO): Command {
  const program = new Command('starling')
    .description('Starling: an MQTT 3.1/3.1.1/5.0 broker whose home ground is MQTT over WebSocket')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showSuggestionAfterError(true);
  registerStart(program, io);
  registerCerts(program, io);
  registerConfig(program, io);
  registerPub(program, io);
  registerSub(program, io);
  registerBackup(program, io);
  program
    .command('passwd')
    .description('add, update or delete (-D) a user in a password file: passwd [-D] [--password-stdin] FILE USER')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(async (_opts: unknown, cmd: { args: string[] }) => {
      io.exit(await runPasswd(cmd.args));
    });
  // --version everywhere (-V is pub/sub's protocol version, as in mosquitto_pub/sub).
  const version = `starling ${starlingVersion()}`;
  for (const c of [program, ...program.commands]) c.version(version, '--version', 'print the version of Starling');
  return program;
}

/** Runs one command; `io` is for tests (defaults to the real process). */
export async function main(argv: string[], io: CliIO = processIO()): Promise<void> {
  // The benchmark harness lives beside the broker (bench/), not inside it; it is loaded only here.
  if (argv[2] === 'bench') {
    io.exit(await runBenchFrom(new URL('../../bench/main.js', import.meta.url).href, argv.slice(3), io));
    return;
  }
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // Commander has already printed usage errors and help; only the exit code is left to set.
    if (err instanceof CommanderError) {
      io.exit(err.exitCode === 0 ? 0 : 2);
      return;
    }
    throw err;
  }
}

/**
 * Loads the benchmark harness from `url` and runs it. The published package leaves bench/ out
 * (and Aedes, which it compares against, is a dev dependency), so there the import fails: say where
 * the benchmark does run instead of showing a module-resolution stack.
 */
export async function runBenchFrom(url: string, args: string[], io: CliIO): Promise<number> {
  let runBench: (args: string[]) => Promise<number>;
  try {
    ({ runBench } = (await import(url)) as { runBench(args: string[]): Promise<number> });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    io.err(
      'starling bench: the benchmark harness is not part of the installed package; it runs from a source checkout ' +
        '(git clone, npm install, then `npm run bench`), which has bench/ and its dev dependencies (Aedes).\n',
    );
    return 1;
  }
  return runBench(args);
}
