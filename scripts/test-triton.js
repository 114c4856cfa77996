#!/usr/bin/env node
'use strict';
// `npm run test:triton`: the real-Triton tier. Builds if needed, makes the Python venv
// with NVIDIA's tritonserver (scripts/triton-venv.sh), starts it over the fixture models
// (test/triton/serve_fixtures.py) unless TRITON_URL / TRITON_GRPC_URL already name a
// server, validates our config.pbtxt files with Triton's own proto, then runs the client
// suite and the tier-2 tests against it. The server is stopped on every way out
// (success, failure, Ctrl-C), and the exit status is mocha's.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const root = path.resolve(__dirname, '..');
const python = path.join(root, '.venv', 'bin', 'python');
const started = Date.now();
const secs = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const log = (msg) => process.stdout.write(`[test:triton ${secs()}] ${msg}\n`);

/** Runs a step to completion with inherited output; a failure ends the run. */
function step(what, cmd, args) {
  log(what);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    throw new Error(`${what} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
  }
}

let server;
let serverExited;
let mochaChild;

/** Starts serve_fixtures.py and resolves with its ready line's ports. */
function startTriton() {
  log('starting tritonserver over the fixture models (test/triton/serve_fixtures.py)');
  server = spawn(
    python,
    [
      path.join('test', 'triton', 'serve_fixtures.py'),
      '--http-port',
      '0',
      '--grpc-port',
      '0',
      '--metrics-port',
      '0',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  serverExited = new Promise((resolve) => server.once('exit', resolve));
  let stderr = '';
  server.stderr.on('data', (c) => {
    stderr += c.toString();
    if (stderr.length > 200000) stderr = stderr.slice(-100000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`tritonserver was not ready within 180 s:\n${stderr.slice(-4000)}`)),
      180000,
    );
    readline.createInterface({ input: server.stdout }).on('line', (line) => {
      let info;
      try {
        info = JSON.parse(line);
      } catch {
        return;
      }
      if (info && info.ready) {
        clearTimeout(timer);
        resolve(info);
      }
    });
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `serve_fixtures.py exited before it was ready (${code ?? signal}):\n${stderr.slice(-4000)}`,
        ),
      );
    });
  });
}

let stopping;
function stopTriton() {
  stopping ??= stopOnce();
  return stopping;
}

async function stopOnce() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  log('stopping tritonserver');
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 30000);
  await serverExited;
  clearTimeout(timer);
}

function runMocha(env) {
  const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const files = ['test/client/suite.test.ts', 'test/triton/**/*.tier2.ts'];
  log(`mocha ${files.join(' ')}`);
  return new Promise((resolve) => {
    const child = (mochaChild = spawn(process.execPath, [mocha, ...files], {
      cwd: root,
      env,
      stdio: 'inherit',
    }));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main() {
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      interrupted = true;
      log(`${sig}: stopping`);
      if (mochaChild && mochaChild.exitCode === null) mochaChild.kill('SIGTERM');
      stopTriton().finally(() => process.exit(130));
    });
  }
  let status = 1;
  try {
    step('build check (scripts/ensure.js)', process.execPath, [path.join('scripts', 'ensure.js')]);
    step('Python venv (scripts/triton-venv.sh)', 'bash', [path.join('scripts', 'triton-venv.sh')]);
    const env = { ...process.env };
    if (env.TRITON_URL || env.TRITON_GRPC_URL) {
      log(`using the server at ${env.TRITON_URL ?? ''} ${env.TRITON_GRPC_URL ?? ''}`.trim());
    } else {
      const info = await startTriton();
      log(
        `tritonserver ${info.version} ready: http ${info.http}, grpc ${info.grpc}, metrics ${info.metrics}`,
      );
      env.TRITON_URL = `http://127.0.0.1:${info.http}`;
      env.TRITON_GRPC_URL = `grpc://127.0.0.1:${info.grpc}`;
      env.TRITON_METRICS_URL = `http://127.0.0.1:${info.metrics}/metrics`;
      env.TRITON_FIXTURE_BACKEND = 'python';
    }
    step('config check (test/triton/validate_configs.py)', python, [
      path.join('test', 'triton', 'validate_configs.py'),
    ]);
    if (!interrupted) status = await runMocha(env);
  } catch (err) {
    process.stderr.write(`[test:triton] ${err.message}\n`);
    status = 1;
  } finally {
    await stopTriton();
  }
  log(`done, exit ${status}`);
  process.exit(status);
}

main();
