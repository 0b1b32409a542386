/**
 * A tiny Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (version 0.0.4). Services register their own metrics (receiver lag, bytes,
 * backlog, last backup age, window bounds, errors) and may add collectors that refresh gauges
 * right before a scrape.
 */
export type Labels = Record<string, string>;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function renderLabels(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

abstract class Metric<S> {
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {
    if (!NAME_RE.test(name)) throw new Error(`invalid metric name ${name}`);
    for (const l of labelNames) if (!LABEL_RE.test(l) || l.startsWith('__')) throw new Error(`invalid label name ${l} on metric ${name}`);
  }

  abstract readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  protected abstract initial(): S;
  protected abstract renderSeries(values: string[], state: S): string[];

  protected slot(labels: Labels = {}): S {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (v === undefined) throw new Error(`metric ${this.name} needs label ${n}`);
      return v;
    });
    const key = JSON.stringify(values);
    let s = this.series.get(key);
    if (!s) {
      s = { values, state: this.initial() };
      this.series.set(key, s);
    }
    return s.state;
  }

  /** Forget one labelled series (e.g. a database that was removed). */
  remove(labels: Labels): void {
    this.series.delete(JSON.stringify(this.labelNames.map((n) => labels[n] ?? '')));
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { values, state } of this.series.values()) lines.push(...this.renderSeries(values, state));
    return lines.join('\n');
  }
}

export class Counter extends Metric<{ v: number }> {
  readonly type = 'counter';
  protected initial() {
    return { v: 0 };
  }
  inc(labels?: Labels, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.slot(labels).v += by;
  }
  /**
   * For a count kept elsewhere (a receiver's own tally, the process's CPU time), copied in before
   * a scrape. A value lower than the last one means the source started again from zero, which
   * Prometheus reads as a counter reset, exactly as it would after a daemon restart.
   */
  setTotal(labels: Labels | undefined, total: number): void {
    if (total < 0 || !Number.isFinite(total)) throw new Error(`counter ${this.name} cannot be ${total}`);
    this.slot(labels).v = total;
  }
  get(labels?: Labels): number {
    return this.slot(labels).v;
  }
  protected renderSeries(values: string[], s: { v: number }): string[] {
    return [`${this.name}${renderLabels(this.labelNames, values)} ${formatValue(s.v)}`];
  }
}

export class Gauge extends Metric<{ v: number }> {
  readonly type = 'gauge';
  protected initial() {
    return { v: 0 };
  }
  set(labels: Labels | undefined, value: number): void {
    this.slot(labels).v = value;
  }
  inc(labels?: Labels, by = 1): void {
    this.slot(labels).v += by;
  }
  get(labels?: Labels): number {
    return this.slot(labels).v;
  }
  protected renderSeries(values: string[], s: { v: number }): string[] {
    return [`${this.name}${renderLabels(this.labelNames, values)} ${formatValue(s.v)}`];
  }
}

interface HistState {
  counts: number[];
  sum: number;
  count: number;
}

export const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram extends Metric<HistState> {
  readonly type = 'histogram';
  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[] = DEFAULT_BUCKETS) {
    super(name, help, labelNames);
    if (labelNames.includes('le')) throw new Error(`histogram ${name} cannot use the label "le"`);
  }
  protected initial(): HistState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  observe(labels: Labels | undefined, value: number): void {
    const s = this.slot(labels);
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]! += 1;
    });
    s.sum += value;
    s.count += 1;
  }
  protected renderSeries(values: string[], s: HistState): string[] {
    const out = this.buckets.map((b, i) => `${this.name}_bucket${renderLabels(this.labelNames, values, ['le', formatValue(b)])} ${s.counts[i]}`);
    out.push(`${this.name}_bucket${renderLabels(this.labelNames, values, ['le', '+Inf'])} ${s.count}`);
    out.push(`${this.name}_sum${renderLabels(this.labelNames, values)} ${formatValue(s.sum)}`);
    out.push(`${this.name}_count${renderLabels(this.labelNames, values)} ${s.count}`);
    return out;
  }
}

interface SummaryState {
  /** quantile (0..1) -> value; NaN when nothing was observed in the summary's window. */
  quantiles: ReadonlyMap<number, number>;
  sum: number;
  count: number;
}

/**
 * A summary whose quantiles are computed elsewhere (e.g. from a native histogram) and set before
 * each scrape; rendered as `name{quantile="q"}`, `name_sum` and `name_count`.
 */
export class Summary extends Metric<SummaryState> {
  readonly type = 'summary';
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames);
    if (labelNames.includes('quantile')) throw new Error(`summary ${name} cannot use the label "quantile"`);
  }
  protected initial(): SummaryState {
    return { quantiles: new Map(), sum: 0, count: 0 };
  }
  set(labels: Labels | undefined, value: SummaryState): void {
    Object.assign(this.slot(labels), value);
  }
  protected renderSeries(values: string[], s: SummaryState): string[] {
    const out = [...s.quantiles].map(([q, v]) => `${this.name}${renderLabels(this.labelNames, values, ['quantile', formatValue(q)])} ${formatValue(v)}`);
    out.push(`${this.name}_sum${renderLabels(this.labelNames, values)} ${formatValue(s.sum)}`);
    out.push(`${this.name}_count${renderLabels(this.labelNames, values)} ${s.count}`);
    return out;
  }
}

interface Renderable {
  readonly name: string;
  readonly type: string;
  render(): string;
}

export type Collector = () => void | Promise<void>;

export class MetricsRegistry {
  private readonly metrics = new Map<string, Renderable>();
  private readonly collectors: Collector[] = [];

  private add<M extends Renderable>(m: M): M {
    const existing = this.metrics.get(m.name);
    if (existing) {
      // Registering the same metric twice (e.g. two databases' receivers) returns the first.
      if (existing.type !== m.type) throw new Error(`metric ${m.name} already registered as a ${existing.type}`);
      return existing as unknown as M;
    }
    this.metrics.set(m.name, m);
    return m;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }
  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }
  summary(name: string, help: string, labelNames: readonly string[] = []): Summary {
    return this.add(new Summary(name, help, labelNames));
  }
  /** Called before every scrape, to refresh gauges computed on demand. */
  collect(fn: Collector): void {
    this.collectors.push(fn);
  }

  async expose(): Promise<string> {
    for (const c of this.collectors) await c();
    return `${[...this.metrics.values()].map((m) => m.render()).join('\n')}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
