// Starts examples/blog for the tests: the binary in $LIMP_BLOG_BIN, else one
// built with `go build` from this repository (needs Go). Listens on a free
// loopback port with a fresh data file; stopped by the returned stop().
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let built;
export function blogBinary() {
  if (process.env.LIMP_BLOG_BIN) return process.env.LIMP_BLOG_BIN;
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), 'limp-blog-bin-'));
    built = join(dir, 'blog');
    execFileSync('go', ['build', '-o', built, './examples/blog'], { cwd: repoRoot, stdio: 'inherit', timeout: 600_000 });
  }
  return built;
}

export async function startBlog() {
  const dir = mkdtempSync(join(tmpdir(), 'limp-blog-'));
  const proc = spawn(blogBinary(), ['--listen', '127.0.0.1:0', '--data', join(dir, 'blog.db')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('blog did not start within 30 s:\n' + out)), 30_000);
    const onData = (b) => {
      out += b;
      const m = /serving .*addr=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`blog exited with ${code}:\n${out}`));
    });
  });
  return {
    ws: `ws://${addr}/ws`,
    http: `http://${addr}`,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
