/**
 * `using` and `await using` inside task functions shipped by source (src/task.ts,
 * src/internal/transpiler-helpers.ts). Node 20 has no native `using`: tsx (esbuild) lowers it to
 * calls of `__using`/`__callDispose`, tsc to `__addDisposableResource`/`__disposeResources`,
 * helpers that live in the sender's module scope only. A shipped function must find them where
 * it is compiled, with the proposal's semantics (reverse order, SuppressedError).
 */
import test from 'ava'
import ts from 'typescript'
import { Lock } from '../src/lock.ts'
import { loadTaskSync, toTaskSpec } from '../src/task.ts'
import { Thread } from '../src/thread.ts'
import { joinAll, sharedInts, spawn } from './_helpers.ts'

/** A function whose source text is what tsc (target ES2022) emits for `source`, like a dist/ user. */
function tscLowered(source: string): Function {
  const out = ts.transpileModule(`export default ${source}`, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText
  const body = out.slice(out.indexOf('export default ') + 'export default '.length).replace(/;\s*$/, '')
  // Only the function is kept: its helpers (defined at the top of `out`) are not in its scope.
  return new Function(`return (${body})`)() as Function
}

test('a shipped Thread target with `using _ = lock.hold()` runs under tsx (esbuild __using/__callDispose)', async (t) => {
  const add = (lock: Lock, total: Int32Array, n: number) => {
    for (let i = 0; i < n; i++) {
      using _ = lock.hold()
      total[0]!++
    }
  }
  t.regex(add.toString(), /__using|using _/) // lowered by tsx on Node 20; native on later Nodes
  const lock = new Lock()
  const total = sharedInts(1)
  await joinAll([spawn(add, lock, total, 10_000), spawn(add, lock, total, 10_000)])
  t.is(total[0], 20_000)
  t.true(lock.acquire({ blocking: false }), 'every hold() was disposed')
})

test('a shipped async Thread target with `await using` disposes in reverse order, awaiting asyncDispose', async (t) => {
  const target = async (log: Int32Array) => {
    let n = 0
    const resource = (id: number) => ({
      async [Symbol.asyncDispose]() {
        await new Promise((r) => setTimeout(r, 1))
        log[++n] = id
      },
    })
    {
      await using _a = resource(1)
      await using _b = resource(2)
      using _c = { [Symbol.dispose]: () => void (log[++n] = 3) }
      log[0] = 100
    }
    log[++n] = 4 // after the block: every disposal is done
  }
  const log = sharedInts(5)
  const th = new Thread({ target, args: [log], daemon: true })
  th.start()
  await joinAll([th])
  t.deepEqual([...log], [100, 3, 2, 1, 4])
})

test('loadTaskSync: an error in a `using` block and one in its disposal arrive as a SuppressedError (esbuild helpers)', (t) => {
  const fn = () => {
    using _ = {
      [Symbol.dispose]() {
        throw new Error('dispose failed')
      },
    }
    throw new Error('body failed')
  }
  const compiled = loadTaskSync(toTaskSpec(fn))
  const err = t.throws(() => compiled()) as Error & { error: Error; suppressed: Error }
  t.is(err.name, 'SuppressedError')
  t.is(err.error.message, 'dispose failed')
  t.is(err.suppressed.message, 'body failed')
})

test('loadTaskSync: source lowered by tsc (__addDisposableResource/__disposeResources) runs, sync and async', async (t) => {
  const sync = tscLowered(`(log: number[]) => {
    { using a = { [Symbol.dispose]: () => log.push(1) }; using b = { [Symbol.dispose]: () => log.push(2) }; log.push(0) }
    return log
  }`)
  t.regex(sync.toString(), /__addDisposableResource/)
  t.deepEqual(loadTaskSync(toTaskSpec(sync))([]), [0, 2, 1])

  const async = tscLowered(`async (log: number[]) => {
    { await using a = { async [Symbol.asyncDispose]() { await null; log.push(1) } }; using b = { [Symbol.dispose]: () => log.push(2) }; log.push(0) }
    log.push(3)
    return log
  }`)
  t.deepEqual(await loadTaskSync(toTaskSpec(async))([]), [0, 2, 1, 3])

  const failing = tscLowered(`() => { using a = { [Symbol.dispose]() { throw new Error('dispose failed') } }; throw new Error('body failed') }`)
  const err = t.throws(() => loadTaskSync(toTaskSpec(failing))()) as Error & { error: Error; suppressed: Error }
  t.is(err.name, 'SuppressedError')
  t.is(err.error.message, 'dispose failed')
  t.is(err.suppressed.message, 'body failed')
})

test('a shipped Thread target lowered by tsc runs in a worker', async (t) => {
  const target = tscLowered(`(lock: any, total: Int32Array) => { for (let i = 0; i < 1000; i++) { using _ = lock.hold(); total[0]++ } }`)
  const lock = new Lock()
  const total = sharedInts(1)
  const th = new Thread({ target: target as (lock: Lock, total: Int32Array) => void, args: [lock, total], daemon: true })
  th.start()
  await joinAll([th])
  t.is(total[0], 1000)
  t.true(lock.acquire({ blocking: false }))
})

test('`using` of a non-disposable value in a shipped function throws TypeError', (t) => {
  const fn = () => {
    using _ = { notDisposable: true } as unknown as Disposable
  }
  t.throws(() => loadTaskSync(toTaskSpec(fn))(), { instanceOf: TypeError })
})
