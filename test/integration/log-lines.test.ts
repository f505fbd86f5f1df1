import {startTestServer} from '../helpers/test-server';
import {ROLE} from '../helpers/test-plugin-context';
import type {TestServer} from '../helpers/test-server';
import {refusedStatus, TestClient} from '../helpers/test-client';
import {waitFor} from '../helpers/wait';

/*
 * What an operator searches the log for when users say "live updates stopped": each line about a client's
 * connect, disconnect, resume, expiry and refusal names its id, user and connect path.
 */
describe('log lines about a client', () => {
    let server: TestServer;
    const clients: Array<TestClient> = [];

    afterEach(async () => {
        await Promise.all(clients.splice(0).map((client) => client.close()));
        await server.stop();
    });

    it('name its id, user and connect path, from the connect to the expiry', async () => {
        server = await startTestServer({config: {reconnectMessageBufferFolder: 'buffer', reconnectTimeoutSec: 0.3, restrictToRoles: [ROLE]}});
        const first = await TestClient.connect(`${server.wsOrigin}/websocket/ops/feed`, 'alice');
        clients.push(first);
        const clientId = await first.clientId();
        const named = (level: 'debug' | 'info' | 'warn', text: string) =>
            server.context.log.find(level, new RegExp(`${clientId}.*${text}|${text}.*${clientId}`)).filter((entry) => entry.message.includes('alice') && entry.message.includes('/ops/feed'));

        expect(named('debug', 'connected')).toHaveLength(1);
        await first.drop();
        await waitFor(() => named('info', 'disconnected').length === 1, 'the disconnect line');
        const again = await TestClient.connect(`${server.wsOrigin}/websocket/ops/feed?clientId=${clientId}`, 'alice');
        clients.push(again);
        expect(await again.clientId()).toBe(clientId);
        await waitFor(() => named('info', 'resumed').length === 1, 'the resume line');
        await again.drop();
        await waitFor(() => named('info', 'did not resume within').length === 1, 'the expiry line');

        await expect(refusedStatus(`${server.wsOrigin}/websocket/ops/feed`, 'carol')).resolves.toBe(403);
        expect(server.context.log.find('warn', /^Refusing WebSocket upgrade of user carol: .*\(connect path \/ops\/feed\)$/)).toHaveLength(1);
    });
});
