// Renders the shell's state (views built in Rust) and wires error-screen buttons to commands.
'use strict';

const tauri = window.__TAURI__;
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

// The newest view shown: the answer to the first `shell_state` can arrive after an event
// that is newer than it, and must not paint over it.
let shownSeq = 0;

function render(view) {
  if (view.seq < shownSeq) return;
  shownSeq = view.seq;
  document.body.dataset.phase = view.phase;
  document.body.dataset.kind = view.kind || '';
  document.title = view.product;
  byTestId('splash-product').textContent = view.product;
  byTestId('splash-logo').textContent = view.product.slice(0, 1);
  byTestId('splash-title').textContent = view.title;
  byTestId('splash-message').textContent = view.message;

  const notice = byTestId('splash-notice');
  notice.hidden = !view.notice;
  notice.textContent = view.notice || '';

  const progress = byTestId('splash-progress');
  progress.hidden = view.progress === null || view.progress === undefined;
  if (!progress.hidden) progress.value = view.progress;

  const details = byTestId('splash-details');
  details.replaceChildren(...view.details.map((line) => {
    const item = document.createElement('li');
    item.textContent = line;
    return item;
  }));

  // Collapsed until asked for: a traceback is never the first thing a user reads.
  const log = byTestId('splash-log');
  const hadLog = !log.hidden;
  log.hidden = view.log_tail.length === 0;
  if (log.hidden || !hadLog) log.open = false;
  const tail = byTestId('splash-log-tail');
  tail.textContent = view.log_tail.join('\n');
  // The last lines say why it stopped: show the bottom first.
  tail.scrollTop = tail.scrollHeight;

  // The troubleshooting guide's section for this screen, compiled into the app (offline).
  const help = byTestId('splash-help');
  const section = view.help;
  if (!section || help.dataset.anchor !== section.anchor) help.open = false;
  help.hidden = !section;
  help.dataset.anchor = section ? section.anchor : '';
  byTestId('splash-help-title').textContent = section ? section.title : '';
  byTestId('splash-help-body').replaceChildren(...(section ? section.paragraphs : []).map((text) => {
    const paragraph = document.createElement('p');
    paragraph.textContent = text;
    return paragraph;
  }));

  const actions = byTestId('splash-actions');
  actions.replaceChildren();
  view.actions.forEach((action, index) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = action.label;
    button.disabled = !action.enabled;
    button.dataset.testid = `action-${action.id}`;
    if (index === 0 && action.enabled) button.className = 'primary';
    button.addEventListener('click', () => runAction(action.id, button));
    actions.append(button);
    if (action.note) {
      const note = document.createElement('p');
      note.className = 'note';
      note.textContent = action.note;
      actions.append(note);
    }
  });
  byTestId('splash-action-error').hidden = true;
}

async function runAction(id, button) {
  const error = byTestId('splash-action-error');
  const said = byTestId('splash-action-said');
  error.hidden = true;
  said.hidden = true;
  button.disabled = true;
  try {
    // An action may answer with a sentence (where the diagnostics zip went).
    const answer = await tauri.core.invoke(id);
    if (typeof answer === 'string' && answer) {
      said.textContent = answer;
      said.hidden = false;
    }
  } catch (message) {
    error.textContent = String(message);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function start() {
  // Listen first, then ask: a change between the two is then never missed.
  await tauri.event.listen('shell-state', (event) => render(event.payload));
  render(await tauri.core.invoke('shell_state'));
}

start().catch((error) => {
  byTestId('splash-message').textContent = `The window could not talk to the app: ${error}`;
});
