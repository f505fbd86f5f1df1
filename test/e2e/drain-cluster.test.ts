import {mkdtemp, rm} from 'fs/promises';
import {createServer, connect} from 'net';
import type {Server, Socket} from 'net';
import {tmpdir} from 'os';
import {join} from 'path';
import WebSocket from 'ws';
import MashroomWebSocketClient from '../../client';
import {freePort, login, startMashroomServer} from '../helpers/mashroom-server';
import type {RunningMashroomServer} from '../helpers/mashroom-server';
import {startRedis} from '../helpers/redis-server';
import type {RunningRedis} from '../helpers/redis-server';
import {acceptedIn, streamedLibraryClient} from '../helpers/stream-clients';
import type {Streamed} from '../helpers/stream-clients';
import {waitFor} from '../helpers/wait';

const STREAM_PLUGIN = join(__dirname, '../fixtures/stream-plugin');
/** Each node's stream is numbered in its own range */
const RANGE = 1_000_000;

/** What a load balancer does in a rolling deploy: new connections go to the node it points at now */
type Balancer = {readonly port: number; pointAt(port: number): void; close(): Promise<void>};

const startBalancer = async (): Promise<Balancer> => {
    let target = 0;
    const pairs = new Set<Socket>();
    const server: Server = createServer((incoming) => {
        const outgoing = connect(target, '127.0.0.1');
        for (const socket of [incoming, outgoing]) {
            pairs.add(socket);
            socket.once('close', () => pairs.delete(socket));
        }
        incoming.pipe(outgoing).pipe(incoming);
        incoming.once('error', () => outgoing.destroy());
        outgoing.once('error', () => incoming.destroy());
        incoming.once('close', () => outgoing.destroy());
        outgoing.once('close', () => incoming.destroy());
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as {port: number}).port)));
    return {
        port,
        pointAt: (next) => {
            target = next;
        },
        close: async () => {
            pairs.forEach((socket) => socket.destroy());
            await new Promise((resolve) => server.close(resolve));
        },
    };
};

/*
 * Two real Mashroom nodes that share their sessions (a folder) and the reconnect buffer (a real redis-server),
 * in a rolling deploy: A gets SIGTERM mid-stream and its clients move to B, A starts again, then B gets SIGTERM
 * and they move back. Plain clients reconnect to the other node with ?clientId=; clients of the library
 * reconnect by themselves through a balancer that points at the node that stays.
 */
describe('two real Mashroom nodes with Redis, each stopped with SIGTERM in turn', () => {
    let redis: RunningRedis;
    let sessions: string;
    let balancer: Balancer;
    const nodes: Array<RunningMashroomServer> = [];
    const sockets: Array<WebSocket> = [];
    const libraries: Array<MashroomWebSocketClient> = [];

    beforeAll(async () => {
        redis = await startRedis();
        sessions = await mkdtemp(join(tmpdir(), 'mashroom-websocket-sessions-'));
        balancer = await startBalancer();
    });

    afterAll(async () => {
        libraries.forEach((library) => library.close());
        sockets.forEach((socket) => socket.terminate());
        // The last first: a node's stop removes its root folder, which a restarted one shares
        for (const node of nodes.reverse()) {
            await node.stop();
        }
        await balancer.close();
        await redis.dispose();
        await rm(sessions, {recursive: true, force: true});
    });

    const startNode = async (): Promise<RunningMashroomServer> => {
        const node = await startMashroomServer({
            websocket: {
                restrictToRoles: ['WebSocketUser'],
                reconnectTimeoutSec: 60,
                reconnectMessageBufferRedis: {url: redis.url, keyPrefix: 'drain-e2e:'},
            },
            extraPluginFolders: [STREAM_PLUGIN],
            sessionFolder: sessions,
            port: await freePort(),
        });
        nodes.push(node);
        return node;
    };
    const portOf = (node: RunningMashroomServer): number => Number(new URL(node.httpOrigin).port);


    const plainClient = async (node: RunningMashroomServer, cookie: string): Promise<Streamed & {moveTo(node: RunningMashroomServer): Promise<void>}> => {
        let clientId: string | null = null;
        const numbers: Array<number> = [];
        let socket: WebSocket;
        const open = async (at: RunningMashroomServer): Promise<void> => {
            socket = new WebSocket(`${at.wsOrigin}/websocket/stream${clientId ? `?clientId=${clientId}` : ''}`, {headers: {cookie}});
            sockets.push(socket);
            socket.on('error', () => undefined);
            let told = false;
            socket.on('message', (data) => {
                const message = JSON.parse(data.toString()) as {type?: string; payload?: string; n?: number};
                if (message.type === 'setClientId' && message.payload) {
                    told = true;
                    clientId = message.payload;
                } else if (typeof message.n === 'number') {
                    numbers.push(message.n);
                }
            });
            await waitFor(() => told, 'the client id');
        };
        await open(node);
        return {id: () => clientId, numbers, stream: (from, count) => socket.send(JSON.stringify({from, count, intervalMs: 5})), moveTo: open};
    };

    const libraryClient = (cookie: string): Streamed & {events: Array<string>} => {
        const client = streamedLibraryClient(`ws://127.0.0.1:${balancer.port}/websocket/stream`, cookie);
        libraries.push(client.library);
        return client;
    };

    /** Each range of numbers one node streamed: complete up to the last one it accepted, in order */
    const expectRange = (client: Streamed, from: number, accepted: number, exactlyOnce: boolean): void => {
        const received = client.numbers.filter((n) => n >= from && n < from + RANGE);
        const distinct = [...new Set(received)];
        expect(accepted).toBeGreaterThanOrEqual(from + 19);
        expect(distinct.slice(0, accepted - from + 1)).toEqual(Array.from({length: accepted - from + 1}, (_, index) => from + index));
        expect(distinct).toEqual(Array.from({length: distinct.length}, (_, index) => from + index));
        if (exactlyOnce) {
            expect(received).toEqual(distinct);
        }
    };

    it('keeps every session and loses no message while the clients move from A to B and back', async () => {
        const a = await startNode();
        const b = await startNode();
        balancer.pointAt(portOf(a));
        const [john, jane] = await Promise.all([login(a.httpOrigin, 'john'), login(a.httpOrigin, 'jane')]);
        const plain = [await plainClient(a, john), await plainClient(a, jane)];
        const library = [libraryClient(jane), libraryClient(john)];
        await waitFor(() => library.every((client) => client.id() !== null), 'the library clients to connect');
        const all = [...plain, ...library];
        const ids = all.map((client) => client.id());

        // 1. A stops mid-stream; the balancer already sends new connections to B
        const FIRST = 1;
        all.forEach((client) => client.stream(FIRST, 100_000));
        await waitFor(() => all.every((client) => client.numbers.length >= 20), 'the streams from A');
        balancer.pointAt(portOf(b));
        expect(await a.signal('SIGTERM')).toEqual({code: 0, signal: null});
        expect(a.output()).toContain('Drained 4 client(s) into Redis');
        const fromA = acceptedIn(a.output());
        for (const client of plain) {
            await client.moveTo(b);
        }
        await waitFor(() => library.every((client) => client.events.includes('resumed')), 'the library clients to resume on B');
        expect(all.map((client) => client.id())).toEqual(ids);
        await waitFor(() => all.every((client) => Math.max(...client.numbers) >= (fromA.get(client.id() ?? '') ?? Infinity)), 'the replays on B');

        // 2. A comes back, B streams and stops; the clients move back to A
        const restartedA = await a.restart();
        nodes.push(restartedA);
        const SECOND = FIRST + RANGE;
        all.forEach((client) => client.stream(SECOND, 100_000));
        await waitFor(() => all.every((client) => client.numbers.filter((n) => n >= SECOND).length >= 20), 'the streams from B');
        balancer.pointAt(portOf(restartedA));
        expect(await b.signal('SIGTERM')).toEqual({code: 0, signal: null});
        expect(b.output()).toContain('Drained 4 client(s) into Redis');
        const fromB = acceptedIn(b.output());
        for (const client of plain) {
            await client.moveTo(restartedA);
        }
        await waitFor(() => library.every((client) => client.events.filter((event) => event === 'resumed').length === 2), 'the library clients to resume on A');
        await waitFor(() => all.every((client) => Math.max(...client.numbers) >= (fromB.get(client.id() ?? '') ?? Infinity)), 'the replays on A');

        // 3. And A still serves them
        const THIRD = SECOND + RANGE;
        all.forEach((client) => client.stream(THIRD, 20));
        await waitFor(() => all.every((client) => client.numbers.includes(THIRD + 19)), 'the streams from the restarted A');

        expect(all.map((client) => client.id())).toEqual(ids);
        for (const client of plain) {
            expectRange(client, FIRST, fromA.get(client.id() ?? '') ?? Infinity, false);
            expectRange(client, SECOND, fromB.get(client.id() ?? '') ?? Infinity, false);
            expect(client.numbers.filter((n) => n >= THIRD)).toEqual(Array.from({length: 20}, (_, index) => THIRD + index));
        }
        for (const client of library) {
            expectRange(client, FIRST, fromA.get(client.id() ?? '') ?? Infinity, true);
            expectRange(client, SECOND, fromB.get(client.id() ?? '') ?? Infinity, true);
            expect(client.numbers.filter((n) => n >= THIRD)).toEqual(Array.from({length: 20}, (_, index) => THIRD + index));
            expect(client.events.filter((event) => event !== 'close 1006')).toEqual(['open', 'close 1012', 'resumed', 'close 1012', 'resumed']);
        }
        for (const node of [a, b, restartedA]) {
            expect(node.output()).not.toMatch(/Unhandled promise rejection|Uncaught exception/);
        }
    }, 180_000);
});
