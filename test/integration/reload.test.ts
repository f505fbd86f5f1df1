import {readdir} from 'fs/promises';
import {join} from 'path';
import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';
import {sessionCookie} from '../helpers/test-plugin-context';
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

    it('drains the old clients into the new instance, leaves nothing of the old instance running and serves with the new one', async () => {
        // Fake timers count exactly the timers of the code under test (real sockets are not affected)
        jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'hrtime', 'performance']});
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', enableKeepAlive: true}});
        // Keep-alive, ping, and the renewal of the folder's lease
        const timersOfOneInstance = jest.getTimerCount();
        expect(timersOfOneInstance).toBe(3);
        const oldServer = server.server;
        const oldService = server.service;
        const gone: Array<string> = [];
        oldService.addDisconnectListener((client) => {
            gone.push(client.clientId);
        });

        const connected = await TestClient.connect(`${server.wsOrigin}/websocket/test`, 'alice');
        const connectedId = await connected.clientId();
        const dropped = await TestClient.connect(`${server.wsOrigin}/websocket/test`, 'bob');
        const droppedId = await dropped.clientId();
        await dropped.drop();
        await waitFor(() => oldService.getClientsOfUser('bob').every((client) => !client.alive), 'the drop to be noticed');
        await oldService.sendMessage(oldService.getClientsOfUser('bob')[0], {buffered: true});
        expect((await readdir(join(server.rootFolder, 'buffer'))).sort()).toEqual(['.owner.json', `${droppedId}.ndjson`]);

        await server.reloadPlugins();

        // Drained: told to reconnect, and gone from the old instance
        expect((await connected.closed).code).toBe(1012);
        expect(gone.sort()).toEqual([droppedId, connectedId].sort());
        expect(oldServer.stopped).toBe(true);
        expect(server.server).not.toBe(oldServer);
        expect(oldService.getClientCount()).toBe(0);
        // The new instance takes the folder over once the old one has let go of it (its next try), and the drained
        // clients with it
        await oldServer.dispose();
        expect(server.server.bufferingEnabled).toBe(false);
        // The old instance let go of the folder when it sealed the drained clients, before it closed their connections
        expect((await readdir(join(server.rootFolder, 'buffer'))).sort()).toEqual(['.drained.ndjson', `${droppedId}.ndjson`]);
        // Until the new instance has the folder, a reconnect that wants to resume is refused for a retry (it would
        // find nothing and start afresh), by ?clientId= as by the cookie; one that does not is served
        await expect(TestClient.connect(`${server.wsOrigin}/websocket/test?clientId=${droppedId}`, 'bob')).rejects.toThrow('Upgrade refused with HTTP 503');
        await expect(TestClient.connect(`${server.wsOrigin}/websocket/test`, {cookie: `${sessionCookie('alice')}; mashroom-websocket-client=${connectedId}`})).rejects.toThrow('Upgrade refused with HTTP 503');
        const fresh = await TestClient.connect(`${server.wsOrigin}/websocket/test`, 'bob');
        expect([droppedId, connectedId]).not.toContain(await fresh.clientId());
        await fresh.close();
        expect(server.context.log.find('warn', 'the reconnect buffer is not ready yet')).toHaveLength(1);
        jest.advanceTimersByTime(500);
        await waitFor(() => server.server.bufferingEnabled, 'the new instance to take the folder over');
        expect(server.context.log.find('info', '2 client(s) drained by the previous process can resume')).toHaveLength(1);
        expect((await readdir(join(server.rootFolder, 'buffer'))).sort()).toEqual(['.owner.json', `${droppedId}.ndjson`]);
        // Its own timers, and one per drained client for the end of its window: nothing of the old instance
        expect(jest.getTimerCount()).toBe(timersOfOneInstance + 2);

        // The client that waited resumes on the new instance, with what was buffered for it
        const resumed = await TestClient.connect(`${server.wsOrigin}/websocket/test?clientId=${droppedId}`, 'bob');
        expect(await resumed.clientId()).toBe(droppedId);
        expect(await resumed.nextJson()).toEqual({buffered: true});
        expect(server.service.getClientCount()).toBe(1);
        resumed.send({hello: 'new instance'});
        await waitFor(() => server.context.log.find('info', 'Test message from user bob').length === 1, 'the message to arrive');
        jest.advanceTimersByTime(1000);
        expect(await resumed.nextJson()).toEqual({greetings: 'Hello bob!'});
        await resumed.close();
    });

    it('refuses an upgrade still in authentication when its instance was unloaded', async () => {
        server = await startTestServer({context: {sessionDelayMs: 100}});
        const upgrade = TestClient.connect(`${server.wsOrigin}/websocket/x`, 'alice');
        await waitFor(() => server.context.sessionMiddlewareCalls === 1, 'the authentication to start');
        await server.unloadPlugins();
        await expect(upgrade).rejects.toThrow('Upgrade refused with HTTP 503');
    });
});
