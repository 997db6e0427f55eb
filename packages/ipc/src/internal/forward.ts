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

/**
 * Forwards until the source ends (or `emit` throws): resolves true then, false once aborted.
 */
export async function forward(source: RawSource, signal: AbortSignal, emit: (raw: RawItem) => void): Promise<boolean> {
  for (;;) {
    try {
      emit(await source.next(signal))
      for (let i = 0; i < BATCH; i++) {
        const more = source.take()
        if (more === undefined) break
        emit(more)
      }
    } catch {
      return !signal.aborted
    }
  }
}
