// The compiled packages as users get them: run after `pnpm build` by `pnpm test`, with plain node
// (no tsx, no @tandem/source condition, so every @tandem/* import resolves to dist/).
//  1. smoke.mjs: a thread, a queue, an executor and a module-reference task.
//  2. Every runnable ```ts block of the READMEs (the ones test/readme-examples.test.ts runs under
//     tsx), with its types stripped by TypeScript's transpileModule (target ES2022, so `using`
//     becomes tsc's __addDisposableResource helpers, as in a user's tsc-compiled code), checked
//     the same way: exit code 0 and the promised output.
// Exits with code 1 if any of them fails.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { expectedOutputs, readmeBlocks, squash } from './readme-blocks.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TIMEOUT = 120_000

for (const pkg of ['sync', 'queue', 'futures']) {
  if (!existsSync(join(ROOT, 'packages', pkg, 'dist', 'index.js'))) {
    console.error(`smoke: packages/${pkg}/dist is missing; run pnpm build first`)
    process.exit(1)
  }
}

/** Runs `file` with plain node (inheriting no execArgv: no tsx, no conditions). */
function run(file) {
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd: ROOT, timeout: TIMEOUT, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, signal: err?.signal ?? null, stdout, stderr })
    })
  })
}

const failures = []
const smoke = await run(join(ROOT, 'test', 'smoke', 'smoke.mjs'))
process.stdout.write(smoke.stdout)
if (smoke.code !== 0) failures.push(`smoke.mjs: exit code ${smoke.code} (signal ${smoke.signal})\n${smoke.stderr}`)

const dir = mkdtempSync(join(ROOT, 'test', 'smoke', '.readme-dist-'))
try {
  let ran = 0
  for (const [index, block] of readmeBlocks(ROOT).entries()) {
    if (block.skip !== undefined) {
      console.log(`smoke: skipped ${block.title} (${block.skip})`)
      continue
    }
    const js = ts.transpileModule(`${block.code}\nexport {}\n`, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: false },
      fileName: `block-${index}.ts`,
    }).outputText
    const file = join(dir, `block-${index}.mjs`)
    writeFileSync(file, `// ${block.title}\n${js}`)
    const { code, signal, stdout, stderr } = await run(file)
    ran++
    const out = squash(stdout)
    const missing = expectedOutputs(block.code).filter((want) => !out.includes(want))
    if (code !== 0 || missing.length > 0) {
      failures.push(
        `${block.title} on dist/: exit code ${code} (signal ${signal}), missing output ${JSON.stringify(missing)}\nstdout:\n${stdout.slice(-2000)}\nstderr:\n${stderr.slice(-4000)}`,
      )
    } else console.log(`smoke: ${block.title} runs on dist/`)
  }
  if (ran === 0) failures.push('no README block ran')
} finally {
  rmSync(dir, { recursive: true, force: true })
}

if (failures.length > 0) {
  for (const f of failures) console.error(`smoke FAILED: ${f}\n`)
  process.exit(1)
}
console.log('smoke: all passed')
