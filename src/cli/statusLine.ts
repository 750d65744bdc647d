/**
 * The one live line a terminal shows during `--once` (see `progress.ts`). Module state on
 * purpose: there is one stderr, and the logger must erase the line before it writes an entry,
 * or the entry would start in the middle of the line.
 */
export interface TerminalOut {
  readonly columns?: number | undefined
  readonly write: (text: string) => unknown
}

const clearLine = "\r\x1b[2K"

export const statusLine = {
  out: undefined as TerminalOut | undefined,
  shown: false,
  /** Replaces the line, cut to the terminal's width so that it never wraps. */
  draw(out: TerminalOut, text: string): void {
    this.out = out
    const width = out.columns ?? 0
    out.write(clearLine + (width > 1 && text.length >= width ? text.slice(0, width - 1) : text))
    this.shown = true
  },
  /** Erases the line if it is shown; the next draw puts it back below whatever was written. */
  clear(): void {
    if (this.shown && this.out !== undefined) this.out.write(clearLine)
    this.shown = false
  }
}
