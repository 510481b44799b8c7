// Starts `mux serve` from this checkout for the interop tests and the benchmark.
// Python: $MUX_PYTHON, else the Makefile's .venv/bin/python, else /work-style
// fallbacks are NOT guessed: without one, `findPython()` returns null and the
// tests skip saying so. The port comes from the server's startup line.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export function findPython() {
  if (process.env.MUX_PYTHON) return process.env.MUX_PYTHON;
  const venv = join(REPO, ".venv", "bin", "python");
  return existsSync(venv) ? venv : null;
}

/** Start `python -m mux serve --listen 127.0.0.1:0 ...args`; resolves {port, proc, stop()}. */
export function startServer(args = []) {
  const python = findPython();
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(python, ["-m", "mux", "serve", "--listen", "127.0.0.1:0", "--log-level", "WARNING", ...args], {
      cwd: REPO,
      env: { ...process.env, PYTHONPATH: [REPO, join(REPO, "clients", "python"), process.env.PYTHONPATH].filter(Boolean).join(":") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error(`mux serve did not start: ${err}`)); }, 30_000);
    proc.stderr.on("data", (d) => { err += d; });
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /serving on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const exited = new Promise((r) => (proc.exitCode !== null ? r(proc.exitCode) : proc.once("exit", (c) => r(c))));
        resolvePromise({
          port: Number(m[1]), proc, exited, stderr: () => err,
          stop: async () => {
            if (proc.exitCode === null && proc.signalCode === null) {
              proc.kill("SIGKILL");
              await exited;
            }
          },
        });
      }
    });
    proc.once("exit", (code) => { clearTimeout(timer); reject(new Error(`mux serve exited (${code}) before serving: ${err}`)); });
  });
}
