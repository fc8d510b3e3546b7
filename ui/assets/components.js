// Components several pages use: the time picker, the histogram, the JSON tree, links to an
// identity's timeline and an object's history, the side panel and message boxes.
import uPlot from './vendor/uplot.mjs';
import { html, useEffect, useRef, useState, hashOf, formatTime, formatCount } from './lib.js';

export const RANGES = [
  ['15m', 'Last 15 minutes'], ['1h', 'Last hour'], ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['90d', 'Last 90 days'], ['365d', 'Last year'],
];

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert">${error.message || String(error)}</div>`;
}

export function Loading({ when }) {
  return when ? html`<span class="loading" role="status" aria-live="polite">Loading…</span>` : null;
}

/** A time range: relative (`from=24h`) or absolute (two RFC 3339 times). */
export function TimePicker({ from, to, onChange }) {
  const [open, setOpen] = useState(false);
  const relative = from && !to && RANGES.find(([value]) => value === from);
  const label = relative ? relative[1]
    : from && !to && !from.includes('T') ? `Last ${from}`
      : from || to ? `${formatTime(from) || '…'} → ${formatTime(to) || 'now'}` : 'All time';
  const [start, setStart] = useState('');
  const [end, setEnd] = useState('');
  useEffect(() => {
    setStart(from && from.includes('T') ? from.slice(0, 16) : '');
    setEnd(to && to.includes('T') ? to.slice(0, 16) : '');
  }, [from, to, open]);
  const apply = (event) => {
    event.preventDefault();
    onChange(start ? `${start}:00Z` : '', end ? `${end}:00Z` : '');
    setOpen(false);
  };
  return html`<div class="timepicker">
    <button type="button" class="button" aria-haspopup="dialog" aria-expanded=${open} onClick=${() => setOpen(!open)} data-testid="time-button">
      <span class="muted">Time:</span> ${label}
    </button>
    ${open && html`<div class="popover" role="dialog" aria-label="Time range">
      <div class="ranges">
        ${RANGES.map(([value, text]) => html`<button type="button" class="link" onClick=${() => { onChange(value, ''); setOpen(false); }}>${text}</button>`)}
        <button type="button" class="link" onClick=${() => { onChange('', ''); setOpen(false); }}>All time</button>
      </div>
      <form class="absolute" onSubmit=${apply}>
        <label>From (UTC) <input type="datetime-local" value=${start} onInput=${(e) => setStart(e.target.value)} /></label>
        <label>To (UTC) <input type="datetime-local" value=${end} onInput=${(e) => setEnd(e.target.value)} /></label>
        <button class="button primary" type="submit">Apply</button>
      </form>
    </div>`}
  </div>`;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** Counts per time bucket as bars; dragging across selects a range (`onSelect(from, to)`). */
export function Histogram({ buckets, onSelect, label = 'Events over time' }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!box.current || !buckets || buckets.length === 0) return undefined;
    const xs = buckets.map((bucket) => Date.parse(bucket.start) / 1000);
    const ys = buckets.map((bucket) => bucket.count);
    const step = xs.length > 1 ? xs[1] - xs[0] : 60;
    const width = box.current.clientWidth || 600;
    const options = {
      width,
      height: 110,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      scales: { x: { time: true, range: [xs[0], xs[xs.length - 1] + step] } },
      axes: [
        { stroke: cssVar('--muted'), grid: { show: false }, ticks: { stroke: cssVar('--border') } },
        { stroke: cssVar('--muted'), size: 50, grid: { stroke: cssVar('--border'), width: 1 }, ticks: { show: false } },
      ],
      series: [{}, {
        label: 'events', fill: cssVar('--accent-soft'), stroke: cssVar('--accent'), width: 1,
        paths: uPlot.paths.bars({ size: [0.9, 100], align: 1 }), points: { show: false },
      }],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 3) return;
          const start = u.posToVal(u.select.left, 'x');
          const end = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          onSelect(new Date(start * 1000).toISOString(), new Date(end * 1000).toISOString());
        }],
      },
    };
    plot.current = new uPlot(options, [xs, ys], box.current);
    const resize = () => plot.current && box.current && plot.current.setSize({ width: box.current.clientWidth, height: 110 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.current.destroy();
      plot.current = null;
    };
  }, [buckets]);
  if (!buckets || buckets.length === 0) return null;
  const total = buckets.reduce((sum, bucket) => sum + bucket.count, 0);
  return html`<figure class="histogram" data-testid="histogram">
    <div ref=${box} class="plot" role="img" aria-label=${`${label}: ${formatCount(total)} in ${buckets.length} buckets from ${formatTime(buckets[0].start)}; drag across to zoom`}></div>
    <figcaption class="hint">Drag across the chart to zoom into a time range.</figcaption>
  </figure>`;
}

const REDACTED = '<redacted>';

/** A JSON value as a collapsible tree (native details/summary: keyboard and screen readers
 *  work). Redacted values are marked as such. */
/** A value as a tree of collapsible nodes; the first two levels start open. A closed node's
 *  children are drawn only once it is opened, so a large object costs one line until then. */
export function JsonTree({ value, name, depth = 0 }) {
  const [open, setOpen] = useState(depth < 2);
  const key = name !== undefined ? html`<span class="json-key">${name}</span>: ` : null;
  if (value === null || typeof value !== 'object') {
    let shown;
    if (value === REDACTED) shown = html`<span class="json-redacted" title="kubetrail never stores this value">redacted</span>`;
    else if (typeof value === 'string') shown = html`<span class="json-string">"${value}"</span>`;
    else shown = html`<span class="json-scalar">${String(value)}</span>`;
    return html`<div class="json-leaf">${key}${shown}</div>`;
  }
  const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
  const brackets = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return html`<div class="json-leaf">${key}${brackets[0]}${brackets[1]}</div>`;
  return html`<details class="json-node" open=${open} onToggle=${(event) => setOpen(event.currentTarget.open)}>
    <summary>${key}${brackets[0]}<span class="json-count">${entries.length} ${Array.isArray(value) ? 'items' : 'keys'}</span>${brackets[1]}</summary>
    ${open && html`<div class="json-children">
      ${entries.map(([childName, child]) => html`<${JsonTree} key=${childName} name=${childName} value=${child} depth=${depth + 1} />`)}
    </div>`}
  </details>`;
}

/** A `<details>` whose content (a function) is drawn only once it is opened. */
export function Disclosure({ summary, children }) {
  const [open, setOpen] = useState(false);
  return html`<details open=${open} onToggle=${(event) => setOpen(event.currentTarget.open)}>
    <summary>${summary}</summary>
    ${open && children()}
  </details>`;
}

export function TimelineLink({ actor }) {
  if (!actor) return null;
  return html`<a href=${hashOf('timeline', { actor })} title="Timeline of ${actor}">${actor}</a>`;
}

export function HistoryLink({ resource, namespace, name, cluster }) {
  if (!resource || !name) return html`<span>${name || ''}</span>`;
  return html`<a href=${hashOf('history', { resource, namespace, name, cluster })} title="History of ${resource} ${namespace ? `${namespace}/` : ''}${name}">${name}</a>`;
}

export function NamespaceLink({ namespace }) {
  if (!namespace) return null;
  return html`<a href=${hashOf('search', { q: `namespace:${namespace}`, from: '24h' })} title="Events in namespace ${namespace}">${namespace}</a>`;
}

/** A side panel (dialog) that Esc closes. */
export function Panel({ title, onClose, children, testid }) {
  const ref = useRef(null);
  useEffect(() => {
    const previous = document.activeElement;
    if (ref.current) ref.current.focus();
    return () => previous && previous.focus && previous.focus();
  }, []);
  return html`<div class="panel" role="dialog" aria-modal="false" aria-label=${title} data-testid=${testid}>
    <header class="panel-head">
      <h2 tabindex="-1" ref=${ref}>${title}</h2>
      <button type="button" class="button" onClick=${onClose} aria-label="Close panel">Close <kbd>Esc</kbd></button>
    </header>
    <div class="panel-body">${children}</div>
  </div>`;
}

export function Severity({ severity }) {
  return html`<span class=${`severity sev-${severity}`}>${severity}</span>`;
}
