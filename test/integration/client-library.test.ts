import {createServer} from 'http';
import type {AddressInfo, Socket} from 'net';
import WebSocket, {WebSocketServer} from 'ws';
import MashroomWebSocketClient from '../../client';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {sessionCookie} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';
import type {MashroomWebSocketClient as ServerSideClient} from '../../type-definitions';

/** The WebSocket of the library's current state (connecting, open or closing), if it has one */
const socketOf = (client: MashroomWebSocketClient): WebSocket | null =>
    (client as unknown as {_state: {connection?: {socket: WebSocket}}})._state.connection?.socket ?? null;
const rawSocketOf = (client: MashroomWebSocketClient): Socket | null =>
    (socketOf(client) as unknown as {_socket: Socket} | null)?._socket ?? null;

/** A WebSocket class for the library that counts the connections opened with it */
const countingWebSocket = () => {
    let dials = 0;
    class CountingWebSocket extends WebSocket {
        constructor(address: string, protocols?: Array<string>) {
            super(address, protocols);
            dials++;
        }
    }
    return {CountingWebSocket, dials: () => dials};
};

/*
 * The client library, in Node.js with the ws package, against the real server code over loopback.
 */

describe('the client library', () => {
    let server: TestServer;
    const libraries: Array<MashroomWebSocketClient> = [];
    const fakes: Array<() => Promise<void>> = [];

    const library = (path = '/lib', options: MashroomWebSocketClient.Options = {}): {client: MashroomWebSocketClient; received: Array<unknown>; events: Array<string>} => {
        const client = new MashroomWebSocketClient(`${server.wsOrigin}/websocket${path}`, {
            WebSocket,
            webSocketOptions: {headers: {cookie: sessionCookie('alice')}},
            storage: null,
            reconnect: {initialDelayMs: 10, maxDelayMs: 50},
            ackDelayMs: 10,
            ...options,
        });
        libraries.push(client);
        return {client, ...record(client, ({willReconnect}) => (willReconnect ? 'dropped' : 'closed'))};
    };
    /** The payloads a client delivers, and its events by name (a close as `closeAs` names it) */
    const record = (client: MashroomWebSocketClient, closeAs: (close: {code: number; willReconnect: boolean}) => string): {received: Array<unknown>; events: Array<string>} => {
        const received: Array<unknown> = [];
        const events: Array<string> = [];
        client.on('message', (payload) => received.push(payload));
        client.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
        client.on('reset', () => events.push('reset'));
        client.on('close', (close) => events.push(closeAs(close)));
        return {received, events};
    };
    const serverSide = (): ServerSideClient => {
        const [found] = server.service.getClientsOfUser('alice');
        return found;
    };

    afterEach(async () => {
        libraries.splice(0).forEach((client) => client.close());
        await Promise.all(fakes.splice(0).map((close) => close()));
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
            ws.send(JSON.stringify({type: 'setClientId', payload: 'repeating-1', protocol: MashroomWebSocketClient.PROTOCOL}));
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

    /** A server of our own making on loopback, closed after the test */
    const fakeServer = async (onConnection: (ws: WebSocket, url: string) => void, wss = new WebSocketServer({noServer: true})): Promise<string> => {
        const http = createServer();
        http.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, request.url ?? '')));
        await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
        fakes.push(async () => {
            wss.clients.forEach((ws) => ws.terminate());
            wss.close();
            http.closeAllConnections();
            await new Promise((resolve) => http.close(resolve));
        });
        return `ws://127.0.0.1:${(http.address() as AddressInfo).port}/x`;
    };

    /** A fake server whose first connection goes silent after the id (nothing read, nothing sent unasked, no close) */
    const silentFirstServer = async (clientId: string, others: (ws: WebSocket) => void = () => undefined): Promise<{url: string; sockets: Array<WebSocket>}> => {
        const sockets: Array<WebSocket> = [];
        const url = await fakeServer((ws) => {
            sockets.push(ws);
            ws.send(JSON.stringify({type: 'setClientId', payload: clientId, protocol: MashroomWebSocketClient.PROTOCOL}));
            if (sockets.length === 1) {
                (ws as unknown as {_socket: Socket})._socket.pause();
            } else {
                others(ws);
            }
        });
        return {url, sockets};
    };

    it('falls back to plain messages with a server that does not speak the protocol, and resumes as it does', async () => {
        server = await startTestServer();
        // Like the original package: ws accepts the offered subprotocol, the id is told only to new clients
        const urls: Array<string> = [];
        const got: Array<string> = [];
        const sockets: Array<WebSocket> = [];
        const url = await fakeServer((ws, requestUrl) => {
            urls.push(requestUrl);
            sockets.push(ws);
            ws.on('message', (data) => got.push(data.toString()));
            if (urls.length === 1) {
                ws.send(JSON.stringify({type: 'setClientId', payload: 'plain-1'}));
                ws.send('"keepalive"');
                ws.send(JSON.stringify({hello: 'plain'}));
            } else {
                ws.send(JSON.stringify({hello: 'again'}));
            }
        });
        const client = new MashroomWebSocketClient(url, {WebSocket, storage: null, reconnect: {initialDelayMs: 10, maxDelayMs: 50}});
        libraries.push(client);
        const received: Array<unknown> = [];
        const events: Array<string> = [];
        client.on('message', (payload) => received.push(payload));
        client.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
        client.on('reset', () => events.push('reset'));
        client.connect();
        await waitFor(() => received.length === 1, 'the plain message');
        expect(received).toEqual([{hello: 'plain'}]);
        expect(client.clientId).toBe('plain-1');
        expect(sockets[0].protocol).toBe(MashroomWebSocketClient.PROTOCOL);
        client.send({to: 'plain'});
        await waitFor(() => got.length === 1, 'the message at the server');
        // As it is, not in an envelope of the protocol
        expect(got).toEqual(['{"to":"plain"}']);

        sockets[0].terminate();
        await waitFor(() => events.length === 2, 'the reconnect');
        // No setClientId on the resume: the connection is ready once it is open
        client.send({after: 'resume'});
        await waitFor(() => received.length === 2 && got.length === 2, 'the messages after the resume');
        expect(urls[1]).toBe('/x?clientId=plain-1&lastSeq=0');
        expect(received).toEqual([{hello: 'plain'}, {hello: 'again'}]);
        expect(got).toEqual(['{"to":"plain"}', '{"after":"resume"}']);
        expect(events).toEqual(['open', 'resumed']);
    });

    /** A storage shared by the instances of one "page" across reloads */
    const pageStorage = (): {storage: MashroomWebSocketClient.Storage; saved: Map<string, string>} => {
        const saved = new Map<string, string>();
        return {saved, storage: {getItem: (key) => saved.get(key) ?? null, setItem: (key, value) => saved.set(key, value), removeItem: (key) => saved.delete(key)}};
    };

    it('remembers across a reload that the server does not speak the protocol, and resumes as it needs', async () => {
        server = await startTestServer();
        // Like the original: no setClientId on a resume, just the messages
        const got: Array<string> = [];
        let connections = 0;
        const url = await fakeServer((ws, requestUrl) => {
            connections++;
            ws.on('message', (data) => got.push(data.toString()));
            if (!requestUrl.includes('clientId=')) {
                ws.send(JSON.stringify({type: 'setClientId', payload: 'original-1'}));
            }
        });
        const {storage} = pageStorage();
        const first = new MashroomWebSocketClient(url, {WebSocket, storage});
        libraries.push(first);
        first.connect();
        await waitFor(() => first.clientId === 'original-1' && first.connected, 'the first page');
        first.close();

        const reloaded = new MashroomWebSocketClient(url, {WebSocket, storage});
        libraries.push(reloaded);
        const events: Array<string> = [];
        reloaded.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
        reloaded.send({from: 'the reloaded page'});
        reloaded.connect();
        // The server sends nothing at all: after a while without setClientId the connection counts as ready
        await waitFor(() => got.length === 1, 'the message at the server', 6000);
        expect(got).toEqual(['{"from":"the reloaded page"}']);
        expect(events).toEqual(['resumed']);
        expect(connections).toBe(2);
    }, 10_000);

    it('takes the first frame of a resumed connection to a server without the protocol as ready at once', async () => {
        server = await startTestServer();
        const url = await fakeServer((ws, requestUrl) => {
            if (!requestUrl.includes('clientId=')) {
                ws.send(JSON.stringify({type: 'setClientId', payload: 'original-2'}));
            } else {
                ws.send('"keepalive"');
            }
        });
        const {storage} = pageStorage();
        const first = new MashroomWebSocketClient(url, {WebSocket, storage});
        libraries.push(first);
        first.connect();
        await waitFor(() => first.connected && first.clientId === 'original-2', 'the first page');
        first.close();
        const reloaded = new MashroomWebSocketClient(url, {WebSocket, storage});
        libraries.push(reloaded);
        const events: Array<string> = [];
        reloaded.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
        reloaded.connect();
        // Well before the 3 seconds after which it would count as ready without any frame
        await waitFor(() => events.length === 1, 'the open with the first frame', 1000);
        expect(events).toEqual(['resumed']);
    });

    it('speaks the protocol again once a server that does speak it answers (a rolling upgrade)', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const got: Array<unknown> = [];
        server.service.addMessageListener((connectPath) => connectPath === '/lib', (message) => {
            got.push(message);
        });
        // The page had talked to a server without the protocol before
        const {storage, saved} = pageStorage();
        saved.set('page', JSON.stringify({clientId: 'c0ffee00-0000-4000-8000-000000000000', lastSeq: 0, legacy: true}));
        const {client, events} = library('/lib', {storage, storageKey: 'page'});
        client.send({queued: 'before the connection'});
        client.connect();
        await waitFor(() => got.length === 1, 'the queued message at the listener');
        expect(got).toEqual([{queued: 'before the connection'}]);
        // A new client (the id was not this server's), numbered
        expect(events).toEqual(['reset', 'open']);
        await server.service.sendMessage(serverSide(), {n: 1});
        await waitFor(() => client.lastSeq === 1, 'a numbered message');
        expect(JSON.parse(saved.get('page') ?? '{}')).toMatchObject({legacy: false});
        expect(server.context.log.find('warn', 'Ignoring a frame')).toEqual([]);
    });

    it('starts afresh when it says it has more than the server ever sent (state from elsewhere)', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const {storage, saved} = pageStorage();
        const first = library('/lib', {storage, storageKey: 'page'});
        first.client.connect();
        await waitFor(() => first.events.includes('open'), 'the connection');
        await server.service.sendMessage(serverSide(), {n: 1});
        await waitFor(() => first.client.lastSeq === 1, 'the message');
        first.client.close();
        await waitFor(() => !serverSide().alive, 'the server to notice');
        const clientId = first.client.clientId;
        // Storage that does not belong to this server's numbering: it would drop 2 to 50 as duplicates
        saved.set('page', JSON.stringify({clientId, lastSeq: 50, legacy: false}));
        const second = library('/lib', {storage, storageKey: 'page'});
        second.client.connect();
        await waitFor(() => second.events.includes('open'), 'the connection');
        expect(second.events).toEqual(['reset', 'open']);
        expect(second.client.clientId).not.toBe(clientId);
        await server.service.sendMessage(serverSide(), {n: 'new'});
        await waitFor(() => second.received.length === 1, 'a message of the new client');
        expect(second.received).toEqual([{n: 'new'}]);
    });

    it('acknowledges at once when much has arrived, not only after ackDelayMs', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const {client, received, events} = library('/lib', {ackDelayMs: 60_000});
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        const acks: Array<number> = [];
        const target = serverSide();
        const raw = socketOf(client) as WebSocket;
        const send = raw.send.bind(raw);
        raw.send = ((data: string) => {
            const message = JSON.parse(data) as {type?: string; seq?: number};
            if (message.type === 'ack' && typeof message.seq === 'number') {
                acks.push(message.seq);
            }
            send(data);
        }) as typeof raw.send;
        for (let n = 1; n <= 250; n++) {
            await server.service.sendMessage(target, {n});
        }
        await waitFor(() => received.length === 250, 'the messages');
        // Every 100 messages, though the delay is a minute
        expect(acks).toEqual([100, 200]);
        await server.service.sendMessage(target, {big: 'x'.repeat(70_000)});
        await waitFor(() => acks.length === 3, 'an acknowledgement of the big message');
        expect(acks[2]).toBe(251);
    });

    it('acknowledges as soon as the server asks when its buffer is small, and is not closed as slow', async () => {
        // 64 KiB buffer, 8 KiB unsent: the server lets 56 KiB go unacknowledged, less than the library's own 64 Ki
        // characters, and asks for an acknowledgement every 7 Ki characters
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectMessageBufferMaxBytes: 64 * 1024, maxUnsentBytesPerClient: 8 * 1024}});
        const {client, received, events} = library('/lib', {ackDelayMs: 60_000});
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        expect((client as unknown as {_ackAfterChars: number})._ackAfterChars).toBe(7 * 1024);
        const target = serverSide();
        let pings = 0;
        (socketOf(client) as WebSocket).on('ping', () => pings++);
        // 150 KB in 5 KB messages, more than twice the buffer; each sent once the server has checked the one before
        for (let n = 1; n <= 30; n++) {
            await server.service.sendMessage(target, {n, text: 'x'.repeat(5000)});
            await waitFor(() => received.length === n && pings === n, `message ${n} and the check after it`);
        }
        // Past 64 Ki characters (the library's own limit) without an acknowledgement, it would have been closed
        expect(server.context.log.find('warn', 'too slow')).toEqual([]);
        expect(events.filter((event) => event === 'open')).toHaveLength(1);
    });

    it('gives up after maxAttempts connections in a row that never got as far as the client id', async () => {
        server = await startTestServer();
        let connections = 0;
        const url = await fakeServer((ws) => {
            connections++;
            ws.close(1011, 'Broken');
        });
        const client = new MashroomWebSocketClient(url, {WebSocket, storage: null, reconnect: {initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 3}});
        libraries.push(client);
        const closes: Array<boolean> = [];
        client.on('close', ({willReconnect}) => closes.push(willReconnect));
        client.connect();
        await waitFor(() => closes.includes(false), 'the library to give up');
        expect(connections).toBe(4);
        expect(closes).toEqual([true, true, true, false]);
    });

    it('starts its backoff over after each connection that got its id', async () => {
        server = await startTestServer();
        let connections = 0;
        const url = await fakeServer((ws) => {
            connections++;
            ws.send(JSON.stringify({type: 'setClientId', payload: `c${connections}`, protocol: MashroomWebSocketClient.PROTOCOL}));
            if (connections <= 5) {
                ws.close(1012, 'Restarting');
            }
        });
        const client = new MashroomWebSocketClient(url, {WebSocket, storage: null, reconnect: {initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 2, restartSpreadMs: 5}});
        libraries.push(client);
        const closes: Array<boolean> = [];
        client.on('close', ({willReconnect}) => closes.push(willReconnect));
        client.connect();
        await waitFor(() => connections === 6 && client.connected, 'the sixth connection');
        expect(closes).toEqual([true, true, true, true, true]);
    });

    it('gives up a connection that stays silent longer than idleTimeoutMs at once, without waiting for its close', async () => {
        server = await startTestServer();
        // Dead from here on: nothing read, nothing sent, no closing handshake
        const {url, sockets} = await silentFirstServer('idle-1');
        const client = new MashroomWebSocketClient(url, {WebSocket, storage: null, idleTimeoutMs: 100, reconnect: {initialDelayMs: 1, maxDelayMs: 5}});
        libraries.push(client);
        const events: Array<string> = [];
        client.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
        client.on('close', ({code}) => events.push(`close ${code}`));
        client.connect();
        await waitFor(() => events.length === 1, 'the connection');
        const first = socketOf(client) as WebSocket;
        await waitFor(() => sockets.length === 2 && client.connected, 'the new connection');
        // The old one is still waiting for the server's close frame (which would take ws 30 s to give up on)
        expect(first.readyState).toBe(WebSocket.CLOSING);
        expect(events).toEqual(['open', 'close 4000', 'resumed']);
        first.terminate();
    });

    it('ignores a connection it has given up: what it still brings and its close reach nobody', async () => {
        server = await startTestServer();
        // Silent from here on, but it can still send
        const {url, sockets} = await silentFirstServer('given-up-1', (ws) => {
            const keepAlive = setInterval(() => ws.send('"keepalive"'), 20);
            ws.on('close', () => clearInterval(keepAlive));
        });
        const client = new MashroomWebSocketClient(url, {WebSocket, storage: null, idleTimeoutMs: 200, reconnect: {initialDelayMs: 1, maxDelayMs: 5}});
        libraries.push(client);
        const {received, events} = record(client, ({code}) => `close ${code}`);
        client.connect();
        await waitFor(() => events.length === 1, 'the connection');
        const first = socketOf(client) as WebSocket;
        await waitFor(() => sockets.length === 2 && client.connected, 'the new connection');
        expect(events).toEqual(['open', 'close 4000', 'resumed']);

        // The given-up connection still delivers to its WebSocket: another id, a message, then its close
        const arrivedOnFirst: Array<string> = [];
        first.on('message', (data) => arrivedOnFirst.push(data.toString()));
        sockets[0].send(JSON.stringify({type: 'setClientId', payload: 'someone-else', protocol: MashroomWebSocketClient.PROTOCOL}));
        sockets[0].send(JSON.stringify({type: 'message', seq: 1, payload: {from: 'the old connection'}}));
        await waitFor(() => arrivedOnFirst.length === 2, 'the frames on the old connection');
        sockets[0].terminate();
        await waitFor(() => first.readyState === WebSocket.CLOSED, 'the old connection to close');

        sockets[1].send(JSON.stringify({type: 'message', seq: 1, payload: {from: 'the new connection'}}));
        await waitFor(() => received.length === 1, 'the message on the new connection');
        expect(received).toEqual([{from: 'the new connection'}]);
        expect(client.duplicates).toBe(0);
        expect(client.clientId).toBe('given-up-1');
        expect(events).toEqual(['open', 'close 4000', 'resumed']);
        expect(client.connected).toBe(true);
    });

    it('stops waiting to reconnect on close(), and connects at once on connect() after it', async () => {
        server = await startTestServer();
        const {CountingWebSocket, dials} = countingWebSocket();
        const url = await fakeServer((ws) => ws.close(1011, 'Broken'));
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
        try {
            const client = new MashroomWebSocketClient(url, {WebSocket: CountingWebSocket, storage: null, reconnect: {initialDelayMs: 1000, maxDelayMs: 1000, jitter: 0}});
            libraries.push(client);
            const closes: Array<boolean> = [];
            client.on('close', ({willReconnect}) => closes.push(willReconnect));
            client.connect();
            expect(dials()).toBe(1);
            await waitFor(() => closes.length === 1, 'the first close');
            expect(closes).toEqual([true]);

            client.close();
            jest.advanceTimersByTime(60_000);
            expect(dials()).toBe(1);
            expect(closes).toEqual([true]);

            client.connect();
            expect(dials()).toBe(2);
            client.close();
            await waitFor(() => closes.length === 2, 'the close of the second connection');
            expect(closes).toEqual([true, false]);
            jest.advanceTimersByTime(60_000);
            expect(dials()).toBe(2);
        } finally {
            jest.useRealTimers();
        }
    });

    it.each([
        [1012, 'restarts', 100 + 0.75 * 2000],
        [1001, 'goes away', 100 + 0.75 * 2000],
        [1011, 'fails', 100],
    ])('spreads its first reconnect over restartSpreadMs only when the server %s (%s): after %d ms here', async (code, _what, delayMs) => {
        server = await startTestServer();
        const {CountingWebSocket, dials} = countingWebSocket();
        const url = await fakeServer((ws) => ws.close(code, 'Bye'));
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
        const random = jest.spyOn(Math, 'random').mockReturnValue(0.75);
        try {
            const client = new MashroomWebSocketClient(url, {WebSocket: CountingWebSocket, storage: null, reconnect: {initialDelayMs: 100, jitter: 0}});
            libraries.push(client);
            const closes: Array<number> = [];
            client.on('close', (event) => closes.push(event.code));
            client.connect();
            await waitFor(() => closes.length === 1, 'the close');
            expect(closes).toEqual([code]);
            jest.advanceTimersByTime(delayMs - 1);
            expect(dials()).toBe(1);
            jest.advanceTimersByTime(1);
            expect(dials()).toBe(2);
            client.close();
        } finally {
            random.mockRestore();
            jest.useRealTimers();
        }
    });

    it('counts a resumed connection to a server without the protocol as ready by its own timer, not by that of a connection before', async () => {
        server = await startTestServer();
        // Like the original on a resume: nothing at all
        const sockets: Array<WebSocket> = [];
        const got: Array<string> = [];
        const url = await fakeServer((ws) => {
            sockets.push(ws);
            ws.on('message', (data) => got.push(data.toString()));
        });
        const {storage, saved} = pageStorage();
        saved.set('page', JSON.stringify({clientId: 'original-3', lastSeq: 0, legacy: true}));
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
        try {
            const client = new MashroomWebSocketClient(url, {WebSocket, storage, storageKey: 'page', reconnect: {initialDelayMs: 1, maxDelayMs: 1, jitter: 0}});
            libraries.push(client);
            const events: Array<string> = [];
            client.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
            client.on('close', ({willReconnect}) => events.push(willReconnect ? 'dropped' : 'closed'));
            client.send({queued: true});
            client.connect();
            await waitFor(() => client.connected, 'the first connection');
            jest.advanceTimersByTime(2000);
            sockets[0].terminate();
            await waitFor(() => events.length === 1, 'the drop');
            jest.advanceTimersByTime(1);
            await waitFor(() => sockets.length === 2 && client.connected, 'the second connection');
            // Past the 3 seconds of the first connection
            jest.advanceTimersByTime(1500);
            expect(events).toEqual(['dropped']);
            // 3 seconds of the second
            jest.advanceTimersByTime(1500);
            expect(events).toEqual(['dropped', 'resumed']);
            await waitFor(() => got.length === 1, 'the queued message at the server');
            expect(got).toEqual(['{"queued":true}']);
            expect(sockets[0].readyState).toBe(WebSocket.CLOSED);
        } finally {
            jest.useRealTimers();
        }
    });

    it('does not count a resumed connection to a server without the protocol as ready once it was closed', async () => {
        server = await startTestServer();
        const url = await fakeServer(() => undefined);
        const {storage, saved} = pageStorage();
        saved.set('page', JSON.stringify({clientId: 'original-4', lastSeq: 0, legacy: true}));
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
        try {
            const client = new MashroomWebSocketClient(url, {WebSocket, storage, storageKey: 'page'});
            libraries.push(client);
            const events: Array<string> = [];
            client.on('open', ({resumed}) => events.push(resumed ? 'resumed' : 'open'));
            client.on('close', ({willReconnect}) => events.push(willReconnect ? 'dropped' : 'closed'));
            client.connect();
            await waitFor(() => client.connected, 'the connection');
            client.close();
            await waitFor(() => events.length === 1, 'the close');
            jest.advanceTimersByTime(10_000);
            expect(events).toEqual(['closed']);
        } finally {
            jest.useRealTimers();
        }
    });

    it('reconnects once the connection it was closing has closed when connect() follows close() at once, and resumes', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer'}});
        const {client, received, events} = library();
        client.connect();
        await waitFor(() => events.includes('open'), 'the connection');
        const firstId = client.clientId;
        const target = serverSide();
        client.close();
        // Sent while the client closes: it arrives once, whether on the closing connection or after the resume
        const sent = server.service.sendMessage(target, {n: 1});
        client.connect();
        await waitFor(() => events.length === 3 && received.length === 1, 'the resume and the message');
        await sent;
        expect(events).toEqual(['open', 'dropped', 'resumed']);
        expect(client.clientId).toBe(firstId);
        expect(received).toEqual([{n: 1}]);
        expect(client.duplicates).toBe(0);
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
