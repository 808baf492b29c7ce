// Lists the installed apps (the shell's `launcher_state`) and opens the chosen one in its own
// process (`open_app`); the list refreshes every few seconds, so an app installed meanwhile, or
// an engine that finished installing, shows up.
'use strict';

const tauri = window.__TAURI__;
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

function row(entry) {
  const item = document.createElement('li');
  item.className = 'app';
  item.setAttribute('data-testid', `launcher-app-${entry.id}`);
  const logo = document.createElement('span');
  logo.className = 'logo';
  logo.setAttribute('aria-hidden', 'true');
  logo.textContent = entry.product_name.slice(0, 1);
  const text = document.createElement('div');
  text.className = 'app-text';
  const name = document.createElement('strong');
  name.setAttribute('data-testid', `launcher-name-${entry.id}`);
  name.textContent = entry.product_name;
  const facts = document.createElement('span');
  facts.className = 'app-facts';
  facts.setAttribute('data-testid', `launcher-facts-${entry.id}`);
  const engine = entry.version ? `Engine ${entry.version}` : 'No engine yet';
  facts.textContent = `${engine} · ${entry.status} · ${entry.disk} on disk`;
  text.append(name, facts);
  const open = document.createElement('button');
  open.type = 'button';
  open.className = 'primary';
  open.setAttribute('data-testid', `launcher-open-${entry.id}`);
  open.textContent = 'Open';
  open.addEventListener('click', async () => {
    const error = byTestId('launcher-error');
    const said = byTestId('launcher-said');
    error.hidden = true;
    open.disabled = true;
    try {
      await tauri.core.invoke('open_app', { id: entry.id });
      said.hidden = false;
      said.textContent = `${entry.product_name} is opening in its own window.`;
    } catch (message) {
      error.hidden = false;
      error.textContent = String(message);
    } finally {
      setTimeout(() => {
        open.disabled = false;
      }, 2000);
    }
  });
  item.append(logo, text, open);
  return item;
}

async function refresh() {
  const view = await tauri.core.invoke('launcher_state');
  byTestId('launcher-apps').replaceChildren(...view.entries.map(row));
}

refresh();
setInterval(refresh, 5000);
