/**
 * Per-thread completion mailboxes: how a thread learns that futures completed by other threads
 * are done without one `Atomics.waitAsync` per future.
 *
 * A thread that watches a future (awaits it, adds a done callback, waits on several) writes its
 * mailbox into the future's WATCH word (first watcher wins; a future watched by a second thread
 * falls back to waiting on the future's own state word). The completing thread posts the
 * future's cell offset to that mailbox: a bounded multi-producer ring in the arena, drained by
 * the owner. One `Atomics.waitAsync` (or one blocking `Atomics.wait`) on the mailbox bell covers
 * every watched future.
 *
 * Mailbox layout (Int32 words): TAIL (next slot to claim, CAS by producers), HEAD (next slot to
 * read, owner only), SLEEPERS (owner's waiters on BELL), BELL (bumped to wake the owner),
 * OVERFLOW (set by a producer that found the ring full: the owner rescans what it watches), CAP,
 * then CAP slots holding cell offsets (0 = empty).
 *
 * Posting after FINISHED is stored and registering before re-reading the state (both
 * sequentially consistent) means a completion is always seen by one side; both may see it, so
 * delivery is idempotent (a watch is dropped once it has been noticed). A slot may name a
 * future no longer watched (or a reused cell): delivery checks the watch list and the state.
 *
 * Mailboxes are never freed (a producer may hold a stale box offset); one is allocated per
 * thread that watches futures.
 *
 * @module
 */
import { alloc, beforeBlocking, holdLoop, int32At, releaseLoop, remaining } from '@tandem/sync/kit'
import { isMainThread } from 'node:worker_threads'
import { isDone, STATE, WATCH } from './cell-layout.ts'

const TAIL = 0
const HEAD = 1
const SLEEPERS = 2
const BELL = 3
const OVERFLOW = 4
const CAP = 5
const SLOTS = 8

/** A registration of interest in one future cell, owned by this thread. */
export interface Watch {
  /** The future's cell. */
  readonly cell: Int32Array
  /** Called once, in this thread, after the future is seen done. */
  notice(): void
  /** Keeps the event loop alive while registered (an awaiter), or not (a done callback). */
  strong: boolean
  /** Set while registered. */
  active: boolean
  /** Which states count as done for this watch. @default cancelled or finished */
  readonly until?: (state: number) => boolean
}

const boxes = new Map<number, Int32Array>()
let mine: Int32Array | undefined
const watched = new Map<number, Watch | Watch[]>()
let asyncWatches = 0
let strong = 0
let consuming = false
let noticed = 0

function boxAt(at: number): Int32Array {
  let b = boxes.get(at)
  if (b === undefined) {
    const cap = int32At(at, SLOTS)[CAP]!
    b = int32At(at, SLOTS + cap)
    boxes.set(at, b)
  }
  return b
}

/** This thread's mailbox (allocated on first use). */
function myBox(): Int32Array {
  if (mine === undefined) {
    const cap = isMainThread ? 1 << 15 : 1 << 10
    const at = alloc((SLOTS + cap) * 4)
    const b = int32At(at, SLOTS + cap)
    b[CAP] = cap
    boxes.set(at, b)
    mine = b
  }
  return mine
}

/** Posts the cell at `cellAt` to the mailbox at `box` (any thread). */
export function post(box: number, cellAt: number): void {
  const b = boxAt(box)
  const cap = b[CAP]!
  for (;;) {
    const t = Atomics.load(b, TAIL)
    if (((t - Atomics.load(b, HEAD)) | 0) >= cap) {
      Atomics.store(b, OVERFLOW, 1)
      break
    }
    if (Atomics.compareExchange(b, TAIL, t, (t + 1) | 0) === t) {
      Atomics.store(b, SLOTS + (t & (cap - 1)), cellAt)
      break
    }
  }
  if (Atomics.load(b, SLEEPERS) !== 0) {
    Atomics.add(b, BELL, 1)
    Atomics.notify(b, BELL)
  }
}

function removeWatch(w: Watch): void {
  if (!w.active) return
  w.active = false
  const at = w.cell.byteOffset
  const e = watched.get(at)
  if (e === w) watched.delete(at)
  else if (Array.isArray(e)) {
    const i = e.indexOf(w)
    if (i >= 0) e.splice(i, 1)
    if (e.length === 1) watched.set(at, e[0]!)
    else if (e.length === 0) watched.delete(at)
  }
  if (w.strong) {
    if (--strong === 0) releaseLoop()
  }
  asyncWatches--
}

/**
 * Registers `w`. Returns 'watching' (its `notice` runs once the future is seen done: from the
 * event loop, or from a blocking {@link waitForPosts} in this thread), 'done' (it already is:
 * not registered) or 'foreign' (another thread watches this future: not registered).
 */
export function watch(w: Watch): 'watching' | 'done' | 'foreign' {
  const c = w.cell
  const until = w.until ?? isDone
  if (until(Atomics.load(c, STATE))) return 'done'
  const box = myBox().byteOffset
  const prev = Atomics.compareExchange(c, WATCH, 0, box)
  if (prev !== 0 && prev !== box) return 'foreign'
  if (until(Atomics.load(c, STATE))) return 'done'
  const at = c.byteOffset
  const e = watched.get(at)
  if (e === undefined) watched.set(at, w)
  else if (Array.isArray(e)) e.push(w)
  else watched.set(at, [e, w])
  w.active = true
  asyncWatches++
  if (w.strong && strong++ === 0) holdLoop()
  if (!consuming) void consume()
  return 'watching'
}

/** Makes a registered watch keep the event loop alive. */
export function strengthen(w: Watch): void {
  if (!w.active || w.strong) return
  w.strong = true
  if (strong++ === 0) holdLoop()
}

/** Stops a registered watch from keeping the event loop alive. */
export function weaken(w: Watch): void {
  if (!w.active || !w.strong) return
  w.strong = false
  if (--strong === 0) releaseLoop()
}

/** Drops a registration (its `notice` will not run). */
export function unwatch(w: Watch): void {
  removeWatch(w)
}

function deliver(at: number): void {
  const e = watched.get(at)
  if (e === undefined) return
  const list = Array.isArray(e) ? e.slice() : [e]
  for (const w of list) {
    if (!(w.until ?? isDone)(Atomics.load(w.cell, STATE))) continue
    removeWatch(w)
    noticed++
    w.notice()
  }
}

/**
 * Reads every posted completion of this thread's mailbox and runs the watches' notices.
 * @returns how many notices ran
 */
export function drain(): number {
  const b = mine
  if (b === undefined) return 0
  const before = noticed
  const cap = b[CAP]!
  let h = b[HEAD]!
  for (;;) {
    const i = SLOTS + (h & (cap - 1))
    const at = Atomics.load(b, i)
    if (at === 0) break
    b[i] = 0
    h = (h + 1) | 0
    Atomics.store(b, HEAD, h)
    deliver(at)
  }
  if (Atomics.load(b, OVERFLOW) !== 0 && Atomics.exchange(b, OVERFLOW, 0) !== 0) {
    for (const at of [...watched.keys()]) deliver(at)
  }
  return noticed - before
}

function pending(b: Int32Array): boolean {
  const cap = b[CAP]!
  return Atomics.load(b, SLOTS + (b[HEAD]! & (cap - 1))) !== 0 || Atomics.load(b, OVERFLOW) !== 0
}

async function consume(): Promise<void> {
  consuming = true
  const b = myBox()
  try {
    while (asyncWatches > 0) {
      drain()
      if (asyncWatches === 0) break
      const bell = Atomics.load(b, BELL)
      Atomics.add(b, SLEEPERS, 1)
      try {
        if (pending(b)) continue
        const r = Atomics.waitAsync(b, BELL, bell)
        if (r.async) await r.value
      } finally {
        Atomics.sub(b, SLEEPERS, 1)
      }
    }
  } finally {
    consuming = false
  }
}

/**
 * Blocks this thread until something is posted to its mailbox, `deadline` passes or `sliceMs`
 * elapses, then drains it (running notices). Returns at once if a drain before sleeping ran
 * notices.
 * @param onSlice run when the sleep ended by its time limit, before the drain (a check whose
 *   outcome it may post, see worker-liveness.ts)
 * @returns false if the deadline passed
 */
export function waitForPosts(deadline: number, sliceMs = Infinity, onSlice?: () => void): boolean {
  const b = myBox()
  // Completions posted since the caller last looked: report them instead of sleeping.
  if (drain() > 0) return true
  const bell = Atomics.load(b, BELL)
  Atomics.add(b, SLEEPERS, 1)
  try {
    if (!pending(b)) {
      const t = Math.min(remaining(deadline), sliceMs)
      if (t === 0) return false
      beforeBlocking()
      if (Atomics.wait(b, BELL, bell, t) === 'timed-out') onSlice?.()
    }
  } finally {
    Atomics.sub(b, SLEEPERS, 1)
  }
  drain()
  return true
}
