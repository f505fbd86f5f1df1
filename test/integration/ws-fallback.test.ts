import WebSocket from 'ws';
import MashroomWebSocketClient from '../../client';
import type {ServerClient} from '../../src/client/server-client';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';

// A ws version the plugin was not tested with: it must not write frames next to ws, but everything still works
jest.mock('ws/package.json', () => ({version: '8.99.0'}));

/*
 * The whole plugin with every frame written through ws.send, as it runs when its checks of ws fail
 */
describe('with a ws version the plugin was not tested with', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];

    beforeEach(async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectTimeoutSec: 30}});
    });

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
    });

    const connect = async (query = ''): Promise<TestClient> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket/feed${query}`, 'alice');
        clients.push(client);
        return client;
    };

    it('says so once, and writes every frame through ws.send: broadcasts arrive whole and in order', async () => {
        expect(server.context.log.find('warn', 'ws 8.99.0 is not a version this plugin was tested with (8.23.x): every frame is written through ws.send')).toHaveLength(1);
        const all = [await connect(), await connect(), await connect()];
        await Promise.all(all.map((client) => client.clientId()));
        const targets = server.service.getClientsOnPath('/feed');
        const sends: Array<Promise<void>> = [];
        for (let n = 1; n <= 50; n++) {
            targets.forEach((target) => sends.push(server.service.sendMessage(target, {n, text: 'grüß 😀'})));
        }
        await Promise.all(sends);
        for (const client of all) {
            for (let n = 1; n <= 50; n++) {
                expect(await client.nextJson()).toEqual({n, text: 'grüß 😀'});
            }
        }
    });

    it('resumes a dropped client with what it had not acknowledged and what was sent meanwhile', async () => {
        const first = await connect();
        const clientId = await first.clientId();
        const [target] = server.service.getClientsOnPath('/feed');
        await server.service.sendMessage(target, {n: 1});
        await first.drop();
        await waitFor(() => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0, 'the server to notice');
        await server.service.sendMessage(target, {n: 2});
        const resumed = await connect(`?clientId=${clientId}`);
        expect(await resumed.clientId()).toBe(clientId);
        // The first comes again unless a pong acknowledged it before the drop: at least once, in order
        const received = [await resumed.nextJson()];
        if ((received[0] as {n: number}).n === 1) {
            received.push(await resumed.nextJson());
        }
        expect(received[received.length - 1]).toEqual({n: 2});
    });

    it('delivers exactly once, in order, to the client library through a drop', async () => {
        const library = new MashroomWebSocketClient(`${server.wsOrigin}/websocket/feed`, {
            WebSocket,
            webSocketOptions: {headers: {cookie: sessionCookie('alice')}},
            storage: null,
            reconnect: {initialDelayMs: 10, maxDelayMs: 50},
            ackDelayMs: 10,
        });
        const received: Array<unknown> = [];
        library.on('message', (payload) => received.push(payload));
        let opened = 0;
        library.on('open', () => opened++);
        library.connect();
        try {
            await waitFor(() => opened === 1, 'the connection');
            const [target] = server.service.getClientsOnPath('/feed');
            for (let n = 1; n <= 20; n++) {
                void server.service.sendMessage(target, {n});
            }
            await waitFor(() => received.length === 20, 'the first messages');
            expect(target.clientId).toBe(library.clientId);
            // Cut the connection from the server side without a close frame
            (target as ServerClient).connection?.terminate();
            await waitFor(() => server.context.log.find('info', `Client ${library.clientId} disconnected`).length > 0, 'the drop');
            for (let n = 21; n <= 40; n++) {
                void server.service.sendMessage(target, {n});
            }
            await waitFor(() => received.length === 40, 'all messages');
            expect(received).toEqual(Array.from({length: 40}, (_, index) => ({n: index + 1})));
            expect(library.duplicates).toBe(0);
        } finally {
            library.close();
        }
    });
});
