// Lists the installed apps (the shell's `launcher_state`) and opens the chosen one in its own
// process (`open_app`); the apps the signed registry offers get Install (`install_app`). The
// list refreshes every second, so an install's progress and its end show up.
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
  if (entry.installed) {
    const engine = entry.version ? `Engine ${entry.version}` : 'No engine yet';
    facts.textContent = `${engine} · ${entry.status} · ${entry.disk} on disk`;
  } else {
    facts.textContent = `Version ${entry.version} · ${entry.status}`;
  }
  text.append(name, facts);
  const open = document.createElement('button');
  open.type = 'button';
  open.className = 'primary';
  const installing = !entry.installed && entry.status.startsWith('Installing');
  open.setAttribute('data-testid', `launcher-${entry.installed ? 'open' : 'install'}-${entry.id}`);
  open.textContent = entry.installed ? 'Open' : 'Install';
  open.disabled = installing;
  open.addEventListener('click', async () => {
    const error = byTestId('launcher-error');
    const said = byTestId('launcher-said');
    error.hidden = true;
    open.disabled = true;
    try {
      if (entry.installed) {
        await tauri.core.invoke('open_app', { id: entry.id });
        said.hidden = false;
        said.textContent = `${entry.product_name} is opening in its own window.`;
      } else {
        await tauri.core.invoke('install_app', { id: entry.id });
        await refresh();
      }
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

// Rows are rebuilt only when what they show changed, so a click never lands on a replaced button.
let shown = '';

async function refresh() {
  const view = await tauri.core.invoke('launcher_state');
  const problem = byTestId('launcher-problem');
  problem.hidden = !view.registry_problem;
  problem.textContent = view.registry_problem || '';
  const text = JSON.stringify(view.entries);
  if (text === shown) return;
  shown = text;
  byTestId('launcher-apps').replaceChildren(...view.entries.map(row));
}

refresh();
setInterval(refresh, 1000);
