import { defineConfig } from 'tsup';

// One build: the library (require('node-red-contrib-triton-vision')) and the
// command-line entry points go to dist/. Node-RED node entries (src/nodes/*.ts,
// added with the nodes) are built beside their editor HTML in nodes/.
export default defineConfig([
  {
    entry: { index: 'src/index.ts', serve: 'src/serve.ts' },
    outDir: 'dist',
    format: ['cjs'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    dts: { entry: { index: 'src/index.ts' } },
    clean: true,
    splitting: false,
    external: ['onnxruntime-node', 'sharp', '@grpc/grpc-js', '@grpc/proto-loader'],
  },
]);
