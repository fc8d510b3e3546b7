// Shared pieces of the UI: the Preact + htm binding, the API client, URL state and small
// formatting helpers. Everything the pages need from the server goes through `api()`.
import { h, render } from './vendor/preact.mjs';
import { useState, useEffect, useLayoutEffect, useRef, useCallback, useMemo } from './vendor/hooks.mjs';
import htm from './vendor/htm.mjs';

export const html = htm.bind(h);
export { h, render, useState, useEffect, useRef, useCallback, useMemo };

/** For the effect that loads a page's data: it runs as soon as the page is in the DOM, before
 *  the browser paints (`useEffect` waits for the next frame), so the request starts at once. */
export const useFetchEffect = useLayoutEffect;

const TOKEN_KEY = 'kubetrail.token';

/** The session's token: in sessionStorage only (per tab, gone with it), never in a URL. */
export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  set: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const listeners = new Set();
/** Called with every 401, so the app can go back to sign-in. */
export function onUnauthorized(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Calls `/api/v1<path>` with the session's token; JSON in, JSON out (or the Response). */
export async function api(path, { method = 'GET', body, raw = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: 'no-store',
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const error = await response.json();
      if (error && error.error) message = error.error;
    } catch (_) { /* not JSON */ }
    if (response.status === 401) listeners.forEach((listener) => listener(message));
    throw new ApiError(response.status, message);
  }
  return raw ? response : response.json();
}

/** `?a=1&b=2` of an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '' && value !== false) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The current route: `#/search?q=x` is `{ page: 'search', params: {q: 'x'} }`. */
export function parseHash(hash = location.hash) {
  const text = hash.replace(/^#\/?/, '');
  const [page, search = ''] = text.split('?');
  return { page: page || 'search', params: Object.fromEntries(new URLSearchParams(search)) };
}

export function hashOf(page, params = {}) {
  return `#/${page}${query(params)}`;
}

/** Goes to a page; `replace` keeps the back button for real navigation only. */
export function navigate(page, params = {}, { replace = false } = {}) {
  const hash = hashOf(page, params);
  if (hash === location.hash) return;
  if (replace) {
    history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
}

/** `2026-12-03T10:04:05.123456Z` → `2026-12-03 10:04:05.123` (UTC, as stored). */
export function formatTime(time) {
  if (!time) return '';
  return String(time).replace('T', ' ').replace(/(\.\d{3})\d*/, '$1').replace(/Z$|\+00:00$/, '');
}

export function formatCount(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '');
}

/** A value of a search hit, for a table cell. */
export function cellText(value) {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Quotes a value for the search language when it needs it. */
export function quoteValue(value) {
  const text = String(value);
  return /^[A-Za-z0-9_.:@\/-]+$/.test(text) && !/^(AND|OR|NOT|TO)$/.test(text)
    ? text
    : `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The severities, lowest first. */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];

/** Runs `load` when `deps` change, keeping the last answer, the error and a loading flag;
 *  an answer that arrives after a newer request started is dropped. */
export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const generation = useRef(0);
  const reload = useCallback(() => {
    const mine = ++generation.current;
    const controller = new AbortController();
    setState((old) => ({ ...old, loading: true, error: null }));
    Promise.resolve(load(controller.signal)).then(
      (data) => { if (mine === generation.current) setState({ data, error: null, loading: false }); },
      (error) => {
        if (mine === generation.current && error.name !== 'AbortError') setState((old) => ({ data: old.data, error, loading: false }));
      },
    );
    return () => controller.abort();
  }, deps);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

/** Keyboard shortcuts for a page: `keys` maps a key to a handler; ignored while typing. */
export function useKeys(keys, deps) {
  useEffect(() => {
    const onKey = (event) => {
      const target = event.target;
      const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT' || target.isContentEditable);
      if (event.key === 'Escape' && keys.Escape) { keys.Escape(event); return; }
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      const handler = keys[event.key];
      if (handler) {
        event.preventDefault();
        handler(event);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, deps);
}

/** Downloads `text` as a file. */
export function download(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
