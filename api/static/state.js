// The page's state: the settings being tuned and the output options, kept in localStorage
// across visits; whoever shows them listens for changes.

import { OPTIONS, importSettings } from './schema.js';

export const store = {
  get(key, fallback) {
    try { return JSON.parse(localStorage.getItem(`lantern.${key}`)) ?? fallback; } catch { return fallback; }
  },
  set(key, value) {
    try { localStorage.setItem(`lantern.${key}`, JSON.stringify(value)); } catch { /* private mode */ }
  },
};

export const state = {
  settings: importSettings(store.get('settings', {})).settings,
  options: { ...OPTIONS, ...store.get('options', {}) },
};

const listeners = [];

/** Call `fn()` after every change of the settings. */
export function onChange(fn) {
  listeners.push(fn);
}

/** The settings changed (in place, or replaced by `settings`): keep them and tell the listeners. */
export function commit(settings = state.settings) {
  state.settings = settings;
  store.set('settings', settings);
  for (const fn of listeners) fn();
}

/** The options chosen for a render, kept for the next visit. */
export function setOptions(options) {
  state.options = options;
  store.set('options', options);
}
