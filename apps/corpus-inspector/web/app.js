// Corpus Inspector's page: no build step, no framework. It talks only to the engine that serves
// it (the engine's Content-Security-Policy allows nothing else), and puts every text from a
// corpus into the page as text, never as markup.

const API = '/api/v1';
const POLL_MS = 500;
const ENGINE_GONE =
  'The app stopped answering. Close this window and open Corpus Inspector again.';

const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat();
const decimals = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 2 });

const state = { datasets: [], tokenizers: [], activeJob: null, timer: null };

// --- talking to the engine -----------------------------------------------------------------------

/** Calls the API; throws an Error whose message is the engine's sentence. */
async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(API + path, { credentials: 'same-origin', ...options });
  } catch {
    throw new Error(ENGINE_GONE);
  }
  if (response.status === 204) return null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the sentence below says what happened
  }
  if (!response.ok) {
    throw new Error(body?.error?.message ?? `The app answered with an error (${response.status}); try again.`);
  }
  return body;
}

function postJson(path, value) {
  return api(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  });
}

/**
 * The app window opens this page as `/#launch=<code>`: the one-time code becomes a session
 * cookie, and the code leaves the address bar. True when the page may use the API.
 */
async function startSession() {
  const match = /(?:^#|&)launch=([^&]+)/.exec(window.location.hash);
  if (match) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
    try {
      await postJson('/session', { code: decodeURIComponent(match[1]) });
    } catch (error) {
      showNotice(error.message);
    }
  }
  const session = await api('/session');
  return !session.token_required || session.authenticated;
}

// --- small helpers ---------------------------------------------------------------------------------

function showNotice(message) {
  $('notice-text').textContent = message;
  $('notice').hidden = false;
  $('notice').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
}

function clearNotice() {
  $('notice').hidden = true;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell ?? '';
    tr.append(td);
  }
  return tr;
}

function button(label, onClick, className = 'link') {
  const node = element('button', label, className);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

function size(bytes) {
  if (bytes >= 1e9) return `${decimals.format(bytes / 1e9)} GB`;
  if (bytes >= 1e6) return `${decimals.format(bytes / 1e6)} MB`;
  if (bytes >= 1e3) return `${decimals.format(bytes / 1e3)} KB`;
  return `${numbers.format(bytes)} bytes`;
}

function when(stamp) {
  return stamp ? new Date(stamp).toLocaleString() : '';
}

const KINDS = { txt: 'Text, one per line', jsonl: 'JSON lines', csv: 'CSV table' };

const STATES = {
  queued: 'Waiting to start',
  running: 'Running',
  succeeded: 'Finished',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Stopped when the app closed',
};

const ACTIVE = new Set(['queued', 'running']);

/** Shows a token as written, with its invisible characters made visible. */
function visibleToken(token) {
  return token.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥');
}

// --- corpora and tokenizers --------------------------------------------------------------------

async function upload(path, input, status, noun) {
  const file = input.files[0];
  if (!file) {
    status.textContent = `Choose a ${noun} file first.`;
    return;
  }
  const form = new FormData();
  form.append('file', file);
  status.textContent = `Adding ${file.name}…`;
  clearNotice();
  try {
    const added = await api(path, { method: 'POST', body: form });
    status.textContent = `Added ${added.name}.`;
    input.value = '';
    return added;
  } catch (error) {
    status.textContent = '';
    showNotice(error.message);
    return null;
  }
}

async function loadDatasets(selectId) {
  state.datasets = (await api('/datasets')).datasets;
  const table = $('corpus-table');
  const body = table.tBodies[0];
  body.replaceChildren(
    ...state.datasets.map((d) =>
      row([
        d.name,
        KINDS[d.format] ?? d.format,
        size(d.size_bytes),
        numbers.format(d.records),
        button('Remove', () => removeItem(`/datasets/${d.id}`, d.name)),
      ]),
    ),
  );
  table.hidden = state.datasets.length === 0;
  const pick = $('pick-corpus');
  const keep = selectId ?? pick.value;
  pick.replaceChildren(
    ...(state.datasets.length
      ? state.datasets.map((d) => new Option(d.name, d.id))
      : [new Option('Add a corpus first', '')]),
  );
  if (state.datasets.some((d) => d.id === keep)) pick.value = keep;
  showFields();
}

async function loadTokenizers(selectId) {
  state.tokenizers = (await api('/tokenizers')).tokenizers;
  const table = $('tokenizer-table');
  table.tBodies[0].replaceChildren(
    ...state.tokenizers.map((t) =>
      row([
        t.name,
        t.model,
        `${numbers.format(t.vocab_size)} tokens`,
        button('Remove', () => removeItem(`/tokenizers/${t.id}`, t.name)),
      ]),
    ),
  );
  table.hidden = state.tokenizers.length === 0;
  const pick = $('pick-tokenizer');
  const keep = selectId ?? pick.value;
  pick.replaceChildren(new Option('None (no token count)', ''), ...state.tokenizers.map((t) => new Option(t.name, t.id)));
  if (state.tokenizers.some((t) => t.id === keep)) pick.value = keep;
}

/** The field or column choice, for a .jsonl or .csv corpus. */
function showFields() {
  const dataset = state.datasets.find((d) => d.id === $('pick-corpus').value);
  const fields = dataset?.fields ?? null;
  const pick = $('pick-field');
  pick.hidden = $('pick-field-label').hidden = !fields;
  if (!fields) return;
  $('pick-field-label').textContent = dataset.format === 'csv' ? 'Text is in column' : 'Text is in field';
  pick.replaceChildren(...fields.map((name) => new Option(name, name)));
  pick.value = dataset.text_field;
}

async function removeItem(path, name) {
  if (!window.confirm(`Remove ${name}? Its file is deleted from this computer.`)) return;
  clearNotice();
  try {
    await api(path, { method: 'DELETE' });
    await Promise.all([loadDatasets(), loadTokenizers(), loadHistory()]);
  } catch (error) {
    showNotice(error.message);
  }
}

// --- inspections ----------------------------------------------------------------------------------

async function startInspection(event) {
  event.preventDefault();
  clearNotice();
  const datasetId = $('pick-corpus').value;
  if (!datasetId) {
    showNotice('Add a corpus first (step 1), then start the inspection.');
    return;
  }
  const config = { dataset_id: datasetId };
  if ($('pick-tokenizer').value) config.tokenizer_id = $('pick-tokenizer').value;
  if (!$('pick-field').hidden) config.text_field = $('pick-field').value;
  try {
    const job = await postJson('/jobs', config);
    $('results').hidden = true;
    $('inspect-status').textContent = '';
    follow(job);
    await loadHistory();
  } catch (error) {
    showNotice(error.message);
  }
}

/** Shows a running job's progress until it ends, then its result or why it has none. */
function follow(job) {
  state.activeJob = job.id;
  window.clearTimeout(state.timer);
  showProgress(job);
  if (!ACTIVE.has(job.status)) {
    finished(job);
    return;
  }
  state.timer = window.setTimeout(async () => {
    try {
      follow(await api(`/jobs/${job.id}`));
    } catch (error) {
      $('progress-box').hidden = true;
      showNotice(error.message);
    }
  }, POLL_MS);
}

function showProgress(job) {
  const active = ACTIVE.has(job.status);
  $('progress-box').hidden = !active;
  $('start').disabled = active;
  if (!active) return;
  $('progress').value = job.progress;
  $('progress-label').textContent = `${job.phase_label}… ${percent.format(job.progress)}`;
}

async function finished(job) {
  state.activeJob = null;
  $('inspect-status').textContent = job.status === 'cancelled' ? 'The inspection was cancelled.' : '';
  await loadHistory();
  if (job.status === 'succeeded') {
    await showResult(job.id);
  } else if (job.status === 'failed' || job.status === 'interrupted') {
    showNotice(job.error ?? 'The inspection did not finish; start it again.');
  }
}

async function cancelInspection() {
  if (!state.activeJob) return;
  try {
    await api(`/jobs/${state.activeJob}/cancel`, { method: 'POST' });
  } catch (error) {
    showNotice(error.message);
  }
}

async function loadHistory() {
  const jobs = (await api('/jobs')).jobs;
  const table = $('history-table');
  table.tBodies[0].replaceChildren(
    ...jobs.map((job) => {
      const actions = document.createElement('span');
      if (job.has_result) actions.append(button('Show', () => showResult(job.id)));
      if (!ACTIVE.has(job.status)) actions.append(button('Remove', () => removeItem(`/jobs/${job.id}`, 'this inspection')));
      let status = STATES[job.status] ?? job.status;
      if (job.status === 'running') status = `${job.phase_label} (${percent.format(job.progress)})`;
      const cell = element('span', status);
      if (job.error) cell.title = job.error;
      return row([
        when(job.created_at),
        job.dataset.name ?? 'a removed corpus',
        job.tokenizer ? (job.tokenizer.name ?? 'a removed tokenizer') : 'None',
        cell,
        actions,
      ]);
    }),
  );
  table.hidden = jobs.length === 0;
  $('history-empty').hidden = jobs.length > 0;
}

// --- the result -------------------------------------------------------------------------------

function fillTable(table, pairs) {
  table.tBodies[0].replaceChildren(
    ...pairs.map(([label, value]) => {
      const tr = document.createElement('tr');
      tr.append(element('th', label), element('td', value, 'number'));
      tr.firstChild.scope = 'row';
      return tr;
    }),
  );
}

async function showResult(jobId) {
  clearNotice();
  let result;
  try {
    result = await api(`/jobs/${jobId}/result`);
  } catch (error) {
    showNotice(error.message);
    return;
  }
  const length = result.document_length;
  const where = result.dataset.text_field ? ` (text in “${result.dataset.text_field}”)` : '';
  $('results-about').textContent =
    `${result.dataset.name}${where}` + (result.tokenizer ? `, counted with ${result.tokenizer.name}.` : '.');
  fillTable($('summary'), [
    ['Texts', numbers.format(result.documents)],
    ['Blank entries skipped', numbers.format(result.empty_records)],
    ['Lines', numbers.format(result.lines)],
    ['Characters', numbers.format(result.characters)],
    ['Words', numbers.format(result.words)],
    ['Different words', numbers.format(result.unique_words)],
    ['Average text length', `${decimals.format(length.average)} characters`],
    ['Median text length', `${decimals.format(length.median)} characters`],
    ['Longest text', `${numbers.format(length.max)} characters`],
  ]);

  const histogram = $('histogram');
  const most = Math.max(1, ...length.histogram.map((b) => b.count));
  histogram.replaceChildren(
    ...length.histogram.map((bucket) => {
      const line = element('div', null, 'bar-row');
      const label = bucket.from === bucket.to ? numbers.format(bucket.from) : `${numbers.format(bucket.from)}–${numbers.format(bucket.to)}`;
      const track = element('div', null, 'bar-track');
      const bar = element('div', null, 'bar');
      // A style property set from script: allowed by the page's policy, unlike a style attribute.
      bar.style.width = `${(100 * bucket.count) / most}%`;
      track.append(bar);
      line.append(element('span', label, 'bar-label'), track, element('span', numbers.format(bucket.count), 'bar-count'));
      return line;
    }),
  );

  $('top-words').tBodies[0].replaceChildren(
    ...result.top_words.map((w, i) => row([i + 1, w.word, numbers.format(w.count)])),
  );

  const tokens = result.tokens;
  $('tokens-summary').hidden = $('top-tokens').hidden = !tokens;
  if (tokens) {
    const pairs = [
      ['Tokens', numbers.format(tokens.total)],
      ['Tokens per word', decimals.format(tokens.per_word)],
      ['Tokens per character', decimals.format(tokens.per_character)],
    ];
    if (tokens.unknown) {
      pairs.push([`Unknown tokens (${tokens.unknown.token})`, `${numbers.format(tokens.unknown.count)} (${percent.format(tokens.unknown.rate)})`]);
    }
    fillTable($('tokens-summary'), pairs);
    $('top-tokens').tBodies[0].replaceChildren(
      ...tokens.top_tokens.map((t, i) => row([i + 1, element('code', visibleToken(t.token ?? `#${t.id}`)), numbers.format(t.count)])),
    );
  }
  $('results').hidden = false;
  $('results').scrollIntoView({ behavior: 'smooth', block: 'start' });
}

// --- start -----------------------------------------------------------------------------------------

async function main() {
  $('notice-close').addEventListener('click', clearNotice);
  let allowed;
  try {
    allowed = await startSession();
  } catch (error) {
    showNotice(error.message);
    return;
  }
  if (!allowed) {
    $('locked').hidden = false;
    return;
  }
  $('app').hidden = false;

  $('corpus-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const added = await upload('/datasets', $('corpus-file'), $('corpus-status'), 'corpus');
    if (added) await loadDatasets(added.id);
  });
  $('tokenizer-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const added = await upload('/tokenizers', $('tokenizer-file'), $('tokenizer-status'), 'tokenizer.json');
    if (added) await loadTokenizers(added.id);
  });
  $('pick-corpus').addEventListener('change', showFields);
  $('inspect-form').addEventListener('submit', startInspection);
  $('cancel').addEventListener('click', cancelInspection);

  try {
    await Promise.all([loadDatasets(), loadTokenizers(), loadHistory()]);
    // An inspection still running from before this page opened: follow it.
    const running = (await api('/jobs')).jobs.find((job) => ACTIVE.has(job.status));
    if (running) follow(running);
  } catch (error) {
    showNotice(error.message);
  }
}

main();
