import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {refusedStatus, TestClient} from '../helpers/test-client';
import {ROLE} from '../helpers/test-plugin-context';
import {waitFor} from '../helpers/wait';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('who gets in: authentication, roles, URL and capacity', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];
    const connect = async (path: string, user: 'alice' | 'bob' | 'carol' | null): Promise<TestClient> => {
        const client = await TestClient.connect(`${server.wsOrigin}${path}`, user);
        clients.push(client);
        return client;
    };

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
    });

    it('refuses an anonymous upgrade with 403 and logs it', async () => {
        server = await startTestServer();
        await expect(refusedStatus(`${server.wsOrigin}/websocket/test`, null)).resolves.toBe(403);
        expect(server.context.log.find('warn', 'not authenticated')).toHaveLength(1);
        expect(server.service.getClientCount()).toBe(0);
    });

    it('runs the session middleware before asking the security service', async () => {
        server = await startTestServer();
        const client = await connect('/websocket/test', 'alice');
        expect(await client.clientId()).toMatch(UUID);
        expect(server.context.sessionMiddlewareCalls).toBe(1);
    });

    it('without a session middleware it still asks the security service, and warns', async () => {
        server = await startTestServer({context: {withoutSessionMiddleware: true}});
        // The stub security service finds users through the session only, so nobody is authenticated
        await expect(refusedStatus(`${server.wsOrigin}/websocket/test`, 'alice')).resolves.toBe(403);
        expect(server.context.log.find('warn', 'No Mashroom Session Middleware')).toHaveLength(1);
    });

    it('admits only users with one of restrictToRoles, refusing the others with 403', async () => {
        server = await startTestServer({config: {restrictToRoles: ['SomeOtherRole', ROLE]}});
        await expect(refusedStatus(`${server.wsOrigin}/websocket/test`, 'carol')).resolves.toBe(403);
        expect(server.context.log.find('warn', 'user carol: none of the roles')).toHaveLength(1);
        const alice = await connect('/websocket/test', 'alice');
        expect(await alice.clientId()).toMatch(UUID);
    });

    it('admits every authenticated user when restrictToRoles is null or empty', async () => {
        server = await startTestServer({config: {restrictToRoles: []}});
        const carol = await connect('/websocket/test', 'carol');
        expect(await carol.clientId()).toMatch(UUID);
    });

    it('sends setClientId with a fresh random UUID as the first message of every new client', async () => {
        server = await startTestServer();
        const first = await connect('/websocket/a', 'alice');
        const second = await connect('/websocket/a', 'alice');
        expect(JSON.parse(await first.next())).toEqual({type: 'setClientId', payload: expect.stringMatching(UUID)});
        const secondId = await second.clientId();
        expect(secondId).toMatch(UUID);
        expect(secondId).not.toBe(JSON.parse(first.received[0]).payload);
    });

    it('derives the connect path from the URL path below the base path, without the query', async () => {
        server = await startTestServer();
        const seen: Array<string> = [];
        server.service.addMessageListener((connectPath) => {
            seen.push(connectPath);
            return true;
        }, () => undefined);
        const chat = await connect('/websocket/chat?x=1&y=2', 'alice');
        const nested = await connect('/websocket/deep/er/path', 'bob');
        const base = await connect('/websocket', 'bob');
        await Promise.all([chat.clientId(), nested.clientId(), base.clientId()]);
        chat.send({n: 1});
        nested.send({n: 2});
        base.send({n: 3});
        await waitFor(() => seen.length === 3);
        expect(seen.sort()).toEqual(['', '/chat', '/deep/er/path']);
        expect(server.service.getClientsOnPath('/chat').map((client) => client.user.username)).toEqual(['alice']);
        expect(server.service.getClientsOnPath('/chat?x=1&y=2')).toEqual([]);
    });

    it('refuses a resume attempt with any clientId before authenticating it when full', async () => {
        server = await startTestServer({config: {maxConnections: 1}});
        await connect('/websocket/x', 'alice');
        const callsBefore = server.context.sessionMiddlewareCalls;
        await expect(refusedStatus(`${server.wsOrigin}/websocket/x?clientId=6f1c2f0e-8c6d-4b8e-9a35-2a4f7f5f1b11`, null)).resolves.toBe(503);
        expect(server.context.sessionMiddlewareCalls).toBe(callsBefore);
    });

    it('answers 404 to an upgrade that only shares a prefix with the base path', async () => {
        server = await startTestServer();
        await expect(refusedStatus(`${server.wsOrigin}/websocketfoo`, 'alice')).resolves.toBe(404);
    });

    it('answers 400 to a malformed URL', async () => {
        server = await startTestServer();
        await expect(refusedStatus(`${server.wsOrigin}/websocket/a%zz`, 'alice')).resolves.toBe(400);
        await expect(refusedStatus(`${server.wsOrigin}/websocket/a?clientId=%E0%A4%A`, 'alice')).resolves.toBe(400);
        // One line per kind of refusal and ten seconds: a client cannot flood the log
        expect(server.context.log.find('warn', 'Malformed request URL')).toHaveLength(1);
    });

    it('never admits more than maxConnections clients, also when upgrades race, and answers 503', async () => {
        server = await startTestServer({config: {maxConnections: 3}, context: {sessionDelayMs: 20}});
        const attempts = await Promise.allSettled(Array.from({length: 6}, () => connect('/websocket/x', 'alice')));
        const admitted = attempts.filter((attempt) => attempt.status === 'fulfilled');
        const refused = attempts.filter((attempt): attempt is PromiseRejectedResult => attempt.status === 'rejected');
        expect(admitted).toHaveLength(3);
        expect(refused.map((attempt) => (attempt.reason as Error).message)).toEqual(Array(3).fill('Upgrade refused with HTTP 503'));
        expect(server.service.getClientCount()).toBe(3);
        expect(server.context.log.find('warn', 'maxConnections (3) reached')).toHaveLength(1);

        // A slot that becomes free is available again
        await clients[0].close();
        await waitFor(() => server.service.getClientCount() === 2);
        const late = await connect('/websocket/x', 'bob');
        expect(await late.clientId()).toMatch(UUID);
    });
});

