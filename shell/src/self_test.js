// The installed app's self-test harness, injected by the shell into the engine's page when it runs
// with `--self-test` (shell/src/self_test.rs). It runs inside the window, on the UI's origin, with
// the session the UI itself opened from its launch code. The app's steps (its descriptor's
// `self_test` script, an async function the shell puts in place of the placeholder that
// `appSteps` is set to) wait for the UI and do
// what a user's first use does over the same HTTP API; this harness times them and hands a report
// to the shell through the IPC bridge.
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
  const step = (name) => {
    current = name;
  };
  const appSteps = __APP_STEPS__;
  try {
    await appSteps({ call, record, step, sleep });
    await report({ ok: true });
  } catch (error) {
    try {
      await report({ ok: false, step: current, message: String((error && error.message) || error) });
    } catch (_) {
      // The IPC bridge itself failed: the shell's time limit reports it.
    }
  }
})();
