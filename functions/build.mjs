// Bundles every handler under functions/handlers into its own ESM file for Lambda (nodejs22.x,
// arm64): dist/functions/<handler>/index.mjs with its source map beside it (index.mjs.map,
// referenced by the bundle's sourceMappingURL; the functions run with NODE_OPTIONS=--enable-source-maps).
// One file per handler, holding only what that handler reaches, keeps cold starts small. esbuild's
// metafile of each bundle (which inputs it holds, and how many bytes each) is written to
// dist/meta/<handler>.json, outside the directory that is shipped.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url).pathname;
const dir = new URL('./handlers/', import.meta.url);
const entries = (await readdir(dir).catch(() => []))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .sort()
  .map((f) => join(dir.pathname, f));

// Dependencies replaced by a stub that loads and throws only when used, so that no bundle carries
// them. docker-modem requires ssh2 at load time for ssh:// hosts, which the deployer never uses (it
// reaches engines through its own SSM tunnel), and ssh2 requires cpu-features, a native addon that
// is optional and not built here. dockerode requires gRPC and protobufjs for BuildKit sessions
// (image builds), which the deployer never starts either.
const STUBS = [
  { filter: /^(ssh2|cpu-features)$/, importer: /node_modules[\\/](docker-modem|ssh2)[\\/]/ },
  {
    filter: /^(@grpc\/grpc-js|@grpc\/proto-loader|protobufjs)$/,
    importer: /node_modules[\\/]dockerode[\\/]/,
  },
];
const stubUnused = {
  name: 'stub-unused',
  setup(b) {
    for (const { filter, importer } of STUBS) {
      b.onResolve({ filter }, (args) =>
        importer.test(args.importer) ? { path: args.path, namespace: 'stub' } : undefined,
      );
    }
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({
      loader: 'js',
      contents: `const unsupported = () => { throw new Error(${JSON.stringify(
        `${args.path} is not bundled (ssh:// Docker hosts and BuildKit sessions are not supported)`,
      )}); };
module.exports = new Proxy(unsupported, { get: (_t, key) => (key === '__esModule' ? false : unsupported), apply: unsupported, construct: unsupported });`,
    }));
  },
};

// Lambda hands a function its role's credentials in the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: "Defined runtime environment variables" in the Lambda
// developer guide), which is the first link of the SDK's default chain. The rest of that chain (SSO,
// shared ini files, credential processes, web identity, container and instance metadata) never
// applies to a function and carries its own STS, SSO and sign-in clients (about 100 KB), so the
// bundles' default provider reads the environment only; when it is empty, the SDK's own
// CredentialsProviderError says so.
const envCredentialsOnly = {
  name: 'env-credentials-only',
  setup(b) {
    b.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, (args) => ({
      path: args.path,
      namespace: 'env-credentials',
      pluginData: { resolveDir: args.resolveDir },
    }));
    b.onLoad({ filter: /.*/, namespace: 'env-credentials' }, (args) => ({
      loader: 'js',
      resolveDir: args.pluginData.resolveDir,
      contents: `import { fromEnv } from '@aws-sdk/credential-provider-env';
export const defaultProvider = (init = {}) => fromEnv(init);`,
    }));
  },
};

// Packages whose loading has no side effect worth keeping when nothing of them is used, which their
// package.json does not say ("sideEffects": false). Marked so, a bundle whose live code never
// builds an Engine (it only shares helpers of the Engine's module: versions, error statuses) drops
// dockerode, docker-modem and their dependencies, and one that never touches the record drops the
// DynamoDB document client (and with it the DynamoDB client). withEngine loads the Engine with
// import(). `ws` is marked so where it is resolved (withoutUnusedTransports): a bundle that never
// opens an SSM tunnel drops it.
const withoutSideEffects = {
  name: 'without-side-effects',
  setup(b) {
    b.onResolve({ filter: /^(dockerode|@aws-sdk\/lib-dynamodb)$/ }, async (args) => {
      if (args.pluginData?.resolving) return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { resolving: true },
      });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return { path: resolved.path, sideEffects: false };
    });
  },
};

// Each AWS SDK client registers a class for every error its service models (SSM: 141, about 45 KB
// minified with their schemas), so that a response's error code becomes an instance of that class.
// Without a registration the client throws its service's base exception (SSMServiceException, …)
// with `name` set to the error code, the message, $metadata and $fault, and the response's fields
// copied on (@aws-sdk/core ProtocolLib getErrorSchemaOrThrowBaseException and
// decorateServiceException); the SDK's retry strategy tells throttling and transient errors by
// that name. The deployer tells errors apart by name only (`err.name === 'ParameterNotFound'`,
// never instanceof an SDK error class: test/bundles checks the sources for it), so the bundles keep
// only the base exception's registration and drop the modelled error classes.
const sdkErrorsByName = {
  name: 'sdk-errors-by-name',
  setup(b) {
    b.onLoad(
      { filter: /[\\/]@aws-sdk[\\/]client-[a-z0-9-]+[\\/]dist-es[\\/]schemas[\\/]schemas_0\.js$/ },
      async (args) => {
        const source = await readFile(args.path, 'utf8');
        const kept = source.replace(/^\w+_registry\.registerError\((?!\w+ServiceException\$)[^;]*;\n/gm, '');
        return { contents: kept, loader: 'js' };
      },
    );
  },
};

// Smithy's HTTP protocols load the event-stream serde with import() when an operation streams
// events (HttpProtocol loadEventStreamCapability); none of the operations the deployer calls (SSM,
// DynamoDB, SNS, Secrets Manager, ECR, Step Functions) does, so the bundles carry a module that
// says so instead of the serde (about 15 KB). `ws` is reached through its lib/websocket.js (the
// client the SSM tunnel uses, with the permessage-deflate, receiver and sender it requires) rather
// than its index, which adds the server and the stream wrapper; it has no side effect worth keeping
// when unused.
const withoutUnusedTransports = {
  name: 'without-unused-transports',
  setup(b) {
    b.onResolve({ filter: /^@smithy\/core\/event-streams$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, namespace: 'no-event-streams' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'no-event-streams' }, () => ({
      loader: 'js',
      contents: `const unsupported = () => { throw new Error('event streams are not bundled: no operation the deployer calls streams events'); };
export const EventStreamSerde = unsupported;
export const eventStreamSerdeProvider = unsupported;`,
    }));
    b.onResolve({ filter: /^ws$/ }, async (args) => {
      if (!/[\\/]functions[\\/]lib[\\/]/.test(args.importer)) return undefined;
      const index = await b.resolve('ws', { kind: 'require-call', resolveDir: args.resolveDir });
      if (index.errors.length > 0) return { errors: index.errors };
      return { path: join(dirname(index.path), 'lib', 'websocket.js'), sideEffects: false };
    });
  },
};

// An ESM bundle has no require, __filename or __dirname; the CommonJS dependencies it carries use
// all three (dockerode resolves its .proto files from __dirname when it loads).
const banner = [
  "import { createRequire as __bundleCreateRequire } from 'node:module';",
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url';",
  "import { dirname as __bundleDirname } from 'node:path';",
  'const require = __bundleCreateRequire(import.meta.url);',
  'const __filename = __bundleFileURLToPath(import.meta.url);',
  'const __dirname = __bundleDirname(__filename);',
].join('\n');

await mkdir(join(root, 'dist', 'meta'), { recursive: true });
for (const entry of entries) {
  const name = basename(entry, '.ts');
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: `dist/functions/${name}/index.mjs`,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // The ES module builds of dependencies (the AWS SDK's above all) tree-shake better.
    mainFields: ['module', 'main'],
    minify: true,
    // Stack traces only need the mappings; the sources stay in the repository.
    sourcemap: true,
    sourcesContent: false,
    metafile: true,
    banner: { js: banner },
    plugins: [stubUnused, withoutSideEffects, envCredentialsOnly, sdkErrorsByName, withoutUnusedTransports],
    logLevel: 'warning',
  });
  await writeFile(join(root, 'dist', 'meta', `${name}.json`), JSON.stringify(result.metafile));
  const out = result.metafile.outputs[`dist/functions/${name}/index.mjs`];
  console.log(`built dist/functions/${name}/index.mjs (${Math.round((out?.bytes ?? 0) / 1024)} KiB)`);
}
console.log(`${entries.length} handler(s) bundled`);
