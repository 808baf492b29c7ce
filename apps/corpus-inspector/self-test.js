// Corpus Inspector's steps of the installed app's self-test (`<app> --self-test`): the shell
// injects them into the engine's page with its harness (shell/src/self_test.js), which gives
// `call` (the engine's API with the UI's session), `record`, `step` and `sleep`. They do what a
// user's first inspection does: add a corpus and a tokenizer, inspect, read the result, and
// remove what they added. They never touch the DOM the user sees.
async ({ call, record, step, sleep }) => {
  // The UI rendered and traded the launch code for its session cookie.
  for (let i = 0; ; i += 1) {
    const app = document.getElementById('app');
    const session = app && !app.hidden ? (await call('GET', '/session')).json() : null;
    if (session && session.authenticated) break;
    if (i > 600) throw new Error('the UI did not render and open its session within 60 s');
    await sleep(100);
  }
  record('ui', { title: document.title });

  step('upload');
  // 300 texts of 4 words from a vocabulary of 6: every count below is known in advance.
  const words = ['alpha', 'beta', 'gamma', 'delta', 'corpus', 'inspector'];
  const lines = [];
  for (let i = 0; i < 300; i += 1) {
    lines.push([0, 1, 2, 3].map((k) => words[(i + k * 5) % words.length]).join(' '));
  }
  const corpusForm = new FormData();
  corpusForm.append('file', new File([lines.join('\n') + '\n'], 'self-test-corpus.txt', { type: 'text/plain' }));
  const dataset = (await call('POST', '/datasets', corpusForm, true)).json();
  // A word-level tokenizer that knows all the words but "inspector": those become unknown.
  const vocab = { '[UNK]': 0 };
  words.filter((w) => w !== 'inspector').forEach((w, i) => (vocab[w] = i + 1));
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
  };
  const tokenizerForm = new FormData();
  tokenizerForm.append('file', new File([JSON.stringify(tokenizerJson)], 'tokenizer.json', { type: 'application/json' }));
  const tokenizer = (await call('POST', '/tokenizers', tokenizerForm, true)).json();
  record('upload', { dataset: dataset.id, records: dataset.records, tokenizer: tokenizer.id });

  step('inspect');
  const job = (await call('POST', '/jobs', { dataset_id: dataset.id, tokenizer_id: tokenizer.id })).json();
  let state = job;
  for (let i = 0; !['succeeded', 'failed', 'cancelled', 'interrupted'].includes(state.status); i += 1) {
    if (i > 1200) throw new Error(`inspection ${job.id} still ${state.status} after 120 s`);
    await sleep(100);
    state = (await call('GET', `/jobs/${job.id}`)).json();
  }
  if (state.status !== 'succeeded') {
    throw new Error(`inspection ${job.id} ended ${state.status}: ${state.error ?? 'no error message'}`);
  }
  record('inspect', { job: job.id });

  step('result');
  const result = (await call('GET', `/jobs/${job.id}/result`)).json();
  const unknown = lines.join(' ').split(' ').filter((w) => w === 'inspector').length;
  const expected = { documents: 300, words: 1200, tokens: 1200, unknown };
  const got = {
    documents: result.documents,
    words: result.words,
    tokens: result.tokens && result.tokens.total,
    unknown: result.tokens && result.tokens.unknown && result.tokens.unknown.count,
  };
  if (JSON.stringify(got) !== JSON.stringify(expected)) {
    throw new Error(`the inspection counted ${JSON.stringify(got)}, not ${JSON.stringify(expected)}`);
  }
  record('result', got);

  step('clean up');
  await call('DELETE', `/jobs/${job.id}`);
  await call('DELETE', `/datasets/${dataset.id}`);
  await call('DELETE', `/tokenizers/${tokenizer.id}`);
  record('clean up', null);
}
