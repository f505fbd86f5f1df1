import {Socket} from 'net';
import {createServer} from 'http';
import type {AddressInfo} from 'net';
import WebSocket, {WebSocketServer} from 'ws';
import {SocketTag, WsAdapter} from '../../src/transport/ws-adapter';
import packageJson from '../../package.json';
import {socketPair, tcpSocketOf} from '../helpers/socket-pair';
import type {SocketPair} from '../helpers/socket-pair';

/** The server on a loopback port while `use` runs, and the URL to it */
const serving = async (wss: WebSocketServer, use: (url: string) => Promise<void>): Promise<void> => {
    const http = createServer();
    http.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws)));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
        await use(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    } finally {
        wss.close();
        http.closeAllConnections();
        await new Promise((resolve) => http.close(resolve));
    }
};

describe('WsAdapter', () => {
    const pairs: Array<SocketPair> = [];
    const pair = async (tls = false): Promise<SocketPair> => {
        const created = await socketPair({tls});
        pairs.push(created);
        return created;
    };

    afterEach(async () => {
        await Promise.all(pairs.splice(0).map((each) => each.close()));
    });

    it('writes frames directly with the ws version it was tested with, to the TCP or TLS socket under a WebSocket', async () => {
        const warnings: Array<string> = [];
        const adapter = new WsAdapter((message) => warnings.push(message));
        expect(adapter.wsVersion).toMatch(/^8\.23\./);
        expect(adapter.directWritingProblem).toBeNull();
        const plain = await pair();
        const tls = await pair(true);
        expect(adapter.rawSocketOf(plain.server)).toBe(tcpSocketOf(plain.server));
        expect(adapter.rawSocketOf(tls.server)).toBe(tcpSocketOf(tls.server));
        expect(adapter.rawSocketOf(tls.server)).toBeInstanceOf(Socket);
        expect(warnings).toEqual([]);
    });

    it('falls back to ws.send with any other ws version, and says so once', async () => {
        const warnings: Array<string> = [];
        const adapter = new WsAdapter((message) => warnings.push(message), '8.24.0');
        expect(adapter.directWritingProblem).toBe('ws 8.24.0 is not a version this plugin was tested with (8.23.x)');
        const sockets = await pair();
        expect(adapter.rawSocketOf(sockets.server)).toBeNull();
        expect(adapter.rawSocketOf(sockets.server)).toBeNull();
        expect(warnings).toEqual(['ws 8.24.0 is not a version this plugin was tested with (8.23.x): every frame is written through ws.send, which is slower']);
    });

    it('accepts the ws versions the package pins it to, and no others', () => {
        expect(packageJson.dependencies.ws).toBe('~8.23.0');
        const accepted = (version: string): boolean => new WsAdapter(() => undefined, version).directWritingProblem === null;
        expect(['8.23.0', '8.23.1', '8.23.17'].map(accepted)).toEqual([true, true, true]);
        expect(['8.22.2', '8.24.0', '9.23.0', '18.23.0', 'unknown'].map(accepted)).toEqual([false, false, false, false, false]);
    });

    it('falls back to ws.send for a connection that negotiated compression, and says so once', async () => {
        // A server of our own would never negotiate it (see createServer); one that did must not be written next to
        const wss = new WebSocketServer({noServer: true, perMessageDeflate: true});
        await serving(wss, async (url) => {
            const servers: Array<WebSocket> = [];
            wss.on('connection', (ws: WebSocket) => servers.push(ws));
            const clients = [new WebSocket(url), new WebSocket(url)];
            await Promise.all(clients.map((client) => new Promise((resolve) => client.once('open', resolve))));
            while (servers.length < 2) {
                await new Promise(setImmediate);
            }
            const warnings: Array<string> = [];
            const adapter = new WsAdapter((message) => warnings.push(message));
            expect(servers.map((server) => adapter.rawSocketOf(server))).toEqual([null, null]);
            expect(warnings).toEqual(['A WebSocket negotiated extensions (permessage-deflate): the frames of such connections are written through ws.send, which is slower']);
            clients.forEach((client) => client.terminate());
            servers.forEach((server) => server.terminate());
        });
    });

    it('creates a server that closes with 1008 a message in more fragments than maxFragments, empty ones counted', async () => {
        const adapter = new WsAdapter(() => undefined);
        const wss = adapter.createServer({maxPayload: 1024, maxFragments: 3, closeTimeoutMs: 1000, selectProtocol: () => false, extraHeader: () => null});
        await serving(wss, async (url) => {
            const errors: Array<string | undefined> = [];
            wss.once('connection', (socket) => socket.on('error', (error: Error & {code?: string}) => errors.push(error.code)));
            const client = new WebSocket(url);
            await new Promise((resolve) => client.once('open', resolve));
            const closed = new Promise<number>((resolve) => client.once('close', resolve));
            ['', '', '', ''].forEach((part) => client.send(part, {fin: false}));
            expect(await closed).toBe(1008);
            expect(errors).toEqual(['WS_ERR_TOO_MANY_BUFFERED_PARTS']);
        });
    });

    it('creates a server that never negotiates compression, whatever the client offers', async () => {
        const adapter = new WsAdapter(() => undefined);
        const wss = adapter.createServer({maxPayload: 1024, maxFragments: 1000, closeTimeoutMs: 1000, selectProtocol: () => false, extraHeader: () => null});
        await serving(wss, async (url) => {
            const connected = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
            const client = new WebSocket(url, {perMessageDeflate: true});
            await new Promise((resolve) => client.once('open', resolve));
            const server = await connected;
            expect(server.extensions).toBe('');
            expect(adapter.rawSocketOf(server)).toBe(tcpSocketOf(server));
            client.terminate();
            server.terminate();
        });
    });

    it('adds the header line asked for to the handshake response of that request only', async () => {
        const adapter = new WsAdapter(() => undefined);
        const wss = adapter.createServer({
            maxPayload: 1024,
            maxFragments: 1000,
            closeTimeoutMs: 1000,
            selectProtocol: () => false,
            extraHeader: (request) => (request.url === '/named' ? 'Set-Cookie: name=value; Path=/named' : null),
        });
        await serving(wss, async (url) => {
            const responseOf = async (path: string) => {
                const client = new WebSocket(`${url}${path}`);
                const [response] = await new Promise<[{headers: Record<string, string | Array<string> | undefined>}]>((resolve) => client.once('upgrade', (...args) => resolve(args)));
                client.terminate();
                return response.headers['set-cookie'];
            };
            expect(await responseOf('/named')).toEqual(['name=value; Path=/named']);
            expect(await responseOf('/other')).toBeUndefined();
        });
    });

    it('keeps a value on a WebSocket, apart from other tags', async () => {
        const {server} = await pair();
        const first = new SocketTag<string>();
        const second = new SocketTag<string>();
        expect(first.get(server)).toBeUndefined();
        first.set(server, null);
        expect(first.get(server)).toBeNull();
        first.set(server, 'a');
        second.set(server, 'b');
        expect([first.get(server), second.get(server)]).toEqual(['a', 'b']);
    });
});
