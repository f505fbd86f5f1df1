import WebSocket from 'ws';
import type {ClientOptions} from 'ws';
import {sessionCookie} from './test-plugin-context';
import type {UserKey} from './test-plugin-context';

export type CloseInfo = {readonly code: number; readonly reason: string};

/** Who connects: a user of the hand-made test context, a session cookie of a real server, or nobody */
export type Auth = UserKey | {readonly cookie: string} | null;

const authHeaders = (auth: Auth): Record<string, string> => {
    if (auth === null) {
        return {};
    }
    return {cookie: typeof auth === 'string' ? sessionCookie(auth) : auth.cookie};
};

/**
 * A real `ws` client with an inbox: every text frame is kept in order, and `next()` waits for the next one.
 */
export class TestClient {

    readonly received: Array<string> = [];
    readonly closed: Promise<CloseInfo>;
    private readIndex = 0;
    private waiter: (() => void) | null = null;

    /**
     * @param socket
     * @param setCookies The Set-Cookie headers of the handshake response
     */
    private constructor(readonly socket: WebSocket, readonly setCookies: ReadonlyArray<string>) {
        socket.on('message', (data, isBinary) => {
            this.received.push(isBinary ? `<binary ${(data as Buffer).length}>` : data.toString());
            this.waiter?.();
        });
        this.closed = new Promise((resolve) => {
            socket.on('close', (code, reason) => {
                resolve({code, reason: reason.toString()});
                this.waiter?.();
            });
        });
        socket.on('error', () => {
            // The close event follows and is what tests look at
        });
    }

    static connect(url: string, auth: Auth, options: ClientOptions = {}, protocols: Array<string> = []): Promise<TestClient> {
        const headers = {...options.headers, ...authHeaders(auth)};
        const socket = new WebSocket(url, protocols, {...options, headers});
        let setCookies: ReadonlyArray<string> = [];
        socket.once('upgrade', (response) => {
            setCookies = response.headers['set-cookie'] ?? [];
        });
        return new Promise((resolve, reject) => {
            socket.once('open', () => resolve(new TestClient(socket, setCookies)));
            socket.once('unexpected-response', (request, response) => {
                reject(new Error(`Upgrade refused with HTTP ${response.statusCode}`));
                response.resume();
            });
            socket.once('error', reject);
        });
    }

    /** The next text frame, raw */
    async next(timeoutMs = 5000): Promise<string> {
        const deadline = Date.now() + timeoutMs;
        while (this.readIndex >= this.received.length) {
            if (this.socket.readyState === WebSocket.CLOSED) {
                throw new Error(`Connection closed while waiting for a message; received so far: ${JSON.stringify(this.received)}`);
            }
            const remaining = deadline - Date.now();
            if (remaining <= 0) {
                throw new Error(`No message within ${timeoutMs} ms; received so far: ${JSON.stringify(this.received)}`);
            }
            await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, remaining);
                this.waiter = () => {
                    clearTimeout(timer);
                    resolve();
                };
            });
            this.waiter = null;
        }
        return this.received[this.readIndex++];
    }

    /** The next text frame, parsed; skips "keepalive" unless asked for */
    async nextJson(options: {keepAlive?: boolean; timeoutMs?: number} = {}): Promise<unknown> {
        for (;;) {
            const raw = await this.next(options.timeoutMs);
            if (raw === '"keepalive"' && !options.keepAlive) {
                continue;
            }
            return JSON.parse(raw);
        }
    }

    /** Reads the setClientId message that opens every connection and returns the id */
    async clientId(): Promise<string> {
        const message = await this.nextJson() as {type?: string; payload?: string};
        if (message.type !== 'setClientId' || typeof message.payload !== 'string') {
            throw new Error(`Expected setClientId, got ${JSON.stringify(message)}`);
        }
        return message.payload;
    }

    send(message: unknown): void {
        this.socket.send(JSON.stringify(message));
    }

    sendRaw(data: string | Buffer, options: {binary?: boolean} = {}): void {
        this.socket.send(data, {binary: options.binary ?? Buffer.isBuffer(data)});
    }

    /** Close cleanly and wait for the close to complete */
    async close(code = 1000): Promise<CloseInfo> {
        if (this.socket.readyState === WebSocket.OPEN) {
            this.socket.close(code);
        }
        return this.closed;
    }

    /** Drop the TCP connection without a closing handshake */
    async drop(): Promise<CloseInfo> {
        this.socket.terminate();
        return this.closed;
    }
}

/** Try an upgrade that must be refused; resolves to the HTTP status it was refused with */
export const refusedStatus = (url: string, auth: Auth, headers: Record<string, string> = {}): Promise<number> =>
    new Promise((resolve, reject) => {
        const socket = new WebSocket(url, {headers: {...headers, ...authHeaders(auth)}});
        socket.once('open', () => {
            socket.terminate();
            reject(new Error('The upgrade was accepted'));
        });
        socket.once('unexpected-response', (request, response) => {
            resolve(response.statusCode ?? 0);
            response.resume();
            request.destroy();
        });
        socket.once('error', (error) => reject(error));
    });
