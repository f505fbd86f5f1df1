import type {Socket} from 'net';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import type {UserKey} from '../helpers/test-plugin-context';
import {tcpSocketOf} from '../helpers/socket-pair';
import {waitFor} from '../helpers/wait';
import type {ServerClient} from '../../src/client/server-client';

const rawSocket = (client: TestClient): Socket => tcpSocketOf(client.socket);

/*
 * One memory budget (memoryBudgetBytes) for what the process holds for all clients: real sockets, clients that
 * stop reading on purpose.
 */
describe('the memory budget', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];
    const connect = async (user: UserKey, query = ''): Promise<{client: TestClient; target: ServerClient}> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket/m${query}`, user);
        clients.push(client);
        const clientId = await client.clientId();
        const target = server.service.getClientsOnPath('/m').find((found) => found.clientId === clientId) as ServerClient;
        return {client, target};
    };

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => {
            rawSocket(client).resume();
            return client.close();
        }));
        await server.stop();
    });

    it('closes the connections furthest behind with 1013, never one that reads; they resume with all they were sent', async () => {
        server = await startTestServer({config: {
            reconnectMessageBufferFolder: 'buffer', reconnectTimeoutSec: 60, memoryBudgetBytes: 1024 * 1024,
            // What is held back for a closing connection stays small, so that all of it fits below the ceiling
            reconnectMessageBufferMaxBytes: 4 * 1024 * 1024, maxConnectionsPerUser: null, maxUnsentBytesPerClient: 64 * 1024,
        }});
        const stalled: Array<{client: TestClient; target: ServerClient; sent: number; accepted: number; refused: number}> = [];
        for (let n = 0; n < 4; n++) {
            const connected = await connect('alice');
            // From here on it reads nothing: no message, no ping
            rawSocket(connected.client).pause();
            stalled.push({...connected, sent: 0, accepted: 0, refused: 0});
        }
        const reader = await connect('bob');
        const text = 'x'.repeat(50_000);
        for (let n = 1; n <= 12; n++) {
            // Also to those closed already: they wait for a resume, and keep what they are sent meanwhile
            for (const one of stalled) {
                one.sent = n;
                void server.service.sendMessage(one.target, {n, text}).then(() => {
                    one.accepted++;
                }, () => {
                    one.refused++;
                });
            }
            await server.service.sendMessage(reader.target, {n, text});
            expect((await reader.client.nextJson() as {n: number}).n).toBe(n);
            // The reader acknowledges each message before the next: it never holds more than one
            await waitFor(() => reader.target.connection?.heldBytes === 0, 'the reader to acknowledge');
            await new Promise(setImmediate);
        }
        await waitFor(() => stalled.every(({target}) => target.state === 'waiting'), 'the stalled clients to wait for a resume');

        // 4 x 300 KB held passed the budget of 1 MiB: each of the four was behind by more than an equal share (1/5 of it)
        expect(server.context.log.find('warn', 'The memory budget (memoryBudgetBytes 1048576) is exceeded')).not.toEqual([]);
        for (const {target} of stalled) {
            expect(server.context.log.find('warn', new RegExp(`^Client ${target.clientId} has \\d+ bytes behind, .*memoryBudgetBytes \\(1048576\\)`))).toHaveLength(1);
        }
        expect(reader.target.state).toBe('open');
        expect(server.context.log.find('warn', `Client ${reader.target.clientId}`)).toEqual([]);
        // What was counted is let go: their messages are in the store, not in memory
        await waitFor(() => server.server.heldBytes === 0, 'nothing held in memory');

        for (const one of stalled) {
            expect([one.sent, one.accepted, one.refused]).toEqual([12, 12, 0]);
            const resumed = await connect('alice', `?clientId=${one.target.clientId}`);
            expect(resumed.target).toBe(one.target);
            for (let n = 1; n <= one.sent; n++) {
                expect((await resumed.client.nextJson() as {n: number}).n).toBe(n);
            }
            // A replay is held until acknowledged too: one at a time keeps them within the budget
            await waitFor(() => resumed.target.connection?.heldBytes === 0, 'the replay to be acknowledged');
        }
    }, 20_000);

    it('closes none of the clients that read when a broadcast alone passes the budget', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', memoryBudgetBytes: 800 * 1024, maxConnectionsPerUser: null}});
        const readers: Array<{client: TestClient; target: ServerClient}> = [];
        for (let n = 0; n < 10; n++) {
            readers.push(await connect(n % 2 === 0 ? 'alice' : 'bob'));
        }
        const text = 'z'.repeat(100_000);
        for (let round = 1; round <= 3; round++) {
            // 1 MB in flight at once, more than the budget (not one and a half times), and nothing acknowledged yet
            await Promise.all(readers.map(({target}) => server.service.sendMessage(target, {round, text})));
            for (const {client} of readers) {
                expect((await client.nextJson() as {round: number}).round).toBe(round);
            }
            await waitFor(() => readers.every(({target}) => target.connection?.heldBytes === 0), 'every reader to acknowledge');
        }
        expect(server.context.log.find('warn', 'No connection is behind by more than an equal share')).not.toEqual([]);
        expect(server.context.log.find('warn', 'closing it as too slow')).toEqual([]);
        expect(readers.every(({target}) => target.state === 'open')).toBe(true);
    }, 20_000);

    it('refuses a message for a waiting client beyond half the budget waiting for the store: that client is given up', async () => {
        server = await startTestServer({config: {
            reconnectMessageBufferFolder: 'buffer', reconnectTimeoutSec: 60, memoryBudgetBytes: 256 * 1024,
            reconnectMessageBufferMaxBytes: 4 * 1024 * 1024, maxConnectionsPerUser: null,
        }});
        const {client: dropping, target: waiting} = await connect('alice');
        await dropping.drop();
        await waitFor(() => waiting.state === 'waiting', 'the drop to be noticed');
        // In one turn, so that the first is not written yet when the second comes: 200 KB would wait for the store
        const big = 'y'.repeat(100_000);
        const first = server.service.sendMessage(waiting, {n: 1, big});
        await expect(server.service.sendMessage(waiting, {n: 2, big})).rejects.toThrow('half of memoryBudgetBytes (262144) waiting for the store');
        await expect(first).rejects.toThrow('half of memoryBudgetBytes');
        await waitFor(() => waiting.state === 'closed', 'the waiting client to be given up');
        expect(server.context.log.find('warn', `Client ${waiting.clientId} cannot resume in full`)).toHaveLength(1);
        const again = await connect('alice', `?clientId=${waiting.clientId}`);
        expect(again.target.clientId).not.toBe(waiting.clientId);
        await waitFor(() => server.server.heldBytes === 0, 'nothing held in memory');
    }, 20_000);
});
