/** Compares dotted versions numerically ("1.41" vs "1.9"; "20.10.24+dfsg1" vs "24.0"). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) =>
    v
      .split(/[+-]/)[0]
      ?.split('.')
      .map((p) => Number.parseInt(p, 10) || 0) ?? [];
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** The later of two dotted versions. */
export const laterVersion = (a: string, b: string) => (compareVersions(a, b) >= 0 ? a : b);
