// The installed app's self-test, injected by the shell into the engine's page when it runs with
// `--self-test` (shell/src/self_test.rs). It runs inside the window, on the UI's origin, with the
// session the UI itself opened from its launch code: it waits for the UI to render, then does
// what a user's first training does over the same HTTP API (upload a corpus, train a small BPE,
// download the tokenizer), checks the tokenizer, and hands a report to the shell through the
// IPC bridge. It never touches the DOM the user sees.
(async () => {
  const COMMAND = '__COMMAND__';
  const started = performance.now();
  const steps = [];
  let current = 'ui';
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const record = (name, detail) =>
    steps.push({ name, ms: Math.round(performance.now() - started), detail: detail ?? null });
  const call = async (method, path, body, isForm) => {
    const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.body = isForm ? body : JSON.stringify(body);
      if (!isForm) init.headers['Content-Type'] = 'application/json';
    }
    const response = await fetch('/api/v1' + path, init);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} /api/v1${path} answered ${response.status}: ${text.slice(0, 400)}`);
    return { text, json: () => JSON.parse(text) };
  };
  const report = (result) =>
    window.__TAURI_INTERNALS__.invoke(COMMAND, {
      report: { ...result, steps, ms: Math.round(performance.now() - started) },
    });
  try {
    // The UI rendered its navigation and traded the launch code for its session cookie.
    for (let i = 0; ; i += 1) {
      const rendered = document.querySelector('[data-testid="nav-jobs"]') !== null;
      const session = rendered ? (await call('GET', '/session')).json() : null;
      if (session && session.authenticated) break;
      if (i > 600) throw new Error('the UI did not render and open its session within 60 s');
      await sleep(100);
    }
    record('ui', { title: document.title });

    current = 'engine';
    const system = (await call('GET', '/system')).json();
    record('engine', {
      runtime: system.runtime ?? null,
      python: system.python ?? null,
      device: system.device ?? null,
    });

    current = 'upload';
    const words = ['alpha', 'beta', 'gamma', 'delta', 'tokenizer', 'studio', 'self', 'test', 'window'];
    const lines = [];
    for (let i = 0; i < 400; i += 1) {
      lines.push(`${words[i % words.length]} ${words[(i * 7) % words.length]} line ${i} ${words[(i * 3) % words.length]}s`);
    }
    const form = new FormData();
    form.append('file', new File([lines.join('\n') + '\n'], 'self-test-corpus.txt', { type: 'text/plain' }));
    const dataset = (await call('POST', '/datasets', form, true)).json();
    record('upload', { dataset: dataset.id, rows: dataset.n_rows ?? null });

    current = 'train';
    const job = (
      await call('POST', '/jobs', {
        name: 'self-test',
        template: 'gpt2-byte-bpe',
        dataset_ids: [dataset.id],
        overrides: { vocab_size: 300, min_frequency: 1 },
      })
    ).json();
    let state = job;
    for (let i = 0; !['succeeded', 'failed', 'cancelled', 'interrupted'].includes(state.status); i += 1) {
      if (i > 1800) throw new Error(`job ${job.id} still ${state.status} after 180 s`);
      await sleep(100);
      state = (await call('GET', `/jobs/${job.id}`)).json();
    }
    if (state.status !== 'succeeded') {
      throw new Error(`job ${job.id} ended ${state.status}: ${state.error ?? 'no error message'}`);
    }
    record('train', { job: job.id });

    current = 'artifact';
    const artifact = await call('GET', `/jobs/${job.id}/artifact`);
    const tokenizer = artifact.json();
    const model = tokenizer.model ?? {};
    const vocab = Object.keys(model.vocab ?? {}).length;
    if (model.type !== 'BPE' || vocab < 256 || vocab > 300) {
      throw new Error(`the tokenizer is not a BPE of 256..300 tokens: type ${model.type}, ${vocab} tokens`);
    }
    const encoded = (await call('POST', `/jobs/${job.id}/try`, { text: 'tokenizer studio self test' })).json();
    record('artifact', { bytes: artifact.text.length, model: model.type, vocab, try: encoded });
    await report({ ok: true });
  } catch (error) {
    try {
      await report({ ok: false, step: current, message: String((error && error.message) || error) });
    } catch (_) {
      // The IPC bridge itself failed: the shell's time limit reports it.
    }
  }
})();
