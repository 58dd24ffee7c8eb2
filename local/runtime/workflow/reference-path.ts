/**
 * Reference Paths (ASL spec "Reference Paths": `$`, `.field`, `['field']`, `[index]`, and `$$` for the
 * context object) evaluated the way aws-local-stepfunctions evaluates TimeoutSecondsPath,
 * HeartbeatSecondsPath, SecondsPath and TimestampPath. Only what a Reference Path may contain: no
 * filters, wildcards or slices (AWS rejects those in these fields too).
 */

type Segment = string | number;

const cache = new Map<string, { root: '$' | '$$'; segments: Segment[] }>();

/** Parses a Reference Path. @throws Error when the text is not a Reference Path. */
export function parseReferencePath(path: string): { root: '$' | '$$'; segments: Segment[] } {
  const cached = cache.get(path);
  if (cached) return cached;
  const root = path.startsWith('$$') ? '$$' : path.startsWith('$') ? '$' : undefined;
  if (!root) throw new Error(`'${path}' is not a Reference Path: it must start with $ or $$`);
  const segments: Segment[] = [];
  let i = root.length;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const m = /^[^.[\]\s'"*?@()]+/.exec(path.slice(i + 1));
      if (!m) throw new Error(`'${path}' is not a Reference Path: bad field at offset ${i}`);
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = path.slice(i);
      const quoted = /^\[(['"])((?:(?!\1)[^\\]|\\.)*)\1\]/.exec(rest);
      const index = /^\[(\d+)\]/.exec(rest);
      if (quoted?.[2] !== undefined) {
        segments.push(quoted[2].replace(/\\(.)/g, '$1'));
        i += quoted[0].length;
      } else if (index?.[1] !== undefined) {
        segments.push(Number(index[1]));
        i += index[0].length;
      } else {
        throw new Error(`'${path}' is not a Reference Path: bad subscript at offset ${i}`);
      }
    } else {
      throw new Error(`'${path}' is not a Reference Path: unexpected '${c}' at offset ${i}`);
    }
  }
  const parsed = { root, segments } as const;
  cache.set(path, parsed);
  return parsed;
}

/** The value a Reference Path points to, or `undefined` when it points to nothing. */
export function evaluateReferencePath(path: string, input: unknown, context: unknown): unknown {
  const { root, segments } = parseReferencePath(path);
  let value: unknown = root === '$$' ? context : input;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object') return undefined;
    if (typeof segment === 'number') {
      if (!Array.isArray(value)) return undefined;
      value = value[segment];
    } else {
      if (Array.isArray(value) || !Object.hasOwn(value, segment)) return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
  }
  return value;
}
