import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineConfig } from 'tsup';

// nodes/ cannot be cleaned wholesale (it holds the editor HTML, locales and icons), so drop
// only the JavaScript a previous build wrote there: chunk names change between builds.
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
const NODES = [
  'triton-server',
  'triton-health',
  'triton-detect',
  'triton-segment',
  'triton-classify',
];

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
    entry: Object.fromEntries(NODES.map((n) => [n, `src/nodes/${n}.ts`])),
    outDir: 'nodes',
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    sourcemap: false,
    // Never clean: nodes/ holds the editor HTML, locales and icons.
    clean: false,
    // Shared code goes to one chunk, so the five nodes share one copy of the library.
    splitting: true,
    external,
  },
]);
