// Search: query bar with help and completion, time picker, histogram (drag to zoom), results
// newest first with infinite scroll, facets that add or exclude filters, an event panel.
// Everything lives in the URL: q, from, to, cols, event.
import { html, useState, useEffect, useRef, useCallback, useMemo, api, query, navigate, formatTime, formatCount, cellText, quoteValue, useKeys, useFetchEffect } from '../lib.js';
import { TimePicker, Histogram, ErrorBox, Loading, JsonTree, TimelineLink, HistoryLink, NamespaceLink, Panel } from '../components.js';

export const ALL_COLUMNS = ['time', 'cluster', 'user', 'verb', 'resource', 'subresource', 'namespace', 'name', 'response_code', 'source_ips', 'user_agent', 'actor_kind', 'decision', 'falco_rule', 'rule_ids'];
const DEFAULT_COLUMNS = ['time', 'user', 'verb', 'resource', 'namespace', 'name', 'response_code', 'source_ips'];
const WANTED_FACETS = [['user', 'User'], ['verb', 'Verb'], ['resource', 'Resource'], ['namespace', 'Namespace'], ['code', 'Response code'], ['ip', 'Source IP']];
const SAVED_KEY = 'kubetrail.saved-searches';

let fieldCache = null;
function loadFields() {
  if (!fieldCache) fieldCache = api('/fields').catch((error) => { fieldCache = null; throw error; });
  return fieldCache;
}

function savedSearches() {
  try { return JSON.parse(localStorage.getItem(SAVED_KEY) || '[]'); } catch (_) { return []; }
}

/** The token being typed at the caret: `verb:cre` → { field: 'verb', partial: 'cre' }. */
function tokenAt(text, caret) {
  const before = text.slice(0, caret);
  const match = /(-?)([A-Za-z_]*)(:?)("?[^\s:()"]*)$/.exec(before);
  if (!match) return null;
  const [whole, , name, colon, value] = match;
  return { start: caret - whole.length + (whole.startsWith('-') ? 1 : 0), field: colon ? name : null, partial: colon ? value.replace(/^"/, '') : name };
}

function QueryBar({ value, onSubmit, fields, generation }) {
  const [text, setText] = useState(value);
  const [suggestions, setSuggestions] = useState([]);
  const [active, setActive] = useState(0);
  const [help, setHelp] = useState(false);
  const input = useRef(null);
  useEffect(() => { setText(value); setSuggestions([]); }, [value, generation]);
  useEffect(() => {
    const focus = (event) => {
      const target = event.target;
      if (event.key === '/' && !(target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) {
        event.preventDefault();
        input.current && input.current.focus();
      }
    };
    window.addEventListener('keydown', focus);
    return () => window.removeEventListener('keydown', focus);
  }, []);
  const suggest = async (nextText, caret) => {
    const token = tokenAt(nextText, caret);
    if (!token || !fields) { setSuggestions([]); return; }
    if (!token.field) {
      if (!token.partial) { setSuggestions([]); return; }
      const names = fields.fields.filter((name) => name.startsWith(token.partial.toLowerCase()) && name !== token.partial).slice(0, 8);
      setSuggestions(names.map((name) => ({ label: `${name}:`, insert: `${name}:`, start: token.start, kind: 'field' })));
    } else if (fields.facets.includes(token.field)) {
      try {
        const answer = await api(`/search${query({ q: '*', limit: 1, facets: token.field, from: '24h' })}`);
        const values = (answer.facets && answer.facets[token.field]) || [];
        setSuggestions(values
          .filter((entry) => String(entry.value).toLowerCase().includes(token.partial.toLowerCase()))
          .slice(0, 8)
          .map((entry) => ({ label: `${entry.value}`, count: entry.count, insert: `${token.field}:${quoteValue(entry.value)} `, start: token.start, kind: 'value' })));
      } catch (_) { setSuggestions([]); }
    } else {
      setSuggestions([]);
    }
    setActive(0);
  };
  const accept = (suggestion) => {
    const caret = input.current ? input.current.selectionStart : text.length;
    const next = text.slice(0, suggestion.start) + suggestion.insert + text.slice(caret);
    setText(next);
    setSuggestions([]);
    requestAnimationFrame(() => {
      if (!input.current) return;
      const position = suggestion.start + suggestion.insert.length;
      input.current.focus();
      input.current.setSelectionRange(position, position);
      if (suggestion.kind === 'field') suggest(next, position);
    });
  };
  const onKeyDown = (event) => {
    if (suggestions.length > 0) {
      if (event.key === 'ArrowDown') { event.preventDefault(); setActive((active + 1) % suggestions.length); return; }
      if (event.key === 'ArrowUp') { event.preventDefault(); setActive((active + suggestions.length - 1) % suggestions.length); return; }
      if (event.key === 'Tab' || (event.key === 'Enter' && suggestions[active] && suggestions[active].kind === 'field')) {
        event.preventDefault(); accept(suggestions[active]); return;
      }
      if (event.key === 'Escape') { event.stopPropagation(); setSuggestions([]); return; }
    }
  };
  return html`<form class="querybar" role="search" onSubmit=${(event) => { event.preventDefault(); setSuggestions([]); onSubmit(text.trim()); }}>
    <div class="combo">
      <label class="sr-only" for="q">Search query</label>
      <input id="q" ref=${input} type="text" role="combobox" autocomplete="off" spellcheck="false" placeholder='Search events: user:alice verb:delete resource:secrets NOT namespace:kube-system   (press / to focus)'
        value=${text} aria-autocomplete="list" aria-controls="q-suggestions" aria-expanded=${suggestions.length > 0}
        aria-activedescendant=${suggestions.length > 0 ? `q-suggestion-${active}` : undefined}
        onInput=${(event) => { setText(event.target.value); suggest(event.target.value, event.target.selectionStart); }}
        onKeyDown=${onKeyDown} onBlur=${() => setTimeout(() => setSuggestions([]), 150)} />
      ${suggestions.length > 0 && html`<ul id="q-suggestions" class="suggestions" role="listbox" aria-label="Suggestions">
        ${suggestions.map((suggestion, index) => html`<li id=${`q-suggestion-${index}`} role="option" aria-selected=${index === active} class=${index === active ? 'active' : ''}
            onMouseDown=${(event) => { event.preventDefault(); accept(suggestion); }}>
          <span>${suggestion.label}</span>${suggestion.count !== undefined && html`<span class="muted">${formatCount(suggestion.count)}</span>`}
        </li>`)}
      </ul>`}
    </div>
    <button class="button primary" type="submit">Search</button>
    <button class="button" type="button" aria-expanded=${help} onClick=${() => setHelp(!help)}>Syntax</button>
    ${help && html`<div class="syntax-help" role="note">
      <p><code>field:value</code> matches a field (<code>user:alice@example.com</code>, <code>verb:delete</code>), <code>"a phrase"</code>, wildcards <code>name:web-*</code>, ranges <code>code:[400 TO 499]</code>; combine with <code>AND</code>, <code>OR</code>, <code>NOT</code> and parentheses. A bare word matches anywhere in the raw event. <code>*</code> matches everything.</p>
      <p>Fields: ${fields ? fields.fields.map((name) => html`<code class="field-chip">${name}</code> `) : '…'}</p>
    </div>`}
  </form>`;
}

function Facets({ facets, onFilter, fields }) {
  if (!facets) return null;
  const shown = WANTED_FACETS.filter(([name]) => facets[name]);
  return html`<nav class="facets" aria-label="Facets">
    ${shown.map(([name, title]) => html`<section class="facet" data-facet=${name}>
      <h2>${title}</h2>
      ${facets[name].length === 0 && html`<p class="muted">none</p>`}
      <ul>
        ${facets[name].map((entry) => html`<li>
          <button type="button" class="facet-value" title=${`Only ${name} ${entry.value}`} onClick=${() => onFilter(name, entry.value, false)}>
            <span class="value">${entry.value}</span><span class="count">${formatCount(entry.count)}</span>
          </button>
          <button type="button" class="facet-exclude" aria-label=${`Exclude ${name} ${entry.value}`} title="Exclude" onClick=${() => onFilter(name, entry.value, true)}>−</button>
        </li>`)}
      </ul>
    </section>`)}
  </nav>`;
}

export function EventPanel({ eventId, hit, onClose }) {
  const [state, setState] = useState({ event: null, error: null });
  useEffect(() => {
    let live = true;
    setState({ event: null, error: null });
    api(`/events/${encodeURIComponent(eventId)}`).then(
      (event) => live && setState({ event, error: null }),
      (error) => live && setState({ event: null, error }),
    );
    return () => { live = false; };
  }, [eventId]);
  const fields = hit || (state.event && state.event.raw ? normalisedFromRaw(state.event) : null);
  return html`<${Panel} title="Event" onClose=${onClose} testid="event-panel">
    <${ErrorBox} error=${state.error} />
    ${fields && html`<dl class="fields">
      ${['time', 'cluster', 'source', 'verb', 'user', 'impersonated_user', 'actor_kind', 'groups', 'source_ips', 'user_agent', 'resource', 'subresource', 'namespace', 'name', 'response_code', 'decision', 'falco_rule', 'falco_priority', 'pod_name', 'rule_ids']
        .filter((key) => fields[key] !== undefined && fields[key] !== null && !(Array.isArray(fields[key]) && fields[key].length === 0))
        .map((key) => html`<dt>${key}</dt><dd>${fieldValue(key, fields)}</dd>`)}
    </dl>`}
    ${state.event && html`<h3>Raw event</h3><div class="json" data-testid="raw-json"><${JsonTree} value=${state.event.raw} /></div>`}
    <p class="muted">event_id <code>${eventId}</code></p>
  </${Panel}>`;
}

function normalisedFromRaw(event) {
  const raw = event.raw || {};
  const ref = raw.objectRef || {};
  return {
    time: event.time, cluster: event.cluster, source: event.source, verb: raw.verb,
    user: raw.user && raw.user.username, source_ips: raw.sourceIPs, user_agent: raw.userAgent,
    resource: ref.resource, subresource: ref.subresource, namespace: ref.namespace, name: ref.name,
    response_code: raw.responseStatus && raw.responseStatus.code,
  };
}

function fieldValue(key, fields) {
  const value = fields[key];
  if (key === 'user' || key === 'impersonated_user') return html`<${TimelineLink} actor=${value} />`;
  if (key === 'namespace') return html`<${NamespaceLink} namespace=${value} />`;
  if (key === 'name') return html`<${HistoryLink} resource=${fields.resource} namespace=${fields.namespace} name=${value} cluster=${fields.cluster} />`;
  if (key === 'time') return formatTime(value);
  if (key === 'rule_ids') return value.map((rule) => html`<a href=${`#/alerts${query({ rule_id: rule })}`}>${rule}</a> `);
  return cellText(value);
}

function ColumnPicker({ columns, onChange }) {
  const [open, setOpen] = useState(false);
  return html`<div class="columnpicker">
    <button type="button" class="button" aria-expanded=${open} onClick=${() => setOpen(!open)}>Columns</button>
    ${open && html`<fieldset class="popover"><legend>Columns shown</legend>
      ${ALL_COLUMNS.map((column) => html`<label class="check"><input type="checkbox" checked=${columns.includes(column)}
        onChange=${(event) => onChange(event.target.checked ? ALL_COLUMNS.filter((c) => c === column || columns.includes(c)) : columns.filter((c) => c !== column))} /> ${column}</label>`)}
    </fieldset>`}
  </div>`;
}

function SavedSearches({ params }) {
  const [saved, setSaved] = useState(savedSearches());
  const save = () => {
    const name = (window.prompt('Name of this search') || '').trim();
    if (!name) return;
    const next = [...saved.filter((entry) => entry.name !== name), { name, params }];
    localStorage.setItem(SAVED_KEY, JSON.stringify(next));
    setSaved(next);
  };
  const remove = (name) => {
    const next = saved.filter((entry) => entry.name !== name);
    localStorage.setItem(SAVED_KEY, JSON.stringify(next));
    setSaved(next);
  };
  return html`<details class="saved">
    <summary>Saved searches (${saved.length})</summary>
    <button type="button" class="link" onClick=${save}>Save this search…</button>
    <ul>${saved.map((entry) => html`<li><a href=${`#/search${query(entry.params)}`}>${entry.name}</a> <button type="button" class="link" aria-label=${`Delete saved search ${entry.name}`} onClick=${() => remove(entry.name)}>×</button></li>`)}</ul>
  </details>`;
}

export function SearchPage({ params, me }) {
  const q = params.q || '*';
  const from = params.from === undefined ? '24h' : params.from;
  const to = params.to || '';
  const columns = params.cols ? params.cols.split(',').filter((column) => ALL_COLUMNS.includes(column)) : DEFAULT_COLUMNS;
  const [fields, setFields] = useState(null);
  const [result, setResult] = useState({ hits: [], total: 0, next: null, histogram: null, facets: null, took: 0 });
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState(-1);
  const sentinel = useRef(null);
  const generation = useRef(0);
  const loadingMore = useRef(false);

  useFetchEffect(() => { loadFields().then(setFields, () => {}); }, []);
  const set = useCallback((changes, options) => navigate('search', { ...params, q, from, to, ...changes }, options), [params, q, from, to]);

  useFetchEffect(() => {
    const mine = ++generation.current;
    setLoading(true);
    setError(null);
    setSelected(-1);
    const facetNames = WANTED_FACETS.map(([name]) => name).join(',');
    api(`/search${query({ q, from, to, limit: 100, histogram: true, facets: facetNames })}`).then((answer) => {
      if (mine !== generation.current) return;
      setResult({ hits: answer.hits, total: answer.total, next: answer.next_cursor, histogram: answer.histogram, facets: answer.facets, took: answer.took_ms, key: `${q}|${from}|${to}` });
      setLoading(false);
    }, (err) => {
      if (mine !== generation.current) return;
      setError(err);
      setResult({ hits: [], total: 0, next: null, histogram: null, facets: null, took: 0 });
      setLoading(false);
    });
  }, [q, from, to]);

  const loadMore = useCallback(() => {
    if (!result.next || loadingMore.current) return;
    loadingMore.current = true;
    const mine = generation.current;
    api(`/search${query({ q, from, to, limit: 100, cursor: result.next })}`).then((answer) => {
      loadingMore.current = false;
      if (mine !== generation.current) return;
      setResult((old) => ({ ...old, hits: old.hits.concat(answer.hits), next: answer.next_cursor }));
    }, (err) => { loadingMore.current = false; setError(err); });
  }, [result.next, q, from, to]);

  useEffect(() => {
    if (!sentinel.current) return undefined;
    const observer = new IntersectionObserver((entries) => { if (entries.some((entry) => entry.isIntersecting)) loadMore(); }, { rootMargin: '400px' });
    observer.observe(sentinel.current);
    return () => observer.disconnect();
  }, [loadMore]);

  const open = (index) => { const hit = result.hits[index]; if (hit) set({ event: hit.event_id }); };
  useKeys({
    j: () => setSelected((index) => Math.min(index + 1, result.hits.length - 1)),
    k: () => setSelected((index) => Math.max(index - 1, 0)),
    Enter: () => selected >= 0 && open(selected),
    Escape: () => params.event && set({ event: undefined }),
  }, [result.hits, selected, params.event]);
  useEffect(() => {
    const row = document.querySelector(`tr[data-index="${selected}"]`);
    if (row) row.scrollIntoView({ block: 'nearest' });
  }, [selected]);

  const filter = (field, value, exclude) => {
    const clause = `${exclude ? 'NOT ' : ''}${field}:${quoteValue(value)}`;
    set({ q: q === '*' || !q ? (exclude ? `* ${clause}` : clause) : `${q} ${clause}`, event: undefined });
  };
  const openHit = params.event ? result.hits.find((hit) => hit.event_id === params.event) : null;
  const exportUrl = (format) => `/search${query({ q, from, to, format })}`;
  const exportAs = async (format) => {
    try {
      const response = await api(exportUrl(format), { raw: true });
      const text = await response.text();
      const { download } = await import('../lib.js');
      download(`kubetrail-search.${format === 'csv' ? 'csv' : 'ndjson'}`, text, format === 'csv' ? 'text/csv' : 'application/x-ndjson');
    } catch (err) { setError(err); }
  };

  return html`<div class="page search-page">
    <div class="toolbar">
      <${QueryBar} value=${q === '*' ? '' : q} generation=${`${q}|${from}|${to}`} fields=${fields} onSubmit=${(text) => set({ q: text || '*', event: undefined })} />
      <${TimePicker} from=${from} to=${to} onChange=${(nextFrom, nextTo) => set({ from: nextFrom, to: nextTo, event: undefined })} />
    </div>
    <${ErrorBox} error=${error} />
    <div class="summary-line">
      <span data-testid="total"><strong>${formatCount(result.total)}</strong> events</span>
      <span class="muted"> in ${result.took.toFixed ? result.took.toFixed(1) : result.took} ms</span>
      <${Loading} when=${loading} />
      <span class="spacer"></span>
      <${SavedSearches} params=${{ q, from, to, cols: params.cols }} />
      <${ColumnPicker} columns=${columns} onChange=${(next) => set({ cols: next.join(',') }, { replace: true })} />
      ${me && me.can.export && html`<button type="button" class="button" onClick=${() => exportAs('csv')}>Export CSV</button>`}
    </div>
    <${Histogram} buckets=${result.histogram} onSelect=${(start, end) => set({ from: start, to: end, event: undefined })} />
    <div class="with-sidebar">
      <${Facets} facets=${result.facets} fields=${fields} onFilter=${filter} />
      <div class="results">
        <table class="grid" aria-label="Events, newest first" aria-busy=${loading} data-loaded=${result.key}>
          <thead><tr>${columns.map((column) => html`<th scope="col">${column}</th>`)}</tr></thead>
          <tbody>
            ${result.hits.map((hit, index) => html`<tr key=${hit.event_id} data-index=${index} data-event-id=${hit.event_id}
                class=${`${index === selected ? 'selected' : ''} ${hit.rule_ids && hit.rule_ids.length ? 'alerted' : ''}`}
                aria-selected=${index === selected} onClick=${() => { setSelected(index); open(index); }}>
              ${columns.map((column) => html`<td class=${`col-${column}`}>${column === 'time' ? formatTime(hit.time) : cellText(hit[column])}</td>`)}
            </tr>`)}
          </tbody>
        </table>
        ${!loading && result.hits.length === 0 && !error && html`<p class="empty">No events match. Widen the time range or remove a filter.</p>`}
        <div ref=${sentinel} class="sentinel">${result.next ? 'Loading more…' : result.hits.length > 0 ? 'End of results' : ''}</div>
      </div>
    </div>
    ${params.event && html`<${EventPanel} eventId=${params.event} hit=${openHit} onClose=${() => set({ event: undefined })} />`}
  </div>`;
}
