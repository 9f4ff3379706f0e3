// Bundles src/index.js into build/bundle.js for j2w (componentize-js), the
// way the Spin JS SDK's http-js template does: the WIT imports
// (`fermyon:spin/...`, `wasi:...`) stay external, so componentize-js binds
// them to the component's imports.
import { build } from 'esbuild';
import { SpinEsbuildPlugin } from '@spinframework/build-tools/plugins/esbuild/index.js';

await build({
    entryPoints: ['./src/index.js'],
    outfile: './build/bundle.js',
    bundle: true,
    format: 'esm',
    platform: 'node',
    sourcemap: true,
    minify: false,
    plugins: [await SpinEsbuildPlugin()],
    logLevel: 'error',
});
