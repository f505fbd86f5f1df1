import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';
import type {UserKey} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';
import type {MashroomWebSocketClient} from '../../type-definitions';
import {DELIVERY_PROTOCOL} from '../../src/protocol/wire';

const COOKIE = 'mashroom-websocket-client';

/*
 * The cookie that names the client in the handshake response, for clients that reconnect to a URL without
 * ?clientId= (the Portal's remote messaging client on a page that was not reloaded): a reconnect that carries
 * it is treated as one with ?clientId=.
 */
describe('the client id cookie', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
    });

    const start = async (config: Record<string, unknown> = {}): Promise<void> => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectTimeoutSec: 10, ...config}});
    };

    /** Connect as the user, with the client cookie given (as a browser sends it) and the query given */
    const connect = async (user: UserKey, options: {clientCookie?: string; query?: string; path?: string; headers?: Record<string, string>} = {}) => {
        const cookie = [sessionCookie(user), ...(options.clientCookie ? [`${COOKIE}=${options.clientCookie}`] : [])].join('; ');
        const client = await TestClient.connect(`${server.wsOrigin}/websocket${options.path ?? '/feed'}${options.query ?? ''}`, {cookie}, {headers: options.headers});
        clients.push(client);
        return {client, clientId: await client.clientId()};
    };

    /** Drop the connection and wait until the server keeps the client for a resume */
    const drop = async (client: TestClient, clientId: string): Promise<void> => {
        await client.drop();
        await waitFor(() => server.context.log.find('info', `Client ${clientId} disconnected`).length > 0, 'the drop to be noticed');
    };

    const serverSide = (clientId: string): MashroomWebSocketClient => {
        const found = server.service.getClientsOnPath('/feed').find((client) => client.clientId === clientId);
        if (!found) {
            throw new Error(`No client ${clientId}`);
        }
        return found;
    };
    const sendTo = (clientId: string, message: unknown): Promise<void> => server.service.sendMessage(serverSide(clientId), message);

    it('names the client in the handshake response: this connect path only, not for scripts, not for other sites', async () => {
        await start();
        const {client, clientId} = await connect('alice');
        expect(client.setCookies).toEqual([`${COOKIE}=${clientId}; Path=/websocket/feed; HttpOnly; SameSite=Strict`]);
        // X-Forwarded-Proto is believed only from a proxy trusted to set it
        const untrusted = await connect('alice', {headers: {'x-forwarded-proto': 'https'}});
        expect(untrusted.client.setCookies).toEqual([`${COOKIE}=${untrusted.clientId}; Path=/websocket/feed; HttpOnly; SameSite=Strict`]);
    });

    it('is for TLS only behind a trusted proxy that terminated TLS', async () => {
        await start({trustForwardedHeaders: true});
        const behindTls = await connect('alice', {headers: {'x-forwarded-proto': 'https'}});
        expect(behindTls.client.setCookies).toEqual([`${COOKIE}=${behindTls.clientId}; Path=/websocket/feed; HttpOnly; SameSite=Strict; Secure`]);
    });

    it('resumes the client it names on a reconnect without ?clientId=, with what was sent meanwhile', async () => {
        await start();
        const first = await connect('alice');
        await drop(first.client, first.clientId);
        await sendTo(first.clientId, {while: 'away'});

        const again = await connect('alice', {clientCookie: first.clientId});
        expect(again.clientId).toBe(first.clientId);
        expect(await again.client.nextJson()).toEqual({while: 'away'});
        expect(again.client.setCookies).toEqual([`${COOKIE}=${first.clientId}; Path=/websocket/feed; HttpOnly; SameSite=Strict`]);
        expect(server.service.getClientCount()).toBe(1);
    });

    it('gives way to ?clientId= when both name a client', async () => {
        await start();
        const [one, two] = [await connect('alice'), await connect('alice')];
        await drop(one.client, one.clientId);
        await drop(two.client, two.clientId);

        const again = await connect('alice', {clientCookie: one.clientId, query: `?clientId=${two.clientId}`});
        expect(again.clientId).toBe(two.clientId);
        // A client that names its client in the URL needs no cookie, and must not overwrite the one of a client on the
        // same path that cannot
        expect(again.client.setCookies).toEqual([]);
    });

    it('is neither set for nor read by the client library (the delivery protocol), which names its client in the URL', async () => {
        await start();
        const plain = await connect('alice');
        await drop(plain.client, plain.clientId);
        const cookie = `${sessionCookie('alice')}; ${COOKIE}=${plain.clientId}`;
        const library = await TestClient.connect(`${server.wsOrigin}/websocket/feed`, {cookie}, {}, [DELIVERY_PROTOCOL]);
        clients.push(library);
        expect(await library.clientId()).not.toBe(plain.clientId);
        expect(library.setCookies).toEqual([]);
        // The plain client still resumes by its cookie
        const again = await connect('alice', {clientCookie: plain.clientId});
        expect(again.clientId).toBe(plain.clientId);
    });

    it('tries every id the header names: a cookie of the same name from another path or a parent domain does not hide ours', async () => {
        await start();
        const first = await connect('alice');
        await drop(first.client, first.clientId);
        const planted = '0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b';
        const cookie = `${sessionCookie('alice')}; ${COOKIE}=${planted}; ${COOKIE}=${first.clientId}`;
        const again = await TestClient.connect(`${server.wsOrigin}/websocket/feed`, {cookie});
        clients.push(again);
        expect(await again.clientId()).toBe(first.clientId);
    });

    it('resumes nothing for another user or connect path, and leaves the client it names waiting for its own', async () => {
        await start();
        const alice = await connect('alice');
        await drop(alice.client, alice.clientId);
        await sendTo(alice.clientId, {for: 'alice'});

        const bob = await connect('bob', {clientCookie: alice.clientId});
        expect(bob.clientId).not.toBe(alice.clientId);
        expect(bob.client.setCookies[0]).toContain(`${COOKIE}=${bob.clientId};`);
        const otherPath = await connect('alice', {clientCookie: alice.clientId, path: '/other'});
        expect(otherPath.clientId).not.toBe(alice.clientId);

        const again = await connect('alice', {clientCookie: alice.clientId});
        expect(again.clientId).toBe(alice.clientId);
        expect(await again.client.nextJson()).toEqual({for: 'alice'});
    });

    it('gives a second tab a client of its own while the client it names is connected, and names the new one when that is gone', async () => {
        await start();
        const tab = await connect('alice');
        const secondTab = await connect('alice', {clientCookie: tab.clientId});
        expect(secondTab.clientId).not.toBe(tab.clientId);
        // The first tab keeps its client and its connection
        await sendTo(tab.clientId, {still: 'here'});
        expect(await tab.client.nextJson()).toEqual({still: 'here'});
        expect(server.service.getClientCount()).toBe(2);

        // A cookie naming a client that is gone (closed, expired, never here) is not sent back again
        server.service.close(serverSide(tab.clientId));
        await tab.client.closed;
        expect(server.service.getClientCount()).toBe(1);
        const later = await connect('alice', {clientCookie: tab.clientId});
        expect(later.clientId).not.toBe(tab.clientId);
        expect(later.client.setCookies).toEqual([`${COOKIE}=${later.clientId}; Path=/websocket/feed; HttpOnly; SameSite=Strict`]);
    });

    it('ignores a cookie value that is not an id of ours', async () => {
        await start();
        const {client, clientId} = await connect('alice', {clientCookie: '../../etc/passwd'});
        expect(client.setCookies[0]).toContain(`${COOKIE}=${clientId};`);
        expect(server.context.log.find('warn', '')).toEqual([]);
    });

    it('is neither set nor read without a reconnect buffer, or with clientIdCookie: false', async () => {
        await start({reconnectMessageBufferFolder: null});
        expect((await connect('alice')).client.setCookies).toEqual([]);
        await server.stop();

        await start({clientIdCookie: false});
        const first = await connect('alice');
        expect(first.client.setCookies).toEqual([]);
        await drop(first.client, first.clientId);
        const again = await connect('alice', {clientCookie: first.clientId});
        expect(again.clientId).not.toBe(first.clientId);
    });

    it('resumes by the cookie a client that the previous instance drained (a reload)', async () => {
        await start();
        const first = await connect('alice');
        await drop(first.client, first.clientId);
        await sendTo(first.clientId, {before: 'the reload'});

        await server.reloadPlugins();
        await waitFor(() => server.server.bufferingEnabled, 'the new instance to take the folder over');
        const again = await connect('alice', {clientCookie: first.clientId});
        expect(again.clientId).toBe(first.clientId);
        expect(await again.client.nextJson()).toEqual({before: 'the reload'});
    });
});
