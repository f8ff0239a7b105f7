import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Where the browser brings the authorization code back (RFC 8252, section 7.3): an HTTP listener
 * on 127.0.0.1 at a port of the system's choosing, for one redirect. Other requests (a favicon)
 * get a 404 and are not counted.
 */
export class LoopbackRedirect {
  private constructor(
    private readonly server: Server,
    readonly redirectUri: string,
    private readonly received: Promise<URL>,
  ) {}

  static async listen(): Promise<LoopbackRedirect> {
    const server = createServer();
    let resolve: (url: URL) => void = () => undefined;
    const received = new Promise<URL>((r) => (resolve = r));
    await new Promise<void>((done, fail) => server.once('error', fail).listen(0, '127.0.0.1', done));
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', redirectUri);
      if (url.pathname !== '/' || (!url.searchParams.has('code') && !url.searchParams.has('error'))) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('imap-cache-proxy received the sign-in: you can close this window.\n');
      resolve(url);
    });
    return new LoopbackRedirect(server, redirectUri, received);
  }

  /** The URL the browser was sent back to, with its code (or error) and state. */
  redirected(): Promise<URL> {
    return this.received;
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
