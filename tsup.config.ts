import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineConfig } from 'tsup';
import { NODE_TYPES, assembleEditor } from './src/editor/assemble';

// nodes/ holds only build outputs now (runtime bundles, editor HTML, catalogs, help, icons),
// all git-ignored; it cannot be cleaned wholesale while Node-RED may be reading it, so drop
// the JavaScript a previous build wrote there: chunk names change between builds.
fs.mkdirSync('nodes', { recursive: true });
for (const file of fs.readdirSync('nodes')) {
  if (/\.js(\.map)?$/.test(file)) fs.rmSync(path.join('nodes', file));
}

const external = [
  'onnxruntime-node',
  'onnxruntime-web',
  'sharp',
  '@grpc/grpc-js',
  '@grpc/proto-loader',
];
/** Where the editor bundles wait to be wrapped into nodes/<type>.html. */
const EDITOR_BUNDLES = path.join('.cache', 'editor');

// The library (require('node-red-contrib-triton-vision')) and the command-line
// entry points go to dist/. Each Node-RED node is bundled into nodes/<name>.js,
// beside its editor HTML, where Node-RED's loader looks for the pair.
export default defineConfig([
  {
    entry: { index: 'src/index.ts', serve: 'src/serve.ts', cli: 'src/cli.ts' },
    outDir: 'dist',
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    dts: { entry: { index: 'src/index.ts' } },
    clean: true,
    splitting: false,
    external,
  },
  {
    entry: Object.fromEntries(NODE_TYPES.map((n) => [n, `src/nodes/${n}.ts`])),
    outDir: 'nodes',
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    sourcemap: false,
    // Never clean: nodes/ also holds the editor files written below.
    clean: false,
    // Shared code goes to one chunk, so the five nodes share one copy of the library.
    splitting: true,
    external,
  },
  {
    // The editor (browser) code: one IIFE, which src/editor/assemble.ts puts into
    // nodes/triton-server.html beside every node's registration, template, catalog, help, icon.
    entry: { 'triton-vision-editor': 'src/editor/browser/index.ts' },
    outDir: EDITOR_BUNDLES,
    format: ['iife'],
    target: 'es2020',
    platform: 'browser',
    tsconfig: 'tsconfig.editor.json',
    sourcemap: false,
    clean: true,
    splitting: false,
    async onSuccess() {
      assembleEditor(process.cwd(), EDITOR_BUNDLES);
    },
  },
]);
