// Bundles every handler under functions/handlers into its own ESM file for Lambda (nodejs22.x):
// dist/functions/<handler>/index.mjs. One file per handler keeps cold starts small.
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { build } from 'esbuild';

const dir = new URL('./handlers/', import.meta.url);
const entries = (await readdir(dir).catch(() => []))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => join(dir.pathname, f));

for (const entry of entries) {
  const name = basename(entry, '.ts');
  await build({
    entryPoints: [entry],
    outfile: `dist/functions/${name}/index.mjs`,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    sourcemap: true,
    // Some CommonJS dependencies call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
  console.log(`built dist/functions/${name}/index.mjs`);
}
console.log(`${entries.length} handler(s) bundled`);
