import {ECHO_PLUGIN, login, startMashroomServer} from '../helpers/mashroom-server';
import type {RunningMashroomServer} from '../helpers/mashroom-server';
import {refusedStatus, TestClient} from '../helpers/test-client';
import {waitFor} from '../helpers/wait';

type ProbeClient = {clientId: string; username: string; connectPath: string; alive: boolean};
type ProbeState = {
    basePath: string;
    clientCount: number;
    onPath: Array<ProbeClient>;
    ofUser: Array<ProbeClient>;
    disconnected: Array<{clientId: string; username: string}>;
};

const RECONNECT_TIMEOUT_SEC = 3;

/*
 * Against a real Mashroom Server in its own process: real login form, real session and security
 * middleware, real plugin loading, the messaging plugin, and a third-party plugin using the service.
 */
describe('in a real Mashroom Server', () => {
    let server: RunningMashroomServer;
    let john: string;
    let jane: string;
    const clients: Array<TestClient> = [];
    const pathsUsed = new Set<string>();

    const connect = async (cookie: string, path: string): Promise<TestClient> => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket${path}`, {cookie});
        clients.push(client);
        pathsUsed.add(path.split('?')[0]);
        return client;
    };
    const probe = async (query = ''): Promise<ProbeState> => {
        const response = await fetch(`${server.httpOrigin}/echo-probe/state${query}`);
        expect(response.status).toBe(200);
        return await response.json() as ProbeState;
    };
    const broadcast = async (path: string, message: unknown): Promise<number> => {
        const response = await fetch(`${server.httpOrigin}/echo-probe/broadcast?path=${encodeURIComponent(path)}`, {
            method: 'POST',
            headers: {'content-type': 'application/json'},
            body: JSON.stringify(message),
        });
        expect(response.status).toBe(200);
        return (await response.json() as {sent: number}).sent;
    };

    beforeAll(async () => {
        server = await startMashroomServer({
            websocket: {
                restrictToRoles: ['WebSocketUser'],
                reconnectMessageBufferFolder: './data/websocket-buffer',
                reconnectTimeoutSec: RECONNECT_TIMEOUT_SEC,
            },
            extraPluginFolders: [ECHO_PLUGIN],
        });
        [john, jane] = await Promise.all([login(server.httpOrigin, 'john'), login(server.httpOrigin, 'jane')]);
    }, 90_000);

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => client.close()));
        // Closed clients wait for a reconnect; remove them through the service so each test starts with none
        for (const path of pathsUsed) {
            await fetch(`${server.httpOrigin}/echo-probe/close?path=${encodeURIComponent(path)}`, {method: 'POST'});
        }
        pathsUsed.clear();
    });

    afterAll(async () => {
        const output = server?.output() ?? '';
        await server?.stop();
        // Mashroom logs what would otherwise crash a process; none of it may come from a run of ours
        expect(output).not.toMatch(/Unhandled promise rejection|Uncaught exception/);
    });

    it('refuses an anonymous upgrade with 403', async () => {
        await expect(refusedStatus(`${server.wsOrigin}/websocket/test`, null)).resolves.toBe(403);
    });

    it('refuses a user without the required role with 403', async () => {
        const guest = await login(server.httpOrigin, 'guest');
        await expect(refusedStatus(`${server.wsOrigin}/websocket/test`, {cookie: guest})).resolves.toBe(403);
    });

    it('admits a user with the role: setClientId first, then the greeting of /test', async () => {
        const client = await connect(john, '/test');
        expect(await client.clientId()).toMatch(/^[0-9a-f-]{36}$/);
        client.send({greetings: 'Hello Server!'});
        expect(await client.nextJson()).toEqual({greetings: 'Hello John Doe!'});
    });

    it('serves a third-party plugin through pluginContext.services.websocket.service', async () => {
        const johnEcho = await connect(john, '/echo');
        const janeEcho = await connect(jane, '/echo');
        const johnOther = await connect(john, '/other');
        expect((await probe()).clientCount).toBe(3);
        const [johnId, janeId, johnOtherId] = await Promise.all([johnEcho.clientId(), janeEcho.clientId(), johnOther.clientId()]);

        johnEcho.send({hello: 'echo'});
        expect(await johnEcho.nextJson()).toEqual({echo: {hello: 'echo'}});

        let state = await probe('?path=/echo&user=john');
        expect(state.basePath).toBe('/websocket');
        expect(state.onPath.map((client) => client.clientId)).toEqual([johnId, janeId]);
        expect(state.ofUser.map((client) => client.clientId)).toEqual([johnId, johnOtherId]);
        expect(state.ofUser.map((client) => client.connectPath)).toEqual(['/echo', '/other']);

        // Clients come and go; a closed client is gone for good once its reconnect window has passed
        const reportedBefore = state.disconnected.length;
        await janeEcho.close();
        await johnOther.close();
        const another = await connect(jane, '/echo');
        const anotherId = await another.clientId();
        await waitFor(async () => {
            state = await probe('?path=/echo&user=jane');
            return state.disconnected.length >= reportedBefore + 2;
        }, 'both closed clients to be reported gone', (RECONNECT_TIMEOUT_SEC + 10) * 1000);
        expect(state.disconnected.slice(reportedBefore).map((client) => client.clientId).sort()).toEqual([janeId, johnOtherId].sort());
        expect(state.clientCount).toBe(2);
        expect(state.onPath.map((client) => client.clientId)).toEqual([johnId, anotherId]);
        expect(state.ofUser.map((client) => client.clientId)).toEqual([anotherId]);
    }, 30_000);

    it('resumes a dropped client with ?clientId= within the window, with everything sent meanwhile in order', async () => {
        const first = await connect(john, '/echo-resume');
        const clientId = await first.clientId();
        await first.drop();
        await waitFor(async () => (await probe('?path=/echo-resume')).onPath.some((client) => client.clientId === clientId && !client.alive),
            'the server to notice the drop');
        for (let n = 1; n <= 3; n++) {
            expect(await broadcast('/echo-resume', {n})).toBe(1);
        }
        const resumed = await connect(john, `/echo-resume?clientId=${clientId}`);
        expect(await resumed.clientId()).toBe(clientId);
        expect([await resumed.nextJson(), await resumed.nextJson(), await resumed.nextJson()]).toEqual([{n: 1}, {n: 2}, {n: 3}]);
        resumed.send({after: 'resume'});
        expect(await resumed.nextJson()).toEqual({echo: {after: 'resume'}});
    });

    it('gives a fresh clientId and nothing old after the window has passed', async () => {
        const first = await connect(jane, '/late');
        const clientId = await first.clientId();
        await first.drop();
        await waitFor(async () => (await probe('?path=/late')).onPath.some((client) => !client.alive), 'the server to notice the drop');
        expect(await broadcast('/late', {old: true})).toBe(1);
        await waitFor(async () => (await probe()).disconnected.some((client) => client.clientId === clientId),
            'the reconnect window to pass', (RECONNECT_TIMEOUT_SEC + 10) * 1000);
        const late = await connect(jane, `/late?clientId=${clientId}`);
        expect(await late.clientId()).not.toBe(clientId);
        expect(await broadcast('/late', {fresh: true})).toBe(1);
        expect(await late.nextJson()).toEqual({fresh: true});
    }, 30_000);

    it('does not let another user resume a client with its id', async () => {
        const owner = await connect(john, '/echo-thief');
        const clientId = await owner.clientId();
        await owner.drop();
        await waitFor(async () => (await probe('?path=/echo-thief')).onPath.some((client) => client.clientId === clientId && !client.alive),
            'the server to notice the drop');
        await broadcast('/echo-thief', {secret: 'for john'});
        const thief = await connect(jane, `/echo-thief?clientId=${clientId}`);
        const thiefId = await thief.clientId();
        expect(thiefId).not.toBe(clientId);
        thief.send({mine: true});
        expect(await thief.nextJson()).toEqual({echo: {mine: true}});
    });

    it('carries @mashroom/mashroom-messaging: a client subscribes on /websocket/messages and receives what another publishes', async () => {
        const subscriber = await connect(john, '/messages');
        const publisher = await connect(jane, '/messages');
        await Promise.all([subscriber.clientId(), publisher.clientId()]);

        subscriber.send({messageId: 'sub-1', command: 'subscribe', topic: 'demo/chat'});
        expect(await subscriber.nextJson()).toEqual({messageId: 'sub-1', success: true});
        publisher.send({messageId: 'pub-1', command: 'publish', topic: 'demo/chat', message: {text: 'Hi John'}});
        expect(await publisher.nextJson()).toEqual({messageId: 'pub-1', success: true});
        expect(await subscriber.nextJson()).toEqual({
            remoteMessage: true,
            subscriptionPattern: 'demo/chat',
            topic: 'demo/chat',
            message: {text: 'Hi John'},
        });
    });
});
