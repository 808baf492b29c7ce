// Reads the shell's machine probe (`machine` of GET /system), a free-form object: every key is
// optional and may be of any type, so each reader returns null for what it cannot use.

type Obj = Record<string, unknown>;

export function asObject(value: unknown): Obj | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : null;
}

export function asText(value: unknown): string | null {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

export function asNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function asBool(value: unknown): boolean | null {
  return typeof value === 'boolean' ? value : null;
}

export interface Gpu {
  vendor: string | null;
  name: string | null;
  driverVersion: string | null;
  computeCapability: string | null;
  memoryBytes: number | null;
}

export interface Probe {
  osKind: string | null;
  osVersion: string | null;
  arch: string | null;
  emulated: boolean | null;
  cpuName: string | null;
  cpuLevel: string | null;
  cpuCores: number | null;
  ramBytes: number | null;
  freeDiskBytes: number | null;
  gpus: Gpu[];
  appleSilicon: boolean | null;
}

export interface Choice {
  variant: string | null;
  device: string | null;
  reason: string | null;
}

export function readProbe(machine: Obj | null): Probe | null {
  const probe = asObject(machine?.probe);
  if (!probe) return null;
  const os = asObject(probe.os);
  const cpu = asObject(probe.cpu);
  const gpus = Array.isArray(probe.gpus) ? probe.gpus : [];
  return {
    osKind: asText(os?.kind),
    osVersion: asText(os?.version),
    arch: asText(probe.arch),
    emulated: asBool(probe.emulated),
    cpuName: asText(cpu?.name),
    cpuLevel: asText(cpu?.level),
    cpuCores: asNumber(cpu?.cores),
    ramBytes: asNumber(probe.ram_bytes),
    freeDiskBytes: asNumber(probe.free_disk_bytes),
    gpus: gpus.map(asObject).flatMap((gpu) =>
      gpu
        ? [
            {
              vendor: asText(gpu.vendor),
              name: asText(gpu.name),
              driverVersion: asText(gpu.driver_version),
              computeCapability: asText(gpu.compute_capability),
              memoryBytes: asNumber(gpu.memory_bytes),
            },
          ]
        : [],
    ),
    appleSilicon: asBool(probe.apple_silicon),
  };
}

export function readChoice(machine: Obj | null): Choice | null {
  const choice = asObject(machine?.choice);
  if (!choice) return null;
  const read = { variant: asText(choice.variant), device: asText(choice.device), reason: asText(choice.reason) };
  return read.variant || read.device || read.reason ? read : null;
}
