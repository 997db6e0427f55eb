/**
 * Every ```ts block of README.md, packages/*\/README.md and examples/README.md runs as written:
 * each is written to a temporary .ts file inside the repository (so the package names resolve)
 * and run in a child process under tsx on the sources (`node --import=tsx
 * --conditions=@tandem/source`). It must exit with code 0 and print what its comments promise
 * (`// prints X`, `console.log(...) // X`; see test/smoke/readme-blocks.mjs). The same blocks run
 * on the compiled dist/ with plain node in test/smoke/run.mjs (after `pnpm build`).
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expectedOutputs, readmeBlocks, squash } from './smoke/readme-blocks.mjs'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
// Inside the repository so that `@tandem/*` resolve through its node_modules; .gitignore'd.
const dir = mkdtempSync(join(ROOT, 'test', '.readme-examples-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

const RUN_TIMEOUT = 120_000

function run(file: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import=tsx', '--conditions=@tandem/source', file],
      { cwd: ROOT, timeout: RUN_TIMEOUT, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string }) | null
        resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, signal: e?.signal ?? null, stdout, stderr })
      },
    )
  })
}

const blocks = readmeBlocks(ROOT)

test('the READMEs have ts examples to run', (t) => {
  t.true(blocks.length >= 8, `found ${blocks.length} blocks`)
  t.true(blocks.some((b) => b.title.startsWith('README.md:')))
})

blocks.forEach((block, index) => {
  const title = `README example ${block.title} runs under tsx and prints what it promises`
  if (block.skip !== undefined) {
    test.skip(`${title} (not runnable: ${block.skip})`, () => {})
    return
  }
  // One at a time: each example starts its own worker threads.
  test.serial(title, async (t) => {
    t.timeout(RUN_TIMEOUT + 30_000)
    const file = join(dir, `block-${index}.ts`)
    writeFileSync(file, `// ${block.title}\n${block.code}\nexport {}\n`)
    const { code, signal, stdout, stderr } = await run(file)
    const shown = `stdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-4000)}`
    t.is(code, 0, `exit code ${code} (signal ${signal})\n${shown}`)
    const out = squash(stdout)
    for (const want of expectedOutputs(block.code)) t.true(out.includes(want), `output lacks ${want}\n${shown}`)
  })
})
