#!/usr/bin/env node
'use strict';
// Makes `npm test` / `npm start` work on a fresh clone: installs the locked
// dependencies when node_modules is missing or differs from package-lock.json, then
// builds when the build output is missing or older than the sources.
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

/**
 * Why node_modules does not match package-lock.json, or '' when it does. npm writes
 * node_modules/.package-lock.json for what it installed; a package the lockfile wants
 * (not optional: those may be skipped for the platform) missing there or at another
 * version means a pull or a branch switch changed the dependencies since.
 */
function staleReason() {
  const hidden = path.join(root, 'node_modules', '.package-lock.json');
  if (!fs.existsSync(hidden)) return 'node_modules missing';
  const wanted =
    JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')).packages ?? {};
  const have = JSON.parse(fs.readFileSync(hidden, 'utf8')).packages ?? {};
  for (const [where, entry] of Object.entries(wanted)) {
    if (where === '' || entry.optional || entry.link) continue;
    const got = have[where];
    if (!got) return `${where} missing`;
    if (got.version !== entry.version)
      return `${where} is ${got.version}, package-lock.json wants ${entry.version}`;
  }
  return '';
}

const stale = staleReason();
if (stale) {
  console.log(`[ensure] ${stale}: running npm ci`);
  run(['ci']); // `prepare` builds as part of npm ci
}
const built = path.join(root, 'dist', 'index.js');
const builtAt = fs.existsSync(built) ? fs.statSync(built).mtimeMs : 0;
if (builtAt === 0 || newestMtime(path.join(root, 'src')) > builtAt) {
  console.log('[ensure] building');
  run(['run', 'build']);
}
