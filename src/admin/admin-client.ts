import net from 'node:net';
import { ProxyError } from '../model/errors.js';
import { ADMIN_PROTOCOL_VERSION, type AdminRequest, type AdminResponse } from './protocol.js';
import { ADMIN_TIMEOUT_MS } from '../model/limits.js';


/** Distributes Omit over the request union, so each command keeps its own fields. */
type RequestBody = AdminRequest extends infer R ? (R extends AdminRequest ? Omit<R, 'v'> : never) : never;

/**
 * Sends one request to the running proxy's admin socket. Resolves undefined when no proxy
 * listens there (the caller then opens the cache itself). A `timeoutMs` of 0 waits as long as
 * the command runs (cache verify reads every cached byte).
 */
export function adminRequest<T>(socketPath: string, body: RequestBody, timeoutMs = ADMIN_TIMEOUT_MS): Promise<AdminResponse<T> | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let reply = '';
    const timer = setTimeout(
      () => {
        socket.destroy();
        reject(new ProxyError('INTERNAL', `the proxy did not answer on ${socketPath} within ${timeoutMs / 1000} s`));
      },
      timeoutMs || 2 ** 31 - 1,
    );
    socket.on('connect', () => socket.write(`${JSON.stringify({ v: ADMIN_PROTOCOL_VERSION, ...body })}\n`));
    socket.on('data', (data: Buffer) => (reply += data.toString('utf8')));
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(reply) as AdminResponse<T>);
      } catch {
        reject(new ProxyError('INTERNAL', `the proxy's answer on ${socketPath} is not JSON`));
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(new ProxyError('INTERNAL', `cannot reach the proxy on ${socketPath}: ${err.message}`, { cause: err }));
    });
  });
}
