/**
 * A throwaway Redis for the scale-out tests: Debian's redis-server on a free port of 127.0.0.1,
 * nothing persisted. `redisSkip` says why the tests cannot run when the binary is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './free.port.ts';

export const redisSkip: string | false = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0
  ? false : 'redis-server is not installed (Debian package redis-server; .ci/run installs it)';

export interface RedisFixture {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('error', () => resolve(false));
    c.once('connect', () => c.write('PING\r\n'));
    c.once('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')); });
  });
}

export async function startRedis(): Promise<RedisFixture> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await ping(port)) break;
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!(await ping(port))) throw new Error('redis-server did not answer PING');
  return {
    url: `redis://127.0.0.1:${port}`, port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
