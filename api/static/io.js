// Import and export of settings as JSON (either dialect), as text, a download or a file.

import { $, copyText, h } from './dom.js';
import { exportSettings, importSettings } from './schema.js';
import { commit, state } from './state.js';

function exportText() {
  return exportSettings(state.settings, $('dialect').value);
}

function doImport(text) {
  const status = $('io-status');
  try {
    const { settings: imported, ignored } = importSettings(JSON.parse(text));
    commit(imported);
    status.textContent = `Imported.${ignored.length ? ` Ignored unknown fields: ${ignored.join(', ')}.` : ''}`;
  } catch (e) {
    status.textContent = `Could not import: ${e.message}`;
  }
}

/** Wire the import / export box's buttons. */
export function initImportExport() {
  $('export').onclick = () => { $('json').value = exportText(); $('io-status').textContent = 'Settings written below.'; };
  $('download').onclick = () => {
    const a = h('a', { href: URL.createObjectURL(new Blob([exportText()], { type: 'application/json' })), download: 'gen1-settings.json' });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  $('copy-json').onclick = () => copyText(exportText(), 'Settings JSON');
  $('apply-json').onclick = () => doImport($('json').value);
  $('file').onchange = async (e) => { const f = e.target.files[0]; if (f) doImport(await f.text()); e.target.value = ''; };
}
