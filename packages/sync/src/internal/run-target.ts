/**
 * What a new Tandem thread or process runs, as its parent describes it and its entry module
 * (`worker-main.ts` for a Thread, `@tandem/ipc`'s `child-main.ts` for a Process) runs it: a task
 * function with its args, or a subclass (of Thread or Process) that overrides `run()`, imported
 * by name from its module, with the instance's own fields sent along.
 *
 * @module
 */
import { TaskModuleError, typeError } from '../errors.ts'
import { decode, encode, preload, type ShareTarget } from '../shareable.ts'
import { loadTask, type TaskSpec } from '../task.ts'

/** What the entry module runs. */
export type RunDescription =
  | { kind: 'target'; target: TaskSpec | undefined; args: unknown; shareables: boolean; modules: string[] }
  | { kind: 'subclass'; module: string; exportName: string; fields: unknown; shareables: boolean; modules: string[] }

/**
 * Describes what `instance` runs: its subclass's `run()` (the class must declare `static module`)
 * or `targetSpec(...args)`, encoded for `target`.
 * @param base Thread or Process: a subclass that overrides `base.prototype.run` is imported by name
 */
export function describeRun(
  instance: object,
  base: { prototype: { run: unknown }; name: string },
  targetSpec: TaskSpec | undefined,
  args: unknown[],
  target: ShareTarget,
): RunDescription {
  const ctor = instance.constructor as { prototype: { run: unknown }; name: string; module?: string | URL }
  const opts = target === 'process' ? ({ errors: 'serialize' } as const) : undefined
  if (ctor.prototype.run !== base.prototype.run) {
    if (!Object.hasOwn(ctor, 'module') || ctor.module === undefined) {
      throw typeError(
        `${base.name} subclass ${ctor.name} overrides run(), so its ${target === 'process' ? 'child' : 'worker'} must import it: declare \`static module = import.meta.url\` in the class and export it as "${ctor.name}"`,
      )
    }
    const fields: Record<string, unknown> = {}
    for (const key of Object.keys(instance)) fields[key] = (instance as Record<string, unknown>)[key]
    const enc = encode(fields, target, `${ctor.name} field`, opts)
    const url = ctor.module instanceof URL ? ctor.module.href : String(ctor.module)
    return { kind: 'subclass', module: url, exportName: ctor.name, fields: enc.value, shareables: enc.shareables, modules: enc.modules }
  }
  const enc = encode(args, target, `${base.name} args`, opts)
  return { kind: 'target', target: targetSpec, args: enc.value, shareables: enc.shareables, modules: enc.modules }
}

/**
 * Runs a {@link RunDescription}: preloads the shareable kinds it needs, then calls the task with
 * its revived args, or imports the subclass, builds the running instance with `adopt` (which also
 * installs it as the current thread or process), copies the fields in and awaits its `run()`.
 */
export async function runDescribed(
  run: RunDescription,
  base: { name: string; prototype: object },
  adopt: (cls: Function) => { run(): unknown },
  kinds: readonly string[] = [],
): Promise<void> {
  await preload([...kinds, ...run.modules])
  if (run.kind === 'target') {
    const args = (run.shareables ? decode(run.args) : run.args) as unknown[]
    if (run.target === undefined) return
    const fn = await loadTask(run.target)
    await fn(...args)
    return
  }
  let ns: Record<string, unknown>
  try {
    ns = await import(run.module)
  } catch (cause) {
    throw new TaskModuleError(`Cannot import ${base.name} subclass module ${run.module}: ${(cause as Error)?.message ?? cause}`, { cause })
  }
  const cls = ns[run.exportName]
  if (typeof cls !== 'function' || !(cls.prototype instanceof (base as Function))) {
    throw new TaskModuleError(`Module ${run.module} does not export a ${base.name} subclass named "${run.exportName}"; export the class under its own name`)
  }
  const self = adopt(cls)
  Object.assign(self, run.shareables ? decode(run.fields) : run.fields)
  await self.run()
}
