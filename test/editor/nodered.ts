/**
 * A live Node-RED for the editor test: a real child process running the installed
 * node-red with this package loaded through `nodesDir` (the same way `npm start` loads it),
 * a throw-away user dir and the flow given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
const RED_JS = path.join(ROOT, 'node_modules', 'node-red', 'red.js');
const NODE_TYPES = [
  'triton-server',
  'triton-health',
  'triton-detect',
  'triton-segment',
  'triton-classify',
  'triton-track',
];

export interface NodeRedHandle {
  url: string;
  port: number;
  userDir: string;
  output(): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Fails with a sentence when the runtime half of a node (built by tsup) is missing. */
export function assertNodesBuilt(): void {
  const missing = NODE_TYPES.filter((t) => !fs.existsSync(path.join(ROOT, 'nodes', `${t}.js`)));
  if (missing.length > 0) {
    throw new Error(
      `nodes/${missing.join('.js, nodes/')}.js not built: run \`npm run build\` (tsup) first`,
    );
  }
}

export interface NodeRedOptions {
  /** Extra environment for the child (e.g. TRITON_VISION_DEMO for the example flows). */
  env?: Record<string, string>;
}

export async function startNodeRed(
  flows: object[],
  opts: NodeRedOptions = {},
): Promise<NodeRedHandle> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-nodered-'));
  const port = await freePort();
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
  fs.writeFileSync(
    path.join(userDir, 'settings.js'),
    `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1',
      flowFile: 'flows.json',
      credentialSecret: 'editor-test',
      nodesDir: [ROOT],
      httpAdminRoot: '/',
      httpNodeRoot: '/',
      functionExternalModules: false,
      telemetry: { enabled: false, updateNotification: false },
      diagnostics: { enabled: false, ui: false },
      editorTheme: { tours: false, projects: { enabled: false }, palette: { catalogues: [] } },
      logging: { console: { level: 'info', metrics: false, audit: false } },
    })};\n`,
  );
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      RED_JS,
      '--userDir',
      userDir,
      '--settings',
      path.join(userDir, 'settings.js'),
      '--port',
      String(port),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } },
  );
  let out = '';
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (!exited) proc.kill('SIGTERM');
    await exit;
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`Node-RED did not start within 60 s:\n${out}`));
    }, 60000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (/Started flows/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Node-RED exited early (${code ?? signal}):\n${out}`));
    });
  });
  return { url: `http://127.0.0.1:${port}/`, port, userDir, output: () => out, stop };
}
