// Time-series charts on uPlot (canvas, made for live data: one redraw per update whatever the
// number of points). Each chart has a time axis, a y axis in the chart's own unit, and describes
// its latest values in its accessible name, since a canvas says nothing to a screen reader.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  name: string;
  /** CSS custom property holding the line's colour, e.g. `--s1`. */
  color: string;
}

const cssVar = (name: string, fallback: string): string =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

/** A line chart over time; x values are ms since the epoch, the window is set by the caller. */
export class TimeChart {
  readonly element: HTMLElement;
  private readonly plotBox: HTMLElement;
  private plot?: uPlot;
  private data: uPlot.AlignedData;
  private range: [number, number] = [Date.now() / 1000 - 60, Date.now() / 1000];
  private readonly observer: ResizeObserver;
  private readonly legendValues: HTMLElement[];

  constructor(
    private readonly title: string,
    private readonly series: Series[],
    private readonly format: (v: number) => string,
    /** Whole numbers only (counts): no 0.5 ticks. */
    private readonly integer = false,
    private readonly height = 170,
    /** The y axis starts at zero (counts, rates); otherwise it fits the values. */
    private readonly fromZero = true,
  ) {
    this.data = [[], ...series.map(() => [])];
    this.plotBox = document.createElement('div');
    this.plotBox.className = 'plot';
    this.plotBox.setAttribute('role', 'img');
    this.plotBox.setAttribute('aria-label', `${title}: no data yet`);
    this.element = document.createElement('figure');
    this.element.className = 'chart-card';
    const caption = document.createElement('figcaption');
    const titleEl = document.createElement('span');
    titleEl.className = 'chart-title';
    titleEl.textContent = title;
    caption.appendChild(titleEl);
    // The legend: each series' colour and latest value.
    this.legendValues = series.map((s, i) => {
      const item = document.createElement('span');
      item.className = `legend s${i + 1}`;
      const value = document.createElement('b');
      value.textContent = '–';
      item.append(`${s.name} `, value);
      caption.appendChild(item);
      return value;
    });
    this.element.append(caption, this.plotBox);
    // uPlot draws at a fixed pixel size: follow the card's width, and start once it has one
    // (a chart built on a hidden page waits until the page is shown).
    this.observer = new ResizeObserver(() => this.fit());
    this.observer.observe(this.plotBox);
  }

  private fit(): void {
    const width = Math.floor(this.plotBox.clientWidth);
    if (width < 50) return;
    if (!this.plot) this.plot = this.create(width);
    else if (Math.abs(this.plot.width - width) > 1) this.plot.setSize({ width, height: this.height });
  }

  private create(width: number): uPlot {
    const muted = cssVar('--muted', '#5b6470');
    const grid = cssVar('--border', '#d5dae1');
    const axis = (values: uPlot.Axis['values'], size: number): uPlot.Axis => ({
      stroke: muted,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      values,
      size,
    });
    // 24-hour clock times, with seconds when the window is short enough for them to matter.
    const clock = (_u: uPlot, ticks: number[]): string[] => {
      const seconds = this.range[1] - this.range[0] <= 300;
      const p = (n: number) => String(n).padStart(2, '0');
      return ticks.map((t) => {
        const d = new Date(t * 1000);
        return `${p(d.getHours())}:${p(d.getMinutes())}${seconds ? `:${p(d.getSeconds())}` : ''}`;
      });
    };
    const opts: uPlot.Options = {
      width,
      height: this.height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: () => this.range },
        // Counts and rates start at zero, so a burst is seen against the whole scale.
        y: {
          range: (_u, min, max) => {
            if (this.fromZero) return [0, max > 0 ? max * 1.1 : 1];
            const pad = (max - min) * 0.1 || Math.abs(max) * 0.1 || 1;
            return [min - pad, max + pad];
          },
        },
      },
      axes: [
        { ...axis(clock, 30), space: 70 },
        { ...axis((_u, ticks) => ticks.map((v) => this.format(v)), 78), ...(this.integer ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6] } : {}) },
      ],
      series: [
        { value: (_u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString()) },
        ...this.series.map((s, i) => ({
          label: s.name,
          stroke: cssVar(s.color, i === 0 ? '#1d4ed8' : '#c2410c'),
          width: 2,
          spanGaps: false,
          points: { size: 5 },
          value: (_u: uPlot, v: number | null) => (v == null ? '–' : this.format(v)),
        })),
      ],
    };
    return new uPlot(opts, this.data, this.plotBox);
  }

  /**
   * Redraws: `at` in ms, one array per series (null = no value), shown over [from, to] (ms).
   * The window moves with the clock even when no new sample came.
   */
  update(at: readonly number[], values: ReadonlyArray<ReadonlyArray<number | null>>, from: number, to: number): void {
    this.range = [from / 1000, to / 1000];
    this.plotBox.dataset.windowSeconds = String(Math.round((to - from) / 1000));
    this.data = [at.map((t) => t / 1000), ...values.map((v) => [...v])] as uPlot.AlignedData;
    this.plot?.setData(this.data);
    const latest = values.map((v) => {
      for (let i = v.length - 1; i >= 0; i--) if (v[i] !== null) return v[i];
      return null;
    });
    latest.forEach((v, i) => (this.legendValues[i].textContent = v === null ? '–' : this.format(v)));
    const described = this.series.map((s, i) => `${s.name} ${latest[i] === null ? 'no data' : this.format(latest[i]!)}`).join(', ');
    this.plotBox.setAttribute('aria-label', `${this.title}: ${described}`);
  }
}
