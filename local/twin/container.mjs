// One Lambda execution environment of the local twin, in a worker thread: it loads the function's
// BUILT bundle (what Lambda would run) with the function's environment, and runs one invocation at
// a time, as the Node.js runtime does. Plain JavaScript, so that nothing but the bundle is compiled.
//
// Messages from the host: { type: 'invoke', id, event (JSON text), deadlineMs, requestId },
// { type: 'abort', id } (the execution was stopped) and { type: 'shutdown' } (the environment is
// about to be discarded). Answers: { type: 'ready', initMs }, { type: 'result', id, payload (JSON
// text) }, { type: 'error', id, errorType, errorMessage, trace } and { type: 'shutdown-done' }.

import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const { bundle, exportName, functionName, functionArn, memoryMb, logGroup } = workerData;

// NODE_OPTIONS=--enable-source-maps (the function's environment) applies to a process, not to a
// worker: turn source maps on the same way for this environment.
if ((process.env.NODE_OPTIONS ?? '').includes('--enable-source-maps')) process.setSourceMapsEnabled(true);

const started = Date.now();
let handler;
let initError;
try {
  const mod = await import(pathToFileURL(bundle).href);
  handler = mod[exportName];
  if (typeof handler !== 'function') throw new Error(`${bundle} exports no function "${exportName}"`);
} catch (err) {
  initError = err;
}
parentPort.postMessage({ type: 'ready', initMs: Date.now() - started });

const controllers = new Map();

// Where the bundle registers what must run before its environment goes (functions/lib/ssm/pool.ts
// terminates its pooled SSM sessions there). On Lambda the runtime gets SIGTERM at shutdown; a
// worker thread receives no signal, so the host asks with a message instead.
const SHUTDOWN_HOOK = Symbol.for('swarm-deployer.shutdown');

parentPort.on('message', async (msg) => {
  if (msg.type === 'shutdown') {
    try {
      const hook = globalThis[SHUTDOWN_HOOK];
      if (typeof hook === 'function') await hook();
    } catch (err) {
      console.error(`shutdown hook failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    parentPort.postMessage({ type: 'shutdown-done' });
    return;
  }
  if (msg.type === 'abort') {
    controllers.get(msg.id)?.abort(new Error('the execution was stopped'));
    return;
  }
  if (msg.type !== 'invoke') return;
  const { id, deadlineMs, requestId } = msg;
  if (initError) {
    parentPort.postMessage({
      type: 'error',
      id,
      errorType: 'Runtime.ImportModuleError',
      errorMessage: `${initError.name}: ${initError.message}`,
      trace: String(initError.stack ?? '').split('\n'),
    });
    return;
  }
  const controller = new AbortController();
  controllers.set(id, controller);
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: requestId,
    logGroupName: logGroup,
    logStreamName: `local/[$LATEST]${process.pid}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
    // The local runtime's stop signal (a stopped execution); handler.ts combines it with middy's.
    signal: controller.signal,
  };
  try {
    const result = await handler(JSON.parse(msg.event), context);
    parentPort.postMessage({ type: 'result', id, payload: JSON.stringify(result ?? null) });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    parentPort.postMessage({
      type: 'error',
      id,
      errorType: e.name || 'Error',
      errorMessage: e.message,
      trace: String(e.stack ?? '').split('\n'),
    });
  } finally {
    controllers.delete(id);
  }
});
