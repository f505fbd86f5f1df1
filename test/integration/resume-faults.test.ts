import {FileReconnectBufferStore} from '../../src/buffer/file-reconnect-buffer-store';
import type {BufferedSession, ClaimedBuffer, ReconnectBufferStore} from '../../src/buffer/reconnect-buffer-store';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {waitFor} from '../helpers/wait';
import {mkdtemp, rm} from 'fs/promises';
import {tmpdir} from 'os';
import {join} from 'path';

/** A real file store whose claims come back with a frame that cannot be read: a fault in the middle of a resume */
class FaultyStore implements ReconnectBufferStore {
    faulty = false;
    readonly description = 'a file store with faulty claims';
    readonly available = true;
    readonly shared = false;

    constructor(private readonly store: FileReconnectBufferStore) {
    }

    async claim(clientId: string, claimant: BufferedSession): Promise<ClaimedBuffer> {
        const claimed = await this.store.claim(clientId);
        if (!this.faulty) {
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

    onClaimedElsewhere(): void {
        // One node
    }

    close(): Promise<void> {
        return this.store.close();
    }
}

/*
 * A resume that fails after the client began to resume must not leave it half-resumed (its connection open,
 * what is sent to it piling up): the client is closed for good and its connection told why.
 */
describe('a fault during a resume', () => {
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

    it('closes the connection with 1011 and the client for good, and refuses what is sent to it afterwards', async () => {
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
});
