import {connect as tcpConnect} from 'net';
import fc from 'fast-check';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';

const MAX_MESSAGE = 64 * 1024;

type Frame = {readonly kind: 'text' | 'binary'; readonly bytes: Buffer};
type Expected = 'answered' | 'ignored' | 1007 | 1009;

const isUtf8 = (bytes: Buffer): boolean => {
    try {
        new TextDecoder('utf-8', {fatal: true}).decode(bytes);
        return true;
    } catch {
        return false;
    }
};

/** What the server must do with a frame, by the rules of the README */
const expectedFor = ({kind, bytes}: Frame): Expected => {
    if (bytes.length > MAX_MESSAGE) {
        return 1009;
    }
    if (kind === 'binary') {
        return 'ignored';
    }
    if (!isUtf8(bytes)) {
        return 1007;
    }
    try {
        JSON.parse(bytes.toString('utf8'));
        return 'answered';
    } catch {
        return 'ignored';
    }
};

const text = (value: string): Frame => ({kind: 'text', bytes: Buffer.from(value)});
const frames: fc.Arbitrary<Frame> = fc.oneof(
    fc.jsonValue().map((value) => text(JSON.stringify(value))),
    fc.string({unit: 'binary', maxLength: 200}).map(text),
    fc.uint8Array({maxLength: 300}).map((bytes) => ({kind: 'text' as const, bytes: Buffer.from(bytes)})),
    fc.uint8Array({maxLength: 300}).map((bytes) => ({kind: 'binary' as const, bytes: Buffer.from(bytes)})),
    fc.integer({min: 1, max: 30_000}).map((depth) => text(`${'['.repeat(depth)}${']'.repeat(depth)}`)),
    fc.integer({min: 1, max: 30_000}).map((depth) => text(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)),
    fc.integer({min: MAX_MESSAGE - 10, max: MAX_MESSAGE + 10}).map((length) => text(JSON.stringify('x'.repeat(length - 2)))),
    fc.integer({min: 0, max: 200_000}).map((length) => text(`"${'\u00fc'.repeat(length)}`)),
);

/*
 * Whatever a client sends, the server answers by the rules and stays up. Real sockets, one server for
 * all runs; the listener answers every message it gets without re-serialising it.
 */
describe('properties over real sockets', () => {
    let server: TestServer;
    let client: TestClient | null = null;
    let markers = 0;

    const freshClient = async (): Promise<TestClient> => {
        const created = await TestClient.connect(`${server.wsOrigin}/websocket/fuzz`, 'alice');
        await created.clientId();
        return created;
    };

    beforeAll(async () => {
        server = await startTestServer({config: {maxMessageSizeBytes: MAX_MESSAGE}});
        server.service.addMessageListener(() => true, (message, from) => {
            // A marker comes back as itself; anything else as a short receipt
            const isMarker = typeof message === 'object' && message !== null && 'marker' in message;
            return server.service.sendMessage(from, isMarker ? message : {receipt: Array.isArray(message) ? 'array' : typeof message});
        });
    });

    afterAll(async () => {
        await client?.close();
        await server.stop();
    });

    it('handles any frame by the rules and keeps serving', async () => {
        await fc.assert(fc.asyncProperty(frames, async (frame) => {
            if (!client || client.socket.readyState !== client.socket.OPEN) {
                client = await freshClient();
            }
            const expected = expectedFor(frame);
            client.sendRaw(frame.bytes, {binary: frame.kind === 'binary'});
            if (typeof expected === 'number') {
                expect((await client.closed).code).toBe(expected);
                client = null;
                return;
            }
            if (expected === 'answered') {
                expect(await client.nextJson()).toEqual({receipt: expect.any(String)});
            }
            const marker = {marker: ++markers};
            client.send(marker);
            expect(await client.nextJson()).toEqual(marker);
        }), {numRuns: 300});
        // Still up for everybody
        const late = await freshClient();
        await late.close();
    }, 120_000);

    it('answers any upgrade URL by the rules, never with a hang', async () => {
        const pathPart = fc.array(fc.oneof(
            fc.constantFrom('/', '?', '&', '=', '%', '.', '+', 'a', 'Z', '0', '-', '_', '~', ':', '@', '!', '$', "'", '(', ')', '*', ',', ';'),
            fc.constantFrom('%2F', '%2e', '%00', '%zz', '%E0%A4%A', '%C3%BC', 'clientId=', 'clientId=../../x'),
        ), {maxLength: 30}).map((parts) => parts.join(''));
        const url = fc.oneof(pathPart.map((rest) => `/websocket${rest}`), pathPart.map((rest) => `/websocketx${rest}`));

        await fc.assert(fc.asyncProperty(url, async (requestUrl) => {
            expect(await rawUpgradeStatus(server.port, requestUrl)).toBe(expectedUpgradeStatus(requestUrl));
        }), {numRuns: 300});
    }, 120_000);
});

/** Whether every percent escape is complete and the escaped bytes are UTF-8, decoded by hand */
const isWellEncoded = (text: string): boolean => {
    const bytes: Array<number> = [];
    for (let index = 0; index < text.length; index++) {
        if (text[index] === '%') {
            const hex = text.slice(index + 1, index + 3);
            if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
                return false;
            }
            bytes.push(parseInt(hex, 16));
            index += 2;
        } else {
            bytes.push(...Buffer.from(text[index]));
        }
    }
    return isUtf8(Buffer.from(bytes));
};

/** The README's rules for an upgrade URL, written independently of the implementation */
const expectedUpgradeStatus = (url: string): number => {
    const [path, ...rest] = url.split('?');
    const query = rest.join('?');
    if (path !== '/websocket' && !path.startsWith('/websocket/')) {
        return 404;
    }
    return isWellEncoded(path) && isWellEncoded(query) ? 101 : 400;
};

/** Send an upgrade request as raw bytes and read the status code of the answer */
const rawUpgradeStatus = (port: number, url: string): Promise<number> => new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
        answer += chunk.toString('latin1');
        const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
        if (status) {
            socket.destroy();
            resolve(Number(status[1]));
        }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`Closed without an answer to ${url}`)));
    socket.write([
        `GET ${url} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', `Cookie: ${sessionCookie('alice')}`, '', '',
    ].join('\r\n'));
});
