/**
 * The twin's CloudWatch: the embedded metric format (EMF) records the functions write to their logs
 * (functions/lib/metrics.ts, through Powertools Metrics), aggregated in memory and exposed in the
 * Prometheus text format (version 0.0.4), so that the fleet's Prometheus scrapes the same metrics
 * CloudWatch would extract on AWS.
 *
 * A record is what the EMF specification calls one: a JSON object with `_aws.Timestamp` (a number)
 * and `_aws.CloudWatchMetrics`, an array of directives { Namespace, Dimensions: string[][],
 * Metrics: [{ Name, Unit? }] }, each metric's value (a number, or an array of up to 100 numbers) and
 * each dimension's value (a string) at the record's root. A record CloudWatch would reject (a
 * dimension without a string value, a metric without a numeric value, a malformed directive) is
 * counted in `emf_records_rejected_total` and otherwise dropped, as CloudWatch drops it.
 *
 * What a metric becomes, named `<namespace>_<metric>` in snake case (SwarmDeployer/TimeToDeploy:
 * swarm_deployer_time_to_deploy…):
 * - Unit Count: a counter, `…_total`, the sum of the values;
 * - Seconds, Milliseconds, Microseconds: a histogram in seconds, `…_seconds` (buckets from 50 ms
 *   to 2 h), each value one observation;
 * - any other unit (or none): a gauge holding the latest value (`…_bytes`, `…_percent` for those).
 * Its labels are the dimensions of every dimension set of the directive together: CloudWatch keeps
 * one metric per dimension set ([service] and [] are two), Prometheus one series with every label
 * and aggregates at query time (sum without (service) (…)), so the finest set is the one kept.
 */

/** Histogram buckets (seconds): a step's latency to a deployment that bakes for hours. */
export const BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/** A time unit's value per second (dividing keeps 40 ms at 0.04 s, where × 1e-3 gives 0.04000000000000001). */
const PER_SECOND: Record<string, number> = { Seconds: 1, Milliseconds: 1000, Microseconds: 1_000_000 };
const GAUGE_SUFFIX: Record<string, string> = { Bytes: '_bytes', Percent: '_percent' };

type Labels = Array<[string, string]>;

interface CounterSeries {
  labels: Labels;
  value: number;
}
interface HistogramSeries {
  labels: Labels;
  /** Observations at or below each of BUCKETS_SECONDS (not yet cumulative: one count per bucket). */
  buckets: number[];
  sum: number;
  count: number;
}
type Family =
  | { type: 'counter' | 'gauge'; help: string; series: Map<string, CounterSeries> }
  | { type: 'histogram'; help: string; series: Map<string, HistogramSeries> };

/** CamelCase, slashes and dots → snake_case ("SwarmDeployer" → swarm_deployer, "AWS/Lambda" → aws_lambda). */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '')
    .toLowerCase();
}

/** A dimension name as a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not reserved). */
function labelName(dimension: string): string {
  let name = dimension.replace(/[^A-Za-z0-9_]/g, '_');
  if (/^[0-9]/.test(name)) name = `_${name}`;
  if (name.startsWith('__')) name = name.replace(/^_+/, '');
  if (name === '' || name === 'le' || name === 'quantile') name = `exported_${name || 'dimension'}`;
  return name;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function formatLabels(labels: Labels): string {
  return labels.length === 0 ? '' : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

interface Directive {
  Namespace: string;
  Dimensions: string[][];
  Metrics: Array<{ Name: string; Unit?: string }>;
}

function isDirective(d: unknown): d is Directive {
  return (
    isObject(d) &&
    typeof d.Namespace === 'string' &&
    d.Namespace.length > 0 &&
    Array.isArray(d.Dimensions) &&
    d.Dimensions.every(
      (set) => Array.isArray(set) && set.length <= 30 && set.every((k) => typeof k === 'string'),
    ) &&
    Array.isArray(d.Metrics) &&
    d.Metrics.every(
      (m) =>
        isObject(m) &&
        typeof m.Name === 'string' &&
        m.Name.length > 0 &&
        (m.Unit === undefined || typeof m.Unit === 'string'),
    )
  );
}

/** A metric's values in a record: a number or a non-empty array of up to 100 numbers. */
function valuesOf(v: unknown): number[] | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return [v];
  if (
    Array.isArray(v) &&
    v.length > 0 &&
    v.length <= 100 &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x))
  )
    return v as number[];
  return undefined;
}

/** EMF records in, Prometheus exposition out. */
export class EmfAggregator {
  private readonly families = new Map<string, Family>();
  /** Records taken in. */
  accepted = 0;
  /** Records dropped as CloudWatch would drop them. */
  rejected = 0;

  /**
   * One log line: when it is an EMF record (JSON with `_aws.CloudWatchMetrics`), aggregates it and
   * says true; any other line (a log line, text) is not one and is ignored.
   */
  ingestLine(line: string): boolean {
    const text = line.trim();
    if (!text.startsWith('{') || !text.includes('"CloudWatchMetrics"')) return false;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return false;
    }
    if (!isObject(parsed) || !isObject(parsed._aws) || !('CloudWatchMetrics' in parsed._aws)) return false;
    this.ingest(parsed);
    return true;
  }

  /** One parsed EMF record; false when CloudWatch would reject it (nothing of it is kept then). */
  ingest(record: Record<string, unknown>): boolean {
    const updates = this.validate(record);
    if (!updates) {
      this.rejected += 1;
      return false;
    }
    for (const u of updates) this.apply(u);
    this.accepted += 1;
    return true;
  }

  /** The exposition of everything aggregated so far (text format 0.0.4), families sorted by name. */
  exposition(): string {
    const out: string[] = [];
    for (const name of [...this.families.keys()].sort()) {
      const family = this.families.get(name) as Family;
      out.push(`# HELP ${name} ${escapeHelp(family.help)}`, `# TYPE ${name} ${family.type}`);
      const keys = [...family.series.keys()].sort();
      if (family.type === 'histogram') {
        for (const key of keys) {
          const s = family.series.get(key) as HistogramSeries;
          let cumulative = 0;
          BUCKETS_SECONDS.forEach((le, i) => {
            cumulative += s.buckets[i] ?? 0;
            out.push(`${name}_bucket${formatLabels([...s.labels, ['le', formatNumber(le)]])} ${cumulative}`);
          });
          out.push(`${name}_bucket${formatLabels([...s.labels, ['le', '+Inf']])} ${s.count}`);
          out.push(`${name}_sum${formatLabels(s.labels)} ${formatNumber(s.sum)}`);
          out.push(`${name}_count${formatLabels(s.labels)} ${s.count}`);
        }
      } else {
        for (const key of keys) {
          const s = family.series.get(key) as CounterSeries;
          out.push(`${name}${formatLabels(s.labels)} ${formatNumber(s.value)}`);
        }
      }
    }
    out.push(
      '# HELP emf_records_rejected_total EMF records dropped as CloudWatch would drop them (malformed, values missing)',
      '# TYPE emf_records_rejected_total counter',
      `emf_records_rejected_total ${this.rejected}`,
    );
    return `${out.join('\n')}\n`;
  }

  /** Forgets everything. */
  reset(): void {
    this.families.clear();
    this.accepted = 0;
    this.rejected = 0;
  }

  /** What a record adds, or undefined when CloudWatch would reject it. */
  private validate(record: Record<string, unknown>): Update[] | undefined {
    const aws = record._aws;
    if (!isObject(aws) || typeof aws.Timestamp !== 'number' || !Array.isArray(aws.CloudWatchMetrics))
      return undefined;
    const updates: Update[] = [];
    for (const directive of aws.CloudWatchMetrics) {
      if (!isDirective(directive)) return undefined;
      const labels: Labels = [];
      const seen = new Set<string>();
      for (const dimension of directive.Dimensions.flat()) {
        if (seen.has(dimension)) continue;
        seen.add(dimension);
        const value = record[dimension];
        if (typeof value !== 'string' || value.length === 0) return undefined;
        labels.push([labelName(dimension), value]);
      }
      labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const metric of directive.Metrics) {
        const values = valuesOf(record[metric.Name]);
        if (!values) return undefined;
        const unit = metric.Unit ?? 'None';
        const base = `${snakeCase(directive.Namespace)}_${snakeCase(metric.Name)}`;
        const help = `${directive.Namespace}/${metric.Name} (EMF, ${unit})`;
        const perSecond = PER_SECOND[unit];
        if (unit === 'Count') {
          // A counter never goes down.
          if (values.some((v) => v < 0)) return undefined;
          updates.push({ name: `${base}_total`, type: 'counter', help, labels, values });
        } else if (perSecond !== undefined) {
          updates.push({
            name: `${base}_seconds`,
            type: 'histogram',
            help,
            labels,
            values: values.map((v) => v / perSecond),
          });
        } else
          updates.push({ name: `${base}${GAUGE_SUFFIX[unit] ?? ''}`, type: 'gauge', help, labels, values });
      }
    }
    // A name already exposed as another type (a metric whose unit changed kind) is not mixed in.
    for (const u of updates) {
      const family = this.families.get(u.name);
      if (family && family.type !== u.type) return undefined;
    }
    return updates;
  }

  private apply(u: Update): void {
    let family = this.families.get(u.name);
    if (!family) {
      family =
        u.type === 'histogram'
          ? { type: 'histogram', help: u.help, series: new Map() }
          : { type: u.type, help: u.help, series: new Map() };
      this.families.set(u.name, family);
    }
    const key = formatLabels(u.labels);
    if (family.type === 'histogram') {
      let s = family.series.get(key);
      if (!s) {
        s = { labels: u.labels, buckets: BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 };
        family.series.set(key, s);
      }
      for (const v of u.values) {
        const i = BUCKETS_SECONDS.findIndex((le) => v <= le);
        if (i >= 0) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
        s.sum += v;
        s.count += 1;
      }
      return;
    }
    let s = family.series.get(key);
    if (!s) {
      s = { labels: u.labels, value: 0 };
      family.series.set(key, s);
    }
    if (family.type === 'counter') for (const v of u.values) s.value += v;
    else s.value = u.values.at(-1) as number;
  }
}

interface Update {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  labels: Labels;
  values: number[];
}
