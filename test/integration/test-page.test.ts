import {startTestServer} from '../helpers/test-server';
import type {TestServer} from '../helpers/test-server';
import {TestClient} from '../helpers/test-client';

describe('test page and its greeting', () => {
    let server: TestServer;

    beforeAll(async () => {
        server = await startTestServer();
    });

    afterAll(async () => {
        await server.stop();
    });

    it('serves the test page with status, buttons and log', async () => {
        const response = await fetch(`${server.httpOrigin}/websocket/test`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^text\/html/);
        const html = await response.text();
        for (const id of ['status', 'connect', 'disconnect', 'send-greeting', 'log']) {
            expect(html).toContain(`id="${id}"`);
        }
    });

    it('serves every script the page references, as JavaScript', async () => {
        const html = await (await fetch(`${server.httpOrigin}/websocket/test`)).text();
        const scripts = [...html.matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map((match) => match[1]);
        expect(scripts).toEqual(['mashroom-websocket-client.js', 'test-client.js']);
        for (const src of scripts) {
            const response = await fetch(new URL(src, `${server.httpOrigin}/websocket/test`));
            expect(response.status).toBe(200);
            expect(response.headers.get('content-type')).toMatch(/^application\/javascript/);
            expect(await response.text()).toMatch(/^\/\/ @ts-check/);
        }
    });

    it('redirects the base path, and the page with a trailing slash (where its script would not load), to the test page', async () => {
        for (const path of ['/websocket', '/websocket/', '/websocket/test/']) {
            const response = await fetch(`${server.httpOrigin}${path}`, {redirect: 'manual'});
            expect(response.status).toBe(302);
            expect(response.headers.get('location')).toBe('/websocket/test');
        }
    });

    it('greets every message on /test with the display name, or the user name if there is none', async () => {
        const alice = await TestClient.connect(`${server.wsOrigin}/websocket/test`, 'alice');
        const bob = await TestClient.connect(`${server.wsOrigin}/websocket/test?clientId=none`, 'bob');
        await Promise.all([alice.clientId(), bob.clientId()]);
        alice.send({greetings: 'Hello Server!'});
        bob.send({anything: true});
        expect(await alice.nextJson()).toEqual({greetings: 'Hello Alice Adams!'});
        expect(await bob.nextJson()).toEqual({greetings: 'Hello bob!'});
        await Promise.all([alice.close(), bob.close()]);
    });
});
