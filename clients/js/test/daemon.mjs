// daemon.mjs -- what the live-daemon suites share: start `gradd serve` on a
// free port (GRADD_BIN, else the repository's build/gradd) and learn its URL
// from the line it prints; the caller stops what it started.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

// Start a daemon with the extra flags; push its process on started and
// resolve to its URL (rejects when it prints no port within 30 s or exits).
export function startDaemon(extra, started) {
  const bin = process.env.GRADD_BIN || path.join(REPO, "build", "gradd");
  const p = spawn(bin, ["serve", "--port", "0", "--bind", "127.0.0.1", ...extra], {
    cwd: REPO, stdio: ["ignore", "pipe", "ignore"],
  });
  started.push(p);
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`gradd printed no port: ${out}`)), 30000);
    p.stdout.on("data", (d) => {
      out += d;
      const m = /listening on [^:]+:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
    });
    p.on("exit", () => { clearTimeout(timer); reject(new Error(`gradd exited: ${out}`)); });
  });
}
