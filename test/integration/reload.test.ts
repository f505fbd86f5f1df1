import {readdir} from 'fs/promises';
import {join} from 'path';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {waitFor} from '../helpers/wait';


/*
 * Mashroom's dev mode rebuilds a changed plugin package, removes its modules from the require cache, fires
 * the unload events and bootstraps the plugins again from fresh modules. The old instance must go away
 * completely and the new one serve.
 */
describe('plugin reload', () => {
    let server: TestServer;

    afterEach(async () => {
        jest.useRealTimers();
        await server.stop();
    });

    it('closes the old clients, leaves nothing of the old instance running and serves new connections with the new one', async () => {
        // Fake timers count exactly the timers of the code under test (real sockets are not affected)
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', enableKeepAlive: true}});
        const timersOfOneInstance = jest.getTimerCount();
        expect(timersOfOneInstance).toBe(2);
        const oldServer = server.server;
        const oldService = server.service;
        const gone: Array<string> = [];
        oldService.addDisconnectListener((client) => {
            gone.push(client.clientId);
        });

        const connected = await TestClient.connect(`${server.wsOrigin}/websocket/test`, 'alice');
        await connected.clientId();
        const dropped = await TestClient.connect(`${server.wsOrigin}/websocket/test`, 'bob');
        const droppedId = await dropped.clientId();
        await dropped.drop();
        await waitFor(() => oldService.getClientsOfUser('bob').every((client) => !client.alive), 'the drop to be noticed');
        await oldService.sendMessage(oldService.getClientsOfUser('bob')[0], {buffered: true});
        expect((await readdir(join(server.rootFolder, 'buffer'))).sort()).toEqual(['.owner.json', `${droppedId}.ndjson`]);

        await server.reloadPlugins();

        expect((await connected.closed).code).toBe(1001);
        expect(gone.sort()).toEqual([droppedId, JSON.parse(connected.received[0]).payload].sort());
        expect(oldServer.stopped).toBe(true);
        expect(server.server).not.toBe(oldServer);
        // The old service no longer reaches a server; its own timers and files are gone
        expect(oldService.getClientCount()).toBe(0);
        // Only the lock of the new instance is there
        expect(await readdir(join(server.rootFolder, 'buffer'))).toEqual(['.owner.json']);
        expect(jest.getTimerCount()).toBe(timersOfOneInstance);

        // New connections are served by the new instance, the test greeting included
        const fresh = await TestClient.connect(`${server.wsOrigin}/websocket/test?clientId=${droppedId}`, 'bob');
        expect(await fresh.clientId()).not.toBe(droppedId);
        expect(server.service.getClientCount()).toBe(1);
        fresh.send({hello: 'new instance'});
        await waitFor(() => server.context.log.find('info', 'Test message from user bob').length === 1, 'the message to arrive');
        jest.advanceTimersByTime(1000);
        expect(await fresh.nextJson()).toEqual({greetings: 'Hello bob!'});
        await fresh.close();
    });

    it('refuses an upgrade still in authentication when its instance was unloaded', async () => {
        server = await startTestServer({context: {sessionDelayMs: 100}});
        const upgrade = TestClient.connect(`${server.wsOrigin}/websocket/x`, 'alice');
        await waitFor(() => server.context.sessionMiddlewareCalls === 1, 'the authentication to start');
        await server.unloadPlugins();
        await expect(upgrade).rejects.toThrow('Upgrade refused with HTTP 503');
    });
});
