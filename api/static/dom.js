// Small DOM helpers shared by the page's modules.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Tiny element builder: h('p', {class: 'x'}, 'text', child); `on…` attributes add listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.filter((c) => c != null));
  return el;
}

/** The id of a setting's control: its dotted path with dashes (`flowFields-lineDensity`). */
export const idOf = (path) => path.replaceAll('.', '-');

/** Copy text to the clipboard and say so to screen readers. */
export async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // no async clipboard outside secure contexts: the old way
    const t = h('textarea', { readonly: true, class: 'vh' });
    t.value = text;
    document.body.append(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
  $('live').textContent = `${what} copied`;
}

/** A small "Copy" button for a value. */
export function copyButton(text, what) {
  return h('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${what}`, onclick: () => copyText(text, what) }, 'Copy');
}
