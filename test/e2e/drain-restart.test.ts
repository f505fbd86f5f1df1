import {readdir} from 'fs/promises';
import {join} from 'path';
import WebSocket from 'ws';
import MashroomWebSocketClient from '../../client';
import {freePort, login, startMashroomServer} from '../helpers/mashroom-server';
import type {RunningMashroomServer} from '../helpers/mashroom-server';
import {acceptedIn, streamedLibraryClient} from '../helpers/stream-clients';
import type {Streamed} from '../helpers/stream-clients';
import {waitFor} from '../helpers/wait';

const STREAM_PLUGIN = join(__dirname, '../fixtures/stream-plugin');
const BUFFER = './data/websocket-buffer';


/*
 * A real Mashroom Server in its own process, with the buffer in a folder, streaming to plain clients and to clients
 * of the client library, stopped with a real SIGTERM (as Kubernetes and systemd stop a process) and started again on
 * the same folder: every client resumes with its id and gets everything the first process accepted for it.
 */
describe('a real Mashroom Server stopped with SIGTERM and started again', () => {
    let first: RunningMashroomServer;
    let second: RunningMashroomServer | null = null;
    const sockets: Array<WebSocket> = [];
    const libraries: Array<MashroomWebSocketClient> = [];

    afterEach(async () => {
        libraries.splice(0).forEach((library) => library.close());
        sockets.splice(0).forEach((socket) => socket.terminate());
        await second?.stop();
        await first.stop();
    });

    const start = async (env: Record<string, string> = {}): Promise<RunningMashroomServer> => startMashroomServer({
        websocket: {restrictToRoles: ['WebSocketUser'], reconnectMessageBufferFolder: BUFFER, reconnectTimeoutSec: 60},
        extraPluginFolders: [STREAM_PLUGIN],
        fileSessions: true,
        port: await freePort(),
        env,
    });

    /** A plain client: its socket is opened anew by `reconnect`, with ?clientId= */
    const plainClient = async (server: RunningMashroomServer, cookie: string): Promise<Streamed & {socket: () => WebSocket; reconnect(): Promise<void>}> => {
        let clientId: string | null = null;
        const numbers: Array<number> = [];
        let socket: WebSocket;
        const open = async (): Promise<void> => {
            socket = new WebSocket(`${server.wsOrigin}/websocket/stream${clientId ? `?clientId=${clientId}` : ''}`, {headers: {cookie}});
            sockets.push(socket);
            socket.on('error', () => undefined);
            const ids: Array<string> = [];
            socket.on('message', (data) => {
                const message = JSON.parse(data.toString()) as {type?: string; payload?: string; n?: number};
                if (message.type === 'setClientId' && message.payload) {
                    ids.push(message.payload);
                    clientId = message.payload;
                } else if (typeof message.n === 'number') {
                    numbers.push(message.n);
                }
            });
            await waitFor(() => ids.length === 1, 'the client id');
        };
        await open();
        return {
            id: () => clientId,
            numbers,
            socket: () => socket,
            stream: (from, count) => socket.send(JSON.stringify({from, count, intervalMs: 5})),
            reconnect: open,
        };
    };

    /** A client of the library: it reconnects by itself, and must never be reset */
    const libraryClient = (server: RunningMashroomServer, cookie: string): Streamed & {events: Array<string>} => {
        const client = streamedLibraryClient(`${server.wsOrigin}/websocket/stream`, cookie);
        libraries.push(client.library);
        return client;
    };

    it('resumes every client with its id and everything the stopped process accepted for it, exactly once for the library', async () => {
        first = await start();
        const [john, jane] = await Promise.all([login(first.httpOrigin, 'john'), login(first.httpOrigin, 'jane')]);
        const plain = [await plainClient(first, john), await plainClient(first, jane), await plainClient(first, john)];
        const library = [libraryClient(first, jane), libraryClient(first, john), libraryClient(first, jane)];
        await waitFor(() => library.every((client) => client.id() !== null), 'the library clients to connect');
        const all = [...plain, ...library];
        all.forEach((client) => client.stream(1, 100_000));
        await waitFor(() => all.every((client) => client.numbers.length >= 30), 'the streams to run');
        const plainIds = plain.map((client) => client.id());

        const exit = await first.signal('SIGTERM');
        expect(exit).toEqual({code: 0, signal: null});
        expect(first.output()).toContain('Drained 6 client(s) into folder');
        const accepted = acceptedIn(first.output());
        expect(accepted.size).toBe(6);
        const files = await readdir(join(first.rootFolder, BUFFER));
        expect(files).toContain('.drained.ndjson');
        // The folder was let go before Mashroom exited (it exits once the last connection is closed)
        expect(files).not.toContain('.owner.json');

        second = await first.restart();
        expect(second.output()).toContain('6 client(s) drained by the previous process can resume');
        for (const client of plain) {
            await client.reconnect();
        }
        expect(plain.map((client) => client.id())).toEqual(plainIds);
        // Everything accepted before the stop arrives, in order; the library drops what it had already
        await waitFor(() => all.every((client) => Math.max(0, ...client.numbers) >= (accepted.get(client.id() ?? '') ?? Infinity)), 'the replays');
        // Then what the new process sends (numbered apart: what the first accepted after it logged its count may
        // still come in the replay)
        const NEW = 1_000_000;
        all.forEach((client) => client.stream(NEW + 1, 20));
        await waitFor(() => all.every((client) => client.numbers.includes(NEW + 20)), 'the streams of the new process');
        for (const client of all) {
            const old = client.numbers.filter((n) => n < NEW);
            const renewed = client.numbers.filter((n) => n > NEW);
            const last = Math.max(...old);
            expect(last).toBeGreaterThanOrEqual(accepted.get(client.id() ?? '') ?? Infinity);
            expect(accepted.get(client.id() ?? '')).toBeGreaterThanOrEqual(30);
            // Nothing lost: every number of the first process up to the last received, in order, then the new ones
            expect([...new Set(old)]).toEqual(Array.from({length: last}, (_, index) => index + 1));
            expect(renewed).toEqual(Array.from({length: 20}, (_, index) => NEW + index + 1));
            expect(client.numbers.indexOf(NEW + 1)).toBeGreaterThan(client.numbers.lastIndexOf(last));
        }
        for (const client of plain) {
            // At least once: a message may come again, never out of order
            let highest = 0;
            for (const n of client.numbers.filter((number) => number < NEW)) {
                expect(n <= highest || n === highest + 1).toBe(true);
                highest = Math.max(highest, n);
            }
        }
        for (const client of library) {
            // Exactly once
            expect(new Set(client.numbers).size).toBe(client.numbers.length);
            expect(client.events.filter((event) => event !== 'close 1006')).toEqual(['open', 'close 1012', 'resumed']);
        }
    }, 120_000);

    it('serves on through WAIT_BEFORE_SERVER_CLOSE after SIGTERM, as Mashroom does, and drains after it', async () => {
        first = await start({WAIT_BEFORE_SERVER_CLOSE: '1'});
        const jane = await login(first.httpOrigin, 'jane');
        const client = libraryClient(first, jane);
        await waitFor(() => client.id() !== null, 'the library client to connect');
        client.stream(1, 100_000);
        await waitFor(() => client.numbers.length >= 30, 'the stream to run');
        const exited = first.signal('SIGTERM');
        await waitFor(() => first.output().includes('SIGTERM: draining the WebSocket server in 1s'), 'the signal');
        const atSignal = client.numbers.length;
        // Still served while Mashroom waits
        await waitFor(() => client.numbers.length >= atSignal + 20, 'more messages after the signal');
        expect(client.events).toEqual(['open']);
        expect(await exited).toEqual({code: 0, signal: null});
        expect(first.output()).toContain('Drained 1 client(s) into folder');
        const accepted = acceptedIn(first.output()).get(client.id() ?? '') ?? Infinity;

        second = await first.restart();
        // All it accepted may have been sent before the drain: the resume is awaited on its own
        await waitFor(() => client.events.includes('resumed') && Math.max(...client.numbers) >= accepted, 'the resume and the replay');
        expect(client.numbers).toEqual(Array.from({length: client.numbers.length}, (_, index) => index + 1));
        expect(client.events.filter((event) => event !== 'close 1006')).toEqual(['open', 'close 1012', 'resumed']);
    }, 120_000);

    it('loses what a crashed process held (SIGKILL): its clients start afresh, and nothing it left is used', async () => {
        first = await start();
        const john = await login(first.httpOrigin, 'john');
        const client = await plainClient(first, john);
        const library = libraryClient(first, john);
        await waitFor(() => library.id() !== null, 'the library client to connect');
        client.stream(1, 100_000);
        library.stream(1, 100_000);
        await waitFor(() => client.numbers.length >= 30 && library.numbers.length >= 30, 'the streams to run');
        const [plainId, libraryId] = [client.id(), library.id()];
        client.socket().terminate();
        await waitFor(async () => (await readdir(join(first.rootFolder, BUFFER))).some((file) => file.startsWith(plainId ?? '-')), 'the buffer of the dropped client');

        const exit = await first.signal('SIGKILL');
        expect(exit).toEqual({code: null, signal: 'SIGKILL'});
        second = await first.restart();
        // The buffer of the client that waited, and the lock of the killed process, are not taken for anything
        expect(await readdir(join(first.rootFolder, BUFFER))).toEqual(['.owner.json']);
        await client.reconnect();
        expect(client.id()).not.toBe(plainId);
        await waitFor(() => library.events.includes('reset'), 'the library to learn that it starts afresh');
        expect(library.id()).not.toBe(libraryId);
    }, 120_000);
});
