// "About this computer": the engine's variant, Python, torch and compute device, the shell's
// machine probe and choice of engine, a button that measures the device's speed, and where the
// user's data lives and how much space each part takes; and getting help: the diagnostics zip and
// a link to the app's logs.
import { useCallback, useEffect, useState } from 'react';
import { api } from '../../api/client';
import { inDesktopShell, openDataFolder, removeOldEngines, setComputeEngine, type ComputeSetting } from '../../desktop';
import { messageOf } from '../../api/errors';
import type { ClearedCaches, ComputeCheck, StorageInfo, SystemInfo } from '../../api/types';
import { ConfirmedAction } from '../../components/ConfirmedAction';
import { ErrorMessage } from '../../components/ErrorMessage';
import { ExportDiagnostics } from '../../components/ExportDiagnostics';
import { formatBytes, formatDuration } from '../../format';
import { readChoice, readProbe, type Gpu } from './machine';

const DEVICE_LABELS: Record<string, string> = { cpu: 'CPU', cuda: 'NVIDIA GPU (CUDA)', mps: 'Apple GPU (MPS)' };
const PROFILE_LABELS: Record<string, string> = { base: 'Standard', torch: 'With PyTorch' };

function deviceLabel(kind: string): string {
  return DEVICE_LABELS[kind] ?? kind;
}

export function formatGflops(gflops: number): string {
  return gflops >= 100 ? Math.round(gflops).toLocaleString('en-US') : gflops.toFixed(1);
}

type Row = [label: string, value: string, testId?: string];

function Facts({ rows, testId }: { rows: Row[]; testId: string }) {
  return (
    <dl className="facts" data-testid={testId}>
      {rows.map(([label, value, id]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd data-testid={id}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function engineRows(info: SystemInfo): Row[] {
  const { runtime, python, torch } = info;
  const rows: Row[] = [
    ['Engine version', runtime.version, 'engine-version'],
    [
      'Engine variant',
      `${PROFILE_LABELS[runtime.profile] ?? runtime.profile}, for ${deviceLabel(runtime.accelerator)}`,
      'engine-variant',
    ],
    ['Platform', runtime.target ?? 'unknown'],
    ['Installed from', runtime.source === 'runtime' ? 'the verified runtime' : 'a development checkout'],
    ['Python', `${python.implementation} ${python.version}`, 'python-version'],
  ];
  if (torch) {
    const builds = [torch.cuda ? `CUDA ${torch.cuda}` : null, torch.mps_built ? 'MPS' : null].filter(Boolean);
    rows.push(['PyTorch', builds.length ? `${torch.version} (${builds.join(', ')})` : torch.version, 'torch']);
  } else {
    rows.push(['PyTorch', 'not included in this engine', 'torch']);
  }
  return rows;
}

function gpuText(gpu: Gpu): string {
  const name = [gpu.vendor, gpu.name].filter(Boolean).join(' ') || 'GPU';
  const details = [
    gpu.driverVersion ? `driver ${gpu.driverVersion}` : null,
    gpu.computeCapability ? `compute capability ${gpu.computeCapability}` : null,
    gpu.memoryBytes !== null ? `${formatBytes(gpu.memoryBytes)} memory` : null,
  ].filter(Boolean);
  return details.length ? `${name} (${details.join(', ')})` : name;
}

function MachineCard({ machine }: { machine: SystemInfo['machine'] }) {
  const probe = readProbe(machine);
  const choice = readChoice(machine);
  if (!probe && !choice) {
    return (
      <section className="card" aria-labelledby="machine-title">
        <h2 id="machine-title">This computer</h2>
        <p className="muted" data-testid="no-machine-probe">
          The app has not recorded what this computer has; it does when it starts the engine.
        </p>
      </section>
    );
  }
  const rows: Row[] = [];
  if (probe) {
    const os = [probe.osKind, probe.osVersion].filter(Boolean).join(' ');
    if (os) rows.push(['Operating system', os, 'machine-os']);
    if (probe.arch) rows.push(['Architecture', probe.emulated ? `${probe.arch} (emulated)` : probe.arch]);
    const cpuDetails = [
      probe.cpuCores !== null ? `${probe.cpuCores} cores` : null,
      probe.cpuLevel,
    ].filter(Boolean);
    if (probe.cpuName || cpuDetails.length) {
      const name = probe.cpuName ?? 'CPU';
      rows.push(['Processor', cpuDetails.length ? `${name} (${cpuDetails.join(', ')})` : name, 'machine-cpu']);
    }
    if (probe.ramBytes !== null) rows.push(['Memory', formatBytes(probe.ramBytes), 'machine-ram']);
    if (probe.freeDiskBytes !== null) rows.push(['Free disk space', formatBytes(probe.freeDiskBytes)]);
    if (probe.appleSilicon !== null) rows.push(['Apple silicon', probe.appleSilicon ? 'yes' : 'no']);
  }
  return (
    <section className="card" aria-labelledby="machine-title">
      <h2 id="machine-title">This computer</h2>
      {rows.length > 0 && <Facts rows={rows} testId="machine-facts" />}
      {probe && (
        <>
          <h3>Graphics</h3>
          {probe.gpus.length === 0 ? (
            <p className="muted">No GPU found.</p>
          ) : (
            <ul data-testid="machine-gpus">
              {probe.gpus.map((gpu, index) => (
                <li key={index}>{gpuText(gpu)}</li>
              ))}
            </ul>
          )}
        </>
      )}
      {choice && (
        <>
          <h3>The engine the app chose</h3>
          <Facts
            testId="machine-choice"
            rows={[
              ['Engine', choice.variant ?? '—'],
              ['Device', choice.device ? deviceLabel(choice.device) : '—'],
              ['Why', choice.reason ?? '—'],
            ]}
          />
        </>
      )}
    </section>
  );
}

function ComputeCard({ info }: { info: SystemInfo }) {
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<ComputeCheck | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async () => {
    setRunning(true);
    setError(null);
    try {
      setResult(await api.computeCheck());
    } catch (err) {
      setResult(null);
      setError(messageOf(err));
    } finally {
      setRunning(false);
    }
  };

  const where = info.device.kind === 'cpu' ? info.device.name : `${info.device.name} (${deviceLabel(info.device.kind)})`;
  return (
    <section className="card" aria-labelledby="compute-title">
      <h2 id="compute-title">Compute speed</h2>
      <p className="muted">Multiplies two large matrices a few times on the engine&apos;s device; takes a few seconds at most.</p>
      <div className="actions">
        <button type="button" className="button primary" onClick={run} disabled={running} data-testid="check-compute">
          {running ? 'Checking…' : 'Check compute'}
        </button>
      </div>
      {result?.ok && result.gflops !== null && (
        <p className="compute-result" role="status" data-testid="compute-result">
          {formatGflops(result.gflops)} GFLOP/s on {where}
          <span className="muted small">
            {' '}
            ({result.size}×{result.size} matrices, {formatDuration(result.seconds)})
          </span>
        </p>
      )}
      <ErrorMessage message={result && !result.ok ? result.message : error} testId="compute-error" />
    </section>
  );
}

const SETTINGS: [ComputeSetting, string][] = [
  ['auto', 'GPU when usable'],
  ['gpu', 'GPU engine'],
  ['cpu', 'CPU engine'],
];

/** The shell's GPU/CPU setting: only in the desktop app, and only for an engine with torch. */
function EngineChoiceCard({ info }: { info: SystemInfo }) {
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!inDesktopShell() || info.runtime.profile !== 'torch') return null;

  const choose = async (device: ComputeSetting) => {
    setBusy(true);
    setError(null);
    try {
      setSaid(await setComputeEngine(device));
    } catch (err) {
      setSaid(null);
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="engine-choice-title" data-testid="engine-choice">
      <h2 id="engine-choice-title">GPU or CPU</h2>
      <p className="muted">
        The GPU engine is faster where a supported GPU works; the CPU engine runs on any computer. A switch downloads
        the other engine in the background and takes effect at the next start.
      </p>
      <div className="actions">
        {SETTINGS.map(([device, label]) => (
          <button
            key={device}
            type="button"
            className="button"
            disabled={busy}
            onClick={() => void choose(device)}
            data-testid={`engine-choice-${device}`}
          >
            {label}
          </button>
        ))}
      </div>
      {said && (
        <p role="status" data-testid="engine-choice-said">
          {said}
        </p>
      )}
      <ErrorMessage message={error} testId="engine-choice-error" />
    </section>
  );
}

// Clearing the caches, behind a confirm step as deleting a job is: what goes cannot be undone,
// though all of it is made again when needed. The engine refuses while a training runs.
/** The desktop app's "Remove old engines": the engine kept for going back after an update. */
function RemoveOldEngines({ onRemoved }: { onRemoved: () => void }) {
  return (
    <ConfirmedAction
      label="Remove old engines"
      prompt="Remove the previous engine and kept downloads? The engine in use stays; without the previous one the app cannot go back to it after an update."
      confirmLabel="Really remove"
      busyLabel="Removing…"
      testId="remove-old-engines"
      run={removeOldEngines}
      said={(sentence) => <p>{sentence}</p>}
      onDone={onRemoved}
    />
  );
}

function ClearCaches({ onCleared }: { onCleared: () => void }) {
  return (
    <ConfirmedAction
      label="Clear caches"
      prompt="Remove the caches and old temporary files? Datasets, tokenizers, history and logs stay."
      confirmLabel="Really clear"
      busyLabel="Clearing…"
      testId="clear-caches"
      run={api.clearCaches}
      said={(cleared: ClearedCaches) => (
        <>
          <p>
            {cleared.removed_files === 0
              ? 'Nothing to clear: the caches were already empty.'
              : `Freed ${formatBytes(cleared.freed_bytes)}.`}
          </p>
          {cleared.skipped.map((sentence) => (
            <p key={sentence} className="muted small">
              {sentence}
            </p>
          ))}
        </>
      )}
      onDone={onCleared}
    />
  );
}

function StorageCard() {
  const [storage, setStorage] = useState<StorageInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    api
      .getStorage()
      .then(setStorage)
      .catch((err: unknown) => setError(messageOf(err)));
  }, []);

  useEffect(load, [load]);

  return (
    <section className="card" aria-labelledby="storage-title" data-testid="storage">
      <h2 id="storage-title">Your data on this computer</h2>
      <ErrorMessage message={error} testId="storage-error" />
      {storage && (
        <>
          <p className="muted">
            Everything the app keeps is in <code data-testid="storage-data-dir">{storage.data_dir}</code>;{' '}
            {formatBytes(storage.free_bytes)} of {formatBytes(storage.total_bytes)} free on that drive.
          </p>
          {inDesktopShell() && (
            <p>
              <button
                type="button"
                className="button"
                data-testid="open-data-folder"
                onClick={() => openDataFolder().catch((err: unknown) => setError(messageOf(err)))}
              >
                Open folder
              </button>
            </p>
          )}
          <table className="table compact">
            <thead>
              <tr>
                <th scope="col">What</th>
                <th scope="col" className="num">
                  Size
                </th>
                <th scope="col" className="num">
                  Files
                </th>
                <th scope="col">Folder</th>
              </tr>
            </thead>
            <tbody>
              {storage.parts.map((part) => (
                <tr key={part.id} data-testid="storage-part" data-part={part.id}>
                  <th scope="row">{part.label}</th>
                  <td className="num" data-testid="storage-bytes">
                    {formatBytes(part.bytes)}
                  </td>
                  <td className="num">{part.files.toLocaleString('en-US')}</td>
                  <td className="muted small">{part.path}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <ClearCaches onCleared={load} />
          {inDesktopShell() && <RemoveOldEngines onRemoved={load} />}
        </>
      )}
    </section>
  );
}

function HelpCard({ onOpenLogs }: { onOpenLogs: () => void }) {
  return (
    <section className="card" aria-labelledby="help-title" data-testid="get-help">
      <h2 id="help-title">Getting help</h2>
      <p className="muted">
        When something goes wrong, the diagnostics zip tells whoever helps you what happened: the app's and the
        engine's logs, this computer's facts and the state of your recent training jobs. It leaves out your files,
        their names and contents, your trained tokenizers and the app's access codes, and it is sent nowhere: you
        choose where it goes.
      </p>
      <ExportDiagnostics primary />
      <p>
        <button type="button" className="link-button" onClick={onOpenLogs} data-testid="open-logs">
          View the app&apos;s logs
        </button>
      </p>
    </section>
  );
}

export function AboutScreen({ onOpenLogs }: { onOpenLogs: () => void }) {
  const [info, setInfo] = useState<SystemInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setInfo(await api.getSystem());
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <div className="screen" data-testid="about-screen">
      <div className="screen-head">
        <h1>About this computer</h1>
      </div>
      <ErrorMessage message={error} />
      {info === null && !error && (
        <p className="muted" role="status">
          Loading… (the first time can take a few seconds while the engine loads its libraries)
        </p>
      )}
      {info && (
        <>
          <section className="card" aria-labelledby="engine-title">
            <h2 id="engine-title">Engine</h2>
            <Facts rows={engineRows(info)} testId="engine-facts" />
          </section>
          <section className="card" aria-labelledby="device-title">
            <h2 id="device-title">Compute device</h2>
            <Facts
              testId="device-facts"
              rows={[
                ['Device', deviceLabel(info.device.kind), 'device-kind'],
                ['Name', info.device.name, 'device-name'],
                [
                  'Check',
                  info.device.check.ok
                    ? `passed (${formatDuration(info.device.check.seconds)})`
                    : 'failed',
                  'device-check',
                ],
              ]}
            />
            <ErrorMessage message={info.device.check.ok ? null : info.device.check.message} testId="device-check-error" />
          </section>
          <ComputeCard info={info} />
          <EngineChoiceCard info={info} />
          <MachineCard machine={info.machine} />
          <StorageCard />
        </>
      )}
      <HelpCard onOpenLogs={onOpenLogs} />
    </div>
  );
}
