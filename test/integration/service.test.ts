import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {TestPluginContext} from '../helpers/test-plugin-context';
import {currentServer} from '../../src/server/server-slot';
import servicesBootstrap from '../../src/services/mashroom-bootstrap-services';
import {WebSocketService} from '../../src/services/websocket-service';

describe('the service and the server it shares with the webapp', () => {
    let server: TestServer;

    afterEach(async () => {
        await server?.stop();
    });

    it('delegates to the server the webapp plugin runs', async () => {
        server = await startTestServer({config: {path: '/ws/'}});
        expect(currentServer()).toBe(server.server);
        expect(server.service.basePath).toBe('/ws');
        const alice = await TestClient.connect(`${server.wsOrigin}/ws/room`, 'alice');
        const bob = await TestClient.connect(`${server.wsOrigin}/ws/room`, 'bob');
        const alice2 = await TestClient.connect(`${server.wsOrigin}/ws/other`, 'alice');
        await Promise.all([alice.clientId(), bob.clientId(), alice2.clientId()]);
        expect(server.service.getClientCount()).toBe(3);
        expect(server.server.getClientCount()).toBe(3);
        expect(server.service.getClientsOnPath('/room').map((client) => client.user.username)).toEqual(['alice', 'bob']);
        expect(server.service.getClientsOfUser('alice').map((client) => client.connectPath)).toEqual(['/room', '/other']);
        expect(server.service.getClientsOfUser('nobody')).toEqual([]);
        await Promise.all([alice.close(), bob.close(), alice2.close()]);
    });

    it('exposes clients with exactly the public fields, without internals', async () => {
        server = await startTestServer();
        const alice = await TestClient.connect(`${server.wsOrigin}/websocket/x`, 'alice');
        const clientId = await alice.clientId();
        const [client] = server.service.getClientsOfUser('alice');
        expect(JSON.parse(JSON.stringify(client))).toEqual({
            connectPath: '/x',
            user: expect.objectContaining({username: 'alice'}),
            loggerContext: {clientIP: '127.0.0.1', username: 'alice', clientId},
            clientId,
            alive: true,
        });
        await alice.close();
    });

    it('refuses to bootstrap the services plugin while no webapp server runs', async () => {
        server = await startTestServer();
        await server.unloadPlugins();
        const context = new TestPluginContext({serverRootFolder: server.rootFolder});
        await expect(servicesBootstrap('Mashroom WebSocket Services', {}, context)).rejects.toThrow('The WebSocket server is not running');
    });

    it('keeps answering basePath while the server is away, as during a reload', async () => {
        server = await startTestServer();
        let running: typeof server.server | null = server.server;
        const service = new WebSocketService(() => running);
        running = null;
        expect(service.basePath).toBe('/websocket');
        expect(() => new WebSocketService(() => null).basePath).toThrow('not running');
    });

    it('answers queries empty and rejects sends while no server runs', async () => {
        server = await startTestServer();
        const detached = new WebSocketService(() => null);
        expect(detached.getClientCount()).toBe(0);
        expect(detached.getClientsOnPath('/x')).toEqual([]);
        expect(detached.getClientsOfUser('alice')).toEqual([]);
        await expect(detached.sendMessage(server.service.getClientsOnPath('/x')[0], {})).rejects.toThrow('not running');
        expect(() => detached.addMessageListener(() => true, () => undefined)).toThrow('not running');
    });
});
