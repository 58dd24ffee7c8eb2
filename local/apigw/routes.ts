/**
 * Route selection as an API Gateway HTTP API (v2) does it.
 *
 * A route key is `$default` or `METHOD /path` (METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD,
 * OPTIONS or ANY); path segments are literals, `{name}` variables or, as the last segment only, a
 * greedy `{name+}`. The developer guide ("Working with routes for HTTP APIs", Routing API requests:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html) gives
 * the precedence "1. Full match for a route and method. 2. Match for a route and method with a
 * greedy path variable ({proxy+}). 3. The $default route", and "If no routes match a request, API
 * Gateway returns {"message":"Not Found"}". Between several matching templates the most specific
 * wins, segment by segment from the left: a literal before a `{variable}` before a greedy variable
 * (the order AWS's own Lambda test tool documents: GET /pets/dog/1, GET /pets/dog/{id},
 * GET /pets/{proxy+}, ANY /{proxy+}); on equal paths a route for the request's method wins over
 * ANY. "API Gateway decodes URL-encoded request parameters before passing them to your backend
 * integration": path parameter values are percent-decoded.
 */

export const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY'] as const;
export type RouteMethod = (typeof ROUTE_METHODS)[number];

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'variable'; name: string }
  | { kind: 'greedy'; name: string };

export interface CompiledRoute<T> {
  routeKey: string;
  /** Undefined for `$default`. */
  method?: RouteMethod;
  segments: Segment[];
  target: T;
}

export interface RouteMatch<T> {
  route: CompiledRoute<T>;
  pathParameters: Record<string, string>;
}

const VARIABLE = /^\{([A-Za-z0-9._:-]+)(\+?)\}$/;

/**
 * Parses a route key.
 * @throws Error when the key is not `$default` nor `METHOD /path`, or the path is malformed.
 */
export function compileRoute<T>(routeKey: string, target: T): CompiledRoute<T> {
  if (routeKey === '$default') return { routeKey, segments: [], target };
  const match = /^([A-Z]+) (\/\S*)$/.exec(routeKey);
  const method = match?.[1] as RouteMethod | undefined;
  if (!match || method === undefined || !ROUTE_METHODS.includes(method)) {
    throw new Error(
      `route key "${routeKey}": expected "$default" or "METHOD /path" (${ROUTE_METHODS.join(', ')})`,
    );
  }
  const path = match[2] as string;
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const segments: Segment[] = [];
  const names = new Set<string>();
  parts.forEach((part, i) => {
    if (part === '') throw new Error(`route key "${routeKey}": empty path segment`);
    const variable = VARIABLE.exec(part);
    if (!variable) {
      if (/[{}]/.test(part)) throw new Error(`route key "${routeKey}": malformed path variable "${part}"`);
      segments.push({ kind: 'literal', value: part });
      return;
    }
    const name = variable[1] as string;
    if (names.has(name)) throw new Error(`route key "${routeKey}": path variable "${name}" appears twice`);
    names.add(name);
    if (variable[2] === '+') {
      if (i !== parts.length - 1) {
        throw new Error(`route key "${routeKey}": a greedy path variable must be the last segment`);
      }
      segments.push({ kind: 'greedy', name });
    } else {
      segments.push({ kind: 'variable', name });
    }
  });
  return { routeKey, method, segments, target };
}

/** Compiles route keys; rejects duplicates as CreateRoute does (ConflictException). */
export function compileRoutes<T>(routes: Array<{ routeKey: string; target: T }>): Array<CompiledRoute<T>> {
  const seen = new Set<string>();
  return routes.map(({ routeKey, target }) => {
    if (seen.has(routeKey)) throw new Error(`route key "${routeKey}" is defined twice`);
    seen.add(routeKey);
    return compileRoute(routeKey, target);
  });
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Rank of each segment kind: lower is more specific. */
const RANK = { literal: 0, variable: 1, greedy: 2 } as const;

function matchPath<T>(route: CompiledRoute<T>, parts: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < route.segments.length; i++) {
    const segment = route.segments[i] as Segment;
    if (segment.kind === 'greedy') {
      const rest = parts.slice(i).join('/');
      if (rest === '') return undefined;
      params[segment.name] = decode(rest);
      return params;
    }
    const part = parts[i];
    if (part === undefined || part === '') return undefined;
    if (segment.kind === 'literal') {
      if (decode(part) !== decode(segment.value)) return undefined;
    } else {
      params[segment.name] = decode(part);
    }
  }
  return parts.length === route.segments.length ? params : undefined;
}

/** Negative when `a` is the more specific route. */
function compareSpecificity<T>(a: CompiledRoute<T>, b: CompiledRoute<T>): number {
  const length = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < length; i++) {
    const left = a.segments[i];
    const right = b.segments[i];
    if (left === undefined || right === undefined) return left === undefined ? 1 : -1;
    const diff = RANK[left.kind] - RANK[right.kind];
    if (diff !== 0) return diff;
  }
  return (a.method === 'ANY' ? 1 : 0) - (b.method === 'ANY' ? 1 : 0);
}

/**
 * The route a request selects, with its decoded path parameters, or undefined (404).
 * @param path the request path without the stage prefix and without the query string, still
 *   percent-encoded ("/deployments/d-1/approve").
 */
export function selectRoute<T>(
  routes: ReadonlyArray<CompiledRoute<T>>,
  method: string,
  path: string,
): RouteMatch<T> | undefined {
  const upper = method.toUpperCase();
  const parts = path === '' || path === '/' ? [] : path.replace(/^\//, '').split('/');
  let best: RouteMatch<T> | undefined;
  for (const route of routes) {
    if (route.method === undefined) continue;
    if (route.method !== 'ANY' && route.method !== upper) continue;
    const pathParameters = matchPath(route, parts);
    if (pathParameters === undefined) continue;
    if (best === undefined || compareSpecificity(route, best.route) < 0) best = { route, pathParameters };
  }
  if (best) return best;
  const fallback = routes.find((route) => route.method === undefined);
  return fallback ? { route: fallback, pathParameters: {} } : undefined;
}
