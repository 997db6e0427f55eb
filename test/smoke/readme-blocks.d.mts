/** Types of readme-blocks.mjs (plain JavaScript so that test/smoke/run.mjs runs it with plain node). */
export interface ReadmeBlock {
  readonly file: string
  readonly line: number
  readonly code: string
  readonly skip: string | undefined
  readonly title: string
}
export function readmeFiles(root: string): string[]
export function readmeBlocks(root: string): ReadmeBlock[]
export function expectedOutputs(code: string): string[]
export function squash(text: string): string
