import WebSocket from 'ws';
import {FileReconnectBufferStore} from '../../src/buffer/file-reconnect-buffer-store';
import {ServerClient} from '../../src/client/server-client';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore, SealedClient} from '../../src/buffer/reconnect-buffer-store';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';
import {mkdtemp, rm} from 'fs/promises';
import {tmpdir} from 'os';
import {join} from 'path';

/** A real file store whose claims come back with a frame that cannot be read: a fault in the middle of a resume */
class FaultyStore implements ReconnectBufferStore {
    faulty = false;
    readonly description = 'a file store with faulty claims';
    readonly available = true;

    constructor(private readonly store: FileReconnectBufferStore) {
    }

    mayHold(clientId: string): boolean {
        return this.store.mayHold(clientId);
    }

    waits(clientId: string, claimant: Pick<BufferedSession, 'username' | 'connectPath'>): Promise<boolean> {
        return this.store.waits(clientId, claimant);
    }

    async claim(clientId: string, claimant: BufferedSession): Promise<ClaimedBuffer | null> {
        const claimed = await this.store.claim(clientId, claimant);
        if (!this.faulty || !claimed) {
            return claimed;
        }
        const messages = [...claimed.messages];
        Object.defineProperty(messages, 0, {get: () => {
            throw new Error(`A frame of ${claimant.username} that cannot be read`);
        }});
        return {...claimed, messages};
    }

    open(clientId: string, session: BufferedSession, ttlMs: number, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        return this.store.open(clientId, session, ttlMs, messages, continuing);
    }

    append(clientId: string, messages: ReadonlyArray<string>, continuing: boolean): Promise<void> {
        return this.store.append(clientId, messages, continuing);
    }

    remove(clientId: string): Promise<void> {
        return this.store.remove(clientId);
    }

    clear(): Promise<void> {
        return this.store.clear();
    }

    restore(): Promise<number> {
        return this.store.restore();
    }

    seal(clients: ReadonlyArray<SealedClient>, deadline: number): Promise<ReadonlyArray<string>> {
        return this.store.seal(clients, deadline);
    }

    onClaimedElsewhere(): void {
        // One node
    }

    close(): Promise<void> {
        return this.store.close();
    }
}

/*
 * A fault once a socket is upgraded gets a close code, not silence: a resume that fails after the client began to
 * resume must not leave it half-resumed (its connection open, what is sent to it piling up), and a socket that
 * could not be served is closed, not left open or answered with HTTP on a WebSocket stream.
 */
describe('a fault after the handshake', () => {
    let server: TestServer;
    let folder: string;
    let store: FaultyStore;
    const clients: Array<TestClient> = [];
    const disconnected: Array<string> = [];

    beforeEach(async () => {
        server = await startTestServer({config: {reconnectTimeoutSec: 30}});
        folder = await mkdtemp(join(tmpdir(), 'mashroom-websocket-faults-'));
        store = new FaultyStore(await FileReconnectBufferStore.open(folder));
        server.server.useBufferStore(store);
        disconnected.length = 0;
        server.service.addDisconnectListener((client) => {
            disconnected.push(client.clientId);
        });
    });

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
        await rm(folder, {recursive: true, force: true});
    });

    const connect = async (query = ''): Promise<TestClient> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket/feed${query}`, 'alice');
        clients.push(client);
        return client;
    };

    it('during a resume closes the connection with 1011 and the client for good, and refuses what is sent to it afterwards', async () => {
        const first = await connect();
        const clientId = await first.clientId();
        await first.drop();
        await waitFor(() => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0, 'the server to notice');
        const [waiting]: Array<MashroomWebSocketClient> = server.service.getClientsOfUser('alice');
        await server.service.sendMessage(waiting, {n: 1});
        store.faulty = true;

        const second = await connect(`?clientId=${clientId}`);
        expect((await second.closed).code).toBe(1011);
        expect(server.context.log.find('error', `Resuming client ${clientId} failed`)).toHaveLength(1);
        // Gone for good: its listeners told once, nothing kept, a send refused
        expect(disconnected).toEqual([clientId]);
        expect(server.service.getClientCount()).toBe(0);
        await expect(server.service.sendMessage(waiting, {n: 2})).rejects.toThrow('is closed');
        // A reconnect with the id starts afresh
        store.faulty = false;
        const third = await connect(`?clientId=${clientId}`);
        expect(await third.clientId()).not.toBe(clientId);
    });

    it('closes a socket it could not serve after the handshake with 1011, and serves the next one', async () => {
        // A fault no request can cause: the socket is upgraded already, so no HTTP status can answer it
        const connected = jest.spyOn(ServerClient, 'connected').mockImplementationOnce(() => {
            throw new Error('A fault while serving the socket');
        });
        try {
            const socket = new WebSocket(`${server.wsOrigin}/websocket/feed`, {headers: {cookie: sessionCookie('alice')}});
            const closed = new Promise<number>((resolve) => socket.once('close', resolve));
            socket.on('error', () => undefined);
            expect(await closed).toBe(1011);
            expect(server.context.log.find('error', 'Serving a WebSocket of user alice on /feed failed: closing it (1011)')).toHaveLength(1);
            expect(server.service.getClientCount()).toBe(0);
        } finally {
            connected.mockRestore();
        }
        const next = await connect();
        expect(await next.clientId()).toEqual(expect.any(String));
        expect(server.service.getClientCount()).toBe(1);
    });
});
