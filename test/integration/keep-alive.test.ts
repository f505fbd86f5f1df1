import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {PING_INTERVAL_MS} from '../../src/webapp/mashroom-bootstrap-webapp';

/*
 * The intervals run on Jest's fake timers, so the tests decide when a tick happens; the sockets are real
 * and their I/O is not faked.
 */
describe('keep-alive messages and dead peer detection', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];

    const start = async (config: Record<string, unknown>) => {
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
        server = await startTestServer({config});
        const echo = (message: unknown, client: Parameters<Parameters<typeof server.service.addMessageListener>[1]>[1]) =>
            server.service.sendMessage(client, message);
        server.service.addMessageListener(() => true, echo);
    };
    const connect = async (options: {autoPong?: boolean} = {}): Promise<TestClient> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket/ka`, 'alice', options);
        await client.clientId();
        clients.push(client);
        return client;
    };
    /** A round trip through the server: everything the client sent before has been processed */
    const roundTrip = async (client: TestClient): Promise<void> => {
        const marker = {marker: Math.random()};
        client.send(marker);
        expect(await client.nextJson()).toEqual(marker);
    };

    afterEach(async () => {
        jest.useRealTimers();
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
    });

    it('sends the JSON string "keepalive" to every client each keepAliveIntervalSec', async () => {
        await start({enableKeepAlive: true, keepAliveIntervalSec: 15});
        const first = await connect();
        const second = await connect();
        jest.advanceTimersByTime(14_999);
        await roundTrip(first);
        jest.advanceTimersByTime(1);
        expect(await first.next()).toBe('"keepalive"');
        expect(await second.next()).toBe('"keepalive"');
        jest.advanceTimersByTime(15_000);
        expect(await first.next()).toBe('"keepalive"');
        expect(await second.next()).toBe('"keepalive"');
    });

    it('sends no keep-alive when enableKeepAlive is false', async () => {
        await start({enableKeepAlive: false, keepAliveIntervalSec: 1});
        const client = await connect();
        // 29 keep-alive intervals, and no ping sweep yet (that would want a pong between two sweeps)
        jest.advanceTimersByTime(PING_INTERVAL_MS - 1000);
        // The echo is the next frame: no keep-alive came before it
        client.send({after: 'many intervals'});
        expect(await client.next()).toBe('{"after":"many intervals"}');
    });

    it('keeps a peer that answers pings and terminates one that does not', async () => {
        await start({enableKeepAlive: false});
        const answering = await connect();
        const silent = await connect({autoPong: false});
        const pings = {answering: 0, silent: 0};
        answering.socket.on('ping', () => pings.answering++);
        silent.socket.on('ping', () => pings.silent++);
        const disconnected: Array<string> = [];
        server.service.addDisconnectListener((client) => disconnected.push(client.clientId));

        jest.advanceTimersByTime(PING_INTERVAL_MS);
        // Both got a ping; the round trip makes sure the answering peer's pong reached the server
        await roundTrip(answering);
        await roundTrip(silent);
        expect(pings).toEqual({answering: 1, silent: 1});

        jest.advanceTimersByTime(PING_INTERVAL_MS);
        expect((await silent.closed).code).toBe(1006);
        await roundTrip(answering);
        expect(pings.answering).toBe(2);
        expect(server.service.getClientCount()).toBe(1);
        expect(disconnected).toHaveLength(1);
        expect(server.context.log.find('info', 'did not answer the last ping')).toHaveLength(1);
    });
});
