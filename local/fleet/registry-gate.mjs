// @ts-check
/**
 * The registry gate: the fleet registry's front door, where ECR's would be. An HTTP reverse proxy on
 * the registry's address that checks HTTP Basic credentials on every request:
 * - the fleet's own user (the harness, tests and pushes) is always let through;
 * - user AWS with the password `<expiresAt>.<mac>` (an ECR token as the ECR stand-in mints it,
 *   mac = base64url HMAC-SHA256(key, expiresAt in epoch seconds)) is let through until expiresAt,
 *   and refused after it as ECR refuses an expired token: 403, error code DENIED;
 * - anything else is refused with the registry's own 401 and Basic challenge.
 * What is let through goes to the distribution registry (on the namespace's loopback) under the
 * fleet's credentials, bodies streamed both ways and the Host header kept, so that the registry's
 * Location URLs name the gate; its answers come back unchanged.
 *
 * Plain JavaScript, so that node runs it with no build step: `node registry-gate.mjs <config.json>`,
 * the config being a `GateConfig` written by local/fleet/registry.ts (mode 0600: it holds the
 * password).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { pipeline } from 'node:stream';
import { pathToFileURL } from 'node:url';

/**
 * @typedef {object} GateConfig
 * @property {{ host: string, port: number }} listen where clients reach the registry
 * @property {{ host: string, port: number }} upstream the distribution registry itself
 * @property {string} realm of the Basic challenge (the registry's htpasswd realm)
 * @property {string} username the fleet's own credentials, also the ones sent to the registry
 * @property {string} password
 * @property {string} keyFile the HMAC key of ECR tokens (its bytes, as they are)
 */

/** What ECR answers for an expired authorization token (docker shows "denied: <message>"). */
export const EXPIRED_MESSAGE = 'Your authorization token has expired. Reauthenticate and try again.';

/** Headers about one connection (RFC 9110, 7.6.1), never passed on; `expect` is answered here. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);

/**
 * Whom a request's Authorization header speaks for.
 * @param {string | undefined} header
 * @param {GateConfig} config
 * @param {Buffer} key
 * @param {number} nowSeconds
 * @returns {'fleet' | 'token' | 'expired' | 'refused'}
 */
export function authenticate(header, config, key, nowSeconds) {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return 'refused';
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  if (sep < 0) return 'refused';
  const username = decoded.slice(0, sep);
  const password = decoded.slice(sep + 1);
  if (username === config.username && same(password, config.password)) return 'fleet';
  const token = /^(\d{1,12})\.([A-Za-z0-9_-]+)$/.exec(password);
  if (username !== 'AWS' || !token?.[1] || !token[2]) return 'refused';
  if (!same(token[2], createHmac('sha256', key).update(token[1]).digest('base64url'))) return 'refused';
  return nowSeconds < Number(token[1]) ? 'token' : 'expired';
}

/**
 * @param {string} a
 * @param {string} b
 */
function same(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A registry-style error answer: `{"errors":[error]}`.
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {{ code: string, message: string, detail?: null }} error
 * @param {Record<string, string>} [headers]
 */
function refuse(res, status, error, headers = {}) {
  const body = JSON.stringify({ errors: [error] });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'docker-distribution-api-version': 'registry/2.0',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Starts the gate; resolves once it listens.
 * @param {GateConfig} config
 * @returns {Promise<http.Server>}
 */
export function startGate(config) {
  const key = readFileSync(config.keyFile);
  const fleetAuth = `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`;
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const who = authenticate(req.headers.authorization, config, key, Date.now() / 1000);
    if (who === 'expired') {
      req.resume();
      refuse(res, 403, { code: 'DENIED', message: EXPIRED_MESSAGE });
      return;
    }
    if (who === 'refused') {
      req.resume();
      // Exactly what the registry itself answers (its htpasswd challenge).
      refuse(
        res,
        401,
        { code: 'UNAUTHORIZED', message: 'authentication required', detail: null },
        { 'www-authenticate': `Basic realm="${config.realm}"` },
      );
      return;
    }
    /** @type {http.OutgoingHttpHeaders} */
    const headers = {};
    for (const [name, value] of Object.entries(req.headers))
      if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
    headers.authorization = fleetAuth;
    const upstream = http.request({
      host: config.upstream.host,
      port: config.upstream.port,
      method: req.method,
      path: req.url,
      headers,
      agent,
    });
    upstream.on('response', (answer) => {
      /** @type {string[]} */
      const raw = [];
      for (let i = 0; i + 1 < answer.rawHeaders.length; i += 2) {
        const [name, value] = [answer.rawHeaders[i] ?? '', answer.rawHeaders[i + 1] ?? ''];
        if (!HOP_BY_HOP.has(name.toLowerCase())) raw.push(name, value);
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, raw);
      pipeline(answer, res, () => {});
    });
    upstream.on('error', (err) => {
      if (res.headersSent) res.destroy(err);
      else
        refuse(res, 502, {
          code: 'UNAVAILABLE',
          message: `the registry behind the gate did not answer: ${err.message}`,
        });
    });
    // A client that goes away takes its upstream request with it.
    pipeline(req, upstream, () => {});
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve(server));
  });
}

// Run as a program (not imported): `node registry-gate.mjs <config.json>`. SIGTERM/SIGKILL end it.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node registry-gate.mjs <config.json>');
    process.exit(2);
  }
  /** @type {GateConfig} */
  const config = JSON.parse(readFileSync(file, 'utf8'));
  await startGate(config);
  console.log(
    `registry gate on ${config.listen.host}:${config.listen.port}, registry at ${config.upstream.host}:${config.upstream.port}`,
  );
}
