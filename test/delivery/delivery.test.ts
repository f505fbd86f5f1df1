import type {Socket} from 'net';
import WebSocket from 'ws';
import MashroomWebSocketClient from '../../client';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {sessionCookie} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';

/*
 * Delivery through drops, over real sockets: the server streams numbered messages to every client while the
 * clients' connections are dropped in four ways, again and again:
 * - clean: the connection is closed with a closing handshake;
 * - abrupt: the TCP connection is destroyed, no closing handshake;
 * - stalled: the client stops reading for 1 to 3 seconds, then the TCP connection is destroyed;
 * - switched: as on a switch of networks, the old connection goes silent and the client connects anew
 *   while the server still holds the old one (which it takes over from), then the old one is destroyed.
 * Plain clients (as the Mashroom portal's) reconnect at once with ?clientId=; library clients use the
 * client library. Plain clients must lose nothing (duplicates allowed and counted), library clients must get
 * every message exactly once; both in order. The messages carry text beyond ASCII, checked on arrival.
 */

const STREAM_MS = 8000;
const MESSAGE_INTERVAL_MS = 20;
const CLIENTS_PER_KIND = 5;
const PATH = '/stream';

type DropKind = 'clean' | 'abrupt' | 'stalled' | 'switched';
const DROP_KINDS: ReadonlyArray<DropKind> = ['clean', 'abrupt', 'stalled', 'switched'];

type StreamMessage = {n: number; text: string};
// Multi-byte characters in every message: sizes in bytes and characters differ, as do the escapes
const textOf = (n: number): string => `Grüße ${n} — 你好 🌍 "quoted" \\ ${'é'.repeat(n % 7)}`;

const randomBetween = (min: number, max: number): number => min + Math.random() * (max - min);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Observed = {
    readonly name: string;
    /** Every message number received, in arrival order */
    readonly received: Array<number>;
    clientId: string | null;
    drops: Record<DropKind, number>;
    /** Messages whose text did not arrive as sent */
    corrupted: number;
    rawSocket(): Socket | null;
    closeCleanly(): void;
    /** Connect anew, leaving the current connection (already silent) behind */
    connectAnew(): void;
    stop(): void;
};

const noDrops = (): Record<DropKind, number> => ({clean: 0, abrupt: 0, stalled: 0, switched: 0});

/** What is observed of a client that has received nothing yet, with the means to act on its connection */
const observing = (name: string, connection: Pick<Observed, 'rawSocket' | 'closeCleanly' | 'connectAnew' | 'stop'>): Observed =>
    ({name, received: [], clientId: null, drops: noDrops(), corrupted: 0, ...connection});
const receive = (observed: Observed, message: StreamMessage): void => {
    if (message.text !== textOf(message.n)) {
        observed.corrupted++;
    }
    observed.received.push(message.n);
};

/** A client as the Mashroom portal's: reconnects at once with ?clientId=, knows nothing of numbering */
const plainClient = (server: TestServer, name: string): Observed => {
    let socket: WebSocket | null = null;
    let stopped = false;
    const observed = observing(name, {
        rawSocket: () => (socket as unknown as {_socket?: Socket} | null)?._socket ?? null,
        closeCleanly: () => socket?.close(1000),
        connectAnew: () => open(),
        stop: () => {
            stopped = true;
            socket?.close(1000);
        },
    });
    const open = (): void => {
        const url = `${server.wsOrigin}/websocket${PATH}${observed.clientId ? `?clientId=${observed.clientId}` : ''}`;
        const current = new WebSocket(url, {headers: {cookie: sessionCookie('alice')}});
        socket = current;
        current.on('message', (data) => {
            const text = data.toString();
            if (text === '"keepalive"') {
                return;
            }
            const message = JSON.parse(text) as {type?: string; payload?: string; n?: number; text?: string};
            if (message.type === 'setClientId') {
                if (observed.clientId && message.payload !== observed.clientId) {
                    throw new Error(`${name} was not resumed`);
                }
                observed.clientId = message.payload ?? null;
            } else if (typeof message.n === 'number') {
                receive(observed, {n: message.n, text: message.text ?? ''});
            }
        });
        current.on('error', () => undefined);
        current.on('close', () => {
            if (!stopped && socket === current) {
                setImmediate(open);
            }
        });
    };
    open();
    return observed;
};

/** A client of the client library */
const libraryClient = (server: TestServer, name: string): Observed => {
    const client = new MashroomWebSocketClient(`${server.wsOrigin}/websocket${PATH}`, {
        WebSocket,
        webSocketOptions: {headers: {cookie: sessionCookie('bob')}},
        storage: null,
        reconnect: {initialDelayMs: 5, maxDelayMs: 50},
        ackDelayMs: 50,
    });
    const internals = client as unknown as {
        _state: {connection?: {socket: {_socket?: Socket; close(code: number): void}}};
        // What the library does with a connection its idle timeout finds dead, without closing it
        _dropped(code: number, reason: string): void;
    };
    const observed = observing(name, {
        rawSocket: () => internals._state.connection?.socket._socket ?? null,
        closeCleanly: () => internals._state.connection?.socket.close(1000),
        connectAnew: () => internals._dropped(4000, 'Idle'),
        stop: () => client.close(),
    });
    client.on('message', (payload: StreamMessage) => receive(observed, payload));
    client.on('open', ({clientId}) => {
        observed.clientId = clientId;
    });
    client.on('reset', () => {
        throw new Error(`${name} was not resumed`);
    });
    client.connect();
    return observed;
};

/** Drop the client's connection again and again, in turn in each of the ways */
const dropRepeatedly = async (observed: Observed, until: number): Promise<void> => {
    let turn = Math.floor(Math.random() * DROP_KINDS.length);
    while (Date.now() < until - 500) {
        await sleep(randomBetween(300, 900));
        const socket = observed.rawSocket();
        if (!socket || socket.destroyed) {
            continue;
        }
        const kind = DROP_KINDS[turn++ % DROP_KINDS.length];
        observed.drops[kind]++;
        if (kind === 'clean') {
            observed.closeCleanly();
        } else if (kind === 'abrupt') {
            socket.destroy();
        } else if (kind === 'switched') {
            socket.pause();
            observed.connectAnew();
            await sleep(randomBetween(1500, 3000));
            socket.destroy();
        } else {
            socket.pause();
            await sleep(randomBetween(1000, 3000));
            socket.destroy();
        }
    }
};

/** The first arrival of every number: must be 0, 1, 2, ... in this order */
const firstArrivals = (received: ReadonlyArray<number>): Array<number> => {
    const seen = new Set<number>();
    return received.filter((n) => !seen.has(n) && seen.add(n));
};

describe('delivery through dropped connections', () => {
    let server: TestServer;

    afterAll(async () => {
        await server?.stop();
    });

    it('loses nothing for plain clients and delivers exactly once to library clients, in order', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectTimeoutSec: 10}});
        const sent = new Map<string, number>();
        const clients = [
            ...Array.from({length: CLIENTS_PER_KIND}, (_, index) => plainClient(server, `plain ${index}`)),
            ...Array.from({length: CLIENTS_PER_KIND}, (_, index) => libraryClient(server, `library ${index}`)),
        ];
        await waitFor(() => server.service.getClientsOnPath(PATH).length === clients.length, 'all clients to connect');

        // Every client gets its own numbers 0, 1, 2, ..., 50 a second, through whatever happens to its connection
        const producer = setInterval(() => {
            for (const client of server.service.getClientsOnPath(PATH)) {
                const n = sent.get(client.clientId) ?? 0;
                sent.set(client.clientId, n + 1);
                server.service.sendMessage(client, {n, text: textOf(n)}).catch((error: Error) => {
                    throw new Error(`A send was refused: ${error.message}`);
                });
            }
        }, MESSAGE_INTERVAL_MS);
        const until = Date.now() + STREAM_MS;
        await Promise.all(clients.map((client) => dropRepeatedly(client, until)));
        clearInterval(producer);

        // Everything sent must arrive, however the connections fared
        for (const client of clients) {
            await waitFor(() => {
                const expected = client.clientId ? sent.get(client.clientId) ?? 0 : 0;
                return firstArrivals(client.received).length >= expected;
            }, `${client.name} to catch up`, 15_000);
        }

        const figures = {sent: 0, drops: noDrops(), plainDuplicates: 0, libraryDuplicates: 0};
        for (const client of clients) {
            const count = sent.get(client.clientId ?? '') ?? 0;
            figures.sent += count;
            DROP_KINDS.forEach((kind) => {
                figures.drops[kind] += client.drops[kind];
            });
            const expected = Array.from({length: count}, (_, n) => n);
            // Nothing lost, in order (a duplicate only repeats what came before), nothing garbled
            expect(firstArrivals(client.received)).toEqual(expected);
            expect(client.corrupted).toBe(0);
            if (client.name.startsWith('library')) {
                // Exactly once
                expect(client.received).toEqual(expected);
                figures.libraryDuplicates += client.received.length - count;
            } else {
                figures.plainDuplicates += client.received.length - count;
            }
        }
        // Every way of dropping happened
        DROP_KINDS.forEach((kind) => expect(figures.drops[kind]).toBeGreaterThan(0));
        // and a switch was served by taking the client over from its silent connection
        expect(server.context.log.find('info', 'did not answer a ping: it is taken over').length).toBeGreaterThan(0);
        process.stdout.write(`Delivery test: ${JSON.stringify(figures)}\n`);
        clients.forEach((client) => client.stop());
    }, 60_000);
});
