/**
 * `npm run bench`: every benchmark, one after the other (never in parallel: they time
 * CPU work on a 2-core machine), each printing its own table. Targets are reported,
 * not asserted: timings belong here, not in the test suite.
 *
 *   npm run bench                  all of them
 *   npm run bench -- vision-pre    only the named ones
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ALL = ['vision-pre', 'vision-post', 'roundtrip', 'e2e', 'transport', 'serve', 'track'];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const chosen = wanted.length > 0 ? wanted : ALL;

let failed = 0;
for (const name of chosen) {
  if (!ALL.includes(name)) {
    console.error(`unknown benchmark '${name}': choose from ${ALL.join(', ')}`);
    process.exit(2);
  }
  console.log(`\n=== ${name} ===`);
  const r = spawnSync(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(__dirname, `${name}.ts`)],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
