import {login, startDemoServer} from '../helpers/mashroom-server';
import type {RunningMashroomServer} from '../helpers/mashroom-server';
import {refusedStatus, TestClient} from '../helpers/test-client';

/* The demo of `npm start`, with its own config from demo/, as a newcomer meets it. */
describe('the demo server of npm start', () => {
    let server: RunningMashroomServer;

    beforeAll(async () => {
        server = await startDemoServer();
    }, 90_000);

    afterAll(async () => {
        const output = server?.output() ?? '';
        await server?.stop();
        expect(output).not.toMatch(/Unhandled promise rejection|Uncaught exception/);
    });

    it('prints the URL of the test page and sends anonymous visitors to the login page', async () => {
        expect(server.output()).toMatch(/^READY http:\/\/localhost:\d+\/websocket\/test$/m);
        const response = await fetch(`${server.httpOrigin}/websocket/test`, {redirect: 'manual', headers: {accept: 'text/html'}});
        expect(response.status).toBe(302);
        expect(response.headers.get('location')).toMatch(/^\/login/);
    });

    it('lets the documented user with the role in and greets them', async () => {
        const client = await TestClient.connect(`${server.wsOrigin}/websocket/test`, {cookie: await login(server.httpOrigin, 'john')});
        await client.clientId();
        client.send({greetings: 'Hello Server!'});
        expect(await client.nextJson()).toEqual({greetings: 'Hello John Doe!'});
        await client.close();
    });

    it('refuses the documented user without the role', async () => {
        const guest = await login(server.httpOrigin, 'guest');
        await expect(refusedStatus(`${server.wsOrigin}/websocket/test`, {cookie: guest})).resolves.toBe(403);
    });
});
