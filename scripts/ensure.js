#!/usr/bin/env node
'use strict';
// Makes `npm test` / `npm start` work on a fresh clone: installs the locked
// dependencies when node_modules is missing, then builds when the build output
// is missing or older than the sources.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// onnxruntime-node (a devDependency here: the native runtime the tests compare with) has
// an install script that downloads CUDA libraries on linux x64; local mode needs none of
// them, so it is told to skip (npm 11 already skips dependency install scripts).
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };

function run(args) {
  execFileSync(npm, args, { cwd: root, stdio: 'inherit', env });
}

function newestMtime(dir) {
  let newest = 0;
  if (!fs.existsSync(dir)) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    const t = entry.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  console.log('[ensure] node_modules missing: running npm ci');
  run(['ci']); // `prepare` builds as part of npm ci
}
const built = path.join(root, 'dist', 'index.js');
const builtAt = fs.existsSync(built) ? fs.statSync(built).mtimeMs : 0;
if (builtAt === 0 || newestMtime(path.join(root, 'src')) > builtAt) {
  console.log('[ensure] building');
  run(['run', 'build']);
}
