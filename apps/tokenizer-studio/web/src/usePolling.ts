// Hook that runs an async task now and then again every `intervalMs` while `active` is true.
import { useEffect, useRef } from 'react';

export function usePolling(task: () => Promise<void>, intervalMs: number, active: boolean): void {
  const taskRef = useRef(task);
  useEffect(() => {
    taskRef.current = task;
  }, [task]);

  useEffect(() => {
    if (!active) return undefined;
    let cancelled = false;
    let timer: number | undefined;
    const tick = async () => {
      try {
        await taskRef.current();
      } catch {
        // The task shows its own errors; polling simply tries again on the next tick.
      }
      if (!cancelled) timer = window.setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      cancelled = true;
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [intervalMs, active]);
}
