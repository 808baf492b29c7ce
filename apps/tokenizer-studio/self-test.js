// Tokenizer Studio's steps of the installed app's self-test (`<app> --self-test`): the shell
// injects them into the engine's page with its harness (shell/src/self_test.js), which gives
// `call` (the engine's API with the UI's session), `record`, `step` and `sleep`. They do what a
// user's first training does: upload a corpus, train a small BPE, download and try the
// tokenizer. They never touch the DOM the user sees.
async ({ call, record, step, sleep }) => {
  // The UI rendered its navigation and traded the launch code for its session cookie.
  for (let i = 0; ; i += 1) {
    const rendered = document.querySelector('[data-testid="nav-jobs"]') !== null;
    const session = rendered ? (await call('GET', '/session')).json() : null;
    if (session && session.authenticated) break;
    if (i > 600) throw new Error('the UI did not render and open its session within 60 s');
    await sleep(100);
  }
  record('ui', { title: document.title });

  step('engine');
  const system = (await call('GET', '/system')).json();
  record('engine', {
    runtime: system.runtime ?? null,
    python: system.python ?? null,
    device: system.device ?? null,
  });

  step('upload');
  const words = ['alpha', 'beta', 'gamma', 'delta', 'tokenizer', 'studio', 'self', 'test', 'window'];
  const lines = [];
  for (let i = 0; i < 400; i += 1) {
    lines.push(`${words[i % words.length]} ${words[(i * 7) % words.length]} line ${i} ${words[(i * 3) % words.length]}s`);
  }
  const form = new FormData();
  form.append('file', new File([lines.join('\n') + '\n'], 'self-test-corpus.txt', { type: 'text/plain' }));
  const dataset = (await call('POST', '/datasets', form, true)).json();
  record('upload', { dataset: dataset.id, rows: dataset.n_rows ?? null });

  step('train');
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

  step('artifact');
  const artifact = await call('GET', `/jobs/${job.id}/artifact`);
  const tokenizer = artifact.json();
  const model = tokenizer.model ?? {};
  const vocab = Object.keys(model.vocab ?? {}).length;
  if (model.type !== 'BPE' || vocab < 256 || vocab > 300) {
    throw new Error(`the tokenizer is not a BPE of 256..300 tokens: type ${model.type}, ${vocab} tokens`);
  }
  const encoded = (await call('POST', `/jobs/${job.id}/try`, { text: 'tokenizer studio self test' })).json();
  record('artifact', { bytes: artifact.text.length, model: model.type, vocab, try: encoded });
}
