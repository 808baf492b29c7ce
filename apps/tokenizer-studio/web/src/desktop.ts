// The desktop shell bridge: present only when the UI runs inside the Tauri window.

interface TauriInternals {
  invoke: (command: string, args?: Record<string, unknown>) => Promise<unknown>;
}

function internals(): TauriInternals | undefined {
  return (window as unknown as { __TAURI_INTERNALS__?: TauriInternals }).__TAURI_INTERNALS__;
}

/** Whether the page runs inside the Tokenizer Studio desktop shell. */
export function inDesktopShell(): boolean {
  return internals() !== undefined;
}

/** The GPU/CPU engine setting the shell keeps. */
export type ComputeSetting = 'auto' | 'gpu' | 'cpu';

/**
 * Asks the shell to switch between the GPU and CPU engines (the shell checks the caller, saves
 * the setting, and downloads the other engine in the background). Resolves to the sentence to
 * show.
 */
export async function setComputeEngine(device: ComputeSetting): Promise<string> {
  const bridge = internals();
  if (!bridge) throw new Error('Switching engines works only in the desktop app.');
  return String(await bridge.invoke('set_compute_engine', { device }));
}

/** Asks the shell to open the artifacts folder in the file manager (the shell checks the caller). */
export async function openArtifactsFolder(): Promise<void> {
  const bridge = internals();
  if (!bridge) throw new Error('Opening folders works only in the desktop app.');
  await bridge.invoke('open_artifacts_folder');
}

/** Asks the shell to open the data folder in the file manager (the shell checks the caller). */
export async function openDataFolder(): Promise<void> {
  const bridge = internals();
  if (!bridge) throw new Error('Opening folders works only in the desktop app.');
  await bridge.invoke('open_data_folder');
}

/**
 * Asks the shell to remove the previous engine and kept downloads (never the engine in use);
 * resolves to the sentence to show.
 */
export async function removeOldEngines(): Promise<string> {
  const bridge = internals();
  if (!bridge) throw new Error('Removing engines works only in the desktop app.');
  return String(await bridge.invoke('remove_old_engines'));
}
