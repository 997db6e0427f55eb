/**
 * Building blocks for the other Tandem packages (`@tandem/queue`, `@tandem/ipc`,
 * `@tandem/futures`): the process arena, the two wait drivers, the acquire algorithm hook and
 * argument checks. Not a user API: names here may change between minor versions.
 * @module
 */
export {
  alloc,
  release,
  retain,
  refCount,
  blocksInUse,
  int32At,
  arenaBuffer,
  arenaBytes,
  track,
  newCell,
  adoptCell,
  shareCell,
  reviveCell,
  groupRef,
  dropGroupedRef,
  RefGroup,
  GROUP_SIZE,
  type CellRef,
} from './internal/arena.ts'
export {
  runBlocking,
  runAsync,
  holdLoop,
  releaseLoop,
  setBlockingHook,
  beforeBlocking,
  op,
  deadlineOf,
  remaining,
  now,
  SPIN_LIMIT,
  ABORTED,
  _setStepHook,
  _advanceClock,
  type Waiter,
  type WaitOp,
  type WaitResult,
} from './internal/wait.ts'
export { ACQUIRE_GEN, TRY_ACQUIRE, CHECK_OWNER } from './internal/acquirable.ts'
export { describeRun, runDescribed, type RunDescription } from './internal/run-target.ts'
export { WORKER_OPTIONS } from './internal/spawn.ts'
export { processState, IPC_HUB, IPC_NEXT_PROCESS, IPC_NEXT_ID, IPC_NONDAEMON } from './internal/process-state.ts'
export { hasEnded, markEnded, deathCount, sweep, onThreadExit, SLICE_MS } from './internal/liveness.ts'
export { OwnerDiedError } from './errors.ts'
export { refuseModuleLoading } from './internal/module-loading.ts'
export {
  checkTimeout,
  checkInt,
  checkOptions,
  checkFunction,
  checkString,
  checkArray,
  checkStackSize,
  checkHeapLimits,
  asyncOptions,
  describe,
  type AsyncWaitOptions,
} from './internal/validate.ts'
export { SELF as THREAD_TOKEN } from './internal/ident.ts'
