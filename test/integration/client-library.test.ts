import {createServer} from 'http';
import type {AddressInfo, Socket} from 'net';
import WebSocket, {WebSocketServer} from 'ws';
import MashroomWebSocketClient from '../../client';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {sessionCookie} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';
import type {MashroomWebSocketClient as ServerSideClient} from '../../type-definitions';

const rawSocketOf = (client: MashroomWebSocketClient): Socket | null =>
    ((client as unknown as {_socket: {_socket: Socket} | null})._socket)?._socket ?? null;

/*
 * The client library, in Node.js with the ws package, against the real server code over loopback.
 */
describe('the client library', () => {
    let server: TestServer;
    const libraries: Array<MashroomWebSocketClient> = [];

    const library = (path = '/lib', options: MashroomWebSocketClient.Options = {}): {client: MashroomWebSocketClient; received: Array<unknown>; events: Array<string>} => {
        const client = new MashroomWebSocketClient(`${server.wsOrigin}/websocket${path}`, {
            WebSocket,
            webSocketOptions: {headers: {cookie: sessionCookie('alice')}},
            storage: null,
            reconnect: {initialDelayMs: 10, maxDelayMs: 50},
            ackDelayMs: 10,
            ...options,
        });
        const received: Array<unknown> = [];
        const events: Array<string> = [];
        client.on('message', (payload) => received.push(payload));
        client.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
        client.on('reset', () => events.push('reset'));
        client.on('close', ({willReconnect}) => events.push(willReconnect ? 'dropped' : 'closed'));
        libraries.push(client);
        return {client, received, events};
    };
    const serverSide = (): ServerSideClient => {
        const [found] = server.service.getClientsOfUser('alice');
        return found;
    };

    afterEach(async () => {
        libraries.splice(0).forEach((client) => client.close());
        await server.stop();
    });

    it('negotiates the delivery protocol and delivers the payloads, in order', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const {client, received, events} = library();
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        expect(serverSide().loggerContext).toMatchObject({clientId: client.clientId});
        for (let n = 1; n <= 5; n++) {
            await server.service.sendMessage(serverSide(), {n});
        }
        await waitFor(() => received.length === 5, 'the messages');
        expect(received).toEqual([1, 2, 3, 4, 5].map((n) => ({n})));
        expect(client.lastSeq).toBe(5);
    });

    it('hands what it sends to the listeners as the plain message', async () => {
        server = await startTestServer();
        const got: Array<unknown> = [];
        server.service.addMessageListener((connectPath) => connectPath === '/lib', (message) => {
            got.push(message);
        });
        const {client, events} = library();
        // Sent before the connection is there: queued and sent once connected
        client.send({early: true});
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        client.send({hello: 'server'});
        await waitFor(() => got.length === 2, 'the messages at the server');
        expect(got).toEqual([{early: true}, {hello: 'server'}]);
    });

    it('reconnects by itself after a drop and resumes without loss and without duplicates', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const {client, received, events} = library();
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        const target = serverSide();
        for (let n = 1; n <= 3; n++) {
            await server.service.sendMessage(target, {n});
        }
        await waitFor(() => received.length === 3, 'the first messages');
        rawSocketOf(client)?.destroy();
        // Sent while the connection is gone
        for (let n = 4; n <= 6; n++) {
            await server.service.sendMessage(target, {n});
        }
        await waitFor(() => received.length === 6, 'the rest after the resume');
        expect(received).toEqual([1, 2, 3, 4, 5, 6].map((n) => ({n})));
        expect(events).toEqual(['open', 'dropped', 'resumed']);
        expect(client.duplicates).toBe(0);
    });

    it('drops messages it has already got and reports a gap', async () => {
        server = await startTestServer();
        // A server of the protocol that repeats itself: the library must not
        const repeating = new WebSocketServer({noServer: true, handleProtocols: (protocols) => (protocols.has(MashroomWebSocketClient.PROTOCOL) ? MashroomWebSocketClient.PROTOCOL : false)});
        const http = createServer();
        http.on('upgrade', (request, socket, head) => repeating.handleUpgrade(request, socket, head, (ws) => {
            ws.send(JSON.stringify({type: 'setClientId', payload: 'repeating-1'}));
            for (const seq of [1, 2, 2, 3, 1, 5]) {
                ws.send(JSON.stringify({type: 'message', seq, payload: {seq}}));
            }
        }));
        await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
        try {
            const client = new MashroomWebSocketClient(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/x`, {WebSocket, storage: null});
            libraries.push(client);
            const received: Array<unknown> = [];
            const errors: Array<string> = [];
            client.on('message', (payload) => received.push(payload));
            client.on('error', (error) => errors.push(error.message));
            client.connect();
            await waitFor(() => received.length === 4, 'the messages');
            expect(received).toEqual([1, 2, 3, 5].map((seq) => ({seq})));
            expect(client.duplicates).toBe(2);
            expect(errors).toEqual(['Messages 4 to 4 are missing']);
            client.close();
        } finally {
            repeating.close();
            http.closeAllConnections();
            await new Promise((resolve) => http.close(resolve));
        }
    });

    it('tells the application to start afresh when the server could not resume', async () => {
        // Without buffering a dropped client is gone at once
        server = await startTestServer();
        const {client, events} = library();
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        const firstId = client.clientId;
        rawSocketOf(client)?.destroy();
        await waitFor(() => events.includes('reset'), 'the reset');
        expect(client.clientId).not.toBe(firstId);
        expect(client.lastSeq).toBe(0);
        expect(events).toEqual(['open', 'dropped', 'reset', 'open']);
    });

    it('stops on close() and resumes the same client on connect()', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const {client, received, events} = library();
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        const firstId = client.clientId;
        client.close();
        await waitFor(() => events.includes('closed'), 'the close');
        await waitFor(() => !serverSide().alive, 'the server to notice');
        await server.service.sendMessage(serverSide(), {while: 'away'});
        client.connect();
        await waitFor(() => received.length === 1, 'the message sent while away');
        expect(client.clientId).toBe(firstId);
        expect(received).toEqual([{while: 'away'}]);
        expect(events).toEqual(['open', 'closed', 'resumed']);
    });

    it('falls back to plain messages with a server that does not speak the protocol', async () => {
        server = await startTestServer();
        const plain = new WebSocketServer({noServer: true});
        const http = createServer();
        http.on('upgrade', (request, socket, head) => plain.handleUpgrade(request, socket, head, (ws) => {
            ws.send(JSON.stringify({type: 'setClientId', payload: 'plain-1'}));
            ws.send('"keepalive"');
            ws.send(JSON.stringify({hello: 'plain'}));
        }));
        await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
        try {
            const client = new MashroomWebSocketClient(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/x`, {WebSocket, storage: null});
            libraries.push(client);
            const received: Array<unknown> = [];
            client.on('message', (payload) => received.push(payload));
            client.connect();
            await waitFor(() => received.length === 1, 'the plain message');
            expect(received).toEqual([{hello: 'plain'}]);
            expect(client.clientId).toBe('plain-1');
            client.close();
        } finally {
            plain.close();
            http.closeAllConnections();
            await new Promise((resolve) => http.close(resolve));
        }
    });

    it('keeps clientId and lastSeq in the storage it is given, and resumes from there', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const store = new Map<string, string>();
        const storage = {getItem: (key: string) => store.get(key) ?? null, setItem: (key: string, value: string) => store.set(key, value), removeItem: (key: string) => store.delete(key)};
        const first = library('/lib', {storage});
        first.client.connect();
        await waitFor(() => first.events.includes('open'), 'the connection');
        await server.service.sendMessage(serverSide(), {n: 1});
        await waitFor(() => first.received.length === 1, 'the message');
        first.client.close();
        await waitFor(() => !serverSide().alive, 'the server to notice');
        await server.service.sendMessage(serverSide(), {n: 2});

        // A new instance (a reloaded page) picks the client up where the first left it
        const second = library('/lib', {storage});
        expect(second.client.clientId).toBe(first.client.clientId);
        second.client.connect();
        await waitFor(() => second.received.length === 1, 'the message sent in between');
        expect(second.received).toEqual([{n: 2}]);
        expect(second.events).toEqual(['resumed']);
    });
});
