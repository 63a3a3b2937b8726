// SVG sparklines and small line charts. Drawn as one <polyline> per series, so updating a chart is
// setting a few attributes; each chart describes its latest values in its accessible name.

const SVG = 'http://www.w3.org/2000/svg';

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function points(values: ReadonlyArray<number | null>, width: number, height: number, min: number, max: number, capacity: number): string {
  const span = max - min || 1;
  const step = width / Math.max(1, capacity - 1);
  const offset = capacity - values.length;
  const out: string[] = [];
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    const x = (offset + i) * step;
    const y = height - 2 - ((v - min) / span) * (height - 4);
    out.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  return out.join(' ');
}

/** A small inline chart of the last numeric values of a topic. */
export function sparkline(values: readonly number[], label: string, width = 96, height = 22): SVGSVGElement {
  const svg = svgEl('svg', { class: 'sparkline', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  const min = Math.min(...values);
  const max = Math.max(...values);
  svg.setAttribute('aria-label', `${label}: ${values.length} values, from ${min} to ${max}, latest ${values[values.length - 1]}`);
  svg.appendChild(svgEl('polyline', { points: points(values, width, height, min, max, values.length), fill: 'none' }));
  return svg;
}

export interface Series {
  name: string;
  /** CSS class giving the line its colour. */
  className: string;
}

/** A line chart with a fixed capacity of samples; `update` redraws it. */
export class LineChart {
  readonly element: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly lines: SVGPolylineElement[];
  private readonly legendValues: HTMLElement[];
  private readonly maxLabel: SVGTextElement;

  constructor(
    private readonly title: string,
    private readonly series: Series[],
    private readonly format: (v: number) => string,
    private readonly capacity = 120,
  ) {
    const w = 300;
    const h = 100;
    this.svg = svgEl('svg', { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', role: 'img', class: 'chart' });
    this.svg.appendChild(svgEl('line', { x1: 0, y1: h - 1, x2: w, y2: h - 1, class: 'axis' }));
    this.maxLabel = svgEl('text', { x: 2, y: 10, class: 'chart-max' });
    this.svg.appendChild(this.maxLabel);
    this.lines = series.map((s) => {
      const line = svgEl('polyline', { class: `line ${s.className}`, fill: 'none', points: '' });
      this.svg.appendChild(line);
      return line;
    });
    this.element = document.createElement('figure');
    this.element.className = 'chart-card';
    const caption = document.createElement('figcaption');
    const titleEl = document.createElement('span');
    titleEl.className = 'chart-title';
    titleEl.textContent = title;
    caption.appendChild(titleEl);
    this.legendValues = series.map((s) => {
      const item = document.createElement('span');
      item.className = `legend ${s.className}`;
      const value = document.createElement('b');
      value.textContent = '–';
      item.append(`${s.name} `, value);
      caption.appendChild(item);
      return value;
    });
    this.element.append(this.svg, caption);
    this.svg.setAttribute('aria-label', `${title}: no data yet`);
  }

  /** Redraws from per-series sample arrays (null = no value for that sample). */
  update(data: ReadonlyArray<ReadonlyArray<number | null>>): void {
    const all = data.flat().filter((v): v is number => v !== null && Number.isFinite(v));
    const max = Math.max(1, ...all);
    data.forEach((values, i) => this.lines[i].setAttribute('points', points(values.slice(-this.capacity), 300, 100, 0, max, this.capacity)));
    this.maxLabel.textContent = all.length ? this.format(max) : '';
    const latest = data.map((values) => [...values].reverse().find((v) => v !== null) ?? null);
    latest.forEach((v, i) => (this.legendValues[i].textContent = v === null ? '–' : this.format(v)));
    const described = this.series.map((s, i) => `${s.name} ${latest[i] === null ? 'no data' : this.format(latest[i]!)}`).join(', ');
    this.svg.setAttribute('aria-label', `${this.title}: ${described}`);
  }
}
