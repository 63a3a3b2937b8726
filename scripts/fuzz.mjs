// `npm run fuzz -- --minutes N [--seed S] [--transport tcp|ws]`: runs the boundary fuzzer of
// `npm test` (test/fuzz/boundary.test.ts) for N minutes per transport, collecting every failure
// (FUZZ_KEEP_GOING) instead of stopping at the first. Needs a build (npm run fuzz builds first).
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const env = { ...process.env, FUZZ_KEEP_GOING: '1' };
for (let i = 0; i < args.length; i++) {
  const [flag, inline] = args[i].includes('=') ? args[i].split('=', 2) : [args[i], undefined];
  const value = () => inline ?? args[++i];
  if (flag === '--minutes') env.FUZZ_MINUTES = String(Number(value()));
  else if (flag === '--seed') env.FUZZ_SEED = value();
  else if (flag === '--transport') env.FUZZ_TRANSPORT = value();
  else if (flag === '--shrink') env.FUZZ_SHRINK = '1';
  else {
    console.error(`unknown option ${args[i]}\nusage: npm run fuzz -- --minutes N [--seed S] [--transport tcp|ws] [--shrink]`);
    process.exit(2);
  }
}
if (!(Number(env.FUZZ_MINUTES ?? 1) > 0)) {
  console.error('--minutes must be a positive number');
  process.exit(2);
}
env.FUZZ_MINUTES ??= '1';
const child = spawn(process.execPath, ['scripts/test.mjs', 'test/fuzz/boundary.test.js'], { stdio: 'inherit', env });
child.on('exit', (code) => process.exit(code ?? 1));
