/**
 * The forwarding loop of the I/O thread: take encoded items from a local queue as they come and
 * hand each to `emit` (a frame toward another process, a socket), together with whatever else has
 * piled up meanwhile, so that a burst goes out in one write.
 *
 * @module
 */
import type { RawItem } from '@tandem/queue/kit'

/** Items taken after the first before the loop yields to the event loop again. */
const BATCH = 1024

/** Where `forward` takes items from. */
export interface RawSource {
  /** Waits for the next item; rejects at the end of the stream or on abort. */
  next(signal: AbortSignal): Promise<RawItem>
  /** The next item if one is waiting. */
  take(): RawItem | undefined
}

/** The loops running in this thread, for {@link drainAll}. */
const running = new Set<{ source: Pick<RawSource, 'take'>; emit: (raw: RawItem) => void; flush?: () => void }>()

/** Lists a forwarding loop of another shape for {@link drainAll}; returns its removal. */
export function track(source: Pick<RawSource, 'take'>, emit: (raw: RawItem) => void): () => void {
  const loop = { source, emit }
  running.add(loop)
  return () => running.delete(loop)
}

/**
 * Forwards until the source ends (or `emit` throws): resolves true then, false once aborted.
 * `flush`, if given, is called after each burst (an `emit` that gathers items sends them there).
 */
export async function forward(source: RawSource, signal: AbortSignal, emit: (raw: RawItem) => void, flush?: () => void): Promise<boolean> {
  const loop = { source, emit, flush }
  running.add(loop)
  try {
    for (;;) {
      try {
        emit(await source.next(signal))
        for (let i = 0; i < BATCH; i++) {
          const more = source.take()
          if (more === undefined) break
          emit(more)
        }
        flush?.()
      } catch {
        return !signal.aborted
      }
    }
  } finally {
    running.delete(loop)
  }
}

/**
 * Emits, now, every item waiting in every loop's source (a flush before the process exits: a
 * loop's own wake-up may not come in time). Call it at the start of a turn of the event loop (from
 * a `setImmediate` callback), never from a promise continuation: a loop emits an item in the same
 * turn it takes it, so only then is no taken item still waiting to be emitted (order is kept).
 */
export function drainAll(): void {
  for (const { source, emit, flush } of running) {
    try {
      for (let more = source.take(); more !== undefined; more = source.take()) emit(more)
      flush?.()
    } catch {
      // The loop itself sees the same failure and ends.
    }
  }
}
